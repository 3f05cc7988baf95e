// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "broker_server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "admin_handler.h"
#include "log.h"
#include "rp/platform/child_process.h"
#include "rp/platform/errors.h"
#include "rp/platform/system.h"
#include "rp/transport/envelope.h"
#include "rp/transport/frame_io.h"

namespace rp::broker {

namespace asio = boost::asio;
using boost::system::error_code;
using transport::FrameError;

namespace {

constexpr int kAcceptsToClearPressure = 3;
constexpr auto kPressureBackoff = std::chrono::milliseconds(50);
constexpr auto kPressureDeadline = std::chrono::milliseconds(1000);
const auto kStarted = std::chrono::steady_clock::now();

Refusal RefusalFor(const FrameError& error) {
  switch (error.kind) {
    case FrameError::Kind::kUnsupportedFramingVersion:
      return refusals::UnsupportedFramingVersion();
    case FrameError::Kind::kFrameTooLarge:
      return refusals::HelloTooLarge();
    case FrameError::Kind::kDecode:
      return refusals::MalformedFrame();
    default:
      return refusals::IncompleteHello();
  }
}

}  // namespace

pb::Frame BrokerServer::ReplyFrame(const pb::Frame& request, const pb::HelloReply& reply) {
  pb::Frame frame = transport::MakeResponseTo(request, transport::SerializeDeterministic(reply));
  frame.set_payload_protocol(transport::kControlPayloadProtocol);
  return frame;
}

BrokerServer::BrokerServer(asio::io_context& io, BrokerConfig config)
    : io_(io),
      config_(std::move(config)),
      events_(config_.state_dir, "launch"),
      supervisor_(io.get_executor(), config_),
      handoff_(io, supervisor_, config_.handoff_ack_timeout),
      router_(config_, supervisor_, handoff_) {
  supervisor_.set_metrics(&metrics_);
  supervisor_.set_events(&events_);
  events_.EnableBatching(io.get_executor(), std::chrono::milliseconds(100));
  router_.set_definition_observer([this](const std::string& service, bool changed) {
    events_.Emit({changed ? pb::SERVICE_DEF_CHANGED : pb::SERVICE_DEF_LOADED, Severity::kInfo,
                  service, changed ? "service definition changed on disk" : "loaded", {}});
  });
}

std::string BrokerServer::RenderMetrics() {
  BrokerMetrics::Gauges gauges;
  for (const BackendInfo& backend : supervisor_.Snapshot()) ++gauges.active_backends[backend.service];
  gauges.spawn_budget_remaining = supervisor_.SpawnBudgetRemaining();
  gauges.connections_open = open_connections_;
  gauges.fd_usage_ratio = platform::OpenFileUsageRatio();
  gauges.uptime_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - kStarted).count();
  return metrics_.Render(gauges, handoff_.stats());
}

void BrokerServer::RecordHello(const pb::HelloReply& reply, const std::string& service,
                               const std::string& version,
                               std::chrono::steady_clock::time_point accepted) {
  std::string outcome = "negotiated";
  if (reply.has_refused()) {
    const int code = static_cast<int>(reply.refused().code());
    outcome = pb::ErrorCode_IsValid(code) ? pb::ErrorCode_Name(reply.refused().code())
                                          : std::to_string(code);
  }
  metrics_.CountHello(service, version, outcome);
  LifecycleRecord event{pb::HELLO_ACCEPTED, Severity::kInfo, service, "negotiated",
                        {{"version", version}}};
  if (reply.has_refused()) {
    const auto code = reply.refused().code();
    const bool version_refusal =
        code == pb::ERROR_VERSION_UNSUPPORTED || code == pb::ERROR_VERSION_BLOCKED;
    event.kind = version_refusal ? pb::VERSION_MISMATCH : pb::HELLO_REFUSED;
    event.severity = Severity::kWarn;
    event.reason = reply.refused().reason();
    event.extra["code"] = outcome;
  } else {
    event.connection_id = reply.negotiated().connection_id();
  }
  events_.Emit(std::move(event));
  metrics_.ObserveHelloSeconds(
      service, std::chrono::duration<double>(std::chrono::steady_clock::now() - accepted).count());
}

BrokerServer::~BrokerServer() = default;

error_code BrokerServer::Start() {
  auto listener = platform::LocalListener::Bind(io_.get_executor(), config_.endpoint);
  if (!listener) return listener.error();
  listener_ = std::move(*listener);
  Log().info("serving {} (service definitions: {}, state: {}, manifests: {})", config_.endpoint,
             config_.service_def_dir, config_.state_dir, config_.manifest_dir);
  Log().info("handoff: Negotiated and the offer go out {}",
             handoff_.links_reply_and_offer() ? "in one io_uring submission"
                                              : "as two system calls");
  // Backends a previous broker left running are taken over before the first
  // Hello is read (connections wait in the backlog meanwhile).
  asio::co_spawn(io_, [this]() -> asio::awaitable<void> {
    co_await supervisor_.AdoptFromManifests();
    if (config_.idle_exit.count() > 0) asio::co_spawn(io_, ExitWhenIdle(), asio::detached);
    co_await AcceptLoop();
  }, asio::detached);
  return {};
}

