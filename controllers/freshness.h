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

#include <cstddef>
#include <functional>
#include <optional>
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

// CacheCaughtUp for a LIST read page by page, without decoding every object nor copying the
// cache: at 100,000 Services one unpaged LIST decoded whole took seconds of the leader's start-up
// (BENCHMARKS.md). Gives the same answer as CacheCaughtUp on the same LIST and cache (proven by
// freshness_test on random inputs); which object an error names may differ.
//
//   PagedCatchUp check("Service", lookup);
//   for each page: check.SetListVersion(first page's version); for each item:
//     LB_RETURN_IF_ERROR(check.Listed(raw key, raw resourceVersion, decodable));
//   LB_RETURN_IF_ERROR(check.Finish(cache size, cache listing));
//
// The cache may change while the pages are read (watch events apply in order): an object seen
// at the same or a newer version stays so, and a cache that dropped a listed object since has
// applied a newer event, so every event before the list too (Finish explains the count).
class PagedCatchUp {
 public:
  // The cached object's resourceVersion for a key; nullopt when not cached.
  using Lookup = std::function<std::optional<std::string>(std::string_view key)>;

  PagedCatchUp(std::string_view what, Lookup lookup);

  // The LIST's resourceVersion (of its first page: the pages of a paged LIST share it).
  void SetListVersion(std::string_view list_version);

  // One listed object. `decodable` is asked only when the cache lacks the object or holds an
  // older version: an object the informer cannot decode is skipped by it (it keeps what it
  // cached for that key), so such a key is left out on both sides, as in CacheCaughtUp.
  Status Listed(std::string_view key, std::string_view resource_version,
                const std::function<bool()>& decodable);

  // After the last page: every cached object not listed must be newer than the list.
  // `cached_count` is the cache's size now; `cached` lists it, and is called only when the
  // cache holds objects besides the listed ones it matched.
  Status Finish(size_t cached_count, const std::function<std::vector<VersionedKey>()>& cached);

 private:
  std::string what_;
  Lookup lookup_;
  std::string list_version_;
  std::vector<std::string> listed_;  // every listed key (matched or undecodable)
  size_t matched_ = 0;               // listed keys found cached at the same or a newer version
};

}  // namespace lballoc::controllers
