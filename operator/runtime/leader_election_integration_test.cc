// Leader election against the in-process API server (test/apiserver): the real wire protocol,
// resourceVersion conflicts, MicroTime round trips and fault injection.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/coordination_v1.h"
#include "api/core_v1.h"
#include "operator/base/clock.h"
#include "operator/runtime/client.h"
#include "operator/runtime/fenced_client.h"
#include "operator/runtime/http_transport.h"
#include "operator/runtime/informer.h"
#include "operator/runtime/leader_election.h"
#include "operator/runtime/manager.h"
#include "operator/runtime/metrics.h"
#include "operator/runtime/rest_config.h"
#include "test/apiserver/api_server.h"
#include "test/testing/eventually.h"
#include "test/testing/fake_clock.h"
#include "test/testing/fake_lease.h"
#include "test/testing/status_matchers.h"

namespace lballoc::runtime {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

using ::lballoc::runtime::fakes::LeaderTracker;
using ::lballoc::testing::Eventually;

// One replica's network: set_cut(true) makes every request fail as if the link were down.
class CuttableTransport final : public Transport {
 public:
  explicit CuttableTransport(std::shared_ptr<Transport> inner) : inner_(std::move(inner)) {}
  StatusOr<HttpResponse> Do(const HttpRequest& request) override {
    if (cut_) return UnavailableError("injected: connection refused");
    return inner_->Do(request);
  }
  StatusOr<std::unique_ptr<ResponseStream>> Stream(const HttpRequest& request) override {
    if (cut_) return UnavailableError("injected: connection refused");
    return inner_->Stream(request);
  }
  void set_cut(bool cut) { cut_ = cut; }

 private:
  std::shared_ptr<Transport> inner_;
  std::atomic<bool> cut_{false};
};

class ApiServerLeaderElectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = apiserver::ApiServer::Start({});
    ASSERT_OK(server.status());
    server_ = std::move(server).value();
    observer_ = NewReplicaClient(nullptr);
    // One request from this thread first: cpprestsdk creates its global task scheduler lazily,
    // behind a lock ThreadSanitizer cannot see (libcpprest is not instrumented); creating it
    // before the replica threads start keeps that out of the race reports.
    ASSERT_OK(observer_->Get(api::Namespace::kResource, "", "default").status());
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Stop();
  }

  // A client of its own for one replica; `cuttable` receives the transport to cut.
  std::unique_ptr<Client> NewReplicaClient(std::shared_ptr<CuttableTransport>* cuttable) {
    RestConfig config;
    config.server = server_->url();
    config.source = "test";
    auto http = HttpTransport::Create(config);
    EXPECT_TRUE(http.ok()) << http.status();
    auto transport = std::make_shared<CuttableTransport>(std::move(http).value());
    if (cuttable != nullptr) *cuttable = transport;
    return std::make_unique<RestClient>(transport);
  }

  api::LeaseSpec LeaseSpec() {
    TypedClient<api::Lease> leases(*observer_);
    auto lease = leases.Get("default", "lballoc");
    return lease.ok() ? lease->spec : api::LeaseSpec{};
  }

  std::unique_ptr<apiserver::ApiServer> server_;
  std::unique_ptr<Client> observer_;
};

LeaderElectionConfig Config(const std::string& identity, MetricsRegistry* metrics) {
  LeaderElectionConfig config;
  config.identity = identity;
  config.metrics = metrics;
  config.name = identity;
  return config;
}

