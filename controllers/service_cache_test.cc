// ServiceCacheTransform and CachedService: a Service that goes through the informer's path
// (transform, then CachedService::FromJson) keeps every field the controllers read, and the
// status writes computed from it are byte for byte those computed from the full object.
#include "controllers/service_cache.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <string>
#include <vector>

#include "api/core_v1.h"
#include "controllers/convert.h"
#include "controllers/status.h"
#include "operator/ipam/address.h"
#include "test/testing/status_matchers.h"

namespace lballoc::controllers {
namespace {

// A Service as a real cluster returns it, with everything the API shows that lballoc might
// read: big annotations, managedFields, owner references, finalizers, named ports, a status
// with an ingress entry of another writer and a condition.
constexpr char kFullService[] = R"({
  "apiVersion": "v1", "kind": "Service",
  "metadata": {
    "name": "web", "namespace": "shop", "uid": "6b1f0c3e-2d4a-4c1b-9e0f-000000000042",
    "resourceVersion": "1234", "generation": 3, "generateName": "web-",
    "creationTimestamp": "2026-01-01T00:00:00Z",
    "labels": {"app": "web", "tier": "frontend", "lballoc.io/pool-class": "public"},
    "annotations": {
      "kubectl.kubernetes.io/last-applied-configuration": "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\"}}",
      "lballoc.io/pool": "public, private",
      "lballoc.io/ips": "192.0.2.10",
      "lballoc.io/sharing-key": " web ",
      "example.com/owner": "team-a"
    },
    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                         "uid": "11111111-2222-3333-4444-555555555555", "controller": true}],
    "finalizers": ["service.kubernetes.io/load-balancer-cleanup"],
    "managedFields": [{"manager": "kubectl", "operation": "Update", "apiVersion": "v1",
                       "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:type": {}}}}]
  },
  "spec": {
    "type": "LoadBalancer", "loadBalancerClass": "kube-router",
    "loadBalancerIP": "192.0.2.10",
    "clusterIP": "10.96.0.42", "clusterIPs": ["10.96.0.42"],
    "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
    "externalTrafficPolicy": "Local",
    "selector": {"app": "web", "tier": "frontend"},
    "ports": [
      {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080, "nodePort": 30080,
       "appProtocol": "http"},
      {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": "dns", "nodePort": 30053}
    ]
  },
  "status": {
    "loadBalancer": {"ingress": [{"ip": "192.0.2.10", "ipMode": "VIP",
                                  "ports": [{"port": 80, "protocol": "TCP"}]},
                                 {"hostname": "lb.example.com"}]},
    "conditions": [{"type": "lballoc.io/AddressAllocated", "status": "False",
                    "reason": "PoolExhausted", "message": "pool \"public\" is full",
                    "observedGeneration": 2, "lastTransitionTime": "2026-01-01T00:00:05Z"}]
  }
})";

api::Service Decode(const char* json, bool transform) {
  rapidjson::Document doc;
  doc.Parse(json);
  EXPECT_FALSE(doc.HasParseError());
  if (transform) ServiceCacheTransform(doc, doc.GetAllocator());
  StatusOr<api::Service> svc = api::Service::FromJson(doc);
  EXPECT_TRUE(svc.ok()) << svc.status();
  return svc.ok() ? *svc : api::Service();
}

// What the Service informer caches of `json`: the transform, then CachedService::FromJson.
CachedService Cache(const char* json) {
  rapidjson::Document doc;
  doc.Parse(json);
  EXPECT_FALSE(doc.HasParseError());
  ServiceCacheTransform(doc, doc.GetAllocator());
  StatusOr<CachedService> svc = CachedService::FromJson(doc);
  EXPECT_TRUE(svc.ok()) << svc.status();
  return svc.ok() ? *svc : CachedService();
}

ipam::Address Ip(const char* text) { return *ipam::ParseAddress(text); }

