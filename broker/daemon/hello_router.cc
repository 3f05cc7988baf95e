// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "hello_router.h"

#include "log.h"
#include "rp/broker/hello_policy.h"
#include "rp/transport/wire_constants.h"

namespace rp::broker {

namespace asio = boost::asio;

HelloRouter::HelloRouter(const BrokerConfig& config, BackendSupervisor& supervisor,
                         HandoffCoordinator& handoff)
    : config_(config),
      supervisor_(supervisor),
      handoff_(handoff),
      store_(config.service_def_dir, supervisor.stamp_cache()),
      rate_limiter_(config.hello_rate_limit, std::chrono::seconds(1)) {}

pb::HelloReply HelloRouter::Refuse(const Refusal& refusal, const pb::Hello* hello) {
  ++stats_.refused;
  Log().info("hello refused: service={} code={} reason=\"{}\"",
             hello ? hello->service_name() : std::string("?"), pb::ErrorCode_Name(refusal.code),
             refusal.reason);
  return MakeRefusedReply(refusal);
}

namespace {

// A refusal: nothing else is set.
HelloRouter::Routed Refused(pb::HelloReply reply) {
  HelloRouter::Routed routed;
  routed.reply = std::move(reply);
  return routed;
}

}  // namespace

asio::awaitable<HelloRouter::Routed> HelloRouter::Route(const pb::Frame& frame,
                                                        const platform::PeerIdentity& peer,
                                                        bool fd_pressure) {
  auto now = RouteNow(frame, peer, fd_pressure);
  if (auto* routed = std::get_if<Routed>(&now)) co_return std::move(*routed);
  co_return co_await Continue(std::get<Admitted>(std::move(now)), fd_pressure);
}

std::variant<HelloRouter::Routed, HelloRouter::Admitted> HelloRouter::RouteNow(
    const pb::Frame& frame, const platform::PeerIdentity& peer, bool fd_pressure) {
  pb::Hello hello;
  if (auto refusal = DecodeHelloFrame(frame, &hello)) return Refused(Refuse(*refusal, nullptr));
  auto admitted = Admit(frame, hello, peer);
  Routed routed;
  if (auto* request = std::get_if<LaunchRequest>(&admitted)) {
    auto backend = supervisor_.FindRunning(*request);
    if (!backend) return Admitted{std::move(hello), std::move(*request)};
    routed = Negotiate(hello, *request->definition, *backend, fd_pressure);
  } else {
    routed = Refused(std::get<pb::HelloReply>(std::move(admitted)));
  }
  routed.service = hello.service_name();
  routed.version = hello.wanted_version();
  return routed;
}

asio::awaitable<HelloRouter::Routed> HelloRouter::Continue(Admitted admitted, bool fd_pressure) {
  const auto definition = admitted.request.definition;
  auto outcome = co_await supervisor_.Acquire(std::move(admitted.request));
  Routed routed;
  if (auto* refusal = std::get_if<Refusal>(&outcome)) {
    routed = Refused(Refuse(*refusal, &admitted.hello));
  } else {
    const auto& backend = std::get<std::shared_ptr<const BackendInfo>>(outcome);
    routed = Negotiate(admitted.hello, *definition, *backend, fd_pressure);
  }
  routed.service = admitted.hello.service_name();
  routed.version = admitted.hello.wanted_version();
  co_return routed;
}

std::variant<pb::HelloReply, LaunchRequest> HelloRouter::Admit(const pb::Frame& frame,
                                                              const pb::Hello& hello,
                                                              const platform::PeerIdentity& peer) {
  if (auto refusal = ValidateHelloShape(hello, peer.pid)) return Refuse(*refusal, &hello);
  if (auto retry = rate_limiter_.Admit(peer.pid, std::chrono::steady_clock::now())) {
    return Refuse(refusals::HelloRateLimited(*retry), &hello);
  }
  auto loaded = store_.Load(hello.service_name());
  if (auto* error = std::get_if<ServiceDefinitionError>(&loaded)) {
    return Refuse(error->not_found ? refusals::ServiceDefinitionNotFound()
                                   : refusals::ServiceDefinitionUnloadable(error->text),
                  &hello);
  }
  auto definition = std::get<ServiceDefinitionStore::SharedDefinition>(std::move(loaded));
  if (auto refusal = CheckVersionPolicy(hello.wanted_version(), *definition)) {
    return Refuse(*refusal, &hello);
  }
  std::string instance = InstanceId(*definition);
  return LaunchRequest{std::move(definition), hello.wanted_version(), std::move(instance),
                       frame.traceparent(), frame.tracestate(), /*stamps_refreshed=*/true};
}

HelloRouter::Routed HelloRouter::Negotiate(const pb::Hello& hello,
                                           const pb::ServiceDefinition& definition,
                                           const BackendInfo& backend, bool fd_pressure) {
  Routed routed;
  pb::Negotiated* negotiated = routed.reply.mutable_negotiated();
  negotiated->set_negotiated_protocol(transport::kProtocolVersion);
  negotiated->set_daemon_version(backend.version);
  negotiated->set_backend_pipe(backend.backend_pipe);
  negotiated->set_keepalive_interval_secs(NegotiatedKeepalive(hello));
  const std::uint64_t connection_id = next_connection_id_++;
  negotiated->set_connection_id(connection_id);
  const auto& labels = definition.labels();
  auto handoff_label = labels.find("handoff.enabled");
  bool service_enabled = handoff_label == labels.end() || handoff_label->second != "false";
  const bool client_capable = (hello.client_capabilities() & transport::kCapHandlePassing) != 0;
  routed.handoff =
      handoff_.Prepare(client_capable, service_enabled, fd_pressure, backend, connection_id);
  if (routed.handoff) {
    negotiated->set_server_capabilities(transport::kCapHandlePassing);
    negotiated->set_handle_passed_token(
        std::string(routed.handoff->token.begin(), routed.handoff->token.end()));
  }
  ++stats_.negotiated;
  return routed;
}

}  // namespace rp::broker
