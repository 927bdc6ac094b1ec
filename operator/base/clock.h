// Clock: the one source of time for everything that waits or times out.
//
// Code that sleeps, schedules or measures takes a Clock& so tests can drive
// it with a FakeClock (test/testing/fake_clock.h) instead of real seconds. Two kinds of time:
//   Now()      monotonic; for durations, deadlines, lease expiry (never the
//              wall clock: lease timestamps from other hosts are not trusted).
//   WallNow()  calendar time; for timestamps written to objects.
//
// Waiting goes through WaitUntil so that a FakeClock can wake waiters when
// it is advanced. Both implementations are safe for concurrent use.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>

#include "operator/base/mutex.h"
#include "operator/base/thread_annotations.h"

namespace lballoc {

class Clock {
 public:
  using Duration = std::chrono::nanoseconds;
  using TimePoint = std::chrono::time_point<std::chrono::steady_clock, Duration>;
  using WallTime = std::chrono::system_clock::time_point;

  virtual ~Clock() = default;

  virtual TimePoint Now() const = 0;
  virtual WallTime WallNow() const = 0;

  // Waits on `cv` (with `lock` held on entry and on return) until `done()`
  // is true or Now() reaches `deadline`. Returns done(). Callers notify `cv`
  // when the state behind `done` changes, exactly as with a plain
  // condition_variable.
  virtual bool WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                         TimePoint deadline, const std::function<bool()>& done) = 0;

  // The same wait for code that locks a lballoc::Mutex (mutex.h): `mu` is held on entry and
  // on return. `done` runs with `mu` held; it starts with `mu.AssertHeld()` when it reads
  // members guarded by `mu`.
  bool WaitUntil(Mutex& mu, CondVar& cv, TimePoint deadline, const std::function<bool()>& done)
      REQUIRES(mu);

  // Blocks the calling thread for `duration` of this clock's time.
  void SleepFor(Duration duration);

  // The process-wide real clock.
  static Clock& Real();
};

// A clock backed by std::chrono::steady_clock and system_clock.
class RealClock final : public Clock {
 public:
  using Clock::WaitUntil;
  TimePoint Now() const override;
  WallTime WallNow() const override;
  bool WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 TimePoint deadline, const std::function<bool()>& done) override;
};

}  // namespace lballoc
