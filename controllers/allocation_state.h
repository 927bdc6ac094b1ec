// AllocationState: the operator's one allocation engine (ipam::Allocator) behind one mutex, with
// what the two controllers need around it:
//   - the pools as last given to the engine (spec, parsed ranges, effective label selectors), so
//     that selectors, failure explanations and "which pools does this address touch" all use the
//     very state the engine decided with;
//   - the Services waiting for an address to be freed (PoolExhausted, or a requested address in
//     use; for PreferDualStack also a missing family for those reasons), with the families
//     they wait for, to retry when an address of such a family is freed. Other failures cannot
//     be cured by a free (no eligible pool, an invalid request...): they are retried when the
//     Service, its namespace or the pools change. A waiting Service is handed out for retry
//     once and waits again only if that reconcile fails again, so a burst of frees costs one
//     retry per waiting Service, not one per free;
//   - the quarantine (below).
//
// Every method takes the mutex for its whole run and never does I/O: the reconcilers call it,
// then write to the API server with the mutex released. Reads of the informer caches (Service
// and Namespace labels, for selectors) happen under the mutex; the caches' own locks are leaves,
// and informer threads never take this mutex, so there is no lock-order cycle.
//
// Quarantine. The engine reserves an address before the status write that shows it, so a
// Service never shows an address the engine could give to another. The reverse matters too: an
// address a Service still shows (its cached status.loadBalancer.ingress) but no longer holds
// (it moved, its request changed, it stopped being handled, or it lost the address at
// restore) must not go to another Service until the write that removes it from the first one
// succeeded; otherwise two Services would show one address for a while (rule 5 of API.md is
// judged on what Services show). Such an address is held in the engine under a placeholder
// "<namespace>/<name>#<ip>" (a name Kubernetes cannot produce) until StatusWritten() for that
// Service, or its deletion (made by Allocate, Release, Rebuild, and ApplyPools for what the
// Services it invalidated show). Placeholders count as allocated in the pools' counts, which is
// what the cluster shows. An address no Ready pool contains needs no placeholder: the engine
// would not give it out anyway. An address another Service holds cannot have one, yet the
// engine may still give it out: to a Service that may share it with its holders (sharing key
// lballoc.io/sharing-key), though not with the Service that still shows it (e.g. two Services
// shared it, one added a port the other uses and lost it at a rebuild). Such an address is
// remembered with the request of the Service that shows it (shown_; a Service with an
// invalid request or no longer handled shares with nobody): Allocate() asks
// the engine to avoid it for any Service that could not share it with that one (a requested
// address then fails with AddressInUse and waits, as for a placeholder; otherwise the
// Service gets another address if there is one, or waits as PoolExhausted), and it gets a
// placeholder as soon as its holders let it go. Its end (StatusWritten, deletion) retries the
// Services waiting for its family.
//
// Thread-safety: all methods are safe to call from any thread.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "api/core_v1.h"
#include "api/meta.h"
#include "api/v1alpha1/loadbalancerpool.h"
#include "controllers/convert.h"
#include "controllers/explain.h"
#include "controllers/service_cache.h"
#include "operator/base/mutex.h"
#include "operator/base/statusor.h"
#include "operator/ipam/allocator.h"
#include "operator/runtime/store.h"

namespace lballoc::controllers {

class AllocationState {
 public:
  // The stores are the informer caches of Services and Namespaces (read for labels); they must
  // outlive this object.
  AllocationState(ClassSelection classes, const runtime::Store<CachedService>& services,
                  const runtime::Store<api::Namespace>& namespaces);

  AllocationState(const AllocationState&) = delete;
  AllocationState& operator=(const AllocationState&) = delete;

  const ClassSelection& classes() const { return classes_; }

  // ---------------------------------------------------------------- pools

