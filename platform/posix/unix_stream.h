// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <memory>

#include <boost/asio/local/stream_protocol.hpp>

#include "common/local_stream_impl.h"

namespace rp::platform::posix {

using UnixSocket = boost::asio::local::stream_protocol::socket;

// Wraps a connected Unix stream socket as a LocalStream.
LocalStream MakeUnixStream(UnixSocket socket);

// Wraps a connected Unix stream socket fd we made ourselves (accepted or
// connected; ownership taken).
boost::system::result<LocalStream> WrapUnixFd(boost::asio::any_io_executor executor,
                                              PlatformHandle fd);

// Wraps a connected fd from elsewhere (ownership taken) after checking that
// it is a Unix stream socket.
boost::system::result<LocalStream> AdoptUnixFd(boost::asio::any_io_executor executor,
                                               PlatformHandle fd);

}  // namespace rp::platform::posix
