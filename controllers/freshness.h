// Whether an informer cache has caught up with the API server, for the rebuild at the start of
// a leadership term (API.md rule 2: rebuild from the Services' *current* status).
//
// A replica's caches can lag behind the API server while it stands by (a watch dropped, expired
// with 410 or relisting under errors). A rebuild from a lagging Service cache forgets addresses
// the previous leader gave since, and the new leader gives them again: two Services then show
// one address (found by the chaos test, test/e2e/test_chaos.py). A rebuild from a lagging pool
// or namespace cache drops addresses of pools it does not know yet (an address moved without a
// reason). Every write of the previous term ended before this replica could acquire the Lease
// (fencing, runtime/leader_election.h), so a consistent LIST made after acquiring sees them all:
// the rebuild waits until each cache holds at least what such a LIST returned.
//
// Pure functions; no I/O.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "operator/base/status.h"

namespace lballoc::controllers {

// One object as "namespace/name" (or "name") and its metadata.resourceVersion.
struct VersionedKey {
  std::string key;
  std::string resource_version;
};

// Whether resource version `a` is the same as or newer than `b`. Kubernetes resource versions
// are opaque strings, but every kube-apiserver (etcd revisions) and lballoc-apiserver issues
// decimal integers that grow with each write; when either is not such an integer only equality
// counts.
bool SameOrNewer(std::string_view a, std::string_view b);

// OK when every `listed` object (a consistent LIST answered at `list_version`) is in `cached`
// at the same or a newer version, and every cached object absent from the list is newer than
// the list (created since); else Unavailable naming `what` and the first object behind.
Status CacheCaughtUp(std::string_view what, const std::vector<VersionedKey>& listed,
                     std::string_view list_version, std::vector<VersionedKey> cached);

}  // namespace lballoc::controllers
