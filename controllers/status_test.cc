#include "controllers/status.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "controllers/convert.h"
#include "controllers/test_objects.h"

namespace lballoc::controllers {
namespace {

using ::lballoc::controllers::testing::At;
using ::lballoc::controllers::testing::Pool;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::SizeIs;

ipam::Address A(const std::string& text) { return *ipam::ParseAddress(text); }

api::LoadBalancerIngress Ip(const std::string& ip, const std::string& mode = "") {
  api::LoadBalancerIngress in;
  in.ip = ip;
  in.ip_mode = mode;
  return in;
}

api::Condition Other() {
  api::Condition c;
  c.type = "example.com/Announced";
  c.status = "True";
  c.reason = "Announced";
  c.last_transition_time = At(100);
  return c;
}

TEST(IngressEquivalentTest, IpModeVipEqualsUnset) {
  EXPECT_TRUE(IngressEquivalent({Ip("192.0.2.7")}, {Ip("192.0.2.7", "VIP")}));
  EXPECT_TRUE(IngressEquivalent({Ip("192.0.2.7", "VIP")}, {Ip("192.0.2.7")}));
  EXPECT_FALSE(IngressEquivalent({Ip("192.0.2.7")}, {Ip("192.0.2.7", "Proxy")}));
  EXPECT_FALSE(IngressEquivalent({Ip("192.0.2.7")}, {Ip("192.0.2.8")}));
  EXPECT_FALSE(IngressEquivalent({Ip("192.0.2.7")}, {Ip("192.0.2.7"), Ip("2001:db8::7")}));
  // Order matters (spec.ipFamilies order).
  EXPECT_FALSE(IngressEquivalent({Ip("192.0.2.7"), Ip("2001:db8::7")},
                                 {Ip("2001:db8::7"), Ip("192.0.2.7")}));
}

TEST(DesiredServiceStatusTest, OneIpPerFamilyKeepsOthersConditions) {
  api::ServiceStatus current;
  current.conditions.push_back(Other());
  api::Condition ours = AllocationCondition(ipam::Reason::kAllocated, "allocated", 3);
  api::ServiceStatus want =
      DesiredServiceStatus(current, {A("2001:db8::7"), A("192.0.2.7")}, ours, At(500));
  EXPECT_THAT(want.ingress, ElementsAre(Field(&api::LoadBalancerIngress::ip, "2001:db8::7"),
                                        Field(&api::LoadBalancerIngress::ip, "192.0.2.7")));
  ASSERT_THAT(want.conditions, SizeIs(2));
  EXPECT_EQ(want.conditions[0], Other());
  EXPECT_EQ(want.conditions[1].type, kConditionType);
  EXPECT_EQ(want.conditions[1].status, "True");
  EXPECT_EQ(want.conditions[1].reason, "Allocated");
  EXPECT_EQ(want.conditions[1].observed_generation, 3);
  EXPECT_EQ(want.conditions[1].last_transition_time, At(500));
  EXPECT_FALSE(ServiceStatusEquivalent(want, current));
}

TEST(DesiredServiceStatusTest, NothingToWriteWhenTheServerAddedIpMode) {
  api::Condition ours = AllocationCondition(ipam::Reason::kAllocated, "allocated", 1);
  api::ServiceStatus written = DesiredServiceStatus({}, {A("192.0.2.7")}, ours, At(500));
  // What the API server of Kubernetes 1.30+ shows back.
  api::ServiceStatus read = written;
  read.ingress[0].ip_mode = "VIP";
  api::ServiceStatus again = DesiredServiceStatus(read, {A("192.0.2.7")}, ours, At(900));
  EXPECT_TRUE(ServiceStatusEquivalent(again, read));
  // The entry is kept as the server has it, and the transition time stays.
  EXPECT_EQ(again.ingress[0].ip_mode, "VIP");
  EXPECT_EQ(again.conditions[0].last_transition_time, At(500));
}

TEST(DesiredServiceStatusTest, DropsIpsLballocDoesNotHoldKeepsHostnames) {
  api::ServiceStatus current;
  api::LoadBalancerIngress host;
  host.hostname = "lb.example.com";
  current.ingress = {host, Ip("198.51.100.1"), Ip("192.0.2.7", "VIP")};
  api::ServiceStatus want = DesiredServiceStatus(
      current, {A("192.0.2.7")}, AllocationCondition(ipam::Reason::kAllocated, "x", 1), At(1));
  EXPECT_THAT(want.ingress, ElementsAre(Ip("192.0.2.7", "VIP"), host));
}

TEST(AllocationConditionTest, LongMessagesAreCutOnACharacterBoundary) {
  EXPECT_EQ(AllocationCondition(ipam::Reason::kNoEligiblePool, "short", 1).message, "short");
  // "é" is two bytes: a cut inside it would leave invalid UTF-8.
  std::string long_message;
  while (long_message.size() < 3 * kMaxConditionMessage) long_message += "é";
  std::string got = AllocationCondition(ipam::Reason::kNoEligiblePool, long_message, 1).message;
  EXPECT_LE(got.size(), kMaxConditionMessage);
  EXPECT_GE(got.size(), kMaxConditionMessage - 4);
  EXPECT_EQ(got.substr(got.size() - 3), "...");
  EXPECT_EQ(got.substr(0, got.size() - 3).size() % 2, 0u) << "cut inside a character";
}

TEST(DesiredServiceStatusTest, TransitionTimeMovesOnlyWhenStatusFlips) {
  api::ServiceStatus s = DesiredServiceStatus(
      {}, {}, AllocationCondition(ipam::Reason::kPoolExhausted, "full", 1), At(100));
  api::ServiceStatus t = DesiredServiceStatus(
      s, {}, AllocationCondition(ipam::Reason::kNoEligiblePool, "none", 1), At(200));
  EXPECT_EQ(t.conditions[0].last_transition_time, At(100));  // still False
  EXPECT_FALSE(ServiceStatusEquivalent(s, t));               // but reason and message differ
  api::ServiceStatus u = DesiredServiceStatus(
      t, {A("192.0.2.7")}, AllocationCondition(ipam::Reason::kAllocated, "ok", 1), At(300));
  EXPECT_EQ(u.conditions[0].last_transition_time, At(300));
}

TEST(ReleasedServiceStatusTest, RemovesExactlyOurEntriesAndCondition) {
  api::ServiceStatus current;
  current.ingress = {Ip("192.0.2.7", "VIP"), Ip("198.51.100.1")};
  api::LoadBalancerIngress host;
  host.hostname = "lb.example.com";
  current.ingress.push_back(host);
  current.conditions.push_back(Other());
  current.conditions.push_back(AllocationCondition(ipam::Reason::kAllocated, "x", 1));
  api::ServiceStatus after = ReleasedServiceStatus(current, {A("192.0.2.7")});
  EXPECT_THAT(after.ingress, ElementsAre(Ip("198.51.100.1"), host));
  EXPECT_THAT(after.conditions, ElementsAre(Other()));
}

TEST(PoolStatusTest, ServingCountsAndConditions) {
  api::LoadBalancerPool pool = Pool("web", {"192.0.2.0/24"});
  pool.metadata.generation = 4;
  ipam::PoolStatus view;
  view.name = "web";
  view.ipv4 = {256, 6, 250};
  view.all = {256, 6, 250};
  api::LoadBalancerPoolStatus st = DesiredPoolStatus(pool, view, At(1000));
  EXPECT_EQ(st.observed_generation, 4);
  EXPECT_EQ(st.total, 256);
  EXPECT_EQ(st.allocated, 6);
  EXPECT_EQ(st.available, 250);
  EXPECT_EQ(st.ipv4, (api::AddressCounts{256, 6, 250}));
  EXPECT_EQ(st.ipv6, (api::AddressCounts{0, 0, 0}));
  ASSERT_THAT(st.conditions, SizeIs(2));
  EXPECT_EQ(st.conditions[0].type, "Ready");
  EXPECT_EQ(st.conditions[0].status, "True");
  EXPECT_EQ(st.conditions[0].reason, "Serving");
  EXPECT_EQ(st.conditions[0].message, "256 addresses, 6 allocated");
  EXPECT_EQ(st.conditions[0].observed_generation, 4);
  EXPECT_EQ(st.conditions[1].type, "Exhausted");
  EXPECT_EQ(st.conditions[1].status, "False");
  EXPECT_EQ(st.conditions[1].reason, "AddressesAvailable");

  // Written, read back: nothing to do.
  pool.status = st;
  EXPECT_EQ(ComparePoolStatus(pool.status, DesiredPoolStatus(pool, view, At(2000))),
            PoolStatusChange::kNone);
  // One more allocation: counts only.
  view.ipv4 = {256, 7, 249};
  view.all = {256, 7, 249};
  EXPECT_EQ(ComparePoolStatus(pool.status, DesiredPoolStatus(pool, view, At(2000))),
            PoolStatusChange::kCountsOnly);
  // Exhausted flips: significant, and its transition time moves.
  view.ipv4 = {256, 256, 0};
  view.all = {256, 256, 0};
  api::LoadBalancerPoolStatus full = DesiredPoolStatus(pool, view, At(3000));
  EXPECT_EQ(ComparePoolStatus(pool.status, full), PoolStatusChange::kSignificant);
  EXPECT_EQ(full.conditions[1].status, "True");
  EXPECT_EQ(full.conditions[1].reason, "NoAddressesAvailable");
  EXPECT_EQ(full.conditions[1].last_transition_time, At(3000));
  EXPECT_EQ(full.conditions[0].last_transition_time, At(1000));  // Ready did not flip
  // A spec change (generation): significant.
  pool.metadata.generation = 5;
  view.ipv4 = {256, 6, 250};
  view.all = {256, 6, 250};
  EXPECT_EQ(ComparePoolStatus(pool.status, DesiredPoolStatus(pool, view, At(2000))),
            PoolStatusChange::kSignificant);
}

TEST(PoolStatusTest, NotReadyReasonsAndOthersConditions) {
  api::LoadBalancerPool pool = Pool("newer", {"192.0.2.0/24"});
  pool.status.conditions.push_back(Other());
  ipam::PoolStatus view;
  view.name = "newer";
  view.condition = ipam::PoolCondition::kOverlap;
  view.message = "overlaps pool \"web\" (192.0.2.0/24 and 192.0.2.0/24)";
  view.ipv4 = {256, 0, 256};
  view.all = {256, 0, 256};
  api::LoadBalancerPoolStatus st = DesiredPoolStatus(pool, view, At(10));
  ASSERT_THAT(st.conditions, SizeIs(3));
  EXPECT_EQ(st.conditions[0], Other());
  EXPECT_EQ(st.conditions[1].status, "False");
  EXPECT_EQ(st.conditions[1].reason, "Overlap");
  EXPECT_EQ(st.conditions[1].message, view.message);
  pool.status = st;
  view.message = "overlaps pool \"db\" (192.0.2.0/24 and 192.0.2.0/25)";
  EXPECT_EQ(ComparePoolStatus(pool.status, DesiredPoolStatus(pool, view, At(20))),
            PoolStatusChange::kSignificant);
}

}  // namespace
}  // namespace lballoc::controllers
