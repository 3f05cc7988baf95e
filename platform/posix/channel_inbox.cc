// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "posix/channel_inbox.h"

#include <algorithm>
#include <cstring>

#include "common/channel_wire.h"
#include "rp/platform/errors.h"

namespace rp::platform::posix {

namespace {

// What one read asks for when reads may span messages: enough for a burst
// of small messages.
constexpr std::size_t kReadChunk = 64 * 1024;

}  // namespace

std::size_t ChannelInbox::Missing(std::size_t max_bytes) const {
  if (buffered() < ChannelHeader::kSize) return ChannelHeader::kSize - buffered();
  auto header = ChannelHeader::Decode(
      std::span<const std::uint8_t, ChannelHeader::kSize>(buffer_.data() + head_,
                                                          ChannelHeader::kSize));
  const std::size_t body = std::min<std::size_t>(header.byte_count, max_bytes);
  const std::size_t total = ChannelHeader::kSize + body;
  return total > buffered() ? total - buffered() : 0;
}

std::span<std::uint8_t> ChannelInbox::ReadSpace(std::size_t max_bytes) {
  const std::size_t missing = std::max<std::size_t>(Missing(max_bytes), 1);
  const std::size_t want = reads_may_span_messages_ ? std::max(missing, kReadChunk) : missing;
  if (head_ == tail_) head_ = tail_ = 0;
  if (buffer_.size() - tail_ < want) {
    // Unread bytes move to the front, then the buffer grows if it must.
    if (buffered() > 0) std::memmove(buffer_.data(), buffer_.data() + head_, buffered());
    tail_ -= head_;
    head_ = 0;
    if (buffer_.size() - tail_ < want) buffer_.resize(tail_ + want);
  }
  const std::size_t room = buffer_.size() - tail_;
  return {buffer_.data() + tail_, reads_may_span_messages_ ? room : std::min(room, missing)};
}

void ChannelInbox::Commit(std::size_t n, std::vector<PlatformHandle> handles, bool truncated) {
  tail_ += n;
  if (!handles.empty() || truncated) {
    batches_.push_back(Batch{offset_ + buffered(), std::move(handles), truncated});
  }
}

std::optional<boost::system::result<ChannelMessage>> ChannelInbox::Next(std::size_t max_bytes) {
  if (buffered() < ChannelHeader::kSize) return std::nullopt;
  auto header = ChannelHeader::Decode(
      std::span<const std::uint8_t, ChannelHeader::kSize>(buffer_.data() + head_,
                                                          ChannelHeader::kSize));
  if (auto ec = header.Check(max_bytes, HandleChannel::kMaxHandlesPerMessage)) {
    head_ += ChannelHeader::kSize;
    offset_ += ChannelHeader::kSize;
    return boost::system::result<ChannelMessage>(ec);
  }
  const std::size_t total = ChannelHeader::kSize + header.byte_count;
  if (buffered() < total) return std::nullopt;

  // Every read that ended within this message brought this message's fds
  // (those of earlier messages were taken with them).
  const std::uint64_t end = offset_ + total;
  std::vector<PlatformHandle> handles;
  bool truncated = false;
  while (!batches_.empty() && batches_.front().end <= end) {
    Batch& batch = batches_.front();
    truncated = truncated || batch.truncated;
    for (auto& handle : batch.handles) handles.push_back(std::move(handle));
    batches_.pop_front();
  }
  ChannelMessage message;
  const std::uint8_t* body = buffer_.data() + head_ + ChannelHeader::kSize;
  message.bytes.assign(body, body + header.byte_count);
  head_ += total;
  offset_ += total;
  // The message is consumed either way, so a rejection leaves the inbox in
  // step; rejected handles close with `handles`.
  if (truncated) return boost::system::result<ChannelMessage>(make_error_code(Error::kControlDataTruncated));
  if (handles.size() != header.handle_count) {
    return boost::system::result<ChannelMessage>(make_error_code(Error::kHandleCountMismatch));
  }
  message.handles = std::move(handles);
  return boost::system::result<ChannelMessage>(std::move(message));
}

}  // namespace rp::platform::posix
