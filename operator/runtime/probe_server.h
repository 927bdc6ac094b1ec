// HealthChecks: named checks behind /healthz and /readyz, answered the way controller-runtime's
// healthz package does:
//   GET /readyz               200 "ok" when every check passes, else 500 listing failures
//   GET /readyz?verbose       one line per check: "[+]name ok" / "[-]name failed: reason"
//   GET /readyz?exclude=name  skips that check (repeatable)
//   GET /readyz/<name>        that check only (404 if unknown)
// With no checks registered an implicit "ping" passes.
//
// Thread-safety: AddCheck and Handle may be called concurrently.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "operator/base/mutex.h"
#include "operator/base/status.h"
#include "operator/runtime/http_server.h"

namespace lballoc::runtime {

class HealthChecks {
 public:
  using Check = std::function<Status()>;

  // `endpoint` is the path served, e.g. "/readyz".
  explicit HealthChecks(std::string endpoint) : endpoint_(std::move(endpoint)) {}

  // Replaces a check of the same name.
  void AddCheck(const std::string& name, Check check);

  // Whether `path` is this endpoint or one of its sub-paths.
  bool Serves(const std::string& path) const;
  ServedResponse Handle(const ServedRequest& request) const;

 private:
  const std::string endpoint_;
  mutable Mutex mu_;
  std::map<std::string, Check> checks_ GUARDED_BY(mu_);
};

}  // namespace lballoc::runtime
