// Field errors as kube-apiserver reports them: the `field: Type: value: detail` strings inside a
// 422 Invalid Status message, and the reason/message/field of each details.causes entry. The
// constructors follow apimachinery's field.Error wording (Required value, Invalid value,
// Unsupported value, ...) and print bad values the way Go's fmt does for them.
//
// Pure functions and plain values; thread-safe.
#pragma once

#include <rapidjson/document.h>

#include <string>
#include <string_view>
#include <vector>

namespace lballoc::apiserver {

// One field error, as the real server reports it in a 422 Status's details.causes.
struct FieldError {
  std::string field;   // "spec.ports[0].port"
  std::string reason;  // "FieldValueInvalid", "FieldValueRequired", "FieldValueForbidden",
                       // "FieldValueNotSupported", "FieldValueDuplicate", "FieldValueTooMany",
                       // "FieldValueTooLong", "FieldValueTypeInvalid"
  std::string
      message;  // the cause message: `Invalid value: 0: must be between 1 and 65535, inclusive`
  // "field: message", the form inside the Status message.
  std::string ToString() const;
};

// `Kind "name" is invalid: e` for one error, `Kind "name" is invalid: [e1, e2]` for several: the
// real server's message for a 422 Invalid.
std::string InvalidMessage(std::string_view kind, std::string_view name,
                           const std::vector<FieldError>& errors);

// A bad value as field.Error prints it: strings quoted (Go %q), numbers and booleans as Go's %v
// prints them, anything else as JSON.
std::string GoValue(const rapidjson::Value& v);
std::string GoQuote(std::string_view s);
std::string GoFloat(double d);  // Go's %v of a float64: 1.5, 1e-05, 1.2345675e+06

// `value` is already formatted (GoValue, GoQuote or a number).
FieldError RequiredError(std::string field, std::string_view detail = "");
FieldError InvalidError(std::string field, std::string_view value, std::string_view detail);
FieldError TypeInvalidError(std::string field, std::string_view value, std::string_view detail);
FieldError ForbiddenError(std::string field, std::string_view detail);
FieldError NotSupportedError(std::string field, std::string_view value,
                             const std::vector<std::string>& supported);
FieldError DuplicateError(std::string field, std::string_view value);
FieldError TooLongError(std::string field, long long max_bytes);
FieldError TooManyError(std::string field, long long actual, long long max_items);

}  // namespace lballoc::apiserver
