// meta.k8s.io/v1 Table output for `kubectl get`: column definitions and one row per object,
// with the small JSONPath subset CRD additionalPrinterColumns use
// (`.a.b`, `.a[0]`, `.a[*].b`, `.a[?(@.type=="Ready")].status`).
//
// Pure functions; thread-safe.
#pragma once

#include <rapidjson/document.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "test/apiserver/resources.h"

namespace lballoc::apiserver {

// The values `path` selects in `obj` (several for [*] or a filter; none when absent).
std::vector<const rapidjson::Value*> EvalJsonPath(const rapidjson::Value& obj,
                                                  std::string_view path);

// kubectl's short duration: "45s", "3m12s", "5h", "2d3h", "400d".
std::string HumanDuration(std::chrono::seconds d);

// Seconds since the epoch for an RFC 3339 "2024-01-02T03:04:05Z" (fraction allowed); -1 if bad.
int64_t ParseRfc3339(std::string_view s);

// Adds "columnDefinitions" to `table` (an object) for `type`.
void AddColumnDefinitions(const ResourceType& type, rapidjson::Value& table,
                          rapidjson::Document::AllocatorType& alloc);

// One row {"cells":[...],"object":...} for `obj`. `include_object` is "None", "Metadata"
// (default) or "Object".
rapidjson::Value TableRow(const ResourceType& type, const rapidjson::Value& obj,
                          std::string_view include_object, int64_t now_unix,
                          rapidjson::Document::AllocatorType& alloc);

}  // namespace lballoc::apiserver
