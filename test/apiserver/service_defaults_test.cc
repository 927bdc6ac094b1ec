// Over 800 lines on purpose: one table of cases per rule of service_defaults.cc, which is itself
// one concern (see its top).
#include "test/apiserver/service_defaults.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "test/apiserver/patch.h"
#include "test/testing/status_matchers.h"

namespace lballoc::apiserver {
namespace {

using ::lballoc::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

rapidjson::Document Parse(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str());
  EXPECT_FALSE(d.HasParseError()) << "bad test JSON: " << text;
  return d;
}

std::string Dump(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return buf.GetString();
}

// Every member of `want` is in `got` with an equal value (objects and same-size arrays
// recursively, the rest exactly).
// A member whose wanted value is the string "<absent>" must be missing.
bool Subset(const rapidjson::Value& got, const rapidjson::Value& want, std::string* where) {
  if (want.IsArray() && got.IsArray() && want.Size() == got.Size()) {
    for (rapidjson::SizeType i = 0; i < want.Size(); ++i) {
      if (!Subset(got[i], want[i], where)) {
        *where = "[" + std::to_string(i) + "]." + *where;
        return false;
      }
    }
    return true;
  }
  if (!want.IsObject()) {
    if (got == want) return true;
    *where = "got " + Dump(got) + " want " + Dump(want);
    return false;
  }
  if (!got.IsObject()) {
    *where = "got " + Dump(got) + ", want an object";
    return false;
  }
  for (auto m = want.MemberBegin(); m != want.MemberEnd(); ++m) {
    auto it = got.FindMember(m->name);
    bool absent = m->value.IsString() && std::string(m->value.GetString()) == "<absent>";
    if (absent) {
      if (it != got.MemberEnd()) {
        *where = std::string(m->name.GetString()) + " is present: " + Dump(it->value);
        return false;
      }
      continue;
    }
    if (it == got.MemberEnd()) {
      *where = std::string(m->name.GetString()) + " is missing";
      return false;
    }
    if (!Subset(it->value, m->value, where)) {
      *where = std::string(m->name.GetString()) + "." + *where;
      return false;
    }
  }
  return true;
}

void ExpectSubset(const rapidjson::Value& got, const std::string& want) {
  rapidjson::Document w = Parse(want);
  std::string where;
  EXPECT_TRUE(Subset(got, w, &where)) << where << "\nobject: " << Dump(got);
}

// ---------------------------------------------------------------------------------------------
// Create: defaulting and allocation.

struct CreateCase {
  const char* name;
  const char* svc;
  const char* want;  // a subset of the result
};

const CreateCase kCreateCases[] = {
    {"cluster_ip_defaults", R"({"metadata":{"name":"a"},"spec":{"ports":[{"port":80}]}})",
     R"({"spec":{"type":"ClusterIP","sessionAffinity":"None",
                 "ports":[{"port":80,"protocol":"TCP","targetPort":80}],
                 "clusterIP":"10.96.1.0","clusterIPs":["10.96.1.0"],"ipFamilies":["IPv4"],
                 "ipFamilyPolicy":"SingleStack","internalTrafficPolicy":"Cluster",
                 "externalTrafficPolicy":"<absent>","allocateLoadBalancerNodePorts":"<absent>"},
         "status":{"loadBalancer":{}}})"},
    {"status_reset_on_create",
     R"({"metadata":{"name":"a"},"spec":{"ports":[{"port":80}]},
         "status":{"loadBalancer":{"ingress":[{"ip":"1.2.3.4"}]}}})",
     R"({"status":{"loadBalancer":{"ingress":"<absent>"}}})"},
    {"load_balancer",
     R"({"metadata":{"name":"a"},"spec":{"type":"LoadBalancer","ports":[{"port":80}]}})",
     R"({"spec":{"type":"LoadBalancer","ports":[{"port":80,"nodePort":30086}],
                 "externalTrafficPolicy":"Cluster","allocateLoadBalancerNodePorts":true,
                 "healthCheckNodePort":"<absent>"}})"},
    {"load_balancer_without_node_ports",
     R"({"metadata":{"name":"a"},"spec":{"type":"LoadBalancer","allocateLoadBalancerNodePorts":false,
         "loadBalancerClass":"lballoc.io/pool","ports":[{"port":80}]}})",
     R"({"spec":{"ports":[{"port":80,"nodePort":"<absent>"}],"allocateLoadBalancerNodePorts":false,
                 "loadBalancerClass":"lballoc.io/pool"}})"},
    {"node_port_shared_by_protocols",
     R"({"metadata":{"name":"a"},"spec":{"type":"NodePort","ports":[
         {"name":"dns","port":53,"protocol":"UDP"},{"name":"dns-tcp","port":53},
         {"name":"x","port":54,"nodePort":31000}]}})",
     R"({"spec":{"ports":[{"nodePort":30086},{"nodePort":30086,"protocol":"TCP"},
                          {"nodePort":31000}],"externalTrafficPolicy":"Cluster"}})"},
    {"local_policy_health_check",
     R"({"metadata":{"name":"a"},"spec":{"type":"LoadBalancer","externalTrafficPolicy":"Local",
         "ports":[{"port":80}]}})",
     R"({"spec":{"ports":[{"nodePort":30086}],"healthCheckNodePort":30087}})"},
    {"headless_with_selector",
     R"({"metadata":{"name":"a"},"spec":{"clusterIP":"None","selector":{"app":"x"}}})",
     R"({"spec":{"clusterIP":"None","clusterIPs":["None"],"ipFamilies":["IPv4"],
                 "ipFamilyPolicy":"SingleStack"}})"},
    {"headless_without_selector", R"({"metadata":{"name":"a"},"spec":{"clusterIPs":["None"]}})",
     R"({"spec":{"clusterIP":"None","clusterIPs":["None"],"ipFamilies":["IPv4","IPv6"],
                 "ipFamilyPolicy":"RequireDualStack"}})"},
    {"prefer_dual_stack",
     R"({"metadata":{"name":"a"},"spec":{"ipFamilyPolicy":"PreferDualStack","ports":[{"port":80}]}})",
     R"({"spec":{"clusterIP":"10.96.1.0","clusterIPs":["10.96.1.0","fd00:10:96::100"],
                 "ipFamilies":["IPv4","IPv6"],"ipFamilyPolicy":"PreferDualStack"}})"},
    {"require_dual_stack_ipv6_first",
     R"({"metadata":{"name":"a"},"spec":{"ipFamilyPolicy":"RequireDualStack","ipFamilies":["IPv6"],
         "ports":[{"port":80}]}})",
     R"({"spec":{"clusterIPs":["fd00:10:96::100","10.96.1.0"],"ipFamilies":["IPv6","IPv4"]}})"},
    {"two_families_imply_require_dual_stack",
     R"({"metadata":{"name":"a"},"spec":{"ipFamilies":["IPv4","IPv6"],"ports":[{"port":80}]}})",
     R"({"spec":{"ipFamilyPolicy":"RequireDualStack","clusterIPs":["10.96.1.0","fd00:10:96::100"]}})"},
    {"specific_cluster_ip",
     R"({"metadata":{"name":"a"},"spec":{"clusterIP":"10.96.0.10","ports":[{"port":53}]}})",
     R"({"spec":{"clusterIP":"10.96.0.10","clusterIPs":["10.96.0.10"],"ipFamilies":["IPv4"]}})"},
    {"specific_ipv6_canonicalised",
     R"({"metadata":{"name":"a"},"spec":{"clusterIPs":["FD00:10:96:0::a"],"ports":[{"port":53}]}})",
     R"({"spec":{"clusterIP":"fd00:10:96::a","clusterIPs":["fd00:10:96::a"],"ipFamilies":["IPv6"]}})"},
    {"external_name",
     R"({"metadata":{"name":"a"},"spec":{"type":"ExternalName","externalName":"db.example.com."}})",
     R"({"spec":{"clusterIP":"<absent>","clusterIPs":"<absent>","ipFamilies":"<absent>",
                 "ipFamilyPolicy":"<absent>","internalTrafficPolicy":"<absent>"}})"},
    {"client_ip_affinity",
     R"({"metadata":{"name":"a"},"spec":{"sessionAffinity":"ClientIP","ports":[{"port":80}]}})",
     R"({"spec":{"sessionAffinityConfig":{"clientIP":{"timeoutSeconds":10800}}}})"},
    {"named_target_port",
     R"({"metadata":{"name":"a"},"spec":{"ports":[{"port":80,"targetPort":"http"}]}})",
     R"({"spec":{"ports":[{"targetPort":"http"}]}})"},
    {"nulls_are_unset",
     R"({"metadata":{"name":"a"},"spec":{"type":null,"clusterIP":null,"ports":[{"port":80,"nodePort":null}]}})",
     R"({"spec":{"type":"ClusterIP","clusterIP":"10.96.1.0"}})"},
    {"external_ips_make_etp_default",
     R"({"metadata":{"name":"a"},"spec":{"externalIPs":["192.0.2.1"],"ports":[{"port":80}]}})",
     R"({"spec":{"externalTrafficPolicy":"Cluster"}})"},
};

