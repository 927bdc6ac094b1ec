// Over 800 lines on purpose: part 1 scripts the reflector step by step and part 2 checks the
// same promises against the in-memory server; both read one header's contract.
// Informer tests. Part 1 drives the reflector through a scripted FakeTransport
// (deterministic: bookmarks, clean and broken watch ends, ERROR 410, HTTP 410,
// missed deletions, paging). Part 2 runs informers against the in-memory API
// server with dropped watches, forced 410s, bookmarks and concurrent writers,
// and checks the cache (and what the handlers saw) ends equal to the server.
#include "operator/runtime/informer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "api/core_v1.h"
#include "test/apiserver/api_server.h"
#include "test/testing/fake_clock.h"
#include "test/testing/fake_transport.h"
#include "test/testing/status_matchers.h"

namespace lballoc::runtime {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

// Polls `pred` (real time) for up to 30 s; when `clock` is given and someone
// sleeps on it, advances it so backoffs pass.
bool Eventually(const std::function<bool()>& pred, FakeClock* clock = nullptr) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    if (clock != nullptr && clock->waiters() > 0) clock->Advance(std::chrono::seconds(61));
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // poll interval
  }
  return pred();
}

std::string Svc(const std::string& ns, const std::string& name, int rv,
                const std::string& app = "web") {
  return R"({"metadata":{"name":")" + name + R"(","namespace":")" + ns +
         R"(","resourceVersion":")" + std::to_string(rv) + R"(","labels":{"app":")" + app +
         R"("},"annotations":{"big":"drop me"},"managedFields":[{"manager":"kubectl"}]},)"
         R"("spec":{"type":"LoadBalancer"}})";
}

std::string Event(const std::string& type, const std::string& object) {
  return R"({"type":")" + type + R"(","object":)" + object + "}";
}

// A hand-driven API server behind a FakeTransport: LIST answers the current
// `objects` (paged), each WATCH gets a FakeStream the test feeds.
class ScriptedServer {
 public:
  explicit ScriptedServer(FakeTransport& transport) {
    transport.SetHandler([this](const HttpRequest& r) { return List(r); });
    transport.SetStreamHandler(
        [this](const HttpRequest& r) -> StatusOr<std::shared_ptr<FakeStream>> {
          std::lock_guard<std::mutex> lock(mu_);
          watch_targets_.push_back(r.target);
          if (!watch_failures_.empty()) {
            int code = watch_failures_.front();
            watch_failures_.erase(watch_failures_.begin());
            auto s = std::make_shared<FakeStream>(code);
            const char* reason = code == 429   ? "TooManyRequests"
                                 : code == 503 ? "ServiceUnavailable"
                                               : "InternalError";
            s->Push(api::ApiStatus::Failure(code, reason, "refused").ToJsonString());
            s->Close();
            return s;
          }
          if (fail_next_watch_with_410_) {
            fail_next_watch_with_410_ = false;
            auto s = std::make_shared<FakeStream>(410);
            s->Push(api::ApiStatus::Failure(410, "Expired", "too old").ToJsonString());
            s->Close();
            return s;
          }
          streams_.push_back(std::make_shared<FakeStream>());
          return streams_.back();
        });
  }

