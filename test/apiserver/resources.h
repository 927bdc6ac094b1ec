// The resource types the in-memory API server serves: the built-in ones and those a
// CustomResourceDefinition declares, with what discovery, tables and the write path need.
//
// Plain values; not synchronised (the server guards its registry with its own mutex).
#pragma once

#include <rapidjson/document.h>

#include <memory>
#include <string>
#include <vector>

#include "operator/base/statusor.h"

namespace lballoc::apiserver {

struct PrinterColumn {
  std::string name;
  std::string type;  // string, integer, number, boolean, date
  std::string format;
  std::string description;
  std::string json_path;  // ".spec.x" style
  int priority = 0;
};

struct ResourceType {
  std::string group;  // "" for core
  std::string version;
  std::string plural;
  std::string singular;
  std::string kind;
  std::string list_kind;
  bool namespaced = true;
  bool has_status = false;  // a /status subresource
  // generation is set and bumped on changes outside metadata (and outside status when
  // has_status).
  bool tracks_generation = false;
  bool custom = false;  // served from a CRD (no strategic merge patch)
  // The registry strategy's policies: a PUT without metadata.resourceVersion overwrites (else 422
  // "must be specified for an update"), and a PUT of a missing object creates it (else 404).
  bool allow_unconditional_update = true;
  bool allow_create_on_update = false;
  bool storage_version = true;  // the version objects are stored in
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
  std::vector<PrinterColumn> columns;          // Table columns after NAME
  std::vector<std::string> selectable_fields;  // CRD selectableFields (".spec.x")
  std::string crd_name;                        // plural.group when custom
  // The version's openAPIV3Schema (custom resources only; null when the CRD has none).
  std::shared_ptr<const rapidjson::Document> schema;

  std::string group_version() const { return group.empty() ? version : group + "/" + version; }
  // Set when this type is served from another type's storage: events.k8s.io/v1 Events are the
  // core/v1 Events ("/events"), converted on the way in and out.
  std::string storage_key;

  // Storage key, independent of the version: "group/plural".
  std::string key() const { return storage_key.empty() ? group + "/" + plural : storage_key; }
  // "plural" or "plural.group", as in error messages.
  std::string qualified() const { return group.empty() ? plural : plural + "." + group; }
};

// core/v1 namespaces, services, events, configmaps; coordination.k8s.io/v1 leases;
// events.k8s.io/v1 events; apiextensions.k8s.io/v1 customresourcedefinitions.
std::vector<ResourceType> BuiltinResourceTypes();

// The types one CRD serves, one per served version (first the storage version). Fails with
// InvalidArgument naming the field when the CRD lacks what serving needs.
StatusOr<std::vector<ResourceType>> ResourceTypesFromCrd(const rapidjson::Value& crd);

}  // namespace lballoc::apiserver