class ServiceCreateTest : public ::testing::TestWithParam<CreateCase> {};

TEST_P(ServiceCreateTest, Defaults) {
  const CreateCase& c = GetParam();
  ServiceIpAllocator alloc;
  rapidjson::Document svc = Parse(c.svc);
  ASSERT_OK(DefaultAndValidateServiceCreate(svc, alloc));
  ExpectSubset(svc, c.want);
  // Everything the object holds is allocated, and released on delete.
  const rapidjson::Value& spec = svc["spec"];
  if (spec.HasMember("clusterIPs")) {
    for (const auto& ip : spec["clusterIPs"].GetArray()) {
      if (std::string(ip.GetString()) != "None") {
        EXPECT_TRUE(alloc.IsIpAllocated(ip.GetString()));
      }
    }
  }
  for (const auto& p : spec["ports"].GetArray()) {
    if (p.HasMember("nodePort")) {
      EXPECT_TRUE(alloc.IsNodePortAllocated(p["nodePort"].GetInt()));
    }
  }
  ReleaseServiceResources(svc, alloc);
  EXPECT_EQ(alloc.allocated_ip_count(), 0u);
  EXPECT_EQ(alloc.allocated_node_port_count(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Table, ServiceCreateTest, ::testing::ValuesIn(kCreateCases),
                         [](const auto& info) { return std::string(info.param.name); });

// ---------------------------------------------------------------------------------------------
// Create: validation.

struct InvalidCase {
  const char* name;
  const char* svc;
  const char* error;  // substring of the message after `Service "a" is invalid: `
};

const InvalidCase kInvalidCases[] = {
    {"unsupported_type", R"({"metadata":{"name":"a"},"spec":{"type":"Foo","ports":[{"port":1}]}})",
     R"(spec.type: Unsupported value: "Foo": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort")"},
    {"ports_required", R"({"metadata":{"name":"a"},"spec":{}})", "spec.ports: Required value"},
    {"ports_required_no_spec", R"({"metadata":{"name":"a"}})", "spec.ports: Required value"},
    {"port_zero", R"({"metadata":{"name":"a"},"spec":{"ports":[{"port":0}]}})",
     "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"},
    {"port_missing", R"({"metadata":{"name":"a"},"spec":{"ports":[{"name":"x"}]}})",
     "spec.ports[0].port: Invalid value: 0"},
    {"port_too_big", R"({"metadata":{"name":"a"},"spec":{"ports":[{"port":65536}]}})",
     "spec.ports[0].port: Invalid value: 65536: must be between 1 and 65535, inclusive"},
    {"target_port_range",
     R"({"metadata":{"name":"a"},"spec":{"ports":[{"port":1,"targetPort":70000}]}})",
     "spec.ports[0].targetPort: Invalid value: 70000"},
    {"bad_protocol", R"({"metadata":{"name":"a"},"spec":{"ports":[{"port":1,"protocol":"ICMP"}]}})",
     R"(spec.ports[0].protocol: Unsupported value: "ICMP")"},
    {"duplicate_port", R"({"metadata":{"name":"a"},"spec":{"ports":[{"name":"a","port":80},
                           {"name":"b","port":80,"protocol":"TCP"}]}})",
     R"(spec.ports[1]: Duplicate value: {"port":80,"protocol":"TCP"})"},
    {"names_required", R"({"metadata":{"name":"a"},"spec":{"ports":[{"port":80},{"port":81}]}})",
     "[spec.ports[0].name: Required value, spec.ports[1].name: Required value]"},
    {"duplicate_name",
     R"({"metadata":{"name":"a"},"spec":{"ports":[{"name":"a","port":80},{"name":"a","port":81}]}})",
     R"(spec.ports[1].name: Duplicate value: "a")"},
    {"bad_port_name", R"({"metadata":{"name":"a"},"spec":{"ports":[{"name":"A_B","port":80}]}})",
     R"(spec.ports[0].name: Invalid value: "A_B")"},
    {"lb_class_on_cluster_ip",
     R"({"metadata":{"name":"a"},"spec":{"loadBalancerClass":"x/y","ports":[{"port":80}]}})",
     "spec.loadBalancerClass: Forbidden: may only be used when `type` is 'LoadBalancer'"},
    {"bad_lb_class",
     R"({"metadata":{"name":"a"},"spec":{"type":"LoadBalancer","loadBalancerClass":"a b","ports":[{"port":80}]}})",
     R"(spec.loadBalancerClass: Invalid value: "a b": must be a qualified name)"},
    {"alnp_on_node_port",
     R"({"metadata":{"name":"a"},"spec":{"type":"NodePort","allocateLoadBalancerNodePorts":false,"ports":[{"port":80}]}})",
     "spec.allocateLoadBalancerNodePorts: Forbidden"},
    {"node_port_on_cluster_ip",
     R"({"metadata":{"name":"a"},"spec":{"ports":[{"port":80,"nodePort":30001}]}})",
     "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"},
    {"node_port_out_of_range",
     R"({"metadata":{"name":"a"},"spec":{"type":"NodePort","ports":[{"port":80,"nodePort":1234}]}})",
     "spec.ports[0].nodePort: Invalid value: 1234: provided port is not in the valid range. The "
     "range of valid ports is 30000-32767"},
    {"duplicate_node_port",
     R"({"metadata":{"name":"a"},"spec":{"type":"NodePort","ports":[{"name":"a","port":80,"nodePort":30001},
         {"name":"b","port":81,"nodePort":30001}]}})",
     "spec.ports[1].nodePort: Duplicate value: 30001"},
    {"headless_load_balancer",
     R"({"metadata":{"name":"a"},"spec":{"type":"LoadBalancer","clusterIP":"None","ports":[{"port":80}]}})",
     R"(spec.clusterIPs[0]: Invalid value: "None": may not be set to 'None' for LoadBalancer services)"},
    {"cluster_ips_mismatch",
     R"({"metadata":{"name":"a"},"spec":{"clusterIP":"10.96.0.1","clusterIPs":["10.96.0.2"],"ports":[{"port":80}]}})",
     R"(spec.clusterIPs: Invalid value: []string{"10.96.0.2"}: first value must match `clusterIP`)"},
    {"too_many_cluster_ips",
     R"({"metadata":{"name":"a"},"spec":{"clusterIPs":["10.96.0.1","fd00:10:96::1","10.96.0.2"],"ports":[{"port":80}]}})",
     "spec.clusterIPs: Too many: 3: must have at most 2 items"},
    {"bad_cluster_ip",
     R"({"metadata":{"name":"a"},"spec":{"clusterIP":"10.96.0.300","ports":[{"port":80}]}})",
     R"(spec.clusterIPs[0]: Invalid value: "10.96.0.300": must be a valid IP address)"},
    {"same_family_twice",
     R"({"metadata":{"name":"a"},"spec":{"clusterIPs":["10.96.0.1","10.96.0.2"],"ports":[{"port":80}]}})",
     "may not have the same IP family"},
    {"family_mismatch",
     R"({"metadata":{"name":"a"},"spec":{"clusterIP":"10.96.0.1","ipFamilies":["IPv6"],"ports":[{"port":80}]}})",
     R"(spec.clusterIPs[0]: Invalid value: "10.96.0.1": expected an IPv6 value as indicated by `ipFamilies[0]`)"},
    {"single_stack_two_families",
     R"({"metadata":{"name":"a"},"spec":{"ipFamilyPolicy":"SingleStack","ipFamilies":["IPv4","IPv6"],"ports":[{"port":80}]}})",
     R"(spec.ipFamilyPolicy: Invalid value: "SingleStack": must be 'RequireDualStack' or 'PreferDualStack')"},
    {"duplicate_family",
     R"({"metadata":{"name":"a"},"spec":{"ipFamilies":["IPv4","IPv4"],"ports":[{"port":80}]}})",
     R"(spec.ipFamilies[1]: Duplicate value: "IPv4")"},
    {"bad_family",
     R"({"metadata":{"name":"a"},"spec":{"ipFamilies":["IPv5"],"ports":[{"port":80}]}})",
     R"(spec.ipFamilies[0]: Unsupported value: "IPv5")"},
    {"bad_policy",
     R"({"metadata":{"name":"a"},"spec":{"ipFamilyPolicy":"Both","ports":[{"port":80}]}})",
     R"(spec.ipFamilyPolicy: Unsupported value: "Both")"},
    {"ip_out_of_range",
     R"({"metadata":{"name":"a"},"spec":{"clusterIP":"192.168.0.1","ports":[{"port":80}]}})",
     R"(spec.clusterIPs: Invalid value: []string{"192.168.0.1"}: failed to allocate IP 192.168.0.1: the provided IP (192.168.0.1) is not in the valid range. The range of valid IPs is 10.96.0.0/12)"},
    {"network_address_not_allocatable",
     R"({"metadata":{"name":"a"},"spec":{"clusterIP":"10.96.0.0","ports":[{"port":80}]}})",
     "not in the valid range"},
    {"wrong_json_type", R"({"metadata":{"name":"a"},"spec":{"ports":"80"}})",
     "spec.ports: Invalid value: ...: must be a list"},
    {"wrong_port_type", R"({"metadata":{"name":"a"},"spec":{"ports":[{"port":"80"}]}})",
     "spec.ports[0].port: Invalid value: ...: must be an integer"},
    {"port_not_object", R"({"metadata":{"name":"a"},"spec":{"ports":[7]}})",
     "spec.ports[0]: Invalid value: ...: must be an object"},
    {"spec_not_object", R"({"metadata":{"name":"a"},"spec":[]})", "spec: Invalid value"},
    {"external_name_required", R"({"metadata":{"name":"a"},"spec":{"type":"ExternalName"}})",
     "spec.externalName: Required value"},
    {"external_name_invalid",
     R"({"metadata":{"name":"a"},"spec":{"type":"ExternalName","externalName":"Not_A_Host"}})",
     R"(spec.externalName: Invalid value: "Not_A_Host")"},
    {"external_name_with_cluster_ip",
     R"({"metadata":{"name":"a"},"spec":{"type":"ExternalName","externalName":"x.y","clusterIP":"10.96.0.5"}})",
     "spec.clusterIPs: Forbidden: may not be set for ExternalName services"},
    {"etp_on_cluster_ip",
     R"({"metadata":{"name":"a"},"spec":{"externalTrafficPolicy":"Local","ports":[{"port":80}]}})",
     R"(spec.externalTrafficPolicy: Invalid value: "Local": may only be set for externally-accessible services)"},
    {"bad_etp",
     R"({"metadata":{"name":"a"},"spec":{"type":"NodePort","externalTrafficPolicy":"Nearby","ports":[{"port":80}]}})",
     R"(spec.externalTrafficPolicy: Unsupported value: "Nearby")"},
    {"bad_itp",
     R"({"metadata":{"name":"a"},"spec":{"internalTrafficPolicy":"Nearby","ports":[{"port":80}]}})",
     R"(spec.internalTrafficPolicy: Unsupported value: "Nearby")"},
    {"health_check_without_local",
     R"({"metadata":{"name":"a"},"spec":{"type":"LoadBalancer","healthCheckNodePort":30100,"ports":[{"port":80}]}})",
     "spec.healthCheckNodePort: Invalid value: 30100: may only be set when `type` is "
     "'LoadBalancer' "
     "and `externalTrafficPolicy` is 'Local'"},
    {"bad_affinity",
     R"({"metadata":{"name":"a"},"spec":{"sessionAffinity":"Sticky","ports":[{"port":80}]}})",
     R"(spec.sessionAffinity: Unsupported value: "Sticky")"},
    {"affinity_timeout",
     R"({"metadata":{"name":"a"},"spec":{"sessionAffinity":"ClientIP","sessionAffinityConfig":{"clientIP":{"timeoutSeconds":0}},"ports":[{"port":80}]}})",
     "spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 0"},
    {"source_ranges_on_cluster_ip",
     R"({"metadata":{"name":"a"},"spec":{"loadBalancerSourceRanges":["10.0.0.0/8"],"ports":[{"port":80}]}})",
     "spec.loadBalancerSourceRanges: Forbidden"},
};

