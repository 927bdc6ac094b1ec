#include "test/apiserver/api_server.h"

#include <rapidjson/error/en.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "operator/base/status_macros.h"
#include "test/apiserver/http_server.h"
#include "test/apiserver/json_util.h"
#include "test/apiserver/patch.h"
#include "test/apiserver/protobuf.h"
#include "test/apiserver/resources.h"
#include "test/apiserver/schema.h"
#include "test/apiserver/schema_validation.h"
#include "test/apiserver/builtin_rules.h"
#include "test/apiserver/events.h"
#include "test/apiserver/field_error.h"
#include "test/apiserver/service_status.h"
#include "test/apiserver/semantics_bridge.h"
#include "test/apiserver/table.h"

namespace lballoc::apiserver {
namespace {

using rapidjson::Document;
using rapidjson::Value;

constexpr const char* kJson = "application/json";

// ---------------------------------------------------------------------------------------------
// Errors as Kubernetes Status objects.

struct Cause {
  std::string reason;
  std::string message;
  std::string field;
};

struct ApiError {
  int code = 500;
  std::string reason;
  std::string message;
  bool has_details = false;
  std::string name, group, kind;
  std::vector<Cause> causes;
  int retry_after = 0;
};

std::string StatusJson(const ApiError& e) {
  Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  d.AddMember("kind", "Status", a);
  d.AddMember("apiVersion", "v1", a);
  d.AddMember("metadata", Value(rapidjson::kObjectType), a);
  d.AddMember("status", "Failure", a);
  SetString(d, "message", e.message, a);
  SetString(d, "reason", e.reason, a);
  if (e.has_details || !e.causes.empty() || e.retry_after > 0) {
    Value det(rapidjson::kObjectType);
    if (!e.name.empty()) SetString(det, "name", e.name, a);
    if (!e.group.empty()) SetString(det, "group", e.group, a);
    if (!e.kind.empty()) SetString(det, "kind", e.kind, a);
    if (!e.causes.empty()) {
      Value causes(rapidjson::kArrayType);
      for (const Cause& c : e.causes) {
        Value cv(rapidjson::kObjectType);
        SetString(cv, "reason", c.reason, a);
        SetString(cv, "message", c.message, a);
        SetString(cv, "field", c.field, a);
        causes.PushBack(cv, a);
      }
      det.AddMember("causes", causes, a);
    }
    if (e.retry_after > 0) det.AddMember("retryAfterSeconds", e.retry_after, a);
    d.AddMember("details", det, a);
  }
  d.AddMember("code", e.code, a);
  return ToJson(d);
}

ApiError Err(int code, std::string reason, std::string message) {
  ApiError e;
  e.code = code;
  e.reason = std::move(reason);
  e.message = std::move(message);
  return e;
}

ApiError WithDetails(ApiError e, const ResourceType& t, const std::string& name) {
  e.has_details = true;
  e.name = name;
  e.group = t.group;
  e.kind = t.plural;
  return e;
}

ApiError NotFound(const ResourceType& t, const std::string& name) {
  return WithDetails(Err(404, "NotFound", t.qualified() + " \"" + name + "\" not found"), t, name);
}

ApiError AlreadyExists(const ResourceType& t, const std::string& name) {
  return WithDetails(Err(409, "AlreadyExists", t.qualified() + " \"" + name + "\" already exists"),
                     t, name);
}

ApiError Conflict(const ResourceType& t, const std::string& name, const std::string& why) {
  return WithDetails(
      Err(409, "Conflict",
          "Operation cannot be fulfilled on " + t.qualified() + " \"" + name + "\": " + why),
      t, name);
}

ApiError OptimisticLock(const ResourceType& t, const std::string& name) {
  return Conflict(t, name,
                  "the object has been modified; please apply your changes to the latest version "
                  "and try again");
}

ApiError BadRequest(std::string message) { return Err(400, "BadRequest", std::move(message)); }

ApiError Internal(std::string message) {
  return Err(500, "InternalError", "Internal error occurred: " + message);
}

// "field: Reason text: detail" -> a cause.
Cause ParseCause(const std::string& s) {
  Cause c;
  size_t colon = s.find(": ");
  std::string rest = s;
  if (colon != std::string::npos && s.find(' ') > colon) {
    c.field = s.substr(0, colon);
    rest = s.substr(colon + 2);
  }
  c.message = rest;
  static const std::pair<const char*, const char*> kReasons[] = {
      {"Required value", "FieldValueRequired"},   {"Invalid value", "FieldValueInvalid"},
      {"Forbidden", "FieldValueForbidden"},       {"Unsupported value", "FieldValueNotSupported"},
      {"Duplicate value", "FieldValueDuplicate"}, {"Not found", "FieldValueNotFound"},
      {"Too long", "FieldValueTooLong"},          {"Too many", "FieldValueTooMany"}};
  c.reason = "FieldValueInvalid";
  for (const auto& [prefix, reason] : kReasons) {
    if (rest.rfind(prefix, 0) == 0) c.reason = reason;
  }
  return c;
}

// 422 Invalid: `<Kind>[.<group>] "<name>" is invalid: <errors>`, one cause per error.
ApiError Invalid(const ResourceType& t, const std::string& name,
                 const std::vector<std::string>& errors) {
  std::string qk = t.group.empty() ? t.kind : t.kind + "." + t.group;
  ApiError e;
  e.code = 422;
  e.reason = "Invalid";
  e.has_details = true;
  e.name = name;
  e.group = t.group;
  e.kind = t.kind;
  std::string joined;
  for (const std::string& s : errors) {
    e.causes.push_back(ParseCause(s));
    joined += (joined.empty() ? "" : ", ") + s;
  }
  e.message =
      qk + " \"" + name + "\" is invalid: " + (errors.size() > 1 ? "[" + joined + "]" : joined);
  return e;
}

// 422 Invalid from structured field errors: `<Kind>[.<group>] "<name>" is invalid: ...`.
ApiError InvalidFields(const ResourceType& t, const std::string& name,
                       const std::vector<FieldError>& errors) {
  ApiError e;
  e.code = 422;
  e.reason = "Invalid";
  e.has_details = true;
  e.name = name;
  e.group = t.group;
  e.kind = t.kind;
  for (const FieldError& f : errors) e.causes.push_back({f.reason, f.message, f.field});
  e.message = InvalidMessage(t.group.empty() ? t.kind : t.kind + "." + t.group, name, errors);
  return e;
}

// What the typed decoder does to a built-in object from a request before the registry sees it:
// Time/MicroTime fields parsed and rewritten in UTC, and events.k8s.io/v1 Events converted to the
// stored core/v1 shape. A value the decoder refuses is a 400 for a create or update and, as the
// patch handler reports it, a 422 on field "patch" for a patch.
bool DecodeObject(const ResourceType& t, Document& d, bool from_patch, ApiError& err) {
  if (!d.IsObject() || t.custom) return true;
  Status s = NormalizeTypedTimes(t.group, t.kind, d, d.GetAllocator());
  if (!s.ok()) {
    if (from_patch) {
      FieldError fe = InvalidError("patch", GoQuote(ToJson(d)), s.message());
      err = Err(422, "Invalid", InvalidMessage("", "", {fe}));
      err.has_details = true;
      err.causes.push_back({fe.reason, fe.message, fe.field});
    } else {
      err = BadRequest(t.kind + " in version \"" + t.version + "\" cannot be handled as a " +
                       t.kind + ": " + s.message());
    }
    return false;
  }
  if (t.group.empty() && t.plural == "events") NormalizeCoreEvent(d, d.GetAllocator());
  if (t.group == "events.k8s.io" && t.plural == "events") {
    Document core = EventsV1EventToCore(d);
    d.Swap(core);
  }
  return true;
}

// A Status from the semantics library, as an HTTP error about one object.
ApiError FromStatus(const Status& s, const ResourceType& t, const std::string& name) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument: {
      // The library may already give the full "Kind "name" is invalid: ..." message.
      const std::string& m = s.message();
      size_t marker = m.find("\" is invalid: ");
      std::string body = marker == std::string::npos ? m : m.substr(marker + 14);
      std::vector<std::string> errors;
      if (body.size() > 2 && body.front() == '[' && body.back() == ']') {
        body = body.substr(1, body.size() - 2);
        size_t start = 0;
        // Errors are "field: ..." separated by ", " before a field path; split conservatively.
        for (size_t i = 0; i + 2 < body.size(); ++i) {
          if (body.compare(i, 2, ", ") == 0) {
            size_t next_colon = body.find(": ", i + 2);
            size_t next_space = body.find(' ', i + 2);
            if (next_colon != std::string::npos && next_colon <= next_space) {
              errors.push_back(body.substr(start, i - start));
              start = i + 2;
            }
          }
        }
        errors.push_back(body.substr(start));
      } else {
        errors.push_back(body);
      }
      return Invalid(t, name, errors);
    }
    case StatusCode::kNotFound:
      return WithDetails(Err(404, "NotFound", s.message()), t, name);
    case StatusCode::kAlreadyExists:
      return WithDetails(Err(409, "AlreadyExists", s.message()), t, name);
    case StatusCode::kAborted:
      return WithDetails(Err(409, "Conflict", s.message()), t, name);
    case StatusCode::kPermissionDenied:
      return Err(403, "Forbidden", s.message());
    case StatusCode::kUnauthenticated:
      return Err(401, "Unauthorized", s.message());
    case StatusCode::kGone:
      return Err(410, "Expired", s.message());
    case StatusCode::kResourceExhausted:
      return Err(429, "TooManyRequests", s.message());
    case StatusCode::kUnavailable:
      return Err(503, "ServiceUnavailable", s.message());
    case StatusCode::kFailedPrecondition:
      return Err(422, "Invalid", s.message());
    default:
      return Internal(s.message());
  }
}

