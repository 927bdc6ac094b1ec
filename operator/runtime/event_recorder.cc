#include "operator/runtime/event_recorder.h"

#include <glog/logging.h>

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <utility>

#include "api/json.h"

namespace lballoc::runtime {

namespace {
std::unique_ptr<Client> Abandonable(Client& client, std::stop_token token) {
  CallOptions options;
  options.cancel = std::move(token);
  return client.WithCallOptions(std::move(options));
}
}  // namespace

ClientEventRecorder::ClientEventRecorder(Client& client, EventRecorderOptions options, Clock& clock)
    : client_(Abandonable(client, abandon_source_.get_token())),
      events_(*client_),
      options_(std::move(options)),
      clock_(clock) {
  thread_ = std::thread([this] { Run(); });
}

bool ClientEventRecorder::AllowLocked(const api::ObjectReference& object, std::string_view reason) {
  if (options_.spam_burst <= 0) return true;
  const Clock::TimePoint now = clock_.Now();
  const double burst = options_.spam_burst;
  auto refill = [&](Bucket& b) {
    if (options_.spam_refill > Clock::Duration::zero()) {
      // In floating point: integer division would drop the part of a refill period that has
      // passed, and with `last` reset below a steady trickle of events would never refill.
      using Seconds = std::chrono::duration<double>;
      b.tokens = std::min(burst, b.tokens + Seconds(now - b.last) / Seconds(options_.spam_refill));
    }
    b.last = now;
  };
  const std::string key = object.api_version + "\x1f" + object.kind + "\x1f" + object.namespace_ +
                          "\x1f" + object.name + "\x1f" + object.uid + "\x1f" + std::string(reason);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    // At most cache_size keys, least recently seen forgotten first (client-go keeps its buckets
    // in an LRU of the same size): O(1) per event. (Sweeping every bucket whenever the map was
    // over size made each event O(keys) once more than cache_size objects had one, so a burst
    // of 100,000 new Services cost minutes of CPU in this filter.) A forgotten key starts again
    // with a full burst.
    if (buckets_.size() >= options_.cache_size && !bucket_lru_.empty()) {
      buckets_.erase(bucket_lru_.back());
      bucket_lru_.pop_back();
    }
    bucket_lru_.push_front(key);
    it = buckets_.emplace(key, Bucket{burst, now, bucket_lru_.begin()}).first;
  } else {
    refill(it->second);
    bucket_lru_.splice(bucket_lru_.begin(), bucket_lru_, it->second.lru);
  }
  if (it->second.tokens < 1) return false;
  it->second.tokens -= 1;
  return true;
}

ClientEventRecorder::~ClientEventRecorder() { Shutdown(); }

size_t ClientEventRecorder::spam_filter_size() const {
  MutexLock lock(&mu_);
  return buckets_.size();
}

void ClientEventRecorder::Record(const api::ObjectReference& object, std::string_view type,
                                 std::string_view reason, std::string_view message) {
  MutexLock lock(&mu_);
  if (!stopping_ && !AllowLocked(object, reason)) {
    ++counters_.spam_filtered;
    VLOG(1) << "event filtered as spam: " << object.kind << " " << object.namespace_ << "/"
            << object.name << " " << reason;
    return;
  }
  if (stopping_ || queue_.size() >= options_.queue_size) {
    ++counters_.dropped;
    LOG(WARNING) << "event dropped (" << (stopping_ ? "recorder stopped" : "queue full")
                 << "): " << object.kind << " " << object.namespace_ << "/" << object.name << " "
                 << reason << ": " << message;
    return;
  }
  queue_.push_back(Pending{object, std::string(type), std::string(reason), std::string(message),
                           clock_.WallNow()});
  cv_.NotifyAll();
}

void ClientEventRecorder::Flush() {
  MutexLock lock(&mu_);
  while (!((queue_.empty() && in_flight_ == 0) || finished_)) cv_.Wait(&mu_);
}

void ClientEventRecorder::Shutdown() {
  MutexLock join_lock(&join_mu_);
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    cv_.NotifyAll();
    if (!clock_.WaitUntil(mu_, cv_, clock_.Now() + options_.shutdown_timeout, [&] {
          mu_.AssertHeld();
          return finished_;
        })) {
      // Out of time: what is left is dropped, the write in flight and retry waits abandoned.
      abandoned_ = true;
      counters_.dropped += static_cast<int>(queue_.size());
      LOG(WARNING) << "event recorder: dropping " << queue_.size()
                   << " queued event(s) at shutdown";
      queue_.clear();
      cv_.NotifyAll();
    }
  }
  abandon_source_.request_stop();
  if (thread_.joinable()) thread_.join();
}