class ServiceInvalidTest : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(ServiceInvalidTest, Rejects) {
  const InvalidCase& c = GetParam();
  ServiceIpAllocator alloc;
  rapidjson::Document svc = Parse(c.svc);
  std::vector<FieldError> causes;
  Status s = DefaultAndValidateServiceCreate(svc, alloc, &causes);
  EXPECT_THAT(s, StatusIs(StatusCode::kInvalidArgument,
                          ::testing::AllOf(::testing::StartsWith("Service \"a\" is invalid: "),
                                           HasSubstr(c.error))));
  EXPECT_FALSE(causes.empty());
  // A rejected Service holds nothing.
  EXPECT_EQ(alloc.allocated_ip_count(), 0u);
  EXPECT_EQ(alloc.allocated_node_port_count(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Table, ServiceInvalidTest, ::testing::ValuesIn(kInvalidCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(ServiceValidationTest, CausesCarryFieldReasonAndMessage) {
  ServiceIpAllocator alloc;
  rapidjson::Document svc =
      Parse(R"({"metadata":{"name":"web"},"spec":{"type":"Foo","ports":[{"port":0}]}})");
  std::vector<FieldError> causes;
  Status s = DefaultAndValidateServiceCreate(svc, alloc, &causes);
  ASSERT_EQ(causes.size(), 1u);  // an unsupported type stops before the type-dependent checks
  EXPECT_EQ(causes[0].field, "spec.type");
  EXPECT_EQ(causes[0].reason, "FieldValueNotSupported");
  EXPECT_THAT(causes[0].message, ::testing::StartsWith("Unsupported value: \"Foo\""));
  EXPECT_EQ(s.message(), InvalidMessage("Service", "web", causes));

  svc = Parse(R"({"metadata":{"name":"web"},"spec":{"ports":[{"port":0},{"port":1}]}})");
  s = DefaultAndValidateServiceCreate(svc, alloc, &causes);
  // kube-apiserver 1.37.2's causes for this Service, in its order.
  ASSERT_EQ(causes.size(), 4u);
  EXPECT_EQ(causes[0].field, "spec.ports[0].name");
  EXPECT_EQ(causes[0].reason, "FieldValueRequired");
  EXPECT_EQ(causes[1].field, "spec.ports[0].port");
  EXPECT_EQ(causes[1].reason, "FieldValueInvalid");
  EXPECT_EQ(causes[2].field, "spec.ports[0].targetPort");
  EXPECT_EQ(causes[3].field, "spec.ports[1].name");
  EXPECT_THAT(s.message(), HasSubstr("is invalid: [spec.ports[0].name: Required value, "
                                     "spec.ports[0].port: Invalid value: 0"));
}

TEST(ServiceValidationTest, NameMustBeADns1035Label) {
  ServiceIpAllocator alloc;
  for (const char* name : {"1abc", "Web", "a_b", "a-"}) {
    rapidjson::Document svc = Parse(std::string(R"({"metadata":{"name":")") + name +
                                    R"("},"spec":{"ports":[{"port":80}]}})");
    EXPECT_THAT(DefaultAndValidateServiceCreate(svc, alloc),
                StatusIs(StatusCode::kInvalidArgument,
                         HasSubstr(std::string("metadata.name: Invalid value: \"") + name +
                                   "\": a DNS-1035 label")))
        << name;
  }
  rapidjson::Document svc =
      Parse(R"({"metadata":{"generateName":"web-"},"spec":{"ports":[{"port":80}]}})");
  EXPECT_OK(DefaultAndValidateServiceCreate(svc, alloc));
}

TEST(ServiceValidationTest, NotAnObject) {
  ServiceIpAllocator alloc;
  rapidjson::Document svc = Parse("[1]");
  EXPECT_THAT(DefaultAndValidateServiceCreate(svc, alloc),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("JSON object")));
  ReleaseServiceResources(svc, alloc);  // tolerates any shape
}

// ---------------------------------------------------------------------------------------------
// Allocation across Services.

ServiceIpAllocator Tiny(std::vector<std::string> cidrs, int np_min, int np_max) {
  ServiceIpAllocator::Options o;
  o.service_cidrs = std::move(cidrs);
  o.node_port_min = np_min;
  o.node_port_max = np_max;
  auto a = ServiceIpAllocator::Create(o);
  EXPECT_OK(a.status());
  return std::move(a).value();
}

TEST(ServiceAllocationTest, ClusterIpAlreadyAllocated) {
  ServiceIpAllocator alloc;
  rapidjson::Document a =
      Parse(R"({"metadata":{"name":"a"},"spec":{"clusterIP":"10.96.0.10","ports":[{"port":53}]}})");
  ASSERT_OK(DefaultAndValidateServiceCreate(a, alloc));
  rapidjson::Document b =
      Parse(R"({"metadata":{"name":"b"},"spec":{"clusterIP":"10.96.0.10","ports":[{"port":53}]}})");
  EXPECT_THAT(
      DefaultAndValidateServiceCreate(b, alloc),
      StatusIs(
          StatusCode::kInvalidArgument,
          R"(Service "b" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.0.10"}: failed to allocate IP 10.96.0.10: provided IP is already allocated)"));
  ReleaseServiceResources(a, alloc);
  b = Parse(R"({"metadata":{"name":"b"},"spec":{"clusterIP":"10.96.0.10","ports":[{"port":53}]}})");
  EXPECT_OK(DefaultAndValidateServiceCreate(b, alloc));
}

TEST(ServiceAllocationTest, NodePortCollisionRollsBackTheClusterIp) {
  ServiceIpAllocator alloc;
  rapidjson::Document a = Parse(
      R"({"metadata":{"name":"a"},"spec":{"type":"NodePort","ports":[{"port":80,"nodePort":30080}]}})");
  ASSERT_OK(DefaultAndValidateServiceCreate(a, alloc));
  EXPECT_EQ(alloc.allocated_ip_count(), 1u);
  rapidjson::Document b = Parse(
      R"({"metadata":{"name":"b"},"spec":{"type":"LoadBalancer","ports":[{"port":80,"nodePort":30080}]}})");
  EXPECT_THAT(
      DefaultAndValidateServiceCreate(b, alloc),
      StatusIs(
          StatusCode::kInvalidArgument,
          HasSubstr(
              "spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated")));
  EXPECT_EQ(alloc.allocated_ip_count(), 1u);
  EXPECT_EQ(alloc.allocated_node_port_count(), 1u);
}

TEST(ServiceAllocationTest, ExhaustionInATinyRange) {
  // 10.0.0.0/30 has two usable addresses (.1 and .2); two nodePorts.
  ServiceIpAllocator alloc = Tiny({"10.0.0.0/30"}, 30000, 30001);
  EXPECT_FALSE(alloc.dual_stack());
  std::vector<std::string> got;
  for (const char* name : {"a", "b"}) {
    rapidjson::Document s = Parse(std::string(R"({"metadata":{"name":")") + name +
                                  R"("},"spec":{"ports":[{"port":80}]}})");
    ASSERT_OK(DefaultAndValidateServiceCreate(s, alloc));
    got.push_back(s["spec"]["clusterIP"].GetString());
  }
  EXPECT_THAT(got, ElementsAre("10.0.0.1", "10.0.0.2"));
  rapidjson::Document c = Parse(R"({"metadata":{"name":"c"},"spec":{"ports":[{"port":80}]}})");
  EXPECT_THAT(DefaultAndValidateServiceCreate(c, alloc),
              StatusIs(StatusCode::kInternal, "failed to allocate a serviceIP: range is full"));
  EXPECT_EQ(alloc.allocated_ip_count(), 2u);

  // NodePorts: a headless... no: ExternalName holds no IP, so use a fresh allocator.
  ServiceIpAllocator ports = Tiny({"10.0.0.0/24"}, 30000, 30001);
  rapidjson::Document np = Parse(R"({"metadata":{"name":"np"},"spec":{"type":"NodePort","ports":[
      {"name":"a","port":80},{"name":"b","port":81}]}})");
  ASSERT_OK(DefaultAndValidateServiceCreate(np, ports));
  rapidjson::Document full =
      Parse(R"({"metadata":{"name":"full"},"spec":{"type":"NodePort","ports":[{"port":80}]}})");
  EXPECT_THAT(DefaultAndValidateServiceCreate(full, ports),
              StatusIs(StatusCode::kInternal, "failed to allocate a nodePort: range is full"));
  EXPECT_EQ(ports.allocated_ip_count(), 1u);  // the failed create released its cluster IP
  EXPECT_EQ(ports.allocated_node_port_count(), 2u);
}

