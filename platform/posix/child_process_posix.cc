// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include <fcntl.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/bp2.h"
#include "posix/posix_compat.h"
#include "rp/platform/child_process.h"

extern char** environ;

namespace rp::platform {

namespace asio = boost::asio;
namespace bp2 = boost::process::v2;
using boost::system::error_code;
using boost::system::system_category;

namespace {

// Boost.Process v2 initializer that lets exactly `inherit` cross exec (and
// optionally points stdout/stderr at `output_fd`). It closes every other
// fd >= 3 in the forked child before exec, because Boost 1.81's own sweep
// (posix/detail/close_handles.ipp) compares whitelist[idx] with itself and
// leaves every fd below the last whitelisted one open; asio's sockets are
// not close-on-exec, so without this the child would hold the parent's
// connections. Note: see shared/windows-leg-notes.md, gotcha L1.
struct InheritExactly {
  std::vector<int> inherit;
  int output_fd = -1;

  error_code on_setup(bp2::posix::default_launcher& launcher, const bp2::filesystem::path&,
                      const char* const*) {
    for (int fd : inherit) launcher.fd_whitelist.push_back(fd);
    return {};
  }

  // Runs in the forked child: only async-signal-safe calls.
  error_code on_exec_setup(bp2::posix::default_launcher& launcher, const bp2::filesystem::path&,
                           const char* const*) {
    if (output_fd >= 0) {
      ::dup2(output_fd, STDOUT_FILENO);
      ::dup2(output_fd, STDERR_FILENO);
    }
    std::vector<int>& keep = launcher.fd_whitelist;
    std::sort(keep.begin(), keep.end());
    posix::CloseFdsExcept(3, keep.data(), static_cast<int>(keep.size()));
    for (int fd : inherit) {
      if (::fcntl(fd, F_SETFD, 0) != 0) return error_code(errno, system_category());
    }
    return {};
  }
};

// "KEY=VALUE" strings: our environment with `overrides` applied.
std::vector<std::string> BuildEnvironment(
    const std::vector<std::pair<std::string, std::string>>& overrides) {
  std::map<std::string, std::string> vars;
  for (char** e = environ; e && *e; ++e) {
    std::string entry(*e);
    auto eq = entry.find('=');
    if (eq == std::string::npos) continue;
    vars[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const auto& [key, value] : overrides) vars[key] = value;
  std::vector<std::string> out;
  out.reserve(vars.size());
  for (const auto& [key, value] : vars) out.push_back(key + "=" + value);
  return out;
}

}  // namespace

// Owns the launched bp2::process (and its pidfd on Linux).
class ChildProcess::Impl {
 public:
  explicit Impl(bp2::process process) : process_(std::move(process)) {}

  bp2::process process_;
  bool reaped_ = false;
};

ChildProcess::ChildProcess() noexcept = default;
ChildProcess::ChildProcess(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
ChildProcess::ChildProcess(ChildProcess&&) noexcept = default;
ChildProcess& ChildProcess::operator=(ChildProcess&&) noexcept = default;
ChildProcess::~ChildProcess() {
  if (impl_ && !impl_->reaped_) {
    error_code ignored;
    if (impl_->process_.running(ignored)) impl_->process_.terminate(ignored);
    impl_->process_.wait(ignored);
  }
}

boost::system::result<ChildProcess> ChildProcess::Launch(asio::any_io_executor executor,
                                                         const LaunchOptions& options) {
  PlatformHandle output;
  if (!options.output_path.empty()) {
    int fd = ::open(options.output_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) return error_code(errno, system_category());
    output.reset(fd);
  }
  std::vector<std::string> env = BuildEnvironment(options.env);
  InheritExactly inherit{std::vector<int>(options.inherit.begin(), options.inherit.end()),
                         output.get()};
  error_code ec;
  bp2::process process = bp2::default_process_launcher()(
      executor, ec, bp2::filesystem::path(options.executable), options.args,
      bp2::process_environment(env), inherit);
  if (ec) return ec;
  return ChildProcess(std::make_unique<Impl>(std::move(process)));
}

std::uint32_t ChildProcess::pid() const noexcept {
  return impl_ ? static_cast<std::uint32_t>(impl_->process_.id()) : 0;
}

bool ChildProcess::is_running() {
  if (!impl_ || impl_->reaped_) return false;
  error_code ec;
  return impl_->process_.running(ec);
}

boost::system::result<PlatformHandle> ChildProcess::DuplicateProcessHandle() const {
  return PlatformHandle();
}

// Not Boost.Process's async_wait: after its exit descriptor turns readable
// it reaps with a blocking waitpid(), so one spurious readiness (asio can
// deliver a stale event to a reused registration) froze the whole broker
// on a live child. Here readiness only prompts a WNOHANG check.
asio::awaitable<boost::system::result<int>> ChildProcess::Wait() {
  if (!impl_) co_return error_code(asio::error::bad_descriptor);
  const pid_t pid = static_cast<pid_t>(impl_->process_.id());
  const int exit_fd = posix::OpenProcessExitFd(static_cast<std::uint32_t>(pid));
  asio::posix::stream_descriptor exited(co_await asio::this_coro::executor);
  asio::steady_timer poll(exited.get_executor());
  error_code ec;
  if (exit_fd >= 0) exited.assign(exit_fd, ec);
  for (;;) {
    int status = 0;
    const pid_t reaped = ::waitpid(pid, &status, WNOHANG);
    if (reaped == pid) {
      impl_->reaped_ = true;
      if (WIFEXITED(status)) co_return WEXITSTATUS(status);
      co_return WIFSIGNALED(status) ? WTERMSIG(status) : status;  // as Boost.Process reports it
    }
    if (reaped < 0 && errno != EINTR) co_return error_code(errno, system_category());
    if (exited.is_open()) {
      auto [wait_ec] = co_await exited.async_wait(asio::posix::descriptor_base::wait_read,
                                                  asio::as_tuple(asio::use_awaitable));
      if (wait_ec == asio::error::operation_aborted) co_return wait_ec;
    } else {  // no exit descriptor (macOS): look again shortly
      poll.expires_after(std::chrono::milliseconds(20));
      auto [wait_ec] = co_await poll.async_wait(asio::as_tuple(asio::use_awaitable));
      if (wait_ec) co_return wait_ec;
    }
  }
}

error_code ChildProcess::Terminate() {
  if (!impl_) return error_code(asio::error::bad_descriptor);
  if (::kill(impl_->process_.id(), SIGKILL) != 0) return error_code(errno, system_category());
  return {};
}

std::uint32_t CurrentProcessId() noexcept { return static_cast<std::uint32_t>(::getpid()); }

std::optional<std::string> GetEnv(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (!value) return std::nullopt;
  return std::string(value);
}

}  // namespace rp::platform
