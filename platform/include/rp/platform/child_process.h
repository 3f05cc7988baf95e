// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/result.hpp>

#include "rp/platform/platform_handle.h"

namespace rp::platform {

struct LaunchOptions {
  std::string executable;  // absolute path
  std::vector<std::string> args;
  // Set (or replace) these variables in the child's copy of our environment.
  std::vector<std::pair<std::string, std::string>> env;
  // The only handles the child inherits; each keeps its value, so the child
  // finds it from PlatformHandle::ToDecimalString() passed in env or args.
  std::vector<NativeHandle> inherit;
  // When set, the child's stdout and stderr are appended to this file;
  // otherwise they are this process's.
  std::string output_path;
};

// ChildProcess launches one process with Boost.Process v2 and owns it until
// it is waited for. Exactly the handles named in LaunchOptions::inherit cross
// into the child (POSIX: everything else >= 3 is closed in the child, working
// around Boost 1.81's fd leak; Windows: PROC_THREAD_ATTRIBUTE_HANDLE_LIST).
// The process handle is kept from launch, so DuplicateHandle into the child
// never has to look a pid up. Destroying a running ChildProcess terminates
// it. Calls happen on the executor given to Launch.
class ChildProcess {
 public:
  class Impl;

  ChildProcess() noexcept;
  explicit ChildProcess(std::unique_ptr<Impl> impl) noexcept;
  ChildProcess(ChildProcess&&) noexcept;
  ChildProcess& operator=(ChildProcess&&) noexcept;
  ~ChildProcess();

  static boost::system::result<ChildProcess> Launch(boost::asio::any_io_executor executor,
                                                    const LaunchOptions& options);

  std::uint32_t pid() const noexcept;
  bool is_running();
  // Windows: a duplicate of the process handle with PROCESS_DUP_HANDLE
  // access (for HandleChannel::Open). POSIX: an invalid handle.
  boost::system::result<PlatformHandle> DuplicateProcessHandle() const;
  // Waits for exit and returns the exit code.
  boost::asio::awaitable<boost::system::result<int>> Wait();
  // Kills the process (SIGKILL / TerminateProcess).
  boost::system::error_code Terminate();

 private:
  std::unique_ptr<Impl> impl_;
};

// Absolute path of the running executable.
boost::system::result<std::string> CurrentExecutablePath();
// The executable another process runs (Linux /proc/<pid>/exe, macOS
// proc_pidpath, Windows QueryFullProcessImageNameW).
boost::system::result<std::string> ExecutablePathOf(std::uint32_t pid);
std::uint32_t CurrentProcessId() noexcept;
// Reads an environment variable; nullopt when unset.
std::optional<std::string> GetEnv(const std::string& name);

}  // namespace rp::platform