  void Set(std::map<std::string, std::string> objects, int list_rv) {
    std::lock_guard<std::mutex> lock(mu_);
    objects_ = std::move(objects);
    list_rv_ = list_rv;
  }
  // The next LIST carrying a continue token gets 410 Expired.
  void ExpireNextContinue() {
    std::lock_guard<std::mutex> lock(mu_);
    expire_next_continue_ = true;
  }
  void FailNextWatchWith410() {
    std::lock_guard<std::mutex> lock(mu_);
    fail_next_watch_with_410_ = true;
  }
  // The next full LISTs (one per entry) answer damage(the right body) with status 200.
  void DamageNextLists(std::vector<std::function<std::string(std::string)>> damages) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& d : damages) damages_.push_back(std::move(d));
  }
  // The next watch requests are refused, one per code, in order (a Status body, no Retry-After).
  void RefuseNextWatchesWith(std::vector<int> codes) {
    std::lock_guard<std::mutex> lock(mu_);
    watch_failures_ = std::move(codes);
  }
  // The next `n` LISTs (first pages) fail with `code` (a Status body, no Retry-After).
  void FailNextLists(int n, int code) {
    std::lock_guard<std::mutex> lock(mu_);
    failing_lists_ = n;
    list_failure_code_ = code;
  }
  // LIST requests without a continue token, failed ones included.
  int list_attempts() const {
    std::lock_guard<std::mutex> lock(mu_);
    return list_attempts_;
  }
  int lists() const {
    std::lock_guard<std::mutex> lock(mu_);
    return lists_;
  }
  size_t streams() const {
    std::lock_guard<std::mutex> lock(mu_);
    return streams_.size();
  }
  std::shared_ptr<FakeStream> stream(size_t i) const {
    std::lock_guard<std::mutex> lock(mu_);
    return streams_.at(i);
  }
  std::string watch_target(size_t i) const {
    std::lock_guard<std::mutex> lock(mu_);
    return watch_targets_.at(i);
  }
  size_t watch_targets() const {
    std::lock_guard<std::mutex> lock(mu_);
    return watch_targets_.size();
  }
  std::vector<std::string> list_targets() const {
    std::lock_guard<std::mutex> lock(mu_);
    return list_targets_;
  }

 private:
  StatusOr<HttpResponse> List(const HttpRequest& r) {
    std::lock_guard<std::mutex> lock(mu_);
    list_targets_.push_back(r.target);
    size_t limit = 0, start = 0;
    auto param = [&](const std::string& key) -> std::string {
      size_t p = r.target.find(key + "=");
      if (p == std::string::npos) return "";
      size_t e = r.target.find('&', p);
      return r.target.substr(p + key.size() + 1,
                             e == std::string::npos ? e : e - p - key.size() - 1);
    };
    if (!param("limit").empty()) limit = std::stoul(param("limit"));
    if (param("continue").empty()) ++list_attempts_;
    if (param("continue").empty() && failing_lists_ > 0) {
      --failing_lists_;
      HttpResponse failed;
      failed.status_code = list_failure_code_;
      failed.body =
          api::ApiStatus::Failure(list_failure_code_, "InternalError", "etcd down").ToJsonString();
      return failed;
    }
    if (!param("continue").empty() && expire_next_continue_) {
      expire_next_continue_ = false;
      HttpResponse gone;
      gone.status_code = 410;
      gone.body = api::ApiStatus::Failure(410, "Expired", "continue token expired").ToJsonString();
      return gone;
    }
    if (!param("continue").empty()) {
      start = std::stoul(param("continue"));
    } else {
      ++lists_;
    }
    std::vector<std::string> all;
    for (const auto& [k, v] : objects_) all.push_back(v);
    size_t end = limit == 0 ? all.size() : std::min(all.size(), start + limit);
    std::string items;
    for (size_t i = start; i < end; ++i) items += (items.empty() ? "" : ",") + all[i];
    std::string cont = end < all.size() ? std::to_string(end) : "";
    HttpResponse resp;
    resp.status_code = 200;
    resp.body = R"({"kind":"ServiceList","apiVersion":"v1","metadata":{"resourceVersion":")" +
                std::to_string(list_rv_) + R"(","continue":")" + cont + R"("},"items":[)" + items +
                "]}";
    if (param("continue").empty() && !damages_.empty()) {
      resp.body = damages_.front()(resp.body);
      damages_.pop_front();
    }
    return resp;
  }

  mutable std::mutex mu_;
  std::map<std::string, std::string> objects_;
  int list_rv_ = 0;
  int lists_ = 0;
  bool fail_next_watch_with_410_ = false;
  bool expire_next_continue_ = false;
  std::vector<int> watch_failures_;
  int failing_lists_ = 0;
  int list_failure_code_ = 500;
  int list_attempts_ = 0;
  std::vector<std::shared_ptr<FakeStream>> streams_;
  std::vector<std::string> watch_targets_;
  std::vector<std::string> list_targets_;
  std::deque<std::function<std::string(std::string)>> damages_;
};

// Records handler calls as "add ns/name@rv", "update ns/name@old->new", "delete ns/name@rv".
class Recorder {
 public:
  EventHandler<api::Service> Handler() {
    EventHandler<api::Service> h;
    h.on_add = [this](const ObjectPtr<api::Service>& o) {
      Log("add " + ObjectKeyOf(o->metadata) + "@" + o->metadata.resource_version);
    };
    h.on_update = [this](const ObjectPtr<api::Service>& a, const ObjectPtr<api::Service>& b) {
      Log("update " + ObjectKeyOf(b->metadata) + "@" + a->metadata.resource_version + "->" +
          b->metadata.resource_version);
    };
    h.on_delete = [this](const ObjectPtr<api::Service>& o) {
      Log("delete " + ObjectKeyOf(o->metadata) + "@" + o->metadata.resource_version);
    };
    return h;
  }
  std::vector<std::string> log() const {
    std::lock_guard<std::mutex> lock(mu_);
    return log_;
  }
  size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return log_.size();
  }
  // Entries from `from` on.
  std::vector<std::string> since(size_t from) const {
    std::lock_guard<std::mutex> lock(mu_);
    return std::vector<std::string>(log_.begin() + static_cast<long>(std::min(from, log_.size())),
                                    log_.end());
  }

 private:
  void Log(std::string s) {
    std::lock_guard<std::mutex> lock(mu_);
    log_.push_back(std::move(s));
  }
  mutable std::mutex mu_;
  std::vector<std::string> log_;
};

class ScriptedInformerTest : public ::testing::Test {
 protected:
  InformerOptions Options() {
    InformerOptions o;
    o.clock = &clock_;
    o.page_size = 1;
    o.transform = [this](rapidjson::Value& obj, rapidjson::Document::AllocatorType& alloc) {
      ++transformed_;
      StripManagedFields(obj, alloc);
      auto meta = obj.FindMember("metadata");
      auto ann = meta->value.FindMember("annotations");
      if (ann != meta->value.MemberEnd()) ann->value.RemoveMember("big");
    };
    return o;
  }

