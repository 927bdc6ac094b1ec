#include "operator/runtime/controller.h"

#include <glog/logging.h>

#include <exception>

namespace lballoc::runtime {

Controller::Controller(std::string name, std::shared_ptr<Reconciler> reconciler,
                       ControllerOptions options)
    : name_(std::move(name)),
      reconciler_(std::move(reconciler)),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : Clock::Real()),
      metrics_(options_.metrics != nullptr ? *options_.metrics : MetricsRegistry::Default()) {
  const Labels labels{{"controller", name_}};
  auto result = [&](const char* result) {
    return metrics_.GetCounter("controller_runtime_reconcile_total",
                               "Total number of reconciliations per controller and result.",
                               {{"controller", name_}, {"result", result}});
  };
  success_total_ = result("success");
  error_total_ = result("error");
  requeue_after_total_ = result("requeue_after");
  result("requeue");  // pre-initialised to 0 as in controller-runtime; never used here
  errors_total_ =
      metrics_.GetCounter("controller_runtime_reconcile_errors_total",
                          "Total number of reconciliation errors per controller.", labels);
  terminal_errors_total_ =
      metrics_.GetCounter("controller_runtime_terminal_reconcile_errors_total",
                          "Total number of terminal reconciliation errors per controller.", labels);
  panics_total_ = metrics_.GetCounter(
      "controller_runtime_reconcile_panics_total",
      "Total number of reconciliations that threw an exception per controller.", labels);
  reconcile_time_ = metrics_.GetHistogram("controller_runtime_reconcile_time_seconds",
                                          "Length of time per reconciliation per controller.",
                                          labels, ReconcileTimeBuckets());
  active_workers_ =
      metrics_.GetGauge("controller_runtime_active_workers",
                        "Number of workers currently reconciling per controller.", labels);
  metrics_
      .GetGauge("controller_runtime_max_concurrent_reconciles",
                "Maximum number of concurrent reconciles per controller.", labels)
      ->Set(options_.max_concurrent_reconciles);
  const Labels queue_labels{{"name", name_}, {"controller", name_}};
  metric_funcs_.push_back(metrics_.AddFunc(MetricsRegistry::Type::kGauge, "workqueue_depth",
                                           "Current depth of the work queue.", queue_labels,
                                           [this] { return double(queue_depth()); }));
  metric_funcs_.push_back(metrics_.AddFunc(MetricsRegistry::Type::kCounter, "workqueue_adds_total",
                                           "Total number of adds handled by the work queue.",
                                           queue_labels,
                                           [this] { return double(queue_adds_total()); }));
  queue_metrics_.queue_duration = metrics_.GetHistogram(
      "workqueue_queue_duration_seconds",
      "Seconds a key waited in the work queue, from its first add to a worker taking it.",
      queue_labels, WorkQueueDurationBuckets());
  queue_metrics_.work_duration =
      metrics_.GetHistogram("workqueue_work_duration_seconds",
                            "Seconds a worker spent on a key, from taking it to marking it done.",
                            queue_labels, WorkQueueDurationBuckets());
  metric_funcs_.push_back(metrics_.AddFunc(
      MetricsRegistry::Type::kGauge, "workqueue_unfinished_work_seconds",
      "Seconds spent so far on the keys being processed, summed; growing steadily means a "
      "stuck worker.",
      queue_labels, [this] { return WithQueue(&Queue::UnfinishedWorkSeconds); }));
  metric_funcs_.push_back(metrics_.AddFunc(
      MetricsRegistry::Type::kGauge, "workqueue_longest_running_processor_seconds",
      "Seconds the longest-running worker has spent on its current key.", queue_labels,
      [this] { return WithQueue(&Queue::LongestRunningProcessorSeconds); }));
  metric_funcs_.push_back(
      metrics_.AddFunc(MetricsRegistry::Type::kCounter, "workqueue_retries_total",
                       "Total number of retries handled by the work queue.", queue_labels,
                       [this] { return double(queue_retries_total()); }));
}

Controller::~Controller() {
  {
    WriterMutexLock lock(&gate_->mu);
    gate_->controller = nullptr;
  }
  Stop();
  for (int id : metric_funcs_) metrics_.RemoveFunc(id);
}

void Controller::Enqueue(const Request& request) {
  std::shared_ptr<WorkQueue<Request, RequestHash>> queue;
  {
    MutexLock lock(&mu_);
    queue = queue_;
  }
  if (queue != nullptr) queue->Add(request);
}

void Controller::EnqueueAfter(const Request& request, Clock::Duration delay) {
  std::shared_ptr<WorkQueue<Request, RequestHash>> queue;
  {
    MutexLock lock(&mu_);
    queue = queue_;
  }
  if (queue != nullptr) queue->AddAfter(request, delay);
}

void Controller::EnqueueAll(const std::vector<Request>& requests) {
  for (const Request& request : requests) Enqueue(request);
}

