// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// ChildProcess on Windows: Boost.Process v2's default launcher with an
// explicit PROC_THREAD_ATTRIBUTE_HANDLE_LIST, so that exactly the handles a
// launch names cross into the child.
#include "rp/platform/child_process.h"

#include <windows.h>

#include <algorithm>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/errc.hpp>

#include "common/bp2.h"
#include "win/win_support.h"

namespace rp::platform {

namespace asio = boost::asio;
namespace bp2 = boost::process::v2;
using boost::system::error_code;
using boost::system::result;

namespace {

using Process = bp2::basic_process<asio::any_io_executor>;

bool IsUsable(HANDLE handle) {
  DWORD flags = 0;
  return handle && handle != INVALID_HANDLE_VALUE && ::GetHandleInformation(handle, &flags);
}

// Makes the handles of one launch inheritable for the duration of the
// CreateProcess call and restores each handle's previous flag afterwards
// (on success and on failure alike). Does not own the handles. A handle in
// PROC_THREAD_ATTRIBUTE_HANDLE_LIST must be inheritable: Windows fails
// CreateProcess with ERROR_INVALID_PARAMETER otherwise, and Wine 8 silently
// leaves it out of the child (measured; Wine does honour the list itself).
// Note: this is a scope around the launch rather than bp2 on_success /
// on_error hooks because Boost 1.81's windows launcher never calls
// on_error (its detection probes on_error with the wrong arguments).
// Note: while the window is open, a concurrent CreateProcess elsewhere in
// this process with bInheritHandles and no handle list would inherit them
// too; this project's launches always pass a handle list.
class InheritanceWindow {
 public:
  InheritanceWindow() = default;
  InheritanceWindow(const InheritanceWindow&) = delete;
  InheritanceWindow& operator=(const InheritanceWindow&) = delete;
  ~InheritanceWindow() {
    for (auto [handle, flags] : saved_) {
      ::SetHandleInformation(handle, HANDLE_FLAG_INHERIT, flags & HANDLE_FLAG_INHERIT);
    }
  }

  error_code Open(const std::vector<HANDLE>& handles) {
    for (HANDLE handle : handles) {
      DWORD flags = 0;
      if (!::GetHandleInformation(handle, &flags)) return win::LastError();
      if (!::SetHandleInformation(handle, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT)) {
        return win::LastError();
      }
      saved_.emplace_back(handle, flags);
    }
    return {};
  }

 private:
  std::vector<std::pair<HANDLE, DWORD>> saved_;
};

// A PROC_THREAD_ATTRIBUTE_LIST holding one PROC_THREAD_ATTRIBUTE_HANDLE_LIST.
// Owns the list; `handles` must outlive it (the kernel reads them at
// CreateProcess time).
class HandleListAttribute {
 public:
  HandleListAttribute() = default;
  HandleListAttribute(const HandleListAttribute&) = delete;
  HandleListAttribute& operator=(const HandleListAttribute&) = delete;
  ~HandleListAttribute() {
    if (initialized_) ::DeleteProcThreadAttributeList(list());
  }

  error_code Init(std::vector<HANDLE>& handles) {
    SIZE_T size = 0;
    ::InitializeProcThreadAttributeList(nullptr, 1, 0, &size);
    storage_.resize(size);
    if (!::InitializeProcThreadAttributeList(list(), 1, 0, &size)) return win::LastError();
    initialized_ = true;
    if (!::UpdateProcThreadAttribute(list(), 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, handles.data(),
                                     handles.size() * sizeof(HANDLE), nullptr, nullptr)) {
      return win::LastError();
    }
    return {};
  }

  LPPROC_THREAD_ATTRIBUTE_LIST list() {
    return reinterpret_cast<LPPROC_THREAD_ATTRIBUTE_LIST>(storage_.data());
  }

