#include "operator/runtime/leader_election.h"

#include <algorithm>
#include <utility>

#include <glog/logging.h>

namespace lballoc::runtime {

ClientLeaseLock::ClientLeaseLock(Client& client, std::string namespace_, std::string name)
    : leases_(client), namespace_(std::move(namespace_)), name_(std::move(name)) {}

StatusOr<api::Lease> ClientLeaseLock::Get() { return leases_.Get(namespace_, name_); }

StatusOr<api::Lease> ClientLeaseLock::Create(const api::Lease& lease) {
  api::Lease copy = lease;
  copy.metadata.namespace_ = namespace_;
  copy.metadata.name = name_;
  return leases_.Create(copy);
}

StatusOr<api::Lease> ClientLeaseLock::Update(const api::Lease& lease) {
  api::Lease copy = lease;
  copy.metadata.namespace_ = namespace_;
  copy.metadata.name = name_;
  return leases_.Update(copy);
}

StatusOr<std::unique_ptr<LeaderElector>> LeaderElector::Create(LeaseLock& lock,
                                                               LeaderElectionConfig config,
                                                               LeaderCallbacks callbacks) {
  if (config.identity.empty()) {
    return InvalidArgumentError("leader election: identity is empty");
  }
  if (config.lease_duration < std::chrono::seconds(1)) {
    return InvalidArgumentError("leader election: lease duration must be at least 1s");
  }
  if (config.lease_duration <= config.renew_deadline) {
    return InvalidArgumentError(
        "leader election: lease duration must be greater than the renew deadline");
  }
  if (config.renew_deadline.count() <= 1.2 * config.retry_period.count() ||
      config.retry_period <= Clock::Duration::zero()) {
    return InvalidArgumentError(
        "leader election: renew deadline must be greater than 1.2 x retry period (> 0)");
  }
  return std::unique_ptr<LeaderElector>(
      new LeaderElector(lock, std::move(config), std::move(callbacks)));
}

LeaderElector::LeaderElector(LeaseLock& lock, LeaderElectionConfig config,
                             LeaderCallbacks callbacks)
    : lock_(lock),
      config_(std::move(config)),
      callbacks_(std::move(callbacks)),
      clock_(config_.clock != nullptr ? *config_.clock : Clock::Real()),
      master_status_((config_.metrics != nullptr ? *config_.metrics : MetricsRegistry::Default())
                         .GetGauge("leader_election_master_status",
                                   "1 while this replica leads, 0 otherwise.",
                                   {{"name", config_.name.empty() ? lock.Describe()
                                                                  : config_.name}})),
      rng_(std::hash<std::string>()(config_.identity)) {
  master_status_->Set(0);
}

LeaderElector::~LeaderElector() { Stop(); }

std::string LeaderElector::GetLeader() const {
  std::lock_guard<std::mutex> lock(mu_);
  return observed_holder_;
}

void LeaderElector::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  stopped_ = true;
  cv_.notify_all();
}

bool LeaderElector::stopped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stopped_;
}

bool LeaderElector::Sleep(Clock::Duration d) {
  std::unique_lock<std::mutex> lock(mu_);
  clock_.WaitUntil(lock, cv_, clock_.Now() + d, [&] { return stopped_; });
  return !stopped_;
}

void LeaderElector::Observe(const api::Lease& lease, Clock::TimePoint now) {
  std::string new_holder;
  bool holder_changed = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Only a change of the record restarts the expiry clock; the resourceVersion alone or
    // the timestamps' values mean nothing here.
    if (!observed_.has_value() || observed_->spec != lease.spec) observed_time_ = now;
    observed_ = lease;
    if (lease.spec.holder_identity != observed_holder_) {
      observed_holder_ = lease.spec.holder_identity;
      new_holder = observed_holder_;
      holder_changed = true;
    }
  }
  if (holder_changed && callbacks_.on_new_leader) callbacks_.on_new_leader(new_holder);
}

