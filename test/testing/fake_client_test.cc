// FakeClient through the typed client, as a controller test would use it.
#include "test/testing/fake_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api/core_v1.h"
#include "test/testing/fake_clock.h"
#include "test/testing/status_matchers.h"

namespace lballoc::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

api::Service Svc(const std::string& ns, const std::string& name) {
  api::Service svc;
  svc.metadata.namespace_ = ns;
  svc.metadata.name = name;
  svc.metadata.labels["app"] = name;
  return svc;
}

TEST(FakeClientTest, CreateGetListUpdateDelete) {
  FakeClock clock;
  FakeClient client(clock);
  runtime::TypedClient<api::Service> services(client);
  ASSERT_OK_AND_ASSIGN(api::Service created, services.Create(Svc("a", "web")));
  EXPECT_FALSE(created.metadata.uid.empty());
  EXPECT_EQ(created.metadata.resource_version, "1");
  EXPECT_THAT(services.Create(Svc("a", "web")), StatusIs(StatusCode::kAlreadyExists, ::testing::_));
  ASSERT_OK(services.Create(Svc("b", "db")).status());

  ASSERT_OK_AND_ASSIGN(api::List<api::Service> all, services.List(""));
  EXPECT_EQ(all.items.size(), 2u);
  runtime::ListOptions by_label;
  by_label.label_selector = "app=db";
  ASSERT_OK_AND_ASSIGN(api::List<api::Service> dbs, services.List("", by_label));
  ASSERT_EQ(dbs.items.size(), 1u);
  EXPECT_EQ(dbs.items[0].metadata.name, "db");
  ASSERT_OK_AND_ASSIGN(api::List<api::Service> in_a, services.List("a"));
  ASSERT_EQ(in_a.items.size(), 1u);

  api::Service stale = created;
  created.metadata.labels["tier"] = "front";
  ASSERT_OK_AND_ASSIGN(api::Service updated, services.Update(created));
  EXPECT_EQ(updated.metadata.labels.at("tier"), "front");
  EXPECT_EQ(updated.metadata.uid, created.metadata.uid);
  // Optimistic concurrency: the old resourceVersion loses.
  EXPECT_THAT(services.Update(stale), StatusIs(StatusCode::kAborted, HasSubstr("modified")));

  runtime::DeleteOptions wrong_uid;
  wrong_uid.precondition_uid = "nope";
  EXPECT_THAT(services.Delete("a", "web", wrong_uid), StatusIs(StatusCode::kAborted, ::testing::_));
  ASSERT_OK(services.Delete("a", "web"));
  EXPECT_THAT(services.Get("a", "web"), StatusIs(StatusCode::kNotFound, ::testing::_));
}

TEST(FakeClientTest, StatusSubresourceAndMergePatch) {
  FakeClient client;
  runtime::TypedClient<api::Service> services(client);
  ASSERT_OK_AND_ASSIGN(api::Service svc, services.Create(Svc("a", "web")));
  svc.status.ingress.push_back(api::LoadBalancerIngress{});
  svc.status.ingress[0].ip = "192.0.2.1";
  // The main resource ignores .status ...
  ASSERT_OK_AND_ASSIGN(api::Service main, services.Update(svc));
  EXPECT_TRUE(main.status.ingress.empty());
  // ... the status subresource sets only it.
  svc.metadata.resource_version = main.metadata.resource_version;
  svc.metadata.labels["ignored"] = "yes";
  ASSERT_OK_AND_ASSIGN(api::Service with_status, services.UpdateStatus(svc));
  ASSERT_EQ(with_status.status.ingress.size(), 1u);
  EXPECT_EQ(with_status.status.ingress[0].ip, "192.0.2.1");
  EXPECT_EQ(with_status.metadata.labels.count("ignored"), 0u);

  ASSERT_OK_AND_ASSIGN(api::Service patched,
                       services.Patch("a", "web", runtime::PatchType::kMerge,
                                      R"({"metadata":{"labels":{"app":null,"new":"x"}}})"));
  EXPECT_EQ(patched.metadata.labels.count("app"), 0u);
  EXPECT_EQ(patched.metadata.labels.at("new"), "x");
  ASSERT_EQ(patched.status.ingress.size(), 1u);  // kept
  ASSERT_OK_AND_ASSIGN(api::Service cleared,
                       services.PatchStatus("a", "web", runtime::PatchType::kMerge,
                                            R"({"status":{"loadBalancer":{"ingress":null}}})"));
  EXPECT_TRUE(cleared.status.ingress.empty());
  EXPECT_THAT(services.Patch("a", "web", runtime::PatchType::kJsonPatch, "[]"),
              StatusIs(StatusCode::kUnimplemented, ::testing::_));
}

TEST(FakeClientTest, InjectedErrorsAndRecordedActions) {
  FakeClient client;
  runtime::TypedClient<api::Service> services(client);
  ASSERT_OK(client.Seed(api::Service::kResource,
                        R"({"metadata":{"name":"web","namespace":"a"},"spec":{}})"));
  client.FailNext("update", "services", ConflictError("injected conflict"), 2);
  client.FailNext("*", "", UnavailableError("injected outage"));
  // Each call takes the first failure that matches it.
  EXPECT_THAT(services.Get("a", "web"), StatusIs(StatusCode::kUnavailable, HasSubstr("outage")));
  ASSERT_OK_AND_ASSIGN(api::Service svc, services.Get("a", "web"));
  EXPECT_THAT(services.Update(svc), StatusIs(StatusCode::kAborted, HasSubstr("injected")));
  EXPECT_THAT(services.Update(svc), StatusIs(StatusCode::kAborted, HasSubstr("injected")));
  ASSERT_OK(services.Update(svc).status());
  std::vector<std::string> verbs;
  for (const FakeClient::Action& a : client.actions()) verbs.push_back(a.verb);
  EXPECT_THAT(verbs, ElementsAre("get", "get", "update", "update", "update"));
  EXPECT_THAT(client.Watch(api::Service::kResource, "a").status(),
              StatusIs(StatusCode::kUnimplemented, ::testing::_));
}

}  // namespace
}  // namespace lballoc::testing
