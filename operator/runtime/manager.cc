#include "operator/runtime/manager.h"

#include <fcntl.h>
#include <glog/logging.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace lballoc::runtime {

namespace {
bool Disabled(const std::string& address) { return address.empty() || address == "0"; }

Clock::Duration FencingMargin(const ManagerOptions& options) {
  return options.leader_election_config.lease_duration -
         options.leader_election_config.renew_deadline;
}

Clock::Duration LeaderWriteTimeout(const ManagerOptions& options) {
  if (options.leader_write_timeout > Clock::Duration::zero()) return options.leader_write_timeout;
  if (!options.leader_election) return Clock::Duration::zero();
  return FencingMargin(options) / 2;
}
}  // namespace

StatusOr<Clock::Duration> Manager::TermFence::TimeLeft() const {
  if (manager_.options_.leader_election) {
    LeaderElector* elector = manager_.elector_for_fence_.load();
    if (elector == nullptr) return FencedError("leader election has not started");
    return elector->TimeLeft();
  }
  if (!manager_.leading_.load()) return FencedError("the leader work is not running");
  return Clock::Duration::max();
}

Manager::Manager(ManagerOptions options, std::unique_ptr<Client> client)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : Clock::Real()),
      metrics_(options_.metrics != nullptr ? *options_.metrics : MetricsRegistry::Default()),
      client_(std::move(client)) {
  if (client_ != nullptr) {
    leader_client_ = std::make_unique<FencedClient>(*client_, fence_, LeaderWriteTimeout(options_));
  }
  healthz_.AddCheck("ping", [] { return Status(); });
  readyz_.AddCheck("informer-sync", [this] {
    return synced_ ? Status() : UnavailableError("caches have not synced yet");
  });
}

Manager::~Manager() {
  Stop();
  if (shutdown_thread_.joinable()) shutdown_thread_.join();
  if (elector_thread_.joinable()) elector_thread_.join();
  {
    MutexLock stop_lock(&stop_mu_);
    if (term_thread_.joinable()) term_thread_.join();
  }
  for (int id : metric_funcs_) metrics_.RemoveFunc(id);
}

void Manager::AddInformer(std::shared_ptr<InformerBase> informer) {
  informers_.push_back(std::move(informer));
}

void Manager::AddController(std::shared_ptr<Controller> controller) {
  bool needs_leader = controller->need_leader_election();
  Add(std::move(controller), needs_leader);
}

void Manager::Add(std::shared_ptr<Runnable> runnable, bool needs_leader) {
  (needs_leader ? leader_runnables_ : runnables_).push_back(std::move(runnable));
}

void Manager::SetBeforeControllersHook(std::function<Status()> hook) {
  before_controllers_ = std::move(hook);
}

void Manager::AddHealthzCheck(const std::string& name, HealthChecks::Check check) {
  healthz_.AddCheck(name, std::move(check));
}

void Manager::AddReadyzCheck(const std::string& name, HealthChecks::Check check) {
  readyz_.AddCheck(name, std::move(check));
}

bool Manager::CachesSynced() const { return synced_; }

int Manager::health_probe_port() const { return health_port_.load(); }

int Manager::metrics_port() const { return metrics_port_.load(); }

void Manager::Stop() {
  MutexLock lock(&mu_);
  stop_requested_ = true;
  cv_.NotifyAll();
}

bool Manager::ShutdownComplete() const {
  MutexLock lock(&mu_);
  return shutdown_complete_;
}

bool Manager::WaitForShutdown(Clock::Duration timeout) {
  MutexLock lock(&mu_);
  return clock_.WaitUntil(mu_, cv_, clock_.Now() + timeout, [&] {
    mu_.AssertHeld();
    return shutdown_complete_;
  });
}

bool Manager::stop_requested() const {
  MutexLock lock(&mu_);
  return stop_requested_;
}

Status Manager::StartServers() {
  if (!Disabled(options_.health_probe_bind_address)) {
    health_server_ = std::make_unique<HttpServer>(
        options_.health_probe_bind_address, [this](const ServedRequest& request) {
          if (healthz_.Serves(request.path)) return healthz_.Handle(request);
          if (readyz_.Serves(request.path)) return readyz_.Handle(request);
          return ServedResponse{404, "text/plain; charset=utf-8", "not found\n"};
        });
    Status started = health_server_->Start();
    if (!started.ok()) return started.WithContext("health probe server");
    health_port_ = health_server_->port();
    LOG(INFO) << "serving /healthz and /readyz on port " << health_server_->port();
  }
  if (!Disabled(options_.metrics_bind_address)) {
    metrics_server_ = std::make_unique<
        HttpServer>(options_.metrics_bind_address, [this](const ServedRequest& request) {
      if (request.path == "/metrics") {
        return ServedResponse{200, "text/plain; version=0.0.4; charset=utf-8", metrics_.Render()};
      }
      return ServedResponse{404, "text/plain; charset=utf-8", "not found\n"};
    });
    Status started = metrics_server_->Start();
    if (!started.ok()) return started.WithContext("metrics server");
    metrics_port_ = metrics_server_->port();
    LOG(INFO) << "serving /metrics on port " << metrics_server_->port();
  }
  return Status();
}

