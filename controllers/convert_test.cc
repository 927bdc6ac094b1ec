#include "controllers/convert.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "controllers/test_objects.h"
#include "test/testing/status_matchers.h"

namespace lballoc::controllers {
namespace {

using ::lballoc::controllers::testing::At;
using ::lballoc::controllers::testing::LbService;
using ::lballoc::controllers::testing::MatchLabels;
using ::lballoc::controllers::testing::Pool;
using ::lballoc::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

ipam::Address A(const std::string& text) { return *ipam::ParseAddress(text); }

TEST(IsHandledTest, ClassRules) {
  ClassSelection defaults;  // kube-router, default class on
  ClassSelection named_only{"kube-router", false};
  api::Service s = LbService("default", "web");

  EXPECT_TRUE(IsHandled(CachedService::From(s), defaults));  // unset class
  EXPECT_FALSE(IsHandled(CachedService::From(s), named_only));
  s.spec.load_balancer_class = "default";
  EXPECT_TRUE(IsHandled(CachedService::From(s), defaults));
  EXPECT_FALSE(IsHandled(CachedService::From(s), named_only));
  s.spec.load_balancer_class = "kube-router";
  EXPECT_TRUE(IsHandled(CachedService::From(s), defaults));
  EXPECT_TRUE(IsHandled(CachedService::From(s), named_only));
  s.spec.load_balancer_class = "example.com/other";
  EXPECT_FALSE(IsHandled(CachedService::From(s), defaults));
  EXPECT_FALSE(IsHandled(CachedService::From(s), named_only));
  // Annotations do not make a Service of another class ours.
  s.metadata.annotations[kPoolAnnotation] = "web";
  s.metadata.annotations[kIpsAnnotation] = "192.0.2.7";
  EXPECT_FALSE(IsHandled(CachedService::From(s), defaults));

  s = LbService("default", "web");
  for (const char* type : {"ClusterIP", "NodePort", "ExternalName", ""}) {
    s.spec.type = type;
    EXPECT_FALSE(IsHandled(CachedService::From(s), defaults)) << type;
  }
  ClassSelection custom{"example.com/lb", true};
  s = LbService("default", "web");
  s.spec.load_balancer_class = "example.com/lb";
  EXPECT_TRUE(IsHandled(CachedService::From(s), custom));
  s.spec.load_balancer_class = "kube-router";
  EXPECT_FALSE(IsHandled(CachedService::From(s), custom));
}

TEST(ParsePoolNamesTest, CommaListTrimmedDeduplicated) {
  EXPECT_THAT(ParsePoolNames(""), IsEmpty());
  EXPECT_THAT(ParsePoolNames(" , "), IsEmpty());
  EXPECT_THAT(ParsePoolNames("web"), ElementsAre("web"));
  EXPECT_THAT(ParsePoolNames(" web , db,,web,lab "), ElementsAre("web", "db", "lab"));
}

TEST(BuildRequestTest, EverythingAServiceCanAsk) {
  api::Service s = LbService("shop", "web");
  s.metadata.creation_timestamp = At(1700000000);
  s.metadata.annotations[kPoolAnnotation] = "blue, green";
  s.metadata.annotations[kIpsAnnotation] = "192.0.2.7, 2001:db8::7";
  s.metadata.annotations[kSharingKeyAnnotation] = " key-1 ";
  s.spec.ip_families = {"IPv6", "IPv4"};
  s.spec.ip_family_policy = "RequireDualStack";
  api::ServicePort udp;
  udp.protocol = "UDP";
  udp.port = 53;
  s.spec.ports.push_back(udp);
  s.spec.external_traffic_policy = "Local";
  s.spec.selector = {{"tier", "front"}, {"app", "web"}};

  ASSERT_OK_AND_ASSIGN(ipam::Request r, BuildRequest(CachedService::From(s)));
  EXPECT_EQ(r.service, "shop/web");
  EXPECT_EQ(r.creation_order, 1700000000);
  EXPECT_THAT(r.families, ElementsAre(ipam::Family::kIPv6, ipam::Family::kIPv4));
  EXPECT_EQ(r.policy, ipam::IpFamilyPolicy::kRequireDualStack);
  EXPECT_THAT(r.requested, ElementsAre(A("192.0.2.7"), A("2001:db8::7")));
  EXPECT_THAT(r.pools, ElementsAre("blue", "green"));
  EXPECT_EQ(r.sharing_key, "key-1");
  EXPECT_THAT(r.ports, ElementsAre(ipam::ServicePort{"TCP", 80}, ipam::ServicePort{"UDP", 53}));
  EXPECT_EQ(r.traffic_policy, ipam::TrafficPolicy::kLocal);
  EXPECT_EQ(r.selector, "app=web,tier=front");
  EXPECT_FALSE(r.selects);
}

TEST(BuildRequestTest, LoadBalancerIpAndErrorsNameTheField) {
  api::Service s = LbService("default", "web");
  s.spec.load_balancer_ip = "192.0.2.9";
  ASSERT_OK_AND_ASSIGN(ipam::Request r, BuildRequest(CachedService::From(s)));
  EXPECT_THAT(r.requested, ElementsAre(A("192.0.2.9")));

  s.metadata.annotations[kIpsAnnotation] = "192.0.2.8";
  EXPECT_THAT(BuildRequest(CachedService::From(s)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("disagree")));
  s.spec.load_balancer_ip = "";
  s.metadata.annotations[kIpsAnnotation] = "192.0.2.8,192.0.2.9";
  EXPECT_THAT(BuildRequest(CachedService::From(s)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("annotation lballoc.io/ips")));
  s.metadata.annotations[kIpsAnnotation] = "not-an-ip";
  EXPECT_THAT(BuildRequest(CachedService::From(s)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not-an-ip")));

  s = LbService("default", "web");
  s.spec.ip_families = {"IPv5"};
  EXPECT_THAT(BuildRequest(CachedService::From(s)),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("spec.ipFamilies[0]: unknown family \"IPv5\"")));
  s = LbService("default", "web");
  s.spec.ip_family_policy = "Sometimes";
  EXPECT_THAT(BuildRequest(CachedService::From(s)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("spec.ipFamilyPolicy")));
}

TEST(ServiceFamiliesTest, DefaultsWhenIpFamiliesIsEmpty) {
  api::ServiceSpec spec;
  using P = ipam::IpFamilyPolicy;
  using F = ipam::Family;
  EXPECT_THAT(*ServiceFamilies(spec.ip_families, P::kSingleStack, {}), ElementsAre(F::kIPv4));
  EXPECT_THAT(*ServiceFamilies(spec.ip_families, P::kPreferDualStack, {}),
              ElementsAre(F::kIPv4, F::kIPv6));
  EXPECT_THAT(*ServiceFamilies(spec.ip_families, P::kRequireDualStack, {}),
              ElementsAre(F::kIPv4, F::kIPv6));
  // From the requested addresses.
  EXPECT_THAT(*ServiceFamilies(spec.ip_families, P::kSingleStack, {A("2001:db8::1")}),
              ElementsAre(F::kIPv6));
  EXPECT_THAT(
      *ServiceFamilies(spec.ip_families, P::kSingleStack, {A("2001:db8::1"), A("192.0.2.1")}),
      ElementsAre(F::kIPv6));
  EXPECT_THAT(*ServiceFamilies(spec.ip_families, P::kPreferDualStack, {A("2001:db8::1")}),
              ElementsAre(F::kIPv6, F::kIPv4));
  // Set ipFamilies win.
  spec.ip_families = {"IPv6"};
  EXPECT_THAT(*ServiceFamilies(spec.ip_families, P::kSingleStack, {A("192.0.2.1")}),
              ElementsAre(F::kIPv6));
  // An unset policy is SingleStack.
  EXPECT_EQ(*ServiceFamilyPolicy(""), P::kSingleStack);
}

TEST(ToPoolSpecTest, FieldsOrderAndSelectorErrors) {
  api::LoadBalancerPool p = Pool("web", {"192.0.2.0/24"}, 1700000001);
  p.spec.exclude_addresses = {"192.0.2.1"};
  p.spec.avoid_buggy_ips = true;
  p.spec.auto_assign = false;
  p.spec.priority = 3;
  ipam::PoolSpec s = ToPoolSpec(p, false);
  EXPECT_EQ(s.name, "web");
  EXPECT_THAT(s.addresses, ElementsAre("192.0.2.0/24"));
  EXPECT_THAT(s.exclude_addresses, ElementsAre("192.0.2.1"));
  EXPECT_TRUE(s.avoid_buggy_ips);
  EXPECT_FALSE(s.auto_assign);
  EXPECT_FALSE(s.disabled);
  EXPECT_EQ(s.priority, 3);
  EXPECT_EQ(s.creation_order, 1700000001);
  // A bad selector: the engine hands out nothing new but keeps what the pool gave.
  EXPECT_TRUE(ToPoolSpec(p, true).disabled);
}

TEST(ValidateSelectorsTest, NamesTheBadEntry) {
  api::LoadBalancerPoolSpec spec;
  EXPECT_OK(ValidateSelectors(spec));
  spec.service_selector = MatchLabels({{"team", "web"}});
  EXPECT_OK(ValidateSelectors(spec));
  api::LabelSelector bad;
  bad.match_expressions.push_back({"env", "Near", {"prod"}});
  spec.namespace_selector = bad;
  EXPECT_THAT(ValidateSelectors(spec),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("spec.namespaceSelector.matchExpressions[0].operator")));
}

TEST(SelectorMatchesTest, AbsentMatchesAll) {
  EXPECT_TRUE(SelectorMatches(std::nullopt, {}));
  EXPECT_TRUE(SelectorMatches(MatchLabels({}), {{"a", "b"}}));
  EXPECT_TRUE(SelectorMatches(MatchLabels({{"a", "b"}}), {{"a", "b"}, {"c", "d"}}));
  EXPECT_FALSE(SelectorMatches(MatchLabels({{"a", "b"}}), {{"a", "c"}}));
}

TEST(IngressAddressesTest, ParsesIpsSkipsHostnamesAndGarbage) {
  api::ServiceStatus st;
  st.ingress.push_back({"192.0.2.7", "", "", {}});
  st.ingress.push_back({"", "lb.example.com", "", {}});
  st.ingress.push_back({"bogus", "", "", {}});
  st.ingress.push_back({"2001:db8:0::7", "", "VIP", {}});
  st.ingress.push_back({"192.0.2.7", "", "", {}});
  EXPECT_THAT(IngressAddresses(st), ElementsAre(A("192.0.2.7"), A("2001:db8::7")));
}

TEST(PoolRangesTest, SkipsUnparsableEntries) {
  api::LoadBalancerPoolSpec spec;
  spec.addresses = {"192.0.2.0/30", "nonsense", "198.51.100.10 - 198.51.100.20"};
  std::vector<ipam::AddressRange> r = PoolRanges(spec);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_TRUE(r[0].Contains(A("192.0.2.3")));
  EXPECT_TRUE(r[1].Contains(A("198.51.100.20")));
  EXPECT_FALSE(r[1].Contains(A("198.51.100.21")));
}

TEST(CreationOrderTest, SecondsSinceEpochOrZero) {
  api::ObjectMeta meta;
  EXPECT_EQ(CreationOrder(meta), 0);
  meta.creation_timestamp = At(42);
  EXPECT_EQ(CreationOrder(meta), 42);
}

}  // namespace
}  // namespace lballoc::controllers
