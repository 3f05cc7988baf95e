// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// LocalListener on Windows: a named-pipe server that keeps several
// instances waiting for clients (ConnectNamedPipe on events, never on the
// completion port), so that an accepted connection can still be handed to
// another process.
#include "rp/platform/local_listener.h"

#include <windows.h>

#include <algorithm>
#include <chrono>
#include <deque>

#include <boost/asio/error.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "rp/platform/errors.h"
#include "win/win_support.h"

namespace rp::platform {

namespace asio = boost::asio;
using boost::system::error_code;
using boost::system::result;

namespace {

// One server instance of the pipe and its pending ConnectNamedPipe. Owned
// by the listener (shared with the wait handler, which only sets flags).
struct PipeInstance {
  enum class State { kWaiting, kConnected, kBroken };
  HANDLE pipe = nullptr;
  std::shared_ptr<win::EventOp> connect_op;
  State state = State::kWaiting;
  bool wait_armed = false;  // an object_handle wait is outstanding
  bool signaled = false;    // the event fired since the last look
};

// How wait handlers and Close() wake a suspended Accept(): they bump
// `count` and cancel the timer Accept() waits on. A cancellation that did
// not bump `count` came from Accept()'s caller. `closed` outlives the
// listener, so an Accept() woken by the listener's destruction does not
// touch it.
struct Wakeup {
  explicit Wakeup(const asio::any_io_executor& executor) : timer(executor) {}
  asio::steady_timer timer;
  std::uint64_t count = 0;
  bool closed = false;
};

}  // namespace

// The Windows listener: the pipe's first instance is created with
// FILE_FLAG_FIRST_PIPE_INSTANCE (a second listener on the name gets
// kAddressInUse), and `ready_instances` instances always wait for clients.
// Owns every waiting instance; an accepted instance moves into the returned
// LocalStream. Accept() and Close() run on the listener's executor; the
// wait handlers share the instances and the wake-up timer, never `this`.
class LocalListener::Impl {
 public:
  Impl(asio::any_io_executor executor, std::string address, std::wstring path,
       win::SecurityAttributes security, const ListenOptions& options)
      : executor_(executor),
        address_(std::move(address)),
        path_(std::move(path)),
        security_(std::move(security)),
        options_(options),
        wake_(std::make_shared<Wakeup>(executor)) {}
  ~Impl() { Close(); }

  // Starts ConnectNamedPipe on a new (or the first) instance.
  error_code AddInstance(bool first) {
    auto pipe = win::CreatePipeInstance(path_, first, PIPE_UNLIMITED_INSTANCES, security_);
    if (!pipe) return pipe.error();
    auto op = win::EventOp::Create(executor_);
    if (!op) {
      ::CloseHandle(*pipe);
      return op.error();
    }
    auto instance = std::make_shared<PipeInstance>();
    instance->pipe = *pipe;
    instance->connect_op = std::move(*op);
    StartConnect(*instance);
    instances_.push_back(std::move(instance));
    return {};
  }

  asio::awaitable<result<AcceptedConnection>> Accept() {
    std::shared_ptr<Wakeup> wake = wake_;
    for (;;) {
      if (wake->closed) co_return error_code(asio::error::operation_aborted);
      Harvest();
      auto it = std::find_if(instances_.begin(), instances_.end(), [](const auto& instance) {
        return instance->state == PipeInstance::State::kConnected;
      });
      if (it != instances_.end()) {
        std::shared_ptr<PipeInstance> instance = std::move(*it);
        instances_.erase(it);
        Refill();
        co_return TakeConnection(*instance);
      }
      Refill();
      if (instances_.empty()) {
        // Could not create even one instance; report why.
        if (auto ec = AddInstance(false)) co_return ec;
        continue;
      }
      ArmWaits();
      std::uint64_t seen = wake->count;
      wake->timer.expires_at(asio::steady_timer::time_point::max());
      error_code ec;
      co_await wake->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (wake->closed || wake->count == seen) co_return error_code(asio::error::operation_aborted);
    }
  }

  void Close() noexcept {
    if (wake_->closed) return;
    wake_->closed = true;
    ++wake_->count;
    wake_->timer.cancel();
    for (auto& instance : instances_) Destroy(*instance);
    instances_.clear();
  }

  const std::string& address() const noexcept { return address_; }

  // True when instances of the pipe name exist besides our first one.
  // Note: Wine 8 ignores FILE_FLAG_FIRST_PIPE_INSTANCE (a second creation
  // succeeds), so Bind also counts the name's instances; on Windows the
  // flag already refused the name and this is always false.
  bool NameHasOtherInstances() const {
    DWORD instances = 0;
    return !instances_.empty() &&
           ::GetNamedPipeHandleStateW(instances_.front()->pipe, nullptr, &instances, nullptr,
                                      nullptr, nullptr, 0) &&
           instances > 1;
  }

 private:
  void StartConnect(PipeInstance& instance) {
    instance.state = PipeInstance::State::kWaiting;
    instance.signaled = false;
    win::EventOp& op = *instance.connect_op;
    if (::ConnectNamedPipe(instance.pipe, op.Begin(instance.pipe))) {
      instance.state = PipeInstance::State::kConnected;
      return;
    }
    switch (DWORD error = ::GetLastError()) {
      case ERROR_IO_PENDING:
        op.set_pending(true);
        break;
      case ERROR_PIPE_CONNECTED:
        // Note: the client connected between CreateNamedPipe and
        // ConnectNamedPipe; nothing is pending (windows-leg-notes.md, P2).
        instance.state = PipeInstance::State::kConnected;
        break;
      default:
        // ERROR_NO_DATA: a client came and went already. Start over.
        (void)error;
        instance.state = PipeInstance::State::kBroken;
        break;
    }
  }

