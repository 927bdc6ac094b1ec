#include "controllers/pool_controller.h"

#include <glog/logging.h>

#include <utility>

#include "controllers/status.h"

namespace lballoc::controllers {

PoolReconciler::PoolReconciler(std::shared_ptr<AllocationState> state,
                               const runtime::Store<api::LoadBalancerPool>& pools,
                               runtime::Client& client, std::shared_ptr<OperatorMetrics> metrics,
                               Clock& clock, Clock::Duration status_interval)
    : state_(std::move(state)),
      pools_(pools),
      client_(client),
      metrics_(std::move(metrics)),
      clock_(clock),
      status_interval_(status_interval) {}

void PoolReconciler::ResetWrites() {
  MutexLock lock(&mu_);
  last_write_.clear();
}

runtime::ReconcileResult PoolReconciler::Reconcile(const runtime::Request& request) {
  const std::string& name = request.name;
  StatusOr<AllocationState::PoolsApplied> applied = state_->ApplyPools(pools_.List());
  if (!applied.ok()) {
    return runtime::ReconcileResult::Error(applied.status().WithContext("apply pools"));
  }
  if (applied->changed) {
    std::vector<std::string> others;
    for (const std::string& p : applied->dirty_pools) {
      if (p != name) others.push_back(p);
    }
    if (hooks_.requeue_pools && !others.empty()) hooks_.requeue_pools(others);
    if (hooks_.requeue_services) hooks_.requeue_services(applied->invalidated);
    if (!applied->invalidated.empty()) {
      LOG(INFO) << "pools changed: " << applied->invalidated.size()
                << " Services lost an address that is no longer valid";
    }
  }

  runtime::ObjectPtr<api::LoadBalancerPool> pool = pools_.Get(name);
  if (pool == nullptr) {
    metrics_->RemovePool(name);
    MutexLock lock(&mu_);
    last_write_.erase(name);
    return runtime::ReconcileResult::Done();
  }
  std::optional<ipam::PoolStatus> view = state_->PoolView(name);
  if (!view) {
    // Created after the list above: the next reconcile applies it.
    return runtime::ReconcileResult::Error(UnavailableError("pool " + name + " not applied yet"));
  }
  metrics_->SetPool(name, *view);

  api::LoadBalancerPoolStatus desired = DesiredPoolStatus(*pool, *view, clock_.WallNow());
  PoolStatusChange change = ComparePoolStatus(pool->status, desired);
  if (change == PoolStatusChange::kNone) return runtime::ReconcileResult::Done();
  const Clock::TimePoint now = clock_.Now();
  if (change == PoolStatusChange::kCountsOnly) {
    MutexLock lock(&mu_);
    auto it = last_write_.find(name);
    if (it != last_write_.end() && now - it->second < status_interval_) {
      return runtime::ReconcileResult::RequeueAfter(status_interval_ - (now - it->second));
    }
  }

  api::LoadBalancerPool patch;
  patch.metadata.resource_version = pool->metadata.resource_version;
  patch.status = std::move(desired);
  StatusOr<api::LoadBalancerPool> written =
      client_.PatchStatus("", name, runtime::PatchType::kMerge, api::PoolStatusPatch(patch));
  if (!written.ok()) {
    if (written.status().IsNotFound()) return runtime::ReconcileResult::Done();
    return runtime::ReconcileResult::Error(
        written.status().WithContext("pool " + name + ": status write"));
  }
  MutexLock lock(&mu_);
  last_write_[name] = now;
  return runtime::ReconcileResult::Done();
}

}  // namespace lballoc::controllers
