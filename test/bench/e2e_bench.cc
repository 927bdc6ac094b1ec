// lballoc-e2e-bench: the end-to-end benchmark of issue 14. Starts the real lballoc-apiserver and
// lballoc-operator binaries and prints five figures beside the bars of ARCHITECTURE.md:
//   1. throughput: N Services (allocateLoadBalancerNodePorts: false) waiting when the operator
//      starts; Services/s from its controllers starting (the end of the leader's hook, its log
//      line "allocations rebuilt") to the last address seen in a watch, against the API
//      server's ceiling for the same writes (one merge-patch of /status per Service through the
//      operator's own client library, runtime::RestClient over HttpTransport, with as many
//      concurrent callers as the operator has Service workers), measured in the same run on a
//      fresh server holding the same N Services;
//   2. latency from a Service's create request to its address in a watch, p50/p99, at a steady
//      rate (200/s);
//   3. start-up: M handled Services already allocated (by a first operator, which also gives a
//      throughput figure at M) in P pools; a second operator's time from process start to caches
//      synced, allocations rebuilt and first reconcile (its log milestones), its peak RSS, and
//      the writes it makes (none expected);
//   4. failover: two replicas, the leader SIGKILLed, time to the new leader's first write;
//   5. memory per cached Service and per allocation (RSS deltas), and API writes per Service
//      (the API server's request log, --log-requests, counts them).
//
//   lballoc-e2e-bench [--services=10000] [--startup_services=100000] [--phases=...]
//   lballoc-e2e-bench --smoke     # small N; checks the figures are sane (exit 1), not the bars
//
// Run it niced on a shared machine: it keeps both cores busy.
#include <gflags/gflags.h>
#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "operator/runtime/http_transport.h"
#include "test/bench/phases.h"

DEFINE_string(apiserver, LBALLOC_APISERVER_BIN, "lballoc-apiserver binary");
DEFINE_string(operator_binary, LBALLOC_OPERATOR_BIN, "lballoc-operator binary");
DEFINE_string(kubectl, "kubectl", "kubectl (installs the CRD with apply -k crds/)");
DEFINE_string(source_dir, LBALLOC_SOURCE_DIR, "the repository (for crds/)");
DEFINE_string(work_dir, "", "where logs and kubeconfigs go (default: a new directory in /tmp)");
DEFINE_bool(keep, false, "keep the work directory");
DEFINE_int32(services, 10000, "Services of the throughput and memory figures");
DEFINE_int32(startup_services, 100000, "handled Services already allocated at start-up");
DEFINE_int32(startup_pools, 100, "pools at start-up");
DEFINE_double(latency_rate, 200, "Services created per second for the latency figure");
DEFINE_double(latency_seconds, 20, "how long the latency figure creates Services");
DEFINE_int32(workers, 4, "concurrent callers of the ceiling (the operator's Service workers)");
DEFINE_int32(lease_duration_ms, 15000, "failover: --leader-elect-lease-duration");
DEFINE_int32(renew_deadline_ms, 10000, "failover: --leader-elect-renew-deadline");
DEFINE_int32(retry_period_ms, 2000, "failover: --leader-elect-retry-period");
DEFINE_string(compare_operator, "",
              "also measure start-up with these operator binaries (comma-separated), on the same "
              "state (same-run baselines)");
DEFINE_string(phases, "throughput,latency,startup,failover,memory", "which figures to measure");
DEFINE_bool(smoke, false,
            "short form for make test: small defaults, and exit 1 unless every figure is sane "
            "(measured, ordered, writes per Service 1); timing bars are not asserted");

