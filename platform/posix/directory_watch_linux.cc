// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// DirectoryWatch on Linux: one inotify instance watching, for each covered
// path (and, when links are followed, each symlink on the way to the file),
// the directory that holds it (any change to its entries or their
// contents) and every ancestor up to / (entries added, removed, renamed,
// or their attributes changed). Any event at all counts as a change. When a
// watched directory itself is moved or removed, or the queue overflows,
// the instance is replaced and every path must be covered again.
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <map>
#include <system_error>

#include "common/directory_watch.h"

namespace rp::platform {
namespace {

namespace fs = std::filesystem;

constexpr std::uint32_t kAncestorEvents = IN_ATTRIB | IN_CREATE | IN_DELETE | IN_MOVED_FROM |
                                          IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF;
constexpr std::uint32_t kParentEvents = kAncestorEvents | IN_MODIFY | IN_CLOSE_WRITE;
constexpr std::uint32_t kWatchGone = IN_IGNORED | IN_Q_OVERFLOW | IN_DELETE_SELF | IN_MOVE_SELF;

class InotifyWatch final : public DirectoryWatch {
 public:
  ~InotifyWatch() override { Reset(); }

  bool Cover(const std::string& path, bool follow_symlinks) override {
    fs::path target(path);
    if (!target.is_absolute() || !target.has_parent_path()) return false;
    target = target.lexically_normal();
    if (fd_ < 0) {
      fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
      if (fd_ < 0) return false;
    }
    // Followed, every link on the way is covered (its directory sees it
    // re-pointed or replaced), then what the last one names; each before it
    // is read, so a change made meanwhile is reported.
    for (int hops = 0;; ++hops) {
      if (!CoverEntry(target)) return false;
      if (!follow_symlinks) return true;
      struct stat st {};
      if (::lstat(target.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return true;
      if (hops == kMaxLinkHops) return false;  // a loop, or deeper than the kernel goes
      std::error_code ec;
      fs::path next = fs::read_symlink(target, ec);
      if (ec) return false;
      target = (next.is_absolute() ? next : target.parent_path() / next).lexically_normal();
      if (!target.has_parent_path()) return false;
    }
  }

  bool TakeChanges() override {
    if (fd_ < 0) return false;
    bool changed = false, gone = false;
    alignas(inotify_event) char buffer[4096];
    for (;;) {
      ssize_t n = ::read(fd_, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      changed = true;
      for (ssize_t at = 0; at < n;) {
        const auto* event = reinterpret_cast<const inotify_event*>(buffer + at);
        if (event->mask & kWatchGone) gone = true;
        at += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
      }
    }
    if (gone) Reset();
    return changed;
  }

 private:
  static constexpr int kMaxLinkHops = 40;  // Linux's own limit (ELOOP)

  // The directory holding `target` and every ancestor up to /.
  bool CoverEntry(const fs::path& target) {
    fs::path dir = target.parent_path();
    if (!Add(dir, kParentEvents)) return false;
    while (dir.has_relative_path()) {
      dir = dir.parent_path();
      if (!Add(dir, kAncestorEvents)) return false;
    }
    return true;
  }

  bool Add(const fs::path& dir, std::uint32_t events) {
    const std::string key = dir.string();
    if (auto it = watched_.find(key); it != watched_.end()) {
      if ((it->second & events) == events) return true;
    }
    // IN_MASK_ADD: a directory that is both a parent and an ancestor keeps
    // both sets of events.
    if (::inotify_add_watch(fd_, key.c_str(), events | IN_MASK_ADD | IN_ONLYDIR) < 0) return false;
    watched_[key] |= events;
    return true;
  }

  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    watched_.clear();
  }

  int fd_ = -1;
  std::map<std::string, std::uint32_t> watched_;
};

}  // namespace

std::unique_ptr<DirectoryWatch> DirectoryWatch::Create() {
  return std::make_unique<InotifyWatch>();
}

}  // namespace rp::platform
