// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include <filesystem>
#include <cstdio>
#include <map>
#include <variant>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "broker_v1_admin.pb.h"
#include "broker_config.h"
#include "commands.h"
#include "rp/broker/contract.h"
#include "rp/platform/child_process.h"
#include "rp/transport/endpoint_names.h"
#include "rp/transport/envelope.h"
#include "rp/transport/frame_io.h"

namespace rp::broker {

namespace asio = boost::asio;
namespace pb = ::running_process::broker::v1;

namespace {

const std::map<std::string, pb::AdminVerb>& Verbs() {
  static const std::map<std::string, pb::AdminVerb> verbs = {
      {"status", pb::ADMIN_VERB_STATUS},
      {"dump", pb::ADMIN_VERB_DUMP},
      {"list-instances", pb::ADMIN_VERB_LIST_INSTANCES},
      {"healthz", pb::ADMIN_VERB_HEALTHZ},
      {"readyz", pb::ADMIN_VERB_READYZ},
      {"backend-health", pb::ADMIN_VERB_BACKEND_HEALTH},
      {"config", pb::ADMIN_VERB_CONFIG},
      {"diagnose", pb::ADMIN_VERB_DIAGNOSE},
      {"metrics", pb::ADMIN_VERB_METRICS},
      {"shutdown", pb::ADMIN_VERB_SHUTDOWN}};
  return verbs;
}

// One admin round trip; the reply, or an error text.
asio::awaitable<std::variant<pb::AdminReply, std::string>> Ask(std::string endpoint,
                                                               pb::AdminRequest request,
                                                               std::chrono::milliseconds timeout) {
  auto ex = co_await asio::this_coro::executor;
  auto stream = co_await platform::LocalStream::Connect(ex, endpoint, timeout);
  if (!stream) co_return stream.error().message();
  asio::steady_timer deadline(ex, timeout);
  deadline.async_wait([&stream](boost::system::error_code ec) {
    if (!ec) stream->Cancel();
  });
  auto frame = transport::MakeRequest(transport::kAdminPayloadProtocol,
                                      transport::SerializeDeterministic(request), 1);
  if (auto written = co_await transport::WriteFrame(*stream, frame); !written) {
    co_return written.error().message();
  }
  auto reply = co_await transport::ReadFrame(*stream);
  deadline.cancel();
  if (!reply) co_return reply.error().message();
  if (transport::ValidateEnvelope(*reply, pb::FRAME_KIND_RESPONSE,
                                  transport::kAdminPayloadProtocol)) {
    co_return std::string("unexpected response frame");
  }
  pb::AdminReply admin;
  if (!admin.ParseFromString(reply->payload())) co_return std::string("malformed AdminReply");
  co_return admin;
}

}  // namespace

bool IsAdminVerb(const std::string& word) { return Verbs().count(word) > 0; }

int RunAdmin(const std::string& verb, const Args& args, const std::optional<std::string>& socket) {
  std::string endpoint;
  if (socket) {
    endpoint = *socket;
  } else if (auto env = platform::GetEnv(kEnvAdminSocket); env && !env->empty()) {
    endpoint = *env;
  } else if (auto shared = transport::CurrentSharedBrokerAddress()) {
    endpoint = *shared;
  }
  pb::AdminRequest request;
  request.set_verb(Verbs().at(verb));
  request.set_json(HasFlag(args, "--json") || verb == "dump" || verb == "list-instances" ||
                   verb == "config" || verb == "backend-health");
  if (verb == "backend-health") {
    std::string service = "unknown";
    for (const auto& a : args) {
      if (!a.empty() && a[0] != '-') {
        service = a;
        break;
      }
    }
    request.set_service_name(service);
  }
  if (verb == "diagnose") {
    // The broker writes the file: give it a path that means here, not its cwd.
    std::error_code ec;
    auto output = std::filesystem::absolute(OptionValue(args, "--output").value_or("bundle.tar.gz"), ec);
    request.set_output_path(ec ? OptionValue(args, "--output").value_or("bundle.tar.gz")
                               : output.string());
  }

  asio::io_context io;
  std::variant<pb::AdminReply, std::string> outcome = std::string("no answer");
  auto timeout = MillisecondsFromEnv(kEnvClientTimeoutMs, std::chrono::milliseconds(kDefaultTimeoutMs));
  asio::co_spawn(io, Ask(endpoint, request, timeout),
                 [&outcome](std::exception_ptr e, std::variant<pb::AdminReply, std::string> r) {
                   if (!e) outcome = std::move(r);
                 });
  io.run();
  if (auto* error = std::get_if<std::string>(&outcome)) {
    std::fprintf(stderr, "admin request to \"%s\" failed: %s\n", endpoint.c_str(), error->c_str());
    return 1;
  }
  const auto& reply = std::get<pb::AdminReply>(outcome);
  std::string body = reply.body();
  if (body.empty() || body.back() != '\n') body += '\n';
  std::fputs(body.c_str(), stdout);
  return static_cast<int>(reply.exit_code());
}

}  // namespace rp::broker
