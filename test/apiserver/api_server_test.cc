// Protocol tests for the in-memory API server, over real HTTP on a port picked at start. The
// checks of specific kube-apiserver behaviours (validation, defaulting, wire details) are in
// fidelity_test.cc.
#include "test/apiserver/api_server.h"

#include <atomic>
#include <set>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/apiserver/api_server_test_fixture.h"
#include "test/apiserver/json_util.h"
#include "test/apiserver/test_client.h"
#include "test/testing/status_matchers.h"

namespace lballoc::apiserver {
namespace {

using ::testing::HasSubstr;

TEST_F(ApiServerTest, BootstrapNamespacesAndDiscovery) {
  for (const char* ns : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
    auto r = Do("GET", std::string("/api/v1/namespaces/") + ns);
    EXPECT_EQ(r.code, 200) << ns;
    EXPECT_EQ(Str(r.Json(), "status.phase"), "Active");
  }
  auto api = Do("GET", "/api").Json();
  EXPECT_EQ(Str(api, "kind"), "APIVersions");
  EXPECT_TRUE(api.HasMember("serverAddressByClientCIDRs"));
  auto v1 = Do("GET", "/api/v1");
  EXPECT_THAT(v1.body, HasSubstr(R"("name":"services/status")"));
  EXPECT_THAT(v1.body, HasSubstr(R"("name":"configmaps")"));
  auto apis = Do("GET", "/apis");
  EXPECT_THAT(apis.body, HasSubstr(R"("name":"coordination.k8s.io")"));
  EXPECT_THAT(apis.body, HasSubstr(R"("name":"apiextensions.k8s.io")"));
  EXPECT_THAT(apis.body, HasSubstr(R"("name":"events.k8s.io")"));
  auto ver = Do("GET", "/version").Json();
  EXPECT_EQ(Str(ver, "major"), "1");
  EXPECT_EQ(Do("GET", "/apis/example.com/v1").code, 404);
}

TEST_F(ApiServerTest, CreateGetConflictsAndErrors) {
  auto r = Do("POST", "/api/v1/namespaces/default/configmaps",
              R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"v"}})");
  ASSERT_EQ(r.code, 201) << r.body;
  auto obj = r.Json();
  EXPECT_FALSE(Str(obj, "metadata.uid").empty());
  EXPECT_FALSE(Str(obj, "metadata.resourceVersion").empty());
  EXPECT_FALSE(Str(obj, "metadata.creationTimestamp").empty());
  EXPECT_EQ(Str(obj, "metadata.namespace"), "default");

  auto dup = Do("POST", "/api/v1/namespaces/default/configmaps", R"({"metadata":{"name":"a"}})");
  EXPECT_EQ(dup.code, 409);
  EXPECT_EQ(Str(dup.Json(), "reason"), "AlreadyExists");
  EXPECT_EQ(Str(dup.Json(), "message"), "configmaps \"a\" already exists");

  auto nf = Do("GET", "/api/v1/namespaces/default/configmaps/nope");
  EXPECT_EQ(nf.code, 404);
  auto nfj = nf.Json();
  EXPECT_EQ(Str(nfj, "kind"), "Status");
  EXPECT_EQ(Str(nfj, "reason"), "NotFound");
  EXPECT_EQ(Str(nfj, "details.kind"), "configmaps");
  EXPECT_EQ(Str(nfj, "message"), "configmaps \"nope\" not found");
  EXPECT_EQ(nfj["code"].GetInt(), 404);

  auto nons = Do("POST", "/api/v1/namespaces/missing/configmaps", R"({"metadata":{"name":"x"}})");
  EXPECT_EQ(nons.code, 404);
  EXPECT_EQ(Str(nons.Json(), "message"), "namespaces \"missing\" not found");

  auto mismatch = Do("POST", "/api/v1/namespaces/default/configmaps",
                     R"({"metadata":{"name":"x","namespace":"kube-system"}})");
  EXPECT_EQ(mismatch.code, 400);

  auto withrv = Do("POST", "/api/v1/namespaces/default/configmaps",
                   R"({"metadata":{"name":"y","resourceVersion":"5"}})");
  EXPECT_EQ(withrv.code, 500);

  auto gen =
      Do("POST", "/api/v1/namespaces/default/configmaps", R"({"metadata":{"generateName":"cm-"}})");
  ASSERT_EQ(gen.code, 201);
  std::string gname = Str(gen.Json(), "metadata.name");
  EXPECT_EQ(gname.size(), 8u);
  EXPECT_EQ(gname.substr(0, 3), "cm-");

  // Update with a stale version: 409 Conflict with the optimistic-lock message.
  std::string rv = Str(obj, "metadata.resourceVersion");
  auto up = Do("PUT", "/api/v1/namespaces/default/configmaps/a",
               R"({"metadata":{"name":"a","resourceVersion":")" + rv + R"("},"data":{"k":"2"}})");
  ASSERT_EQ(up.code, 200) << up.body;
  EXPECT_NE(Str(up.Json(), "metadata.resourceVersion"), rv);
  auto stale = Do("PUT", "/api/v1/namespaces/default/configmaps/a",
                  R"({"metadata":{"name":"a","resourceVersion":")" + rv + R"("},"data":{}})");
  EXPECT_EQ(stale.code, 409);
  EXPECT_EQ(Str(stale.Json(), "reason"), "Conflict");
  EXPECT_EQ(Str(stale.Json(), "message"),
            "Operation cannot be fulfilled on configmaps \"a\": the object has been modified; "
            "please apply your changes to the latest version and try again");

