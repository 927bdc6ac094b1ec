// FakeClock: a Clock (operator/base/clock.h) that moves only when a test says so. Test-only (it
// used to live in operator/base/clock.h).
//
// Thread-safety: safe for concurrent use; Advance() wakes the threads waiting in WaitUntil.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <set>

#include "operator/base/clock.h"

namespace lballoc {

// A clock that moves only when a test calls Advance(). Threads blocked in
// WaitUntil wake when the clock passes their deadline.
class FakeClock final : public Clock {
 public:
  // Starts at an arbitrary fixed monotonic time and wall time
  // 2026-01-01T00:00:00Z, so tests are repeatable.
  FakeClock();

  using Clock::WaitUntil;  // the lballoc::Mutex overload

  TimePoint Now() const override;
  WallTime WallNow() const override;
  bool WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 TimePoint deadline, const std::function<bool()>& done) override;

  // Moves both monotonic and wall time forward and wakes waiters.
  void Advance(Duration duration);
  // Sets wall time only (to simulate a wall-clock jump); Now() is unchanged.
  void SetWallTime(WallTime wall);

  // Number of threads currently blocked in WaitUntil; lets a test wait until
  // the code under test has gone to sleep before advancing.
  int waiters() const;

 private:
  mutable std::mutex mu_;
  TimePoint now_;
  WallTime wall_;
  std::multiset<std::condition_variable*> waiting_;
};

}  // namespace lballoc