bool LeaderElector::TryAcquireOrRenew() {
  const Clock::TimePoint now = clock_.Now();
  const api::Time wall = clock_.WallNow();
  const int32_t duration_seconds = static_cast<int32_t>(
      std::chrono::duration_cast<std::chrono::seconds>(config_.lease_duration).count());

  // 1. Fast path: the leader renews from its cached copy, without a GET.
  std::optional<api::Lease> cached;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (observed_.has_value() && observed_->spec.holder_identity == config_.identity &&
        observed_time_ + config_.lease_duration > now) {
      cached = observed_;
    }
  }
  if (cached.has_value()) {
    api::Lease lease = *cached;
    lease.spec.lease_duration_seconds = duration_seconds;
    lease.spec.renew_time = wall;
    StatusOr<api::Lease> updated = lock_.Update(lease);
    if (updated.ok()) {
      Observe(*updated, now);
      std::lock_guard<std::mutex> lock(mu_);
      last_renew_start_ = now;
      return true;
    }
    VLOG(1) << config_.identity << ": fast renew of " << lock_.Describe()
            << " failed: " << updated.status();
  }

  // 2. Read the Lease; create it when missing.
  StatusOr<api::Lease> current = lock_.Get();
  if (!current.ok()) {
    if (!current.status().IsNotFound()) {
      LOG(WARNING) << config_.identity << ": cannot read lease " << lock_.Describe() << ": "
                   << current.status();
      return false;
    }
    api::Lease lease;
    lease.spec.holder_identity = config_.identity;
    lease.spec.lease_duration_seconds = duration_seconds;
    lease.spec.acquire_time = wall;
    lease.spec.renew_time = wall;
    lease.spec.lease_transitions = 0;
    StatusOr<api::Lease> created = lock_.Create(lease);
    if (!created.ok()) {
      LOG(WARNING) << config_.identity << ": cannot create lease " << lock_.Describe() << ": "
                   << created.status();
      return false;
    }
    Observe(*created, now);
    std::lock_guard<std::mutex> lock(mu_);
    last_renew_start_ = now;
    return true;
  }

  // 3. Note when the record last changed, on our clock.
  Observe(*current, now);

  // 4. Another holder whose lease has not run out (by our observation) keeps it.
  const api::LeaseSpec& spec = current->spec;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!spec.holder_identity.empty() && spec.holder_identity != config_.identity &&
        observed_time_ + std::chrono::seconds(spec.lease_duration_seconds) > now) {
      return false;
    }
  }

  // 5. Take or renew it, guarded by the resourceVersion just read.
  api::Lease lease = *current;
  const bool was_holder = spec.holder_identity == config_.identity;
  lease.spec.holder_identity = config_.identity;
  lease.spec.lease_duration_seconds = duration_seconds;
  lease.spec.renew_time = wall;
  if (!was_holder) {
    lease.spec.acquire_time = wall;
    lease.spec.lease_transitions = spec.lease_transitions + 1;
  }
  StatusOr<api::Lease> updated = lock_.Update(lease);
  if (!updated.ok()) {
    LOG(WARNING) << config_.identity << ": cannot update lease " << lock_.Describe() << ": "
                 << updated.status();
    return false;
  }
  Observe(*updated, now);
  std::lock_guard<std::mutex> lock(mu_);
  last_renew_start_ = now;
  return true;
}

Status LeaderElector::Release() {
  // A few tries: a 409 here means our read raced a write (maybe our own earlier renewal).
  Status last;
  for (int attempt = 0; attempt < 3; ++attempt) {
    StatusOr<api::Lease> current = lock_.Get();
    if (!current.ok()) return current.status().WithContext("release " + lock_.Describe());
    if (current->spec.holder_identity != config_.identity) return Status();
    api::Lease lease = *current;
    const api::Time wall = clock_.WallNow();
    lease.spec.holder_identity = "";
    lease.spec.lease_duration_seconds = 1;
    lease.spec.acquire_time = wall;
    lease.spec.renew_time = wall;
    StatusOr<api::Lease> updated = lock_.Update(lease);
    if (updated.ok()) {
      Observe(*updated, clock_.Now());
      LOG(INFO) << config_.identity << ": released lease " << lock_.Describe();
      return Status();
    }
    last = updated.status();
    if (!last.IsConflict()) break;
  }
  return last.WithContext("release " + lock_.Describe());
}

bool LeaderElector::Acquire() {
  std::uniform_real_distribution<double> jitter(0.0, config_.jitter_factor);
  while (!stopped()) {
    if (TryAcquireOrRenew()) return true;
    auto wait = std::chrono::duration_cast<Clock::Duration>(config_.retry_period *
                                                            (1.0 + jitter(rng_)));
    if (!Sleep(wait)) return false;
  }
  return false;
}

void LeaderElector::Renew() {
  while (Sleep(config_.retry_period)) {
    // Retry every retry_period until a renewal succeeds or the deadline, counted from the
    // start of the last successful write, has passed.
    while (!TryAcquireOrRenew()) {
      Clock::TimePoint deadline;
      {
        std::lock_guard<std::mutex> lock(mu_);
        // Someone else holds it now (we saw their record): stop at once rather than wait for
        // the deadline. Stricter than client-go, which only notices at the deadline.
        if (!observed_holder_.empty() && observed_holder_ != config_.identity) {
          LOG(WARNING) << config_.identity << ": lease " << lock_.Describe()
                       << " is now held by " << observed_holder_ << "; stepping down";
          return;
        }
        deadline = last_renew_start_ + config_.renew_deadline;
      }
      Clock::TimePoint now = clock_.Now();
      if (now >= deadline) {
        LOG(WARNING) << config_.identity << ": could not renew lease " << lock_.Describe()
                     << " within the renew deadline; stepping down";
        return;
      }
      if (!Sleep(std::min(config_.retry_period, deadline - now))) return;
    }
  }
}

void LeaderElector::Run() {
  while (!stopped()) {
    if (!Acquire()) break;
    LOG(INFO) << config_.identity << ": became leader of " << lock_.Describe();
    leading_ = true;
    master_status_->Set(1);
    if (callbacks_.on_started_leading) callbacks_.on_started_leading();
    Renew();
    leading_ = false;
    master_status_->Set(0);
    LOG(INFO) << config_.identity << ": stopped leading " << lock_.Describe();
    if (callbacks_.on_stopped_leading) callbacks_.on_stopped_leading();
    if (stopped()) {
      // Our leader-only work has stopped (on_stopped_leading returned): hand over at once.
      if (config_.release_on_cancel) {
        Status released = Release();
        if (!released.ok()) LOG(WARNING) << config_.identity << ": " << released;
      }
      break;
    }
    // Lost the lease: forget our view of it so the next round starts with a fresh GET.
    std::lock_guard<std::mutex> lock(mu_);
    if (observed_.has_value() && observed_->spec.holder_identity == config_.identity) {
      observed_.reset();
      observed_holder_.clear();
    }
  }
}

}  // namespace lballoc::runtime
