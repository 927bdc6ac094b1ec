#include "test/bench/harness.h"

#include <fcntl.h>
#include <poll.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <utility>

#include "test/apiserver/test_client.h"

extern char** environ;

namespace lballoc::bench {
namespace {

using apiserver::TestClient;
using apiserver::WatchStream;

// The (steady, wall) pair glog's timestamps are converted through.
struct Anchor {
  TimePoint steady = Steady::now();
  std::chrono::system_clock::time_point wall = std::chrono::system_clock::now();
};
const Anchor& TheAnchor() {
  static const Anchor anchor;
  return anchor;
}
[[maybe_unused]] const Anchor& kTakeAnchorAtStart = TheAnchor();

void SleepMs(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

std::string ReadFileFrom(const std::string& path, size_t offset) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return "";
  f.seekg(static_cast<std::streamoff>(offset));
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The value of a "Name:   123 kB" line of /proc/PID/status, in bytes.
int64_t ProcStatusBytes(pid_t pid, const char* field) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  size_t n = std::strlen(field);
  while (std::getline(f, line)) {
    if (line.compare(0, n, field) == 0 && line.size() > n && line[n] == ':') {
      return std::atoll(line.c_str() + n + 1) * 1024;
    }
  }
  return 0;
}

}  // namespace

double Seconds(Steady::duration d) { return std::chrono::duration<double>(d).count(); }

std::optional<TimePoint> GlogTime(const std::string& line) {
  // "I1201 00:31:22.123456" (glog's format) or "I20261201 00:31:22.123456" (Debian's 0.6
  // writes the year), local time.
  int year = 0, mon, day, h, m, s, us;
  char sev;
  size_t digits = line.find(' ');
  if (digits == 9 && std::sscanf(line.c_str(), "%c%4d%2d%2d %d:%d:%d.%6d", &sev, &year, &mon, &day,
                                 &h, &m, &s, &us) != 8) {
    return std::nullopt;
  }
  if (digits == 5 &&
      std::sscanf(line.c_str(), "%c%2d%2d %d:%d:%d.%6d", &sev, &mon, &day, &h, &m, &s, &us) != 7) {
    return std::nullopt;
  }
  if (digits != 5 && digits != 9) return std::nullopt;
  if (sev != 'I' && sev != 'W' && sev != 'E' && sev != 'F') return std::nullopt;
  const Anchor& a = TheAnchor();
  std::time_t now = std::chrono::system_clock::to_time_t(a.wall);
  std::tm tm{};
  localtime_r(&now, &tm);
  if (year > 0) tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = h;
  tm.tm_min = m;
  tm.tm_sec = s;
  tm.tm_isdst = -1;
  auto wall =
      std::chrono::system_clock::from_time_t(std::mktime(&tm)) + std::chrono::microseconds(us);
  return a.steady + std::chrono::duration_cast<Steady::duration>(wall - a.wall);
}

// ---------------------------------------------------------------- Process

StatusOr<std::unique_ptr<Process>> Process::Spawn(const std::vector<std::string>& argv,
                                                  const std::map<std::string, std::string>& env,
                                                  const std::string& log_path, bool pipe_stdout) {
  // Everything the child needs is built before fork (only async-signal-safe calls after it).
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv = *e;
    std::string key = kv.substr(0, kv.find('='));
    if (env.count(key) == 0) env_strings.push_back(kv);
  }
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> cargv;
  for (std::string& s : args) cargv.push_back(s.data());
  cargv.push_back(nullptr);

  int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) return InternalError("cannot open " + log_path);
  int pipe_fds[2] = {-1, -1};
  if (pipe_stdout && ::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    ::close(log_fd);
    return InternalError("pipe failed");
  }
  std::unique_ptr<Process> p(new Process());
  p->log_path_ = log_path;
  p->started_ = Steady::now();
  pid_t pid = ::fork();
  if (pid < 0) return InternalError("fork failed");
  if (pid == 0) {
    ::dup2(pipe_stdout ? pipe_fds[1] : log_fd, 1);
    ::dup2(log_fd, 2);
    ::execve(cargv[0], cargv.data(), envp.data());
    ::_exit(127);
  }
  ::close(log_fd);
  if (pipe_stdout) {
    ::close(pipe_fds[1]);
    p->stdout_fd_ = pipe_fds[0];
  }
  p->pid_ = pid;
  return p;
}

Process::~Process() {
  if (Running()) {
    Signal(SIGKILL);
    Wait(std::chrono::seconds(10));
  }
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
}

