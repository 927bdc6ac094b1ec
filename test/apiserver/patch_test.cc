#include "test/apiserver/patch.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <random>
#include <string>
#include <vector>

#include "test/testing/status_matchers.h"

namespace lballoc::apiserver {
namespace {

using ::lballoc::testing::StatusIs;
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

// Order-insensitive for object members, order-sensitive for arrays (RapidJSON's operator==).
void ExpectJsonEq(const rapidjson::Value& got, const std::string& want) {
  rapidjson::Document w = Parse(want);
  EXPECT_TRUE(got == w) << "got  " << Dump(got) << "\nwant " << Dump(w);
}

struct Case {
  const char* name;
  const char* target;
  const char* patch;
  const char* want;   // when the patch applies
  const char* error;  // else a substring of the InvalidArgument message
};

// ---------------------------------------------------------------------------------------------
// RFC 7386, appendix A, plus nested nulls.

const Case kMergeCases[] = {
    {"replace_member", R"({"a":"b"})", R"({"a":"c"})", R"({"a":"c"})", nullptr},
    {"add_member", R"({"a":"b"})", R"({"b":"c"})", R"({"a":"b","b":"c"})", nullptr},
    {"null_deletes", R"({"a":"b"})", R"({"a":null})", R"({})", nullptr},
    {"null_deletes_one", R"({"a":"b","b":"c"})", R"({"a":null})", R"({"b":"c"})", nullptr},
    {"array_by_string", R"({"a":["b"]})", R"({"a":"c"})", R"({"a":"c"})", nullptr},
    {"string_by_array", R"({"a":"c"})", R"({"a":["b"]})", R"({"a":["b"]})", nullptr},
    {"nested", R"({"a":{"b":"c"}})", R"({"a":{"b":"d","c":null}})", R"({"a":{"b":"d"}})", nullptr},
    {"arrays_replaced", R"({"a":[{"b":"c"}]})", R"({"a":[1]})", R"({"a":[1]})", nullptr},
    {"array_doc", R"(["a","b"])", R"(["c","d"])", R"(["c","d"])", nullptr},
    {"object_by_array", R"({"a":"b"})", R"(["c"])", R"(["c"])", nullptr},
    {"null_patch", R"({"a":"foo"})", "null", "null", nullptr},
    {"string_patch", R"({"a":"foo"})", R"("bar")", R"("bar")", nullptr},
    {"existing_null_kept", R"({"e":null})", R"({"a":1})", R"({"e":null,"a":1})", nullptr},
    {"array_to_object", R"([1,2])", R"({"a":"b","c":null})", R"({"a":"b"})", nullptr},
    {"deep_new", R"({})", R"({"a":{"bb":{"ccc":null}}})", R"({"a":{"bb":{}}})", nullptr},
    {"finalizers_replaced_whole", R"({"metadata":{"finalizers":["a","b"]}})",
     R"({"metadata":{"finalizers":["c"]}})", R"({"metadata":{"finalizers":["c"]}})", nullptr},
};

class MergePatchTest : public ::testing::TestWithParam<Case> {};

TEST_P(MergePatchTest, Applies) {
  const Case& c = GetParam();
  rapidjson::Document target = Parse(c.target);
  rapidjson::Document patch = Parse(c.patch);
  ASSERT_OK(ApplyMergePatch(target, patch));
  ExpectJsonEq(target, c.want);
}

INSTANTIATE_TEST_SUITE_P(Rfc7386, MergePatchTest, ::testing::ValuesIn(kMergeCases),
                         [](const auto& info) { return std::string(info.param.name); });

// ---------------------------------------------------------------------------------------------
// RFC 6902, appendix A, plus malformed operations.

const Case kJsonPatchCases[] = {
    {"a1_add_member", R"({"foo":"bar"})", R"([{"op":"add","path":"/baz","value":"qux"}])",
     R"({"baz":"qux","foo":"bar"})", nullptr},
    {"a2_add_element", R"({"foo":["bar","baz"]})",
     R"([{"op":"add","path":"/foo/1","value":"qux"}])", R"({"foo":["bar","qux","baz"]})", nullptr},
    {"a3_remove_member", R"({"baz":"qux","foo":"bar"})", R"([{"op":"remove","path":"/baz"}])",
     R"({"foo":"bar"})", nullptr},
    {"a4_remove_element", R"({"foo":["bar","qux","baz"]})", R"([{"op":"remove","path":"/foo/1"}])",
     R"({"foo":["bar","baz"]})", nullptr},
    {"a5_replace", R"({"baz":"qux","foo":"bar"})",
     R"([{"op":"replace","path":"/baz","value":"boo"}])", R"({"baz":"boo","foo":"bar"})", nullptr},
    {"a6_move_member", R"({"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}})",
     R"([{"op":"move","from":"/foo/waldo","path":"/qux/thud"}])",
     R"({"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}})", nullptr},
    {"a7_move_element", R"({"foo":["all","grass","cows","eat"]})",
     R"([{"op":"move","from":"/foo/1","path":"/foo/3"}])",
     R"({"foo":["all","cows","eat","grass"]})", nullptr},
    {"a8_test_ok", R"({"baz":"qux","foo":["a",2,"c"]})",
     R"([{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}])",
     R"({"baz":"qux","foo":["a",2,"c"]})", nullptr},
    {"a9_test_fails", R"({"baz":"qux"})", R"([{"op":"test","path":"/baz","value":"bar"}])", nullptr,
     "json patch operation 0 (test): value at \"/baz\" is not equal"},
    {"a10_add_nested", R"({"foo":"bar"})",
     R"([{"op":"add","path":"/child","value":{"grandchild":{}}}])",
     R"({"foo":"bar","child":{"grandchild":{}}})", nullptr},
    {"a11_extra_members_ignored", R"({"foo":"bar"})",
     R"([{"op":"add","path":"/baz","value":"qux","xyz":123}])", R"({"foo":"bar","baz":"qux"})",
     nullptr},
    {"a12_add_missing_parent", R"({"foo":"bar"})",
     R"([{"op":"add","path":"/baz/bat","value":"qux"}])", nullptr, "member \"baz\" not found"},
    {"a14_escapes", R"({"/":9,"~1":10})", R"([{"op":"test","path":"/~01","value":10}])",
     R"({"/":9,"~1":10})", nullptr},
    {"a14_slash_escape", R"({"/":9,"~1":10})", R"([{"op":"replace","path":"/~1","value":8}])",
     R"({"/":8,"~1":10})", nullptr},
    {"a15_string_vs_number", R"({"/":9,"~1":10})", R"([{"op":"test","path":"/~01","value":"10"}])",
     nullptr, "not equal"},
    {"a16_append_array", R"({"foo":["bar"]})",
     R"([{"op":"add","path":"/foo/-","value":["abc","def"]}])", R"({"foo":["bar",["abc","def"]]})",
     nullptr},
    {"copy", R"({"a":{"b":1}})", R"([{"op":"copy","from":"/a","path":"/c"}])",
     R"({"a":{"b":1},"c":{"b":1}})", nullptr},
    {"replace_root", R"({"a":1})", R"([{"op":"replace","path":"","value":[1]}])", "[1]", nullptr},
    {"add_at_end_index", R"({"a":[1]})", R"([{"op":"add","path":"/a/1","value":2}])",
     R"({"a":[1,2]})", nullptr},
    {"finalizer_removal_with_test", R"({"metadata":{"finalizers":["x","y"]}})",
     R"([{"op":"test","path":"/metadata/finalizers/0","value":"x"},
         {"op":"remove","path":"/metadata/finalizers/0"}])",
     R"({"metadata":{"finalizers":["y"]}})", nullptr},
    {"not_an_array", R"({})", R"({"op":"add"})", nullptr, "must be a JSON array"},
    {"op_not_object", R"({})", R"([1])", nullptr, "must be a JSON object"},
    {"missing_op", R"({})", R"([{"path":"/a"}])", nullptr, "\"op\""},
    {"unknown_op", R"({})", R"([{"op":"frob","path":"/a"}])", nullptr,
     "unknown operation \"frob\""},
    {"missing_path", R"({})", R"([{"op":"remove"}])", nullptr, "missing \"path\""},
    {"path_not_string", R"({})", R"([{"op":"remove","path":3}])", nullptr, "must be a string"},
    {"missing_value", R"({})", R"([{"op":"add","path":"/a"}])", nullptr, "missing \"value\""},
    {"no_leading_slash", R"({"a":1})", R"([{"op":"remove","path":"a"}])", nullptr,
     "must start with '/'"},
    {"bad_tilde", R"({"a":1})", R"([{"op":"remove","path":"/~2"}])", nullptr,
     "'~' must be followed"},
    {"leading_zero_index", R"({"a":[1,2]})", R"([{"op":"remove","path":"/a/01"}])", nullptr,
     "not an existing array element"},
    {"index_out_of_range", R"({"a":[1]})", R"([{"op":"add","path":"/a/5","value":1}])", nullptr,
     "out of range"},
    {"dash_in_replace", R"({"a":[1]})", R"([{"op":"replace","path":"/a/-","value":1}])", nullptr,
     "not a valid array index"},
    {"remove_missing", R"({"a":1})", R"([{"op":"remove","path":"/b"}])", nullptr,
     "member \"b\" not found"},
    {"descend_into_scalar", R"({"a":1})", R"([{"op":"add","path":"/a/b/c","value":1}])", nullptr,
     "cannot descend"},
    {"move_into_child", R"({"a":{"b":1}})", R"([{"op":"move","from":"/a","path":"/a/b/c"}])",
     nullptr, "own child"},
    {"remove_root", R"({"a":1})", R"([{"op":"remove","path":""}])", nullptr, "whole document"},
    {"all_or_nothing", R"({"a":1})",
     R"([{"op":"replace","path":"/a","value":2},{"op":"test","path":"/a","value":3}])", nullptr,
     "operation 1 (test)"},
};

