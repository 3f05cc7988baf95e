// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// ChannelInbox: HandleChannel messages reassembled from reads of any size,
// with handles beside the reads (POSIX) or as values after the bytes
// (Windows). Pure state; the handles are real ones from CreatePair.
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/channel_inbox.h"
#include "common/channel_wire.h"
#include "rp/platform/errors.h"

namespace rp::platform {
namespace {

// Values 1..N name handles the test made; any other value is "not a
// handle". Adopting takes the handle out of its slot.
std::vector<PlatformHandle> g_handles;

PlatformHandle AdoptFromTable(std::uint64_t value) noexcept {
  if (value == 0 || value > g_handles.size()) return PlatformHandle();
  return std::move(g_handles[value - 1]);
}

// Whether `handle` still names an open handle of ours (a copy of it can be
// made). Only meaningful while the test opens nothing in between.
bool IsOpen(NativeHandle handle) {
  PlatformHandle probe(handle);
  const bool open = probe.Clone().has_value();
  (void)probe.release();
  return open;
}

class ChannelInboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    g_handles.clear();
    for (int i = 0; i < 2; ++i) {
      auto pair = HandleChannel::CreatePair();
      ASSERT_TRUE(pair) << pair.error().message();
      g_handles.push_back(std::move(pair->first));
      g_handles.push_back(std::move(pair->second));
    }
  }
  void TearDown() override { g_handles.clear(); }
};

// One message on the Windows wire: header, bytes, 8-byte LE values.
std::vector<std::uint8_t> Encode(const std::string& bytes, std::vector<std::uint64_t> values) {
  ChannelHeader header{static_cast<std::uint32_t>(bytes.size()),
                       static_cast<std::uint32_t>(values.size())};
  // Byte by byte: GCC 12's -Warray-bounds misreads a range insert here.
  std::vector<std::uint8_t> out;
  for (std::uint8_t byte : header.Encode()) out.push_back(byte);
  for (char c : bytes) out.push_back(static_cast<std::uint8_t>(c));
  for (std::uint64_t value : values) {
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
  }
  return out;
}

// Feeds `stream` to the inbox `chunk` bytes per read.
void Feed(ChannelInbox& inbox, const std::vector<std::uint8_t>& stream, std::size_t chunk,
          std::size_t from = 0, std::size_t to = SIZE_MAX) {
  to = std::min(to, stream.size());
  for (std::size_t at = from; at < to;) {
    auto space = inbox.ReadSpace(HandleChannel::kDefaultMaxMessageBytes);
    const std::size_t n = std::min({chunk, space.size(), to - at});
    std::copy_n(stream.begin() + static_cast<std::ptrdiff_t>(at), n, space.begin());
    inbox.Commit(n);
    at += n;
  }
}

std::string Text(const ChannelMessage& message) {
  return std::string(message.bytes.begin(), message.bytes.end());
}

TEST_F(ChannelInboxTest, ValuesAfterBytesMessagesComeWholeFromReadsOfAnySize) {
  std::vector<std::uint8_t> stream = Encode("offer one", {1});
  auto second = Encode("offer two", {2, 3});
  auto third = Encode("", {});
  stream.insert(stream.end(), second.begin(), second.end());
  stream.insert(stream.end(), third.begin(), third.end());
  for (std::size_t chunk : {std::size_t{1}, std::size_t{3}, stream.size()}) {
    SCOPED_TRACE(chunk);
    SetUp();
    // Fresh handles per round (SetUp again): the natives each message must bring.
    const NativeHandle of_one = g_handles[0].get(), of_two_first = g_handles[1].get(),
                       of_two_second = g_handles[2].get();
    ChannelInbox inbox(&AdoptFromTable);
    EXPECT_EQ(inbox.handles(), ChannelInbox::Handles::kValuesAfterBytes);
    Feed(inbox, stream, chunk, 0, stream.size() - 1);
    auto one = inbox.Next(HandleChannel::kDefaultMaxMessageBytes);
    ASSERT_TRUE(one && *one);
    EXPECT_EQ(Text(**one), "offer one");
    ASSERT_EQ((*one)->handles.size(), 1u);
    EXPECT_EQ((*one)->handles[0].get(), of_one);
    auto two = inbox.Next(HandleChannel::kDefaultMaxMessageBytes);
    ASSERT_TRUE(two && *two);
    EXPECT_EQ(Text(**two), "offer two");
    ASSERT_EQ((*two)->handles.size(), 2u);
    EXPECT_EQ((*two)->handles[0].get(), of_two_first);  // in order
    EXPECT_EQ((*two)->handles[1].get(), of_two_second);
    EXPECT_TRUE(g_handles[3].is_valid());
    // The empty message is one byte short: nothing yet, then it comes.
    EXPECT_FALSE(inbox.Next(HandleChannel::kDefaultMaxMessageBytes));
    EXPECT_EQ(inbox.buffered(), ChannelHeader::kSize - 1);
    Feed(inbox, stream, chunk, stream.size() - 1);
    auto empty = inbox.Next(HandleChannel::kDefaultMaxMessageBytes);
    ASSERT_TRUE(empty && *empty);
    EXPECT_TRUE((*empty)->bytes.empty() && (*empty)->handles.empty());
    EXPECT_EQ(inbox.buffered(), 0u);
  }
}

