// The LoadBalancerPool controller: keeps the engine's pools in line with the LoadBalancerPools
// and writes each pool's status (API.md "The custom resource").
//
// One reconcile of a pool (key "name"):
//   1. AllocationState::ApplyPools from the whole pool cache: SetPools runs only when a spec,
//      a creationTimestamp or the set of pools changed. When it ran, every pool is queued (Ready
//      and counts of others may change: Overlap, freed addresses) and every handled Service is
//      queued, those that lost an address first. All of them rather than only the invalidated
//      ones: a new or widened pool, or a changed selector, can satisfy a waiting Service or add
//      the missing family of a PreferDualStack one, and failure messages name pools. For the
//      Services that are already fine that is a cache read and a comparison, no write.
//   2. The desired status (status.h) from the engine's view of the pool, compared with the
//      cached status; equal -> nothing is written.
//   3. Coalescing. A difference in observedGeneration, in a condition's status or reason, or
//      in a not-Ready message is written at once. A difference only in counts (and the messages
//      that carry them) is written at most once per `status_interval` per pool: when the last
//      write of this pool is more recent, the reconcile asks to be run again when the interval
//      has passed (RequeueAfter) instead of writing. The Service path marks pools dirty with
//      EnqueueAfter(status_interval), and the queue keeps one waiting entry per key (the
//      earlier time wins), so 10,000 allocations in one second queue one pool reconcile and
//      cause one write. Staleness of the counts is therefore bounded by status_interval plus
//      the reconcile and write time (plus back-off while writes fail).
//   4. The write is a merge patch of /status carrying the cached resourceVersion: 409 -> retry
//      with back-off (the cache catches up), 404 -> done, others -> retry.
// The pool's lballoc_pool_addresses gauges are set from the engine at every reconcile (also when
// the write waits), and removed with the pool.
//
// Thread-safety: Reconcile from the controller's worker (one is enough: the engine serialises
// anyway); ResetWrites from the before-controllers hook.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "api/v1alpha1/loadbalancerpool.h"
#include "controllers/allocation_state.h"
#include "controllers/metrics.h"
#include "operator/base/clock.h"
#include "operator/base/mutex.h"
#include "operator/runtime/client.h"
#include "operator/runtime/reconciler.h"
#include "operator/runtime/store.h"

namespace lballoc::controllers {

struct PoolHooks {
  // Queue these pools now (the engine's pools changed).
  std::function<void(const std::vector<std::string>& pools)> requeue_pools;
  // Queue these Services, then every handled Service (the engine's pools changed).
  std::function<void(const std::vector<std::string>& invalidated)> requeue_services;
};

class PoolReconciler final : public runtime::Reconciler {
 public:
  // `pools` is the LoadBalancerPool informer's cache; it and `client` must outlive the
  // reconciler.
  PoolReconciler(std::shared_ptr<AllocationState> state,
                 const runtime::Store<api::LoadBalancerPool>& pools, runtime::Client& client,
                 std::shared_ptr<OperatorMetrics> metrics, Clock& clock,
                 Clock::Duration status_interval);

  void SetHooks(PoolHooks hooks) { hooks_ = std::move(hooks); }
  Clock::Duration status_interval() const { return status_interval_; }

  runtime::ReconcileResult Reconcile(const runtime::Request& request) override;

  // Forgets when each pool was last written (a new leadership term starts afresh).
  void ResetWrites();

 private:
  std::shared_ptr<AllocationState> state_;
  const runtime::Store<api::LoadBalancerPool>& pools_;
  runtime::TypedClient<api::LoadBalancerPool> client_;
  std::shared_ptr<OperatorMetrics> metrics_;
  Clock& clock_;
  const Clock::Duration status_interval_;
  PoolHooks hooks_;

  Mutex mu_;
  std::map<std::string, Clock::TimePoint> last_write_ GUARDED_BY(mu_);
};

}  // namespace lballoc::controllers
