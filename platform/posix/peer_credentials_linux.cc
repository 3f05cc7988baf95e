// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include <sys/socket.h>
#include <unistd.h>

#include "posix/peer_credentials.h"
#include "posix/posix_compat.h"

namespace rp::platform::posix {

PeerIdentity ReadPeerIdentity(int fd) {
  PeerIdentity peer;
  struct ucred cred {};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return peer;
  peer.pid = static_cast<std::uint32_t>(cred.pid);
  peer.uid = static_cast<std::uint32_t>(cred.uid);
  peer.same_user = cred.uid == posix::EffectiveUid();
  return peer;
}

}  // namespace rp::platform::posix