// ---------------------------------------------------------------------------------------------
// Storage.

struct Obj {
  Document doc;
  std::string json;
};
using ObjPtr = std::shared_ptr<const Obj>;

ObjPtr MakeObj(Document&& d) {
  auto o = std::make_shared<Obj>();
  o->doc.Swap(d);
  o->json = ToJson(o->doc);
  return o;
}

struct Event {
  uint64_t rv;
  const char* type;  // ADDED, MODIFIED, DELETED
  std::string key;   // resource storage key
  std::string ns;
  ObjPtr obj;
  ObjPtr prev;  // for MODIFIED: the object before
};

std::string NsKey(const std::string& ns, const std::string& name) { return ns + "/" + name; }

std::string NowRfc3339(std::chrono::system_clock::time_point t = std::chrono::system_clock::now()) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// True when the objects differ outside metadata (and outside status when `ignore_status`).
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

bool IsEventsV1(const ResourceType& t) { return t.group == "events.k8s.io" && t.plural == "events"; }

// The apiVersion objects of `t` are stored with (events.k8s.io/v1 Events are stored as core/v1).
std::string StoredApiVersion(const ResourceType& t) {
  return IsEventsV1(t) ? "v1" : t.group_version();
}

// How the name of an object of `t` is checked.
NameRule NameRuleOf(const ResourceType& t) {
  if (t.group.empty() && t.plural == "namespaces") return NameRule::kDnsLabel;
  if (t.group.empty() && t.plural == "services") return NameRule::kDns1035Label;
  if (t.group.empty() && t.plural == "events") return NameRule::kPathSegment;
  return NameRule::kDnsSubdomain;
}

// Per-request write options.
struct WriteOpts {
  bool dry_run = false;
  std::string field_validation;       // Strict, Warn, Ignore ("" = Warn)
  std::vector<std::string> warnings;  // for Warning: response headers
};

// A parsed resource URL.
struct Route {
  std::string group;
  std::string version;
  std::string ns;  // empty: cluster scope or all namespaces
  std::string resource;
  std::string name;
  std::string subresource;
  bool watch_path = false;  // legacy /watch/ prefix
};

}  // namespace

// ---------------------------------------------------------------------------------------------

class ApiServer::Impl {
 public:
  explicit Impl(const Options& options) : options_(options) {
    rng_.seed(std::random_device{}());
    for (const ResourceType& t : BuiltinResourceTypes()) types_.push_back(t);
  }