TEST_F(ChannelInboxTest, ValueThatIsNoHandleRejectsItsMessageAndKeepsTheInboxInStep) {
  std::vector<std::uint8_t> stream = Encode("lying", {1, 999});
  auto next = Encode("honest", {2});
  stream.insert(stream.end(), next.begin(), next.end());
  ChannelInbox inbox(&AdoptFromTable);
  Feed(inbox, stream, stream.size());
  const NativeHandle taken = g_handles[0].get();
  auto rejected = inbox.Next(HandleChannel::kDefaultMaxMessageBytes);
  ASSERT_TRUE(rejected);
  ASSERT_FALSE(*rejected);
  EXPECT_EQ(rejected->error(), make_error_code(Error::kMalformedMessage));
  EXPECT_FALSE(IsOpen(taken));  // taken, and closed with the rejection
  auto honest = inbox.Next(HandleChannel::kDefaultMaxMessageBytes);
  ASSERT_TRUE(honest && *honest);
  EXPECT_EQ(Text(**honest), "honest");
  EXPECT_EQ((*honest)->handles.size(), 1u);
}

TEST_F(ChannelInboxTest, DiscardWholeTakesEveryCompleteMessageAndLeavesAPartialOne) {
  std::vector<std::uint8_t> stream = Encode("a", {1});
  for (auto more : {Encode("b", {2}), Encode("partial", {3})}) {
    stream.insert(stream.end(), more.begin(), more.end());
  }
  ChannelInbox inbox(&AdoptFromTable);
  Feed(inbox, stream, stream.size(), 0, stream.size() - 4);
  const NativeHandle first = g_handles[0].get(), second = g_handles[1].get();
  inbox.DiscardWhole();
  EXPECT_FALSE(IsOpen(first));  // adopted and closed
  EXPECT_FALSE(IsOpen(second));
  EXPECT_TRUE(g_handles[2].is_valid());  // its message never came whole
  EXPECT_EQ(inbox.buffered(), Encode("partial", {3}).size() - 4);
}

TEST_F(ChannelInboxTest, RefusedHeaderLeavesTheInboxOutOfStepAndNothingAfterItIsTaken) {
  // The refused message's body looks like a whole message naming handle 1:
  // after the refusal it must not be taken for one, by Next or by discard.
  auto lookalike = Encode("", {1});
  std::string body(lookalike.begin(), lookalike.end());
  body.resize(64, 'x');
  auto big = Encode(body, {});
  ChannelInbox inbox(&AdoptFromTable);
  Feed(inbox, big, big.size());
  for (int call = 0; call < 2; ++call) {
    auto refused = inbox.Next(16);
    ASSERT_TRUE(refused);
    ASSERT_FALSE(*refused);
    EXPECT_EQ(refused->error(), make_error_code(Error::kMessageTooLarge));
  }
  inbox.DiscardWhole();
  EXPECT_TRUE(g_handles[0].is_valid());

  ChannelInbox too_many_handles(&AdoptFromTable);
  auto too_many =
      Encode("", std::vector<std::uint64_t>(HandleChannel::kMaxHandlesPerMessage + 1, 1));
  Feed(too_many_handles, too_many, too_many.size());
  too_many_handles.DiscardWhole();
  EXPECT_EQ(too_many_handles.buffered(), too_many.size());
  EXPECT_TRUE(g_handles[0].is_valid());
}

TEST_F(ChannelInboxTest, BesideReadsHandlesBelongToTheLastMessageBegunInTheirRead) {
  ChannelInbox inbox(/*reads_may_span_messages=*/true);
  EXPECT_EQ(inbox.handles(), ChannelInbox::Handles::kBesideReads);
  ChannelHeader a{3, 0}, b{4, 1};
  std::vector<std::uint8_t> stream;
  for (auto [header, text] :
       {std::pair{a, std::string("one")}, std::pair{b, std::string("two!")}}) {
    auto encoded = header.Encode();
    stream.insert(stream.end(), encoded.begin(), encoded.end());
    stream.insert(stream.end(), text.begin(), text.end());
  }
  // Read 1: all of A and B's header, with B's handle; read 2: B's bytes.
  const std::size_t split = ChannelHeader::kSize + 3 + ChannelHeader::kSize;
  auto space = inbox.ReadSpace(HandleChannel::kDefaultMaxMessageBytes);
  std::copy_n(stream.begin(), split, space.begin());
  std::vector<PlatformHandle> handles;
  handles.push_back(std::move(g_handles[0]));
  inbox.Commit(split, std::move(handles));
  space = inbox.ReadSpace(HandleChannel::kDefaultMaxMessageBytes);
  std::copy(stream.begin() + split, stream.end(), space.begin());
  inbox.Commit(stream.size() - split);
  auto one = inbox.Next(HandleChannel::kDefaultMaxMessageBytes);
  ASSERT_TRUE(one && *one);
  EXPECT_EQ(Text(**one), "one");
  EXPECT_TRUE((*one)->handles.empty());
  auto two = inbox.Next(HandleChannel::kDefaultMaxMessageBytes);
  ASSERT_TRUE(two && *two);
  EXPECT_EQ(Text(**two), "two!");
  EXPECT_EQ((*two)->handles.size(), 1u);
}

}  // namespace
}  // namespace rp::platform
