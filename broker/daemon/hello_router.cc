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
  pb::Hello hello;
  if (auto refusal = DecodeHelloFrame(frame, &hello)) co_return Refused(Refuse(*refusal, nullptr));
  Routed routed = co_await RouteDecoded(frame, hello, peer, fd_pressure);
  routed.service = hello.service_name();
  routed.version = hello.wanted_version();
  co_return routed;
}

asio::awaitable<HelloRouter::Routed> HelloRouter::RouteDecoded(const pb::Frame& frame,
                                                               const pb::Hello& hello,
                                                               const platform::PeerIdentity& peer,
                                                               bool fd_pressure) {
  if (auto refusal = ValidateHelloShape(hello, peer.pid)) {
    co_return Refused(Refuse(*refusal, &hello));
  }
  if (auto retry = rate_limiter_.Admit(peer.pid, std::chrono::steady_clock::now())) {
    co_return Refused(Refuse(refusals::HelloRateLimited(*retry), &hello));
  }
  auto loaded = store_.Load(hello.service_name());
  if (auto* error = std::get_if<ServiceDefinitionError>(&loaded)) {
    co_return Refused(Refuse(error->not_found ? refusals::ServiceDefinitionNotFound()
                                              : refusals::ServiceDefinitionUnloadable(error->text),
                             &hello));
  }
  const pb::ServiceDefinition& definition =
      *std::get<ServiceDefinitionStore::SharedDefinition>(loaded);
  if (auto refusal = CheckVersionPolicy(hello.wanted_version(), definition)) {
    co_return Refused(Refuse(*refusal, &hello));
  }
  LaunchRequest request{std::get<ServiceDefinitionStore::SharedDefinition>(loaded),
                        hello.wanted_version(), InstanceId(definition),
                        frame.traceparent(), frame.tracestate(), /*stamps_refreshed=*/true};
  auto outcome = co_await supervisor_.Acquire(std::move(request));
  if (auto* refusal = std::get_if<Refusal>(&outcome)) co_return Refused(Refuse(*refusal, &hello));
  const auto& backend = std::get<std::shared_ptr<const BackendInfo>>(outcome);

  pb::HelloReply reply;
  pb::Negotiated* negotiated = reply.mutable_negotiated();
  negotiated->set_negotiated_protocol(transport::kProtocolVersion);
  negotiated->set_daemon_version(backend->version);
  negotiated->set_backend_pipe(backend->backend_pipe);
  negotiated->set_keepalive_interval_secs(NegotiatedKeepalive(hello));
  const std::uint64_t connection_id = next_connection_id_++;
  negotiated->set_connection_id(connection_id);
  const auto& labels = definition.labels();
  auto handoff_label = labels.find("handoff.enabled");
  bool service_enabled = handoff_label == labels.end() || handoff_label->second != "false";
  auto plan = handoff_.Prepare((hello.client_capabilities() & transport::kCapHandlePassing) != 0,
                               service_enabled, fd_pressure, *backend, connection_id);
  if (plan) {
    negotiated->set_server_capabilities(transport::kCapHandlePassing);
    negotiated->set_handle_passed_token(std::string(plan->token.begin(), plan->token.end()));
  }
  ++stats_.negotiated;
  co_return Routed{std::move(reply), std::move(plan), {}, {}};
}

}  // namespace rp::broker
