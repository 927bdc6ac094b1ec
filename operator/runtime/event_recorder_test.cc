// ClientEventRecorder against the in-memory API server: creation, repeats
// aggregated into count/lastTimestamp within the window, new Events after it,
// cluster-scoped objects, an Event deleted on the server, an unreachable server.
#include "operator/runtime/event_recorder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api/core_v1.h"
#include "test/apiserver/api_server.h"
#include "test/testing/fake_clock.h"
#include "test/testing/fake_event_recorder.h"
#include "test/testing/status_matchers.h"

namespace lballoc::runtime {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class EventRecorderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = apiserver::ApiServer::Start({});
    ASSERT_OK(server.status());
    server_ = std::move(server).value();
    RestConfig config;
    config.server = server_->url();
    config.source = "test";
    auto client = NewClient(config);
    ASSERT_OK(client.status());
    client_ = std::move(client).value();
    svc_.metadata.name = "web";
    svc_.metadata.namespace_ = "default";
    svc_.metadata.uid = "uid-1";
  }

  std::vector<api::Event> Events(const std::string& ns) {
    TypedClient<api::Event> events(*client_);
    auto list = events.ListAll(ns);
    EXPECT_OK(list.status());
    return list.ok() ? list->items : std::vector<api::Event>{};
  }

  EventRecorderOptions Options() {
    EventRecorderOptions o;
    o.component = "lballoc-operator";
    o.host = "node-1";
    o.max_attempts = 1;
    return o;
  }

  std::unique_ptr<apiserver::ApiServer> server_;
  std::unique_ptr<Client> client_;
  FakeClock clock_;
  api::Service svc_;
};

TEST_F(EventRecorderTest, RepeatsWithinTheWindowArePatchedNotCreated) {
  ClientEventRecorder recorder(*client_, Options(), clock_);
  api::Time t0 = clock_.WallNow();
  recorder.Event(svc_, kEventTypeNormal, "AddressAllocated", "192.0.2.1 from pool public");
  recorder.Flush();
  clock_.Advance(std::chrono::minutes(1));
  recorder.Event(svc_, kEventTypeNormal, "AddressAllocated", "192.0.2.1 from pool public");
  recorder.Flush();
  clock_.Advance(std::chrono::minutes(1));
  recorder.Event(svc_, kEventTypeNormal, "AddressAllocated", "192.0.2.1 from pool public");
  recorder.Event(svc_, kEventTypeWarning, "AllocationFailed", "pool public is exhausted");
  recorder.Flush();

  std::vector<api::Event> events = Events("default");
  ASSERT_EQ(events.size(), 2u);
  const api::Event* allocated = nullptr;
  const api::Event* failed = nullptr;
  for (const api::Event& e : events) (e.reason == "AddressAllocated" ? allocated : failed) = &e;
  ASSERT_NE(allocated, nullptr);
  ASSERT_NE(failed, nullptr);
  EXPECT_EQ(allocated->count, 3);
  EXPECT_EQ(allocated->type, "Normal");
  EXPECT_EQ(allocated->message, "192.0.2.1 from pool public");
  EXPECT_EQ(allocated->first_timestamp, t0);
  EXPECT_EQ(allocated->last_timestamp, t0 + std::chrono::minutes(2));
  EXPECT_EQ(allocated->involved_object.kind, "Service");
  EXPECT_EQ(allocated->involved_object.api_version, "v1");
  EXPECT_EQ(allocated->involved_object.name, "web");
  EXPECT_EQ(allocated->involved_object.uid, "uid-1");
  EXPECT_EQ(allocated->source_component, "lballoc-operator");
  EXPECT_EQ(allocated->source_host, "node-1");
  EXPECT_THAT(allocated->metadata.name, HasSubstr("web."));
  EXPECT_EQ(failed->count, 1);
  EXPECT_EQ(failed->type, "Warning");
  auto c = recorder.counters();
  EXPECT_EQ(c.created, 2);
  EXPECT_EQ(c.patched, 2);
  EXPECT_EQ(c.failed, 0);
}