class JsonPatchTest : public ::testing::TestWithParam<Case> {};

TEST_P(JsonPatchTest, Applies) {
  const Case& c = GetParam();
  rapidjson::Document target = Parse(c.target);
  rapidjson::Document patch = Parse(c.patch);
  Status s = ApplyJsonPatch(target, patch);
  if (c.want != nullptr) {
    ASSERT_OK(s);
    ExpectJsonEq(target, c.want);
  } else {
    EXPECT_THAT(s, StatusIs(StatusCode::kInvalidArgument, HasSubstr(c.error)));
    ExpectJsonEq(target, c.target);  // untouched
  }
}

INSTANTIATE_TEST_SUITE_P(Rfc6902, JsonPatchTest, ::testing::ValuesIn(kJsonPatchCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(JsonPatchTest, RejectsTooManyOperations) {
  rapidjson::Document target = Parse("{}");
  std::string ops = "[";
  for (int i = 0; i < 10001; ++i) ops += std::string(i ? "," : "") + R"({"op":"test","path":""})";
  ops += "]";
  rapidjson::Document patch = Parse(ops);
  EXPECT_THAT(ApplyJsonPatch(target, patch),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("limit of 10000")));
}

// ---------------------------------------------------------------------------------------------
// Strategic merge patch.

struct SmpCase {
  const char* name;
  const char* kind;
  const char* target;
  const char* patch;
  const char* want;
  const char* error;
};

const SmpCase kSmpCases[] = {
    {"kubectl_reapply_drops_port", "Service",
     R"({"spec":{"ports":[{"port":80,"protocol":"TCP","targetPort":80},
                          {"port":81,"protocol":"TCP","targetPort":81}],"type":"ClusterIP"}})",
     R"({"spec":{"$setElementOrder/ports":[{"port":81}],
                 "ports":[{"port":81},{"$patch":"delete","port":80}]}})",
     R"({"spec":{"ports":[{"port":81,"protocol":"TCP","targetPort":81}],"type":"ClusterIP"}})",
     nullptr},
    {"kubectl_reapply_wire_form", "Service",  // exactly what kubectl 1.32 sent
     R"({"spec":{"ports":[{"port":80,"targetPort":8080,"protocol":"TCP"},{"port":81,"protocol":"TCP"}]}})",
     R"({"spec":{"$setElementOrder/ports":[{"port":81}],"ports":[{"$patch":"delete","port":80}]}})",
     R"({"spec":{"ports":[{"port":81,"protocol":"TCP"}]}})", nullptr},
    {"new_port_appended", "Service", R"({"spec":{"ports":[{"port":80,"protocol":"TCP"}]}})",
     R"({"spec":{"ports":[{"port":443,"name":"https"}]}})",
     R"({"spec":{"ports":[{"port":80,"protocol":"TCP"},{"port":443,"name":"https"}]}})", nullptr},
    {"port_merged_in_place", "Service",
     R"({"spec":{"ports":[{"port":80,"nodePort":30080,"name":"a"},{"port":81}]}})",
     R"({"spec":{"ports":[{"port":80,"name":"b","nodePort":null}]}})",
     R"({"spec":{"ports":[{"port":80,"name":"b"},{"port":81}]}})", nullptr},
    {"set_element_order", "Service", R"({"spec":{"ports":[{"port":80},{"port":81},{"port":82}]}})",
     R"({"spec":{"$setElementOrder/ports":[{"port":82},{"port":80}]}})",
     R"({"spec":{"ports":[{"port":82},{"port":80},{"port":81}]}})", nullptr},
    {"protocol_aware_match", "Service",
     R"({"spec":{"ports":[{"port":53,"protocol":"UDP","name":"u"},{"port":53,"name":"t"}]}})",
     R"({"spec":{"ports":[{"port":53,"protocol":"UDP","targetPort":5353}]}})",
     R"({"spec":{"ports":[{"port":53,"protocol":"UDP","name":"u","targetPort":5353},
                          {"port":53,"name":"t"}]}})",
     nullptr},
    {"port_without_protocol_prefers_tcp", "Service",
     R"({"spec":{"ports":[{"port":53,"protocol":"UDP","name":"u"},{"port":53,"protocol":"TCP"}]}})",
     R"({"spec":{"ports":[{"port":53,"name":"t"}]}})",
     R"({"spec":{"ports":[{"port":53,"protocol":"UDP","name":"u"},
                          {"port":53,"protocol":"TCP","name":"t"}]}})",
     nullptr},
    {"new_protocol_is_new_item", "Service", R"({"spec":{"ports":[{"port":53,"protocol":"TCP"}]}})",
     R"({"spec":{"ports":[{"port":53,"protocol":"UDP"}]}})",
     R"({"spec":{"ports":[{"port":53,"protocol":"TCP"},{"port":53,"protocol":"UDP"}]}})", nullptr},
    {"delete_port_by_protocol", "Service",
     R"({"spec":{"ports":[{"port":53,"protocol":"UDP"},{"port":53,"protocol":"TCP"}]}})",
     R"({"spec":{"ports":[{"$patch":"delete","port":53,"protocol":"UDP"}]}})",
     R"({"spec":{"ports":[{"port":53,"protocol":"TCP"}]}})", nullptr},
    {"list_patch_replace", "Service", R"({"spec":{"ports":[{"port":80},{"port":81}]}})",
     R"({"spec":{"ports":[{"port":82},{"$patch":"replace"}]}})",
     R"({"spec":{"ports":[{"port":82}]}})", nullptr},
    {"map_patch_replace", "Service", R"({"spec":{"selector":{"app":"a","tier":"web"}}})",
     R"({"spec":{"selector":{"$patch":"replace","app":"b"}}})",
     R"({"spec":{"selector":{"app":"b"}}})", nullptr},
    {"map_patch_delete", "Service", R"({"spec":{"selector":{"app":"a"},"type":"NodePort"}})",
     R"({"spec":{"selector":{"$patch":"delete"}}})", R"({"spec":{"type":"NodePort"}})", nullptr},
    {"map_patch_merge", "ConfigMap", R"({"data":{"a":"1"}})",
     R"({"data":{"$patch":"merge","b":"2"}})", R"({"data":{"a":"1","b":"2"}})", nullptr},
    {"ip_families_atomic", "Service", R"({"spec":{"ipFamilies":["IPv4","IPv6"]}})",
     R"({"spec":{"ipFamilies":["IPv6"]}})", R"({"spec":{"ipFamilies":["IPv6"]}})", nullptr},
    {"cluster_ips_atomic", "Service", R"({"spec":{"clusterIPs":["10.96.0.1","fd00::1"]}})",
     R"({"spec":{"clusterIPs":["10.96.0.1"]}})", R"({"spec":{"clusterIPs":["10.96.0.1"]}})",
     nullptr},
    {"lb_ingress_atomic", "Service",
     R"({"status":{"loadBalancer":{"ingress":[{"ip":"1.1.1.1"},{"ip":"1.1.1.2"}]}}})",
     R"({"status":{"loadBalancer":{"ingress":[{"ip":"1.1.1.3"}]}}})",
     R"({"status":{"loadBalancer":{"ingress":[{"ip":"1.1.1.3"}]}}})", nullptr},
    {"finalizers_union", "Service", R"({"metadata":{"finalizers":["a","b"]}})",
     R"({"metadata":{"finalizers":["c","a"]}})", R"({"metadata":{"finalizers":["a","b","c"]}})",
     nullptr},
    {"finalizers_delete_from_primitive_list", "Lease", R"({"metadata":{"finalizers":["a","b"]}})",
     R"({"metadata":{"$deleteFromPrimitiveList/finalizers":["a"]}})",
     R"({"metadata":{"finalizers":["b"]}})", nullptr},
    {"finalizers_order", "ConfigMap", R"({"metadata":{"finalizers":["a","b"]}})",
     R"({"metadata":{"$setElementOrder/finalizers":["b","a"]}})",
     R"({"metadata":{"finalizers":["b","a"]}})", nullptr},
    {"conditions_by_type", "Service",
     R"({"status":{"conditions":[{"type":"Ready","status":"False"},{"type":"Other","status":"True"}]}})",
     R"({"status":{"conditions":[{"type":"Ready","status":"True","reason":"Up"}]}})",
     R"({"status":{"conditions":[{"type":"Ready","status":"True","reason":"Up"},
                                 {"type":"Other","status":"True"}]}})",
     nullptr},
    {"namespace_conditions_by_type", "Namespace",
     R"({"status":{"conditions":[{"type":"A","status":"False"}]}})",
     R"({"status":{"conditions":[{"type":"B","status":"True"},{"type":"A","$patch":"delete"}]}})",
     R"({"status":{"conditions":[{"type":"B","status":"True"}]}})", nullptr},
    {"owner_references_by_uid", "ConfigMap",
     R"({"metadata":{"ownerReferences":[{"uid":"1","name":"a"},{"uid":"2","name":"b"}]}})",
     R"({"metadata":{"ownerReferences":[{"uid":"2","name":"c"},{"uid":"3","name":"d"}]}})",
     R"({"metadata":{"ownerReferences":[{"uid":"1","name":"a"},{"uid":"2","name":"c"},
                                        {"uid":"3","name":"d"}]}})",
     nullptr},
    {"configmap_data_null_deletes", "ConfigMap", R"({"data":{"a":"1","b":"2"}})",
     R"({"data":{"a":null,"c":"3"}})", R"({"data":{"b":"2","c":"3"}})", nullptr},
    {"event_lists_atomic", "Event", R"({"series":{"x":[1,2]},"count":1})",
     R"({"series":{"x":[3]},"count":2})", R"({"series":{"x":[3]},"count":2})", nullptr},
    {"annotations_last_applied", "Service",
     R"({"metadata":{"annotations":{"keep":"1"}},"spec":{"type":"LoadBalancer"}})",
     R"({"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{}"}},
         "spec":{"loadBalancerClass":null,"type":"ClusterIP"}})",
     R"({"metadata":{"annotations":{"keep":"1",
         "kubectl.kubernetes.io/last-applied-configuration":"{}"}},"spec":{"type":"ClusterIP"}})",
     nullptr},
    {"retain_keys", "Service",
     R"({"spec":{"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1}}}})",
     R"({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}})",
     R"({"spec":{"strategy":{"type":"Recreate"}}})", nullptr},
    {"new_nested_map_strips_directives", "Service", R"({})",
     R"({"spec":{"ports":[{"port":80,"$patch":"delete"},{"port":81}],"selector":{"a":"b","c":null}}})",
     R"({"spec":{"ports":[{"port":81}],"selector":{"a":"b"}}})", nullptr},
    {"missing_merge_key", "Service", R"({"spec":{"ports":[{"port":80}]}})",
     R"({"spec":{"ports":[{"name":"x"}]}})", nullptr,
     "spec.ports: list item {\"name\":\"x\"} does not contain the merge key \"port\""},
    {"item_not_object", "Service", R"({"spec":{"ports":[{"port":80}]}})",
     R"({"spec":{"ports":[80]}})", nullptr, "merge key"},
    {"unknown_patch_type", "Service", R"({"spec":{}})", R"({"spec":{"$patch":"frob"}})", nullptr,
     "unknown patch type \"frob\""},
    {"patch_type_not_string", "Service", R"({"spec":{}})", R"({"spec":{"$patch":1}})", nullptr,
     "must be a string"},
    {"unknown_directive", "Service", R"({"spec":{}})", R"({"spec":{"$frob":1}})", nullptr,
     "unknown directive"},
    {"bad_retain_keys", "Service", R"({"spec":{}})", R"({"spec":{"$retainKeys":"x"}})", nullptr,
     "list of strings"},
    {"bad_element_order", "Service", R"({"spec":{"ports":[{"port":80}]}})",
     R"({"spec":{"$setElementOrder/ports":[{"name":"x"}]}})", nullptr, "merge key"},
    {"bad_delete_from_primitive_list", "Service", R"({"metadata":{"finalizers":["a"]}})",
     R"({"metadata":{"$deleteFromPrimitiveList/finalizers":"a"}})", nullptr, "must be a list"},
    {"object_in_primitive_set", "Service", R"({"metadata":{"finalizers":["a"]}})",
     R"({"metadata":{"finalizers":[{"a":1}]}})", nullptr, "list of primitives"},
    {"not_an_object", "Service", R"({})", R"([1])", nullptr, "must be a JSON object"},
    {"delete_whole_object", "Service", R"({})", R"({"$patch":"delete"})", nullptr, "whole object"},
};

