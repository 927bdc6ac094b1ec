// An in-memory Kubernetes API server that speaks the real wire protocol, for tests and demos.
//
// Serves core/v1 namespaces, services (+status), events, configmaps; coordination.k8s.io/v1
// leases; events.k8s.io/v1 events; apiextensions.k8s.io/v1 CRDs and every custom resource they
// define. Verbs get/list/watch/create/update/patch/delete/deletecollection with the semantics in
// /work/shared/reference/kubernetes-api-semantics.md §4: one global resourceVersion counter,
// a bounded event window (older watch resumes get an ERROR 410 Expired event), optimistic
// concurrency, status subresources, generation, finalizers, Status errors, Table output,
// legacy JSON discovery. Optional TLS and bearer token, fault injection, and audit checks
// that run on every committed write.
//
//   ASSERT_OK_AND_ASSIGN(auto server, ApiServer::Start({}));
//   std::string url = server->url();   // http://127.0.0.1:PORT
//   ...
//   server->Stop();
//
// Thread-safe: every public method may be called from any thread while requests are served.
#pragma once

#include <rapidjson/document.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "operator/base/status.h"
#include "operator/base/statusor.h"
#include "test/apiserver/faults.h"

namespace lballoc::apiserver {

// One committed (or proposed) write, handed to audit checks. The state lists are the state
// *after* the write.
struct AuditEvent {
  std::string verb;      // create, update, patch, delete, deletecollection
  std::string group;     // "" for core
  std::string resource;  // plural
  std::string namespace_;
  std::string name;
  std::string subresource;       // "status" for a write to /status, else ""
  std::string resource_version;  // the write's resourceVersion
  // Who sent the request: the user of its bearer token (Options::token is "admin", a
  // user_tokens entry its name; "" without authentication or for the server's own writes),
  // and its User-Agent header.
  std::string user;
  std::string user_agent;
  const rapidjson::Value* old_object = nullptr;  // null on create
  const rapidjson::Value* new_object = nullptr;  // null when the object is gone
  // Every object of a resource ("group/plural", e.g. "/services") after the write.
  std::function<std::vector<const rapidjson::Value*>(const std::string& key)> list;
};

using AuditCheck = std::function<Status(const AuditEvent&)>;

struct AuditViolation {
  std::string check;
  std::string verb;
  std::string resource;
  std::string namespace_;
  std::string name;
  std::string resource_version;  // of the write ("" when rejected)
  Status status;
};

class ApiServer {
 public:
  struct Options {
    std::string bind_address = "127.0.0.1";
    int port = 0;  // 0 picks a free port
    // TLS: both PEMs set, or self_signed_tls to make a certificate (see ca_pem()).
    std::string tls_cert_pem;
    std::string tls_key_pem;
    bool self_signed_tls = false;
    // Bearer token every request must carry; empty disables authentication.
    std::string token;
    // Tokens that may read but get 403 Forbidden on writes.
    std::vector<std::string> read_only_tokens;
    // More full-access tokens, each naming its user (token -> user name), as kube-apiserver's
    // --token-auth-file does; the name reaches audit checks (AuditEvent::user). Any entry turns
    // authentication on, like `token`.
    std::map<std::string, std::string> user_tokens;
    // How many write events the watch window keeps; a watch resuming from an older version
    // gets ERROR 410 Expired.
    size_t watch_window = 10000;
    // How often a watch with allowWatchBookmarks=true gets a BOOKMARK.
    std::chrono::milliseconds bookmark_interval{60000};
    FaultConfig faults;
    // Writes one line per request to stderr: "METHOD target -> code (ms)".
    bool log_requests = false;
  };

  static StatusOr<std::unique_ptr<ApiServer>> Start(const Options& options);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // http://127.0.0.1:PORT or https://127.0.0.1:PORT
  std::string url() const;
  int port() const;
  // The CA certificate a client should trust (the server certificate when self-signed);
  // empty for plain HTTP.
  std::string ca_pem() const;
  // A kubeconfig (YAML) that kubectl and the operator can use as is.
  std::string Kubeconfig() const;
  Status WriteKubeconfig(const std::string& path) const;

  // Stops serving: open watches end, connections close. Idempotent.
  void Stop();

  FaultInjector& faults();

  // Registers a check run on every write before it commits. Checks run under the server's lock:
  // they must not call back into this ApiServer (or make HTTP requests to it). With reject=true a
  // failing check refuses the write (the client gets the check's Status as an HTTP error);
  // otherwise the write commits and the violation is recorded.
  void AddAuditCheck(const std::string& name, AuditCheck check, bool reject = false);
  std::vector<AuditViolation> violations() const;

  // The current global resourceVersion.
  uint64_t resource_version() const;
  // Watch streams open right now (tests wait on it instead of sleeping).
  int active_watches() const;

  class Impl;

 private:
  ApiServer() = default;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lballoc::apiserver