ClientEventRecorder::Counters ClientEventRecorder::counters() const {
  MutexLock lock(&mu_);
  return counters_;
}

void ClientEventRecorder::Run() {
  MutexLock lock(&mu_);
  while (true) {
    while (!stopping_ && queue_.empty()) cv_.Wait(&mu_);
    if (queue_.empty() || abandoned_) break;  // stopping and drained, or given up
    Pending p = std::move(queue_.front());
    queue_.pop_front();
    ++in_flight_;
    lock.Unlock();
    Write(p);
    lock.Lock();
    --in_flight_;
    cv_.NotifyAll();
  }
  finished_ = true;
  cv_.NotifyAll();
}

Status ClientEventRecorder::WithRetries(const std::function<Status()>& fn) {
  Status status;
  for (int attempt = 0; attempt < std::max(1, options_.max_attempts); ++attempt) {
    if (attempt > 0) {
      MutexLock lock(&mu_);
      if (clock_.WaitUntil(mu_, cv_, clock_.Now() + options_.retry_delay, [&] {
            mu_.AssertHeld();
            return abandoned_;
          })) {
        return CancelledError("event recorder shut down");
      }
    }
    status = fn();
    if (!status.IsUnavailable()) return status;
  }
  return status;
}

Status ClientEventRecorder::Create(const Pending& p, const std::string& key) {
  api::Event event;
  char suffix[32];
  auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(p.when.time_since_epoch());
  std::snprintf(suffix, sizeof(suffix), ".%llx",
                static_cast<unsigned long long>(nanos.count()) + sequence_++);
  event.metadata.name = p.object.name + suffix;
  event.metadata.namespace_ = p.object.namespace_.empty() ? "default" : p.object.namespace_;
  event.involved_object = p.object;
  event.reason = p.reason;
  event.message = p.message;
  event.type = p.type;
  event.count = 1;
  event.first_timestamp = p.when;
  event.last_timestamp = p.when;
  event.source_component = options_.component;
  event.source_host = options_.host;
  event.reporting_component = options_.component;
  event.reporting_instance = options_.host;
  Status status = WithRetries([&] { return events_.Create(event).status(); });
  if (!status.ok()) return status;
  // Remember it for aggregation (LRU bounded).
  auto it = seen_.find(key);
  if (it != seen_.end()) {
    lru_.erase(it->second.lru);
    seen_.erase(it);
  }
  lru_.push_front(key);
  Seen s{event.metadata.name, event.metadata.namespace_, 1, p.when, clock_.Now(), lru_.begin()};
  seen_.emplace(key, std::move(s));
  while (seen_.size() > options_.cache_size && !lru_.empty()) {
    seen_.erase(lru_.back());
    lru_.pop_back();
  }
  MutexLock lock(&mu_);
  ++counters_.created;
  return Status();
}

void ClientEventRecorder::Write(const Pending& p) {
  std::string key = p.object.api_version + "\x1f" + p.object.kind + "\x1f" + p.object.namespace_ +
                    "\x1f" + p.object.name + "\x1f" + p.object.uid + "\x1f" + p.type + "\x1f" +
                    p.reason + "\x1f" + p.message;
  Status status;
  auto it = seen_.find(key);
  if (it != seen_.end() && clock_.Now() - it->second.last_seen <= options_.window) {
    Seen& s = it->second;
    rapidjson::Document patch;
    patch.SetObject();
    api::AddInt64(patch, "count", s.count + 1, patch.GetAllocator());
    api::AddString(patch, "lastTimestamp", api::FormatTime(p.when), patch.GetAllocator());
    std::string body = api::JsonToString(patch);
    status = WithRetries(
        [&] { return events_.Patch(s.namespace_, s.name, PatchType::kMerge, body).status(); });
    if (status.ok()) {
      ++s.count;
      s.last_seen = clock_.Now();
      lru_.splice(lru_.begin(), lru_, s.lru);
      MutexLock lock(&mu_);
      ++counters_.patched;
      return;
    }
    if (!status.IsNotFound()) {
      LOG(WARNING) << "event " << s.namespace_ << "/" << s.name << ": patch failed: " << status;
      MutexLock lock(&mu_);
      ++counters_.failed;
      return;
    }
    // The Event expired or was deleted on the server: start a new one.
  }
  status = Create(p, key);
  if (!status.ok()) {
    LOG(WARNING) << "event " << p.reason << " on " << p.object.kind << " " << p.object.namespace_
                 << "/" << p.object.name << ": create failed: " << status;
    MutexLock lock(&mu_);
    ++counters_.failed;
  }
}

}  // namespace lballoc::runtime
