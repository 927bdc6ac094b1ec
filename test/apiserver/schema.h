// Structural-schema handling of custom resources, as the real API server does on every write:
// unknown fields are pruned (unless x-kubernetes-preserve-unknown-fields) and `default` values
// are filled in. The pruned field paths are reported so fieldValidation=Strict|Warn can refuse
// or warn about them.
//
// Pure functions; thread-safe.
#pragma once

#include <rapidjson/document.h>

#include <string>
#include <vector>

namespace lballoc::apiserver {

// Prunes and defaults `obj` (a whole custom resource) against `schema` (the version's
// openAPIV3Schema). apiVersion, kind and metadata are left alone. Returns the pruned paths,
// like "spec.bogusField" or "spec.items[0].x".
std::vector<std::string> PruneAndDefault(rapidjson::Value& obj, const rapidjson::Value& schema,
                                         rapidjson::Document::AllocatorType& alloc);

}  // namespace lballoc::apiserver