Status Controller::Start() {
  MutexLock lifecycle(&lifecycle_mu_);
  if (options_.max_concurrent_reconciles < 1) {
    return InvalidArgumentError("controller " + name_ + ": max_concurrent_reconciles is " +
                                std::to_string(options_.max_concurrent_reconciles) +
                                ", must be at least 1");
  }
  std::vector<std::function<void()>> replays;
  std::shared_ptr<WorkQueue<Request, RequestHash>> queue;
  {
    MutexLock lock(&mu_);
    if (queue_ != nullptr) {
      return FailedPreconditionError("controller " + name_ + " is already running");
    }
    queue = std::make_shared<WorkQueue<Request, RequestHash>>(
        clock_, options_.rate_limiter ? options_.rate_limiter(clock_) : nullptr, queue_metrics_);
    queue_ = queue;
    replays = replays_;
  }
  stopping_ = false;
  reconciled_ = false;
  stop_source_ = std::stop_source();
  for (int i = 0; i < options_.max_concurrent_reconciles; ++i) {
    workers_.emplace_back([this, queue, stop = stop_source_.get_token()] { Worker(queue, stop); });
  }
  // Everything already cached gets one reconcile (events while stopped were dropped).
  for (const auto& replay : replays) replay();
  LOG(INFO) << "controller " << name_ << ": started " << options_.max_concurrent_reconciles
            << " worker(s)";
  return Status();
}

void Controller::Stop() {
  MutexLock lifecycle(&lifecycle_mu_);
  std::shared_ptr<WorkQueue<Request, RequestHash>> queue;
  {
    MutexLock lock(&mu_);
    queue = std::move(queue_);
    queue_ = nullptr;
  }
  if (queue == nullptr) return;
  stopping_ = true;
  stop_source_.request_stop();  // reconciles in flight learn it now
  queue->ShutDown();
  for (std::thread& worker : workers_) worker.join();
  workers_.clear();
  {
    MutexLock lock(&mu_);
    adds_before_ += queue->adds_total();
    retries_before_ += queue->retries_total();
  }
  LOG(INFO) << "controller " << name_ << ": stopped";
}

bool Controller::running() const {
  MutexLock lock(&mu_);
  return queue_ != nullptr;
}

uint64_t Controller::queue_adds_total() const {
  MutexLock lock(&mu_);
  return adds_before_ + (queue_ != nullptr ? queue_->adds_total() : 0);
}

uint64_t Controller::queue_retries_total() const {
  MutexLock lock(&mu_);
  return retries_before_ + (queue_ != nullptr ? queue_->retries_total() : 0);
}

double Controller::WithQueue(double (Queue::*read)()) const {
  std::shared_ptr<Queue> queue;
  {
    MutexLock lock(&mu_);
    queue = queue_;
  }
  return queue != nullptr ? ((*queue).*read)() : 0.0;
}

size_t Controller::queue_depth() const {
  MutexLock lock(&mu_);
  return queue_ != nullptr ? queue_->depth() : 0;
}

void Controller::Worker(const std::shared_ptr<WorkQueue<Request, RequestHash>>& queue,
                        std::stop_token stop) {
  while (true) {
    std::optional<Request> request = queue->Get();
    if (!request.has_value()) return;
    if (stopping_) {
      // Stop is immediate: keys still queued are dropped with the queue.
      queue->Done(*request);
      return;
    }
    ReconcileOne(*queue, *request, stop);
    queue->Done(*request);
  }
}

void Controller::ReconcileOne(WorkQueue<Request, RequestHash>& queue, const Request& request,
                              const std::stop_token& stop) {
  active_workers_->Add(1);
  Clock::TimePoint start = clock_.Now();
  ReconcileResult result = ReconcileResult::Done();
  bool threw = false;
  try {
    result = reconciler_->Reconcile(request, stop);
  } catch (const std::exception& e) {
    threw = true;
    result = ReconcileResult::Error(
        InternalError(std::string("reconciler threw an exception: ") + e.what()));
  } catch (...) {
    threw = true;
    result = ReconcileResult::Error(InternalError("reconciler threw a non-standard exception"));
  }
  reconcile_time_->Observe(std::chrono::duration<double>(clock_.Now() - start).count());
  active_workers_->Add(-1);
  if (threw) panics_total_->Inc();
  if (!reconciled_.exchange(true)) {
    // A start-up milestone (after caches synced and, for leader-only controllers, the hook).
    LOG(INFO) << "controller " << name_ << ": first reconcile done (" << request << ")";
  }

  switch (result.kind()) {
    case ReconcileResult::Kind::kDone:
      queue.Forget(request);
      success_total_->Inc();
      break;
    case ReconcileResult::Kind::kRequeueAfter:
      queue.Forget(request);
      queue.AddAfter(request, result.requeue_after());
      requeue_after_total_->Inc();
      break;
    case ReconcileResult::Kind::kError:
      error_total_->Inc();
      errors_total_->Inc();
      LOG(WARNING) << "controller " << name_ << ": reconcile " << request << " failed (retry "
                   << queue.NumRequeues(request) + 1 << "): " << result.error();
      queue.AddRateLimited(request);
      break;
    case ReconcileResult::Kind::kTerminal:
      error_total_->Inc();
      errors_total_->Inc();
      terminal_errors_total_->Inc();
      LOG(ERROR) << "controller " << name_ << ": reconcile " << request
                 << " failed terminally, not retried: " << result.error();
      queue.Forget(request);
      break;
  }
}

}  // namespace lballoc::runtime