class StrategicMergePatchTest : public ::testing::TestWithParam<SmpCase> {};

TEST_P(StrategicMergePatchTest, Applies) {
  const SmpCase& c = GetParam();
  rapidjson::Document target = Parse(c.target);
  rapidjson::Document patch = Parse(c.patch);
  Status s = ApplyStrategicMergePatch(target, patch, c.kind);
  if (c.want != nullptr) {
    ASSERT_OK(s);
    ExpectJsonEq(target, c.want);
  } else {
    EXPECT_THAT(s, StatusIs(StatusCode::kInvalidArgument, HasSubstr(c.error)));
    ExpectJsonEq(target, c.target);  // untouched
  }
}

INSTANTIATE_TEST_SUITE_P(Smp, StrategicMergePatchTest, ::testing::ValuesIn(kSmpCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(StrategicMergePatchTest, TargetMustBeObject) {
  rapidjson::Document target = Parse("[1]");
  rapidjson::Document patch = Parse("{}");
  EXPECT_THAT(ApplyStrategicMergePatch(target, patch, "Service"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("target")));
}

// ---------------------------------------------------------------------------------------------
// Robustness: random patches from a vocabulary full of directives, merge keys and pointer
// escapes. No call may crash (RapidJSON asserts on wrong-type access in debug builds), and a
// failed patch must leave the target untouched.

class RandomJson {
 public:
  explicit RandomJson(uint32_t seed) : rng_(seed) {}

  int Pick(int n) { return static_cast<int>(rng_() % static_cast<uint32_t>(n)); }

  std::string Key() {
    static const char* kKeys[] = {"spec",
                                  "ports",
                                  "port",
                                  "protocol",
                                  "metadata",
                                  "finalizers",
                                  "$patch",
                                  "$setElementOrder/ports",
                                  "$retainKeys",
                                  "$deleteFromPrimitiveList/finalizers",
                                  "status",
                                  "conditions",
                                  "type",
                                  "ownerReferences",
                                  "uid",
                                  "a",
                                  "",
                                  "~1",
                                  "/",
                                  "-",
                                  "0"};
    return kKeys[Pick(sizeof(kKeys) / sizeof(kKeys[0]))];
  }

  void Fill(rapidjson::Value& v, rapidjson::Document::AllocatorType& a, int depth) {
    static const char* kStrings[] = {"delete", "replace", "merge", "TCP", "UDP", "x", "port"};
    int kind = depth <= 0 ? Pick(4) : Pick(7);
    switch (kind) {
      case 0:
        v.SetNull();
        break;
      case 1:
        v.SetBool(Pick(2) == 0);
        break;
      case 2:
        v.SetInt(Pick(3) == 0 ? 80 : Pick(4));
        break;
      case 3:
        v.SetString(kStrings[Pick(7)], a);
        break;
      case 4:
      case 5: {
        v.SetObject();
        for (int i = Pick(4); i > 0; --i) {
          rapidjson::Value child;
          Fill(child, a, depth - 1);
          std::string k = Key();
          if (v.HasMember(k.c_str())) continue;
          v.AddMember(rapidjson::Value(k.c_str(), a), child, a);
        }
        break;
      }
      default: {
        v.SetArray();
        for (int i = Pick(4); i > 0; --i) {
          rapidjson::Value child;
          Fill(child, a, depth - 1);
          v.PushBack(child, a);
        }
      }
    }
  }

  std::string Pointer() {
    static const char* kTokens[] = {"spec", "ports", "0", "1", "-", "01",       "~0",
                                    "~1",   "~2",    "~", "a", "",  "metadata", "finalizers"};
    std::string p;
    for (int i = Pick(4); i > 0; --i) p += std::string("/") + kTokens[Pick(14)];
    if (Pick(10) == 0) p = "x" + p;
    return p;
  }

  void Ops(rapidjson::Document& ops) {
    static const char* kOps[] = {"add", "remove", "replace", "move", "copy", "test", "frob"};
    auto& a = ops.GetAllocator();
    ops.SetArray();
    for (int i = Pick(4); i > 0; --i) {
      rapidjson::Value op(rapidjson::kObjectType);
      if (Pick(8) != 0) op.AddMember("op", rapidjson::Value(kOps[Pick(7)], a), a);
      if (Pick(8) != 0) op.AddMember("path", rapidjson::Value(Pointer().c_str(), a), a);
      if (Pick(2) == 0) op.AddMember("from", rapidjson::Value(Pointer().c_str(), a), a);
      if (Pick(3) != 0) {
        rapidjson::Value v;
        Fill(v, a, 2);
        op.AddMember("value", v, a);
      }
      if (Pick(10) == 0) op.SetInt(3);
      ops.PushBack(op, a);
    }
  }

 private:
  std::mt19937 rng_;
};

TEST(PatchRobustnessTest, RandomPatchesNeverCrashAndFailuresChangeNothing) {
  RandomJson gen(20261126);
  const char* kinds[] = {"Service", "Namespace", "ConfigMap"};
  int ok = 0;
  int failed = 0;
  for (int i = 0; i < 4000; ++i) {
    rapidjson::Document target;
    gen.Fill(target, target.GetAllocator(), 4);
    rapidjson::Document before;
    before.CopyFrom(target, before.GetAllocator());
    rapidjson::Document patch;
    Status s;
    switch (i % 3) {
      case 0:
        gen.Fill(patch, patch.GetAllocator(), 4);
        s = ApplyStrategicMergePatch(target, patch, kinds[gen.Pick(3)]);
        break;
      case 1:
        gen.Ops(patch);
        s = ApplyJsonPatch(target, patch);
        break;
      default:
        gen.Fill(patch, patch.GetAllocator(), 4);
        s = ApplyMergePatch(target, patch);
        EXPECT_OK(s);
    }
    if (s.ok()) {
      ++ok;
    } else {
      ++failed;
      EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s;
      EXPECT_TRUE(target == before) << "a failed patch changed the target: " << Dump(patch);
    }
  }
  // The vocabulary exercises both outcomes.
  EXPECT_GT(ok, 1000);
  EXPECT_GT(failed, 300);
}

}  // namespace
}  // namespace lballoc::apiserver