TEST(ServiceAllocationTest, RequireDualStackNeedsTwoRanges) {
  ServiceIpAllocator alloc = Tiny({"10.0.0.0/24"}, 30000, 32767);
  rapidjson::Document s = Parse(
      R"({"metadata":{"name":"a"},"spec":{"ipFamilyPolicy":"RequireDualStack","ports":[{"port":80}]}})");
  EXPECT_THAT(
      DefaultAndValidateServiceCreate(s, alloc),
      StatusIs(
          StatusCode::kInvalidArgument,
          HasSubstr(
              R"(spec.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services)")));
  // PreferDualStack degrades to one family.
  s = Parse(
      R"({"metadata":{"name":"a"},"spec":{"ipFamilyPolicy":"PreferDualStack","ports":[{"port":80}]}})");
  ASSERT_OK(DefaultAndValidateServiceCreate(s, alloc));
  ExpectSubset(s, R"({"spec":{"ipFamilies":["IPv4"],"clusterIPs":["10.0.0.16"]}})");
  // IPv6 is not configured.
  s = Parse(R"({"metadata":{"name":"b"},"spec":{"ipFamilies":["IPv6"],"ports":[{"port":80}]}})");
  EXPECT_THAT(
      DefaultAndValidateServiceCreate(s, alloc),
      StatusIs(
          StatusCode::kInvalidArgument,
          HasSubstr(
              R"(spec.ipFamilies[0]: Invalid value: "IPv6": not configured on this cluster)")));
  // A headless selectorless Service on a single-stack cluster stays single-stack.
  s = Parse(R"({"metadata":{"name":"h"},"spec":{"clusterIP":"None"}})");
  ASSERT_OK(DefaultAndValidateServiceCreate(s, alloc));
  ExpectSubset(s, R"({"spec":{"ipFamilies":["IPv4"],"ipFamilyPolicy":"SingleStack"}})");
}

