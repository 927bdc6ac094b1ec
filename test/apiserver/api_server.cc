// ApiServer's public methods, and the implementation's lifecycle (start, stop, kubeconfig),
// request dispatch, authentication and fault injection. See api_server_impl.h for the other parts.
#include "test/apiserver/api_server.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "operator/base/status_macros.h"
#include "test/apiserver/api_server_impl.h"
#include "test/apiserver/json_util.h"

namespace lballoc::apiserver {

using rapidjson::Document;
using rapidjson::Value;

ApiServer::Impl::Impl(const Options& options) : options_(options) {
  rng_.seed(std::random_device{}());
  for (const ResourceType& t : BuiltinResourceTypes()) types_.push_back(t);
}

Status ApiServer::Impl::Start() {
  HttpServer::Options ho;
  ho.bind_address = options_.bind_address;
  ho.port = options_.port;
  if (options_.self_signed_tls && options_.tls_cert_pem.empty()) {
    LB_ASSIGN_OR_RETURN(SelfSigned ss, MakeSelfSignedCert());
    options_.tls_cert_pem = ss.cert_pem;
    options_.tls_key_pem = ss.key_pem;
  }
  ho.tls_cert_pem = options_.tls_cert_pem;
  ho.tls_key_pem = options_.tls_key_pem;
  faults_.Configure(options_.faults);
  for (const char* ns : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
    Document d;
    std::string json =
        std::string(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":")") + ns +
        R"("}})";
    d.Parse(json.c_str());
    std::lock_guard<std::mutex> lock(mu_);
    ApiError err;
    ObjPtr out;
    WriteOpts wo;
    if (!CreateLocked(*FindTypeLocked("", "v1", "namespaces"), "", std::move(d), wo, err, out)) {
      return InternalError("bootstrap namespace " + std::string(ns) + ": " + err.message);
    }
  }
  LB_ASSIGN_OR_RETURN(http_, HttpServer::Start(ho, [this](const HttpRequest& r, ResponseWriter& w) {
                        Handle(r, w);
                      }));
  return Status();
}

void ApiServer::Impl::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (http_) http_->Stop();
}

std::string ApiServer::Impl::url() const {
  return std::string(http_->tls() ? "https" : "http") +
         "://127.0.0.1:" + std::to_string(http_->port());
}

int ApiServer::Impl::port() const { return http_->port(); }
std::string ApiServer::Impl::ca_pem() const { return options_.tls_cert_pem; }

std::string ApiServer::Impl::Kubeconfig() const {
  std::string y =
      "apiVersion: v1\nkind: Config\nclusters:\n- name: lballoc\n  cluster:\n"
      "    server: " +
      url() + "\n";
  if (http_->tls()) {
    y += "    certificate-authority-data: " + Base64Encode(options_.tls_cert_pem) + "\n";
  }
  y += "users:\n- name: lballoc\n  user:\n";
  if (!options_.token.empty()) {
    y += "    token: " + options_.token + "\n";
  } else {
    y += "    {}\n";
  }
  y += "contexts:\n- name: lballoc\n  context:\n    cluster: lballoc\n    user: lballoc\n"
       "    namespace: default\ncurrent-context: lballoc\npreferences: {}\n";
  return y;
}

FaultInjector& ApiServer::Impl::faults() { return faults_; }

void ApiServer::Impl::AddAuditCheck(const std::string& name, AuditCheck check, bool reject) {
  std::lock_guard<std::mutex> lock(mu_);
  audits_.push_back({name, std::move(check), reject});
}

std::vector<AuditViolation> ApiServer::Impl::violations() const {
  std::lock_guard<std::mutex> lock(mu_);
  return violations_;
}

uint64_t ApiServer::Impl::resource_version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return rv_;
}

int ApiServer::Impl::active_watches() const { return active_watches_.load(); }

void ApiServer::Impl::SendError(ResponseWriter& w, const ApiError& e) {
  HeaderList h;
  if (e.retry_after > 0) h.emplace_back("Retry-After", std::to_string(e.retry_after));
  w.Send(e.code, kJson, StatusJson(e), h);
}

namespace {
thread_local RequestIdentity t_request;
}  // namespace

const RequestIdentity& CurrentRequest() { return t_request; }

bool ApiServer::Impl::Authorize(const HttpRequest& r, ResponseWriter& w, const std::string& verb,
                                const Route& route) {
  if (options_.token.empty() && options_.user_tokens.empty()) return true;
  std::string auth = r.Header("authorization");
  std::string token = auth.rfind("Bearer ", 0) == 0 ? auth.substr(7) : "";
  if (!token.empty() && token == options_.token) {
    t_request.user = "admin";
    return true;
  }
  if (auto it = options_.user_tokens.find(token);
      !token.empty() && it != options_.user_tokens.end()) {
    t_request.user = it->second;
    return true;
  }
  bool read_only = !token.empty() &&
                   std::find(options_.read_only_tokens.begin(), options_.read_only_tokens.end(),
                             token) != options_.read_only_tokens.end();
  if (!read_only) {
    SendError(w, Err(401, "Unauthorized", "Unauthorized"));
    return false;
  }
  if (verb.empty() || verb == "get" || verb == "list" || verb == "watch") return true;
  std::string res =
      route.subresource.empty() ? route.resource : route.resource + "/" + route.subresource;
  std::string what = route.group.empty() ? route.resource : route.resource + "." + route.group;
  if (!route.name.empty()) what += " \"" + route.name + "\"";
  std::string msg =
      what + " is forbidden: User \"system:serviceaccount:lballoc:readonly\" cannot " + verb +
      " resource \"" + res + "\" in API group \"" + route.group + "\"" +
      (route.ns.empty() ? " at the cluster scope" : " in the namespace \"" + route.ns + "\"");
  ApiError e = Err(403, "Forbidden", msg);
  e.has_details = true;
  e.name = route.name;
  e.group = route.group;
  e.kind = route.resource;
  SendError(w, e);
  return false;
}

