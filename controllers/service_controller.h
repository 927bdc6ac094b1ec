// The Service controller: gives each handled Service its addresses and writes them, with the
// lballoc.io/AddressAllocated condition, to its status; releases the addresses of Services that
// are deleted or stop being handled and removes what lballoc wrote from those that remain.
//
// One reconcile of a Service (key "namespace/name"), reading only the informer cache:
//   gone           -> release (and end its quarantine); no write, no event.
//   not handled    -> release; if lballoc held or wrote anything (its condition), write the
//                     status without lballoc's ingress entries and condition. Services of
//                     other classes that lballoc never touched are never written (the watch
//                     does not even queue them).
//   handled        -> BuildRequest, AllocationState::Allocate (addresses reserved before any
//                     write), desired status; equal to the cached one (ipMode: VIP counts as
//                     unset) -> done, nothing written; else one merge patch of /status with the
//                     cached resourceVersion, then events.
// Write errors: 409 -> retry with back-off (the cache catches up); 404 -> release; 400/422 (the
// write can never succeed) -> release, Terminal; 429/5xx/others -> retry with back-off, keeping
// the reservation.
//
// Events, only after a write that changed something (so never on a resync):
//   Normal  AddressAllocated  "allocated 192.0.2.7 (pool \"web\")"   addresses added to ingress
//   Normal  AddressReleased   "released 192.0.2.7"                   addresses removed
//   Warning AllocationFailed  <the condition message>                a new or changed failure
//
// Thread-safety: Reconcile is called by several controller workers at once (never twice at once
// for one key); the hooks must be set before the controller starts.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/core_v1.h"
#include "controllers/allocation_state.h"
#include "controllers/convert.h"
#include "controllers/metrics.h"
#include "controllers/service_cache.h"
#include "operator/base/clock.h"
#include "operator/base/mutex.h"
#include "operator/runtime/client.h"
#include "operator/runtime/controller.h"
#include "operator/runtime/event_recorder.h"
#include "operator/runtime/reconciler.h"
#include "operator/runtime/store.h"

namespace lballoc::controllers {

inline constexpr char kEventAddressAllocated[] = "AddressAllocated";
inline constexpr char kEventAddressReleased[] = "AddressReleased";
inline constexpr char kEventAllocationFailed[] = "AllocationFailed";

// When the operator first saw a change of each Service, for lballoc_allocation_latency_seconds.
// The Service watch records (keeping the earliest time while a change is pending); the reconcile
// takes it when it writes the status, and forgets it when there was nothing to write.
// Thread-safe.
class EventTimes {
 public:
  explicit EventTimes(Clock& clock) : clock_(clock) {}
  void Seen(const std::string& key);
  std::optional<Clock::TimePoint> Take(const std::string& key);
  void Forget(const std::string& key);
  // Forgets everything (a new leadership term: a standby records events it never answers).
  void Clear();
  size_t size() const;
  Clock& clock() { return clock_; }

 private:
  Clock& clock_;
  mutable Mutex mu_;
  std::map<std::string, Clock::TimePoint> seen_ GUARDED_BY(mu_);
};

// The Service watch's map function: the Service itself when it is handled or carries lballoc's
// condition (it may need cleaning up), nothing otherwise. Records the time it was seen.
runtime::MapFunc<CachedService> ServiceRequests(ClassSelection classes,
                                                std::shared_ptr<EventTimes> times);

// What the Service reconcile asks of the rest of the operator.
struct ServiceHooks {
  // The counts of these pools may have changed: write their status soon (coalesced).
  std::function<void(const std::vector<std::string>& pools)> pools_changed;
  // Addresses were freed: reconcile these waiting Services again.
  std::function<void(const std::vector<std::string>& services)> retry;
};

class ServiceReconciler final : public runtime::Reconciler {
 public:
  // `services` is the Service informer's cache; it, `client` and `recorder` must outlive the
  // reconciler.
  ServiceReconciler(std::shared_ptr<AllocationState> state,
                    const runtime::Store<CachedService>& services, runtime::Client& client,
                    runtime::EventRecorder& recorder, std::shared_ptr<OperatorMetrics> metrics,
                    std::shared_ptr<EventTimes> times, Clock& clock);

  void SetHooks(ServiceHooks hooks) { hooks_ = std::move(hooks); }

  runtime::ReconcileResult Reconcile(const runtime::Request& request) override;

 private:
  runtime::ReconcileResult ReconcileHandled(const CachedService& service, const std::string& key);
  runtime::ReconcileResult ReconcileNotHandled(const CachedService& service,
                                               const std::string& key);
  runtime::ReconcileResult Gone(const std::string& key);
  // A write failed: what to do with the reservation and the request.
  runtime::ReconcileResult WriteFailed(const Status& status, const CachedService& service,
                                       const std::string& key);
  Status WriteStatus(const CachedService& service, const api::ServiceStatus& status);
  void Notify(const std::vector<std::string>& pools, const std::vector<std::string>& retry);

  std::shared_ptr<AllocationState> state_;
  const runtime::Store<CachedService>& services_;
  runtime::TypedClient<api::Service> client_;
  runtime::EventRecorder& recorder_;
  std::shared_ptr<OperatorMetrics> metrics_;
  std::shared_ptr<EventTimes> times_;
  Clock& clock_;
  ServiceHooks hooks_;
};

}  // namespace lballoc::controllers
