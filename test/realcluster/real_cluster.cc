// RealCluster: see real_cluster.h.
#include "test/realcluster/real_cluster.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#ifndef LBALLOC_REALCLUSTER_BIN
#error \
    "LBALLOC_REALCLUSTER_BIN (the default binary directory) is set by test/realcluster/CMakeLists.txt"
#endif

namespace lballoc::testing {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string Errno(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// Waits for `pid` until `deadline`; true (and `*code` set) once it has exited.
bool WaitUntil(pid_t pid, std::chrono::steady_clock::time_point deadline, int* code) {
  while (true) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      *code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return true;
    }
    if (r < 0 && errno != EINTR) {
      *code = -1;
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
    // The launcher's exit is only observable by polling waitpid (no pidfd in glibc 2.36's API).
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

std::string RealCluster::DefaultBinDir() {
  if (const char* env = getenv("LBALLOC_REALCLUSTER_BIN"); env != nullptr && *env != '\0') {
    return env;
  }
  return LBALLOC_REALCLUSTER_BIN;
}

bool RealCluster::Available(const std::string& bin_dir) {
  for (const char* b : {"lballoc-realcluster", "etcd", "kube-apiserver", "kubectl"}) {
    if (access((bin_dir + "/" + b).c_str(), X_OK) != 0) return false;
  }
  return true;
}

StatusOr<std::unique_ptr<RealCluster>> RealCluster::Start(const Options& options) {
  std::unique_ptr<RealCluster> c(new RealCluster());
  c->bin_dir_ = options.bin_dir.empty() ? DefaultBinDir() : options.bin_dir;
  if (!Available(c->bin_dir_)) {
    return FailedPreconditionError("the real control plane is not built in " + c->bin_dir_ +
                                   " (make realcluster)");
  }
  char tmpl[] = "/tmp/lballoc-realcluster-client-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return InternalError(Errno("mkdtemp"));
  c->work_dir_ = tmpl;
  c->kubeconfig_ = c->work_dir_ + "/kubeconfig";
  c->ca_path_ = c->work_dir_ + "/ca.crt";
  const std::string log = c->work_dir_ + "/launcher.log";

  std::vector<std::string> args = {c->bin_dir_ + "/lballoc-realcluster", "--port=0",
                                   "--kubeconfig-out=" + c->kubeconfig_, "--ca-out=" + c->ca_path_};
  if (!options.data_dir.empty()) args.push_back("--data-dir=" + options.data_dir);
  if (!options.token.empty()) args.push_back("--token=" + options.token);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return InternalError(Errno("pipe2"));
  int err_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (err_fd < 0) {
    close(out[0]);
    close(out[1]);
    return InternalError(Errno("open launcher log"));
  }
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    close(out[0]);
    close(out[1]);
    close(err_fd);
    return InternalError(Errno("fork"));
  }
  if (pid == 0) {
    // If the test binary dies without stopping the cluster, the launcher gets SIGTERM and still
    // stops both servers and removes their data.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);
    dup2(out[1], STDOUT_FILENO);
    dup2(err_fd, STDERR_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  close(err_fd);
  c->pid_ = pid;

  // The first line of stdout is `listening on URL`, written once /readyz is ok.
  std::string line;
  auto deadline = std::chrono::steady_clock::now() + options.start_timeout;
  bool eof = false;
  while (line.find('\n') == std::string::npos && !eof) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{out[0], POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    char buf[512];
    ssize_t n = read(out[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      eof = true;
    } else {
      line.append(buf, static_cast<size_t>(n));
    }
  }
  close(out[0]);
  const std::string prefix = "listening on ";
  size_t nl = line.find('\n');
  if (nl == std::string::npos || line.rfind(prefix, 0) != 0) {
    Status why = eof ? UnavailableError("lballoc-realcluster exited before it was ready")
                     : DeadlineExceededError("lballoc-realcluster not ready in time");
    (void)c->Stop();
    return Status(why.code(), why.message() + "; its stderr:\n" + ReadAll(log));
  }
  c->url_ = line.substr(prefix.size(), nl - prefix.size());
  return c;
}

std::string RealCluster::LauncherLog() const { return ReadAll(work_dir_ + "/launcher.log"); }

Status RealCluster::Stop() {
  if (pid_ <= 0) return Status::Ok();
  pid_t pid = pid_;
  pid_ = -1;
  kill(pid, SIGTERM);
  int code = 0;
  if (!WaitUntil(pid, std::chrono::steady_clock::now() + std::chrono::seconds(30), &code)) {
    kill(pid, SIGKILL);
    WaitUntil(pid, std::chrono::steady_clock::time_point::max(), &code);
    return DeadlineExceededError("lballoc-realcluster did not stop within 30s of SIGTERM");
  }
  if (code != 0) {
    return InternalError("lballoc-realcluster exited with code " + std::to_string(code) + ":\n" +
                         LauncherLog());
  }
  return Status::Ok();
}

RealCluster::~RealCluster() {
  (void)Stop();
  if (!work_dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(work_dir_, ec);
  }
}

}  // namespace lballoc::testing
