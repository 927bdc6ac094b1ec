// The three PATCH flavours of the Kubernetes API, applied to RapidJSON documents:
//   - JSON merge patch (RFC 7386, application/merge-patch+json),
//   - JSON patch (RFC 6902, application/json-patch+json),
//   - strategic merge patch (application/strategic-merge-patch+json) for the built-in kinds the
//     in-memory API server hosts.
//
// Every function is all-or-nothing: on error `target` is left exactly as it was, so the server
// can answer 422 (failed JSON patch op) or 400 (malformed patch) without undoing anything. None
// of them asserts or crashes on a malformed patch: every shape is checked before it is read.
//
// Thread-safety: pure functions; callers must not share a Document between threads while a patch
// is applied to it.
#pragma once

#include <rapidjson/document.h>

#include <string_view>

#include "operator/base/status.h"

namespace lballoc::apiserver {

// RFC 7386. A non-object patch replaces the target whole. Objects merge recursively, null
// deletes a key, arrays are replaced whole. Never fails for well-formed JSON; returns OK.
Status ApplyMergePatch(rapidjson::Document& target, const rapidjson::Value& patch);

// RFC 6902. `ops` must be an array of operation objects (add, remove, replace, move, copy, test).
// Paths are JSON pointers (RFC 6901): "" is the whole document, "~0" is '~', "~1" is '/', and "-"
// appends to an array in add/copy/move targets. At most 10000 operations (the real server's
// maxJSONPatchOperations). Errors are InvalidArgument and name the failing operation, e.g.
// `json patch operation 1 (test): value at "/a" is not equal to the expected value`; the server
// answers them with 422.
Status ApplyJsonPatch(rapidjson::Document& target, const rapidjson::Value& ops);

// Strategic merge patch for the kind named `kind` ("Service", "ConfigMap", "Lease", "Namespace",
// "Event", ...). Like a merge patch (maps merge, null deletes) except for the lists the kind
// declares mergeable:
//   - every kind: metadata.finalizers is a set of strings (union), metadata.ownerReferences
//     merges by uid;
//   - Service: spec.ports merges by port, made protocol-aware (an item's protocol defaults to TCP;
//     a patch item without "protocol", as kubectl sends, matches by port alone, preferring the TCP
//     entry); status.conditions merges by type; spec.clusterIPs, spec.ipFamilies and
//     status.loadBalancer.ingress are atomic;
//   - Namespace: status.conditions merges by type;
//   - any other list (and any kind not listed, e.g. Lease, Event, ConfigMap) is atomic: replaced
//     whole.
// Directives: "$patch": "replace" | "delete" | "merge" in maps and list items,
// "$setElementOrder/<list>", "$retainKeys", "$deleteFromPrimitiveList/<list>". With
// $setElementOrder the listed items come first in the given order, followed by the items the
// order does not mention in their previous order (the real server interleaves those; their
// relative order is the same). Without it, existing items keep their places and new items are
// appended. Errors are InvalidArgument (the server answers 400/422): a list item without its merge
// key, an unknown $patch value, a patch that is not an object.
// Custom resources do not support strategic merge patch (the server answers 415); this function
// does not check that.
Status ApplyStrategicMergePatch(rapidjson::Document& target, const rapidjson::Value& patch,
                                std::string_view kind);

}  // namespace lballoc::apiserver
