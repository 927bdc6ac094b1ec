#include "controllers/allocation_state.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>

#include "controllers/status.h"
#include "controllers/test_objects.h"
#include "test/testing/status_matchers.h"

namespace lballoc::controllers {
namespace {

using ::lballoc::controllers::testing::At;
using ::lballoc::controllers::testing::LbService;
using ::lballoc::controllers::testing::MatchLabels;
using ::lballoc::controllers::testing::Pool;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

ipam::Address A(const std::string& text) { return *ipam::ParseAddress(text); }

class AllocationStateTest : public ::testing::Test {
 protected:
  AllocationStateTest() : state_(ClassSelection{}, services_, namespaces_) {}

  // Puts `svc` in the cache (as the informer would); returns the cached object.
  runtime::ObjectPtr<CachedService> Put(const api::Service& svc) {
    auto cached = std::make_shared<const CachedService>(CachedService::From(svc));
    services_.Upsert(cached);
    return cached;
  }
  // Puts `svc` in the cache (as the informer would) and allocates for it.
  AllocationState::Outcome Allocate(const api::Service& svc) {
    runtime::ObjectPtr<CachedService> cached = Put(svc);
    return state_.Allocate(*cached, BuildRequest(*cached));
  }
  void SetPools(std::vector<api::LoadBalancerPool> pools) {
    pools_.clear();
    for (auto& p : pools) pools_.push_back(std::make_shared<const api::LoadBalancerPool>(p));
    ASSERT_OK(state_.ApplyPools(pools_).status());
  }
  void Namespace(const std::string& name, std::map<std::string, std::string> labels) {
    api::Namespace ns;
    ns.metadata.name = name;
    ns.metadata.labels = std::move(labels);
    namespaces_.Upsert(std::make_shared<const api::Namespace>(ns));
  }
  // The Service as written with `addresses` in its ingress.
  static api::Service Showing(api::Service svc, const std::vector<std::string>& ips) {
    svc.status.ingress.clear();
    for (const std::string& ip : ips) svc.status.ingress.push_back({ip, "", "", {}});
    return svc;
  }

