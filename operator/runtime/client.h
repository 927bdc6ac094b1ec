// Client: reads and writes Kubernetes objects through the API server.
//
// Two layers:
//   Client          the untyped interface (the seam; FakeClient-able): JSON in,
//                   rapidjson::Document out, one HTTP round trip per call
//                   (plus retries the server asked for with Retry-After).
//   TypedClient<T>  a thin template over a Client for any kind T that follows
//                   the api/ contract (T::kResource, T::FromJson, ToJsonString,
//                   metadata) -- Service, Namespace, Lease, Event here, and
//                   LoadBalancerPool when the operator instantiates it.
//
// Errors are canonical Status values (operator/base/status.h): NotFound,
// AlreadyExists, Aborted (= 409 Conflict; Status::IsConflict), Gone (410),
// InvalidArgument (400/415/422), Unauthenticated (401), PermissionDenied
// (403), Unavailable (429, 5xx, transport errors; retry_after() set when the
// server sent Retry-After). DataLoss: a 2xx response whose body cannot be
// read (malformed or truncated JSON, an empty body on a GET or LIST, an
// object of another kind for TypedClient); the request reached the server
// and a write may have taken effect, so it is neither a refusal nor a 5xx. 429 and 5xx responses
// carrying Retry-After are retried after that delay up to 10 times before the error is returned.
//
// CallOptions (WithCallOptions) bound a client's calls: a check run just before
// each request is sent that may refuse it or shorten its timeout (fencing and
// lease calls use it, see leader_election.h), and Retry-After retries on or off.
//
// Cluster-scoped kinds (kResource.namespaced == false) ignore `ns`.
//
// Thread-safety: Client implementations and TypedClient are safe for
// concurrent use. A Watch handle is used by one reader; Cancel() may be called
// from any thread.
#pragma once

#include <rapidjson/document.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/json.h"
#include "api/meta.h"
#include "operator/base/clock.h"
#include "operator/base/status.h"
#include "operator/base/status_macros.h"
#include "operator/base/statusor.h"
#include "operator/runtime/backoff.h"
#include "operator/runtime/rest_config.h"
#include "operator/runtime/transport.h"

namespace lballoc::runtime {

struct ListOptions {
  std::string label_selector;  // "app=web,tier!=db"
  std::string field_selector;  // "metadata.name=x"
  int64_t limit = 0;           // 0 = no paging
  std::string continue_token;
  std::string resource_version;  // "" = most recent (a consistent read)
  std::string resource_version_match;
};

struct WatchOptions {
  std::string label_selector;
  std::string field_selector;
  std::string resource_version;  // start after this version ("" = synthetic ADDED first)
  bool allow_watch_bookmarks = true;
  // Server-side timeoutSeconds; 0 = the server's default.
  std::chrono::seconds timeout{0};
};

struct DeleteOptions {
  std::string precondition_uid;
  std::string precondition_resource_version;
  std::optional<int64_t> grace_period_seconds;
  std::string propagation_policy;  // "", "Foreground", "Background", "Orphan"
};

enum class PatchType {
  kMerge,           // application/merge-patch+json (RFC 7386)
  kJsonPatch,       // application/json-patch+json (RFC 6902)
  kStrategicMerge,  // application/strategic-merge-patch+json (built-in kinds only)
};
std::string_view PatchContentType(PatchType type);

// One decoded watch event of an untyped watch. For kError `object` is a Status.
struct RawWatchEvent {
  api::WatchEventType type;
  rapidjson::Document object;
};

class RawWatch {
 public:
  virtual ~RawWatch() = default;
  // The next event; std::nullopt when the server ended the watch cleanly
  // (timeout). Unavailable when the connection broke, Cancelled after Cancel(),
  // InvalidArgument for an undecodable event.
  virtual StatusOr<std::optional<RawWatchEvent>> Next() = 0;
  virtual void Cancel() = 0;
};

// How a derived client (Client::WithCallOptions) sends each request.
struct CallOptions {
  // Runs just before every attempt is sent (after any Retry-After wait). An error is returned
  // instead of sending; a positive duration becomes that attempt's timeout (zero: the
  // transport's default).
  std::function<StatusOr<Clock::Duration>()> before_send;
  // Retry 429/5xx responses that carry Retry-After (RestClientOptions::max_retries).
  bool retry_after = true;
  // Once stop is requested: nothing more is sent, a Retry-After wait ends, a request in flight
  // or a watch is abandoned; the call returns Cancelled.
  std::stop_token cancel;
};

// The untyped client.
class Client {
 public:
  virtual ~Client() = default;