TEST(ServiceIpAllocatorTest, StaticBandIsUsedLast) {
  // /27: 32 addresses, band of 16 -> dynamic .16 .. .30 first, then .1 .. .15.
  ServiceIpAllocator alloc = Tiny({"10.0.0.0/27"}, 30000, 32767);
  std::vector<std::string> got;
  for (int i = 0; i < 16; ++i) {
    ASSERT_OK_AND_ASSIGN(std::string ip, alloc.AllocateNextIp(IpFamily::kIPv4));
    got.push_back(ip);
  }
  EXPECT_EQ(got.front(), "10.0.0.16");
  EXPECT_EQ(got[14], "10.0.0.30");
  EXPECT_EQ(got[15], "10.0.0.1");
  EXPECT_THAT(alloc.AllocateIp("10.0.0.31"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not in the valid range")));
  EXPECT_THAT(alloc.AllocateIp("10.0.0.2"),
              ::lballoc::testing::IsOkAndHolds(std::string("10.0.0.2")));
  EXPECT_THAT(alloc.AllocateIp("10.0.0.2"),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("already allocated")));
  EXPECT_THAT(alloc.AllocateNextIp(IpFamily::kIPv6),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("IPv6")));
  alloc.ReleaseIp("10.0.0.2");
  EXPECT_FALSE(alloc.IsIpAllocated("10.0.0.2"));
  alloc.ReleaseIp("not an ip");  // tolerated
  EXPECT_EQ(alloc.cidr(IpFamily::kIPv4), "10.0.0.0/27");
  EXPECT_EQ(alloc.cidr(IpFamily::kIPv6), "");
}

TEST(ServiceIpAllocatorTest, RejectsBadOptions) {
  for (auto cidrs :
       std::vector<std::vector<std::string>>{{},
                                             {"10.0.0.0/8", "fd00::/112", "10.1.0.0/16"},
                                             {"10.0.0.0"},
                                             {"10.0.0.0/33"},
                                             {"10.0.0.0/31"},
                                             {"fd00::/64"},
                                             {"10.0.0.0/24", "10.1.0.0/24"},
                                             {"x/24"}}) {
    ServiceIpAllocator::Options o;
    o.service_cidrs = cidrs;
    EXPECT_THAT(ServiceIpAllocator::Create(o).status(),
                StatusIs(StatusCode::kInvalidArgument, ::testing::_))
        << ::testing::PrintToString(cidrs);
  }
  ServiceIpAllocator::Options o;
  o.node_port_min = 40000;
  o.node_port_max = 30000;
  EXPECT_THAT(ServiceIpAllocator::Create(o).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("node port range")));
  o = {};
  o.service_cidrs = {"fd00:10:96::/112", "10.96.0.0/12"};
  ASSERT_OK_AND_ASSIGN(ServiceIpAllocator v6, ServiceIpAllocator::Create(o));
  EXPECT_EQ(v6.primary_family(), IpFamily::kIPv6);
  rapidjson::Document s = Parse(R"({"metadata":{"name":"a"},"spec":{"ports":[{"port":80}]}})");
  ASSERT_OK(DefaultAndValidateServiceCreate(s, v6));
  ExpectSubset(s, R"({"spec":{"ipFamilies":["IPv6"],"clusterIP":"fd00:10:96::100"}})");
}

// ---------------------------------------------------------------------------------------------
// Update.

