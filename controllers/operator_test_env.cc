#include "controllers/operator_test_env.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "controllers/convert.h"
#include "operator/runtime/http_transport.h"
#include "operator/runtime/rest_config.h"
#include "test/testing/eventually.h"
#include "test/testing/fake_event_recorder.h"
#include "test/testing/status_matchers.h"

namespace lballoc::controllers::testing {
namespace {

using ::lballoc::testing::Eventually;

constexpr api::ResourceInfo kCrdResource{"apiextensions.k8s.io", "v1", "customresourcedefinitions",
                                         "CustomResourceDefinition", false};

// Used when kubectl was not found at build time to turn crds/*.yaml into JSON: the same names
// and status subresource, with a schema that keeps every field.
constexpr char kPermissiveCrd[] = R"({
  "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
  "metadata": {"name": "loadbalancerpools.lballoc.io"},
  "spec": {"group": "lballoc.io", "scope": "Cluster",
    "names": {"plural": "loadbalancerpools", "singular": "loadbalancerpool",
              "kind": "LoadBalancerPool", "shortNames": ["lbpool"]},
    "versions": [{"name": "v1alpha1", "served": true, "storage": true,
      "subresources": {"status": {}},
      "schema": {"openAPIV3Schema": {"type": "object",
                                     "x-kubernetes-preserve-unknown-fields": true}}}]}})";

std::string CrdJson() {
#ifdef LBALLOC_CRD_JSON
  std::ifstream in(LBALLOC_CRD_JSON);
  if (in.good()) {
    std::stringstream buffer;
    buffer << in.rdbuf();
    if (!buffer.str().empty()) return buffer.str();
  }
  ADD_FAILURE() << "cannot read " << LBALLOC_CRD_JSON;
#else
  std::fprintf(stderr, "note: kubectl was not found at build time; using a permissive CRD\n");
#endif
  return kPermissiveCrd;
}

}  // namespace

double Replica::Metric(const std::string& name, const runtime::Labels& labels) const {
  StatusOr<std::vector<runtime::Sample>> samples = runtime::ParsePrometheusText(metrics->Render());
  if (!samples.ok()) return std::numeric_limits<double>::quiet_NaN();
  StatusOr<double> v = runtime::FindSample(*samples, name, labels);
  return v.ok() ? *v : std::numeric_limits<double>::quiet_NaN();
}

void OperatorTestEnv::SetUp() {
  StatusOr<std::unique_ptr<apiserver::ApiServer>> server = apiserver::ApiServer::Start({});
  ASSERT_OK(server.status());
  server_ = std::move(server).value();
  client_ = NewClient();
  // One request from this thread first: cpprestsdk creates its task scheduler lazily, behind a
  // lock ThreadSanitizer cannot see; creating it before other threads keeps it out of reports.
  ASSERT_OK(client_->Get(api::Namespace::kResource, "", "default").status());

  ASSERT_OK(client_->Create(kCrdResource, "", CrdJson()).status());
  ASSERT_TRUE(Eventually([&] { return client_->List(api::LoadBalancerPool::kResource, "").ok(); }))
      << "the LoadBalancerPool resource is not served";

  server_->AddAuditCheck("count-writes", [this](const apiserver::AuditEvent& ev) {
    if (ev.verb != "patch") return Status();
    std::lock_guard<std::mutex> lock(audit_mu_);
    if (ev.group.empty() && ev.resource == "services") {
      ++service_writes_[ev.namespace_ + "/" + ev.name];
    } else if (ev.group == "lballoc.io" && ev.resource == "loadbalancerpools") {
      ++pool_writes_[ev.name];
    }
    return Status();
  });
  server_->AddAuditCheck("one-service-per-address", [](const apiserver::AuditEvent& ev) {
    if (!ev.group.empty() || ev.resource != "services") return Status();
    struct Holder {
      std::string ns, name, key;
    };
    std::map<std::string, std::vector<Holder>> by_ip;
    for (const rapidjson::Value* v : ev.list("/services")) {
      StatusOr<api::Service> svc = api::Service::FromJson(*v);
      if (!svc.ok()) continue;
      auto key = svc->metadata.annotations.find(kSharingKeyAnnotation);
      Holder h{svc->metadata.namespace_, svc->metadata.name,
               key == svc->metadata.annotations.end() ? "" : key->second};
      for (const std::string& ip : Ips(*svc)) by_ip[ip].push_back(h);
    }
    for (const auto& [ip, holders] : by_ip) {
      for (size_t i = 1; i < holders.size(); ++i) {
        const Holder& a = holders[0];
        const Holder& b = holders[i];
        if (a.ns == b.ns && !a.key.empty() && a.key == b.key) continue;
        return FailedPreconditionError(ip + " is shown by " + a.ns + "/" + a.name + " and " + b.ns +
                                       "/" + b.name);
      }
    }
    return Status();
  });
}

