// Over 800 lines on purpose: one test per rule of the Service and pool contract (API.md), all
// sharing one fixture; split by rule they would repeat the fixture's set-up.
// The operator (SetupWithManager) against the in-process API server: one test per rule of
// API.md's Service and pool sections, checked through what a user sees (statuses, events,
// metrics) and through the server's audit of every write (status writes counted, no address
// shown by two Services outside a sharing group).
#include "controllers/operator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "controllers/convert.h"
#include "controllers/operator_test_env.h"
#include "controllers/test_objects.h"
#include "test/testing/eventually.h"
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
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

class OperatorTest : public OperatorTestEnv {
 protected:
  static OperatorOptions Fast() {
    OperatorOptions o;
    o.pool_status_interval = milliseconds(100);
    return o;
  }

  // Waits until the replica has nothing left to do: both queues empty, no reconcile running,
  // and no reconcile for a while longer than the pool-status interval (so a delayed pool
  // reconcile would have shown up). Used before asserting that something did NOT happen.
  void Settle(Replica* op, milliseconds quiet = milliseconds(400)) {
    auto total = [&] {
      double n = 0;
      for (const char* c : {"service", "loadbalancerpool"}) {
        for (const char* r : {"success", "error", "requeue_after"}) {
          n += op->Metric("controller_runtime_reconcile_total", {{"controller", c}, {"result", r}});
        }
      }
      return n;
    };
    auto idle = [&] {
      for (const char* c : {"service", "loadbalancerpool"}) {
        if (op->Metric("workqueue_depth", {{"name", c}, {"controller", c}}) != 0) return false;
        if (op->Metric("controller_runtime_active_workers", {{"controller", c}}) != 0) return false;
      }
      return true;
    };
    double last = -1;
    auto since = std::chrono::steady_clock::now();
    ASSERT_TRUE(Eventually(
        [&] {
          double now = total();
          if (now != last || !idle()) {
            last = now;
            since = std::chrono::steady_clock::now();
            return false;
          }
          return std::chrono::steady_clock::now() - since >= quiet;
        },
        seconds(60)));
  }

  // Another controller's share of a Service's status: a hostname entry and a condition.
  void AddForeignStatus(const std::string& ns, const std::string& name) {
    api::Service patch;
    patch.status = GetService(ns, name).status;
    api::LoadBalancerIngress host;
    host.hostname = "lb.example.com";
    patch.status.ingress.push_back(host);
    api::Condition announced;
    announced.type = "example.com/Announced";
    announced.status = "True";
    announced.reason = "Announced";
    announced.last_transition_time = ::lballoc::controllers::testing::At(1700000000);
    patch.status.conditions.push_back(announced);
    PatchServiceStatus(ns, name, api::ServiceStatusPatch(patch));
  }

  static bool HasEvent(const Replica* op, const std::string& line) {
    std::vector<std::string> events = op->events();
    return std::find(events.begin(), events.end(), line) != events.end();
  }
  static int CountEvents(const Replica* op, const std::string& prefix) {
    int n = 0;
    for (const std::string& e : op->events()) n += e.rfind(prefix, 0) == 0 ? 1 : 0;
    return n;
  }
  static const api::Condition* PoolCondition(const api::LoadBalancerPool& p,
                                             const std::string& type) {
    return api::FindCondition(p.status.conditions, type);
  }
  static bool PoolReady(const api::LoadBalancerPool& p, const std::string& status,
                        const std::string& reason) {
    const api::Condition* c = PoolCondition(p, "Ready");
    return c != nullptr && c->status == status && c->reason == reason &&
           p.status.observed_generation == p.metadata.generation;
  }
};

// ---------------------------------------------------------------- the happy path

TEST_F(OperatorTest, AllocatesWithOneStatusWriteAndReportsPoolStatusAndMetrics) {
  CreatePool(Pool("web", {"192.0.2.0/30"}));
  Replica* op = StartOperator(Fast());
  CreateService(LbService("default", "a"));
  api::Service a = WaitService("default", "a",
                               [](const api::Service& s) { return AllocatedTo(s, {"192.0.2.0"}); });
  const api::Condition* c = AllocatedCondition(a);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->reason, "Allocated");
  EXPECT_EQ(c->message, "allocated 192.0.2.0 (pool \"web\")");
  EXPECT_EQ(c->observed_generation, a.metadata.generation);
  EXPECT_TRUE(c->last_transition_time.has_value());

  api::LoadBalancerPool web = WaitPool("web", [](const api::LoadBalancerPool& p) {
    return PoolReady(p, "True", "Serving") && p.status.allocated == 1;
  });
  EXPECT_EQ(web.status.total, 4);
  EXPECT_EQ(web.status.available, 3);
  ASSERT_TRUE(web.status.ipv4.has_value());
  EXPECT_EQ(*web.status.ipv4, (api::AddressCounts{4, 1, 3}));
  ASSERT_TRUE(web.status.ipv6.has_value());
  EXPECT_EQ(*web.status.ipv6, (api::AddressCounts{0, 0, 0}));
  EXPECT_EQ(PoolCondition(web, "Ready")->message, "4 addresses, 1 allocated");
  EXPECT_EQ(PoolCondition(web, "Exhausted")->status, "False");
  EXPECT_EQ(PoolCondition(web, "Exhausted")->reason, "AddressesAvailable");

  Settle(op);
  EXPECT_EQ(ServiceWrites("default", "a"), 1);
  EXPECT_THAT(op->events(),
              ElementsAre("Normal AddressAllocated default/a: allocated 192.0.2.0 (pool \"web\")"));
  EXPECT_EQ(op->Metric("lballoc_pool_addresses",
                       {{"pool", "web"}, {"family", "IPv4"}, {"state", "allocated"}}),
            1);
  EXPECT_EQ(op->Metric("lballoc_pool_addresses",
                       {{"pool", "web"}, {"family", "IPv4"}, {"state", "total"}}),
            4);
  EXPECT_EQ(op->Metric("lballoc_pool_addresses",
                       {{"pool", "web"}, {"family", "IPv6"}, {"state", "available"}}),
            0);
  EXPECT_EQ(op->Metric("lballoc_allocations_total", {{"result", "Allocated"}}), 1);
  EXPECT_EQ(op->Metric("lballoc_allocations_total", {{"result", "PoolExhausted"}}), 0);
  EXPECT_EQ(op->Metric("lballoc_allocation_latency_seconds_count"), 1);
  EXPECT_TRUE(DoubleAllocations().empty());
}

