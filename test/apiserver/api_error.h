// Errors as Kubernetes Status objects: what the in-memory API server answers for every failure,
// with kube-apiserver's codes, reasons, messages and details (name, group, kind, causes).
//
// Plain values and pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "operator/base/status.h"
#include "test/apiserver/field_error.h"
#include "test/apiserver/resources.h"

namespace lballoc::apiserver {

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

// The Status object (JSON) of an error.
std::string StatusJson(const ApiError& e);

ApiError Err(int code, std::string reason, std::string message);
// Adds details naming the object (kind is the resource's plural, as the real server does).
ApiError WithDetails(ApiError e, const ResourceType& t, const std::string& name);
ApiError NotFound(const ResourceType& t, const std::string& name);
ApiError AlreadyExists(const ResourceType& t, const std::string& name);
ApiError Conflict(const ResourceType& t, const std::string& name, const std::string& why);
// 409 Conflict for a stale resourceVersion.
ApiError OptimisticLock(const ResourceType& t, const std::string& name);
ApiError BadRequest(std::string message);
ApiError Internal(std::string message);
// 404 for a path that names no resource.
ApiError NotFoundPath();
ApiError MethodNotAllowed();

// 422 Invalid: `<Kind>[.<group>] "<name>" is invalid: <errors>`, one cause per
// "field: Reason text: detail" string.
ApiError Invalid(const ResourceType& t, const std::string& name,
                 const std::vector<std::string>& errors);
// 422 Invalid from structured field errors.
ApiError InvalidFields(const ResourceType& t, const std::string& name,
                       const std::vector<FieldError>& errors);
// A Status from the semantics library, as an HTTP error about one object.
ApiError FromStatus(const Status& s, const ResourceType& t, const std::string& name);

}  // namespace lballoc::apiserver
