// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "event_log.h"

#include <chrono>
#include <filesystem>

#include "log.h"
#include "rp/broker/json.h"
#include "rp/platform/child_process.h"
#include "rp/platform/host.h"
#include "rp/platform/system.h"
#include "rp/transport/framing.h"

namespace rp::broker {
namespace {

namespace fs = std::filesystem;

std::uint32_t SeverityNumber(Severity severity) {
  switch (severity) {
    case Severity::kInfo:
      return 9;
    case Severity::kWarn:
      return 13;
    case Severity::kError:
      return 17;
  }
  return 9;
}

const char* SeverityText(Severity severity) {
  switch (severity) {
    case Severity::kInfo:
      return "INFO";
    case Severity::kWarn:
      return "WARN";
    case Severity::kError:
      return "ERROR";
  }
  return "INFO";
}

void AppendVarint(std::string& out, std::uint64_t value) {
  while (value >= 0x80) {
    out += static_cast<char>((value & 0x7F) | 0x80);
    value >>= 7;
  }
  out += static_cast<char>(value);
}

std::size_t VarintSize(std::uint64_t value) {
  std::size_t n = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++n;
  }
  return n;
}

// Cuts `text` to at most `size` bytes without splitting a UTF-8 sequence.
void CutUtf8(std::string* text, std::size_t size) {
  if (text->size() <= size) return;
  while (size > 0 && (static_cast<unsigned char>((*text)[size]) & 0xC0) == 0x80) --size;
  text->resize(size);
}

}  // namespace

std::string LifecycleLogPath(const std::string& state_dir) {
  return (fs::path(state_dir) / "events" / "lifecycle.pb").string();
}

void AppendLifecycleRecord(const pb::LifecycleEvent& event, std::string& out) {
  auto encoded_size = [](const pb::LifecycleEvent& e) {
    const std::size_t body = e.ByteSizeLong();
    return VarintSize(body) + body;
  };
  const pb::LifecycleEvent* fitting = &event;
  pb::LifecycleEvent cut;  // a copy only for a record that does not fit
  if (encoded_size(event) > EventLog::kMaxRecordBytes) {
    cut = event;
    // Shed text until the record fits: extra values, then the reason, then
    // the request id, then the extra map altogether.
    for (std::size_t limit = 128; encoded_size(cut) > EventLog::kMaxRecordBytes && limit > 0;
         limit /= 2) {
      for (auto& [key, value] : *cut.mutable_extra()) CutUtf8(&value, limit);
      CutUtf8(cut.mutable_reason(), limit);
      CutUtf8(cut.mutable_request_id(), limit);
    }
    if (encoded_size(cut) > EventLog::kMaxRecordBytes) cut.clear_extra();
    fitting = &cut;
  }
  AppendVarint(out, fitting->ByteSizeLong());  // also caches the sizes for the next line
  transport::AppendDeterministicSized(*fitting, out);
}

std::string EncodeLifecycleRecord(const pb::LifecycleEvent& event) {
  std::string record;
  AppendLifecycleRecord(event, record);
  return record;
}

std::vector<pb::LifecycleEvent> DecodeLifecycleRecords(const std::string& bytes) {
  std::vector<pb::LifecycleEvent> events;
  std::size_t at = 0;
  while (at < bytes.size()) {
    std::uint64_t length = 0;
    int shift = 0;
    bool complete = false;
    while (at < bytes.size() && shift < 35) {
      const auto byte = static_cast<unsigned char>(bytes[at++]);
      length |= static_cast<std::uint64_t>(byte & 0x7F) << shift;
      shift += 7;
      if ((byte & 0x80) == 0) {
        complete = true;
        break;
      }
    }
    if (!complete || length > EventLog::kMaxRecordBytes || bytes.size() - at < length) break;
    pb::LifecycleEvent event;
    if (!event.ParseFromArray(bytes.data() + at, static_cast<int>(length))) break;
    at += length;
    events.push_back(std::move(event));
  }
  return events;
}

std::string LifecycleEventJson(const pb::LifecycleEvent& event) {
  Json::Object extra;
  for (const auto& [key, value] : event.extra()) extra[key] = value;
  return Json(Json::Object{{"broker_instance", event.broker_instance()},
                           {"connection_id", event.connection_id()},
                           {"extra", std::move(extra)},
                           {"kind", pb::EventKind_Name(event.kind())},
                           {"pid", event.pid()},
                           {"reason", event.reason()},
                           {"request_id", event.request_id()},
                           {"service_name", event.service_name()},
                           {"severity_number", event.severity_number()},
                           {"severity_text", event.severity_text()},
                           {"ts_ms", event.ts_ms()}})
      .Dump();
}

