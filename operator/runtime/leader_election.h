// Leader election on a coordination.k8s.io/v1 Lease, with client-go's algorithm
// (tools/leaderelection; reference §3):
//   - A candidate creates the Lease when it is missing, and otherwise respects another holder
//     until lease_duration has passed on ITS OWN clock since it last saw the Lease's record
//     change. The Lease's acquireTime/renewTime are never compared with the local clock, so
//     clock skew between replicas does not matter (only clock rate does).
//   - Every write is a PUT with the resourceVersion read before it: a concurrent writer gets a
//     409 Conflict and loses that round. leaseTransitions grows by one on each holder change.
//   - The leader renews every retry_period and gives up once renew_deadline has passed since
//     the start of its last successful renewal. Because renew_deadline < lease_duration and
//     other candidates count from when they SAW that renewal (later), the old leader stops
//     before anyone else may take the lease.
//   - Stop() while leading: on_stopped_leading runs (the caller stops its leader-only work),
//     then the Lease is released (holderIdentity "", leaseDurationSeconds 1) so another replica
//     takes over at its next retry instead of waiting out the lease.
//   - After losing the lease, Run() goes back to being a candidate in the same process.
//
// LeaseLock is the seam to the API server: ClientLeaseLock talks to it through the runtime
// Client; tests use in-memory fakes.
//
// Thread-safety: Run() on one thread; Stop(), IsLeader(), GetLeader() from any thread.
// Callbacks run on the Run() thread and must return promptly (on_started_leading should hand
// long work to another thread); Run() does not renew while a callback runs.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>

#include "api/coordination_v1.h"
#include "operator/base/clock.h"
#include "operator/base/status.h"
#include "operator/base/statusor.h"
#include "operator/runtime/client.h"
#include "operator/runtime/metrics.h"

namespace lballoc::runtime {

// The one Lease object an elector competes for.
class LeaseLock {
 public:
  virtual ~LeaseLock() = default;
  // NotFound when the Lease does not exist.
  virtual StatusOr<api::Lease> Get() = 0;
  // AlreadyExists when another candidate created it first.
  virtual StatusOr<api::Lease> Create(const api::Lease& lease) = 0;
  // PUT with lease.metadata.resource_version as the precondition (Conflict when stale).
  virtual StatusOr<api::Lease> Update(const api::Lease& lease) = 0;
  // "namespace/name", for logs and metrics.
  virtual std::string Describe() const = 0;
};

// A LeaseLock over the runtime Client.
class ClientLeaseLock final : public LeaseLock {
 public:
  ClientLeaseLock(Client& client, std::string namespace_, std::string name);
  StatusOr<api::Lease> Get() override;
  StatusOr<api::Lease> Create(const api::Lease& lease) override;
  StatusOr<api::Lease> Update(const api::Lease& lease) override;
  std::string Describe() const override { return namespace_ + "/" + name_; }

 private:
  TypedClient<api::Lease> leases_;
  const std::string namespace_;
  const std::string name_;
};

struct LeaderElectionConfig {
  // This candidate's holderIdentity (the pod name); must be non-empty.
  std::string identity;
  // client-go's defaults. lease_duration is written to the Lease in whole seconds.
  Clock::Duration lease_duration = std::chrono::seconds(15);
  Clock::Duration renew_deadline = std::chrono::seconds(10);
  Clock::Duration retry_period = std::chrono::seconds(2);
  // Candidates wait retry_period * [1, 1 + jitter_factor) between attempts (client-go 1.2);
  // 0 makes the wait exact, for deterministic tests.
  double jitter_factor = 1.2;
  // Release the Lease when Stop() is called while leading.
  bool release_on_cancel = true;
  Clock* clock = nullptr;              // nullptr: Clock::Real()
  MetricsRegistry* metrics = nullptr;  // nullptr: MetricsRegistry::Default()
  // Label of leader_election_master_status; default: the lock's Describe().
  std::string name;
};

struct LeaderCallbacks {
  std::function<void()> on_started_leading;
  // Also called when Run() ends while leading; never without a matching start.
  std::function<void()> on_stopped_leading;
  // The observed holder changed (may be this candidate, or "" when released).
  std::function<void(const std::string& identity)> on_new_leader;
};

class LeaderElector {
 public:
  // InvalidArgument unless identity is set, lease_duration > renew_deadline,
  // renew_deadline > 1.2 * retry_period, and lease_duration >= 1 s.
  static StatusOr<std::unique_ptr<LeaderElector>> Create(LeaseLock& lock,
                                                         LeaderElectionConfig config,
                                                         LeaderCallbacks callbacks);
  ~LeaderElector();

  // Campaigns, leads, and campaigns again after a loss, until Stop(). On return it is not
  // leading (and has released the Lease if configured to).
  void Run();
  // Makes Run() return. Safe to call before, during or after Run().
  void Stop();

  // Between on_started_leading and on_stopped_leading.
  bool IsLeader() const { return leading_.load(); }
  // The last observed holderIdentity ("" when none or released).
  std::string GetLeader() const;

  // One round of client-go's tryAcquireOrRenew: true when this candidate holds the Lease now.
  // Run() calls it; exposed so tests can step the algorithm on a FakeClock.
  bool TryAcquireOrRenew();
  // Gives the Lease up if this candidate holds it (used by Run() on Stop()).
  Status Release();

 private:
  LeaderElector(LeaseLock& lock, LeaderElectionConfig config, LeaderCallbacks callbacks);

  // Waits `d` on the clock; false when stopped.
  bool Sleep(Clock::Duration d);
  bool stopped() const;
  // Retries TryAcquireOrRenew until it succeeds (true) or Stop() (false).
  bool Acquire();
  // Renews until the renew deadline passes without success or Stop().
  void Renew();
  // Records `lease` as observed now; calls on_new_leader when the holder changed.
  void Observe(const api::Lease& lease, Clock::TimePoint now);

  LeaseLock& lock_;
  const LeaderElectionConfig config_;
  const LeaderCallbacks callbacks_;
  Clock& clock_;
  Gauge* master_status_;
  std::mt19937_64 rng_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
  std::optional<api::Lease> observed_;        // the last Lease seen or written
  Clock::TimePoint observed_time_{};          // local time its record last changed
  std::string observed_holder_;
  std::atomic<bool> leading_{false};
  Clock::TimePoint last_renew_start_{};       // local time the last successful write began
};

}  // namespace lballoc::runtime
