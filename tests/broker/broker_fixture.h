// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "broker_v1_admin.pb.h"
#include "broker_v1_envelope.pb.h"
#include "broker_v1_service_def.pb.h"
#include "rp/platform/child_process.h"
#include "support/temp_dir.h"

namespace rp::test {

namespace pb = ::running_process::broker::v1;

// Path of a program built beside the test binary ("broker/running-process-
// broker-v1", "tools/rp-echo-backend"), with ".exe" on Windows.
std::string BuiltProgram(const std::string& relative);

// BrokerUnderTest runs the real running-process-broker-v1 in a child
// process with its own temporary endpoint, service-definition directory and
// state directory, and talks to it over real connections.
class BrokerUnderTest {
 public:
  struct Options {
    std::vector<std::string> serve_args;
    std::vector<std::pair<std::string, std::string>> env;
  };

  BrokerUnderTest();
  explicit BrokerUnderTest(Options options);
  ~BrokerUnderTest();

  // Starts the broker and waits (bounded) until its endpoint accepts.
  void Start();
  // Asks it to shut down and waits for its exit code.
  int Shutdown();
  int Kill();
  // Waits for an exit the broker was asked for some other way.
  int WaitForExit();

  const std::string& endpoint() const { return endpoint_; }
  const std::string& service_def_dir() const { return service_def_dir_; }
  const std::string& state_dir() const { return state_dir_; }
  std::string manifest_dir() const { return dir_.File("manifests"); }
  TempDir& dir() { return dir_; }
  platform::ChildProcess& process() { return process_; }
  boost::asio::io_context& io() { return io_; }

  // Installs `name` with the echo backend (or `binary`) as its program.
  void InstallService(const std::string& name, const std::string& binary = {},
                      pb::ServiceDefinition extra = {});

  // Sends raw bytes as the whole request and returns the raw reply bytes
  // (empty when the broker closed without answering).
  std::string RawExchange(const std::string& bytes,
                          std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Sends `frame` and decodes the HelloReply; nullopt if no decodable reply.
  std::optional<pb::HelloReply> Exchange(const pb::Frame& frame,
                                         std::chrono::milliseconds timeout = std::chrono::seconds(20));
  std::optional<pb::HelloReply> SendHello(const pb::Hello& hello);
  std::optional<pb::AdminReply> Admin(pb::AdminVerb verb, bool json = false);
  std::optional<pb::AdminReply> AdminRequest(const pb::AdminRequest& request);
  // The value of the metrics sample named exactly `sample` (with its
  // labels, if any), 0 when the broker does not report it.
  std::uint64_t MetricSample(const std::string& sample);
  // Pid of the first backend in `status --json`, 0 when there is none.
  std::uint32_t BackendPid();
  // The broker's captured stderr so far.
  std::string Log() const;

 private:
  Options options_;
  TempDir dir_;
  std::string endpoint_;
  std::string service_def_dir_;
  std::string state_dir_;
  std::string log_path_;
  boost::asio::io_context io_;
  platform::ChildProcess process_;
  bool running_ = false;
};

// A well-formed Hello from this process for `service`/`version`.
pb::Hello MakeTestHello(const std::string& service, const std::string& version = "1.0.0");
pb::Frame HelloFrame(const pb::Hello& hello);

}  // namespace rp::test
