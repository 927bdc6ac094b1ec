#include "controllers/metrics.h"

#include <chrono>

namespace lballoc::controllers {
namespace {

constexpr ipam::Reason kReasons[] = {
    ipam::Reason::kAllocated,         ipam::Reason::kNoEligiblePool,
    ipam::Reason::kPoolExhausted,     ipam::Reason::kAddressInUse,
    ipam::Reason::kAddressNotInPool,  ipam::Reason::kInvalidRequest,
    ipam::Reason::kFamilyUnavailable,
};

}  // namespace

OperatorMetrics::OperatorMetrics(runtime::MetricsRegistry& registry) : registry_(registry) {
  for (ipam::Reason r : kReasons) {
    results_[r] = registry_.GetCounter(
        kAllocationsMetric, "Allocation outcomes written to Service statuses, by condition reason.",
        {{"result", std::string(ipam::ReasonName(r))}});
  }
  latency_ = registry_.GetHistogram(
      kLatencyMetric, "Seconds from a Service change seen by the operator to its status written.",
      {}, {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60});
}

OperatorMetrics::~OperatorMetrics() {
  MutexLock lock(&mu_);
  for (auto& [name, gauges] : pools_) {
    for (int id : gauges.funcs) registry_.RemoveFunc(id);
  }
}

void OperatorMetrics::SetPool(const std::string& pool, const ipam::PoolStatus& view) {
  MutexLock lock(&mu_);
  PoolGauges& g = pools_[pool];
  if (g.values == nullptr) {
    g.values = std::make_shared<Values>();
    const char* families[] = {"IPv4", "IPv6"};
    const char* states[] = {"total", "allocated", "available"};
    for (int f = 0; f < 2; ++f) {
      for (int s = 0; s < 3; ++s) {
        std::shared_ptr<Values> values = g.values;
        int index = f * 3 + s;
        // The callback reads atomics only: the registry calls it under its own lock.
        g.funcs.push_back(registry_.AddFunc(
            runtime::MetricsRegistry::Type::kGauge, kPoolAddressesMetric,
            "Addresses of each LoadBalancerPool by family and state.",
            {{"pool", pool}, {"family", families[f]}, {"state", states[s]}},
            [values, index] { return (*values)[index].load(std::memory_order_relaxed); }));
      }
    }
  }
  const ipam::FamilyCounts* counts[] = {&view.ipv4, &view.ipv6};
  for (int f = 0; f < 2; ++f) {
    (*g.values)[f * 3 + 0].store(static_cast<double>(counts[f]->total));
    (*g.values)[f * 3 + 1].store(static_cast<double>(counts[f]->allocated));
    (*g.values)[f * 3 + 2].store(static_cast<double>(counts[f]->available));
  }
}

void OperatorMetrics::RemovePool(const std::string& pool) {
  MutexLock lock(&mu_);
  auto it = pools_.find(pool);
  if (it == pools_.end()) return;
  for (int id : it->second.funcs) registry_.RemoveFunc(id);
  pools_.erase(it);
}

void OperatorMetrics::CountResult(ipam::Reason reason) {
  auto it = results_.find(reason);
  if (it != results_.end()) it->second->Inc();
}

void OperatorMetrics::ObserveLatency(Clock::Duration latency) {
  latency_->Observe(std::chrono::duration<double>(latency).count());
}

}  // namespace lballoc::controllers