void OperatorTestEnv::TearDown() {
  for (auto& r : replicas_) StopOperator(r.get());
  replicas_.clear();
  if (server_ != nullptr) server_->Stop();
}

std::unique_ptr<runtime::Client> OperatorTestEnv::NewClient() {
  runtime::RestConfig config;
  config.server = server_->url();
  config.source = "test";
  StatusOr<std::shared_ptr<runtime::HttpTransport>> http = runtime::HttpTransport::Create(config);
  EXPECT_OK(http.status());
  return std::make_unique<runtime::RestClient>(std::move(http).value());
}

Replica* OperatorTestEnv::StartOperator(OperatorOptions options,
                                        const std::string& leader_identity) {
  auto r = std::make_unique<Replica>();
  r->metrics = std::make_unique<runtime::MetricsRegistry>();
  r->recorder = std::make_unique<runtime::FakeEventRecorder>();
  runtime::ManagerOptions mo;
  mo.health_probe_bind_address = "0";
  mo.metrics_bind_address = "0";
  mo.metrics = r->metrics.get();
  mo.graceful_shutdown_timeout = std::chrono::seconds(30);
  mo.cache_sync_timeout = std::chrono::seconds(30);
  mo.hook_retry_delay = std::chrono::milliseconds(100);
  mo.leader_election = !leader_identity.empty();
  if (mo.leader_election) {
    mo.leader_election_namespace = "default";
    mo.leader_election_name = "lballoc";
    mo.leader_election_config.identity = leader_identity;
    mo.leader_election_config.lease_duration = std::chrono::seconds(2);
    mo.leader_election_config.renew_deadline = std::chrono::seconds(1);
    mo.leader_election_config.retry_period = std::chrono::milliseconds(200);
    mo.leader_election_config.name = leader_identity;
  }
  std::unique_ptr<runtime::Client> client;
  if (!wrap_replica_transport_) {
    client = NewClient();
  } else {
    runtime::RestConfig config;
    config.server = server_->url();
    config.source = "test";
    StatusOr<std::shared_ptr<runtime::HttpTransport>> http = runtime::HttpTransport::Create(config);
    EXPECT_OK(http.status());
    client =
        std::make_unique<runtime::RestClient>(wrap_replica_transport_(std::move(http).value()));
  }
  r->manager = std::make_unique<runtime::Manager>(mo, std::move(client));
  options.metrics = r->metrics.get();
  EXPECT_OK(SetupWithManager(*r->manager, *r->recorder, options));
  Replica* raw = r.get();
  r->thread = std::thread([raw] {
    raw->run_status = raw->manager->Run();
    raw->finished = true;
  });
  replicas_.push_back(std::move(r));
  return raw;
}

void OperatorTestEnv::StopOperator(Replica* replica) {
  if (replica == nullptr || !replica->thread.joinable()) return;
  replica->manager->Stop();
  replica->thread.join();
  EXPECT_OK(replica->run_status);
}

// ---------------------------------------------------------------- objects