namespace lballoc::bench {
namespace {

std::string Fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string Mb(int64_t bytes) { return Fmt("%.1f MB", static_cast<double>(bytes) / 1e6); }

// Sanity checks of the smoke form: each failure is printed; the count decides the exit code.
int g_failures = 0;
void Check(bool ok, const std::string& what) {
  if (!ok) {
    std::printf("SANITY CHECK FAILED: %s\n", what.c_str());
    ++g_failures;
  }
}

int Main() {
  std::set<std::string> phases;
  {
    std::stringstream ss(FLAGS_phases);
    std::string p;
    while (std::getline(ss, p, ',')) phases.insert(p);
  }
  Options o;
  o.apiserver = FLAGS_apiserver;
  o.operator_binary = FLAGS_operator_binary;
  o.kubectl = FLAGS_kubectl;
  o.source_dir = FLAGS_source_dir;
  o.workers = FLAGS_workers;
  o.lease_duration_ms = FLAGS_lease_duration_ms;
  o.renew_deadline_ms = FLAGS_renew_deadline_ms;
  o.retry_period_ms = FLAGS_retry_period_ms;
  o.compare_binary = FLAGS_compare_operator;
  if (FLAGS_work_dir.empty()) {
    char tmpl[] = "/tmp/lballoc-bench-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return 1;
    o.work_dir = tmpl;
  } else {
    o.work_dir = FLAGS_work_dir;
  }
  std::printf("lballoc-e2e-bench: work directory %s\n", o.work_dir.c_str());
  std::fflush(stdout);

  std::vector<std::string> report;
  auto fail = [&](const std::string& phase, const Status& s) {
    std::printf("%s FAILED: %s\n", phase.c_str(), s.ToString().c_str());
    ++g_failures;
  };
  const int n = FLAGS_services;

  if (phases.count("throughput") || phases.count("latency")) {
    StatusOr<double> ceiling = MeasureCeiling(o, n);
    if (!ceiling.ok()) fail("ceiling", ceiling.status());
    StatusOr<Throughput> t = MeasureThroughput(o, n);
    if (!t.ok()) {
      fail("throughput", t.status());
    } else if (ceiling.ok()) {
      double ratio = t->per_second / *ceiling;
      report.push_back("1. throughput: " + std::to_string(n) +
                       " Services waiting, all allocated: " + Fmt("%.0f", t->per_second) +
                       " Services/s (" + Fmt("%.2f", t->seconds) +
                       " s from the controllers starting, after the leader's hook; " +
                       Fmt("%.2f", t->seconds_from_start) +
                       " s from process start); API server ceiling, same writes, same run: " +
                       Fmt("%.0f", *ceiling) + " writes/s (" + std::to_string(o.workers) +
                       " callers, runtime::RestClient) -> " + Fmt("%.0f%%", 100 * ratio) +
                       " of the ceiling [bar >= 70%: " + (ratio >= 0.7 ? "met" : "NOT met") + "]");
      const WriteCounts& w = t->writes;
      report.push_back("5b. API writes per Service (throughput run, N=" + std::to_string(n) +
                       "): status " + Fmt("%.3f", static_cast<double>(w.service_status) / n) +
                       " (+ " + std::to_string(w.service_status_failed) + " refused), Events " +
                       Fmt("%.3f", static_cast<double>(w.events) / n) + ", other Service writes " +
                       std::to_string(w.service_other) + "; pool-status writes " +
                       std::to_string(w.pool_status) + " for " + std::to_string(n) +
                       " Services (coalesced), Lease writes " + std::to_string(w.leases) +
                       " [bar: 1 status write per Service: " +
                       (w.service_status == n && w.service_status_failed == 0 ? "met" : "NOT met") +
                       "]");
      Check(*ceiling > 0 && t->per_second > 0, "throughput and ceiling are positive");
      Check(w.service_status >= n && w.service_status <= n + n / 2,
            "status writes per Service between 1 and 1.5 (" + std::to_string(w.service_status) +
                " for " + std::to_string(n) + ")");
      Check(w.pool_status < n / 2 + 5, "pool-status writes coalesced");
      if (phases.count("latency")) {
        StatusOr<Latency> l =
            MeasureLatency(o, *t->running, FLAGS_latency_rate, FLAGS_latency_seconds);
        if (!l.ok()) {
          fail("latency", l.status());
        } else {
          report.push_back("2. latency, create request -> address seen in a watch, at " +
                           Fmt("%.0f", FLAGS_latency_rate) + " Services/s (achieved " +
                           Fmt("%.1f", l->achieved_rate) + "/s, " + std::to_string(l->count) +
                           " Services): p50 " + Fmt("%.1f ms", l->p50 * 1e3) + ", p99 " +
                           Fmt("%.1f ms", l->p99 * 1e3) + ", max " + Fmt("%.1f ms", l->max * 1e3) +
                           " [no bar]");
          Check(l->p50 > 0 && l->p50 <= l->p99 && l->p99 <= l->max, "latency p50 <= p99 <= max");
        }
      }
    }
  }

  if (phases.count("startup")) {
    StatusOr<Startup> s = MeasureStartup(o, FLAGS_startup_services, FLAGS_startup_pools);
    if (!s.ok()) {
      fail("startup", s.status());
    } else {
      for (size_t i = 0; i < s->restarts.size(); ++i) {
        const Restart& x = s->restarts[i];
        report.push_back(
            std::string(i == 0 ? "3. start-up" : "3'. same state, same run, " + x.binary + ":") +
            " with " + std::to_string(FLAGS_startup_services) + " handled Services allocated, " +
            std::to_string(FLAGS_startup_pools) + " pools: caches synced " +
            Fmt("%.2f s", x.synced) + ", allocations rebuilt " + Fmt("%.2f s", x.rebuilt) +
            ", first reconcile " + Fmt("%.2f s", x.first_reconcile) +
            " [bar 3 s: " + (x.first_reconcile <= 3 ? "met" : "NOT met") + "]; every Service " +
            "reconciled " + Fmt("%.2f s", x.all_reconciled) + "; peak RSS " + Mb(x.peak_rss) +
            " [bar < 300 MB: " + (x.peak_rss < 300'000'000 ? "met" : "NOT met") +
            "]; writes during start-up: status " + std::to_string(x.writes.service_status) +
            ", pool status " + std::to_string(x.writes.pool_status));
        Check(x.synced > 0 && x.synced <= x.rebuilt && x.rebuilt <= x.first_reconcile,
              "start-up milestones in order");
        Check(x.peak_rss > 0, "peak RSS measured");
        Check(x.writes.service_status == 0, "no status write when the state is already written");
      }
      report.push_back("   (the first operator allocated the " +
                       std::to_string(FLAGS_startup_services) + " Services at " +
                       Fmt("%.0f", s->first_throughput) + " Services/s)");
    }
  }

  if (phases.count("failover")) {
    StatusOr<Failover> f = MeasureFailover(o);
    if (!f.ok()) {
      fail("failover", f.status());
    } else {
      double bar = (o.lease_duration_ms + 2.0 * o.retry_period_ms) / 1000;
      report.push_back("4. failover (lease " + Fmt("%.1f s", o.lease_duration_ms / 1e3) +
                       ", renew " + Fmt("%.1f s", o.renew_deadline_ms / 1e3) + ", retry " +
                       Fmt("%.1f s", o.retry_period_ms / 1e3) + "): leader SIGKILLed; Lease " +
                       "taken " + Fmt("%.2f s", f->lease_taken) + ", first write (a Service " +
                       "created after the kill) " + Fmt("%.2f s", f->first_write) +
                       " after the kill [bar " + Fmt("%.1f s", bar) + ": " +
                       (f->first_write <= bar ? "met" : "NOT met") + "]");
      Check(f->first_write > 0 && f->lease_taken > 0, "failover figures measured");
    }
  }

  if (phases.count("memory")) {
    StatusOr<Memory> m = MeasureMemory(o, n);
    if (!m.ok()) {
      fail("memory", m.status());
    } else {
      report.push_back(
          "5a. memory (operator RSS, N=" + std::to_string(n) + "): idle " + Mb(m->idle_rss) +
          "; per cached Service (not handled) " + Fmt("%.0f B", m->per_cached) +
          "; per handled Service " + Fmt("%.0f B", m->per_handled) + ", of which beyond the " +
          "cache (allocation, status) " + Fmt("%.0f B", m->per_handled - m->per_cached) +
          "; peak RSS " + Mb(m->peak_rss) + " [engine bar per allocation < 150 B: see ipam_bench]");
      Check(m->idle_rss > 0 && m->per_handled > 0, "memory figures measured");
    }
  }

  std::printf("\n== lballoc end-to-end figures\n");
  for (const std::string& line : report) std::printf("%s\n", line.c_str());
  std::printf("logs: %s\n", o.work_dir.c_str());
  if (!FLAGS_keep && g_failures == 0) {
    std::string cmd = "rm -rf '" + o.work_dir + "'";
    if (std::system(cmd.c_str()) != 0) std::printf("could not remove %s\n", o.work_dir.c_str());
  }
  if (g_failures > 0) {
    std::printf("%d failure(s)\n", g_failures);
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace lballoc::bench

int main(int argc, char** argv) {
  gflags::SetUsageMessage("end-to-end benchmark of lballoc-operator against lballoc-apiserver");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  signal(SIGPIPE, SIG_IGN);
  // The ceiling's client is configured as the operator's is: same library, same pool.
  if (lballoc::Status s =
          lballoc::runtime::SetHttpThreadPoolSize(lballoc::runtime::kHttpThreadPoolSize);
      !s.ok()) {
    std::fprintf(stderr, "lballoc-e2e-bench: %s\n", s.ToString().c_str());
    return 2;
  }
  if (FLAGS_smoke) {
    // Small unless given: a smoke test of the harness, seconds long.
    auto small = [](const char* flag, const char* value) {
      gflags::CommandLineFlagInfo info;
      if (gflags::GetCommandLineFlagInfo(flag, &info) && info.is_default) {
        gflags::SetCommandLineOption(flag, value);
      }
    };
    small("services", "300");
    small("startup_services", "500");
    small("startup_pools", "10");
    small("latency_seconds", "1");
    small("lease_duration_ms", "3000");
    small("renew_deadline_ms", "2000");
    small("retry_period_ms", "500");
  }
  return lballoc::bench::Main();
}
