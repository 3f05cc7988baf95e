// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <vector>

#include <boost/system/result.hpp>

#include "common/channel_wire.h"
#include "rp/platform/handle_channel.h"

namespace rp::platform {

// ChannelInbox turns the bytes read from a HandleChannel stream back into
// messages. Reads may be as large as the caller likes: one read can bring
// several small messages at once (the backend's offers, the broker's
// answers), which saves a system call per message (on Windows, a
// completion-port round trip per read). Pure state, no I/O.
//
// Where a message's handles come from depends on the wire:
//
// kBesideReads (POSIX, SCM_RIGHTS): handles arrive as control data of a
// read. The sender puts them on the first byte of a message (one sendmsg()
// per message), and the kernel ends a read right after the data that
// carried fds (Linux: the read stops after that skb). So they belong to
// the last message that begins in that read. Where the kernel gives no
// such promise (macOS: control data starts a read, and the read may run on
// past it), reads are cut at message boundaries (ReadLimit()), so each read
// lies within one message and the rule still holds.
//
// kValuesAfterBytes (Windows, DuplicateHandle): the sender already put the
// handles in our table; their values follow the message's bytes, 8 bytes
// LE each, and `adopt` turns one into an owned handle.
class ChannelInbox {
 public:
  enum class Handles { kBesideReads, kValuesAfterBytes };
  using Adopt = PlatformHandle (*)(std::uint64_t value) noexcept;

  // kBesideReads.
  explicit ChannelInbox(bool reads_may_span_messages)
      : reads_may_span_messages_(reads_may_span_messages) {}
  // kValuesAfterBytes; reads always may span messages.
  explicit ChannelInbox(Adopt adopt) : reads_may_span_messages_(true), adopt_(adopt) {}
  ChannelInbox(const ChannelInbox&) = delete;
  ChannelInbox& operator=(const ChannelInbox&) = delete;
  // Handles of whole messages never taken are closed (DiscardWhole()).
  ~ChannelInbox();

  Handles handles() const noexcept {
    return adopt_ ? Handles::kValuesAfterBytes : Handles::kBesideReads;
  }

  // Where the next read should put its bytes, sized for `max_bytes`
  // messages: never empty.
  std::span<std::uint8_t> ReadSpace(std::size_t max_bytes);
  // Records a read of `n` bytes into ReadSpace() and the handles that came
  // beside it (kBesideReads; `truncated`: the kernel cut the control data).
  void Commit(std::size_t n, std::vector<PlatformHandle> handles = {}, bool truncated = false);

  // The next complete message, an error for one that is complete but
  // malformed (its handles closed, the inbox still in step), or nullopt
  // when more bytes are needed. A header over the limits is an error after
  // which the inbox is out of step (as a stream cut mid-message): every
  // later call returns that error, and nothing after it is taken for a
  // message.
  std::optional<boost::system::result<ChannelMessage>> Next(std::size_t max_bytes);

  // Takes every whole message still buffered and closes its handles: for a
  // channel being closed, whose peer counts them as delivered.
  void DiscardWhole() noexcept;

  // Bytes received and not yet returned as messages.
  std::size_t buffered() const noexcept { return tail_ - head_; }

 private:
  struct Batch {
    std::uint64_t end;  // stream offset just past the read that brought it
    std::vector<PlatformHandle> handles;
    bool truncated;
  };
  // Bytes of handle values after a message's bytes (kValuesAfterBytes).
  std::size_t ValueBytes(std::uint32_t handle_count) const noexcept {
    return adopt_ ? 8 * static_cast<std::size_t>(handle_count) : 0;
  }
  // The header of the message being assembled, once it is all here.
  std::optional<ChannelHeader> PeekHeader() const;
  // How many bytes the message being assembled still needs (its header
  // first), or 0 when none is known.
  std::size_t Missing(std::size_t max_bytes) const;
  // The handles of the message that ends at stream offset `end`.
  boost::system::result<std::vector<PlatformHandle>> TakeHandles(std::uint64_t end,
                                                                 const std::uint8_t* values,
                                                                 std::uint32_t count);

  bool reads_may_span_messages_;
  Adopt adopt_ = nullptr;
  std::vector<std::uint8_t> buffer_;
  std::size_t head_ = 0, tail_ = 0;  // unread bytes are buffer_[head_, tail_)
  std::uint64_t offset_ = 0;         // stream offset of buffer_[head_]
  std::deque<Batch> batches_;
  boost::system::error_code out_of_step_;  // set: a header was refused
};

}  // namespace rp::platform