TEST(ServiceCacheTransformTest, KeepsEveryFieldTheControllersRead) {
  const api::Service full = Decode(kFullService, false);
  const CachedService cached = Cache(kFullService);

  for (const ClassSelection& classes :
       {ClassSelection{"kube-router", true}, ClassSelection{"other", false}}) {
    EXPECT_EQ(IsHandled(cached, classes), IsHandled(CachedService::From(full), classes));
  }
  EXPECT_TRUE(IsHandled(cached, ClassSelection{"kube-router", true}));
  EXPECT_FALSE(IsHandled(cached, ClassSelection{"other", false}));
  StatusOr<ipam::Request> want = BuildRequest(CachedService::From(full));
  StatusOr<ipam::Request> got = BuildRequest(cached);
  ASSERT_TRUE(want.ok()) << want.status();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->service, "shop/web");
  EXPECT_EQ(got->service, want->service);
  EXPECT_EQ(got->creation_order, 1767225600);  // 2026-01-01T00:00:00Z
  EXPECT_EQ(got->creation_order, want->creation_order);
  EXPECT_EQ(got->families, std::vector<ipam::Family>{ipam::Family::kIPv4});
  EXPECT_EQ(got->families, want->families);
  EXPECT_EQ(got->policy, ipam::IpFamilyPolicy::kSingleStack);
  EXPECT_EQ(got->policy, want->policy);
  EXPECT_EQ(got->requested, std::vector<ipam::Address>{Ip("192.0.2.10")});
  EXPECT_EQ(got->requested, want->requested);
  EXPECT_EQ(got->pools, (std::vector<std::string>{"public", "private"}));
  EXPECT_EQ(got->pools, want->pools);
  EXPECT_EQ(got->sharing_key, "web");
  EXPECT_EQ(got->sharing_key, want->sharing_key);
  EXPECT_EQ(got->ports, (std::vector<ipam::ServicePort>{{"TCP", 80}, {"UDP", 53}}));
  EXPECT_EQ(got->ports, want->ports);
  EXPECT_EQ(got->traffic_policy, ipam::TrafficPolicy::kLocal);
  EXPECT_EQ(got->traffic_policy, want->traffic_policy);
  EXPECT_EQ(got->selector, "app=web,tier=frontend");
  EXPECT_EQ(got->selector, want->selector);

  // What the reconcilers, the selectors, the event recorder and the status writes read, against
  // the full object.
  EXPECT_EQ(cached.metadata.name, full.metadata.name);
  EXPECT_EQ(cached.metadata.namespace_, full.metadata.namespace_);
  EXPECT_EQ(cached.metadata.uid, full.metadata.uid);
  EXPECT_EQ(cached.metadata.resource_version, full.metadata.resource_version);
  EXPECT_EQ(cached.metadata.generation, full.metadata.generation);
  EXPECT_EQ(cached.metadata.creation_order, CreationOrder(full.metadata));
  EXPECT_EQ(cached.metadata.labels, full.metadata.labels);
  EXPECT_EQ(cached.pool_annotation(), full.metadata.annotations.at(kPoolAnnotation));
  EXPECT_EQ(cached.ips_annotation(), full.metadata.annotations.at(kIpsAnnotation));
  EXPECT_EQ(cached.sharing_key_annotation(), full.metadata.annotations.at(kSharingKeyAnnotation));
  EXPECT_TRUE(cached.load_balancer());
  EXPECT_EQ(cached.load_balancer_class(), full.spec.load_balancer_class);
  EXPECT_EQ(cached.load_balancer_ip(), full.spec.load_balancer_ip);
  EXPECT_EQ(cached.ip_families(), full.spec.ip_families);
  EXPECT_EQ(cached.ip_family_policy(), full.spec.ip_family_policy);
  EXPECT_TRUE(cached.local_traffic());
  EXPECT_EQ(cached.selector(), CanonicalSelector(full.spec.selector));
  EXPECT_EQ(cached.status, full.status);
  // The point of the cached type (BENCHMARKS.md "Where the peak goes now").
  EXPECT_LT(sizeof(CachedService), sizeof(api::Service));
}

