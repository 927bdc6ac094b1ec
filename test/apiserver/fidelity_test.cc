// Fidelity to kube-apiserver: behaviours checked against what kube-apiserver (v1.37 sources, and
// the real kubectl) does: query parameters, continue tokens, Service status defaulting and
// validation, update policies, Time/MicroTime, Events across both APIs, Lease and metadata
// validation, custom-resource schema validation. Each test fails on a server without the rule.
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/apiserver/api_server_test_fixture.h"
#include "test/apiserver/json_util.h"
#include "test/apiserver/test_client.h"
#include "test/testing/status_matchers.h"

namespace lballoc::apiserver {
namespace {

using ::testing::HasSubstr;

// The update handler compares the body's name with the URL's (a missing name is a mismatch), and
// Services, Events and Leases are created by a PUT of a missing object, with 201.
TEST_F(ApiServerTest, PutRequiresTheUrlNameAndCreatesWhereTheStrategyAllows) {
  const std::string cms = "/api/v1/namespaces/default/configmaps";
  ASSERT_EQ(Do("POST", cms, R"({"metadata":{"name":"a"}})").code, 201);
  auto noname = Do("PUT", cms + "/a", R"({"metadata":{},"data":{"k":"v"}})");
  EXPECT_EQ(noname.code, 400) << noname.body;
  EXPECT_EQ(Str(noname.Json(), "message"),
            "the name of the object (a based on URL) was undeterminable: name must be provided");
  EXPECT_EQ(Str(Do("PUT", cms + "/a", R"({"metadata":{"name":"b"}})").Json(), "message"),
            "the name of the object (b) does not match the name on the URL (a)");
  EXPECT_EQ(Do("PUT", cms + "/a", R"({"data":{"k":"v"}})").code, 400);
  auto unnamed =
      Do("PATCH", cms + "/a", R"({"metadata":{"name":null}})", "application/merge-patch+json");
  EXPECT_EQ(unnamed.code, 400) << unnamed.body;
  // Unconditional updates are fine for ConfigMaps.
  EXPECT_EQ(Do("PUT", cms + "/a", R"({"metadata":{"name":"a"},"data":{"k":"v"}})").code, 200);

  EXPECT_EQ(Do("PUT", cms + "/missing", R"({"metadata":{"name":"missing"}})").code, 404);
  EXPECT_EQ(Do("PUT", "/api/v1/namespaces/nope", R"({"metadata":{"name":"nope"}})").code, 404);
  auto lease =
      Do("PUT", "/apis/coordination.k8s.io/v1/namespaces/default/leases/l",
         R"({"metadata":{"name":"l","resourceVersion":"12345"},"spec":{"holderIdentity":"a"}})");
  EXPECT_EQ(lease.code, 201) << lease.body;
  EXPECT_EQ(Str(lease.Json(), "spec.holderIdentity"), "a");
  EXPECT_NE(Str(lease.Json(), "metadata.resourceVersion"), "12345");
  auto svc = Do("PUT", "/api/v1/namespaces/default/services/s",
                R"({"metadata":{"name":"s"},"spec":{"ports":[{"port":80}]}})");
  EXPECT_EQ(svc.code, 201) << svc.body;
  EXPECT_FALSE(Str(svc.Json(), "spec.clusterIP").empty()) << "created like a POST: IP allocated";
  auto ev = Do(
      "PUT", "/api/v1/namespaces/default/events/e1",
      R"({"metadata":{"name":"e1"},"involvedObject":{"kind":"Service","name":"s","namespace":"default"},"reason":"R","message":"m"})");
  EXPECT_EQ(ev.code, 201) << ev.body;
  // The Service status strategy inherits create-on-update: a PUT to the /status of a missing
  // Service creates it (status cleared), as kube-apiserver 1.37 does.
  auto via_status = Do(
      "PUT", "/api/v1/namespaces/default/services/t/status",
      R"({"metadata":{"name":"t"},"spec":{"ports":[{"port":80}]},"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.7"}]}}})");
  ASSERT_EQ(via_status.code, 201) << via_status.body;
  EXPECT_FALSE(via_status.Json()["status"]["loadBalancer"].HasMember("ingress"));
  EXPECT_EQ(Do("PATCH", "/api/v1/namespaces/default/services/u/status", R"({"spec":{}})",
               "application/merge-patch+json")
                .code,
            404);
  EXPECT_EQ(
      Do("PUT", "/api/v1/namespaces/kube-system/leases/x/status", R"({"metadata":{"name":"x"}})")
          .code,
      404)
      << "leases have no status subresource";
}

// kube-apiserver 1.30+ defaults ipMode to VIP on ingress entries with an ip, validates
// status.loadBalancer on /status writes (422 with causes), and its Service status strategy resets
// only spec: labels and annotations sent to /status are stored.
TEST_F(ApiServerTest, ServiceStatusIsDefaultedAndValidatedLikeKubeApiserver) {
  const std::string base = "/api/v1/namespaces/default/services";
  ASSERT_EQ(Do("POST", base,
               R"({"metadata":{"name":"lb"},"spec":{"type":"LoadBalancer","ports":[{"port":80}]}})")
                .code,
            201);
  ASSERT_EQ(Do("POST", base, R"({"metadata":{"name":"cip"},"spec":{"ports":[{"port":80}]}})").code,
            201);
  auto patch_status = [&](const std::string& svc, const std::string& status) {
    return Do("PATCH", base + "/" + svc + "/status", R"({"status":)" + status + "}",
              "application/merge-patch+json");
  };
  auto ok = patch_status("lb", R"({"loadBalancer":{"ingress":[{"ip":"192.0.2.1"}]}})");
  ASSERT_EQ(ok.code, 200) << ok.body;
  EXPECT_EQ(Str(ok.Json()["status"]["loadBalancer"]["ingress"][0], "ipMode"), "VIP");
  // A PUT of the whole object read back is defaulted the same way.
  auto got = Do("GET", base + "/lb").Json();
  got["status"]["loadBalancer"]["ingress"][0].RemoveMember("ipMode");
  got["status"]["loadBalancer"]["ingress"][0]["ip"].SetString("192.0.2.2");
  auto put = Do("PUT", base + "/lb/status", ToJson(got));
  ASSERT_EQ(put.code, 200) << put.body;
  EXPECT_EQ(Str(put.Json()["status"]["loadBalancer"]["ingress"][0], "ipMode"), "VIP");

  struct Bad {
    const char* service;
    std::string status;
    const char* field;
    const char* reason;
    const char* message;
  };
  const Bad bad[] = {
      {"lb", R"({"loadBalancer":{"ingress":[{"ip":"not-an-ip"}]}})",
       "status.loadBalancer.ingress[0].ip", "FieldValueInvalid",
       R"(Invalid value: "not-an-ip": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff))"},
      {"lb", R"({"loadBalancer":{"ingress":[{"ip":"010.0.0.1"}]}})",
       "status.loadBalancer.ingress[0].ip", "FieldValueInvalid",
       R"(Invalid value: "010.0.0.1": must not have leading 0s)"},
      {"lb", R"({"loadBalancer":{"ingress":[{"ip":"::ffff:192.0.2.1"}]}})",
       "status.loadBalancer.ingress[0].ip", "FieldValueInvalid",
       R"(Invalid value: "::ffff:192.0.2.1": must not be an IPv4-mapped IPv6 address)"},
      {"lb", R"({"loadBalancer":{"ingress":[{"ip":"192.0.2.9","ipMode":"Bogus"}]}})",
       "status.loadBalancer.ingress[0].ipMode", "FieldValueNotSupported",
       R"(Unsupported value: "Bogus": supported values: "Proxy", "VIP")"},
      {"lb", R"({"loadBalancer":{"ingress":[{"hostname":"lb.example.com","ipMode":"VIP"}]}})",
       "status.loadBalancer.ingress[0].ipMode", "FieldValueForbidden",
       "Forbidden: may not be specified when `ip` is not set"},
      {"lb", R"({"loadBalancer":{"ingress":[{"hostname":"192.0.2.1"}]}})",
       "status.loadBalancer.ingress[0].hostname", "FieldValueInvalid",
       R"(Invalid value: "192.0.2.1": must be a DNS name, not an IP address)"},
      {"cip", R"({"loadBalancer":{"ingress":[{"ip":"192.0.2.1"}]}})", "status.loadBalancer.ingress",
       "FieldValueForbidden", "Forbidden: may only be used when `spec.type` is 'LoadBalancer'"},
  };
  for (const Bad& b : bad) {
    auto r = patch_status(b.service, b.status);
    ASSERT_EQ(r.code, 422) << b.status << " -> " << r.body;
    auto j = r.Json();
    EXPECT_EQ(Str(j, "reason"), "Invalid");
    EXPECT_EQ(Str(j, "details.kind"), "Service");
    ASSERT_EQ(j["details"]["causes"].Size(), 1u) << r.body;
    const auto& c = j["details"]["causes"][0];
    EXPECT_EQ(Str(c, "field"), b.field) << r.body;
    EXPECT_EQ(Str(c, "reason"), b.reason) << r.body;
    EXPECT_EQ(Str(c, "message"), b.message) << r.body;
    EXPECT_EQ(Str(j, "message"), std::string("Service \"") + b.service +
                                     "\" is invalid: " + b.field + ": " + b.message);
  }
  // An address already in the status is kept even if it would not pass today's checks.
  EXPECT_EQ(Str(Do("GET", base + "/lb").Json()["status"]["loadBalancer"]["ingress"][0], "ip"),
            "192.0.2.2");

  // The defaulter sees the request body: a status PUT without spec.type gets no ipMode, and the
  // stored type (LoadBalancer) then requires one.
  auto nospec = Do(
      "PUT", base + "/lb/status",
      R"({"metadata":{"name":"lb"},"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.3"}]}}})");
  EXPECT_EQ(nospec.code, 422) << nospec.body;
  EXPECT_THAT(nospec.body, HasSubstr("ipMode: Required value: must be specified when `ip` is set"));

  // Metadata sent to a built-in /status is stored (only spec is reset).
  auto labelled = Do(
      "PATCH", base + "/lb/status",
      R"({"metadata":{"labels":{"via":"status"},"annotations":{"a":"b"}},"spec":{"type":"ClusterIP"}})",
      "application/merge-patch+json");
  ASSERT_EQ(labelled.code, 200) << labelled.body;
  EXPECT_EQ(Str(labelled.Json(), "metadata.labels.via"), "status");
  EXPECT_EQ(Str(labelled.Json(), "metadata.annotations.a"), "b");
  EXPECT_EQ(Str(labelled.Json(), "spec.type"), "LoadBalancer");
}

// Continue tokens are what the real server sends: URL-safe base64 (no '#', '+', '/' or '=') of
// {"v":"meta.k8s.io/v1","rv":N,"start":"<last key>\0"}, so clients can put them in a URL as is.
TEST_F(ApiServerTest, ContinueTokensAreUrlSafeAndPageEveryScope) {
  Do("POST", "/api/v1/namespaces", R"({"metadata":{"name":"other"}})");
  for (const char* ns : {"default", "other"}) {
    for (int i = 0; i < 3; ++i) {
      ASSERT_EQ(Do("POST", std::string("/api/v1/namespaces/") + ns + "/configmaps",
                   R"({"metadata":{"name":"m)" + std::to_string(i) + R"("}})")
                    .code,
                201);
    }
  }
  auto page_all = [&](const std::string& path) {
    std::vector<std::string> seen;
    std::string cont;
    do {
      auto r = Do("GET", path + "?limit=2" + (cont.empty() ? "" : "&continue=" + cont));
      EXPECT_EQ(r.code, 200) << r.body;
      if (r.code != 200) break;
      auto j = r.Json();
      for (const auto& it : j["items"].GetArray()) {
        seen.push_back(Str(it, "metadata.namespace") + "/" + Str(it, "metadata.name"));
      }
      cont = Str(j, "metadata.continue");
      EXPECT_THAT(cont, ::testing::MatchesRegex("[A-Za-z0-9_-]*")) << cont;
      if (!cont.empty()) {
        auto decoded = Base64Decode(cont, /*url=*/true);
        EXPECT_TRUE(decoded.has_value());
        if (decoded) {
          rapidjson::Document d;
          d.Parse(decoded->c_str(), decoded->size());
          EXPECT_EQ(Str(d, "v"), "meta.k8s.io/v1");
          EXPECT_EQ(std::to_string(d["rv"].GetUint64()), Str(j, "metadata.resourceVersion"));
          std::string start(d["start"].GetString(), d["start"].GetStringLength());
          EXPECT_EQ(start.back(), '\0') << "start is the last key plus a NUL";
          EXPECT_EQ(start.front(), '/') << "relative to the storage prefix, with its slash";
        }
      }
    } while (!cont.empty());
    return seen;
  };
  EXPECT_EQ(page_all("/api/v1/configmaps"),
            (std::vector<std::string>{"default/m0", "default/m1", "default/m2", "other/m0",
                                      "other/m1", "other/m2"}));
  EXPECT_EQ(page_all("/api/v1/namespaces/other/configmaps"),
            (std::vector<std::string>{"other/m0", "other/m1", "other/m2"}));
  EXPECT_EQ(page_all("/api/v1/namespaces"),
            (std::vector<std::string>{"/default", "/kube-node-lease", "/kube-public",
                                      "/kube-system", "/other"}));
}

// kube-apiserver reads boolean query parameters leniently: only "0" and "false" (any case) are
// false. The official Python client sends watch=True.
TEST_F(ApiServerTest, BooleanQueryParametersAreReadLikeKubeApiserver) {
  ApiServer::Options opts;
  opts.bookmark_interval = std::chrono::milliseconds(50);
  StartServer(opts);
  const std::string base = "/api/v1/namespaces/default/configmaps";
  ASSERT_EQ(Do("POST", base, R"({"metadata":{"name":"b"}})").code, 201);
  for (const char* v : {"True", "TRUE", "t", "1", "yes", ""}) {
    auto w = WatchStream::Open(
        server_->url(), base + "?watch=" + v + "&allowWatchBookmarks=" + v + "&timeoutSeconds=5");
    ASSERT_OK(w.status());
    ASSERT_EQ((*w)->code(), 200) << v;
    auto first = (*w)->Next(std::chrono::seconds(5));
    ASSERT_TRUE(first.has_value()) << "watch=" << v << " must open a watch";
    EXPECT_THAT(*first, HasSubstr(R"("type":"ADDED")")) << v;
    bool bookmark = false;
    for (int i = 0; i < 10 && !bookmark; ++i) {
      auto ev = (*w)->Next(std::chrono::seconds(5));
      ASSERT_TRUE(ev.has_value()) << v;
      bookmark = ev->find(R"("type":"BOOKMARK")") != std::string::npos;
    }
    EXPECT_TRUE(bookmark) << "allowWatchBookmarks=" << v << " must be true";
  }
  for (const char* v : {"False", "FALSE", "false", "0"}) {
    auto r = Do("GET", base + "?watch=" + v);
    ASSERT_EQ(r.code, 200) << r.body;
    EXPECT_EQ(Str(r.Json(), "kind"), "ConfigMapList") << "watch=" << v << " is a list";
  }
}

// Lease spec and MicroTime fields, and ObjectMeta content, are validated as kube-apiserver does.
TEST_F(ApiServerTest, LeaseTimesLeaseSpecAndMetadataAreValidated) {
  const std::string leases = "/apis/coordination.k8s.io/v1/namespaces/default/leases";
  auto c = Do(
      "POST", leases,
      R"({"metadata":{"name":"l"},"spec":{"holderIdentity":"a","leaseDurationSeconds":15,"renewTime":"2026-01-02T03:04:05.000001+02:00","acquireTime":null}})");
  ASSERT_EQ(c.code, 201) << c.body;
  EXPECT_EQ(Str(c.Json(), "spec.renewTime"), "2026-01-02T01:04:05.000001Z");
  EXPECT_FALSE(c.Json()["spec"].HasMember("acquireTime")) << "a null *MicroTime is absent";
  auto seconds = Do("POST", leases,
                    R"({"metadata":{"name":"m"},"spec":{"renewTime":"2026-01-02T03:04:05Z"}})");
  ASSERT_EQ(seconds.code, 400) << seconds.body;
  EXPECT_EQ(
      Str(seconds.Json(), "message"),
      R"(Lease in version "v1" cannot be handled as a Lease: parsing time "2026-01-02T03:04:05Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "Z" as ".000000")");
  auto patched = Do("PATCH", leases + "/l", R"({"spec":{"renewTime":"yesterday"}})",
                    "application/merge-patch+json");
  ASSERT_EQ(patched.code, 422) << patched.body;
  EXPECT_EQ(Str(patched.Json()["details"]["causes"][0], "field"), "patch");
  auto zero = Do("POST", leases, R"({"metadata":{"name":"z"},"spec":{"leaseDurationSeconds":0}})");
  ASSERT_EQ(zero.code, 422) << zero.body;
  EXPECT_EQ(
      Str(zero.Json(), "message"),
      R"(Lease.coordination.k8s.io "z" is invalid: spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0)");

  const std::string cms = "/api/v1/namespaces/default/configmaps";
  auto label = Do("POST", cms, R"({"metadata":{"name":"x","labels":{"bad key":"v"}}})");
  ASSERT_EQ(label.code, 422) << label.body;
  EXPECT_EQ(Str(label.Json()["details"]["causes"][0], "field"), "metadata.labels");
  EXPECT_THAT(
      Str(label.Json()["details"]["causes"][0], "message"),
      HasSubstr(R"(Invalid value: "bad key": name part must consist of alphanumeric characters)"));
  auto value = Do("POST", cms, R"({"metadata":{"name":"x","labels":{"k":"-v"}}})");
  EXPECT_EQ(value.code, 422) << value.body;
  auto fin = Do("POST", cms, R"({"metadata":{"name":"x","finalizers":["not a name"]}})");
  ASSERT_EQ(fin.code, 422) << fin.body;
  // The core kinds add their own finalizer rule (kube-apiserver 1.37.2 reports both).
  ASSERT_EQ(fin.Json()["details"]["causes"].Size(), 2u) << fin.body;
  EXPECT_EQ(Str(fin.Json()["details"]["causes"][1], "field"), "metadata.finalizers[0]");
  EXPECT_EQ(
      Str(fin.Json()["details"]["causes"][1], "message"),
      R"(Invalid value: "not a name": name is neither a standard finalizer name nor is it fully qualified)");
  auto plain = Do("POST", cms, R"({"metadata":{"name":"y","finalizers":["custom"]}})");
  ASSERT_EQ(plain.code, 422) << plain.body;
  EXPECT_EQ(plain.Json()["details"]["causes"].Size(), 1u);
  EXPECT_EQ(
      Do("POST", cms, R"({"metadata":{"name":"y","finalizers":["kubernetes","a.io/b"]}})").code,
      201);
  EXPECT_EQ(Do("POST", "/apis/coordination.k8s.io/v1/namespaces/default/leases",
               R"({"metadata":{"name":"f","finalizers":["custom"]}})")
                .code,
            201)
      << "Leases use only the generic ObjectMeta rules";
  auto phase = Do("PATCH", "/api/v1/namespaces/default/status",
                  R"({"status":{"phase":"Terminating"}})", "application/merge-patch+json");
  ASSERT_EQ(phase.code, 422) << phase.body;
  EXPECT_EQ(
      Str(phase.Json(), "message"),
      R"(Namespace "default" is invalid: status.Phase: Invalid value: "Terminating": may only be 'Active' if `deletionTimestamp` is empty)");
  auto name = Do("POST", cms, R"({"metadata":{"name":"Upper"}})");
  ASSERT_EQ(name.code, 422) << name.body;
  EXPECT_EQ(
      Str(name.Json()["details"]["causes"][0], "message"),
      R"(Invalid value: "Upper": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*'))");
  ASSERT_EQ(
      Do("POST", cms, R"({"metadata":{"name":"x","annotations":{"Example.COM/Any":"v"}}})").code,
      201);
  // Validation comes before the duplicate check (kube-apiserver 1.37.2 answers 422 here), and a
  // Service's metadata and spec errors are listed together.
  auto dup = Do("POST", cms, R"({"metadata":{"name":"x","labels":{"bad key":"v"}}})");
  EXPECT_EQ(dup.code, 422) << dup.body;
  EXPECT_EQ(Do("POST", cms, R"({"metadata":{"name":"x"}})").code, 409);
  auto svc =
      Do("POST", "/api/v1/namespaces/default/services",
         R"({"metadata":{"name":"s1","labels":{"bad key":"v"}},"spec":{"ports":[{"port":0}]}})");
  ASSERT_EQ(svc.code, 422) << svc.body;
  std::vector<std::string> fields;
  auto svc_json = svc.Json();  // outlives the loop (Json() returns a new document)
  for (const auto& c : svc_json["details"]["causes"].GetArray()) fields.push_back(Str(c, "field"));
  EXPECT_THAT(fields, ::testing::ElementsAre("metadata.labels", "spec.ports[0].port",
                                             "spec.ports[0].targetPort"));
  auto relabel = Do("PATCH", cms + "/x", R"({"metadata":{"labels":{"a/b/c":"v"}}})",
                    "application/merge-patch+json");
  EXPECT_EQ(relabel.code, 422) << relabel.body;
}

// core/v1 and events.k8s.io/v1 Events are one resource in one storage: what one API writes the
// other reads (converted), lists and watches see both, and each API validates as its own.
TEST_F(ApiServerTest, BothEventApisShareOneStorage) {
  const std::string core = "/api/v1/namespaces/default/events";
  const std::string v1 = "/apis/events.k8s.io/v1/namespaces/default/events";
  auto watch = WatchStream::Open(server_->url(), v1 + "?watch=1&resourceVersion=" +
                                                     std::to_string(server_->resource_version()));
  ASSERT_OK(watch.status());
  auto a = Do(
      "POST", core,
      R"({"metadata":{"name":"a.1"},"involvedObject":{"kind":"Service","name":"web","namespace":"default"},"reason":"IPAllocated","message":"allocated 192.0.2.1","type":"Normal","count":3,"firstTimestamp":"2026-01-01T00:00:00Z","lastTimestamp":"2026-01-01T00:01:00+01:00","source":{"component":"lballoc"}})");
  ASSERT_EQ(a.code, 201) << a.body;
  EXPECT_EQ(Str(a.Json(), "lastTimestamp"), "2025-12-31T23:01:00Z") << "written back in UTC";
  EXPECT_TRUE(a.Json()["eventTime"].IsNull()) << "a zero MicroTime is written as null";
  EXPECT_EQ(Str(a.Json(), "reportingComponent"), "");

  auto as_v1 = Do("GET", v1 + "/a.1");
  ASSERT_EQ(as_v1.code, 200) << as_v1.body;
  auto j = as_v1.Json();
  EXPECT_EQ(Str(j, "apiVersion"), "events.k8s.io/v1");
  EXPECT_EQ(Str(j, "note"), "allocated 192.0.2.1");
  EXPECT_EQ(Str(j, "regarding.name"), "web");
  EXPECT_EQ(Str(j, "deprecatedSource.component"), "lballoc");
  EXPECT_EQ(j["deprecatedCount"].GetInt(), 3);
  EXPECT_EQ(Str(j, "deprecatedFirstTimestamp"), "2026-01-01T00:00:00Z");
  EXPECT_FALSE(j.HasMember("message"));
  EXPECT_FALSE(j.HasMember("involvedObject"));
  EXPECT_EQ(Str(j, "metadata.resourceVersion"), Str(a.Json(), "metadata.resourceVersion"));

  auto b = Do(
      "POST", v1,
      R"({"metadata":{"name":"b.1"},"eventTime":"2026-01-01T00:00:00.123456Z","reportingController":"lballoc.io/controller","reportingInstance":"lballoc-x","action":"Allocate","reason":"IPAllocated","regarding":{"kind":"Service","name":"web","namespace":"default"},"type":"Warning","note":"pool exhausted"})");
  ASSERT_EQ(b.code, 201) << b.body;
  auto as_core = Do("GET", core + "/b.1").Json();
  EXPECT_EQ(Str(as_core, "apiVersion"), "v1");
  EXPECT_EQ(Str(as_core, "message"), "pool exhausted");
  EXPECT_EQ(Str(as_core, "involvedObject.kind"), "Service");
  EXPECT_EQ(Str(as_core, "reportingComponent"), "lballoc.io/controller");
  EXPECT_EQ(Str(as_core, "eventTime"), "2026-01-01T00:00:00.123456Z");

  for (const std::string& path : {core, v1}) {
    auto list = Do("GET", path).Json();
    ASSERT_EQ(list["items"].Size(), 2u) << path;
  }
  auto selected = Do("GET", v1 + "?fieldSelector=regarding.name%3Dweb,type%3DWarning").Json();
  ASSERT_EQ(selected["items"].Size(), 1u);
  EXPECT_EQ(Str(selected["items"][0], "metadata.name"), "b.1");
  EXPECT_EQ(Do("GET", v1 + "?fieldSelector=involvedObject.name%3Dweb").code, 400);

  // The watch on events.k8s.io/v1 sees the core write, converted.
  auto first = (*watch)->Next(std::chrono::seconds(5));
  ASSERT_TRUE(first.has_value());
  EXPECT_THAT(*first, HasSubstr(R"("note":"allocated 192.0.2.1")"));

  // A merge patch through events.k8s.io/v1 edits the events.k8s.io/v1 shape; the strict API
  // refuses changes to what it treats as immutable.
  auto p = Do("PATCH", v1 + "/b.1",
              R"({"series":{"count":2,"lastObservedTime":"2026-01-01T00:05:00.000000Z"}})",
              "application/merge-patch+json");
  ASSERT_EQ(p.code, 200) << p.body;
  EXPECT_EQ(Do("GET", core + "/b.1").Json()["series"]["count"].GetInt(), 2);
  auto immut = Do("PATCH", v1 + "/b.1", R"({"note":"changed"})", "application/merge-patch+json");
  EXPECT_EQ(immut.code, 422) << immut.body;
  EXPECT_THAT(Str(immut.Json(), "message"),
              HasSubstr(R"(message: Invalid value: "changed": field is immutable)"));
  // The core API does not enforce that.
  EXPECT_EQ(
      Do("PATCH", core + "/b.1", R"({"message":"changed"})", "application/merge-patch+json").code,
      200);

  // events.k8s.io/v1 creates are validated strictly; core/v1 ones by the legacy rules.
  auto strict =
      Do("POST", v1, R"({"metadata":{"name":"c.1"},"regarding":{"namespace":"default"}})");
  ASSERT_EQ(strict.code, 422) << strict.body;
  // The 422 names the registry's internal kind, the core Event (measured on kube-apiserver 1.37).
  EXPECT_EQ(
      Str(strict.Json(), "message"),
      R"(Event "c.1" is invalid: [eventTime: Required value, type: Invalid value: "": has invalid value: ])");
  EXPECT_EQ(Str(strict.Json(), "details.kind"), "Event");
  EXPECT_FALSE(strict.Json()["details"].HasMember("group"));
  std::set<std::string> fields;
  auto strict_json = strict.Json();  // outlives the loop (Json() returns a new document)
  for (const auto& c : strict_json["details"]["causes"].GetArray()) fields.insert(Str(c, "field"));
  EXPECT_TRUE(fields.count("eventTime")) << strict.body;
  EXPECT_TRUE(fields.count("type")) << strict.body;
  auto legacy =
      Do("POST", core, R"({"metadata":{"name":"c.1"},"involvedObject":{"namespace":"other"}})");
  ASSERT_EQ(legacy.code, 422) << legacy.body;
  EXPECT_EQ(
      Str(legacy.Json(), "message"),
      R"(Event "c.1" is invalid: involvedObject.namespace: Invalid value: "other": does not match event.namespace)");
  auto needs = Do(
      "POST", core,
      R"({"metadata":{"name":"c.2"},"involvedObject":{"namespace":"default"},"eventTime":"2026-01-01T00:00:00.000000Z"})");
  ASSERT_EQ(needs.code, 422) << needs.body;
  EXPECT_THAT(Str(needs.Json(), "message"), HasSubstr("reportingComponent: Required value"));

  // MicroTime needs exactly six fractional digits; a bad one is a decode error (400).
  auto micro = Do(
      "POST", v1,
      R"({"metadata":{"name":"d.1"},"eventTime":"2026-01-01T00:00:00.123Z","reportingController":"x.io/c","reportingInstance":"i","action":"A","reason":"R","regarding":{"namespace":"default"},"type":"Normal"})");
  ASSERT_EQ(micro.code, 400) << micro.body;
  EXPECT_EQ(
      Str(micro.Json(), "message"),
      R"(Event in version "v1" cannot be handled as a Event: parsing time "2026-01-01T00:00:00.123Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse ".123Z" as ".000000")");
}

// Custom resources are validated against their CRD's OpenAPI v3 schema with kube-apiserver's
// wording: 422 Invalid, one cause per error, field paths in the causes.
constexpr const char* kStrictCrd = R"({
  "apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
  "metadata":{"name":"gizmos.example.com"},
  "spec":{"group":"example.com","scope":"Namespaced",
    "names":{"plural":"gizmos","singular":"gizmo","kind":"Gizmo"},
    "versions":[{"name":"v1","served":true,"storage":true,"subresources":{"status":{}},
      "schema":{"openAPIV3Schema":{"type":"object","required":["spec"],"properties":{
        "apiVersion":{"type":"string"},"kind":{"type":"string"},"metadata":{"type":"object"},
        "spec":{"type":"object","required":["size"],"properties":{
          "size":{"type":"integer","minimum":1,"maximum":MAX},
          "mode":{"type":"string","enum":["fast","slow"]},
          "name":{"type":"string","pattern":"^[a-z]+$","minLength":2,"maxLength":5},
          "tags":{"type":"array","minItems":1,"maxItems":2,"x-kubernetes-list-type":"set",
                  "items":{"type":"string"}},
          "port":{"x-kubernetes-int-or-string":true},
          "ratio":{"type":"number","maximum":1,"exclusiveMaximum":true},
          "when":{"type":"string","format":"date-time"},
          "maybe":{"type":"string","nullable":true}}},
        "status":{"type":"object","properties":{
          "count":{"type":"integer","minimum":0},
          "conditions":{"type":"array","x-kubernetes-list-type":"map",
            "x-kubernetes-list-map-keys":["type"],
            "items":{"type":"object","required":["type","status"],"properties":{
              "type":{"type":"string"},
              "status":{"type":"string","enum":["True","False","Unknown"]}}}}}}}}}}]}})";

