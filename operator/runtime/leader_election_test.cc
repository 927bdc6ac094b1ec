#include "operator/runtime/leader_election.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "operator/base/clock.h"
#include "test/testing/eventually.h"
#include "test/testing/fake_clock.h"
#include "test/testing/fake_lease.h"
#include "test/testing/fake_transport.h"
#include "test/testing/status_matchers.h"

namespace lballoc::runtime {
namespace {

using ::lballoc::runtime::fakes::FakeLeaseLock;
using ::lballoc::runtime::fakes::FakeLeaseServer;
using ::lballoc::runtime::fakes::LeaderTracker;

using ::lballoc::testing::IsOk;
using ::lballoc::testing::StatusIs;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

LeaderElectionConfig Config(const std::string& identity, Clock* clock, MetricsRegistry* metrics) {
  LeaderElectionConfig config;
  config.identity = identity;
  config.clock = clock;
  config.metrics = metrics;
  config.name = identity;
  config.jitter_factor = 0;
  return config;
}

std::unique_ptr<LeaderElector> NewElector(LeaseLock& lock, LeaderElectionConfig config,
                                          LeaderCallbacks callbacks = {}) {
  auto elector = LeaderElector::Create(lock, std::move(config), std::move(callbacks));
  EXPECT_TRUE(elector.ok()) << elector.status();
  return std::move(elector).value();
}

TEST(LeaderElectionConfigTest, Validation) {
  FakeLeaseServer server;
  FakeLeaseLock lock(server);
  MetricsRegistry metrics;
  auto config = Config("", nullptr, &metrics);
  EXPECT_THAT(LeaderElector::Create(lock, config, {}).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("identity")));
  config = Config("a", nullptr, &metrics);
  config.renew_deadline = seconds(15);
  EXPECT_THAT(LeaderElector::Create(lock, config, {}).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("renew deadline")));
  config = Config("a", nullptr, &metrics);
  config.retry_period = seconds(9);
  EXPECT_THAT(LeaderElector::Create(lock, config, {}).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("retry period")));
  EXPECT_TRUE(LeaderElector::Create(lock, Config("a", nullptr, &metrics), {}).ok());
}

TEST(LeaderElectionTest, CreatesTheLeaseWhenMissing) {
  FakeClock clock;
  MetricsRegistry metrics;
  FakeLeaseServer server;
  FakeLeaseLock lock(server);
  std::vector<std::string> leaders;
  LeaderCallbacks callbacks;
  callbacks.on_new_leader = [&](const std::string& id) { leaders.push_back(id); };
  auto a = NewElector(lock, Config("a", &clock, &metrics), callbacks);
  EXPECT_TRUE(a->TryAcquireOrRenew());
  api::LeaseSpec spec = server.spec();
  EXPECT_EQ(spec.holder_identity, "a");
  EXPECT_EQ(spec.lease_duration_seconds, 15);
  EXPECT_EQ(spec.lease_transitions, 0);
  EXPECT_EQ(spec.acquire_time, clock.WallNow());
  EXPECT_EQ(spec.renew_time, clock.WallNow());
  EXPECT_EQ(a->GetLeader(), "a");
  EXPECT_THAT(leaders, ::testing::ElementsAre("a"));
  // Renewal moves renewTime only.
  clock.Advance(seconds(2));
  EXPECT_TRUE(a->TryAcquireOrRenew());
  EXPECT_EQ(server.spec().renew_time, clock.WallNow());
  EXPECT_EQ(server.spec().acquire_time, spec.acquire_time);
  EXPECT_EQ(server.spec().lease_transitions, 0);
}

// The other candidate's expiry runs on its own clock from when it saw the record change; the
// Lease's timestamps, however skewed, are never compared with the local clock.
void ExpectTimestampsIgnored(api::Time skewed) {
  FakeClock clock;
  MetricsRegistry metrics;
  FakeLeaseServer server;
  FakeLeaseLock lock_a(server), lock_b(server);
  auto a = NewElector(lock_a, Config("a", &clock, &metrics));
  auto b = NewElector(lock_b, Config("b", &clock, &metrics));
  ASSERT_TRUE(a->TryAcquireOrRenew());
  // a's host writes timestamps from a badly skewed clock.
  server.Edit([&](api::LeaseSpec& spec) {
    spec.renew_time = skewed;
    spec.acquire_time = skewed;
  });
  EXPECT_FALSE(b->TryAcquireOrRenew());  // b first sees this record now
  clock.Advance(seconds(14));
  EXPECT_FALSE(b->TryAcquireOrRenew());
  EXPECT_EQ(server.spec().holder_identity, "a");
  clock.Advance(seconds(1));  // 15 s since b saw the record change
  EXPECT_TRUE(b->TryAcquireOrRenew());
  EXPECT_EQ(server.spec().holder_identity, "b");
  EXPECT_EQ(server.spec().lease_transitions, 1);
  EXPECT_EQ(server.spec().acquire_time, clock.WallNow());
}

