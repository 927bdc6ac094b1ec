// Keeps crds/lballoc.io_loadbalancerpools.yaml and the C++ LoadBalancerPool
// codec in step. The committed YAML is converted to JSON offline by kubectl
// (`kubectl patch --local ... -o json` needs no cluster) and its OpenAPI
// schema is then used by a small validator here:
//  - a fully populated pool, as ToJson writes it, must validate, and every
//    property the schema declares must have been visited (so the codec
//    writes, and by the round trip also reads, every schema field);
//  - every field ToJson writes must be declared (an undeclared field would be
//    pruned by the API server);
//  - schema defaults equal the C++ defaults; names, scope, printer columns.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "api/json.h"
#include "api/test_util.h"
#include "api/v1alpha1/loadbalancerpool.h"
#include "test/testing/status_matchers.h"

namespace lballoc::api {
namespace {

using ::lballoc::api::testing::ApplyMergePatch;
using ::lballoc::api::testing::ParseOrFail;
using ::lballoc::api::testing::ReadTestData;
using ::lballoc::testing::IsOkAndHolds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Runs `command` and returns its standard output and error; fails the test
// when it exits non-zero.
std::string RunCommand(const std::string& command) {
  std::string output;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    ADD_FAILURE() << "cannot run " << command;
    return output;
  }
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, n);
  int rc = pclose(pipe);
  EXPECT_EQ(rc, 0) << command << ":\n" << output;
  return output;
}

// Runs kubectl to turn a YAML manifest into JSON, without a cluster.
std::string KubectlToJson(const std::string& path) {
  return RunCommand(std::string(LBALLOC_KUBECTL) +
                    " patch --local --type merge -p '{}' -o json -f '" + path + "' 2>&1");
}

// A subset of OpenAPI v3 / structural-schema validation: type, properties
// (unknown fields are errors, as the server would prune them), required,
// enum, items, additionalProperties, minItems, minimum, minLength,
// maxLength, pattern. Records the schema paths it visited.
class SchemaValidator {
 public:
  explicit SchemaValidator(const rapidjson::Value& root) : root_(root) {}

  std::vector<std::string> Validate(const rapidjson::Value& value) {
    errors_.clear();
    Walk(value, root_, "");
    return errors_;
  }
  const std::set<std::string>& visited() const { return visited_; }

  // Every declared schema path ("spec.addresses[]", "spec.x.matchLabels{}").
  static void DeclaredPaths(const rapidjson::Value& schema, const std::string& path,
                            std::set<std::string>* out) {
    out->insert(path);
    if (schema.HasMember("properties")) {
      for (auto& m : schema["properties"].GetObject()) {
        DeclaredPaths(m.value, JoinPath(path, m.name.GetString()), out);
      }
    }
    if (schema.HasMember("items")) DeclaredPaths(schema["items"], path + "[]", out);
    if (schema.HasMember("additionalProperties") && schema["additionalProperties"].IsObject()) {
      DeclaredPaths(schema["additionalProperties"], path + "{}", out);
    }
  }

 private:
  void Error(const std::string& path, const std::string& what) {
    errors_.push_back((path.empty() ? "<root>" : path) + ": " + what);
  }

