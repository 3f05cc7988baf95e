// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "rp/broker/json.h"

#include <cmath>
#include <cstdio>

namespace rp::broker {

std::string JsonQuote(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string Json::Dump() const {
  std::string out;
  DumpTo(out);
  return out;
}

void Json::DumpTo(std::string& out) const {
  struct Visitor {
    std::string& out;
    void operator()(std::nullptr_t) { out += "null"; }
    void operator()(bool b) { out += b ? "true" : "false"; }
    void operator()(std::int64_t v) { out += std::to_string(v); }
    void operator()(std::uint64_t v) { out += std::to_string(v); }
    void operator()(double v) {
      if (!std::isfinite(v)) {
        out += "null";
        return;
      }
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.17g", v);
      std::string s = buf;
      if (s.find_first_of(".eE") == std::string::npos) s += ".0";  // keep it a float
      out += s;
    }
    void operator()(const std::string& s) { out += JsonQuote(s); }
    void operator()(const RawText& raw) { out += raw.text; }
    void operator()(const Array& a) {
      out += '[';
      for (std::size_t i = 0; i < a.size(); ++i) {
        if (i) out += ',';
        a[i].DumpTo(out);
      }
      out += ']';
    }
    void operator()(const Object& o) {
      out += '{';
      bool first = true;
      for (const auto& [key, value] : o) {
        if (!first) out += ',';
        first = false;
        out += JsonQuote(key);
        out += ':';
        value.DumpTo(out);
      }
      out += '}';
    }
  };
  std::visit(Visitor{out}, value_);
}

}  // namespace rp::broker