// The values the cached type turns into flags or defaults behave as the strings did.
TEST(CachedServiceTest, OddValuesBehaveAsBefore) {
  api::Service s;
  s.metadata.namespace_ = "default";
  s.metadata.name = "odd";
  s.spec.type = "loadbalancer";  // case matters: not handled
  s.spec.external_traffic_policy = "local";
  s.spec.ip_family_policy = "Sometimes";
  s.spec.ports.push_back(api::ServicePort{});
  s.spec.ports[0].port = 7;
  s.spec.ports[0].protocol = "QUIC";  // passed to the engine as written
  CachedService c = CachedService::From(s);
  EXPECT_FALSE(c.load_balancer());
  EXPECT_FALSE(IsHandled(c, ClassSelection{}));
  EXPECT_FALSE(c.local_traffic());
  EXPECT_EQ(c.ports(), (std::vector<ipam::ServicePort>{{"QUIC", 7}}));
  EXPECT_EQ(c.ip_family_policy(), "Sometimes");
  EXPECT_EQ(BuildRequest(c).status().message(),
            "spec.ipFamilyPolicy: unknown policy \"Sometimes\"");
  s.spec.ip_family_policy = "";
  s.spec.ip_families = {"IPv4", "IPv7"};
  EXPECT_EQ(BuildRequest(CachedService::From(s)).status().message(),
            "spec.ipFamilies[1]: unknown family \"IPv7\"");
  EXPECT_EQ(CachedService::From(s).ip_families(), (std::vector<std::string>{"IPv4", "IPv7"}));
  s.spec.ip_families.clear();
  s.spec.ports[0].protocol = "";
  s.spec.external_traffic_policy = "Local";
  s.spec.type = "LoadBalancer";
  c = CachedService::From(s);
  EXPECT_TRUE(IsHandled(c, ClassSelection{}));
  ASSERT_OK_AND_ASSIGN(ipam::Request r, BuildRequest(c));
  EXPECT_EQ(r.ports, (std::vector<ipam::ServicePort>{{"TCP", 7}}));
  EXPECT_EQ(r.traffic_policy, ipam::TrafficPolicy::kLocal);
  EXPECT_EQ(r.creation_order, 0);  // no creationTimestamp
}

// Whatever is stored packed or out of line reads back as the full object had it.
TEST(CachedServiceTest, AccessorsGiveBackWhatWasWritten) {
  const std::vector<std::vector<std::string>> families = {
      {}, {"IPv4"}, {"IPv6"}, {"IPv6", "IPv4"}, {"IPv4", "IPv4"}, {"IPv4", "IPv6", "IPv4"}, {"x"}};
  for (const std::vector<std::string>& f : families) {
    api::Service s;
    s.spec.ip_families = f;
    EXPECT_EQ(CachedService::From(s).ip_families(), f);
  }
  for (const char* policy : {"", "SingleStack", "PreferDualStack", "RequireDualStack", "odd"}) {
    api::Service s;
    s.spec.ip_family_policy = policy;
    EXPECT_EQ(CachedService::From(s).ip_family_policy(), policy);
  }
  api::Service s;
  for (const char* protocol : {"TCP", "", "UDP", "SCTP"}) {
    s.spec.ports.push_back(api::ServicePort{});
    s.spec.ports.back().protocol = protocol;
    s.spec.ports.back().port = static_cast<int32_t>(s.spec.ports.size());
  }
  EXPECT_EQ(CachedService::From(s).ports(),
            (std::vector<ipam::ServicePort>{{"TCP", 1}, {"TCP", 2}, {"UDP", 3}, {"SCTP", 4}}));
  s.metadata.annotations[kSharingKeyAnnotation] = "k";
  s.spec.load_balancer_class = "c";
  s.spec.load_balancer_ip = "192.0.2.1";
  const CachedService c = CachedService::From(s);
  const CachedService copy = c;  // copies share what is out of line
  EXPECT_EQ(copy.sharing_key_annotation(), "k");
  EXPECT_EQ(copy.pool_annotation(), "");
  EXPECT_EQ(copy.ips_annotation(), "");
  EXPECT_EQ(copy.load_balancer_class(), "c");
  EXPECT_EQ(copy.load_balancer_ip(), "192.0.2.1");
  EXPECT_EQ(CachedService().load_balancer_class(), "");
  EXPECT_TRUE(CachedService().ports().empty());
}

// The informer's decoder refuses what api::Service refuses, with the same error.
TEST(CachedServiceTest, FromJsonFailsAsTheServiceDecoder) {
  for (const char* json :
       {R"({"metadata": 3})", R"({"spec": {"ports": [{"port": "x"}]}})", R"([1])"}) {
    rapidjson::Document doc;
    doc.Parse(json);
    ASSERT_FALSE(doc.HasParseError()) << json;
    StatusOr<api::Service> full = api::Service::FromJson(doc);
    StatusOr<CachedService> cached = CachedService::FromJson(doc);
    ASSERT_FALSE(full.ok()) << json;
    EXPECT_EQ(cached.status(), full.status()) << json;
  }
}

