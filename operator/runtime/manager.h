// Manager: owns an operator's client, informers, controllers, leader elector and HTTP servers,
// and runs them in controller-runtime's order (reference §7.1):
//   1. the health-probe server (/healthz, /readyz) and the metrics server (/metrics), so
//      probes answer and metrics are served whether or not this replica leads;
//   2. informers, then wait until every one has synced (cache_sync_timeout);
//      /readyz passes from here on;
//   3. runnables that do not need leadership;
//   4. leader election; on becoming leader, on a separate thread: the before-controllers hook
//      (retried with back-off until it succeeds; lballoc rebuilds its allocations there), then
//      the leader-only runnables (controllers). On losing the lease they are stopped at once
//      and this replica campaigns again; without leader election they start right away.
// Stop() shuts down in reverse: leader-only runnables, lease release, other runnables,
// informers, servers, bounded by graceful_shutdown_timeout.
//
// Signals are not the Manager's business: the binary calls InstallShutdownSignalHandlers()
// with a callback that calls Stop(); a second signal exits the process at once.
//
// Thread-safety: Add*/Set* before Run(); Run() on one thread; Stop() and the accessors from any
// thread (also from a signal-watching thread).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "operator/base/clock.h"
#include "operator/base/status.h"
#include "operator/runtime/client.h"
#include "operator/runtime/controller.h"
#include "operator/runtime/http_server.h"
#include "operator/runtime/informer.h"
#include "operator/runtime/leader_election.h"
#include "operator/runtime/metrics.h"
#include "operator/runtime/probe_server.h"

namespace lballoc::runtime {

struct ManagerOptions {
  // "host:port", ":port" or "port"; "" or "0" turns the server off.
  std::string health_probe_bind_address = ":8081";
  std::string metrics_bind_address = ":8080";

  bool leader_election = true;
  // Where the Lease lives (used with the Manager's client when no lease_lock is given).
  std::string leader_election_namespace;
  std::string leader_election_name;
  // identity, durations, ... (clock and metrics are filled from the fields below).
  LeaderElectionConfig leader_election_config;
  // Overrides the Lease access (tests); not owned.
  LeaseLock* lease_lock = nullptr;

  Clock::Duration cache_sync_timeout = std::chrono::minutes(2);
  Clock::Duration graceful_shutdown_timeout = std::chrono::seconds(30);
  // First retry delay of a failing before-controllers hook (doubles up to 30 s).
  Clock::Duration hook_retry_delay = std::chrono::seconds(1);

  Clock* clock = nullptr;              // nullptr: Clock::Real()
  MetricsRegistry* metrics = nullptr;  // nullptr: MetricsRegistry::Default()
};

class Manager {
 public:
  // `client` may be null when leader election uses options.lease_lock (or is off) and no
  // component needs it.
  Manager(ManagerOptions options, std::unique_ptr<Client> client);
  ~Manager();
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  Client& client() { return *client_; }
  MetricsRegistry& metrics() { return metrics_; }

  // An informer started in step 2; Run() waits for it to sync.
  void AddInformer(std::shared_ptr<InformerBase> informer);
  // The same, also exporting its LIST/WATCH counts as lballoc_informer_*_total{resource}.
  template <typename T>
  void AddInformer(std::shared_ptr<Informer<T>> informer) {
    Informer<T>* raw = informer.get();
    const Labels labels{{"resource", raw->name()}};
    metric_funcs_.push_back(metrics_.AddFunc(
        MetricsRegistry::Type::kCounter, "lballoc_informer_lists_total",
        "LIST requests made by informers.", labels,
        [raw] { return static_cast<double>(raw->counters().lists); }));
    metric_funcs_.push_back(metrics_.AddFunc(
        MetricsRegistry::Type::kCounter, "lballoc_informer_watches_total",
        "WATCH requests opened by informers.", labels,
        [raw] { return static_cast<double>(raw->counters().watches); }));
    metric_funcs_.push_back(metrics_.AddFunc(
        MetricsRegistry::Type::kCounter, "lballoc_informer_watch_events_total",
        "Watch events received by informers.", labels,
        [raw] { return static_cast<double>(raw->counters().events); }));
    AddInformer(std::shared_ptr<InformerBase>(std::move(informer)));
  }

  // A controller: leader-only unless its options say otherwise.
  void AddController(std::shared_ptr<Controller> controller);
  // Any runnable; `needs_leader` picks step 3 or step 4.
  void Add(std::shared_ptr<Runnable> runnable, bool needs_leader);
  // Runs each time this replica becomes leader, before the leader-only runnables start.
  void SetBeforeControllersHook(std::function<Status()> hook);

  void AddHealthzCheck(const std::string& name, HealthChecks::Check check);
  void AddReadyzCheck(const std::string& name, HealthChecks::Check check);

  // Runs until Stop(). Errors: a server cannot listen, caches do not sync in time, leader
  // election is misconfigured, or shutdown overran graceful_shutdown_timeout (then some
  // components may still be running: the process should exit).
  Status Run();
  // Asks Run() to shut down and return. Idempotent; may be called before Run().
  void Stop();

  bool IsLeader() const { return leading_.load(); }
  // Caches synced (what /readyz reports, with any added checks).
  bool CachesSynced() const;
  // Bound ports (after the servers started; 0 when off).
  int health_probe_port() const;
  int metrics_port() const;

 private:
  Status StartServers();
  bool WaitForCaches();
  void OnStartedLeading();
  void OnStoppedLeading();
  void StartLeaderWork();
  void StopLeaderWork();
  void Shutdown();
  bool stop_requested() const;

  ManagerOptions options_;
  Clock& clock_;
  MetricsRegistry& metrics_;
  std::unique_ptr<Client> client_;
  std::unique_ptr<ClientLeaseLock> client_lease_lock_;

  std::vector<std::shared_ptr<InformerBase>> informers_;
  std::vector<std::shared_ptr<Runnable>> runnables_;
  std::vector<std::shared_ptr<Runnable>> leader_runnables_;
  std::function<Status()> before_controllers_;
  std::vector<int> metric_funcs_;

  HealthChecks healthz_{"/healthz"};
  HealthChecks readyz_{"/readyz"};
  std::unique_ptr<HttpServer> health_server_;
  std::unique_ptr<HttpServer> metrics_server_;
  std::atomic<int> health_port_{0};
  std::atomic<int> metrics_port_{0};
  std::unique_ptr<LeaderElector> elector_;
  std::thread elector_thread_;
  // Runs Shutdown(); joined by Run(), or by the destructor when Run() gave up waiting.
  std::thread shutdown_thread_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_requested_ = false;
  std::atomic<bool> synced_{false};
  std::atomic<bool> leading_{false};

  // One leadership term's work: the hook and the start of the leader runnables run on
  // term_thread_; term_cancelled_ stops hook retries when the term ends.
  std::mutex term_mu_;
  std::condition_variable term_cv_;
  bool term_cancelled_ = false;
  std::vector<std::shared_ptr<Runnable>> started_leader_runnables_;
  std::thread term_thread_;
};

// Installs SIGTERM and SIGINT handlers: the first signal calls `on_first_signal` (on a
// dedicated thread, not in signal context); a second one exits the process with status 1 at
// once. Call once, from main().
void InstallShutdownSignalHandlers(std::function<void()> on_first_signal);

}  // namespace lballoc::runtime
