// Rate limiters for the work queue: how long to wait before an item is retried.
//
// The semantics are client-go's (k8s.io/client-go/util/workqueue/default_rate_limiters.go):
//   ItemExponentialFailureRateLimiter  base * 2^failures per item, capped; Forget resets it.
//   BucketRateLimiter                  one token bucket shared by all items (qps, burst);
//                                      every When() takes a token.
//   MaxOfRateLimiter                   the longest delay of several limiters.
//   DefaultControllerRateLimiter       MaxOf(ItemExponential(5ms, 1000s), Bucket(10/s, 100)).
// When(item) both answers and records a failure, so call it once per retry.
//
// Thread-safety: every limiter here is safe for concurrent use.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include "operator/base/clock.h"
#include "operator/base/mutex.h"

namespace lballoc::runtime {

template <typename T>
class RateLimiter {
 public:
  virtual ~RateLimiter() = default;
  // How long to wait before `item` is processed again; records one more failure.
  virtual Clock::Duration When(const T& item) = 0;
  // Clears the failure history of `item` (it succeeded, or is gone).
  virtual void Forget(const T& item) = 0;
  // How many failures `item` has had since it was last forgotten.
  virtual int NumRequeues(const T& item) = 0;
};

// A token bucket: `qps` tokens per second, at most `burst` stored; starts full. Reserve() takes
// one token now or later and returns how long the caller must wait for it (the same accounting
// as golang.org/x/time/rate's Limiter.Reserve()). Thread-safe.
class TokenBucket {
 public:
  TokenBucket(Clock& clock, double qps, int burst);
  Clock::Duration Reserve();

 private:
  Clock& clock_;
  const double qps_;
  const double burst_;
  Mutex mu_;
  double tokens_ GUARDED_BY(mu_);
  Clock::TimePoint last_ GUARDED_BY(mu_);
};

template <typename T, typename Hash = std::hash<T>>
class ItemExponentialFailureRateLimiter final : public RateLimiter<T> {
 public:
  ItemExponentialFailureRateLimiter(Clock::Duration base, Clock::Duration max)
      : base_(base), max_(max) {}

  Clock::Duration When(const T& item) override {
    int exp;
    {
      MutexLock lock(&mu_);
      exp = failures_[item]++;
    }
    // Compute in floating point so large exponents saturate at the cap instead of overflowing.
    double delay = static_cast<double>(base_.count()) * std::pow(2.0, exp);
    if (delay >= static_cast<double>(max_.count())) return max_;
    return Clock::Duration(static_cast<Clock::Duration::rep>(delay));
  }

  void Forget(const T& item) override {
    MutexLock lock(&mu_);
    failures_.erase(item);
  }

  int NumRequeues(const T& item) override {
    MutexLock lock(&mu_);
    auto it = failures_.find(item);
    return it == failures_.end() ? 0 : it->second;
  }

 private:
  const Clock::Duration base_;
  const Clock::Duration max_;
  Mutex mu_;
  std::unordered_map<T, int, Hash> failures_ GUARDED_BY(mu_);
};

template <typename T>
class BucketRateLimiter final : public RateLimiter<T> {
 public:
  BucketRateLimiter(Clock& clock, double qps, int burst) : bucket_(clock, qps, burst) {}
  Clock::Duration When(const T&) override { return bucket_.Reserve(); }
  void Forget(const T&) override {}
  int NumRequeues(const T&) override { return 0; }

 private:
  TokenBucket bucket_;
};

template <typename T>
class MaxOfRateLimiter final : public RateLimiter<T> {
 public:
  explicit MaxOfRateLimiter(std::vector<std::unique_ptr<RateLimiter<T>>> limiters)
      : limiters_(std::move(limiters)) {}

  // Every limiter is asked (so each records the failure / takes its token).
  Clock::Duration When(const T& item) override {
    Clock::Duration longest{0};
    for (auto& limiter : limiters_) longest = std::max(longest, limiter->When(item));
    return longest;
  }
  void Forget(const T& item) override {
    for (auto& limiter : limiters_) limiter->Forget(item);
  }
  int NumRequeues(const T& item) override {
    int most = 0;
    for (auto& limiter : limiters_) most = std::max(most, limiter->NumRequeues(item));
    return most;
  }

 private:
  std::vector<std::unique_ptr<RateLimiter<T>>> limiters_;
};

// client-go's DefaultTypedControllerRateLimiter.
template <typename T, typename Hash = std::hash<T>>
std::unique_ptr<RateLimiter<T>> DefaultControllerRateLimiter(Clock& clock) {
  std::vector<std::unique_ptr<RateLimiter<T>>> limiters;
  limiters.push_back(std::make_unique<ItemExponentialFailureRateLimiter<T, Hash>>(
      std::chrono::milliseconds(5), std::chrono::seconds(1000)));
  limiters.push_back(std::make_unique<BucketRateLimiter<T>>(clock, 10.0, 100));
  return std::make_unique<MaxOfRateLimiter<T>>(std::move(limiters));
}

}  // namespace lballoc::runtime
