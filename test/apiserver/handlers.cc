// The verb handlers of a resource URL: HandleResource resolves the type and checks the route,
// then one handler per verb does the work under the store's lock.
#include <rapidjson/error/en.h>

#include "test/apiserver/api_server_impl.h"
#include "test/apiserver/json_util.h"
#include "test/apiserver/patch.h"
#include "test/apiserver/protobuf.h"

namespace lballoc::apiserver {
namespace {

using rapidjson::Document;
using rapidjson::Value;

std::string MediaType(const HttpRequest& r) {
  std::string ct = r.Header("content-type");
  ct = ct.substr(0, ct.find(';'));
  while (!ct.empty() && ct.back() == ' ') ct.pop_back();
  return ct;
}

// Reads the request body: protobuf for the kinds protobuf.h decodes (create and update only),
// otherwise JSON. A create or update in another media type is a 415.
bool ReadBody(const HttpRequest& r, const std::string& verb, Document& body, ApiError& err) {
  bool write = verb == "create" || verb == "update";
  if (write) {
    std::string ct = r.Header("content-type");
    ct = ct.substr(0, ct.find(';'));
    if (ct == kProtobufMediaType) {
      // kubectl's typed clients send protobuf unasked (see protobuf.h).
      StatusOr<Document> d = DecodeKubernetesProtobuf(r.body);
      if (d.ok()) {
        body.Swap(*d);
        return true;
      }
      if (d.status().code() != StatusCode::kUnimplemented) {
        err = BadRequest(d.status().message());
        return false;
      }
    }
    if (!ct.empty() && ct != "application/json") {
      err = Err(415, "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types "
                "include: application/json (this test API server does not decode " +
                    ct + (ct == kProtobufMediaType ? " for this kind" : "") + ")");
      return false;
    }
  }
  if (r.body.empty() && !write && verb != "patch") return true;
  body.Parse(r.body.c_str(), r.body.size());
  if (body.HasParseError()) {
    err = BadRequest(std::string("the body of the request could not be decoded as JSON: ") +
                     rapidjson::GetParseError_En(body.GetParseError()) + " at offset " +
                     std::to_string(body.GetErrorOffset()));
    return false;
  }
  return true;
}

HeaderList WarningHeaders(const WriteOpts& wo) {
  HeaderList h;
  for (const auto& warning : wo.warnings) h.emplace_back("Warning", "299 - " + Quote(warning));
  return h;
}

// Applies a patch of media type `ct` to `target`; false with the real server's error.
bool ApplyPatch(const std::string& ct, const ResourceType& t, const Document& patch,
                Document& target, ApiError& err) {
  Status s;
  if (ct == "application/json-patch+json") {
    if (!patch.IsArray()) {
      err = BadRequest("json: cannot unmarshal object into Go value of type jsonpatch.Patch");
      return false;
    }
    s = ApplyJsonPatch(target, patch);
  } else if (ct == "application/merge-patch+json") {
    s = ApplyMergePatch(target, patch);
  } else {
    s = ApplyStrategicMergePatch(target, patch, t.kind);
  }
  if (s.ok()) return true;
  err = Err(422, "Invalid", s.message());
  if (s.code() == StatusCode::kInvalidArgument && ct != "application/json-patch+json" &&
      s.message().find("is invalid") == std::string::npos) {
    err = Err(400, "BadRequest", s.message());
  }
  return false;
}

}  // namespace

void ApiServer::Impl::HandleResource(const HttpRequest& r, ResponseWriter& w, const Route& route) {
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
    SendError(w, MethodNotAllowed());
    return;
  }
  bool dry_run = r.Param("dryRun") == "All";
  if (collection_verb) {
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
      HandleDeleteCollection(w, t, route, *matcher, dry_run);
    }
    return;
  }
  if (verb == "get") {
    HandleGet(r, w, t, route);
    return;
  }
  Document body;
  ApiError err;
  if (!ReadBody(r, verb, body, err)) {
    SendError(w, err);
    return;
  }
  WriteOpts wo;
  wo.dry_run = dry_run;
  wo.field_validation = r.Param("fieldValidation");
  if (verb == "create") {
    HandleCreate(w, t, route, std::move(body), wo);
  } else if (verb == "update") {
    HandleUpdate(w, t, route, std::move(body), wo);
  } else if (verb == "patch") {
    HandlePatch(r, w, t, route, body, wo);
  } else if (verb == "delete") {
    HandleDelete(w, t, route, body, dry_run);
  } else {
    SendError(w, MethodNotAllowed());
  }
}