  std::shared_ptr<FakeTransport> transport_ = std::make_shared<FakeTransport>();
  ScriptedServer server_{*transport_};
  FakeClock clock_;
  RestClient client_{transport_, clock_};
  std::atomic<int> transformed_{0};
  Recorder rec_;
};

TEST_F(ScriptedInformerTest, ListWatchBookmarksRewatchRelistAndMissedDeletions) {
  server_.Set({{"a", Svc("ns1", "a", 5)}, {"b", Svc("ns2", "b", 6)}}, 10);
  Informer<api::Service> informer(client_, Options());
  informer.AddEventHandler(rec_.Handler());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(std::chrono::seconds(30)));
  EXPECT_THAT(rec_.log(), ElementsAre("add ns1/a@5", "add ns2/b@6"));
  // Paged list: one item per page, following continue.
  EXPECT_EQ(server_.list_targets().size(), 2u);
  EXPECT_THAT(server_.list_targets()[1], HasSubstr("continue=1"));
  // The transform ran before decode: the dropped annotation is not cached.
  EXPECT_EQ(informer.store().Get("ns1", "a")->metadata.annotations.count("big"), 0u);
  EXPECT_EQ(informer.store().Get("ns1", "a")->metadata.labels.at("app"), "web");

  ASSERT_TRUE(Eventually([&] { return server_.streams() == 1; }));
  EXPECT_THAT(server_.watch_target(0), HasSubstr("watch=true&resourceVersion=10"));
  EXPECT_THAT(server_.watch_target(0), HasSubstr("allowWatchBookmarks=true"));
  EXPECT_THAT(server_.watch_target(0), HasSubstr("timeoutSeconds="));

  auto s0 = server_.stream(0);
  s0->Push(Event("MODIFIED", Svc("ns1", "a", 11)));
  s0->Push(Event("ADDED", Svc("ns1", "c", 12)));
  s0->Push(Event("BOOKMARK",
                 R"({"kind":"Service","apiVersion":"v1","metadata":{"resourceVersion":"20"}})"));
  ASSERT_TRUE(Eventually([&] { return informer.counters().bookmarks == 1; }));
  EXPECT_THAT(rec_.since(2), ElementsAre("update ns1/a@5->11", "add ns1/c@12"));
  EXPECT_EQ(informer.last_resource_version(), "20");

  // A clean end (server timeout) reopens from the bookmark's version, no relist.
  s0->Close();
  ASSERT_TRUE(Eventually([&] { return server_.streams() == 2; }, &clock_));
  EXPECT_THAT(server_.watch_target(1), HasSubstr("resourceVersion=20"));
  // A broken connection: backoff, then reopen from the same version, no relist.
  server_.stream(1)->Close(UnavailableError("connection reset"));
  ASSERT_TRUE(Eventually([&] { return server_.streams() == 3; }, &clock_));
  EXPECT_THAT(server_.watch_target(2), HasSubstr("resourceVersion=20"));
  EXPECT_EQ(server_.lists(), 1);
  server_.stream(2)->Push(Event("DELETED", Svc("ns1", "c", 21)));
  ASSERT_TRUE(Eventually([&] { return rec_.size() == 5; }));
  EXPECT_EQ(rec_.log()[4], "delete ns1/c@21");

  // While the watch "missed" them: b was deleted, a changed, d created. An
  // ERROR 410 forces a relist, which delivers all three.
  server_.Set({{"a", Svc("ns1", "a", 30)}, {"d", Svc("ns2", "d", 31)}}, 40);
  server_.stream(2)->Push(Event(
      "ERROR",
      api::ApiStatus::Failure(410, "Expired", "too old resource version: 20 (35)").ToJsonString()));
  ASSERT_TRUE(Eventually([&] { return server_.lists() == 2 && rec_.size() == 8; }, &clock_));
  EXPECT_THAT(rec_.since(5),
              UnorderedElementsAre("update ns1/a@11->30", "add ns2/d@31", "delete ns2/b@6"));
  EXPECT_THAT(informer.store().ListKeys(), ElementsAre("ns1/a", "ns2/d"));
  ASSERT_TRUE(Eventually([&] { return server_.streams() == 4; }, &clock_));
  EXPECT_THAT(server_.watch_target(server_.watch_targets() - 1), HasSubstr("resourceVersion=40"));

  // An HTTP 410 opening the watch relists too.
  server_.FailNextWatchWith410();
  server_.stream(3)->Close();
  ASSERT_TRUE(Eventually([&] { return server_.lists() == 3; }, &clock_));
  ASSERT_TRUE(Eventually([&] { return server_.streams() == 5; }, &clock_));

  // An ERROR event of another kind (here 500) also relists.
  server_.stream(4)->Push(
      Event("ERROR", api::ApiStatus::Failure(500, "InternalError", "etcd hiccup").ToJsonString()));
  ASSERT_TRUE(Eventually([&] { return server_.lists() == 4; }, &clock_));

  EXPECT_GT(transformed_.load(), 0);
  informer.Stop();
  EXPECT_TRUE(informer.HasSynced());
}

