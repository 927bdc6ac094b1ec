// ClientEventRecorder against the in-memory API server: creation, repeats
// aggregated into count/lastTimestamp within the window, new Events after it,
// cluster-scoped objects, an Event deleted on the server, an unreachable server.
#include "operator/runtime/event_recorder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api/core_v1.h"
#include "test/apiserver/api_server.h"
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