TEST_F(OperatorTest, ServerAddedIpModeIsNotRewritten) {
  CreatePool(Pool("web", {"192.0.2.0/30"}));
  Replica* op = StartOperator(Fast());
  CreateService(LbService("default", "a"));
  WaitService("default", "a", [](const api::Service& s) { return AllocatedTo(s, {"192.0.2.0"}); });
  Settle(op);
  // Like kube-apiserver 1.30+, the in-tree server fills in ipMode: VIP on lballoc's entry.
  EXPECT_EQ(GetService("default", "a").status.ingress[0].ip_mode, "VIP");
  EXPECT_EQ(ServiceWrites("default", "a"), 1);
  // Another writer's change makes lballoc look again; still nothing to rewrite.
  PatchService("default", "a", R"({"metadata":{"labels":{"touched":"yes"}}})");
  Settle(op);
  EXPECT_EQ(ServiceWrites("default", "a"), 2);  // the test's own patch only
}

// ---------------------------------------------------------------- release (rule 4)

TEST_F(OperatorTest, DeletedServiceReleasesItsAddress) {
  CreatePool(Pool("web", {"192.0.2.0/32"}));
  Replica* op = StartOperator(Fast());
  CreateService(LbService("default", "a"));
  WaitService("default", "a", [](const api::Service& s) { return AllocatedTo(s, {"192.0.2.0"}); });
  CreateService(LbService("default", "b"));
  api::Service b = WaitService(
      "default", "b", [](const api::Service& s) { return FailedWith(s, "PoolExhausted"); });
  EXPECT_EQ(AllocatedCondition(b)->message,
            "no free IPv4 address in the eligible pools (\"web\"). Pools passed over for IPv4: "
            "\"web\": exhausted (no free IPv4 address).");
  WaitPool("web", [](const api::LoadBalancerPool& p) {
    const api::Condition* e = PoolCondition(p, "Exhausted");
    return e != nullptr && e->status == "True" && e->reason == "NoAddressesAvailable";
  });
  EXPECT_TRUE(Eventually([&] {
    return HasEvent(op, "Warning AllocationFailed default/b: " + AllocatedCondition(b)->message);
  }));

  DeleteService("default", "a");
  // The waiting Service gets the freed address without any change of its own.
  WaitService("default", "b", [](const api::Service& s) { return AllocatedTo(s, {"192.0.2.0"}); });
  WaitPool("web", [](const api::LoadBalancerPool& p) {
    return p.status.allocated == 1 && PoolCondition(p, "Exhausted")->status == "True";
  });
  EXPECT_TRUE(DoubleAllocations().empty());
}

TEST_F(OperatorTest, TypeChangeReleasesTheAddressAndRemovesOurCondition) {
  CreatePool(Pool("web", {"192.0.2.0/30"}));
  Replica* op = StartOperator(Fast());
  CreateService(LbService("default", "a"));
  WaitService("default", "a", [](const api::Service& s) { return AllocatedTo(s, {"192.0.2.0"}); });
  AddForeignStatus("default", "a");
  Settle(op);
  // Hostname entries are not lballoc's business: kept.
  EXPECT_EQ(GetService("default", "a").status.ingress.size(), 2u);
  EXPECT_EQ(ServiceWrites("default", "a"), 2);  // ours and the test's

  // The API server clears status.loadBalancer itself when the type leaves LoadBalancer.
  PatchService("default", "a", R"({"spec":{"type":"ClusterIP"}})");
  api::Service a = WaitService(
      "default", "a", [](const api::Service& s) { return AllocatedCondition(s) == nullptr; });
  ASSERT_EQ(a.status.conditions.size(), 1u);
  EXPECT_EQ(a.status.conditions[0].type, "example.com/Announced");
  EXPECT_TRUE(Eventually([&] {
    return HasEvent(op,
                    "Normal AddressReleased default/a: released 192.0.2.0: the Service is no "
                    "longer handled");
  }));
  WaitPool("web", [](const api::LoadBalancerPool& p) { return p.status.allocated == 0; });
  // The address is free again.
  CreateService(LbService("default", "b"));
  WaitService("default", "b", [](const api::Service& s) { return AllocatedTo(s, {"192.0.2.0"}); });
}