std::string StrictCrd(int max) {
  std::string crd = kStrictCrd;
  crd.replace(crd.find("MAX"), 3, std::to_string(max));
  return crd;
}

TEST_F(ApiServerTest, CustomResourcesAreValidatedAgainstTheirSchema) {
  ASSERT_EQ(
      Do("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", StrictCrd(10)).code,
      201);
  const std::string base = "/apis/example.com/v1/namespaces/default/gizmos";
  auto create = [&](const std::string& name, const std::string& spec) {
    return Do("POST", base,
              R"({"apiVersion":"example.com/v1","kind":"Gizmo","metadata":{"name":")" + name +
                  R"("},"spec":)" + spec + "}");
  };
  auto ok = create(
      "ok",
      R"({"size":8,"mode":"fast","name":"abc","tags":["a"],"port":"http","ratio":0.5,"when":"2026-01-02T03:04:05.5+01:00","maybe":null})");
  ASSERT_EQ(ok.code, 201) << ok.body;
  EXPECT_TRUE(ok.Json()["spec"]["maybe"].IsNull()) << "a nullable null is kept";
  auto pruned_null = create("nulls", R"({"size":1,"mode":null})");
  ASSERT_EQ(pruned_null.code, 201) << pruned_null.body;
  EXPECT_FALSE(pruned_null.Json()["spec"].HasMember("mode")) << "a non-nullable null is dropped";

  struct Bad {
    std::string spec;
    const char* field;
    const char* reason;
    const char* message;
  };
  const Bad bad[] = {
      {R"({"size":"big"})", "spec.size", "FieldValueTypeInvalid",
       R"(Invalid value: "string": spec.size in body must be of type integer: "string")"},
      {R"({})", "spec.size", "FieldValueRequired", "Required value"},
      {R"({"size":0})", "spec.size", "FieldValueInvalid",
       "Invalid value: 0: spec.size in body should be greater than or equal to 1"},
      {R"({"size":11})", "spec.size", "FieldValueInvalid",
       "Invalid value: 11: spec.size in body should be less than or equal to 10"},
      {R"({"size":1,"mode":"medium"})", "spec.mode", "FieldValueNotSupported",
       R"(Unsupported value: "medium": supported values: "fast", "slow")"},
      {R"({"size":1,"name":"ABC"})", "spec.name", "FieldValueInvalid",
       R"(Invalid value: "ABC": spec.name in body should match '^[a-z]+$')"},
      {R"({"size":1,"name":"abcdefg"})", "spec.name", "FieldValueTooLong",
       "Too long: may not be more than 5 bytes"},
      {R"({"size":1,"name":"a"})", "spec.name", "FieldValueInvalid",
       R"(Invalid value: "a": spec.name in body should be at least 2 chars long)"},
      {R"({"size":1,"tags":[]})", "spec.tags", "FieldValueInvalid",
       "Invalid value: 0: spec.tags in body should have at least 1 items"},
      {R"({"size":1,"tags":["a","b","c"]})", "spec.tags", "FieldValueTooMany",
       "Too many: 3: must have at most 2 items"},
      {R"({"size":1,"tags":["a","a"]})", "spec.tags[1]", "FieldValueDuplicate",
       R"(Duplicate value: "a")"},
      {R"({"size":1,"ratio":1})", "spec.ratio", "FieldValueInvalid",
       "Invalid value: 1: spec.ratio in body should be less than 1"},
      {R"({"size":1,"when":"yesterday"})", "spec.when", "FieldValueTypeInvalid",
       R"(Invalid value: "yesterday": spec.when in body must be of type date-time: "yesterday")"},
      {R"({"size":1,"port":true})", "spec.port", "FieldValueTypeInvalid",
       R"(Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean")"},
  };
  for (const Bad& b : bad) {
    auto r = create("bad", b.spec);
    ASSERT_EQ(r.code, 422) << b.spec << " -> " << r.body;
    auto j = r.Json();
    EXPECT_EQ(Str(j, "reason"), "Invalid");
    EXPECT_EQ(Str(j, "details.kind"), "Gizmo");
    EXPECT_EQ(Str(j, "details.group"), "example.com");
    ASSERT_EQ(j["details"]["causes"].Size(), 1u) << r.body;
    EXPECT_EQ(Str(j["details"]["causes"][0], "field"), b.field) << b.spec;
    EXPECT_EQ(Str(j["details"]["causes"][0], "reason"), b.reason) << b.spec;
    EXPECT_EQ(Str(j["details"]["causes"][0], "message"), b.message) << b.spec;
    EXPECT_EQ(Str(j, "message"),
              std::string("Gizmo.example.com \"bad\" is invalid: ") + b.field + ": " + b.message);
  }
  // A float for an integer: the type error, and the number validator's range error on the
  // root's field (<nil>), exactly as kube-apiserver 1.37.2 answers.
  auto fraction = create("bad", R"({"size":1.5})");
  ASSERT_EQ(fraction.code, 422) << fraction.body;
  EXPECT_EQ(
      Str(fraction.Json(), "message"),
      R"(Gizmo.example.com "bad" is invalid: [spec.size: Invalid value: "number": spec.size in body must be of type integer: "number", <nil>: Invalid value: "": Checked value must be of type integer (default format) in spec.size])");
  auto two = create("bad", R"({"size":0,"mode":"x"})");
  ASSERT_EQ(two.code, 422);
  EXPECT_EQ(two.Json()["details"]["causes"].Size(), 2u);
  EXPECT_THAT(Str(two.Json(), "message"), HasSubstr("Gizmo.example.com \"bad\" is invalid: ["));
  auto nospec =
      Do("POST", base, R"({"apiVersion":"example.com/v1","kind":"Gizmo","metadata":{"name":"n"}})");
  ASSERT_EQ(nospec.code, 422) << nospec.body;
  EXPECT_EQ(Str(nospec.Json()["details"]["causes"][0], "field"), "spec");

  // /status validates status against the status schema; messages name paths relative to it.
  auto status = [&](const std::string& st) {
    return Do("PATCH", base + "/ok/status", R"({"status":)" + st + "}",
              "application/merge-patch+json");
  };
  ASSERT_EQ(status(R"({"count":1,"conditions":[{"type":"Ready","status":"True"}]})").code, 200);
  struct BadStatus {
    std::string status;
    const char* field;
    const char* message;
  };
  const BadStatus bad_status[] = {
      {R"({"count":-1})", "status.count",
       "Invalid value: -1: count in body should be greater than or equal to 0"},
      {R"({"conditions":[{"type":"Ready","status":"Maybe"}]})", "status.conditions[0].status",
       R"(Unsupported value: "Maybe": supported values: "True", "False", "Unknown")"},
      {R"({"conditions":[{"type":"Ready"}]})", "status.conditions[0].status", "Required value"},
      {R"({"conditions":[{"type":"Ready","status":"True"},{"type":"Ready","status":"False"}]})",
       "status.conditions[1]", R"(Duplicate value: {"type":"Ready"})"},
  };
  for (const BadStatus& b : bad_status) {
    auto r = status(b.status);
    ASSERT_EQ(r.code, 422) << b.status << " -> " << r.body;
    auto j = r.Json();  // the causes below refer into it
    const auto& c = j["details"]["causes"];
    ASSERT_EQ(c.Size(), 1u) << r.body;
    EXPECT_EQ(Str(c[0], "field"), b.field) << b.status;
    EXPECT_EQ(Str(c[0], "message"), b.message) << b.status;
  }

  // Ratcheting: after the schema tightens, an unchanged invalid value does not block other
  // updates; changing it to another invalid value does.
  auto crd = Do("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gizmos.example.com")
                 .Json();
  rapidjson::Document tightened;
  tightened.Parse(StrictCrd(5).c_str());
  tightened["metadata"].AddMember(
      "resourceVersion",
      rapidjson::Value(Str(crd, "metadata.resourceVersion").c_str(), tightened.GetAllocator()),
      tightened.GetAllocator());
  ASSERT_EQ(Do("PUT", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gizmos.example.com",
               ToJson(tightened))
                .code,
            200);
  EXPECT_EQ(Do("PATCH", base + "/ok", R"({"metadata":{"labels":{"a":"b"}},"spec":{"mode":"slow"}})",
               "application/merge-patch+json")
                .code,
            200);
  auto worse = Do("PATCH", base + "/ok", R"({"spec":{"size":9}})", "application/merge-patch+json");
  ASSERT_EQ(worse.code, 422) << worse.body;
  EXPECT_EQ(Str(worse.Json()["details"]["causes"][0], "message"),
            "Invalid value: 9: spec.size in body should be less than or equal to 5");
  EXPECT_EQ(status(R"({"count":2})").code, 200) << "a status write does not validate spec";
}

}  // namespace
}  // namespace lballoc::apiserver
