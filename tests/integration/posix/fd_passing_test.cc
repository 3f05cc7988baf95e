// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// POSIX-only cases that craft raw SCM_RIGHTS messages with sendmsg(2), to
// prove HandleChannel rejects what our own sender never produces.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "common/channel_wire.h"
#include "rp/platform/errors.h"
#include "rp/platform/handle_channel.h"
#include "support/async_test.h"
#include "support/child_registry.h"

namespace rp::platform {
namespace {

namespace asio = boost::asio;
using test::RunAsync;

// Sends a channel header announcing `announced` handles, `body`, and
// `fds` attached as SCM_RIGHTS, all in one sendmsg.
void SendRaw(int socket, std::uint32_t announced, const std::string& body,
             const std::vector<int>& fds) {
  ChannelHeader header{static_cast<std::uint32_t>(body.size()), announced};
  auto head = header.Encode();
  std::vector<std::uint8_t> bytes(head.begin(), head.end());
  bytes.insert(bytes.end(), body.begin(), body.end());
  iovec iov{bytes.data(), bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<unsigned char> control(CMSG_SPACE(sizeof(int) * fds.size()));
  if (!fds.empty()) {
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  ASSERT_EQ(::sendmsg(socket, &msg, 0), static_cast<ssize_t>(bytes.size())) << strerror(errno);
}

class RawChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    baseline_ = test::HandleBaseline(io_);
    auto ends = HandleChannel::CreatePair();
    ASSERT_TRUE(ends);
    raw_ = std::move(ends->first);
    auto channel = HandleChannel::Open(io_.get_executor(), std::move(ends->second));
    ASSERT_TRUE(channel);
    channel_ = std::move(*channel);
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    payload_a_.reset(p[0]);
    payload_b_.reset(p[1]);
  }

  // Every handle the receiver got and rejected must be closed again.
  void ExpectNoLeakAfterClosingFixtures() {
    raw_.reset();
    channel_.Close();
    payload_a_.reset();
    payload_b_.reset();
    EXPECT_EQ(test::OpenHandleCount(), baseline_);
  }

  std::size_t baseline_ = 0;
  asio::io_context io_;
  PlatformHandle raw_;
  HandleChannel channel_;
  PlatformHandle payload_a_;
  PlatformHandle payload_b_;
};

TEST_F(RawChannelTest, FewerHandlesThanAnnouncedIsRejectedAndChannelStaysInSync) {
  SendRaw(raw_.get(), 2, "two?", {payload_a_.get()});
  auto rejected = RunAsync(io_, channel_.Receive());
  ASSERT_FALSE(rejected);
  EXPECT_EQ(rejected.error(), make_error_code(Error::kHandleCountMismatch));
  // The next, well-formed message still arrives intact.
  SendRaw(raw_.get(), 1, "one", {payload_b_.get()});
  auto ok = RunAsync(io_, channel_.Receive());
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(std::string(ok->bytes.begin(), ok->bytes.end()), "one");
  ASSERT_EQ(ok->handles.size(), 1u);
  ok->handles.clear();
  ExpectNoLeakAfterClosingFixtures();
}

TEST_F(RawChannelTest, MoreHandlesThanAnnouncedIsRejected) {
  SendRaw(raw_.get(), 1, "x", {payload_a_.get(), payload_b_.get()});
  auto rejected = RunAsync(io_, channel_.Receive());
  ASSERT_FALSE(rejected);
  EXPECT_EQ(rejected.error(), make_error_code(Error::kHandleCountMismatch));
  ExpectNoLeakAfterClosingFixtures();
}

TEST_F(RawChannelTest, TruncatedControlDataIsRejectedWithEveryHandleClosed) {
  // More fds than the receiver's control buffer holds: the kernel sets
  // MSG_CTRUNC and drops the rest.
  std::vector<int> many(HandleChannel::kMaxHandlesPerMessage + 4, payload_a_.get());
  SendRaw(raw_.get(), 1, "x", many);
  auto rejected = RunAsync(io_, channel_.Receive());
  ASSERT_FALSE(rejected);
  EXPECT_EQ(rejected.error(), make_error_code(Error::kControlDataTruncated));
  ExpectNoLeakAfterClosingFixtures();
}

TEST_F(RawChannelTest, OversizeMessageIsRefusedFromTheHeader) {
  SendRaw(raw_.get(), 0, std::string(64, 'x'), {});
  auto rejected = RunAsync(io_, channel_.Receive(16));
  ASSERT_FALSE(rejected);
  EXPECT_EQ(rejected.error(), make_error_code(Error::kMessageTooLarge));
  ExpectNoLeakAfterClosingFixtures();
}

// The inode a descriptor refers to, to tell which payload a handle is.
ino_t InodeOf(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? st.st_ino : 0;
}

TEST_F(RawChannelTest, MessagesQueuedTogetherKeepTheirOwnHandles) {
  const std::vector<std::pair<std::string, std::vector<int>>> sent = {
      {"a", {}},
      {"bb", {payload_a_.get()}},
      {"ccc", {}},
      {"dddd", {payload_b_.get(), payload_a_.get()}},
      {"eeeee", {payload_b_.get()}},
      {"", {}}};
  for (const auto& [body, fds] : sent) {
    SendRaw(raw_.get(), static_cast<std::uint32_t>(fds.size()), body, fds);
  }
  for (const auto& [body, fds] : sent) {
    auto got = RunAsync(io_, channel_.Receive());
    ASSERT_TRUE(got) << body << ": " << got.error().message();
    EXPECT_EQ(std::string(got->bytes.begin(), got->bytes.end()), body);
    ASSERT_EQ(got->handles.size(), fds.size()) << body;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      EXPECT_EQ(InodeOf(got->handles[i].get()), InodeOf(fds[i])) << body << " handle " << i;
    }
  }
  ExpectNoLeakAfterClosingFixtures();
}

#if defined(__linux__)
TEST_F(RawChannelTest, OneReadTakesEveryMessageUpToTheOneWithHandles) {
  // A second descriptor for the receiving socket, to see its queue.
  auto ends = HandleChannel::CreatePair();
  ASSERT_TRUE(ends);
  PlatformHandle sender = std::move(ends->first);
  PlatformHandle watch(::dup(ends->second.get()));
  auto channel = HandleChannel::Open(io_.get_executor(), std::move(ends->second));
  ASSERT_TRUE(channel);
  SendRaw(sender.get(), 0, "one", {});
  SendRaw(sender.get(), 0, "two", {});
  SendRaw(sender.get(), 1, "three", {payload_a_.get()});
  SendRaw(sender.get(), 0, "four", {});
  auto first = RunAsync(io_, channel->Receive());
  ASSERT_TRUE(first);
  EXPECT_EQ(std::string(first->bytes.begin(), first->bytes.end()), "one");
  // "two" and "three" came with the same read; only "four" is still queued.
  int queued = -1;
  ASSERT_EQ(::ioctl(watch.get(), FIONREAD, &queued), 0);
  EXPECT_EQ(queued, static_cast<int>(ChannelHeader::kSize + 4));
  for (const char* expected : {"two", "three", "four"}) {
    auto got = RunAsync(io_, channel->Receive());
    ASSERT_TRUE(got) << expected;
    EXPECT_EQ(std::string(got->bytes.begin(), got->bytes.end()), expected);
    EXPECT_EQ(got->handles.size(), std::string(expected) == "three" ? 1u : 0u);
  }
  channel->Close();
  watch.reset();
  sender.reset();
  ExpectNoLeakAfterClosingFixtures();
}
#endif

TEST_F(RawChannelTest, ReceivedHandlesAreCloseOnExec) {
  SendRaw(raw_.get(), 1, "", {payload_a_.get()});
  auto ok = RunAsync(io_, channel_.Receive());
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->handles.size(), 1u);
  EXPECT_TRUE(::fcntl(ok->handles[0].get(), F_GETFD) & FD_CLOEXEC);
  ok->handles.clear();
  ExpectNoLeakAfterClosingFixtures();
}

