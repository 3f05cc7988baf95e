// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace rp::platform {

// Who is on the other end of an accepted local connection, as the kernel
// reports it (never as the peer claims). POSIX: uid and pid from
// SO_PEERCRED (Linux) or getpeereid + LOCAL_PEERPID (macOS). Windows: the
// client process id from GetNamedPipeClientProcessId and its token's user
// SID. `same_user` is the owner-only policy decision, computed by the
// platform layer against this process's effective identity.
struct PeerIdentity {
  // 0 when the OS could not tell.
  std::uint32_t pid = 0;
  // POSIX only.
  std::optional<std::uint32_t> uid;
  // Windows only: the user SID in string form ("S-1-5-21-...").
  std::string user_sid;
  bool same_user = false;
};

}  // namespace rp::platform
