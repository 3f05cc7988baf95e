// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "log.h"

#include <spdlog/sinks/stdout_sinks.h>

namespace rp::broker {

spdlog::logger& Log() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = std::make_shared<spdlog::logger>(
        "running-process-broker", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    l->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    l->flush_on(spdlog::level::info);
    return l;
  }();
  return *logger;
}

}  // namespace rp::broker
