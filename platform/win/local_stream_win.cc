// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// LocalStream on Windows: named-pipe ends, either bound to the io_context's
// completion port (client side, adopted handles) or driven by events so
// that they can still be handed to another process (server side of a
// transferable listener).
#include <windows.h>

#include <algorithm>
#include <chrono>
#include <limits>

#include <boost/asio/error.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/windows/stream_handle.hpp>
#include <boost/system/errc.hpp>

#include "common/local_stream_impl.h"
#include "rp/platform/errors.h"
#include "win/win_support.h"

namespace rp::platform {

namespace asio = boost::asio;
using boost::system::error_code;
using boost::system::result;

namespace {

DWORD ClampToDword(std::size_t size) {
  return static_cast<DWORD>(std::min<std::size_t>(size, std::numeric_limits<DWORD>::max()));
}

// IocpPipeStream is a pipe end bound to this process's I/O completion port
// through asio::windows::stream_handle, which owns the handle. Such a pipe
// can never be bound to another process's port (the binding belongs to the
// file object, and Wine cannot undo it), so it is not transferable.
// Note: shared/windows-leg-notes.md, P1. All calls on the stream's executor.
class IocpPipeStream final : public LocalStream::Impl {
 public:
  explicit IocpPipeStream(asio::windows::stream_handle pipe)
      : executor_(pipe.get_executor()), pipe_(std::move(pipe)) {}

  bool is_open() const noexcept override { return pipe_.is_open(); }
  asio::any_io_executor get_executor() const override { return executor_; }

