// Bad input (issue 13): one operator replica, with leader election, against the in-process API
// server, fed a table of malformed pools, odd Services and damaged API answers, one row after
// another. Each row states its input and the outcome API.md documents for it (a pool's
// Ready=False condition naming the entry, a Service's lballoc.io/AddressAllocated condition and
// Warning event, or a logged retry that changes nothing). After every row the test checks what
// must survive any input:
//   - the operator is still running (Run() has not returned) and still leads;
//   - every Service that held an address before the row still shows exactly that address
//     (nothing that was allocated is lost);
//   - a new ordinary Service still gets an address (the good objects are still served);
//   - no write committed an address shown by two Services outside a sharing group.
// Damaged answers (garbage, truncated or empty bodies, objects of another kind, watch lines that
// are not events) come from a testing::FaultyTransport between the replica and the server.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "controllers/convert.h"
#include "controllers/operator.h"
#include "controllers/operator_test_env.h"
#include "controllers/test_objects.h"
#include "test/testing/eventually.h"
#include "test/testing/faulty_transport.h"
#include "test/testing/status_matchers.h"

namespace lballoc::controllers {
namespace {

using ::lballoc::controllers::testing::AllocatedCondition;
using ::lballoc::controllers::testing::AllocatedTo;
using ::lballoc::controllers::testing::FailedWith;
using ::lballoc::controllers::testing::Ips;
using ::lballoc::controllers::testing::LbService;
using ::lballoc::controllers::testing::MatchLabels;
using ::lballoc::controllers::testing::OperatorTestEnv;
using ::lballoc::controllers::testing::Pool;
using ::lballoc::controllers::testing::Replica;
using ::lballoc::testing::Eventually;
using ::lballoc::testing::FaultyTransport;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

constexpr char kNs[] = "default";
constexpr char kServicesWatch[] = "/api/v1/services?";
constexpr char kPoolsWatch[] = "/apis/lballoc.io/v1alpha1/loadbalancerpools?";
constexpr char kExpired[] =
    R"({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure",)"
    R"("reason":"Expired","code":410,"message":"too old resource version"}})";

std::string Garbage(std::string) { return "<html><body>502 Bad Gateway</body></html>"; }
std::string Truncated(std::string body) { return body.substr(0, body.size() / 2); }
std::string Empty(std::string) { return ""; }

// One row of the table.
struct Case {
  std::string input;     // what the operator is fed
  std::string expected;  // the documented outcome
  std::function<void()> run;
};

class BadInputTest : public OperatorTestEnv {
 protected:
  void SetUp() override {
    OperatorTestEnv::SetUp();
    if (HasFatalFailure()) return;
    wrap_replica_transport_ = [this](std::shared_ptr<runtime::Transport> inner) {
      faulty_ = std::make_shared<FaultyTransport>(std::move(inner));
      return faulty_;
    };
    CreatePool(Pool("good", {"192.0.2.0/24"}));
    CreatePool(Pool("good6", {"2001:db8:1::/112"}));
    api::LoadBalancerPool nudge = Pool("zz-nudge", {"203.0.113.0/30"});
    nudge.spec.auto_assign = false;
    CreatePool(nudge);
    OperatorOptions options;
    options.pool_status_interval = milliseconds(100);
    options.informer_backoff.initial = milliseconds(50);
    options.informer_backoff.max = milliseconds(400);
    op_ = StartOperator(options, "bad-input-0");
    ASSERT_TRUE(Eventually([&] { return op_->manager->IsLeader(); }, seconds(20)));
    for (int i = 0; i < 3; ++i) Keep(LbService(kNs, "keep-" + std::to_string(i)));
  }

  // Creates an ordinary Service, waits for its address and adds it to what must never move.
  void Keep(const api::Service& svc) {
    CreateService(svc);
    api::Service got = WaitService(kNs, svc.metadata.name, [](const api::Service& s) {
      const api::Condition* c = AllocatedCondition(s);
      return c != nullptr && c->status == "True" && !Ips(s).empty();
    });
    kept_[svc.metadata.name] = Ips(got);
  }