TEST_F(OperatorTest, StopHandlingAClassRemovesExactlyOurEntriesAndOtherClassesAreNeverWritten) {
  CreatePool(Pool("web", {"192.0.2.0/30"}));
  Replica* first = StartOperator(Fast());
  CreateService(LbService("default", "plain"));  // no class: handled while default class is on
  api::Service named = LbService("default", "named");
  named.spec.load_balancer_class = "kube-router";
  CreateService(named);
  api::Service other = LbService("default", "other");
  other.spec.load_balancer_class = "example.com/other";
  other.metadata.annotations[kPoolAnnotation] = "web";
  other.metadata.annotations[kIpsAnnotation] = "192.0.2.3";
  other.metadata.annotations[kSharingKeyAnnotation] = "k";
  CreateService(other);
  std::vector<std::string> plain_ips = Ips(
      WaitService("default", "plain", [](const api::Service& s) { return Ips(s).size() == 1; }));
  std::vector<std::string> named_ips = Ips(
      WaitService("default", "named", [](const api::Service& s) { return Ips(s).size() == 1; }));
  AddForeignStatus("default", "plain");
  Settle(first);
  StopOperator(first);

  // --loadbalancer-default-class=false: "plain" is no longer handled.
  OperatorOptions o = Fast();
  o.load_balancer_default_class = false;
  Replica* second = StartOperator(o);
  api::Service plain = WaitService(
      "default", "plain", [](const api::Service& s) { return AllocatedCondition(s) == nullptr; });
  ASSERT_EQ(plain.status.ingress.size(), 1u);
  EXPECT_EQ(plain.status.ingress[0].hostname, "lb.example.com");
  ASSERT_EQ(plain.status.conditions.size(), 1u);
  EXPECT_EQ(plain.status.conditions[0].type, "example.com/Announced");
  Settle(second);
  EXPECT_EQ(Ips(GetService("default", "named")), named_ips);
  EXPECT_TRUE(HasEvent(second, "Normal AddressReleased default/plain: released " + plain_ips[0] +
                                   ": the Service is no longer handled"));
  // Classless Services created now are not handled either.
  CreateService(LbService("default", "late"));
  Settle(second);
  EXPECT_EQ(ServiceWrites("default", "late"), 0);
  // The Service of another class, with all of lballoc's annotations, was never written.
  EXPECT_EQ(ServiceWrites("default", "other"), 0);
  EXPECT_THAT(second->events(), Not(Contains(HasSubstr("default/other"))));
  EXPECT_THAT(first->events(), Not(Contains(HasSubstr("default/other"))));
  WaitPool("web", [](const api::LoadBalancerPool& p) { return p.status.allocated == 1; });
}

// ---------------------------------------------------------------- how a Service asks

TEST_F(OperatorTest, RequestedAddressFreeInUseAndOutsidePools) {
  CreatePool(Pool("web", {"192.0.2.0/29"}));
  Replica* op = StartOperator(Fast());
  api::Service a = LbService("default", "a");
  a.metadata.annotations[kIpsAnnotation] = "192.0.2.5";
  CreateService(a);
  WaitService("default", "a", [](const api::Service& s) { return AllocatedTo(s, {"192.0.2.5"}); });

  api::Service b = LbService("default", "b");
  b.spec.load_balancer_ip = "192.0.2.5";  // the deprecated field
  CreateService(b);
  b = WaitService("default", "b",
                  [](const api::Service& s) { return FailedWith(s, "AddressInUse"); });
  EXPECT_THAT(AllocatedCondition(b)->message, HasSubstr("192.0.2.5 is in use by default/a"));
  EXPECT_TRUE(Ips(b).empty());

  api::Service c = LbService("default", "c");
  c.metadata.annotations[kIpsAnnotation] = "203.0.113.9";
  CreateService(c);
  c = WaitService("default", "c",
                  [](const api::Service& s) { return FailedWith(s, "AddressNotInPool"); });
  EXPECT_THAT(AllocatedCondition(c)->message, HasSubstr("203.0.113.9"));

  api::Service d = LbService("default", "d");
  d.metadata.annotations[kIpsAnnotation] = "192.0.2.1,192.0.2.2";
  CreateService(d);
  d = WaitService("default", "d",
                  [](const api::Service& s) { return FailedWith(s, "InvalidRequest"); });
  EXPECT_THAT(AllocatedCondition(d)->message, HasSubstr("lballoc.io/ips"));

  // `a` lets go of 192.0.2.5: `b` gets it (it waits for addresses to be freed).
  PatchService("default", "a", R"({"metadata":{"annotations":{"lballoc.io/ips":"192.0.2.6"}}})");
  WaitService("default", "a", [](const api::Service& s) { return AllocatedTo(s, {"192.0.2.6"}); });
  WaitService("default", "b", [](const api::Service& s) { return AllocatedTo(s, {"192.0.2.5"}); });
  Settle(op);
  EXPECT_TRUE(DoubleAllocations().empty());
}

TEST_F(OperatorTest, NamedPoolsAutoAssignFalseAndPriority) {
  api::LoadBalancerPool lab = Pool("lab", {"10.0.0.0/30"});
  lab.spec.auto_assign = false;
  CreatePool(lab);
  api::LoadBalancerPool backup = Pool("backup", {"198.51.100.0/30"});
  backup.spec.priority = 10;
  CreatePool(backup);
  api::LoadBalancerPool main = Pool("main", {"192.0.2.0/30"});
  main.spec.priority = 1;
  CreatePool(main);
  StartOperator(Fast());

  // Priority: "main" (1) before "backup" (10), whatever the names; "lab" is not autoAssign.
  CreateService(LbService("default", "auto"));
  WaitService("default", "auto",
              [](const api::Service& s) { return AllocatedTo(s, {"192.0.2.0"}); });
  // A Service naming the autoAssign: false pool gets it.
  api::Service named = LbService("default", "named");
  named.metadata.annotations[kPoolAnnotation] = "lab";
  CreateService(named);
  WaitService("default", "named",
              [](const api::Service& s) { return AllocatedTo(s, {"10.0.0.0"}); });
  // Naming a pool that does not exist.
  api::Service ghost = LbService("default", "ghost");
  ghost.metadata.annotations[kPoolAnnotation] = "ghost";
  CreateService(ghost);
  ghost = WaitService("default", "ghost",
                      [](const api::Service& s) { return FailedWith(s, "NoEligiblePool"); });
  EXPECT_EQ(AllocatedCondition(ghost)->message,
            "pool \"ghost\" does not exist. Pools passed over for IPv4: \"ghost\": does not "
            "exist.");
}

