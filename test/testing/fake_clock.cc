#include "test/testing/fake_clock.h"

namespace lballoc {

FakeClock::FakeClock()
    : now_(TimePoint(std::chrono::hours(1000))),
      wall_(std::chrono::system_clock::time_point(std::chrono::seconds(1767225600))) {}

Clock::TimePoint FakeClock::Now() const {
  std::lock_guard<std::mutex> guard(mu_);
  return now_;
}

Clock::WallTime FakeClock::WallNow() const {
  std::lock_guard<std::mutex> guard(mu_);
  return wall_;
}

bool FakeClock::WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                          TimePoint deadline, const std::function<bool()>& done) {
  {
    std::lock_guard<std::mutex> guard(mu_);
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
    std::lock_guard<std::mutex> guard(mu_);
    waiting_.erase(waiting_.find(&cv));
  }
  return result;
}

void FakeClock::Advance(Duration duration) {
  std::lock_guard<std::mutex> guard(mu_);
  now_ += duration;
  wall_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(duration);
  for (std::condition_variable* cv : waiting_) cv->notify_all();
}

void FakeClock::SetWallTime(WallTime wall) {
  std::lock_guard<std::mutex> guard(mu_);
  wall_ = wall;
}

int FakeClock::waiters() const {
  std::lock_guard<std::mutex> guard(mu_);
  return static_cast<int>(waiting_.size());
}

}  // namespace lballoc
