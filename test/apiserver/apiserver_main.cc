// lballoc-apiserver: the in-memory Kubernetes API server as a process, for `make demo` and e2e
// tests. Prints "listening on URL" as its first line of standard output once it serves, and runs
// until SIGTERM or SIGINT; SIGUSR1 turns fault injection off (the chaos test's quiet end). On
// exit it prints how many faults it injected (409/429/500 answers and forced 410s) to stderr.
//
//   lballoc-apiserver --port=0 --kubeconfig-out=/tmp/kubeconfig [--tls-self-signed] [--token=T]
//
// --audit-log=FILE writes every committed write as one JSON line, in commit order, from the
// server's audit hook: {"stageTimestamp", "rv", "verb", "group", "resource", "subresource",
// "namespace", "name", "user", "userAgent", "object"} with the object as stored after the write
// (null once deleted). With --token-auth-file (kube-apiserver's format, "token,user[,uid[,groups]]"
// per line) each client can carry its own token, and "user" says who wrote; the chaos test
// (test/e2e/test_chaos.py) checks its invariants on every line.
#include <gflags/gflags.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
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
DEFINE_string(
    token_auth_file, "",
    "more full-access bearer tokens with their user names, one 'token,user' per line "
    "(kube-apiserver's format: further fields are ignored); the user reaches --audit-log");
DEFINE_string(audit_log, "", "write every committed write to this file, one JSON line each");
DEFINE_bool(log_requests, false, "log every request to stderr: METHOD target -> code (ms)");

namespace {

volatile sig_atomic_t g_stop = 0;
volatile sig_atomic_t g_quiet = 0;
void OnSignal(int) { g_stop = 1; }
void OnQuiet(int) { g_quiet = 1; }

bool ReadFile(const std::string& path, std::string& out) {
  std::ifstream f(path);
  if (!f) return false;
  std::stringstream ss;
  ss << f.rdbuf();
  out = ss.str();
  return true;
}

// kube-apiserver's static token file: token,user,uid,"group1,group2" (uid and groups optional).
bool ReadTokenFile(const std::string& path, std::map<std::string, std::string>& out) {
  std::string text;
  if (!ReadFile(path, text)) return false;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t c1 = line.find(',');
    if (c1 == std::string::npos || c1 == 0) return false;
    size_t c2 = line.find(',', c1 + 1);
    std::string user = line.substr(c1 + 1, c2 == std::string::npos ? c2 : c2 - c1 - 1);
    if (user.empty()) return false;
    out[line.substr(0, c1)] = user;
  }
  return true;
}

// One line of --audit-log.
std::string AuditLine(const lballoc::apiserver::AuditEvent& ev) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  auto str = [&w](const char* key, const std::string& value) {
    w.Key(key);
    w.String(value.c_str(), static_cast<rapidjson::SizeType>(value.size()));
  };
  // When the write committed (kube-apiserver's audit stageTimestamp, microseconds, UTC).
  auto now = std::chrono::system_clock::now();
  std::time_t secs = std::chrono::system_clock::to_time_t(now);
  long micros = static_cast<long>(
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() %
      1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[128];  // room for any int in each field: g++ -Wformat-truncation checks that
  std::snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, micros);
  str("stageTimestamp", stamp);
  str("rv", ev.resource_version);
  str("verb", ev.verb);
  str("group", ev.group);
  str("resource", ev.resource);
  str("subresource", ev.subresource);
  str("namespace", ev.namespace_);
  str("name", ev.name);
  str("user", ev.user);
  str("userAgent", ev.user_agent);
  w.Key("object");
  if (ev.new_object != nullptr) {
    ev.new_object->Accept(w);
  } else {
    w.Null();
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize()) + "\n";
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
  if (!FLAGS_token_auth_file.empty() && !ReadTokenFile(FLAGS_token_auth_file, opts.user_tokens)) {
    std::cerr << "cannot read --token-auth-file " << FLAGS_token_auth_file
              << " (lines: token,user[,uid[,groups]])\n";
    return 2;
  }
  std::FILE* audit_log = nullptr;
  if (!FLAGS_audit_log.empty()) {
    audit_log = std::fopen(FLAGS_audit_log.c_str(), "w");
    if (audit_log == nullptr) {
      std::cerr << "cannot write --audit-log " << FLAGS_audit_log << "\n";
      return 2;
    }
  }

  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);
  signal(SIGUSR1, OnQuiet);
  auto server = ApiServer::Start(opts);
  if (!server.ok()) {
    std::cerr << "lballoc-apiserver: " << server.status() << "\n";
    return 1;
  }
  if (audit_log != nullptr) {
    // Checks run under the server's lock, one at a time and in commit order; flushed per line
    // so that a reader sees each write as soon as it commits.
    (*server)->AddAuditCheck("audit-log", [audit_log](const lballoc::apiserver::AuditEvent& ev) {
      std::string line = AuditLine(ev);
      std::fwrite(line.data(), 1, line.size(), audit_log);
      std::fflush(audit_log);
      return lballoc::Status();
    });
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
    if (g_quiet) {
      g_quiet = 0;
      (*server)->faults().Configure(lballoc::apiserver::FaultConfig{});
      std::fprintf(stderr, "lballoc-apiserver: SIGUSR1: fault injection off\n");
    }
  }
  std::fprintf(stderr, "lballoc-apiserver: %lld faults injected\n",
               static_cast<long long>((*server)->faults().injected()));
  (*server)->Stop();
  if (audit_log != nullptr) std::fclose(audit_log);
  return 0;
}