std::string Process::ReadLine(std::chrono::milliseconds timeout) {
  TimePoint deadline = Steady::now() + timeout;
  while (true) {
    size_t nl = pending_.find('\n');
    if (nl != std::string::npos) {
      std::string line = pending_.substr(0, nl);
      pending_.erase(0, nl + 1);
      return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Steady::now());
    if (left.count() <= 0 || stdout_fd_ < 0) return "";
    pollfd pfd{stdout_fd_, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(stdout_fd_, buf, sizeof buf);
    if (n <= 0) return "";
    pending_.append(buf, static_cast<size_t>(n));
  }
}

void Process::Signal(int sig) {
  if (!exited_) ::kill(pid_, sig);
}

bool Process::Wait(std::chrono::milliseconds timeout) {
  TimePoint deadline = Steady::now() + timeout;
  while (!exited_) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || r < 0) {
      exited_ = true;
      break;
    }
    if (Steady::now() >= deadline) return false;
    SleepMs(10);
  }
  return true;
}

bool Process::Running() { return !Wait(std::chrono::milliseconds(0)); }

int64_t Process::RssBytes() const { return exited_ ? 0 : ProcStatusBytes(pid_, "VmRSS"); }
int64_t Process::PeakRssBytes() const { return exited_ ? 0 : ProcStatusBytes(pid_, "VmHWM"); }

std::string Process::Log(size_t offset) const { return ReadFileFrom(log_path_, offset); }

size_t Process::LogSize() const {
  std::ifstream f(log_path_, std::ios::binary | std::ios::ate);
  return f ? static_cast<size_t>(f.tellg()) : 0;
}

StatusOr<TimePoint> WaitForLogLine(const Process& p, const std::string& needle,
                                   std::chrono::milliseconds timeout, size_t offset) {
  TimePoint deadline = Steady::now() + timeout;
  while (true) {
    std::string log = p.Log(offset);
    size_t at = log.find(needle);
    if (at != std::string::npos) {
      size_t begin = log.rfind('\n', at);
      begin = begin == std::string::npos ? 0 : begin + 1;
      std::optional<TimePoint> t = GlogTime(log.substr(begin, at - begin));
      if (!t) return InternalError("no glog timestamp on the line of \"" + needle + "\"");
      return *t;
    }
    if (Steady::now() >= deadline) {
      return DeadlineExceededError("no log line \"" + needle + "\" in " + p.log_path());
    }
    SleepMs(20);
  }
}

StatusOr<int> WaitForLogNumber(const Process& p, const std::string& prefix,
                               std::chrono::milliseconds timeout) {
  LB_ASSIGN_OR_RETURN(TimePoint unused, WaitForLogLine(p, prefix, timeout));
  (void)unused;
  std::string log = p.Log();
  return std::atoi(log.c_str() + log.find(prefix) + prefix.size());
}

// ---------------------------------------------------------------- API server

StatusOr<ApiServerProcess> StartApiServer(const std::string& binary, const std::string& dir,
                                          const std::string& name) {
  ApiServerProcess s;
  s.kubeconfig = dir + "/" + name + ".kubeconfig";
  // --log-requests: the request log is the write counter (CountWrites). A watch window large
  // enough that no watcher of a 100,000-Service run falls out of it.
  LB_ASSIGN_OR_RETURN(s.process,
                      Process::Spawn({binary, "--port=0", "--kubeconfig-out=" + s.kubeconfig,
                                      "--log-requests", "--watch-window=250000"},
                                     {}, dir + "/" + name + ".log", /*pipe_stdout=*/true));
  std::string line = s.process->ReadLine(std::chrono::seconds(60));
  if (line.rfind("listening on ", 0) != 0) {
    return InternalError(binary + " did not start: \"" + line + "\"");
  }
  s.url = line.substr(line.rfind(' ') + 1);
  return s;
}

Status InstallCrds(const ApiServerProcess& server, const std::string& kubectl,
                   const std::string& source_dir) {
  std::string cmd = kubectl + " --kubeconfig=" + server.kubeconfig + " apply -k " + source_dir +
                    "/crds >/dev/null";
  if (std::system(cmd.c_str()) != 0) return InternalError("failed: " + cmd);
  TestClient c(server.url);
  for (int i = 0; i < 500; ++i) {
    auto r = c.Get("/apis/lballoc.io/v1alpha1/loadbalancerpools");
    if (r.ok() && r->code == 200) return Status();
    SleepMs(20);
  }
  return DeadlineExceededError("the LoadBalancerPool CRD is not served");
}