  struct PoolsApplied {
    bool changed = false;  // SetPools ran
    // Services (real ones, sorted) that lost an address because it stopped being valid.
    std::vector<std::string> invalidated;
    // Pools whose status may have changed (every pool, old and new, when changed).
    std::vector<std::string> dirty_pools;
  };
  // Brings the engine's pools in line with `pools` (the pool cache): SetPools when the set of
  // pools, a spec or a creationTimestamp changed since the last call, or when `force`. Status-only
  // changes of pools do nothing. Errors only from SetPools (duplicate or empty names).
  StatusOr<PoolsApplied> ApplyPools(
      const std::vector<runtime::ObjectPtr<api::LoadBalancerPool>>& pools, bool force = false);

  // The engine's view of pool `name` with the controller's override (a bad selector is
  // InvalidSpec naming it); nullopt when the engine does not know the pool.
  std::optional<ipam::PoolStatus> PoolView(std::string_view name) const;

  // ---------------------------------------------------------------- Services

  struct Outcome {
    ipam::Reason reason = ipam::Reason::kAllocated;
    std::string message;                   // the condition message
    std::vector<ipam::Address> addresses;  // held now, in spec.ipFamilies order
    std::vector<std::string> pools;        // the pool of each address
    std::vector<ipam::Address> released;   // addresses this call took away from the Service
    std::vector<std::string> dirty_pools;  // pools whose counts may have changed
    std::vector<std::string> retry;        // waiting Services to reconcile again (freed addresses)
  };
  // Allocates for a handled Service (`request` from BuildRequest; an error is InvalidRequest and
  // releases what the Service held). Quarantines what the Service shows but no longer holds.
  Outcome Allocate(const CachedService& service, const StatusOr<ipam::Request>& request);

  struct Released {
    // The addresses lballoc gave this Service (held, quarantined or shown while others hold
    // them, or, when the Service carries
    // the lballoc.io/AddressAllocated condition, shown and inside a known pool): the ingress
    // entries to remove.
    std::vector<ipam::Address> ours;
    std::vector<ipam::Address> released;  // what the engine held for it until now
    std::vector<std::string> dirty_pools;
    std::vector<std::string> retry;
  };
  // For a Service lballoc does not handle (or no longer handles): releases what it holds and
  // quarantines what it still shows. `service` null: the Service is gone (nothing quarantined).
  Released Release(std::string_view key, const CachedService* service);

  struct Freed {
    std::vector<std::string> dirty_pools;
    std::vector<std::string> retry;
  };
  // The Service's status was written and shows only what it holds: ends its quarantine.
  Freed StatusWritten(std::string_view key);

  // ---------------------------------------------------------------- rebuild

  struct Rebuilt {
    std::vector<ipam::Dropped> dropped;  // real Services only
    size_t services = 0;                 // Services holding addresses after the rebuild
    size_t quarantined = 0;
  };
  // Rules 1-2 of API.md, run on every leadership acquisition before any reconcile: SetPools from
  // `pools`, then Restore from the status.loadBalancer.ingress of every handled Service in
  // `services` (creation_order = creationTimestamp), then quarantine what Services show but do
  // not hold. Forgets the waiting Services (every Service is reconciled after a rebuild).
  StatusOr<Rebuilt> Rebuild(const std::vector<runtime::ObjectPtr<api::LoadBalancerPool>>& pools,
                            const std::vector<runtime::ObjectPtr<CachedService>>& services);

  // ---------------------------------------------------------------- for tests and metrics

  std::vector<ipam::Address> AddressesOf(std::string_view key) const;
  std::vector<std::string> HoldersOf(const ipam::Address& address) const;  // placeholders too
  size_t waiting_count() const;
  size_t quarantine_count() const;  // placeholders
  size_t shown_count() const;       // addresses shown, held by others, and remembered

 private:
  struct AppliedPool {
    runtime::ObjectPtr<api::LoadBalancerPool> pool;
    std::vector<ipam::AddressRange> ranges;
    std::string selector_error;  // "" when the selectors are valid
    // The selectors in force: the current ones when valid, else the last valid ones.
    bool has_effective = false;  // false: never valid; the pool selects nothing
    std::optional<api::LabelSelector> service_selector;
    std::optional<api::LabelSelector> namespace_selector;
  };
  using Labels = std::map<std::string, std::string>;

