// EventRecorder: records core/v1 Events about objects ("kubectl describe"
// shows them), with client-side aggregation of repeats.
//
// An event is (involved object, type, reason, message). The same event again
// within `window` (10 min) is not created anew: the existing Event's count
// and lastTimestamp are patched (merge patch), as client-go's correlator
// does. Name: "<object name>.<hex unix nanos>"; namespace: the object's, or
// "default" for cluster-scoped objects.
//
// Spam filter (client-go's EventSourceObjectSpamFilter, keyed here by object
// and reason): a token bucket per key allows a burst of 25 events, then one
// per 5 minutes; events beyond it are dropped before they are queued
// (counted as spam_filtered). Repeats that pass are aggregated as above.
//
// ClientEventRecorder writes asynchronously on its own thread so a
// reconciler never waits for the API server: Record() queues (a bounded
// queue; when full the event is dropped and logged) and returns. Failed
// writes that may succeed later (Unavailable) are retried a few times.
// Shutdown() drains the queue for at most shutdown_timeout; then the write in
// flight and any retry wait are abandoned and what is left is dropped.
// FakeEventRecorder (test/testing/fake_event_recorder.h) keeps what it was
// given, for tests.
//
// Thread-safety: ClientEventRecorder is safe for concurrent use.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "api/core_v1.h"
#include "operator/base/clock.h"
#include "operator/base/mutex.h"
#include "operator/runtime/client.h"

namespace lballoc::runtime {

inline constexpr char kEventTypeNormal[] = "Normal";
inline constexpr char kEventTypeWarning[] = "Warning";

// A reference to any object following the api/ contract.
template <typename T>
api::ObjectReference ReferenceTo(const T& obj) {
  api::ObjectReference ref;
  ref.api_version = T::kResource.ApiVersion();
  ref.kind = std::string(T::kResource.kind);
  ref.namespace_ = obj.metadata.namespace_;
  ref.name = obj.metadata.name;
  ref.uid = obj.metadata.uid;
  ref.resource_version = obj.metadata.resource_version;
  return ref;
}

class EventRecorder {
 public:
  virtual ~EventRecorder() = default;
  // `type` is kEventTypeNormal or kEventTypeWarning; `reason` CamelCase.
  virtual void Record(const api::ObjectReference& object, std::string_view type,
                      std::string_view reason, std::string_view message) = 0;

  template <typename T>
  void Event(const T& obj, std::string_view type, std::string_view reason,
             std::string_view message) {
    Record(ReferenceTo(obj), type, reason, message);
  }
};

struct EventRecorderOptions {
  std::string component;  // source.component and reportingComponent, e.g. "lballoc-operator"
  std::string host;       // source.host / reportingInstance
  Clock::Duration window = std::chrono::minutes(10);
  size_t cache_size = 4096;  // remembered distinct events (LRU)
  size_t queue_size = 1000;
  int max_attempts = 3;
  Clock::Duration retry_delay = std::chrono::seconds(1);
  // Spam filter per (object, reason): burst, then one event per refill interval.
  int spam_burst = 25;
  Clock::Duration spam_refill = std::chrono::minutes(5);
  // How long Shutdown() may spend writing what is still queued.
  Clock::Duration shutdown_timeout = std::chrono::seconds(5);
};

class ClientEventRecorder final : public EventRecorder {
 public:
  ClientEventRecorder(Client& client, EventRecorderOptions options, Clock& clock = Clock::Real());
  ~ClientEventRecorder() override;

  void Record(const api::ObjectReference& object, std::string_view type, std::string_view reason,
              std::string_view message) override;

  // Blocks until everything queued so far was written (or given up on).
  void Flush();
  // Writes what is queued (for at most shutdown_timeout, then drops the rest),
  // then stops the thread. Idempotent; Record() after Shutdown() drops the event.
  void Shutdown();

  struct Counters {
    int created = 0;
    int patched = 0;
    int dropped = 0;  // queue full, recorder stopped, or abandoned at shutdown
    int failed = 0;
    int spam_filtered = 0;
  };
  Counters counters() const;
  // Keys the spam filter remembers: at most cache_size.
  size_t spam_filter_size() const;

 private:
  struct Pending {
    api::ObjectReference object;
    std::string type, reason, message;
    api::Time when;
  };
  struct Seen {
    std::string name;
    std::string namespace_;
    int32_t count = 0;
    api::Time first;
    Clock::TimePoint last_seen;
    std::list<std::string>::iterator lru;
  };

  struct Bucket {
    double tokens;
    Clock::TimePoint last;
    std::list<std::string>::iterator lru;  // its key's place in bucket_lru_
  };

  // The spam filter's verdict for one event; mu_ held.
  bool AllowLocked(const api::ObjectReference& object, std::string_view reason) REQUIRES(mu_);
  void Run();
  void Write(const Pending& p);
  Status Create(const Pending& p, const std::string& key);
  Status WithRetries(const std::function<Status()>& fn);

  // Requested when Shutdown() gives up draining: ends a write in flight.
  std::stop_source abandon_source_;
  std::unique_ptr<Client> client_;  // the caller's client with abandon_source_'s token
  TypedClient<api::Event> events_;
  EventRecorderOptions options_;
  Clock& clock_;

  mutable Mutex mu_;
  CondVar cv_;
  std::deque<Pending> queue_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  bool abandoned_ GUARDED_BY(mu_) = false;  // Shutdown() gave up draining
  bool finished_ GUARDED_BY(mu_) = false;   // the writer thread has exited
  std::unordered_map<std::string, Bucket> buckets_
      GUARDED_BY(mu_);                                 // the spam filter, at most cache_size
  std::list<std::string> bucket_lru_ GUARDED_BY(mu_);  // buckets_' keys, most recent first
  int in_flight_ GUARDED_BY(mu_) = 0;
  uint64_t sequence_ = 0;  // writer thread only: keeps names unique within one nanosecond
  Counters counters_ GUARDED_BY(mu_);
  std::unordered_map<std::string, Seen> seen_;  // used by the writer thread only
  std::list<std::string> lru_;                  // most recent first
  Mutex join_mu_ ACQUIRED_BEFORE(mu_);          // Shutdown() from two threads joins once
  std::thread thread_;
};

}  // namespace lballoc::runtime