TEST_F(ScriptedInformerTest, StopCancelsTheWatchAndLateHandlersSeeTheCache) {
  server_.Set({{"a", Svc("ns1", "a", 5, "web")},
               {"b", Svc("ns2", "b", 6, "db")},
               {"c", Svc("ns1", "c", 7, "db")}},
              10);
  Informer<api::Service> informer(client_, Options());
  ASSERT_OK(informer.AddIndex("app", [](const api::Service& s) {
    auto it = s.metadata.labels.find("app");
    return it == s.metadata.labels.end() ? std::vector<std::string>{}
                                         : std::vector<std::string>{it->second};
  }));
  EXPECT_THAT(informer.AddIndex("app", nullptr),
              ::lballoc::testing::StatusIs(StatusCode::kAlreadyExists, HasSubstr("app")));
  EXPECT_FALSE(informer.HasSynced());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(std::chrono::seconds(30)));
  ASSERT_TRUE(Eventually([&] { return server_.streams() == 1; }));
  informer.AddEventHandler(rec_.Handler());
  EXPECT_THAT(rec_.log(), ElementsAre("add ns1/a@5", "add ns1/c@7", "add ns2/b@6"));

  auto names = [](const std::vector<ObjectPtr<api::Service>>& v) {
    std::vector<std::string> out;
    for (const auto& o : v) out.push_back(o->metadata.name);
    return out;
  };
  EXPECT_THAT(names(informer.store().ByIndex("app", "db")), ElementsAre("c", "b"));
  EXPECT_THAT(names(informer.store().ByIndex(kNamespaceIndex, "ns1")), ElementsAre("a", "c"));
  EXPECT_THAT(informer.store().IndexValues("app"), ElementsAre("db", "web"));

  // An update moves the object between index values; the old pointer stays valid.
  ObjectPtr<api::Service> old_a = informer.store().Get("ns1/a");
  server_.stream(0)->Push(Event("MODIFIED", Svc("ns1", "a", 11, "db")));
  // An undecodable event is skipped, not fatal.
  server_.stream(0)->Push(Event(
      "MODIFIED",
      R"({"metadata":{"name":"x","namespace":"ns1","resourceVersion":"12"},"spec":{"ports":"nope"}})"));
  server_.stream(0)->Push(Event("ADDED", Svc("ns1", "e", 13, "db")));
  ASSERT_TRUE(Eventually([&] { return informer.store().size() == 4; }));
  EXPECT_THAT(names(informer.store().ByIndex("app", "db")), ElementsAre("a", "c", "e", "b"));
  EXPECT_TRUE(informer.store().ByIndex("app", "web").empty());
  EXPECT_EQ(old_a->metadata.labels.at("app"), "web");
  EXPECT_EQ(informer.last_resource_version(), "13");

  informer.Stop();
  EXPECT_TRUE(server_.stream(0)->cancelled());
  EXPECT_TRUE(informer.HasSynced());
}

// Finding 7 of issue 10: an expired continue token falls back to one unpaged LIST (it used to
// page again from the first page).
TEST_F(ScriptedInformerTest, ExpiredContinueTokenFallsBackToOneUnpagedList) {
  server_.Set({{"a", Svc("ns1", "a", 5)}, {"b", Svc("ns2", "b", 6)}, {"c", Svc("ns2", "c", 7)}},
              10);
  server_.ExpireNextContinue();
  Informer<api::Service> informer(client_, Options());  // one item per page
  informer.AddEventHandler(rec_.Handler());
  informer.Start();
  ASSERT_TRUE(Eventually([&] { return informer.HasSynced(); }, &clock_));
  std::vector<std::string> lists = server_.list_targets();
  ASSERT_EQ(lists.size(), 3u);
  EXPECT_THAT(lists[0], HasSubstr("limit=1"));
  EXPECT_THAT(lists[1], HasSubstr("continue=1"));  // answered 410
  EXPECT_THAT(lists[2], Not(HasSubstr("limit=")));
  EXPECT_THAT(lists[2], Not(HasSubstr("continue=")));
  EXPECT_THAT(rec_.log(), ElementsAre("add ns1/a@5", "add ns2/b@6", "add ns2/c@7"));
  EXPECT_EQ(informer.last_resource_version(), "10");
}