  // A no-op update keeps the resourceVersion.
  std::string rv2 = Str(up.Json(), "metadata.resourceVersion");
  uint64_t before = server_->resource_version();
  auto noop = Do("PUT", "/api/v1/namespaces/default/configmaps/a", up.body);
  ASSERT_EQ(noop.code, 200) << noop.body;
  EXPECT_EQ(Str(noop.Json(), "metadata.resourceVersion"), rv2);
  EXPECT_EQ(server_->resource_version(), before);

  auto badname =
      Do("PUT", "/api/v1/namespaces/default/configmaps/a", R"({"metadata":{"name":"b"}})");
  EXPECT_EQ(badname.code, 400);
}

TEST_F(ApiServerTest, CustomResourcesGenerationStatusAndPatches) {
  CreateCrd();
  auto disc = Do("GET", "/apis/example.com/v1");
  ASSERT_EQ(disc.code, 200);
  EXPECT_THAT(disc.body, HasSubstr(R"("name":"widgets/status")"));
  EXPECT_THAT(disc.body, HasSubstr(R"("shortNames":["wg"])"));
  auto crd =
      Do("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com");
  EXPECT_THAT(crd.body, HasSubstr(R"("type":"Established","status":"True")"));

  const std::string base = "/apis/example.com/v1/namespaces/default/widgets";
  auto c = Do(
      "POST", base,
      R"({"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"},"spec":{"size":1},"status":{"x":1}})");
  ASSERT_EQ(c.code, 201) << c.body;
  auto cj = c.Json();
  EXPECT_EQ(cj["metadata"]["generation"].GetInt(), 1);
  EXPECT_FALSE(cj.HasMember("status")) << "status is dropped on create";

  // Status through the main resource is ignored; spec change bumps generation.
  auto p = Do("PATCH", base + "/w", R"({"spec":{"size":2},"status":{"y":2}})",
              "application/merge-patch+json");
  ASSERT_EQ(p.code, 200) << p.body;
  EXPECT_EQ(p.Json()["metadata"]["generation"].GetInt(), 2);
  EXPECT_FALSE(p.Json().HasMember("status"));

  // /status writes change only status, not generation, not spec, not labels.
  auto s = Do(
      "PATCH", base + "/w/status",
      R"({"spec":{"size":9},"metadata":{"labels":{"x":"y"}},"status":{"conditions":[{"type":"Ready","status":"True"}]}})",
      "application/merge-patch+json");
  ASSERT_EQ(s.code, 200) << s.body;
  auto sj = s.Json();
  EXPECT_EQ(sj["metadata"]["generation"].GetInt(), 2);
  EXPECT_EQ(sj["spec"]["size"].GetInt(), 2);
  EXPECT_FALSE(sj["metadata"].HasMember("labels"));
  EXPECT_EQ(Str(sj["status"]["conditions"][0], "status"), "True");

  // Metadata-only change: no generation bump.
  auto m = Do("PATCH", base + "/w", R"({"metadata":{"labels":{"a":"b"}}})",
              "application/merge-patch+json");
  EXPECT_EQ(m.Json()["metadata"]["generation"].GetInt(), 2);

  // PUT without resourceVersion on a CR: 422.
  auto norv = Do("PUT", base + "/w", Widget("w", 3));
  EXPECT_EQ(norv.code, 422) << norv.body;
  EXPECT_EQ(Str(norv.Json(), "message"),
            "widgets.example.com \"w\" is invalid: metadata.resourceVersion: Invalid value: 0: "
            "must be specified for an update");

  // Strategic merge on a CR: 415; server-side apply: 415.
  EXPECT_EQ(Do("PATCH", base + "/w", "{}", "application/strategic-merge-patch+json").code, 415);
  EXPECT_EQ(Do("PATCH", base + "/w", "{}", "application/apply-patch+yaml").code, 415);

  // JSON patch with a failing test: 422; a passing one applies.
  auto jp = Do("PATCH", base + "/w", R"([{"op":"test","path":"/spec/size","value":7}])",
               "application/json-patch+json");
  EXPECT_EQ(jp.code, 422) << jp.body;
  auto jp2 = Do(
      "PATCH", base + "/w",
      R"([{"op":"test","path":"/spec/size","value":2},{"op":"replace","path":"/spec/size","value":5}])",
      "application/json-patch+json");
  ASSERT_EQ(jp2.code, 200) << jp2.body;
  EXPECT_EQ(jp2.Json()["spec"]["size"].GetInt(), 5);

  // A patch carrying a stale resourceVersion is a precondition: 409.
  auto stalep =
      Do("PATCH", base + "/w", R"({"metadata":{"resourceVersion":"1"},"spec":{"size":6}})",
         "application/merge-patch+json");
  EXPECT_EQ(stalep.code, 409);

  // Cluster-wide list of a namespaced CR.
  auto all = Do("GET", "/apis/example.com/v1/widgets").Json();
  EXPECT_EQ(Str(all, "kind"), "WidgetList");
  EXPECT_EQ(all["items"].Size(), 1u);

  // Delete: CRs answer a Success Status.
  auto d = Do("DELETE", base + "/w");
  ASSERT_EQ(d.code, 200);
  EXPECT_EQ(Str(d.Json(), "status"), "Success");
  EXPECT_EQ(Str(d.Json(), "details.kind"), "widgets");

  // Deleting the CRD removes the type.
  ASSERT_EQ(
      Do("DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com")
          .code,
      200);
  EXPECT_EQ(Do("GET", base).code, 404);
}

