#include "operator/base/clock.h"

namespace lballoc {

void Clock::SleepFor(Duration duration) {
  std::mutex mu;
  std::condition_variable cv;
  std::unique_lock<std::mutex> lock(mu);
  WaitUntil(lock, cv, Now() + duration, [] { return false; });
}

bool Clock::WaitUntil(Mutex& mu, CondVar& cv, TimePoint deadline,
                      const std::function<bool()>& done) {
  // Hands the held std::mutex to the std::unique_lock overload without unlocking it, and takes
  // it back (still held) afterwards.
  std::unique_lock<std::mutex> lock(mu.native(), std::adopt_lock);
  const bool result = WaitUntil(lock, cv.native(), deadline, done);
  lock.release();
  return result;
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
