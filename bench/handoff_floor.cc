// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// rp-handoff-floor: the least a broker process can spend per connection on
// this machine, for each route, with no protocol logic at all. A forked
// "floor broker" makes only the system calls running-process-broker-v1
// makes for one connection, in one of two shapes:
//   blocking     every call blocks, no event loop (the absolute floor):
//                accept4, getsockopt(SO_PEERCRED), recv (header), recv
//                (body), reply; handoff: sendmsg (offer + SCM_RIGHTS); close
//   event loop   the same plus what our asio reactor adds: epoll_wait, the
//                listener re-armed per wait, accept4 until EAGAIN, waiting
//                registrations for Hellos not yet there, the inotify check
// A forked floor backend answers (epoll loop: ready bytes then a 1-byte
// echo on a handed connection; accept and echo on its own listener), and
// this process runs the clients, shaped like rp-broker-bench's samples
// (the handoff client sends its byte behind the Hello). It prints latency
// and the floor broker's CPU per connection (schedstat), so the real
// broker's numbers from rp-broker-bench can be read against the machine's
// floor, measured the same way in the same minute.
//   rp-handoff-floor [connections [busy_us]]
//       connections per route and concurrency (default 4000); busy_us: the
//       client spins that long between samples (default 0), to run at the
//       real client's pace (it spends ~50-100 us of CPU per connection):
//       the cost of a wakeup depends on whether the woken CPU was idle
//   rp-handoff-floor connections busy_us ROUTE [clients]
//       only ROUTE (reconnect or handoff), for profiling
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// Frame sizes close to the real ones: Hello, Negotiated, HandoffOffer and
// the ready EVENT, each behind the 5-byte header.
constexpr std::size_t kHelloBody = 56;
constexpr std::size_t kReplyBytes = 96;
constexpr std::size_t kOfferBytes = 64;
constexpr std::size_t kReadyBytes = 52;

enum class Route : std::uint8_t { kReconnect = 'r', kHandoff = 'h' };

[[noreturn]] void Die(const char* what) {
  std::perror(what);
  std::_Exit(2);
}

sockaddr_un Address(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof(address.sun_path), "%s", path.c_str());
  return address;
}

int Listen(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address = Address(path);
  ::unlink(path.c_str());
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(fd, 256) != 0) {
    Die("listen");
  }
  return fd;
}

int Connect(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) Die("socket");
  // A wedged floor process fails the run, never hangs it (Linux applies
  // the send timeout to a Unix connect waiting on a full backlog too).
  timeval patience{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof(patience));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &patience, sizeof(patience));
  sockaddr_un address = Address(path);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) Die("connect");
  return fd;
}

// In a forked floor process: dies with the parent (whatever way it ends),
// and keeps only its own ends, so that the other child sees EOF if it dies.
void BecomeChild(std::initializer_list<int> not_mine) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() == 1) std::_Exit(0);  // the parent is already gone
  for (int fd : not_mine) ::close(fd);
}

bool ReadExactly(int fd, char* out, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::recv(fd, out, size, 0);
    if (n <= 0) return false;
    out += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// A message of `size` bytes at `data` with room for one descriptor beside it.
struct OneDescriptorMessage {
  iovec bytes;
  alignas(cmsghdr) char space[CMSG_SPACE(sizeof(int))] = {};
  msghdr header{};
  OneDescriptorMessage(void* data, std::size_t size) : bytes{data, size} {
    header.msg_iov = &bytes;
    header.msg_iovlen = 1;
    header.msg_control = space;
    header.msg_controllen = sizeof(space);
  }
  OneDescriptorMessage(const OneDescriptorMessage&) = delete;
  OneDescriptorMessage& operator=(const OneDescriptorMessage&) = delete;
};

// Answers a Hello read from `client`: the reply, and for a handoff the
// offer with `client` beside it. The route is the first body byte.
void Answer(int client, const char* hello, int control) {
  static char reply[kReplyBytes] = {};
  static char offer[kOfferBytes] = {};
  ::send(client, reply, sizeof(reply), MSG_NOSIGNAL);
  if (hello[5] != static_cast<char>(Route::kHandoff)) return;
  OneDescriptorMessage message(offer, sizeof(offer));
  cmsghdr* header = CMSG_FIRSTHDR(&message.header);
  header->cmsg_level = SOL_SOCKET;
  header->cmsg_type = SCM_RIGHTS;
  header->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(header), &client, sizeof(int));
  ::sendmsg(control, &message.header, MSG_NOSIGNAL);
}

