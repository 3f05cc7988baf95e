// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
//
// rp-connect: reaches a service through the broker (rp::client::Connect)
// and joins it to stdin/stdout, like netcat for broker services.
//
//   rp-connect [--socket EP] [-v] [--timeout-ms N] [--linger-ms N] SERVICE VERSION
//
// stdin is read on its own thread (blocking reads work the same on every OS,
// Wine included) and handed to the event loop in chunks; what the backend
// sends goes to stdout as it arrives. After stdin ends, the connection stays
// open until the backend closes it or sends nothing for --linger-ms.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "rp/client/client.h"
#include "rp/platform/errors.h"

#if defined(_WIN32)
#include <fcntl.h>
#include <io.h>
#else
#include <cerrno>
#include <unistd.h>
#endif

namespace {

namespace asio = boost::asio;
namespace client = rp::client;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kExitOk = 0;
constexpr int kExitUsage = 2;
constexpr int kExitRefused = 3;
constexpr int kExitDisabled = 4;
constexpr int kExitUnreachable = 5;

constexpr std::size_t kChunkBytes = 64 * 1024;
// stdin is not read further ahead of the backend than this.
constexpr std::size_t kMaxQueuedBytes = 1024 * 1024;

constexpr char kUsage[] =
    "usage: rp-connect [--socket EP] [-v] [--timeout-ms N] [--linger-ms N] SERVICE VERSION\n"
    "\n"
    "Connects to SERVICE at VERSION through the broker and copies stdin to it and\n"
    "its replies to stdout.\n"
    "  --socket EP       broker endpoint (default: this user's shared broker)\n"
    "  --timeout-ms N    bound on the Hello round trip (default:\n"
    "                    RUNNING_PROCESS_BROKER_CLIENT_TIMEOUT_MS, else 30000)\n"
    "  --linger-ms N     after stdin ends, wait this long for more output (default 300)\n"
    "  -v                print the route, backend pipe, connection id and timings\n"
    "Exit: 0 ok, 2 usage, 3 refused, 4 disabled or bad configuration,\n"
    "      5 unreachable, timed out or protocol error.\n";

struct Args {
  std::string socket;
  bool verbose = false;
  std::optional<milliseconds> timeout;
  milliseconds linger{300};
  std::string service;
  std::string version;
};

std::optional<milliseconds> ParseMs(const std::string& text, bool allow_zero) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos ||
      text.size() > 12) {
    return std::nullopt;
  }
  long long value = std::stoll(text);
  if (value == 0 && !allow_zero) return std::nullopt;
  return milliseconds(value);
}

// Returns nullopt (after printing why) on a usage error; sets *help for --help.
std::optional<Args> ParseArgs(int argc, char** argv, bool* help) {
  Args args;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool has_inline_value = false;
    if (arg.rfind("--", 0) == 0) {
      if (auto eq = arg.find('='); eq != std::string::npos) {
        value = arg.substr(eq + 1);
        arg.resize(eq);
        has_inline_value = true;
      }
    }
    auto take_value = [&]() -> bool {
      if (has_inline_value) return true;
      if (i + 1 >= argc) return false;
      value = argv[++i];
      return true;
    };
    if (arg == "--help" || arg == "-h") {
      *help = true;
      return std::nullopt;
    } else if (arg == "-v" || arg == "--verbose") {
      args.verbose = true;
    } else if (arg == "--socket") {
      if (!take_value() || value.empty()) {
        std::fprintf(stderr, "rp-connect: --socket needs an endpoint\n");
        return std::nullopt;
      }
      args.socket = value;
    } else if (arg == "--timeout-ms" || arg == "--linger-ms") {
      bool is_timeout = arg == "--timeout-ms";
      std::optional<milliseconds> ms;
      if (take_value()) ms = ParseMs(value, /*allow_zero=*/!is_timeout);
      if (!ms) {
        std::fprintf(stderr, "rp-connect: %s needs a %s number of milliseconds\n", arg.c_str(),
                     is_timeout ? "positive" : "non-negative");
        return std::nullopt;
      }
      if (is_timeout) {
        args.timeout = *ms;
      } else {
        args.linger = *ms;
      }
    } else if (arg.size() > 1 && arg[0] == '-') {
      std::fprintf(stderr, "rp-connect: unknown option %s\n", arg.c_str());
      return std::nullopt;
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() != 2) {
    std::fprintf(stderr, "rp-connect: expected SERVICE and VERSION\n");
    return std::nullopt;
  }
  args.service = positional[0];
  args.version = positional[1];
  return args;
}

