// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// BrokerServer's Hello fast path. A client writes its Hello right after
// connecting, so by the time the accept loop has the connection the whole
// frame is usually in the socket, and its backend is usually running: then
// the Hello is read, routed and answered (or handed over) within the accept
// loop's turn, with no coroutine, deadline timer or event-loop trip of its
// own. Everything else (a Hello still on its way, an admin request, a
// draining or demoted broker, a backend to launch) goes to Serve, which
// answers exactly as it would have from the start. Windows pipes have no
// read that does not wait (TryReadSome is would_block there), so there
// every connection goes to Serve.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>

#include "broker_server.h"
#include "rp/transport/envelope.h"
#include "rp/transport/frame_io.h"

namespace rp::broker {

namespace asio = boost::asio;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

std::optional<platform::AcceptedConnection> BrokerServer::ServeNow(
    platform::AcceptedConnection connection) {
  if (!connection.peer.same_user || stopping_ || refuse_hellos_ || fd_pressure_) {
    return connection;
  }
  const auto accepted = Clock::now();
  auto read = transport::TryReadFrameNow(connection.stream, transport::kMaxHelloBytes);
  pb::Frame request;
  const auto body = read.body();
  if (!read.complete || !request.ParseFromArray(body.data(), static_cast<int>(body.size())) ||
      request.payload_protocol() == transport::kAdminPayloadProtocol) {
    // Serve reads it all again from the start, and answers as it would have.
    connection.stream = platform::PrependReadBytes(std::move(connection.stream),
                                                   std::move(read.consumed));
    return connection;
  }
  auto step = router_.RouteNow(request, connection.peer, fd_pressure_);
  if (auto* admitted = std::get_if<HelloRouter::Admitted>(&step)) {
    asio::co_spawn(io_,
                   Serve(std::move(connection), config_.hello_timeout,
                         AdmittedHello{std::move(request), std::move(*admitted)}),
                   asio::detached);
    return std::nullopt;
  }
  auto& routed = std::get<HelloRouter::Routed>(step);
  metrics_.CountHelloAnsweredAtAccept();
  auto framed = transport::EncodeFrame(ReplyFrame(request, routed.reply));
  if (!framed) {  // not for a reply this small; Serve's own path would say so
    connection.stream.Close();
    return std::nullopt;
  }
  ++open_connections_;
  platform::LocalStream& stream = connection.stream;
  if (routed.handoff) {
    asio::co_spawn(io_,
                   HandOver(std::move(stream), std::move(*framed), std::move(routed), accepted),
                   asio::detached);
    return std::nullopt;
  }
  // A fresh connection's socket takes a reply this size in one go.
  auto wrote = stream.TryWriteSome(asio::buffer(*framed));
  const std::size_t written = wrote ? *wrote : 0;
  if (written < framed->size() && (wrote || wrote.error() == asio::error::would_block)) {
    asio::co_spawn(io_,
                   FinishReply(std::move(stream), std::move(*framed), written, std::move(routed),
                               accepted),
                   asio::detached);
    return std::nullopt;
  }
  stream.Close();  // written, or the client is gone
  --open_connections_;
  RecordHello(routed.reply, routed.service, routed.version, accepted);
  return std::nullopt;
}

asio::awaitable<void> BrokerServer::FinishReply(platform::LocalStream stream,
                                                std::vector<std::uint8_t> framed,
                                                std::size_t written, HelloRouter::Routed routed,
                                                Clock::time_point accepted) {
  // The rest within the Hello deadline, as Serve would write it.
  asio::steady_timer deadline(io_, config_.hello_timeout);
  deadline.async_wait([&stream](error_code ec) {
    if (!ec) stream.Cancel();
  });
  co_await platform::WriteAll(stream, asio::buffer(framed.data() + written,
                                                   framed.size() - written));
  deadline.cancel();
  stream.Close();
  --open_connections_;
  RecordHello(routed.reply, routed.service, routed.version, accepted);
}

asio::awaitable<void> BrokerServer::HandOver(platform::LocalStream stream,
                                             std::vector<std::uint8_t> framed,
                                             HelloRouter::Routed routed,
                                             Clock::time_point accepted) {
  // Runs to its end without suspending unless the backend's channel is
  // busy with another offer.
  co_await handoff_.Transfer(std::move(*routed.handoff), stream, framed);
  --open_connections_;
  RecordHello(routed.reply, routed.service, routed.version, accepted);
}

}  // namespace rp::broker