class ServiceUpdateTest : public ::testing::Test {
 protected:
  // Creates `json` and returns the stored object.
  rapidjson::Document Create(const std::string& json) {
    rapidjson::Document d = Parse(json);
    EXPECT_OK(DefaultAndValidateServiceCreate(d, alloc_));
    return d;
  }
  Status Update(const rapidjson::Value& old, rapidjson::Document& updated) {
    return ValidateServiceUpdate(old, updated, alloc_, &causes_);
  }
  ServiceIpAllocator alloc_;
  std::vector<FieldError> causes_;
};

TEST_F(ServiceUpdateTest, PutWithoutAllocatedFieldsKeepsThem) {
  rapidjson::Document old = Create(
      R"({"metadata":{"name":"x"},"spec":{"type":"LoadBalancer","ipFamilyPolicy":"PreferDualStack","ports":[{"port":80}]}})");
  rapidjson::Document put = Parse(
      R"({"metadata":{"name":"x"},"spec":{"type":"LoadBalancer","ports":[{"port":80,"targetPort":8080}]}})");
  ASSERT_OK(Update(old, put));
  ExpectSubset(
      put,
      R"({"spec":{"clusterIPs":["10.96.1.0","fd00:10:96::100"],"ipFamilyPolicy":"PreferDualStack",
                               "ports":[{"port":80,"nodePort":30086,"targetPort":8080}]}})");
  EXPECT_EQ(alloc_.allocated_ip_count(), 2u);
  EXPECT_EQ(alloc_.allocated_node_port_count(), 1u);
}

TEST_F(ServiceUpdateTest, ClusterIpIsImmutable) {
  rapidjson::Document old = Create(R"({"metadata":{"name":"x"},"spec":{"ports":[{"port":80}]}})");
  rapidjson::Document put =
      Parse(R"({"metadata":{"name":"x"},"spec":{"clusterIP":"10.96.0.99","ports":[{"port":80}]}})");
  EXPECT_THAT(
      Update(old, put),
      StatusIs(
          StatusCode::kInvalidArgument,
          R"(Service "x" is invalid: spec.clusterIPs[0]: Invalid value: "10.96.0.99": may not change once set)"));
  EXPECT_FALSE(alloc_.IsIpAllocated("10.96.0.99"));
  put = Parse(R"({"metadata":{"name":"x"},"spec":{"clusterIP":"None","ports":[{"port":80}]}})");
  EXPECT_THAT(Update(old, put),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("may not change once set")));
  put = Parse(R"({"metadata":{"name":"x"},"spec":{"ipFamilies":["IPv6"],"ports":[{"port":80}]}})");
  EXPECT_THAT(Update(old, put), StatusIs(StatusCode::kInvalidArgument, HasSubstr("ipFamilies")));
}

TEST_F(ServiceUpdateTest, LoadBalancerClassIsImmutable) {
  rapidjson::Document old = Create(
      R"({"metadata":{"name":"x"},"spec":{"type":"LoadBalancer","loadBalancerClass":"a","ports":[{"port":80}]}})");
  rapidjson::Document put = Parse(
      R"({"metadata":{"name":"x"},"spec":{"type":"LoadBalancer","loadBalancerClass":"b","ports":[{"port":80}]}})");
  EXPECT_THAT(
      Update(old, put),
      StatusIs(
          StatusCode::kInvalidArgument,
          R"(Service "x" is invalid: spec.loadBalancerClass: Invalid value: "b": may not change once set)"));
  ASSERT_EQ(causes_.size(), 1u);
  EXPECT_EQ(causes_[0].field, "spec.loadBalancerClass");
  EXPECT_EQ(causes_[0].reason, "FieldValueInvalid");
  EXPECT_EQ(causes_[0].message, R"(Invalid value: "b": may not change once set)");
  put = Parse(R"({"metadata":{"name":"x"},"spec":{"type":"LoadBalancer","ports":[{"port":80}]}})");
  EXPECT_THAT(Update(old, put),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("may not change once set")));

  // Setting it while changing the type to LoadBalancer is fine.
  rapidjson::Document cip = Create(R"({"metadata":{"name":"y"},"spec":{"ports":[{"port":80}]}})");
  put = Parse(
      R"({"metadata":{"name":"y"},"spec":{"type":"LoadBalancer","loadBalancerClass":"c","ports":[{"port":80}]}})");
  EXPECT_OK(Update(cip, put));
}

TEST_F(ServiceUpdateTest, LeavingLoadBalancerClearsStatusAndTypeFields) {
  rapidjson::Document old =
      Create(R"({"metadata":{"name":"x"},"spec":{"type":"LoadBalancer","loadBalancerClass":"a",
      "externalTrafficPolicy":"Local","ports":[{"port":80}]}})");
  ASSERT_EQ(alloc_.allocated_node_port_count(), 2u);  // nodePort + healthCheckNodePort
  old["status"].CopyFrom(Parse(R"({"loadBalancer":{"ingress":[{"ip":"192.0.2.1"}]}})"),
                         old.GetAllocator());
  // What a merge patch {"spec":{"type":"ClusterIP"}} produces: everything else as stored.
  rapidjson::Document put;
  put.CopyFrom(old, put.GetAllocator());
  put["spec"]["type"].SetString("ClusterIP");
  ASSERT_OK(Update(old, put));
  ExpectSubset(
      put,
      R"({"spec":{"type":"ClusterIP","loadBalancerClass":"<absent>","allocateLoadBalancerNodePorts":"<absent>",
                               "externalTrafficPolicy":"<absent>","healthCheckNodePort":"<absent>",
                               "ports":[{"port":80,"nodePort":"<absent>"}],"clusterIP":"10.96.1.0"},
                        "status":{"loadBalancer":{}}})");
  EXPECT_EQ(alloc_.allocated_node_port_count(), 0u);
  EXPECT_EQ(alloc_.allocated_ip_count(), 1u);
}

TEST_F(ServiceUpdateTest, LeavingLoadBalancerWithANewClassIsForbidden) {
  rapidjson::Document old = Create(
      R"({"metadata":{"name":"x"},"spec":{"type":"LoadBalancer","loadBalancerClass":"a","ports":[{"port":80}]}})");
  rapidjson::Document put = Parse(
      R"({"metadata":{"name":"x"},"spec":{"type":"ClusterIP","loadBalancerClass":"b","ports":[{"port":80}]}})");
  EXPECT_THAT(Update(old, put), StatusIs(StatusCode::kInvalidArgument,
                                         HasSubstr("spec.loadBalancerClass: Forbidden")));
  EXPECT_EQ(alloc_.allocated_node_port_count(), 1u);  // nothing released on failure
}

