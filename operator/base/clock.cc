#include "operator/base/clock.h"

#include <algorithm>

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

FakeClock::FakeClock()
    : now_(TimePoint(std::chrono::hours(1000))),
      wall_(std::chrono::system_clock::time_point(std::chrono::seconds(1767225600))) {}

Clock::TimePoint FakeClock::Now() const {
  MutexLock guard(&mu_);
  return now_;
}

Clock::WallTime FakeClock::WallNow() const {
  MutexLock guard(&mu_);
  return wall_;
}

bool FakeClock::WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                          TimePoint deadline, const std::function<bool()>& done) {
  {
    MutexLock guard(&mu_);
    waiting_.insert(&cv);
  }
  bool result;
  while (true) {
    if (done()) {
      result = true;
      break;
    }
    if (Now() >= deadline) {
      result = false;
      break;
    }
    // Advance() notifies `cv`, but it cannot take the caller's mutex, so a
    // notification could fall between the checks above and the wait; the
    // short real timeout bounds that race instead of losing the wake-up.
    cv.wait_for(lock, std::chrono::milliseconds(2));
  }
  {
    MutexLock guard(&mu_);
    waiting_.erase(waiting_.find(&cv));
  }
  return result;
}

void FakeClock::Advance(Duration duration) {
  MutexLock guard(&mu_);
  now_ += duration;
  wall_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(duration);
  for (std::condition_variable* cv : waiting_) cv->notify_all();
}

void FakeClock::SetWallTime(WallTime wall) {
  MutexLock guard(&mu_);
  wall_ = wall;
}

int FakeClock::waiters() const {
  MutexLock guard(&mu_);
  return static_cast<int>(waiting_.size());
}

}  // namespace lballoc
