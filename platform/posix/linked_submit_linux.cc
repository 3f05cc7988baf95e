// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// LinkedSubmitter on Linux: a four-entry io_uring driven with raw system
// calls (no liburing). The write and the sendmsg() are linked requests in
// one io_uring_enter() that also waits for both: the second is issued
// inside that call (the kernel runs the link's task work before it would
// sleep), so the process the write woke cannot get this CPU in between.
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef IORING_SETUP_SUBMIT_ALL  // kernel headers older than 5.18
#define IORING_SETUP_SUBMIT_ALL (1U << 7)
#endif

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "posix/linked_submit.h"

namespace rp::platform {

namespace {

constexpr unsigned kEntries = 4;
constexpr std::uint64_t kWriteTag = 1;
constexpr std::uint64_t kSendmsgTag = 2;
// Both are ours, non-blocking, and must not raise SIGPIPE. MSG_WAITALL
// makes a short write a failure, which cancels the linked sendmsg.
constexpr unsigned kWriteFlags = MSG_DONTWAIT | MSG_NOSIGNAL | MSG_WAITALL;
constexpr unsigned kSendmsgFlags = MSG_DONTWAIT | MSG_NOSIGNAL;

int Setup(unsigned entries, io_uring_params* params) {
  return static_cast<int>(::syscall(__NR_io_uring_setup, entries, params));
}

int Enter(int fd, unsigned to_submit, unsigned min_complete) {
  return static_cast<int>(::syscall(__NR_io_uring_enter, fd, to_submit, min_complete,
                                    IORING_ENTER_GETEVENTS, nullptr, 0));
}

template <class T>
T* At(void* base, std::uint32_t offset) {
  return reinterpret_cast<T*>(static_cast<char*>(base) + offset);
}

}  // namespace

struct LinkedSubmitter::Impl::Ring {
  int fd = -1;
  void* rings = MAP_FAILED;
  std::size_t rings_bytes = 0;
  void* sqe_memory = MAP_FAILED;
  std::size_t sqe_bytes = 0;
  io_uring_sqe* sqes = nullptr;
  unsigned* sq_head = nullptr;
  unsigned* sq_tail = nullptr;
  unsigned sq_mask = 0;
  unsigned* sq_array = nullptr;
  unsigned* cq_head = nullptr;
  unsigned* cq_tail = nullptr;
  unsigned cq_mask = 0;
  io_uring_cqe* cqes = nullptr;