TEST_F(EventRecorderTest, AfterTheWindowOrADeletionANewEventIsCreated) {
  ClientEventRecorder recorder(*client_, Options(), clock_);
  recorder.Event(svc_, kEventTypeNormal, "AddressReleased", "192.0.2.1");
  recorder.Flush();
  clock_.Advance(std::chrono::minutes(11));
  recorder.Event(svc_, kEventTypeNormal, "AddressReleased", "192.0.2.1");
  recorder.Flush();
  ASSERT_EQ(Events("default").size(), 2u);

  // Someone deleted the Event: the next repeat creates a fresh one.
  std::vector<api::Event> before = Events("default");
  TypedClient<api::Event> events(*client_);
  for (const api::Event& e : before) ASSERT_OK(events.Delete("default", e.metadata.name));
  recorder.Event(svc_, kEventTypeNormal, "AddressReleased", "192.0.2.1");
  recorder.Flush();
  std::vector<api::Event> after = Events("default");
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].count, 1);
  EXPECT_EQ(recorder.counters().created, 3);
}

TEST_F(EventRecorderTest, ClusterScopedObjectsGoToDefault) {
  ClientEventRecorder recorder(*client_, Options(), clock_);
  api::Namespace ns;
  ns.metadata.name = "kube-system";
  recorder.Event(ns, kEventTypeNormal, "Seen", "hello");
  recorder.Flush();
  std::vector<api::Event> events = Events("default");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].involved_object.kind, "Namespace");
  EXPECT_EQ(events[0].involved_object.namespace_, "");
}

TEST_F(EventRecorderTest, UnreachableServerFailsWithoutBlockingTheCaller) {
  ClientEventRecorder recorder(*client_, Options(), clock_);
  server_->Stop();
  recorder.Event(svc_, kEventTypeWarning, "AllocationFailed", "x");
  recorder.Flush();
  EXPECT_EQ(recorder.counters().failed, 1);
  recorder.Shutdown();
  recorder.Event(svc_, kEventTypeWarning, "AllocationFailed", "after shutdown");
  EXPECT_EQ(recorder.counters().dropped, 1);
}

// Issue 14: the spam filter remembers at most cache_size keys, forgetting the least recently
// seen (it used to sweep every key on each event once over size: quadratic in a burst of new
// Services). A forgotten object starts again with a full burst.
TEST_F(EventRecorderTest, SpamFilterForgetsTheLeastRecentlySeenBeyondItsSize) {
  EventRecorderOptions o = Options();
  o.cache_size = 3;
  o.spam_burst = 2;
  ClientEventRecorder recorder(*client_, o, clock_);
  auto ref = [](const std::string& name) {
    api::ObjectReference r;
    r.api_version = "v1";
    r.kind = "Service";
    r.namespace_ = "default";
    r.name = name;
    r.uid = "uid-" + name;
    return r;
  };
  for (int i = 0; i < 3; ++i) recorder.Record(ref("a"), kEventTypeNormal, "R", "m");
  EXPECT_EQ(recorder.counters().spam_filtered, 1);  // a's burst of 2 is spent
  recorder.Record(ref("b"), kEventTypeNormal, "R", "m");
  recorder.Record(ref("c"), kEventTypeNormal, "R", "m");
  recorder.Record(ref("a"), kEventTypeNormal, "R", "m");  // still remembered: filtered
  EXPECT_EQ(recorder.counters().spam_filtered, 2);
  recorder.Record(ref("d"), kEventTypeNormal, "R", "m");  // forgets b, the least recent
  recorder.Record(ref("e"), kEventTypeNormal, "R", "m");  // forgets c
  EXPECT_EQ(recorder.spam_filter_size(), 3u);
  recorder.Record(ref("f"), kEventTypeNormal, "R", "m");  // forgets a
  recorder.Record(ref("a"), kEventTypeNormal, "R", "m");  // a full burst again
  EXPECT_EQ(recorder.counters().spam_filtered, 2);
  EXPECT_EQ(recorder.spam_filter_size(), 3u);
  recorder.Flush();
}

