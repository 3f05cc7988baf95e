// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/result.hpp>

#include "rp/platform/local_stream.h"
#include "rp/platform/peer_identity.h"

namespace rp::platform {

struct ListenOptions {
  // Accepted streams may be handed to another process (see LocalStream).
  bool transferable = true;
  // POSIX: a socket file whose listener is gone (connect is refused) is
  // removed and the bind retried once; a live listener gives kAddressInUse.
  // The file is never removed before a first bind attempt fails.
  bool replace_stale = true;
  // POSIX: the socket's directory is created (missing parts with mode 0700)
  // and must be a real directory owned by this user with no group/other
  // permission bits; otherwise Bind fails with kInsecureDirectory.
  bool require_private_directory = true;
  // Windows: pipe instances kept waiting for clients, so bursts of connects
  // do not see "all pipe instances are busy".
  int ready_instances = 4;
};

struct AcceptedConnection {
  LocalStream stream;
  PeerIdentity peer;
};

// LocalListener accepts connections on one local endpoint: a Unix domain
// socket path (file mode 0600, removed again on Close) or a Windows named
// pipe (current-user-only DACL, remote clients rejected, first instance
// created with FILE_FLAG_FIRST_PIPE_INSTANCE so a second listener on the
// same name fails with kAddressInUse).
//
// Accept() is called from one coroutine at a time on the listener's
// executor; Close() cancels a pending Accept (operation_aborted). Accepted
// streams carry the kernel-reported identity of their peer.
class LocalListener {
 public:
  class Impl;

  LocalListener() noexcept;
  explicit LocalListener(std::unique_ptr<Impl> impl) noexcept;
  LocalListener(LocalListener&&) noexcept;
  LocalListener& operator=(LocalListener&&) noexcept;
  ~LocalListener();

  static boost::system::result<LocalListener> Bind(boost::asio::any_io_executor executor,
                                                   std::string address,
                                                   const ListenOptions& options = {});

  // Takes over a listening socket someone else bound at `address` and
  // passed to us (the Rust broker's "broker-owned bind": the listener fd in
  // RUNNING_PROCESS_BROKER_LISTENER_FD). It must be a listening Unix stream
  // socket bound to exactly `address`, else invalid_argument; the handle is
  // closed either way on failure. Close() then removes the socket file as
  // if we had bound it. Windows has no such listener object to pass:
  // operation_not_supported.
  static boost::system::result<LocalListener> AdoptListening(boost::asio::any_io_executor executor,
                                                             PlatformHandle listening,
                                                             std::string address);

  boost::asio::awaitable<boost::system::result<AcceptedConnection>> Accept();
  void Close() noexcept;
  const std::string& address() const noexcept;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace rp::platform
