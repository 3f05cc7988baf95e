// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// Stream framing over real local connections (spec §1.3).
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "rp/platform/local_listener.h"
#include "rp/transport/frame_io.h"
#include "support/async_test.h"
#include "support/temp_dir.h"

namespace rp::transport {
namespace {

namespace asio = boost::asio;
using platform::LocalStream;
using test::RunAsync;
using namespace std::chrono_literals;
using Bytes = std::vector<std::uint8_t>;

// A connected client/server pair over a fresh listener.
class FrameIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto listener = platform::LocalListener::Bind(io_.get_executor(),
                                                  test::UniqueEndpointAddress(dir_, "frames"));
    ASSERT_TRUE(listener) << listener.error().message();
    listener_ = std::move(*listener);
    std::tie(client_, server_) = test::ConnectedStreams(io_, listener_);
  }

  // Writes raw bytes from the client, optionally closing it afterwards.
  void ClientSends(const Bytes& bytes, bool close_after) {
    RunAsync(io_, [&]() -> asio::awaitable<bool> {
      EXPECT_FALSE(co_await platform::WriteAll(client_, asio::buffer(bytes)));
      co_return true;
    }());
    if (close_after) client_.Close();
  }

  FrameResult<Bytes> ServerReads(std::uint32_t cap = kMaxFrameBytes) {
    return RunAsync(io_, ReadFrameBody(server_, cap));
  }

  test::TempDir dir_;
  asio::io_context io_;
  platform::LocalListener listener_;
  LocalStream client_;
  LocalStream server_;
};

TEST_F(FrameIoTest, RoundTripsA1024ByteBody) {
  Bytes body(1024);
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<std::uint8_t>(i & 0xff);
  auto written = RunAsync(io_, WriteFrameBody(client_, body));
  ASSERT_TRUE(written);
  EXPECT_EQ(*written, 5u + 1024u);
  auto read = ServerReads();
  ASSERT_TRUE(read);
  EXPECT_EQ(*read, body);
}

TEST_F(FrameIoTest, EmptyBodyIsFiveHeaderBytes) {
  ClientSends({1, 0, 0, 0, 0}, false);
  auto read = ServerReads();
  ASSERT_TRUE(read);
  EXPECT_TRUE(read->empty());
}

TEST_F(FrameIoTest, BadFramingByteIsReportedWithTheByteSeen) {
  ClientSends({2, 0, 0, 0, 0}, false);
  auto read = ServerReads();
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error(), FrameError::UnsupportedFramingVersion(2));
}

TEST_F(FrameIoTest, LengthOverCapIsRefusedFromTheHeaderAlone) {
  // 01 01 04 00 00 claims 1025 bytes; no body follows and none is awaited.
  ClientSends({1, 0x01, 0x04, 0, 0}, false);
  auto read = ServerReads(1024);
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error(), FrameError::TooLarge(1025, 1024));
}

TEST_F(FrameIoTest, HelloCapAndFrameCap) {
  ClientSends({1, 0x01, 0x00, 0x01, 0x00}, false);  // 65537
  auto hello = ServerReads(kMaxHelloBytes);
  ASSERT_FALSE(hello);
  EXPECT_EQ(hello.error(), FrameError::TooLarge(65537, 65536));
}

TEST_F(FrameIoTest, FrameCapRefusesSixteenMebibytesPlusOne) {
  ClientSends({1, 0x01, 0x00, 0x00, 0x01}, false);  // 16 MiB + 1
  auto read = ServerReads();
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error(), FrameError::TooLarge(16777217, 16777216));
}

TEST_F(FrameIoTest, EofBeforeAnythingIsAtTheFramingByte) {
  ClientSends({}, true);
  auto read = ServerReads();
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error(), FrameError::Eof(FrameError::EofAt::kFramingByte));
  EXPECT_NE(read.error().message().find("framing"), std::string::npos);
}

TEST_F(FrameIoTest, EofAfterFramingByteIsInTheLength) {
  ClientSends({1}, true);
  auto read = ServerReads();
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error(), FrameError::Eof(FrameError::EofAt::kLengthHeader));
  EXPECT_NE(read.error().message().find("length"), std::string::npos);
}

TEST_F(FrameIoTest, TruncatedBodyIsEofInTheBody) {
  ClientSends({1, 10, 0, 0, 0, 0xab, 0xcd, 0xef, 0x01}, true);
  auto read = ServerReads();
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error(), FrameError::Eof(FrameError::EofAt::kBody));
  EXPECT_NE(read.error().message().find("body"), std::string::npos);
}