  // What every row must leave intact (see the file comment).
  void CheckSurvived(const std::string& row, int index) {
    SCOPED_TRACE(row);
    EXPECT_TRUE(faulty_->idle()) << "a fault of this row was never used";
    faulty_->Reset();  // so that it cannot hit a later row
    ASSERT_FALSE(op_->finished.load()) << "the operator stopped: " << op_->run_status;
    EXPECT_TRUE(Eventually([&] { return op_->manager->IsLeader(); }, seconds(20)));
    for (const auto& [name, ips] : kept_) {
      EXPECT_TRUE(AllocatedTo(GetService(kNs, name), ips)) << name << " lost its address";
    }
    Keep(LbService(kNs, "probe-" + std::to_string(index)));
    EXPECT_TRUE(DoubleAllocations().empty()) << DoubleAllocations().front().status;
    EXPECT_EQ(DoubleAllocationNow(), "");
  }

  // Creates a Service the operator does not handle: a change on the Service watch, so that a
  // watch blocked waiting for the server reads the next line (an injected one).
  void NudgeServices() {
    api::Service svc = LbService(kNs, "nudge-" + std::to_string(nudges_++));
    svc.spec.load_balancer_class = "example.com/other";
    CreateService(svc);
  }
  void NudgePools() {
    PatchPool("zz-nudge", R"({"metadata":{"labels":{"n":")" + std::to_string(nudges_++) + "\"}}}");
  }
  void WaitInjected() {
    EXPECT_TRUE(Eventually([&] { return faulty_->idle(); }, seconds(20)))
        << "an injected fault was never used";
  }
  double Lists(const std::string& resource) {
    return op_->Metric("lballoc_informer_lists_total", {{"resource", resource}});
  }
  double DecodeFailures(const std::string& resource) {
    return op_->Metric("lballoc_informer_decode_failures_total", {{"resource", resource}});
  }
  double TerminalErrors() {
    return op_->Metric("controller_runtime_terminal_reconcile_errors_total",
                       {{"controller", "service"}});
  }
  bool HasEvent(const std::string& prefix) {
    for (const std::string& e : op_->events()) {
      if (e.rfind(prefix, 0) == 0) return true;
    }
    return false;
  }

  // ---- expectations
  void ExpectPoolNotReady(const std::string& name, const std::string& reason,
                          const std::vector<std::string>& message_parts) {
    api::LoadBalancerPool p = WaitPool(name, [&](const api::LoadBalancerPool& p) {
      const api::Condition* c = api::FindCondition(p.status.conditions, "Ready");
      return c != nullptr && c->status == "False" && c->reason == reason &&
             p.status.observed_generation == p.metadata.generation;
    });
    const api::Condition* c = api::FindCondition(p.status.conditions, "Ready");
    ASSERT_NE(c, nullptr);
    for (const std::string& part : message_parts) EXPECT_THAT(c->message, HasSubstr(part));
  }
  void ExpectPoolServing(const std::string& name) {
    WaitPool(name, [&](const api::LoadBalancerPool& p) {
      const api::Condition* c = api::FindCondition(p.status.conditions, "Ready");
      return c != nullptr && c->status == "True" &&
             p.status.observed_generation == p.metadata.generation;
    });
  }
  void CreateBadPool(const std::string& name, std::vector<std::string> addresses,
                     std::vector<std::string> excludes = {}) {
    api::LoadBalancerPool p = Pool(name, std::move(addresses));
    p.spec.exclude_addresses = std::move(excludes);
    CreatePool(p);
  }
  // The Service fails with `reason`, its message naming `part`, with a Warning event.
  void ExpectServiceFails(const api::Service& svc, const std::string& reason,
                          const std::string& part) {
    CreateService(svc);
    api::Service got = WaitService(kNs, svc.metadata.name,
                                   [&](const api::Service& s) { return FailedWith(s, reason); });
    const api::Condition* c = AllocatedCondition(got);
    ASSERT_NE(c, nullptr);
    EXPECT_THAT(c->message, HasSubstr(part));
    EXPECT_TRUE(Ips(got).empty());
    const std::string event = "Warning AllocationFailed default/" + svc.metadata.name + ": ";
    EXPECT_TRUE(Eventually([&] { return HasEvent(event); })) << event;
  }
  static api::Service WithAnnotation(api::Service s, const std::string& key,
                                     const std::string& value) {
    s.metadata.annotations[key] = value;
    return s;
  }
  // A damaged answer to a status write that took effect: retried, never taken for a refusal.
  void ExpectWriteRetried(const std::string& name, const std::string& ip,
                          FaultyTransport::Damage damage) {
    const double terminal = TerminalErrors();
    const int damaged = faulty_->damaged();
    faulty_->DamageNext("PATCH", "/namespaces/default/services/" + name + "/status",
                        std::move(damage));
    Keep(WithAnnotation(LbService(kNs, name), kIpsAnnotation, ip));
    EXPECT_TRUE(Eventually([&] { return faulty_->damaged() == damaged + 1; }));
    // Another Service asking for the same address is refused: the first one still holds it.
    ExpectServiceFails(WithAnnotation(LbService(kNs, name + "-rival"), kIpsAnnotation, ip),
                       "AddressInUse", ip);
    EXPECT_EQ(TerminalErrors(), terminal) << "a 2xx answer was taken for a refusal";
    DeleteService(kNs, name + "-rival");
    DeleteService(kNs, name);
    kept_.erase(name);
  }
  // A damaged LIST after a forced relist: the list fails, is retried after the backoff, and
  // the cache (so every allocation) stays as it was.
  void ExpectRelistSurvives(const std::string& what, FaultyTransport::Damage damage) {
    const double lists = Lists("services");
    faulty_->DamageNext("GET", kServicesWatch, std::move(damage));
    faulty_->InjectWatchLine(kServicesWatch, kExpired);
    NudgeServices();
    WaitInjected();
    EXPECT_TRUE(Eventually([&] { return Lists("services") >= lists + 1; }, seconds(20))) << what;
  }
  // Changes the Service's class to each of `classes` (JSON values) in turn, through ClusterIP
  // and back, without waiting for the operator in between.
  void FlapClass(const std::string& name, const std::vector<std::string>& classes) {
    for (const std::string& cls : classes) {
      PatchService(kNs, name, R"({"spec":{"type":"ClusterIP"}})");
      PatchService(kNs, name,
                   R"({"spec":{"type":"LoadBalancer","loadBalancerClass":)" + cls + "}}");
    }
  }
  // A line slipped into the Service watch.
  void InjectIntoServices(const std::string& line) {
    faulty_->InjectWatchLine(kServicesWatch, line);
    NudgeServices();
    WaitInjected();
  }