int PeerCredentials(int client) {
  ucred peer{};
  socklen_t peer_size = sizeof(peer);
  return ::getsockopt(client, SOL_SOCKET, SO_PEERCRED, &peer, &peer_size);
}

// The blocking floor: one connection at a time, every call blocking.
[[noreturn]] void RunBlockingBroker(int listener, int control, int /*watched*/) {
  char hello[5 + kHelloBody];
  for (;;) {
    int client = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    PeerCredentials(client);
    if (ReadExactly(client, hello, 5) && ReadExactly(client, hello + 5, kHelloBody)) {
      Answer(client, hello, control);
    }
    ::close(client);
  }
}

// The event-loop floor: the system calls of running-process-broker-v1's
// shape (asio's epoll reactor) without its work. Edge-triggered epoll; an
// accept wait re-arms the listener with EPOLL_CTL_MOD (as asio's
// non-speculative async_wait does); accept4 until EAGAIN; reads that would
// block register the connection and wait; the service-definition watch
// (inotify) is checked once per Hello; a registered connection is
// deregistered before close. Replies go with send and sendmsg (ours links
// the two in one io_uring_enter where it can).
[[noreturn]] void RunEventLoopBroker(int listener, int control, int watched) {
  const int poller = ::epoll_create1(EPOLL_CLOEXEC);
  auto arm = [&](int op, int fd) {
    epoll_event event{};
    event.events = EPOLLIN | EPOLLET;
    event.data.fd = fd;
    ::epoll_ctl(poller, op, fd, &event);
  };
  ::fcntl(listener, F_SETFL, O_NONBLOCK);
  arm(EPOLL_CTL_ADD, listener);
  // One connection's Hello: true when it is answered or gone, false when
  // it has to wait for more bytes.
  auto serve = [&](int client, bool registered) {
    char hello[5 + kHelloBody];
    // The client sends its Hello in one write: header and body come together.
    ssize_t n = ::recv(client, hello, 5, MSG_DONTWAIT);
    if (n < 0 && errno == EAGAIN) return false;
    if (n == 5 && ReadExactly(client, hello + 5, kHelloBody)) {
      char changes[4096];
      (void)!::read(watched, changes, sizeof(changes));  // EAGAIN: nothing changed
      Answer(client, hello, control);
    }
    if (registered) ::epoll_ctl(poller, EPOLL_CTL_DEL, client, nullptr);
    ::close(client);
    return true;
  };
  epoll_event events[32];
  for (;;) {
    arm(EPOLL_CTL_MOD, listener);
    const int count = ::epoll_wait(poller, events, 32, -1);
    for (int i = 0; i < count; ++i) {
      const int fd = events[i].data.fd;
      if (fd != listener) {
        serve(fd, /*registered=*/true);
        continue;
      }
      for (;;) {
        int client = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (client < 0) break;
        PeerCredentials(client);
        if (!serve(client, /*registered=*/false)) arm(EPOLL_CTL_ADD, client);
      }
    }
  }
}

