// Building blocks of the end-to-end benchmark (e2e_bench.cc): child processes (lballoc-apiserver,
// lballoc-operator) with their logs and memory, Services created in bulk over keep-alive HTTP,
// a watch that records when each Service first shows an address, the operator's log milestones
// and the API server's request log as write counters.
//
// Times are std::chrono::steady_clock points; glog's wall-clock timestamps are converted to it
// through one (steady, wall) pair taken when the harness starts.
//
// Thread-safety: AllocationWatch is safe to read from any thread while it runs; the rest is used
// from the harness's main thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "operator/base/status.h"
#include "operator/base/status_macros.h"
#include "operator/base/statusor.h"

namespace lballoc::bench {

using Steady = std::chrono::steady_clock;
using TimePoint = Steady::time_point;

double Seconds(Steady::duration d);
// A glog line's timestamp ("I1201 00:31:22.123456 ...") on the steady clock; nullopt when the
// line does not start with one.
std::optional<TimePoint> GlogTime(const std::string& line);

// A child process; stdout and stderr go to `log_path` (stdout to a pipe with `pipe_stdout`).
class Process {
 public:
  static StatusOr<std::unique_ptr<Process>> Spawn(const std::vector<std::string>& argv,
                                                  const std::map<std::string, std::string>& env,
                                                  const std::string& log_path, bool pipe_stdout);
  ~Process();  // SIGKILL if still running
  pid_t pid() const { return pid_; }
  TimePoint started() const { return started_; }
  const std::string& log_path() const { return log_path_; }
  // One line of the piped stdout ("" on timeout or end).
  std::string ReadLine(std::chrono::milliseconds timeout);
  void Signal(int sig);
  // Waits for the exit; false on timeout.
  bool Wait(std::chrono::milliseconds timeout);
  bool Running();
  // From /proc/PID/status, in bytes: current and peak resident set size (0 when gone).
  int64_t RssBytes() const;
  int64_t PeakRssBytes() const;
  // The log from byte `offset` on.
  std::string Log(size_t offset = 0) const;
  size_t LogSize() const;

 private:
  Process() = default;
  pid_t pid_ = -1;
  bool exited_ = false;
  int stdout_fd_ = -1;
  std::string pending_;
  std::string log_path_;
  TimePoint started_;
};

// Polls `log` of `p` from `offset` for a line containing `needle`; the line's glog time.
StatusOr<TimePoint> WaitForLogLine(const Process& p, const std::string& needle,
                                   std::chrono::milliseconds timeout, size_t offset = 0);
// The first integer after `prefix` in the log (e.g. "serving /metrics on port "), waiting.
StatusOr<int> WaitForLogNumber(const Process& p, const std::string& prefix,
                               std::chrono::milliseconds timeout);

// A lballoc-apiserver process with request logging (the write counters) and a kubeconfig.
struct ApiServerProcess {
  std::unique_ptr<Process> process;
  std::string url;
  std::string kubeconfig;
};
StatusOr<ApiServerProcess> StartApiServer(const std::string& binary, const std::string& dir,
                                          const std::string& name);
// kubectl apply -k crds/, then waits until the LoadBalancerPool resource is served.
Status InstallCrds(const ApiServerProcess& server, const std::string& kubectl,
                   const std::string& source_dir);

// Counts of the requests in an API server's request log (--log-requests), from a byte offset.
struct WriteCounts {
  int64_t service_status = 0;         // PATCH/PUT services/NAME/status answered 2xx
  int64_t service_status_failed = 0;  // the same answered otherwise (409 conflicts, ...)
  int64_t service_other = 0;          // other Service writes (POST, PUT, PATCH, DELETE)
  int64_t pool_status = 0;            // loadbalancerpools/NAME/status writes
  int64_t events = 0;                 // Event writes
  int64_t leases = 0;                 // Lease writes
};
WriteCounts CountWrites(const std::string& log);

// The Prometheus sample of `name` whose labels contain every `label` (k="v"); 0 when absent.
double MetricValue(const std::string& exposition, const std::string& name,
                   const std::vector<std::string>& labels = {});
StatusOr<std::string> Scrape(int port);

// Service bodies and bulk creation. Each Service names its cluster IP: 10.96.4.0 +
// cluster_ip_offset + index, in lballoc-apiserver's 10.96.0.0/12. The server's dynamic
// allocation scans from the bottom of the range on every create (test/apiserver's
// ServiceIpAllocator::AllocateNextIp), which makes 100,000 creates quadratic; a named address is a
// lookup.
struct ServiceSpec {
  std::string ns = "default";
  std::string prefix = "svc-";      // names are prefix + index
  std::string load_balancer_class;  // "" for none (the default class)
  int cluster_ip_offset = 0;        // distinct per prefix sharing a server
};
std::string ServiceJson(const ServiceSpec& spec, int index);
// Creates Services index [first, first+count) with `threads` keep-alive connections. Returns the
// resourceVersion each create answered (by index - first).
StatusOr<std::vector<std::string>> CreateServices(const std::string& url, const ServiceSpec& spec,
                                                  int first, int count, int threads);
// POSTs one object (JSON) to `path`; OK on 201.
Status Post(const std::string& url, const std::string& path, const std::string& body);
// The current resourceVersion of the Services collection (a LIST with limit=1).
StatusOr<std::string> ListResourceVersion(const std::string& url);

// Watches Services named prefix + [0, count) in `ns` from `resource_version` and records when
// each first shows a status.loadBalancer.ingress entry.
class AllocationWatch {
 public:
  AllocationWatch(std::string url, std::string ns, std::string prefix, int count);
  ~AllocationWatch();
  Status Start(const std::string& resource_version);
  // Waits until every Service shows an address; false on timeout.
  bool WaitAll(std::chrono::milliseconds timeout);
  // Waits until Service `index` shows an address; its time, or nullopt on timeout.
  std::optional<TimePoint> WaitOne(int index, std::chrono::milliseconds timeout);
  int allocated() const { return allocated_.load(); }
  // Times by index (TimePoint{} for those not seen).
  std::vector<TimePoint> times() const;
  TimePoint last() const;

 private:
  void Run(std::string path);

  const std::string url_;
  const std::string ns_;
  const std::string prefix_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<TimePoint> times_;
  std::atomic<int> allocated_{0};
  std::atomic<bool> stop_{false};
  std::string error_;
  std::thread thread_;
};

}  // namespace lballoc::bench