// Found by clang-tidy (bugprone-narrowing-conversions): the refill divided two durations as
// integers, so the part of a period that had passed was lost at every event and a steady
// trickle (one a minute, refill every 5) never earned a token back.
TEST_F(EventRecorderTest, SpamFilterRefillsFromPartsOfAPeriod) {
  ClientEventRecorder recorder(*client_, Options(), clock_);
  for (int i = 0; i < 25; ++i) recorder.Event(svc_, kEventTypeWarning, "Flapping", "again");
  recorder.Flush();
  EXPECT_EQ(recorder.counters().spam_filtered, 0);
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(std::chrono::seconds(61));
    recorder.Event(svc_, kEventTypeWarning, "Flapping", "again");
  }
  recorder.Flush();
  // After 61..244 s less than one token has come back (filtered); after 305 s one has.
  EXPECT_EQ(recorder.counters().spam_filtered, 4);
}

// Finding 12 of issue 10: a burst of 25 per object and reason, then one per 5 minutes; the
// repeats that pass are counted into one Event.
TEST_F(EventRecorderTest, SpamFilterAllowsABurstThenOnePerFiveMinutes) {
  ClientEventRecorder recorder(*client_, Options(), clock_);
  for (int i = 0; i < 30; ++i) recorder.Event(svc_, kEventTypeWarning, "Flapping", "again");
  recorder.Event(svc_, kEventTypeNormal, "Other", "another reason is not filtered");
  recorder.Flush();
  EXPECT_EQ(recorder.counters().spam_filtered, 5);
  EXPECT_EQ(recorder.counters().created, 2);
  EXPECT_EQ(recorder.counters().patched, 24);
  clock_.Advance(std::chrono::minutes(5));  // one token back
  recorder.Event(svc_, kEventTypeWarning, "Flapping", "again");
  recorder.Event(svc_, kEventTypeWarning, "Flapping", "again");
  recorder.Flush();
  EXPECT_EQ(recorder.counters().spam_filtered, 6);
  int flapping = 0;
  for (const api::Event& e : Events("default")) {
    if (e.reason == "Flapping") flapping = e.count;
  }
  EXPECT_EQ(flapping, 26);
}

// Finding 12 of issue 10: shutdown against an unreachable server is bounded by
// shutdown_timeout (it used to try every queued event 3 times with 1 s sleeps) and the caller
// never blocks on Record().
TEST_F(EventRecorderTest, ShutdownIsBoundedWhenTheServerIsUnreachable) {
  EventRecorderOptions options = Options();
  options.max_attempts = 3;
  options.retry_delay = std::chrono::seconds(1);
  options.shutdown_timeout = std::chrono::milliseconds(300);
  options.queue_size = 40;
  ClientEventRecorder recorder(*client_, options);  // real clock
  server_->Stop();
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 50; ++i) {
    recorder.Event(svc_, kEventTypeWarning, "Reason" + std::to_string(i), "x");
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
  EXPECT_GE(recorder.counters().dropped, 9);  // the queue holds 40 (one may be in flight)
  recorder.Shutdown();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  ClientEventRecorder::Counters counters = recorder.counters();
  EXPECT_EQ(counters.created, 0);
  EXPECT_GE(counters.dropped, 45);
}

// An Unavailable write is retried (here: the first create gets a 503) and the caller never
// waits for it.
TEST_F(EventRecorderTest, UnavailableWritesAreRetried) {
  EventRecorderOptions options = Options();
  options.max_attempts = 3;
  options.retry_delay = std::chrono::milliseconds(10);
  ClientEventRecorder recorder(*client_, options);         // real clock
  server_->faults().FailNext("create", "events", 500, 1);  // no Retry-After: the recorder retries
  recorder.Event(svc_, kEventTypeNormal, "Retried", "once");
  recorder.Flush();
  EXPECT_EQ(recorder.counters().created, 1);
  EXPECT_EQ(recorder.counters().failed, 0);
  EXPECT_EQ(Events("default").size(), 1u);
}

TEST(FakeEventRecorderTest, KeepsWhatItWasGiven) {
  FakeEventRecorder fake;
  api::Service svc;
  svc.metadata.name = "web";
  svc.metadata.namespace_ = "prod";
  EventRecorder& recorder = fake;
  recorder.Event(svc, kEventTypeNormal, "AddressAllocated", "192.0.2.1");
  EXPECT_THAT(fake.lines(), ElementsAre("Normal AddressAllocated prod/web: 192.0.2.1"));
  EXPECT_EQ(fake.events()[0].object.kind, "Service");
  fake.Clear();
  EXPECT_TRUE(fake.events().empty());
}

}  // namespace
}  // namespace lballoc::runtime
