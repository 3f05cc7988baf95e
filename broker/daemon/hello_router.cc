// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "hello_router.h"

#include "log.h"
#include "rp/broker/hello_policy.h"
#include "rp/transport/wire_constants.h"

namespace rp::broker {

namespace asio = boost::asio;

HelloRouter::HelloRouter(const BrokerConfig& config, BackendSupervisor& supervisor)
    : config_(config),
      supervisor_(supervisor),
      store_(config.service_def_dir),
      rate_limiter_(config.hello_rate_limit, std::chrono::seconds(1)) {}

pb::HelloReply HelloRouter::Refuse(const Refusal& refusal, const pb::Hello* hello) {
  ++stats_.refused;
  Log().info("hello refused: service={} code={} reason=\"{}\"",
             hello ? hello->service_name() : std::string("?"), pb::ErrorCode_Name(refusal.code),
             refusal.reason);
  return MakeRefusedReply(refusal);
}

asio::awaitable<pb::HelloReply> HelloRouter::Route(const pb::Frame& frame,
                                                   const platform::PeerIdentity& peer) {
  pb::Hello hello;
  if (auto refusal = DecodeHelloFrame(frame, &hello)) co_return Refuse(*refusal, nullptr);
  if (auto refusal = ValidateHelloShape(hello, peer.pid)) co_return Refuse(*refusal, &hello);
  if (auto retry = rate_limiter_.Admit(peer.pid, std::chrono::steady_clock::now())) {
    co_return Refuse(refusals::HelloRateLimited(*retry), &hello);
  }
  auto loaded = store_.Load(hello.service_name());
  if (auto* error = std::get_if<ServiceDefinitionError>(&loaded)) {
    co_return Refuse(error->not_found ? refusals::ServiceDefinitionNotFound()
                                      : refusals::ServiceDefinitionUnloadable(error->text),
                     &hello);
  }
  auto& definition = std::get<pb::ServiceDefinition>(loaded);
  if (auto refusal = CheckVersionPolicy(hello.wanted_version(), definition)) {
    co_return Refuse(*refusal, &hello);
  }
  LaunchRequest request{definition, hello.wanted_version(), InstanceId(definition),
                        frame.traceparent(), frame.tracestate()};
  auto outcome = co_await supervisor_.Acquire(std::move(request));
  if (auto* refusal = std::get_if<Refusal>(&outcome)) co_return Refuse(*refusal, &hello);
  const auto& backend = std::get<std::shared_ptr<const BackendInfo>>(outcome);

  pb::HelloReply reply;
  pb::Negotiated* negotiated = reply.mutable_negotiated();
  negotiated->set_negotiated_protocol(transport::kProtocolVersion);
  negotiated->set_daemon_version(backend->version);
  negotiated->set_backend_pipe(backend->backend_pipe);
  negotiated->set_keepalive_interval_secs(NegotiatedKeepalive(hello));
  negotiated->set_connection_id(next_connection_id_++);
  ++stats_.negotiated;
  co_return reply;
}

}  // namespace rp::broker