// Finding 6 of issue 10: a listed object that cannot be decoded is not reported deleted; its
// cached copy stays, and the failure is counted.
TEST_F(ScriptedInformerTest, UndecodableListedObjectKeepsItsCachedCopy) {
  server_.Set({{"a", Svc("ns1", "a", 5)}, {"b", Svc("ns2", "b", 6)}}, 10);
  Informer<api::Service> informer(client_, Options());
  informer.AddEventHandler(rec_.Handler());
  informer.Start();
  ASSERT_TRUE(Eventually([&] { return informer.HasSynced() && server_.streams() == 1; }));
  const std::string broken = R"({"metadata":{"name":"b","namespace":"ns2","resourceVersion":"31"},)"
                             R"("spec":{"ports":"not a list"}})";
  server_.Set({{"a", Svc("ns1", "a", 30)}, {"b", broken}}, 40);
  server_.stream(0)->Push(
      Event("ERROR", api::ApiStatus::Failure(410, "Expired", "too old").ToJsonString()));
  ASSERT_TRUE(Eventually([&] { return server_.lists() == 2 && rec_.size() == 3; }, &clock_));
  EXPECT_THAT(rec_.log(), ElementsAre("add ns1/a@5", "add ns2/b@6", "update ns1/a@5->30"));
  ASSERT_NE(informer.store().Get("ns2", "b"), nullptr);
  EXPECT_EQ(informer.store().Get("ns2", "b")->metadata.resource_version, "6");
  EXPECT_EQ(informer.decode_failures(), 1);
}

// Issue 13 (bad input): a LIST answer that is not a list of this kind -- another kind of list,
// no items, an empty or unreadable body -- is a failed list, retried after the backoff; the
// cache is not replaced by it (which would report every cached object deleted: for lballoc,
// every address released).
TEST_F(ScriptedInformerTest, AListAnswerThatIsNotAListOfThisKindChangesNothing) {
  server_.Set({{"a", Svc("ns1", "a", 5)}, {"b", Svc("ns2", "b", 6)}}, 10);
  InformerOptions options = Options();
  options.page_size = 0;
  Informer<api::Service> informer(client_, options);
  informer.AddEventHandler(rec_.Handler());
  informer.Start();
  ASSERT_TRUE(Eventually([&] { return informer.HasSynced() && server_.streams() == 1; }));
  server_.DamageNextLists({
      [](std::string) {
        return std::string(
            R"({"kind":"NamespaceList","apiVersion":"v1","metadata":{"resourceVersion":"20"},)"
            R"("items":[{"metadata":{"name":"default"}}]})");
      },
      [](std::string) { return std::string(R"({"metadata":{"resourceVersion":"20"}})"); },
      [](std::string) { return std::string(); },
      [](std::string body) { return body.substr(0, body.size() / 2); },
  });
  server_.stream(0)->Push(
      Event("ERROR", api::ApiStatus::Failure(410, "Expired", "too old").ToJsonString()));
  ASSERT_TRUE(Eventually([&] { return server_.lists() == 6 && server_.streams() == 2; }, &clock_));
  EXPECT_THAT(rec_.log(),
              ElementsAre("add ns1/a@5", "add ns2/b@6", "update ns1/a@5->5", "update ns2/b@6->6"));
  EXPECT_EQ(informer.store().List().size(), 2u);
  EXPECT_EQ(informer.counters().lists, 2);
}

// Finding 9 of issue 10: a DELETED event for a key that is not cached calls no handler.
TEST_F(ScriptedInformerTest, DeletedEventForAnUncachedKeyCallsNoHandler) {
  server_.Set({{"a", Svc("ns1", "a", 5)}}, 10);
  Informer<api::Service> informer(client_, Options());
  informer.AddEventHandler(rec_.Handler());
  informer.Start();
  ASSERT_TRUE(Eventually([&] { return informer.HasSynced() && server_.streams() == 1; }));
  server_.stream(0)->Push(Event("DELETED", Svc("ns1", "never-seen", 11)));
  server_.stream(0)->Push(Event("DELETED", Svc("ns1", "a", 12)));
  ASSERT_TRUE(Eventually([&] { return informer.counters().events == 2; }));
  EXPECT_THAT(rec_.log(), ElementsAre("add ns1/a@5", "delete ns1/a@12"));
}

