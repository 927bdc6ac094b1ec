#include "operator/runtime/controller.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "api/meta.h"
#include "operator/base/clock.h"
#include "operator/runtime/metrics.h"
#include "test/testing/eventually.h"
#include "test/testing/fake_clock.h"
#include "test/testing/status_matchers.h"

namespace lballoc::runtime {
namespace {

using ::lballoc::testing::IsOkAndHolds;
using ::lballoc::testing::StatusIs;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::_;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

using ::lballoc::testing::Eventually;

// A kind with just metadata, like every api/ kind.
struct Obj {
  api::ObjectMeta metadata;
};

std::shared_ptr<const Obj> MakeObj(std::string ns, std::string name,
                                   std::vector<api::OwnerReference> owners = {}) {
  auto obj = std::make_shared<Obj>();
  obj->metadata.namespace_ = std::move(ns);
  obj->metadata.name = std::move(name);
  obj->metadata.owner_references = std::move(owners);
  return obj;
}

// An informer stand-in with the same handler shape and a store to replay.
template <typename T>
struct Handler {
  std::function<void(const std::shared_ptr<const T>&)> on_add;
  std::function<void(const std::shared_ptr<const T>&, const std::shared_ptr<const T>&)> on_update;
  std::function<void(const std::shared_ptr<const T>&)> on_delete;
};

class FakeSource {
 public:
  struct FakeStore {
    std::vector<std::shared_ptr<const Obj>> List() const {
      std::lock_guard<std::mutex> lock(*mu);
      std::vector<std::shared_ptr<const Obj>> out;
      for (const auto& [k, v] : *objects) out.push_back(v);
      return out;
    }
    std::mutex* mu;
    std::map<std::string, std::shared_ptr<const Obj>>* objects;
  };

  void AddEventHandler(Handler<Obj> handler) { handlers_.push_back(std::move(handler)); }
  const FakeStore& store() const { return store_; }

  void Add(std::shared_ptr<const Obj> obj) {
    Put(obj);
    for (auto& h : handlers_) h.on_add(obj);
  }
  void Update(std::shared_ptr<const Obj> old_obj, std::shared_ptr<const Obj> obj) {
    Put(obj);
    for (auto& h : handlers_) h.on_update(old_obj, obj);
  }
  void Delete(std::shared_ptr<const Obj> obj) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      objects_.erase(obj->metadata.namespace_ + "/" + obj->metadata.name);
    }
    for (auto& h : handlers_) h.on_delete(obj);
  }

 private:
  void Put(const std::shared_ptr<const Obj>& obj) {
    std::lock_guard<std::mutex> lock(mu_);
    objects_[obj->metadata.namespace_ + "/" + obj->metadata.name] = obj;
  }
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<const Obj>> objects_;
  FakeStore store_{&mu_, &objects_};
  std::vector<Handler<Obj>> handlers_;
};

// Records every Reconcile call; the verdict for each call comes from `decide`.
class RecordingReconciler : public Reconciler {
 public:
  using Decide = std::function<ReconcileResult(const Request&, int call)>;
  explicit RecordingReconciler(Decide decide = nullptr) : decide_(std::move(decide)) {}

  ReconcileResult Reconcile(const Request& request) override {
    int call;
    {
      std::lock_guard<std::mutex> lock(mu_);
      calls_.push_back(request);
      call = ++per_key_[request];
    }
    return decide_ ? decide_(request, call) : ReconcileResult::Done();
  }
  std::vector<Request> calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  int count(const Request& r) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = per_key_.find(r);
    return it == per_key_.end() ? 0 : it->second;
  }
  size_t total() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_.size();
  }

 private:
  Decide decide_;
  mutable std::mutex mu_;
  std::vector<Request> calls_;
  std::map<Request, int> per_key_;
};

ControllerOptions Opts(MetricsRegistry* metrics, Clock* clock = nullptr, int workers = 1) {
  ControllerOptions options;
  options.metrics = metrics;
  options.clock = clock;
  options.max_concurrent_reconciles = workers;
  return options;
}

double Metric(const MetricsRegistry& registry, const std::string& name, const Labels& labels) {
  auto samples = ParsePrometheusText(registry.Render());
  if (!samples.ok()) return -1;
  auto value = FindSample(*samples, name, labels);
  return value.ok() ? *value : -1;
}