TEST_F(FrameIoTest, WriterRefusesOversizeBody) {
  Bytes big(kMaxFrameBytes + 1);
  auto written = RunAsync(io_, WriteFrameBody(client_, big));
  ASSERT_FALSE(written);
  EXPECT_EQ(written.error(), FrameError::TooLarge(16777217, 16777216));
}

TEST_F(FrameIoTest, BackToBackFramesReadInOrderAndLeaveTheRestUnread) {
  for (std::string s : {"first", "second", "third"}) {
    ASSERT_TRUE(RunAsync(io_, WriteFrameBody(client_, Bytes(s.begin(), s.end()))));
  }
  ClientSends({'t', 'a', 'i', 'l'}, false);
  for (std::string s : {"first", "second", "third"}) {
    auto read = ServerReads();
    ASSERT_TRUE(read);
    EXPECT_EQ(std::string(read->begin(), read->end()), s);
  }
  // Exactly one frame was taken each time: the raw tail is still there.
  Bytes tail(4);
  auto ec = RunAsync(io_, platform::ReadExactly(server_, asio::buffer(tail)));
  EXPECT_FALSE(ec);
  EXPECT_EQ(std::string(tail.begin(), tail.end()), "tail");
}

TEST_F(FrameIoTest, ReadFrameDecodesAndRejectsGarbage) {
  pb::Frame frame;
  frame.set_envelope_version(1);
  frame.set_payload_protocol(kAdminPayloadProtocol);
  frame.set_request_id(7);
  ASSERT_TRUE(RunAsync(io_, WriteFrame(client_, frame)));
  auto read = RunAsync(io_, ReadFrame(server_));
  ASSERT_TRUE(read);
  EXPECT_EQ(read->payload_protocol(), kAdminPayloadProtocol);
  EXPECT_EQ(read->request_id(), 7u);
  // Field 1 with wire type 7 does not exist: not a Frame.
  ClientSends({1, 2, 0, 0, 0, 0x0f, 0xff}, false);
  auto bad = RunAsync(io_, ReadFrame(server_));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, FrameError::Kind::kDecode);
}

// A frame whose payload names it, framed for the wire.
Bytes Framed(const std::string& name) {
  pb::Frame frame;
  frame.set_envelope_version(1);
  frame.set_payload(name);
  return *EncodeFrame(frame);
}

TEST_F(FrameIoTest, BufferedReaderTakesFramesTogetherAndGivesBackTheRest) {
  Bytes wire = Framed("first");
  for (auto& part : {Framed("second"), Framed(std::string(10000, 'x'))}) {
    wire.insert(wire.end(), part.begin(), part.end());
  }
  wire.insert(wire.end(), {'t', 'a', 'i', 'l'});
  // In pieces that split a header and bodies, all written before the reads.
  std::size_t at = 0;
  for (std::size_t cut : std::vector<std::size_t>{3, 12, 30, 5000, wire.size()}) {
    ClientSends(Bytes(wire.begin() + static_cast<std::ptrdiff_t>(at),
                      wire.begin() + static_cast<std::ptrdiff_t>(cut)),
                false);
    at = cut;
  }
  BufferedFrameReader reader;
  for (const std::string& expected :
       std::vector<std::string>{"first", "second", std::string(10000, 'x')}) {
    auto frame = RunAsync(io_, reader.Read(server_));
    ASSERT_TRUE(frame) << frame.error().message();
    EXPECT_EQ(frame->payload(), expected);
  }
  // The tail came with the last frame's reads; the stream itself is empty.
  Bytes rest = reader.TakeLeftover();
  EXPECT_EQ(std::string(rest.begin(), rest.end()), "tail");
  std::uint8_t byte = 0;
  EXPECT_FALSE(server_.TryReadSome(asio::buffer(&byte, 1)));
}

TEST_F(FrameIoTest, BufferedReaderReportsWhatReadFrameReports) {
  ClientSends({1, 0xff, 0xff, 0, 0}, false);
  BufferedFrameReader capped;
  auto large = RunAsync(io_, capped.Read(server_, 100));
  ASSERT_FALSE(large);
  EXPECT_EQ(large.error(), FrameError::TooLarge(0xffff, 100));

  BufferedFrameReader fresh;
  ClientSends({1, 3, 0, 0}, true);  // (a new reader: the old one is out of step)
  auto cut = RunAsync(io_, fresh.Read(server_));
  ASSERT_FALSE(cut);
  EXPECT_EQ(cut.error(), FrameError::Eof(FrameError::EofAt::kLengthHeader));
}

}  // namespace
}  // namespace rp::transport
