// Rules kube-apiserver applies to built-in objects besides the per-kind ones elsewhere (Services in
// service_defaults/service_status, Events in events): the typed decoder's Time and MicroTime
// fields, ObjectMeta validation (names, generateName, labels, annotations, finalizers, owner
// references, and what an update may not change), and Lease validation.
//
// Pure functions; thread-safe.
#pragma once

#include <rapidjson/document.h>

#include <string_view>
#include <vector>

#include "operator/base/status.h"
#include "test/apiserver/field_error.h"
#include "test/apiserver/names.h"

namespace lballoc::apiserver {

// Parses the Time/MicroTime fields the typed decoder of `group`/`kind` knows (in the shape served
// by that API) and rewrites them in the UTC form the server writes back. InvalidArgument with Go's
// text (`parsing time "x" as "2006-01-02T15:04:05.000000Z07:00": ...`) for a bad value. Kinds it
// does not know are left alone.
Status NormalizeTypedTimes(std::string_view group, std::string_view kind, rapidjson::Value& obj,
                           rapidjson::Document::AllocatorType& alloc);

// ObjectMeta on create: generateName and name by `rule` (name skipped when `check_name` is false,
// for kinds whose own validation reports it), labels, annotations, finalizers, ownerReferences.
std::vector<FieldError> ValidateObjectMetaCreate(const rapidjson::Value& obj, NameRule rule,
                                                 bool check_name = true);
// ObjectMeta on update: the same content checks, plus no new finalizers on an object being
// deleted. (Immutable system fields are carried over by the server before this runs.)
std::vector<FieldError> ValidateObjectMetaUpdate(const rapidjson::Value& obj,
                                                 const rapidjson::Value& old);

// The core group's extra finalizer rule (Services, ConfigMaps, Namespaces): a finalizer without a
// '/' must be a standard one (kubernetes, orphan, foregroundDeletion).
std::vector<FieldError> ValidateCoreFinalizers(const rapidjson::Value& obj);

// A Namespace status write: the phase must be Active, or Terminating once deletionTimestamp is set.
std::vector<FieldError> ValidateNamespaceStatus(const rapidjson::Value& ns);

// coordination.k8s.io/v1 Lease spec.
std::vector<FieldError> ValidateLeaseSpec(const rapidjson::Value& lease);

}  // namespace lballoc::apiserver