TEST(LeaderElectionTest, RenewTimeInThePastDoesNotExpireTheLeaseEarly) {
  ExpectTimestampsIgnored(api::Time(seconds(0)));  // 1970
}

TEST(LeaderElectionTest, RenewTimeInTheFutureDoesNotExtendTheLease) {
  ExpectTimestampsIgnored(api::Time(seconds(4102444800)));  // 2100
}

TEST(LeaderElectionTest, WallClockJumpsDoNotMatter) {
  FakeClock clock;
  MetricsRegistry metrics;
  FakeLeaseServer server;
  FakeLeaseLock lock_a(server), lock_b(server);
  auto a = NewElector(lock_a, Config("a", &clock, &metrics));
  auto b = NewElector(lock_b, Config("b", &clock, &metrics));
  ASSERT_TRUE(a->TryAcquireOrRenew());
  EXPECT_FALSE(b->TryAcquireOrRenew());
  clock.SetWallTime(clock.WallNow() + std::chrono::hours(24));  // b's wall clock leaps a day
  EXPECT_FALSE(b->TryAcquireOrRenew());
  EXPECT_EQ(server.spec().holder_identity, "a");
}

TEST(LeaderElectionTest, RenewalsKeepOthersOut) {
  FakeClock clock;
  MetricsRegistry metrics;
  FakeLeaseServer server;
  FakeLeaseLock lock_a(server), lock_b(server);
  auto a = NewElector(lock_a, Config("a", &clock, &metrics));
  auto b = NewElector(lock_b, Config("b", &clock, &metrics));
  ASSERT_TRUE(a->TryAcquireOrRenew());
  for (int i = 0; i < 30; ++i) {
    clock.Advance(seconds(2));
    ASSERT_TRUE(a->TryAcquireOrRenew()) << i;
    ASSERT_FALSE(b->TryAcquireOrRenew()) << i;
  }
  EXPECT_EQ(server.spec().lease_transitions, 0);
}

TEST(LeaderElectionTest, ConcurrentWriterMakesTheRoundFailOnConflict) {
  FakeClock clock;
  MetricsRegistry metrics;
  FakeLeaseServer server;
  FakeLeaseLock lock_a(server), lock_b(server);
  auto a = NewElector(lock_a, Config("a", &clock, &metrics));
  auto b = NewElector(lock_b, Config("b", &clock, &metrics));
  ASSERT_TRUE(a->TryAcquireOrRenew());
  ASSERT_FALSE(b->TryAcquireOrRenew());
  clock.Advance(seconds(16));  // a stopped renewing; b may take over...
  lock_b.FailNextUpdate();     // ...but someone else wrote between b's GET and PUT
  EXPECT_FALSE(b->TryAcquireOrRenew());
  EXPECT_EQ(server.spec().holder_identity, "a");
  // A stale resourceVersion is rejected by the server itself.
  api::Lease stale = server.Get().value();
  stale.metadata.resource_version = "0";
  EXPECT_THAT(server.Update(stale), StatusIs(StatusCode::kAborted, HasSubstr("modified")));
}

TEST(LeaderElectionTest, ReleaseLetsAnotherCandidateTakeOverAtOnce) {
  FakeClock clock;
  MetricsRegistry metrics;
  FakeLeaseServer server;
  FakeLeaseLock lock_a(server), lock_b(server);
  auto a = NewElector(lock_a, Config("a", &clock, &metrics));
  auto b = NewElector(lock_b, Config("b", &clock, &metrics));
  ASSERT_TRUE(a->TryAcquireOrRenew());
  ASSERT_FALSE(b->TryAcquireOrRenew());
  ASSERT_OK(a->Release());
  api::LeaseSpec released = server.spec();
  EXPECT_EQ(released.holder_identity, "");
  EXPECT_EQ(released.lease_duration_seconds, 1);
  EXPECT_EQ(released.lease_transitions, 0);
  EXPECT_TRUE(b->TryAcquireOrRenew());  // no waiting: the holder is empty
  EXPECT_EQ(server.spec().holder_identity, "b");
  EXPECT_EQ(server.spec().lease_transitions, 1);
  // Releasing a lease someone else holds does nothing.
  ASSERT_OK(a->Release());
  EXPECT_EQ(server.spec().holder_identity, "b");
}

