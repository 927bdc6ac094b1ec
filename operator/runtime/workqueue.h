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
// Thread-safety: every method is safe for concurrent use.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "operator/base/clock.h"
#include "operator/runtime/rate_limiter.h"

namespace lballoc::runtime {

template <typename T, typename Hash = std::hash<T>>
class WorkQueue {
 public:
  // Uses DefaultControllerRateLimiter when `limiter` is null.
  explicit WorkQueue(Clock& clock, std::unique_ptr<RateLimiter<T>> limiter = nullptr)
      : clock_(clock),
        limiter_(limiter ? std::move(limiter) : DefaultControllerRateLimiter<T, Hash>(clock)) {}

  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  void Add(const T& item) {
    std::lock_guard<std::mutex> lock(mu_);
    AddLocked(item);
  }

  // Queues `item` after `delay` (at once when delay <= 0). If `item` is already waiting, the
  // earlier of the two times is kept.
  void AddAfter(const T& item, Clock::Duration delay) {
    std::lock_guard<std::mutex> lock(mu_);
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
    cv_.notify_all();
  }

  void AddRateLimited(const T& item) {
    {
      std::lock_guard<std::mutex> lock(mu_);
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
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      PromoteReadyLocked();
      if (!queue_.empty()) break;
      if (shutting_down_) return std::nullopt;
      // Sleep until the earliest delayed key is due; wake early on any add or on shutdown.
      // The heartbeat bounds the sleep so a deadline far away never overflows a clock.
      Clock::TimePoint deadline = clock_.Now() + kMaxWait;
      if (!waiting_.empty()) deadline = std::min(deadline, waiting_.begin()->first.ready);
      uint64_t generation = waiting_generation_;
      clock_.WaitUntil(lock, cv_, deadline, [&] {
        return !queue_.empty() || shutting_down_ || waiting_generation_ != generation ||
               (!waiting_.empty() && clock_.Now() >= waiting_.begin()->first.ready);
      });
    }
    T item = std::move(queue_.front());
    queue_.pop_front();
    depth_.store(queue_.size(), std::memory_order_relaxed);
    dirty_.erase(item);
    processing_.insert(item);
    return item;
  }

  // Like Get() but never blocks: nullopt when nothing is ready.
  std::optional<T> TryGet() {
    std::lock_guard<std::mutex> lock(mu_);
    PromoteReadyLocked();
    if (queue_.empty()) return std::nullopt;
    T item = std::move(queue_.front());
    queue_.pop_front();
    depth_.store(queue_.size(), std::memory_order_relaxed);
    dirty_.erase(item);
    processing_.insert(item);
    return item;
  }

  // Marks `item` finished. If it was added again while processing, it is queued now.
  void Done(const T& item) {
    std::lock_guard<std::mutex> lock(mu_);
    processing_.erase(item);
    if (dirty_.count(item) > 0) {
      queue_.push_back(item);
      depth_.store(queue_.size(), std::memory_order_relaxed);
    }
    cv_.notify_all();
  }

  // Keys ready to be handed out (not those processing or waiting for their delay).
  size_t Len() {
    std::lock_guard<std::mutex> lock(mu_);
    PromoteReadyLocked();
    return queue_.size();
  }
  // Keys waiting for a delay to pass.
  size_t NumWaiting() {
    std::lock_guard<std::mutex> lock(mu_);
    PromoteReadyLocked();
    return waiting_.size();
  }
  size_t NumProcessing() {
    std::lock_guard<std::mutex> lock(mu_);
    return processing_.size();
  }

  void ShutDown() {
    std::lock_guard<std::mutex> lock(mu_);
    ShutDownLocked();
  }

  // Shuts down, then waits until every key handed out by Get() has been Done(), or until
  // `timeout` has passed on the clock. Returns true when drained. Workers must keep calling
  // Get()/Done() for this to finish (they get the keys that were still queued).
  bool ShutDownWithDrain(Clock::Duration timeout = std::chrono::hours(24 * 365)) {
    std::unique_lock<std::mutex> lock(mu_);
    ShutDownLocked();
    return clock_.WaitUntil(lock, cv_, clock_.Now() + timeout,
                            [&] { return processing_.empty(); });
  }

  bool ShuttingDown() {
    std::lock_guard<std::mutex> lock(mu_);
    return shutting_down_;
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

  void AddLocked(const T& item) {
    if (shutting_down_) return;
    if (dirty_.count(item) > 0) return;
    dirty_.insert(item);
    adds_total_.fetch_add(1, std::memory_order_relaxed);
    if (processing_.count(item) > 0) return;  // queued again by Done()
    queue_.push_back(item);
    depth_.store(queue_.size(), std::memory_order_relaxed);
    cv_.notify_all();
  }

  void PromoteReadyLocked() {
    if (waiting_.empty() || shutting_down_) return;
    Clock::TimePoint now = clock_.Now();
    while (!waiting_.empty() && waiting_.begin()->first.ready <= now) {
      auto node = waiting_.extract(waiting_.begin());
      waiting_index_.erase(node.mapped());
      AddLocked(node.mapped());
    }
  }

  void ShutDownLocked() {
    shutting_down_ = true;
    waiting_.clear();
    waiting_index_.clear();
    cv_.notify_all();
  }

  Clock& clock_;
  const std::unique_ptr<RateLimiter<T>> limiter_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<T> queue_;
  std::unordered_set<T, Hash> dirty_;
  std::unordered_set<T, Hash> processing_;
  std::map<Slot, T> waiting_;
  std::unordered_map<T, Slot, Hash> waiting_index_;
  uint64_t next_seq_ = 0;
  uint64_t waiting_generation_ = 0;
  bool shutting_down_ = false;

  std::atomic<uint64_t> adds_total_{0};
  std::atomic<uint64_t> retries_total_{0};
  std::atomic<size_t> depth_{0};
};

}  // namespace lballoc::runtime