// The header's promise for a failed LIST: LIST again after the reflector's backoff, 0.8 s
// doubling to 30 s with up to 100 % jitter. Each relist comes no sooner than the base delay and
// no later than twice it: 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, then 30 s (the cap) twice.
TEST_F(ScriptedInformerTest, FailedListRelistsAfterTheReflectorsBackoff) {
  server_.Set({{"a", Svc("ns1", "a", 5)}}, 10);
  const int kFailures = 8;
  server_.FailNextLists(kFailures, 500);
  Informer<api::Service> informer(client_, Options());
  informer.AddEventHandler(rec_.Handler());
  informer.Start();
  Clock::Duration base = std::chrono::milliseconds(800);
  for (int failed = 1; failed <= kFailures; ++failed) {
    bool sleeping =
        Eventually([&] { return server_.list_attempts() == failed && clock_.waiters() == 1; });
    ASSERT_TRUE(sleeping) << "after failed LIST " << failed << ": " << server_.list_attempts()
                          << " LISTs";
    clock_.Advance(base - std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // time for a wrong informer
    EXPECT_EQ(server_.list_attempts(), failed) << "relisted sooner than " << base.count() << " ns";
    clock_.Advance(base + std::chrono::milliseconds(1));  // twice the base: past any jitter
    base = std::min<Clock::Duration>(2 * base, std::chrono::seconds(30));
  }
  ASSERT_TRUE(Eventually([&] { return informer.HasSynced(); }));
  EXPECT_EQ(server_.list_attempts(), kFailures + 1);
  EXPECT_THAT(rec_.log(), ElementsAre("add ns1/a@5"));
  informer.Stop();
}

// The header's promise for a watch the server refuses with 429 or 5xx: reopen it from the same
// resourceVersion after a backoff, without a relist (a relist would cost a full LIST).
TEST_F(ScriptedInformerTest, WatchRefusedWith429Or5xxIsReopenedWithoutARelist) {
  server_.Set({{"a", Svc("ns1", "a", 5)}}, 10);
  Informer<api::Service> informer(client_, Options());
  informer.AddEventHandler(rec_.Handler());
  informer.Start();
  ASSERT_TRUE(Eventually([&] { return server_.streams() == 1; }));
  server_.stream(0)->Push(Event(
      "BOOKMARK", R"({"kind":"Service","apiVersion":"v1","metadata":{"resourceVersion":"15"}})"));
  ASSERT_TRUE(Eventually([&] { return informer.counters().bookmarks == 1; }));
  server_.RefuseNextWatchesWith({429, 500, 503});
  server_.stream(0)->Close();  // a clean end: reopen, and the next three opens are refused
  ASSERT_TRUE(Eventually([&] { return server_.streams() == 2; }, &clock_));
  EXPECT_EQ(server_.lists(), 1);
  ASSERT_EQ(server_.watch_targets(), 5u);  // the first, three refused, the one that opened
  for (size_t i = 1; i < 5; ++i) {
    EXPECT_THAT(server_.watch_target(i), HasSubstr("resourceVersion=15")) << i;
  }
  server_.stream(1)->Push(Event("MODIFIED", Svc("ns1", "a", 16)));
  ASSERT_TRUE(Eventually([&] { return rec_.size() == 2; }));
  EXPECT_THAT(rec_.log(), ElementsAre("add ns1/a@5", "update ns1/a@5->16"));
  EXPECT_EQ(server_.lists(), 1);
  informer.Stop();
}

// The header's promise for a relist: every listed object already cached goes to on_update, even
// when nothing changed (old and new equal), as client-go's Replaced deltas do; a controller
// relies on it to reconcile everything again after a relist.
TEST_F(ScriptedInformerTest, RelistDeliversOnUpdateForUnchangedCachedObjects) {
  server_.Set({{"a", Svc("ns1", "a", 5)}, {"b", Svc("ns2", "b", 6)}}, 10);
  Informer<api::Service> informer(client_, Options());
  informer.AddEventHandler(rec_.Handler());
  informer.Start();
  ASSERT_TRUE(Eventually([&] { return server_.streams() == 1; }));
  ASSERT_THAT(rec_.log(), ElementsAre("add ns1/a@5", "add ns2/b@6"));
  // Nothing changed on the server; an ERROR 410 forces a relist.
  server_.stream(0)->Push(Event(
      "ERROR", api::ApiStatus::Failure(410, "Expired", "too old resource version").ToJsonString()));
  ASSERT_TRUE(Eventually([&] { return server_.lists() == 2 && rec_.size() == 4; }, &clock_));
  EXPECT_THAT(rec_.since(2), UnorderedElementsAre("update ns1/a@5->5", "update ns2/b@6->6"));
  EXPECT_THAT(informer.store().ListKeys(), ElementsAre("ns1/a", "ns2/b"));
  informer.Stop();
}

TEST(StripManagedFieldsTest, RemovesOnlyManagedFields) {
  rapidjson::Document doc;
  ASSERT_OK(
      api::ParseJson(R"({"metadata":{"name":"a","managedFields":[{"x":1}]},"spec":{}})", doc));
  StripManagedFields(doc, doc.GetAllocator());
  EXPECT_EQ(api::JsonToString(doc), R"({"metadata":{"name":"a"},"spec":{}})");
  rapidjson::Document odd;
  ASSERT_OK(api::ParseJson(R"({"metadata":5})", odd));
  StripManagedFields(odd, odd.GetAllocator());  // no crash on odd shapes
  EXPECT_EQ(api::JsonToString(odd), R"({"metadata":5})");
}

TEST(BackoffTest, DoublesToMaxWithJitterAndResets) {
  FakeClock clock;
  BackoffOptions o = ReflectorBackoff();
  Backoff b(o, clock, 42);
  std::vector<Clock::Duration> base = {std::chrono::milliseconds(800),
                                       std::chrono::milliseconds(1600),
                                       std::chrono::milliseconds(3200)};
  for (Clock::Duration want : base) {
    Clock::Duration got = b.Next();
    EXPECT_GE(got, want);
    EXPECT_LT(got, 2 * want);
  }
  for (int i = 0; i < 10; ++i) b.Next();
  Clock::Duration capped = b.Next();
  EXPECT_GE(capped, std::chrono::seconds(30));
  EXPECT_LT(capped, std::chrono::seconds(60));
  clock.Advance(std::chrono::minutes(3));  // quiet for longer than reset_after
  Clock::Duration reset = b.Next();
  EXPECT_LT(reset, std::chrono::milliseconds(1600));
}

// ---------------------------------------------------------------------------
// Against the in-memory API server.

std::string ServiceJson(const std::string& ns, const std::string& name, int n) {
  return R"({"apiVersion":"v1","kind":"Service","metadata":{"name":")" + name +
         R"(","namespace":")" + ns + R"(","labels":{"n":")" + std::to_string(n) +
         R"("}},"spec":{"ports":[{"port":80}]}})";
}

