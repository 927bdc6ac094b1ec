// Discovery: /api, /apis (groups, versions, resources), /version, /openapi/v2 and /openapi/v3.
#include <algorithm>
#include <utility>

#include "test/apiserver/api_server_impl.h"
#include "test/apiserver/json_util.h"

namespace lballoc::apiserver {
namespace {

using rapidjson::Document;
using rapidjson::Value;

// An APIGroup: its versions, the storage version preferred.
Value GroupJson(const std::pair<std::string, std::vector<std::string>>& g, Alloc& a) {
  Value v(rapidjson::kObjectType);
  SetString(v, "name", g.first, a);
  Value versions(rapidjson::kArrayType);
  for (const auto& ver : g.second) {
    Value gv(rapidjson::kObjectType);
    SetString(gv, "groupVersion", g.first + "/" + ver, a);
    SetString(gv, "version", ver, a);
    versions.PushBack(gv, a);
  }
  v.AddMember("versions", versions, a);
  Value pref(rapidjson::kObjectType);
  SetString(pref, "groupVersion", g.first + "/" + g.second.front(), a);
  SetString(pref, "version", g.second.front(), a);
  v.AddMember("preferredVersion", pref, a);
  return v;
}

}  // namespace

void ApiServer::Impl::HandleDiscovery(const HttpRequest& r, ResponseWriter& w) {
  std::vector<std::string> seg = SplitPath(r.path);
  if (r.method != "GET") {
    SendError(w, NotFoundPath());
    return;
  }
  if (r.path == "/version" || r.path == "/version/") {
    w.Send(
        200, kJson,
        R"({"major":"1","minor":"32","gitVersion":"v1.32.0-lballoc","gitCommit":"0000000000000000000000000000000000000000","gitTreeState":"clean","buildDate":"2026-01-01T00:00:00Z","goVersion":"go1.23.0","compiler":"gc","platform":"linux/amd64"})");
    return;
  }
  if (r.path == "/openapi/v2") {
    // An empty OpenAPI v2 document (zero bytes is a valid empty protobuf message): kubectl
    // fetches it for client-side validation, which then skips types it has no schema for.
    // The schemas are served as OpenAPI v3.
    w.Send(200, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf", "");
    return;
  }
  if (!seg.empty() && seg[0] == "openapi") {
    HandleOpenApi(r, w);
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto groups = GroupsLocked();

  if (seg.size() == 1 && seg[0] == "api") {
    w.Send(
        200, kJson,
        R"({"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1:)" +
            std::to_string(http_->port()) + "\"}]}");
    return;
  }
  if (seg.size() == 2 && seg[0] == "api" && seg[1] == "v1") {
    w.Send(200, kJson, ResourceListJsonLocked("", "v1"));
    return;
  }
  if (seg.size() == 1 && seg[0] == "apis") {
    Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    d.AddMember("kind", "APIGroupList", a);
    d.AddMember("apiVersion", "v1", a);
    Value list(rapidjson::kArrayType);
    for (const auto& g : groups) list.PushBack(GroupJson(g, a), a);
    d.AddMember("groups", list, a);
    w.Send(200, kJson, ToJson(d));
    return;
  }
  if (seg.size() == 2 && seg[0] == "apis") {
    for (const auto& g : groups) {
      if (g.first != seg[1]) continue;
      Document d(rapidjson::kObjectType);
      auto& a = d.GetAllocator();
      Value v = GroupJson(g, a);
      d.AddMember("kind", "APIGroup", a);
      d.AddMember("apiVersion", "v1", a);
      for (auto& m : v.GetObject()) d.AddMember(m.name, m.value, a);
      w.Send(200, kJson, ToJson(d));
      return;
    }
  }
  if (seg.size() == 3 && seg[0] == "apis") {
    for (const auto& g : groups) {
      if (g.first == seg[1] &&
          std::find(g.second.begin(), g.second.end(), seg[2]) != g.second.end()) {
        w.Send(200, kJson, ResourceListJsonLocked(seg[1], seg[2]));
        return;
      }
    }
  }
  SendError(w, NotFoundPath());
}

void ApiServer::Impl::HandleOpenApi(const HttpRequest& r, ResponseWriter& w) {
  std::string body;
  std::vector<ObjPtr> crds;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = data_.find("apiextensions.k8s.io/customresourcedefinitions");
    if (it != data_.end()) {
      for (const auto& [k, o] : it->second) crds.push_back(o);
    }
  }
  std::vector<std::pair<std::string, std::string>> gvs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const ResourceType& t : types_) {
      std::pair<std::string, std::string> gv(t.group, t.version);
      if (std::find(gvs.begin(), gvs.end(), gv) == gvs.end()) gvs.push_back(gv);
    }
  }
  std::vector<const Value*> crd_docs;
  for (const ObjPtr& o : crds) crd_docs.push_back(&o->doc);
  Status s = OpenApiDocument(r.path, gvs, crd_docs, body);
  if (!s.ok()) {
    SendError(w, s.code() == StatusCode::kNotFound ? NotFoundPath() : Internal(s.message()));
    return;
  }
  w.Send(200, kJson, body);
}