  Status Start() {
    HttpServer::Options ho;
    ho.bind_address = options_.bind_address;
    ho.port = options_.port;
    if (options_.self_signed_tls && options_.tls_cert_pem.empty()) {
      LB_ASSIGN_OR_RETURN(SelfSigned ss, MakeSelfSignedCert());
      options_.tls_cert_pem = ss.cert_pem;
      options_.tls_key_pem = ss.key_pem;
    }
    ho.tls_cert_pem = options_.tls_cert_pem;
    ho.tls_key_pem = options_.tls_key_pem;
    faults_.Configure(options_.faults);
    for (const char* ns : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
      Document d;
      std::string json =
          std::string(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":")") + ns +
          R"("}})";
      d.Parse(json.c_str());
      std::lock_guard<std::mutex> lock(mu_);
      ApiError err;
      ObjPtr out;
      WriteOpts wo;
      if (!CreateLocked(*FindTypeLocked("", "v1", "namespaces"), "", std::move(d), wo, err, out)) {
        return InternalError("bootstrap namespace " + std::string(ns) + ": " + err.message);
      }
    }
    LB_ASSIGN_OR_RETURN(http_, HttpServer::Start(ho, [this](const HttpRequest& r,
                                                            ResponseWriter& w) { Handle(r, w); }));
    return Status();
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (http_) http_->Stop();
  }

  std::string url() const {
    return std::string(http_->tls() ? "https" : "http") +
           "://127.0.0.1:" + std::to_string(http_->port());
  }
  int port() const { return http_->port(); }
  std::string ca_pem() const { return options_.tls_cert_pem; }

  std::string Kubeconfig() const {
    std::string y =
        "apiVersion: v1\nkind: Config\nclusters:\n- name: lballoc\n  cluster:\n"
        "    server: " +
        url() + "\n";
    if (http_->tls()) {
      y += "    certificate-authority-data: " + Base64Encode(options_.tls_cert_pem) + "\n";
    }
    y += "users:\n- name: lballoc\n  user:\n";
    if (!options_.token.empty()) {
      y += "    token: " + options_.token + "\n";
    } else {
      y += "    {}\n";
    }
    y += "contexts:\n- name: lballoc\n  context:\n    cluster: lballoc\n    user: lballoc\n"
         "    namespace: default\ncurrent-context: lballoc\npreferences: {}\n";
    return y;
  }

  FaultInjector& faults() { return faults_; }

  void AddAuditCheck(const std::string& name, AuditCheck check, bool reject) {
    std::lock_guard<std::mutex> lock(mu_);
    audits_.push_back({name, std::move(check), reject});
  }

  std::vector<AuditViolation> violations() const {
    std::lock_guard<std::mutex> lock(mu_);
    return violations_;
  }

  uint64_t resource_version() const {
    std::lock_guard<std::mutex> lock(mu_);
    return rv_;
  }

  int active_watches() const { return active_watches_.load(); }

 private:
  struct Audit {
    std::string name;
    AuditCheck check;
    bool reject;
  };

  // ---- type registry (mu_ held) ----

  const ResourceType* FindTypeLocked(const std::string& group, const std::string& version,
                                     const std::string& plural) const {
    for (const ResourceType& t : types_) {
      if (t.group == group && t.version == version && t.plural == plural) return &t;
    }
    return nullptr;
  }

  const ResourceType* StorageTypeLocked(const std::string& key) const {
    for (const ResourceType& t : types_) {
      if (t.key() == key && t.storage_version) return &t;
    }
    for (const ResourceType& t : types_) {
      if (t.key() == key) return &t;
    }
    return nullptr;
  }

  // ---- rendering ----

  // The object as served at `t`'s version.
  static std::string Render(const Obj& o, const ResourceType& t) {
    if (StrAt(o.doc, "apiVersion") == t.group_version()) return o.json;
    return ToJson(Served(o.doc, t));
  }

  // The stored object in the shape `t` serves (events.k8s.io/v1 Events are converted from the
  // stored core/v1 shape; other versions only change apiVersion).
  static Document Served(const Value& stored, const ResourceType& t) {
    if (IsEventsV1(t)) return CoreEventToEventsV1(stored);
    Document d;
    d.CopyFrom(stored, d.GetAllocator());
    SetString(d, "apiVersion", t.group_version(), d.GetAllocator());
    return d;
  }

  static bool WantsTable(const HttpRequest& r) {
    return r.Header("accept").find("as=Table") != std::string::npos;
  }

  std::string TableJson(const ResourceType& t, const std::vector<ObjPtr>& objs,
                        const std::string& rv, const std::string& cont,
                        const std::string& include_object) const {
    Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    d.AddMember("kind", "Table", a);
    d.AddMember("apiVersion", "meta.k8s.io/v1", a);
    Value md(rapidjson::kObjectType);
    if (!rv.empty()) SetString(md, "resourceVersion", rv, a);
    if (!cont.empty()) SetString(md, "continue", cont, a);
    d.AddMember("metadata", md, a);
    AddColumnDefinitions(t, d, a);
    Value rows(rapidjson::kArrayType);
    int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    for (const ObjPtr& o : objs) {
      const Value* src = &o->doc;
      Document copy;
      if (StrAt(o->doc, "apiVersion") != t.group_version()) {
        copy = Served(o->doc, t);
        src = &copy;
      }
      rows.PushBack(TableRow(t, *src, include_object, now, a), a);
    }
    d.AddMember("rows", rows, a);
    return ToJson(d);
  }

  void SendError(ResponseWriter& w, const ApiError& e) {
    HeaderList h;
    if (e.retry_after > 0) h.emplace_back("Retry-After", std::to_string(e.retry_after));
    w.Send(e.code, kJson, StatusJson(e), h);
  }

  // ---- the write path (mu_ held) ----

  // Runs the audit checks on a proposed write; false (and `err`) when a rejecting check fails.
  bool AuditLocked(const std::string& verb, const ResourceType& t, const std::string& ns,
                   const std::string& name, const Obj* old_obj, const Value* new_obj, uint64_t rv,
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

  // Commits a new state for one object (`doc` null deletes it). Stamps the resourceVersion.
  bool CommitLocked(const std::string& verb, const ResourceType& t, const std::string& ns,
                    const std::string& name, const ObjPtr& old, Document* doc, bool dry_run,
                    ApiError& err, ObjPtr& out) {
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

  ObjPtr GetLocked(const ResourceType& t, const std::string& ns, const std::string& name) const {
    auto it = data_.find(t.key());
    if (it == data_.end()) return nullptr;
    auto o = it->second.find(NsKey(ns, name));
    return o == it->second.end() ? nullptr : o->second;
  }

  std::string NewUid() {
    std::uniform_int_distribution<uint64_t> d;
    uint64_t a = d(rng_), b = d(rng_);
    char buf[40];
    std::snprintf(buf, sizeof(buf), "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                  static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                  static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)),
                  static_cast<unsigned long long>(b & 0xffffffffffffULL));
    return buf;
  }

  bool CheckNamespaceLocked(const std::string& ns, bool creating, ApiError& err) {
    const ResourceType& nst = *FindTypeLocked("", "v1", "namespaces");
    ObjPtr n = GetLocked(nst, "", ns);
    if (!n) {
      err = NotFound(nst, ns);
      return false;
    }
    if (creating && Member(*Member(n->doc, "metadata"), "deletionTimestamp") != nullptr) {
      err = Err(
          403, "Forbidden",
          "unable to create new content in namespace " + ns + " because it is being terminated");
      err.has_details = true;
      err.name = ns;
      err.kind = "namespaces";
      return false;
    }
    return true;
  }

  // Type-specific defaulting and validation on create. `d` is the full object.
  bool PrepareCreateLocked(const ResourceType& t, const std::string& name, Document& d,
                           ApiError& err) {
    auto& a = d.GetAllocator();
    const bool core_events = t.group.empty() && t.plural == "events";
    const bool is_service = t.group.empty() && t.plural == "services";
    if (t.custom && t.has_status) RemoveMember(d, "status");
    std::vector<FieldError> errors;
    if (core_events) {
      // The legacy Event validation checks no metadata; the generic checks run when it passed.
      errors = ValidateEventCreate(d, /*events_api=*/false);
      if (errors.empty()) errors = ValidateObjectMetaCreate(d, NameRule::kPathSegment);
    } else {
      // Services check their name (a DNS-1035 label) in their own validation.
      errors = ValidateObjectMetaCreate(d, NameRuleOf(t), /*check_name=*/!is_service);
    }
    if (IsEventsV1(t)) {
      for (FieldError& e : ValidateEventCreate(d, /*events_api=*/true)) errors.push_back(e);
    }
    if (t.group == "coordination.k8s.io" && t.plural == "leases") {
      for (FieldError& e : ValidateLeaseSpec(d)) errors.push_back(e);
    }
    if (t.custom && t.schema) {
      for (FieldError& e : ValidateAgainstSchema(d, *t.schema, "", nullptr)) errors.push_back(e);
      for (FieldError& e : ValidateListTypes(d, *t.schema)) errors.push_back(e);
    }
    if (!errors.empty()) {
      err = InvalidFields(t, name, errors);
      return false;
    }
    if (t.group.empty() && t.plural == "namespaces") {
      Value& spec = ObjectMember(d, "spec", a);
      Value fin(rapidjson::kArrayType);
      fin.PushBack("kubernetes", a);
      SetMember(spec, "finalizers", std::move(fin), a);
      Value& status = ObjectMember(d, "status", a);
      SetString(status, "phase", "Active", a);
      Value& md = ObjectMember(d, "metadata", a);
      Value& labels = ObjectMember(md, "labels", a);
      SetString(labels, "kubernetes.io/metadata.name", name, a);
      return true;
    }
    if (is_service) {
      SetMember(d, "status", Value(rapidjson::kObjectType), a);
      ObjectMember(*MutableMember(d, "status"), "loadBalancer", a);
      std::vector<FieldError> errors;
      Status s = services_.Create(d, &errors);
      if (!s.ok()) {
        err = s.code() == StatusCode::kInvalidArgument && !errors.empty()
                  ? InvalidFields(t, name, errors)
                  : FromStatus(s, t, name);
        return false;
      }
      return true;
    }
    if (t.group == "apiextensions.k8s.io" && t.plural == "customresourcedefinitions") {
      return PrepareCrdLocked(t, name, d, nullptr, err);
    }
    return true;
  }

  bool PrepareCrdLocked(const ResourceType& t, const std::string& name, Document& d,
                        const Value* old, ApiError& err) {
    auto types = ResourceTypesFromCrd(d);
    if (!types.ok()) {
      err = Invalid(t, name, {types.status().message()});
      return false;
    }
    const ResourceType& first = types->front();
    if (name != first.plural + "." + first.group) {
      err = Invalid(t, name,
                    {"metadata.name: Invalid value: \"" + name +
                     "\": must be spec.names.plural+\".\"+spec.group"});
      return false;
    }
    if (old == nullptr) {
      for (const ResourceType& existing : types_) {
        if (existing.group == first.group && existing.plural == first.plural) {
          err = Invalid(
              t, name,
              {"spec.names.plural: Invalid value: \"" + first.plural + "\": is already in use"});
          return false;
        }
      }
    }
    auto& a = d.GetAllocator();
    Value status(rapidjson::kObjectType);
    const Value* names = Member(*Member(d, "spec"), "names");
    Value accepted(*names, a);
    if (Member(accepted, "singular") == nullptr) SetString(accepted, "singular", first.singular, a);
    if (Member(accepted, "listKind") == nullptr)
      SetString(accepted, "listKind", first.list_kind, a);
    status.AddMember("acceptedNames", accepted, a);
    Value conds(rapidjson::kArrayType);
    std::string now = NowRfc3339();
    for (const char* ct : {"NamesAccepted", "Established"}) {
      Value c(rapidjson::kObjectType);
      SetString(c, "type", ct, a);
      SetString(c, "status", "True", a);
      SetString(c, "lastTransitionTime", now, a);
      SetString(c, "reason",
                std::string(ct) == "Established" ? "InitialNamesAccepted" : "NoConflicts", a);
      SetString(c, "message",
                std::string(ct) == "Established" ? "the initial names have been accepted"
                                                 : "no conflicts found",
                a);
      conds.PushBack(c, a);
    }
    status.AddMember("conditions", conds, a);
    Value stored(rapidjson::kArrayType);
    stored.PushBack(Value(first.version.c_str(), a), a);
    status.AddMember("storedVersions", stored, a);
    SetMember(d, "status", std::move(status), a);
    return true;
  }

  void RegisterCrdLocked(const Value& crd) {
    auto types = ResourceTypesFromCrd(crd);
    if (!types.ok()) return;
    std::string crd_name = types->front().crd_name;
    std::erase_if(types_, [&](const ResourceType& t) { return t.crd_name == crd_name; });
    for (ResourceType& t : *types) types_.push_back(std::move(t));
  }

  // Creates an object. `d` is the request body. Returns false with `err` on failure.
  // Prunes and defaults a custom resource against its schema; with fieldValidation=Strict an
  // unknown field fails the write, with Warn (the default) it becomes a warning.
  bool ApplySchemaLocked(const ResourceType& t, Document& d, WriteOpts& wo, ApiError& err) {
    if (!t.custom || !t.schema) return true;
    std::vector<std::string> pruned = PruneAndDefault(d, *t.schema, d.GetAllocator());
    if (pruned.empty() || wo.field_validation == "Ignore") return true;
    if (wo.field_validation == "Strict") {
      std::string list;
      for (const auto& p : pruned)
        list += (list.empty() ? "" : ", ") + ("unknown field \"" + p + "\"");
      err = BadRequest(t.kind + " in version \"" + t.version + "\" cannot be handled as a " +
                       t.kind + ": strict decoding error: " + list);
      return false;
    }
    for (const auto& p : pruned) wo.warnings.push_back("unknown field \"" + p + "\"");
    return true;
  }

  bool CreateLocked(const ResourceType& t, const std::string& ns, Document&& d, WriteOpts& wo,
                    ApiError& err, ObjPtr& out) {
    bool dry_run = wo.dry_run;
    auto& a = d.GetAllocator();
    if (!d.IsObject()) {
      err = BadRequest("the body of the request must be a JSON object");
      return false;
    }
    std::string kind = StrAt(d, "kind");
    if (!kind.empty() && kind != t.kind) {
      err = BadRequest("the API version in the data (" + StrAt(d, "apiVersion") +
                       ") does not match the expected API version (" + t.group_version() +
                       ") or kind (" + kind + ") does not match " + t.kind);
      return false;
    }
    SetString(d, "kind", t.kind, a);
    SetString(d, "apiVersion", StoredApiVersion(t), a);
    Value& md = ObjectMember(d, "metadata", a);
    std::string body_ns = StrAt(md, "namespace");
    if (t.namespaced) {
      if (!body_ns.empty() && body_ns != ns) {
        err = BadRequest(
            "the namespace of the provided object does not match the namespace sent "
            "on the request");
        return false;
      }
      SetString(md, "namespace", ns, a);
    } else {
      RemoveMember(md, "namespace");
    }
    if (!StrAt(md, "resourceVersion").empty()) {
      err = Err(500, "", "resourceVersion should not be set on objects to be created");
      return false;
    }
    std::string name = StrAt(md, "name");
    std::string generate = StrAt(md, "generateName");
    if (name.empty() && !generate.empty()) {
      static const char kChars[] = "bcdfghjklmnpqrstvwxz2456789";
      std::string prefix = generate.substr(0, 58);
      for (int attempt = 0; attempt < 16; ++attempt) {
        std::string candidate = prefix;
        for (int i = 0; i < 5; ++i) {
          candidate += kChars[std::uniform_int_distribution<int>(0, 26)(rng_)];
        }
        if (!GetLocked(t, ns, candidate)) {
          name = candidate;
          break;
        }
      }
      SetString(md, "name", name, a);
    }
    if (name.empty()) {
      err = InvalidFields(t, name,
                          {RequiredError("metadata.name", "name or generateName is required")});
      return false;
    }
    if (t.namespaced && !CheckNamespaceLocked(ns, true, err)) return false;
    if (GetLocked(t, ns, name)) {
      err = AlreadyExists(t, name);
      return false;
    }
    for (const char* f : {"uid", "creationTimestamp", "deletionTimestamp",
                          "deletionGracePeriodSeconds", "generation", "managedFields"}) {
      RemoveMember(md, f);
    }
    SetString(md, "uid", NewUid(), a);
    SetString(md, "creationTimestamp", NowRfc3339(), a);
    if (t.tracks_generation) md.AddMember("generation", 1, a);
    // Custom resources are pruned and defaulted as they are decoded, before the strategy.
    if (!ApplySchemaLocked(t, d, wo, err)) return false;
    if (!PrepareCreateLocked(t, name, d, err)) return false;
    if (!CommitLocked("create", t, ns, name, nullptr, &d, dry_run, err, out)) {
      if (!dry_run && t.plural == "services" && t.group.empty()) ServiceRelease(d);
      return false;
    }
    if (dry_run && t.plural == "services" && t.group.empty()) ServiceRelease(out->doc);
    if (!dry_run && t.group == "apiextensions.k8s.io") RegisterCrdLocked(out->doc);
    return true;
  }

  // Replaces an object with `d` (already a full object) following update semantics.
  // `status_sub` selects /status. For a patch `d` is the patched stored object (it carries the
  // stored version unless the patch changed it). `code` is 200, or 201 when a PUT created the
  // object.
  bool UpdateLocked(const std::string& verb, const ResourceType& t, const std::string& ns,
                    const std::string& name, bool status_sub, Document&& d, WriteOpts& wo,
                    ApiError& err, ObjPtr& out, int& code) {
    code = 200;
    bool dry_run = wo.dry_run;
    if (!d.IsObject()) {
      err = BadRequest("the body of the request must be a JSON object");
      return false;
    }
    auto& a = d.GetAllocator();
    Value& md = ObjectMember(d, "metadata", a);
    std::string body_name = StrAt(md, "name");
    if (body_name.empty()) {
      // The real server's words for a body without metadata.name (the URL names the object).
      err = BadRequest("the name of the object (" + name +
                       " based on URL) was undeterminable: name must be provided");
      return false;
    }
    if (body_name != name) {
      err = BadRequest("the name of the object (" + body_name +
                       ") does not match the name on the URL (" + name + ")");
      return false;
    }
    std::string body_ns = StrAt(md, "namespace");
    if (t.namespaced && !body_ns.empty() && body_ns != ns) {
      err = BadRequest(
          "the namespace of the provided object does not match the namespace sent "
          "on the request");
      return false;
    }
    std::string kind = StrAt(d, "kind");
    if (!kind.empty() && kind != t.kind) {
      err = BadRequest("the kind of the object (" + kind + ") does not match " + t.kind);
      return false;
    }
    ObjPtr old = GetLocked(t, ns, name);
    if (!old) {
      if (verb == "update" && !status_sub && t.allow_create_on_update) {
        // The strategy creates on update; the stored object's version is whatever the create
        // gets, so a version in the body is not a precondition.
        RemoveMember(md, "resourceVersion");
        if (!CreateLocked(t, ns, std::move(d), wo, err, out)) return false;
        code = 201;
        return true;
      }
      err = NotFound(t, name);
      return false;
    }
    const Value& old_md = *Member(old->doc, "metadata");
    std::string rv = StrAt(md, "resourceVersion");
    if (rv.empty()) {
      if (!t.allow_unconditional_update) {
        // The generic store names the resource, not the kind: `leases.coordination.k8s.io "x"`.
        FieldError fe =
            InvalidError("metadata.resourceVersion", "0", "must be specified for an update");
        err = InvalidFields(t, name, {fe});
        err.kind = t.plural;
        err.message = InvalidMessage(t.qualified(), name, {fe});
        return false;
      }
    } else if (rv != StrAt(old_md, "resourceVersion")) {
      err = OptimisticLock(t, name);
      return false;
    }
    std::string uid = StrAt(md, "uid");
    if (!uid.empty() && uid != StrAt(old_md, "uid")) {
      err = Invalid(t, name, {"metadata.uid: Invalid value: \"" + uid + "\": field is immutable"});
      return false;
    }
    const bool is_service = t.group.empty() && t.plural == "services";
    Document next;
    auto& na = next.GetAllocator();
    if (status_sub && t.custom) {
      // A custom resource's status strategy keeps everything of the stored object but status.
      next.CopyFrom(old->doc, na);
      const Value* st = Member(d, "status");
      if (st != nullptr) {
        SetMember(next, "status", Value(*st, na), na);
      } else {
        RemoveMember(next, "status");
      }
    } else {
      // The v1 defaulter runs on the decoded request body, before the strategy resets spec.
      if (is_service && status_sub) DefaultIngressIpMode(d, a);
      next.CopyFrom(d, na);
      SetString(next, "kind", t.kind, na);
      SetString(next, "apiVersion", StoredApiVersion(t), na);
      // The built-in status strategies (Service, Namespace, CustomResourceDefinition) reset only
      // spec from the stored object, so labels, annotations and finalizers come from the request;
      // an update of the main resource keeps the stored status.
      const char* kept = status_sub ? "spec" : t.has_status ? "status" : nullptr;
      if (kept != nullptr) {
        const Value* v = Member(old->doc, kept);
        if (v != nullptr) {
          SetMember(next, kept, Value(*v, na), na);
        } else {
          RemoveMember(next, kept);
        }
      }
      if (!status_sub && t.group.empty() && t.plural == "namespaces") {
        // spec.finalizers changes only through /finalize.
        const Value* spec = Member(old->doc, "spec");
        const Value* fin = spec != nullptr ? Member(*spec, "finalizers") : nullptr;
        Value& nspec = ObjectMember(next, "spec", na);
        if (fin != nullptr) {
          SetMember(nspec, "finalizers", Value(*fin, na), na);
        } else {
          RemoveMember(nspec, "finalizers");
        }
      }
      Value& nmd = ObjectMember(next, "metadata", na);
      SetString(nmd, "name", name, na);
      if (t.namespaced) SetString(nmd, "namespace", ns, na);
      for (const char* f : {"uid", "creationTimestamp", "deletionTimestamp",
                            "deletionGracePeriodSeconds", "generation"}) {
        const Value* v = Member(old_md, f);
        if (v != nullptr) {
          SetMember(nmd, f, Value(*v, na), na);
        } else {
          RemoveMember(nmd, f);
        }
      }
      std::vector<FieldError> errors = ValidateObjectMetaUpdate(next, old->doc);
      if (!status_sub && (t.group.empty() || IsEventsV1(t)) && t.plural == "events") {
        for (FieldError& e : ValidateEventUpdate(next, old->doc, IsEventsV1(t))) {
          errors.push_back(e);
        }
      }
      if (!status_sub && t.group == "coordination.k8s.io" && t.plural == "leases") {
        for (FieldError& e : ValidateLeaseSpec(next)) errors.push_back(e);
      }
      if (!errors.empty()) {
        err = InvalidFields(t, name, errors);
        return false;
      }
      if (status_sub) {
        if (is_service) {
          std::vector<FieldError> errors = ValidateLoadBalancerStatus(next, old->doc);
          if (!errors.empty()) {
            err = InvalidFields(t, name, errors);
            return false;
          }
        }
      } else {
        if (t.tracks_generation && ContentChanged(old->doc, next, t.has_status)) {
          const Value* g = Member(old_md, "generation");
          int64_t gen = g != nullptr && g->IsInt64() ? g->GetInt64() : 0;
          SetMember(nmd, "generation", Value(gen + 1), na);
        }
        if (is_service) {
          std::vector<FieldError> errors;
          Status s = services_.Update(old->doc, next, &errors);
          if (!s.ok()) {
            err = s.code() == StatusCode::kInvalidArgument && !errors.empty()
                      ? InvalidFields(t, name, errors)
                      : FromStatus(s, t, name);
            return false;
          }
        }
        if (t.group == "apiextensions.k8s.io") {
          const Value* st = Member(old->doc, "status");
          if (!PrepareCrdLocked(t, name, next, &old->doc, err)) return false;
          if (st != nullptr) SetMember(next, "status", Value(*st, na), na);
        }
      }
    }
    if (!ApplySchemaLocked(t, next, wo, err)) return false;
    if (t.custom && t.schema && !ValidateCustomResourceUpdateLocked(t, name, next, old->doc,
                                                                    status_sub, err)) {
      return false;
    }
    if (t.custom && t.tracks_generation && !status_sub) {
      // Defaults may have been what changed; recompute generation on the final content.
      Value& nmd = ObjectMember(next, "metadata", na);
      const Value* g = Member(old_md, "generation");
      int64_t gen = g != nullptr && g->IsInt64() ? g->GetInt64() : 0;
      SetMember(nmd, "generation",
                Value(ContentChanged(old->doc, next, t.has_status) ? gen + 1 : gen), na);
    }
    // A no-op writes nothing: same content apart from resourceVersion.
    {
      Value& nmd = ObjectMember(next, "metadata", na);
      SetString(nmd, "resourceVersion", StrAt(old_md, "resourceVersion"), na);
      if (next == old->doc) {
        out = old;
        return true;
      }
    }
    // Finalizers all gone on an object being deleted: the update deletes it.
    if (Member(*Member(next, "metadata"), "deletionTimestamp") != nullptr && !HasFinalizers(next)) {
      if (!CommitLocked(verb, t, ns, name, old, nullptr, dry_run, err, out)) return false;
      if (!dry_run) AfterDeleteLocked(t, ns, name, old);
      // The final state, as the real server returns it, carries the deletion's version.
      return true;
    }
    if (!CommitLocked(verb, t, ns, name, old, &next, dry_run, err, out)) return false;
    if (!dry_run && t.group == "apiextensions.k8s.io") RegisterCrdLocked(out->doc);
    return true;
  }

  // Schema validation of an updated custom resource, ratcheting against the stored one. A /status
  // write validates only status, against the status schema; the list-type checks cover the whole
  // object and apply only when the stored object passed them.
  bool ValidateCustomResourceUpdateLocked(const ResourceType& t, const std::string& name,
                                          const Value& next, const Value& old, bool status_sub,
                                          ApiError& err) {
    std::vector<FieldError> errors;
    if (status_sub) {
      const Value* props = Member(*t.schema, "properties");
      const Value* status_schema = props != nullptr ? Member(*props, "status") : nullptr;
      const Value* status = Member(next, "status");
      if (status_schema != nullptr && status != nullptr) {
        errors = ValidateAgainstSchema(*status, *status_schema, "status", Member(old, "status"));
      }
    } else {
      errors = ValidateAgainstSchema(next, *t.schema, "", &old);
    }
    if (ValidateListTypes(old, *t.schema).empty()) {
      for (FieldError& e : ValidateListTypes(next, *t.schema)) errors.push_back(e);
    }
    if (errors.empty()) return true;
    err = InvalidFields(t, name, errors);
    return false;
  }

  // Cleanup after an object is really gone: release Service IPs, drop a CRD's objects,
  // finish a terminating namespace.
  void AfterDeleteLocked(const ResourceType& t, const std::string& ns, const std::string& name,
                         const ObjPtr& old) {
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

  void MaybeFinishNamespaceLocked(const std::string& ns) {
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

  // Deletes one object following the finalizer rules. `code` is the HTTP code, `body` the
  // response.
  bool DeleteLocked(const ResourceType& t, const std::string& ns, const std::string& name,
                    const Value* options, bool dry_run, ApiError& err, std::string& body) {
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
          err =
              Conflict(t, name,
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

  void ServiceRelease(const Value& svc) { services_.Release(svc); }

  // ---- HTTP ----

  void Handle(const HttpRequest& r, ResponseWriter& w);
  void Serve(const HttpRequest& r, ResponseWriter& w);
  bool Authorize(const HttpRequest& r, ResponseWriter& w, const std::string& verb,
                 const Route& route);
  void HandleDiscovery(const HttpRequest& r, ResponseWriter& w);
  void HandleResource(const HttpRequest& r, ResponseWriter& w, Route route);
  void HandleList(const HttpRequest& r, ResponseWriter& w, const ResourceType& t,
                  const Route& route, const Matcher& match);
  void HandleWatch(const HttpRequest& r, ResponseWriter& w, const ResourceType& t,
                   const Route& route, const Matcher& match);

  Options options_;
  FaultInjector faults_;
  std::unique_ptr<HttpServer> http_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<ResourceType> types_;
  std::map<std::string, std::map<std::string, ObjPtr>> data_;  // key -> ns/name -> object
  uint64_t rv_ = 0;
  uint64_t horizon_ = 0;  // events with rv <= horizon_ have left the window
  std::deque<Event> events_;
  std::map<std::string, std::shared_ptr<std::vector<ObjPtr>>> snapshots_;  // paged lists
  std::deque<std::string> snapshot_order_;
  std::vector<Audit> audits_;
  std::vector<AuditViolation> violations_;
  std::mt19937_64 rng_;
  std::atomic<int> active_watches_{0};
  ServiceSemantics services_;
};

namespace {

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

// Parses /api/v1/... and /apis/g/v/... resource paths; false for anything else.
bool ParseRoute(const std::vector<std::string>& seg, Route& r) {
  size_t i;
  if (seg.size() >= 3 && seg[0] == "api") {
    r.version = seg[1];
    i = 2;
  } else if (seg.size() >= 4 && seg[0] == "apis") {
    r.group = seg[1];
    r.version = seg[2];
    i = 3;
  } else {
    return false;
  }
  std::vector<std::string> rest(seg.begin() + static_cast<long>(i), seg.end());
  if (!rest.empty() && rest[0] == "watch") {
    r.watch_path = true;
    rest.erase(rest.begin());
  }
  if (rest.size() >= 3 && rest[0] == "namespaces" && rest[2] != "status" && rest[2] != "finalize") {
    r.ns = rest[1];
    rest.erase(rest.begin(), rest.begin() + 2);
  }
  if (rest.empty() || rest.size() > 3) return false;
  r.resource = rest[0];
  if (rest.size() >= 2) r.name = rest[1];
  if (rest.size() == 3) r.subresource = rest[2];
  return true;
}

// A boolean query parameter as kube-apiserver reads one (apimachinery's
// Convert_Slice_string_To_bool, and the request-info resolver for `watch`): absent is false, "0"
// and any case of "false" are false, every other value (including "", "True" and "yes") is true.
// Never an error, unlike Go's strconv.ParseBool.
bool BoolParam(const HttpRequest& r, const std::string& name) {
  if (!r.HasParam(name)) return false;
  std::string v = r.Param(name);
  for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return v != "0" && v != "false";
}

std::string VerbOf(const HttpRequest& r, const Route& route) {
  const std::string& m = r.method;
  if (m == "GET") {
    if (!route.name.empty()) return "get";
    return route.watch_path || BoolParam(r, "watch") ? "watch" : "list";
  }
  if (m == "POST") return "create";
  if (m == "PUT") return "update";
  if (m == "PATCH") return "patch";
  if (m == "DELETE") return route.name.empty() ? "deletecollection" : "delete";
  return "";
}

// An object's key within a list, what a continue token's "start" is relative to: the name within
// one namespace or a cluster-scoped resource, "namespace/name" in a list across namespaces. The
// store's "namespace/name" order sorts these keys the same way.
std::string ListKey(const Value& obj, const std::string& list_ns, bool namespaced) {
  std::string name = StrAt(obj, "metadata.name");
  if (!namespaced || !list_ns.empty()) return name;
  return StrAt(obj, "metadata.namespace") + "/" + name;
}

struct ContinueToken {
  uint64_t rv = 0;
  std::string start;  // the first key of the next page is >= start
};

// The real server's continue token: base64url (no padding) of
// {"v":"meta.k8s.io/v1","rv":RV,"start":"<last key of this page>\u0000"}. URL-safe and opaque.
std::string EncodeContinue(uint64_t rv, const std::string& last_key) {
  return Base64Encode("{\"v\":\"meta.k8s.io/v1\",\"rv\":" + std::to_string(rv) +
                          ",\"start\":" + Quote(last_key + std::string(1, '\0')) + "}",
                      /*url=*/true);
}

// Decodes a token; false with `why` (the real server's wording) when it is not one.
bool DecodeContinue(const std::string& text, ContinueToken& out, std::string& why) {
  std::optional<std::string> raw = Base64Decode(text, /*url=*/true);
  if (!raw) {
    why = "continue key is not valid: illegal base64 data";
    return false;
  }
  Document d;
  d.Parse(raw->c_str(), raw->size());
  if (d.HasParseError() || !d.IsObject()) {
    why = "continue key is not valid: not a JSON object";
    return false;
  }
  std::string v = StrAt(d, "v");
  if (v != "meta.k8s.io/v1") {
    why = "continue key is not valid: server does not recognize this encoded version " + v;
    return false;
  }
  const Value* rv = Member(d, "rv");
  const Value* start = Member(d, "start");
  if (rv == nullptr || !rv->IsUint64() || rv->GetUint64() == 0) {
    why =
        "continue key is not valid: incorrect encoded start resourceVersion (version "
        "meta.k8s.io/v1)";
    return false;
  }
  if (start == nullptr || !start->IsString() || start->GetStringLength() == 0) {
    why = "continue key is not valid: encoded start key empty (version meta.k8s.io/v1)";
    return false;
  }
  out.rv = rv->GetUint64();
  out.start.assign(start->GetString(), start->GetStringLength());
  return true;
}

ApiError NotFoundPath() {
  ApiError e = Err(404, "NotFound", "the server could not find the requested resource");
  e.has_details = true;
  return e;
}

std::string WatchLine(const char* type, const std::string& object_json) {
  std::string s = "{\"type\":\"";
  s += type;
  s += "\",\"object\":";
  s += object_json;
  s += "}\n";
  return s;
}

}  // namespace

bool ApiServer::Impl::Authorize(const HttpRequest& r, ResponseWriter& w, const std::string& verb,
                                const Route& route) {
  if (options_.token.empty()) return true;
  std::string auth = r.Header("authorization");
  std::string token = auth.rfind("Bearer ", 0) == 0 ? auth.substr(7) : "";
  if (!token.empty() && token == options_.token) return true;
  bool read_only = !token.empty() &&
                   std::find(options_.read_only_tokens.begin(), options_.read_only_tokens.end(),
                             token) != options_.read_only_tokens.end();
  if (!read_only) {
    SendError(w, Err(401, "Unauthorized", "Unauthorized"));
    return false;
  }
  if (verb.empty() || verb == "get" || verb == "list" || verb == "watch") return true;
  std::string res =
      route.subresource.empty() ? route.resource : route.resource + "/" + route.subresource;
  std::string what = route.group.empty() ? route.resource : route.resource + "." + route.group;
  if (!route.name.empty()) what += " \"" + route.name + "\"";
  std::string msg =
      what + " is forbidden: User \"system:serviceaccount:lballoc:readonly\" cannot " + verb +
      " resource \"" + res + "\" in API group \"" + route.group + "\"" +
      (route.ns.empty() ? " at the cluster scope" : " in the namespace \"" + route.ns + "\"");
  ApiError e = Err(403, "Forbidden", msg);
  e.has_details = true;
  e.name = route.name;
  e.group = route.group;
  e.kind = route.resource;
  SendError(w, e);
  return false;
}

namespace {

// Remembers the status code of the response it forwards, for the request log.
class LoggingWriter final : public ResponseWriter {
 public:
  explicit LoggingWriter(ResponseWriter& inner) : inner_(inner) {}
  bool Send(int code, std::string_view content_type, std::string_view body,
            const HeaderList& extra) override {
    code_ = code;
    return inner_.Send(code, content_type, body, extra);
  }
  bool StartStream(int code, std::string_view content_type, const HeaderList& extra) override {
    code_ = code;
    return inner_.StartStream(code, content_type, extra);
  }
  bool Write(std::string_view data) override { return inner_.Write(data); }
  bool PeerClosed() override { return inner_.PeerClosed(); }
  void Abort() override { inner_.Abort(); }
  int code() const { return code_; }

 private:
  ResponseWriter& inner_;
  int code_ = 0;
};

}  // namespace

void ApiServer::Impl::Handle(const HttpRequest& r, ResponseWriter& w) {
  if (!options_.log_requests) {
    Serve(r, w);
    return;
  }
  auto start = std::chrono::steady_clock::now();
  LoggingWriter lw(w);
  Serve(r, lw);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  start)
                .count();
  std::fprintf(stderr, "%s %s -> %d (%lldms)\n", r.method.c_str(), r.target.c_str(), lw.code(),
               static_cast<long long>(ms));
}

void ApiServer::Impl::Serve(const HttpRequest& r, ResponseWriter& w) {
  std::vector<std::string> seg = SplitPath(r.path);
  if (r.path == "/healthz" || r.path == "/livez" || r.path == "/readyz") {
    w.Send(200, "text/plain; charset=utf-8", "ok");
    return;
  }
  Route route;
  bool is_resource = ParseRoute(seg, route);
  std::string verb = is_resource ? VerbOf(r, route) : "";
  if (!Authorize(r, w, verb, route)) return;
  if (!is_resource) {
    HandleDiscovery(r, w);
    return;
  }
  if (verb.empty()) {
    SendError(w, Err(405, "MethodNotAllowed",
                     "the server does not allow this method on the requested resource"));
    return;
  }
  auto latency = faults_.latency();
  if (latency.count() > 0) std::this_thread::sleep_for(latency);
  if (auto f = faults_.Decide(verb, route.resource)) {
    ApiError e;
    if (f->code == 409) {
      // Exactly what a lost optimistic-concurrency race looks like.
      std::string gr = route.group.empty() ? route.resource : route.resource + "." + route.group;
      e = Err(409, "Conflict",
              "Operation cannot be fulfilled on " + gr + " \"" + route.name +
                  "\": the object has been modified; please apply your changes to the latest "
                  "version and try again");
      e.has_details = true;
      e.name = route.name;
      e.group = route.group;
      e.kind = route.resource;
    } else if (f->code == 429) {
      e = Err(429, "TooManyRequests", "Too many requests, please try again later.");
      e.retry_after = f->retry_after_seconds;
      e.has_details = true;
    } else if (f->code == 503) {
      e = Err(503, "ServiceUnavailable", "the server is currently unable to handle the request");
      e.retry_after = f->retry_after_seconds;
    } else {
      e = Internal("injected fault");
    }
    SendError(w, e);
    return;
  }
  HandleResource(r, w, route);
}

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
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto resource_list = [&](const std::string& group, const std::string& version) -> std::string {
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
  };
  // Groups in registration order, each with its versions (storage version first).
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
  auto group_json = [&](const std::pair<std::string, std::vector<std::string>>& g, Alloc& a) {
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
  };
  if (seg.size() == 1 && seg[0] == "api") {
    w.Send(
        200, kJson,
        R"({"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1:)" +
            std::to_string(http_->port()) + "\"}]}");
    return;
  }
  if (seg.size() == 2 && seg[0] == "api" && seg[1] == "v1") {
    w.Send(200, kJson, resource_list("", "v1"));
    return;
  }
  if (seg.size() == 1 && seg[0] == "apis") {
    Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    d.AddMember("kind", "APIGroupList", a);
    d.AddMember("apiVersion", "v1", a);
    Value list(rapidjson::kArrayType);
    for (const auto& g : groups) list.PushBack(group_json(g, a), a);
    d.AddMember("groups", list, a);
    w.Send(200, kJson, ToJson(d));
    return;
  }
  if (seg.size() == 2 && seg[0] == "apis") {
    for (const auto& g : groups) {
      if (g.first != seg[1]) continue;
      Document d(rapidjson::kObjectType);
      auto& a = d.GetAllocator();
      Value v = group_json(g, a);
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
        w.Send(200, kJson, resource_list(seg[1], seg[2]));
        return;
      }
    }
  }
  SendError(w, NotFoundPath());
}

void ApiServer::Impl::HandleResource(const HttpRequest& r, ResponseWriter& w, Route route) {
  std::string verb = VerbOf(r, route);
  ResourceType t;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const ResourceType* found = FindTypeLocked(route.group, route.version, route.resource);
    if (found == nullptr) {
      SendError(w, NotFoundPath());
      return;
    }
    t = *found;
  }
  bool collection_verb = verb == "list" || verb == "watch" || verb == "deletecollection";
  if ((!t.namespaced && !route.ns.empty()) ||
      (t.namespaced && route.ns.empty() && !collection_verb) ||
      (!route.subresource.empty() && (route.subresource != "status" || !t.has_status)) ||
      (verb == "create" && !route.name.empty())) {
    SendError(w, NotFoundPath());
    return;
  }
  if (!route.subresource.empty() && verb != "get" && verb != "update" && verb != "patch") {
    SendError(w, Err(405, "MethodNotAllowed",
                     "the server does not allow this method on the requested resource"));
    return;
  }
  bool dry_run = r.Param("dryRun") == "All";
  if (verb == "list" || verb == "watch" || verb == "deletecollection") {
    auto matcher = MakeMatcher(r.Param("labelSelector"), r.Param("fieldSelector"), t);
    if (!matcher.ok()) {
      SendError(w, BadRequest(matcher.status().message()));
      return;
    }
    if (verb == "list") {
      HandleList(r, w, t, route, *matcher);
    } else if (verb == "watch") {
      HandleWatch(r, w, t, route, *matcher);
    } else {
      std::lock_guard<std::mutex> lock(mu_);
      std::vector<ObjPtr> victims;
      auto it = data_.find(t.key());
      if (it != data_.end()) {
        for (const auto& [k, o] : it->second) {
          if (!route.ns.empty() && StrAt(o->doc, "metadata.namespace") != route.ns) continue;
          if ((*matcher)(o->doc)) victims.push_back(o);
        }
      }
      for (const ObjPtr& o : victims) {
        ApiError err;
        std::string body;
        DeleteLocked(t, StrAt(o->doc, "metadata.namespace"), StrAt(o->doc, "metadata.name"),
                     nullptr, dry_run, err, body);
      }
      w.Send(200, kJson, R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success"})");
    }
    return;
  }
  if (verb == "get") {
    ObjPtr o;
    {
      std::lock_guard<std::mutex> lock(mu_);
      o = GetLocked(t, route.ns, route.name);
    }
    if (!o) {
      SendError(w, NotFound(t, route.name));
      return;
    }
    if (WantsTable(r)) {
      std::string inc = r.HasParam("includeObject") ? r.Param("includeObject") : "Metadata";
      w.Send(200, "application/json;as=Table;v=v1;g=meta.k8s.io", TableJson(t, {o}, "", "", inc));
    } else {
      w.Send(200, kJson, Render(*o, t));
    }
    return;
  }
  Document body;
  bool decoded = false;
  if (verb == "create" || verb == "update") {
    std::string ct = r.Header("content-type");
    ct = ct.substr(0, ct.find(';'));
    if (ct == kProtobufMediaType) {
      // kubectl's typed clients send protobuf unasked (see protobuf.h).
      StatusOr<Document> d = DecodeKubernetesProtobuf(r.body);
      if (!d.ok() && d.status().code() != StatusCode::kUnimplemented) {
        SendError(w, BadRequest(d.status().message()));
        return;
      }
      if (d.ok()) {
        body.Swap(*d);
        decoded = true;
      }
    }
    if (!decoded && !ct.empty() && ct != "application/json") {
      SendError(w, Err(415, "UnsupportedMediaType",
                       "the body of the request was in an unknown format - accepted media types "
                       "include: application/json (this test API server does not decode " +
                           ct + (ct == kProtobufMediaType ? " for this kind" : "") + ")"));
      return;
    }
  }
  if (!decoded && (!r.body.empty() || verb == "create" || verb == "update" || verb == "patch")) {
    body.Parse(r.body.c_str(), r.body.size());
    if (body.HasParseError()) {
      SendError(w, BadRequest(std::string("the body of the request could not be decoded as "
                                          "JSON: ") +
                              rapidjson::GetParseError_En(body.GetParseError()) + " at offset " +
                              std::to_string(body.GetErrorOffset())));
      return;
    }
  }
  ApiError err;
  ObjPtr out;
  WriteOpts wo;
  wo.dry_run = dry_run;
  wo.field_validation = r.Param("fieldValidation");
  auto warning_headers = [&] {
    HeaderList h;
    for (const auto& warning : wo.warnings) {
      h.emplace_back("Warning", "299 - " + Quote(warning));
    }
    return h;
  };
  if ((verb == "create" || verb == "update") && !DecodeObject(t, body, /*from_patch=*/false, err)) {
    SendError(w, err);
    return;
  }
  if (verb == "create") {
    std::lock_guard<std::mutex> lock(mu_);
    if (!CreateLocked(t, route.ns, std::move(body), wo, err, out)) {
      SendError(w, err);
      return;
    }
    w.Send(201, kJson, Render(*out, t), warning_headers());
    return;
  }
  if (verb == "update") {
    std::lock_guard<std::mutex> lock(mu_);
    int code;
    if (!UpdateLocked("update", t, route.ns, route.name, route.subresource == "status",
                      std::move(body), wo, err, out, code)) {
      SendError(w, err);
      return;
    }
    w.Send(code, kJson, Render(*out, t), warning_headers());
    return;
  }
  if (verb == "patch") {
    std::string ct = r.Header("content-type");
    ct = ct.substr(0, ct.find(';'));
    while (!ct.empty() && ct.back() == ' ') ct.pop_back();
    if (ct == "application/apply-patch+yaml" || ct == "application/apply-patch+cbor") {
      SendError(w, Err(415, "UnsupportedMediaType",
                       "server-side apply (" + ct +
                           ") is not supported by this test API server; "
                           "use client-side kubectl apply, or a merge, JSON or strategic merge "
                           "patch"));
      return;
    }
    bool smp = ct == "application/strategic-merge-patch+json";
    if ((smp && t.custom) ||
        (!smp && ct != "application/merge-patch+json" && ct != "application/json-patch+json")) {
      SendError(w,
                Err(415, "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types "
                    "include: application/json-patch+json, application/merge-patch+json, "
                    "application/apply-patch+yaml" +
                        std::string(t.custom ? "" : ", application/strategic-merge-patch+json")));
      return;
    }
    std::lock_guard<std::mutex> lock(mu_);
    ObjPtr old = GetLocked(t, route.ns, route.name);
    if (!old) {
      SendError(w, NotFound(t, route.name));
      return;
    }
    Document target = Served(old->doc, t);
    Status s;
    if (ct == "application/json-patch+json") {
      if (!body.IsArray()) {
        SendError(
            w, BadRequest("json: cannot unmarshal object into Go value of type jsonpatch.Patch"));
        return;
      }
      s = ApplyJsonPatch(target, body);
    } else if (ct == "application/merge-patch+json") {
      s = ApplyMergePatch(target, body);
    } else {
      s = ApplyStrategicMergePatch(target, body, t.kind);
    }
    if (!s.ok()) {
      ApiError pe = Err(422, "Invalid", s.message());
      if (s.code() == StatusCode::kInvalidArgument && ct != "application/json-patch+json" &&
          s.message().find("is invalid") == std::string::npos) {
        pe = Err(400, "BadRequest", s.message());
      }
      SendError(w, pe);
      return;
    }
    if (!DecodeObject(t, target, /*from_patch=*/true, err)) {
      SendError(w, err);
      return;
    }
    int code;
    if (!UpdateLocked("patch", t, route.ns, route.name, route.subresource == "status",
                      std::move(target), wo, err, out, code)) {
      SendError(w, err);
      return;
    }
    w.Send(200, kJson, Render(*out, t), warning_headers());
    return;
  }
  if (verb == "delete") {
    std::lock_guard<std::mutex> lock(mu_);
    std::string resp;
    const Value* opts = body.IsObject() ? &body : nullptr;
    if (!DeleteLocked(t, route.ns, route.name, opts, dry_run, err, resp)) {
      SendError(w, err);
      return;
    }
    w.Send(200, kJson, resp);
    return;
  }
  SendError(w, Err(405, "MethodNotAllowed",
                   "the server does not allow this method on the requested resource"));
}