WriteCounts CountWrites(const std::string& log) {
  WriteCounts c;
  std::istringstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    // "METHOD target -> code (Nms)"
    size_t sp = line.find(' ');
    size_t arrow = line.find(" -> ");
    if (sp == std::string::npos || arrow == std::string::npos) continue;
    std::string method = line.substr(0, sp);
    if (method != "POST" && method != "PUT" && method != "PATCH" && method != "DELETE") continue;
    std::string path = line.substr(sp + 1, arrow - sp - 1);
    path = path.substr(0, path.find('?'));
    int code = std::atoi(line.c_str() + arrow + 4);
    bool ok = code >= 200 && code < 300;
    bool status = path.size() > 7 && path.compare(path.size() - 7, 7, "/status") == 0;
    if (path.find("/services") != std::string::npos) {
      if (status && (method == "PATCH" || method == "PUT")) {
        (ok ? c.service_status : c.service_status_failed)++;
      } else if (ok) {
        c.service_other++;
      }
    } else if (path.find("/loadbalancerpools/") != std::string::npos && status && ok) {
      c.pool_status++;
    } else if (path.find("/events") != std::string::npos && ok) {
      c.events++;
    } else if (path.find("/leases") != std::string::npos && ok) {
      c.leases++;
    }
  }
  return c;
}

double MetricValue(const std::string& exposition, const std::string& name,
                   const std::vector<std::string>& labels) {
  std::istringstream in(exposition);
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, name.size(), name) != 0 || line.size() <= name.size()) continue;
    char next = line[name.size()];
    if (next != '{' && next != ' ') continue;
    bool all = true;
    for (const std::string& l : labels) all = all && line.find(l) != std::string::npos;
    if (!all) continue;
    return std::atof(line.c_str() + line.rfind(' ') + 1);
  }
  return 0;
}

StatusOr<std::string> Scrape(int port) {
  TestClient c("http://127.0.0.1:" + std::to_string(port));
  LB_ASSIGN_OR_RETURN(apiserver::ClientResponse r, c.Get("/metrics"));
  if (r.code != 200) return InternalError("/metrics answered " + std::to_string(r.code));
  return r.body;
}

// ---------------------------------------------------------------- Services

std::string ServiceJson(const ServiceSpec& spec, int index) {
  std::string cls = spec.load_balancer_class.empty()
                        ? ""
                        : R"(,"loadBalancerClass":")" + spec.load_balancer_class + "\"";
  const uint32_t ip =
      (10u << 24 | 96u << 16 | 4u << 8) + static_cast<uint32_t>(spec.cluster_ip_offset + index);
  const std::string cluster_ip = std::to_string(ip >> 24) + "." + std::to_string((ip >> 16) & 255) +
                                 "." + std::to_string((ip >> 8) & 255) + "." +
                                 std::to_string(ip & 255);
  return R"({"apiVersion":"v1","kind":"Service","metadata":{"name":")" + spec.prefix +
         std::to_string(index) + R"(","namespace":")" + spec.ns +
         R"(","labels":{"app":"bench"}},"spec":{"type":"LoadBalancer","allocateLoadBalancerNodePorts":false,)"
         R"("clusterIP":")" +
         cluster_ip +
         R"(","selector":{"app":"bench"},)"
         R"("ports":[{"name":"http","port":80,"protocol":"TCP"}])" +
         cls + "}}";
}

StatusOr<std::vector<std::string>> CreateServices(const std::string& url, const ServiceSpec& spec,
                                                  int first, int count, int threads) {
  std::vector<std::string> versions(static_cast<size_t>(count));
  std::mutex mu;
  std::string error;
  std::vector<std::thread> workers;
  const std::string path = "/api/v1/namespaces/" + spec.ns + "/services";
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      TestClient c(url);
      c.set_keep_alive(true);
      for (int i = t; i < count; i += threads) {
        auto r = c.Request("POST", path, ServiceJson(spec, first + i));
        if (!r.ok() || r->code != 201) {
          std::lock_guard<std::mutex> lock(mu);
          error = "create " + spec.prefix + std::to_string(first + i) + ": " +
                  (r.ok() ? std::to_string(r->code) + " " + r->body : r.status().ToString());
          return;
        }
        static const std::string kKey = R"("resourceVersion":")";
        size_t at = r->body.find(kKey);
        if (at != std::string::npos) {
          at += kKey.size();
          versions[static_cast<size_t>(i)] = r->body.substr(at, r->body.find('"', at) - at);
        }
      }
    });
  }
  for (std::thread& w : workers) w.join();
  if (!error.empty()) return InternalError(error);
  return versions;
}

