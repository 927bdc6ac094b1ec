#include "operator/runtime/probe_server.h"

#include <set>
#include <utility>

namespace lballoc::runtime {

void HealthChecks::AddCheck(const std::string& name, Check check) {
  MutexLock lock(&mu_);
  checks_[name] = std::move(check);
}

bool HealthChecks::Serves(const std::string& path) const {
  return path == endpoint_ || path.rfind(endpoint_ + "/", 0) == 0;
}

ServedResponse HealthChecks::Handle(const ServedRequest& request) const {
  std::map<std::string, Check> checks;
  {
    MutexLock lock(&mu_);
    checks = checks_;
  }
  if (checks.empty()) checks.emplace("ping", [] { return Status(); });
  const std::string name = endpoint_.substr(1);
  if (request.path != endpoint_) {
    std::string sub = request.path.substr(endpoint_.size() + 1);
    auto it = checks.find(sub);
    if (it == checks.end()) return {404, "text/plain; charset=utf-8", "no check " + sub + "\n"};
    Status status = it->second();
    if (status.ok()) return {200, "text/plain; charset=utf-8", "ok"};
    return {500, "text/plain; charset=utf-8",
            "internal server error: " + sub + " failed: " + status.message() + "\n"};
  }
  std::set<std::string> excluded;
  for (auto [it, end] = request.query.equal_range("exclude"); it != end; ++it) {
    excluded.insert(it->second);
  }
  bool verbose = request.query.count("verbose") > 0;
  bool failed = false;
  std::string details;
  for (const auto& [check_name, check] : checks) {
    if (excluded.count(check_name) > 0) {
      details += "[+]" + check_name + " excluded: ok\n";
      continue;
    }
    Status status = check();
    if (status.ok()) {
      details += "[+]" + check_name + " ok\n";
    } else {
      failed = true;
      // The reason goes out: these endpoints are for the operator's own probes and humans.
      details += "[-]" + check_name + " failed: " + status.message() + "\n";
    }
  }
  if (failed) {
    return {500, "text/plain; charset=utf-8", details + name + " check failed\n"};
  }
  if (verbose) return {200, "text/plain; charset=utf-8", details + name + " check passed\n"};
  return {200, "text/plain; charset=utf-8", "ok"};
}

}  // namespace lballoc::runtime
