// Create and update: request checks, optimistic concurrency, the strategies' defaulting and
// validation per kind, no-op detection, and the commit.
#include "test/apiserver/api_server_impl.h"
#include "test/apiserver/builtin_rules.h"
#include "test/apiserver/events.h"
#include "test/apiserver/json_util.h"
#include "test/apiserver/schema_validation.h"
#include "test/apiserver/service_status.h"

namespace lballoc::apiserver {
namespace {

using rapidjson::Document;
using rapidjson::Value;

// The version checks of an update: a stale resourceVersion is a conflict, none at all is refused
// for kinds whose strategy requires one, and the uid may not change.
bool CheckPreconditions(const ResourceType& t, const std::string& name, const Value& md,
                        const Value& old_md, ApiError& err) {
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
    err =
        InvalidFields(t, name, {InvalidError("metadata.uid", GoQuote(uid), "field is immutable")});
    return false;
  }
  return true;
}

// Copies `key` of `from` into `to`, or removes it from `to` when `from` has none.
void CopyMember(const Value& from, const char* key, Value& to, Alloc& a) {
  const Value* v = Member(from, key);
  if (v != nullptr) {
    SetMember(to, key, Value(*v, a), a);
  } else {
    RemoveMember(to, key);
  }
}

// The kind a 422 names: the registry's internal kind, which for events.k8s.io/v1 Events is the
// core Event (`Event "x" is invalid`, no group).
ApiError InvalidObject(const ResourceType& t, const std::string& name,
                       const std::vector<FieldError>& errors) {
  if (!IsEventsV1(t)) return InvalidFields(t, name, errors);
  ResourceType core = t;
  core.group.clear();
  return InvalidFields(core, name, errors);
}

// The core kinds whose validation uses the core group's ObjectMeta rules (events use only the
// generic ones).
bool IsCoreKindWithObjectMetaRules(const ResourceType& t) {
  return t.group.empty() &&
         (t.plural == "services" || t.plural == "configmaps" || t.plural == "namespaces");
}

}  // namespace

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

bool ApiServer::Impl::CheckNamespaceLocked(const std::string& ns, bool creating, ApiError& err) {
  const ResourceType& nst = *FindTypeLocked("", "v1", "namespaces");
  ObjPtr n = GetLocked(nst, "", ns);
  if (!n) {
    err = NotFound(nst, ns);
    return false;
  }
  if (creating && Member(*Member(n->doc, "metadata"), "deletionTimestamp") != nullptr) {
    err =
        Err(403, "Forbidden",
            "unable to create new content in namespace " + ns + " because it is being terminated");
    err.has_details = true;
    err.name = ns;
    err.kind = "namespaces";
    return false;
  }
  return true;
}

bool ApiServer::Impl::CreateLocked(const ResourceType& t, const std::string& ns, Document&& d,
                                   WriteOpts& wo, ApiError& err, ObjPtr& out) {
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
  // Validation comes first, as in kube-apiserver: the store refuses a duplicate only then.
  if (GetLocked(t, ns, name)) {
    if (t.group.empty() && t.plural == "services") ServiceRelease(d);
    err = AlreadyExists(t, name);
    return false;
  }
  if (!CommitLocked("create", t, ns, name, nullptr, &d, dry_run, err, out)) {
    if (!dry_run && t.plural == "services" && t.group.empty()) ServiceRelease(d);
    return false;
  }
  if (dry_run && t.plural == "services" && t.group.empty()) ServiceRelease(out->doc);
  if (!dry_run && t.group == "apiextensions.k8s.io") RegisterCrdLocked(out->doc);
  return true;
}