Status Post(const std::string& url, const std::string& path, const std::string& body) {
  TestClient c(url);
  LB_ASSIGN_OR_RETURN(apiserver::ClientResponse r, c.Request("POST", path, body));
  if (r.code != 201) return InternalError("POST " + path + ": " + std::to_string(r.code) + r.body);
  return Status();
}

StatusOr<std::string> ListResourceVersion(const std::string& url) {
  TestClient c(url);
  LB_ASSIGN_OR_RETURN(apiserver::ClientResponse r, c.Get("/api/v1/services?limit=1"));
  rapidjson::Document d = r.Json();
  if (r.code != 200 || !d.IsObject() || !d.HasMember("metadata")) {
    return InternalError("list services: " + std::to_string(r.code));
  }
  return std::string(d["metadata"]["resourceVersion"].GetString());
}

// ---------------------------------------------------------------- AllocationWatch

AllocationWatch::AllocationWatch(std::string url, std::string ns, std::string prefix, int count)
    : url_(std::move(url)),
      ns_(std::move(ns)),
      prefix_(std::move(prefix)),
      times_(static_cast<size_t>(count)) {}

AllocationWatch::~AllocationWatch() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

Status AllocationWatch::Start(const std::string& resource_version) {
  thread_ = std::thread([this, resource_version] { Run(resource_version); });
  return Status();
}

void AllocationWatch::Run(std::string rv) {
  while (!stop_) {
    std::string path = "/api/v1/namespaces/" + ns_ +
                       "/services?watch=1&allowWatchBookmarks=true&resourceVersion=" + rv;
    auto w = WatchStream::Open(url_, path);
    if (!w.ok() || (*w)->code() != 200) {
      SleepMs(50);  // the server may be restarting a watch; try again from the same version
      continue;
    }
    while (!stop_) {
      std::optional<std::string> line = (*w)->Next(std::chrono::milliseconds(200));
      if (!line) {
        if ((*w)->ended() || (*w)->dropped()) break;
        continue;
      }
      TimePoint now = Steady::now();
      rapidjson::Document d;
      d.Parse(line->data(), line->size());
      if (!d.IsObject() || !d.HasMember("object") || !d["object"].IsObject()) continue;
      const rapidjson::Value& obj = d["object"];
      if (!obj.HasMember("metadata")) continue;
      const rapidjson::Value& meta = obj["metadata"];
      if (meta.HasMember("resourceVersion")) rv = meta["resourceVersion"].GetString();
      if (!meta.HasMember("name")) continue;
      std::string name = meta["name"].GetString();
      if (name.compare(0, prefix_.size(), prefix_) != 0) continue;
      int index = std::atoi(name.c_str() + prefix_.size());
      if (index < 0 || static_cast<size_t>(index) >= times_.size()) continue;
      if (!obj.HasMember("status") || !obj["status"].HasMember("loadBalancer")) continue;
      const rapidjson::Value& lb = obj["status"]["loadBalancer"];
      if (!lb.HasMember("ingress") || !lb["ingress"].IsArray() || lb["ingress"].Empty()) continue;
      std::lock_guard<std::mutex> lock(mu_);
      if (times_[static_cast<size_t>(index)] == TimePoint{}) {
        times_[static_cast<size_t>(index)] = now;
        allocated_++;
        cv_.notify_all();
      }
    }
  }
}

bool AllocationWatch::WaitAll(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout,
                      [&] { return static_cast<size_t>(allocated_.load()) == times_.size(); });
}

std::optional<TimePoint> AllocationWatch::WaitOne(int index, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_for(lock, timeout,
                    [&] { return times_[static_cast<size_t>(index)] != TimePoint{}; })) {
    return std::nullopt;
  }
  return times_[static_cast<size_t>(index)];
}

std::vector<TimePoint> AllocationWatch::times() const {
  std::lock_guard<std::mutex> lock(mu_);
  return times_;
}

TimePoint AllocationWatch::last() const {
  std::lock_guard<std::mutex> lock(mu_);
  TimePoint last{};
  for (TimePoint t : times_) last = std::max(last, t);
  return last;
}

}  // namespace lballoc::bench
