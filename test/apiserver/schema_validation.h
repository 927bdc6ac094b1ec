// Validation of custom resources against their CRD's structural OpenAPI v3 schema, as
// kube-apiserver does it (kube-openapi's validator and apiextensions-apiserver's mapping of its
// results to field errors): type, nullable, enum, format (date-time, date, byte, uuid, ipv4, ipv6,
// cidr), minimum/maximum (exclusive too), multipleOf, minLength/maxLength, pattern,
// minItems/maxItems, minProperties/maxProperties, required, allOf/anyOf/oneOf/not,
// x-kubernetes-int-or-string, x-kubernetes-preserve-unknown-fields, and the list-type checks
// (x-kubernetes-list-type set and map: no duplicates). Updates ratchet, as kube-apiserver 1.33+
// always does: a value equal to the one it replaces (correlated by property name, and by key in
// list-type map lists) is not re-validated. CEL rules (x-kubernetes-validations) and embedded
// resources are not checked.
//
// Pure functions; thread-safe.
#pragma once

#include <rapidjson/document.h>

#include <string>
#include <vector>

#include "test/apiserver/field_error.h"

namespace lballoc::apiserver {

// Validates `value` against `schema`. `field_prefix` is prepended to field paths ("" for a whole
// object; "status" for a /status write, which validates only status against the status schema, so
// messages name paths relative to it: "conditions[0].type in body ..."). `old`, when not null, is
// the value being replaced (ratcheting).
std::vector<FieldError> ValidateAgainstSchema(const rapidjson::Value& value,
                                              const rapidjson::Value& schema,
                                              const std::string& field_prefix,
                                              const rapidjson::Value* old);

// x-kubernetes-list-type set/map uniqueness over a whole object.
std::vector<FieldError> ValidateListTypes(const rapidjson::Value& obj,
                                          const rapidjson::Value& schema);

}  // namespace lballoc::apiserver