// Finding 5 of issue 10: the observed time of another holder's record is when the GET
// returned, not when the round began; a slow GET must not make the lease expire early.
TEST(LeaderElectionTest, ObservedTimeIsTakenWhenTheReadReturns) {
  FakeClock clock;
  MetricsRegistry metrics;
  FakeLeaseServer server;
  FakeLeaseLock lock_a(server), lock_b(server);
  auto a = NewElector(lock_a, Config("a", &clock, &metrics));
  auto b = NewElector(lock_b, Config("b", &clock, &metrics));
  ASSERT_TRUE(a->TryAcquireOrRenew());
  // b's GET takes 10 s; a renews while it is in flight (the GET sees the renewed record).
  lock_b.set_on_call([&] {
    clock.Advance(seconds(10));
    a->TryAcquireOrRenew();
  });
  EXPECT_FALSE(b->TryAcquireOrRenew());
  lock_b.set_on_call(nullptr);
  clock.Advance(seconds(14));  // 24 s after b's round began, 14 s after its GET returned
  EXPECT_FALSE(b->TryAcquireOrRenew());
  EXPECT_EQ(server.spec().holder_identity, "a");
  clock.Advance(seconds(1));  // 15 s after the GET returned
  EXPECT_TRUE(b->TryAcquireOrRenew());
  EXPECT_EQ(server.spec().holder_identity, "b");
}

// Each lease call gets the time left before the round's deadline as its timeout.
TEST(LeaderElectionTest, LeaseCallsAreBoundedByTheRoundDeadline) {
  FakeClock clock;
  MetricsRegistry metrics;
  FakeLeaseServer server;
  FakeLeaseLock lock(server);
  auto a = NewElector(lock, Config("a", &clock, &metrics));
  lock.set_on_call([&] { clock.Advance(seconds(3)); });  // every call takes 3 s
  // GET (10 s left), then Create (7 s left): a candidate's round ends renew_deadline after
  // it began.
  EXPECT_TRUE(a->TryAcquireOrRenew());
  EXPECT_THAT(lock.timeouts(), ::testing::ElementsAre(seconds(10), seconds(7)));
  // Past the deadline no call is made at all.
  lock.set_on_call([&] { clock.Advance(seconds(11)); });
  server.Edit([](api::LeaseSpec& spec) { spec.holder_identity = "other"; });
  EXPECT_FALSE(a->TryAcquireOrRenew());   // the fast-path PUT took 11 s and lost
  EXPECT_EQ(lock.timeouts().size(), 3u);  // no GET after it: no time was left
}

// on_new_leader reports another holder, a release ("") and this candidate's own acquisition.
TEST(LeaderElectionTest, OnNewLeaderForAnotherHolderAReleaseAndItself) {
  FakeClock clock;
  MetricsRegistry metrics;
  FakeLeaseServer server;
  FakeLeaseLock lock_a(server), lock_b(server);
  std::vector<std::string> seen_by_b;
  LeaderCallbacks callbacks;
  callbacks.on_new_leader = [&](const std::string& id) { seen_by_b.push_back(id); };
  auto a = NewElector(lock_a, Config("a", &clock, &metrics));
  auto b = NewElector(lock_b, Config("b", &clock, &metrics), callbacks);
  ASSERT_TRUE(a->TryAcquireOrRenew());
  EXPECT_FALSE(b->TryAcquireOrRenew());
  EXPECT_FALSE(b->TryAcquireOrRenew());  // the same holder again: no new call
  ASSERT_OK(a->Release());
  EXPECT_TRUE(b->TryAcquireOrRenew());  // sees the release, then takes it
  EXPECT_THAT(seen_by_b, ::testing::ElementsAre("a", "", "b"));
}

