// FakeClient: an in-memory runtime::Client for controller tests that need no socket, in the
// spirit of controller-runtime's pkg/client/fake.
//
// Objects of any resource are kept as JSON. Semantics kept from the API server: one
// resourceVersion counter bumped by every write; create sets uid, resourceVersion,
// creationTimestamp and generation 1 and refuses an existing name (AlreadyExists); update with
// a stale metadata.resourceVersion is a 409 Conflict (Aborted); the "status" subresource
// replaces only .status, and a main-resource update keeps the stored .status; merge patch
// (RFC 7386) on the object or its status; delete honours the resourceVersion/uid
// preconditions. List filters by namespace and by equality label selectors ("a=b,c=d").
// Not modelled: watches (Unimplemented: use FakeTransport or the in-tree API server),
// JSON patch and strategic merge patch (Unimplemented), finalizers, generateName, field
// selectors, defaulting and validation.
//
// Error injection: FailNext(verb, resource, status, times) makes the next calls of that verb
// ("get", "list", "create", "update", "patch", "delete"; "*" for any) on that resource plural
// ("" for any) return `status` without touching the store. actions() records every call.
//
// Thread-safety: safe for concurrent use.
#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "operator/base/clock.h"
#include "operator/base/status.h"
#include "operator/base/statusor.h"
#include "operator/runtime/client.h"

namespace lballoc::testing {

class FakeClient final : public runtime::Client {
 public:
  struct Action {
    std::string verb;
    std::string resource;  // plural
    std::string namespace_;
    std::string name;
    std::string subresource;
  };

  // `clock` stamps creationTimestamp (Clock::Real() by default).
  explicit FakeClient(Clock& clock = Clock::Real());

  // Stores `object_json` as is (resourceVersion and uid filled when missing), as if it had
  // been created before the test; no action is recorded.
  Status Seed(const api::ResourceInfo& resource, std::string_view object_json);
  void FailNext(std::string verb, std::string resource, Status status, int times = 1);
  std::vector<Action> actions() const;
  void ClearActions();

  StatusOr<rapidjson::Document> Get(const api::ResourceInfo& resource, std::string_view ns,
                                    std::string_view name,
                                    std::string_view subresource = "") override;
  StatusOr<rapidjson::Document> List(const api::ResourceInfo& resource, std::string_view ns,
                                     const runtime::ListOptions& options = {}) override;
  StatusOr<rapidjson::Document> Create(const api::ResourceInfo& resource, std::string_view ns,
                                       std::string_view body) override;
  StatusOr<rapidjson::Document> Update(const api::ResourceInfo& resource, std::string_view ns,
                                       std::string_view name, std::string_view body,
                                       std::string_view subresource = "") override;
  StatusOr<rapidjson::Document> Patch(const api::ResourceInfo& resource, std::string_view ns,
                                      std::string_view name, runtime::PatchType type,
                                      std::string_view patch,
                                      std::string_view subresource = "") override;
  Status Delete(const api::ResourceInfo& resource, std::string_view ns, std::string_view name,
                const runtime::DeleteOptions& options = {}) override;
  StatusOr<std::unique_ptr<runtime::RawWatch>> Watch(
      const api::ResourceInfo& resource, std::string_view ns,
      const runtime::WatchOptions& options = {}) override;

 private:
  struct Failure {
    std::string verb;
    std::string resource;
    Status status;
    int remaining;
  };
  using Objects = std::map<std::string, std::string>;  // "ns/name" -> JSON

  // Records the action and returns an injected failure, if any; mu_ held.
  Status BeginLocked(std::string_view verb, const api::ResourceInfo& resource, std::string_view ns,
                     std::string_view name, std::string_view subresource);
  Objects& ObjectsOf(const api::ResourceInfo& resource);
  // Stores `doc` under `key` with a new resourceVersion; returns it.
  StatusOr<rapidjson::Document> StoreLocked(const api::ResourceInfo& resource,
                                            const std::string& key, rapidjson::Document& doc);

  Clock& clock_;
  mutable std::mutex mu_;
  uint64_t resource_version_ = 0;
  uint64_t uids_ = 0;
  std::map<std::string, Objects> objects_;  // by "group/plural"
  std::deque<Failure> failures_;
  std::vector<Action> actions_;
};

}  // namespace lballoc::testing
