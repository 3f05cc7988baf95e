// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// Platforms without a directory watch StampCache can rely on (macOS,
// Windows): every StampCache call goes to the file system.
#include "common/directory_watch.h"

namespace rp::platform {

std::unique_ptr<DirectoryWatch> DirectoryWatch::Create() { return nullptr; }

}  // namespace rp::platform