TEST(MapFuncTest, SelfAndOwner) {
  auto obj = MakeObj("ns", "child",
                     {api::OwnerReference{"v1", "Pool", "p1", "u1", true, std::nullopt},
                      api::OwnerReference{"v1", "Other", "o", "u2", std::nullopt, std::nullopt},
                      api::OwnerReference{"v1", "Pool", "p2", "u3", std::nullopt, std::nullopt}});
  EXPECT_THAT(MapToSelf<Obj>()(*obj), ElementsAre(Request{"ns", "child"}));
  EXPECT_THAT(MapToOwner<Obj>("Pool")(*obj), ElementsAre(Request{"ns", "p1"}, Request{"ns", "p2"}));
  EXPECT_THAT(MapToOwner<Obj>("Pool", /*owner_namespaced=*/false, /*only_controller=*/true)(*obj),
              ElementsAre(Request{"", "p1"}));
  EXPECT_THAT(MapToOwner<Obj>("Missing")(*obj), ElementsAre());
}

TEST(ControllerTest, ReplaysCacheOnStartAndMapsEvents) {
  MetricsRegistry metrics;
  FakeSource source;
  source.Add(MakeObj("ns", "before-start"));
  auto reconciler = std::make_shared<RecordingReconciler>();
  Controller c("test", reconciler, Opts(&metrics));
  c.Watch<Obj>(source, MapToSelf<Obj>());
  c.Watch<Obj>(source, MapToOwner<Obj>("Pool", false));
  // Events while stopped are dropped.
  source.Add(MakeObj("ns", "while-stopped"));
  EXPECT_EQ(reconciler->total(), 0u);
  ASSERT_OK(c.Start());
  ASSERT_TRUE(Eventually([&] { return reconciler->total() == 2; }));
  EXPECT_THAT(reconciler->calls(),
              UnorderedElementsAre(Request{"ns", "before-start"}, Request{"ns", "while-stopped"}));
  // An update maps the old and the new object: an owner change reconciles both owners.
  auto old_obj = MakeObj("ns", "svc", {{"v1", "Pool", "old-pool", "u", true, true}});
  auto new_obj = MakeObj("ns", "svc", {{"v1", "Pool", "new-pool", "u", true, true}});
  source.Update(old_obj, new_obj);
  ASSERT_TRUE(Eventually([&] {
    return reconciler->count({"", "old-pool"}) == 1 && reconciler->count({"", "new-pool"}) == 1 &&
           reconciler->count({"ns", "svc"}) >= 1;
  }));
  source.Delete(new_obj);
  ASSERT_TRUE(Eventually([&] { return reconciler->count({"", "new-pool"}) == 2; }));
  EXPECT_THAT(c.Start(), StatusIs(StatusCode::kFailedPrecondition, _));
  c.Stop();
  EXPECT_FALSE(c.running());
  EXPECT_GE(Metric(metrics, "controller_runtime_reconcile_total",
                   {{"controller", "test"}, {"result", "success"}}),
            6);
  EXPECT_GE(Metric(metrics, "workqueue_adds_total", {{"controller", "test"}, {"name", "test"}}), 6);
}

TEST(ControllerTest, RequeueAfterWaitsOnTheClock) {
  FakeClock clock;
  MetricsRegistry metrics;
  auto reconciler = std::make_shared<RecordingReconciler>([](const Request&, int call) {
    return call == 1 ? ReconcileResult::RequeueAfter(seconds(30)) : ReconcileResult::Done();
  });
  Controller c("requeue", reconciler, Opts(&metrics, &clock));
  ASSERT_OK(c.Start());
  c.Enqueue({"ns", "a"});
  ASSERT_TRUE(Eventually([&] { return reconciler->total() == 1 && clock.waiters() == 1; }));
  clock.Advance(seconds(29));
  std::this_thread::sleep_for(milliseconds(20));  // give a wrong implementation time to fire
  EXPECT_EQ(reconciler->total(), 1u);
  clock.Advance(seconds(1));
  ASSERT_TRUE(Eventually([&] { return reconciler->total() == 2; }));
  c.Stop();
  EXPECT_EQ(Metric(metrics, "controller_runtime_reconcile_total",
                   {{"controller", "requeue"}, {"result", "requeue_after"}}),
            1);
}

