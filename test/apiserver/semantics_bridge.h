// Adapters between the in-memory API server and the pure semantics it needs: label and field
// selectors on list/watch, and Service defaulting/validation/IP allocation. They live behind this
// small interface so the server does not depend on how those pieces are implemented.
//
// Matcher is immutable once built (thread-safe to share); ServiceSemantics is not synchronised
// (the server calls it under its own lock).
#pragma once

#include <rapidjson/document.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "operator/base/status.h"
#include "operator/base/statusor.h"
#include "test/apiserver/field_error.h"
#include "test/apiserver/resources.h"

namespace lballoc::apiserver {

// A label + field selector. Matches everything when both were empty.
class Matcher {
 public:
  Matcher() = default;
  explicit Matcher(std::function<bool(const rapidjson::Value&)> fn) : fn_(std::move(fn)) {}
  bool operator()(const rapidjson::Value& obj) const { return !fn_ || fn_(obj); }
  bool empty() const { return !fn_; }

 private:
  std::function<bool(const rapidjson::Value&)> fn_;
};

// Parses `labelSelector` and `fieldSelector` for objects of `type`. Errors are InvalidArgument
// with the real server's message (the HTTP layer answers 400 BadRequest).
StatusOr<Matcher> MakeMatcher(const std::string& label_selector, const std::string& field_selector,
                              const ResourceType& type);

// Service create/update defaulting, validation and cluster IP / nodePort bookkeeping.
class ServiceSemantics {
 public:
  ServiceSemantics();
  ~ServiceSemantics();
  // On InvalidArgument, `errors` gets one entry per cause.
  Status Create(rapidjson::Document& svc, std::vector<FieldError>* errors);
  Status Update(const rapidjson::Value& old_svc, rapidjson::Document& new_svc,
                std::vector<FieldError>* errors);
  void Release(const rapidjson::Value& svc);

 private:
  struct Rep;
  std::unique_ptr<Rep> rep_;
};

// The OpenAPI v3 document served at `path` (/openapi/v3 or /openapi/v3/api/v1 or
// /openapi/v3/apis/G/V), given the group-versions served (group "" for core) and the CRD
// objects. NotFound for paths it does not serve.
Status OpenApiDocument(const std::string& path,
                       const std::vector<std::pair<std::string, std::string>>& group_versions,
                       const std::vector<const rapidjson::Value*>& crds, std::string& out);

}  // namespace lballoc::apiserver