TEST_F(OperatorTest, ExplainsEveryPoolPassedOver) {
  api::LoadBalancerPool lab = Pool("lab", {"10.0.0.0/30"});
  lab.spec.auto_assign = false;
  CreatePool(lab);
  api::LoadBalancerPool team = Pool("team", {"10.0.1.0/30"});
  team.spec.service_selector = MatchLabels({{"team", "db"}});
  CreatePool(team);
  api::LoadBalancerPool off = Pool("off", {"10.0.2.0/30"});
  off.spec.disabled = true;
  CreatePool(off);
  CreatePool(Pool("v6", {"2001:db8::/64"}));
  api::LoadBalancerPool bad = Pool("bad", {"10.0.3.9-10.0.3.1"});
  CreatePool(bad);
  api::LoadBalancerPool prod = Pool("prod", {"10.0.4.0/30"});
  prod.spec.namespace_selector = MatchLabels({{"env", "prod"}});
  CreatePool(prod);
  StartOperator(Fast());
  CreateService(LbService("default", "web"));
  api::Service web = WaitService("default", "web", [](const api::Service& s) {
    // Pools are applied one event at a time: wait for all six.
    return FailedWith(s, "FamilyUnavailable") &&
           AllocatedCondition(s)->message.find("and 1 more") != std::string::npos;
  });
  EXPECT_EQ(AllocatedCondition(web)->message,
            "no eligible pool has IPv4 addresses (eligible: \"v6\"). Pools passed over for "
            "IPv4: "
            "\"bad\": not Ready (InvalidSpec: spec.addresses[0]: \"10.0.3.9-10.0.3.1\": last "
            "address is below the first); "
            "\"lab\": autoAssign is false and the Service does not name it; "
            "\"off\": disabled; "
            "\"prod\": namespaceSelector does not match namespace \"default\"; "
            "\"team\": serviceSelector does not match the Service's labels; "
            "and 1 more.");
}

TEST_F(OperatorTest, NamespaceRelabelReevaluatesItsServices) {
  CreateNamespace("shop", {{"env", "staging"}});
  api::LoadBalancerPool prod = Pool("prod", {"192.0.2.0/30"});
  prod.spec.namespace_selector = MatchLabels({{"env", "prod"}});
  CreatePool(prod);
  StartOperator(Fast());
  CreateService(LbService("shop", "web"));
  WaitService("shop", "web", [](const api::Service& s) { return FailedWith(s, "NoEligiblePool"); });

  LabelNamespace("shop", {{"env", "prod"}});
  WaitService("shop", "web", [](const api::Service& s) { return AllocatedTo(s, {"192.0.2.0"}); });
  // Rule 3: relabelled away, the address is no longer valid for the Service.
  LabelNamespace("shop", {{"env", "dev"}});
  api::Service web = WaitService("shop", "web", [](const api::Service& s) {
    return FailedWith(s, "NoEligiblePool") && Ips(s).empty();
  });
  WaitPool("prod", [](const api::LoadBalancerPool& p) { return p.status.allocated == 0; });
}

TEST_F(OperatorTest, ServiceSelectorFollowsServiceLabels) {
  api::LoadBalancerPool team = Pool("team", {"192.0.2.0/30"});
  team.spec.service_selector = MatchLabels({{"team", "web"}});
  CreatePool(team);
  StartOperator(Fast());
  CreateService(LbService("default", "a"));
  WaitService("default", "a",
              [](const api::Service& s) { return FailedWith(s, "NoEligiblePool"); });
  PatchService("default", "a", R"({"metadata":{"labels":{"team":"web"}}})");
  WaitService("default", "a", [](const api::Service& s) { return AllocatedTo(s, {"192.0.2.0"}); });
}

TEST_F(OperatorTest, SharingAcceptedPortClashAndOtherNamespace) {
  CreateNamespace("other", {});
  CreatePool(Pool("web", {"192.0.2.0/29"}));
  Replica* op = StartOperator(Fast());
  auto shared = [](const std::string& ns, const std::string& name, int port) {
    api::Service s = LbService(ns, name);
    s.metadata.annotations[kSharingKeyAnnotation] = "front";
    s.spec.ports[0].port = port;
    return s;
  };
  CreateService(shared("default", "http", 80));
  WaitService("default", "http",
              [](const api::Service& s) { return AllocatedTo(s, {"192.0.2.0"}); });
  CreateService(shared("default", "https", 443));
  WaitService("default", "https",
              [](const api::Service& s) { return AllocatedTo(s, {"192.0.2.0"}); });
  CreateService(shared("default", "clash", 80));
  WaitService("default", "clash",
              [](const api::Service& s) { return AllocatedTo(s, {"192.0.2.1"}); });
  CreateService(shared("other", "elsewhere", 8080));
  WaitService("other", "elsewhere",
              [](const api::Service& s) { return AllocatedTo(s, {"192.0.2.2"}); });
  Settle(op);
  EXPECT_TRUE(DoubleAllocations().empty());
  // A shared address counts once.
  EXPECT_EQ(GetPool("web").status.allocated, 3);
}

// ---------------------------------------------------------------- families

