// In-memory fakes for leader-election tests: one Lease with the API server's optimistic
// concurrency (FakeLeaseServer) and per-candidate connections that a test can cut
// (FakeLeaseLock), and a tracker of who leads (LeaderTracker). Test-only.
//
// Thread-safety: both are safe for concurrent use.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "api/coordination_v1.h"
#include "operator/base/clock.h"
#include "operator/base/status.h"
#include "operator/base/status_macros.h"
#include "operator/base/statusor.h"
#include "operator/runtime/leader_election.h"

namespace lballoc::runtime::fakes {

// One Lease in memory with the API server's optimistic concurrency: every write bumps the
// resourceVersion; an update carrying an older one is a 409 Conflict.
class FakeLeaseServer {
 public:
  StatusOr<api::Lease> Get() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!lease_.has_value()) return NotFoundError("leases \"lock\" not found");
    return *lease_;
  }
  StatusOr<api::Lease> Create(const api::Lease& lease) {
    std::lock_guard<std::mutex> lock(mu_);
    if (lease_.has_value()) return AlreadyExistsError("leases \"lock\" already exists");
    lease_ = lease;
    lease_->metadata.resource_version = std::to_string(++rv_);
    return *lease_;
  }
  StatusOr<api::Lease> Update(const api::Lease& lease) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!lease_.has_value()) return NotFoundError("leases \"lock\" not found");
    if (lease.metadata.resource_version != lease_->metadata.resource_version) {
      return ConflictError(
          "the object has been modified; please apply your changes to the "
          "latest version and try again");
    }
    lease_ = lease;
    lease_->metadata.resource_version = std::to_string(++rv_);
    return *lease_;
  }
  // Direct edit, as another actor would make (bumps the resourceVersion).
  void Edit(const std::function<void(api::LeaseSpec&)>& edit) {
    std::lock_guard<std::mutex> lock(mu_);
    edit(lease_->spec);
    lease_->metadata.resource_version = std::to_string(++rv_);
  }
  api::LeaseSpec spec() {
    std::lock_guard<std::mutex> lock(mu_);
    return lease_.has_value() ? lease_->spec : api::LeaseSpec{};
  }

 private:
  std::mutex mu_;
  std::optional<api::Lease> lease_;
  int64_t rv_ = 0;
};

// One candidate's connection to the server; cut() makes every call fail as a dead network,
// and hang() makes every call block (ignoring its timeout, as a call that overruns it would)
// until hang(false). Records the timeout each call was given.
class FakeLeaseLock final : public LeaseLock {
 public:
  explicit FakeLeaseLock(FakeLeaseServer& server) : server_(server) {}
  StatusOr<api::Lease> Get(Clock::Duration timeout) override {
    LB_RETURN_IF_ERROR(Enter(timeout));
    return server_.Get();
  }
  StatusOr<api::Lease> Create(const api::Lease& lease, Clock::Duration timeout) override {
    LB_RETURN_IF_ERROR(Enter(timeout));
    return server_.Create(lease);
  }
  StatusOr<api::Lease> Update(const api::Lease& lease, Clock::Duration timeout) override {
    LB_RETURN_IF_ERROR(Enter(timeout));
    if (fail_next_update_.exchange(false)) return ConflictError("injected conflict");
    return server_.Update(lease);
  }
  std::string Describe() const override { return "default/lock"; }

  void set_cut(bool cut) { cut_ = cut; }
  void FailNextUpdate() { fail_next_update_ = true; }
  void hang(bool hang) {
    std::lock_guard<std::mutex> lock(mu_);
    hang_ = hang;
    cv_.notify_all();
  }
  // Calls blocked by hang() right now.
  int hanging() {
    std::lock_guard<std::mutex> lock(mu_);
    return hanging_;
  }
  // Runs at the start of every call, before the call reaches the server (tests use it to
  // advance a FakeClock, as a slow network would).
  void set_on_call(std::function<void()> on_call) {
    std::lock_guard<std::mutex> lock(mu_);
    on_call_ = std::move(on_call);
  }
  std::vector<Clock::Duration> timeouts() {
    std::lock_guard<std::mutex> lock(mu_);
    return timeouts_;
  }

 private:
  Status Enter(Clock::Duration timeout) {
    std::function<void()> on_call;
    {
      std::unique_lock<std::mutex> lock(mu_);
      timeouts_.push_back(timeout);
      ++hanging_;
      cv_.wait(lock, [&] { return !hang_; });
      --hanging_;
      on_call = on_call_;
    }
    if (on_call) on_call();
    if (cut_) return UnavailableError("connection refused");
    return Status();
  }

  FakeLeaseServer& server_;
  std::atomic<bool> cut_{false};
  std::atomic<bool> fail_next_update_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool hang_ = false;
  int hanging_ = 0;
  std::function<void()> on_call_;
  std::vector<Clock::Duration> timeouts_;
};

// Counts leaders across candidates through the callbacks.
struct LeaderTracker {
  std::mutex mu;
  int current = 0;
  int max_concurrent = 0;
  int starts = 0;
  std::string leader;
  std::chrono::steady_clock::time_point last_start, last_stop;

  LeaderCallbacks For(const std::string& id) {
    LeaderCallbacks callbacks;
    callbacks.on_started_leading = [this, id] {
      std::lock_guard<std::mutex> lock(mu);
      ++current;
      ++starts;
      max_concurrent = std::max(max_concurrent, current);
      leader = id;
      last_start = std::chrono::steady_clock::now();
    };
    callbacks.on_stopped_leading = [this, id] {
      std::lock_guard<std::mutex> lock(mu);
      --current;
      if (leader == id) leader.clear();
      last_stop = std::chrono::steady_clock::now();
    };
    return callbacks;
  }
  std::string Leader() {
    std::lock_guard<std::mutex> lock(mu);
    return leader;
  }
};

}  // namespace lballoc::runtime::fakes
