#include "test/apiserver/openapi.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include "test/testing/status_matchers.h"

namespace lballoc::apiserver {
namespace {

using ::lballoc::testing::StatusIs;
using ::testing::HasSubstr;

rapidjson::Document ParseOk(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str());
  EXPECT_FALSE(d.HasParseError()) << text.substr(0, 200);
  return d;
}

rapidjson::Document WidgetCrd() {
  std::ifstream in(std::string(LBALLOC_SEMANTICS_TESTDATA) + "/widget-crd.json");
  std::stringstream ss;
  ss << in.rdbuf();
  rapidjson::Document d = ParseOk(ss.str());
  EXPECT_TRUE(d.IsObject());
  return d;
}

// Every "$ref" in `v` names a schema in components.schemas.
void ExpectRefsResolve(const rapidjson::Value& v, const rapidjson::Value& schemas) {
  if (v.IsObject()) {
    for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) {
      if (std::string(m->name.GetString()) == "$ref") {
        ASSERT_TRUE(m->value.IsString());
        std::string ref = m->value.GetString();
        const std::string prefix = "#/components/schemas/";
        ASSERT_EQ(ref.rfind(prefix, 0), 0u) << ref;
        EXPECT_TRUE(schemas.HasMember(ref.substr(prefix.size()).c_str())) << ref;
      } else {
        ExpectRefsResolve(m->value, schemas);
      }
    }
  } else if (v.IsArray()) {
    for (const auto& e : v.GetArray()) ExpectRefsResolve(e, schemas);
  }
}

// What kubectl's field-validation check looks for: the PATCH operation of the GVK with a
// "fieldValidation" query parameter.
bool PatchSupportsFieldValidation(const rapidjson::Value& doc, const std::string& group,
                                  const std::string& version, const std::string& kind) {
  for (auto p = doc["paths"].MemberBegin(); p != doc["paths"].MemberEnd(); ++p) {
    if (!p->value.HasMember("patch")) continue;
    const auto& op = p->value["patch"];
    const auto& gvk = op["x-kubernetes-group-version-kind"];
    if (!gvk.IsObject() || gvk["group"] != group.c_str() || gvk["version"] != version.c_str() ||
        gvk["kind"] != kind.c_str()) {
      continue;
    }
    for (const auto& param : op["parameters"].GetArray()) {
      if (param["name"] == "fieldValidation" && param["in"] == "query") return true;
    }
    return false;
  }
  return false;
}

TEST(OpenApiTest, PathKeys) {
  EXPECT_EQ(OpenApiPathKey("", "v1"), "api/v1");
  EXPECT_EQ(OpenApiPathKey("coordination.k8s.io", "v1"), "apis/coordination.k8s.io/v1");
}

TEST(OpenApiTest, Index) {
  std::string index =
      OpenApiIndex({{"", "v1", "ABC"}, {"lballoc.io", "v1alpha1", ""}, {"", "v1", "DUPLICATE"}});
  rapidjson::Document d = ParseOk(index);
  ASSERT_TRUE(d.HasMember("paths"));
  ASSERT_EQ(d["paths"].MemberCount(), 2u);
  EXPECT_STREQ(d["paths"]["api/v1"]["serverRelativeURL"].GetString(),
               "/openapi/v3/api/v1?hash=ABC");
  std::string url = d["paths"]["apis/lballoc.io/v1alpha1"]["serverRelativeURL"].GetString();
  EXPECT_THAT(url, ::testing::StartsWith("/openapi/v3/apis/lballoc.io/v1alpha1?hash="));
  EXPECT_EQ(url.size(), std::string("/openapi/v3/apis/lballoc.io/v1alpha1?hash=").size() + 32);
}

TEST(OpenApiTest, HashFollowsContent) {
  EXPECT_EQ(OpenApiHash("abc"), OpenApiHash("abc"));
  EXPECT_NE(OpenApiHash("abc"), OpenApiHash("abd"));
  EXPECT_THAT(OpenApiHash(""), ::testing::MatchesRegex("[0-9A-F]{32}"));
}

