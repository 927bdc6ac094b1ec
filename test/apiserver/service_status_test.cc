// Service status defaulting (ipMode) and status.loadBalancer validation.
#include "test/apiserver/service_status.h"

#include <rapidjson/document.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lballoc::apiserver {
namespace {

rapidjson::Document Parse(const char* json) {
  rapidjson::Document d;
  d.Parse(json);
  return d;
}

TEST(ServiceStatusTest, IpModeDefaultsToVipOnlyForLoadBalancersWithAnIp) {
  auto lb = Parse(
      R"({"spec":{"type":"LoadBalancer"},"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.1"},{"hostname":"h.example"},{"ip":"192.0.2.2","ipMode":"Proxy"},{"ip":"192.0.2.3","ipMode":null}]}}})");
  DefaultIngressIpMode(lb, lb.GetAllocator());
  const auto& ing = lb["status"]["loadBalancer"]["ingress"];
  EXPECT_STREQ(ing[0]["ipMode"].GetString(), "VIP");
  EXPECT_FALSE(ing[1].HasMember("ipMode"));
  EXPECT_STREQ(ing[2]["ipMode"].GetString(), "Proxy");
  EXPECT_STREQ(ing[3]["ipMode"].GetString(), "VIP");
  auto cip = Parse(R"({"spec":{},"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.1"}]}}})");
  DefaultIngressIpMode(cip, cip.GetAllocator());
  EXPECT_FALSE(cip["status"]["loadBalancer"]["ingress"][0].HasMember("ipMode"));
}

TEST(ServiceStatusTest, Validation) {
  auto old = Parse(
      R"({"spec":{"type":"LoadBalancer"},"status":{"loadBalancer":{"ingress":[{"ip":"010.1.1.1","ipMode":"VIP"}]}}})");
  auto kept = Parse(
      R"({"spec":{"type":"LoadBalancer"},"status":{"loadBalancer":{"ingress":[{"ip":"010.1.1.1","ipMode":"VIP"}]}}})");
  EXPECT_TRUE(ValidateLoadBalancerStatus(kept, old).empty())
      << "old addresses are accepted as they are";
  auto missing = Parse(
      R"({"spec":{"type":"LoadBalancer"},"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.1"}]}}})");
  auto errs = ValidateLoadBalancerStatus(missing, old);
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(
      errs[0].ToString(),
      "status.loadBalancer.ingress[0].ipMode: Required value: must be specified when `ip` is set");
  auto two = Parse(
      R"({"spec":{"type":"LoadBalancer"},"status":{"loadBalancer":{"ingress":[{"ip":"x","ipMode":"VIP","hostname":"Bad_Host"}]}}})");
  errs = ValidateLoadBalancerStatus(two, old);
  ASSERT_EQ(errs.size(), 2u);
  EXPECT_EQ(errs[0].field, "status.loadBalancer.ingress[0].ip");
  EXPECT_EQ(errs[1].field, "status.loadBalancer.ingress[0].hostname");
  auto empty = Parse(R"({"spec":{"type":"ClusterIP"},"status":{"loadBalancer":{"ingress":[]}}})");
  EXPECT_TRUE(ValidateLoadBalancerStatus(empty, old).empty());
}

}  // namespace
}  // namespace lballoc::apiserver
