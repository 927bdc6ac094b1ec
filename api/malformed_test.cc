// Malformed and wrongly typed input to every codec: each must give
// InvalidArgument with a message that names the field path (or the offset,
// for broken JSON) and never crash or assert.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "api/coordination_v1.h"
#include "api/core_v1.h"
#include "api/json.h"
#include "api/meta.h"
#include "api/v1alpha1/loadbalancerpool.h"
#include "test/testing/status_matchers.h"

namespace lballoc::api {
namespace {

using ::lballoc::testing::StatusIs;
using ::testing::HasSubstr;

struct MalformedCase {
  std::string_view kind;
  std::string_view json;
  std::string_view want;  // a substring of the error message: the field path and why
};

Status Decode(std::string_view kind, std::string_view json) {
  if (kind == "Service") return DecodeJson<Service>(json).status();
  if (kind == "Namespace") return DecodeJson<Namespace>(json).status();
  if (kind == "Event") return DecodeJson<Event>(json).status();
  if (kind == "Lease") return DecodeJson<Lease>(json).status();
  if (kind == "LoadBalancerPool") return DecodeJson<LoadBalancerPool>(json).status();
  if (kind == "Status") return DecodeJson<ApiStatus>(json).status();
  if (kind == "ServiceList") return DecodeJson<List<Service>>(json).status();
  return InternalError("test table names an unknown kind");
}

constexpr MalformedCase kCases[] = {
    {"Service", R"({"spec":{"ports":[{"port":"80"}]}})",
     "spec.ports[0].port: expected integer, got string"},
    {"Service", R"({"spec":{"ports":[{"port":80},{"port":70000000000}]}})",
     "spec.ports[1].port: integer 70000000000 out of range for int32"},
    {"Service", R"({"spec":{"ports":[{"port":80,"targetPort":true}]}})",
     "spec.ports[0].targetPort: expected integer or string, got boolean"},
    {"Service", R"({"spec":{"ports":[{"port":80,"targetPort":8080.5}]}})",
     "spec.ports[0].targetPort: expected integer or string, got number"},
    {"Service", R"({"spec":{"ipFamilies":"IPv4"}})",
     "spec.ipFamilies: expected array of strings, got string"},
    {"Service", R"({"spec":{"selector":{"app":1}}})",
     "spec.selector[\"app\"]: expected string, got integer"},
    {"Service", R"({"spec":[]})", "spec: expected object, got array"},
    {"Service", R"({"spec":{"loadBalancerClass":false}})",
     "spec.loadBalancerClass: expected string, got boolean"},
    {"Service", R"({"status":{"loadBalancer":{"ingress":[{"ip":1}]}}})",
     "status.loadBalancer.ingress[0].ip: expected string, got integer"},
    {"Service",
     R"({"status":{"loadBalancer":{"ingress":[{"ip":"1.2.3.4","ports":[{"port":80,"error":5}]}]}}})",
     "status.loadBalancer.ingress[0].ports[0].error: expected string, got integer"},
    {"Service", R"({"status":{"loadBalancer":"none"}})",
     "status.loadBalancer: expected object, got string"},
    {"Service", R"({"status":{"conditions":[{"type":"A","lastTransitionTime":"yesterday"}]}})",
     "status.conditions[0].lastTransitionTime: invalid RFC 3339 time"},
    {"Service", R"({"metadata":{"labels":{"a":null}}})",
     "metadata.labels[\"a\"]: expected string, got null"},
    {"Service", R"({"metadata":{"creationTimestamp":12}})",
     "metadata.creationTimestamp: expected RFC 3339 time string, got integer"},
    {"Service", R"({"metadata":{"generation":1.5}})",
     "metadata.generation: expected integer, got number"},
    {"Service", R"({"metadata":{"finalizers":[null]}})",
     "metadata.finalizers[0]: expected string, got null"},
    {"Service", R"({"metadata":{"ownerReferences":[{"uid":"x"},"y"]}})",
     "metadata.ownerReferences[1]: expected object, got string"},
    {"Service", R"({"kind":"Pod","apiVersion":"v1"})", "kind: expected \"Service\", got \"Pod\""},
    {"Service", R"([1,2])", "<root>: expected object, got array"},
    {"Service", R"({"metadata":)", "malformed JSON at offset 12"},
    {"Service", "{\"metadata\":{\"name\":\"\xc3\x28\"}}", "malformed JSON at offset"},
    {"ServiceList", R"({"items":[{"spec":{"type":1}}]})",
     "items[0]: spec.type: expected string, got integer"},
    {"ServiceList", R"({"metadata":{"remainingItemCount":"7"}})",
     "metadata.remainingItemCount: expected integer, got string"},
    {"ServiceList", R"({"items":{}})", "items: expected array, got object"},
    {"LoadBalancerPool", R"({"spec":{"addresses":["10.0.0.0/8",7]}})",
     "spec.addresses[1]: expected string, got integer"},
    {"LoadBalancerPool", R"({"spec":{"autoAssign":"true"}})",
     "spec.autoAssign: expected boolean, got string"},
    {"LoadBalancerPool", R"({"spec":{"priority":2147483648}})",
     "spec.priority: integer 2147483648 out of range for int32"},
    {"LoadBalancerPool", R"({"spec":{"serviceSelector":{"matchLabels":"a=b"}}})",
     "spec.serviceSelector.matchLabels: expected object of strings, got string"},
    {"LoadBalancerPool", R"({"spec":{"namespaceSelector":{"matchExpressions":[{"key":1}]}}})",
     "spec.namespaceSelector.matchExpressions[0].key: expected string, got integer"},
    {"LoadBalancerPool", R"({"spec":{"serviceSelector":[]}})",
     "spec.serviceSelector: expected object, got array"},
    {"LoadBalancerPool", R"({"status":{"total":18446744073709551615}})",
     "status.total: integer out of range for int64"},
    {"LoadBalancerPool", R"({"status":{"ipv4":{"total":-1.0}}})",
     "status.ipv4.total: expected integer, got number"},
    {"LoadBalancerPool", R"({"status":{"conditions":{"type":"Ready"}}})",
     "status.conditions: expected array, got object"},
    {"LoadBalancerPool", R"({"status":{"conditions":[{"type":"Ready","observedGeneration":"3"}]}})",
     "status.conditions[0].observedGeneration: expected integer, got string"},
    {"LoadBalancerPool", R"({"apiVersion":"lballoc.io/v1beta1","kind":"LoadBalancerPool"})",
     "apiVersion: expected \"lballoc.io/v1alpha1\", got \"lballoc.io/v1beta1\""},
    {"Lease", R"({"spec":{"renewTime":"2024-05-14T09:30:12.734521"}})",
     "spec.renewTime: invalid RFC 3339 time"},
    {"Lease", R"({"spec":{"leaseDurationSeconds":"15"}})",
     "spec.leaseDurationSeconds: expected integer, got string"},
    {"Event", R"({"involvedObject":"web"})", "involvedObject: expected object, got string"},
    {"Event", R"({"count":-2147483649})", "count: integer -2147483649 out of range for int32"},
    {"Event", R"({"source":{"component":["x"]}})", "source.component: expected string, got array"},
    {"Namespace", R"({"status":{"phase":["Active"]}})", "status.phase: expected string, got array"},
    {"Status", R"({"kind":"Status","code":"404"})", "code: expected integer, got string"},
    {"Status", R"({"details":{"causes":[{"field":3}]}})",
     "details.causes[0].field: expected string, got integer"},
};

TEST(MalformedInputTest, EveryCaseNamesTheFieldPath) {
  static_assert(std::size(kCases) >= 20);
  for (const MalformedCase& c : kCases) {
    EXPECT_THAT(Decode(c.kind, c.json),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr(std::string(c.want))))
        << c.kind << " " << c.json;
  }
}

// Every prefix of a valid object is malformed JSON; none may crash.
TEST(MalformedInputTest, TruncatedDocumentsFailCleanly) {
  const std::string pool =
      R"({"apiVersion":"lballoc.io/v1alpha1","kind":"LoadBalancerPool","metadata":{"name":"p"},)"
      R"("spec":{"addresses":["192.0.2.0/24"],"serviceSelector":{"matchLabels":{"a":"b"}}},)"
      R"("status":{"conditions":[{"type":"Ready","status":"True"}]}})";
  ASSERT_TRUE(DecodeJson<LoadBalancerPool>(pool).ok());
  for (size_t n = 0; n < pool.size(); ++n) {
    EXPECT_THAT(DecodeJson<LoadBalancerPool>(pool.substr(0, n)),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr("malformed JSON at offset")))
        << n;
  }
}

}  // namespace
}  // namespace lballoc::api
