#include "controllers/operator.h"

#include <glog/logging.h>

#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/core_v1.h"
#include "api/v1alpha1/loadbalancerpool.h"
#include "controllers/allocation_state.h"
#include "controllers/convert.h"
#include "controllers/freshness.h"
#include "controllers/metrics.h"
#include "controllers/pool_controller.h"
#include "controllers/service_cache.h"
#include "controllers/service_controller.h"
#include "operator/base/status_macros.h"
#include "operator/ipam/address.h"
#include "operator/runtime/controller.h"
#include "operator/runtime/informer.h"

namespace lballoc::controllers {
namespace {

using runtime::Informer;
using runtime::ObjectPtr;

// Service indexes: the handled Services by namespace (a Namespace change maps to them) and all
// handled Services (a pool change maps to them).
constexpr char kHandledByNamespace[] = "lballoc.io/handled-by-namespace";
constexpr char kHandled[] = "lballoc.io/handled";

// Page size of CaughtUp's LIST: the informers' (runtime::InformerOptions::page_size).
constexpr int64_t kCaughtUpPageSize = 500;

// Whether `informer`'s cache holds at least what a consistent LIST through `client` returns now
// (freshness.h).
template <typename T>
Status CaughtUp(runtime::Client& client, const Informer<T>& informer, std::string_view what) {
  std::vector<VersionedKey> listed;
  std::string list_version;
  // An undecodable object is skipped by the informer, which keeps what it cached for that key:
  // such keys are left out on both sides.
  std::set<std::string> undecodable;
  // In pages, each freed before the next: one unpaged LIST of 100,000 Services held its whole
  // body and document at once and was the operator's peak memory at start-up (BENCHMARKS.md,
  // "Operator memory"). Pages after the first are served from the first one's snapshot (the
  // continue token carries its resourceVersion), so this is the same consistent list; an
  // expired token is an error, and the manager retries the hook with back-off.
  runtime::ListOptions options;
  options.limit = kCaughtUpPageSize;
  bool first = true;
  do {
    StatusOr<rapidjson::Document> list = client.List(T::kResource, "", options);
    if (!list.ok()) return list.status().WithContext("list " + std::string(T::kResource.resource));
    options.continue_token.clear();
    const rapidjson::Value& doc = *list;
    if (auto md = doc.FindMember("metadata"); md != doc.MemberEnd() && md->value.IsObject()) {
      if (auto rv = md->value.FindMember("resourceVersion");
          first && rv != md->value.MemberEnd() && rv->value.IsString()) {
        list_version = rv->value.GetString();
      }
      if (auto c = md->value.FindMember("continue");
          c != md->value.MemberEnd() && c->value.IsString()) {
        options.continue_token = c->value.GetString();
      }
    }
    first = false;
    if (auto items = doc.FindMember("items"); items != doc.MemberEnd() && items->value.IsArray()) {
      for (const rapidjson::Value& item : items->value.GetArray()) {
        StatusOr<T> obj = T::FromJson(item);
        if (!obj.ok()) {
          undecodable.insert(runtime::internal::RawObjectKey(item));
          continue;
        }
        listed.push_back({runtime::ObjectKeyOf(obj->metadata), obj->metadata.resource_version});
      }
    }
  } while (!options.continue_token.empty());
  std::vector<VersionedKey> cached;
  for (const ObjectPtr<T>& obj : informer.store().List()) {
    std::string key = runtime::ObjectKeyOf(obj->metadata);
    if (undecodable.count(key) == 0) cached.push_back({key, obj->metadata.resource_version});
  }
  return CacheCaughtUp(what, listed, list_version, std::move(cached));
}

// Everything one SetupWithManager call made; kept alive by the manager's hook.
struct Operator {
  OperatorOptions options;
  ClassSelection classes;
  Clock* clock = nullptr;
  runtime::EventRecorder* recorder = nullptr;
  runtime::Client* reader = nullptr;  // the manager's plain client, for consistent LISTs
  std::shared_ptr<Informer<api::Service>> services;
  std::shared_ptr<Informer<api::Namespace>> namespaces;
  std::shared_ptr<Informer<api::LoadBalancerPool>> pools;
  std::shared_ptr<AllocationState> state;
  std::shared_ptr<OperatorMetrics> metrics;
  std::shared_ptr<EventTimes> times;
  std::shared_ptr<ServiceReconciler> service_reconciler;
  std::shared_ptr<PoolReconciler> pool_reconciler;
  std::shared_ptr<runtime::Controller> service_controller;
  std::shared_ptr<runtime::Controller> pool_controller;

