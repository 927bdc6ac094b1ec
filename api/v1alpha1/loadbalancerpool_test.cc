#include "api/v1alpha1/loadbalancerpool.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "api/test_util.h"
#include "test/testing/status_matchers.h"

namespace lballoc::api {
namespace {

using ::lballoc::api::testing::ApplyMergePatch;
using ::lballoc::api::testing::ExpectSubset;
using ::lballoc::api::testing::ParseOrFail;
using ::lballoc::api::testing::ReadTestData;
using ::lballoc::testing::IsOkAndHolds;
using ::lballoc::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

TEST(LoadBalancerPoolTest, RoundTripsRealisticObject) {
  const std::string text = ReadTestData("loadbalancerpool.json");
  rapidjson::Document doc;
  ParseOrFail(text, doc);
  ASSERT_OK_AND_ASSIGN(LoadBalancerPool pool, LoadBalancerPool::FromJson(doc));
  EXPECT_EQ(pool.metadata.name, "public");
  EXPECT_EQ(pool.metadata.namespace_, "");
  EXPECT_EQ(pool.metadata.generation, 3);
  EXPECT_THAT(pool.spec.addresses,
              ElementsAre("192.0.2.0/24", "198.51.100.10 - 198.51.100.20", "2001:db8:1::/64"));
  EXPECT_THAT(pool.spec.exclude_addresses, ElementsAre("192.0.2.1"));
  EXPECT_TRUE(pool.spec.avoid_buggy_ips);
  EXPECT_FALSE(pool.spec.auto_assign);
  EXPECT_FALSE(pool.spec.disabled);
  EXPECT_EQ(pool.spec.priority, 10);
  ASSERT_TRUE(pool.spec.service_selector.has_value());
  EXPECT_THAT(pool.spec.service_selector->match_labels, ElementsAre(Pair("team", "storefront")));
  ASSERT_TRUE(pool.spec.namespace_selector.has_value());
  ASSERT_EQ(pool.spec.namespace_selector->match_expressions.size(), 2u);
  EXPECT_EQ(pool.spec.namespace_selector->match_expressions[0].op, "In");
  EXPECT_TRUE(pool.spec.namespace_selector->Matches({{"env", "prod"}}));
  EXPECT_FALSE(pool.spec.namespace_selector->Matches({{"env", "prod"}, {"quarantine", "x"}}));
  EXPECT_EQ(pool.status.observed_generation, 3);
  EXPECT_EQ(pool.status.total, INT64_MAX);
  EXPECT_EQ(pool.status.allocated, 12);
  EXPECT_EQ(pool.status.available, INT64_MAX - 12);
  EXPECT_EQ(pool.status.ipv4, (AddressCounts{264, 12, 252}));
  EXPECT_EQ(pool.status.ipv6, (AddressCounts{INT64_MAX, 0, INT64_MAX}));
  ASSERT_EQ(pool.status.conditions.size(), 2u);
  EXPECT_EQ(pool.status.conditions[0].reason, "Serving");

  rapidjson::Document out;
  ParseOrFail(pool.ToJsonString(), out);
  ExpectSubset(out, doc, "");
  EXPECT_THAT(LoadBalancerPool::FromJson(out), IsOkAndHolds(pool));
}

TEST(LoadBalancerPoolTest, DefaultsMatchTheApi) {
  rapidjson::Document doc;
  ParseOrFail(R"({"apiVersion":"lballoc.io/v1alpha1","kind":"LoadBalancerPool",
                  "metadata":{"name":"p"},"spec":{"addresses":["192.0.2.0/24"]}})",
              doc);
  ASSERT_OK_AND_ASSIGN(LoadBalancerPool pool, LoadBalancerPool::FromJson(doc));
  EXPECT_TRUE(pool.spec.auto_assign);
  EXPECT_FALSE(pool.spec.avoid_buggy_ips);
  EXPECT_FALSE(pool.spec.disabled);
  EXPECT_EQ(pool.spec.priority, 0);
  EXPECT_FALSE(pool.spec.service_selector.has_value());
  EXPECT_FALSE(pool.spec.namespace_selector.has_value());
  EXPECT_EQ(pool.status, LoadBalancerPoolStatus());
}

TEST(LoadBalancerPoolTest, InvalidSelectorStillDecodes) {
  // The controller must see the pool to report Ready=False/InvalidSpec.
  rapidjson::Document doc;
  ParseOrFail(R"({"spec":{"addresses":["192.0.2.0/24"],"serviceSelector":{
                  "matchExpressions":[{"key":"a","operator":"Equals","values":["x"]}]}}})",
              doc);
  ASSERT_OK_AND_ASSIGN(LoadBalancerPool pool, LoadBalancerPool::FromJson(doc));
  ASSERT_TRUE(pool.spec.service_selector.has_value());
  EXPECT_THAT(pool.spec.service_selector->Validate("spec.serviceSelector"),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("spec.serviceSelector.matchExpressions[0].operator")));
}

TEST(PoolStatusPatchTest, ChangesOnlyTheStatus) {
  const std::string original = ReadTestData("loadbalancerpool.json");
  rapidjson::Document doc;
  ParseOrFail(original, doc);
  ASSERT_OK_AND_ASSIGN(LoadBalancerPool pool, LoadBalancerPool::FromJson(doc));
  pool.status.allocated = 13;
  pool.status.available = INT64_MAX - 13;
  pool.status.ipv4 = AddressCounts{264, 13, 251};
  pool.status.ipv6.reset();
  pool.status.conditions.pop_back();
  pool.status.observed_generation = 4;

  rapidjson::Document patch;
  ParseOrFail(PoolStatusPatch(pool), patch);
  EXPECT_EQ(JsonToString(patch["metadata"]), R"({"resourceVersion":"184260"})");
  EXPECT_EQ(patch.MemberCount(), 2u);
  EXPECT_TRUE(patch["status"]["ipv6"].IsNull());

  rapidjson::Document patched;
  ParseOrFail(original, patched);
  ApplyMergePatch(patched, patch, patched.GetAllocator());
  ASSERT_OK_AND_ASSIGN(LoadBalancerPool after, LoadBalancerPool::FromJson(patched));
  EXPECT_EQ(after.status, pool.status);
  EXPECT_FALSE(patched["status"].HasMember("ipv6"));

  // Everything outside status is untouched, unknown fields included.
  rapidjson::Document before;
  ParseOrFail(original, before);
  before.RemoveMember("status");
  patched.RemoveMember("status");
  EXPECT_EQ(JsonToString(patched), JsonToString(before));
}

TEST(PoolStatusPatchTest, UnconditionalWhenNoResourceVersion) {
  LoadBalancerPool pool;
  EXPECT_EQ(PoolStatusPatch(pool),
            R"({"status":{"observedGeneration":0,"total":0,"allocated":0,"available":0,)"
            R"("ipv4":null,"ipv6":null,"conditions":null}})");
}

}  // namespace
}  // namespace lballoc::api