TEST(ControllerTest, ErrorsRetryWithExponentialBackoffThenSucceed) {
  FakeClock clock;
  MetricsRegistry metrics;
  auto reconciler = std::make_shared<RecordingReconciler>([](const Request&, int call) {
    return call <= 3 ? ReconcileResult::Error(UnavailableError("api down"))
                     : ReconcileResult::Done();
  });
  Controller c("retry", reconciler, Opts(&metrics, &clock));
  ASSERT_OK(c.Start());
  c.Enqueue({"ns", "a"});
  ASSERT_TRUE(Eventually([&] { return reconciler->total() == 1; }));
  // Retries after 5 ms, 10 ms, 20 ms of clock time; never earlier.
  for (int delay_ms : {5, 10, 20}) {
    int before = static_cast<int>(reconciler->total());
    ASSERT_TRUE(Eventually([&] { return clock.waiters() == 1; }));
    clock.Advance(milliseconds(delay_ms - 1));
    std::this_thread::sleep_for(milliseconds(10));
    EXPECT_EQ(static_cast<int>(reconciler->total()), before) << delay_ms;
    clock.Advance(milliseconds(1));
    ASSERT_TRUE(Eventually([&] { return static_cast<int>(reconciler->total()) == before + 1; }))
        << delay_ms;
  }
  c.Stop();
  EXPECT_EQ(Metric(metrics, "controller_runtime_reconcile_errors_total", {{"controller", "retry"}}),
            3);
  EXPECT_EQ(
      Metric(metrics, "workqueue_retries_total", {{"controller", "retry"}, {"name", "retry"}}), 3);
  EXPECT_EQ(Metric(metrics, "controller_runtime_reconcile_total",
                   {{"controller", "retry"}, {"result", "success"}}),
            1);
}

TEST(ControllerTest, TerminalErrorIsNotRetried) {
  FakeClock clock;
  MetricsRegistry metrics;
  auto reconciler = std::make_shared<RecordingReconciler>([](const Request&, int) {
    return ReconcileResult::Terminal(InvalidArgumentError("spec is invalid"));
  });
  Controller c("terminal", reconciler, Opts(&metrics, &clock));
  ASSERT_OK(c.Start());
  c.Enqueue({"ns", "a"});
  ASSERT_TRUE(Eventually([&] { return reconciler->total() == 1; }));
  ASSERT_TRUE(Eventually([&] {
    return Metric(metrics, "controller_runtime_terminal_reconcile_errors_total",
                  {{"controller", "terminal"}}) == 1;
  }));
  clock.Advance(seconds(2000));
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_EQ(reconciler->total(), 1u);
  // A new event reconciles again.
  c.Enqueue({"ns", "a"});
  ASSERT_TRUE(Eventually([&] { return reconciler->total() == 2; }));
  c.Stop();
}

TEST(ControllerTest, ExceptionsAreCaughtCountedAndRetried) {
  MetricsRegistry metrics;
  auto reconciler = std::make_shared<RecordingReconciler>([](const Request&, int call) {
    if (call == 1) throw std::runtime_error("boom");
    if (call == 2) throw 42;
    return ReconcileResult::Done();
  });
  Controller c("throws", reconciler, Opts(&metrics));  // real clock: 5 ms, 10 ms
  ASSERT_OK(c.Start());
  c.Enqueue({"ns", "a"});
  ASSERT_TRUE(Eventually([&] { return reconciler->total() == 3; }));
  c.Stop();
  EXPECT_EQ(
      Metric(metrics, "controller_runtime_reconcile_panics_total", {{"controller", "throws"}}), 2);
  EXPECT_EQ(Metric(metrics, "controller_runtime_reconcile_total",
                   {{"controller", "throws"}, {"result", "success"}}),
            1);
}

// Holds every reconcile until released; tracks concurrency overall and per key.
class BlockingReconciler : public Reconciler {
 public:
  ReconcileResult Reconcile(const Request& request) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (++per_key_active_[request] > 1) key_overlap_ = true;
    ++active_;
    max_active_ = std::max(max_active_, active_);
    ++started_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return released_; });
    --active_;
    --per_key_active_[request];
    ++finished_;
    ++per_key_done_[request];
    cv_.notify_all();
    return ReconcileResult::Done();
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  bool WaitStarted(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, seconds(10), [&] { return started_ >= n; });
  }
  int active() {
    std::lock_guard<std::mutex> lock(mu_);
    return active_;
  }
  int max_active() {
    std::lock_guard<std::mutex> lock(mu_);
    return max_active_;
  }
  int finished() {
    std::lock_guard<std::mutex> lock(mu_);
    return finished_;
  }
  int done(const Request& r) {
    std::lock_guard<std::mutex> lock(mu_);
    return per_key_done_[r];
  }
  bool key_overlap() {
    std::lock_guard<std::mutex> lock(mu_);
    return key_overlap_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
  int active_ = 0, max_active_ = 0, started_ = 0, finished_ = 0;
  bool key_overlap_ = false;
  std::map<Request, int> per_key_active_, per_key_done_;
};

