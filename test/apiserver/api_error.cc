#include "test/apiserver/api_error.h"

#include <rapidjson/document.h>

#include <utility>

#include "test/apiserver/json_util.h"

namespace lballoc::apiserver {

using rapidjson::Document;
using rapidjson::Value;

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

namespace {

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

}  // namespace

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

ApiError NotFoundPath() {
  ApiError e = Err(404, "NotFound", "the server could not find the requested resource");
  e.has_details = true;
  return e;
}

ApiError MethodNotAllowed() {
  return Err(405, "MethodNotAllowed",
             "the server does not allow this method on the requested resource");
}

}  // namespace lballoc::apiserver
