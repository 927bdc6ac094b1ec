// Test environment for the controllers against the in-process API server (test/apiserver): the
// LoadBalancerPool CRD installed, audit checks that count status writes and look for an address
// shown by two Services outside a sharing group, and operator replicas (a runtime::Manager with
// SetupWithManager) started and stopped at will. Not part of lballoc_controllers.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/core_v1.h"
#include "api/v1alpha1/loadbalancerpool.h"
#include "controllers/operator.h"
#include "operator/runtime/client.h"
#include "operator/runtime/event_recorder.h"
#include "operator/runtime/manager.h"
#include "operator/runtime/metrics.h"
#include "operator/runtime/transport.h"
#include "test/apiserver/api_server.h"
#include "test/testing/fake_event_recorder.h"

namespace lballoc::controllers::testing {

// One operator process: its manager, event recorder and metrics.
struct Replica {
  std::unique_ptr<runtime::MetricsRegistry> metrics;
  std::unique_ptr<runtime::FakeEventRecorder> recorder;
  std::unique_ptr<runtime::Manager> manager;
  std::thread thread;
  std::atomic<bool> finished{false};
  Status run_status;

  // "Normal AddressAllocated ns/name: message" lines.
  std::vector<std::string> events() const { return recorder->lines(); }
  // The value of a sample in this replica's registry (NaN when absent).
  double Metric(const std::string& name, const runtime::Labels& labels = {}) const;
};

class OperatorTestEnv : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // A new client of the test server (its own connection pool).
  std::unique_ptr<runtime::Client> NewClient();

  // Starts a replica; with `leader_identity` non-empty it campaigns for the Lease
  // default/lballoc with short durations, else it leads at once.
  Replica* StartOperator(OperatorOptions options = {}, const std::string& leader_identity = "");
  void StopOperator(Replica* replica);

  // ---- objects
  api::Service CreateService(const api::Service& service);
  api::LoadBalancerPool CreatePool(const api::LoadBalancerPool& pool);
  void PatchService(const std::string& ns, const std::string& name, const std::string& patch);
  void PatchServiceStatus(const std::string& ns, const std::string& name, const std::string& patch);
  void PatchPool(const std::string& name, const std::string& patch);
  void DeleteService(const std::string& ns, const std::string& name);
  void DeletePool(const std::string& name);
  void CreateNamespace(const std::string& name, const std::map<std::string, std::string>& labels);
  void LabelNamespace(const std::string& name, const std::map<std::string, std::string>& labels);
  api::Service GetService(const std::string& ns, const std::string& name);
  api::LoadBalancerPool GetPool(const std::string& name);

  // Waits (up to `timeout`) until `pred` holds for the Service; returns its last state and
  // records a failure when it never held.
  api::Service WaitService(const std::string& ns, const std::string& name,
                           const std::function<bool(const api::Service&)>& pred,
                           std::chrono::milliseconds timeout = std::chrono::seconds(20));
  api::LoadBalancerPool WaitPool(const std::string& name,
                                 const std::function<bool(const api::LoadBalancerPool&)>& pred,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(20));

  // ---- audit
  // Committed status writes (patches) of one Service / of all Services / of one pool.
  int ServiceWrites(const std::string& ns, const std::string& name) const;
  int TotalServiceWrites() const;
  int PoolWrites(const std::string& name) const;
  // Writes that committed a state where an address was shown by two Services outside a sharing
  // group (same namespace, same non-empty lballoc.io/sharing-key).
  std::vector<apiserver::AuditViolation> DoubleAllocations() const;
  // The same check on the current state: "" or a description of the first double.
  std::string DoubleAllocationNow();

  std::unique_ptr<apiserver::ApiServer> server_;
  std::unique_ptr<runtime::Client> client_;
  // When set, replicas started afterwards talk to the server through the transport it returns
  // (wrapping the real one), e.g. a testing::FaultyTransport that damages answers.
  std::function<std::shared_ptr<runtime::Transport>(std::shared_ptr<runtime::Transport>)>
      wrap_replica_transport_;

 private:
  mutable std::mutex audit_mu_;
  std::map<std::string, int> service_writes_;
  std::map<std::string, int> pool_writes_;
  std::vector<std::unique_ptr<Replica>> replicas_;
};

// Helpers on Services.
std::vector<std::string> Ips(const api::Service& service);
const api::Condition* AllocatedCondition(const api::Service& service);
// Ingress ips are exactly `ips` and the condition is True.
bool AllocatedTo(const api::Service& service, const std::vector<std::string>& ips);
// The condition is False with `reason`.
bool FailedWith(const api::Service& service, const std::string& reason);

}  // namespace lballoc::controllers::testing