namespace {

// The test's own writes retry what fault injection may throw at them (429, 5xx, 409).
Status Retrying(const std::function<Status()>& write) {
  Status last;
  Eventually([&] {
    last = write();
    return last.ok() || !(last.IsUnavailable() || last.IsConflict());
  });
  return last;
}

}  // namespace

api::Service OperatorTestEnv::CreateService(const api::Service& service) {
  runtime::TypedClient<api::Service> services(*client_);
  StatusOr<api::Service> created = UnknownError("not created");
  EXPECT_OK(Retrying([&] {
    created = services.Create(service);
    return created.status();
  })) << service.metadata.name;
  return created.ok() ? *created : api::Service{};
}

api::LoadBalancerPool OperatorTestEnv::CreatePool(const api::LoadBalancerPool& pool) {
  api::LoadBalancerPool fresh = pool;
  fresh.metadata.creation_timestamp.reset();
  fresh.metadata.generation = 0;
  fresh.status = {};
  runtime::TypedClient<api::LoadBalancerPool> pools(*client_);
  StatusOr<api::LoadBalancerPool> created = pools.Create(fresh);
  EXPECT_OK(created.status()) << pool.metadata.name;
  return created.ok() ? *created : api::LoadBalancerPool{};
}

void OperatorTestEnv::PatchService(const std::string& ns, const std::string& name,
                                   const std::string& patch) {
  EXPECT_OK(Retrying([&] {
    return client_->Patch(api::Service::kResource, ns, name, runtime::PatchType::kMerge, patch)
        .status();
  })) << patch;
}

void OperatorTestEnv::PatchServiceStatus(const std::string& ns, const std::string& name,
                                         const std::string& patch) {
  EXPECT_OK(Retrying([&] {
    return client_
        ->Patch(api::Service::kResource, ns, name, runtime::PatchType::kMerge, patch, "status")
        .status();
  })) << patch;
}

void OperatorTestEnv::PatchPool(const std::string& name, const std::string& patch) {
  EXPECT_OK(Retrying([&] {
    return client_
        ->Patch(api::LoadBalancerPool::kResource, "", name, runtime::PatchType::kMerge, patch)
        .status();
  })) << patch;
}

void OperatorTestEnv::DeleteService(const std::string& ns, const std::string& name) {
  EXPECT_OK(Retrying([&] { return client_->Delete(api::Service::kResource, ns, name); }));
}

void OperatorTestEnv::DeletePool(const std::string& name) {
  EXPECT_OK(client_->Delete(api::LoadBalancerPool::kResource, "", name));
}

void OperatorTestEnv::CreateNamespace(const std::string& name,
                                      const std::map<std::string, std::string>& labels) {
  api::Namespace ns;
  ns.metadata.name = name;
  ns.metadata.labels = labels;
  EXPECT_OK(client_->Create(api::Namespace::kResource, "", ns.ToJsonString()).status());
}

void OperatorTestEnv::LabelNamespace(const std::string& name,
                                     const std::map<std::string, std::string>& labels) {
  // A PUT of the whole object replaces the label map (a merge patch would only add keys).
  runtime::TypedClient<api::Namespace> namespaces(*client_);
  StatusOr<api::Namespace> ns = namespaces.Get("", name);
  ASSERT_OK(ns.status());
  ns->metadata.labels = labels;
  EXPECT_OK(namespaces.Update(*ns).status());
}

api::Service OperatorTestEnv::GetService(const std::string& ns, const std::string& name) {
  runtime::TypedClient<api::Service> services(*client_);
  StatusOr<api::Service> svc = services.Get(ns, name);
  return svc.ok() ? *svc : api::Service{};
}

api::LoadBalancerPool OperatorTestEnv::GetPool(const std::string& name) {
  runtime::TypedClient<api::LoadBalancerPool> pools(*client_);
  StatusOr<api::LoadBalancerPool> pool = pools.Get("", name);
  return pool.ok() ? *pool : api::LoadBalancerPool{};
}