EventLog::EventLog(std::string state_dir, std::string broker_instance, std::uint64_t max_bytes)
    : dir_((fs::path(state_dir) / "events").string()),
      path_(LifecycleLogPath(state_dir)),
      broker_instance_(std::move(broker_instance)),
      max_bytes_(max_bytes),
      pid_(platform::CurrentProcessId()) {
  recent_.reserve(kRecentEvents);
  Open();
}

EventLog::~EventLog() {
  Flush();
  if (file_) std::fclose(file_);
}

void EventLog::EnableBatching(boost::asio::any_io_executor executor,
                              std::chrono::milliseconds delay) {
  flush_timer_ = std::make_unique<boost::asio::steady_timer>(std::move(executor));
  batch_delay_ = delay;
}

void EventLog::Flush() {
  if (held_.empty()) return;
  Append(held_);
  held_.clear();  // keeps its capacity for the next batch
}

void EventLog::Append(const std::string& bytes) {
  if (failed_ || !file_) return;
  if (size_ + bytes.size() > max_bytes_) Rotate();
  if (file_ && std::fwrite(bytes.data(), 1, bytes.size(), file_) == bytes.size()) {
    size_ += bytes.size();
  } else if (!failed_) {
    Log().warn("lifecycle events are not recorded: writing {} failed", path_);
    failed_ = true;
  }
}

void EventLog::Open() {
  if (auto ec = platform::EnsurePrivateDirectory(dir_)) {
    Log().warn("lifecycle events are not recorded: {}: {}", dir_, ec.message());
    failed_ = true;
    return;
  }
  file_ = std::fopen(path_.c_str(), "ab");
  if (!file_) {
    Log().warn("lifecycle events are not recorded: cannot open {}", path_);
    failed_ = true;
    return;
  }
  std::setvbuf(file_, nullptr, _IONBF, 0);  // one fwrite, one write(2)
  std::error_code ec;
  size_ = fs::file_size(path_, ec);
  if (ec) size_ = 0;
}

void EventLog::Rotate() {
  std::fclose(file_);
  file_ = nullptr;
  if (auto ec = platform::MoveFileOver(path_, path_ + ".1")) {
    Log().warn("lifecycle log rotation failed: {}", ec.message());
  }
  Open();
}

pb::LifecycleEvent& EventLog::NextRecentSlot() {
  if (recent_.size() < kRecentEvents) return recent_.emplace_back();  // reserved: no move
  pb::LifecycleEvent& oldest = recent_[recent_next_];
  recent_next_ = (recent_next_ + 1) % kRecentEvents;
  oldest.Clear();  // keeps its strings' buffers for the new event
  return oldest;
}

void EventLog::Emit(LifecycleRecord record) {
  pb::LifecycleEvent& event = NextRecentSlot();
  event.set_ts_ms(static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count()));
  event.set_pid(pid_);
  event.set_service_name(record.service);
  event.set_kind(record.kind);
  event.set_reason(record.reason);
  for (auto& [key, value] : record.extra) (*event.mutable_extra())[key] = std::move(value);
  event.set_severity_number(SeverityNumber(record.severity));
  event.set_severity_text(SeverityText(record.severity));
  event.set_connection_id(record.connection_id);
  event.set_broker_instance(broker_instance_);
  // Appended behind anything held back, so the file keeps emission order.
  AppendLifecycleRecord(event, held_);

  if (flush_timer_ && record.kind == pb::HELLO_ACCEPTED && !failed_) {
    if (held_.size() >= kBatchBytes) {
      Flush();
    } else if (!flush_armed_) {
      flush_armed_ = true;
      flush_timer_->expires_after(batch_delay_);
      flush_timer_->async_wait([this](boost::system::error_code ec) {
        if (ec) return;  // the log is being destroyed (it flushes itself)
        flush_armed_ = false;
        Flush();
      });
    }
  } else {
    Flush();
  }
}

std::vector<std::string> EventLog::RecentJson() const {
  std::vector<std::string> out;
  out.reserve(recent_.size());
  // Once the ring is full, recent_next_ is the oldest slot.
  for (std::size_t i = 0; i < recent_.size(); ++i) {
    out.push_back(LifecycleEventJson(recent_[(recent_next_ + i) % recent_.size()]));
  }
  return out;
}

}  // namespace rp::broker
