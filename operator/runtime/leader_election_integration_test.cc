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
#include "operator/runtime/http_transport.h"
#include "operator/runtime/informer.h"
#include "operator/runtime/leader_election.h"
#include "operator/runtime/leader_election_testing.h"
#include "operator/runtime/manager.h"
#include "operator/runtime/metrics.h"
#include "operator/runtime/rest_config.h"
#include "test/apiserver/api_server.h"
#include "test/testing/eventually.h"
#include "test/testing/status_matchers.h"

namespace lballoc::runtime {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

using ::lballoc::testing::Eventually;
using ::lballoc::runtime::fakes::LeaderTracker;

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
  auto controller = std::make_shared<Controller>(
      "leases", MakeReconciler([&](const Request& request) {
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
    return std::find(seen.begin(), seen.end(), Request{"default", "lballoc-manager"}) !=
           seen.end();
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