TEST_F(ApiServerTest, ServicesStatusSubresourceAndStrategicMerge) {
  const std::string base = "/api/v1/namespaces/default/services";
  auto c = Do(
      "POST", base,
      R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},"spec":{"type":"LoadBalancer","ports":[{"name":"http","port":80,"protocol":"TCP"}]},"status":{"loadBalancer":{"ingress":[{"ip":"1.2.3.4"}]}}})");
  ASSERT_EQ(c.code, 201) << c.body;
  EXPECT_THAT(c.body, Not(HasSubstr("1.2.3.4")));
  std::string rv = Str(c.Json(), "metadata.resourceVersion");
  auto st = Do(
      "PUT", base + "/s/status",
      R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"s","resourceVersion":")" + rv +
          R"("},"spec":{"type":"ClusterIP"},"status":{"loadBalancer":{"ingress":[{"ip":"10.0.0.1","ipMode":"VIP"}]}}})");
  ASSERT_EQ(st.code, 200) << st.body;
  EXPECT_EQ(Str(st.Json(), "spec.type"), "LoadBalancer");
  EXPECT_EQ(Str(st.Json()["status"]["loadBalancer"]["ingress"][0], "ip"), "10.0.0.1");
  auto stale = Do("PUT", base + "/s/status",
                  R"({"metadata":{"name":"s","resourceVersion":")" + rv + R"("},"status":{}})");
  EXPECT_EQ(stale.code, 409);

  auto smp =
      Do("PATCH", base + "/s",
         R"({"metadata":{"labels":{"l":"1"}},"spec":{"ports":[{"name":"https","port":443}]}})",
         "application/strategic-merge-patch+json");
  ASSERT_EQ(smp.code, 200) << smp.body;
  EXPECT_EQ(smp.Json()["spec"]["ports"].Size(), 2u) << smp.body;

  auto d = Do("DELETE", base + "/s");
  EXPECT_EQ(d.code, 200);
  EXPECT_EQ(Str(d.Json(), "kind"), "Service");
}

TEST_F(ApiServerTest, FinalizersAndDeletion) {
  const std::string base = "/api/v1/namespaces/default/configmaps";
  ASSERT_EQ(Do("POST", base, R"({"metadata":{"name":"f","finalizers":["x/y"]}})").code, 201);
  auto d = Do("DELETE", base + "/f");
  ASSERT_EQ(d.code, 200);
  auto dj = d.Json();
  EXPECT_EQ(Str(dj, "kind"), "ConfigMap");
  EXPECT_FALSE(Str(dj, "metadata.deletionTimestamp").empty());
  // Still there; adding finalizers now is refused.
  EXPECT_EQ(Do("GET", base + "/f").code, 200);
  auto add = Do("PATCH", base + "/f", R"({"metadata":{"finalizers":["x/y","z/w"]}})",
                "application/merge-patch+json");
  EXPECT_EQ(add.code, 422) << add.body;
  EXPECT_THAT(add.body, HasSubstr("no new finalizers can be added if the object is being deleted"));
  // Removing the last finalizer deletes it.
  auto rm = Do("PATCH", base + "/f", R"({"metadata":{"finalizers":null}})",
               "application/merge-patch+json");
  EXPECT_EQ(rm.code, 200) << rm.body;
  EXPECT_EQ(Do("GET", base + "/f").code, 404);

  // Delete preconditions.
  auto c = Do("POST", base, R"({"metadata":{"name":"p"}})");
  auto pre = Do("DELETE", base + "/p", R"({"preconditions":{"uid":"nope"}})");
  EXPECT_EQ(pre.code, 409);
  EXPECT_THAT(pre.body, HasSubstr("Precondition failed: UID in precondition: nope"));

  // deletecollection by label.
  Do("POST", base, R"({"metadata":{"name":"l1","labels":{"g":"1"}}})");
  Do("POST", base, R"({"metadata":{"name":"l2","labels":{"g":"1"}}})");
  Do("POST", base, R"({"metadata":{"name":"l3","labels":{"g":"2"}}})");
  EXPECT_EQ(Do("DELETE", base + "?labelSelector=g%3D1").code, 200);
  auto left = Do("GET", base + "?labelSelector=g").Json();
  ASSERT_EQ(left["items"].Size(), 1u);
  EXPECT_EQ(Str(left["items"][0], "metadata.name"), "l3");

  auto sys = Do("DELETE", "/api/v1/namespaces/kube-system");
  EXPECT_EQ(sys.code, 403);
  EXPECT_EQ(Str(sys.Json(), "message"),
            "namespaces \"kube-system\" is forbidden: this namespace may not be deleted");
  // Deleting a namespace deletes what is in it.
  Do("POST", "/api/v1/namespaces", R"({"metadata":{"name":"tmp"}})");
  Do("POST", "/api/v1/namespaces/tmp/configmaps", R"({"metadata":{"name":"x"}})");
  EXPECT_EQ(Do("DELETE", "/api/v1/namespaces/tmp").code, 200);
  EXPECT_EQ(Do("GET", "/api/v1/namespaces/tmp").code, 404);
  EXPECT_EQ(Do("GET", "/api/v1/namespaces/tmp/configmaps/x").code, 404);
}

