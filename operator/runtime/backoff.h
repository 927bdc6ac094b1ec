// Backoff: exponential delays with jitter, and the retry-on-conflict helper.
//
// Backoff follows apimachinery's wait.Backoff as the reflector uses it:
// delay = d + rand[0, jitter)·d, d doubling from `initial` up to `max`; the
// sequence starts over when `reset_after` passed since the previous delay was
// handed out. RetryOnConflict is client-go's retry.RetryOnConflict with
// DefaultRetry (5 steps, 10 ms, factor 1, jitter 0.1).
//
// Thread-safety: a Backoff is not thread-safe (one per loop); RetryOnConflict
// is as safe as the function it calls.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <random>

#include "operator/base/clock.h"
#include "operator/base/status.h"

namespace lballoc::runtime {

struct BackoffOptions {
  Clock::Duration initial = std::chrono::milliseconds(800);
  Clock::Duration max = std::chrono::seconds(30);
  double factor = 2.0;
  double jitter = 1.0;  // 0 = none
  // 0 = never reset.
  Clock::Duration reset_after = std::chrono::minutes(2);
  // Steps for RetryOnConflict-style bounded loops; 0 = unbounded.
  int steps = 0;
};

// The reflector's defaults: 0.8 s doubling to 30 s, jitter 1.0, reset after 2 min.
inline BackoffOptions ReflectorBackoff() { return BackoffOptions{}; }

// client-go retry.DefaultRetry.
inline BackoffOptions DefaultRetry() {
  BackoffOptions o;
  o.initial = std::chrono::milliseconds(10);
  o.max = std::chrono::milliseconds(10);
  o.factor = 1.0;
  o.jitter = 0.1;
  o.reset_after = Clock::Duration::zero();
  o.steps = 5;
  return o;
}

class Backoff {
 public:
  Backoff(BackoffOptions options, Clock& clock, uint64_t seed = std::random_device{}());

  // The next delay to wait.
  Clock::Duration Next();
  // Back to the initial delay.
  void Reset();

 private:
  BackoffOptions options_;
  Clock& clock_;
  std::mt19937_64 rng_;
  Clock::Duration current_;
  bool has_last_ = false;
  Clock::TimePoint last_;
};

// Runs `fn` until it returns something other than a conflict (Status::IsConflict),
// at most options.steps times, sleeping a jittered backoff between tries. Returns
// the last status.
Status RetryOnConflict(const BackoffOptions& options, Clock& clock,
                       const std::function<Status()>& fn);
inline Status RetryOnConflict(const std::function<Status()>& fn) {
  return RetryOnConflict(DefaultRetry(), Clock::Real(), fn);
}

}  // namespace lballoc::runtime