// The floor backend: handed connections get the ready bytes, then every
// connection (handed or accepted on its own listener) gets its byte back.
[[noreturn]] void RunFloorBackend(int listener, int control) {
  int poller = ::epoll_create1(EPOLL_CLOEXEC);
  auto watch = [&](int fd) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = fd;
    ::epoll_ctl(poller, EPOLL_CTL_ADD, fd, &event);
  };
  watch(listener);
  watch(control);
  char ready[kReadyBytes] = {};
  char offer[kOfferBytes];
  epoll_event events[32];
  for (;;) {
    int count = ::epoll_wait(poller, events, 32, -1);
    for (int i = 0; i < count; ++i) {
      int fd = events[i].data.fd;
      if (fd == listener) {
        int client = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (client >= 0) watch(client);
      } else if (fd == control) {
        OneDescriptorMessage message(offer, sizeof(offer));
        if (::recvmsg(control, &message.header, MSG_WAITALL | MSG_CMSG_CLOEXEC) <= 0) {
          std::_Exit(0);
        }
        cmsghdr* header = CMSG_FIRSTHDR(&message.header);
        if (header == nullptr || header->cmsg_type != SCM_RIGHTS) continue;
        int client;
        std::memcpy(&client, CMSG_DATA(header), sizeof(int));
        ::send(client, ready, sizeof(ready), MSG_NOSIGNAL);
        watch(client);
      } else {
        char byte;
        if (::recv(fd, &byte, 1, 0) == 1) {
          ::send(fd, &byte, 1, MSG_NOSIGNAL);
        } else {
          ::close(fd);  // also leaves the epoll set
        }
      }
    }
  }
}

// One sample, as rp-broker-bench's client does it; false on a broken run.
bool Sample(Route route, const std::string& broker_path, const std::string& backend_path) {
  char hello[5 + kHelloBody + 1] = {1, static_cast<char>(kHelloBody)};
  hello[5] = static_cast<char>(route);
  char in[kReplyBytes + kReadyBytes + 1];
  int connection = Connect(broker_path);
  bool ok;
  if (route == Route::kHandoff) {
    hello[sizeof(hello) - 1] = 'x';  // the byte behind the Hello
    ok = ::send(connection, hello, sizeof(hello), MSG_NOSIGNAL) == sizeof(hello) &&
         ReadExactly(connection, in, kReplyBytes + kReadyBytes + 1);
  } else {
    ok = ::send(connection, hello, sizeof(hello) - 1, MSG_NOSIGNAL) == sizeof(hello) - 1 &&
         ReadExactly(connection, in, kReplyBytes);
    ::close(connection);
    connection = Connect(backend_path);
    ok = ok && ::send(connection, "x", 1, MSG_NOSIGNAL) == 1 && ReadExactly(connection, in, 1);
  }
  ::close(connection);
  return ok;
}

std::uint64_t CpuNanoseconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/schedstat");
  std::uint64_t nanoseconds = 0;
  in >> nanoseconds;
  return nanoseconds;
}

struct Result {
  double p50 = 0, p99 = 0, per_second = 0, broker_cpu = 0, backend_cpu = 0;
};

// Busy, not asleep: as the real client, which computes between samples.
void Spin(std::chrono::microseconds busy) {
  const auto until = Clock::now() + busy;
  while (Clock::now() < until) {
  }
}

