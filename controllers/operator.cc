#include "controllers/operator.h"

#include <glog/logging.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
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

// Objects per page of the LIST CaughtUp reads (as the informers' initial LIST and client-go's
// pager).
constexpr int64_t kCatchUpPageSize = 500;

std::string StringOf(const rapidjson::Value& object, const char* member) {
  if (!object.IsObject()) return "";
  auto it = object.FindMember(member);
  return it != object.MemberEnd() && it->value.IsString() ? it->value.GetString() : "";
}

// A cache's objects at one moment, sorted by (namespace, name): what CaughtUp compares with
// the server and, for the Services, what the rebuild reads, so that both judge the same state.
// It holds no key strings (100,000 Services would add megabytes at the start-up's peak).
template <typename T>
class Snapshot {
 public:
  explicit Snapshot(std::vector<ObjectPtr<T>> objects) : objects_(std::move(objects)) {
    std::sort(objects_.begin(), objects_.end(), [](const ObjectPtr<T>& a, const ObjectPtr<T>& b) {
      return Less(a->metadata, b->metadata.namespace_, b->metadata.name);
    });
  }

  // The resourceVersion of `key` ("namespace/name" or "name"); nullopt when absent.
  std::optional<std::string> Version(std::string_view key) const {
    size_t slash = key.find('/');
    std::string_view ns = slash == std::string_view::npos ? "" : key.substr(0, slash);
    std::string_view name = slash == std::string_view::npos ? key : key.substr(slash + 1);
    auto it = std::lower_bound(
        objects_.begin(), objects_.end(), 0,
        [ns, name](const ObjectPtr<T>& obj, int) { return Less(obj->metadata, ns, name); });
    if (it == objects_.end() || (*it)->metadata.namespace_ != ns || (*it)->metadata.name != name) {
      return std::nullopt;
    }
    return (*it)->metadata.resource_version;
  }
  size_t size() const { return objects_.size(); }
  std::vector<VersionedKey> Keys() const {
    std::vector<VersionedKey> out;
    out.reserve(objects_.size());
    for (const ObjectPtr<T>& obj : objects_) {
      out.push_back({runtime::ObjectKeyOf(obj->metadata), obj->metadata.resource_version});
    }
    return out;
  }
  const std::vector<ObjectPtr<T>>& objects() const { return objects_; }

 private:
  // Whether `meta` sorts before (ns, name).
  static bool Less(const decltype(T::metadata)& meta, std::string_view ns, std::string_view name) {
    // compare(), not <: clang 14 cannot compile libstdc++ 12's string/string_view <.
    if (int c = std::string_view(meta.namespace_).compare(ns); c != 0) return c < 0;
    return std::string_view(meta.name).compare(name) < 0;
  }

  std::vector<ObjectPtr<T>> objects_;
};

// One pass of CaughtUp with pages of `limit` objects (0: unpaged). Sets `*expired` when a
// continue token expired (410) after the first page.
template <typename T>
Status CaughtUpPass(runtime::Client& client, const Snapshot<T>& cache, std::string_view what,
                    int64_t limit, bool* expired) {
  *expired = false;
  PagedCatchUp check(what, [&cache](std::string_view key) { return cache.Version(key); });
  runtime::ListOptions options;
  options.limit = limit;
  for (int page = 0;; ++page) {
    StatusOr<rapidjson::Document> list = client.List(T::kResource, "", options);
    if (!list.ok() && page > 0 && list.status().IsGone()) {
      *expired = true;
      return list.status();
    }
    if (!list.ok()) return list.status().WithContext("list " + std::string(T::kResource.resource));
    const rapidjson::Value& doc = *list;
    if (!doc.IsObject()) return InvalidArgumentError("list: not an object");
    const rapidjson::Value* md = nullptr;
    if (auto it = doc.FindMember("metadata"); it != doc.MemberEnd()) md = &it->value;
    if (page == 0) check.SetListVersion(md != nullptr ? StringOf(*md, "resourceVersion") : "");
    if (auto items = doc.FindMember("items"); items != doc.MemberEnd() && items->value.IsArray()) {
      for (const rapidjson::Value& item : items->value.GetArray()) {
        std::string version;
        if (item.IsObject()) {
          if (auto it = item.FindMember("metadata"); it != item.MemberEnd()) {
            version = StringOf(it->value, "resourceVersion");
          }
        }
        LB_RETURN_IF_ERROR(check.Listed(runtime::internal::RawObjectKey(item), version,
                                        [&item] { return T::FromJson(item).ok(); }));
      }
    }
    std::string next = md != nullptr ? StringOf(*md, "continue") : "";
    if (limit == 0 || next.empty()) break;
    options.continue_token = std::move(next);
  }
  return check.Finish(cache.size(), [&cache] { return cache.Keys(); });
}

// Whether the cache snapshot `cache` holds at least what a consistent LIST through `client`
// returns now (freshness.h). Paged, and an object is decoded only when the snapshot does not
// already hold it at the same or a newer version: at 100,000 Services one unpaged LIST decoded
// whole cost seconds of every start-up (BENCHMARKS.md).
template <typename T>
Status CaughtUp(runtime::Client& client, const Snapshot<T>& cache, std::string_view what) {
  bool expired = false;
  Status paged = CaughtUpPass(client, cache, what, kCatchUpPageSize, &expired);
  if (!expired) return paged;
  // Paging again from the first page could expire again; one unpaged LIST cannot (as the
  // informer's reflector does).
  LOG(WARNING) << what << " cache check: continue token expired; listing again without paging";
  return CaughtUpPass(client, cache, what, 0, &expired);
}