asio::awaitable<void> BrokerServer::ExitWhenIdle() {
  using Clock = std::chrono::steady_clock;
  asio::steady_timer tick(io_);
  auto idle_since = Clock::now();
  const auto step = std::min<Clock::duration>(config_.idle_exit, std::chrono::seconds(1));
  while (!stopping_) {
    tick.expires_after(step);
    co_await tick.async_wait(asio::as_tuple(asio::use_awaitable));
    const bool idle =
        open_connections_ == 0 && hellos_routing_ == 0 && supervisor_.Snapshot().empty();
    if (!idle) {
      idle_since = Clock::now();
    } else if (Clock::now() - idle_since >= config_.idle_exit) {
      Log().info("idle for {} s with no backend and no client: exiting",
                 config_.idle_exit.count());
      Stop();
      co_return;
    }
  }
}

void BrokerServer::Stop(std::chrono::milliseconds drain_deadline) {
  if (stopping_) return;
  stopping_ = true;
  if (drain_deadline.count() <= 0) drain_deadline = config_.drain_deadline;
  Log().info("draining: new Hellos are refused; stopping within {} ms", drain_deadline.count());
  asio::co_spawn(io_, Shutdown(drain_deadline), asio::detached);
}

asio::awaitable<void> BrokerServer::Shutdown(std::chrono::milliseconds drain_deadline) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + drain_deadline;
  // Hellos already being routed (perhaps waiting for a launch) finish first.
  asio::steady_timer poll(io_);
  while (hellos_routing_ > 0 && Clock::now() < deadline) {
    poll.expires_after(std::chrono::milliseconds(5));
    co_await poll.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  co_await supervisor_.StopAll(std::max(left, std::chrono::milliseconds(1)));
  listener_.Close();
  // Replies being written get a moment to leave.
  const auto replies_deadline = Clock::now() + std::chrono::milliseconds(200);
  while (open_connections_ > 0 && Clock::now() < replies_deadline) {
    poll.expires_after(std::chrono::milliseconds(5));
    co_await poll.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  Log().info("stopped");
  events_.Flush();
  if (on_stopped_) on_stopped_();
}

asio::awaitable<void> BrokerServer::AcceptLoop() {
  asio::steady_timer backoff(io_);
  // Also while draining (Hellos then get ERROR_SHUTTING_DOWN), until the
  // shutdown closes the listener.
  for (;;) {
    auto accepted = co_await listener_.Accept();
    if (!accepted) {
      if (stopping_ || accepted.error() == asio::error::operation_aborted) break;
      if (platform::IsResourceExhaustion(accepted.error())) {
        if (!fd_pressure_) {
          Log().warn("accept on {} demoted under fd pressure: {}", config_.endpoint,
                     accepted.error().message());
          events_.Emit({pb::RESOURCE_PRESSURE, Severity::kWarn, "",
                        "out of descriptors: Hellos get ERROR_FD_PRESSURE",
                        {{"error", accepted.error().message()}}});
        }
        fd_pressure_ = true;
        accepts_since_pressure_ = 0;
        if (reserve_.Release()) {
          auto one = co_await listener_.Accept();
          if (one) {
            asio::co_spawn(io_, ServeUnderPressure(std::move(*one)), asio::detached);
            continue;
          }
          reserve_.Reacquire();
        }
        backoff.expires_after(kPressureBackoff);
      } else {
        Log().warn("accept on {} failed: {}", config_.endpoint, accepted.error().message());
        backoff.expires_after(std::chrono::milliseconds(10));  // never spin
      }
      co_await backoff.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    if (fd_pressure_ && ++accepts_since_pressure_ >= kAcceptsToClearPressure) {
      fd_pressure_ = false;
      Log().info("fd pressure cleared on {}", config_.endpoint);
    }
    reserve_.Reacquire();
    if (auto later = ServeNow(std::move(*accepted))) {
      asio::co_spawn(io_, Serve(std::move(*later), config_.hello_timeout), asio::detached);
    }
  }
}

asio::awaitable<void> BrokerServer::ServeUnderPressure(platform::AcceptedConnection connection) {
  co_await Serve(std::move(connection), std::min(config_.hello_timeout, kPressureDeadline));
  reserve_.Reacquire();
}

// Out of line from Serve, so the admin snapshot does not widen every
// connection's coroutine frame.
std::optional<pb::Frame> BrokerServer::AnswerAdmin(const pb::Frame& request) {
  events_.Flush();  // an operator looking now sees every event so far on disk
  BrokerSnapshot snapshot{"launch",
                          platform::CurrentProcessId(),
                          std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                        kStarted)
                              .count(),
                          !fd_pressure_ && !stopping_ && !refuse_hellos_,
                          fd_pressure_,
                          open_connections_,
                          supervisor_.Snapshot(),
                          config_.state_dir,
                          [this] { return RenderMetrics(); },
                          config_.service_def_dir,
                          config_.service_def_dir_source,
                          supervisor_.spawn_attempts_per_window(),
                          static_cast<std::uint64_t>(supervisor_.spawn_window().count()),
                          supervisor_.SpawnBudgetRows(),
                          events_.RecentJson(),
                          config_.manifest_dir};
  return HandleAdminFrame(request, snapshot, [this](std::chrono::milliseconds drain) {
    // Hellos from now on are refused, even one already waiting to be
    // accepted; the drain itself starts after this reply is on its way.
    refuse_hellos_ = true;
    asio::post(io_, [this, drain] { Stop(drain); });
  });
}

asio::awaitable<void> BrokerServer::Serve(platform::AcceptedConnection connection,
                                          std::chrono::milliseconds deadline_after,
                                          std::optional<AdmittedHello> admitted) {
  platform::LocalStream& stream = connection.stream;
  const platform::PeerIdentity& peer = connection.peer;
  if (!peer.same_user) {
    ++dropped_peers_;
    events_.Emit({pb::SECURITY_VIOLATION, Severity::kWarn, "",
                  "connection from another user dropped",
                  {{"peer_pid", std::to_string(peer.pid)},
                   {"peer_uid", peer.uid ? std::to_string(*peer.uid) : "-"}}});
    Log().warn("security: dropped connection on {} from peer pid={} uid={} sid={}: credential "
               "policy refused",
               config_.endpoint, peer.pid, peer.uid ? std::to_string(*peer.uid) : "-",
               peer.user_sid.empty() ? "-" : peer.user_sid);
    stream.Close();
    co_return;
  }
  ++open_connections_;
  // One deadline from accept bounds reading the request and writing the reply.
  bool timed_out = false;
  asio::steady_timer deadline(io_, deadline_after);
  deadline.async_wait([&timed_out, &stream](error_code ec) {
    if (ec) return;
    timed_out = true;
    stream.Cancel();
  });

  const auto accepted = std::chrono::steady_clock::now();
  std::optional<pb::Frame> reply;
  std::optional<pb::HelloReply> hello_reply;  // a Hello's answer, for the metrics
  std::string service, version;
  std::optional<HandoffPlan> handoff;
  pb::Frame request;
  std::optional<HelloRouter::Routed> routed;  // a Hello the router answered
  transport::FrameResult<std::vector<std::uint8_t>> body = std::vector<std::uint8_t>();
  if (!admitted) body = co_await transport::ReadFrameBody(stream, transport::kMaxHelloBytes);
  if (admitted) {
    request = std::move(admitted->request);
    ++hellos_routing_;
    routed = co_await router_.Continue(std::move(admitted->admitted), fd_pressure_);
    --hellos_routing_;
  } else if (!body) {
    hello_reply = MakeRefusedReply(RefusalFor(body.error()));
    reply = ReplyFrame(pb::Frame(), *hello_reply);
    // A peer that left without sending a byte (a liveness probe) sent no Hello.
    if (body.error().kind == FrameError::Kind::kUnexpectedEof &&
        body.error().eof_at == FrameError::EofAt::kFramingByte) {
      hello_reply.reset();
    }
  } else if (!request.ParseFromArray(body->data(), static_cast<int>(body->size()))) {
    hello_reply = MakeRefusedReply(refusals::MalformedFrame());
    reply = ReplyFrame(pb::Frame(), *hello_reply);
  } else if (request.payload_protocol() == transport::kAdminPayloadProtocol) {
    reply = AnswerAdmin(request);
  } else if (stopping_ || refuse_hellos_) {
    hello_reply = MakeRefusedReply(refusals::ShuttingDown());
    reply = ReplyFrame(request, *hello_reply);
  } else if (fd_pressure_) {
    hello_reply = MakeRefusedReply(refusals::FdPressure());
    reply = ReplyFrame(request, *hello_reply);
  } else {
    ++hellos_routing_;
    routed = co_await router_.Route(request, peer, fd_pressure_);
    --hellos_routing_;
  }
  if (routed) {
    reply = ReplyFrame(request, routed->reply);
    handoff = std::move(routed->handoff);
    hello_reply = std::move(routed->reply);
    service = std::move(routed->service);
    version = std::move(routed->version);
  }

  if (reply) {
    if (timed_out) {
      // The peer was too slow; give the refusal a short deadline of its own.
      deadline.expires_after(std::chrono::seconds(1));
      deadline.async_wait([&stream](error_code ec) {
        if (!ec) stream.Cancel();
      });
    }
    std::optional<std::vector<std::uint8_t>> framed;
    if (handoff) {
      if (auto encoded = transport::EncodeFrame(*reply)) framed = std::move(*encoded);
    }
    if (framed) {
      // Negotiated, then the offer (the client waits for the backend's
      // greeting next); from then on the backend owns the conversation.
      co_await handoff_.Transfer(std::move(*handoff), stream, *framed);
      deadline.cancel();
      --open_connections_;
      if (hello_reply) RecordHello(*hello_reply, service, version, accepted);
      co_return;
    }
    co_await transport::WriteFrame(stream, *reply);
    if (hello_reply) RecordHello(*hello_reply, service, version, accepted);
  }
  deadline.cancel();
  stream.Close();
  --open_connections_;
}

}  // namespace rp::broker