TEST(ChildProcessPosix, OnlyNamedHandlesCrossExec) {
  asio::io_context io;
  // A pipe made without O_CLOEXEC, as asio makes its sockets: the child
  // must not get it unless it is named.
  int leaky[2];
  ASSERT_EQ(::pipe(leaky), 0);
  PlatformHandle leaky_r(leaky[0]), leaky_w(leaky[1]);
  int named[2];
  ASSERT_EQ(::pipe2(named, O_CLOEXEC), 0);
  PlatformHandle named_r(named[0]), named_w(named[1]);
  auto child = test::LaunchSelf(io.get_executor(), "check_fds",
                                {leaky_r.ToDecimalString(), named_r.ToDecimalString()}, {},
                                {named_r.get()});
  ASSERT_TRUE(child) << child.error().message();
  auto code = RunAsync(io, child->Wait());
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 0) << "1: leaked fd open in child, 2: named fd missing";
  // The parent's copy keeps its close-on-exec flag.
  EXPECT_TRUE(::fcntl(named_r.get(), F_GETFD) & FD_CLOEXEC);
}

}  // namespace
}  // namespace rp::platform

RP_TEST_CHILD(check_fds) {
  int leaked = std::stoi(args.at(0));
  int named = std::stoi(args.at(1));
  if (::fcntl(leaked, F_GETFD) != -1) return 1;
  if (::fcntl(named, F_GETFD) == -1) return 2;
  return 0;
}
