#include "controllers/explain.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace lballoc::controllers {
namespace {

using ipam::Family;
using ipam::PoolCondition;
using ipam::Reason;

ipam::Address A(const std::string& text) { return *ipam::ParseAddress(text); }

// A serving pool with `v4` IPv4 and `v6` IPv6 addresses, `free4`/`free6` of them free.
PoolFacts Facts(const std::string& name, int64_t v4, int64_t free4, int64_t v6 = 0,
                int64_t free6 = 0, int32_t priority = 0) {
  PoolFacts f;
  f.name = name;
  f.priority = priority;
  f.status.name = name;
  f.status.ipv4 = {v4, v4 - free4, free4};
  f.status.ipv6 = {v6, v6 - free6, free6};
  f.status.all = {v4 + v6, v4 - free4 + v6 - free6, free4 + free6};
  return f;
}

ipam::Request Req(std::vector<Family> families = {Family::kIPv4},
                  std::vector<std::string> pools = {}) {
  ipam::Request r;
  r.service = "shop/web";
  r.families = std::move(families);
  r.pools = std::move(pools);
  return r;
}

TEST(ExplainFailureTest, EveryReasonAPoolIsPassedOver) {
  std::vector<PoolFacts> pools;
  pools.push_back(Facts("full", 4, 0));
  pools.push_back(Facts("blue", 256, 200));
  pools.back().service_selector_matches = false;
  pools.push_back(Facts("prod-only", 256, 200));
  pools.back().namespace_selector_matches = false;
  pools.push_back(Facts("lab", 256, 256));
  pools.back().auto_assign = false;
  pools.push_back(Facts("broken", 0, 0));
  pools.back().status.condition = PoolCondition::kInvalidSpec;
  pools.back().status.message =
      "spec.addresses[0]: \"10.0.0.9-10.0.0.1\": last address is below the first";
  pools.push_back(Facts("newer", 16, 16));
  pools.back().status.condition = PoolCondition::kOverlap;
  pools.back().status.message = "overlaps pool \"full\" (192.0.2.0/30 and 192.0.2.0/30)";
  pools.push_back(Facts("off", 16, 16, 0, 0, -1));
  pools.back().status.condition = PoolCondition::kDisabled;
  pools.back().status.message = "spec.disabled is true";
  pools.push_back(Facts("v6", 0, 0, 100, 100));

  std::string message =
      ExplainFailure(Req(), Reason::kPoolExhausted,
                     "no free IPv4 address in the eligible pools (\"full\")", pools);
  // Order: priority (off has -1), then name; five listed, then the count of the rest.
  EXPECT_EQ(message,
            "no free IPv4 address in the eligible pools (\"full\"). Pools passed over for IPv4: "
            "\"off\": disabled; "
            "\"blue\": serviceSelector does not match the Service's labels; "
            "\"broken\": not Ready (InvalidSpec: spec.addresses[0]: \"10.0.0.9-10.0.0.1\": last "
            "address is below the first); "
            "\"full\": exhausted (no free IPv4 address); "
            "\"lab\": autoAssign is false and the Service does not name it; "
            "and 3 more.");

  // With fewer pools every one is listed.
  pools.erase(pools.begin(), pools.begin() + 4);  // broken, newer, off, v6 remain
  message = ExplainFailure(Req(), Reason::kNoEligiblePool,
                           "no Ready autoAssign pool selects this Service", pools);
  EXPECT_EQ(message,
            "no Ready autoAssign pool selects this Service. Pools passed over for IPv4: "
            "\"off\": disabled; "
            "\"broken\": not Ready (InvalidSpec: spec.addresses[0]: \"10.0.0.9-10.0.0.1\": last "
            "address is below the first); "
            "\"newer\": not Ready (Overlap: overlaps pool \"full\" (192.0.2.0/30 and "
            "192.0.2.0/30)); "
            "\"v6\": no IPv4 addresses.");
}

TEST(ExplainFailureTest, NamespaceSelectorNamesTheNamespace) {
  std::vector<PoolFacts> pools = {Facts("prod", 8, 8)};
  pools[0].namespace_selector_matches = false;
  EXPECT_EQ(ExplainFailure(Req(), Reason::kNoEligiblePool,
                           "no Ready autoAssign pool selects this Service", pools),
            "no Ready autoAssign pool selects this Service. Pools passed over for IPv4: "
            "\"prod\": namespaceSelector does not match namespace \"shop\".");
}

// A namespace name too long for the small-string buffer: the message must still name it (it
// once held a view of a destroyed temporary and showed freed heap memory, caught in e2e).
TEST(ExplainFailureTest, LongNamespaceNamesSurvive) {
  std::vector<PoolFacts> pools = {Facts("prod", 8, 8), Facts("stage", 8, 8)};
  pools[0].namespace_selector_matches = false;
  pools[1].namespace_selector_matches = false;
  ipam::Request request = Req();
  const std::string ns = "a-namespace-name-much-longer-than-fifteen-characters";
  request.service = ns + "/web";
  EXPECT_EQ(
      ExplainFailure(request, Reason::kNoEligiblePool, "none", pools),
      "none. Pools passed over for IPv4: \"prod\": namespaceSelector does not match namespace "
      "\"" +
          ns + "\"; \"stage\": namespaceSelector does not match namespace \"" + ns + "\".");
}

TEST(ExplainFailureTest, NamedPoolsOnlyAndMissingOnes) {
  std::vector<PoolFacts> pools = {Facts("a", 8, 0), Facts("lab", 8, 0), Facts("z", 8, 8)};
  pools[1].auto_assign = false;
  std::string message =
      ExplainFailure(Req({Family::kIPv4}, {"lab", "ghost", "a"}), Reason::kPoolExhausted,
                     "no free IPv4 address in the eligible pools (\"a\", \"lab\")", pools);
  // autoAssign does not matter for named pools; "z" is not considered at all.
  EXPECT_EQ(message,
            "no free IPv4 address in the eligible pools (\"a\", \"lab\"). Pools passed over for "
            "IPv4: \"a\": exhausted (no free IPv4 address); \"lab\": exhausted (no free IPv4 "
            "address); \"ghost\": does not exist.");
}

TEST(ExplainFailureTest, TheFailingFamilyOfADualStackRequest) {
  // IPv4 is available, IPv6 is not: the explanation is about IPv6.
  std::vector<PoolFacts> pools = {Facts("v4", 8, 8), Facts("v6", 0, 0, 4, 0)};
  EXPECT_EQ(ExplainFailure(Req({Family::kIPv4, Family::kIPv6}), Reason::kPoolExhausted,
                           "no free IPv6 address in the eligible pools (\"v6\")", pools),
            "no free IPv6 address in the eligible pools (\"v6\"). Pools passed over for IPv6: "
            "\"v4\": no IPv6 addresses; \"v6\": exhausted (no free IPv6 address).");
}

TEST(ExplainFailureTest, NoPoolsAtAll) {
  EXPECT_EQ(ExplainFailure(Req(), Reason::kNoEligiblePool,
                           "no Ready autoAssign pool selects this Service", {}),
            "no Ready autoAssign pool selects this Service. No LoadBalancerPool exists.");
}

TEST(ExplainFailureTest, AddressReasonsKeepTheEngineMessage) {
  std::vector<PoolFacts> pools = {Facts("a", 8, 0)};
  for (Reason r : {Reason::kAddressInUse, Reason::kAddressNotInPool, Reason::kInvalidRequest}) {
    EXPECT_EQ(ExplainFailure(Req(), r, "192.0.2.7 is in use by shop/db", pools),
              "192.0.2.7 is in use by shop/db");
  }
}

TEST(ExplainFailureTest, ExactlyFiveListedThenAndNMore) {
  std::vector<PoolFacts> pools;
  for (int i = 0; i < 5; ++i) pools.push_back(Facts("p" + std::to_string(i), 1, 0));
  std::string five = ExplainFailure(Req(), Reason::kPoolExhausted, "full", pools);
  EXPECT_THAT(five, ::testing::Not(::testing::HasSubstr("more")));
  EXPECT_THAT(five, ::testing::EndsWith("\"p4\": exhausted (no free IPv4 address)."));
  pools.push_back(Facts("p5", 1, 0));
  std::string six = ExplainFailure(Req(), Reason::kPoolExhausted, "full", pools);
  EXPECT_THAT(six, ::testing::EndsWith("\"p4\": exhausted (no free IPv4 address); and 1 more."));
}

TEST(AllocatedMessageTest, AddressesPoolsAndMissingFamilies) {
  ipam::Result r;
  r.addresses = {A("192.0.2.7"), A("2001:db8::7")};
  r.pools = {"web", "web6"};
  EXPECT_EQ(AllocatedMessage(r), "allocated 192.0.2.7 (pool \"web\"), 2001:db8::7 (pool \"web6\")");
  r.addresses = {A("192.0.2.7")};
  r.pools = {"web"};
  r.missing.push_back({Family::kIPv6, Reason::kFamilyUnavailable,
                       "no eligible pool has IPv6 addresses (eligible: \"web\")"});
  EXPECT_EQ(AllocatedMessage(r),
            "allocated 192.0.2.7 (pool \"web\"); IPv6 not allocated yet: no eligible pool has "
            "IPv6 addresses (eligible: \"web\")");
}

}  // namespace
}  // namespace lballoc::controllers
