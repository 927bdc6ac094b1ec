// The lballoc operator as one unit: everything lballoc adds to a runtime::Manager.
//
// operator/main.cc turns flags into OperatorOptions and calls SetupWithManager(); tests build the
// same wiring without gflags. What it adds:
//   - informers for Services, Namespaces and LoadBalancerPools;
//   - the LoadBalancerPool controller (pool specs -> the allocation engine, pool status) and the
//     Service controller (addresses, status.loadBalancer.ingress, the AddressAllocated
//     condition, events), both leader-only;
//   - the before-controllers hook that, on every leadership acquisition, rebuilds the
//     allocations from the handled Services' status.loadBalancer.ingress before any reconcile;
//   - the lballoc_* metric families.
//
// Thread-safety: call SetupWithManager() once, before Manager::Run().
#pragma once

#include <chrono>
#include <string>

#include "operator/base/clock.h"
#include "operator/base/status.h"
#include "operator/runtime/backoff.h"
#include "operator/runtime/event_recorder.h"
#include "operator/runtime/manager.h"
#include "operator/runtime/metrics.h"

namespace lballoc::controllers {

struct OperatorOptions {
  // --loadbalancer-class: Services whose spec.loadBalancerClass is this are always handled.
  std::string load_balancer_class = "kube-router";
  // --loadbalancer-default-class: also handle Services with no class or the class "default".
  bool load_balancer_default_class = true;
  Clock* clock = nullptr;                       // nullptr: Clock::Real()
  runtime::MetricsRegistry* metrics = nullptr;  // nullptr: MetricsRegistry::Default()

  // Workers of the Service controller. Each reconcile holds the engine's lock only for the
  // allocation (microseconds) and spends the rest in its status write, so throughput against
  // the API server grows with workers until the server saturates.
  int service_workers = 4;
  // Count-only changes of a pool's status are written at most once per this interval per pool
  // (pool_controller.h, "Coalescing"); it bounds how stale the counts can be.
  Clock::Duration pool_status_interval = std::chrono::seconds(1);
  // Delays of the informers' relists and rewatches after a failure (client-go's: 0.8 s
  // doubling to 30 s). Tests that make many lists fail shorten them.
  runtime::BackoffOptions informer_backoff = runtime::ReflectorBackoff();
};

// Adds lballoc's informers, controllers, hook and metrics to `manager`. `recorder` receives the
// Services' events and must outlive the manager's Run(). InvalidArgument for bad options (an
// empty load_balancer_class, service_workers < 1, a non-positive pool_status_interval).
// The metrics registry (options.metrics or the default one) must outlive the manager; use one
// registry per SetupWithManager call (the controllers' metric names must be unique in it).
Status SetupWithManager(runtime::Manager& manager, runtime::EventRecorder& recorder,
                        const OperatorOptions& options);

}  // namespace lballoc::controllers