TEST_F(ServiceUpdateTest, NodePortsFollowPorts) {
  rapidjson::Document old = Create(
      R"({"metadata":{"name":"x"},"spec":{"ports":[{"name":"a","port":80},{"name":"b","port":81}]}})");
  rapidjson::Document put = Parse(
      R"({"metadata":{"name":"x"},"spec":{"type":"NodePort","ports":[{"name":"a","port":80},{"name":"b","port":81}]}})");
  ASSERT_OK(Update(old, put));
  ExpectSubset(
      put,
      R"({"spec":{"ports":[{"nodePort":30086},{"nodePort":30087}],"externalTrafficPolicy":"Cluster"}})");
  // Drop port 81 (its nodePort is released), add 82 (a new one), keep 80's.
  rapidjson::Document put2 = Parse(
      R"({"metadata":{"name":"x"},"spec":{"type":"NodePort","ports":[{"name":"a","port":80},{"name":"c","port":82}]}})");
  ASSERT_OK(Update(put, put2));
  ExpectSubset(put2, R"({"spec":{"ports":[{"nodePort":30086},{"nodePort":30088}]}})");
  EXPECT_FALSE(alloc_.IsNodePortAllocated(30087));
  EXPECT_EQ(alloc_.allocated_node_port_count(), 2u);
}

TEST_F(ServiceUpdateTest, DualStackUpgradeAndDowngrade) {
  rapidjson::Document old = Create(R"({"metadata":{"name":"x"},"spec":{"ports":[{"port":80}]}})");
  rapidjson::Document up;
  up.CopyFrom(old, up.GetAllocator());
  up["spec"]["ipFamilyPolicy"].SetString("PreferDualStack");
  ASSERT_OK(Update(old, up));
  ExpectSubset(
      up,
      R"({"spec":{"clusterIPs":["10.96.1.0","fd00:10:96::100"],"ipFamilies":["IPv4","IPv6"]}})");
  EXPECT_EQ(alloc_.allocated_ip_count(), 2u);
  rapidjson::Document down;
  down.CopyFrom(up, down.GetAllocator());
  down["spec"]["ipFamilyPolicy"].SetString("SingleStack");
  ASSERT_OK(Update(up, down));
  ExpectSubset(
      down,
      R"({"spec":{"clusterIPs":["10.96.1.0"],"ipFamilies":["IPv4"],"ipFamilyPolicy":"SingleStack"}})");
  EXPECT_EQ(alloc_.allocated_ip_count(), 1u);
  EXPECT_FALSE(alloc_.IsIpAllocated("fd00:10:96::100"));
}

TEST_F(ServiceUpdateTest, ToAndFromExternalName) {
  rapidjson::Document old = Create(R"({"metadata":{"name":"x"},"spec":{"ports":[{"port":80}]}})");
  rapidjson::Document ext;
  ext.CopyFrom(old, ext.GetAllocator());
  ext["spec"]["type"].SetString("ExternalName");
  ext["spec"].AddMember("externalName", "db.example.com", ext.GetAllocator());
  ASSERT_OK(Update(old, ext));
  ExpectSubset(
      ext, R"({"spec":{"clusterIP":"<absent>","clusterIPs":"<absent>","ipFamilies":"<absent>"}})");
  EXPECT_EQ(alloc_.allocated_ip_count(), 0u);
  rapidjson::Document back = Parse(
      R"({"metadata":{"name":"x"},"spec":{"type":"ClusterIP","clusterIP":"10.96.0.7","ports":[{"port":80}]}})");
  ASSERT_OK(Update(ext, back));
  ExpectSubset(back, R"({"spec":{"clusterIPs":["10.96.0.7"]}})");
  EXPECT_TRUE(alloc_.IsIpAllocated("10.96.0.7"));
}

TEST_F(ServiceUpdateTest, HealthCheckNodePortFollowsPolicy) {
  rapidjson::Document old =
      Create(R"({"metadata":{"name":"x"},"spec":{"type":"LoadBalancer","ports":[{"port":80}]}})");
  rapidjson::Document local;
  local.CopyFrom(old, local.GetAllocator());
  local["spec"]["externalTrafficPolicy"].SetString("Local");
  ASSERT_OK(Update(old, local));
  ExpectSubset(local, R"({"spec":{"healthCheckNodePort":30087}})");
  rapidjson::Document cluster;
  cluster.CopyFrom(local, cluster.GetAllocator());
  cluster["spec"]["externalTrafficPolicy"].SetString("Cluster");
  ASSERT_OK(Update(local, cluster));
  ExpectSubset(cluster, R"({"spec":{"healthCheckNodePort":"<absent>"}})");
  EXPECT_FALSE(alloc_.IsNodePortAllocated(30087));
}

TEST_F(ServiceUpdateTest, FailedUpdateAllocatesNothing) {
  rapidjson::Document old = Create(R"({"metadata":{"name":"x"},"spec":{"ports":[{"port":80}]}})");
  // NodePort type with one port fine and one duplicate name: invalid before any allocation.
  rapidjson::Document put = Parse(
      R"({"metadata":{"name":"x"},"spec":{"type":"NodePort","ipFamilyPolicy":"PreferDualStack",
      "ports":[{"name":"a","port":80},{"name":"b","port":81,"nodePort":99999}]}})");
  EXPECT_THAT(Update(old, put),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("spec.ports[1].nodePort")));
  EXPECT_EQ(alloc_.allocated_ip_count(), 1u);
  EXPECT_EQ(alloc_.allocated_node_port_count(), 0u);
}

// A patch real kubectl 1.32 sent on `kubectl apply` (captured against a fake server serving the
// OpenAPI documents of openapi.h), applied with strategic merge and then the update semantics: the
// result is what a real cluster stores.
TEST_F(ServiceUpdateTest, KubectlReapplyThroughPatchAndUpdate) {
  rapidjson::Document old = Create(R"({"apiVersion":"v1","kind":"Service",
      "metadata":{"name":"multi","namespace":"default","labels":{"team":"x"},
                  "annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{}"}},
      "spec":{"type":"LoadBalancer","loadBalancerClass":"foo","selector":{"app":"x","tier":"web"},
              "ports":[{"name":"a","port":80},{"name":"b","port":81,"protocol":"UDP"}]}})");
  ASSERT_EQ(alloc_.allocated_node_port_count(), 2u);
  rapidjson::Document patch = Parse(
      R"({"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"new\":1}\n"},"labels":null},
      "spec":{"$setElementOrder/ports":[{"port":81},{"port":82}],"loadBalancerClass":null,
              "ports":[{"port":81,"targetPort":9000},{"name":"c","port":82},{"$patch":"delete","port":80}],
              "selector":{"tier":null},"type":"ClusterIP"}})");
  rapidjson::Document updated;
  updated.CopyFrom(old, updated.GetAllocator());
  ASSERT_OK(ApplyStrategicMergePatch(updated, patch, "Service"));
  ASSERT_OK(Update(old, updated));
  ExpectSubset(updated, R"({"metadata":{"labels":"<absent>",
                                        "annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"new\":1}\n"}},
      "spec":{"type":"ClusterIP","loadBalancerClass":"<absent>","selector":{"app":"x","tier":"<absent>"},
              "allocateLoadBalancerNodePorts":"<absent>","externalTrafficPolicy":"<absent>",
              "clusterIP":"10.96.1.0",
              "ports":[{"name":"b","port":81,"protocol":"UDP","targetPort":9000,"nodePort":"<absent>"},
                       {"name":"c","port":82,"protocol":"TCP","targetPort":82,"nodePort":"<absent>"}]},
      "status":{"loadBalancer":{}}})");
  EXPECT_EQ(alloc_.allocated_node_port_count(), 0u);
  EXPECT_EQ(alloc_.allocated_ip_count(), 1u);
}

