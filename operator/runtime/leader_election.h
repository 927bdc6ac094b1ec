// Leader election on a coordination.k8s.io/v1 Lease, with client-go's algorithm
// (tools/leaderelection; reference §3):
//   - A candidate creates the Lease when it is missing, and otherwise respects another holder
//     until lease_duration has passed on ITS OWN clock since it last saw the Lease's record
//     change (the time taken when the GET returned). The Lease's acquireTime/renewTime are never
//     compared with the local clock, so clock skew between replicas does not matter (only clock
//     rate does).
//   - Every write is a PUT with the resourceVersion read before it: a concurrent writer gets a
//     409 Conflict and loses that round. leaseTransitions grows by one on each holder change.
//   - The leader renews every retry_period and steps down once renew_deadline has passed since
//     the start of its last successful renewal, even if a lease call is still in flight: Run()
//     makes each round on a helper thread and stops waiting for it at the deadline. Every lease
//     call is bounded by the time left before that deadline (no Retry-After retries).
//   - Stop() while leading: on_stopped_leading runs (the caller stops its leader-only work),
//     then the Lease is released (holderIdentity "", leaseDurationSeconds 1) so another replica
//     takes over at its next retry instead of waiting out the lease. The elector does not renew
//     while on_stopped_leading runs, so a caller whose leader work takes long to stop should
//     stop it BEFORE calling Stop(), while renewals go on (the Manager does).
//   - After losing the lease, Run() goes back to being a candidate in the same process.
//
// Fencing -- the one safety promise: once another replica can hold the Lease, this replica
// writes nothing. With T0 the local time the last successful renewal began:
//   - this replica's term ends at T0 + renew_deadline (TimeLeft() fails from then on, and Run()
//     calls on_stopped_leading);
//   - no other replica can acquire before T0 + lease_duration: it must see the renewed record
//     (written after T0) stay unchanged for lease_duration on its own clock.
// The difference, the fencing margin = lease_duration - renew_deadline (5 s with the defaults),
// is the budget for everything a term leaves behind:
//   - writes of leader-only components go through a FencedClient (fenced_client.h) over this
//     elector: refused once the term has ended, checked just before each request is sent, and
//     each sent with a timeout shorter than the margin;
//   - leader-only work must have stopped within the margin after on_stopped_leading; the
//     Manager exits the process with status 1 when it has not (manager.h).
// Limits: the bound holds for the client; a request the network or the API server holds longer
// than its timeout can still be applied later (no Kubernetes API takes a fencing token).
// Clocks must run at the same rate (not be in sync); a process paused (SIGSTOP, VM freeze)
// between the check and the send is outside the model, as in client-go.
//
// LeaseLock is the seam to the API server: ClientLeaseLock talks to it through the runtime
// Client; tests use in-memory fakes.
//
// Thread-safety: Run() on one thread; Stop(), IsLeader(), GetLeader() and TimeLeft() from any
// thread. on_started_leading and on_stopped_leading run on the Run() thread and must return
// promptly (on_started_leading should hand long work to another thread); Run() does not renew
// while they run. on_new_leader runs on the thread that made the round (Run()'s, or the caller
// of TryAcquireOrRenew), never under the elector's lock.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "api/coordination_v1.h"
#include "operator/base/clock.h"
#include "operator/base/mutex.h"
#include "operator/base/status.h"
#include "operator/base/statusor.h"
#include "operator/runtime/client.h"
#include "operator/runtime/fenced_client.h"
#include "operator/runtime/metrics.h"

namespace lballoc::runtime {

// The one Lease object an elector competes for. Each call is one request, not retried, that
// gives up after `timeout` (> 0). Calls may overlap (a round abandoned at its deadline and the
// release), so implementations must be safe for concurrent use.
class LeaseLock {
 public:
  virtual ~LeaseLock() = default;
  // NotFound when the Lease does not exist.
  virtual StatusOr<api::Lease> Get(Clock::Duration timeout) = 0;
  // AlreadyExists when another candidate created it first.
  virtual StatusOr<api::Lease> Create(const api::Lease& lease, Clock::Duration timeout) = 0;
  // PUT with lease.metadata.resource_version as the precondition (Conflict when stale).
  virtual StatusOr<api::Lease> Update(const api::Lease& lease, Clock::Duration timeout) = 0;
  // "namespace/name", for logs and metrics.
  virtual std::string Describe() const = 0;
};

// A LeaseLock over the runtime Client (the timeout reaches the transport through
// Client::WithCallOptions; Retry-After is not honoured).
class ClientLeaseLock final : public LeaseLock {
 public:
  ClientLeaseLock(Client& client, std::string namespace_, std::string name);
  StatusOr<api::Lease> Get(Clock::Duration timeout) override;
  StatusOr<api::Lease> Create(const api::Lease& lease, Clock::Duration timeout) override;
  StatusOr<api::Lease> Update(const api::Lease& lease, Clock::Duration timeout) override;
  std::string Describe() const override { return namespace_ + "/" + name_; }