TEST_F(ApiServerLeaderElectionTest, ThreeReplicasOneLeaderFailoverAndRelease) {
  MetricsRegistry metrics;
  LeaderTracker tracker;
  const std::vector<std::string> ids = {"pod-0", "pod-1", "pod-2"};
  std::vector<std::shared_ptr<CuttableTransport>> links(ids.size());
  std::vector<std::unique_ptr<Client>> clients;
  std::vector<std::unique_ptr<ClientLeaseLock>> locks;
  std::vector<std::unique_ptr<LeaderElector>> electors;
  const auto retry = milliseconds(300);
  for (size_t i = 0; i < ids.size(); ++i) {
    clients.push_back(NewReplicaClient(&links[i]));
    locks.push_back(std::make_unique<ClientLeaseLock>(*clients[i], "default", "lballoc"));
    LeaderElectionConfig config = Config(ids[i], &metrics);
    config.lease_duration = seconds(3);
    config.renew_deadline = seconds(2);
    config.retry_period = retry;
    config.jitter_factor = 0;
    auto elector = LeaderElector::Create(*locks[i], config, tracker.For(ids[i]));
    ASSERT_OK(elector.status());
    electors.push_back(std::move(elector).value());
  }
  std::vector<std::thread> threads;
  for (auto& e : electors) threads.emplace_back([&e] { e->Run(); });
  auto index_of = [&](const std::string& id) {
    return static_cast<size_t>(std::find(ids.begin(), ids.end(), id) - ids.begin());
  };

  ASSERT_TRUE(Eventually([&] { return !tracker.Leader().empty(); }));
  const std::string first = tracker.Leader();
  api::LeaseSpec spec = LeaseSpec();
  EXPECT_EQ(spec.holder_identity, first);
  EXPECT_EQ(spec.lease_duration_seconds, 3);
  EXPECT_EQ(spec.lease_transitions, 0);

  // Cut the leader's connection: it stops leading before anyone else may start.
  links[index_of(first)]->set_cut(true);
  ASSERT_TRUE(Eventually([&] {
    std::string l = tracker.Leader();
    return !l.empty() && l != first;
  }));
  const std::string second = tracker.Leader();
  {
    std::lock_guard<std::mutex> lock(tracker.mu);
    EXPECT_EQ(tracker.max_concurrent, 1);
    EXPECT_LT(tracker.last_stop, tracker.last_start);
  }
  EXPECT_EQ(LeaseSpec().holder_identity, second);
  EXPECT_EQ(LeaseSpec().lease_transitions, 1);
  links[index_of(first)]->set_cut(false);  // back as a candidate

  // Shutting the leader down releases the lease; a new leader within one retry period.
  auto stop_at = std::chrono::steady_clock::now();
  electors[index_of(second)]->Stop();
  threads[index_of(second)].join();
  ASSERT_TRUE(Eventually([&] {
    std::string l = tracker.Leader();
    return !l.empty() && l != second;
  }));
  EXPECT_LT(std::chrono::steady_clock::now() - stop_at, retry + milliseconds(300));
  const std::string third = tracker.Leader();
  EXPECT_EQ(LeaseSpec().holder_identity, third);
  EXPECT_EQ(LeaseSpec().lease_transitions, 2);
  {
    std::lock_guard<std::mutex> lock(tracker.mu);
    EXPECT_EQ(tracker.max_concurrent, 1);
    EXPECT_EQ(tracker.starts, 3);
  }

  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] == second) continue;
    electors[i]->Stop();
    threads[i].join();
  }
  EXPECT_EQ(LeaseSpec().holder_identity, "");
  EXPECT_EQ(LeaseSpec().lease_duration_seconds, 1);
}

// The holder's timestamps are written by a skewed clock; the candidate ignores them and
// counts the lease duration on its own clock from when it saw the record change.
TEST_F(ApiServerLeaderElectionTest, SkewedRenewTimeIsIgnored) {
  MetricsRegistry metrics;
  FakeClock clock;
  auto client_a = NewReplicaClient(nullptr);
  auto client_b = NewReplicaClient(nullptr);
  ClientLeaseLock lock_a(*client_a, "default", "lballoc");
  ClientLeaseLock lock_b(*client_b, "default", "lballoc");
  LeaderElectionConfig config_a = Config("a", &metrics);
  config_a.clock = &clock;
  LeaderElectionConfig config_b = Config("b", &metrics);
  config_b.clock = &clock;
  ASSERT_OK_AND_ASSIGN(auto a, LeaderElector::Create(lock_a, config_a, {}));
  ASSERT_OK_AND_ASSIGN(auto b, LeaderElector::Create(lock_b, config_b, {}));
  ASSERT_TRUE(a->TryAcquireOrRenew());

  TypedClient<api::Lease> leases(*observer_);
  ASSERT_OK_AND_ASSIGN(api::Lease lease, leases.Get("default", "lballoc"));
  lease.spec.renew_time = api::Time(seconds(0));  // 1970: "expired" by any wall clock
  ASSERT_OK(leases.Update(lease).status());
  ASSERT_OK_AND_ASSIGN(api::Lease stored, leases.Get("default", "lballoc"));
  EXPECT_EQ(stored.spec.renew_time, api::Time(seconds(0)));

  EXPECT_FALSE(b->TryAcquireOrRenew());
  clock.Advance(seconds(14));
  EXPECT_FALSE(b->TryAcquireOrRenew());
  EXPECT_EQ(LeaseSpec().holder_identity, "a");
  clock.Advance(seconds(1));
  EXPECT_TRUE(b->TryAcquireOrRenew());
  EXPECT_EQ(LeaseSpec().holder_identity, "b");
  EXPECT_EQ(LeaseSpec().lease_transitions, 1);
}