  void Walk(const rapidjson::Value& v, const rapidjson::Value& s, const std::string& path) {
    visited_.insert(path);
    if (!s.HasMember("type")) {
      Error(path, "schema node has no type (not structural)");
      return;
    }
    std::string type = s["type"].GetString();
    bool type_ok = (type == "object" && v.IsObject()) || (type == "array" && v.IsArray()) ||
                   (type == "string" && v.IsString()) || (type == "boolean" && v.IsBool()) ||
                   (type == "integer" && v.IsInt64()) || (type == "number" && v.IsNumber());
    if (!type_ok) {
      Error(path, "expected " + type + ", got " + std::string(JsonTypeName(v)));
      return;
    }
    if (s.HasMember("enum")) {
      bool found = false;
      for (auto& e : s["enum"].GetArray()) found = found || e == v;
      if (!found) Error(path, "value " + JsonToString(v) + " not in enum");
    }
    if (v.IsString()) {
      std::string str(v.GetString(), v.GetStringLength());
      if (s.HasMember("minLength") && str.size() < s["minLength"].GetUint64()) {
        Error(path, "shorter than minLength");
      }
      if (s.HasMember("maxLength") && str.size() > s["maxLength"].GetUint64()) {
        Error(path, "longer than maxLength");
      }
      if (s.HasMember("pattern") && !std::regex_search(str, std::regex(s["pattern"].GetString()))) {
        Error(path, "\"" + str + "\" does not match pattern");
      }
    }
    if (v.IsInt64() && s.HasMember("minimum") && v.GetInt64() < s["minimum"].GetInt64()) {
      Error(path, "below minimum");
    }
    if (v.IsArray()) {
      if (s.HasMember("minItems") && v.Size() < s["minItems"].GetUint64()) {
        Error(path, "fewer than minItems");
      }
      for (rapidjson::SizeType i = 0; i < v.Size(); ++i) Walk(v[i], s["items"], path + "[]");
    }
    if (v.IsObject()) {
      if (s.HasMember("required")) {
        for (auto& r : s["required"].GetArray()) {
          if (!v.HasMember(r)) Error(path, std::string("missing required ") + r.GetString());
        }
      }
      bool has_props = s.HasMember("properties");
      bool has_additional = s.HasMember("additionalProperties");
      if (!has_props && !has_additional) {
        if (path != "metadata") Error(path, "object schema declares no fields");
        return;  // metadata: validated by the server itself
      }
      for (auto& m : v.GetObject()) {
        std::string name = m.name.GetString();
        if (has_additional) {
          Walk(m.value, s["additionalProperties"], path + "{}");
        } else if (!s["properties"].HasMember(m.name)) {
          Error(JoinPath(path, name), "not declared in the schema (the server would prune it)");
        } else {
          Walk(m.value, s["properties"][m.name], JoinPath(path, name));
        }
      }
    }
  }

  const rapidjson::Value& root_;
  std::vector<std::string> errors_;
  std::set<std::string> visited_;
};

class CrdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ParseOrFail(KubectlToJson(LBALLOC_CRD_FILE), crd_);
    ASSERT_TRUE(crd_.IsObject());
    ASSERT_EQ(std::string(crd_["kind"].GetString()), "CustomResourceDefinition");
    ASSERT_EQ(crd_["spec"]["versions"].Size(), 1u);
  }
  const rapidjson::Value& Version() { return crd_["spec"]["versions"][0]; }
  const rapidjson::Value& Schema() { return Version()["schema"]["openAPIV3Schema"]; }

  // A pool with every field set to a non-default value.
  static LoadBalancerPool FullPool() {
    LoadBalancerPool pool;
    pool.metadata.name = "full";
    pool.metadata.generation = 7;
    pool.spec.addresses = {"192.0.2.0/24", "2001:db8::1 - 2001:db8::9"};
    pool.spec.exclude_addresses = {"192.0.2.1"};
    pool.spec.avoid_buggy_ips = true;
    pool.spec.auto_assign = false;
    pool.spec.disabled = true;
    pool.spec.priority = 5;
    LabelSelector selector;
    selector.match_labels = {{"team", "web"}};
    selector.match_expressions = {{"env", "In", {"prod"}}, {"canary", "DoesNotExist", {}}};
    pool.spec.service_selector = selector;
    selector.match_labels = {{"zone", "a"}};
    pool.spec.namespace_selector = selector;
    pool.status.observed_generation = 7;
    pool.status.total = 300;
    pool.status.allocated = 3;
    pool.status.available = 297;
    pool.status.ipv4 = AddressCounts{256, 2, 254};
    pool.status.ipv6 = AddressCounts{44, 1, 43};
    pool.status.conditions = {
        {"Ready", "False", 7, Time() + std::chrono::hours(480000), "InvalidSpec", "bad"},
        {"Exhausted", "False", 7, Time() + std::chrono::hours(480000), "AddressesAvailable", ""}};
    return pool;
  }

  rapidjson::Document crd_;
};

