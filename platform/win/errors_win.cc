// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// IsDisconnect on Windows: EOF and the named-pipe "peer went away" errors.
#include "rp/platform/errors.h"

#include <windows.h>

#include <boost/asio/error.hpp>

#include "win/win_support.h"

namespace rp::platform {

bool IsDisconnect(const boost::system::error_code& ec) noexcept {
  if (ec == boost::asio::error::eof) return true;
  // Note: asio reports a vanished pipe peer as ERROR_BROKEN_PIPE, not eof
  // (shared/windows-leg-notes.md, P3). ERROR_OPERATION_ABORTED is ours, not
  // the peer's, and deliberately not listed.
  if (ec.category() == boost::system::system_category()) {
    return win::IsBrokenPipeCode(static_cast<DWORD>(ec.value()));
  }
  return false;
}

}  // namespace rp::platform