api::Service OperatorTestEnv::WaitService(const std::string& ns, const std::string& name,
                                          const std::function<bool(const api::Service&)>& pred,
                                          std::chrono::milliseconds timeout) {
  api::Service last;
  bool ok = Eventually(
      [&] {
        last = GetService(ns, name);
        return pred(last);
      },
      timeout);
  EXPECT_TRUE(ok) << ns << "/" << name
                  << " never reached the expected state; last: " << last.ToJsonString();
  return last;
}

api::LoadBalancerPool OperatorTestEnv::WaitPool(
    const std::string& name, const std::function<bool(const api::LoadBalancerPool&)>& pred,
    std::chrono::milliseconds timeout) {
  api::LoadBalancerPool last;
  bool ok = Eventually(
      [&] {
        last = GetPool(name);
        return pred(last);
      },
      timeout);
  EXPECT_TRUE(ok) << "pool " << name
                  << " never reached the expected state; last: " << last.ToJsonString();
  return last;
}

// ---------------------------------------------------------------- audit

int OperatorTestEnv::ServiceWrites(const std::string& ns, const std::string& name) const {
  std::lock_guard<std::mutex> lock(audit_mu_);
  auto it = service_writes_.find(ns + "/" + name);
  return it == service_writes_.end() ? 0 : it->second;
}

int OperatorTestEnv::TotalServiceWrites() const {
  std::lock_guard<std::mutex> lock(audit_mu_);
  int n = 0;
  for (const auto& [key, count] : service_writes_) n += count;
  return n;
}

int OperatorTestEnv::PoolWrites(const std::string& name) const {
  std::lock_guard<std::mutex> lock(audit_mu_);
  auto it = pool_writes_.find(name);
  return it == pool_writes_.end() ? 0 : it->second;
}

std::vector<apiserver::AuditViolation> OperatorTestEnv::DoubleAllocations() const {
  std::vector<apiserver::AuditViolation> out;
  for (const auto& v : server_->violations()) {
    if (v.check == "one-service-per-address") out.push_back(v);
  }
  return out;
}

std::string OperatorTestEnv::DoubleAllocationNow() {
  runtime::TypedClient<api::Service> services(*client_);
  StatusOr<api::List<api::Service>> list = services.ListAll("");
  if (!list.ok()) return "cannot list: " + list.status().ToString();
  std::map<std::string, std::vector<const api::Service*>> by_ip;
  for (const api::Service& s : list->items) {
    for (const std::string& ip : Ips(s)) by_ip[ip].push_back(&s);
  }
  auto key = [](const api::Service* s) {
    auto it = s->metadata.annotations.find(kSharingKeyAnnotation);
    return it == s->metadata.annotations.end() ? std::string() : it->second;
  };
  for (const auto& [ip, holders] : by_ip) {
    for (size_t i = 1; i < holders.size(); ++i) {
      if (holders[0]->metadata.namespace_ == holders[i]->metadata.namespace_ &&
          !key(holders[0]).empty() && key(holders[0]) == key(holders[i])) {
        continue;
      }
      return ip + " is shown by " + ServiceKey(holders[0]->metadata) + " and " +
             ServiceKey(holders[i]->metadata);
    }
  }
  return "";
}

// ---------------------------------------------------------------- helpers

std::vector<std::string> Ips(const api::Service& service) {
  std::vector<std::string> out;
  for (const api::LoadBalancerIngress& in : service.status.ingress) {
    if (!in.ip.empty()) out.push_back(in.ip);
  }
  return out;
}

const api::Condition* AllocatedCondition(const api::Service& service) {
  return api::FindCondition(service.status.conditions, kConditionType);
}

bool AllocatedTo(const api::Service& service, const std::vector<std::string>& ips) {
  const api::Condition* c = AllocatedCondition(service);
  return c != nullptr && c->status == "True" && Ips(service) == ips;
}

bool FailedWith(const api::Service& service, const std::string& reason) {
  const api::Condition* c = AllocatedCondition(service);
  return c != nullptr && c->status == "False" && c->reason == reason;
}

}  // namespace lballoc::controllers::testing
