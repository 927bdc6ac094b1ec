// Controller: watches -> work queue -> N workers calling a Reconciler, controller-runtime style.
//
//   auto c = std::make_shared<Controller>("service", reconciler, ControllerOptions{...});
//   c->Watch<api::Service>(service_informer, MapToSelf<api::Service>());
//   c->Watch<Pool>(pool_informer, [&](const Pool&) { return AllServiceRequests(); });
//   manager.Add(c);  // started when this replica leads, stopped when it stops leading
//
// Events of any kind are mapped to Requests by a MapFunc (the object itself, its owner by
// ownerReferences kind, or any function) and queued; the queue guarantees one Request is never
// reconciled by two workers at once. Results (reconciler.h): Done forgets the back-off,
// RequeueAfter forgets and queues after the delay, Error retries with the rate limiter,
// Terminal is logged and counted and not retried. An exception escaping Reconcile is caught,
// counted (controller_runtime_reconcile_panics_total) and retried like an Error.
//
// Start/Stop may repeat (leadership comes and goes): each Start makes a fresh queue and replays
// the current cache of every watched informer, so a new leader reconciles everything once;
// events that arrive while stopped are dropped (the replay covers them). Stop is immediate:
// the stop token of reconciles in flight is requested (Reconciler::Reconcile(request, stop)),
// they finish, nothing new starts, queued keys are dropped.
//
// Thread-safety: all public methods are safe to call from any thread; Watch() before Start().
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "operator/base/clock.h"
#include "operator/base/mutex.h"
#include "operator/base/status.h"
#include "operator/runtime/metrics.h"
#include "operator/runtime/rate_limiter.h"
#include "operator/runtime/reconciler.h"
#include "operator/runtime/workqueue.h"

namespace lballoc::runtime {

// Something the Manager starts and stops. Start() returns at once (the work runs on the
// runnable's own threads); Stop() returns when the work has stopped. After Stop(), Start() may
// be called again.
class Runnable {
 public:
  virtual ~Runnable() = default;
  virtual const std::string& name() const = 0;
  virtual Status Start() = 0;
  virtual void Stop() = 0;
};

// Maps one object to the Requests to reconcile.
template <typename T>
using MapFunc = std::function<std::vector<Request>(const T& obj)>;

// The object's own namespace/name.
template <typename T>
MapFunc<T> MapToSelf() {
  return [](const T& obj) {
    return std::vector<Request>{Request{obj.metadata.namespace_, obj.metadata.name}};
  };
}

// The object's owners of kind `owner_kind` (every such owner, or only the one marked
// controller: true when `only_controller`). Owners of a namespaced kind live in the object's
// namespace; pass owner_namespaced = false for cluster-scoped owners.
template <typename T>
MapFunc<T> MapToOwner(std::string owner_kind, bool owner_namespaced = true,
                      bool only_controller = false) {
  return [owner_kind = std::move(owner_kind), owner_namespaced, only_controller](const T& obj) {
    std::vector<Request> out;
    for (const auto& ref : obj.metadata.owner_references) {
      if (ref.kind != owner_kind) continue;
      if (only_controller && !ref.controller.value_or(false)) continue;
      out.push_back(Request{owner_namespaced ? obj.metadata.namespace_ : "", ref.name});
    }
    return out;
  };
}

struct ControllerOptions {
  int max_concurrent_reconciles = 1;
  Clock* clock = nullptr;              // nullptr: Clock::Real()
  MetricsRegistry* metrics = nullptr;  // nullptr: MetricsRegistry::Default()
  // Makes the rate limiter of each queue; empty: DefaultControllerRateLimiter.
  std::function<std::unique_ptr<RateLimiter<Request>>(Clock&)> rate_limiter;
  // Started only while this replica leads (the Manager reads this).
  bool need_leader_election = true;
};

class Controller final : public Runnable {
 public:
  // `name` labels metrics and logs; it must be unique within a metrics registry.
  Controller(std::string name, std::shared_ptr<Reconciler> reconciler,
             ControllerOptions options = {});
  ~Controller() override;

  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  const std::string& name() const override { return name_; }
  bool need_leader_election() const { return options_.need_leader_election; }

