// The in-memory API server's implementation class, shared by the files that implement it:
//   api_server.cc     public API, start/stop, request dispatch, authentication, faults
//   store.cc          objects, the type registry, commits, the watch window, audit checks
//   write_path.cc     create and update (defaulting, validation, optimistic concurrency)
//   custom_resources.cc  CRDs and custom-resource schemas (pruning, defaulting, validation)
//   delete_path.cc    delete, finalizers, namespace termination
//   handlers.cc       the verb handlers of a resource URL
//   list_watch.cc     lists (paging, continue tokens) and watches (bookmarks, resumes)
//   render.cc         objects as served (versions, Event conversion, Table output)
//   discovery.cc      /api, /apis, /version, /openapi
// Not part of the library's interface: only these files include it.
//
// Thread-safety: every member whose name ends in Locked must be called with mu_ held; the
// handlers take mu_ around each use of the store and never hold it while writing to a client.
#pragma once

#include <rapidjson/document.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "test/apiserver/api_error.h"
#include "test/apiserver/api_server.h"
#include "test/apiserver/http_server.h"
#include "test/apiserver/names.h"
#include "test/apiserver/request.h"
#include "test/apiserver/resources.h"
#include "test/apiserver/semantics_bridge.h"

namespace lballoc::apiserver {

inline constexpr const char* kJson = "application/json";
inline constexpr const char* kTableContentType = "application/json;as=Table;v=v1;g=meta.k8s.io";

// One stored object: the document and its serialized form (served as is when versions match).
struct Obj {
  rapidjson::Document doc;
  std::string json;
};
using ObjPtr = std::shared_ptr<const Obj>;
ObjPtr MakeObj(rapidjson::Document&& d);

// One committed write, kept in the watch window.
struct Event {
  uint64_t rv;
  const char* type;  // ADDED, MODIFIED, DELETED
  std::string key;   // resource storage key
  std::string ns;
  ObjPtr obj;
  ObjPtr prev;  // for MODIFIED: the object before
};

// The store's key of an object within its resource: "namespace/name" ("/name" cluster-scoped).
std::string NsKey(const std::string& ns, const std::string& name);
std::string NowRfc3339(std::chrono::system_clock::time_point t = std::chrono::system_clock::now());
// True when the objects differ outside metadata (and outside status when `ignore_status`).
bool ContentChanged(const rapidjson::Value& a, const rapidjson::Value& b, bool ignore_status);
bool HasFinalizers(const rapidjson::Value& obj);

bool IsEventsV1(const ResourceType& t);
// The apiVersion objects of `t` are stored with (events.k8s.io/v1 Events are stored as core/v1).
std::string StoredApiVersion(const ResourceType& t);
// How the name of an object of `t` is checked.
NameRule NameRuleOf(const ResourceType& t);

// What the typed decoder does to a built-in object from a request before the registry sees it:
// Time/MicroTime fields parsed and rewritten in UTC, and events.k8s.io/v1 Events converted to the
// stored core/v1 shape. A value the decoder refuses is a 400 for a create or update and, as the
// patch handler reports it, a 422 on field "patch" for a patch.
bool DecodeObject(const ResourceType& t, rapidjson::Document& d, bool from_patch, ApiError& err);

// Per-request write options.
struct WriteOpts {
  bool dry_run = false;
  std::string field_validation;       // Strict, Warn, Ignore ("" = Warn)
  std::vector<std::string> warnings;  // for Warning: response headers
};

// The request the calling thread is serving (its identity, for audit checks); empty outside a
// request (the server's bootstrap writes).
struct RequestIdentity {
  std::string user;
  std::string user_agent;
  std::string subresource;
};
const RequestIdentity& CurrentRequest();

class ApiServer::Impl {
 public:
  explicit Impl(const Options& options);

  Status Start();
  void Stop();
  std::string url() const;
  int port() const;
  std::string ca_pem() const;
  std::string Kubeconfig() const;
  FaultInjector& faults();
  void AddAuditCheck(const std::string& name, AuditCheck check, bool reject);
  std::vector<AuditViolation> violations() const;
  uint64_t resource_version() const;
  int active_watches() const;

 private:
  struct Audit {
    std::string name;
    AuditCheck check;
    bool reject;
  };

  // ---- type registry (store.cc) ----
  const ResourceType* FindTypeLocked(const std::string& group, const std::string& version,
                                     const std::string& plural) const;
  // The type a storage key is stored as (its storage version; core/v1 for shared Events).
  const ResourceType* StorageTypeLocked(const std::string& key) const;
  // Serves the versions a CRD declares (replacing what it declared before).
  void RegisterCrdLocked(const rapidjson::Value& crd);

