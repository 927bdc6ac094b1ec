#include "operator/base/clock.h"

namespace lballoc {

void Clock::SleepFor(Duration duration) {
  std::mutex mu;
  std::condition_variable cv;
  std::unique_lock<std::mutex> lock(mu);
  WaitUntil(lock, cv, Now() + duration, [] { return false; });
}

Clock& Clock::Real() {
  static RealClock* const kClock = new RealClock();
  return *kClock;
}

Clock::TimePoint RealClock::Now() const {
  return std::chrono::time_point_cast<Duration>(std::chrono::steady_clock::now());
}

Clock::WallTime RealClock::WallNow() const { return std::chrono::system_clock::now(); }

bool RealClock::WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                          TimePoint deadline, const std::function<bool()>& done) {
  return cv.wait_until(lock, deadline, done);
}

}  // namespace lballoc