  Replica* op_ = nullptr;
  std::shared_ptr<FaultyTransport> faulty_;
  std::map<std::string, std::vector<std::string>> kept_;
  int nudges_ = 0;
};

TEST_F(BadInputTest, EveryRowGetsItsDocumentedOutcomeAndNothingIsLost) {
  ASSERT_NE(op_, nullptr);
  ASSERT_NE(faulty_, nullptr);
  std::vector<Case> table = {
      // ------------------------------------------------------------ malformed pools
      {"pool: an unparsable address", "Ready=False InvalidSpec naming spec.addresses[1]",
       [&] {
         CreateBadPool("p-unparsable", {"198.51.100.0/28", "not-an-ip"});
         ExpectPoolNotReady("p-unparsable", "InvalidSpec", {"spec.addresses[1]", "not-an-ip"});
       }},
      {"pool: a range with last < first", "InvalidSpec naming spec.addresses[0]",
       [&] {
         CreateBadPool("p-reversed", {"198.51.100.20-198.51.100.10"});
         ExpectPoolNotReady("p-reversed", "InvalidSpec",
                            {"spec.addresses[0]", "198.51.100.20-198.51.100.10"});
       }},
      {"pool: a range mixing IPv4 and IPv6", "InvalidSpec naming spec.addresses[0]",
       [&] {
         CreateBadPool("p-mixed", {"198.51.100.1-2001:db8::1"});
         ExpectPoolNotReady("p-mixed", "InvalidSpec", {"spec.addresses[0]"});
       }},
      {"pool: an exclusion outside the pool", "InvalidSpec naming spec.excludeAddresses[0]",
       [&] {
         CreateBadPool("p-exclude", {"198.51.100.16/28"}, {"203.0.113.5"});
         ExpectPoolNotReady("p-exclude", "InvalidSpec",
                            {"spec.excludeAddresses[0]", "203.0.113.5"});
       }},
      {"pool: an exclusion that is not an address", "InvalidSpec naming spec.excludeAddresses[1]",
       [&] {
         CreateBadPool("p-exclude-junk", {"198.51.100.48/28"}, {"198.51.100.49", "junk"});
         ExpectPoolNotReady("p-exclude-junk", "InvalidSpec", {"spec.excludeAddresses[1]", "junk"});
       }},
      {"pool: a prefix longer than the family (/33)", "InvalidSpec naming spec.addresses[0]",
       [&] {
         CreateBadPool("p-prefix", {"198.51.100.0/33"});
         ExpectPoolNotReady("p-prefix", "InvalidSpec", {"spec.addresses[0]"});
       }},
      {"pool: two entries of one pool overlapping", "InvalidSpec naming both entries",
       [&] {
         CreateBadPool("p-self-overlap", {"198.51.100.80/28", "198.51.100.83"});
         ExpectPoolNotReady("p-self-overlap", "InvalidSpec",
                            {"spec.addresses[0]", "overlaps spec.addresses[1]"});
       }},
      {"pool: 0.0.0.0/0", "Ready=False Overlap naming an older pool; the older pools keep serving",
       [&] {
         CreateBadPool("p-slash0", {"0.0.0.0/0"});
         ExpectPoolNotReady("p-slash0", "Overlap", {"overlaps pool"});
         ExpectPoolServing("good");
         DeletePool("p-slash0");  // it would make every later IPv4 pool the newer of a pair
       }},
      {"pool: ::/0", "Ready=False Overlap naming the older IPv6 pool",
       [&] {
         CreateBadPool("p-v6-slash0", {"::/0"});
         ExpectPoolNotReady("p-v6-slash0", "Overlap", {"\"good6\""});
         ExpectPoolServing("good6");
         DeletePool("p-v6-slash0");
       }},
      {"pool: an IPv6 /8", "Serving; counts saturate at 2^63-1; a Service naming it is served",
       [&] {
         api::LoadBalancerPool p = Pool("p-v6-slash8", {"fd00::/8"});
         p.spec.auto_assign = false;
         CreatePool(p);
         api::LoadBalancerPool got = WaitPool("p-v6-slash8", [](const api::LoadBalancerPool& p) {
           return p.status.ipv6.has_value() && p.status.ipv6->total == INT64_MAX;
         });
         EXPECT_EQ(got.status.total, INT64_MAX);
         api::Service svc =
             WithAnnotation(LbService(kNs, "wants-slash8"), kPoolAnnotation, "p-v6-slash8");
         svc.spec.ip_families = {"IPv6"};
         Keep(svc);
         EXPECT_EQ(kept_["wants-slash8"][0].rfind("fd", 0), 0u) << kept_["wants-slash8"][0];
       }},
      {"pool: 10,000 entries", "Serving with total 10000; a Service naming it is served",
       [&] {
         std::vector<std::string> many;
         for (int i = 0; i < 10000; ++i) {
           many.push_back("10.77." + std::to_string(i / 256) + "." + std::to_string(i % 256));
         }
         api::LoadBalancerPool p = Pool("p-10000", many);
         p.spec.auto_assign = false;
         CreatePool(p);
         WaitPool("p-10000",
                  [](const api::LoadBalancerPool& p) { return p.status.total == 10000; });
         Keep(WithAnnotation(LbService(kNs, "wants-10000"), kPoolAnnotation, "p-10000"));
         EXPECT_EQ(kept_["wants-10000"], std::vector<std::string>{"10.77.0.0"});
       }},
      {"pool: 10,000 entries, entry 7777 bad", "InvalidSpec naming spec.addresses[7777]",
       [&] {
         std::vector<std::string> many;
         for (int i = 0; i < 10000; ++i) {
           many.push_back("10.78." + std::to_string(i / 256) + "." + std::to_string(i % 256));
         }
         many[7777] = "10.78.999.1";
         CreateBadPool("p-10000-bad", many);
         ExpectPoolNotReady("p-10000-bad", "InvalidSpec", {"spec.addresses[7777]", "10.78.999.1"});
       }},
      {"pool: a label selector the API server accepts but is invalid (In, no values)",
       "InvalidSpec naming spec.serviceSelector.matchExpressions[0]",
       [&] {
         api::LoadBalancerPool p = Pool("p-badsel", {"198.51.100.32/28"});
         api::LabelSelector sel;
         sel.match_expressions.push_back({"team", "In", {}});
         p.spec.service_selector = sel;
         CreatePool(p);
         ExpectPoolNotReady("p-badsel", "InvalidSpec",
                            {"spec.serviceSelector.matchExpressions[0]"});
       }},
      {"pool: a serving pool with an allocation edited into an invalid one",
       "InvalidSpec; the address it gave stays with its Service",
       [&] {
         api::LoadBalancerPool p = Pool("p-edit", {"198.51.100.64/28"});
         p.spec.auto_assign = false;
         CreatePool(p);
         Keep(WithAnnotation(LbService(kNs, "uses-edit"), kPoolAnnotation, "p-edit"));
         PatchPool("p-edit", R"({"spec":{"addresses":["198.51.100.64/28","junk"]}})");
         ExpectPoolNotReady("p-edit", "InvalidSpec", {"spec.addresses[1]", "junk"});
       }},
      {"pool: no addresses at all", "refused by the CRD schema (or InvalidSpec without it)",
       [&] {
         api::LoadBalancerPool p = Pool("p-empty", {});
         p.metadata.creation_timestamp.reset();
         runtime::TypedClient<api::LoadBalancerPool> pools(*client_);
         StatusOr<api::LoadBalancerPool> created = pools.Create(p);
         if (!created.ok()) {
           EXPECT_EQ(created.status().code(), StatusCode::kInvalidArgument) << created.status();
         } else {
           ExpectPoolNotReady("p-empty", "InvalidSpec", {"spec.addresses"});
         }
       }},
      // ------------------------------------------------------------ Services
      {"service: lballoc.io/ips and spec.loadBalancerIP disagree",
       "False InvalidRequest + Warning AllocationFailed",
       [&] {
         api::Service s =
             WithAnnotation(LbService(kNs, "conflict-ips"), kIpsAnnotation, "192.0.2.50");
         s.spec.load_balancer_ip = "192.0.2.51";
         ExpectServiceFails(s, "InvalidRequest", "192.0.2.5");
       }},
      {"service: two IPv4 addresses in lballoc.io/ips", "False InvalidRequest",
       [&] {
         ExpectServiceFails(
             WithAnnotation(LbService(kNs, "two-v4"), kIpsAnnotation, "192.0.2.60,192.0.2.61"),
             "InvalidRequest", "192.0.2.6");
       }},
      {"service: lballoc.io/ips is not an address", "False InvalidRequest naming it",
       [&] {
         ExpectServiceFails(
             WithAnnotation(LbService(kNs, "junk-ips"), kIpsAnnotation, "not-an-address"),
             "InvalidRequest", "not-an-address");
       }},
      {"service: lballoc.io/pool names no pool", "False NoEligiblePool naming it",
       [&] {
         ExpectServiceFails(WithAnnotation(LbService(kNs, "no-pool"), kPoolAnnotation, "nope"),
                            "NoEligiblePool", "nope");
       }},
      {"service: lballoc.io/pool with 10,000 names", "False NoEligiblePool, a bounded message",
       [&] {
         std::string names;
         for (int i = 0; i < 10000; ++i) names += (i ? "," : "") + ("missing-" + std::to_string(i));
         api::Service s = WithAnnotation(LbService(kNs, "many-pools"), kPoolAnnotation, names);
         ExpectServiceFails(s, "NoEligiblePool", "more");
         EXPECT_LT(AllocatedCondition(GetService(kNs, "many-pools"))->message.size(), 2000u);
       }},
      {"service: lballoc.io/ips asks for an address another Service holds",
       "False AddressInUse; the holder keeps it",
       [&] {
         ExpectServiceFails(
             WithAnnotation(LbService(kNs, "wants-taken"), kIpsAnnotation, kept_["keep-0"][0]),
             "AddressInUse", kept_["keep-0"][0]);
       }},
      {"service: spec.loadBalancerIP outside every pool", "False AddressNotInPool",
       [&] {
         api::Service s = LbService(kNs, "outside");
         s.spec.load_balancer_ip = "203.0.113.77";
         ExpectServiceFails(s, "AddressNotInPool", "203.0.113.77");
       }},
      {"service: RequireDualStack with only an IPv4 pool named",
       "False FamilyUnavailable, holding nothing",
       [&] {
         api::Service s = WithAnnotation(LbService(kNs, "dual-v4-only"), kPoolAnnotation, "good");
         s.spec.ip_families = {"IPv4", "IPv6"};
         s.spec.ip_family_policy = "RequireDualStack";
         ExpectServiceFails(s, "FamilyUnavailable", "IPv6");
       }},
      {"service: 1,000 labels, a pool selecting on 100 of them", "allocated from that pool",
       [&] {
         std::map<std::string, std::string> labels;
         for (int i = 0; i < 1000; ++i) labels["l" + std::to_string(i)] = "v" + std::to_string(i);
         std::map<std::string, std::string> some;
         for (int i = 0; i < 100; ++i)
           some["l" + std::to_string(i * 10)] = labels["l" + std::to_string(i * 10)];
         api::LoadBalancerPool p = Pool("p-labels", {"198.51.100.128/28"});
         p.spec.auto_assign = false;
         p.spec.service_selector = MatchLabels(some);
         CreatePool(p);
         ExpectPoolServing("p-labels");
         api::Service s =
             WithAnnotation(LbService(kNs, "many-labels"), kPoolAnnotation, "p-labels");
         s.metadata.labels = labels;
         Keep(s);
         EXPECT_EQ(kept_["many-labels"], std::vector<std::string>{"198.51.100.128"});
       }},
      {"service: 1,000 labels the selector does not match", "False NoEligiblePool (selector)",
       [&] {
         std::map<std::string, std::string> labels;
         for (int i = 0; i < 1000; ++i) labels["l" + std::to_string(i)] = "other";
         api::Service s =
             WithAnnotation(LbService(kNs, "many-wrong-labels"), kPoolAnnotation, "p-labels");
         s.metadata.labels = labels;
         ExpectServiceFails(s, "NoEligiblePool", "serviceSelector does not match");
       }},
      {"service: another class carrying our annotations", "never written, no condition",
       [&] {
         api::Service s = WithAnnotation(LbService(kNs, "foreign-annotated"), kIpsAnnotation,
                                         kept_["keep-1"][0]);
         s.metadata.annotations[kPoolAnnotation] = "good";
         s.spec.load_balancer_class = "example.com/other";
         const double events =
             op_->Metric("lballoc_informer_watch_events_total", {{"resource", "services"}});
         CreateService(s);
         NudgeServices();  // one more event after it: once both were seen, it was looked at
         EXPECT_TRUE(Eventually([&] {
           return op_->Metric("lballoc_informer_watch_events_total", {{"resource", "services"}}) >=
                  events + 2;
         }));
         EXPECT_EQ(ServiceWrites(kNs, "foreign-annotated"), 0);
         EXPECT_EQ(AllocatedCondition(GetService(kNs, "foreign-annotated")), nullptr);
       }},
      {"service: another class showing our condition and an address of our pool",
       "our entry and condition removed, the other controller's hostname kept",
       [&] {
         api::Service s = LbService(kNs, "foreign-with-condition");
         s.spec.load_balancer_class = "example.com/other";
         CreateService(s);
         PatchServiceStatus(
             kNs, "foreign-with-condition",
             R"({"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.250"},{"hostname":"lb.example.com"}]},)"
             R"("conditions":[{"type":"lballoc.io/AddressAllocated","status":"True","reason":"Allocated",)"
             R"("message":"allocated 192.0.2.250","lastTransitionTime":"2026-01-01T00:00:00Z"}]}})");
         api::Service got = WaitService(kNs, "foreign-with-condition", [](const api::Service& s) {
           return AllocatedCondition(s) == nullptr && Ips(s).empty();
         });
         ASSERT_EQ(got.status.ingress.size(), 1u);
         EXPECT_EQ(got.status.ingress[0].hostname, "lb.example.com");
       }},
      {"service: type LoadBalancer -> ClusterIP -> LoadBalancer -> NodePort -> LoadBalancer",
       "allocated at the end",
       [&] {
         Keep(LbService(kNs, "type-flap"));
         for (const char* type : {"ClusterIP", "LoadBalancer", "NodePort", "LoadBalancer"}) {
           PatchService(kNs, "type-flap", std::string(R"({"spec":{"type":")") + type + "\"}}");
         }
         api::Service got = WaitService(kNs, "type-flap", [](const api::Service& s) {
           return s.spec.type == "LoadBalancer" && AllocatedCondition(s) != nullptr &&
                  AllocatedCondition(s)->status == "True" && Ips(s).size() == 1;
         });
         kept_["type-flap"] = Ips(got);
       }},
      {"service: type flapping ending at ClusterIP", "released: no condition, no address",
       [&] {
         Keep(LbService(kNs, "type-flap-off"));
         kept_.erase("type-flap-off");
         for (const char* type : {"ClusterIP", "LoadBalancer", "ClusterIP"}) {
           PatchService(kNs, "type-flap-off", std::string(R"({"spec":{"type":")") + type + "\"}}");
         }
         WaitService(kNs, "type-flap-off", [](const api::Service& s) {
           return AllocatedCondition(s) == nullptr && Ips(s).empty();
         });
       }},
      {"service: class unset -> other -> kube-router -> unset, through ClusterIP (the class "
       "may not change while the type stays LoadBalancer)",
       "allocated at the end",
       [&] {
         Keep(LbService(kNs, "class-flap"));
         FlapClass("class-flap", {R"("example.com/other")", R"("kube-router")", "null"});
         api::Service got = WaitService(kNs, "class-flap", [](const api::Service& s) {
           return s.spec.type == "LoadBalancer" && s.spec.load_balancer_class.empty() &&
                  AllocatedCondition(s) != nullptr && AllocatedCondition(s)->status == "True" &&
                  Ips(s).size() == 1;
         });
         kept_["class-flap"] = Ips(got);
       }},
      {"service: class flapping ending at another class",
       "released with an AddressReleased event; the address serves others",
       [&] {
         Keep(LbService(kNs, "class-flap-off"));
         const std::string ip = kept_["class-flap-off"][0];
         kept_.erase("class-flap-off");
         FlapClass("class-flap-off", {R"("kube-router")", "null", R"("example.com/other")"});
         WaitService(kNs, "class-flap-off", [](const api::Service& s) {
           return s.spec.load_balancer_class == "example.com/other" &&
                  AllocatedCondition(s) == nullptr && Ips(s).empty();
         });
         EXPECT_TRUE(Eventually(
             [&] { return HasEvent("Normal AddressReleased default/class-flap-off: released "); }));
         Keep(WithAnnotation(LbService(kNs, "takes-released"), kIpsAnnotation, ip));
       }},
      // ------------------------------------------------------------ damaged API answers
      {"api: garbage (HTML) body answering a status PATCH that took effect",
       "a logged retry; the address stays held (a rival gets AddressInUse); not terminal",
       [&] { ExpectWriteRetried("patch-garbage", "192.0.2.200", Garbage); }},
      {"api: truncated body answering a status PATCH", "the same",
       [&] { ExpectWriteRetried("patch-truncated", "192.0.2.201", Truncated); }},
      {"api: an object of another kind answering a status PATCH", "the same",
       [&] {
         ExpectWriteRetried("patch-wrong-kind", "192.0.2.202", [](std::string) {
           return std::string(R"({"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"x"}})");
         });
       }},
      {"api: garbage body answering a pool status PATCH", "retried; the pool status converges",
       [&] {
         faulty_->DamageNext("PATCH", "/loadbalancerpools/p-status/status", Garbage);
         CreatePool(Pool("p-status", {"198.51.100.160/28"}, 2000));
         EXPECT_TRUE(Eventually([&] { return faulty_->idle(); }));
         ExpectPoolServing("p-status");
         WaitPool("p-status", [](const api::LoadBalancerPool& p) { return p.status.total == 16; });
       }},
      {"api: garbage body answering a Service LIST", "relisted after the backoff, nothing released",
       [&] { ExpectRelistSurvives("garbage", Garbage); }},
      {"api: truncated Service LIST", "the same",
       [&] { ExpectRelistSurvives("truncated", Truncated); }},
      {"api: empty Service LIST body", "the same", [&] { ExpectRelistSurvives("empty", Empty); }},
      {"api: a Service LIST answered with a NamespaceList", "the same",
       [&] {
         ExpectRelistSurvives("namespace list", [](std::string) {
           return std::string(
               R"({"kind":"NamespaceList","apiVersion":"v1","metadata":{"resourceVersion":"1"},)"
               R"("items":[{"metadata":{"name":"default"}}]})");
         });
       }},
      {"api: a Service LIST answer without items", "the same",
       [&] {
         ExpectRelistSurvives("no items", [](std::string) {
           return std::string(R"({"metadata":{"resourceVersion":"1"}})");
         });
       }},
      {"api: a garbage line in the Service watch", "rewatched or relisted, nothing released",
       [&] { InjectIntoServices("this is not JSON"); }},
      {"api: half a watch event, then the stream goes on", "the same",
       [&] { InjectIntoServices(R"({"type":"MODIFIED","object":{"kind":"Service","metad)"); }},
      {"api: a watch event of unknown type", "the same",
       [&] { InjectIntoServices(R"({"type":"EXPLODED","object":{"kind":"Service"}})"); }},
      {"api: a watch ERROR event carrying a 500", "relisted, nothing released",
       [&] {
         InjectIntoServices(
             R"({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","code":500,"message":"etcd hiccup"}})");
       }},
      {"api: a ConfigMap named like a held Service, DELETED, in the Service watch",
       "skipped and counted (decode failures); the Service keeps its address",
       [&] {
         const double before = DecodeFailures("services");
         InjectIntoServices(
             R"({"type":"DELETED","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"keep-0","namespace":"default","resourceVersion":"999999"}}})");
         EXPECT_TRUE(Eventually([&] { return DecodeFailures("services") >= before + 1; }));
       }},
      {"api: a Namespace named like a pool, DELETED, in the pool watch",
       "skipped and counted; the pool keeps serving",
       [&] {
         const double before = DecodeFailures("loadbalancerpools");
         faulty_->InjectWatchLine(
             kPoolsWatch,
             R"({"type":"DELETED","object":{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"good","resourceVersion":"999999"}}})");
         NudgePools();
         WaitInjected();
         EXPECT_TRUE(Eventually([&] { return DecodeFailures("loadbalancerpools") >= before + 1; }));
         ExpectPoolServing("good");
       }},
      {"api: a LoadBalancerPool of another apiVersion, DELETED, in the pool watch",
       "skipped and counted",
       [&] {
         const double before = DecodeFailures("loadbalancerpools");
         faulty_->InjectWatchLine(
             kPoolsWatch,
             R"({"type":"DELETED","object":{"kind":"LoadBalancerPool","apiVersion":"lballoc.io/v9","metadata":{"name":"good","resourceVersion":"999999"}}})");
         NudgePools();
         WaitInjected();
         EXPECT_TRUE(Eventually([&] { return DecodeFailures("loadbalancerpools") >= before + 1; }));
       }},
      {"api: garbage body answering a Lease renewal", "a logged retry; still the leader",
       [&] {
         faulty_->DamageNext("PUT", "/leases/lballoc", Garbage);
         EXPECT_TRUE(Eventually([&] { return faulty_->idle(); }, seconds(20)));
       }},
  };
  ASSERT_GE(table.size(), 30u);

  // Failures recorded so far in this test (to tell which row failed).
  auto failures = [] {
    const ::testing::TestResult* result =
        ::testing::UnitTest::GetInstance()->current_test_info()->result();
    int n = 0;
    for (int i = 0; i < result->total_part_count(); ++i) n += result->GetTestPartResult(i).failed();
    return n;
  };
  int index = 0;
  int failed_rows = 0;
  for (const Case& row : table) {
    ++index;
    const int failures_before = failures();
    const auto start = std::chrono::steady_clock::now();
    {
      SCOPED_TRACE("row " + std::to_string(index) + ": " + row.input + " -> " + row.expected);
      row.run();
    }
    CheckSurvived(row.input, index);
    const auto ms =
        std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start);
    const bool row_failed = failures() > failures_before;
    failed_rows += row_failed;
    std::printf("[%s] row %2d %5lld ms  %s -> %s\n", row_failed ? "FAIL" : " ok ", index,
                static_cast<long long>(ms.count()), row.input.c_str(), row.expected.c_str());
    std::fflush(stdout);
    if (HasFatalFailure()) return;
  }
  std::printf(
      "bad input: %zu rows, %d failed, %d answers damaged, %d watch lines injected, %zu Services "
      "kept\n",
      table.size(), failed_rows, faulty_->damaged(), faulty_->injected(), kept_.size());
}

}  // namespace
}  // namespace lballoc::controllers