  // ---- the store (store.cc) ----
  ObjPtr GetLocked(const ResourceType& t, const std::string& ns, const std::string& name) const;
  std::string NewUid();
  // Runs the audit checks on a proposed write; false (and `err`) when a rejecting check fails.
  bool AuditLocked(const std::string& verb, const ResourceType& t, const std::string& ns,
                   const std::string& name, const Obj* old_obj, const rapidjson::Value* new_obj,
                   uint64_t rv, ApiError& err);
  // Commits a new state for one object (`doc` null deletes it). Stamps the resourceVersion.
  bool CommitLocked(const std::string& verb, const ResourceType& t, const std::string& ns,
                    const std::string& name, const ObjPtr& old, rapidjson::Document* doc,
                    bool dry_run, ApiError& err, ObjPtr& out);

  // ---- create and update (write_path.cc) ----
  // The namespace exists (and, when `creating`, is not terminating).
  bool CheckNamespaceLocked(const std::string& ns, bool creating, ApiError& err);
  // Creates an object from `d`, the decoded request body. False with `err` on failure.
  bool CreateLocked(const ResourceType& t, const std::string& ns, rapidjson::Document&& d,
                    WriteOpts& wo, ApiError& err, ObjPtr& out);
  // Type-specific defaulting and validation on create. `d` is the full object.
  bool PrepareCreateLocked(const ResourceType& t, const std::string& name, rapidjson::Document& d,
                           ApiError& err);
  // Replaces an object with `d` (already a full object) following update semantics.
  // `status_sub` selects /status. For a patch `d` is the patched stored object (it carries the
  // stored version unless the patch changed it). `code` is 200, or 201 when a PUT created the
  // object.
  bool UpdateLocked(const std::string& verb, const ResourceType& t, const std::string& ns,
                    const std::string& name, bool status_sub, rapidjson::Document&& d,
                    WriteOpts& wo, ApiError& err, ObjPtr& out, int& code);
  // The request checks of an update before the stored object is read: body name, namespace
  // and kind against the URL.
  static bool CheckUpdateTarget(const ResourceType& t, const std::string& ns,
                                const std::string& name, rapidjson::Document& d, ApiError& err);
  // The object an update stores, before validation: from the request with the stored object's
  // system fields (or, for a custom resource's /status, the stored object with the new status).
  static void BuildUpdated(const ResourceType& t, const std::string& ns, const std::string& name,
                           bool status_sub, rapidjson::Document& d, const Obj& old,
                           rapidjson::Document& next);
  // The kind's update rules for `next` (metadata, Services, Events, Leases, CRDs); may change
  // `next` (Service allocations, generation).
  bool ValidateUpdateLocked(const ResourceType& t, const std::string& name, bool status_sub,
                            const Obj& old, rapidjson::Document& next, ApiError& err);
  // Stores `next` unless it changes nothing; deletes the object when it is being deleted and
  // the update removed its last finalizer.
  bool CommitUpdateLocked(const std::string& verb, const ResourceType& t, const std::string& ns,
                          const std::string& name, const ObjPtr& old, rapidjson::Document& next,
                          bool dry_run, ApiError& err, ObjPtr& out);

  // ---- CRDs and custom resources (custom_resources.cc) ----
  // Validates a CRD and fills in its status (accepted names, conditions, stored versions).
  bool PrepareCrdLocked(const ResourceType& t, const std::string& name, rapidjson::Document& d,
                        const rapidjson::Value* old, ApiError& err);
  // Prunes and defaults a custom resource against its schema; with fieldValidation=Strict an
  // unknown field fails the write, with Warn (the default) it becomes a warning.
  bool ApplySchemaLocked(const ResourceType& t, rapidjson::Document& d, WriteOpts& wo,
                         ApiError& err);
  // Schema validation of an updated custom resource, ratcheting against the stored one. A /status
  // write validates only status, against the status schema; the list-type checks cover the whole
  // object and apply only when the stored object passed them.
  bool ValidateCustomResourceUpdateLocked(const ResourceType& t, const std::string& name,
                                          const rapidjson::Value& next, const rapidjson::Value& old,
                                          bool status_sub, ApiError& err);