  // A client over the same connection whose every call follows `options`; it must not outlive
  // this one. RestClient applies them per attempt (the timeout reaches the transport); this
  // default, for other implementations (fakes), runs before_send once before delegating.
  virtual std::unique_ptr<Client> WithCallOptions(CallOptions options);

  virtual StatusOr<rapidjson::Document> Get(const api::ResourceInfo& resource, std::string_view ns,
                                            std::string_view name,
                                            std::string_view subresource = "") = 0;
  // One page; follow ListOptions::continue_token for more.
  virtual StatusOr<rapidjson::Document> List(const api::ResourceInfo& resource, std::string_view ns,
                                             const ListOptions& options = {}) = 0;
  // `body` is the object as JSON text.
  virtual StatusOr<rapidjson::Document> Create(const api::ResourceInfo& resource,
                                               std::string_view ns, std::string_view body) = 0;
  virtual StatusOr<rapidjson::Document> Update(const api::ResourceInfo& resource,
                                               std::string_view ns, std::string_view name,
                                               std::string_view body,
                                               std::string_view subresource = "") = 0;
  virtual StatusOr<rapidjson::Document> Patch(const api::ResourceInfo& resource,
                                              std::string_view ns, std::string_view name,
                                              PatchType type, std::string_view patch,
                                              std::string_view subresource = "") = 0;
  virtual Status Delete(const api::ResourceInfo& resource, std::string_view ns,
                        std::string_view name, const DeleteOptions& options = {}) = 0;
  virtual StatusOr<std::unique_ptr<RawWatch>> Watch(const api::ResourceInfo& resource,
                                                    std::string_view ns,
                                                    const WatchOptions& options = {}) = 0;
};

// "/api/v1/namespaces/ns/services/name/status" and the like (no query).
std::string ResourcePath(const api::ResourceInfo& resource, std::string_view ns,
                         std::string_view name = "", std::string_view subresource = "");

// The Status for a non-2xx response: the body's metav1.Status when it is one
// (ApiStatus::ToStatus), else by HTTP code; Retry-After (seconds) becomes
// retry_after().
Status StatusFromResponse(int status_code, std::string_view body,
                          std::string_view retry_after_header);

struct RestClientOptions {
  // Retries of a 429/5xx response that carries Retry-After.
  int max_retries = 10;
  // Cap on a single Retry-After wait.
  Clock::Duration max_retry_after = std::chrono::seconds(60);
};

// The Client over a Transport (HttpTransport in production; test/testing/fake_transport.h).
class RestClient final : public Client {
 public:
  explicit RestClient(std::shared_ptr<Transport> transport, Clock& clock = Clock::Real(),
                      RestClientOptions options = {}, CallOptions call = {});

  StatusOr<rapidjson::Document> Get(const api::ResourceInfo& resource, std::string_view ns,
                                    std::string_view name,
                                    std::string_view subresource = "") override;
  StatusOr<rapidjson::Document> List(const api::ResourceInfo& resource, std::string_view ns,
                                     const ListOptions& options = {}) override;
  StatusOr<rapidjson::Document> Create(const api::ResourceInfo& resource, std::string_view ns,
                                       std::string_view body) override;
  StatusOr<rapidjson::Document> Update(const api::ResourceInfo& resource, std::string_view ns,
                                       std::string_view name, std::string_view body,
                                       std::string_view subresource = "") override;
  StatusOr<rapidjson::Document> Patch(const api::ResourceInfo& resource, std::string_view ns,
                                      std::string_view name, PatchType type, std::string_view patch,
                                      std::string_view subresource = "") override;
  Status Delete(const api::ResourceInfo& resource, std::string_view ns, std::string_view name,
                const DeleteOptions& options = {}) override;
  StatusOr<std::unique_ptr<RawWatch>> Watch(const api::ResourceInfo& resource, std::string_view ns,
                                            const WatchOptions& options = {}) override;
  std::unique_ptr<Client> WithCallOptions(CallOptions options) override;

 private:
  // One request with Retry-After retries; the parsed 2xx body.
  StatusOr<rapidjson::Document> Call(HttpRequest request);