  asio::awaitable<result<std::size_t>> ReadSome(asio::mutable_buffer buffer) override {
    if (!pipe_.is_open()) co_return error_code(asio::error::bad_descriptor);
    if (buffer.size() == 0) co_return std::size_t{0};
    error_code ec;
    std::size_t n =
        co_await pipe_.async_read_some(buffer, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return win::MapReadError(ec);
    co_return n;
  }

  asio::awaitable<result<std::size_t>> WriteSome(asio::const_buffer buffer) override {
    if (!pipe_.is_open()) co_return error_code(asio::error::bad_descriptor);
    if (buffer.size() == 0) co_return std::size_t{0};
    error_code ec;
    std::size_t n =
        co_await pipe_.async_write_some(buffer, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return win::MapWriteError(ec);
    co_return n;
  }

  void Cancel() noexcept override {
    error_code ignored;
    pipe_.cancel(ignored);
  }

  void Close() noexcept override {
    error_code ignored;
    pipe_.close(ignored);
  }

  bool is_transferable() const noexcept override { return false; }

  result<PlatformHandle> ReleaseHandle() override {
    return make_error_code(Error::kNotTransferable);
  }

 private:
  asio::any_io_executor executor_;
  asio::windows::stream_handle pipe_;
};

// EventPipeStream is a pipe end that is never bound to a completion port:
// each read or write is an overlapped ReadFile/WriteFile with its own
// manual-reset event, awaited through asio::windows::object_handle. It owns
// the pipe handle until ReleaseHandle() hands it over, so the pipe can move
// to another process (DuplicateHandle) even after this process did I/O on
// it. One read and one write may be pending at a time; all calls on the
// stream's executor. Cancel() is CancelIoEx: the pending operations finish
// with operation_aborted.
class EventPipeStream final : public LocalStream::Impl {
 public:
  EventPipeStream(asio::any_io_executor executor, HANDLE pipe,
                  std::shared_ptr<win::EventOp> read_op, std::shared_ptr<win::EventOp> write_op)
      : executor_(std::move(executor)),
        pipe_(pipe),
        read_op_(std::move(read_op)),
        write_op_(std::move(write_op)) {}
  ~EventPipeStream() override { Close(); }

  bool is_open() const noexcept override { return pipe_ != nullptr; }
  asio::any_io_executor get_executor() const override { return executor_; }

  asio::awaitable<result<std::size_t>> ReadSome(asio::mutable_buffer buffer) override {
    if (!pipe_) co_return error_code(asio::error::bad_descriptor);
    if (buffer.size() == 0) co_return std::size_t{0};
    if (read_op_->pending()) co_return error_code(asio::error::in_progress);
    HANDLE pipe = pipe_;
    DWORD size = ClampToDword(buffer.size());
    auto start = [&](OVERLAPPED* overlapped) {
      return ::ReadFile(pipe, buffer.data(), size, nullptr, overlapped);
    };
    auto n = co_await win::RunEventOp(read_op_, pipe, start);
    if (!n) co_return win::MapReadError(n.error());
    // A zero-byte read on a byte-mode pipe means the writer is gone.
    if (*n == 0) co_return error_code(asio::error::eof);
    co_return std::size_t{*n};
  }

  asio::awaitable<result<std::size_t>> WriteSome(asio::const_buffer buffer) override {
    if (!pipe_) co_return error_code(asio::error::bad_descriptor);
    if (buffer.size() == 0) co_return std::size_t{0};
    if (write_op_->pending()) co_return error_code(asio::error::in_progress);
    HANDLE pipe = pipe_;
    DWORD size = ClampToDword(buffer.size());
    auto start = [&](OVERLAPPED* overlapped) {
      return ::WriteFile(pipe, buffer.data(), size, nullptr, overlapped);
    };
    auto n = co_await win::RunEventOp(write_op_, pipe, start);
    if (!n) co_return win::MapWriteError(n.error());
    co_return std::size_t{*n};
  }

  void Cancel() noexcept override {
    if (pipe_ && (read_op_->pending() || write_op_->pending())) ::CancelIoEx(pipe_, nullptr);
  }

  void Close() noexcept override {
    if (!pipe_) return;
    Detach();
    ::CloseHandle(pipe_);
    pipe_ = nullptr;
  }

  bool is_transferable() const noexcept override { return true; }

  result<PlatformHandle> ReleaseHandle() override {
    if (!pipe_) return error_code(asio::error::bad_descriptor);
    if (read_op_->pending() || write_op_->pending()) return error_code(asio::error::in_progress);
    Detach();
    return PlatformHandle(std::exchange(pipe_, nullptr));
  }

 private:
  // Finishes any pending operation (the kernel must be done with the
  // OVERLAPPEDs before the pipe goes away) and wakes its awaiting coroutine,
  // which then reports operation_aborted.
  void Detach() noexcept {
    for (auto* op : {&read_op_, &write_op_}) {
      (*op)->CancelAndDrain();
      (*op)->Abandon();
    }
  }

  asio::any_io_executor executor_;
  HANDLE pipe_;
  std::shared_ptr<win::EventOp> read_op_;
  std::shared_ptr<win::EventOp> write_op_;
};

}  // namespace

namespace win {

result<std::unique_ptr<LocalStream::Impl>> MakeEventPipeStream(asio::any_io_executor executor,
                                                               HANDLE pipe) {
  auto read_op = EventOp::Create(executor);
  auto write_op = read_op ? EventOp::Create(executor) : read_op;
  if (!read_op || !write_op) {
    ::CloseHandle(pipe);
    return read_op ? write_op.error() : read_op.error();
  }
  return std::unique_ptr<LocalStream::Impl>(
      new EventPipeStream(std::move(executor), pipe, std::move(*read_op), std::move(*write_op)));
}

result<std::unique_ptr<LocalStream::Impl>> MakeIocpPipeStream(asio::any_io_executor executor,
                                                              HANDLE pipe) {
  asio::windows::stream_handle stream(executor);
  error_code ec;
  stream.assign(pipe, ec);
  if (ec) {
    // Note: fails with ERROR_INVALID_PARAMETER when another process already
    // bound this pipe to its completion port (windows-leg-notes.md, P1).
    ::CloseHandle(pipe);
    return ec;
  }
  return std::unique_ptr<LocalStream::Impl>(new IocpPipeStream(std::move(stream)));
}

}  // namespace win

asio::awaitable<result<LocalStream>> LocalStream::Connect(asio::any_io_executor executor,
                                                          std::string address,
                                                          std::chrono::milliseconds timeout) {
  std::wstring path = win::PipePath(address);
  if (path.size() > win::kMaxPipePathChars) co_return make_error_code(Error::kPathTooLong);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::chrono::milliseconds delay(1);
  asio::steady_timer timer(executor);
  for (;;) {
    HANDLE pipe = win::OpenPipeClient(path);
    if (pipe != INVALID_HANDLE_VALUE) {
      auto impl = win::MakeIocpPipeStream(executor, pipe);
      if (!impl) co_return impl.error();
      co_return LocalStream(std::move(*impl));
    }
    DWORD error = ::GetLastError();
    // Every instance is serving a client: wait a little and try again. A
    // missing pipe (ERROR_FILE_NOT_FOUND) fails at once.
    if (error != ERROR_PIPE_BUSY) co_return win::SystemError(error);
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) co_return error_code(asio::error::timed_out);
    timer.expires_after(std::min<std::chrono::steady_clock::duration>(delay, deadline - now));
    error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return ec;
    delay = std::min(delay * 2, std::chrono::milliseconds(20));
  }
}

result<LocalStream> LocalStream::Adopt(asio::any_io_executor executor, PlatformHandle connected) {
  if (!connected.is_valid()) return error_code(asio::error::bad_descriptor);
  DWORD type = ::GetFileType(connected.get());
  if (type != FILE_TYPE_PIPE) {
    if (type == FILE_TYPE_UNKNOWN && ::GetLastError() != NO_ERROR) return win::LastError();
    return win::SystemError(ERROR_INVALID_HANDLE);
  }
  auto impl = win::MakeIocpPipeStream(std::move(executor), connected.release());
  if (!impl) return impl.error();
  return LocalStream(std::move(*impl));
}

result<LocalStream> LocalStream::AdoptVouched(asio::any_io_executor executor,
                                              PlatformHandle connected) {
  return Adopt(std::move(executor), std::move(connected));  // one cheap check
}

}  // namespace rp::platform