void ApiServer::Impl::HandleList(const HttpRequest& r, ResponseWriter& w, const ResourceType& t,
                                 const Route& route, const Matcher& match) {
  if (r.HasParam("sendInitialEvents")) {
    ApiError e = Err(422, "Invalid",
                     "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: "
                     "sendInitialEvents is forbidden for list");
    e.has_details = true;
    e.kind = "ListOptions";
    e.group = "meta.k8s.io";
    e.causes.push_back({"FieldValueForbidden", "Forbidden: sendInitialEvents is forbidden for list",
                        "sendInitialEvents"});
    SendError(w, e);
    return;
  }
  long limit = r.HasParam("limit") ? std::strtol(r.Param("limit").c_str(), nullptr, 10) : 0;
  std::string cont = r.Param("continue");
  std::string scope = t.key() + "|" + route.ns + "|" + r.Param("labelSelector") + "|" +
                      r.Param("fieldSelector") + "|";
  auto list_key = [&](const ObjPtr& o) { return ListKey(o->doc, route.ns, t.namespaced); };
  std::shared_ptr<std::vector<ObjPtr>> items;
  size_t start = 0;
  uint64_t rv;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!cont.empty()) {
      ContinueToken token;
      std::string why;
      if (!DecodeContinue(cont, token, why)) {
        SendError(w, BadRequest("invalid continue token: " + why));
        return;
      }
      auto it = snapshots_.find(scope + std::to_string(token.rv));
      if (it == snapshots_.end()) {
        SendError(w, Err(410, "Expired",
                         "The provided continue parameter is too old to display a consistent "
                         "list result. You can start a new list without the continue "
                         "parameter, or use the continue token in this response to retrieve "
                         "the remainder of the results. Continuing with the provided token "
                         "results in an inconsistent list - objects that were created, "
                         "modified, or deleted between the time the first chunk was returned "
                         "and now may show up in the list."));
        return;
      }
      items = it->second;
      // The snapshot is in key order; the page starts at the first key >= the token's start.
      start = static_cast<size_t>(
          std::partition_point(items->begin(), items->end(),
                               [&](const ObjPtr& o) { return list_key(o) < token.start; }) -
          items->begin());
      rv = token.rv;
    } else {
      items = std::make_shared<std::vector<ObjPtr>>();
      auto it = data_.find(t.key());
      if (it != data_.end()) {
        std::string prefix = route.ns.empty() ? "" : route.ns + "/";
        for (auto o = it->second.lower_bound(prefix);
             o != it->second.end() && o->first.rfind(prefix, 0) == 0; ++o) {
          if (match(o->second->doc)) items->push_back(o->second);
        }
      }
      rv = rv_;
    }
  }
  size_t end = items->size();
  std::string next;
  if (limit > 0 && start + static_cast<size_t>(limit) < items->size()) {
    end = start + static_cast<size_t>(limit);
    next = EncodeContinue(rv, list_key((*items)[end - 1]));
    std::string snapshot_key = scope + std::to_string(rv);
    std::lock_guard<std::mutex> lock(mu_);
    if (snapshots_.emplace(snapshot_key, items).second) {
      snapshot_order_.push_back(snapshot_key);
      while (snapshot_order_.size() > 256) {
        snapshots_.erase(snapshot_order_.front());
        snapshot_order_.pop_front();
      }
    }
  }
  if (start > items->size()) start = items->size();
  if (WantsTable(r)) {
    std::vector<ObjPtr> page(items->begin() + static_cast<long>(start),
                             items->begin() + static_cast<long>(end));
    std::string inc = r.HasParam("includeObject") ? r.Param("includeObject") : "Metadata";
    w.Send(200, "application/json;as=Table;v=v1;g=meta.k8s.io",
           TableJson(t, page, std::to_string(rv), next, inc));
    return;
  }
  std::string out = "{\"kind\":" + Quote(t.list_kind) +
                    ",\"apiVersion\":" + Quote(t.group_version()) +
                    ",\"metadata\":{\"resourceVersion\":\"" + std::to_string(rv) + "\"";
  if (!next.empty()) {
    out += ",\"continue\":" + Quote(next);
    if (r.Param("labelSelector").empty() && r.Param("fieldSelector").empty()) {
      out += ",\"remainingItemCount\":" + std::to_string(items->size() - end);
    }
  }
  out += "},\"items\":[";
  for (size_t i = start; i < end; ++i) {
    if (i > start) out += ",";
    out += Render(*(*items)[i], t);
  }
  out += "]}";
  w.Send(200, kJson, out);
}

