#include "operator/runtime/leader_election.h"

#include <glog/logging.h>

#include <algorithm>
#include <utility>

#include "operator/base/status_macros.h"

namespace lballoc::runtime {

ClientLeaseLock::ClientLeaseLock(Client& client, std::string namespace_, std::string name)
    : client_(client), namespace_(std::move(namespace_)), name_(std::move(name)) {}

std::unique_ptr<Client> ClientLeaseLock::Bounded(Clock::Duration timeout) {
  CallOptions options;
  options.before_send = [timeout]() -> StatusOr<Clock::Duration> { return timeout; };
  // A Retry-After wait would outlast the renew deadline the timeout was computed from.
  options.retry_after = false;
  return client_.WithCallOptions(std::move(options));
}

StatusOr<api::Lease> ClientLeaseLock::Get(Clock::Duration timeout) {
  std::unique_ptr<Client> client = Bounded(timeout);
  return TypedClient<api::Lease>(*client).Get(namespace_, name_);
}

StatusOr<api::Lease> ClientLeaseLock::Create(const api::Lease& lease, Clock::Duration timeout) {
  api::Lease copy = lease;
  copy.metadata.namespace_ = namespace_;
  copy.metadata.name = name_;
  std::unique_ptr<Client> client = Bounded(timeout);
  return TypedClient<api::Lease>(*client).Create(copy);
}

StatusOr<api::Lease> ClientLeaseLock::Update(const api::Lease& lease, Clock::Duration timeout) {
  api::Lease copy = lease;
  copy.metadata.namespace_ = namespace_;
  copy.metadata.name = name_;
  std::unique_ptr<Client> client = Bounded(timeout);
  return TypedClient<api::Lease>(*client).Update(copy);
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
  if (static_cast<double>(config.renew_deadline.count()) <=
          1.2 * static_cast<double>(config.retry_period.count()) ||
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
      master_status_(
          (config_.metrics != nullptr ? *config_.metrics : MetricsRegistry::Default())
              .GetGauge("leader_election_master_status", "1 while this replica leads, 0 otherwise.",
                        {{"name", config_.name.empty() ? lock.Describe() : config_.name}})),
      rng_(std::hash<std::string>()(config_.identity)) {
  master_status_->Set(0);
}

LeaderElector::~LeaderElector() {
  Stop();
  // A round abandoned at its deadline ends with its calls' timeouts.
  if (round_thread_.joinable()) round_thread_.join();
}

std::string LeaderElector::GetLeader() const {
  MutexLock lock(&mu_);
  return observed_holder_;
}

void LeaderElector::Stop() {
  MutexLock lock(&mu_);
  stopped_ = true;
  cv_.NotifyAll();
}

StatusOr<Clock::Duration> LeaderElector::TimeLeft() const {
  if (!leading_.load()) {
    return FencedError(config_.identity + " does not lead " + lock_.Describe());
  }
  MutexLock lock(&mu_);
  if (observed_holder_ != config_.identity) {
    return FencedError(config_.identity + " saw " + lock_.Describe() + " held by \"" +
                       observed_holder_ + "\"");
  }
  const Clock::TimePoint end = last_renew_start_ + config_.renew_deadline;
  const Clock::TimePoint now = clock_.Now();
  if (now >= end) {
    return FencedError("the term of " + config_.identity + " on " + lock_.Describe() +
                       " ended: not renewed within the renew deadline");
  }
  return end - now;
}

bool LeaderElector::stopped() const {
  MutexLock lock(&mu_);
  return stopped_;
}

bool LeaderElector::Sleep(Clock::Duration d) {
  MutexLock lock(&mu_);
  clock_.WaitUntil(mu_, cv_, clock_.Now() + d, [&] {
    mu_.AssertHeld();
    return stopped_;
  });
  return !stopped_;
}

void LeaderElector::Observe(const api::Lease& lease, Clock::TimePoint now) {
  MutexLock lock(&mu_);
  // Only a change of the record restarts the expiry clock; the resourceVersion alone or
  // the timestamps' values mean nothing here.
  if (!observed_.has_value() || observed_->spec != lease.spec) observed_time_ = now;
  observed_ = lease;
  if (lease.spec.holder_identity != observed_holder_) {
    observed_holder_ = lease.spec.holder_identity;
    new_leaders_.push_back(observed_holder_);
  }
}

void LeaderElector::DeliverNewLeaders() {
  std::vector<std::string> leaders;
  {
    MutexLock lock(&mu_);
    leaders.swap(new_leaders_);
  }
  if (!callbacks_.on_new_leader) return;
  for (const std::string& leader : leaders) callbacks_.on_new_leader(leader);
}

Clock::TimePoint LeaderElector::RoundDeadline(Clock::TimePoint now) const {
  if (leading_.load()) {
    MutexLock lock(&mu_);
    return last_renew_start_ + config_.renew_deadline;
  }
  // A candidate's round is useless past this: a term it won would already be over.
  return now + config_.renew_deadline;
}

StatusOr<Clock::Duration> LeaderElector::CallTimeout(Clock::TimePoint deadline) const {
  const Clock::TimePoint now = clock_.Now();
  if (now >= deadline) {
    return DeadlineExceededError("no time left before the renew deadline for a call on " +
                                 lock_.Describe());
  }
  return deadline - now;
}

bool LeaderElector::TryAcquireOrRenew() {
  bool result = TryAcquireOrRenewUntil(RoundDeadline(clock_.Now()));
  DeliverNewLeaders();
  return result;
}

bool LeaderElector::TryAcquireOrRenewUntil(Clock::TimePoint deadline) {
  // The start of the round: a write that succeeds renews the term from here (the earliest
  // moment the server could have committed it), never from when its answer arrived.
  const Clock::TimePoint now = clock_.Now();
  const api::Time wall = clock_.WallNow();
  const int32_t duration_seconds = static_cast<int32_t>(
      std::chrono::duration_cast<std::chrono::seconds>(config_.lease_duration).count());

  // 1. Fast path: the leader renews from its cached copy, without a GET.
  std::optional<api::Lease> cached;
  {
    MutexLock lock(&mu_);
    if (observed_.has_value() && observed_->spec.holder_identity == config_.identity &&
        observed_time_ + config_.lease_duration > now) {
      cached = observed_;
    }
  }
  if (cached.has_value()) {
    api::Lease lease = *cached;
    lease.spec.lease_duration_seconds = duration_seconds;
    lease.spec.renew_time = wall;
    StatusOr<Clock::Duration> timeout = CallTimeout(deadline);
    StatusOr<api::Lease> updated =
        timeout.ok() ? lock_.Update(lease, *timeout) : StatusOr<api::Lease>(timeout.status());
    if (updated.ok()) {
      Observe(*updated, now);
      MutexLock lock(&mu_);
      last_renew_start_ = now;
      return true;
    }
    VLOG(1) << config_.identity << ": fast renew of " << lock_.Describe()
            << " failed: " << updated.status();
  }

  // 2. Read the Lease; create it when missing.
  StatusOr<Clock::Duration> timeout = CallTimeout(deadline);
  if (!timeout.ok()) return false;
  StatusOr<api::Lease> current = lock_.Get(*timeout);
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
    timeout = CallTimeout(deadline);
    if (!timeout.ok()) return false;
    StatusOr<api::Lease> created = lock_.Create(lease, *timeout);
    if (!created.ok()) {
      LOG(WARNING) << config_.identity << ": cannot create lease " << lock_.Describe() << ": "
                   << created.status();
      return false;
    }
    Observe(*created, now);
    MutexLock lock(&mu_);
    last_renew_start_ = now;
    return true;
  }

  // 3. Note when the record last changed, on our clock, as of when the GET returned: the
  // holder may have renewed while the GET was in flight (client-go takes the time here too).
  const Clock::TimePoint read_at = clock_.Now();
  Observe(*current, read_at);

  // 4. Another holder whose lease has not run out (by our observation) keeps it.
  const api::LeaseSpec& spec = current->spec;
  {
    MutexLock lock(&mu_);
    if (!spec.holder_identity.empty() && spec.holder_identity != config_.identity &&
        observed_time_ + std::chrono::seconds(spec.lease_duration_seconds) > read_at) {
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
  timeout = CallTimeout(deadline);
  if (!timeout.ok()) return false;
  StatusOr<api::Lease> updated = lock_.Update(lease, *timeout);
  if (!updated.ok()) {
    LOG(WARNING) << config_.identity << ": cannot update lease " << lock_.Describe() << ": "
                 << updated.status();
    return false;
  }
  Observe(*updated, now);
  MutexLock lock(&mu_);
  last_renew_start_ = now;
  return true;
}

Status LeaderElector::Release() {
  const Clock::TimePoint deadline = clock_.Now() + config_.renew_deadline;
  // A few tries: a 409 here means our read raced a write (maybe our own earlier renewal).
  Status last;
  for (int attempt = 0; attempt < 3; ++attempt) {
    LB_ASSIGN_OR_RETURN(Clock::Duration timeout, CallTimeout(deadline),
                        _.WithContext("release " + lock_.Describe()));
    StatusOr<api::Lease> current = lock_.Get(timeout);
    if (!current.ok()) return current.status().WithContext("release " + lock_.Describe());
    if (current->spec.holder_identity != config_.identity) return Status();
    api::Lease lease = *current;
    const api::Time wall = clock_.WallNow();
    lease.spec.holder_identity = "";
    lease.spec.lease_duration_seconds = 1;
    lease.spec.acquire_time = wall;
    lease.spec.renew_time = wall;
    LB_ASSIGN_OR_RETURN(timeout, CallTimeout(deadline),
                        _.WithContext("release " + lock_.Describe()));
    StatusOr<api::Lease> updated = lock_.Update(lease, timeout);
    if (updated.ok()) {
      Observe(*updated, clock_.Now());
      DeliverNewLeaders();
      LOG(INFO) << config_.identity << ": released lease " << lock_.Describe();
      return Status();
    }
    last = updated.status();
    if (!last.IsConflict()) break;
  }
  return last.WithContext("release " + lock_.Describe());
}

LeaderElector::Round LeaderElector::RunRound(Clock::TimePoint deadline) {
  MutexLock lock(&mu_);
  const auto round_over = [&] {
    mu_.AssertHeld();
    return !round_running_ || stopped_;
  };
  // Lease calls never overlap: a round abandoned at an earlier deadline must finish first.
  clock_.WaitUntil(mu_, cv_, deadline, round_over);
  if (stopped_) return Round::kStopped;
  if (round_running_) return Round::kTimedOut;
  if (round_thread_.joinable()) {
    std::thread finished = std::move(round_thread_);
    lock.Unlock();
    finished.join();  // it has returned already
    lock.Lock();
  }
  round_running_ = true;
  round_thread_ = std::thread([this, deadline] {
    bool result = TryAcquireOrRenewUntil(deadline);
    MutexLock round_lock(&mu_);
    round_result_ = result;
    round_running_ = false;
    cv_.NotifyAll();
  });
  // Stop waiting at the deadline even if a call is still in flight: the caller steps down
  // then, whatever the network does.
  clock_.WaitUntil(mu_, cv_, deadline, round_over);
  Round result;
  if (!round_running_) {
    result = round_result_ ? Round::kSucceeded : Round::kFailed;
  } else {
    result = stopped_ ? Round::kStopped : Round::kTimedOut;
  }
  lock.Unlock();
  DeliverNewLeaders();
  return result;
}

bool LeaderElector::Acquire() {
  std::uniform_real_distribution<double> jitter(0.0, config_.jitter_factor);
  while (!stopped()) {
    Round round = RunRound(RoundDeadline(clock_.Now()));
    if (round == Round::kSucceeded) return true;
    if (round == Round::kStopped) return false;
    auto wait =
        std::chrono::duration_cast<Clock::Duration>(config_.retry_period * (1.0 + jitter(rng_)));
    if (!Sleep(wait)) return false;
  }
  return false;
}

void LeaderElector::Renew() {
  while (Sleep(config_.retry_period)) {
    // Retry every retry_period until a renewal succeeds or the deadline, counted from the
    // start of the last successful write, has passed.
    while (true) {
      Clock::TimePoint deadline;
      {
        MutexLock lock(&mu_);
        deadline = last_renew_start_ + config_.renew_deadline;
      }
      Round round = RunRound(deadline);
      if (round == Round::kSucceeded) break;
      if (round == Round::kStopped) return;
      {
        MutexLock lock(&mu_);
        // Someone else holds it now (we saw their record): stop at once rather than wait for
        // the deadline. Stricter than client-go, which only notices at the deadline.
        if (!observed_holder_.empty() && observed_holder_ != config_.identity) {
          LOG(WARNING) << config_.identity << ": lease " << lock_.Describe() << " is now held by "
                       << observed_holder_ << "; stepping down";
          return;
        }
      }
      Clock::TimePoint now = clock_.Now();
      if (round == Round::kTimedOut || now >= deadline) {
        LOG(WARNING) << config_.identity << ": could not renew lease " << lock_.Describe()
                     << " within the renew deadline"
                     << (round == Round::kTimedOut ? " (a lease call is still in flight)" : "")
                     << "; stepping down";
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
    MutexLock lock(&mu_);
    if (observed_.has_value() && observed_->spec.holder_identity == config_.identity) {
      observed_.reset();
      observed_holder_.clear();
    }
  }
}

}  // namespace lballoc::runtime