TEST(OpenApiTest, CoreDocument) {
  ASSERT_OK_AND_ASSIGN(std::string text,
                       OpenApiGroupVersionDoc("", "v1", BuiltinOpenApiKinds("", "v1"), {}));
  rapidjson::Document d = ParseOk(text);
  ASSERT_TRUE(d.IsObject());
  EXPECT_STREQ(d["openapi"].GetString(), "3.0.0");
  const auto& schemas = d["components"]["schemas"];
  for (const char* name : {"io.k8s.api.core.v1.Service", "io.k8s.api.core.v1.Namespace",
                           "io.k8s.api.core.v1.ConfigMap", "io.k8s.api.core.v1.Event",
                           "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
                           "io.k8s.apimachinery.pkg.apis.meta.v1.Status"}) {
    EXPECT_TRUE(schemas.HasMember(name)) << name;
  }
  const auto& svc = schemas["io.k8s.api.core.v1.Service"];
  ASSERT_TRUE(svc["x-kubernetes-group-version-kind"].IsArray());
  const auto& gvk = svc["x-kubernetes-group-version-kind"][0];
  EXPECT_STREQ(gvk["group"].GetString(), "");
  EXPECT_STREQ(gvk["version"].GetString(), "v1");
  EXPECT_STREQ(gvk["kind"].GetString(), "Service");
  EXPECT_TRUE(svc["x-kubernetes-preserve-unknown-fields"].GetBool());
  EXPECT_TRUE(svc["properties"].HasMember("metadata"));

  for (const char* kind : {"Service", "Namespace", "ConfigMap", "Event", "Secret"}) {
    EXPECT_TRUE(PatchSupportsFieldValidation(d, "", "v1", kind)) << kind;
  }
  EXPECT_FALSE(PatchSupportsFieldValidation(d, "", "v1", "Pod"));
  const auto& paths = d["paths"];
  ASSERT_TRUE(paths.HasMember("/api/v1/namespaces/{namespace}/services/{name}"));
  ASSERT_TRUE(paths.HasMember("/api/v1/namespaces/{namespace}/services/{name}/status"));
  ASSERT_TRUE(paths.HasMember("/api/v1/services"));
  ASSERT_TRUE(paths.HasMember("/api/v1/namespaces/{name}"));  // cluster-scoped
  EXPECT_FALSE(paths.HasMember("/api/v1/namespaces/{namespace}/namespaces"));
  // Built-ins do not advertise strategic merge (see openapi.h): kubectl then uses its own types.
  const auto& content =
      paths["/api/v1/namespaces/{namespace}/services/{name}"]["patch"]["requestBody"]["content"];
  EXPECT_TRUE(content.HasMember("application/merge-patch+json"));
  EXPECT_TRUE(content.HasMember("application/json-patch+json"));
  EXPECT_FALSE(content.HasMember("application/strategic-merge-patch+json"));
  ExpectRefsResolve(d, schemas);
}

TEST(OpenApiTest, OtherBuiltinGroups) {
  for (auto [group, kind] : std::vector<std::pair<std::string, std::string>>{
           {"coordination.k8s.io", "Lease"},
           {"events.k8s.io", "Event"},
           {"apiextensions.k8s.io", "CustomResourceDefinition"}}) {
    ASSERT_OK_AND_ASSIGN(std::string text,
                         OpenApiGroupVersionDoc(group, "v1", BuiltinOpenApiKinds(group, "v1"), {}));
    rapidjson::Document d = ParseOk(text);
    EXPECT_TRUE(PatchSupportsFieldValidation(d, group, "v1", kind)) << group;
    ExpectRefsResolve(d, d["components"]["schemas"]);
  }
  EXPECT_TRUE(BuiltinOpenApiKinds("apps", "v1").empty());
  EXPECT_TRUE(BuiltinOpenApiKinds("", "v2").empty());
}