 private:
  std::vector<unsigned char> storage_;
  bool initialized_ = false;
};

std::wstring_view EntryName(std::wstring_view entry) {
  // "=C:=C:\dir" entries start with '='; the name ends at the next one.
  std::size_t eq = entry.find(L'=', 1);
  return entry.substr(0, eq == std::wstring_view::npos ? entry.size() : eq);
}

bool SameName(std::wstring_view a, std::wstring_view b) {
  return ::CompareStringOrdinal(a.data(), static_cast<int>(a.size()), b.data(),
                                static_cast<int>(b.size()), TRUE) == CSTR_EQUAL;
}

// Our environment with `overrides` applied, as a sorted
// CREATE_UNICODE_ENVIRONMENT block.
std::wstring BuildEnvironmentBlock(
    const std::vector<std::pair<std::string, std::string>>& overrides) {
  std::vector<std::wstring> entries;
  if (wchar_t* strings = ::GetEnvironmentStringsW()) {
    for (const wchar_t* p = strings; *p; p += entries.back().size() + 1) entries.emplace_back(p);
    ::FreeEnvironmentStringsW(strings);
  }
  for (const auto& [name, value] : overrides) {
    std::wstring wide_name = win::Utf8ToWide(name);
    std::wstring entry = wide_name + L"=" + win::Utf8ToWide(value);
    auto it = std::find_if(entries.begin(), entries.end(), [&](const std::wstring& e) {
      return SameName(EntryName(e), wide_name);
    });
    if (it != entries.end()) {
      *it = std::move(entry);
    } else {
      entries.push_back(std::move(entry));
    }
  }
  std::stable_sort(
      entries.begin(), entries.end(), [](const std::wstring& a, const std::wstring& b) {
        std::wstring_view x = EntryName(a), y = EntryName(b);
        return ::CompareStringOrdinal(x.data(), static_cast<int>(x.size()), y.data(),
                                      static_cast<int>(y.size()), TRUE) == CSTR_LESS_THAN;
      });
  std::wstring block;
  for (const auto& entry : entries) {
    block += entry;
    block.push_back(L'\0');
  }
  block.push_back(L'\0');
  return block;
}

// The Boost.Process v2 initializer of one launch: the handle list, the
// standard handles and the environment block. Owns nothing.
struct LaunchSetup {
  LPPROC_THREAD_ATTRIBUTE_LIST handle_list = nullptr;
  bool use_std_handles = false;
  HANDLE std_in = nullptr;
  HANDLE std_out = nullptr;
  HANDLE std_err = nullptr;
  std::wstring* environment = nullptr;

  error_code on_setup(bp2::windows::default_launcher& launcher, const bp2::filesystem::path&,
                      std::wstring&) {
    if (handle_list) {
      launcher.inherit_handles = true;
      launcher.startup_info.lpAttributeList = handle_list;
    }
    if (use_std_handles) {
      launcher.startup_info.StartupInfo.dwFlags |= STARTF_USESTDHANDLES;
      launcher.startup_info.StartupInfo.hStdInput = std_in;
      launcher.startup_info.StartupInfo.hStdOutput = std_out;
      launcher.startup_info.StartupInfo.hStdError = std_err;
    }
    launcher.environment = environment->data();
    launcher.creation_flags |= CREATE_UNICODE_ENVIRONMENT;
    return {};
  }
};

}  // namespace

// The launched process: Boost.Process v2's process object, which owns the
// process handle (full access, from CreateProcess) and terminates a still
// running child on destruction. Calls on the executor given to Launch.
class ChildProcess::Impl {
 public:
  explicit Impl(Process process)
      : process_(std::move(process)),
        handle_(process_.native_handle()),
        pid_(static_cast<std::uint32_t>(process_.id())) {}

  std::uint32_t pid() const noexcept { return pid_; }

  bool is_running() {
    if (exit_code_) return false;
    return ::WaitForSingleObject(handle_, 0) == WAIT_TIMEOUT;
  }

  result<PlatformHandle> DuplicateProcessHandle() const {
    HANDLE copy = nullptr;
    if (!::DuplicateHandle(::GetCurrentProcess(), handle_, ::GetCurrentProcess(), &copy,
                           PROCESS_DUP_HANDLE | SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION,
                           FALSE, 0)) {
      return win::LastError();
    }
    return PlatformHandle(copy);
  }

  asio::awaitable<result<int>> Wait() {
    if (exit_code_) co_return *exit_code_;
    error_code ec;
    int code = co_await process_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return ec;
    exit_code_ = code;
    co_return code;
  }

  error_code Terminate() {
    if (!is_running()) return {};
    if (!::TerminateProcess(handle_, 1)) {
      error_code ec = win::LastError();
      // It exited meanwhile: nothing left to kill.
      return is_running() ? ec : error_code();
    }
    return {};
  }

