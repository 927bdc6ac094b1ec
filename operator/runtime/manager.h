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
// Stop() shuts down in reverse: leader-only runnables (while the Lease is still renewed, as
// controller-runtime does), then the lease release, other runnables, informers, servers, all
// bounded by graceful_shutdown_timeout.
//
// Fencing (the guarantee and its margin: leader_election.h, "Fencing"):
//   - leader-only components write through leader_client(), a FencedClient over the elector:
//     writes are refused once this replica's term has ended;
//   - after the Lease is lost, the hook and the leader-only runnables must stop within the
//     fencing margin (lease_duration - renew_deadline); if they have not, the process exits
//     with status 1 (on_fencing_failure), as controller-runtime exits on any loss.
//
// Signals are not the Manager's business: the binary calls InstallShutdownSignalHandlers()
// with a callback that calls Stop(); a second signal exits the process at once.
//
// Thread-safety: Add*/Set* before Run(); Run() on one thread; Stop() and the accessors from any
// thread (also from a signal-watching thread).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "operator/base/clock.h"
#include "operator/base/mutex.h"
#include "operator/base/status.h"
#include "operator/runtime/client.h"
#include "operator/runtime/controller.h"
#include "operator/runtime/fenced_client.h"
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
  // Timeout of each write attempt through leader_client(); with leader election it must be
  // below the fencing margin. Zero: half the margin (the transport's default without leader
  // election).
  Clock::Duration leader_write_timeout = Clock::Duration::zero();
  // Called when leader-only work did not stop within the fencing margin after the Lease was
  // lost (on the elector's thread; the stop goes on after it returns). Empty: log, flush the
  // logs and _exit(1). Tests replace it.
  std::function<void()> on_fencing_failure;

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

  // The client for everything that runs whether or not this replica leads (informers, ...).
  // Writes through it are NOT fenced.
  Client& client() { return *client_; }
  // The client for leader-only components (controllers, the before-controllers hook): the
  // same connection, with writes fenced to this replica's leadership term (fenced_client.h);
  // reads are not fenced. Without leader election, writes pass while the leader work runs.
  // Available from construction (needs a client).
  Client& leader_client() { return *leader_client_; }
  MetricsRegistry& metrics() { return metrics_; }

  // An informer started in step 2; Run() waits for it to sync.
  void AddInformer(std::shared_ptr<InformerBase> informer);
  // The same, also exporting its LIST/WATCH/event counts and its decode failures as
  // lballoc_informer_*_total{resource}.
  template <typename T>
  void AddInformer(std::shared_ptr<Informer<T>> informer) {
    Informer<T>* raw = informer.get();
    const Labels labels{{"resource", raw->name()}};
    metric_funcs_.push_back(
        metrics_.AddFunc(MetricsRegistry::Type::kCounter, "lballoc_informer_lists_total",
                         "LIST requests made by informers.", labels,
                         [raw] { return static_cast<double>(raw->counters().lists); }));
    metric_funcs_.push_back(
        metrics_.AddFunc(MetricsRegistry::Type::kCounter, "lballoc_informer_watches_total",
                         "WATCH requests opened by informers.", labels,
                         [raw] { return static_cast<double>(raw->counters().watches); }));
    metric_funcs_.push_back(
        metrics_.AddFunc(MetricsRegistry::Type::kCounter, "lballoc_informer_watch_events_total",
                         "Watch events received by informers.", labels,
                         [raw] { return static_cast<double>(raw->counters().events); }));
    metric_funcs_.push_back(metrics_.AddFunc(
        MetricsRegistry::Type::kCounter, "lballoc_informer_decode_failures_total",
        "Listed or watched objects skipped because they could not be decoded (wrong kind, "
        "malformed).",
        labels, [raw] { return static_cast<double>(raw->decode_failures()); }));
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
  // election is misconfigured, or shutdown overran graceful_shutdown_timeout.
  //
  // The overrun contract: Run() returns DeadlineExceeded at the timeout while the shutdown
  // goes on, on a thread of its own, with some components still running (ShutdownComplete()
  // is false). The caller should then exit the process (_exit / quick_exit) WITHOUT destroying
  // the Manager: the destructor waits for that shutdown to finish, however long it takes,
  // because the components it still stops refer to the Manager.
  Status Run();
  // Asks Run() to shut down and return. Idempotent; may be called before Run().
  void Stop();

  // True once a shutdown has run to its end (false while an overrun one is still going).
  bool ShutdownComplete() const;
  // Waits up to `timeout` (on the Manager's clock) for ShutdownComplete().
  bool WaitForShutdown(Clock::Duration timeout);

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
  // Cancels the term's hook, joins its thread and stops the started leader runnables; callers
  // are serialised (a second caller returns once the first one's stop is done).
  void StopLeaderTerm();
  void StopLeaderWork();
  void Shutdown();

  // leader_client()'s fence: the elector's term, or (without leader election) the leader work.
  class TermFence final : public Fence {
   public:
    explicit TermFence(Manager& manager) : manager_(manager) {}
    StatusOr<Clock::Duration> TimeLeft() const override;

   private:
    Manager& manager_;
  };
  bool stop_requested() const;

  ManagerOptions options_;
  Clock& clock_;
  MetricsRegistry& metrics_;
  std::unique_ptr<Client> client_;
  TermFence fence_{*this};
  std::unique_ptr<FencedClient> leader_client_;
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
  // elector_ for readers on other threads (the fence), set once it is created.
  std::atomic<LeaderElector*> elector_for_fence_{nullptr};
  std::thread elector_thread_;
  // Runs Shutdown(); joined by Run(), or by the destructor when Run() gave up waiting.
  std::thread shutdown_thread_;

  mutable Mutex mu_;
  CondVar cv_;
  bool stop_requested_ GUARDED_BY(mu_) = false;
  bool shutdown_complete_ GUARDED_BY(mu_) = false;  // notified on cv_
  std::atomic<bool> synced_{false};
  std::atomic<bool> leading_{false};

  // Set when shutdown begins: no new term's work starts from then on.
  std::atomic<bool> shutting_down_{false};
  // Serialises StopLeaderTerm() and guards term_thread_.
  Mutex stop_mu_ ACQUIRED_BEFORE(term_mu_);
  // One leadership term's work: the hook and the start of the leader runnables run on
  // term_thread_; term_cancelled_ stops hook retries when the term ends.
  Mutex term_mu_;
  CondVar term_cv_;
  bool term_cancelled_ GUARDED_BY(term_mu_) = false;
  std::vector<std::shared_ptr<Runnable>> started_leader_runnables_ GUARDED_BY(term_mu_);
  std::thread term_thread_ GUARDED_BY(stop_mu_);
};

// Installs SIGTERM and SIGINT handlers: the first signal calls `on_first_signal` (on a
// dedicated thread, not in signal context); a second one exits the process with status 1 at
// once. Call once, from main().
void InstallShutdownSignalHandlers(std::function<void()> on_first_signal);

}  // namespace lballoc::runtime
