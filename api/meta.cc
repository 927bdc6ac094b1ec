#include "api/meta.h"

#include <algorithm>
#include <chrono>

#include "operator/base/status_macros.h"

namespace lballoc::api {
namespace {

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// A label name or value body: 1..63 chars of [A-Za-z0-9._-], alphanumeric at
// both ends.
bool IsQualifiedNamePart(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return IsAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

// RFC 1123 subdomain: lower-case labels of [a-z0-9-] joined by '.', <= 253.
bool IsDnsSubdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view label = s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    if (label.empty() || label.size() > 63) return false;
    auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (!lower_alnum(label.front()) || !lower_alnum(label.back())) return false;
    for (char c : label) {
      if (!lower_alnum(c) && c != '-') return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

Status DecodeOwnerReference(const JsonObject& obj, OwnerReference* out) {
  LB_RETURN_IF_ERROR(obj.GetString("apiVersion", &out->api_version));
  LB_RETURN_IF_ERROR(obj.GetString("kind", &out->kind));
  LB_RETURN_IF_ERROR(obj.GetString("name", &out->name));
  LB_RETURN_IF_ERROR(obj.GetString("uid", &out->uid));
  LB_RETURN_IF_ERROR(obj.GetOptionalBool("controller", &out->controller));
  LB_RETURN_IF_ERROR(obj.GetOptionalBool("blockOwnerDeletion", &out->block_owner_deletion));
  return Status();
}

Status DecodeMetaObject(const JsonObject& obj, ObjectMeta* out) {
  LB_RETURN_IF_ERROR(obj.GetString("name", &out->name));
  LB_RETURN_IF_ERROR(obj.GetString("generateName", &out->generate_name));
  LB_RETURN_IF_ERROR(obj.GetString("namespace", &out->namespace_));
  LB_RETURN_IF_ERROR(obj.GetString("uid", &out->uid));
  LB_RETURN_IF_ERROR(obj.GetString("resourceVersion", &out->resource_version));
  LB_RETURN_IF_ERROR(obj.GetInt64("generation", &out->generation));
  LB_RETURN_IF_ERROR(obj.GetTime("creationTimestamp", &out->creation_timestamp));
  LB_RETURN_IF_ERROR(obj.GetTime("deletionTimestamp", &out->deletion_timestamp));
  LB_RETURN_IF_ERROR(
      obj.GetOptionalInt64("deletionGracePeriodSeconds", &out->deletion_grace_period_seconds));
  LB_RETURN_IF_ERROR(obj.GetStringMap("labels", &out->labels));
  LB_RETURN_IF_ERROR(obj.GetStringMap("annotations", &out->annotations));
  LB_RETURN_IF_ERROR(obj.GetStringList("finalizers", &out->finalizers));
  return obj.ForEachObject("ownerReferences", [&](const JsonObject& ref) -> Status {
    OwnerReference owner;
    LB_RETURN_IF_ERROR(DecodeOwnerReference(ref, &owner));
    out->owner_references.push_back(std::move(owner));
    return Status();
  });
}

Status DecodeDetails(const JsonObject& obj, StatusDetails* out) {
  LB_RETURN_IF_ERROR(obj.GetString("name", &out->name));
  LB_RETURN_IF_ERROR(obj.GetString("group", &out->group));
  LB_RETURN_IF_ERROR(obj.GetString("kind", &out->kind));
  LB_RETURN_IF_ERROR(obj.GetString("uid", &out->uid));
  LB_RETURN_IF_ERROR(obj.GetInt32("retryAfterSeconds", &out->retry_after_seconds));
  return obj.ForEachObject("causes", [&](const JsonObject& c) -> Status {
    StatusCause cause;
    LB_RETURN_IF_ERROR(c.GetString("reason", &cause.reason));
    LB_RETURN_IF_ERROR(c.GetString("message", &cause.message));
    LB_RETURN_IF_ERROR(c.GetString("field", &cause.field));
    out->causes.push_back(std::move(cause));
    return Status();
  });
}

Status DecodeRequirement(const JsonObject& obj, LabelSelectorRequirement* out) {
  LB_RETURN_IF_ERROR(obj.GetString("key", &out->key));
  LB_RETURN_IF_ERROR(obj.GetString("operator", &out->op));
  return obj.GetStringList("values", &out->values);
}

bool Contains(const std::vector<std::string>& values, const std::string& value) {
  return std::find(values.begin(), values.end(), value) != values.end();
}

}  // namespace

StatusOr<ObjectMeta> ObjectMeta::FromJson(const rapidjson::Value& value, std::string path) {
  LB_ASSIGN_OR_RETURN(JsonObject obj, JsonObject::Of(value, std::move(path)));
  ObjectMeta meta;
  LB_RETURN_IF_ERROR(DecodeMetaObject(obj, &meta));
  return meta;
}

void ObjectMeta::ToJson(rapidjson::Value& out, JsonAllocator& alloc) const {
  out.SetObject();
  AddStringIfNotEmpty(out, "name", name, alloc);
  AddStringIfNotEmpty(out, "generateName", generate_name, alloc);
  AddStringIfNotEmpty(out, "namespace", namespace_, alloc);
  AddStringIfNotEmpty(out, "uid", uid, alloc);
  AddStringIfNotEmpty(out, "resourceVersion", resource_version, alloc);
  if (generation != 0) AddInt64(out, "generation", generation, alloc);
  AddTimeIfSet(out, "creationTimestamp", creation_timestamp, alloc);
  AddTimeIfSet(out, "deletionTimestamp", deletion_timestamp, alloc);
  if (deletion_grace_period_seconds) {
    AddInt64(out, "deletionGracePeriodSeconds", *deletion_grace_period_seconds, alloc);
  }
  AddStringMapIfNotEmpty(out, "labels", labels, alloc);
  AddStringMapIfNotEmpty(out, "annotations", annotations, alloc);
  AddStringListIfNotEmpty(out, "finalizers", finalizers, alloc);
  if (!owner_references.empty()) {
    rapidjson::Value refs(rapidjson::kArrayType);
    for (const OwnerReference& ref : owner_references) {
      rapidjson::Value r(rapidjson::kObjectType);
      AddString(r, "apiVersion", ref.api_version, alloc);
      AddString(r, "kind", ref.kind, alloc);
      AddString(r, "name", ref.name, alloc);
      AddString(r, "uid", ref.uid, alloc);
      if (ref.controller) AddBool(r, "controller", *ref.controller, alloc);
      if (ref.block_owner_deletion) {
        AddBool(r, "blockOwnerDeletion", *ref.block_owner_deletion, alloc);
      }
      refs.PushBack(r, alloc);
    }
    AddValue(out, "ownerReferences", std::move(refs), alloc);
  }
}

Status DecodeMetadata(const JsonObject& obj, ObjectMeta* out) {
  LB_ASSIGN_OR_RETURN(std::optional<JsonObject> meta, obj.GetObject("metadata"));
  if (!meta) return Status();
  return DecodeMetaObject(*meta, out);
}

void EncodeTypeAndMeta(const ResourceInfo& info, const ObjectMeta& meta, rapidjson::Value& out,
                       JsonAllocator& alloc) {
  out.SetObject();
  AddString(out, "apiVersion", info.ApiVersion(), alloc);
  AddString(out, "kind", info.kind, alloc);
  rapidjson::Value m;
  meta.ToJson(m, alloc);
  AddValue(out, "metadata", std::move(m), alloc);
}

// --- ApiStatus ---------------------------------------------------------------

StatusOr<ApiStatus> ApiStatus::FromJson(const rapidjson::Value& value) {
  LB_ASSIGN_OR_RETURN(JsonObject obj, JsonObject::Of(value));
  LB_RETURN_IF_ERROR(obj.CheckKind("v1", "Status"));
  ApiStatus status;
  LB_RETURN_IF_ERROR(obj.GetString("status", &status.status));
  LB_RETURN_IF_ERROR(obj.GetString("message", &status.message));
  LB_RETURN_IF_ERROR(obj.GetString("reason", &status.reason));
  LB_RETURN_IF_ERROR(obj.GetInt32("code", &status.code));
  LB_ASSIGN_OR_RETURN(std::optional<JsonObject> details, obj.GetObject("details"));
  if (details) {
    status.details.emplace();
    LB_RETURN_IF_ERROR(DecodeDetails(*details, &*status.details));
  }
  return status;
}

void ApiStatus::ToJson(rapidjson::Value& out, JsonAllocator& alloc) const {
  EncodeTypeAndMeta(kResource, ObjectMeta(), out, alloc);
  AddStringIfNotEmpty(out, "status", status, alloc);
  AddStringIfNotEmpty(out, "message", message, alloc);
  AddStringIfNotEmpty(out, "reason", reason, alloc);
  if (details) {
    rapidjson::Value d(rapidjson::kObjectType);
    AddStringIfNotEmpty(d, "name", details->name, alloc);
    AddStringIfNotEmpty(d, "group", details->group, alloc);
    AddStringIfNotEmpty(d, "kind", details->kind, alloc);
    AddStringIfNotEmpty(d, "uid", details->uid, alloc);
    if (!details->causes.empty()) {
      rapidjson::Value causes(rapidjson::kArrayType);
      for (const StatusCause& cause : details->causes) {
        rapidjson::Value c(rapidjson::kObjectType);
        AddStringIfNotEmpty(c, "reason", cause.reason, alloc);
        AddStringIfNotEmpty(c, "message", cause.message, alloc);
        AddStringIfNotEmpty(c, "field", cause.field, alloc);
        causes.PushBack(c, alloc);
      }
      AddValue(d, "causes", std::move(causes), alloc);
    }
    if (details->retry_after_seconds != 0) {
      AddInt64(d, "retryAfterSeconds", details->retry_after_seconds, alloc);
    }
    AddValue(out, "details", std::move(d), alloc);
  }
  if (code != 0) AddInt64(out, "code", code, alloc);
}

std::string ApiStatus::ToJsonString() const { return EncodeJson(*this); }

ApiStatus ApiStatus::Failure(int32_t code, std::string reason, std::string message) {
  ApiStatus s;
  s.status = "Failure";
  s.code = code;
  s.reason = std::move(reason);
  s.message = std::move(message);
  return s;
}

Status ApiStatus::ToStatus() const {
  if (status == "Success") return Status();
  std::string msg = message;
  if (msg.empty()) {
    msg = (reason.empty() ? std::string("Unknown") : reason) + " (" + std::to_string(code) + ")";
  }
  StatusCode result = StatusCode::kUnknown;
  if (code == 404 || (code == 0 && reason == "NotFound")) {
    result = StatusCode::kNotFound;
  } else if (code == 409 || (code == 0 && (reason == "AlreadyExists" || reason == "Conflict"))) {
    result = reason == "AlreadyExists" ? StatusCode::kAlreadyExists : StatusCode::kAborted;
  } else if (code == 410 || reason == "Expired" || reason == "Gone") {
    result = StatusCode::kGone;
  } else if (code == 400 || code == 415 || code == 422 || code == 406 ||
             (code == 0 && (reason == "Invalid" || reason == "BadRequest"))) {
    result = StatusCode::kInvalidArgument;
  } else if (code == 401 || (code == 0 && reason == "Unauthorized")) {
    result = StatusCode::kUnauthenticated;
  } else if (code == 403 || (code == 0 && reason == "Forbidden")) {
    result = StatusCode::kPermissionDenied;
  } else if (code == 405) {
    result = StatusCode::kUnimplemented;
  } else if (code == 429 || (code >= 500 && code <= 599) ||
             (code == 0 &&
              (reason == "TooManyRequests" || reason == "ServiceUnavailable" ||
               reason == "InternalError" || reason == "Timeout" || reason == "ServerTimeout"))) {
    result = StatusCode::kUnavailable;
  }
  Status out(result, msg);
  if (result == StatusCode::kUnavailable && details && details->retry_after_seconds > 0) {
    out.set_retry_after(std::chrono::seconds(details->retry_after_seconds));
  }
  return out;
}

// --- Watch events ------------------------------------------------------------

StatusOr<WatchEventType> ParseWatchEventType(std::string_view type) {
  if (type == "ADDED") return WatchEventType::kAdded;
  if (type == "MODIFIED") return WatchEventType::kModified;
  if (type == "DELETED") return WatchEventType::kDeleted;
  if (type == "BOOKMARK") return WatchEventType::kBookmark;
  if (type == "ERROR") return WatchEventType::kError;
  return InvalidArgumentError("type: unknown watch event type \"" + std::string(type) + "\"");
}

std::string_view WatchEventTypeName(WatchEventType type) {
  switch (type) {
    case WatchEventType::kAdded:
      return "ADDED";
    case WatchEventType::kModified:
      return "MODIFIED";
    case WatchEventType::kDeleted:
      return "DELETED";
    case WatchEventType::kBookmark:
      return "BOOKMARK";
    case WatchEventType::kError:
      return "ERROR";
  }
  return "UNKNOWN";
}

// --- Conditions --------------------------------------------------------------

StatusOr<Condition> Condition::FromJson(const rapidjson::Value& value, std::string path) {
  LB_ASSIGN_OR_RETURN(JsonObject obj, JsonObject::Of(value, std::move(path)));
  Condition c;
  LB_RETURN_IF_ERROR(obj.GetString("type", &c.type));
  LB_RETURN_IF_ERROR(obj.GetString("status", &c.status));
  LB_RETURN_IF_ERROR(obj.GetInt64("observedGeneration", &c.observed_generation));
  LB_RETURN_IF_ERROR(obj.GetTime("lastTransitionTime", &c.last_transition_time));
  LB_RETURN_IF_ERROR(obj.GetString("reason", &c.reason));
  LB_RETURN_IF_ERROR(obj.GetString("message", &c.message));
  return c;
}

void Condition::ToJson(rapidjson::Value& out, JsonAllocator& alloc) const {
  out.SetObject();
  AddString(out, "type", type, alloc);
  AddString(out, "status", status, alloc);
  if (observed_generation != 0) AddInt64(out, "observedGeneration", observed_generation, alloc);
  AddTimeIfSet(out, "lastTransitionTime", last_transition_time, alloc);
  AddString(out, "reason", reason, alloc);
  AddString(out, "message", message, alloc);
}

Status DecodeConditions(const JsonObject& obj, std::string_view name, std::vector<Condition>* out) {
  std::vector<Condition> result;
  LB_RETURN_IF_ERROR(
      obj.ForEachValue(name, [&](const rapidjson::Value& item, const std::string& path) -> Status {
        LB_ASSIGN_OR_RETURN(Condition c, Condition::FromJson(item, path));
        result.push_back(std::move(c));
        return Status();
      }));
  *out = std::move(result);
  return Status();
}

rapidjson::Value EncodeConditions(const std::vector<Condition>& conditions, JsonAllocator& alloc) {
  rapidjson::Value array(rapidjson::kArrayType);
  for (const Condition& c : conditions) {
    rapidjson::Value v;
    c.ToJson(v, alloc);
    array.PushBack(v, alloc);
  }
  return array;
}

const Condition* FindCondition(const std::vector<Condition>& conditions, std::string_view type) {
  for (const Condition& c : conditions) {
    if (c.type == type) return &c;
  }
  return nullptr;
}

bool SetCondition(std::vector<Condition>& conditions, Condition condition, Time now) {
  // metav1.Time is stored at second precision: keep exactly what a read-back
  // will show, so the next reconcile sees no difference.
  now = std::chrono::floor<std::chrono::seconds>(now);
  for (Condition& existing : conditions) {
    if (existing.type != condition.type) continue;
    if (existing.status != condition.status || !existing.last_transition_time) {
      condition.last_transition_time = now;
    } else {
      condition.last_transition_time = existing.last_transition_time;
    }
    if (existing == condition) return false;
    existing = std::move(condition);
    return true;
  }
  condition.last_transition_time = now;
  conditions.push_back(std::move(condition));
  return true;
}

bool RemoveCondition(std::vector<Condition>& conditions, std::string_view type) {
  auto it = std::remove_if(conditions.begin(), conditions.end(),
                           [&](const Condition& c) { return c.type == type; });
  bool removed = it != conditions.end();
  conditions.erase(it, conditions.end());
  return removed;
}

// --- Label selectors ---------------------------------------------------------

Status ValidateLabelKey(std::string_view key) {
  if (key.empty()) return InvalidArgumentError("label key must not be empty");
  std::string_view name = key;
  size_t slash = key.find('/');
  if (slash != std::string_view::npos) {
    std::string_view prefix = key.substr(0, slash);
    name = key.substr(slash + 1);
    if (!IsDnsSubdomain(prefix)) {
      return InvalidArgumentError("label key \"" + std::string(key) +
                                  "\": prefix must be a DNS subdomain");
    }
  }
  if (!IsQualifiedNamePart(name)) {
    return InvalidArgumentError(
        "label key \"" + std::string(key) +
        "\": name must be 1-63 characters of [A-Za-z0-9._-], alphanumeric at both ends");
  }
  return Status();
}

Status ValidateLabelValue(std::string_view value) {
  if (value.empty() || IsQualifiedNamePart(value)) return Status();
  return InvalidArgumentError(
      "label value \"" + std::string(value) +
      "\": must be empty or 1-63 characters of [A-Za-z0-9._-], alphanumeric at both ends");
}

StatusOr<LabelSelector> LabelSelector::Decode(const rapidjson::Value& value, std::string path) {
  LB_ASSIGN_OR_RETURN(JsonObject obj, JsonObject::Of(value, std::move(path)));
  LabelSelector selector;
  LB_RETURN_IF_ERROR(obj.GetStringMap("matchLabels", &selector.match_labels));
  LB_RETURN_IF_ERROR(obj.ForEachObject("matchExpressions", [&](const JsonObject& e) -> Status {
    LabelSelectorRequirement req;
    LB_RETURN_IF_ERROR(DecodeRequirement(e, &req));
    selector.match_expressions.push_back(std::move(req));
    return Status();
  }));
  return selector;
}

StatusOr<LabelSelector> LabelSelector::FromJson(const rapidjson::Value& value,
                                                const std::string& path) {
  LB_ASSIGN_OR_RETURN(LabelSelector selector, Decode(value, path));
  LB_RETURN_IF_ERROR(selector.Validate(path));
  return selector;
}

Status LabelSelector::Validate(std::string_view path) const {
  for (const auto& [key, value] : match_labels) {
    std::string where = JoinPath(path, "matchLabels") + "[\"" + key + "\"]";
    LB_RETURN_IF_ERROR(ValidateLabelKey(key).WithContext(where));
    LB_RETURN_IF_ERROR(ValidateLabelValue(value).WithContext(where));
  }
  for (size_t i = 0; i < match_expressions.size(); ++i) {
    const LabelSelectorRequirement& req = match_expressions[i];
    std::string where = IndexPath(JoinPath(path, "matchExpressions"), i);
    LB_RETURN_IF_ERROR(ValidateLabelKey(req.key).WithContext(where + ".key"));
    if (req.op == "In" || req.op == "NotIn") {
      if (req.values.empty()) {
        return InvalidArgumentError(where + ".values: must be non-empty for operator " + req.op);
      }
      for (size_t j = 0; j < req.values.size(); ++j) {
        LB_RETURN_IF_ERROR(
            ValidateLabelValue(req.values[j]).WithContext(IndexPath(where + ".values", j)));
      }
    } else if (req.op == "Exists" || req.op == "DoesNotExist") {
      if (!req.values.empty()) {
        return InvalidArgumentError(where + ".values: must be empty for operator " + req.op);
      }
    } else {
      return InvalidArgumentError(where + ".operator: unknown operator \"" + req.op +
                                  "\" (want In, NotIn, Exists or DoesNotExist)");
    }
  }
  return Status();
}

bool LabelSelector::Matches(const std::map<std::string, std::string>& labels) const {
  if (!Validate().ok()) return false;
  for (const auto& [key, value] : match_labels) {
    auto it = labels.find(key);
    if (it == labels.end() || it->second != value) return false;
  }
  for (const LabelSelectorRequirement& req : match_expressions) {
    auto it = labels.find(req.key);
    bool present = it != labels.end();
    if (req.op == "In") {
      if (!present || !Contains(req.values, it->second)) return false;
    } else if (req.op == "NotIn") {
      if (present && Contains(req.values, it->second)) return false;
    } else if (req.op == "Exists") {
      if (!present) return false;
    } else if (req.op == "DoesNotExist") {
      if (present) return false;
    }
  }
  return true;
}

void LabelSelector::ToJson(rapidjson::Value& out, JsonAllocator& alloc) const {
  out.SetObject();
  AddStringMapIfNotEmpty(out, "matchLabels", match_labels, alloc);
  if (!match_expressions.empty()) {
    rapidjson::Value exprs(rapidjson::kArrayType);
    for (const LabelSelectorRequirement& req : match_expressions) {
      rapidjson::Value e(rapidjson::kObjectType);
      AddString(e, "key", req.key, alloc);
      AddString(e, "operator", req.op, alloc);
      AddStringListIfNotEmpty(e, "values", req.values, alloc);
      exprs.PushBack(e, alloc);
    }
    AddValue(out, "matchExpressions", std::move(exprs), alloc);
  }
}

}  // namespace lballoc::api