  ~Ring() {
    if (sqe_memory != MAP_FAILED) ::munmap(sqe_memory, sqe_bytes);
    if (rings != MAP_FAILED) ::munmap(rings, rings_bytes);
    if (fd >= 0) ::close(fd);
  }
};

LinkedSubmitter::Impl::Impl(std::unique_ptr<Ring> ring) : ring_(std::move(ring)) {}
LinkedSubmitter::Impl::~Impl() = default;

std::unique_ptr<LinkedSubmitter::Impl> LinkedSubmitter::Impl::Open() {
  io_uring_params params;
  std::memset(&params, 0, sizeof(params));
  // SUBMIT_ALL (5.18): the kernel consumes both entries even if one is
  // refused, so nothing is ever left behind in the queue.
  params.flags = IORING_SETUP_SUBMIT_ALL;
  auto ring = std::make_unique<Ring>();
  ring->fd = Setup(kEntries, &params);  // close-on-exec from birth
  if (ring->fd < 0) return nullptr;
  const unsigned needed = IORING_FEAT_SINGLE_MMAP | IORING_FEAT_NODROP;
  if ((params.features & needed) != needed) return nullptr;
  ring->rings_bytes =
      std::max<std::size_t>(params.sq_off.array + params.sq_entries * sizeof(unsigned),
                            params.cq_off.cqes + params.cq_entries * sizeof(io_uring_cqe));
  ring->rings = ::mmap(nullptr, ring->rings_bytes, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_POPULATE, ring->fd, IORING_OFF_SQ_RING);
  if (ring->rings == MAP_FAILED) return nullptr;
  ring->sqe_bytes = params.sq_entries * sizeof(io_uring_sqe);
  ring->sqe_memory = ::mmap(nullptr, ring->sqe_bytes, PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_POPULATE, ring->fd, IORING_OFF_SQES);
  if (ring->sqe_memory == MAP_FAILED) return nullptr;
  ring->sqes = static_cast<io_uring_sqe*>(ring->sqe_memory);
  ring->sq_head = At<unsigned>(ring->rings, params.sq_off.head);
  ring->sq_tail = At<unsigned>(ring->rings, params.sq_off.tail);
  ring->sq_mask = *At<unsigned>(ring->rings, params.sq_off.ring_mask);
  ring->sq_array = At<unsigned>(ring->rings, params.sq_off.array);
  ring->cq_head = At<unsigned>(ring->rings, params.cq_off.head);
  ring->cq_tail = At<unsigned>(ring->rings, params.cq_off.tail);
  ring->cq_mask = *At<unsigned>(ring->rings, params.cq_off.ring_mask);
  ring->cqes = At<io_uring_cqe>(ring->rings, params.cq_off.cqes);
  return std::unique_ptr<Impl>(new Impl(std::move(ring)));
}

LinkedSubmitter::Impl::Outcome LinkedSubmitter::Impl::WriteThenSendmsg(
    int stream_fd, const void* data, std::size_t size, int channel_fd, const msghdr* message) {
  Ring& r = *ring_;
  Outcome outcome;
  if (broken_) return outcome;
  const unsigned tail = *r.sq_tail;  // only we move it
  auto prepare = [&](unsigned slot, std::uint8_t opcode, int fd, const void* address,
                     std::size_t length, unsigned flags, std::uint64_t tag) {
    const unsigned index = slot & r.sq_mask;
    io_uring_sqe& sqe = r.sqes[index];
    std::memset(&sqe, 0, sizeof(sqe));
    sqe.opcode = opcode;
    sqe.fd = fd;
    sqe.addr = reinterpret_cast<std::uint64_t>(address);
    sqe.len = static_cast<std::uint32_t>(length);
    sqe.msg_flags = flags;
    sqe.user_data = tag;
    r.sq_array[index] = index;
    return &sqe;
  };
  prepare(tail, IORING_OP_SEND, stream_fd, data, size, kWriteFlags, kWriteTag)->flags =
      IOSQE_IO_LINK;
  prepare(tail + 1, IORING_OP_SENDMSG, channel_fd, message, 1, kSendmsgFlags, kSendmsgTag);
  __atomic_store_n(r.sq_tail, tail + 2, __ATOMIC_RELEASE);

  int entered = Enter(r.fd, 2, 2);
  if (__atomic_load_n(r.sq_head, __ATOMIC_ACQUIRE) == tail) {
    // Refused outright (EAGAIN, EBUSY, ...): take the entries back.
    __atomic_store_n(r.sq_tail, tail, __ATOMIC_RELEASE);
    return outcome;
  }
  outcome.submitted = true;
  int completed = 0;
  for (;;) {
    unsigned head = *r.cq_head;
    const unsigned ready = __atomic_load_n(r.cq_tail, __ATOMIC_ACQUIRE);
    for (; head != ready; ++head) {
      const io_uring_cqe& cqe = r.cqes[head & r.cq_mask];
      (cqe.user_data == kWriteTag ? outcome.write : outcome.sendmsg) = cqe.res;
      ++completed;
    }
    __atomic_store_n(r.cq_head, head, __ATOMIC_RELEASE);
    if (completed >= 2) break;
    // Interrupted (EINTR) before both were reported: wait for the rest.
    if (entered < 0 && errno != EINTR && errno != EAGAIN) {
      // Not expected with NODROP. What is still owed could turn up in a
      // later call, so this ring is not used again; the caller cannot
      // know what moved, so both count as failed.
      broken_ = true;
      outcome.write = completed && outcome.write > 0 ? outcome.write : -EIO;
      outcome.sendmsg = -EIO;
      break;
    }
    entered = Enter(r.fd, 0, static_cast<unsigned>(2 - completed));
  }
  return outcome;
}

LinkedSubmitter LinkedSubmitter::Create() { return LinkedSubmitter(Impl::Open().release()); }
void LinkedSubmitter::Release::operator()(Impl* impl) const noexcept { delete impl; }

}  // namespace rp::platform
