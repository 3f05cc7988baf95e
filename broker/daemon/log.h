// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

// The daemon's logger (spdlog, stderr). Library code (platform, transport,
// SDKs) never logs; only the daemon and tools do.
#include <spdlog/spdlog.h>

namespace rp::broker {

spdlog::logger& Log();

}  // namespace rp::broker
