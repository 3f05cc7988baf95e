// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// Boost.Process v2's out-of-line parts for Windows; replaces
// common/bp2_src.cc there (see platform/CMakeLists.txt).
//
// Note: Boost 1.81's <boost/process/v2/src.hpp> includes impl/environment.ipp
// and with it environment.hpp, whose process_environment does not compile on
// Windows at all (its initializer_list constructors pass a string literal
// for an enable_if pointer parameter), and impl/shell.ipp includes it too.
// This list is src.hpp without those two files; the Windows launcher builds
// its environment block itself and nothing here uses bp2::shell.
#include "common/bp2.h"

#include <boost/process/v2/detail/config.hpp>
#include <boost/process/v2/detail/impl/environment.ipp>
#include <boost/process/v2/detail/impl/last_error.ipp>
#include <boost/process/v2/detail/impl/throw_error.ipp>
#include <boost/process/v2/detail/impl/utf8.ipp>
#include <boost/process/v2/impl/default_launcher.ipp>
#include <boost/process/v2/impl/error.ipp>
#include <boost/process/v2/impl/pid.ipp>
#include <boost/process/v2/impl/process_handle.ipp>