  std::shared_ptr<Transport> transport_;
  Clock& clock_;
  RestClientOptions options_;
  const CallOptions call_;
};

// A RestClient over an HttpTransport for `config`.
StatusOr<std::unique_ptr<Client>> NewClient(const RestConfig& config, Clock& clock = Clock::Real());

// ---------------------------------------------------------------------------
// Typed layer.

template <typename T>
struct WatchEvent {
  api::WatchEventType type;
  // For ADDED/MODIFIED/DELETED the object; for BOOKMARK only metadata.resourceVersion.
  T object;
  // For ERROR: the server's Status.
  std::optional<api::ApiStatus> error;
};

template <typename T>
class TypedWatch {
 public:
  explicit TypedWatch(std::unique_ptr<RawWatch> raw) : raw_(std::move(raw)) {}
  // As RawWatch::Next, with the object decoded (InvalidArgument naming the field when not).
  StatusOr<std::optional<WatchEvent<T>>> Next() {
    LB_ASSIGN_OR_RETURN(std::optional<RawWatchEvent> raw, raw_->Next());
    if (!raw) return std::optional<WatchEvent<T>>();
    if (raw->type == api::WatchEventType::kError) {
      LB_ASSIGN_OR_RETURN(api::ApiStatus status, api::ApiStatus::FromJson(raw->object));
      return std::optional<WatchEvent<T>>(WatchEvent<T>{raw->type, T{}, std::move(status)});
    }
    LB_ASSIGN_OR_RETURN(T object, T::FromJson(raw->object));
    return std::optional<WatchEvent<T>>(WatchEvent<T>{raw->type, std::move(object), std::nullopt});
  }
  void Cancel() { raw_->Cancel(); }

 private:
  std::unique_ptr<RawWatch> raw_;
};

template <typename T>
class TypedClient {
 public:
  explicit TypedClient(Client& client) : client_(client) {}

  Client& untyped() const { return client_; }

  StatusOr<T> Get(std::string_view ns, std::string_view name) const {
    return Decode(client_.Get(T::kResource, ns, name));
  }
  // One page.
  StatusOr<api::List<T>> List(std::string_view ns, const ListOptions& options = {}) const {
    LB_ASSIGN_OR_RETURN(rapidjson::Document doc, client_.List(T::kResource, ns, options));
    return api::List<T>::FromJson(doc);
  }
  // Every page (options.limit items at a time when set); the result's
  // resource_version is the first page's.
  StatusOr<api::List<T>> ListAll(std::string_view ns, ListOptions options = {}) const {
    api::List<T> all;
    bool first = true;
    do {
      LB_ASSIGN_OR_RETURN(api::List<T> page, List(ns, options));
      if (first) all.resource_version = page.resource_version;
      first = false;
      for (T& item : page.items) all.items.push_back(std::move(item));
      options.continue_token = page.continue_token;
    } while (!options.continue_token.empty());
    return all;
  }
  // The namespace is the object's (metadata.namespace_).
  StatusOr<T> Create(const T& obj) const {
    return Decode(client_.Create(T::kResource, obj.metadata.namespace_, obj.ToJsonString()));
  }
  // PUT; metadata.resourceVersion is the optimistic-concurrency precondition.
  StatusOr<T> Update(const T& obj) const {
    return Decode(client_.Update(T::kResource, obj.metadata.namespace_, obj.metadata.name,
                                 obj.ToJsonString()));
  }
  StatusOr<T> UpdateStatus(const T& obj) const {
    return Decode(client_.Update(T::kResource, obj.metadata.namespace_, obj.metadata.name,
                                 obj.ToJsonString(), "status"));
  }
  StatusOr<T> Patch(std::string_view ns, std::string_view name, PatchType type,
                    std::string_view patch) const {
    return Decode(client_.Patch(T::kResource, ns, name, type, patch));
  }
  StatusOr<T> PatchStatus(std::string_view ns, std::string_view name, PatchType type,
                          std::string_view patch) const {
    return Decode(client_.Patch(T::kResource, ns, name, type, patch, "status"));
  }
  Status Delete(std::string_view ns, std::string_view name,
                const DeleteOptions& options = {}) const {
    return client_.Delete(T::kResource, ns, name, options);
  }
  StatusOr<std::unique_ptr<TypedWatch<T>>> Watch(std::string_view ns,
                                                 const WatchOptions& options = {}) const {
    LB_ASSIGN_OR_RETURN(std::unique_ptr<RawWatch> raw, client_.Watch(T::kResource, ns, options));
    return std::make_unique<TypedWatch<T>>(std::move(raw));
  }

 private:
  // A 2xx answer that is not a T (another kind, a malformed object) is DataLoss, not
  // InvalidArgument: the request reached the server and may have taken effect, so callers
  // must not treat it as refused (see the client's header).
  static StatusOr<T> Decode(StatusOr<rapidjson::Document> doc) {
    if (!doc.ok()) return doc.status();
    StatusOr<T> obj = T::FromJson(*doc);
    if (!obj.ok()) {
      return DataLossError("a 2xx response is not a " + std::string(T::kResource.kind) +
                           " (the request may have taken effect): " + obj.status().ToString());
    }
    return obj;
  }

  Client& client_;
};

}  // namespace lballoc::runtime
