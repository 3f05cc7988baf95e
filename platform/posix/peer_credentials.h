// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include "rp/platform/peer_identity.h"

namespace rp::platform::posix {

// The kernel's view of the peer of connected Unix socket `fd`, with
// same_user = (peer uid == our effective uid). A peer whose credentials
// cannot be read is reported with same_user = false.
PeerIdentity ReadPeerIdentity(int fd);

}  // namespace rp::platform::posix
