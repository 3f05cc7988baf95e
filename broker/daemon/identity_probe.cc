// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "identity_probe.h"

#include <array>
#include <memory>

#include <boost/asio/steady_timer.hpp>

#include "rp/platform/local_stream.h"
#include "rp/platform/system.h"
#include "rp/transport/envelope.h"
#include "rp/transport/frame_io.h"
#include "rp/transport/wire_constants.h"

namespace rp::broker {

namespace asio = boost::asio;

asio::awaitable<std::string> ProbeBackendIdentity(asio::any_io_executor executor,
                                                  std::string endpoint,
                                                  pb::DaemonProcess expected,
                                                  std::chrono::milliseconds budget) {
  std::array<std::uint8_t, 32> nonce{};
  if (platform::RandomBytes(nonce)) co_return "no randomness for the nonce";
  std::uint64_t request_id = 0;
  for (int i = 7; i >= 0; --i) request_id = request_id << 8 | nonce[static_cast<std::size_t>(i)];
  const std::string nonce_text(nonce.begin(), nonce.end());

  auto stream = co_await platform::LocalStream::Connect(executor, endpoint, budget);
  if (!stream) co_return "connect failed: " + stream.error().message();
  auto shared = std::make_shared<platform::LocalStream>(std::move(*stream));
  asio::steady_timer deadline(executor, budget);
  deadline.async_wait([shared](boost::system::error_code ec) {
    if (!ec) shared->Cancel();
  });
  auto written = co_await transport::WriteFrame(
      *shared, transport::MakeRequest(transport::kProbePayloadProtocol, nonce_text, request_id));
  if (!written) co_return "write failed: " + written.error().message();
  auto answer = co_await transport::ReadFrame(*shared, transport::kMaxFrameBytes);
  deadline.cancel();
  shared->Close();
  if (!answer) co_return "no answer: " + answer.error().message();
  if (transport::ValidateEnvelope(*answer, pb::FRAME_KIND_RESPONSE,
                                  transport::kProbePayloadProtocol) ||
      answer->request_id() != request_id) {
    co_return "the answer is not a probe response to this request";
  }
  if (answer->payload().size() < nonce.size() ||
      answer->payload().compare(0, nonce.size(), nonce_text) != 0) {
    co_return "the answer does not echo the nonce";
  }
  pb::DaemonProcess actual;
  if (!actual.ParseFromString(answer->payload().substr(nonce.size()))) {
    co_return "the answer carries no DaemonProcess";
  }
  if (actual.pid() != expected.pid()) co_return "pid differs";
  if (actual.exe_path() != expected.exe_path()) co_return "exe_path differs";
  if (actual.exe_hash() != expected.exe_hash()) co_return "exe_hash differs";
  if (actual.boot_id() != expected.boot_id()) co_return "boot_id differs";
  if (actual.ipc_endpoint().namespace_id() != expected.ipc_endpoint().namespace_id() ||
      actual.ipc_endpoint().path() != expected.ipc_endpoint().path()) {
    co_return "endpoint differs";
  }
  co_return "";
}

}  // namespace rp::broker