TEST_F(ApiServerTest, ListSelectorsAndPaging) {
  const std::string base = "/api/v1/namespaces/default/configmaps";
  for (int i = 0; i < 5; ++i) {
    Do("POST", base,
       R"({"metadata":{"name":"c)" + std::to_string(i) + R"(","labels":{"tier":")" +
           (i % 2 ? "odd" : "even") + R"("}}})");
  }
  auto even = Do("GET", base + "?labelSelector=tier%3Deven").Json();
  EXPECT_EQ(even["items"].Size(), 3u);
  auto in = Do("GET", base + "?labelSelector=tier+in+(odd)").Json();
  EXPECT_EQ(in["items"].Size(), 2u);
  auto byname = Do("GET", base + "?fieldSelector=metadata.name%3Dc3").Json();
  ASSERT_EQ(byname["items"].Size(), 1u);
  auto badfield = Do("GET", base + "?fieldSelector=spec.nope%3D1");
  EXPECT_EQ(badfield.code, 400) << badfield.body;

  auto p1 = Do("GET", base + "?limit=2").Json();
  ASSERT_EQ(p1["items"].Size(), 2u);
  std::string cont = Str(p1, "metadata.continue");
  ASSERT_FALSE(cont.empty());
  EXPECT_EQ(p1["metadata"]["remainingItemCount"].GetInt(), 3);
  // A write between pages is not seen: the pages are one snapshot.
  Do("POST", base, R"({"metadata":{"name":"c00"}})");
  std::set<std::string> names;
  for (const auto& it : p1["items"].GetArray()) names.insert(Str(it, "metadata.name"));
  while (!cont.empty()) {
    auto p = Do("GET", base + "?limit=2&continue=" + cont);
    ASSERT_EQ(p.code, 200) << p.body;
    auto pj = p.Json();
    EXPECT_EQ(Str(pj, "metadata.resourceVersion"), Str(p1, "metadata.resourceVersion"));
    for (const auto& it : pj["items"].GetArray()) names.insert(Str(it, "metadata.name"));
    cont = Str(pj, "metadata.continue");
  }
  EXPECT_EQ(names, (std::set<std::string>{"c0", "c1", "c2", "c3", "c4"}));
  // A token that does not decode is a 400, as kube-apiserver answers.
  auto bogus = Do("GET", base + "?limit=2&continue=bogus");
  EXPECT_EQ(bogus.code, 400) << bogus.body;
  EXPECT_THAT(Str(bogus.Json(), "message"), HasSubstr("invalid continue token"));
  // A well-formed token for a snapshot the server no longer has is 410 Expired.
  auto expired = Do("GET", base + "?limit=2&continue=" +
                               Base64Encode(R"({"v":"meta.k8s.io/v1","rv":1,"start":"/c1\u0000"})",
                                            /*url=*/true));
  EXPECT_EQ(expired.code, 410) << expired.body;
  EXPECT_EQ(Str(expired.Json(), "reason"), "Expired");

  auto sie = Do("GET", base + "?sendInitialEvents=true");
  EXPECT_EQ(sie.code, 422);
}

TEST_F(ApiServerTest, WatchStreamsEventsBookmarksAndResumes) {
  ApiServer::Options opts;
  opts.bookmark_interval = std::chrono::milliseconds(100);
  opts.watch_window = 5;
  StartServer(opts);
  const std::string base = "/api/v1/namespaces/default/configmaps";
  Do("POST", base, R"({"metadata":{"name":"pre"}})");
  auto w = WatchStream::Open(server_->url(), base + "?watch=true&allowWatchBookmarks=true");
  ASSERT_OK(w.status());
  ASSERT_EQ((*w)->code(), 200);
  EXPECT_EQ((*w)->headers().at("transfer-encoding"), "chunked");
  auto first = (*w)->Next(std::chrono::seconds(5));
  ASSERT_TRUE(first.has_value());
  EXPECT_THAT(*first, HasSubstr(R"("type":"ADDED")"));
  EXPECT_THAT(*first, HasSubstr(R"("name":"pre")"));
  // The end of the initial objects, as kube-apiserver 1.37 marks it for a watch with bookmarks.
  auto end_of_initial = (*w)->Next(std::chrono::seconds(5));
  ASSERT_TRUE(end_of_initial.has_value());
  EXPECT_THAT(*end_of_initial, HasSubstr(R"("type":"BOOKMARK")"));
  EXPECT_THAT(*end_of_initial, HasSubstr(R"("k8s.io/initial-events-end":"true")"));
  auto c = Do("POST", base, R"({"metadata":{"name":"live"}})");
  std::string live_rv = Str(c.Json(), "metadata.resourceVersion");
  bool saw_live = false, saw_bookmark = false;
  for (int i = 0; i < 20 && !(saw_live && saw_bookmark); ++i) {
    auto ev = (*w)->Next(std::chrono::seconds(5));
    ASSERT_TRUE(ev.has_value());
    rapidjson::Document d;
    d.Parse(ev->c_str());
    std::string type = Str(d, "type");
    if (type == "ADDED" && Str(d["object"], "metadata.name") == "live") {
      saw_live = true;
      EXPECT_EQ(Str(d["object"], "kind"), "ConfigMap");
    }
    if (type == "BOOKMARK") {  // a periodic one: no initial-events-end annotation
      saw_bookmark = true;
      EXPECT_EQ(ev->find("initial-events-end"), std::string::npos) << *ev;
      EXPECT_EQ(Str(d["object"], "kind"), "ConfigMap");
      EXPECT_FALSE(Str(d["object"], "metadata.resourceVersion").empty());
    }
  }
  EXPECT_TRUE(saw_live);
  EXPECT_TRUE(saw_bookmark);

  // Resume from a version: exactly the later events, no synthetic ADDED.
  Do("PATCH", base + "/live", R"({"data":{"a":"1"}})", "application/merge-patch+json");
  Do("DELETE", base + "/live");
  auto r = WatchStream::Open(server_->url(), base + "?watch=1&resourceVersion=" + live_rv);
  ASSERT_OK(r.status());
  auto e1 = (*r)->Next(std::chrono::seconds(5));
  auto e2 = (*r)->Next(std::chrono::seconds(5));
  ASSERT_TRUE(e1 && e2);
  EXPECT_THAT(*e1, HasSubstr(R"("type":"MODIFIED")"));
  EXPECT_THAT(*e2, HasSubstr(R"("type":"DELETED")"));
  rapidjson::Document del;
  del.Parse(e2->c_str());
  EXPECT_EQ(std::stoull(Str(del["object"], "metadata.resourceVersion")),
            server_->resource_version());

  // After more writes than the window holds, resuming from the old version gives ERROR 410.
  for (int i = 0; i < 8; ++i) {
    Do("POST", base, R"({"metadata":{"name":"x)" + std::to_string(i) + R"("}})");
  }
  auto old = WatchStream::Open(server_->url(), base + "?watch=1&resourceVersion=" + live_rv);
  ASSERT_OK(old.status());
  EXPECT_EQ((*old)->code(), 200);
  auto err = (*old)->Next(std::chrono::seconds(5));
  ASSERT_TRUE(err.has_value());
  rapidjson::Document ed;
  ed.Parse(err->c_str());
  EXPECT_EQ(Str(ed, "type"), "ERROR");
  EXPECT_EQ(Str(ed["object"], "reason"), "Expired");
  EXPECT_EQ(ed["object"]["code"].GetInt(), 410);
  EXPECT_THAT(Str(ed["object"], "message"), HasSubstr("too old resource version"));
  EXPECT_FALSE((*old)->Next(std::chrono::seconds(5)).has_value());
  EXPECT_TRUE((*old)->ended());
}

