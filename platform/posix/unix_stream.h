// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <memory>

#include <boost/asio/local/stream_protocol.hpp>

#include "common/local_stream_impl.h"

#include <unistd.h>

namespace rp::platform::posix {

using UnixSocket = boost::asio::local::stream_protocol::socket;

// Closes an asio-managed socket (or acceptor) so that the reactor forgets
// it first: release() does EPOLL_CTL_DEL, then the fd is closed. A plain
// close() skips the DEL, trusting the kernel to drop the registration, but
// the kernel keeps it while any other process still holds the same open
// file description (a child forked a moment earlier holds every fd until
// it closes them), and a late event on it would reach whatever asio reuses
// that registration for: seen as a child-exit wait waking for a live child
// and blocking the broker in waitpid.
template <class Socket>
void CloseDeregistered(Socket& socket) noexcept {
  if (!socket.is_open()) return;
  boost::system::error_code ec;
  const int fd = socket.release(ec);
  if (!ec) {
    ::close(fd);
    return;
  }
  socket.close(ec);
}

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