TEST_F(ApiServerLeaderElectionTest, ServerConflictFailsTheRoundOnly) {
  MetricsRegistry metrics;
  auto client = NewReplicaClient(nullptr);
  ClientLeaseLock lock(*client, "default", "lballoc");
  ASSERT_OK_AND_ASSIGN(auto a, LeaderElector::Create(lock, Config("a", &metrics), {}));
  ASSERT_TRUE(a->TryAcquireOrRenew());
  // Both the cached fast-path PUT and the PUT after a fresh GET get 409.
  server_->faults().FailNext("update", "leases", 409, 2);
  EXPECT_FALSE(a->TryAcquireOrRenew());
  EXPECT_TRUE(a->TryAcquireOrRenew());
  EXPECT_EQ(LeaseSpec().holder_identity, "a");
  EXPECT_EQ(LeaseSpec().lease_transitions, 0);
}

// One replica's link whose lease calls can be slowed down, as a congested path to the API server
// would: a lease request waits `delay` before it is sent; when its own timeout is shorter, it
// fails at the timeout without reaching the server (as a request the transport gave up on).
class SlowLeaseTransport final : public Transport {
 public:
  explicit SlowLeaseTransport(std::shared_ptr<Transport> inner) : inner_(std::move(inner)) {}
  StatusOr<HttpResponse> Do(const HttpRequest& request) override {
    milliseconds delay = delay_.load();
    if (delay.count() > 0 && request.target.find("/leases/") != std::string::npos) {
      ++delayed_;
      milliseconds timeout = request.timeout.count() > 0 ? request.timeout : milliseconds(30000);
      std::this_thread::sleep_for(std::min(delay, timeout));
      if (delay >= timeout) return UnavailableError("injected: lease call timed out");
    }
    return inner_->Do(request);
  }
  StatusOr<std::unique_ptr<ResponseStream>> Stream(const HttpRequest& request) override {
    return inner_->Stream(request);
  }
  void set_lease_delay(milliseconds delay) { delay_ = delay; }
  int delayed() const { return delayed_.load(); }

 private:
  std::shared_ptr<Transport> inner_;
  std::atomic<milliseconds> delay_{milliseconds(0)};
  std::atomic<int> delayed_{0};
};

constexpr api::ResourceInfo kConfigMaps{"", "v1", "configmaps", "ConfigMap", true};

// What the audit hook saw: the writer (the ConfigMap's name up to '-') of every committed
// ConfigMap create, in commit order.
class WriteLog {
 public:
  void Add(const std::string& writer) {
    std::lock_guard<std::mutex> lock(mu_);
    writers_.push_back(writer);
  }
  std::vector<std::string> writers() {
    std::lock_guard<std::mutex> lock(mu_);
    return writers_;
  }
  int Count(const std::string& writer) {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(std::count(writers_.begin(), writers_.end(), writer));
  }

 private:
  std::mutex mu_;
  std::vector<std::string> writers_;
};

struct TakeoverResult {
  std::vector<std::string> writers;  // in commit order
  int old_leader_refused = 0;        // writes the fence refused
  int new_leader_refused = 0;
};

