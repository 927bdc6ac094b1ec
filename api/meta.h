// Kubernetes object metadata and the generic meta/v1 types every kind shares:
// ResourceInfo (where a kind lives in the API), ObjectMeta, ApiStatus (the
// `Status` object the API server answers errors with), List<T>, watch event
// types, metav1.Condition and metav1.LabelSelector.
//
// Every top-level kind T in lballoc::api follows one shape:
//   static constexpr ResourceInfo kResource{...};
//   ObjectMeta metadata;
//   static StatusOr<T> FromJson(const rapidjson::Value&);   // checked decode
//   void ToJson(rapidjson::Value& out, JsonAllocator&) const;  // full object
//   std::string ToJsonString() const;
// FromJson ignores unknown fields and accepts an object holding only
// apiVersion/kind/metadata (a watch BOOKMARK).
//
// Thread-safety: plain value types; the usual rules for concurrent access.
#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/json.h"
#include "operator/base/status.h"
#include "operator/base/statusor.h"

namespace lballoc::api {

// Where a kind lives in the API: /api/v1/... for the core group ("" group),
// /apis/<group>/<version>/... otherwise.
struct ResourceInfo {
  std::string_view group;
  std::string_view version;
  std::string_view resource;  // plural, lower case: "services"
  std::string_view kind;      // "Service"
  bool namespaced;

  // "v1" for the core group, else "group/version".
  std::string ApiVersion() const {
    return group.empty() ? std::string(version) : std::string(group) + "/" + std::string(version);
  }
};

struct OwnerReference {
  std::string api_version;
  std::string kind;
  std::string name;
  std::string uid;
  std::optional<bool> controller;
  std::optional<bool> block_owner_deletion;

  bool operator==(const OwnerReference&) const = default;
};

// metav1.ObjectMeta, the parts the operator reads or writes. Fields it does
// not model (managedFields, selfLink...) are dropped on decode, so never
// write a whole object back with PUT unless losing them is fine; patch.
struct ObjectMeta {
  std::string name;
  std::string generate_name;
  std::string namespace_;
  std::string uid;
  std::string resource_version;
  int64_t generation = 0;
  std::optional<Time> creation_timestamp;
  std::optional<Time> deletion_timestamp;
  std::optional<int64_t> deletion_grace_period_seconds;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::vector<std::string> finalizers;
  std::vector<OwnerReference> owner_references;

  // `path` names the object in error messages ("metadata").
  static StatusOr<ObjectMeta> FromJson(const rapidjson::Value& value,
                                       std::string path = "metadata");
  // Writes a JSON object, omitting empty fields.
  void ToJson(rapidjson::Value& out, JsonAllocator& alloc) const;

  bool operator==(const ObjectMeta&) const = default;
};

// Decodes the "metadata" member of the object `obj` (absent: empty meta).
Status DecodeMetadata(const JsonObject& obj, ObjectMeta* out);
// Starts `out` as an object {"apiVersion", "kind", "metadata"} for a kind.
void EncodeTypeAndMeta(const ResourceInfo& info, const ObjectMeta& meta, rapidjson::Value& out,
                       JsonAllocator& alloc);

// One cause of an API error: `field` is the JSON path the server rejected.
struct StatusCause {
  std::string reason;  // JSON key "reason" (Go name: Type)
  std::string message;
  std::string field;

  bool operator==(const StatusCause&) const = default;
};

struct StatusDetails {
  std::string name;
  std::string group;
  std::string kind;
  std::string uid;
  std::vector<StatusCause> causes;
  int32_t retry_after_seconds = 0;

  bool operator==(const StatusDetails&) const = default;
};

// metav1.Status: what the API server sends for errors (and some deletes).
struct ApiStatus {
  static constexpr ResourceInfo kResource{"", "v1", "", "Status", false};

  std::string status;  // "Success" or "Failure"
  std::string message;
  std::string reason;  // "NotFound", "Conflict", "Expired", ...
  int32_t code = 0;    // the HTTP status code
  std::optional<StatusDetails> details;

  static StatusOr<ApiStatus> FromJson(const rapidjson::Value& value);
  void ToJson(rapidjson::Value& out, JsonAllocator& alloc) const;
  std::string ToJsonString() const;

  // A Failure status as the API server would write it.
  static ApiStatus Failure(int32_t code, std::string reason, std::string message);

  // The canonical Status for this answer (OK for status "Success"):
  //   404 -> NotFound; 409 AlreadyExists -> AlreadyExists; other 409 -> Aborted
  //   (Conflict); 410 / reason Expired or Gone -> Gone; 400, 415, 422 ->
  //   InvalidArgument; 401 -> Unauthenticated; 403 -> PermissionDenied;
  //   429 and every 5xx -> Unavailable (retry_after from
  //   details.retryAfterSeconds); other codes by reason, else Unknown.
  // The message is kept (or "<reason> (<code>)" when the server gave none).
  Status ToStatus() const;

  bool operator==(const ApiStatus&) const = default;
};

// A list response: {"apiVersion","kind":"<Kind>List","metadata":{...},"items":[...]}.
template <typename T>
struct List {
  std::string resource_version;
  std::string continue_token;
  std::optional<int64_t> remaining_item_count;
  std::vector<T> items;