bool ApiServer::Impl::PrepareCreateLocked(const ResourceType& t, const std::string& name,
                                          Document& d, ApiError& err) {
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
  if (IsCoreKindWithObjectMetaRules(t)) {
    for (FieldError& e : ValidateCoreFinalizers(d)) errors.push_back(e);
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
    if (is_service) {
      // The Service's own validation still runs: kube-apiserver lists its errors after the
      // metadata ones. Whatever it allocated goes back.
      Document copy;
      copy.CopyFrom(d, copy.GetAllocator());
      std::vector<FieldError> service_errors;
      if (services_.Create(copy, &service_errors).ok()) ServiceRelease(copy);
      errors.insert(errors.end(), service_errors.begin(), service_errors.end());
    }
    err = InvalidObject(t, name, errors);
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

bool ApiServer::Impl::UpdateLocked(const std::string& verb, const ResourceType& t,
                                   const std::string& ns, const std::string& name, bool status_sub,
                                   Document&& d, WriteOpts& wo, ApiError& err, ObjPtr& out,
                                   int& code) {
  code = 200;
  if (!CheckUpdateTarget(t, ns, name, d, err)) return false;
  Value& md = ObjectMember(d, "metadata", d.GetAllocator());
  ObjPtr old = GetLocked(t, ns, name);
  if (!old) {
    // The strategy creates on update (the Service status strategy inherits that, so a PUT to
    // the /status of a missing Service creates it too); the stored object's version is whatever
    // the create gets, so a version in the body is not a precondition.
    bool status_creates = t.group.empty() && t.plural == "services";
    if (verb == "update" && (!status_sub || status_creates) && t.allow_create_on_update) {
      RemoveMember(md, "resourceVersion");
      if (!CreateLocked(t, ns, std::move(d), wo, err, out)) return false;
      code = 201;
      return true;
    }
    err = NotFound(t, name);
    return false;
  }
  const Value& old_md = *Member(old->doc, "metadata");
  if (!CheckPreconditions(t, name, md, old_md, err)) return false;
  Document next;
  BuildUpdated(t, ns, name, status_sub, d, *old, next);
  // A custom resource's /status write changes nothing but status: no metadata rules apply.
  if (!(status_sub && t.custom) && !ValidateUpdateLocked(t, name, status_sub, *old, next, err)) {
    return false;
  }
  if (!ApplySchemaLocked(t, next, wo, err)) return false;
  if (t.custom && t.schema &&
      !ValidateCustomResourceUpdateLocked(t, name, next, old->doc, status_sub, err)) {
    return false;
  }
  if (t.custom && t.tracks_generation && !status_sub) {
    // Defaults may have been what changed; recompute generation on the final content.
    auto& na = next.GetAllocator();
    const Value* g = Member(old_md, "generation");
    int64_t gen = g != nullptr && g->IsInt64() ? g->GetInt64() : 0;
    SetMember(ObjectMember(next, "metadata", na), "generation",
              Value(ContentChanged(old->doc, next, t.has_status) ? gen + 1 : gen), na);
  }
  return CommitUpdateLocked(verb, t, ns, name, old, next, wo.dry_run, err, out);
}

bool ApiServer::Impl::CheckUpdateTarget(const ResourceType& t, const std::string& ns,
                                        const std::string& name, Document& d, ApiError& err) {
  if (!d.IsObject()) {
    err = BadRequest("the body of the request must be a JSON object");
    return false;
  }
  Value& md = ObjectMember(d, "metadata", d.GetAllocator());
  std::string body_name = StrAt(md, "name");
  if (body_name.empty()) {
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
  return true;
}

void ApiServer::Impl::BuildUpdated(const ResourceType& t, const std::string& ns,
                                   const std::string& name, bool status_sub, Document& d,
                                   const Obj& old, Document& next) {
  auto& na = next.GetAllocator();
  if (status_sub && t.custom) {
    // A custom resource's status strategy keeps everything of the stored object but status.
    next.CopyFrom(old.doc, na);
    CopyMember(d, "status", next, na);
    return;
  }
  // The v1 defaulter runs on the decoded request body, before the strategy resets spec.
  if (status_sub && t.group.empty() && t.plural == "services") {
    DefaultIngressIpMode(d, d.GetAllocator());
  }
  next.CopyFrom(d, na);
  SetString(next, "kind", t.kind, na);
  SetString(next, "apiVersion", StoredApiVersion(t), na);
  // The built-in status strategies (Service, Namespace, CustomResourceDefinition) reset only
  // spec from the stored object, so labels, annotations and finalizers come from the request;
  // an update of the main resource keeps the stored status.
  if (status_sub) {
    CopyMember(old.doc, "spec", next, na);
  } else if (t.has_status) {
    CopyMember(old.doc, "status", next, na);
  }
  if (!status_sub && t.group.empty() && t.plural == "namespaces") {
    // spec.finalizers changes only through /finalize.
    const Value* spec = Member(old.doc, "spec");
    Value& nspec = ObjectMember(next, "spec", na);
    if (spec != nullptr) {
      CopyMember(*spec, "finalizers", nspec, na);
    } else {
      RemoveMember(nspec, "finalizers");
    }
  }
  const Value& old_md = *Member(old.doc, "metadata");
  Value& nmd = ObjectMember(next, "metadata", na);
  SetString(nmd, "name", name, na);
  if (t.namespaced) SetString(nmd, "namespace", ns, na);
  for (const char* f : {"uid", "creationTimestamp", "deletionTimestamp",
                        "deletionGracePeriodSeconds", "generation"}) {
    CopyMember(old_md, f, nmd, na);
  }
}

bool ApiServer::Impl::ValidateUpdateLocked(const ResourceType& t, const std::string& name,
                                           bool status_sub, const Obj& old, Document& next,
                                           ApiError& err) {
  const bool is_service = t.group.empty() && t.plural == "services";
  std::vector<FieldError> errors = ValidateObjectMetaUpdate(next, old.doc);
  if (IsCoreKindWithObjectMetaRules(t)) {
    for (FieldError& e : ValidateCoreFinalizers(next)) errors.push_back(e);
  }
  if (status_sub && t.group.empty() && t.plural == "namespaces") {
    for (FieldError& e : ValidateNamespaceStatus(next)) errors.push_back(e);
  }
  if (!status_sub && (t.group.empty() || IsEventsV1(t)) && t.plural == "events") {
    for (FieldError& e : ValidateEventUpdate(next, old.doc, IsEventsV1(t))) errors.push_back(e);
  }
  if (!status_sub && t.group == "coordination.k8s.io" && t.plural == "leases") {
    for (FieldError& e : ValidateLeaseSpec(next)) errors.push_back(e);
  }
  if (status_sub && is_service) {
    for (FieldError& e : ValidateLoadBalancerStatus(next, old.doc)) errors.push_back(e);
  }
  if (!errors.empty()) {
    err = InvalidObject(t, name, errors);
    return false;
  }
  if (status_sub) return true;
  auto& na = next.GetAllocator();
  if (t.tracks_generation && ContentChanged(old.doc, next, t.has_status)) {
    const Value* g = Member(*Member(old.doc, "metadata"), "generation");
    int64_t gen = g != nullptr && g->IsInt64() ? g->GetInt64() : 0;
    SetMember(ObjectMember(next, "metadata", na), "generation", Value(gen + 1), na);
  }
  if (is_service) {
    std::vector<FieldError> service_errors;
    Status s = services_.Update(old.doc, next, &service_errors);
    if (!s.ok()) {
      err = s.code() == StatusCode::kInvalidArgument && !service_errors.empty()
                ? InvalidFields(t, name, service_errors)
                : FromStatus(s, t, name);
      return false;
    }
  }
  if (t.group == "apiextensions.k8s.io") {
    const Value* st = Member(old.doc, "status");
    if (!PrepareCrdLocked(t, name, next, &old.doc, err)) return false;
    if (st != nullptr) SetMember(next, "status", Value(*st, na), na);
  }
  return true;
}

bool ApiServer::Impl::CommitUpdateLocked(const std::string& verb, const ResourceType& t,
                                         const std::string& ns, const std::string& name,
                                         const ObjPtr& old, Document& next, bool dry_run,
                                         ApiError& err, ObjPtr& out) {
  // A no-op writes nothing: same content apart from resourceVersion.
  SetString(ObjectMember(next, "metadata", next.GetAllocator()), "resourceVersion",
            StrAt(old->doc, "metadata.resourceVersion"), next.GetAllocator());
  if (next == old->doc) {
    out = old;
    return true;
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

}  // namespace lballoc::apiserver
