#include "api/core_v1.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "api/coordination_v1.h"
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

// Decodes the fixture, checks encode(decode(x)) writes only what x holds,
// with the same values, and that decoding that again gives the same object.
template <typename T>
T RoundTrip(const std::string& fixture) {
  rapidjson::Document doc;
  ParseOrFail(ReadTestData(fixture), doc);
  StatusOr<T> decoded = T::FromJson(doc);
  EXPECT_TRUE(decoded.ok()) << decoded.status();
  if (!decoded.ok()) return T();
  rapidjson::Document out;
  ParseOrFail(decoded->ToJsonString(), out);
  ExpectSubset(out, doc, "");
  EXPECT_THAT(T::FromJson(out), IsOkAndHolds(*decoded));
  return *decoded;
}

TEST(ServiceTest, RoundTripsRealisticObject) {
  Service svc = RoundTrip<Service>("service_lb.json");
  EXPECT_EQ(svc.metadata.name, "web");
  EXPECT_EQ(svc.metadata.namespace_, "shop");
  EXPECT_EQ(svc.metadata.resource_version, "184223");
  EXPECT_EQ(svc.metadata.annotations.at("lballoc.io/pool"), "public");
  EXPECT_THAT(svc.metadata.finalizers, ElementsAre("service.kubernetes.io/load-balancer-cleanup"));
  EXPECT_EQ(svc.spec.type, "LoadBalancer");
  EXPECT_EQ(svc.spec.load_balancer_class, "kube-router");
  EXPECT_EQ(svc.spec.load_balancer_ip, "192.0.2.7");
  EXPECT_THAT(svc.spec.ip_families, ElementsAre("IPv4", "IPv6"));
  EXPECT_EQ(svc.spec.ip_family_policy, "PreferDualStack");
  EXPECT_EQ(svc.spec.external_traffic_policy, "Local");
  EXPECT_EQ(svc.spec.cluster_ip, "10.96.12.34");
  EXPECT_THAT(svc.spec.cluster_ips, ElementsAre("10.96.12.34", "fd00:10:96::1a2b"));
  EXPECT_THAT(svc.spec.selector, ElementsAre(Pair("app.kubernetes.io/name", "web")));
  ASSERT_EQ(svc.spec.ports.size(), 2u);
  EXPECT_EQ(svc.spec.ports[0].name, "http");
  EXPECT_EQ(svc.spec.ports[0].port, 80);
  EXPECT_EQ(svc.spec.ports[0].target_port, IntOrString{"http"});
  EXPECT_EQ(svc.spec.ports[0].node_port, 31080);
  EXPECT_EQ(svc.spec.ports[0].app_protocol, "http");
  EXPECT_EQ(svc.spec.ports[1].protocol, "UDP");
  EXPECT_EQ(svc.spec.ports[1].target_port, IntOrString{5353});
  ASSERT_EQ(svc.status.ingress.size(), 3u);
  EXPECT_EQ(svc.status.ingress[0].ip, "192.0.2.7");
  EXPECT_EQ(svc.status.ingress[0].ip_mode, "VIP");
  ASSERT_EQ(svc.status.ingress[0].ports.size(), 2u);
  EXPECT_EQ(svc.status.ingress[0].ports[1].port, 53);
  EXPECT_EQ(svc.status.ingress[0].ports[1].error, "PortNotAllocated");
  EXPECT_EQ(svc.status.ingress[0].ports[0].error, std::nullopt);
  EXPECT_EQ(svc.status.ingress[2].hostname, "web.example.net");
  ASSERT_EQ(svc.status.conditions.size(), 2u);
  EXPECT_EQ(svc.status.conditions[0].type, "lballoc.io/AddressAllocated");
  EXPECT_EQ(svc.status.conditions[0].observed_generation, 3);
  EXPECT_EQ(FormatTime(*svc.status.conditions[1].last_transition_time), "2024-05-14T09:21:09.25Z");
}