bool Manager::WaitForCaches() {
  // Informers wait on their own clock; poll them in short slices so Stop() is noticed.
  const Clock::TimePoint deadline = clock_.Now() + options_.cache_sync_timeout;
  for (const auto& informer : informers_) {
    while (!informer->HasSynced()) {
      if (stop_requested()) return false;
      Clock::TimePoint now = clock_.Now();
      if (now >= deadline) {
        LOG(ERROR) << "informer " << informer->name() << " did not sync in time";
        return false;
      }
      informer->WaitForSync(
          std::min<Clock::Duration>(deadline - now, std::chrono::milliseconds(100)));
    }
  }
  return true;
}

Status Manager::Run() {
  Status status = StartServers();
  if (status.ok()) {
    for (const auto& informer : informers_) informer->Start();
    if (!WaitForCaches()) {
      if (!stop_requested()) {
        status = DeadlineExceededError("caches did not sync within the cache sync timeout");
      }
    } else {
      synced_ = true;
      LOG(INFO) << "caches synced";
    }
  }
  if (status.ok() && synced_) {
    for (const auto& runnable : runnables_) {
      status = runnable->Start();
      if (!status.ok()) {
        status = status.WithContext("start " + runnable->name());
        break;
      }
    }
  }
  if (status.ok() && synced_ && options_.leader_election &&
      LeaderWriteTimeout(options_) >= FencingMargin(options_)) {
    status = InvalidArgumentError(
        "leader write timeout must be shorter than the fencing margin (lease duration - renew "
        "deadline)");
  }
  if (status.ok() && synced_) {
    if (options_.leader_election) {
      LeaseLock* lock = options_.lease_lock;
      if (lock == nullptr) {
        if (client_ == nullptr) {
          status = InvalidArgumentError("leader election needs a client or a lease lock");
        } else {
          client_lease_lock_ = std::make_unique<ClientLeaseLock>(
              *client_, options_.leader_election_namespace, options_.leader_election_name);
          lock = client_lease_lock_.get();
        }
      }
      if (status.ok()) {
        LeaderElectionConfig config = options_.leader_election_config;
        config.clock = &clock_;
        config.metrics = &metrics_;
        LeaderCallbacks callbacks;
        callbacks.on_started_leading = [this] { OnStartedLeading(); };
        callbacks.on_stopped_leading = [this] { OnStoppedLeading(); };
        callbacks.on_new_leader = [](const std::string& identity) {
          LOG(INFO) << "leader is now \"" << identity << "\"";
        };
        StatusOr<std::unique_ptr<LeaderElector>> elector =
            LeaderElector::Create(*lock, std::move(config), std::move(callbacks));
        if (!elector.ok()) {
          status = elector.status();
        } else {
          elector_ = std::move(elector).value();
          elector_for_fence_ = elector_.get();
          elector_thread_ = std::thread([this] { elector_->Run(); });
        }
      }
    } else {
      OnStartedLeading();
    }
  }
  if (status.ok()) {
    MutexLock lock(&mu_);
    while (!stop_requested_) cv_.Wait(&mu_);
  }
  LOG(INFO) << "shutting down" << (status.ok() ? "" : ": " + status.ToString());

  // The shutdown itself runs on its own thread so that it can be bounded by the timeout.
  shutdown_thread_ = std::thread([this] {
    Shutdown();
    MutexLock lock(&mu_);
    shutdown_complete_ = true;
    cv_.NotifyAll();
  });
  bool finished;
  if (options_.graceful_shutdown_timeout < Clock::Duration::zero()) {
    MutexLock lock(&mu_);
    while (!shutdown_complete_) cv_.Wait(&mu_);
    finished = true;
  } else {
    finished = WaitForShutdown(options_.graceful_shutdown_timeout);
  }
  if (!finished) {
    // Components are stuck; the process is expected to exit now (see the header's contract).
    LOG(ERROR) << "graceful shutdown did not finish within the timeout";
    if (status.ok()) {
      status = DeadlineExceededError("graceful shutdown did not finish within the timeout");
    }
    return status;
  }
  shutdown_thread_.join();
  LOG(INFO) << "shut down";
  return status;
}

void Manager::Shutdown() {
  shutting_down_ = true;
  // Leader-only work first, while the elector goes on renewing: if stopping takes long, the
  // Lease stays ours meanwhile and nobody else starts writing (controller-runtime's order).
  StopLeaderTerm();
  if (elector_ != nullptr) {
    // Run() calls OnStoppedLeading (nothing left to stop) and then releases the Lease.
    elector_->Stop();
    if (elector_thread_.joinable()) elector_thread_.join();
  }
  leading_ = false;
  for (auto it = runnables_.rbegin(); it != runnables_.rend(); ++it) (*it)->Stop();
  for (auto it = informers_.rbegin(); it != informers_.rend(); ++it) (*it)->Stop();
  if (metrics_server_ != nullptr) metrics_server_->Stop();
  if (health_server_ != nullptr) health_server_->Stop();
}