TEST_F(ApiServerTest, WatchTimeoutSelectorsAndInitialEvents) {
  const std::string base = "/api/v1/namespaces/default/configmaps";
  auto w = WatchStream::Open(server_->url(), base + "?watch=1&timeoutSeconds=1");
  ASSERT_OK(w.status());
  EXPECT_FALSE((*w)->Next(std::chrono::seconds(5)).has_value());
  EXPECT_TRUE((*w)->ended());

  auto rv = std::to_string(server_->resource_version());
  auto sel = WatchStream::Open(server_->url(),
                               base + "?watch=1&labelSelector=app%3Dx&resourceVersion=" + rv);
  ASSERT_OK(sel.status());
  Do("POST", base, R"({"metadata":{"name":"s","labels":{"app":"y"}}})");
  Do("PATCH", base + "/s", R"({"metadata":{"labels":{"app":"x"}}})",
     "application/merge-patch+json");
  Do("PATCH", base + "/s", R"({"metadata":{"labels":{"app":"z"}}})",
     "application/merge-patch+json");
  auto a = (*sel)->Next(std::chrono::seconds(5));
  auto b = (*sel)->Next(std::chrono::seconds(5));
  ASSERT_TRUE(a && b);
  EXPECT_THAT(*a, HasSubstr(R"("type":"ADDED")"));
  EXPECT_THAT(*b, HasSubstr(R"("type":"DELETED")"));

  // WatchList, as kube-apiserver 1.37 serves it: the current objects, then a BOOKMARK marking
  // their end; without resourceVersionMatch=NotOlderThan it is a 422.
  auto sie = WatchStream::Open(server_->url(),
                               base +
                                   "?watch=1&sendInitialEvents=true&resourceVersionMatch="
                                   "NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=5");
  ASSERT_OK(sie.status());
  EXPECT_EQ((*sie)->code(), 200);
  auto first = (*sie)->Next(std::chrono::seconds(5));
  auto end = (*sie)->Next(std::chrono::seconds(5));
  ASSERT_TRUE(first && end);
  EXPECT_THAT(*first, HasSubstr(R"("name":"s")"));
  EXPECT_THAT(*end, HasSubstr(R"("type":"BOOKMARK")"));
  EXPECT_THAT(*end, HasSubstr(R"("k8s.io/initial-events-end":"true")"));
  auto bad = WatchStream::Open(server_->url(), base + "?watch=1&sendInitialEvents=true");
  ASSERT_OK(bad.status());
  EXPECT_EQ((*bad)->code(), 422);
  EXPECT_THAT((*bad)->error_body(),
              HasSubstr("sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"));
}

TEST_F(ApiServerTest, ListThenWatchLosesNoEvent) {
  const std::string base = "/api/v1/namespaces/default/configmaps";
  std::atomic<bool> stop{false};
  std::atomic<int> created{0};
  std::thread writer([&] {
    TestClient c(server_->url());
    c.set_keep_alive(true);
    for (int i = 0; i < 60 && !stop; ++i) {
      auto r = c.Request("POST", base, R"({"metadata":{"name":"r)" + std::to_string(i) + R"("}})");
      if (r.ok() && r->code == 201) ++created;
    }
  });
  // Let some writes land, then list and watch from the list's version.
  while (created < 10) std::this_thread::yield();
  auto list = Do("GET", base).Json();
  std::set<std::string> seen;
  for (const auto& it : list["items"].GetArray()) seen.insert(Str(it, "metadata.name"));
  auto w = WatchStream::Open(
      server_->url(), base + "?watch=1&resourceVersion=" + Str(list, "metadata.resourceVersion"));
  ASSERT_OK(w.status());
  writer.join();
  while (seen.size() < 60) {
    auto ev = (*w)->Next(std::chrono::seconds(5));
    ASSERT_TRUE(ev.has_value()) << "missing events; have " << seen.size();
    rapidjson::Document d;
    d.Parse(ev->c_str());
    EXPECT_TRUE(seen.insert(Str(d["object"], "metadata.name")).second) << "duplicate " << *ev;
  }
  EXPECT_EQ(seen.size(), 60u);
}

