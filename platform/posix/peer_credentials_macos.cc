// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// Untested here (no macOS runner).
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "posix/peer_credentials.h"
#include "posix/posix_compat.h"

namespace rp::platform::posix {

PeerIdentity ReadPeerIdentity(int fd) {
  PeerIdentity peer;
  uid_t uid = 0;
  gid_t gid = 0;
  if (::getpeereid(fd, &uid, &gid) != 0) return peer;
  peer.uid = static_cast<std::uint32_t>(uid);
  peer.same_user = uid == posix::EffectiveUid();
  pid_t pid = 0;
  socklen_t len = sizeof(pid);
  if (::getsockopt(fd, SOL_LOCAL, LOCAL_PEERPID, &pid, &len) == 0) {
    peer.pid = static_cast<std::uint32_t>(pid);
  }
  return peer;
}

}  // namespace rp::platform::posix