TEST(ServiceCacheTransformTest, DropsWhatNobodyReads) {
  const api::Service full = Decode(kFullService, false);
  const api::Service cached = Decode(kFullService, true);
  // The full object has them (so this test fails if the decoder stops modelling them)...
  ASSERT_EQ(full.metadata.annotations.size(), 5u);
  ASSERT_FALSE(full.metadata.owner_references.empty());
  ASSERT_FALSE(full.metadata.finalizers.empty());
  ASSERT_FALSE(full.spec.cluster_ip.empty());
  ASSERT_FALSE(full.spec.cluster_ips.empty());
  ASSERT_EQ(full.spec.ports[0].name, "http");
  ASSERT_TRUE(full.spec.ports[0].target_port.has_value());
  // ...the cached one does not.
  for (const auto& [key, value] : cached.metadata.annotations) {
    EXPECT_EQ(key.rfind(kKeptAnnotationPrefix, 0), 0u) << key;
  }
  EXPECT_EQ(cached.metadata.annotations.size(), 3u);
  EXPECT_TRUE(cached.metadata.owner_references.empty());
  EXPECT_TRUE(cached.metadata.finalizers.empty());
  EXPECT_TRUE(cached.spec.cluster_ip.empty());
  EXPECT_TRUE(cached.spec.cluster_ips.empty());
  for (const api::ServicePort& p : cached.spec.ports) {
    EXPECT_TRUE(p.name.empty());
    EXPECT_FALSE(p.target_port.has_value());
    EXPECT_EQ(p.node_port, 0);
    EXPECT_TRUE(p.app_protocol.empty());
  }
}

// The Service controller's writes (service_controller.cc WriteStatus): a merge patch of
// resourceVersion and the status it computes from the cached status. Equal patches for the full
// and the transformed object, for an allocation, a failure and a release.
template <typename ServiceT>  // api::Service or CachedService
std::string AllocationPatch(const ServiceT& svc, ipam::Reason reason,
                            const std::vector<ipam::Address>& addresses) {
  api::Service patch;
  patch.metadata.resource_version = svc.metadata.resource_version;
  patch.status = DesiredServiceStatus(
      svc.status, addresses, AllocationCondition(reason, "message", svc.metadata.generation),
      api::Time(std::chrono::seconds(1767225700)));
  return api::ServiceStatusPatch(patch);
}

TEST(ServiceCacheTransformTest, StatusWritesAreTheSame) {
  const api::Service full = Decode(kFullService, false);
  const CachedService cached = Cache(kFullService);
  for (const std::vector<ipam::Address>& addresses :
       {std::vector<ipam::Address>{Ip("192.0.2.10")}, std::vector<ipam::Address>{Ip("192.0.2.11")},
        std::vector<ipam::Address>{}}) {
    for (ipam::Reason reason : {ipam::Reason::kAllocated, ipam::Reason::kPoolExhausted}) {
      std::string want = AllocationPatch(full, reason, addresses);
      EXPECT_EQ(AllocationPatch(cached, reason, addresses), want);
      // The patch names only what lballoc owns, whatever the cache dropped.
      EXPECT_EQ(want.find("clusterIP"), std::string::npos) << want;
      EXPECT_EQ(want.find("annotations"), std::string::npos) << want;
      EXPECT_EQ(want.find("spec"), std::string::npos) << want;
    }
  }
  api::Service released;
  released.metadata.resource_version = cached.metadata.resource_version;
  released.status = ReleasedServiceStatus(cached.status, {Ip("192.0.2.10")});
  api::Service released_full;
  released_full.metadata.resource_version = full.metadata.resource_version;
  released_full.status = ReleasedServiceStatus(full.status, {Ip("192.0.2.10")});
  EXPECT_EQ(api::ServiceStatusPatch(released), api::ServiceStatusPatch(released_full));
}

TEST(ServiceCacheTransformTest, LeavesMalformedObjectsToTheDecoder) {
  for (const char* json : {R"([1, 2])", R"({"metadata": 3, "spec": "x"})",
                           R"({"metadata": {"annotations": [1]}, "spec": {"ports": {"a": 1}}})",
                           R"({"spec": {"ports": [7, {"name": "x", "port": 1}]}})"}) {
    rapidjson::Document doc;
    doc.Parse(json);
    ASSERT_FALSE(doc.HasParseError()) << json;
    rapidjson::Document copy;
    copy.CopyFrom(doc, copy.GetAllocator());
    ServiceCacheTransform(doc, doc.GetAllocator());
    if (std::string(json).find("\"name\": \"x\"") == std::string::npos) {
      EXPECT_TRUE(doc == copy) << json;  // nothing it knows how to drop: untouched
    } else {
      EXPECT_FALSE(doc["spec"]["ports"][1].HasMember("name"));  // the good entry is cleaned
      EXPECT_EQ(doc["spec"]["ports"][0].GetInt(), 7);
    }
  }
}

}  // namespace
}  // namespace lballoc::controllers
