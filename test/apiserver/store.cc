// The store: objects, the type registry, commits (resourceVersion, watch window, audit checks).
#include <cstdio>
#include <ctime>

#include "test/apiserver/api_server_impl.h"
#include "test/apiserver/json_util.h"

namespace lballoc::apiserver {

using rapidjson::Document;
using rapidjson::Value;

ObjPtr MakeObj(Document&& d) {
  auto o = std::make_shared<Obj>();
  o->doc.Swap(d);
  o->json = ToJson(o->doc);
  return o;
}

std::string NsKey(const std::string& ns, const std::string& name) { return ns + "/" + name; }

std::string NowRfc3339(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

bool ContentChanged(const Value& a, const Value& b, bool ignore_status) {
  auto skip = [&](const Value& name) {
    std::string_view n(name.GetString(), name.GetStringLength());
    return n == "metadata" || n == "apiVersion" || n == "kind" || (ignore_status && n == "status");
  };
  size_t na = 0, nb = 0;
  for (const auto& m : a.GetObject()) {
    if (skip(m.name)) continue;
    ++na;
    const Value* other = Member(b, std::string_view(m.name.GetString(), m.name.GetStringLength()));
    if (other == nullptr || !(*other == m.value)) return true;
  }
  for (const auto& m : b.GetObject()) {
    if (!skip(m.name)) ++nb;
  }
  return na != nb;
}

bool HasFinalizers(const Value& obj) {
  const Value* md = Member(obj, "metadata");
  const Value* f = md != nullptr ? Member(*md, "finalizers") : nullptr;
  return f != nullptr && f->IsArray() && !f->Empty();
}

bool IsEventsV1(const ResourceType& t) {
  return t.group == "events.k8s.io" && t.plural == "events";
}

std::string StoredApiVersion(const ResourceType& t) {
  return IsEventsV1(t) ? "v1" : t.group_version();
}

NameRule NameRuleOf(const ResourceType& t) {
  if (t.group.empty() && t.plural == "namespaces") return NameRule::kDnsLabel;
  if (t.group.empty() && t.plural == "services") return NameRule::kDns1035Label;
  if (t.group.empty() && t.plural == "events") return NameRule::kPathSegment;
  return NameRule::kDnsSubdomain;
}

// ---- type registry ----

const ResourceType* ApiServer::Impl::FindTypeLocked(const std::string& group,
                                                    const std::string& version,
                                                    const std::string& plural) const {
  for (const ResourceType& t : types_) {
    if (t.group == group && t.version == version && t.plural == plural) return &t;
  }
  return nullptr;
}

const ResourceType* ApiServer::Impl::StorageTypeLocked(const std::string& key) const {
  for (const ResourceType& t : types_) {
    if (t.key() == key && t.storage_version) return &t;
  }
  for (const ResourceType& t : types_) {
    if (t.key() == key) return &t;
  }
  return nullptr;
}

void ApiServer::Impl::RegisterCrdLocked(const Value& crd) {
  auto types = ResourceTypesFromCrd(crd);
  if (!types.ok()) return;
  std::string crd_name = types->front().crd_name;
  std::erase_if(types_, [&](const ResourceType& t) { return t.crd_name == crd_name; });
  for (ResourceType& t : *types) types_.push_back(std::move(t));
}

// ---- objects, commits and the watch window ----

ObjPtr ApiServer::Impl::GetLocked(const ResourceType& t, const std::string& ns,
                                  const std::string& name) const {
  auto it = data_.find(t.key());
  if (it == data_.end()) return nullptr;
  auto o = it->second.find(NsKey(ns, name));
  return o == it->second.end() ? nullptr : o->second;
}

std::string ApiServer::Impl::NewUid() {
  std::uniform_int_distribution<uint64_t> d;
  uint64_t a = d(rng_), b = d(rng_);
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

bool ApiServer::Impl::AuditLocked(const std::string& verb, const ResourceType& t,
                                  const std::string& ns, const std::string& name,
                                  const Obj* old_obj, const Value* new_obj, uint64_t rv,
                                  ApiError& err) {
  if (audits_.empty()) return true;
  std::string pending_key = t.key();
  std::string pending_ns = NsKey(ns, name);
  AuditEvent ev;
  ev.verb = verb;
  ev.group = t.group;
  ev.resource = t.plural;
  ev.namespace_ = ns;
  ev.name = name;
  const RequestIdentity& who = CurrentRequest();
  ev.subresource = who.subresource;
  ev.resource_version = std::to_string(rv);
  ev.user = who.user;
  ev.user_agent = who.user_agent;
  ev.old_object = old_obj != nullptr ? &old_obj->doc : nullptr;
  ev.new_object = new_obj;
  ev.list = [&](const std::string& key) {
    std::vector<const Value*> out;
    auto it = data_.find(key);
    bool pending_seen = false;
    if (it != data_.end()) {
      for (const auto& [k, o] : it->second) {
        if (key == pending_key && k == pending_ns) {
          pending_seen = true;
          if (new_obj != nullptr) out.push_back(new_obj);
          continue;
        }
        out.push_back(&o->doc);
      }
    }
    if (key == pending_key && !pending_seen && new_obj != nullptr) out.push_back(new_obj);
    return out;
  };
  for (const Audit& a : audits_) {
    Status s = a.check(ev);
    if (s.ok()) continue;
    violations_.push_back(
        AuditViolation{a.name, verb, t.plural, ns, name, a.reject ? "" : std::to_string(rv), s});
    if (a.reject) {
      err = FromStatus(s, t, name);
      err.message = "audit check " + a.name + " rejected the write: " + err.message;
      return false;
    }
  }
  return true;
}

bool ApiServer::Impl::CommitLocked(const std::string& verb, const ResourceType& t,
                                   const std::string& ns, const std::string& name,
                                   const ObjPtr& old, Document* doc, bool dry_run, ApiError& err,
                                   ObjPtr& out) {
  uint64_t rv = rv_ + 1;
  Document deleted;
  if (doc != nullptr) {
    Value& md = ObjectMember(*doc, "metadata", doc->GetAllocator());
    SetString(md, "resourceVersion", std::to_string(dry_run ? rv_ : rv), doc->GetAllocator());
  } else {
    deleted.CopyFrom(old->doc, deleted.GetAllocator());
    Value& md = ObjectMember(deleted, "metadata", deleted.GetAllocator());
    SetString(md, "resourceVersion", std::to_string(rv), deleted.GetAllocator());
  }
  if (dry_run) {
    out = doc != nullptr ? MakeObj(std::move(*doc)) : old;
    return true;
  }
  if (!AuditLocked(verb, t, ns, name, old.get(), doc != nullptr ? doc : nullptr, rv, err)) {
    return false;
  }
  rv_ = rv;
  Event ev;
  ev.rv = rv;
  ev.key = t.key();
  ev.ns = ns;
  auto& coll = data_[t.key()];
  if (doc != nullptr) {
    out = MakeObj(std::move(*doc));
    ev.type = old ? "MODIFIED" : "ADDED";
    ev.prev = old;
    coll[NsKey(ns, name)] = out;
  } else {
    out = MakeObj(std::move(deleted));
    ev.type = "DELETED";
    coll.erase(NsKey(ns, name));
  }
  ev.obj = out;
  events_.push_back(std::move(ev));
  while (events_.size() > std::max<size_t>(options_.watch_window, 1)) {
    horizon_ = events_.front().rv;
    events_.pop_front();
  }
  cv_.notify_all();
  return true;
}

}  // namespace lballoc::apiserver
