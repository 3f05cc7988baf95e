// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <vector>

#include <boost/system/result.hpp>

#include "rp/platform/handle_channel.h"

namespace rp::platform::posix {

// ChannelInbox turns what recvmsg() returns on a HandleChannel socket back
// into messages. Reads may be as large as the caller likes: one read can
// bring several small messages at once (the backend's offers, the broker's
// answers), which saves a system call per message.
//
// Which message do a read's fds belong to? The sender puts them on the
// first byte of a message (one sendmsg() per message), and the kernel
// ends a read right after the data that carried fds (Linux: the read stops
// after that skb). So they belong to the last message that begins in that
// read. Where the kernel gives no such promise (macOS: control data starts
// a read, and the read may run on past it), reads are cut at message
// boundaries (ReadLimit()), so each read lies within one message and the
// rule still holds. Pure state, no I/O.
class ChannelInbox {
 public:
  explicit ChannelInbox(bool reads_may_span_messages)
      : reads_may_span_messages_(reads_may_span_messages) {}

  // Where the next read should put its bytes, sized for `max_bytes`
  // messages: never empty.
  std::span<std::uint8_t> ReadSpace(std::size_t max_bytes);
  // Records a read of `n` bytes into ReadSpace() and the fds that came with
  // it (`truncated`: the kernel cut the control data).
  void Commit(std::size_t n, std::vector<PlatformHandle> handles, bool truncated);

  // The next complete message, an error for one that is complete but
  // malformed (its handles closed, the inbox still in step), or nullopt
  // when more bytes are needed. A header over `max_bytes` is an error
  // after which the inbox is out of step (as a stream cut mid-message).
  std::optional<boost::system::result<ChannelMessage>> Next(std::size_t max_bytes);

  // Bytes received and not yet returned as messages.
  std::size_t buffered() const noexcept { return tail_ - head_; }

 private:
  struct Batch {
    std::uint64_t end;  // stream offset just past the read that brought it
    std::vector<PlatformHandle> handles;
    bool truncated;
  };
  // How many bytes the message being assembled still needs (its header
  // first), or 0 when none is known.
  std::size_t Missing(std::size_t max_bytes) const;

  bool reads_may_span_messages_;
  std::vector<std::uint8_t> buffer_;
  std::size_t head_ = 0, tail_ = 0;  // unread bytes are buffer_[head_, tail_)
  std::uint64_t offset_ = 0;         // stream offset of buffer_[head_]
  std::deque<Batch> batches_;
};

}  // namespace rp::platform::posix