// Raw byte streams on every OS (the Windows CRT would translate newlines).
void UseBinaryStdio() {
#if defined(_WIN32)
  _setmode(_fileno(stdin), _O_BINARY);
  _setmode(_fileno(stdout), _O_BINARY);
#endif
}

// One blocking read of at most `size` bytes from stdin: returns as soon as
// some bytes are there. (fread would wait for a whole buffer, stalling
// request/response use.) 0 on EOF, negative on error.
long ReadStdin(char* data, std::size_t size) {
#if defined(_WIN32)
  return _read(0, data, static_cast<unsigned>(size));
#else
  for (;;) {
    ssize_t n = ::read(0, data, size);
    if (n >= 0 || errno != EINTR) return static_cast<long>(n);
  }
#endif
}

// Between the stdin thread and the event loop. Once `closed`, the thread
// posts nothing more (the io_context may be gone).
struct StdinPump {
  std::mutex mutex;
  std::condition_variable space;
  std::size_t queued_bytes = 0;
  bool closed = false;
};

// The connected session, on the event loop.
class Session {
 public:
  Session(client::Connection connection, milliseconds linger, std::shared_ptr<StdinPump> pump)
      : stream_(std::move(connection.stream)),
        linger_(linger),
        pump_(std::move(pump)),
        wake_(stream_.get_executor()),
        linger_timer_(stream_.get_executor()) {}

  // Called (posted) by the stdin thread.
  void OnStdin(std::string chunk) {
    if (chunk.empty()) {
      stdin_eof_ = true;
    } else {
      outgoing_.push_back(std::move(chunk));
    }
    wake_.cancel();
  }

  // Copies both ways; returns the exit code.
  asio::awaitable<int> Run() {
    using namespace asio::experimental::awaitable_operators;
    co_return co_await (Reader() && Writer());
  }

 private:
  asio::awaitable<int> Reader() {
    std::vector<char> buffer(kChunkBytes);
    int exit_code = kExitOk;
    for (;;) {
      auto n = co_await stream_.ReadSome(asio::buffer(buffer));
      if (!n) {
        const auto& ec = n.error();
        if (!rp::platform::IsDisconnect(ec) && !lingered_out_) {
          std::fprintf(stderr, "rp-connect: reading from the backend: %s\n",
                       ec.message().c_str());
          exit_code = kExitUnreachable;
        }
        break;
      }
      std::fwrite(buffer.data(), 1, *n, stdout);
      std::fflush(stdout);
      last_activity_ = Clock::now();
    }
    backend_done_ = true;
    wake_.cancel();
    linger_timer_.cancel();
    stream_.Cancel();  // a write the backend no longer reads
    co_return exit_code;
  }

  asio::awaitable<void> Writer() {
    constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
    while (!backend_done_) {
      if (outgoing_.empty()) {
        if (stdin_eof_) break;
        wake_.expires_at(Clock::time_point::max());
        co_await wake_.async_wait(kTuple);
        continue;
      }
      std::string chunk = std::move(outgoing_.front());
      outgoing_.pop_front();
      auto ec = co_await rp::platform::WriteAll(stream_, asio::buffer(chunk));
      {
        std::lock_guard lock(pump_->mutex);
        pump_->queued_bytes -= chunk.size();
      }
      pump_->space.notify_one();
      if (ec) co_return;  // the reader sees the end too
    }
    // stdin is done and delivered: linger for the backend's last words.
    last_activity_ = Clock::now();
    while (!backend_done_) {
      linger_timer_.expires_at(last_activity_ + linger_);
      co_await linger_timer_.async_wait(kTuple);
      if (backend_done_) break;
      if (Clock::now() >= last_activity_ + linger_) {
        lingered_out_ = true;
        stream_.Cancel();
        break;
      }
    }
  }