TEST_F(CrdTest, NamesScopeAndSubresources) {
  const rapidjson::Value& spec = crd_["spec"];
  EXPECT_EQ(std::string(crd_["metadata"]["name"].GetString()), "loadbalancerpools.lballoc.io");
  EXPECT_EQ(std::string(spec["group"].GetString()), LoadBalancerPool::kResource.group);
  EXPECT_EQ(std::string(spec["names"]["kind"].GetString()), LoadBalancerPool::kResource.kind);
  EXPECT_EQ(std::string(spec["names"]["plural"].GetString()), LoadBalancerPool::kResource.resource);
  EXPECT_EQ(std::string(spec["names"]["listKind"].GetString()), "LoadBalancerPoolList");
  EXPECT_EQ(JsonToString(spec["names"]["shortNames"]), R"(["lbpool"])");
  EXPECT_EQ(std::string(spec["scope"].GetString()), "Cluster");
  EXPECT_FALSE(LoadBalancerPool::kResource.namespaced);
  EXPECT_EQ(std::string(Version()["name"].GetString()), LoadBalancerPool::kResource.version);
  EXPECT_TRUE(Version()["served"].GetBool());
  EXPECT_TRUE(Version()["storage"].GetBool());
  EXPECT_EQ(JsonToString(Version()["subresources"]), R"({"status":{}})");
}

TEST(CrdKustomizationTest, Renders) {
  std::string crd_dir(LBALLOC_CRD_FILE);
  crd_dir = crd_dir.substr(0, crd_dir.rfind('/'));
  std::string rendered =
      RunCommand(std::string(LBALLOC_KUBECTL) + " kustomize '" + crd_dir + "' 2>&1");
  EXPECT_THAT(rendered, HasSubstr("kind: CustomResourceDefinition"));
  EXPECT_THAT(rendered, HasSubstr("name: loadbalancerpools.lballoc.io"));
}

TEST_F(CrdTest, PrinterColumns) {
  std::vector<std::string> columns;
  for (auto& c : Version()["additionalPrinterColumns"].GetArray()) {
    columns.push_back(std::string(c["name"].GetString()) + " " + c["type"].GetString() + " " +
                      c["jsonPath"].GetString());
  }
  EXPECT_THAT(columns,
              ElementsAre("Addresses string .spec.addresses", "Allocated integer .status.allocated",
                          "Available integer .status.available",
                          "Ready string .status.conditions[?(@.type==\"Ready\")].status",
                          "Age date .metadata.creationTimestamp"));
}

TEST_F(CrdTest, SchemaCoversEveryCodecFieldAndBack) {
  LoadBalancerPool pool = FullPool();
  rapidjson::Document json;
  ParseOrFail(pool.ToJsonString(), json);
  // FromJson reads back everything ToJson wrote (every field non-default).
  EXPECT_THAT(LoadBalancerPool::FromJson(json), IsOkAndHolds(pool));

  SchemaValidator validator(Schema());
  EXPECT_THAT(validator.Validate(json), IsEmpty());

  std::set<std::string> declared;
  SchemaValidator::DeclaredPaths(Schema(), "", &declared);
  std::vector<std::string> unvisited;
  for (const std::string& path : declared) {
    if (!validator.visited().count(path)) unvisited.push_back(path);
  }
  EXPECT_THAT(unvisited, IsEmpty()) << "schema fields the C++ codec does not write";
  // Sanity: the walk really covers the tree.
  EXPECT_TRUE(declared.count("spec.namespaceSelector.matchExpressions[].values[]"));
  EXPECT_TRUE(declared.count("status.ipv6.available"));
  EXPECT_TRUE(declared.count("status.conditions[].lastTransitionTime"));
}

TEST_F(CrdTest, DefaultsEqualTheCppDefaults) {
  const rapidjson::Value& spec = Schema()["properties"]["spec"]["properties"];
  for (const char* field : {"autoAssign", "avoidBuggyIPs", "disabled", "priority", "addresses"}) {
    ASSERT_TRUE(spec.HasMember(field)) << field;
    if (std::string(field) != "addresses") {
      ASSERT_TRUE(spec[field].HasMember("default")) << field;
    }
  }
  LoadBalancerPoolSpec defaults;
  EXPECT_EQ(spec["autoAssign"]["default"].GetBool(), defaults.auto_assign);
  EXPECT_EQ(spec["avoidBuggyIPs"]["default"].GetBool(), defaults.avoid_buggy_ips);
  EXPECT_EQ(spec["disabled"]["default"].GetBool(), defaults.disabled);
  EXPECT_EQ(spec["priority"]["default"].GetInt64(), defaults.priority);
  EXPECT_EQ(std::string(spec["priority"]["format"].GetString()), "int32");
  EXPECT_EQ(JsonToString(Schema()["required"]), R"(["spec"])");
  EXPECT_EQ(JsonToString(Schema()["properties"]["spec"]["required"]), R"(["addresses"])");
  EXPECT_EQ(spec["addresses"]["minItems"].GetInt(), 1);
  EXPECT_EQ(
      std::string(
          Schema()["properties"]["status"]["properties"]["conditions"]["x-kubernetes-list-type"]
              .GetString()),
      "map");
}

