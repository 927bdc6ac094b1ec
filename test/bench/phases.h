// The five measurements of lballoc-e2e-bench (e2e_bench.cc says what each one means). Each starts
// its own lballoc-apiserver (and operators) in Options::work_dir and stops them when done, except
// MeasureThroughput, which hands its running server and operator to MeasureLatency.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "operator/base/statusor.h"
#include "test/bench/harness.h"

namespace lballoc::bench {

struct Options {
  std::string apiserver;
  std::string operator_binary;
  std::string kubectl;
  std::string source_dir;
  std::string work_dir;
  int workers = 4;
  int lease_duration_ms = 15000;
  int renew_deadline_ms = 10000;
  int retry_period_ms = 2000;
  // Start-up is also measured with these operator binaries (comma-separated; same-run
  // baselines), when set.
  std::string compare_binary;
};

// A server with a CRD, a pool and one operator (leader), kept for the next phase.
struct Running {
  ApiServerProcess server;
  std::unique_ptr<Process> op;
  ~Running();
};

// Status writes per second: `n` Services, then one merge-patch of /status each from
// options.workers threads sharing one runtime::RestClient.
StatusOr<double> MeasureCeiling(const Options& o, int n);

struct Throughput {
  double per_second = 0;          // n / seconds
  double seconds = 0;             // controllers started -> last address seen
  double seconds_from_start = 0;  // process start -> last address seen
  WriteCounts writes;             // while allocating (and 3 s after, for Events and pools)
  std::shared_ptr<Running> running;
};
StatusOr<Throughput> MeasureThroughput(const Options& o, int n);

struct Latency {
  int count = 0;
  double achieved_rate = 0;
  double p50 = 0, p99 = 0, max = 0;  // seconds
};
StatusOr<Latency> MeasureLatency(const Options& o, Running& running, double rate, double seconds);

// One operator started on the allocated state.
struct Restart {
  std::string binary;
  // Seconds from process start.
  double synced = 0, rebuilt = 0, first_reconcile = 0, all_reconciled = 0;
  int64_t peak_rss = 0;
  WriteCounts writes;  // from its start until every Service was reconciled (and 2 s more)
};
struct Startup {
  // The operator under test, then (with Options::compare_binary) the other binary on the same
  // state, in the same run.
  std::vector<Restart> restarts;
  double first_throughput = 0;  // the first operator's allocation rate (Services/s)
};
StatusOr<Startup> MeasureStartup(const Options& o, int services, int pools);

struct Failover {
  double lease_taken = 0;  // seconds from the kill
  double first_write = 0;
};
StatusOr<Failover> MeasureFailover(const Options& o);

struct Memory {
  int64_t idle_rss = 0;
  int64_t peak_rss = 0;
  double per_cached = 0;   // bytes of RSS per Service the operator caches but does not handle
  double per_handled = 0;  // bytes of RSS per handled, allocated Service
};
StatusOr<Memory> MeasureMemory(const Options& o, int n);

}  // namespace lballoc::bench
