#include "operator/base/clock.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "test/testing/fake_clock.h"

namespace lballoc {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(FakeClockTest, AdvanceMovesBothTimes) {
  FakeClock clock;
  Clock::TimePoint t0 = clock.Now();
  Clock::WallTime w0 = clock.WallNow();
  clock.Advance(seconds(5));
  EXPECT_EQ(clock.Now() - t0, seconds(5));
  EXPECT_EQ(clock.WallNow() - w0, seconds(5));
}

TEST(FakeClockTest, WallJumpDoesNotMoveMonotonicTime) {
  FakeClock clock;
  Clock::TimePoint t0 = clock.Now();
  clock.SetWallTime(clock.WallNow() - std::chrono::hours(3));
  EXPECT_EQ(clock.Now(), t0);
}

TEST(FakeClockTest, SleeperWakesOnlyWhenAdvancedPastDeadline) {
  FakeClock clock;
  std::atomic<bool> woke{false};
  std::thread sleeper([&] {
    clock.SleepFor(seconds(10));
    woke = true;
  });
  while (clock.waiters() == 0) std::this_thread::sleep_for(milliseconds(1));
  clock.Advance(seconds(9));
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_FALSE(woke);
  clock.Advance(seconds(1));
  sleeper.join();
  EXPECT_TRUE(woke);
  EXPECT_EQ(clock.waiters(), 0);
}

TEST(FakeClockTest, WaitUntilReturnsWhenConditionBecomesTrue) {
  FakeClock clock;
  std::mutex mu;
  std::condition_variable cv;
  bool ready = false;
  std::thread waiter([&] {
    std::unique_lock<std::mutex> lock(mu);
    EXPECT_TRUE(clock.WaitUntil(lock, cv, clock.Now() + seconds(60), [&] { return ready; }));
  });
  {
    std::lock_guard<std::mutex> guard(mu);
    ready = true;
  }
  cv.notify_all();
  waiter.join();
}

TEST(RealClockTest, WaitUntilTimesOut) {
  Clock& clock = Clock::Real();
  std::mutex mu;
  std::condition_variable cv;
  std::unique_lock<std::mutex> lock(mu);
  Clock::TimePoint start = clock.Now();
  EXPECT_FALSE(clock.WaitUntil(lock, cv, start + milliseconds(20), [] { return false; }));
  EXPECT_GE(clock.Now() - start, milliseconds(20));
}

}  // namespace
}  // namespace lballoc
