// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "rp/broker/hello_policy.h"

#include <charconv>
#include <vector>

#include "rp/transport/endpoint_names.h"
#include "rp/transport/envelope.h"

namespace rp::broker {
namespace {

using transport::EnvelopeViolation;

constexpr std::size_t kMaxWantedVersionBytes = 64;
constexpr std::size_t kMaxClientVersionBytes = 128;
constexpr std::size_t kMaxClientLibBytes = 64;
constexpr std::uint64_t kDefaultKeepaliveSecs = 1800;

struct ParsedVersion {
  std::uint64_t core[3] = {0, 0, 0};
  std::vector<std::string> pre;  // empty: a release
};

bool ParseNumber(const std::string& text, std::uint64_t* out) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

std::vector<std::string> Split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    std::size_t pos = text.find(sep, start);
    parts.push_back(text.substr(start, pos - start));
    if (pos == std::string::npos) return parts;
    start = pos + 1;
  }
}

std::optional<ParsedVersion> Parse(const std::string& version) {
  if (!transport::IsValidVersion(version)) return std::nullopt;
  ParsedVersion parsed;
  std::size_t dash = version.find('-');
  auto core = Split(version.substr(0, dash), '.');
  for (int i = 0; i < 3; ++i) {
    if (!ParseNumber(core[i], &parsed.core[i])) return std::nullopt;  // u64 overflow
  }
  if (dash != std::string::npos) parsed.pre = Split(version.substr(dash + 1), '.');
  return parsed;
}

bool IsNumeric(const std::string& id) {
  return !id.empty() && id.find_first_not_of("0123456789") == std::string::npos;
}

int ComparePreRelease(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    bool an = IsNumeric(a[i]), bn = IsNumeric(b[i]);
    if (an && bn) {
      std::uint64_t x = 0, y = 0;
      bool ok = ParseNumber(a[i], &x) && ParseNumber(b[i], &y);
      if (!ok) return a[i].size() < b[i].size() ? -1 : (a[i].size() > b[i].size() ? 1 : a[i].compare(b[i]));
      if (x != y) return x < y ? -1 : 1;
    } else if (an != bn) {
      return an ? -1 : 1;  // numeric identifiers rank below alphanumeric ones
    } else if (int c = a[i].compare(b[i]); c != 0) {
      return c < 0 ? -1 : 1;
    }
  }
  if (a.size() == b.size()) return 0;
  return a.size() < b.size() ? -1 : 1;
}

}  // namespace

std::optional<Refusal> DecodeHelloFrame(const pb::Frame& frame, pb::Hello* hello) {
  if (auto violation = transport::ValidateEnvelope(frame, pb::FRAME_KIND_REQUEST,
                                                   transport::kControlPayloadProtocol)) {
    switch (violation->rule) {
      case EnvelopeViolation::Rule::kEnvelopeVersion:
        return refusals::EnvelopeVersionNotV1();
      case EnvelopeViolation::Rule::kKind:
        return refusals::KindNotRequest();
      case EnvelopeViolation::Rule::kPayloadProtocol:
        return refusals::PayloadProtocolNotControl();
      case EnvelopeViolation::Rule::kPayloadEncoding:
        return refusals::PayloadCompressed();
    }
  }
  if (!hello->ParseFromString(frame.payload())) return refusals::MalformedHelloPayload();
  return std::nullopt;
}

std::optional<Refusal> ValidateHelloShape(const pb::Hello& hello, std::uint32_t os_pid) {
  if (hello.client_min_protocol() > transport::kProtocolVersion ||
      hello.client_max_protocol() < transport::kProtocolVersion) {
    return refusals::ProtocolRangeExcludesV1();
  }
  if (!transport::IsValidServiceName(hello.service_name())) return refusals::InvalidServiceName();
  if (hello.wanted_version().size() > kMaxWantedVersionBytes ||
      !transport::IsValidVersion(hello.wanted_version())) {
    return refusals::InvalidWantedVersion();
  }
  if (hello.client_version().size() > kMaxClientVersionBytes) {
    return refusals::ClientVersionTooLong();
  }
  if (hello.client_lib_name().size() > kMaxClientLibBytes ||
      hello.client_lib_version().size() > kMaxClientLibBytes) {
    return refusals::ClientLibTooLong();
  }
  if (hello.peer_pid() != 0 && os_pid != 0 && hello.peer_pid() != os_pid) {
    return refusals::PeerPidMismatch();
  }
  return std::nullopt;
}

std::optional<int> CompareVersions(const std::string& a, const std::string& b) {
  auto x = Parse(a);
  auto y = Parse(b);
  if (!x || !y) return std::nullopt;
  for (int i = 0; i < 3; ++i) {
    if (x->core[i] != y->core[i]) return x->core[i] < y->core[i] ? -1 : 1;
  }
  if (x->pre.empty() != y->pre.empty()) return x->pre.empty() ? 1 : -1;
  return ComparePreRelease(x->pre, y->pre);
}

std::optional<Refusal> CheckVersionPolicy(const std::string& wanted,
                                          const pb::ServiceDefinition& definition) {
  if (!definition.min_version().empty()) {
    auto order = CompareVersions(wanted, definition.min_version());
    if (!order || *order < 0) return refusals::BelowMinVersion();
  }
  if (definition.version_allow_list_size() > 0) {
    for (const std::string& allowed : definition.version_allow_list()) {
      if (allowed == wanted) return std::nullopt;
    }
    return refusals::NotInAllowList();
  }
  return std::nullopt;
}

std::uint64_t NegotiatedKeepalive(const pb::Hello& hello) {
  return hello.client_keepalive_secs() != 0 ? hello.client_keepalive_secs()
                                            : kDefaultKeepaliveSecs;
}

}  // namespace rp::broker