TEST(ControllerTest, AtMostNWorkersAndNeverOneKeyTwiceAtOnce) {
  MetricsRegistry metrics;
  auto reconciler = std::make_shared<BlockingReconciler>();
  Controller c("concurrency", reconciler, Opts(&metrics, nullptr, 3));
  ASSERT_OK(c.Start());
  for (int i = 0; i < 10; ++i) c.Enqueue({"ns", "k" + std::to_string(i)});
  ASSERT_TRUE(reconciler->WaitStarted(3));
  // Three workers are busy; the rest wait in the queue, and the same keys added again while
  // they are processing are not handed to another worker.
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_EQ(reconciler->active(), 3);
  EXPECT_EQ(Metric(metrics, "controller_runtime_active_workers", {{"controller", "concurrency"}}),
            3);
  EXPECT_EQ(
      Metric(metrics, "workqueue_depth", {{"controller", "concurrency"}, {"name", "concurrency"}}),
      7);
  for (int i = 0; i < 10; ++i) c.Enqueue({"ns", "k" + std::to_string(i)});
  reconciler->Release();
  // k0..k2 were processing when re-added: each runs exactly twice; the others were still
  // queued, so the re-add was merged: once.
  ASSERT_TRUE(Eventually([&] { return reconciler->finished() == 13; }));
  c.Stop();
  EXPECT_EQ(reconciler->max_active(), 3);
  EXPECT_FALSE(reconciler->key_overlap());
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(reconciler->done({"ns", "k" + std::to_string(i)}), i < 3 ? 2 : 1) << i;
  }
}

// client-go's workqueue latency families, labelled like the other workqueue_* families.
TEST(ControllerTest, ExportsWorkQueueLatencyAndInProgressWork) {
  MetricsRegistry metrics;
  auto reconciler = std::make_shared<BlockingReconciler>();
  Controller c("latency", reconciler, Opts(&metrics, nullptr, 2));
  const Labels labels{{"controller", "latency"}, {"name", "latency"}};
  EXPECT_EQ(Metric(metrics, "workqueue_longest_running_processor_seconds", labels), 0);
  ASSERT_OK(c.Start());
  for (int i = 0; i < 4; ++i) c.Enqueue({"ns", "k" + std::to_string(i)});
  ASSERT_TRUE(reconciler->WaitStarted(2));
  // Two keys are being processed: the in-progress gauges grow while they run.
  ASSERT_TRUE(Eventually([&] {
    return Metric(metrics, "workqueue_longest_running_processor_seconds", labels) > 0.01 &&
           Metric(metrics, "workqueue_unfinished_work_seconds", labels) >
               Metric(metrics, "workqueue_longest_running_processor_seconds", labels);
  }));
  EXPECT_EQ(Metric(metrics, "workqueue_queue_duration_seconds_count", labels), 2);
  EXPECT_EQ(Metric(metrics, "workqueue_work_duration_seconds_count", labels), 0);
  reconciler->Release();
  ASSERT_TRUE(Eventually([&] { return reconciler->finished() == 4; }));
  ASSERT_TRUE(Eventually(
      [&] { return Metric(metrics, "workqueue_work_duration_seconds_count", labels) == 4; }));
  EXPECT_EQ(Metric(metrics, "workqueue_queue_duration_seconds_count", labels), 4);
  Labels top = labels;
  top["le"] = "10";
  EXPECT_EQ(Metric(metrics, "workqueue_work_duration_seconds_bucket", top), 4);
  EXPECT_GT(Metric(metrics, "workqueue_work_duration_seconds_sum", labels), 0.01);
  EXPECT_EQ(Metric(metrics, "workqueue_unfinished_work_seconds", labels), 0);
  c.Stop();
  EXPECT_EQ(Metric(metrics, "workqueue_longest_running_processor_seconds", labels), 0);
}