// Finding 8 of issue 10: Stop() interrupts a LIST in flight (it used to wait for the answer,
// up to the transport timeout).
TEST(InformerApiServerTest, StopInterruptsAListInFlight) {
  ASSERT_OK_AND_ASSIGN(auto server, apiserver::ApiServer::Start({}));
  RestConfig config;
  config.server = server->url();
  config.source = "test";
  ASSERT_OK_AND_ASSIGN(auto client, NewClient(config));
  ASSERT_OK(client->Get(api::Namespace::kResource, "", "default").status());
  apiserver::FaultConfig faults;
  faults.latency = std::chrono::milliseconds(5000);  // every request takes 5 s
  server->faults().Configure(faults);
  Informer<api::Service> informer(*client);
  informer.Start();
  // Not a synchronisation: if Stop() came before the LIST left, the test would pass anyway.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the LIST is on its way
  auto stop_at = std::chrono::steady_clock::now();
  informer.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - stop_at, std::chrono::milliseconds(2500));
  EXPECT_FALSE(informer.HasSynced());
  server->faults().Configure({});
  server->Stop();
}

TEST(InformerApiServerTest, ConvergesThroughDropsBookmarksAnd410UnderConcurrentWrites) {
  apiserver::ApiServer::Options options;
  options.bookmark_interval = std::chrono::milliseconds(50);
  options.watch_window = 40;  // small: resumes after a drop often fall out of it -> 410
  ASSERT_OK_AND_ASSIGN(auto server, apiserver::ApiServer::Start(options));
  apiserver::FaultConfig faults;
  faults.watch_drop_interval = std::chrono::milliseconds(400);
  server->faults().Configure(faults);

  RestConfig config;
  config.server = server->url();
  config.source = "test";
  ASSERT_OK_AND_ASSIGN(auto client, NewClient(config));
  TypedClient<api::Namespace> namespaces(*client);
  for (const char* ns : {"ns-a", "ns-b"}) {
    api::Namespace n;
    n.metadata.name = ns;
    ASSERT_OK(namespaces.Create(n).status());
  }
  TypedClient<api::Service> services(*client);
  // Some objects exist before the informer starts.
  for (int i = 0; i < 5; ++i) {
    ASSERT_OK_AND_ASSIGN(auto svc, api::DecodeJson<api::Service>(
                                       ServiceJson("ns-a", "pre-" + std::to_string(i), 0)));
    ASSERT_OK(services.Create(svc).status());
  }

  InformerOptions io;
  io.backoff.initial = std::chrono::milliseconds(5);
  io.backoff.max = std::chrono::milliseconds(50);
  io.min_watch_timeout = std::chrono::seconds(2);
  io.page_size = 3;
  io.transform = StripManagedFields;
  Informer<api::Service> informer(*client, io);

  // What the handlers saw, applied to a map: must end equal to the server.
  std::mutex mu;
  std::map<std::string, std::string> seen;  // key -> resourceVersion
  int deletes = 0;
  bool rv_went_back = false;
  EventHandler<api::Service> h;
  h.on_add = [&](const ObjectPtr<api::Service>& o) {
    std::lock_guard<std::mutex> lock(mu);
    seen[ObjectKeyOf(o->metadata)] = o->metadata.resource_version;
  };
  h.on_update = [&](const ObjectPtr<api::Service>& a, const ObjectPtr<api::Service>& b) {
    std::lock_guard<std::mutex> lock(mu);
    if (std::stoull(b->metadata.resource_version) < std::stoull(a->metadata.resource_version)) {
      rv_went_back = true;
    }
    seen[ObjectKeyOf(b->metadata)] = b->metadata.resource_version;
  };
  h.on_delete = [&](const ObjectPtr<api::Service>& o) {
    std::lock_guard<std::mutex> lock(mu);
    seen.erase(ObjectKeyOf(o->metadata));
    ++deletes;
  };
  informer.AddEventHandler(h);
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(std::chrono::seconds(30)));
  EXPECT_EQ(informer.store().size(), 5u);

  // Concurrent writers: create, update (labels) and delete in two namespaces.
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  std::atomic<bool> enough{false};
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      std::string ns = w % 2 == 0 ? "ns-a" : "ns-b";
      // At least 30 writes each, and on until the informer went through
      // several dropped watches, bookmarks and a relist.
      for (int i = 0; i < 30 || (!enough.load() && i < 100000); ++i) {
        std::string name = "w" + std::to_string(w) + "-" + std::to_string(i % 10);
        auto svc = api::DecodeJson<api::Service>(ServiceJson(ns, name, i));
        if (!svc.ok()) {
          ++failures;
          continue;
        }
        auto created = services.Create(*svc);
        if (created.ok()) continue;
        if (!created.status().IsAlreadyExists()) {
          ++failures;
          continue;
        }
        if (i % 3 == 0) {
          Status s = services.Delete(ns, name);
          if (!s.ok() && !s.IsNotFound()) ++failures;
        } else {
          Status s = RetryOnConflict([&] {
            auto cur = services.Get(ns, name);
            if (!cur.ok()) return cur.status();
            cur->metadata.labels["n"] = std::to_string(i);
            return services.Update(*cur).status();
          });
          if (!s.ok() && !s.IsNotFound()) ++failures;
        }
        if (i == 15 && w == 0) server->faults().ExpireNextWatches(1);
      }
    });
  }
  EXPECT_TRUE(Eventually([&] {
    auto c = informer.counters();
    return c.watches >= 5 && c.bookmarks >= 1 && c.lists >= 2;
  }));
  enough = true;
  for (auto& t : writers) t.join();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_OK(services.Delete("ns-a", "pre-0"));

  auto server_state = [&]() {
    std::map<std::string, std::string> out;
    auto list = services.ListAll("");
    if (!list.ok()) return out;
    for (const api::Service& s : list->items)
      out[ObjectKeyOf(s.metadata)] = s.metadata.resource_version;
    return out;
  };
  auto cache_state = [&]() {
    std::map<std::string, std::string> out;
    for (const auto& o : informer.store().List())
      out[ObjectKeyOf(o->metadata)] = o->metadata.resource_version;
    return out;
  };
  std::map<std::string, std::string> want = server_state();
  ASSERT_FALSE(want.empty());
  ASSERT_TRUE(Eventually([&] { return cache_state() == want; }))
      << "cache " << cache_state().size() << " objects, server " << want.size();
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(seen, want);
    EXPECT_GT(deletes, 0);
    EXPECT_FALSE(rv_went_back);
  }
  auto c = informer.counters();
  EXPECT_GE(c.watches, 5) << "watches were dropped and reopened";
  EXPECT_GT(c.bookmarks, 0);
  EXPECT_GE(c.lists, 2) << "the forced 410 relisted";
  informer.Stop();
}