TEST(ServiceTest, ProtocolDefaultsToTcp) {
  rapidjson::Document doc;
  ParseOrFail(R"({"spec":{"ports":[{"port":80}]}})", doc);
  ASSERT_OK_AND_ASSIGN(Service svc, Service::FromJson(doc));
  ASSERT_EQ(svc.spec.ports.size(), 1u);
  EXPECT_EQ(svc.spec.ports[0].protocol, "TCP");
  EXPECT_EQ(svc.spec.ports[0].target_port, std::nullopt);
}

TEST(ServiceTest, ToJsonWritesTypeMeta) {
  Service svc;
  svc.metadata.name = "a";
  svc.metadata.namespace_ = "b";
  EXPECT_EQ(svc.ToJsonString(),
            R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"a","namespace":"b"},)"
            R"("spec":{},"status":{"loadBalancer":{}}})");
}

// Everything but the fields lballoc owns on a Service: the patch must leave
// these exactly as they were.
void RemoveOwnedFields(rapidjson::Document& doc) {
  doc["status"]["loadBalancer"].RemoveMember("ingress");
  doc["status"].RemoveMember("conditions");
}

TEST(ServiceStatusPatchTest, ChangesOnlyOwnedFields) {
  const std::string original = ReadTestData("service_lb.json");
  rapidjson::Document doc;
  ParseOrFail(original, doc);
  ASSERT_OK_AND_ASSIGN(Service svc, Service::FromJson(doc));

  // What a reconcile would do: a new address list and a changed condition.
  svc.status.ingress = {{"192.0.2.8", "", "", {}}, {"2001:db8:1::8", "", "", {}}};
  svc.status.conditions[0].message = "192.0.2.8 from pool public";
  const std::string patch_text = ServiceStatusPatch(svc);

  rapidjson::Document patch;
  ParseOrFail(patch_text, patch);
  // Only our fields, plus the resourceVersion precondition.
  EXPECT_EQ(JsonToString(patch["metadata"]), R"({"resourceVersion":"184223"})");
  EXPECT_EQ(patch.MemberCount(), 2u);
  EXPECT_EQ(patch["status"].MemberCount(), 2u);
  EXPECT_EQ(patch["status"]["loadBalancer"].MemberCount(), 1u);

  rapidjson::Document patched;
  ParseOrFail(original, patched);
  ApplyMergePatch(patched, patch, patched.GetAllocator());

  // Our fields changed as asked...
  ASSERT_OK_AND_ASSIGN(Service after, Service::FromJson(patched));
  EXPECT_EQ(after.status, svc.status);
  // ...and everything else, unknown fields and managedFields included, is
  // byte-for-byte what the server had.
  rapidjson::Document before;
  ParseOrFail(original, before);
  RemoveOwnedFields(before);
  RemoveOwnedFields(patched);
  EXPECT_EQ(JsonToString(patched), JsonToString(before));
  EXPECT_THAT(JsonToString(patched), HasSubstr("\"trafficDistribution\":\"PreferClose\""));
  EXPECT_THAT(JsonToString(patched), HasSubstr("\"managedFields\""));
}

TEST(ServiceStatusPatchTest, EmptyListsRemoveTheKeys) {
  const std::string original = ReadTestData("service_lb.json");
  rapidjson::Document doc;
  ParseOrFail(original, doc);
  ASSERT_OK_AND_ASSIGN(Service svc, Service::FromJson(doc));
  svc.status.ingress.clear();
  svc.status.conditions.clear();
  svc.metadata.resource_version.clear();
  const std::string patch_text = ServiceStatusPatch(svc);
  EXPECT_EQ(patch_text, R"({"status":{"loadBalancer":{"ingress":null},"conditions":null}})");

  rapidjson::Document patch;
  ParseOrFail(patch_text, patch);
  ApplyMergePatch(doc, patch, doc.GetAllocator());
  EXPECT_EQ(JsonToString(doc["status"]), R"({"loadBalancer":{}})");
  ASSERT_OK_AND_ASSIGN(Service after, Service::FromJson(doc));
  EXPECT_EQ(after.status, ServiceStatus());
  EXPECT_EQ(after.spec, svc.spec);
}