  // Errors in an item are prefixed "items[i]: ".
  static StatusOr<List<T>> FromJson(const rapidjson::Value& value) {
    StatusOr<JsonObject> obj = JsonObject::Of(value);
    if (!obj.ok()) return obj.status();
    Status status =
        obj->CheckKind(T::kResource.ApiVersion(), std::string(T::kResource.kind) + "List");
    if (!status.ok()) return status;
    List<T> list;
    StatusOr<std::optional<JsonObject>> meta = obj->GetObject("metadata");
    if (!meta.ok()) return meta.status();
    if (*meta) {
      if (!(status = (*meta)->GetString("resourceVersion", &list.resource_version)).ok() ||
          !(status = (*meta)->GetString("continue", &list.continue_token)).ok() ||
          !(status = (*meta)->GetOptionalInt64("remainingItemCount", &list.remaining_item_count))
               .ok()) {
        return status;
      }
    }
    status = obj->ForEachValue(
        "items", [&](const rapidjson::Value& item, const std::string& path) -> Status {
          StatusOr<T> decoded = T::FromJson(item);
          if (!decoded.ok()) return decoded.status().WithContext(path);
          list.items.push_back(std::move(decoded).value());
          return Status();
        });
    if (!status.ok()) return status;
    return list;
  }

  void ToJson(rapidjson::Value& out, JsonAllocator& alloc) const {
    out.SetObject();
    AddString(out, "apiVersion", T::kResource.ApiVersion(), alloc);
    AddString(out, "kind", std::string(T::kResource.kind) + "List", alloc);
    rapidjson::Value meta(rapidjson::kObjectType);
    AddStringIfNotEmpty(meta, "resourceVersion", resource_version, alloc);
    AddStringIfNotEmpty(meta, "continue", continue_token, alloc);
    if (remaining_item_count) AddInt64(meta, "remainingItemCount", *remaining_item_count, alloc);
    AddValue(out, "metadata", std::move(meta), alloc);
    rapidjson::Value array(rapidjson::kArrayType);
    for (const T& item : items) {
      rapidjson::Value v;
      item.ToJson(v, alloc);
      array.PushBack(v, alloc);
    }
    AddValue(out, "items", std::move(array), alloc);
  }
};

// The "type" of a watch event. The runtime decodes the envelope
// {"type": ..., "object": ...} itself; ERROR carries an ApiStatus, BOOKMARK an
// object with only apiVersion, kind and metadata.resourceVersion.
enum class WatchEventType { kAdded, kModified, kDeleted, kBookmark, kError };

// "ADDED" -> kAdded, ...; anything else is InvalidArgument.
StatusOr<WatchEventType> ParseWatchEventType(std::string_view type);
std::string_view WatchEventTypeName(WatchEventType type);

// metav1.Condition.
struct Condition {
  std::string type;
  std::string status;  // "True", "False" or "Unknown"
  int64_t observed_generation = 0;
  std::optional<Time> last_transition_time;
  std::string reason;
  std::string message;

  static StatusOr<Condition> FromJson(const rapidjson::Value& value, std::string path = "");
  // Writes type, status, reason and message even when empty (the API requires
  // them) and lastTransitionTime when set (SetCondition always sets it).
  void ToJson(rapidjson::Value& out, JsonAllocator& alloc) const;

  bool operator==(const Condition&) const = default;
};

// Decodes the array `name` of `obj` as conditions.
Status DecodeConditions(const JsonObject& obj, std::string_view name, std::vector<Condition>* out);
rapidjson::Value EncodeConditions(const std::vector<Condition>& conditions, JsonAllocator& alloc);

// The condition of `type`, or nullptr.
const Condition* FindCondition(const std::vector<Condition>& conditions, std::string_view type);

// Adds or replaces the condition of `condition.type`. lastTransitionTime
// becomes `now` (truncated to whole seconds, as the API server stores
// metav1.Time) when the status changes or the condition is new, and is kept
// otherwise, as metav1 prescribes. Returns whether anything changed.
bool SetCondition(std::vector<Condition>& conditions, Condition condition, Time now);

// Removes the condition of `type`; returns whether there was one.
bool RemoveCondition(std::vector<Condition>& conditions, std::string_view type);

struct LabelSelectorRequirement {
  std::string key;
  std::string op;  // JSON "operator": In, NotIn, Exists, DoesNotExist
  std::vector<std::string> values;

  bool operator==(const LabelSelectorRequirement&) const = default;
};

// metav1.LabelSelector: matchLabels AND every matchExpression.
struct LabelSelector {
  std::map<std::string, std::string> match_labels;
  std::vector<LabelSelectorRequirement> match_expressions;

  // Decodes and validates (see Validate); `path` prefixes error messages.
  static StatusOr<LabelSelector> FromJson(const rapidjson::Value& value,
                                          const std::string& path = "");
  // Decodes the structure only; a bad operator is left for Validate(). The
  // pool codec uses this so an invalid selector surfaces as a pool condition
  // rather than as an undecodable object.
  static StatusOr<LabelSelector> Decode(const rapidjson::Value& value, std::string path = "");

  // InvalidArgument naming the entry ("<path>.matchExpressions[1].operator:
  // ..."): an unknown operator, values with Exists/DoesNotExist, no values
  // with In/NotIn, an invalid label key or value.
  Status Validate(std::string_view path = "") const;

  // Whether `labels` satisfy the selector. The empty selector matches
  // everything; an invalid one (Validate fails) matches nothing.
  bool Matches(const std::map<std::string, std::string>& labels) const;

  bool empty() const { return match_labels.empty() && match_expressions.empty(); }
  void ToJson(rapidjson::Value& out, JsonAllocator& alloc) const;

  bool operator==(const LabelSelector&) const = default;
};

// Kubernetes label syntax: a key is [prefix/]name, name at most 63 characters
// of [A-Za-z0-9._-] starting and ending alphanumeric, prefix a DNS subdomain;
// a value is empty or like a name. The error says what is wrong.
Status ValidateLabelKey(std::string_view key);
Status ValidateLabelValue(std::string_view value);

}  // namespace lballoc::api
