// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// The one translation unit that compiles Boost.Process v2's out-of-line
// parts (BOOST_PROCESS_V2_SEPARATE_COMPILATION is set for every target).
#include "common/bp2.h"

#include <boost/process/v2/src.hpp>
