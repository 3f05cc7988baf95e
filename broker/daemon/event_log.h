// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "broker_v1_manifest.pb.h"

namespace rp::broker {

namespace pb = ::running_process::broker::v1;

// OpenTelemetry severities (spec §7.11 [REC]): number and text.
enum class Severity { kInfo, kWarn, kError };

// One event to record; the log fills time, pid and broker instance.
struct LifecycleRecord {
  pb::EventKind kind = pb::EVENT_KIND_UNSPECIFIED;
  Severity severity = Severity::kInfo;
  std::string service;
  std::string reason;
  std::map<std::string, std::string> extra;
  std::uint64_t connection_id = 0;
};

// EventLog is the broker's append-only lifecycle event log (spec §7.11):
// <state_dir>/events/lifecycle.pb holds length-delimited LifecycleEvent
// records (a varint length, then the message), each at most
// kMaxRecordBytes with its prefix so that one write() appends it
// atomically; over-long reason, extra or request id text is cut to fit.
// Past max_bytes the file is rotated to lifecycle.pb.1 (the one before is
// dropped). The most recent events are also kept in memory for dump and
// status. A log that cannot be written is reported once and then skipped:
// events never stop the broker. Single-threaded.
//
// With EnableBatching(), HELLO_ACCEPTED records (one per connection, the
// only high-rate kind) are held in memory and appended together: after
// `delay`, once kBatchBytes have gathered, before any other event (which
// is written at once, so the file keeps emission order), on Flush() and on
// destruction. A crash can lose at most `delay` of accepted Hellos.
class EventLog {
 public:
  static constexpr std::size_t kMaxRecordBytes = 512;
  static constexpr std::size_t kRecentEvents = 64;
  static constexpr std::size_t kBatchBytes = 4096;

  EventLog(std::string state_dir, std::string broker_instance,
           std::uint64_t max_bytes = 4 << 20);
  ~EventLog();
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  void Emit(LifecycleRecord record);
  void EnableBatching(boost::asio::any_io_executor executor, std::chrono::milliseconds delay);
  // Appends the records held back by batching.
  void Flush();

  // The recent events, oldest first, each as a JSON object.
  std::vector<std::string> RecentJson() const;
  const std::string& path() const { return path_; }

 private:
  void Open();
  void Rotate();
  void Append(const std::string& bytes);
  pb::LifecycleEvent& NextRecentSlot();

  std::string dir_;
  std::string path_;
  std::string broker_instance_;
  std::uint64_t max_bytes_;
  std::FILE* file_ = nullptr;
  std::uint64_t size_ = 0;
  bool failed_ = false;
  std::uint32_t pid_;
  // The last kRecentEvents events, a ring reused in place (an event is
  // built in the slot of the one it replaces); recent_next_ is the slot
  // the next event takes, the oldest once the ring is full.
  std::vector<pb::LifecycleEvent> recent_;
  std::size_t recent_next_ = 0;
  std::string held_;  // batched records not yet appended
  std::chrono::milliseconds batch_delay_{0};
  std::unique_ptr<boost::asio::steady_timer> flush_timer_;  // set when batching
  bool flush_armed_ = false;
};

// Encodes `event` as one log record (varint length + message), cutting
// text fields until it fits kMaxRecordBytes: appended to `out`, or returned.
void AppendLifecycleRecord(const pb::LifecycleEvent& event, std::string& out);
std::string EncodeLifecycleRecord(const pb::LifecycleEvent& event);
// Splits a log file's bytes into events; stops at a torn or corrupt tail.
std::vector<pb::LifecycleEvent> DecodeLifecycleRecords(const std::string& bytes);
// One event as a JSON object (keys sorted, compact).
std::string LifecycleEventJson(const pb::LifecycleEvent& event);
// The event log file under a state directory.
std::string LifecycleLogPath(const std::string& state_dir);

}  // namespace rp::broker