  // ---- delete (delete_path.cc) ----
  // Deletes one object following the finalizer rules; `body` is the response.
  bool DeleteLocked(const ResourceType& t, const std::string& ns, const std::string& name,
                    const rapidjson::Value* options, bool dry_run, ApiError& err,
                    std::string& body);
  // Cleanup after an object is really gone: release Service IPs, drop a CRD's objects,
  // finish a terminating namespace.
  void AfterDeleteLocked(const ResourceType& t, const std::string& ns, const std::string& name,
                         const ObjPtr& old);
  // Deletes a terminating namespace once nothing is left in it.
  void MaybeFinishNamespaceLocked(const std::string& ns);
  void ServiceRelease(const rapidjson::Value& svc);

  // ---- rendering (render.cc) ----
  // The object as served at `t`'s version.
  static std::string Render(const Obj& o, const ResourceType& t);
  // The stored object in the shape `t` serves (events.k8s.io/v1 Events are converted from the
  // stored core/v1 shape; other versions only change apiVersion).
  static rapidjson::Document Served(const rapidjson::Value& stored, const ResourceType& t);
  std::string TableJson(const ResourceType& t, const std::vector<ObjPtr>& objs,
                        const std::string& rv, const std::string& cont,
                        const std::string& include_object) const;

  // ---- HTTP (api_server.cc, discovery.cc, handlers.cc, list_watch.cc) ----
  void Handle(const HttpRequest& r, ResponseWriter& w);
  void Serve(const HttpRequest& r, ResponseWriter& w);
  bool Authorize(const HttpRequest& r, ResponseWriter& w, const std::string& verb,
                 const Route& route);
  // Answers an injected fault for the request, if one is due; true when it did.
  bool InjectFault(ResponseWriter& w, const std::string& verb, const Route& route);
  void SendError(ResponseWriter& w, const ApiError& e);
  void HandleDiscovery(const HttpRequest& r, ResponseWriter& w);
  // An APIResourceList (JSON) of a served group-version.
  std::string ResourceListJsonLocked(const std::string& group, const std::string& version) const;
  // Groups in registration order, each with its versions (storage version first).
  std::vector<std::pair<std::string, std::vector<std::string>>> GroupsLocked() const;
  void HandleOpenApi(const HttpRequest& r, ResponseWriter& w);
  void HandleResource(const HttpRequest& r, ResponseWriter& w, const Route& route);
  void HandleGet(const HttpRequest& r, ResponseWriter& w, const ResourceType& t,
                 const Route& route);
  void HandleCreate(ResponseWriter& w, const ResourceType& t, const Route& route,
                    rapidjson::Document&& body, WriteOpts& wo);
  void HandleUpdate(ResponseWriter& w, const ResourceType& t, const Route& route,
                    rapidjson::Document&& body, WriteOpts& wo);
  void HandlePatch(const HttpRequest& r, ResponseWriter& w, const ResourceType& t,
                   const Route& route, const rapidjson::Document& patch, WriteOpts& wo);
  void HandleDelete(ResponseWriter& w, const ResourceType& t, const Route& route,
                    const rapidjson::Document& options, bool dry_run);
  void HandleDeleteCollection(ResponseWriter& w, const ResourceType& t, const Route& route,
                              const Matcher& match, bool dry_run);
  void HandleList(const HttpRequest& r, ResponseWriter& w, const ResourceType& t,
                  const Route& route, const Matcher& match);
  // The items of a list (a new snapshot, or the one a continue token names) and where the page
  // starts.
  bool ListItems(const std::string& cont, const ResourceType& t, const Route& route,
                 const Matcher& match, const std::string& scope,
                 std::shared_ptr<std::vector<ObjPtr>>& items, size_t& start, uint64_t& rv,
                 ApiError& err);
  void HandleWatch(const HttpRequest& r, ResponseWriter& w, const ResourceType& t,
                   const Route& route, const Matcher& match);
  // Where a watch from resourceVersion `rv_param` starts: `pos` and the initial ADDED objects, or
  // `expired` (the ERROR 410 message) when the version has left the window.
  bool StartWatch(const std::string& rv_param, const ResourceType& t, const Route& route,
                  const Matcher& match, uint64_t& pos, std::vector<ObjPtr>& initial,
                  std::string& expired, ApiError& err);
  // Waits until `wake` for writes after `pos`; `batch` gets those of `t` and `pos` moves on, or
  // `expired` is set when the window passed `pos`. False when the server is stopping.
  bool NextEvents(const ResourceType& t, std::chrono::steady_clock::time_point wake, uint64_t& pos,
                  std::vector<Event>& batch, std::string& expired);

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

}  // namespace lballoc::apiserver