  // Turns fired events into states; replaces broken instances.
  void Harvest() {
    for (auto& instance : instances_) {
      if (!instance->signaled || instance->state != PipeInstance::State::kWaiting) continue;
      instance->signaled = false;
      win::EventOp& op = *instance->connect_op;
      auto done = op.Result();
      if (!done && done.error().value() == static_cast<int>(ERROR_IO_INCOMPLETE)) continue;
      op.set_pending(false);
      instance->state = done ? PipeInstance::State::kConnected : PipeInstance::State::kBroken;
    }
    for (auto& instance : instances_) {
      if (instance->state != PipeInstance::State::kBroken) continue;
      ::DisconnectNamedPipe(instance->pipe);
      StartConnect(*instance);
    }
    std::erase_if(instances_, [this](const auto& instance) {
      if (instance->state != PipeInstance::State::kBroken) return false;
      Destroy(*instance);
      return true;
    });
  }

  void Refill() {
    int wanted = std::max(1, options_.ready_instances);
    while (static_cast<int>(instances_.size()) < wanted) {
      if (AddInstance(false)) break;  // Retried on the next Accept.
    }
  }

  void ArmWaits() {
    for (auto& instance : instances_) {
      if (instance->wait_armed || instance->state != PipeInstance::State::kWaiting) continue;
      instance->wait_armed = true;
      instance->connect_op->waiter().async_wait([instance, wake = wake_](const error_code& ec) {
        instance->wait_armed = false;
        if (!ec) instance->signaled = true;
        ++wake->count;
        wake->timer.cancel();
      });
    }
  }

  result<AcceptedConnection> TakeConnection(PipeInstance& instance) {
    HANDLE pipe = std::exchange(instance.pipe, nullptr);
    PeerIdentity peer = win::QueryPipeClient(pipe);
    auto impl = options_.transferable ? win::MakeEventPipeStream(executor_, pipe)
                                      : win::MakeIocpPipeStream(executor_, pipe);
    Destroy(instance);
    if (!impl) return impl.error();
    return AcceptedConnection{LocalStream(std::move(*impl)), std::move(peer)};
  }

  static void Destroy(PipeInstance& instance) noexcept {
    instance.connect_op->CancelAndDrain();
    instance.connect_op->Abandon();
    if (instance.pipe) ::CloseHandle(std::exchange(instance.pipe, nullptr));
  }

  asio::any_io_executor executor_;
  std::string address_;
  std::wstring path_;
  win::SecurityAttributes security_;
  ListenOptions options_;
  std::shared_ptr<Wakeup> wake_;
  std::deque<std::shared_ptr<PipeInstance>> instances_;
};

LocalListener::LocalListener() noexcept = default;
LocalListener::LocalListener(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
LocalListener::LocalListener(LocalListener&&) noexcept = default;
LocalListener& LocalListener::operator=(LocalListener&&) noexcept = default;
LocalListener::~LocalListener() = default;

result<LocalListener> LocalListener::AdoptListening(asio::any_io_executor, PlatformHandle,
                                                   std::string) {
  return make_error_code(boost::system::errc::operation_not_supported);
}

result<LocalListener> LocalListener::Bind(asio::any_io_executor executor, std::string address,
                                          const ListenOptions& options) {
  std::wstring path = win::PipePath(address);
  if (path.size() > win::kMaxPipePathChars) return make_error_code(Error::kPathTooLong);
  auto security = win::SecurityAttributes::CurrentUserOnly();
  if (!security) return security.error();
  auto impl = std::make_unique<Impl>(executor, win::WideToUtf8(path), std::move(path),
                                     std::move(*security), options);
  if (auto ec = impl->AddInstance(/*first=*/true)) {
    // Note: FILE_FLAG_FIRST_PIPE_INSTANCE on a name that already has
    // instances fails with ERROR_ACCESS_DENIED (ERROR_PIPE_BUSY when they
    // are all in use); both mean a live listener owns the name.
    if (ec.value() == static_cast<int>(ERROR_ACCESS_DENIED) ||
        ec.value() == static_cast<int>(ERROR_PIPE_BUSY)) {
      return make_error_code(Error::kAddressInUse);
    }
    return ec;
  }
  if (impl->NameHasOtherInstances()) return make_error_code(Error::kAddressInUse);
  for (int i = 1; i < options.ready_instances; ++i) {
    if (auto ec = impl->AddInstance(false)) return ec;
  }
  return LocalListener(std::move(impl));
}

asio::awaitable<result<AcceptedConnection>> LocalListener::Accept() {
  if (!impl_) co_return error_code(asio::error::bad_descriptor);
  co_return co_await impl_->Accept();
}

void LocalListener::Close() noexcept {
  if (impl_) impl_->Close();
}

const std::string& LocalListener::address() const noexcept {
  static const std::string kEmpty;
  return impl_ ? impl_->address() : kEmpty;
}

}  // namespace rp::platform
