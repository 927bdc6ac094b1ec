#include "operator/runtime/rate_limiter.h"

namespace lballoc::runtime {

TokenBucket::TokenBucket(Clock& clock, double qps, int burst)
    : clock_(clock), qps_(qps), burst_(burst), tokens_(burst), last_(clock.Now()) {}

Clock::Duration TokenBucket::Reserve() {
  MutexLock lock(&mu_);
  Clock::TimePoint now = clock_.Now();
  if (now > last_) {
    double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * qps_);
    last_ = now;
  }
  // Taking a token may drive the count negative: that debt is the wait, and later callers
  // queue up behind it, so a burst of retries is spread at `qps`.
  tokens_ -= 1.0;
  if (tokens_ >= 0) return Clock::Duration(0);
  double wait_seconds = -tokens_ / qps_;
  return std::chrono::duration_cast<Clock::Duration>(std::chrono::duration<double>(wait_seconds));
}

}  // namespace lballoc::runtime
