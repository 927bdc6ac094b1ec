#include "test/bench/phases.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "api/core_v1.h"
#include "controllers/status.h"
#include "operator/base/clock.h"
#include "operator/ipam/address.h"
#include "operator/runtime/client.h"
#include "operator/runtime/rest_config.h"
#include "test/apiserver/test_client.h"

namespace lballoc::bench {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kNs[] = "default";
// Pools are consecutive /20 blocks of 100.64.0.0/10 (4,096 addresses each, 1,024 blocks).
constexpr uint32_t kPoolBase = (100u << 24) | (64u << 16);

std::string V4(uint32_t a) {
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." +
         std::to_string((a >> 8) & 255) + "." + std::to_string(a & 255);
}

void Note(const std::string& s) {
  std::printf("  %s\n", s.c_str());
  std::fflush(stdout);
}

// A pool of `blocks` consecutive /20s starting at block `first`.
Status CreatePool(const std::string& url, const std::string& name, int first, int blocks) {
  std::string addresses;
  for (int b = 0; b < blocks; ++b) {
    if (b > 0) addresses += ",";
    addresses += "\"" + V4(kPoolBase + static_cast<uint32_t>(first + b) * 4096) + "/20\"";
  }
  return Post(url, "/apis/lballoc.io/v1alpha1/loadbalancerpools",
              R"({"apiVersion":"lballoc.io/v1alpha1","kind":"LoadBalancerPool","metadata":)"
              R"({"name":")" +
                  name + R"("},"spec":{"addresses":[)" + addresses + "]}}");
}

// A server with the CRD installed.
StatusOr<ApiServerProcess> Server(const Options& o, const std::string& name) {
  LB_ASSIGN_OR_RETURN(ApiServerProcess s, StartApiServer(o.apiserver, o.work_dir, name));
  LB_RETURN_IF_ERROR(InstallCrds(s, o.kubectl, o.source_dir));
  return s;
}

StatusOr<std::unique_ptr<Process>> StartOperator(const Options& o, const ApiServerProcess& s,
                                                 const std::string& name,
                                                 const std::string& binary = "") {
  std::vector<std::string> argv = {
      binary.empty() ? o.operator_binary : binary,
      "--kubeconfig=" + s.kubeconfig,
      "--health-probe-bind-address=127.0.0.1:0",
      "--metrics-bind-address=127.0.0.1:0",
      "--leader-elect-lease-duration=" + std::to_string(o.lease_duration_ms) + "ms",
      "--leader-elect-renew-deadline=" + std::to_string(o.renew_deadline_ms) + "ms",
      "--leader-elect-retry-period=" + std::to_string(o.retry_period_ms) + "ms",
  };
  return Process::Spawn(argv, {{"POD_NAME", name}, {"POD_NAMESPACE", kNs}},
                        o.work_dir + "/" + name + ".log", /*pipe_stdout=*/false);
}

// Stops an operator cleanly (it releases its Lease).
void StopOperator(Process& p) {
  p.Signal(SIGTERM);
  if (!p.Wait(seconds(30))) p.Signal(SIGKILL);
  p.Wait(seconds(10));
}

