// The lballoc_* metric families (API.md "Metrics"):
//   lballoc_pool_addresses{pool, family="IPv4"|"IPv6", state="total"|"allocated"|"available"}
//       gauges, from the engine's view of each pool. There is no overall row: the two families
//       add up to it (sum without(family)), and an overall row would double every sum.
//       A pool's series disappear when the pool is deleted.
//   lballoc_allocations_total{result=<condition reason>}
//       counter of allocation outcomes written to a Service's status (one per status write
//       of a handled Service, so resyncs that change nothing do not count). Every reason is
//       exported from the start, at 0.
//   lballoc_allocation_latency_seconds
//       histogram: from the informer delivering a Service change to the status write that
//       answers it (retries included).
//
// Thread-safety: all methods are safe to call from any thread. The registry must outlive this
// object (the destructor removes the pool gauges from it).
#pragma once

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "operator/base/clock.h"
#include "operator/base/mutex.h"
#include "operator/ipam/allocator.h"
#include "operator/runtime/metrics.h"

namespace lballoc::controllers {

inline constexpr char kPoolAddressesMetric[] = "lballoc_pool_addresses";
inline constexpr char kAllocationsMetric[] = "lballoc_allocations_total";
inline constexpr char kLatencyMetric[] = "lballoc_allocation_latency_seconds";

class OperatorMetrics {
 public:
  explicit OperatorMetrics(runtime::MetricsRegistry& registry);
  ~OperatorMetrics();
  OperatorMetrics(const OperatorMetrics&) = delete;
  OperatorMetrics& operator=(const OperatorMetrics&) = delete;

  // Sets (creating on first use) the gauges of `pool`.
  void SetPool(const std::string& pool, const ipam::PoolStatus& view);
  // Removes the gauges of `pool`.
  void RemovePool(const std::string& pool);

  void CountResult(ipam::Reason reason);
  void ObserveLatency(Clock::Duration latency);

 private:
  // family x state: IPv4 total, allocated, available, IPv6 total, allocated, available.
  using Values = std::array<std::atomic<double>, 6>;
  struct PoolGauges {
    std::shared_ptr<Values> values;
    std::vector<int> funcs;
  };

  runtime::MetricsRegistry& registry_;
  std::map<ipam::Reason, runtime::Counter*> results_;
  runtime::Histogram* latency_;
  Mutex mu_;
  std::map<std::string, PoolGauges> pools_ GUARDED_BY(mu_);
};

}  // namespace lballoc::controllers