TEST(NamespaceTest, RoundTrip) {
  Namespace ns = RoundTrip<Namespace>("namespace.json");
  EXPECT_EQ(ns.metadata.name, "shop");
  EXPECT_EQ(ns.metadata.labels.at("env"), "prod");
  EXPECT_EQ(ns.phase, "Active");
}

TEST(EventTest, RoundTrip) {
  Event ev = RoundTrip<Event>("event.json");
  EXPECT_EQ(ev.involved_object.kind, "Service");
  EXPECT_EQ(ev.involved_object.namespace_, "shop");
  EXPECT_EQ(ev.involved_object.uid, "5c1b7e7a-3f4e-4d0a-9a57-0b8e3f9f2d11");
  EXPECT_EQ(ev.reason, "AddressAllocated");
  EXPECT_EQ(ev.type, "Normal");
  EXPECT_EQ(ev.count, 3);
  EXPECT_EQ(FormatTime(*ev.first_timestamp), "2024-05-14T09:21:08Z");
  EXPECT_EQ(FormatTime(*ev.last_timestamp), "2024-05-14T09:25:00Z");
  EXPECT_EQ(FormatMicroTime(*ev.event_time), "2024-05-14T09:21:08.123456Z");
  EXPECT_EQ(ev.source_component, "lballoc-operator");
  EXPECT_EQ(ev.source_host, "node-1");
  EXPECT_EQ(ev.reporting_component, "lballoc-operator");
  EXPECT_EQ(ev.reporting_instance, "lballoc-operator-6d9f7c-x2x9q");
  EXPECT_EQ(ev.action, "Allocate");
}

TEST(LeaseTest, RoundTripKeepsMicroseconds) {
  Lease lease = RoundTrip<Lease>("lease.json");
  EXPECT_EQ(lease.metadata.namespace_, "lballoc-system");
  EXPECT_EQ(lease.spec.holder_identity, "lballoc-operator-6d9f7c-x2x9q");
  EXPECT_EQ(lease.spec.lease_duration_seconds, 15);
  EXPECT_EQ(lease.spec.lease_transitions, 4);
  EXPECT_EQ(FormatMicroTime(*lease.spec.renew_time), "2024-05-14T09:30:12.734521Z");
  EXPECT_EQ(FormatMicroTime(*lease.spec.acquire_time), "2024-05-14T08:30:00.000000Z");
}

TEST(LeaseTest, MicroTimeIsReadAtMicrosecondPrecision) {
  rapidjson::Document doc;
  ParseOrFail(R"({"spec":{"renewTime":"2024-05-14T09:30:12.734521999Z"}})", doc);
  ASSERT_OK_AND_ASSIGN(Lease lease, Lease::FromJson(doc));
  EXPECT_EQ(FormatTime(*lease.spec.renew_time), "2024-05-14T09:30:12.734521Z");
  // So encode/decode is lossless.
  EXPECT_THAT(DecodeJson<Lease>(lease.ToJsonString()), IsOkAndHolds(lease));
}

TEST(LeaseTest, WritesMicroTimeAndEmptyHolder) {
  Lease lease;
  lease.metadata.name = "lballoc";
  lease.metadata.namespace_ = "ns";
  lease.spec.renew_time = Time() + std::chrono::seconds(1715679012) + std::chrono::microseconds(5);
  EXPECT_EQ(lease.ToJsonString(),
            R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease",)"
            R"("metadata":{"name":"lballoc","namespace":"ns"},)"
            R"("spec":{"holderIdentity":"","renewTime":"2024-05-14T09:30:12.000005Z",)"
            R"("leaseTransitions":0}})");
}

}  // namespace
}  // namespace lballoc::api
