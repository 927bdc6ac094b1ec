// WorkQueue: the rate-limited, delaying, de-duplicating queue of keys between event handlers and
// reconcile workers, with client-go's semantics (util/workqueue: queue.go, delaying_queue.go,
// rate_limiting_queue.go):
//   - A key is queued at most once (`dirty`), and handed to at most one worker at a time
//     (`processing`). A key added while it is being processed is queued again after Done().
//   - AddAfter(key, d) queues the key once `d` has passed; if it is already waiting, the earlier
//     time wins. AddRateLimited(key) is AddAfter(key, limiter.When(key)); Forget(key) clears the
//     back-off; NumRequeues(key) reads it.
//   - ShutDown(): later adds are ignored, delayed keys are dropped, workers drain what is
//     queued and then Get() returns nullopt. ShutDownWithDrain() also waits until every key
//     handed out has been Done().
// All waiting goes through the Clock, so tests drive the queue with a FakeClock. There is no
// background thread: a worker blocked in Get() sleeps until the earliest delayed key is due.
//
// Latency, as client-go's workqueue metrics measure it: the time from the first Add of a key
// to its Get (queue duration) and from Get to Done (work duration) go to the optional
// histograms of WorkQueueMetrics; UnfinishedWorkSeconds() and LongestRunningProcessorSeconds()
// are read at scrape time from the start times of the keys being processed.
//
// Thread-safety: every method is safe for concurrent use.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "operator/base/clock.h"
#include "operator/base/mutex.h"
#include "operator/runtime/metrics.h"
#include "operator/runtime/rate_limiter.h"

namespace lballoc::runtime {

// Where a queue reports its latencies (both optional; not owned, they outlive the queue).
struct WorkQueueMetrics {
  Histogram* queue_duration = nullptr;  // workqueue_queue_duration_seconds
  Histogram* work_duration = nullptr;   // workqueue_work_duration_seconds
};

// client-go's buckets for both latency histograms: 10 ns to 10 s, by powers of ten.
inline std::vector<double> WorkQueueDurationBuckets() {
  return {1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10};
}

template <typename T, typename Hash = std::hash<T>>
class WorkQueue {
 public:
  // Uses DefaultControllerRateLimiter when `limiter` is null.
  explicit WorkQueue(Clock& clock, std::unique_ptr<RateLimiter<T>> limiter = nullptr,
                     WorkQueueMetrics metrics = {})
      : clock_(clock),
        limiter_(limiter ? std::move(limiter) : DefaultControllerRateLimiter<T, Hash>(clock)),
        metrics_(metrics) {}

  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  void Add(const T& item) {
    MutexLock lock(&mu_);
    AddLocked(item);
  }

  // Queues `item` after `delay` (at once when delay <= 0). If `item` is already waiting, the
  // earlier of the two times is kept.
  void AddAfter(const T& item, Clock::Duration delay) {
    MutexLock lock(&mu_);
    if (shutting_down_) return;
    if (delay <= Clock::Duration::zero()) {
      AddLocked(item);
      return;
    }
    Clock::TimePoint ready = clock_.Now() + delay;
    auto it = waiting_index_.find(item);
    if (it != waiting_index_.end()) {
      if (ready >= it->second.ready) return;
      waiting_.erase(it->second);
      waiting_index_.erase(it);
    }
    Slot slot{ready, next_seq_++};
    waiting_.emplace(slot, item);
    waiting_index_.emplace(item, slot);
    // A sleeping Get() may be waiting for a later deadline: wake it to recompute.
    ++waiting_generation_;
    cv_.NotifyAll();
  }

  void AddRateLimited(const T& item) {
    {
      MutexLock lock(&mu_);
      if (shutting_down_) return;
    }
    retries_total_.fetch_add(1, std::memory_order_relaxed);
    AddAfter(item, limiter_->When(item));
  }

  void Forget(const T& item) { limiter_->Forget(item); }
  int NumRequeues(const T& item) { return limiter_->NumRequeues(item); }