  // The before-controllers hook: rules 1 and 2 of API.md.
  Status BeforeControllers() {
    // The manager syncs the informers before it campaigns; this guards a hook run in any other
    // order (and is retried by the manager with back-off).
    if (!services->HasSynced() || !namespaces->HasSynced() || !pools->HasSynced()) {
      return UnavailableError("caches are not synced yet");
    }
    // Rule 2 rebuilds from the *current* statuses; a cache that lagged while this replica stood
    // by would forget addresses the previous leader gave (freshness.h). Retried by the manager
    // with back-off until the caches have caught up.
    LB_RETURN_IF_ERROR(CaughtUp(*reader, *pools, "LoadBalancerPool"));
    LB_RETURN_IF_ERROR(CaughtUp(*reader, *namespaces, "Namespace"));
    LB_RETURN_IF_ERROR(CaughtUp(*reader, *services, "Service"));
    // While this replica stood by, its Service watch recorded changes it never answered; the
    // controllers' replay records every Service afresh. Forgotten before the rebuild, not
    // after: one entry per Service (about 90 bytes) is no part of its peak.
    times->Clear();
    StatusOr<AllocationState::Rebuilt> rebuilt =
        state->Rebuild(pools->store().List(), services->store().List());
    if (!rebuilt.ok()) return rebuilt.status().WithContext("rebuild allocations");
    pool_reconciler->ResetWrites();
    LOG(INFO) << "allocations rebuilt from Service statuses: " << rebuilt->services
              << " Services hold addresses, " << rebuilt->dropped.size() << " addresses dropped, "
              << rebuilt->quarantined << " shown addresses held until their Service is rewritten";
    for (const ipam::Dropped& d : rebuilt->dropped) {
      size_t slash = d.service.find('/');
      ObjectPtr<api::Service> svc =
          services->store().Get(d.service.substr(0, slash), d.service.substr(slash + 1));
      std::string message = d.address.ToString() + " could not be kept: " + d.message +
                            "; the Service gets a new address";
      LOG(WARNING) << "service " << d.service << ": " << message;
      // The controllers replay every Service when they start, so this one is reconciled (and
      // gets a new address) right after the hook.
      if (svc != nullptr) {
        recorder->Event(*svc, runtime::kEventTypeWarning, kEventAllocationFailed, message);
      }
    }
    return Status();
  }