 private:
  Process process_;
  HANDLE handle_;
  std::uint32_t pid_;
  std::optional<int> exit_code_;
};

ChildProcess::ChildProcess() noexcept = default;
ChildProcess::ChildProcess(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
ChildProcess::ChildProcess(ChildProcess&&) noexcept = default;
ChildProcess& ChildProcess::operator=(ChildProcess&&) noexcept = default;
ChildProcess::~ChildProcess() = default;

result<ChildProcess> ChildProcess::Launch(asio::any_io_executor executor,
                                          const LaunchOptions& options) {
  if (options.executable.empty()) {
    return boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
  }
  std::vector<HANDLE> handles;
  for (NativeHandle handle : options.inherit) {
    if (!IsUsable(handle)) return win::SystemError(ERROR_INVALID_HANDLE);
    handles.push_back(handle);
  }

  LaunchSetup setup;
  PlatformHandle output_file;
  PlatformHandle null_input;
  if (!options.output_path.empty()) {
    output_file.reset(::CreateFileW(win::Utf8ToWide(options.output_path).c_str(),
                                    FILE_APPEND_DATA | SYNCHRONIZE,
                                    FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr,
                                    OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, nullptr));
    if (!output_file.is_valid()) return win::LastError();
    null_input.reset(::CreateFileW(L"NUL", GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE,
                                   nullptr, OPEN_EXISTING, 0, nullptr));
    setup.use_std_handles = true;
    setup.std_in = null_input.is_valid() ? null_input.get() : nullptr;
    setup.std_out = setup.std_err = output_file.get();
  } else {
    // Keep our standard handles; they must be in the list to reach the child.
    setup.std_in = ::GetStdHandle(STD_INPUT_HANDLE);
    setup.std_out = ::GetStdHandle(STD_OUTPUT_HANDLE);
    setup.std_err = ::GetStdHandle(STD_ERROR_HANDLE);
    for (HANDLE* slot : {&setup.std_in, &setup.std_out, &setup.std_err}) {
      if (!IsUsable(*slot)) *slot = nullptr;
      setup.use_std_handles = setup.use_std_handles || *slot;
    }
  }
  for (HANDLE handle : {setup.std_in, setup.std_out, setup.std_err}) {
    if (handle) handles.push_back(handle);
  }
  std::sort(handles.begin(), handles.end());
  handles.erase(std::unique(handles.begin(), handles.end()), handles.end());

  InheritanceWindow window;
  if (auto ec = window.Open(handles)) return ec;
  HandleListAttribute attribute;
  if (!handles.empty()) {
    if (auto ec = attribute.Init(handles)) return ec;
    setup.handle_list = attribute.list();
  }
  std::wstring environment = BuildEnvironmentBlock(options.env);
  setup.environment = &environment;

  error_code ec;
  bp2::windows::default_launcher launcher;
  Process process =
      launcher(executor, ec, bp2::filesystem::path(win::Utf8ToWide(options.executable)),
               options.args, setup);
  if (ec) return ec;
  return ChildProcess(std::make_unique<Impl>(std::move(process)));
}

std::uint32_t ChildProcess::pid() const noexcept { return impl_ ? impl_->pid() : 0; }

bool ChildProcess::is_running() { return impl_ && impl_->is_running(); }

result<PlatformHandle> ChildProcess::DuplicateProcessHandle() const {
  if (!impl_) return error_code(asio::error::bad_descriptor);
  return impl_->DuplicateProcessHandle();
}

asio::awaitable<result<int>> ChildProcess::Wait() {
  if (!impl_) co_return error_code(asio::error::bad_descriptor);
  co_return co_await impl_->Wait();
}

error_code ChildProcess::Terminate() {
  if (!impl_) return error_code(asio::error::bad_descriptor);
  return impl_->Terminate();
}

result<std::string> ExecutablePathOf(std::uint32_t pid) {
  HANDLE process = ::OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
  if (!process) return win::LastError();
  std::wstring buffer(32768, L'\0');
  DWORD size = static_cast<DWORD>(buffer.size());
  BOOL ok = ::QueryFullProcessImageNameW(process, 0, buffer.data(), &size);
  error_code ec = ok ? error_code() : win::LastError();
  ::CloseHandle(process);
  if (ec) return ec;
  buffer.resize(size);
  return win::WideToUtf8(buffer);
}

result<std::string> CurrentExecutablePath() {
  std::wstring buffer(MAX_PATH, L'\0');
  for (;;) {
    DWORD n = ::GetModuleFileNameW(nullptr, buffer.data(), static_cast<DWORD>(buffer.size()));
    if (n == 0) return win::LastError();
    if (n < buffer.size()) {
      buffer.resize(n);
      return win::WideToUtf8(buffer);
    }
    buffer.resize(buffer.size() * 2);
  }
}

std::uint32_t CurrentProcessId() noexcept { return ::GetCurrentProcessId(); }

std::optional<std::string> GetEnv(const std::string& name) {
  std::wstring wide_name = win::Utf8ToWide(name);
  std::wstring value(64, L'\0');
  for (;;) {
    ::SetLastError(ERROR_SUCCESS);
    DWORD n = ::GetEnvironmentVariableW(wide_name.c_str(), value.data(),
                                        static_cast<DWORD>(value.size()));
    if (n == 0) {
      if (::GetLastError() == ERROR_ENVVAR_NOT_FOUND) return std::nullopt;
      return std::string();
    }
    if (n < value.size()) {
      value.resize(n);
      return win::WideToUtf8(value);
    }
    value.resize(n);  // n counts the terminator when the buffer was too small.
  }
}

}  // namespace rp::platform