TEST_F(ApiServerTest, TableOutput) {
  CreateCrd();
  Do("POST", "/apis/example.com/v1/namespaces/default/widgets", Widget("t", 4));
  Do("PATCH", "/apis/example.com/v1/namespaces/default/widgets/t/status",
     R"({"status":{"conditions":[{"type":"Other","status":"False"},{"type":"Ready","status":"True"}]}})",
     "application/merge-patch+json");
  auto r = Do("GET", "/apis/example.com/v1/namespaces/default/widgets", "", "application/json",
              {{"Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}});
  ASSERT_EQ(r.code, 200);
  EXPECT_THAT(r.headers["content-type"], HasSubstr("as=Table"));
  auto t = r.Json();
  EXPECT_EQ(Str(t, "kind"), "Table");
  ASSERT_EQ(t["columnDefinitions"].Size(), 4u);
  EXPECT_EQ(Str(t["columnDefinitions"][1], "name"), "Size");
  ASSERT_EQ(t["rows"].Size(), 1u);
  const auto& cells = t["rows"][0]["cells"];
  EXPECT_EQ(Str(cells[0], ""), "");
  EXPECT_EQ(std::string(cells[0].GetString()), "t");
  EXPECT_EQ(cells[1].GetInt(), 4);
  EXPECT_EQ(std::string(cells[2].GetString()), "True");
  EXPECT_EQ(Str(t["rows"][0]["object"], "kind"), "PartialObjectMetadata");

  auto svc =
      Do("POST", "/api/v1/namespaces/default/services",
         R"({"metadata":{"name":"s"},"spec":{"type":"LoadBalancer","ports":[{"port":80}]}})");
  ASSERT_EQ(svc.code, 201) << svc.body;
  auto st = Do("GET", "/api/v1/namespaces/default/services/s", "", "application/json",
               {{"Accept", "application/json;as=Table;v=v1;g=meta.k8s.io"}});
  EXPECT_THAT(st.body, HasSubstr("<pending>"));
  EXPECT_THAT(st.body, HasSubstr(R"("name":"External-IP")"));
}

TEST_F(ApiServerTest, BearerTokenAndReadOnlyToken) {
  ApiServer::Options opts;
  opts.token = "secret";
  opts.read_only_tokens = {"viewer"};
  StartServer(opts);
  token_ = "";
  auto r = Do("GET", "/api/v1/namespaces");
  EXPECT_EQ(r.code, 401);
  EXPECT_EQ(Str(r.Json(), "reason"), "Unauthorized");
  token_ = "wrong";
  EXPECT_EQ(Do("GET", "/api/v1/namespaces").code, 401);
  token_ = "viewer";
  EXPECT_EQ(Do("GET", "/api/v1/namespaces").code, 200);
  auto f = Do("POST", "/api/v1/namespaces/default/configmaps", R"({"metadata":{"name":"a"}})");
  EXPECT_EQ(f.code, 403);
  EXPECT_EQ(Str(f.Json(), "reason"), "Forbidden");
  token_ = "secret";
  EXPECT_EQ(
      Do("POST", "/api/v1/namespaces/default/configmaps", R"({"metadata":{"name":"a"}})").code,
      201);
  EXPECT_THAT(server_->Kubeconfig(), HasSubstr("token: secret"));
}

TEST_F(ApiServerTest, TlsWithSelfSignedCertificate) {
  ApiServer::Options opts;
  opts.self_signed_tls = true;
  StartServer(opts);
  EXPECT_EQ(server_->url().substr(0, 8), "https://");
  ASSERT_FALSE(server_->ca_pem().empty());
  auto r = Do("GET", "/api/v1/namespaces/default");
  EXPECT_EQ(r.code, 200);
  auto w = WatchStream::Open(server_->url(), "/api/v1/namespaces?watch=1", "", server_->ca_pem());
  ASSERT_OK(w.status());
  auto ev = (*w)->Next(std::chrono::seconds(5));
  ASSERT_TRUE(ev.has_value());
  EXPECT_THAT(*ev, HasSubstr("ADDED"));
  EXPECT_THAT(server_->Kubeconfig(), HasSubstr("certificate-authority-data: "));
}

// A client whose TLS handshake fails (plain HTTP to the TLS port, or a
// client that distrusts the server's certificate) must not take the server down.
TEST_F(ApiServerTest, FailedTlsHandshakesLeaveTheServerServing) {
  ApiServer::Options opts;
  opts.self_signed_tls = true;
  StartServer(opts);
  std::string plain_url = "http://" + server_->url().substr(8);
  for (int i = 0; i < 3; ++i) {
    TestClient plain(plain_url, "");
    auto r = plain.Get("/api/v1/namespaces");
    EXPECT_TRUE(!r.ok() || r->code != 200) << "plain HTTP must not be served on the TLS port";
  }
  EXPECT_EQ(Do("GET", "/api/v1/namespaces/default").code, 200);
}

TEST_F(ApiServerTest, FaultInjection) {
  const std::string base = "/api/v1/namespaces/default/configmaps";
  server_->faults().FailNext("create", "configmaps", 409);
  EXPECT_EQ(Do("POST", base, R"({"metadata":{"name":"a"}})").code, 409);
  EXPECT_EQ(Do("GET", base + "/a").code, 404) << "the failed create must not commit";
  server_->faults().FailNext("get", "", 429);
  auto t = Do("GET", base + "/a");
  EXPECT_EQ(t.code, 429);
  EXPECT_EQ(t.headers["retry-after"], "1");
  EXPECT_EQ(t.Json()["details"]["retryAfterSeconds"].GetInt(), 1);
  server_->faults().FailNext("list", "configmaps", 500);
  EXPECT_EQ(Do("GET", base).code, 500);
  EXPECT_EQ(Do("GET", base).code, 200);

  // Seeded random errors are reproducible.
  auto run = [&] {
    FaultConfig fc;
    fc.seed = 42;
    fc.verbs["list"].error_rate = 0.5;
    server_->faults().Configure(fc);
    std::string pattern;
    for (int i = 0; i < 20; ++i) pattern += Do("GET", base).code == 500 ? 'x' : '.';
    return pattern;
  };
  std::string p1 = run();
  std::string p2 = run();
  EXPECT_EQ(p1, p2);
  EXPECT_NE(p1.find('x'), std::string::npos);
  EXPECT_NE(p1.find('.'), std::string::npos);

  // Dropped watches and forced 410 on resume.
  FaultConfig fc;
  fc.watch_drop_interval = std::chrono::milliseconds(200);
  server_->faults().Configure(fc);
  auto w = WatchStream::Open(server_->url(), base + "?watch=1");
  ASSERT_OK(w.status());
  while ((*w)->Next(std::chrono::seconds(5)).has_value()) {
  }
  EXPECT_TRUE((*w)->dropped());
  server_->faults().Configure({});
  server_->faults().ExpireNextWatches(1);
  auto e = WatchStream::Open(server_->url(), base + "?watch=1&resourceVersion=" +
                                                 std::to_string(server_->resource_version()));
  ASSERT_OK(e.status());
  auto ev = (*e)->Next(std::chrono::seconds(5));
  ASSERT_TRUE(ev.has_value());
  EXPECT_THAT(*ev, HasSubstr(R"("code":410)"));
}

TEST_F(ApiServerTest, AuditChecksRecordAndReject) {
  // No two Services may announce the same address.
  auto unique_ips = [](const AuditEvent& ev) -> Status {
    if (ev.resource != "services") return Status();
    std::map<std::string, std::string> owner;
    for (const rapidjson::Value* s : ev.list("/services")) {
      const rapidjson::Value* st = Member(*s, "status");
      const rapidjson::Value* lb = st ? Member(*st, "loadBalancer") : nullptr;
      const rapidjson::Value* ing = lb ? Member(*lb, "ingress") : nullptr;
      if (ing == nullptr || !ing->IsArray()) continue;
      for (const auto& i : ing->GetArray()) {
        std::string ip = StrAt(i, "ip");
        std::string name = StrAt(*s, "metadata.name");
        auto [it, fresh] = owner.emplace(ip, name);
        if (!fresh) return InvalidArgumentError(ip + " is held by " + it->second + " and " + name);
      }
    }
    return Status();
  };
  server_->AddAuditCheck("unique-ips", unique_ips);
  const std::string base = "/api/v1/namespaces/default/services";
  for (const char* n : {"a", "b"}) {
    ASSERT_EQ(Do("POST", base,
                 std::string(R"({"metadata":{"name":")") + n +
                     R"("},"spec":{"type":"LoadBalancer","ports":[{"port":80}]}})")
                  .code,
              201);
  }
  auto set_ip = [&](const char* n, const char* ip) {
    return Do("PATCH", base + "/" + n + "/status",
              std::string(R"({"status":{"loadBalancer":{"ingress":[{"ip":")") + ip + R"("}]}}})",
              "application/merge-patch+json")
        .code;
  };
  EXPECT_EQ(set_ip("a", "1.1.1.1"), 200);
  EXPECT_TRUE(server_->violations().empty());
  EXPECT_EQ(set_ip("b", "1.1.1.1"), 200);  // recorded, not rejected
  auto v = server_->violations();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].check, "unique-ips");
  EXPECT_EQ(v[0].name, "b");
  EXPECT_THAT(v[0].status.message(), HasSubstr("1.1.1.1"));

  StartServer({});
  server_->AddAuditCheck("unique-ips", unique_ips, /*reject=*/true);
  for (const char* n : {"a", "b"}) {
    Do("POST", base,
       std::string(R"({"metadata":{"name":")") + n +
           R"("},"spec":{"type":"LoadBalancer","ports":[{"port":80}]}})");
  }
  EXPECT_EQ(set_ip("a", "1.1.1.1"), 200);
  EXPECT_EQ(set_ip("b", "1.1.1.1"), 422);
  auto b = Do("GET", base + "/b").Json();
  EXPECT_THAT(ToJson(b), Not(HasSubstr("1.1.1.1")));
}

