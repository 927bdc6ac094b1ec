// Delete: preconditions, finalizers (deletionTimestamp first), namespace termination, and the
// cleanup after an object is gone.
#include <set>

#include "test/apiserver/api_server_impl.h"
#include "test/apiserver/json_util.h"

namespace lballoc::apiserver {

using rapidjson::Document;
using rapidjson::Value;

bool ApiServer::Impl::DeleteLocked(const ResourceType& t, const std::string& ns,
                                   const std::string& name, const Value* options, bool dry_run,
                                   ApiError& err, std::string& body) {
  ObjPtr old = GetLocked(t, ns, name);
  if (!old) {
    err = NotFound(t, name);
    return false;
  }
  const Value& old_md = *Member(old->doc, "metadata");
  if (options != nullptr) {
    const Value* pre = Member(*options, "preconditions");
    if (pre != nullptr) {
      std::string uid = StrAt(*pre, "uid");
      std::string prv = StrAt(*pre, "resourceVersion");
      if (!uid.empty() && uid != StrAt(old_md, "uid")) {
        err = Conflict(t, name,
                       "Precondition failed: UID in precondition: " + uid +
                           ", UID in object meta: " + StrAt(old_md, "uid"));
        return false;
      }
      if (!prv.empty() && prv != StrAt(old_md, "resourceVersion")) {
        err = Conflict(t, name,
                       "Precondition failed: ResourceVersion in precondition: " + prv +
                           ", ResourceVersion in object meta: " + StrAt(old_md, "resourceVersion"));
        return false;
      }
    }
  }
  bool is_ns = t.group.empty() && t.plural == "namespaces";
  if (is_ns && (name == "default" || name == "kube-system" || name == "kube-public")) {
    err = WithDetails(Err(403, "Forbidden",
                          "namespaces \"" + name +
                              "\" is forbidden: this namespace may not be "
                              "deleted"),
                      t, name);
    return false;
  }
  if (HasFinalizers(old->doc) || is_ns) {
    if (Member(old_md, "deletionTimestamp") != nullptr) {
      body = Render(*old, t);
      return true;
    }
    Document next;
    auto& a = next.GetAllocator();
    next.CopyFrom(old->doc, a);
    Value& md = ObjectMember(next, "metadata", a);
    SetString(md, "deletionTimestamp", NowRfc3339(), a);
    SetMember(md, "deletionGracePeriodSeconds", Value(0), a);
    const Value* g = Member(old_md, "generation");
    if (g != nullptr && g->IsInt64() && g->GetInt64() > 0) {
      SetMember(md, "generation", Value(g->GetInt64() + 1), a);
    }
    if (is_ns) SetString(ObjectMember(next, "status", a), "phase", "Terminating", a);
    ObjPtr out;
    if (!CommitLocked("delete", t, ns, name, old, &next, dry_run, err, out)) return false;
    if (is_ns && !dry_run) {
      // Delete everything in the namespace, then the namespace once it is empty.
      std::string prefix = name + "/";
      std::vector<std::pair<std::string, ObjPtr>> victims;
      for (const auto& [key, coll] : data_) {
        for (auto it = coll.lower_bound(prefix);
             it != coll.end() && it->first.rfind(prefix, 0) == 0; ++it) {
          victims.emplace_back(key, it->second);
        }
      }
      for (const auto& [key, o] : victims) {
        const ResourceType* vt = StorageTypeLocked(key);
        if (vt == nullptr) continue;
        ApiError e2;
        std::string b2;
        ResourceType copy = *vt;
        DeleteLocked(copy, name, StrAt(o->doc, "metadata.name"), nullptr, false, e2, b2);
      }
      MaybeFinishNamespaceLocked(name);
      ObjPtr now = GetLocked(t, ns, name);
      body = now ? Render(*now, t) : Render(*out, t);
      return true;
    }
    body = Render(*out, t);
    return true;
  }
  ObjPtr out;
  if (!CommitLocked("delete", t, ns, name, old, nullptr, dry_run, err, out)) return false;
  if (!dry_run) AfterDeleteLocked(t, ns, name, old);
  if (t.group.empty() && t.plural == "services") {
    body = Render(*out, t);
  } else {
    Document s(rapidjson::kObjectType);
    auto& a = s.GetAllocator();
    s.AddMember("kind", "Status", a);
    s.AddMember("apiVersion", "v1", a);
    s.AddMember("metadata", Value(rapidjson::kObjectType), a);
    s.AddMember("status", "Success", a);
    Value det(rapidjson::kObjectType);
    SetString(det, "name", name, a);
    if (!t.group.empty()) SetString(det, "group", t.group, a);
    SetString(det, "kind", t.plural, a);
    SetString(det, "uid", StrAt(old_md, "uid"), a);
    s.AddMember("details", det, a);
    body = ToJson(s);
  }
  return true;
}

void ApiServer::Impl::AfterDeleteLocked(const ResourceType& t, const std::string& ns,
                                        const std::string& name, const ObjPtr& old) {
  if (t.group.empty() && t.plural == "services") ServiceRelease(old->doc);
  if (t.group == "apiextensions.k8s.io") {
    auto types = ResourceTypesFromCrd(old->doc);
    if (types.ok()) {
      ResourceType ct = types->front();
      auto it = data_.find(ct.key());
      if (it != data_.end()) {
        std::vector<std::pair<std::string, ObjPtr>> all(it->second.begin(), it->second.end());
        for (const auto& [k, o] : all) {
          ApiError err;
          ObjPtr out;
          CommitLocked("delete", ct, StrAt(o->doc, "metadata.namespace"),
                       StrAt(o->doc, "metadata.name"), o, nullptr, false, err, out);
        }
      }
      std::string crd_name = ct.crd_name;
      std::erase_if(types_, [&](const ResourceType& x) { return x.crd_name == crd_name; });
    }
  }
  if (t.namespaced && !ns.empty()) MaybeFinishNamespaceLocked(ns);
  (void)name;
}

void ApiServer::Impl::MaybeFinishNamespaceLocked(const std::string& ns) {
  const ResourceType& nst = *FindTypeLocked("", "v1", "namespaces");
  ObjPtr n = GetLocked(nst, "", ns);
  if (!n || Member(*Member(n->doc, "metadata"), "deletionTimestamp") == nullptr) return;
  std::string prefix = ns + "/";
  for (const auto& [key, coll] : data_) {
    auto it = coll.lower_bound(prefix);
    if (it != coll.end() && it->first.rfind(prefix, 0) == 0) return;
  }
  ApiError err;
  ObjPtr out;
  CommitLocked("delete", nst, "", ns, n, nullptr, false, err, out);
}

void ApiServer::Impl::ServiceRelease(const Value& svc) { services_.Release(svc); }

}  // namespace lballoc::apiserver