TEST(InformerApiServerTest, MissedDeletionsAreDeliveredOnRelist) {
  apiserver::ApiServer::Options options;
  options.watch_window = 2;
  ASSERT_OK_AND_ASSIGN(auto server, apiserver::ApiServer::Start(options));
  RestConfig config;
  config.server = server->url();
  config.source = "test";
  ASSERT_OK_AND_ASSIGN(auto client, NewClient(config));
  TypedClient<api::Service> services(*client);
  for (int i = 0; i < 4; ++i) {
    ASSERT_OK_AND_ASSIGN(auto svc, api::DecodeJson<api::Service>(
                                       ServiceJson("default", "s" + std::to_string(i), 0)));
    ASSERT_OK(services.Create(svc).status());
  }
  InformerOptions io;
  io.backoff.initial = std::chrono::milliseconds(5);
  io.backoff.max = std::chrono::milliseconds(20);
  io.min_watch_timeout = std::chrono::seconds(1);  // watches end after 1-2 s and resume
  Informer<api::Service> informer(*client, io);
  Recorder rec;
  informer.AddEventHandler(rec.Handler());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(std::chrono::seconds(30)));
  // Make every watch open fail (500) for a while, so nobody watches while we delete.
  apiserver::FaultConfig blind;
  blind.verbs["watch"].error_rate = 1.0;
  server->faults().Configure(blind);
  int64_t before = server->faults().injected();
  ASSERT_TRUE(Eventually([&] { return server->faults().injected() > before; }));
  ASSERT_OK(services.Delete("default", "s1"));
  ASSERT_OK(services.Delete("default", "s2"));
  for (int i = 0; i < 5; ++i) {  // push the deletions out of the 2-event window
    ASSERT_OK(RetryOnConflict([&] {
      auto cur = services.Get("default", "s0");
      if (!cur.ok()) return cur.status();
      cur->metadata.labels["n"] = std::to_string(i);
      return services.Update(*cur).status();
    }));
  }
  EXPECT_THAT(informer.store().ListKeys(),
              ElementsAre("default/s0", "default/s1", "default/s2", "default/s3"));
  // Let watches through again: the resume is out of the window -> 410 -> relist.
  server->faults().Configure({});
  ASSERT_TRUE(Eventually([&] { return informer.store().size() == 2; }));
  std::vector<std::string> log = rec.log();
  int s1 = 0, s2 = 0;
  for (const std::string& l : log) {
    if (l.rfind("delete default/s1@", 0) == 0) ++s1;
    if (l.rfind("delete default/s2@", 0) == 0) ++s2;
  }
  EXPECT_EQ(s1, 1);
  EXPECT_EQ(s2, 1);
  EXPECT_THAT(informer.store().ListKeys(), ElementsAre("default/s0", "default/s3"));
  informer.Stop();
}

}  // namespace
}  // namespace lballoc::runtime
