// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>

// What the broker, launched backends and clients agree on beyond the wire
// format: environment variables (spec §4.3, §9.5) and the private
// broker<->backend control channel.
namespace rp::broker {

// Environment contract of a launched backend (spec §4.3).
inline constexpr char kEnvServiceName[] = "RUNNING_PROCESS_BROKER_V1_SERVICE_NAME";
inline constexpr char kEnvServiceVersion[] = "RUNNING_PROCESS_BROKER_V1_SERVICE_VERSION";
inline constexpr char kEnvBackendPipe[] = "RUNNING_PROCESS_BROKER_V1_BACKEND_PIPE";
inline constexpr char kEnvBackendNamespace[] = "RUNNING_PROCESS_BROKER_V1_BACKEND_NAMESPACE";
inline constexpr char kEnvInstance[] = "RUNNING_PROCESS_BROKER_V1_INSTANCE";
inline constexpr char kEnvTraceparent[] = "RUNNING_PROCESS_BROKER_V1_TRACEPARENT";
inline constexpr char kEnvTracestate[] = "RUNNING_PROCESS_BROKER_V1_TRACESTATE";
inline constexpr char kEnvIsDaemon[] = "RUNNING_PROCESS_IS_DAEMON";
// Ours: the decimal handle value of the backend's end of its control
// channel (an inherited socketpair end / pipe handle).
inline constexpr char kEnvControlHandle[] = "RUNNING_PROCESS_BROKER_V1_CONTROL_HANDLE";
// The Rust broker (4.10+, POSIX) binds backend_pipe itself and passes the
// listening socket's descriptor number here; the backend serves on it.
inline constexpr char kEnvInheritedListenerFd[] = "RUNNING_PROCESS_BROKER_LISTENER_FD";

// Client and broker knobs (spec §9.5).
inline constexpr char kEnvDisable[] = "RUNNING_PROCESS_DISABLE";
inline constexpr char kEnvClientTimeoutMs[] = "RUNNING_PROCESS_BROKER_CLIENT_TIMEOUT_MS";
inline constexpr char kEnvHelloTimeoutMs[] = "RUNNING_PROCESS_BROKER_HELLO_TIMEOUT_MS";
inline constexpr char kEnvAdminSocket[] = "RUNNING_PROCESS_BROKER_V1_SOCKET";
inline constexpr char kEnvServiceDefDir[] = "RUNNING_PROCESS_SERVICE_DEF_DIR";
inline constexpr char kEnvAllowPrivileged[] = "RUNNING_PROCESS_BROKER_ALLOW_PRIVILEGED";

inline constexpr std::uint64_t kDefaultTimeoutMs = 30'000;

// The control channel. Each HandleChannel message carries exactly one
// framed v1 Frame ([1][len][Frame]). Payload protocol 0xF0C1 lies in the
// private-use range (0xF000-0xFFFF), so it can never collide with a
// registered protocol:
//   backend -> broker  EVENT    0xF0C1 request_id 1   payload DaemonProcess
//       "ready": its listener is bound at ipc_endpoint.path; pid, exe_path,
//       exe_hash_algorithm "blake3", exe_hash, started_at_unix_ms filled.
//   broker -> backend  REQUEST  0xF0C1 request_id N   payload empty
//       "stop": finish what is in flight and exit (graceful shutdown).
//   backend -> broker  EVENT    0xF0C1 request_id 3   payload empty
//       "idle": no connection for its idle timeout; the broker stops
//       routing Hellos to it and answers with "stop".
//   broker -> backend  REQUEST  0xD0FF               HandoffOffer + 1 handle
//       (connection handoff; see the handoff issue).
inline constexpr std::uint32_t kBackendControlPayloadProtocol = 0xF0C1;
inline constexpr std::uint64_t kReadyRequestId = 1;
inline constexpr std::uint64_t kIdleRequestId = 3;
// Ours: seconds without a connection after which a launched backend asks
// to be stopped (from the service definition label "idle.timeout_secs").
inline constexpr char kEnvIdleTimeoutSecs[] = "RUNNING_PROCESS_BROKER_V1_IDLE_TIMEOUT_SECS";
inline constexpr char kIdleTimeoutLabel[] = "idle.timeout_secs";

}  // namespace rp::broker