TEST_F(OperatorTest, DualStackPoliciesAndTheSecondFamilyLater) {
  CreatePool(Pool("v4", {"192.0.2.0/30"}));
  Replica* op = StartOperator(Fast());
  api::Service single = LbService("default", "single");
  single.spec.ip_families = {"IPv6"};
  CreateService(single);
  api::Service prefer = LbService("default", "prefer");
  prefer.spec.ip_family_policy = "PreferDualStack";
  prefer.spec.ip_families = {"IPv6", "IPv4"};
  CreateService(prefer);
  api::Service require = LbService("default", "require");
  require.spec.ip_family_policy = "RequireDualStack";
  require.spec.ip_families = {"IPv4", "IPv6"};
  CreateService(require);

  api::Service s = WaitService("default", "single", [](const api::Service& s) {
    return FailedWith(s, "FamilyUnavailable");
  });
  EXPECT_EQ(AllocatedCondition(s)->message,
            "no eligible pool has IPv6 addresses (eligible: \"v4\"). Pools passed over for IPv6: "
            "\"v4\": no IPv6 addresses.");
  api::Service p = WaitService("default", "prefer",
                               [](const api::Service& s) { return AllocatedTo(s, {"192.0.2.0"}); });
  EXPECT_THAT(AllocatedCondition(p)->message, HasSubstr("IPv6 not allocated yet"));
  WaitService("default", "require", [](const api::Service& s) {
    return FailedWith(s, "FamilyUnavailable") && Ips(s).empty();
  });

  // An IPv6 pool appears: the missing family is added, in spec.ipFamilies order, and what
  // was held stays.
  CreatePool(Pool("v6", {"2001:db8::/120"}));
  auto v6 = [](const std::string& ip) { return ip.find(':') != std::string::npos; };
  api::Service single_now = WaitService("default", "single", [&](const api::Service& s) {
    return AllocatedCondition(s)->status == "True" && Ips(s).size() == 1 && v6(Ips(s)[0]);
  });
  api::Service prefer_now = WaitService("default", "prefer", [&](const api::Service& s) {
    return AllocatedCondition(s)->status == "True" && Ips(s).size() == 2 && v6(Ips(s)[0]) &&
           Ips(s)[1] == "192.0.2.0";
  });
  api::Service require_now = WaitService("default", "require", [&](const api::Service& s) {
    return AllocatedCondition(s)->status == "True" && Ips(s).size() == 2 && !v6(Ips(s)[0]) &&
           v6(Ips(s)[1]);
  });
  std::set<std::string> v6s = {Ips(single_now)[0], Ips(prefer_now)[0], Ips(require_now)[1]};
  EXPECT_EQ(v6s.size(), 3u);
  EXPECT_EQ(AllocatedCondition(prefer_now)->message,
            "allocated " + Ips(prefer_now)[0] + " (pool \"v6\"), 192.0.2.0 (pool \"v4\")");
  Settle(op);
  EXPECT_TRUE(HasEvent(op, "Normal AddressAllocated default/prefer: allocated " +
                               Ips(prefer_now)[0] + " (pool \"v6\")"));
  EXPECT_EQ(ServiceWrites("default", "prefer"), 2);
}

// ---------------------------------------------------------------- pools

TEST_F(OperatorTest, InvalidAndOverlappingPools) {
  api::LoadBalancerPool older = Pool("older", {"192.0.2.0/29"});
  CreatePool(older);
  std::this_thread::sleep_for(milliseconds(1100));  // creationTimestamp has whole seconds
  CreatePool(Pool("aaa-newer", {"192.0.2.4/30"}));
  api::LoadBalancerPool bad = Pool("bad", {"192.0.2.64/26", "nonsense"});
  CreatePool(bad);
  api::LoadBalancerPool badsel = Pool("badsel", {"198.51.100.0/30"});
  // The CRD's schema refuses what it can (an unknown operator); "In" without values passes it.
  api::LabelSelector sel;
  sel.match_expressions.push_back({"team", "In", {}});
  badsel.spec.service_selector = sel;
  CreatePool(badsel);
  StartOperator(Fast());

  api::LoadBalancerPool n = WaitPool(
      "aaa-newer", [](const api::LoadBalancerPool& p) { return PoolReady(p, "False", "Overlap"); });
  EXPECT_THAT(PoolCondition(n, "Ready")->message, HasSubstr("overlaps pool \"older\""));
  WaitPool("older", [](const api::LoadBalancerPool& p) { return PoolReady(p, "True", "Serving"); });
  api::LoadBalancerPool b = WaitPool(
      "bad", [](const api::LoadBalancerPool& p) { return PoolReady(p, "False", "InvalidSpec"); });
  EXPECT_THAT(PoolCondition(b, "Ready")->message, HasSubstr("spec.addresses[1]"));
  EXPECT_THAT(PoolCondition(b, "Ready")->message, HasSubstr("nonsense"));
  api::LoadBalancerPool bs = WaitPool("badsel", [](const api::LoadBalancerPool& p) {
    return PoolReady(p, "False", "InvalidSpec");
  });
  EXPECT_THAT(PoolCondition(bs, "Ready")->message,
              HasSubstr("spec.serviceSelector.matchExpressions[0]"));

  // Only the older pool hands out addresses ("aaa-newer" sorts first by name but is Overlap).
  CreateService(LbService("default", "a"));
  WaitService("default", "a", [](const api::Service& s) { return AllocatedTo(s, {"192.0.2.0"}); });

  // Fixing the invalid pool makes it serve; the generation is observed.
  PatchPool("bad", R"({"spec":{"addresses":["192.0.2.64/26"]}})");
  WaitPool("bad", [](const api::LoadBalancerPool& p) {
    return PoolReady(p, "True", "Serving") && p.status.total == 64;
  });
}

TEST_F(OperatorTest, PoolShrinkMovesOnlyTheAffectedService) {
  CreatePool(Pool("web", {"192.0.2.0/29"}));
  Replica* op = StartOperator(Fast());
  for (const char* name : {"a", "b", "c", "d"}) {
    CreateService(LbService("default", name));
    WaitService("default", name, [](const api::Service& s) { return Ips(s).size() == 1; });
  }
  EXPECT_EQ(Ips(GetService("default", "c")), std::vector<std::string>{"192.0.2.2"});
  Settle(op);
  int before = TotalServiceWrites();
  PatchPool("web", R"({"spec":{"excludeAddresses":["192.0.2.2"]}})");
  WaitService("default", "c", [](const api::Service& s) { return AllocatedTo(s, {"192.0.2.4"}); });
  Settle(op);
  EXPECT_EQ(Ips(GetService("default", "a")), std::vector<std::string>{"192.0.2.0"});
  EXPECT_EQ(Ips(GetService("default", "b")), std::vector<std::string>{"192.0.2.1"});
  EXPECT_EQ(Ips(GetService("default", "d")), std::vector<std::string>{"192.0.2.3"});
  EXPECT_EQ(TotalServiceWrites() - before, 1);  // only "c" was rewritten
  EXPECT_TRUE(HasEvent(op, "Normal AddressReleased default/c: released 192.0.2.2"));
  // Deleting the pool: its Services get a False condition and lose their addresses.
  DeletePool("web");
  WaitService("default", "a", [](const api::Service& s) {
    return FailedWith(s, "NoEligiblePool") && Ips(s).empty();
  });
  EXPECT_TRUE(DoubleAllocations().empty());
}

