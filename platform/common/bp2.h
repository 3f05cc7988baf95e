// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

// Include Boost.Process v2 through this header only. Boost 1.81's v2 does
// not compile as shipped once BOOST_PROCESS_USE_STD_FS is set (it needs that
// to avoid the compiled Boost.Filesystem, which has no mingw build):
// detail/config.hpp uses boost::optional without including it, and
// process.hpp / posix/default_launcher.hpp / environment.hpp use unqualified
// is_convertible / remove_pointer /
// decay. Note: see shared/windows-leg-notes.md, "Gotchas, toolchain", item 4.
#include <type_traits>

#include <boost/optional.hpp>

namespace boost::process::v2 {
using std::decay;
using std::is_convertible;
using std::remove_pointer;
}  // namespace boost::process::v2

// Note: on Windows, Boost 1.81's environment.hpp does not compile at all
// (process_environment passes a string literal for an enable_if pointer);
// the Windows launcher builds its environment block itself.
#if !defined(_WIN32)
#include <boost/process/v2/environment.hpp>
#endif
#include <boost/process/v2/process.hpp>
#include <boost/process/v2/stdio.hpp>
