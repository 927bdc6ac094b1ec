// OpenAPI v3 documents of the in-memory API server: GET /openapi/v3 (the index) and
// GET /openapi/v3/api/v1, /openapi/v3/apis/GROUP/VERSION (one document per group-version).
//
// What kubectl 1.32 reads from them (facts from kubectl/client-go source; checked end to end with
// the real /usr/bin/kubectl by testdata/semantics/kubectl_check/run.sh):
//   - Field validation. `kubectl apply/create` (default --validate=strict) looks, in the document
//     of the object's group-version (for a custom resource whose group-version is missing, in the
//     core/v1 document, for Namespace), for a path whose PATCH operation carries the extension
//     x-kubernetes-group-version-kind = {group, version, kind} (one map) and checks that
//     operation's parameters for a query parameter named "fieldValidation". Found: kubectl skips
//     client-side validation and sends ?fieldValidation=Strict (the server validates). Without it
//     kubectl validates client-side against /openapi/v2 and fails when that is missing. A
//     group-version whose document lacks the PATCH path is an error ("Path not found for GVK"), so
//     every kind served needs one.
//   - The apply patch. If that PATCH operation's requestBody lists
//     application/strategic-merge-patch+json, kubectl computes the strategic merge patch from the
//     component schema carrying x-kubernetes-group-version-kind = [{group, version, kind}] (a
//     list). The built-in schemas here are permissive (no field-level patch metadata), so they do
//     NOT list strategic merge: kubectl then falls back (silently, at -v5) to /openapi/v2 (the
//     server may answer 404) and to its compiled-in Go types, which carry the real merge keys, and
//     so sends the same patch as against a real cluster (e.g. $setElementOrder/ports). Custom
//     resources never list it, as on a real server, so kubectl sends a JSON merge patch for them.
// Documents are deterministic (same input, same bytes), so the index's ?hash= (a digest of the
// document) changes exactly when the document does; kubectl's HTTP cache keys on the URL.
//
// Thread-safety: pure functions.
#pragma once

#include <rapidjson/document.h>

#include <string>
#include <string_view>
#include <vector>

#include "operator/base/statusor.h"

namespace lballoc::apiserver {

struct GroupVersion {
  std::string group;    // "" for the core group
  std::string version;  // "v1"
  // The ?hash= of the document in the index; when empty, a digest of "group/version" is used.
  // Set it to OpenApiHash(document) so clients refetch when the document changes.
  std::string hash;
};

// "api/v1" for the core group, else "apis/GROUP/VERSION": the keys of the index's "paths".
std::string OpenApiPathKey(std::string_view group, std::string_view version);

// A digest of a document, 32 uppercase hex digits (not cryptographic).
std::string OpenApiHash(std::string_view document);

// The /openapi/v3 index:
//   {"paths":{"api/v1":{"serverRelativeURL":"/openapi/v3/api/v1?hash=H"}, ...}}
std::string OpenApiIndex(const std::vector<GroupVersion>& group_versions);

struct OpenApiKind {
  std::string kind;    // "Service"
  std::string plural;  // "services"
  bool namespaced = true;
  bool has_status = false;  // serves the /status subresource
  // Whether PATCH lists application/strategic-merge-patch+json (see the header comment; false for
  // the permissive built-in schemas and for custom resources).
  bool strategic_merge_patch = false;
  // The component schema name, e.g. "io.k8s.api.core.v1.Service".
  std::string schema_name;
};

// The built-in kinds the in-memory server hosts in a group-version: core/v1 Service, Namespace,
// ConfigMap, Event, Secret; coordination.k8s.io/v1 Lease; events.k8s.io/v1 Event;
// apiextensions.k8s.io/v1 CustomResourceDefinition. Empty for other group-versions.
std::vector<OpenApiKind> BuiltinOpenApiKinds(std::string_view group, std::string_view version);

// The document of one group-version: the paths (list/create on collections; get/put/patch/delete
// on objects; get/put/patch on /status) of `builtin_kinds`, plus those of every CRD in `crds`
// (full apiextensions.k8s.io/v1 CustomResourceDefinition objects; the ones of other groups, or
// without a served version named `version`, are skipped) and components.schemas:
//   - each built-in kind: a permissive object schema (apiVersion, kind, metadata properties;
//     x-kubernetes-preserve-unknown-fields) with x-kubernetes-group-version-kind;
//   - each CRD kind: the version's schema.openAPIV3Schema, with apiVersion/kind/metadata
//     properties added when missing, and x-kubernetes-group-version-kind;
//   - io.k8s.apimachinery.pkg.apis.meta.v1.{ObjectMeta,Status,Patch,DeleteOptions,ListMeta}.
// InvalidArgument for a CRD of this group-version without spec.names.kind/plural.
StatusOr<std::string> OpenApiGroupVersionDoc(std::string_view group, std::string_view version,
                                             const std::vector<OpenApiKind>& builtin_kinds,
                                             const std::vector<const rapidjson::Value*>& crds);

}  // namespace lballoc::apiserver
