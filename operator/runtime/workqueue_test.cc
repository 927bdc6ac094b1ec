#include "operator/runtime/workqueue.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "operator/base/clock.h"
#include "operator/runtime/rate_limiter.h"
#include "operator/runtime/reconciler.h"
#include "test/testing/fake_clock.h"

namespace lballoc::runtime {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::ElementsAre;

// Polls `cond` on the real clock for up to 10 s; for conditions set by other threads.
template <typename F>
bool Eventually(F cond) {
  auto deadline = std::chrono::steady_clock::now() + seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return cond();
}

Request R(const std::string& name) { return Request{"ns", name}; }

TEST(RequestTest, EqualityHashAndString) {
  EXPECT_EQ(R("a"), (Request{"ns", "a"}));
  EXPECT_NE((Request{"a", "bc"}), (Request{"ab", "c"}));
  EXPECT_NE(RequestHash()(Request{"a", "bc"}), RequestHash()(Request{"ab", "c"}));
  EXPECT_EQ(R("a").ToString(), "ns/a");
  EXPECT_EQ((Request{"", "pool"}).ToString(), "pool");
}

TEST(RateLimiterTest, ItemExponentialDoublesFromFiveMillisAndCaps) {
  ItemExponentialFailureRateLimiter<Request> limiter(milliseconds(5), seconds(1000));
  std::vector<Clock::Duration> delays;
  for (int i = 0; i < 5; ++i) delays.push_back(limiter.When(R("a")));
  EXPECT_THAT(delays, ElementsAre(milliseconds(5), milliseconds(10), milliseconds(20),
                                  milliseconds(40), milliseconds(80)));
  EXPECT_EQ(limiter.NumRequeues(R("a")), 5);
  // Other keys have their own history.
  EXPECT_EQ(limiter.When(R("b")), milliseconds(5));
  // 5ms * 2^17 = 655.36 s is below the cap, 5ms * 2^18 = 1310.72 s is above it.
  for (int i = 5; i < 17; ++i) limiter.When(R("a"));
  EXPECT_EQ(limiter.When(R("a")), milliseconds(655360));
  EXPECT_EQ(limiter.When(R("a")), seconds(1000));
  for (int i = 0; i < 100; ++i) limiter.When(R("a"));
  EXPECT_EQ(limiter.When(R("a")), seconds(1000));  // no overflow after many failures
  limiter.Forget(R("a"));
  EXPECT_EQ(limiter.NumRequeues(R("a")), 0);
  EXPECT_EQ(limiter.When(R("a")), milliseconds(5));
}

TEST(RateLimiterTest, BucketAllowsBurstThenSpacesAtQps) {
  FakeClock clock;
  BucketRateLimiter<Request> limiter(clock, 10.0, 100);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(limiter.When(R("x")), Clock::Duration(0)) << i;
  EXPECT_EQ(limiter.When(R("x")), milliseconds(100));
  EXPECT_EQ(limiter.When(R("y")), milliseconds(200));
  // Refills at 10 per second: after 1 s the debt of 2 is paid and 8 tokens are back.
  clock.Advance(seconds(1));
  for (int i = 0; i < 8; ++i) ASSERT_EQ(limiter.When(R("x")), Clock::Duration(0)) << i;
  EXPECT_EQ(limiter.When(R("x")), milliseconds(100));
  // The bucket never holds more than the burst.
  clock.Advance(seconds(3600));
  for (int i = 0; i < 100; ++i) ASSERT_EQ(limiter.When(R("x")), Clock::Duration(0)) << i;
  EXPECT_GT(limiter.When(R("x")), Clock::Duration(0));
  EXPECT_EQ(limiter.NumRequeues(R("x")), 0);
}

TEST(RateLimiterTest, DefaultIsMaxOfItemAndBucket) {
  FakeClock clock;
  auto limiter = DefaultControllerRateLimiter<Request>(clock);
  EXPECT_EQ(limiter->When(R("a")), milliseconds(5));
  EXPECT_EQ(limiter->When(R("a")), milliseconds(10));
  EXPECT_EQ(limiter->NumRequeues(R("a")), 2);
  // Exhaust the bucket with other keys: the bucket's delay now dominates the item's 5 ms.
  for (int i = 0; i < 98; ++i) limiter->When(R("k" + std::to_string(i)));
  EXPECT_EQ(limiter->When(R("b")), milliseconds(100));
  limiter->Forget(R("a"));
  EXPECT_EQ(limiter->NumRequeues(R("a")), 0);
}

TEST(WorkQueueTest, DeduplicatesQueuedKeys) {
  FakeClock clock;
  WorkQueue<Request> queue(clock);
  queue.Add(R("a"));
  queue.Add(R("b"));
  queue.Add(R("a"));
  EXPECT_EQ(queue.Len(), 2u);
  EXPECT_EQ(queue.adds_total(), 2u);
  EXPECT_EQ(queue.Get(), R("a"));
  EXPECT_EQ(queue.Get(), R("b"));
  EXPECT_EQ(queue.TryGet(), std::nullopt);
}

TEST(WorkQueueTest, KeyAddedWhileProcessingIsRequeuedOnlyAfterDone) {
  FakeClock clock;
  WorkQueue<Request> queue(clock);
  queue.Add(R("a"));
  ASSERT_EQ(queue.Get(), R("a"));
  queue.Add(R("a"));
  queue.Add(R("a"));
  // Not handed out a second time while processing.
  EXPECT_EQ(queue.Len(), 0u);
  EXPECT_EQ(queue.TryGet(), std::nullopt);
  queue.Done(R("a"));
  EXPECT_EQ(queue.Len(), 1u);
  EXPECT_EQ(queue.Get(), R("a"));
  queue.Done(R("a"));
  EXPECT_EQ(queue.Len(), 0u);
  EXPECT_EQ(queue.NumProcessing(), 0u);
}

TEST(WorkQueueTest, AddAfterWaitsForTheClockAndEarlierTimeWins) {
  FakeClock clock;
  WorkQueue<Request> queue(clock);
  queue.AddAfter(R("late"), seconds(10));
  queue.AddAfter(R("a"), seconds(5));
  queue.AddAfter(R("a"), seconds(2));  // earlier: replaces 5 s
  queue.AddAfter(R("a"), seconds(8));  // later: ignored
  queue.AddAfter(R("now"), Clock::Duration(0));
  EXPECT_EQ(queue.Len(), 1u);
  EXPECT_EQ(queue.NumWaiting(), 2u);
  EXPECT_EQ(queue.Get(), R("now"));
  clock.Advance(milliseconds(1999));
  EXPECT_EQ(queue.TryGet(), std::nullopt);
  clock.Advance(milliseconds(1));
  EXPECT_EQ(queue.TryGet(), R("a"));
  queue.Done(R("a"));
  clock.Advance(seconds(6));  // t = 8 s: the ignored 8 s re-add must not resurface
  EXPECT_EQ(queue.TryGet(), std::nullopt);
  clock.Advance(seconds(2));
  EXPECT_EQ(queue.TryGet(), R("late"));
}

TEST(WorkQueueTest, DelayedKeysComeOutInReadyOrder) {
  FakeClock clock;
  WorkQueue<Request> queue(clock);
  queue.AddAfter(R("c"), seconds(3));
  queue.AddAfter(R("a"), seconds(1));
  queue.AddAfter(R("b"), seconds(2));
  clock.Advance(seconds(5));
  std::vector<Request> got;
  while (auto item = queue.TryGet()) got.push_back(*item);
  EXPECT_THAT(got, ElementsAre(R("a"), R("b"), R("c")));
}

TEST(WorkQueueTest, DelayedKeyAlreadyQueuedIsNotDuplicated) {
  FakeClock clock;
  WorkQueue<Request> queue(clock);
  queue.Add(R("a"));
  queue.AddAfter(R("a"), seconds(1));
  clock.Advance(seconds(1));
  EXPECT_EQ(queue.Len(), 1u);
  EXPECT_EQ(queue.Get(), R("a"));
  EXPECT_EQ(queue.TryGet(), std::nullopt);
}

TEST(WorkQueueTest, BlockedGetWakesWhenFakeClockPassesTheDelay) {
  FakeClock clock;
  WorkQueue<Request> queue(clock);
  queue.AddAfter(R("a"), seconds(30));
  std::atomic<bool> got{false};
  std::thread worker([&] {
    auto item = queue.Get();
    got = item.has_value() && *item == R("a");
  });
  ASSERT_TRUE(Eventually([&] { return clock.waiters() == 1; }));
  EXPECT_FALSE(got.load());
  clock.Advance(seconds(30));
  worker.join();
  EXPECT_TRUE(got.load());
}

TEST(WorkQueueTest, BlockedGetRecomputesDeadlineWhenAnEarlierKeyArrives) {
  FakeClock clock;
  WorkQueue<Request> queue(clock);
  queue.AddAfter(R("far"), seconds(1000));
  std::optional<Request> got;
  std::thread worker([&] { got = queue.Get(); });
  ASSERT_TRUE(Eventually([&] { return clock.waiters() == 1; }));
  queue.AddAfter(R("near"), seconds(1));
  clock.Advance(seconds(1));
  worker.join();
  EXPECT_EQ(got, R("near"));
}

TEST(WorkQueueTest, RateLimitedAddsBackOffAndForgetResets) {
  FakeClock clock;
  WorkQueue<Request> queue(clock);
  queue.AddRateLimited(R("a"));  // 5 ms
  EXPECT_EQ(queue.NumRequeues(R("a")), 1);
  clock.Advance(milliseconds(4));
  EXPECT_EQ(queue.TryGet(), std::nullopt);
  clock.Advance(milliseconds(1));
  ASSERT_EQ(queue.TryGet(), R("a"));
  queue.Done(R("a"));
  queue.AddRateLimited(R("a"));  // 10 ms
  clock.Advance(milliseconds(9));
  EXPECT_EQ(queue.TryGet(), std::nullopt);
  clock.Advance(milliseconds(1));
  ASSERT_EQ(queue.TryGet(), R("a"));
  queue.Done(R("a"));
  EXPECT_EQ(queue.retries_total(), 2u);
  queue.Forget(R("a"));
  EXPECT_EQ(queue.NumRequeues(R("a")), 0);
  queue.AddRateLimited(R("a"));  // back to 5 ms
  clock.Advance(milliseconds(5));
  EXPECT_EQ(queue.TryGet(), R("a"));
}

TEST(WorkQueueTest, ShutDownLetsWorkersDrainQueuedKeysThenReturnsNullopt) {
  FakeClock clock;
  WorkQueue<Request> queue(clock);
  queue.Add(R("a"));
  queue.AddAfter(R("delayed"), seconds(1));
  queue.ShutDown();
  queue.Add(R("b"));  // ignored
  queue.AddRateLimited(R("c"));
  EXPECT_TRUE(queue.ShuttingDown());
  EXPECT_EQ(queue.Get(), R("a"));
  clock.Advance(seconds(2));
  EXPECT_EQ(queue.Get(), std::nullopt);  // delayed keys are dropped at shutdown
  queue.Done(R("a"));
}

TEST(WorkQueueTest, ShutDownWakesBlockedWorkers) {
  FakeClock clock;
  WorkQueue<Request> queue(clock);
  std::vector<std::thread> workers;
  std::atomic<int> stopped{0};
  for (int i = 0; i < 3; ++i) {
    workers.emplace_back([&] {
      if (!queue.Get().has_value()) ++stopped;
    });
  }
  ASSERT_TRUE(Eventually([&] { return clock.waiters() == 3; }));
  queue.ShutDown();
  for (auto& w : workers) w.join();
  EXPECT_EQ(stopped.load(), 3);
}

TEST(WorkQueueTest, ShutDownWithDrainWaitsForKeysInProcessing) {
  FakeClock clock;
  WorkQueue<Request> queue(clock);
  queue.Add(R("a"));
  ASSERT_EQ(queue.Get(), R("a"));
  std::atomic<bool> drained{false};
  std::thread closer([&] { drained = queue.ShutDownWithDrain(); });
  ASSERT_TRUE(Eventually([&] { return queue.ShuttingDown(); }));
  ASSERT_TRUE(Eventually([&] { return clock.waiters() == 1; }));
  EXPECT_FALSE(drained.load());
  queue.Done(R("a"));
  closer.join();
  EXPECT_TRUE(drained.load());
}

TEST(WorkQueueTest, ShutDownWithDrainGivesUpAfterTimeout) {
  FakeClock clock;
  WorkQueue<Request> queue(clock);
  queue.Add(R("a"));
  ASSERT_EQ(queue.Get(), R("a"));
  std::atomic<int> result{-1};
  std::thread closer([&] { result = queue.ShutDownWithDrain(seconds(5)) ? 1 : 0; });
  ASSERT_TRUE(Eventually([&] { return clock.waiters() == 1; }));
  clock.Advance(seconds(5));
  closer.join();
  EXPECT_EQ(result.load(), 0);
}

// Many threads hammer one small key space: no key is ever held by two workers at once, and the
// drain leaves nothing queued.
TEST(WorkQueueTest, ConcurrentWorkersNeverShareAKey) {
  WorkQueue<Request> queue(Clock::Real());
  constexpr int kKeys = 8;
  std::vector<std::atomic<int>> holders(kKeys);
  std::atomic<bool> overlap{false};
  std::atomic<int> processed{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&] {
      while (auto item = queue.Get()) {
        int k = std::stoi(item->name);
        if (holders[k].fetch_add(1) != 0) overlap = true;
        std::this_thread::yield();
        holders[k].fetch_sub(1);
        ++processed;
        queue.Done(*item);
      }
    });
  }
  std::vector<std::thread> producers;
  for (int p = 0; p < 2; ++p) {
    producers.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) queue.Add(R(std::to_string(i % kKeys)));
    });
  }
  for (auto& p : producers) p.join();
  ASSERT_TRUE(queue.ShutDownWithDrain(seconds(30)));
  for (auto& w : workers) w.join();
  EXPECT_FALSE(overlap.load());
  EXPECT_GE(processed.load(), kKeys);
  EXPECT_EQ(queue.Len(), 0u);
}