TEST_F(OperatorTest, DisabledPoolKeepsGivenAddressesAndGivesNoNewOnes) {
  CreatePool(Pool("web", {"192.0.2.0/30"}));
  StartOperator(Fast());
  CreateService(LbService("default", "a"));
  WaitService("default", "a", [](const api::Service& s) { return AllocatedTo(s, {"192.0.2.0"}); });
  PatchPool("web", R"({"spec":{"disabled":true}})");
  WaitPool("web", [](const api::LoadBalancerPool& p) { return PoolReady(p, "False", "Disabled"); });
  CreateService(LbService("default", "b"));
  api::Service b = WaitService(
      "default", "b", [](const api::Service& s) { return FailedWith(s, "NoEligiblePool"); });
  EXPECT_THAT(AllocatedCondition(b)->message, HasSubstr("\"web\": disabled"));
  EXPECT_TRUE(AllocatedTo(GetService("default", "a"), {"192.0.2.0"}));
}

TEST_F(OperatorTest, AMovedAddressGoesToNoOneUntilTheOldHolderStopsShowingIt) {
  CreatePool(Pool("web", {"192.0.2.0/32"}));
  CreatePool(Pool("web2", {"198.51.100.0/32"}));
  // Status writes of default/a (writes that leave spec and metadata alone) fail with 503 while
  // `blocked` is set.
  std::atomic<bool> blocked{false};
  server_->AddAuditCheck(
      "block-a",
      [&blocked](const apiserver::AuditEvent& ev) {
        if (!blocked || ev.resource != "services" || ev.name != "a" || ev.old_object == nullptr ||
            ev.new_object == nullptr) {
          return Status();
        }
        auto annotations = [](const rapidjson::Value* obj) -> const rapidjson::Value* {
          auto md = obj->FindMember("metadata");
          if (md == obj->MemberEnd()) return nullptr;
          auto an = md->value.FindMember("annotations");
          return an == md->value.MemberEnd() ? nullptr : &an->value;
        };
        const rapidjson::Value* before = annotations(ev.old_object);
        const rapidjson::Value* after = annotations(ev.new_object);
        bool same = (before == nullptr && after == nullptr) ||
                    (before != nullptr && after != nullptr && *before == *after);
        return same ? UnavailableError("blocked by the test") : Status();
      },
      /*reject=*/true);
  Replica* op = StartOperator(Fast());
  api::Service a = LbService("default", "a");
  a.metadata.annotations[kPoolAnnotation] = "web";
  CreateService(a);
  WaitService("default", "a", [](const api::Service& s) { return AllocatedTo(s, {"192.0.2.0"}); });
  api::Service b = LbService("default", "b");
  b.metadata.annotations[kPoolAnnotation] = "web";
  CreateService(b);
  WaitService("default", "b", [](const api::Service& s) { return FailedWith(s, "PoolExhausted"); });

  blocked = true;
  PatchService("default", "a", R"({"metadata":{"annotations":{"lballoc.io/pool":"web2"}}})");
  // The engine moved `a` to web2 (its write keeps failing)...
  ASSERT_TRUE(Eventually([&] {
    return op->Metric("lballoc_pool_addresses",
                      {{"pool", "web2"}, {"family", "IPv4"}, {"state", "allocated"}}) == 1;
  }));
  // ...but 192.0.2.0, which `a` still shows, is not given to `b`. (Asserting that something
  // does not happen needs a wait; `b` would have been retried within milliseconds.)
  std::this_thread::sleep_for(milliseconds(500));
  EXPECT_TRUE(FailedWith(GetService("default", "b"), "PoolExhausted"));
  EXPECT_EQ(Ips(GetService("default", "a")), std::vector<std::string>{"192.0.2.0"});
  EXPECT_EQ(op->Metric("lballoc_pool_addresses",
                       {{"pool", "web"}, {"family", "IPv4"}, {"state", "allocated"}}),
            1);

  blocked = false;
  WaitService("default", "a",
              [](const api::Service& s) { return AllocatedTo(s, {"198.51.100.0"}); });
  WaitService("default", "b", [](const api::Service& s) { return AllocatedTo(s, {"192.0.2.0"}); });
  EXPECT_TRUE(DoubleAllocations().empty());
}

TEST_F(OperatorTest, AStatusTheServerRefusesForGoodReleasesTheReservation) {
  CreatePool(Pool("web", {"192.0.2.0/32"}));
  // Every write to default/a is refused with 422, as a server refuses an invalid object.
  server_->AddAuditCheck(
      "refuse-a",
      [](const apiserver::AuditEvent& ev) {
        if (ev.resource == "services" && ev.name == "a" && ev.verb == "patch") {
          return FailedPreconditionError("refused by the test");
        }
        return Status();
      },
      /*reject=*/true);
  Replica* op = StartOperator(Fast());
  CreateService(LbService("default", "a"));
  ASSERT_TRUE(Eventually([&] {
    return op->Metric("controller_runtime_terminal_reconcile_errors_total",
                      {{"controller", "service"}}) >= 1;
  }));
  // The address `a` could not show is free for another Service.
  CreateService(LbService("default", "b"));
  WaitService("default", "b", [](const api::Service& s) { return AllocatedTo(s, {"192.0.2.0"}); });
  EXPECT_TRUE(Ips(GetService("default", "a")).empty());
  EXPECT_TRUE(DoubleAllocations().empty());
}

// ---------------------------------------------------------------- stability (rules 1, 2)