void ApiServer::Impl::HandleWatch(const HttpRequest& r, ResponseWriter& w, const ResourceType& t,
                                  const Route& route, const Matcher& match) {
  if (r.HasParam("sendInitialEvents")) {
    ApiError e = Err(422, "Invalid",
                     "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: "
                     "sendInitialEvents is forbidden for watch unless the WatchList feature gate "
                     "is enabled");
    e.has_details = true;
    e.kind = "ListOptions";
    e.group = "meta.k8s.io";
    e.causes.push_back({"FieldValueForbidden",
                        "Forbidden: sendInitialEvents is forbidden for watch unless the WatchList "
                        "feature gate is enabled",
                        "sendInitialEvents"});
    SendError(w, e);
    return;
  }
  if (r.HasParam("resourceVersionMatch")) {
    ApiError e = Err(422, "Invalid",
                     "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: "
                     "resourceVersionMatch is forbidden for watch unless sendInitialEvents is "
                     "provided");
    SendError(w, e);
    return;
  }
  bool bookmarks = BoolParam(r, "allowWatchBookmarks");
  bool table = WantsTable(r);
  std::string include = r.HasParam("includeObject") ? r.Param("includeObject") : "Metadata";
  using SteadyClock = std::chrono::steady_clock;
  auto now = SteadyClock::now();
  SteadyClock::time_point deadline;
  if (r.HasParam("timeoutSeconds")) {
    deadline =
        now + std::chrono::seconds(std::strtol(r.Param("timeoutSeconds").c_str(), nullptr, 10));
  } else {
    std::lock_guard<std::mutex> lock(mu_);
    deadline = now + std::chrono::seconds(std::uniform_int_distribution<int>(1800, 3599)(rng_));
  }
  auto drop_interval = faults_.watch_drop_interval();
  auto drop_at = drop_interval.count() > 0 ? now + drop_interval : SteadyClock::time_point::max();
  auto next_bookmark = now + options_.bookmark_interval;

  std::string rvp = r.Param("resourceVersion");
  uint64_t pos = 0;
  std::vector<ObjPtr> initial;
  std::string expired;
  auto in_scope = [&](const Value& obj) {
    return route.ns.empty() || StrAt(obj, "metadata.namespace") == route.ns;
  };
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (rvp.empty() || rvp == "0") {
      auto it = data_.find(t.key());
      if (it != data_.end()) {
        for (const auto& [k, o] : it->second) {
          if (in_scope(o->doc) && match(o->doc)) initial.push_back(o);
        }
      }
      pos = rv_;
    } else {
      char* end = nullptr;
      pos = std::strtoull(rvp.c_str(), &end, 10);
      if (end == rvp.c_str() || *end != '\0') {
        SendError(w, BadRequest("resourceVersion: Invalid value: \"" + rvp +
                                "\": must be a decimal resource version"));
        return;
      }
      if (pos < horizon_ || faults_.ExpireWatch()) {
        expired = "too old resource version: " + rvp + " (" + std::to_string(horizon_ + 1) + ")";
      }
    }
  }
  const char* ctype = table ? "application/json;as=Table;v=v1;g=meta.k8s.io" : kJson;
  if (!w.StartStream(200, ctype)) return;
  ++active_watches_;
  struct Done {
    std::atomic<int>& n;
    ~Done() { --n; }
  } done{active_watches_};
  auto error_event = [&](const std::string& msg) {
    ApiError e = Err(410, "Expired", msg);
    w.Write(WatchLine("ERROR", StatusJson(e)));
  };
  if (!expired.empty()) {
    error_event(expired);
    return;
  }
  auto render = [&](const ObjPtr& o) {
    return table ? TableJson(t, {o}, "", "", include) : Render(*o, t);
  };
  for (const ObjPtr& o : initial) {
    if (!w.Write(WatchLine("ADDED", render(o)))) return;
  }
  while (true) {
    std::vector<Event> batch;
    bool gone = false;
    uint64_t gone_rv = 0;
    uint64_t gone_horizon = 0;
    {
      std::unique_lock<std::mutex> lock(mu_);
      auto wake =
          std::min({deadline, drop_at, SteadyClock::now() + std::chrono::milliseconds(500)});
      if (bookmarks) wake = std::min(wake, next_bookmark);
      cv_.wait_until(lock, wake, [&] { return stopping_ || rv_ > pos; });
      if (stopping_) return;
      if (rv_ > pos) {
        if (pos < horizon_) {
          gone = true;
          gone_rv = pos;
          gone_horizon = horizon_;
        } else {
          size_t idx = events_.empty() ? 0 : static_cast<size_t>(pos + 1 - events_.front().rv);
          for (; idx < events_.size(); ++idx) {
            const Event& ev = events_[idx];
            if (ev.key == t.key()) batch.push_back(ev);
          }
          pos = rv_;
        }
      }
    }
    if (gone) {
      error_event("too old resource version: " + std::to_string(gone_rv) + " (" +
                  std::to_string(gone_horizon + 1) + ")");
      return;
    }
    for (const Event& ev : batch) {
      const Value& obj = ev.obj->doc;
      if (!in_scope(obj)) continue;
      const char* type = ev.type;
      ObjPtr send = ev.obj;
      if (!match.empty()) {
        bool now_match = match(obj);
        bool was_match = ev.prev ? match(ev.prev->doc) : false;
        if (std::string_view(type) == "MODIFIED") {
          if (now_match && !was_match) {
            type = "ADDED";
          } else if (!now_match && was_match) {
            type = "DELETED";
            Document d;
            d.CopyFrom(ev.prev->doc, d.GetAllocator());
            SetString(ObjectMember(d, "metadata", d.GetAllocator()), "resourceVersion",
                      std::to_string(ev.rv), d.GetAllocator());
            send = MakeObj(std::move(d));
          } else if (!now_match) {
            continue;
          }
        } else if (!now_match) {
          continue;
        }
      }
      if (!w.Write(WatchLine(type, render(send)))) return;
    }
    now = SteadyClock::now();
    if (bookmarks && now >= next_bookmark) {
      std::string bm = "{\"kind\":" + Quote(t.kind) +
                       ",\"apiVersion\":" + Quote(t.group_version()) +
                       ",\"metadata\":{\"resourceVersion\":\"" + std::to_string(pos) + "\"}}";
      if (!w.Write(WatchLine("BOOKMARK", bm))) return;
      next_bookmark = now + options_.bookmark_interval;
    }
    if (now >= deadline) return;
    if (now >= drop_at) {
      w.Abort();
      return;
    }
    if (batch.empty() && w.PeerClosed()) return;
  }
}