  runtime::Store<CachedService> services_;
  runtime::Store<api::Namespace> namespaces_;
  std::vector<runtime::ObjectPtr<api::LoadBalancerPool>> pools_;
  AllocationState state_;
};

TEST_F(AllocationStateTest, AllocatesLowestAddressAndExplainsFailures) {
  SetPools({Pool("web", {"192.0.2.0/31"})});
  AllocationState::Outcome a = Allocate(LbService("default", "a"));
  EXPECT_EQ(a.reason, ipam::Reason::kAllocated);
  EXPECT_THAT(a.addresses, ElementsAre(A("192.0.2.0")));
  EXPECT_THAT(a.pools, ElementsAre("web"));
  EXPECT_EQ(a.message, "allocated 192.0.2.0 (pool \"web\")");
  EXPECT_THAT(a.dirty_pools, ElementsAre("web"));
  Allocate(LbService("default", "b"));
  AllocationState::Outcome c = Allocate(LbService("default", "c"));
  EXPECT_EQ(c.reason, ipam::Reason::kPoolExhausted);
  EXPECT_EQ(c.message,
            "no free IPv4 address in the eligible pools (\"web\"). Pools passed over for IPv4: "
            "\"web\": exhausted (no free IPv4 address).");
  EXPECT_THAT(c.dirty_pools, IsEmpty());
  EXPECT_EQ(state_.waiting_count(), 1u);
  // Idempotent: again, nothing changes.
  AllocationState::Outcome again = Allocate(LbService("default", "a"));
  EXPECT_THAT(again.addresses, ElementsAre(A("192.0.2.0")));
  EXPECT_THAT(again.dirty_pools, IsEmpty());
  EXPECT_THAT(again.retry, IsEmpty());
}

TEST_F(AllocationStateTest, ReleaseOfAGoneServiceRetriesTheWaiting) {
  SetPools({Pool("web", {"192.0.2.0/32"})});
  Allocate(LbService("default", "a"));
  EXPECT_EQ(Allocate(LbService("default", "b")).reason, ipam::Reason::kPoolExhausted);
  AllocationState::Released r = state_.Release("default/a", nullptr);
  EXPECT_THAT(r.released, ElementsAre(A("192.0.2.0")));
  EXPECT_THAT(r.dirty_pools, ElementsAre("web"));
  EXPECT_THAT(r.retry, ElementsAre("default/b"));
  EXPECT_THAT(Allocate(LbService("default", "b")).addresses, ElementsAre(A("192.0.2.0")));
  EXPECT_EQ(state_.waiting_count(), 0u);
}

TEST_F(AllocationStateTest, OnlyServicesAFreeCanHelpAreRetriedAndEachOnce) {
  api::LoadBalancerPool team = Pool("team", {"198.51.100.0/24"});
  team.spec.service_selector = MatchLabels({{"team", "x"}});
  SetPools({Pool("v4", {"192.0.2.0/32"}), Pool("v6", {"2001:db8::/127"}), team});
  Allocate(LbService("default", "holder"));                      // takes 192.0.2.0
  EXPECT_EQ(Allocate(LbService("default", "exhausted")).reason,  // waits for IPv4
            ipam::Reason::kPoolExhausted);
  api::Service named = LbService("default", "named");    // no eligible pool: a free
  named.metadata.annotations[kPoolAnnotation] = "team";  // cannot help
  EXPECT_EQ(Allocate(named).reason, ipam::Reason::kNoEligiblePool);
  api::Service bad = LbService("default", "bad");
  bad.metadata.annotations[kIpsAnnotation] = "nonsense";
  EXPECT_EQ(Allocate(bad).reason, ipam::Reason::kInvalidRequest);
  api::Service six = LbService("default", "six");
  six.spec.ip_families = {"IPv6"};
  Allocate(six);
  EXPECT_EQ(state_.waiting_count(), 1u);

  // An IPv6 address freed: nobody waits for IPv6.
  EXPECT_THAT(state_.Release("default/six", nullptr).retry, IsEmpty());
  // The IPv4 address freed: the one waiting Service, once.
  EXPECT_THAT(state_.Release("default/holder", nullptr).retry, ElementsAre("default/exhausted"));
  EXPECT_EQ(state_.waiting_count(), 0u);
  Allocate(LbService("default", "holder"));  // takes it back before the retry ran
  EXPECT_EQ(Allocate(LbService("default", "exhausted")).reason, ipam::Reason::kPoolExhausted);
  EXPECT_EQ(state_.waiting_count(), 1u);  // waits again
}

TEST_F(AllocationStateTest, SelectorsFromServiceAndNamespaceLabels) {
  api::LoadBalancerPool prod = Pool("prod", {"192.0.2.0/24"});
  prod.spec.namespace_selector = MatchLabels({{"env", "prod"}});
  api::LoadBalancerPool web = Pool("web", {"198.51.100.0/24"});
  web.spec.service_selector = MatchLabels({{"team", "web"}});
  SetPools({prod, web});
  Namespace("shop", {{"env", "prod"}});
  Namespace("dev", {{"env", "dev"}});

  EXPECT_THAT(Allocate(LbService("shop", "a")).addresses, ElementsAre(A("192.0.2.0")));
  api::Service b = LbService("dev", "b");
  AllocationState::Outcome out = Allocate(b);
  EXPECT_EQ(out.reason, ipam::Reason::kNoEligiblePool);
  EXPECT_EQ(out.message,
            "no Ready autoAssign pool selects this Service. Pools passed over for IPv4: "
            "\"prod\": namespaceSelector does not match namespace \"dev\"; "
            "\"web\": serviceSelector does not match the Service's labels.");
  b.metadata.labels["team"] = "web";
  EXPECT_THAT(Allocate(b).addresses, ElementsAre(A("198.51.100.0")));

  // The namespace is relabelled: the held address stops being valid on the next Allocate.
  Namespace("shop", {{"env", "staging"}});
  AllocationState::Outcome moved = Allocate(LbService("shop", "a"));
  EXPECT_EQ(moved.reason, ipam::Reason::kNoEligiblePool);
  EXPECT_THAT(moved.released, ElementsAre(A("192.0.2.0")));
}

TEST_F(AllocationStateTest, StatusOnlyPoolChangesDoNotReapply) {
  SetPools({Pool("web", {"192.0.2.0/24"})});
  api::LoadBalancerPool web = Pool("web", {"192.0.2.0/24"});
  web.status.allocated = 12;
  web.metadata.resource_version = "77";
  ASSERT_OK_AND_ASSIGN(AllocationState::PoolsApplied same,
                       state_.ApplyPools({std::make_shared<const api::LoadBalancerPool>(web)}));
  EXPECT_FALSE(same.changed);
  web.spec.priority = 2;
  ASSERT_OK_AND_ASSIGN(AllocationState::PoolsApplied changed,
                       state_.ApplyPools({std::make_shared<const api::LoadBalancerPool>(web)}));
  EXPECT_TRUE(changed.changed);
  EXPECT_THAT(changed.dirty_pools, ElementsAre("web"));
}

TEST_F(AllocationStateTest, BadSelectorIsInvalidSpecAndKeepsGivenAddresses) {
  api::LoadBalancerPool web = Pool("web", {"192.0.2.0/24"});
  web.spec.service_selector = MatchLabels({{"team", "web"}});
  SetPools({web});
  api::Service a = LbService("default", "a");
  a.metadata.labels["team"] = "web";
  EXPECT_THAT(Allocate(a).addresses, ElementsAre(A("192.0.2.0")));

  api::LabelSelector bad;
  bad.match_expressions.push_back({"team", "Near", {"web"}});
  web.spec.service_selector = bad;
  SetPools({web});
  std::optional<ipam::PoolStatus> view = state_.PoolView("web");
  ASSERT_TRUE(view.has_value());
  EXPECT_EQ(view->condition, ipam::PoolCondition::kInvalidSpec);
  EXPECT_THAT(view->message, HasSubstr("spec.serviceSelector.matchExpressions[0].operator"));
  // The address it gave stays (judged by the last valid selector); nothing new is handed out.
  EXPECT_THAT(Allocate(a).addresses, ElementsAre(A("192.0.2.0")));
  api::Service b = LbService("default", "b");
  b.metadata.labels["team"] = "web";
  AllocationState::Outcome out = Allocate(b);
  EXPECT_EQ(out.reason, ipam::Reason::kNoEligiblePool);
  EXPECT_THAT(out.message, HasSubstr("\"web\": not Ready (InvalidSpec: spec.serviceSelector"));

  // A new leadership term of the same process keeps judging by the last valid selector.
  auto shown =
      std::make_shared<const CachedService>(CachedService::From(Showing(a, {"192.0.2.0"})));
  services_.Upsert(shown);
  ASSERT_OK_AND_ASSIGN(AllocationState::Rebuilt rebuilt, state_.Rebuild(pools_, {shown}));
  EXPECT_THAT(rebuilt.dropped, IsEmpty());
  EXPECT_THAT(state_.AddressesOf("default/a"), ElementsAre(A("192.0.2.0")));
}

TEST_F(AllocationStateTest, AMovedAddressIsQuarantinedUntilTheStatusIsWritten) {
  SetPools({Pool("blue", {"192.0.2.0/32"}), Pool("green", {"198.51.100.0/32"})});
  api::Service a = LbService("default", "a");
  a.metadata.annotations[kPoolAnnotation] = "blue";
  EXPECT_THAT(Allocate(a).addresses, ElementsAre(A("192.0.2.0")));
  a = Showing(a, {"192.0.2.0"});  // written

  // The Service now asks for the other pool; it still shows 192.0.2.0.
  a.metadata.annotations[kPoolAnnotation] = "green";
  AllocationState::Outcome moved = Allocate(a);
  EXPECT_THAT(moved.addresses, ElementsAre(A("198.51.100.0")));
  EXPECT_THAT(moved.released, ElementsAre(A("192.0.2.0")));
  EXPECT_EQ(state_.quarantine_count(), 1u);
  EXPECT_THAT(state_.HoldersOf(A("192.0.2.0")), ElementsAre("default/a#192.0.2.0"));
  // Another Service cannot have it yet.
  api::Service b = LbService("default", "b");
  b.metadata.annotations[kPoolAnnotation] = "blue";
  EXPECT_EQ(Allocate(b).reason, ipam::Reason::kPoolExhausted);
  // A reconcile of `a` before its write succeeded keeps it quarantined.
  Allocate(a);
  EXPECT_EQ(state_.quarantine_count(), 1u);

  AllocationState::Freed freed = state_.StatusWritten("default/a");
  EXPECT_THAT(freed.dirty_pools, ElementsAre("blue"));
  EXPECT_THAT(freed.retry, ElementsAre("default/b"));
  EXPECT_EQ(state_.quarantine_count(), 0u);
  EXPECT_THAT(Allocate(b).addresses, ElementsAre(A("192.0.2.0")));
}

TEST_F(AllocationStateTest, ReleaseOfAServiceNoLongerHandled) {
  SetPools({Pool("web", {"192.0.2.0/30"})});
  api::Service a = LbService("default", "a");
  Allocate(a);
  a = Showing(a, {"192.0.2.0", "203.0.113.9"});
  a.spec.type = "ClusterIP";
  AllocationState::Released r = state_.Release("default/a", Put(a).get());
  EXPECT_THAT(r.ours, ElementsAre(A("192.0.2.0")));  // not the foreign 203.0.113.9
  EXPECT_EQ(state_.quarantine_count(), 1u);
  state_.StatusWritten("default/a");
  EXPECT_EQ(state_.quarantine_count(), 0u);

  // A Service lballoc wrote in an earlier term (it carries the condition), not held now: the
  // shown addresses inside lballoc's pools are lballoc's.
  api::Service old = Showing(LbService("default", "old"), {"192.0.2.3", "203.0.113.9"});
  old.spec.load_balancer_class = "example.com/other";
  old.status.conditions.push_back(AllocationCondition(ipam::Reason::kAllocated, "x", 1));
  const CachedService cached_old = CachedService::From(old);
  EXPECT_THAT(state_.Release("default/old", &cached_old).ours, ElementsAre(A("192.0.2.3")));
  state_.StatusWritten("default/old");
  // Without the condition, nothing is ours.
  old.status.conditions.clear();
  const CachedService cached_old_now = CachedService::From(old);
  EXPECT_THAT(state_.Release("default/old", &cached_old_now).ours, IsEmpty());
}

TEST_F(AllocationStateTest, RebuildKeepsAddressesOlderWinsAndQuarantinesTheRest) {
  std::vector<runtime::ObjectPtr<api::LoadBalancerPool>> pools = {
      std::make_shared<const api::LoadBalancerPool>(Pool("web", {"192.0.2.0/29"}))};
  api::Service older = Showing(LbService("default", "older"), {"192.0.2.5"});
  older.metadata.creation_timestamp = At(100);
  api::Service newer = Showing(LbService("default", "newer"), {"192.0.2.5"});
  newer.metadata.creation_timestamp = At(200);
  api::Service moved = Showing(LbService("default", "moved"), {"192.0.2.6"});
  moved.metadata.annotations[kIpsAnnotation] = "192.0.2.1";  // changed while no one led
  api::Service gone_pool = Showing(LbService("default", "gone"), {"10.9.9.9"});
  api::Service other = Showing(LbService("default", "other"), {"192.0.2.7"});
  other.spec.load_balancer_class = "example.com/other";  // not ours, never counted
  std::vector<runtime::ObjectPtr<CachedService>> services = {Put(newer), Put(older), Put(moved),
                                                             Put(gone_pool), Put(other)};

  ASSERT_OK_AND_ASSIGN(AllocationState::Rebuilt rebuilt, state_.Rebuild(pools, services));
  EXPECT_THAT(state_.AddressesOf("default/older"), ElementsAre(A("192.0.2.5")));
  EXPECT_THAT(state_.AddressesOf("default/newer"), IsEmpty());
  EXPECT_THAT(state_.AddressesOf("default/moved"), IsEmpty());
  ASSERT_EQ(rebuilt.dropped.size(), 3u);
  std::vector<std::string> dropped;
  for (const ipam::Dropped& d : rebuilt.dropped)
    dropped.push_back(d.service + " " + d.address.ToString());
  EXPECT_THAT(dropped, UnorderedElementsAre("default/newer 192.0.2.5", "default/moved 192.0.2.6",
                                            "default/gone 10.9.9.9"));
  // 192.0.2.6 is still shown by `moved`: quarantined. 10.9.9.9 is in no pool; 192.0.2.5 is the
  // older one's; 192.0.2.7 belongs to another class.
  EXPECT_EQ(rebuilt.quarantined, 1u);
  EXPECT_EQ(rebuilt.services, 1u);
  EXPECT_THAT(state_.HoldersOf(A("192.0.2.6")), ElementsAre("default/moved#192.0.2.6"));
  EXPECT_THAT(state_.HoldersOf(A("192.0.2.7")), IsEmpty());

  // The newer one gets a fresh address: the lowest free, not 192.0.2.5/6.
  const CachedService cached_newer = CachedService::From(newer);
  AllocationState::Outcome n = state_.Allocate(cached_newer, BuildRequest(cached_newer));
  EXPECT_THAT(n.addresses, ElementsAre(A("192.0.2.0")));
  // A second rebuild (a new term) gives the same answer.
  ASSERT_OK_AND_ASSIGN(AllocationState::Rebuilt again, state_.Rebuild(pools, services));
  EXPECT_EQ(again.dropped.size(), 3u);
  EXPECT_THAT(state_.AddressesOf("default/newer"), IsEmpty());
}

// A Service under sharing key "k" with TCP `ports`.
api::Service Sharing(const std::string& name, const std::vector<int32_t>& ports) {
  api::Service s = LbService("default", name);
  s.metadata.annotations[kSharingKeyAnnotation] = "k";
  s.spec.ports.clear();
  for (int32_t port : ports) {
    api::ServicePort p;
    p.name = "p" + std::to_string(port);
    p.port = port;
    s.spec.ports.push_back(p);
  }
  return s;
}

// s1 and s2 share 192.0.2.0; s2 adds s1's port and moves, still showing 192.0.2.0. The
// placeholder cannot hold it (s1 does), yet a third Service that may share it with s1 but not
// with what s2 shows must not get it until s2's status is written.
TEST_F(AllocationStateTest, AnAddressStillShownIsNotSharedWithAConflictingService) {
  SetPools({Pool("web", {"192.0.2.0/30"})});
  EXPECT_THAT(Allocate(Sharing("s1", {80})).addresses, ElementsAre(A("192.0.2.0")));
  api::Service s2 = Sharing("s2", {443});
  EXPECT_THAT(Allocate(s2).addresses, ElementsAre(A("192.0.2.0")));
  s2 = Showing(Sharing("s2", {80, 443}), {"192.0.2.0"});  // written, then TCP/80 added
  AllocationState::Outcome moved = Allocate(s2);
  EXPECT_THAT(moved.addresses, ElementsAre(A("192.0.2.1")));
  EXPECT_THAT(moved.released, ElementsAre(A("192.0.2.0")));
  EXPECT_THAT(state_.HoldersOf(A("192.0.2.0")), ElementsAre("default/s1"));

  // Asking for it: AddressInUse, naming s2, and waits.
  api::Service s3 = Sharing("s3", {443});
  s3.metadata.annotations[kIpsAnnotation] = "192.0.2.0";
  AllocationState::Outcome refused = Allocate(s3);
  EXPECT_EQ(refused.reason, ipam::Reason::kAddressInUse);
  EXPECT_THAT(refused.message, HasSubstr("default/s2"));
  EXPECT_THAT(state_.HoldersOf(A("192.0.2.0")), ElementsAre("default/s1"));
  // Not asking for it: another address, not the shared one.
  EXPECT_THAT(Allocate(Sharing("s4", {443})).addresses, ElementsAre(A("192.0.2.2")));
  // A Service that may share it with both still gets it.
  EXPECT_THAT(Allocate(Sharing("s5", {22})).addresses, ElementsAre(A("192.0.2.0")));
  // s2's reconcile before its write succeeded changes nothing.
  Allocate(s2);
  EXPECT_EQ(Allocate(s3).reason, ipam::Reason::kAddressInUse);

  // s2's status is written: s3 is retried and gets it.
  AllocationState::Freed freed = state_.StatusWritten("default/s2");
  EXPECT_THAT(freed.retry, ElementsAre("default/s3"));
  EXPECT_THAT(Allocate(s3).addresses, ElementsAre(A("192.0.2.0")));
  EXPECT_THAT(state_.HoldersOf(A("192.0.2.0")),
              ElementsAre("default/s1", "default/s3", "default/s5"));
  EXPECT_EQ(state_.waiting_count(), 0u);
}

// s2 then stops being handled: what it shows of s1's address is still ours to remove, and
// still kept from s3 until the write.
TEST_F(AllocationStateTest, AnAddressStillShownByAServiceNoLongerHandled) {
  SetPools({Pool("web", {"192.0.2.0/30"})});
  Allocate(Sharing("s1", {80}));
  Allocate(Sharing("s2", {443}));
  api::Service s2 = Showing(Sharing("s2", {80, 443}), {"192.0.2.0"});
  EXPECT_THAT(Allocate(s2).addresses, ElementsAre(A("192.0.2.1")));
  s2 = Showing(s2, {"192.0.2.0", "192.0.2.1"});  // as if both were shown
  s2.spec.type = "ClusterIP";
  AllocationState::Released r = state_.Release("default/s2", Put(s2).get());
  EXPECT_THAT(r.ours, UnorderedElementsAre(A("192.0.2.0"), A("192.0.2.1")));
  api::Service s3 = Sharing("s3", {443});
  s3.metadata.annotations[kIpsAnnotation] = "192.0.2.0";
  EXPECT_EQ(Allocate(s3).reason, ipam::Reason::kAddressInUse);
  EXPECT_THAT(state_.StatusWritten("default/s2").retry, ElementsAre("default/s3"));
  EXPECT_THAT(Allocate(s3).addresses, ElementsAre(A("192.0.2.0")));
}

// A pool change takes an address from a Service that still shows it: quarantined at once,
// not only at that Service's next reconcile.
TEST_F(AllocationStateTest, AnAddressInvalidatedByAPoolChangeIsQuarantinedAtOnce) {
  api::LoadBalancerPool web = Pool("web", {"192.0.2.0/30"});
  SetPools({web});
  api::Service a = LbService("default", "a");
  a.metadata.labels["team"] = "a";
  EXPECT_THAT(Allocate(a).addresses, ElementsAre(A("192.0.2.0")));
  a = Showing(a, {"192.0.2.0"});
  Put(a);

  web.spec.service_selector = MatchLabels({{"team", "b"}});
  ASSERT_OK_AND_ASSIGN(AllocationState::PoolsApplied applied,
                       state_.ApplyPools({std::make_shared<const api::LoadBalancerPool>(web)}));
  EXPECT_THAT(applied.invalidated, ElementsAre("default/a"));
  EXPECT_THAT(state_.HoldersOf(A("192.0.2.0")), ElementsAre("default/a#192.0.2.0"));
  api::Service b = LbService("default", "b");
  b.metadata.labels["team"] = "b";
  EXPECT_THAT(Allocate(b).addresses, ElementsAre(A("192.0.2.1")));
  EXPECT_EQ(Allocate(a).reason, ipam::Reason::kNoEligiblePool);
  EXPECT_EQ(state_.quarantine_count(), 1u);
  state_.StatusWritten("default/a");
  EXPECT_EQ(state_.quarantine_count(), 0u);
}

// The same after a rebuild (the chaos test's case): the newer sharer loses the address to the
// older one; a new Service waits as PoolExhausted, is retried when the loser is deleted, and
// the address gets a placeholder as soon as its last holder lets it go.
TEST_F(AllocationStateTest, AnAddressLostAtRebuildIsNotSharedWithAConflictingService) {
  std::vector<runtime::ObjectPtr<api::LoadBalancerPool>> pools = {
      std::make_shared<const api::LoadBalancerPool>(Pool("web", {"192.0.2.0/32"}))};
  api::Service older = Showing(Sharing("older", {8080}), {"192.0.2.0"});
  older.metadata.creation_timestamp = At(100);
  api::Service newer = Showing(Sharing("newer", {443, 8080}), {"192.0.2.0"});
  newer.metadata.creation_timestamp = At(200);
  ASSERT_OK_AND_ASSIGN(AllocationState::Rebuilt rebuilt,
                       state_.Rebuild(pools, {Put(older), Put(newer)}));
  ASSERT_EQ(rebuilt.dropped.size(), 1u);
  EXPECT_EQ(rebuilt.dropped[0].service, "default/newer");

  api::Service fresh = Sharing("fresh", {80, 443});
  EXPECT_EQ(Allocate(fresh).reason, ipam::Reason::kPoolExhausted);
  EXPECT_THAT(state_.HoldersOf(A("192.0.2.0")), ElementsAre("default/older"));
  EXPECT_EQ(state_.waiting_count(), 1u);

  // The older one goes first: the address is free, and quarantined for `newer`.
  AllocationState::Released gone = state_.Release("default/older", nullptr);
  EXPECT_THAT(gone.retry, IsEmpty());
  EXPECT_THAT(state_.HoldersOf(A("192.0.2.0")), ElementsAre("default/newer#192.0.2.0"));
  EXPECT_EQ(Allocate(fresh).reason, ipam::Reason::kPoolExhausted);

  // `newer` is deleted: `fresh` is retried and gets it.
  AllocationState::Released deleted = state_.Release("default/newer", nullptr);
  EXPECT_THAT(deleted.retry, ElementsAre("default/fresh"));
  EXPECT_THAT(Allocate(fresh).addresses, ElementsAre(A("192.0.2.0")));
}

}  // namespace
}  // namespace lballoc::controllers
