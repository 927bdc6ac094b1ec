// lballoc-apiserver: the in-memory Kubernetes API server as a process, for `make demo` and e2e
// tests. Prints "listening on URL" as its first line of standard output once it serves, and runs
// until SIGTERM or SIGINT.
//
//   lballoc-apiserver --port=0 --kubeconfig-out=/tmp/kubeconfig [--tls-self-signed] [--token=T]
#include <gflags/gflags.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "test/apiserver/api_server.h"

DEFINE_int32(port, 0, "port to listen on; 0 picks a free one");
DEFINE_string(bind_address, "127.0.0.1", "IPv4 address to listen on");
DEFINE_string(kubeconfig_out, "", "write a kubeconfig for this server to this path");
DEFINE_string(tls_cert, "", "PEM certificate file (with --tls-key) to serve HTTPS");
DEFINE_string(tls_key, "", "PEM private key file for --tls-cert");
DEFINE_bool(tls_self_signed, false, "serve HTTPS with a fresh self-signed certificate");
DEFINE_string(ca_out, "", "write the CA certificate clients should trust to this path");
DEFINE_string(token, "", "bearer token every request must carry (empty: no authentication)");
DEFINE_string(read_only_token, "", "a bearer token that may only read (writes get 403)");
DEFINE_int64(watch_window, 10000, "write events kept for watch resumes; older get 410 Expired");
DEFINE_int64(bookmark_interval, 60000, "milliseconds between watch BOOKMARK events");
DEFINE_string(fault_verbs, "create,update,patch,delete",
              "verbs the --fault-*-rate flags apply to (comma-separated, or *)");
DEFINE_double(fault_error_rate, 0, "share of requests answered 500 InternalError");
DEFINE_double(fault_conflict_rate, 0, "share of requests answered 409 Conflict");
DEFINE_double(fault_throttle_rate, 0, "share of requests answered 429 with Retry-After");
DEFINE_int32(fault_retry_after, 1, "Retry-After seconds on injected 429s");
DEFINE_int64(fault_latency_ms, 0, "latency added to every resource request");
DEFINE_int64(fault_watch_drop_ms, 0, "drop every watch connection after this long (0: never)");
DEFINE_double(fault_watch_expire_rate, 0, "share of watch resumes answered ERROR 410 Expired");
DEFINE_uint64(fault_seed, 1, "seed for the fault decisions");
DEFINE_bool(log_requests, false, "log every request to stderr: METHOD target -> code (ms)");

namespace {

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

bool ReadFile(const std::string& path, std::string& out) {
  std::ifstream f(path);
  if (!f) return false;
  std::stringstream ss;
  ss << f.rdbuf();
  out = ss.str();
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  gflags::SetUsageMessage("in-memory Kubernetes API server for lballoc tests");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  using lballoc::apiserver::ApiServer;
  ApiServer::Options opts;
  opts.bind_address = FLAGS_bind_address;
  opts.port = FLAGS_port;
  opts.token = FLAGS_token;
  if (!FLAGS_read_only_token.empty()) opts.read_only_tokens.push_back(FLAGS_read_only_token);
  opts.watch_window = static_cast<size_t>(FLAGS_watch_window);
  opts.bookmark_interval = std::chrono::milliseconds(FLAGS_bookmark_interval);
  if (!FLAGS_tls_cert.empty() || !FLAGS_tls_key.empty()) {
    if (!ReadFile(FLAGS_tls_cert, opts.tls_cert_pem) ||
        !ReadFile(FLAGS_tls_key, opts.tls_key_pem)) {
      std::cerr << "cannot read --tls-cert " << FLAGS_tls_cert << " or --tls-key " << FLAGS_tls_key
                << "\n";
      return 2;
    }
  }
  opts.self_signed_tls = FLAGS_tls_self_signed;
  lballoc::apiserver::VerbFaults vf;
  vf.error_rate = FLAGS_fault_error_rate;
  vf.conflict_rate = FLAGS_fault_conflict_rate;
  vf.throttle_rate = FLAGS_fault_throttle_rate;
  std::string verbs = FLAGS_fault_verbs;
  size_t start = 0;
  while (start <= verbs.size()) {
    size_t comma = verbs.find(',', start);
    std::string v =
        verbs.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!v.empty()) opts.faults.verbs[v] = vf;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  opts.faults.retry_after_seconds = FLAGS_fault_retry_after;
  opts.faults.latency = std::chrono::milliseconds(FLAGS_fault_latency_ms);
  opts.faults.watch_drop_interval = std::chrono::milliseconds(FLAGS_fault_watch_drop_ms);
  opts.faults.watch_expire_rate = FLAGS_fault_watch_expire_rate;
  opts.faults.seed = FLAGS_fault_seed;
  opts.log_requests = FLAGS_log_requests;

  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);
  auto server = ApiServer::Start(opts);
  if (!server.ok()) {
    std::cerr << "lballoc-apiserver: " << server.status() << "\n";
    return 1;
  }
  if (!FLAGS_kubeconfig_out.empty()) {
    lballoc::Status s = (*server)->WriteKubeconfig(FLAGS_kubeconfig_out);
    if (!s.ok()) {
      std::cerr << "lballoc-apiserver: " << s << "\n";
      return 1;
    }
  }
  if (!FLAGS_ca_out.empty() && !(*server)->ca_pem().empty()) {
    std::ofstream f(FLAGS_ca_out);
    f << (*server)->ca_pem();
  }
  std::printf("listening on %s\n", (*server)->url().c_str());
  std::fflush(stdout);
  while (!g_stop) {
    struct timespec ts {
      0, 100 * 1000 * 1000
    };
    nanosleep(&ts, nullptr);  // polling a signal flag; nothing else to wait on
  }
  (*server)->Stop();
  return 0;
}
