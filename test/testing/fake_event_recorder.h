// FakeEventRecorder: an EventRecorder (operator/runtime/event_recorder.h) that keeps what it is
// given, for tests to read back. Test-only (it used to live in event_recorder.h).
//
// Thread-safety: safe for concurrent use.
#pragma once

#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "api/core_v1.h"
#include "operator/runtime/event_recorder.h"

namespace lballoc::runtime {

// Records every event in memory, in order.
class FakeEventRecorder final : public EventRecorder {
 public:
  struct Recorded {
    api::ObjectReference object;
    std::string type, reason, message;
  };
  void Record(const api::ObjectReference& object, std::string_view type, std::string_view reason,
              std::string_view message) override {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back({object, std::string(type), std::string(reason), std::string(message)});
  }
  std::vector<Recorded> events() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  // "Normal AddressAllocated ns/name: message" lines, in order.
  std::vector<std::string> lines() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (const Recorded& e : events_) {
      out.push_back(e.type + " " + e.reason + " " +
                    (e.object.namespace_.empty() ? "" : e.object.namespace_ + "/") + e.object.name +
                    ": " + e.message);
    }
    return out;
  }
  void Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    events_.clear();
  }

 private:
  mutable std::mutex mu_;
  std::vector<Recorded> events_;
};

}  // namespace lballoc::runtime