// Everything one SetupWithManager call made; kept alive by the manager's hook.
struct Operator {
  OperatorOptions options;
  ClassSelection classes;
  Clock* clock = nullptr;
  runtime::EventRecorder* recorder = nullptr;
  runtime::Client* reader = nullptr;  // the manager's plain client, for consistent LISTs
  std::shared_ptr<Informer<CachedService>> services;
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
    // While this replica stood by, its Service watch recorded changes it never answered; the
    // controllers' replay records every Service afresh. Forgotten before the rebuild, not
    // after: one entry per Service (about 90 bytes) is no part of its peak.
    times->Clear();
    using Ms = std::chrono::duration<double, std::milli>;
    const auto start = std::chrono::steady_clock::now();
    const Snapshot<api::LoadBalancerPool> pool_cache(pools->store().List());
    LB_RETURN_IF_ERROR(CaughtUp(*reader, pool_cache, "LoadBalancerPool"));
    LB_RETURN_IF_ERROR(
        CaughtUp(*reader, Snapshot<api::Namespace>(namespaces->store().List()), "Namespace"));
    // The Services: the rebuild runs on a snapshot of the cache while the check compares that
    // same snapshot with the server (the check mostly waits for the server, the rebuild is
    // CPU). A snapshot that proves behind discards the rebuild: no controller runs before this
    // hook succeeds, and the manager's retry rebuilds from scratch. A snapshot that passes is
    // as fresh as a LIST made after this replica acquired the Lease, which is what rule 2
    // needs; what the rebuild reads besides it (labels, through the live caches) is newer
    // still.
    const Snapshot<CachedService> service_cache(services->store().List());
    std::chrono::steady_clock::duration rebuild_time{};  // written by the rebuild, read after get()
    std::future<StatusOr<AllocationState::Rebuilt>> rebuilding =
        std::async(std::launch::async, [this, &pool_cache, &service_cache, &rebuild_time] {
          const auto began = std::chrono::steady_clock::now();
          StatusOr<AllocationState::Rebuilt> r =
              state->Rebuild(pool_cache.objects(), service_cache.objects());
          rebuild_time = std::chrono::steady_clock::now() - began;
          return r;
        });
    Status fresh = CaughtUp(*reader, service_cache, "Service");
    const auto caught_up = std::chrono::steady_clock::now();
    StatusOr<AllocationState::Rebuilt> rebuilt = rebuilding.get();
    const auto done = std::chrono::steady_clock::now();
    LB_RETURN_IF_ERROR(fresh);
    if (!rebuilt.ok()) return rebuilt.status().WithContext("rebuild allocations");
    // Start-up cost, by step (BENCHMARKS.md "End to end").
    LOG(INFO) << "caches caught up with the API server in " << Ms(caught_up - start).count()
              << " ms; the rebuild beside the Service check took " << Ms(rebuild_time).count()
              << " ms, done " << Ms(done - start).count() << " ms after the hook began";
    pool_reconciler->ResetWrites();
    LOG(INFO) << "allocations rebuilt from Service statuses: " << rebuilt->services
              << " Services hold addresses, " << rebuilt->dropped.size() << " addresses dropped, "
              << rebuilt->quarantined << " shown addresses held until their Service is rewritten";
    for (const ipam::Dropped& d : rebuilt->dropped) {
      size_t slash = d.service.find('/');
      ObjectPtr<CachedService> svc =
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
  op->services = std::make_shared<Informer<CachedService>>(client, service_informer_options);
  op->namespaces = std::make_shared<Informer<api::Namespace>>(client, informer_options);
  op->pools = std::make_shared<Informer<api::LoadBalancerPool>>(client, informer_options);

  const ClassSelection classes = op->classes;
  Status indexed = op->services->AddIndex(kHandledByNamespace, [classes](const CachedService& s) {
    return IsHandled(s, classes) ? std::vector<std::string>{s.metadata.namespace_}
                                 : std::vector<std::string>{};
  });
  if (!indexed.ok()) return indexed;
  indexed = op->services->AddIndex(kHandled, [classes](const CachedService& s) {
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
  std::weak_ptr<Informer<CachedService>> weak_services = op->services;
  pool_hooks.requeue_services = [service_controller, weak_services,
                                 classes](const std::vector<std::string>& invalidated) {
    // Those that lost an address first; then every handled Service (pool_controller.h says why).
    std::shared_ptr<runtime::Controller> controller = service_controller.lock();
    if (controller == nullptr) return;
    for (const std::string& key : invalidated) controller->Enqueue(RequestOf(key));
    std::shared_ptr<Informer<CachedService>> services = weak_services.lock();
    if (services == nullptr) return;
    for (const auto& svc : services->store().ByIndex(kHandled, "true")) {
      controller->Enqueue({svc->metadata.namespace_, svc->metadata.name});
    }
  };
  op->pool_reconciler->SetHooks(std::move(pool_hooks));

  // Watches.
  op->service_controller->Watch<CachedService>(*op->services, ServiceRequests(classes, op->times));
  op->pool_controller->Watch<api::LoadBalancerPool>(*op->pools,
                                                    runtime::MapToSelf<api::LoadBalancerPool>());
  // A Namespace added, deleted or relabelled re-evaluates the namespaceSelectors for the
  // handled Services in it. Not a Controller::Watch: that would also replay every Namespace on
  // start, which the Service replay already covers.
  runtime::EventHandler<api::Namespace> ns_handler;
  auto requeue_namespace = [service_controller, weak_services](const api::Namespace& ns) {
    std::shared_ptr<runtime::Controller> controller = service_controller.lock();
    std::shared_ptr<Informer<CachedService>> services = weak_services.lock();
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