 private:
  // The client for one call bounded by `timeout`.
  std::unique_ptr<Client> Bounded(Clock::Duration timeout);

  Client& client_;
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

class LeaderElector final : public Fence {
 public:
  // InvalidArgument unless identity is set, lease_duration > renew_deadline,
  // renew_deadline > 1.2 * retry_period, and lease_duration >= 1 s.
  static StatusOr<std::unique_ptr<LeaderElector>> Create(LeaseLock& lock,
                                                         LeaderElectionConfig config,
                                                         LeaderCallbacks callbacks);
  ~LeaderElector() override;

  // Campaigns, leads, and campaigns again after a loss, until Stop(). On return it is not
  // leading (and has released the Lease if configured to).
  void Run();
  // Makes Run() return. Safe to call before, during or after Run().
  void Stop();

  // Between on_started_leading and on_stopped_leading.
  bool IsLeader() const { return leading_.load(); }
  // The last observed holderIdentity ("" when none or released).
  std::string GetLeader() const;

  // Fence: the time left before this term's renew deadline while leading (and the Lease's
  // holder as last seen is this candidate); a FencedError otherwise. See "Fencing" above.
  StatusOr<Clock::Duration> TimeLeft() const override;
  // lease_duration - renew_deadline.
  Clock::Duration FencingMargin() const { return config_.lease_duration - config_.renew_deadline; }

  // One round of client-go's tryAcquireOrRenew: true when this candidate holds the Lease now.
  // Its calls are bounded by the renew deadline of the current term while leading, else by
  // renew_deadline from now. Run() calls it; exposed so tests can step it on a FakeClock.
  bool TryAcquireOrRenew();
  // Gives the Lease up if this candidate holds it (used by Run() on Stop()); bounded by
  // renew_deadline.
  Status Release();

 private:
  enum class Round { kSucceeded, kFailed, kTimedOut, kStopped };

  LeaderElector(LeaseLock& lock, LeaderElectionConfig config, LeaderCallbacks callbacks);

  // Waits `d` on the clock; false when stopped.
  bool Sleep(Clock::Duration d);
  bool stopped() const;
  // Retries rounds until one succeeds (true) or Stop() (false).
  bool Acquire();
  // Renews until the renew deadline passes without success or Stop().
  void Renew();
  // The deadline of a round starting at `now`.
  Clock::TimePoint RoundDeadline(Clock::TimePoint now) const;
  // TryAcquireOrRenew with every call bounded by `deadline`; holder changes are queued for
  // DeliverNewLeaders.
  bool TryAcquireOrRenewUntil(Clock::TimePoint deadline);
  // Time left before `deadline` for one lease call; DeadlineExceeded when none.
  StatusOr<Clock::Duration> CallTimeout(Clock::TimePoint deadline) const;
  // One round on the round thread; waits until it returns, `deadline` passes or Stop().
  Round RunRound(Clock::TimePoint deadline);
  // Records `lease` as observed at `now` (the expiry clock restarts when its record changed).
  void Observe(const api::Lease& lease, Clock::TimePoint now);
  // Calls on_new_leader for the holder changes observed so far.
  void DeliverNewLeaders();

  LeaseLock& lock_;
  const LeaderElectionConfig config_;
  const LeaderCallbacks callbacks_;
  Clock& clock_;
  Gauge* master_status_;
  std::mt19937_64 rng_;

  mutable Mutex mu_;
  CondVar cv_;
  bool stopped_ GUARDED_BY(mu_) = false;
  std::optional<api::Lease> observed_ GUARDED_BY(mu_);  // the last Lease seen or written
  Clock::TimePoint observed_time_ GUARDED_BY(mu_){};    // local time its record last changed
  std::string observed_holder_ GUARDED_BY(mu_);
  std::atomic<bool> leading_{false};
  // Local time the last successful write began.
  Clock::TimePoint last_renew_start_ GUARDED_BY(mu_){};
  std::vector<std::string> new_leaders_ GUARDED_BY(mu_);  // holder changes not yet delivered
  // The round Run() waits for; a round abandoned at its deadline may still be running.
  std::thread round_thread_ GUARDED_BY(mu_);
  bool round_running_ GUARDED_BY(mu_) = false;
  bool round_result_ GUARDED_BY(mu_) = false;
};

}  // namespace lballoc::runtime