  // Blocks until a key is ready and returns it, marked as processing; the caller must call
  // Done(key) when finished. Returns nullopt once the queue is shut down and empty.
  std::optional<T> Get() {
    MutexLock lock(&mu_);
    while (true) {
      PromoteReadyLocked();
      if (!queue_.empty()) break;
      if (shutting_down_) return std::nullopt;
      // Sleep until the earliest delayed key is due; wake early on any add or on shutdown.
      // The heartbeat bounds the sleep so a deadline far away never overflows a clock.
      Clock::TimePoint deadline = clock_.Now() + kMaxWait;
      if (!waiting_.empty()) deadline = std::min(deadline, waiting_.begin()->first.ready);
      uint64_t generation = waiting_generation_;
      clock_.WaitUntil(mu_, cv_, deadline, [&] {
        mu_.AssertHeld();
        return !queue_.empty() || shutting_down_ || waiting_generation_ != generation ||
               (!waiting_.empty() && clock_.Now() >= waiting_.begin()->first.ready);
      });
    }
    return PopLocked();
  }

  // Like Get() but never blocks: nullopt when nothing is ready.
  std::optional<T> TryGet() {
    MutexLock lock(&mu_);
    PromoteReadyLocked();
    if (queue_.empty()) return std::nullopt;
    return PopLocked();
  }

  // Marks `item` finished. If it was added again while processing, it is queued now.
  void Done(const T& item) {
    MutexLock lock(&mu_);
    processing_.erase(item);
    if (auto started = processing_since_.find(item); started != processing_since_.end()) {
      if (metrics_.work_duration != nullptr) {
        metrics_.work_duration->Observe(SecondsSince(started->second));
      }
      processing_since_.erase(started);
    }
    if (dirty_.count(item) > 0) {
      queue_.push_back(item);
      depth_.store(queue_.size(), std::memory_order_relaxed);
    }
    cv_.NotifyAll();
  }

  // Keys ready to be handed out (not those processing or waiting for their delay).
  size_t Len() {
    MutexLock lock(&mu_);
    PromoteReadyLocked();
    return queue_.size();
  }
  // Keys waiting for a delay to pass.
  size_t NumWaiting() {
    MutexLock lock(&mu_);
    PromoteReadyLocked();
    return waiting_.size();
  }
  size_t NumProcessing() {
    MutexLock lock(&mu_);
    return processing_.size();
  }

  void ShutDown() {
    MutexLock lock(&mu_);
    ShutDownLocked();
  }

  // Shuts down, then waits until every key handed out by Get() has been Done(), or until
  // `timeout` has passed on the clock. Returns true when drained. Workers must keep calling
  // Get()/Done() for this to finish (they get the keys that were still queued).
  bool ShutDownWithDrain(Clock::Duration timeout = std::chrono::hours(24 * 365)) {
    MutexLock lock(&mu_);
    ShutDownLocked();
    return clock_.WaitUntil(mu_, cv_, clock_.Now() + timeout, [&] {
      mu_.AssertHeld();
      return processing_.empty();
    });
  }

  bool ShuttingDown() {
    MutexLock lock(&mu_);
    return shutting_down_;
  }

  // Seconds the keys being processed have been processing, summed (client-go's
  // workqueue_unfinished_work_seconds: a growing value with a flat depth means stuck workers).
  double UnfinishedWorkSeconds() {
    MutexLock lock(&mu_);
    double total = 0;
    for (const auto& [item, since] : processing_since_) total += SecondsSince(since);
    return total;
  }
  // Seconds the longest-running key has been processing (0 when none).
  double LongestRunningProcessorSeconds() {
    MutexLock lock(&mu_);
    double longest = 0;
    for (const auto& [item, since] : processing_since_) {
      longest = std::max(longest, SecondsSince(since));
    }
    return longest;
  }