TEST_F(ApiServerTest, LeasesAndEventsBehaveLikeOtherObjects) {
  const std::string leases = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases";
  auto c = Do(
      "POST", leases,
      R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"lballoc-leader"},"spec":{"holderIdentity":"a","leaseDurationSeconds":15,"acquireTime":"2026-01-02T03:04:05.123456Z","renewTime":"2026-01-02T03:04:05.123456Z"}})");
  ASSERT_EQ(c.code, 201) << c.body;
  EXPECT_FALSE(c.Json()["metadata"].HasMember("generation"));
  EXPECT_EQ(Str(c.Json(), "spec.renewTime"), "2026-01-02T03:04:05.123456Z");
  // Leases refuse unconditional updates (the lease strategy's AllowUnconditionalUpdate is false),
  // with the generic store's wording, which names the resource; a stale version is a conflict.
  auto u = Do("PUT", leases + "/lballoc-leader",
              R"({"metadata":{"name":"lballoc-leader"},"spec":{"holderIdentity":"b"}})");
  ASSERT_EQ(u.code, 422) << u.body;
  EXPECT_EQ(Str(u.Json(), "message"),
            "leases.coordination.k8s.io \"lballoc-leader\" is invalid: metadata.resourceVersion: "
            "Invalid value: 0: must be specified for an update");
  EXPECT_EQ(Str(u.Json(), "details.kind"), "leases");
  EXPECT_EQ(Str(u.Json(), "details.group"), "coordination.k8s.io");
  EXPECT_EQ(Str(u.Json()["details"]["causes"][0], "field"), "metadata.resourceVersion");
  u = Do("PUT", leases + "/lballoc-leader",
         R"({"metadata":{"name":"lballoc-leader","resourceVersion":")" +
             Str(c.Json(), "metadata.resourceVersion") + R"("},"spec":{"holderIdentity":"b"}})");
  EXPECT_EQ(u.code, 200) << u.body;
  auto stale =
      Do("PUT", leases + "/lballoc-leader",
         R"({"metadata":{"name":"lballoc-leader","resourceVersion":")" +
             Str(c.Json(), "metadata.resourceVersion") + R"("},"spec":{"holderIdentity":"c"}})");
  EXPECT_EQ(stale.code, 409);
  EXPECT_EQ(Str(Do("GET", leases + "/lballoc-leader").Json(), "spec.holderIdentity"), "b");

  // core/v1 Events: the recorder's create, then a strategic merge patch of count/lastTimestamp.
  const std::string events = "/api/v1/namespaces/default/events";
  auto e = Do(
      "POST", events,
      R"({"metadata":{"name":"web.17a"},"involvedObject":{"kind":"Service","name":"web","namespace":"default"},"reason":"IPAllocated","message":"allocated 192.0.2.1","type":"Normal","count":1,"firstTimestamp":"2026-01-01T00:00:00Z","lastTimestamp":"2026-01-01T00:00:00Z","source":{"component":"lballoc"}})");
  ASSERT_EQ(e.code, 201) << e.body;
  auto p = Do("PATCH", events + "/web.17a", R"({"count":2,"lastTimestamp":"2026-01-01T00:01:00Z"})",
              "application/strategic-merge-patch+json");
  ASSERT_EQ(p.code, 200) << p.body;
  EXPECT_EQ(p.Json()["count"].GetInt(), 2);
  EXPECT_EQ(Str(p.Json(), "reason"), "IPAllocated");
  auto ev2 = Do(
      "POST", "/apis/events.k8s.io/v1/namespaces/default/events",
      R"({"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{"name":"web.18a2b"},"eventTime":"2026-01-01T00:00:00.000000Z","reportingController":"lballoc.io/controller","reportingInstance":"lballoc-x","action":"Allocate","reason":"IPAllocated","regarding":{"kind":"Service","name":"web","namespace":"default"},"type":"Normal","note":"n"})");
  EXPECT_EQ(ev2.code, 201) << ev2.body;
  // A generateName ending in '.' is not a valid DNS subdomain prefix (only a trailing '-' is
  // masked), as kube-apiserver checks it.
  auto gen = Do(
      "POST", "/apis/events.k8s.io/v1/namespaces/default/events",
      R"({"metadata":{"generateName":"web."},"eventTime":"2026-01-01T00:00:00.000000Z","reportingController":"lballoc.io/controller","reportingInstance":"lballoc-x","action":"Allocate","reason":"IPAllocated","regarding":{"kind":"Service","name":"web","namespace":"default"},"type":"Normal","note":"n"})");
  ASSERT_EQ(gen.code, 422) << gen.body;
  EXPECT_EQ(Str(gen.Json()["details"]["causes"][0], "field"), "metadata.generateName");
}