void ApiServer::Impl::HandleGet(const HttpRequest& r, ResponseWriter& w, const ResourceType& t,
                                const Route& route) {
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
    w.Send(200, kTableContentType, TableJson(t, {o}, "", "", inc));
  } else {
    w.Send(200, kJson, Render(*o, t));
  }
}

void ApiServer::Impl::HandleCreate(ResponseWriter& w, const ResourceType& t, const Route& route,
                                   Document&& body, WriteOpts& wo) {
  ApiError err;
  if (!DecodeObject(t, body, /*from_patch=*/false, err)) {
    SendError(w, err);
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  ObjPtr out;
  if (!CreateLocked(t, route.ns, std::move(body), wo, err, out)) {
    SendError(w, err);
    return;
  }
  w.Send(201, kJson, Render(*out, t), WarningHeaders(wo));
}

void ApiServer::Impl::HandleUpdate(ResponseWriter& w, const ResourceType& t, const Route& route,
                                   Document&& body, WriteOpts& wo) {
  ApiError err;
  if (!DecodeObject(t, body, /*from_patch=*/false, err)) {
    SendError(w, err);
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  ObjPtr out;
  int code;
  if (!UpdateLocked("update", t, route.ns, route.name, route.subresource == "status",
                    std::move(body), wo, err, out, code)) {
    SendError(w, err);
    return;
  }
  w.Send(code, kJson, Render(*out, t), WarningHeaders(wo));
}

void ApiServer::Impl::HandlePatch(const HttpRequest& r, ResponseWriter& w, const ResourceType& t,
                                  const Route& route, const Document& patch, WriteOpts& wo) {
  std::string ct = MediaType(r);
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
    SendError(w, Err(415, "UnsupportedMediaType",
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
  // The patch applies to the object as this API version serves it.
  Document target = Served(old->doc, t);
  ApiError err;
  if (!ApplyPatch(ct, t, patch, target, err) ||
      !DecodeObject(t, target, /*from_patch=*/true, err)) {
    SendError(w, err);
    return;
  }
  ObjPtr out;
  int code;
  if (!UpdateLocked("patch", t, route.ns, route.name, route.subresource == "status",
                    std::move(target), wo, err, out, code)) {
    SendError(w, err);
    return;
  }
  w.Send(200, kJson, Render(*out, t), WarningHeaders(wo));
}

void ApiServer::Impl::HandleDelete(ResponseWriter& w, const ResourceType& t, const Route& route,
                                   const Document& options, bool dry_run) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string resp;
  ApiError err;
  const Value* opts = options.IsObject() ? &options : nullptr;
  if (!DeleteLocked(t, route.ns, route.name, opts, dry_run, err, resp)) {
    SendError(w, err);
    return;
  }
  w.Send(200, kJson, resp);
}

void ApiServer::Impl::HandleDeleteCollection(ResponseWriter& w, const ResourceType& t,
                                             const Route& route, const Matcher& match,
                                             bool dry_run) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<ObjPtr> victims;
  auto it = data_.find(t.key());
  if (it != data_.end()) {
    for (const auto& [k, o] : it->second) {
      if (!route.ns.empty() && StrAt(o->doc, "metadata.namespace") != route.ns) continue;
      if (match(o->doc)) victims.push_back(o);
    }
  }
  for (const ObjPtr& o : victims) {
    ApiError err;
    std::string body;
    DeleteLocked(t, StrAt(o->doc, "metadata.namespace"), StrAt(o->doc, "metadata.name"), nullptr,
                 dry_run, err, body);
  }
  w.Send(200, kJson, R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success"})");
}

}  // namespace lballoc::apiserver