// Robustness and bookkeeping: random Services (valid ones mutated with values of random shapes)
// are created, updated and deleted. Nothing crashes; a failed call allocates and releases nothing;
// after deleting every stored Service the allocator is empty again.
TEST(ServiceRobustnessTest, RandomCreatesUpdatesAndDeletesKeepTheBooksBalanced) {
  ServiceIpAllocator alloc = Tiny({"10.0.0.0/26", "fd00::/122"}, 30000, 30040);
  std::mt19937 rng(42);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint32_t>(n)); };
  const char* kBases[] = {
      R"({"metadata":{"name":"s"},"spec":{"type":"LoadBalancer","ports":[{"name":"a","port":80},{"name":"b","port":81,"protocol":"UDP"}]}})",
      R"({"metadata":{"name":"s"},"spec":{"type":"NodePort","ipFamilyPolicy":"PreferDualStack","ports":[{"port":53,"nodePort":30005}]}})",
      R"({"metadata":{"name":"s"},"spec":{"clusterIP":"None","selector":{"a":"b"}}})",
      R"({"metadata":{"name":"s"},"spec":{"type":"ExternalName","externalName":"x.example"}})",
      R"({"metadata":{"name":"s"},"spec":{"type":"LoadBalancer","externalTrafficPolicy":"Local","ports":[{"port":443}]}})",
  };
  const char* kFields[] = {"type",
                           "clusterIP",
                           "clusterIPs",
                           "ipFamilies",
                           "ipFamilyPolicy",
                           "externalTrafficPolicy",
                           "loadBalancerClass",
                           "healthCheckNodePort",
                           "allocateLoadBalancerNodePorts",
                           "ports",
                           "sessionAffinity",
                           "externalName",
                           "internalTrafficPolicy"};
  const char* kValues[] = {R"("ClusterIP")",
                           R"("LoadBalancer")",
                           R"("NodePort")",
                           R"("ExternalName")",
                           R"("None")",
                           R"("10.0.0.5")",
                           R"("fd00::5")",
                           R"(["10.0.0.7","fd00::7"])",
                           R"(["fd00::8"])",
                           R"(["IPv6","IPv4"])",
                           R"(["IPv4"])",
                           R"("RequireDualStack")",
                           R"("SingleStack")",
                           R"("Local")",
                           R"("a/b")",
                           "30010",
                           "0",
                           "true",
                           "false",
                           "null",
                           R"([{"port":80,"nodePort":30001}])",
                           R"([{"port":1},{"port":1}])",
                           R"([])",
                           R"({})",
                           "[1]",
                           R"("ClientIP")",
                           R"("y.example")",
                           "-1"};
  std::map<int, rapidjson::Document> stored;  // id -> stored object
  auto mutate = [&](rapidjson::Document& d) {
    auto& a = d.GetAllocator();
    for (int n = pick(3); n > 0; --n) {
      rapidjson::Document v;
      v.Parse(kValues[pick(sizeof(kValues) / sizeof(kValues[0]))]);
      rapidjson::Value copy(v, a);
      const char* field = kFields[pick(sizeof(kFields) / sizeof(kFields[0]))];
      if (d["spec"].HasMember(field)) d["spec"].RemoveMember(field);
      d["spec"].AddMember(rapidjson::Value(field, a), copy, a);
    }
  };
  int created = 0;
  int updated = 0;
  for (int i = 0; i < 3000; ++i) {
    size_t ips = alloc.allocated_ip_count();
    size_t ports = alloc.allocated_node_port_count();
    int id = pick(12);
    auto it = stored.find(id);
    if (it == stored.end()) {
      rapidjson::Document d = Parse(kBases[pick(5)]);
      mutate(d);
      Status s = DefaultAndValidateServiceCreate(d, alloc);
      if (s.ok()) {
        ++created;
        stored.emplace(id, std::move(d));
      } else {
        EXPECT_TRUE(s.code() == StatusCode::kInvalidArgument || s.code() == StatusCode::kInternal)
            << s;
        EXPECT_EQ(alloc.allocated_ip_count(), ips) << s;
        EXPECT_EQ(alloc.allocated_node_port_count(), ports) << s;
      }
    } else if (pick(4) == 0) {
      ReleaseServiceResources(it->second, alloc);
      stored.erase(it);
    } else {
      rapidjson::Document d;
      if (pick(2) == 0) {
        d.CopyFrom(it->second, d.GetAllocator());
      } else {
        d = Parse(kBases[pick(5)]);
      }
      mutate(d);
      Status s = ValidateServiceUpdate(it->second, d, alloc);
      if (s.ok()) {
        ++updated;
        it->second = std::move(d);
      } else {
        EXPECT_TRUE(s.code() == StatusCode::kInvalidArgument || s.code() == StatusCode::kInternal)
            << s;
        EXPECT_EQ(alloc.allocated_ip_count(), ips) << s;
        EXPECT_EQ(alloc.allocated_node_port_count(), ports) << s;
      }
    }
  }
  // Every stored object's resources are held, nothing else is, and no two objects share one.
  std::set<std::string> held_ips;
  std::set<int> held_ports;
  size_t ip_refs = 0;
  size_t port_refs = 0;
  for (auto& [id, d] : stored) {
    const auto& spec = d["spec"];
    if (spec.HasMember("clusterIPs")) {
      for (const auto& ip : spec["clusterIPs"].GetArray()) {
        if (std::string(ip.GetString()) == "None") continue;
        EXPECT_TRUE(alloc.IsIpAllocated(ip.GetString())) << Dump(d);
        held_ips.insert(ip.GetString());
        ++ip_refs;
      }
    }
    std::set<int> own;  // a nodePort may serve two protocols of one port number
    for (const auto& p : spec["ports"].GetArray()) {
      if (p.HasMember("nodePort")) own.insert(p["nodePort"].GetInt());
    }
    if (spec.HasMember("healthCheckNodePort")) own.insert(spec["healthCheckNodePort"].GetInt());
    for (int p : own) {
      EXPECT_TRUE(alloc.IsNodePortAllocated(p)) << Dump(d);
      held_ports.insert(p);
      ++port_refs;
    }
  }
  EXPECT_EQ(held_ips.size(), ip_refs);
  EXPECT_EQ(held_ports.size(), port_refs);
  EXPECT_EQ(alloc.allocated_ip_count(), held_ips.size());
  EXPECT_EQ(alloc.allocated_node_port_count(), held_ports.size());
  for (auto& [id, d] : stored) ReleaseServiceResources(d, alloc);
  EXPECT_EQ(alloc.allocated_ip_count(), 0u);
  EXPECT_EQ(alloc.allocated_node_port_count(), 0u);
  EXPECT_GT(created, 100);
  EXPECT_GT(updated, 100);
}

}  // namespace
}  // namespace lballoc::apiserver