// ---------------------------------------------------------------------------------------------

StatusOr<std::unique_ptr<ApiServer>> ApiServer::Start(const Options& options) {
  std::unique_ptr<ApiServer> s(new ApiServer());
  s->impl_ = std::make_unique<Impl>(options);
  LB_RETURN_IF_ERROR(s->impl_->Start());
  return s;
}

ApiServer::~ApiServer() { Stop(); }
std::string ApiServer::url() const { return impl_->url(); }
int ApiServer::port() const { return impl_->port(); }
std::string ApiServer::ca_pem() const { return impl_->ca_pem(); }
std::string ApiServer::Kubeconfig() const { return impl_->Kubeconfig(); }

Status ApiServer::WriteKubeconfig(const std::string& path) const {
  std::ofstream f(path, std::ios::trunc);
  if (!f) return UnavailableError("cannot write kubeconfig " + path);
  f << Kubeconfig();
  f.close();
  if (!f) return UnavailableError("cannot write kubeconfig " + path);
  return Status();
}

void ApiServer::Stop() {
  if (impl_) impl_->Stop();
}
FaultInjector& ApiServer::faults() { return impl_->faults(); }
void ApiServer::AddAuditCheck(const std::string& name, AuditCheck check, bool reject) {
  impl_->AddAuditCheck(name, std::move(check), reject);
}
std::vector<AuditViolation> ApiServer::violations() const { return impl_->violations(); }
uint64_t ApiServer::resource_version() const { return impl_->resource_version(); }
int ApiServer::active_watches() const { return impl_->active_watches(); }

}  // namespace lballoc::apiserver
