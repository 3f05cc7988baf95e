// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "common/channel_inbox.h"

#include <algorithm>
#include <cstring>

#include "common/channel_wire.h"
#include "rp/platform/errors.h"

namespace rp::platform {

namespace {

// What one read asks for when reads may span messages: enough for a burst
// of small messages.
constexpr std::size_t kReadChunk = 64 * 1024;

// The i-th handle value after a message's bytes (8 bytes LE each).
std::uint64_t ValueAt(const std::uint8_t* values, std::uint32_t i) {
  std::uint64_t value = 0;
  for (int b = 0; b < 8; ++b) value |= static_cast<std::uint64_t>(values[8 * i + b]) << (8 * b);
  return value;
}

}  // namespace

std::optional<ChannelHeader> ChannelInbox::PeekHeader() const {
  if (buffered() < ChannelHeader::kSize) return std::nullopt;
  return ChannelHeader::Decode(std::span<const std::uint8_t, ChannelHeader::kSize>(
      buffer_.data() + head_, ChannelHeader::kSize));
}

std::size_t ChannelInbox::Missing(std::size_t max_bytes) const {
  auto header = PeekHeader();
  if (!header) return ChannelHeader::kSize - buffered();
  const std::size_t body = std::min<std::size_t>(header->byte_count, max_bytes) +
                           ValueBytes(std::min<std::uint32_t>(
                               header->handle_count, HandleChannel::kMaxHandlesPerMessage));
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
  if (out_of_step_) return boost::system::result<ChannelMessage>(out_of_step_);
  auto header = PeekHeader();
  if (!header) return std::nullopt;
  if (auto ec = header->Check(max_bytes, HandleChannel::kMaxHandlesPerMessage)) {
    out_of_step_ = ec;
    return boost::system::result<ChannelMessage>(ec);
  }
  const std::size_t total =
      ChannelHeader::kSize + header->byte_count + ValueBytes(header->handle_count);
  if (buffered() < total) return std::nullopt;

  ChannelMessage message;
  const std::uint8_t* body = buffer_.data() + head_ + ChannelHeader::kSize;
  message.bytes.assign(body, body + header->byte_count);
  auto handles = TakeHandles(offset_ + total, body + header->byte_count, header->handle_count);
  // The message is consumed either way, so a rejection leaves the inbox in
  // step; rejected handles are closed already.
  head_ += total;
  offset_ += total;
  if (!handles) return boost::system::result<ChannelMessage>(handles.error());
  message.handles = std::move(*handles);
  return boost::system::result<ChannelMessage>(std::move(message));
}

boost::system::result<std::vector<PlatformHandle>> ChannelInbox::TakeHandles(
    std::uint64_t end, const std::uint8_t* values, std::uint32_t count) {
  std::vector<PlatformHandle> handles;
  if (adopt_) {
    bool malformed = false;
    for (std::uint32_t i = 0; i < count; ++i) {
      PlatformHandle handle = adopt_(ValueAt(values, i));
      if (!handle.is_valid()) {
        (void)handle.release();  // not a handle: nothing to close
        malformed = true;
        continue;
      }
      handles.push_back(std::move(handle));
    }
    if (malformed) return make_error_code(Error::kMalformedMessage);
    return handles;
  }
  // Every read that ended within this message brought this message's fds
  // (those of earlier messages were taken with them).
  bool truncated = false;
  while (!batches_.empty() && batches_.front().end <= end) {
    Batch& batch = batches_.front();
    truncated = truncated || batch.truncated;
    for (auto& handle : batch.handles) handles.push_back(std::move(handle));
    batches_.pop_front();
  }
  if (truncated) return make_error_code(Error::kControlDataTruncated);
  if (handles.size() != count) return make_error_code(Error::kHandleCountMismatch);
  return handles;
}

void ChannelInbox::DiscardWhole() noexcept {
  // Nothing is copied or allocated: this runs in Close() and destructors.
  while (!out_of_step_) {
    auto header = PeekHeader();
    if (!header || header->Check(HandleChannel::kDefaultMaxMessageBytes,
                                 HandleChannel::kMaxHandlesPerMessage)) {
      return;  // no whole message, or one no Receive would take
    }
    const std::size_t total =
        ChannelHeader::kSize + header->byte_count + ValueBytes(header->handle_count);
    if (buffered() < total) return;
    if (adopt_) {
      const std::uint8_t* values = buffer_.data() + head_ + ChannelHeader::kSize +
                                   header->byte_count;
      for (std::uint32_t i = 0; i < header->handle_count; ++i) {
        PlatformHandle handle = adopt_(ValueAt(values, i));  // closed here
        if (!handle.is_valid()) (void)handle.release();
      }
    }
    head_ += total;
    offset_ += total;
    while (!batches_.empty() && batches_.front().end <= offset_) batches_.pop_front();
  }
}

ChannelInbox::~ChannelInbox() { DiscardWhole(); }

}  // namespace rp::platform