Result Run(Route route, int clients, int connections, std::chrono::microseconds busy,
           pid_t broker, pid_t backend,
           const std::string& broker_path, const std::string& backend_path) {
  std::vector<std::vector<double>> micros(static_cast<std::size_t>(clients));
  std::atomic<bool> failed{false};
  const std::uint64_t broker_before = CpuNanoseconds(broker);
  const std::uint64_t backend_before = CpuNanoseconds(backend);
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      auto& mine = micros[static_cast<std::size_t>(c)];
      for (int i = 0; i < connections / clients && !failed; ++i) {
        auto began = Clock::now();
        if (!Sample(route, broker_path, backend_path)) failed = true;
        mine.push_back(std::chrono::duration<double, std::micro>(Clock::now() - began).count());
        Spin(busy);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (failed) {
    std::fprintf(stderr, "a sample failed\n");
    std::exit(1);
  }
  std::vector<double> all;
  for (auto& mine : micros) all.insert(all.end(), mine.begin(), mine.end());
  std::sort(all.begin(), all.end());
  const double done = static_cast<double>(all.size());
  Result result;
  result.p50 = all[all.size() / 2];
  result.p99 = all[static_cast<std::size_t>(0.99 * (done - 1))];
  result.per_second = done / seconds;
  result.broker_cpu = static_cast<double>(CpuNanoseconds(broker) - broker_before) / 1e3 / done;
  result.backend_cpu = static_cast<double>(CpuNanoseconds(backend) - backend_before) / 1e3 / done;
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  const int connections = argc > 1 ? std::max(100, std::atoi(argv[1])) : 4000;
  const std::chrono::microseconds busy(argc > 2 ? std::max(0, std::atoi(argv[2])) : 0);
  char directory[] = "/tmp/rp-floor-XXXXXX";
  if (::mkdtemp(directory) == nullptr) Die("mkdtemp");
  const std::string broker_path = std::string(directory) + "/broker";
  const std::string backend_path = std::string(directory) + "/backend";
  const std::string only = argc > 3 ? argv[3] : "";
  const int only_clients = argc > 4 ? std::atoi(argv[4]) : 0;
  int watched = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (watched < 0 || ::inotify_add_watch(watched, directory, IN_CREATE | IN_DELETE) < 0) {
    Die("inotify");
  }

  std::printf("rp-handoff-floor: the broker's system calls alone, %d connections per run, "
              "client busy %lld us between samples\n",
              connections, static_cast<long long>(busy.count()));
  std::printf("  %-11s %-10s %7s %10s %10s %10s %12s %12s\n", "broker", "route", "clients",
              "P50 us", "P99 us", "conn/s", "broker us", "backend us");
  using BrokerLoop = void (*)(int, int, int);
  const std::pair<const char*, BrokerLoop> shapes[] = {{"blocking", &RunBlockingBroker},
                                                        {"event loop", &RunEventLoopBroker}};
  for (const auto& [shape, loop] : shapes) {
    int broker_listener = Listen(broker_path);
    int backend_listener = Listen(backend_path);
    int control[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, control) != 0) Die("socketpair");
    pid_t broker = ::fork();
    if (broker == 0) {
      BecomeChild({backend_listener, control[1]});
      loop(broker_listener, control[0], watched);
    }
    pid_t backend = ::fork();
    if (backend == 0) {
      BecomeChild({broker_listener, control[0], watched});
      RunFloorBackend(backend_listener, control[1]);
    }
    ::close(broker_listener);
    ::close(backend_listener);
    ::close(control[0]);
    ::close(control[1]);
    for (int clients : {1, 4}) {
      for (Route route : {Route::kReconnect, Route::kHandoff}) {
        const char* name = route == Route::kHandoff ? "handoff" : "reconnect";
        if ((!only.empty() && only != name) || (only_clients != 0 && only_clients != clients)) {
          continue;
        }
        Run(route, clients, connections / 10, busy, broker, backend, broker_path, backend_path);
        Result r =
            Run(route, clients, connections, busy, broker, backend, broker_path, backend_path);
        std::printf("  %-11s %-10s %7d %10.1f %10.1f %10.0f %12.1f %12.1f\n", shape, name,
                    clients, r.p50, r.p99, r.per_second, r.broker_cpu, r.backend_cpu);
      }
    }
    ::kill(broker, SIGKILL);
    ::kill(backend, SIGKILL);
    ::waitpid(broker, nullptr, 0);
    ::waitpid(backend, nullptr, 0);
  }
  ::close(watched);
  ::unlink(broker_path.c_str());
  ::unlink(backend_path.c_str());
  ::rmdir(directory);
  return 0;
}