TEST_F(OperatorTest, RestartKeepsEveryAddressAndWritesNothing) {
  CreatePool(Pool("a-web", {"192.0.2.0/28"}));
  CreatePool(Pool("z-other", {"198.51.100.0/28"}));
  Replica* first = StartOperator(Fast());
  std::vector<std::string> names;
  for (int i = 0; i < 8; ++i) names.push_back("svc-" + std::to_string(i));
  for (const std::string& n : names) CreateService(LbService("default", n));
  std::map<std::string, std::vector<std::string>> before;
  for (const std::string& n : names) {
    before[n] =
        Ips(WaitService("default", n, [](const api::Service& s) { return Ips(s).size() == 1; }));
  }
  // Free a hole in the middle, so that a restart that re-allocated would move someone.
  DeleteService("default", "svc-2");
  before.erase("svc-2");
  Settle(first);
  StopOperator(first);
  int writes = TotalServiceWrites();

  // Editing another pool while no one leads, then a fresh operator on the same server.
  PatchPool("z-other", R"({"spec":{"priority":-5}})");
  Replica* second = StartOperator(Fast());
  Settle(second);
  for (const auto& [n, ips] : before) EXPECT_EQ(Ips(GetService("default", n)), ips) << n;
  EXPECT_EQ(TotalServiceWrites(), writes);
  EXPECT_EQ(CountEvents(second, ""), 0) << ::testing::PrintToString(second->events());
  // New Services now come from the pool with the better priority; nobody else moves.
  CreateService(LbService("default", "late"));
  WaitService("default", "late",
              [](const api::Service& s) { return AllocatedTo(s, {"198.51.100.0"}); });
}

TEST_F(OperatorTest, RestoreConflictOlderKeepsNewerMovesWithAWarning) {
  CreatePool(Pool("web", {"192.0.2.0/29"}));
  // Two Services showing one address (written by someone, no operator running). Equal
  // creationTimestamps are ordered by name: "a-old" is the older.
  CreateService(LbService("default", "a-old"));
  CreateService(LbService("default", "b-new"));
  const std::string ingress = R"({"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.3"}]}}})";
  PatchServiceStatus("default", "b-new", ingress);
  PatchServiceStatus("default", "a-old", ingress);
  api::Service a = GetService("default", "a-old");
  api::Service b = GetService("default", "b-new");
  ASSERT_LE(CreationOrder(a.metadata), CreationOrder(b.metadata));

  Replica* op = StartOperator(Fast());
  WaitService("default", "b-new",
              [](const api::Service& s) { return AllocatedTo(s, {"192.0.2.0"}); });
  WaitService("default", "a-old",
              [](const api::Service& s) { return AllocatedTo(s, {"192.0.2.3"}); });
  EXPECT_EQ(DoubleAllocationNow(), "");
  // The events follow the status writes the waits above saw: let the operator finish.
  Settle(op);
  std::vector<std::string> events = op->events();
  EXPECT_THAT(events, Contains(HasSubstr("Warning AllocationFailed default/b-new: 192.0.2.3 "
                                         "could not be kept: 192.0.2.3 is in use by "
                                         "default/a-old")));
  EXPECT_THAT(events, Contains("Normal AddressAllocated default/b-new: allocated 192.0.2.0 "
                               "(pool \"web\")"));
  EXPECT_THAT(events, Contains("Normal AddressReleased default/b-new: released 192.0.2.3"));
  EXPECT_THAT(events, Not(Contains(HasSubstr("a-old: allocated"))));
}

TEST_F(OperatorTest, LeaderChangeMovesNothing) {
  CreatePool(Pool("web", {"192.0.2.0/28"}));
  Replica* one = StartOperator(Fast(), "pod-1");
  ASSERT_TRUE(Eventually([&] { return one->manager->IsLeader(); }));
  Replica* two = StartOperator(Fast(), "pod-2");
  for (const char* n : {"a", "b", "c"}) CreateService(LbService("default", n));
  std::map<std::string, std::vector<std::string>> before;
  for (const char* n : {"a", "b", "c"}) {
    before[n] =
        Ips(WaitService("default", n, [](const api::Service& s) { return Ips(s).size() == 1; }));
  }
  // The three got the pool's three lowest addresses, in the order the workers reconciled them;
  // the one "a" frees is then the lowest free address, which a new Service gets.
  const std::vector<std::string> freed = before["a"];
  DeleteService("default", "a");
  before.erase("a");
  Settle(one);
  int writes = TotalServiceWrites();
  StopOperator(one);  // releases the Lease
  ASSERT_TRUE(Eventually([&] { return two->manager->IsLeader(); }, seconds(20)));
  Settle(two);
  for (const auto& [n, ips] : before) EXPECT_EQ(Ips(GetService("default", n)), ips) << n;
  EXPECT_EQ(TotalServiceWrites(), writes);
  CreateService(LbService("default", "d"));
  WaitService("default", "d", [&](const api::Service& s) { return AllocatedTo(s, freed); });
  EXPECT_TRUE(DoubleAllocations().empty());
}

// ---------------------------------------------------------------- write economy

TEST_F(OperatorTest, OneWritePerServiceZeroOnResyncAndCoalescedPoolWrites) {
  CreatePool(Pool("web", {"10.0.0.0/16"}));
  // Watches end every 1.5 s and are resumed from their resourceVersion (no relist yet): a
  // watch reads the fault configuration when it opens, so this must be in place from the start.
  // (Not much shorter: a watch that ends within 1 s without an event makes the reflector back
  // off, up to 30 s, and a stale pool cache only makes pool-status writes meet 409s.)
  apiserver::FaultConfig faults;
  faults.watch_drop_interval = milliseconds(1500);
  server_->faults().Configure(faults);
  OperatorOptions o;  // the default pool_status_interval of 1 s
  o.service_workers = 4;
  Replica* op = StartOperator(o);
  const int n = 200;
  for (int i = 0; i < n; ++i) CreateService(LbService("default", "svc-" + std::to_string(i)));
  ASSERT_TRUE(Eventually([&] { return GetPool("web").status.allocated == n; }, seconds(60)));
  Settle(op, milliseconds(1500));
  for (int i = 0; i < n; ++i) {
    ASSERT_EQ(ServiceWrites("default", "svc-" + std::to_string(i)), 1) << i;
  }
  int pool_writes = PoolWrites("web");
  std::fprintf(stderr, "%d Services allocated: %d Service status writes, %d pool status writes\n",
               n, TotalServiceWrites(), pool_writes);
  EXPECT_LT(pool_writes, 20) << "pool status writes were not coalesced";
  EXPECT_GE(pool_writes, 1);
  EXPECT_EQ(GetPool("web").status.allocated, n);

  // A resync: the informers relist (watches expire), every Service is reconciled again and
  // nothing is written.
  double reconciles = op->Metric("controller_runtime_reconcile_total",
                                 {{"controller", "service"}, {"result", "success"}});
  faults.watch_expire_rate = 1.0;  // resumes now get 410 Expired: the informers relist
  server_->faults().Configure(faults);
  ASSERT_TRUE(Eventually(
      [&] {
        return op->Metric("controller_runtime_reconcile_total",
                          {{"controller", "service"}, {"result", "success"}}) >= reconciles + n;
      },
      seconds(60)));
  server_->faults().Configure({});
  Settle(op, milliseconds(1500));
  EXPECT_EQ(TotalServiceWrites(), n);
  EXPECT_EQ(PoolWrites("web"), pool_writes);
  EXPECT_EQ(op->Metric("lballoc_allocation_latency_seconds_count"), n);
}