// ClientLeaseLock: one request, the timeout on the wire, no Retry-After retry.
TEST(ClientLeaseLockTest, OneBoundedAttemptWithoutRetryAfter) {
  auto transport = std::make_shared<FakeTransport>();
  FakeClock clock;
  RestClient client(transport, clock);
  ClientLeaseLock lock(client, "ns", "lock");
  transport->SetHandler([](const HttpRequest&) {
    HttpResponse response;
    response.status_code = 429;
    response.body = api::ApiStatus::Failure(429, "TooManyRequests", "slow").ToJsonString();
    response.headers["retry-after"] = "1";
    return StatusOr<HttpResponse>(response);
  });
  EXPECT_THAT(lock.Get(milliseconds(1234)), StatusIs(StatusCode::kUnavailable, HasSubstr("slow")));
  std::vector<HttpRequest> requests = transport->requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].timeout, milliseconds(1234));
  EXPECT_EQ(requests[0].target, "/apis/coordination.k8s.io/v1/namespaces/ns/leases/lock");
}

using ::lballoc::testing::Eventually;

// Finding 1 of issue 10: a lease call that hangs past the renew deadline (ignoring its
// timeout) does not keep the leader leading: it steps down at the deadline and the fence
// closes.
TEST(LeaderElectionRunTest, StepsDownAtTheRenewDeadlineWhileACallHangs) {
  FakeClock clock;
  MetricsRegistry metrics;
  FakeLeaseServer server;
  FakeLeaseLock lock(server);
  std::atomic<bool> leading{false};
  std::atomic<bool> stopped{false};
  LeaderCallbacks callbacks;
  callbacks.on_started_leading = [&] { leading = true; };
  callbacks.on_stopped_leading = [&] { stopped = true; };
  auto a = NewElector(lock, Config("a", &clock, &metrics), callbacks);  // 15 s / 10 s / 2 s
  std::thread t([&] { a->Run(); });
  ASSERT_TRUE(Eventually([&] { return leading.load() && clock.waiters() == 1; }));
  ASSERT_OK_AND_ASSIGN(Clock::Duration left, a->TimeLeft());
  EXPECT_EQ(left, seconds(10));
  lock.hang(true);
  clock.Advance(seconds(2));  // the renewal starts and hangs
  ASSERT_TRUE(Eventually([&] { return lock.hanging() == 1; }));
  EXPECT_EQ(lock.timeouts().back(), seconds(8));  // the time left before the deadline
  clock.Advance(seconds(7));
  EXPECT_TRUE(a->IsLeader());
  EXPECT_OK(a->TimeLeft().status());
  clock.Advance(seconds(1));  // the renew deadline: step down with the call still hanging
  ASSERT_TRUE(Eventually([&] { return stopped.load(); }));
  EXPECT_FALSE(a->IsLeader());
  EXPECT_TRUE(IsFencedError(a->TimeLeft().status()));
  EXPECT_EQ(lock.hanging(), 1);
  a->Stop();
  t.join();
  lock.hang(false);
  a.reset();  // joins the abandoned round
}

