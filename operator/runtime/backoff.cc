#include "operator/runtime/backoff.h"

#include <algorithm>

namespace lballoc::runtime {

Backoff::Backoff(BackoffOptions options, Clock& clock, uint64_t seed)
    : options_(options), clock_(clock), rng_(seed), current_(options.initial) {}

void Backoff::Reset() {
  current_ = options_.initial;
  has_last_ = false;
}

Clock::Duration Backoff::Next() {
  Clock::TimePoint now = clock_.Now();
  if (has_last_ && options_.reset_after > Clock::Duration::zero() &&
      now - last_ > options_.reset_after) {
    current_ = options_.initial;
  }
  has_last_ = true;
  last_ = now;
  Clock::Duration delay = current_;
  if (options_.jitter > 0) {
    std::uniform_real_distribution<double> dist(0.0, options_.jitter);
    delay += std::chrono::duration_cast<Clock::Duration>(
        std::chrono::duration<double, std::nano>(static_cast<double>(delay.count()) * dist(rng_)));
  }
  auto next = std::chrono::duration_cast<Clock::Duration>(std::chrono::duration<double, std::nano>(
      static_cast<double>(current_.count()) * options_.factor));
  current_ = std::min(next, options_.max);
  return delay;
}

Status RetryOnConflict(const BackoffOptions& options, Clock& clock,
                       const std::function<Status()>& fn) {
  Backoff backoff(options, clock);
  int steps = options.steps > 0 ? options.steps : 1;
  Status status;
  for (int i = 0; i < steps; ++i) {
    if (i > 0) clock.SleepFor(backoff.Next());
    status = fn();
    if (!status.IsConflict()) return status;
  }
  return status;
}

}  // namespace lballoc::runtime