// ---------------------------------------------------------------- faults

TEST_F(OperatorTest, ConvergesUnderFaultsWithoutDoubleAllocation) {
  CreatePool(Pool("web", {"192.0.2.0/26"}));
  CreatePool(Pool("web2", {"198.51.100.0/26"}));
  CreatePool(Pool("v6", {"2001:db8::/120"}));
  OperatorOptions o = Fast();
  o.service_workers = 4;
  Replica* op = StartOperator(o);
  apiserver::FaultConfig faults;
  faults.verbs["patch"] = {0.15, 0.1, 0.1};  // 409, 500, 429
  faults.verbs["list"] = {0, 0.1, 0};
  // Watches end every 1.5 s (a watch ending sooner without events makes the reflector back
  // off, which would only slow the test down) and a fifth of the resumes get 410 -> relist.
  faults.watch_drop_interval = milliseconds(1500);
  faults.watch_expire_rate = 0.2;
  faults.retry_after_seconds = 0;
  faults.seed = 7;
  server_->faults().Configure(faults);

  const int n = 60;
  auto make = [](int i) {
    api::Service s = LbService("default", "svc-" + std::to_string(i));
    if (i % 5 == 0) {
      s.spec.ip_family_policy = "RequireDualStack";
      s.spec.ip_families = {"IPv4", "IPv6"};
    }
    if (i % 7 == 0) {
      s.metadata.annotations[kSharingKeyAnnotation] = "k";
      s.spec.ports[0].port = 1000 + i;
    }
    return s;
  };
  for (int i = 0; i < n; ++i) CreateService(make(i));
  // Churn while the faults go on: deletions, re-creations, and Services moving between pools
  // and back (every move releases an address another Service may then take).
  for (int round = 0; round < 3; ++round) {
    for (int i = round; i < n; i += 6) DeleteService("default", "svc-" + std::to_string(i));
    if (round > 0) {
      for (int i = round - 1; i < n; i += 6) CreateService(make(i));
    }
    const char* pools = round % 2 == 0 ? "web2,v6" : "web,v6";
    for (int i = 3; i < n; i += 4) {
      if ((i - round) % 6 == 0) continue;  // deleted in this round
      PatchService(
          "default", "svc-" + std::to_string(i),
          std::string(R"({"metadata":{"annotations":{"lballoc.io/pool":")") + pools + R"("}}})");
    }
    std::this_thread::sleep_for(milliseconds(700));  // let the operator work between rounds
  }
  ASSERT_TRUE(Eventually(
      [&] {
        runtime::TypedClient<api::Service> services(*client_);
        StatusOr<api::List<api::Service>> list = services.ListAll("default");
        if (!list.ok()) return false;
        for (const api::Service& s : list->items) {
          const api::Condition* c = AllocatedCondition(s);
          if (c == nullptr || c->status != "True") return false;
          size_t want = s.spec.ip_families.size();
          if (Ips(s).size() != want) return false;
        }
        return true;
      },
      seconds(120)))
      << [&] {
           server_->faults().Configure({});
           std::string out;
           runtime::TypedClient<api::Service> services(*client_);
           StatusOr<api::List<api::Service>> list = services.ListAll("default");
           if (list.ok()) {
             for (const api::Service& s : list->items) {
               const api::Condition* c = AllocatedCondition(s);
               out += s.metadata.name + ": " + ::testing::PrintToString(Ips(s)) + " " +
                      (c == nullptr ? "no condition" : c->reason + " " + c->message) + "\n";
             }
           }
           return out;
         }();
  server_->faults().Configure({});
  Settle(op);
  EXPECT_GT(server_->faults().injected(), 0);
  EXPECT_EQ(DoubleAllocationNow(), "");
  std::vector<apiserver::AuditViolation> doubles = DoubleAllocations();
  EXPECT_TRUE(doubles.empty()) << doubles.front().status;
  // The pools' counts are right in the end (distinct addresses: a shared one counts once).
  runtime::TypedClient<api::Service> services(*client_);
  ASSERT_OK_AND_ASSIGN(api::List<api::Service> list, services.ListAll("default"));
  std::map<std::string, std::set<std::string>> by_pool;
  for (const api::Service& s : list.items) {
    for (const std::string& ip : Ips(s)) {
      by_pool[ip.rfind("192.0.2.", 0) == 0      ? "web"
              : ip.rfind("198.51.100.", 0) == 0 ? "web2"
                                                : "v6"]
          .insert(ip);
    }
  }
  for (const char* pool : {"web", "web2", "v6"}) {
    int want = static_cast<int>(by_pool[pool].size());
    WaitPool(pool, [&](const api::LoadBalancerPool& p) { return p.status.allocated == want; });
  }
  std::fprintf(stderr, "faults injected: %lld; Services: %zu; status writes: %d\n",
               static_cast<long long>(server_->faults().injected()), list.items.size(),
               TotalServiceWrites());
}

}  // namespace
}  // namespace lballoc::controllers