// Three candidates running for real (short durations on the real clock).
TEST(LeaderElectionRunTest, ThreeCandidatesFailoverAndRelease) {
  MetricsRegistry metrics;
  FakeLeaseServer server;
  LeaderTracker tracker;
  const std::vector<std::string> ids = {"r0", "r1", "r2"};
  std::vector<std::unique_ptr<FakeLeaseLock>> locks;
  std::vector<std::unique_ptr<LeaderElector>> electors;
  std::vector<std::thread> threads;
  const auto retry = milliseconds(300);
  for (const std::string& id : ids) {
    locks.push_back(std::make_unique<FakeLeaseLock>(server));
    LeaderElectionConfig config = Config(id, nullptr, &metrics);
    config.lease_duration = seconds(2);
    config.renew_deadline = seconds(1);
    config.retry_period = retry;
    electors.push_back(NewElector(*locks.back(), config, tracker.For(id)));
  }
  for (auto& e : electors) threads.emplace_back([&e] { e->Run(); });
  auto index_of = [&](const std::string& id) {
    return static_cast<size_t>(std::find(ids.begin(), ids.end(), id) - ids.begin());
  };

  ASSERT_TRUE(Eventually([&] { return !tracker.Leader().empty(); }));
  const std::string first = tracker.Leader();
  EXPECT_EQ(server.spec().holder_identity, first);
  EXPECT_TRUE(electors[index_of(first)]->IsLeader());

  // Cut the leader off the API server: it steps down (renew deadline) before the others may
  // take the lease (lease duration after they last saw it renewed).
  auto cut_at = std::chrono::steady_clock::now();
  locks[index_of(first)]->set_cut(true);
  ASSERT_TRUE(Eventually([&] {
    std::string l = tracker.Leader();
    return !l.empty() && l != first;
  }));
  const std::string second = tracker.Leader();
  {
    std::lock_guard<std::mutex> lock(tracker.mu);
    EXPECT_LE(tracker.max_concurrent, 1);
    EXPECT_LT(tracker.last_stop, tracker.last_start);
    EXPECT_LT(tracker.last_stop - cut_at, milliseconds(1000) + retry);
  }
  EXPECT_FALSE(electors[index_of(first)]->IsLeader());
  EXPECT_EQ(server.spec().holder_identity, second);
  EXPECT_EQ(server.spec().lease_transitions, 1);

  // The old leader reconnects and is a candidate again in the same process (its Run goes on).
  locks[index_of(first)]->set_cut(false);

  // Shutting the leader down releases the lease: someone takes over within a retry period,
  // not a lease duration.
  auto stop_at = std::chrono::steady_clock::now();
  electors[index_of(second)]->Stop();
  threads[index_of(second)].join();
  ASSERT_TRUE(Eventually([&] {
    std::string l = tracker.Leader();
    return !l.empty() && l != second;
  }));
  auto takeover = std::chrono::steady_clock::now() - stop_at;
  EXPECT_LT(takeover, retry + milliseconds(250));
  const std::string third = tracker.Leader();
  // first -> second -> "" (a release keeps the count) -> third.
  EXPECT_EQ(server.spec().lease_transitions, 2);
  {
    std::lock_guard<std::mutex> lock(tracker.mu);
    EXPECT_LE(tracker.max_concurrent, 1);
    EXPECT_EQ(tracker.starts, 3);
  }

  // Stop the rest; whoever leads releases.
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] == second) continue;
    electors[i]->Stop();
    threads[i].join();
  }
  EXPECT_EQ(server.spec().holder_identity, "");
  {
    std::lock_guard<std::mutex> lock(tracker.mu);
    EXPECT_EQ(tracker.current, 0);
  }
  auto samples = ParsePrometheusText(metrics.Render());
  ASSERT_OK(samples.status());
  EXPECT_THAT(FindSample(*samples, "leader_election_master_status", {{"name", third}}),
              ::lballoc::testing::IsOkAndHolds(0.0));
}

TEST(LeaderElectionRunTest, LeaderStepsDownAtOnceWhenAnotherHolderAppears) {
  MetricsRegistry metrics;
  FakeLeaseServer server;
  FakeLeaseLock lock(server);
  std::atomic<bool> leading{false};
  std::atomic<bool> stopped{false};
  LeaderCallbacks callbacks;
  callbacks.on_started_leading = [&] { leading = true; };
  callbacks.on_stopped_leading = [&] { stopped = true; };
  LeaderElectionConfig config = Config("a", nullptr, &metrics);
  config.lease_duration = seconds(60);
  config.renew_deadline = seconds(50);
  config.retry_period = milliseconds(20);
  auto a = NewElector(lock, config, callbacks);
  std::thread t([&] { a->Run(); });
  ASSERT_TRUE(Eventually([&] { return leading.load(); }));
  // An operator (or a replica with a broken clock) overwrites the holder.
  server.Edit([](api::LeaseSpec& spec) { spec.holder_identity = "intruder"; });
  // Noticed at the next renewal, long before the 50 s renew deadline.
  ASSERT_TRUE(Eventually([&] { return stopped.load(); }, seconds(5)));
  EXPECT_FALSE(a->IsLeader());
  EXPECT_EQ(a->GetLeader(), "intruder");
  a->Stop();
  t.join();
  EXPECT_EQ(server.spec().holder_identity, "intruder");  // not ours to release
}

TEST(LeaderElectionRunTest, StopBeforeLeadingReturnsWithoutCallbacks) {
  MetricsRegistry metrics;
  FakeLeaseServer server;
  FakeLeaseLock lock(server);
  lock.set_cut(true);
  std::atomic<int> calls{0};
  LeaderCallbacks callbacks;
  callbacks.on_started_leading = [&] { ++calls; };
  callbacks.on_stopped_leading = [&] { ++calls; };
  LeaderElectionConfig config = Config("a", nullptr, &metrics);
  auto a = NewElector(lock, config, callbacks);
  std::thread t([&] { a->Run(); });
  std::this_thread::sleep_for(milliseconds(20));
  a->Stop();
  t.join();
  EXPECT_EQ(calls.load(), 0);
}

}  // namespace
}  // namespace lballoc::runtime