TEST(ControllerTest, StopIsImmediateAndStartAgainReplays) {
  MetricsRegistry metrics;
  FakeSource source;
  for (int i = 0; i < 5; ++i) source.Add(MakeObj("ns", "o" + std::to_string(i)));
  auto reconciler = std::make_shared<BlockingReconciler>();
  Controller c("restart", reconciler, Opts(&metrics, nullptr, 1));
  c.Watch<Obj>(source, MapToSelf<Obj>());
  ASSERT_OK(c.Start());
  ASSERT_TRUE(reconciler->WaitStarted(1));
  std::thread stopper([&] { c.Stop(); });
  // Stop waits for the reconcile in flight...
  ASSERT_TRUE(Eventually([&] { return !c.running(); }));
  reconciler->Release();
  stopper.join();
  // ...and drops the four keys still queued.
  EXPECT_EQ(reconciler->finished(), 1);
  c.Enqueue({"ns", "dropped"});
  // Starting again reconciles every cached object.
  ASSERT_OK(c.Start());
  ASSERT_TRUE(Eventually([&] { return reconciler->finished() == 6; }));
  c.Stop();
  EXPECT_EQ(reconciler->done({"ns", "dropped"}), 0);
  for (int i = 0; i < 5; ++i) EXPECT_GE(reconciler->done({"ns", "o" + std::to_string(i)}), 1);
}

// Finding 8 of issue 10: a reconcile in flight learns that the controller stops (its stop
// token), so Stop() returns as soon as the reconciler honours it.
TEST(ControllerTest, StopRequestsStopOnReconcilesInFlight) {
  MetricsRegistry metrics;
  FakeSource source;
  source.Add(MakeObj("ns", "long"));
  std::atomic<bool> started{false};
  std::atomic<bool> saw_stop{false};
  auto reconciler = MakeStoppableReconciler([&](const Request&, std::stop_token stop) {
    started = true;
    // A long reconcile (think: a slow API call) that checks its token.
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!stop.stop_requested() && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    saw_stop = stop.stop_requested();
    return ReconcileResult::Done();
  });
  Controller c("stoppable", reconciler, Opts(&metrics, nullptr, 1));
  c.Watch<Obj>(source, MapToSelf<Obj>());
  ASSERT_OK(c.Start());
  ASSERT_TRUE(Eventually([&] { return started.load(); }));
  auto stop_at = std::chrono::steady_clock::now();
  c.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - stop_at, std::chrono::seconds(5));
  EXPECT_TRUE(saw_stop.load());
  // A new run gets a fresh token.
  started = false;
  saw_stop = false;
  ASSERT_OK(c.Start());
  ASSERT_TRUE(Eventually([&] { return started.load(); }));
  EXPECT_FALSE(saw_stop.load());
  c.Stop();
  EXPECT_TRUE(saw_stop.load());
}

// Finding 10 of issue 10: a source that outlives the controller keeps its handler, which must
// not reach the destroyed controller (it held a raw `this`).
TEST(ControllerTest, HandlersLeftInASourceOutliveTheController) {
  MetricsRegistry metrics;
  FakeSource source;
  auto reconciler = std::make_shared<RecordingReconciler>();
  auto c = std::make_unique<Controller>("short-lived", reconciler, Opts(&metrics, nullptr, 1));
  c->Watch<Obj>(source, MapToSelf<Obj>());
  ASSERT_OK(c->Start());
  source.Add(MakeObj("ns", "before"));
  ASSERT_TRUE(Eventually([&] { return reconciler->total() == 1u; }));
  c.reset();
  // Used freed memory before (the controller's mutex and queue); now a no-op.
  source.Add(MakeObj("ns", "after"));
  source.Delete(MakeObj("ns", "before"));
  EXPECT_EQ(reconciler->total(), 1u);
}

TEST(ControllerTest, InvalidWorkerCount) {
  auto reconciler = std::make_shared<RecordingReconciler>();
  MetricsRegistry metrics;
  Controller c("bad", reconciler, Opts(&metrics, nullptr, 0));
  EXPECT_THAT(c.Start(), StatusIs(StatusCode::kInvalidArgument, ::testing::HasSubstr("bad")));
}

TEST(ReconcilerFuncTest, AdaptsALambda) {
  auto r = MakeReconciler([](const Request& req) {
    return req.name == "x" ? ReconcileResult::Done()
                           : ReconcileResult::FromStatus(NotFoundError("no"));
  });
  EXPECT_EQ(r->Reconcile({"", "x"}).kind(), ReconcileResult::Kind::kDone);
  ReconcileResult err = r->Reconcile({"", "y"});
  EXPECT_EQ(err.kind(), ReconcileResult::Kind::kError);
  EXPECT_TRUE(err.error().IsNotFound());
  EXPECT_EQ(ReconcileResult::FromStatus(Status()).kind(), ReconcileResult::Kind::kDone);
}

}  // namespace
}  // namespace lballoc::runtime
