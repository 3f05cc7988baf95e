// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "broker_v1_manifest.pb.h"

namespace rp::broker {

namespace pb = ::running_process::broker::v1;

// Asks the backend listening at `endpoint` who it is (spec §4.5 (b)): one
// 0xB232 REQUEST with a fresh 32-byte nonce (request id = its first eight
// bytes, little-endian), answered by nonce || DaemonProcess. Returns "" when
// the answer echoes the nonce and names exactly `expected` (pid, exe_path,
// exe_hash, boot_id, endpoint namespace and path), else why not. The whole
// exchange is bounded by `budget`.
boost::asio::awaitable<std::string> ProbeBackendIdentity(boost::asio::any_io_executor executor,
                                                         std::string endpoint,
                                                         pb::DaemonProcess expected,
                                                         std::chrono::milliseconds budget);

}  // namespace rp::broker
