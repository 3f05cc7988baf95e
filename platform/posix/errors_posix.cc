// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include <boost/asio/error.hpp>

#include "rp/platform/errors.h"

namespace rp::platform {

bool IsDisconnect(const boost::system::error_code& ec) noexcept {
  return ec == boost::asio::error::eof || ec == boost::asio::error::broken_pipe ||
         ec == boost::asio::error::connection_reset ||
         ec == boost::asio::error::not_connected;
}

}  // namespace rp::platform