TEST(OpenApiTest, CrdDocumentCarriesTheSchema) {
  rapidjson::Document crd = WidgetCrd();
  ASSERT_OK_AND_ASSIGN(std::string text,
                       OpenApiGroupVersionDoc("example.com", "v1alpha1", {}, {&crd}));
  rapidjson::Document d = ParseOk(text);
  const auto& schemas = d["components"]["schemas"];
  ASSERT_TRUE(schemas.HasMember("com.example.v1alpha1.Widget"));
  const auto& w = schemas["com.example.v1alpha1.Widget"];
  EXPECT_STREQ(w["x-kubernetes-group-version-kind"][0]["kind"].GetString(), "Widget");
  EXPECT_STREQ(w["x-kubernetes-group-version-kind"][0]["group"].GetString(), "example.com");
  // The CRD's own schema, intact.
  const auto& spec = w["properties"]["spec"];
  EXPECT_STREQ(spec["properties"]["color"]["enum"][1].GetString(), "blue");
  EXPECT_EQ(spec["properties"]["size"]["default"].GetInt(), 3);
  EXPECT_STREQ(spec["required"][0].GetString(), "color");
  // apiVersion/kind added; the bare {"type":"object"} metadata becomes ObjectMeta.
  EXPECT_TRUE(w["properties"].HasMember("apiVersion"));
  EXPECT_TRUE(w["properties"].HasMember("kind"));
  EXPECT_TRUE(w["properties"]["metadata"].HasMember("allOf"));
  // Cluster-scoped, with /status; merge patch only.
  const auto& paths = d["paths"];
  ASSERT_TRUE(paths.HasMember("/apis/example.com/v1alpha1/widgets/{name}"));
  EXPECT_TRUE(paths.HasMember("/apis/example.com/v1alpha1/widgets/{name}/status"));
  EXPECT_FALSE(paths.HasMember("/apis/example.com/v1alpha1/namespaces/{namespace}/widgets"));
  EXPECT_FALSE(paths["/apis/example.com/v1alpha1/widgets/{name}"]["patch"]["requestBody"]["content"]
                   .HasMember("application/strategic-merge-patch+json"));
  EXPECT_TRUE(PatchSupportsFieldValidation(d, "example.com", "v1alpha1", "Widget"));
  ExpectRefsResolve(d, schemas);

  // Deterministic; a changed CRD changes the document and its hash.
  ASSERT_OK_AND_ASSIGN(std::string again,
                       OpenApiGroupVersionDoc("example.com", "v1alpha1", {}, {&crd}));
  EXPECT_EQ(text, again);
  crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
     ["size"]["default"] = 4;
  ASSERT_OK_AND_ASSIGN(std::string changed,
                       OpenApiGroupVersionDoc("example.com", "v1alpha1", {}, {&crd}));
  EXPECT_NE(OpenApiHash(text), OpenApiHash(changed));
}

TEST(OpenApiTest, CrdsOfOtherGroupsAndUnservedVersionsAreSkipped) {
  rapidjson::Document crd = WidgetCrd();
  for (auto [group, version] : std::vector<std::pair<const char*, const char*>>{
           {"other.io", "v1alpha1"}, {"example.com", "v1beta1"}, {"example.com", "v9"}}) {
    ASSERT_OK_AND_ASSIGN(std::string text, OpenApiGroupVersionDoc(group, version, {}, {&crd}));
    rapidjson::Document d = ParseOk(text);
    EXPECT_EQ(d["paths"].MemberCount(), 0u) << group << "/" << version;
    EXPECT_FALSE(d["components"]["schemas"].HasMember("com.example.v1alpha1.Widget"));
  }
  rapidjson::Document junk = ParseOk(R"([1,2])");
  EXPECT_OK(OpenApiGroupVersionDoc("example.com", "v1alpha1", {}, {&junk}).status());
}

TEST(OpenApiTest, BadInputs) {
  rapidjson::Document crd = WidgetCrd();
  crd["spec"]["names"].RemoveMember("plural");
  EXPECT_THAT(
      OpenApiGroupVersionDoc("example.com", "v1alpha1", {}, {&crd}),
      StatusIs(StatusCode::kInvalidArgument,
               HasSubstr("\"widgets.example.com\": spec.names.kind and spec.names.plural")));
  OpenApiKind nameless;
  EXPECT_THAT(OpenApiGroupVersionDoc("", "v1", {nameless}, {}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("kind")));
  // A CRD without a schema still gets a (permissive) one.
  crd = WidgetCrd();
  crd["spec"]["versions"][0].RemoveMember("schema");
  ASSERT_OK_AND_ASSIGN(std::string text,
                       OpenApiGroupVersionDoc("example.com", "v1alpha1", {}, {&crd}));
  rapidjson::Document d = ParseOk(text);
  EXPECT_TRUE(d["components"]["schemas"]["com.example.v1alpha1.Widget"]
               ["x-kubernetes-preserve-unknown-fields"]
                   .GetBool());
}

}  // namespace
}  // namespace lballoc::apiserver