void Manager::OnStartedLeading() {
  if (shutting_down_) return;  // a term won during shutdown starts no work
  leading_ = true;
  MutexLock stop_lock(&stop_mu_);
  {
    MutexLock lock(&term_mu_);
    term_cancelled_ = false;
  }
  if (term_thread_.joinable()) term_thread_.join();
  term_thread_ = std::thread([this] { StartLeaderWork(); });
}

void Manager::StartLeaderWork() {
  if (before_controllers_) {
    Clock::Duration delay = options_.hook_retry_delay;
    while (true) {
      {
        MutexLock lock(&term_mu_);
        if (term_cancelled_) return;
      }
      Status status = before_controllers_();
      if (status.ok()) break;
      LOG(WARNING) << "before-controllers hook failed, retrying in "
                   << std::chrono::duration<double>(delay).count() << "s: " << status;
      MutexLock lock(&term_mu_);
      if (clock_.WaitUntil(term_mu_, term_cv_, clock_.Now() + delay, [&] {
            term_mu_.AssertHeld();
            return term_cancelled_;
          })) {
        return;
      }
      delay = std::min<Clock::Duration>(delay * 2, std::chrono::seconds(30));
    }
  }
  MutexLock lock(&term_mu_);
  for (const auto& runnable : leader_runnables_) {
    if (term_cancelled_) return;
    Status status = runnable->Start();
    if (!status.ok()) {
      LOG(ERROR) << "cannot start " << runnable->name() << ": " << status;
      continue;
    }
    started_leader_runnables_.push_back(runnable);
  }
}

void Manager::OnStoppedLeading() {
  // The term is over (IsLeader() says so at once): its work must stop within the fencing
  // margin, before another replica can hold the Lease. The stop runs on a thread of its own
  // so that it can be bounded.
  leading_ = false;
  struct Done {
    Mutex mu;
    CondVar cv;
    bool done GUARDED_BY(mu) = false;
  };
  auto done = std::make_shared<Done>();
  std::thread stopper([this, done] {
    StopLeaderTerm();
    MutexLock lock(&done->mu);
    done->done = true;
    done->cv.NotifyAll();
  });
  const Clock::Duration margin =
      elector_ != nullptr ? elector_->FencingMargin() : FencingMargin(options_);
  bool stopped;
  {
    MutexLock lock(&done->mu);
    stopped = clock_.WaitUntil(done->mu, done->cv, clock_.Now() + margin, [&] {
      done->mu.AssertHeld();
      return done->done;
    });
  }
  if (!stopped) {
    LOG(ERROR) << "leader-only work did not stop within the fencing margin ("
               << std::chrono::duration<double>(margin).count()
               << "s) after the lease was lost; another replica may lead now";
    if (options_.on_fencing_failure) {
      options_.on_fencing_failure();
    } else {
      LOG(ERROR) << "exiting with status 1";
      google::FlushLogFiles(google::GLOG_INFO);
      _exit(1);
    }
  }
  stopper.join();
}

void Manager::StopLeaderTerm() {
  MutexLock stop_lock(&stop_mu_);
  // At once: no hook retry, no further starts, and every started runnable stopped.
  {
    MutexLock lock(&term_mu_);
    term_cancelled_ = true;
    term_cv_.NotifyAll();
  }
  if (term_thread_.joinable()) term_thread_.join();
  StopLeaderWork();
}

void Manager::StopLeaderWork() {
  std::vector<std::shared_ptr<Runnable>> started;
  {
    MutexLock lock(&term_mu_);
    started.swap(started_leader_runnables_);
  }
  for (auto it = started.rbegin(); it != started.rend(); ++it) (*it)->Stop();
}

// ---------------------------------------------------------------------------
// Signals.

namespace {

int g_signal_pipe[2] = {-1, -1};
std::atomic<int> g_signal_count{0};

void OnSignal(int) {
  if (g_signal_count.fetch_add(1) >= 1) _exit(1);  // second signal: leave now
  char byte = 1;
  // Async-signal-safe hand-off to the watcher thread.
  ssize_t ignored = write(g_signal_pipe[1], &byte, 1);
  (void)ignored;
}

}  // namespace

void InstallShutdownSignalHandlers(std::function<void()> on_first_signal) {
  if (pipe2(g_signal_pipe, O_CLOEXEC) != 0) {
    LOG(FATAL) << "cannot create the signal pipe: " << errno;
  }
  std::thread([callback = std::move(on_first_signal)] {
    char byte;
    while (true) {
      ssize_t n = read(g_signal_pipe[0], &byte, 1);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      LOG(INFO) << "shutdown signal received; a second signal exits at once";
      callback();
    }
  }).detach();
  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
}

}  // namespace lballoc::runtime