  // Registers a handler on `source` that maps every add, update (old and new object) and
  // delete with `map` and queues the result. `source` is an informer or anything with
  // AddEventHandler(H) where H has on_add(obj), on_update(old, obj) and on_delete(obj)
  // std::function members taking std::shared_ptr<const T>. If `source` has store().List(),
  // its cache is replayed on every Start(), so `source` must outlive the controller's last
  // Start(). The handler holds the controller weakly: once the controller is destroyed it does
  // nothing, so a source may outlive its controllers (handlers cannot be removed from it).
  template <typename T, typename Source>
  void Watch(Source& source, MapFunc<T> map) {
    using Handler = decltype(HandlerArg(&Source::AddEventHandler));
    auto enqueue = [gate = gate_, map](const std::shared_ptr<const T>& obj) {
      if (obj == nullptr) return;
      ReaderMutexLock lock(&gate->mu);
      if (gate->controller != nullptr) gate->controller->EnqueueAll(map(*obj));
    };
    Handler handler;
    handler.on_add = enqueue;
    handler.on_update = [enqueue](const std::shared_ptr<const T>& old_obj,
                                  const std::shared_ptr<const T>& new_obj) {
      enqueue(old_obj);
      enqueue(new_obj);
    };
    handler.on_delete = enqueue;
    if constexpr (requires { source.store().List(); }) {
      MutexLock lock(&mu_);
      replays_.push_back([&source, enqueue] {
        for (const auto& obj : source.store().List()) enqueue(obj);
      });
    }
    source.AddEventHandler(std::move(handler));
  }

  // Queues `request` (dropped while the controller is stopped).
  void Enqueue(const Request& request);
  void EnqueueAfter(const Request& request, Clock::Duration delay);

  // Starts the workers (FailedPrecondition if already running).
  Status Start() override EXCLUDES(lifecycle_mu_, mu_);
  // Stops at once; waits for reconciles in flight. Idempotent.
  void Stop() override EXCLUDES(lifecycle_mu_, mu_);
  bool running() const;

  // Totals since construction (all Start/Stop cycles), for tests and metrics.
  uint64_t queue_adds_total() const;
  uint64_t queue_retries_total() const;
  size_t queue_depth() const;

 private:
  template <typename C, typename H>
  static H HandlerArg(void (C::*)(H));

  using Queue = WorkQueue<Request, RequestHash>;
  // `read` of the current queue (0 while stopped), for the scrape-time gauges.
  double WithQueue(double (Queue::*read)()) const;

  void EnqueueAll(const std::vector<Request>& requests);
  void Worker(const std::shared_ptr<WorkQueue<Request, RequestHash>>& queue, std::stop_token stop);
  void ReconcileOne(WorkQueue<Request, RequestHash>& queue, const Request& request,
                    const std::stop_token& stop);

  // What Watch()'s handlers reach the controller through; the destructor closes it (waiting
  // for handler calls in progress), so handlers left in a source call into nothing.
  struct Gate {
    explicit Gate(Controller* c) : controller(c) {}
    SharedMutex mu;
    Controller* controller GUARDED_BY(mu);
  };
  const std::shared_ptr<Gate> gate_ = std::make_shared<Gate>(this);

  const std::string name_;
  const std::shared_ptr<Reconciler> reconciler_;
  const ControllerOptions options_;
  Clock& clock_;
  MetricsRegistry& metrics_;

  // Metrics (owned by the registry).
  Counter* success_total_;
  Counter* error_total_;
  Counter* requeue_after_total_;
  Counter* errors_total_;
  Counter* terminal_errors_total_;
  Counter* panics_total_;
  Histogram* reconcile_time_;
  Gauge* active_workers_;
  WorkQueueMetrics queue_metrics_;
  std::vector<int> metric_funcs_;

  // Serialises Start/Stop against each other.
  Mutex lifecycle_mu_ ACQUIRED_BEFORE(mu_);
  mutable Mutex mu_;
  std::shared_ptr<WorkQueue<Request, RequestHash>> queue_ GUARDED_BY(mu_);  // null while stopped
  std::atomic<bool> stopping_{false};
  // Whether this run (since the last Start) has finished a reconcile: the first one is logged,
  // as start-up benchmarks (test/bench) time it.
  std::atomic<bool> reconciled_{false};
  // This run's stop: requested first thing in Stop(); a fresh one on every Start().
  std::stop_source stop_source_ GUARDED_BY(lifecycle_mu_);
  std::vector<std::thread> workers_ GUARDED_BY(lifecycle_mu_);
  std::vector<std::function<void()>> replays_ GUARDED_BY(mu_);
  uint64_t adds_before_ GUARDED_BY(mu_) = 0;  // totals of queues already stopped
  uint64_t retries_before_ GUARDED_BY(mu_) = 0;
};

}  // namespace lballoc::runtime
