// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <boost/system/result.hpp>

namespace rp::platform {

// Facts about this host and user that endpoint naming needs. They reach the
// OS-free layers as values; nothing here writes to the filesystem.
enum class OsFlavor { kLinux, kMacOS, kWindows };

OsFlavor CurrentOs() noexcept;

// The per-OS identity string whose BLAKE3 names this user's endpoints:
// Linux "{uid}:{machine_id}" (or "{uid}:boot:{boot_id}" without a machine
// id), macOS "{uid}:{IOPlatformUUID}", Windows "windows-sid:{hex of the
// token user SID bytes}".
boost::system::result<std::string> CurrentUserIdentityString();

// This boot of the host, as the v1 identity records spell it (spec §7.10):
// Linux the trimmed /proc/sys/kernel/random/boot_id, macOS
// "macos-boot-<sec>-<usec>" of kern.boottime, Windows "windows-boot-<n>"
// from the registry's PrefetchParameters BootId. Empty when unknown.
std::string CurrentBootId();

// The machine and host names a cache manifest records (spec §7.9): Linux
// /etc/machine-id, then /var/lib/dbus/machine-id, then "boot:<boot id>";
// macOS "macos-<hostname>"; Windows the registry MachineGuid, else the
// host name. "unknown" when nothing is found.
std::string CurrentMachineId();
std::string CurrentHostName();

// Real uid on POSIX; 0 on Windows.
std::uint32_t CurrentUid() noexcept;

// Where this user's sockets live: Linux $XDG_RUNTIME_DIR, macOS $TMPDIR;
// nullopt when unset or empty (callers fall back to /tmp as specified).
std::optional<std::string> RuntimeDirectoryFromEnvironment();

// Creates `path` (and missing parents) readable by this user only (POSIX
// mode 0700) and checks the result: a real directory, owned by this user,
// no group/other bits. Fails with Error::kInsecureDirectory otherwise.
boost::system::error_code EnsurePrivateDirectory(const std::string& path);

}  // namespace rp::platform
