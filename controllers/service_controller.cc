#include "controllers/service_controller.h"

#include <glog/logging.h>

#include <algorithm>
#include <utility>

#include "controllers/explain.h"
#include "controllers/status.h"

namespace lballoc::controllers {
namespace {

std::vector<ipam::Address> ShownMinus(const std::vector<ipam::Address>& a,
                                      const std::vector<ipam::Address>& b) {
  std::vector<ipam::Address> out;
  for (const ipam::Address& x : a) {
    if (std::find(b.begin(), b.end(), x) == b.end()) out.push_back(x);
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------- EventTimes

void EventTimes::Seen(const std::string& key) {
  Clock::TimePoint now = clock_.Now();
  MutexLock lock(&mu_);
  seen_.emplace(key, now);  // keeps the earliest pending time
}

std::optional<Clock::TimePoint> EventTimes::Take(const std::string& key) {
  MutexLock lock(&mu_);
  auto it = seen_.find(key);
  if (it == seen_.end()) return std::nullopt;
  Clock::TimePoint t = it->second;
  seen_.erase(it);
  return t;
}

void EventTimes::Forget(const std::string& key) {
  MutexLock lock(&mu_);
  seen_.erase(key);
}

void EventTimes::Clear() {
  MutexLock lock(&mu_);
  seen_.clear();
}

size_t EventTimes::size() const {
  MutexLock lock(&mu_);
  return seen_.size();
}

runtime::MapFunc<CachedService> ServiceRequests(ClassSelection classes,
                                                std::shared_ptr<EventTimes> times) {
  return [classes = std::move(classes), times = std::move(times)](const CachedService& svc) {
    if (!IsHandled(svc, classes) &&
        api::FindCondition(svc.status.conditions, kConditionType) == nullptr) {
      return std::vector<runtime::Request>{};
    }
    times->Seen(ServiceKey(svc.metadata));
    return std::vector<runtime::Request>{{svc.metadata.namespace_, svc.metadata.name}};
  };
}

// ---------------------------------------------------------------- ServiceReconciler

ServiceReconciler::ServiceReconciler(std::shared_ptr<AllocationState> state,
                                     const runtime::Store<CachedService>& services,
                                     runtime::Client& client, runtime::EventRecorder& recorder,
                                     std::shared_ptr<OperatorMetrics> metrics,
                                     std::shared_ptr<EventTimes> times, Clock& clock)
    : state_(std::move(state)),
      services_(services),
      client_(client),
      recorder_(recorder),
      metrics_(std::move(metrics)),
      times_(std::move(times)),
      clock_(clock) {}

void ServiceReconciler::Notify(const std::vector<std::string>& pools,
                               const std::vector<std::string>& retry) {
  if (!pools.empty() && hooks_.pools_changed) hooks_.pools_changed(pools);
  if (!retry.empty() && hooks_.retry) hooks_.retry(retry);
}

runtime::ReconcileResult ServiceReconciler::Reconcile(const runtime::Request& request) {
  const std::string key = request.namespace_ + "/" + request.name;
  runtime::ObjectPtr<CachedService> svc = services_.Get(request.namespace_, request.name);
  if (svc == nullptr) return Gone(key);
  if (!IsHandled(*svc, state_->classes())) return ReconcileNotHandled(*svc, key);
  return ReconcileHandled(*svc, key);
}

runtime::ReconcileResult ServiceReconciler::Gone(const std::string& key) {
  AllocationState::Released r = state_->Release(key, nullptr);
  Notify(r.dirty_pools, r.retry);
  times_->Forget(key);
  if (!r.released.empty()) {
    LOG(INFO) << "service " << key << " deleted: released " << JoinAddresses(r.released);
  }
  return runtime::ReconcileResult::Done();
}

Status ServiceReconciler::WriteStatus(const CachedService& service,
                                      const api::ServiceStatus& status) {
  api::Service patch;
  patch.metadata.resource_version = service.metadata.resource_version;
  patch.status = status;
  return client_
      .PatchStatus(service.metadata.namespace_, service.metadata.name, runtime::PatchType::kMerge,
                   api::ServiceStatusPatch(patch))
      .status();
}

runtime::ReconcileResult ServiceReconciler::WriteFailed(const Status& status,
                                                        const CachedService& service,
                                                        const std::string& key) {
  if (status.IsNotFound()) return Gone(key);
  if (status.code() == StatusCode::kInvalidArgument) {
    // The server refuses this status for good (400/422): holding addresses the Service cannot
    // show would only leak them. What it shows stays quarantined.
    AllocationState::Released r = state_->Release(key, &service);
    Notify(r.dirty_pools, r.retry);
    times_->Forget(key);
    LOG(WARNING) << "service " << key << ": status write refused, addresses released: " << status;
    return runtime::ReconcileResult::Terminal(status);
  }
  // 409: the cache is behind; the retry reads the newer object. 429/5xx, transport errors and
  // DataLoss (a 2xx answer that could not be read: the status may have been written): retry
  // with back-off. The reservation stays either way.
  return runtime::ReconcileResult::Error(status.WithContext("service " + key + ": status write"));
}

runtime::ReconcileResult ServiceReconciler::ReconcileHandled(const CachedService& service,
                                                             const std::string& key) {
  StatusOr<ipam::Request> request = BuildRequest(service);
  AllocationState::Outcome outcome = state_->Allocate(service, request);
  Notify(outcome.dirty_pools, outcome.retry);

  api::Condition condition =
      AllocationCondition(outcome.reason, outcome.message, service.metadata.generation);
  api::ServiceStatus desired =
      DesiredServiceStatus(service.status, outcome.addresses, condition, clock_.WallNow());
  if (ServiceStatusEquivalent(desired, service.status)) {
    times_->Forget(key);
    return runtime::ReconcileResult::Done();
  }
  Status written = WriteStatus(service, desired);
  if (!written.ok()) return WriteFailed(written, service, key);

  AllocationState::Freed freed = state_->StatusWritten(key);
  Notify(freed.dirty_pools, freed.retry);
  if (std::optional<Clock::TimePoint> seen = times_->Take(key)) {
    metrics_->ObserveLatency(clock_.Now() - *seen);
  }
  metrics_->CountResult(outcome.reason);

  std::vector<ipam::Address> shown = IngressAddresses(service.status);
  std::vector<ipam::Address> added = ShownMinus(outcome.addresses, shown);
  std::vector<ipam::Address> removed = ShownMinus(shown, outcome.addresses);
  if (!added.empty()) {
    std::string message = "allocated ";
    for (size_t i = 0; i < added.size(); ++i) {
      if (i > 0) message += ", ";
      message += added[i].ToString();
      auto at = std::find(outcome.addresses.begin(), outcome.addresses.end(), added[i]);
      size_t index = static_cast<size_t>(at - outcome.addresses.begin());
      if (index < outcome.pools.size() && !outcome.pools[index].empty()) {
        message += " (pool \"" + outcome.pools[index] + "\")";
      }
    }
    recorder_.Event(service, runtime::kEventTypeNormal, kEventAddressAllocated, message);
  }
  if (!removed.empty()) {
    recorder_.Event(service, runtime::kEventTypeNormal, kEventAddressReleased,
                    "released " + JoinAddresses(removed));
  }
  if (condition.status != "True") {
    const api::Condition* before = api::FindCondition(service.status.conditions, kConditionType);
    if (before == nullptr || before->reason != condition.reason ||
        before->message != condition.message) {
      recorder_.Event(service, runtime::kEventTypeWarning, kEventAllocationFailed,
                      condition.message);
    }
  }
  return runtime::ReconcileResult::Done();
}

runtime::ReconcileResult ServiceReconciler::ReconcileNotHandled(const CachedService& service,
                                                                const std::string& key) {
  AllocationState::Released r = state_->Release(key, &service);
  Notify(r.dirty_pools, r.retry);
  // What the Service loses: what the engine held for it (the API server may already have
  // cleared the ingress, e.g. on a type change) and what its ingress still shows of ours.
  std::vector<ipam::Address> released = r.released;
  api::ServiceStatus desired = ReleasedServiceStatus(service.status, r.ours);
  for (const ipam::Address& a :
       ShownMinus(IngressAddresses(service.status), IngressAddresses(desired))) {
    if (std::find(released.begin(), released.end(), a) == released.end()) released.push_back(a);
  }
  auto event = [&] {
    if (released.empty()) return;
    recorder_.Event(service, runtime::kEventTypeNormal, kEventAddressReleased,
                    "released " + JoinAddresses(released) + ": the Service is no longer handled");
  };
  times_->Forget(key);
  if (ServiceStatusEquivalent(desired, service.status)) {
    event();
    return runtime::ReconcileResult::Done();
  }
  Status written = WriteStatus(service, desired);
  if (!written.ok()) {
    // The engine let go of r.released whatever becomes of the write, and the retry finds
    // nothing left to release: report now what the Service no longer shows (what it still
    // shows, the retry reports once its write succeeds). Found by the bad-input test: a
    // class flap whose write met a 409 lost its AddressReleased event.
    std::vector<ipam::Address> gone = ShownMinus(r.released, IngressAddresses(service.status));
    if (!gone.empty()) {
      recorder_.Event(service, runtime::kEventTypeNormal, kEventAddressReleased,
                      "released " + JoinAddresses(gone) + ": the Service is no longer handled");
    }
    return WriteFailed(written, service, key);
  }
  AllocationState::Freed freed = state_->StatusWritten(key);
  Notify(freed.dirty_pools, freed.retry);
  event();
  return runtime::ReconcileResult::Done();
}

}  // namespace lballoc::controllers