  std::vector<std::string> HandledServices() const {
    std::vector<std::string> keys;
    for (const auto& svc : services->store().ByIndex(kHandled, "true")) {
      keys.push_back(ServiceKey(svc->metadata));
    }
    return keys;
  }
};

runtime::Request RequestOf(const std::string& key) {
  size_t slash = key.find('/');
  if (slash == std::string::npos) return runtime::Request{"", key};
  return runtime::Request{key.substr(0, slash), key.substr(slash + 1)};
}

}  // namespace

Status SetupWithManager(runtime::Manager& manager, runtime::EventRecorder& recorder,
                        const OperatorOptions& options) {
  if (options.load_balancer_class.empty()) {
    return InvalidArgumentError("load_balancer_class must not be empty");
  }
  if (options.service_workers < 1) {
    return InvalidArgumentError("service_workers must be at least 1");
  }
  if (options.pool_status_interval <= Clock::Duration::zero()) {
    return InvalidArgumentError("pool_status_interval must be positive");
  }
  auto op = std::make_shared<Operator>();
  op->options = options;
  op->classes = ClassSelection{options.load_balancer_class, options.load_balancer_default_class};
  op->clock = options.clock != nullptr ? options.clock : &Clock::Real();
  op->recorder = &recorder;
  runtime::MetricsRegistry& registry =
      options.metrics != nullptr ? *options.metrics : runtime::MetricsRegistry::Default();

  runtime::InformerOptions informer_options;
  informer_options.transform = runtime::StripManagedFields;
  informer_options.clock = op->clock;
  informer_options.backoff = options.informer_backoff;
  // Informers read through the plain client; every write goes through the fenced one, which
  // refuses it once this replica's leadership term has ended (runtime/leader_election.h,
  // "Fencing"), so a deposed leader can never give out an address another leader also gives.
  runtime::Client& client = manager.client();
  runtime::Client& writer = manager.leader_client();
  op->reader = &client;
  runtime::InformerOptions service_informer_options = informer_options;
  // Only what the controllers read is cached (service_cache.h): the Service cache is the
  // operator's largest structure.
  service_informer_options.transform = ServiceCacheTransform;
  op->services = std::make_shared<Informer<api::Service>>(client, service_informer_options);
  op->namespaces = std::make_shared<Informer<api::Namespace>>(client, informer_options);
  op->pools = std::make_shared<Informer<api::LoadBalancerPool>>(client, informer_options);

  const ClassSelection classes = op->classes;
  Status indexed = op->services->AddIndex(kHandledByNamespace, [classes](const api::Service& s) {
    return IsHandled(s, classes) ? std::vector<std::string>{s.metadata.namespace_}
                                 : std::vector<std::string>{};
  });
  if (!indexed.ok()) return indexed;
  indexed = op->services->AddIndex(kHandled, [classes](const api::Service& s) {
    return IsHandled(s, classes) ? std::vector<std::string>{"true"} : std::vector<std::string>{};
  });
  if (!indexed.ok()) return indexed;

  op->state =
      std::make_shared<AllocationState>(classes, op->services->store(), op->namespaces->store());
  op->metrics = std::make_shared<OperatorMetrics>(registry);
  op->times = std::make_shared<EventTimes>(*op->clock);
  op->service_reconciler = std::make_shared<ServiceReconciler>(
      op->state, op->services->store(), writer, recorder, op->metrics, op->times, *op->clock);
  op->pool_reconciler = std::make_shared<PoolReconciler>(
      op->state, op->pools->store(), writer, op->metrics, *op->clock, options.pool_status_interval);

  runtime::ControllerOptions service_options;
  service_options.max_concurrent_reconciles = options.service_workers;
  service_options.clock = op->clock;
  service_options.metrics = &registry;
  op->service_controller =
      std::make_shared<runtime::Controller>("service", op->service_reconciler, service_options);
  runtime::ControllerOptions pool_options;
  pool_options.clock = op->clock;
  pool_options.metrics = &registry;
  op->pool_controller =
      std::make_shared<runtime::Controller>("loadbalancerpool", op->pool_reconciler, pool_options);

  // Wiring between the two controllers. Each controller owns its reconciler, which owns these
  // hooks, so the hooks hold the controllers weakly: a strong reference would make each
  // controller own itself (found by LeakSanitizer, make test-asan). Never the Operator either.
  std::weak_ptr<runtime::Controller> service_controller = op->service_controller;
  std::weak_ptr<runtime::Controller> pool_controller = op->pool_controller;
  const Clock::Duration interval = options.pool_status_interval;
  ServiceHooks service_hooks;
  service_hooks.pools_changed = [pool_controller, interval](const std::vector<std::string>& p) {
    // Delayed: the queue keeps one waiting entry per pool, so a burst of allocations becomes
    // one pool reconcile (pool_controller.h, "Coalescing").
    std::shared_ptr<runtime::Controller> pools = pool_controller.lock();
    if (pools == nullptr) return;
    for (const std::string& name : p) pools->EnqueueAfter({"", name}, interval);
  };
  service_hooks.retry = [service_controller](const std::vector<std::string>& keys) {
    std::shared_ptr<runtime::Controller> services = service_controller.lock();
    if (services == nullptr) return;
    for (const std::string& key : keys) services->Enqueue(RequestOf(key));
  };
  op->service_reconciler->SetHooks(std::move(service_hooks));

  PoolHooks pool_hooks;
  pool_hooks.requeue_pools = [pool_controller](const std::vector<std::string>& p) {
    std::shared_ptr<runtime::Controller> pools = pool_controller.lock();
    if (pools == nullptr) return;
    for (const std::string& name : p) pools->Enqueue({"", name});
  };
  std::weak_ptr<Informer<api::Service>> weak_services = op->services;
  pool_hooks.requeue_services = [service_controller, weak_services,
                                 classes](const std::vector<std::string>& invalidated) {
    // Those that lost an address first; then every handled Service (pool_controller.h says why).
    std::shared_ptr<runtime::Controller> controller = service_controller.lock();
    if (controller == nullptr) return;
    for (const std::string& key : invalidated) controller->Enqueue(RequestOf(key));
    std::shared_ptr<Informer<api::Service>> services = weak_services.lock();
    if (services == nullptr) return;
    for (const auto& svc : services->store().ByIndex(kHandled, "true")) {
      controller->Enqueue({svc->metadata.namespace_, svc->metadata.name});
    }
  };
  op->pool_reconciler->SetHooks(std::move(pool_hooks));

  // Watches.
  op->service_controller->Watch<api::Service>(*op->services, ServiceRequests(classes, op->times));
  op->pool_controller->Watch<api::LoadBalancerPool>(*op->pools,
                                                    runtime::MapToSelf<api::LoadBalancerPool>());
  // A Namespace added, deleted or relabelled re-evaluates the namespaceSelectors for the
  // handled Services in it. Not a Controller::Watch: that would also replay every Namespace on
  // start, which the Service replay already covers.
  runtime::EventHandler<api::Namespace> ns_handler;
  auto requeue_namespace = [service_controller, weak_services](const api::Namespace& ns) {
    std::shared_ptr<runtime::Controller> controller = service_controller.lock();
    std::shared_ptr<Informer<api::Service>> services = weak_services.lock();
    if (controller == nullptr || services == nullptr) return;
    for (const auto& svc : services->store().ByIndex(kHandledByNamespace, ns.metadata.name)) {
      controller->Enqueue({svc->metadata.namespace_, svc->metadata.name});
    }
  };
  ns_handler.on_add = [requeue_namespace](const ObjectPtr<api::Namespace>& ns) {
    requeue_namespace(*ns);
  };
  ns_handler.on_delete = ns_handler.on_add;
  ns_handler.on_update = [requeue_namespace](const ObjectPtr<api::Namespace>& old_ns,
                                             const ObjectPtr<api::Namespace>& ns) {
    if (old_ns->metadata.labels != ns->metadata.labels) requeue_namespace(*ns);
  };
  op->namespaces->AddEventHandler(std::move(ns_handler));

  manager.AddInformer(op->services);
  manager.AddInformer(op->namespaces);
  manager.AddInformer(op->pools);
  // The pool controller first: on a new term it applies pool edits made before the Services
  // are reconciled against them.
  manager.AddController(op->pool_controller);
  manager.AddController(op->service_controller);
  manager.SetBeforeControllersHook([op] { return op->BeforeControllers(); });
  return Status();
}

}  // namespace lballoc::controllers