std::chrono::milliseconds Budget(int services) {
  return milliseconds(60'000 + static_cast<int64_t>(services) * 20);  // 50/s at worst
}

StatusOr<int> MetricsPort(const Process& op) {
  return WaitForLogNumber(op, "serving /metrics on port ", seconds(60));
}

// Waits until the Service controller reports `count` successful reconciles.
Status WaitReconciled(const Process& op, int port, int count, std::chrono::milliseconds timeout) {
  TimePoint deadline = Steady::now() + timeout;
  while (Steady::now() < deadline) {
    StatusOr<std::string> m = Scrape(port);
    if (m.ok() && MetricValue(*m, "controller_runtime_reconcile_total",
                              {"controller=\"service\"", "result=\"success\""}) >= count) {
      return Status();
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  return DeadlineExceededError("the Service controller did not reconcile " + std::to_string(count) +
                               " Services (" + op.log_path() + ")");
}

}  // namespace

Running::~Running() {
  if (op != nullptr) StopOperator(*op);
  if (server.process != nullptr) {
    server.process->Signal(SIGTERM);
    server.process->Wait(seconds(10));
  }
}

StatusOr<double> MeasureCeiling(const Options& o, int n) {
  Note("ceiling: " + std::to_string(n) + " Services, then one status merge-patch each");
  LB_ASSIGN_OR_RETURN(ApiServerProcess s, Server(o, "ceiling-apiserver"));
  LB_ASSIGN_OR_RETURN(std::vector<std::string> versions,
                      CreateServices(s.url, {kNs, "svc-", "", 0}, 0, n, o.workers));
  LB_ASSIGN_OR_RETURN(runtime::RestConfig config, runtime::LoadKubeconfigFile(s.kubeconfig));
  LB_ASSIGN_OR_RETURN(std::unique_ptr<runtime::Client> client, runtime::NewClient(config));
  runtime::TypedClient<api::Service> services(*client);
  size_t offset = s.process->LogSize();

  // The body the operator sends (ServiceReconciler::WriteStatus): the status it computes with
  // the same functions, with the cached resourceVersion as precondition.
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  TimePoint start = Steady::now();
  for (int t = 0; t < o.workers; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < n; i += o.workers) {
        api::Service patch;
        patch.metadata.resource_version = versions[static_cast<size_t>(i)];
        patch.status = controllers::DesiredServiceStatus(
            {}, {ipam::Address::V4(kPoolBase + static_cast<uint32_t>(i))},
            controllers::AllocationCondition(ipam::Reason::kAllocated, "", 1),
            Clock::Real().WallNow());
        auto r = services.PatchStatus(kNs, "svc-" + std::to_string(i), runtime::PatchType::kMerge,
                                      api::ServiceStatusPatch(patch));
        if (!r.ok()) failures++;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  double secs = Seconds(Steady::now() - start);
  WriteCounts w = CountWrites(s.process->Log(offset));
  s.process->Signal(SIGTERM);
  s.process->Wait(seconds(10));
  if (failures > 0 || w.service_status != n) {
    return InternalError("ceiling: " + std::to_string(failures.load()) + " writes failed, " +
                         std::to_string(w.service_status) + " logged");
  }
  Note("ceiling: " + std::to_string(n) + " status writes in " + std::to_string(secs) + " s");
  return n / secs;
}

StatusOr<Throughput> MeasureThroughput(const Options& o, int n) {
  Note("throughput: " + std::to_string(n) + " Services waiting, then the operator starts");
  auto running = std::make_shared<Running>();
  LB_ASSIGN_OR_RETURN(running->server, Server(o, "throughput-apiserver"));
  const ApiServerProcess& s = running->server;
  LB_RETURN_IF_ERROR(CreatePool(s.url, "bench", 0, 256));  // 100.64.0.0/12 in /20s
  LB_RETURN_IF_ERROR(CreateServices(s.url, {kNs, "svc-", "", 0}, 0, n, o.workers).status());
  LB_ASSIGN_OR_RETURN(std::string rv, ListResourceVersion(s.url));
  AllocationWatch watch(s.url, kNs, "svc-", n);
  LB_RETURN_IF_ERROR(watch.Start(rv));
  size_t offset = s.process->LogSize();

  LB_ASSIGN_OR_RETURN(running->op, StartOperator(o, s, "lballoc-0"));
  // The leader's hook ends with this line; the controllers start right after it.
  LB_ASSIGN_OR_RETURN(TimePoint workers,
                      WaitForLogLine(*running->op, "allocations rebuilt", Budget(n)));
  if (!watch.WaitAll(Budget(n))) {
    return DeadlineExceededError("throughput: " + std::to_string(watch.allocated()) + " of " +
                                 std::to_string(n) + " allocated (" + running->op->log_path() +
                                 ")");
  }
  Throughput t;
  TimePoint last = watch.last();
  t.seconds = Seconds(last - workers);
  t.seconds_from_start = Seconds(last - running->op->started());
  t.per_second = n / t.seconds;
  // Events are written asynchronously and pool statuses at most once a second: wait for both.
  std::this_thread::sleep_for(seconds(3));
  t.writes = CountWrites(s.process->Log(offset));
  t.running = std::move(running);
  Note("throughput: " + std::to_string(t.per_second) + " Services/s");
  return t;
}

StatusOr<Latency> MeasureLatency(const Options& o, Running& running, double rate,
                                 double seconds_to_run) {
  (void)o;
  const int count = std::max(1, static_cast<int>(rate * seconds_to_run));
  Note("latency: " + std::to_string(count) + " Services at " + std::to_string(rate) + "/s");
  const ApiServerProcess& s = running.server;
  LB_ASSIGN_OR_RETURN(std::string rv, ListResourceVersion(s.url));
  AllocationWatch watch(s.url, kNs, "lat-", count);
  LB_RETURN_IF_ERROR(watch.Start(rv));
  apiserver::TestClient c(s.url);
  c.set_keep_alive(true);
  ServiceSpec spec{kNs, "lat-", "", 300000};
  std::vector<TimePoint> sent(static_cast<size_t>(count));
  TimePoint start = Steady::now();
  for (int i = 0; i < count; ++i) {
    std::this_thread::sleep_until(start + std::chrono::duration_cast<Steady::duration>(
                                              std::chrono::duration<double>(i / rate)));
    sent[static_cast<size_t>(i)] = Steady::now();  // the request's start: an upper bound
    auto r = c.Request("POST", "/api/v1/namespaces/default/services", ServiceJson(spec, i));
    if (!r.ok() || r->code != 201) return InternalError("latency: create failed");
  }
  if (!watch.WaitAll(seconds(120))) return DeadlineExceededError("latency: not all allocated");
  std::vector<TimePoint> done = watch.times();
  std::vector<double> lat;
  for (int i = 0; i < count; ++i) {
    lat.push_back(Seconds(done[static_cast<size_t>(i)] - sent[static_cast<size_t>(i)]));
  }
  std::sort(lat.begin(), lat.end());
  Latency l;
  l.count = count;
  double span = Seconds(sent.back() - sent.front());
  l.achieved_rate = span > 0 ? (count - 1) / span : 0;
  auto at = [&](double q) {
    return lat[std::min(lat.size() - 1, static_cast<size_t>(q * static_cast<double>(lat.size())))];
  };
  l.p50 = at(0.50);
  l.p99 = at(0.99);
  l.max = lat.back();
  return l;
}

StatusOr<Startup> MeasureStartup(const Options& o, int services, int pools) {
  Note("start-up: " + std::to_string(services) + " Services in " + std::to_string(pools) +
       " pools, allocated by a first operator");
  const int blocks = std::max(1, (services / pools) / 4000 + 1);  // /20s per pool
  if (pools * blocks > 1024) return InvalidArgumentError("start-up: too many pools or Services");
  LB_ASSIGN_OR_RETURN(ApiServerProcess s, Server(o, "startup-apiserver"));
  for (int p = 0; p < pools; ++p) {
    LB_RETURN_IF_ERROR(CreatePool(s.url, "pool-" + std::to_string(p), p * blocks, blocks));
  }
  LB_RETURN_IF_ERROR(CreateServices(s.url, {kNs, "svc-", "", 0}, 0, services, o.workers).status());
  LB_ASSIGN_OR_RETURN(std::string rv, ListResourceVersion(s.url));
  Startup r;
  {
    AllocationWatch watch(s.url, kNs, "svc-", services);
    LB_RETURN_IF_ERROR(watch.Start(rv));
    LB_ASSIGN_OR_RETURN(std::unique_ptr<Process> first, StartOperator(o, s, "lballoc-first"));
    LB_ASSIGN_OR_RETURN(TimePoint workers,
                        WaitForLogLine(*first, "allocations rebuilt", Budget(services)));
    if (!watch.WaitAll(Budget(services) * 2)) {
      return DeadlineExceededError("start-up: the first operator allocated only " +
                                   std::to_string(watch.allocated()));
    }
    r.first_throughput = services / Seconds(watch.last() - workers);
    std::this_thread::sleep_for(seconds(3));  // pool statuses and Events settle
    StopOperator(*first);
  }
  std::vector<std::string> binaries = {o.operator_binary};
  for (size_t at = 0; at < o.compare_binary.size();) {
    size_t comma = std::min(o.compare_binary.find(',', at), o.compare_binary.size());
    if (comma > at) binaries.push_back(o.compare_binary.substr(at, comma - at));
    at = comma + 1;
  }
  for (size_t b = 0; b < binaries.size(); ++b) {
    Note("start-up: all allocated; starting " + binaries[b]);
    Restart x;
    x.binary = binaries[b];
    size_t offset = s.process->LogSize();
    LB_ASSIGN_OR_RETURN(std::unique_ptr<Process> op,
                        StartOperator(o, s, "lballoc-restart-" + std::to_string(b), x.binary));
    TimePoint t0 = op->started();
    LB_ASSIGN_OR_RETURN(TimePoint synced, WaitForLogLine(*op, "caches synced", Budget(services)));
    LB_ASSIGN_OR_RETURN(TimePoint rebuilt,
                        WaitForLogLine(*op, "allocations rebuilt", Budget(services)));
    LB_ASSIGN_OR_RETURN(TimePoint first, WaitForLogLine(*op, "controller service: first reconcile",
                                                        Budget(services)));
    LB_ASSIGN_OR_RETURN(int port, MetricsPort(*op));
    LB_RETURN_IF_ERROR(WaitReconciled(*op, port, services, Budget(services)));
    x.all_reconciled = Seconds(Steady::now() - t0);  // polled: an upper bound
    x.synced = Seconds(synced - t0);
    x.rebuilt = Seconds(rebuilt - t0);
    x.first_reconcile = Seconds(first - t0);
    x.peak_rss = op->PeakRssBytes();
    std::this_thread::sleep_for(seconds(2));  // a pool status write would come within 1 s
    x.writes = CountWrites(s.process->Log(offset));
    StopOperator(*op);
    r.restarts.push_back(x);
  }
  s.process->Signal(SIGTERM);
  s.process->Wait(seconds(10));
  return r;
}

StatusOr<Failover> MeasureFailover(const Options& o) {
  Note("failover: two replicas, the leader killed");
  LB_ASSIGN_OR_RETURN(ApiServerProcess s, Server(o, "failover-apiserver"));
  LB_RETURN_IF_ERROR(CreatePool(s.url, "bench", 0, 1));
  LB_ASSIGN_OR_RETURN(std::string rv, ListResourceVersion(s.url));
  AllocationWatch watch(s.url, kNs, "fo-", 2);
  LB_RETURN_IF_ERROR(watch.Start(rv));
  std::vector<std::unique_ptr<Process>> ops;
  for (const char* name : {"lballoc-a", "lballoc-b"}) {
    LB_ASSIGN_OR_RETURN(std::unique_ptr<Process> p, StartOperator(o, s, name));
    ops.push_back(std::move(p));
  }
  for (auto& p : ops) {
    LB_RETURN_IF_ERROR(WaitForLogLine(*p, "caches synced", seconds(60)).status());
  }
  // The leader is the one that writes: create a Service and see who started its controllers.
  LB_RETURN_IF_ERROR(
      Post(s.url, "/api/v1/namespaces/default/services", ServiceJson({kNs, "fo-", "", 500000}, 0)));
  if (!watch.WaitOne(0, seconds(120))) return DeadlineExceededError("failover: no leader wrote");
  int leader = -1;
  for (int i = 0; i < 2; ++i) {
    if (ops[static_cast<size_t>(i)]->Log().find("controller service: started") !=
        std::string::npos) {
      leader = i;
    }
  }
  if (leader < 0) return InternalError("failover: no replica started its controllers");
  Process& standby = *ops[static_cast<size_t>(1 - leader)];
  size_t standby_offset = standby.LogSize();
  ops[static_cast<size_t>(leader)]->Signal(SIGKILL);
  TimePoint killed = Steady::now();
  ops[static_cast<size_t>(leader)]->Wait(seconds(10));
  LB_RETURN_IF_ERROR(
      Post(s.url, "/api/v1/namespaces/default/services", ServiceJson({kNs, "fo-", "", 500000}, 1)));
  const auto budget = milliseconds(4 * (o.lease_duration_ms + o.retry_period_ms) + 30'000);
  std::optional<TimePoint> written = watch.WaitOne(1, budget);
  if (!written) return DeadlineExceededError("failover: the standby never wrote");
  LB_ASSIGN_OR_RETURN(TimePoint leading,
                      WaitForLogLine(standby, "became leader", seconds(5), standby_offset));
  Failover f;
  f.lease_taken = Seconds(leading - killed);
  f.first_write = Seconds(*written - killed);
  StopOperator(standby);
  s.process->Signal(SIGTERM);
  s.process->Wait(seconds(10));
  return f;
}

StatusOr<Memory> MeasureMemory(const Options& o, int n) {
  Note("memory: RSS idle, with " + std::to_string(n) + " cached Services, with " +
       std::to_string(n) + " handled");
  LB_ASSIGN_OR_RETURN(ApiServerProcess s, Server(o, "memory-apiserver"));
  LB_RETURN_IF_ERROR(CreatePool(s.url, "bench", 0, 256));
  LB_ASSIGN_OR_RETURN(std::unique_ptr<Process> op, StartOperator(o, s, "lballoc-memory"));
  LB_RETURN_IF_ERROR(WaitForLogLine(*op, "controller service: started", seconds(60)).status());
  LB_ASSIGN_OR_RETURN(int port, MetricsPort(*op));
  std::this_thread::sleep_for(seconds(1));
  Memory m;
  m.idle_rss = op->RssBytes();

  // Services of another class: cached (every Service is), never handled.
  LB_RETURN_IF_ERROR(
      CreateServices(s.url, {kNs, "other-", "example.com/other", 400000}, 0, n, o.workers)
          .status());
  TimePoint deadline = Steady::now() + Budget(n);
  while (true) {
    StatusOr<std::string> metrics = Scrape(port);
    if (metrics.ok() && MetricValue(*metrics, "lballoc_informer_watch_events_total",
                                    {"resource=\"services\""}) >= n) {
      break;
    }
    if (Steady::now() > deadline) return DeadlineExceededError("memory: Services not cached");
    std::this_thread::sleep_for(milliseconds(50));
  }
  std::this_thread::sleep_for(seconds(1));
  int64_t cached_rss = op->RssBytes();

  LB_ASSIGN_OR_RETURN(std::string rv, ListResourceVersion(s.url));
  AllocationWatch watch(s.url, kNs, "svc-", n);
  LB_RETURN_IF_ERROR(watch.Start(rv));
  LB_RETURN_IF_ERROR(CreateServices(s.url, {kNs, "svc-", "", 0}, 0, n, o.workers).status());
  if (!watch.WaitAll(Budget(n))) return DeadlineExceededError("memory: not all allocated");
  std::this_thread::sleep_for(seconds(2));
  int64_t handled_rss = op->RssBytes();
  m.peak_rss = op->PeakRssBytes();
  m.per_cached = static_cast<double>(cached_rss - m.idle_rss) / n;
  m.per_handled = static_cast<double>(handled_rss - cached_rss) / n;
  StopOperator(*op);
  s.process->Signal(SIGTERM);
  s.process->Wait(seconds(10));
  return m;
}

}  // namespace lballoc::bench