TEST_F(CrdTest, RealObjectsValidate) {
  SchemaValidator validator(Schema());
  rapidjson::Document fixture;
  ParseOrFail(ReadTestData("loadbalancerpool.json"), fixture);
  // managedFields etc. live in metadata, which the server validates itself.
  EXPECT_THAT(validator.Validate(fixture), IsEmpty());

  // The status patch, applied, still validates.
  ASSERT_OK_AND_ASSIGN(LoadBalancerPool pool, LoadBalancerPool::FromJson(fixture));
  pool.status.ipv6.reset();
  rapidjson::Document patch;
  ParseOrFail(PoolStatusPatch(pool), patch);
  ApplyMergePatch(fixture, patch, fixture.GetAllocator());
  EXPECT_THAT(validator.Validate(fixture), IsEmpty());

  // The shipped sample (YAML, converted by kubectl) validates and decodes.
  rapidjson::Document sample;
  ParseOrFail(KubectlToJson(LBALLOC_SAMPLE_POOL_FILE), sample);
  EXPECT_THAT(validator.Validate(sample), IsEmpty());
  EXPECT_TRUE(LoadBalancerPool::FromJson(sample).ok());
}

TEST_F(CrdTest, ValidatorRejectsWhatTheServerWould) {
  SchemaValidator validator(Schema());
  struct Case {
    const char* json;
    const char* error;
  };
  const Case cases[] = {
      {R"({"apiVersion":"lballoc.io/v1alpha1","kind":"LoadBalancerPool"})",
       "missing required spec"},
      {R"({"spec":{}})", "spec: missing required addresses"},
      {R"({"spec":{"addresses":[]}})", "spec.addresses: fewer than minItems"},
      {R"({"spec":{"addresses":["a"],"priority":"high"}})", "spec.priority: expected integer"},
      {R"({"spec":{"addresses":["a"],"autoAssign":"yes"}})", "spec.autoAssign: expected boolean"},
      {R"({"spec":{"addresses":["a"],"color":"red"}})", "spec.color: not declared"},
      {R"({"spec":{"addresses":["a"],"serviceSelector":{"matchExpressions":[{"key":"k","operator":"Equals"}]}}})",
       "spec.serviceSelector.matchExpressions[].operator: value \"Equals\" not in enum"},
      {R"({"spec":{"addresses":["a"]},"status":{"conditions":[{"type":"Ready","status":"Maybe","lastTransitionTime":"2024-01-01T00:00:00Z","reason":"X","message":""}]}})",
       "status.conditions[].status: value \"Maybe\" not in enum"},
      {R"({"spec":{"addresses":["a"]},"status":{"conditions":[{"type":"Ready","status":"True"}]}})",
       "status.conditions[]: missing required lastTransitionTime"},
      {R"({"spec":{"addresses":["a"]},"status":{"conditions":[{"type":"Ready","status":"True","lastTransitionTime":"2024-01-01T00:00:00Z","reason":"has space","message":""}]}})",
       "status.conditions[].reason: \"has space\" does not match pattern"},
      {R"({"spec":{"addresses":["a"]},"status":{"allocated":-1}})",
       "status.allocated: below minimum"},
  };
  for (const Case& c : cases) {
    rapidjson::Document doc;
    ParseOrFail(c.json, doc);
    EXPECT_THAT(validator.Validate(doc), ::testing::Contains(HasSubstr(c.error))) << c.json;
  }
}

}  // namespace
}  // namespace lballoc::api