namespace {

// Remembers the status code of the response it forwards, for the request log.
class LoggingWriter final : public ResponseWriter {
 public:
  explicit LoggingWriter(ResponseWriter& inner) : inner_(inner) {}
  bool Send(int code, std::string_view content_type, std::string_view body,
            const HeaderList& extra) override {
    code_ = code;
    return inner_.Send(code, content_type, body, extra);
  }
  bool StartStream(int code, std::string_view content_type, const HeaderList& extra) override {
    code_ = code;
    return inner_.StartStream(code, content_type, extra);
  }
  bool Write(std::string_view data) override { return inner_.Write(data); }
  bool PeerClosed() override { return inner_.PeerClosed(); }
  void Abort() override { inner_.Abort(); }
  int code() const { return code_; }

 private:
  ResponseWriter& inner_;
  int code_ = 0;
};

}  // namespace

void ApiServer::Impl::Handle(const HttpRequest& r, ResponseWriter& w) {
  if (!options_.log_requests) {
    Serve(r, w);
    return;
  }
  auto start = std::chrono::steady_clock::now();
  LoggingWriter lw(w);
  Serve(r, lw);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  start)
                .count();
  std::fprintf(stderr, "%s %s -> %d (%lldms)\n", r.method.c_str(), r.target.c_str(), lw.code(),
               static_cast<long long>(ms));
}

void ApiServer::Impl::Serve(const HttpRequest& r, ResponseWriter& w) {
  std::vector<std::string> seg = SplitPath(r.path);
  if (r.path == "/healthz" || r.path == "/livez" || r.path == "/readyz") {
    w.Send(200, "text/plain; charset=utf-8", "ok");
    return;
  }
  Route route;
  bool is_resource = ParseRoute(seg, route);
  std::string verb = is_resource ? VerbOf(r, route) : "";
  t_request = RequestIdentity{"", r.Header("user-agent"), route.subresource};
  if (!Authorize(r, w, verb, route)) return;
  if (!is_resource) {
    HandleDiscovery(r, w);
    return;
  }
  if (verb.empty()) {
    SendError(w, MethodNotAllowed());
    return;
  }
  if (InjectFault(w, verb, route)) return;
  HandleResource(r, w, route);
}

bool ApiServer::Impl::InjectFault(ResponseWriter& w, const std::string& verb, const Route& route) {
  auto latency = faults_.latency();
  if (latency.count() > 0) std::this_thread::sleep_for(latency);  // injected latency, by design
  auto f = faults_.Decide(verb, route.resource);
  if (!f) return false;
  ApiError e;
  if (f->code == 409) {
    // Exactly what a lost optimistic-concurrency race looks like.
    std::string gr = route.group.empty() ? route.resource : route.resource + "." + route.group;
    e = Err(409, "Conflict",
            "Operation cannot be fulfilled on " + gr + " \"" + route.name +
                "\": the object has been modified; please apply your changes to the latest "
                "version and try again");
    e.has_details = true;
    e.name = route.name;
    e.group = route.group;
    e.kind = route.resource;
  } else if (f->code == 429) {
    e = Err(429, "TooManyRequests", "Too many requests, please try again later.");
    e.retry_after = f->retry_after_seconds;
    e.has_details = true;
  } else if (f->code == 503) {
    e = Err(503, "ServiceUnavailable", "the server is currently unable to handle the request");
    e.retry_after = f->retry_after_seconds;
  } else {
    e = Internal("injected fault");
  }
  SendError(w, e);
  return true;
}

// ---------------------------------------------------------------------------------------------

StatusOr<std::unique_ptr<ApiServer>> ApiServer::Start(const Options& options) {
  std::unique_ptr<ApiServer> s(new ApiServer());
  s->impl_ = std::make_unique<Impl>(options);
  LB_RETURN_IF_ERROR(s->impl_->Start());
  return s;
}

ApiServer::~ApiServer() { Stop(); }
std::string ApiServer::url() const { return impl_->url(); }
int ApiServer::port() const { return impl_->port(); }
std::string ApiServer::ca_pem() const { return impl_->ca_pem(); }
std::string ApiServer::Kubeconfig() const { return impl_->Kubeconfig(); }

Status ApiServer::WriteKubeconfig(const std::string& path) const {
  std::ofstream f(path, std::ios::trunc);
  if (!f) return UnavailableError("cannot write kubeconfig " + path);
  f << Kubeconfig();
  f.close();
  if (!f) return UnavailableError("cannot write kubeconfig " + path);
  return Status();
}

void ApiServer::Stop() {
  if (impl_) impl_->Stop();
}
FaultInjector& ApiServer::faults() { return impl_->faults(); }
void ApiServer::AddAuditCheck(const std::string& name, AuditCheck check, bool reject) {
  impl_->AddAuditCheck(name, std::move(check), reject);
}
std::vector<AuditViolation> ApiServer::violations() const { return impl_->violations(); }
uint64_t ApiServer::resource_version() const { return impl_->resource_version(); }
int ApiServer::active_watches() const { return impl_->active_watches(); }

}  // namespace lballoc::apiserver