TEST_F(ApiServerTest, CustomResourcesArePrunedAndDefaultedByTheirSchema) {
  auto crd = Do("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", R"({
    "apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
    "metadata":{"name":"gadgets.example.com"},
    "spec":{"group":"example.com","scope":"Cluster",
      "names":{"plural":"gadgets","singular":"gadget","kind":"Gadget"},
      "versions":[{"name":"v1","served":true,"storage":true,"subresources":{"status":{}},
        "schema":{"openAPIV3Schema":{"type":"object","properties":{
          "spec":{"type":"object","properties":{
            "size":{"type":"integer","default":1},
            "mode":{"type":"string","default":"fast"},
            "items":{"type":"array","items":{"type":"object","properties":{"n":{"type":"string"}}}},
            "free":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}},
          "status":{"type":"object","properties":{"phase":{"type":"string"}}}}}}}]}})");
  ASSERT_EQ(crd.code, 201) << crd.body;
  const std::string base = "/apis/example.com/v1/gadgets";
  auto c = Do(
      "POST", base,
      R"({"apiVersion":"example.com/v1","kind":"Gadget","metadata":{"name":"g"},"spec":{"size":3,"bogus":1,"items":[{"n":"a","x":2}],"free":{"any":{"thing":1}}}})");
  ASSERT_EQ(c.code, 201) << c.body;
  auto cj = c.Json();
  EXPECT_EQ(cj["spec"]["size"].GetInt(), 3);
  EXPECT_EQ(Str(cj, "spec.mode"), "fast") << "default filled in";
  EXPECT_FALSE(cj["spec"].HasMember("bogus")) << "unknown field pruned";
  EXPECT_FALSE(cj["spec"]["items"][0].HasMember("x"));
  EXPECT_TRUE(cj["spec"]["free"]["any"].HasMember("thing")) << "preserve-unknown-fields kept";
  // One Warning header per pruned field (the test client keeps the last one).
  EXPECT_THAT(c.headers["warning"], HasSubstr("299 - \"unknown field \\\"spec."));

  auto strict = Do("PATCH", base + "/g?fieldValidation=Strict", R"({"spec":{"nope":true}})",
                   "application/merge-patch+json");
  EXPECT_EQ(strict.code, 400) << strict.body;
  EXPECT_THAT(Str(strict.Json(), "message"),
              HasSubstr("strict decoding error: unknown field \"spec.nope\""));
  auto st = Do("PATCH", base + "/g/status", R"({"status":{"phase":"Ready","extra":1}})",
               "application/merge-patch+json");
  ASSERT_EQ(st.code, 200) << st.body;
  EXPECT_EQ(Str(st.Json(), "status.phase"), "Ready");
  EXPECT_FALSE(st.Json()["status"].HasMember("extra"));
}

}  // namespace
}  // namespace lballoc::apiserver