// client-go's latency metrics: queue duration runs from the first Add to Get, work duration
// from Get to Done; the in-progress gauges are computed from the keys being processed.
TEST(WorkQueueTest, ReportsQueueAndWorkDurationsAndUnfinishedWork) {
  FakeClock clock;
  Histogram queue_duration(WorkQueueDurationBuckets());
  Histogram work_duration(WorkQueueDurationBuckets());
  WorkQueue<Request> queue(clock, nullptr, WorkQueueMetrics{&queue_duration, &work_duration});
  queue.Add(R("a"));
  clock.Advance(seconds(2));
  queue.Add(R("a"));  // already queued: does not restart the clock
  queue.Add(R("b"));
  clock.Advance(seconds(1));
  ASSERT_EQ(queue.Get(), R("a"));
  EXPECT_EQ(queue_duration.Count(), 1u);
  EXPECT_DOUBLE_EQ(queue_duration.Sum(), 3.0);
  ASSERT_EQ(queue.Get(), R("b"));
  EXPECT_EQ(queue_duration.Count(), 2u);
  EXPECT_DOUBLE_EQ(queue_duration.Sum(), 4.0);
  EXPECT_DOUBLE_EQ(queue.UnfinishedWorkSeconds(), 0.0);

  clock.Advance(seconds(5));
  EXPECT_DOUBLE_EQ(queue.UnfinishedWorkSeconds(), 10.0);  // a and b, 5 s each
  EXPECT_DOUBLE_EQ(queue.LongestRunningProcessorSeconds(), 5.0);
  queue.Done(R("a"));
  EXPECT_EQ(work_duration.Count(), 1u);
  EXPECT_DOUBLE_EQ(work_duration.Sum(), 5.0);
  clock.Advance(seconds(1));
  EXPECT_DOUBLE_EQ(queue.UnfinishedWorkSeconds(), 6.0);
  EXPECT_DOUBLE_EQ(queue.LongestRunningProcessorSeconds(), 6.0);

  // Added again while processing: its queue time starts at that Add, not at the Done.
  queue.Add(R("b"));
  clock.Advance(seconds(2));
  queue.Done(R("b"));
  EXPECT_EQ(work_duration.Count(), 2u);
  EXPECT_DOUBLE_EQ(work_duration.Sum(), 13.0);
  clock.Advance(seconds(1));
  ASSERT_EQ(queue.Get(), R("b"));
  EXPECT_DOUBLE_EQ(queue_duration.Sum(), 7.0);
  EXPECT_DOUBLE_EQ(queue.LongestRunningProcessorSeconds(), 0.0);
  queue.Done(R("b"));
  EXPECT_DOUBLE_EQ(queue.UnfinishedWorkSeconds(), 0.0);
  EXPECT_EQ(work_duration.Count(), 3u);
}

// Without histograms the queue still tracks in-progress work (for the gauges).
TEST(WorkQueueTest, InProgressGaugesWorkWithoutHistograms) {
  FakeClock clock;
  WorkQueue<Request> queue(clock);
  queue.Add(R("a"));
  ASSERT_EQ(queue.Get(), R("a"));
  clock.Advance(milliseconds(1500));
  EXPECT_DOUBLE_EQ(queue.LongestRunningProcessorSeconds(), 1.5);
  queue.Done(R("a"));
  EXPECT_DOUBLE_EQ(queue.LongestRunningProcessorSeconds(), 0.0);
}

}  // namespace
}  // namespace lballoc::runtime