  // Counters for metrics (read without the lock).
  uint64_t adds_total() const { return adds_total_.load(std::memory_order_relaxed); }
  uint64_t retries_total() const { return retries_total_.load(std::memory_order_relaxed); }
  // Depth as of the last change (ready keys only); cheap, for metrics.
  size_t depth() const { return depth_.load(std::memory_order_relaxed); }

 private:
  // client-go's delaying queue wakes at least this often too.
  static constexpr Clock::Duration kMaxWait = std::chrono::seconds(10);

  struct Slot {
    Clock::TimePoint ready;
    uint64_t seq;  // ties keep insertion order
    bool operator<(const Slot& other) const {
      return ready != other.ready ? ready < other.ready : seq < other.seq;
    }
  };

  T PopLocked() REQUIRES(mu_) {
    T item = std::move(queue_.front());
    queue_.pop_front();
    depth_.store(queue_.size(), std::memory_order_relaxed);
    dirty_.erase(item);
    processing_.insert(item);
    const Clock::TimePoint now = clock_.Now();
    if (auto added = added_at_.find(item); added != added_at_.end()) {
      if (metrics_.queue_duration != nullptr) {
        metrics_.queue_duration->Observe(
            std::chrono::duration<double>(now - added->second).count());
      }
      added_at_.erase(added);
    }
    processing_since_[item] = now;
    return item;
  }

  double SecondsSince(Clock::TimePoint t) const {
    return std::chrono::duration<double>(clock_.Now() - t).count();
  }

  void AddLocked(const T& item) REQUIRES(mu_) {
    if (shutting_down_) return;
    if (dirty_.count(item) > 0) return;
    dirty_.insert(item);
    // The first add since the last Get starts the queue-duration clock (client-go's rule).
    added_at_.emplace(item, clock_.Now());
    adds_total_.fetch_add(1, std::memory_order_relaxed);
    if (processing_.count(item) > 0) return;  // queued again by Done()
    queue_.push_back(item);
    depth_.store(queue_.size(), std::memory_order_relaxed);
    cv_.NotifyAll();
  }

  void PromoteReadyLocked() REQUIRES(mu_) {
    if (waiting_.empty() || shutting_down_) return;
    Clock::TimePoint now = clock_.Now();
    while (!waiting_.empty() && waiting_.begin()->first.ready <= now) {
      auto node = waiting_.extract(waiting_.begin());
      waiting_index_.erase(node.mapped());
      AddLocked(node.mapped());
    }
  }

  void ShutDownLocked() REQUIRES(mu_) {
    shutting_down_ = true;
    waiting_.clear();
    waiting_index_.clear();
    cv_.NotifyAll();
  }

  Clock& clock_;
  const std::unique_ptr<RateLimiter<T>> limiter_;
  const WorkQueueMetrics metrics_;

  Mutex mu_;
  CondVar cv_;
  std::deque<T> queue_ GUARDED_BY(mu_);
  std::unordered_set<T, Hash> dirty_ GUARDED_BY(mu_);
  std::unordered_set<T, Hash> processing_ GUARDED_BY(mu_);
  std::map<Slot, T> waiting_ GUARDED_BY(mu_);
  std::unordered_map<T, Slot, Hash> waiting_index_ GUARDED_BY(mu_);
  // When each dirty key was first added, and when each key being processed was handed out.
  std::unordered_map<T, Clock::TimePoint, Hash> added_at_ GUARDED_BY(mu_);
  std::unordered_map<T, Clock::TimePoint, Hash> processing_since_ GUARDED_BY(mu_);
  uint64_t next_seq_ GUARDED_BY(mu_) = 0;
  uint64_t waiting_generation_ GUARDED_BY(mu_) = 0;
  bool shutting_down_ GUARDED_BY(mu_) = false;

  std::atomic<uint64_t> adds_total_{0};
  std::atomic<uint64_t> retries_total_{0};
  std::atomic<size_t> depth_{0};
};

}  // namespace lballoc::runtime