// Replica "old" leads and writes ConfigMaps as fast as it can; then its lease calls become
// slower than its renew deadline while replica "new" campaigns. "new" takes over and writes
// too. `fenced` picks the old leader's writer client: its FencedClient, or the plain client.
TakeoverResult RunTakeover(apiserver::ApiServer& server, bool fenced) {
  WriteLog log;
  server.AddAuditCheck("writers", [&log](const apiserver::AuditEvent& event) {
    if (event.resource == "configmaps" && event.verb == "create") {
      log.Add(event.name.substr(0, event.name.find('-')));
    }
    return Status();
  });
  MetricsRegistry metrics;
  struct Replica {
    std::string id;
    std::shared_ptr<SlowLeaseTransport> link;
    std::unique_ptr<Client> client;
    std::unique_ptr<ClientLeaseLock> lock;
    std::unique_ptr<LeaderElector> elector;
    std::unique_ptr<FencedClient> fenced;
    std::thread run;
    std::thread writer;
    std::atomic<int> refused{0};
  };
  std::atomic<bool> done{false};
  auto make = [&](const std::string& id) {
    auto replica = std::make_unique<Replica>();
    replica->id = id;
    RestConfig config;
    config.server = server.url();
    config.source = "test";
    auto http = HttpTransport::Create(config);
    EXPECT_TRUE(http.ok()) << http.status();
    replica->link = std::make_shared<SlowLeaseTransport>(std::move(http).value());
    replica->client = std::make_unique<RestClient>(replica->link);
    replica->lock = std::make_unique<ClientLeaseLock>(*replica->client, "default", "fence");
    LeaderElectionConfig le;
    le.identity = id;
    le.metrics = &metrics;
    le.name = id;
    le.lease_duration = seconds(3);
    le.renew_deadline = seconds(2);
    le.retry_period = milliseconds(200);
    le.jitter_factor = 0;
    auto elector = LeaderElector::Create(*replica->lock, le, {});
    EXPECT_TRUE(elector.ok()) << elector.status();
    replica->elector = std::move(elector).value();
    // The write timeout is half the 1 s fencing margin, as the Manager's default.
    replica->fenced =
        std::make_unique<FencedClient>(*replica->client, *replica->elector, milliseconds(500));
    return replica;
  };
  // Writers never check whether they lead and are never stopped: only the fence (when they
  // have one) keeps them out, as it must for work that outlives its term.
  auto start_writer = [&](Replica& r, Client& writer) {
    r.writer = std::thread([&r, &writer, &done] {
      for (int n = 0; !done; ++n) {
        std::string body = R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")" + r.id +
                           "-" + std::to_string(n) + R"("}})";
        Status status = writer.Create(kConfigMaps, "default", body).status();
        if (IsFencedError(status)) ++r.refused;
        std::this_thread::sleep_for(milliseconds(5));
      }
    });
  };
  auto old_leader = make("old");
  auto new_leader = make("new");
  old_leader->run = std::thread([&] { old_leader->elector->Run(); });
  EXPECT_TRUE(Eventually([&] { return old_leader->elector->IsLeader(); }));
  start_writer(*old_leader, fenced ? *old_leader->fenced : *old_leader->client);
  start_writer(*new_leader, *new_leader->fenced);
  EXPECT_TRUE(Eventually([&] { return log.Count("old") >= 20; }));
  new_leader->run = std::thread([&] { new_leader->elector->Run(); });
  // From now on every lease call of the old leader outlasts its renew deadline.
  old_leader->link->set_lease_delay(milliseconds(10000));
  EXPECT_TRUE(Eventually([&] { return log.Count("new") >= 20; }));
  done = true;
  for (Replica* r : {old_leader.get(), new_leader.get()}) {
    r->writer.join();
    r->elector->Stop();
  }
  old_leader->link->set_lease_delay(milliseconds(0));
  for (Replica* r : {old_leader.get(), new_leader.get()}) r->run.join();
  EXPECT_GT(old_leader->link->delayed(), 0);
  return TakeoverResult{log.writers(), old_leader->refused.load(), new_leader->refused.load()};
}

// Finding 4 of issue 10, end to end: no write of the old leader lands after the new leader's
// first write, although the old leader's lease calls hang past its renew deadline.
TEST_F(ApiServerLeaderElectionTest, FencedWritesOfTheOldLeaderNeverFollowTheNewLeaders) {
  TakeoverResult result = RunTakeover(*server_, /*fenced=*/true);
  const std::vector<std::string>& w = result.writers;
  auto first_new = std::find(w.begin(), w.end(), "new");
  ASSERT_NE(first_new, w.end());
  EXPECT_EQ(std::count(first_new, w.end(), "old"), 0)
      << "writes of the old leader committed after the new leader's first write";
  EXPECT_GE(std::count(w.begin(), first_new, "old"), 20);
  EXPECT_GT(result.old_leader_refused, 0);  // it went on trying after its term
  EXPECT_GT(result.new_leader_refused,
            0);  // it tried before it led  // the old leader's writer went on trying
}