  rp::platform::LocalStream stream_;
  milliseconds linger_;
  std::shared_ptr<StdinPump> pump_;
  asio::steady_timer wake_;
  asio::steady_timer linger_timer_;
  std::deque<std::string> outgoing_;
  Clock::time_point last_activity_ = Clock::now();
  bool stdin_eof_ = false;
  bool backend_done_ = false;
  bool lingered_out_ = false;
};

// Reads stdin until EOF (or the session ends) and posts chunks, then an
// empty chunk for EOF, to `session` on the event loop. Holds the session
// weakly: it is destroyed on the event loop, never by this thread.
void PumpStdin(std::shared_ptr<StdinPump> pump, std::weak_ptr<Session> session,
               asio::any_io_executor executor) {
  std::vector<char> buffer(kChunkBytes);
  for (;;) {
    long n = ReadStdin(buffer.data(), buffer.size());
    std::string chunk = n > 0 ? std::string(buffer.data(), static_cast<std::size_t>(n)) : "";
    std::unique_lock lock(pump->mutex);
    pump->space.wait(lock, [&] { return pump->closed || pump->queued_bytes < kMaxQueuedBytes; });
    if (pump->closed) return;
    pump->queued_bytes += chunk.size();
    bool eof = chunk.empty();
    asio::post(executor, [session, chunk = std::move(chunk)]() mutable {
      if (auto live = session.lock()) live->OnStdin(std::move(chunk));
    });
    if (eof) return;
  }
}

int ExitCodeFor(const client::ConnectError& error) {
  switch (error.kind) {
    case client::ConnectError::Kind::kRefused:
      return kExitRefused;
    case client::ConnectError::Kind::kDisabled:
    case client::ConnectError::Kind::kBadConfig:
      return kExitDisabled;
    default:
      return kExitUnreachable;
  }
}

asio::awaitable<int> ConnectAndPump(Args args, std::shared_ptr<StdinPump> pump) {
  client::ConnectOptions options;
  options.broker_endpoint = args.socket;
  options.timeout = args.timeout;
  auto result = co_await client::Connect(args.service, args.version, options);
  if (auto* error = std::get_if<client::ConnectError>(&result)) {
    std::fprintf(stderr, "rp-connect: %s\n", error->message().c_str());
    co_return ExitCodeFor(*error);
  }
  client::Connection& connection = std::get<client::Connection>(result);
  if (args.verbose) {
    std::fprintf(stderr,
                 "rp-connect: route %s backend_pipe %s connection_id %llu daemon_version %s "
                 "hello %lld us connect %lld us\n",
                 client::RouteName(connection.route), connection.backend_pipe.c_str(),
                 static_cast<unsigned long long>(connection.connection_id),
                 connection.daemon_version.c_str(),
                 static_cast<long long>(connection.hello_time.count()),
                 static_cast<long long>(connection.connect_time.count()));
  }
  auto executor = connection.stream.get_executor();
  auto session = std::make_shared<Session>(std::move(connection), args.linger, pump);
  // Detached: a read blocked on a terminal must not keep us from exiting.
  std::thread(PumpStdin, pump, std::weak_ptr<Session>(session), executor).detach();
  co_return co_await session->Run();
}

}  // namespace

int main(int argc, char** argv) {
  bool help = false;
  std::optional<Args> args = ParseArgs(argc, argv, &help);
  if (help) {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  if (!args) {
    std::fputs(kUsage, stderr);
    return kExitUsage;
  }
  UseBinaryStdio();

  auto pump = std::make_shared<StdinPump>();
  int exit_code = kExitUnreachable;
  {
    asio::io_context io;
    asio::co_spawn(io, ConnectAndPump(std::move(*args), pump),
                   [&](std::exception_ptr error, int code) {
                     exit_code = error ? kExitUnreachable : code;
                   });
    io.run();
    // From here on the stdin thread posts nothing to `io`.
    std::lock_guard lock(pump->mutex);
    pump->closed = true;
  }
  pump->space.notify_all();
  std::fflush(stdout);
  return exit_code;
}
