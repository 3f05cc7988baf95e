// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
//
// rp-echo-backend: the example service. Launched by the broker with the
// backend environment (spec §4.3), it serves backend_pipe and sends every
// byte a client writes straight back until the client closes. It exits 0
// when the broker (or SIGINT/SIGTERM) stops it.
#include <csignal>
#include <cstdio>
#include <exception>
#include <memory>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "rp/backend/backend.h"
#include "rp/broker/contract.h"
#include "rp/platform/child_process.h"

namespace {

namespace asio = boost::asio;
namespace platform = rp::platform;
namespace backend = rp::backend;

constexpr std::size_t kChunkBytes = 64 * 1024;

asio::awaitable<void> Echo(platform::LocalStream stream) {
  auto buffer = std::make_unique_for_overwrite<std::uint8_t[]>(kChunkBytes);  // not zeroed
  for (;;) {
    auto n = co_await stream.ReadSome(asio::buffer(buffer.get(), kChunkBytes));
    if (!n) co_return;
    if (co_await platform::WriteAll(stream, asio::buffer(buffer.get(), *n))) co_return;
  }
}

}  // namespace

int main() {
  auto environment = backend::BackendEnvironment::FromProcessEnvironment();
  if (!environment) {
    std::fprintf(stderr,
                 "rp-echo-backend: not launched as a broker backend: %s, %s and %s must be set\n",
                 rp::broker::kEnvServiceName, rp::broker::kEnvServiceVersion,
                 rp::broker::kEnvBackendPipe);
    return 2;
  }

  asio::io_context io;
  auto created = backend::Backend::Create(io.get_executor(), *environment, Echo);
  if (!created) {
    std::fprintf(stderr, "rp-echo-backend: cannot serve %s: %s\n",
                 environment->backend_pipe.c_str(), created.error().message().c_str());
    return 1;
  }
  backend::Backend server = std::move(*created);
  std::fprintf(stderr, "rp-echo-backend %s %s serving %s pid %u\n",
               environment->service_name.c_str(), environment->service_version.c_str(),
               environment->backend_pipe.c_str(), platform::CurrentProcessId());
  std::fflush(stderr);

  // A signal stops the backend the way the broker's "stop" does, so the
  // socket file is removed on the way out.
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&server](const boost::system::error_code& ec, int) {
    if (!ec) server.Stop();
  });

  int exit_code = 0;
  asio::co_spawn(io, server.Run(),
                 [&](std::exception_ptr error, boost::system::error_code stopped) {
                   if (error || stopped) {
                     std::fprintf(stderr, "rp-echo-backend: stopped serving: %s\n",
                                  error ? "unexpected exception" : stopped.message().c_str());
                     exit_code = 1;
                   }
                   // Connections still open are dropped with the process.
                   io.stop();
                 });
  io.run();
  return exit_code;
}
