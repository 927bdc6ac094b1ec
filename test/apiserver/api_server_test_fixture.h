// The fixture of the in-memory API server's HTTP tests (api_server_test.cc, fidelity_test.cc):
// a server per test and a raw client, plus a small CRD. Test-only; not thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "test/apiserver/api_server.h"
#include "test/apiserver/json_util.h"
#include "test/apiserver/test_client.h"
#include "test/testing/status_matchers.h"

namespace lballoc::apiserver {

inline constexpr const char* kCrd = R"({
  "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
  "metadata": {"name": "widgets.example.com"},
  "spec": {"group": "example.com", "scope": "Namespaced",
    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wg"]},
    "versions": [{"name": "v1", "served": true, "storage": true,
      "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
      "subresources": {"status": {}},
      "additionalPrinterColumns": [
        {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
        {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]}]}})";

inline std::string Widget(const std::string& name, int size) {
  return R"({"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":")" + name +
         R"(","labels":{"app":"a"}},"spec":{"size":)" + std::to_string(size) + "}}";
}

class ApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer({}); }

  void StartServer(ApiServer::Options opts) {
    if (server_) server_->Stop();
    auto s = ApiServer::Start(opts);
    ASSERT_OK(s.status());
    server_ = std::move(*s);
  }

  ClientResponse Do(const std::string& method, const std::string& path,
                    const std::string& body = "", const std::string& ct = "application/json",
                    const std::map<std::string, std::string>& headers = {}) {
    TestClient c(server_->url(), token_, server_->ca_pem());
    auto r = c.Request(method, path, body, ct, headers);
    EXPECT_OK(r.status());
    return r.ok() ? *r : ClientResponse{};
  }

  void CreateCrd() {
    auto r = Do("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", kCrd);
    ASSERT_EQ(r.code, 201) << r.body;
  }

  std::unique_ptr<ApiServer> server_;
  std::string token_;
};

inline std::string Str(const rapidjson::Value& v, const char* path) { return StrAt(v, path); }

}  // namespace lballoc::apiserver