// The control: the same take-over with the old leader writing through its plain client; the
// audit hook does see its writes after the new leader's (so the test above can fail).
TEST_F(ApiServerLeaderElectionTest, AuditSeesUnfencedWritesOfTheOldLeader) {
  TakeoverResult result = RunTakeover(*server_, /*fenced=*/false);
  const std::vector<std::string>& w = result.writers;
  auto first_new = std::find(w.begin(), w.end(), "new");
  ASSERT_NE(first_new, w.end());
  EXPECT_GT(std::count(first_new, w.end(), "old"), 0);
}

// The whole manager against the API server: a real informer feeding a controller, leader
// election on a real Lease, metrics scraped over HTTP.
TEST_F(ApiServerLeaderElectionTest, ManagerRunsInformerControllerAndElection) {
  MetricsRegistry metrics;
  ManagerOptions options;
  options.health_probe_bind_address = "127.0.0.1:0";
  options.metrics_bind_address = "127.0.0.1:0";
  options.metrics = &metrics;
  options.leader_election_namespace = "default";
  options.leader_election_name = "lballoc-manager";
  options.leader_election_config.identity = "pod-0";
  options.leader_election_config.lease_duration = seconds(3);
  options.leader_election_config.renew_deadline = seconds(2);
  options.leader_election_config.retry_period = milliseconds(200);
  Manager manager(options, NewReplicaClient(nullptr));

  InformerOptions informer_options;
  informer_options.namespace_ = "default";
  auto informer = std::make_shared<Informer<api::Lease>>(manager.client(), informer_options);
  std::mutex mu;
  std::vector<Request> seen;
  ControllerOptions controller_options;
  controller_options.metrics = &metrics;
  auto controller =
      std::make_shared<Controller>("leases", MakeReconciler([&](const Request& request) {
                                     std::lock_guard<std::mutex> lock(mu);
                                     seen.push_back(request);
                                     return ReconcileResult::Done();
                                   }),
                                   controller_options);
  controller->Watch<api::Lease>(*informer, MapToSelf<api::Lease>());
  manager.AddInformer(informer);
  manager.AddController(controller);

  Status run_status = UnknownError("running");
  std::thread runner([&] { run_status = manager.Run(); });
  // The elector's own Lease reaches the controller through the informer.
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard<std::mutex> lock(mu);
    return std::find(seen.begin(), seen.end(), Request{"default", "lballoc-manager"}) != seen.end();
  }));
  EXPECT_TRUE(manager.IsLeader());
  EXPECT_EQ(manager.client().Get(api::Lease::kResource, "default", "lballoc-manager").ok(), true);
  ASSERT_OK_AND_ASSIGN(HttpResult ready,
                       HttpGetForTest("127.0.0.1", manager.health_probe_port(), "/readyz"));
  EXPECT_EQ(ready.status, 200);
  ASSERT_OK_AND_ASSIGN(HttpResult scrape,
                       HttpGetForTest("127.0.0.1", manager.metrics_port(), "/metrics"));
  ASSERT_OK_AND_ASSIGN(std::vector<Sample> samples, ParsePrometheusText(scrape.body));
  auto value = [&](const std::string& name, const Labels& labels) {
    StatusOr<double> v = FindSample(samples, name, labels);
    return v.ok() ? *v : -1.0;
  };
  EXPECT_GE(value("lballoc_informer_lists_total", {{"resource", "leases"}}), 1);
  EXPECT_GE(value("lballoc_informer_watches_total", {{"resource", "leases"}}), 1);
  EXPECT_GE(value("controller_runtime_reconcile_total",
                  {{"controller", "leases"}, {"result", "success"}}),
            1);
  EXPECT_EQ(value("leader_election_master_status", {{"name", "default/lballoc-manager"}}), 1);

  manager.Stop();
  runner.join();
  EXPECT_OK(run_status);
  TypedClient<api::Lease> leases(*observer_);
  ASSERT_OK_AND_ASSIGN(api::Lease lease, leases.Get("default", "lballoc-manager"));
  EXPECT_EQ(lease.spec.holder_identity, "");  // released on shutdown
}

}  // namespace
}  // namespace lballoc::runtime