std::string ApiServer::Impl::ResourceListJsonLocked(const std::string& group,
                                                    const std::string& version) const {
  Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  d.AddMember("kind", "APIResourceList", a);
  d.AddMember("apiVersion", "v1", a);
  SetString(d, "groupVersion", group.empty() ? version : group + "/" + version, a);
  Value list(rapidjson::kArrayType);
  for (const ResourceType& t : types_) {
    if (t.group != group || t.version != version) continue;
    Value res(rapidjson::kObjectType);
    SetString(res, "name", t.plural, a);
    SetString(res, "singularName", t.singular, a);
    res.AddMember("namespaced", t.namespaced, a);
    SetString(res, "kind", t.kind, a);
    Value verbs(rapidjson::kArrayType);
    for (const char* v :
         {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}) {
      verbs.PushBack(Value(rapidjson::StringRef(v)), a);
    }
    res.AddMember("verbs", verbs, a);
    if (!t.short_names.empty()) {
      Value sn(rapidjson::kArrayType);
      for (const auto& s : t.short_names) sn.PushBack(Value(s.c_str(), a), a);
      res.AddMember("shortNames", sn, a);
    }
    if (!t.categories.empty()) {
      Value cs(rapidjson::kArrayType);
      for (const auto& s : t.categories) cs.PushBack(Value(s.c_str(), a), a);
      res.AddMember("categories", cs, a);
    }
    list.PushBack(res, a);
    if (t.has_status) {
      Value st(rapidjson::kObjectType);
      SetString(st, "name", t.plural + "/status", a);
      SetString(st, "singularName", "", a);
      st.AddMember("namespaced", t.namespaced, a);
      SetString(st, "kind", t.kind, a);
      Value verbs2(rapidjson::kArrayType);
      for (const char* v : {"get", "patch", "update"}) {
        verbs2.PushBack(Value(rapidjson::StringRef(v)), a);
      }
      st.AddMember("verbs", verbs2, a);
      list.PushBack(st, a);
    }
  }
  d.AddMember("resources", list, a);
  return ToJson(d);
}

std::vector<std::pair<std::string, std::vector<std::string>>> ApiServer::Impl::GroupsLocked()
    const {
  std::vector<std::pair<std::string, std::vector<std::string>>> groups;
  for (const ResourceType& t : types_) {
    if (t.group.empty()) continue;
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const auto& g) { return g.first == t.group; });
    if (it == groups.end()) {
      groups.push_back({t.group, {}});
      it = groups.end() - 1;
    }
    if (std::find(it->second.begin(), it->second.end(), t.version) == it->second.end()) {
      if (t.storage_version) {
        it->second.insert(it->second.begin(), t.version);
      } else {
        it->second.push_back(t.version);
      }
    }
  }
  return groups;
}

}  // namespace lballoc::apiserver