  StatusOr<PoolsApplied> ApplyPoolsLocked(
      const std::vector<runtime::ObjectPtr<api::LoadBalancerPool>>& pools, bool force)
      REQUIRES(mu_);
  std::optional<ipam::PoolStatus> PoolViewLocked(std::string_view name) const REQUIRES(mu_);
  bool PoolSelectsLocked(std::string_view pool, const Labels& service_labels,
                         const Labels& namespace_labels) const REQUIRES(mu_);
  Labels NamespaceLabels(std::string_view ns) const;
  ipam::PoolSelects EnginePoolSelects() const;
  std::vector<PoolFacts> FactsLocked(const Labels& service_labels,
                                     const Labels& namespace_labels) const REQUIRES(mu_);
  bool HoldsLocked(std::string_view key, const ipam::Address& a) const REQUIRES(mu_);
  // Holds `a` under the placeholder of `key`; false when not needed or not possible. When
  // another Service holds `a`, remembers it as shown by `key` asking `as_shown`.
  bool QuarantineLocked(const std::string& key, const ipam::Address& a,
                        const ipam::Request& as_shown) REQUIRES(mu_);
  // Holds `a` under the placeholder of `key`; false when the engine cannot.
  bool PlaceholderLocked(const std::string& key, const ipam::Address& a) REQUIRES(mu_);
  // Ends every placeholder of `key`; returns the addresses they held.
  std::vector<ipam::Address> LiftLocked(std::string_view key) REQUIRES(mu_);
  // Forgets what `key` shows and others hold; returns those addresses.
  std::vector<ipam::Address> ForgetShownLocked(std::string_view key) REQUIRES(mu_);
  // What `key` shows and others hold, as remembered.
  std::vector<ipam::Address> ShownByLocked(std::string_view key) const REQUIRES(mu_);
  // Of `freed` (just let go in the engine), gives a placeholder to each address some Service
  // still shows; returns those addresses.
  std::vector<ipam::Address> RequarantineFreedLocked(const std::vector<ipam::Address>& freed)
      REQUIRES(mu_);
  // What the engine must avoid giving a Service asking `request` (addresses shown by others
  // that could not share them with it).
  std::vector<ipam::Request::Avoid> AvoidLocked(const ipam::Request& request) const REQUIRES(mu_);
  std::vector<std::string> DirtyPoolsLocked(const std::vector<ipam::Address>& changed) const
      REQUIRES(mu_);
  // Hands out (and forgets) the waiting Services, but `except`, that wait for a family of
  // `freed`.
  std::vector<std::string> RetryLocked(std::string_view except,
                                       const std::vector<ipam::Address>& freed) REQUIRES(mu_);
  // Records what `key` waits for after an allocation (nothing: forgets it).
  void WaitLocked(const std::string& key, const ipam::Result* result, bool invalid,
                  const std::vector<ipam::Family>& families) REQUIRES(mu_);

  const ClassSelection classes_;
  const runtime::Store<CachedService>& services_;
  const runtime::Store<api::Namespace>& namespaces_;

  mutable Mutex mu_;
  ipam::Allocator engine_ GUARDED_BY(mu_);
  std::map<std::string, AppliedPool, std::less<>> pools_ GUARDED_BY(mu_);
  // Service key -> its placeholders' keys.
  std::map<std::string, std::set<std::string>, std::less<>> quarantine_ GUARDED_BY(mu_);
  struct Shown {
    ipam::Request as_shown;  // the Service's request (no sharing key when unknown)
    std::vector<ipam::Address> addresses;
  };
  // Service key -> the addresses it shows, does not hold, and others hold (see Quarantine).
  std::map<std::string, Shown, std::less<>> shown_ GUARDED_BY(mu_);
  // Services waiting for a freed address -> the families they wait for (bit 0 IPv4, bit 1
  // IPv6).
  std::map<std::string, uint8_t, std::less<>> waiting_ GUARDED_BY(mu_);
};

// The placeholder key under which `address`, still shown by `service_key`, is quarantined.
std::string QuarantineKey(std::string_view service_key, const ipam::Address& address);
// Whether an engine key is a placeholder.
bool IsQuarantineKey(std::string_view key);

}  // namespace lballoc::controllers
