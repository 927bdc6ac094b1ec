#include "operator/runtime/http_transport.h"

#include <arpa/inet.h>
#include <cpprest/containerstream.h>
#include <cpprest/http_client.h>
#include <glog/logging.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <pplx/threadpool.h>

#include <atomic>
#include <boost/asio/ssl.hpp>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <stop_token>
#include <utility>

#include "operator/base/status_macros.h"

namespace lballoc::runtime {
namespace {

using web::http::client::http_client;
using web::http::client::http_client_config;

std::string TrimToken(std::string s) {
  while (!s.empty() &&
         (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) {
    s.pop_back();
  }
  size_t b = s.find_first_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b);
}

std::map<std::string, std::string> LowerHeaders(const web::http::http_headers& headers) {
  std::map<std::string, std::string> out;
  for (const auto& [name, value] : headers) {
    std::string lower = name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out[lower] = value;
  }
  return out;
}

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

std::unique_ptr<BIO, BioDeleter> MemBio(const std::string& data) {
  return std::unique_ptr<BIO, BioDeleter>(
      BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

// ---------------------------------------------------------------------------
// Server certificate verification.
//
// cpprestsdk verifies the server's certificate against the URL's host (or a Host header) and
// sends that host as SNI, with no way to name another. Verification is therefore done here, at
// the OpenSSL context level (the only hook cpprestsdk offers): a certificate verification
// callback checks the chain and the expected name (tls-server-name, else the URL's host) with
// OpenSSL's own host/IP matching, and an info callback sets SNI to tls-server-name when the
// handshake starts (after cpprestsdk set it to the URL's host). The callback also keeps the
// reason of the last failure, so that a refused certificate gives a clear error.

struct TlsVerifier {
  std::string name;  // what the certificate must be for
  bool name_is_ip = false;
  std::string sni;  // tls-server-name when it is a DNS name; "" = leave cpprestsdk's
  std::mutex mu;
  std::string last_error;

  void Fail(std::string why) {
    std::lock_guard<std::mutex> lock(mu);
    last_error = std::move(why);
  }
  std::string LastError() {
    std::lock_guard<std::mutex> lock(mu);
    return last_error;
  }
};

bool IsIpLiteral(const std::string& host) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// The SSL_CTX owns a reference to its verifier (freed with the context, which may outlive the
// transport in a pooled connection).
void FreeVerifier(void* /*parent*/, void* ptr, CRYPTO_EX_DATA* /*ad*/, int /*idx*/, long /*argl*/,
                  void* /*argp*/) {
  delete static_cast<std::shared_ptr<TlsVerifier>*>(ptr);
}
int VerifierIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, FreeVerifier);
  return index;
}

// OpenSSL's own verdict for each certificate of the chain (what its default callback does).
int KeepVerdict(int ok, X509_STORE_CTX* /*store*/) { return ok; }

int VerifyServerCertificate(X509_STORE_CTX* store, void* arg) {
  auto* verifier = static_cast<TlsVerifier*>(arg);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(store);
  int set = verifier->name_is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, verifier->name.c_str())
                                 : X509_VERIFY_PARAM_set1_host(param, verifier->name.c_str(), 0);
  if (set != 1) {
    verifier->Fail("cannot check the certificate against \"" + verifier->name + "\"");
    return 0;
  }
  // cpprestsdk's per-certificate callback would check the URL's host again: the chain and the
  // name are checked here, by OpenSSL, instead.
  X509_STORE_CTX_set_verify_cb(store, KeepVerdict);
  if (X509_verify_cert(store) == 1) return 1;
  int err = X509_STORE_CTX_get_error(store);
  std::string why = X509_verify_cert_error_string(err);
  if (err == X509_V_ERR_HOSTNAME_MISMATCH || err == X509_V_ERR_IP_ADDRESS_MISMATCH) {
    why += ": the certificate is not for \"" + verifier->name + "\"";
  } else if (err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
             err == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
             err == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
             err == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE) {
    why +=
        ": the server's certificate is not signed by the configured certificate-authority "
        "(or, without one, by the system's trust store)";
  }
  verifier->Fail(why);
  return 0;
}

void SetSniAtHandshakeStart(const SSL* ssl, int where, int /*ret*/) {
  if ((where & SSL_CB_HANDSHAKE_START) == 0) return;
  auto* held = static_cast<std::shared_ptr<TlsVerifier>*>(
      SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), VerifierIndex()));
  if (held == nullptr || (*held)->sni.empty()) return;
  SSL_set_tlsext_host_name(const_cast<SSL*>(ssl), (*held)->sni.c_str());
}

// Where the answer to one request lands. cpprestsdk completes the request on its own thread, in
// a continuation that may run after the caller stopped waiting (cancelled or out of time), so
// the caller and the continuation share it.
template <typename T>
class PendingAnswer {
 public:
  enum class Outcome { kAnswered, kCancelled, kTimedOut };

  // The continuation's half: stores the task's value, or the text of its exception. (pplx
  // hands the task over by value.)
  // NOLINTNEXTLINE(performance-unnecessary-value-param)
  void Complete(pplx::task<T> task) {
    std::optional<T> value;
    std::string error;
    try {
      value.emplace(task.get());
    } catch (const std::exception& e) {
      error = e.what();
      if (error.empty()) error = "request failed";
    }
    MutexLock lock(&mu_);
    value_ = std::move(value);
    error_ = std::move(error);
    done_ = true;
    cv_.NotifyAll();
  }

  // The caller's half: waits until Complete ran, `cancel` was requested or `deadline` (if any)
  // passed. An answer that arrived in time wins over a cancellation seen at the same moment.
  Outcome Await(const std::stop_token& cancel,
                std::optional<std::chrono::steady_clock::time_point> deadline) {
    // Registered before the lock is taken: it runs at once when stop was already requested.
    std::stop_callback wake(cancel, [this] {
      MutexLock lock(&mu_);
      cv_.NotifyAll();
    });
    MutexLock lock(&mu_);
    while (!done_ && !cancel.stop_requested()) {
      if (!deadline.has_value()) {
        cv_.Wait(&mu_);
      } else if (!cv_.WaitUntil(&mu_, *deadline)) {
        break;
      }
    }
    if (done_) return Outcome::kAnswered;
    return cancel.stop_requested() ? Outcome::kCancelled : Outcome::kTimedOut;
  }

  // After kAnswered: the value, or the error text of a request that failed (then no value).
  StatusOr<T> Take() {
    MutexLock lock(&mu_);
    if (!error_.empty()) return UnavailableError(error_);
    return std::move(*value_);
  }

 private:
  Mutex mu_;
  CondVar cv_;
  bool done_ GUARDED_BY(mu_) = false;
  std::optional<T> value_ GUARDED_BY(mu_);
  std::string error_ GUARDED_BY(mu_);
};

// The cpprestsdk timeout of streamed (watch) requests: above the longest
// server-side watch timeout the informer asks for (2 x 5 min) plus a margin.
constexpr std::chrono::milliseconds kStreamTimeout = std::chrono::minutes(11);

}  // namespace

// ---------------------------------------------------------------------------
// TokenSource

TokenSource::TokenSource(std::string initial, std::string file, Clock& clock,
                         Clock::Duration max_age)
    : token_(std::move(initial)), file_(std::move(file)), clock_(clock), max_age_(max_age) {
  if (!file_.empty() && !token_.empty()) {
    has_read_time_ = true;
    read_time_ = clock_.Now();
  }
}

bool TokenSource::ReadLocked() {
  std::ifstream in(file_);
  if (!in) return false;
  std::ostringstream s;
  s << in.rdbuf();
  std::string token = TrimToken(s.str());
  if (token.empty()) return false;  // keep the previous token, as client-go does
  bool changed = token != token_;
  token_ = std::move(token);
  has_read_time_ = true;
  read_time_ = clock_.Now();
  return changed;
}

std::string TokenSource::Token() {
  MutexLock lock(&mu_);
  if (!file_.empty() && (!has_read_time_ || clock_.Now() - read_time_ > max_age_)) ReadLocked();
  return token_;
}

bool TokenSource::Refresh() {
  MutexLock lock(&mu_);
  if (file_.empty()) return false;
  return ReadLocked();
}

// ---------------------------------------------------------------------------
// TLS material

#if defined(__SANITIZE_ADDRESS__)
#define LBALLOC_ADDRESS_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LBALLOC_ADDRESS_SANITIZER 1
#endif
#endif

Status SetHttpThreadPoolSize(size_t threads) {
  if (threads == 0) return InvalidArgumentError("the HTTP thread pool needs a thread");
#ifdef LBALLOC_ADDRESS_SANITIZER
  // cpprestsdk never destroys a pool made by initialize_with_threads (its default pool is a
  // static that is); at exit LeakSanitizer then reports the OpenSSL objects of the connections
  // that pool still holds (measured: e2e_security, e2e_process, e2e_failover and e2e_chaos fail
  // with it, pass without). Under ASan the library's default pool stays.
  return Status();
#else
  try {
    crossplat::threadpool::initialize_with_threads(threads);
  } catch (const std::exception& e) {
    return FailedPreconditionError(std::string("the HTTP thread pool: ") + e.what());
  }
  return Status();
#endif
}

Status ValidateTlsMaterial(const RestConfig& config) {
  if (config.insecure_skip_tls_verify && !config.ca_pem.empty()) {
    // client-go refuses this too: the CA would silently not be used.
    return InvalidArgumentError(config.source +
                                ": certificate-authority and insecure-skip-tls-verify together: "
                                "a CA is not checked when verification is off; drop one");
  }
  if (!config.ca_pem.empty()) {
    auto bio = MemBio(config.ca_pem);
    int count = 0;
    while (true) {
      std::unique_ptr<X509, X509Deleter> cert(
          PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
      if (!cert) break;
      ++count;
    }
    if (count == 0) {
      return InvalidArgumentError(config.source +
                                  ": certificate-authority: no PEM certificate found");
    }
  }
  if (config.client_cert_pem.empty() != config.client_key_pem.empty()) {
    return InvalidArgumentError(config.source + ": client certificate and key must come together");
  }
  if (!config.client_cert_pem.empty()) {
    auto cbio = MemBio(config.client_cert_pem);
    std::unique_ptr<X509, X509Deleter> cert(
        PEM_read_bio_X509(cbio.get(), nullptr, nullptr, nullptr));
    if (!cert) {
      return InvalidArgumentError(config.source + ": client-certificate: not a PEM certificate");
    }
    auto kbio = MemBio(config.client_key_pem);
    std::unique_ptr<EVP_PKEY, PkeyDeleter> key(
        PEM_read_bio_PrivateKey(kbio.get(), nullptr, nullptr, nullptr));
    if (!key) return InvalidArgumentError(config.source + ": client-key: not a PEM private key");
    if (X509_check_private_key(cert.get(), key.get()) != 1) {
      return InvalidArgumentError(config.source + ": client-key does not match client-certificate");
    }
  }
  return Status();
}

// ---------------------------------------------------------------------------
// HttpTransport

struct HttpTransport::Impl {
  RestConfig config;
  Clock* clock;
  TokenSource tokens;
  Mutex mu;
  std::map<int64_t, std::shared_ptr<http_client>> clients GUARDED_BY(mu);  // by timeout in ms

  std::shared_ptr<TlsVerifier> verifier;  // null when verification is off

  Impl(RestConfig c, Clock& clk)
      : config(std::move(c)),
        clock(&clk),
        tokens(config.bearer_token, config.bearer_token_file, clk) {
    if (!config.insecure_skip_tls_verify) {
      verifier = std::make_shared<TlsVerifier>();
      std::string host;
      try {
        host = utility::conversions::to_utf8string(web::uri(config.server).host());
      } catch (const std::exception&) {
      }
      if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
      }
      verifier->name = config.tls_server_name.empty() ? host : config.tls_server_name;
      verifier->name_is_ip = IsIpLiteral(verifier->name);
      if (!config.tls_server_name.empty() && !verifier->name_is_ip) {
        verifier->sni = config.tls_server_name;
      }
    }
  }

  // The transport error for a failed request, with the reason a certificate was refused.
  std::string ErrorText(const std::string& error) {
    if (verifier == nullptr || error.find("handshake") == std::string::npos) return error;
    std::string why = verifier->LastError();
    if (why.empty()) return error;
    return error + " (TLS: server certificate refused: " + why + ")";
  }

  std::shared_ptr<http_client> ClientFor(std::chrono::milliseconds timeout) {
    if (timeout.count() <= 0) timeout = config.timeout;
    MutexLock lock(&mu);
    auto& client = clients[timeout.count()];
    if (client) return client;
    http_client_config cfg;
    cfg.set_timeout(timeout);
    cfg.set_validate_certificates(!config.insecure_skip_tls_verify);
    std::string ca = config.ca_pem;
    std::string cert = config.client_cert_pem;
    std::string key = config.client_key_pem;
    bool insecure = config.insecure_skip_tls_verify;
    std::shared_ptr<TlsVerifier> tls = verifier;
    cfg.set_ssl_context_callback([ca, cert, key, insecure, tls](boost::asio::ssl::context& ctx) {
      if (tls != nullptr) {
        SSL_CTX* native = ctx.native_handle();
        SSL_CTX_set_ex_data(native, VerifierIndex(), new std::shared_ptr<TlsVerifier>(tls));
        SSL_CTX_set_cert_verify_callback(native, VerifyServerCertificate, tls.get());
        SSL_CTX_set_info_callback(native, SetSniAtHandshakeStart);
      }
      if (!ca.empty() && !insecure) {
        // Trust only the configured CA, not the system store.
        SSL_CTX_set_cert_store(ctx.native_handle(), X509_STORE_new());
        ctx.add_certificate_authority(boost::asio::buffer(ca.data(), ca.size()));
      }
      if (!cert.empty()) {
        ctx.use_certificate_chain(boost::asio::buffer(cert.data(), cert.size()));
        ctx.use_private_key(boost::asio::buffer(key.data(), key.size()),
                            boost::asio::ssl::context::pem);
      }
    });
    client = std::make_shared<http_client>(config.server, cfg);
    return client;
  }

  web::http::http_request Message(const HttpRequest& request, const std::string& token) {
    web::http::http_request msg(request.method);
    msg.set_request_uri(request.target);
    msg.headers().add("Accept", "application/json");
    if (!token.empty()) msg.headers().add("Authorization", "Bearer " + token);
    if (!request.body.empty() || request.method == "POST" || request.method == "PUT" ||
        request.method == "PATCH") {
      msg.set_body(request.body,
                   request.content_type.empty() ? "application/json" : request.content_type);
    }
    return msg;
  }

  // One line per response at --v=6 (client-go's level for request lines), and the request
  // headers at --v=9 with the credential masked, as client-go does: tokens never reach a log.
  void LogExchange(const HttpRequest& request, int status_code,
                   std::chrono::steady_clock::time_point start, int attempt) {
    if (!VLOG_IS_ON(6)) return;
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
    VLOG(6) << Describe(request) << " " << status_code << " in " << ms << " ms"
            << (attempt > 0 ? " (after re-reading the token file)" : "");
    VLOG(9) << Describe(request) << " request headers: Accept: application/json"
            << (config.bearer_token.empty() && config.bearer_token_file.empty()
                    ? ""
                    : ", Authorization: Bearer <masked>")
            << (request.body.empty() ? ""
                                     : ", body " + std::to_string(request.body.size()) + " bytes");
  }

  std::string Describe(const HttpRequest& request) {
    return request.method + " " + config.server + request.target;
  }
};

class HttpResponseStream final : public ResponseStream {
 public:
  HttpResponseStream(web::http::http_response response, pplx::cancellation_token_source cts,
                     std::shared_ptr<http_client> client, std::string what)
      : response_(std::move(response)),
        headers_(LowerHeaders(response_.headers())),
        body_(response_.body()),
        cts_(std::move(cts)),
        client_(std::move(client)),
        what_(std::move(what)) {}
  ~HttpResponseStream() override { Cancel(); }

  int status_code() const override { return response_.status_code(); }
  const std::map<std::string, std::string>& headers() const override { return headers_; }

  // Reads what the stream holds in blocks and splits lines here: cpprestsdk's read_line takes
  // one byte at a time through its task machinery, which made the watch reader the operator's
  // busiest thread in the end-to-end benchmark (BENCHMARKS.md, "End to end").
  StatusOr<std::optional<std::string>> ReadLine() override {
    using Buffer = concurrency::streams::streambuf<uint8_t>;
    constexpr size_t kBlock = size_t{64} * 1024;
    if (cancelled_.load()) return CancelledError(what_ + ": cancelled");
    try {
      Buffer buf = body_.streambuf();
      size_t scanned = 0;  // pending_[0, scanned) holds no line end
      for (;;) {
        if (size_t end = pending_.find('\n', scanned); end != std::string::npos) {
          std::string line = pending_.substr(0, end);
          pending_.erase(0, end + 1);
          return std::optional<std::string>(WithoutCr(std::move(line)));
        }
        scanned = pending_.size();
        if (size_t avail = buf.in_avail(); avail > 0) {
          // Already received: getn returns at once.
          const size_t old = pending_.size();
          pending_.resize(old + std::min(avail, kBlock));
          size_t got =
              buf.getn(reinterpret_cast<uint8_t*>(pending_.data() + old), pending_.size() - old)
                  .get();
          pending_.resize(old + got);
          continue;
        }
        // Nothing buffered: wait for the next byte, or the end.
        Buffer::int_type c = buf.bumpc().get();
        if (c == Buffer::traits::eof()) {
          if (pending_.empty()) return std::optional<std::string>();
          std::string last = std::move(pending_);
          pending_.clear();
          return std::optional<std::string>(WithoutCr(std::move(last)));
        }
        pending_.push_back(static_cast<char>(c));
      }
    } catch (const std::exception& e) {
      if (cancelled_.load()) return CancelledError(what_ + ": cancelled");
      return UnavailableError(what_ + ": reading the response: " + e.what());
    }
  }

  void Cancel() override {
    if (cancelled_.exchange(true)) return;
    try {
      cts_.cancel();
    } catch (const std::exception&) {
    }
  }

 private:
  web::http::http_response response_;
  std::map<std::string, std::string> headers_;
  concurrency::streams::istream body_;
  pplx::cancellation_token_source cts_;
  std::shared_ptr<http_client> client_;  // keeps the connection pool alive
  std::string what_;
  std::string pending_;  // received, not yet returned by ReadLine (its caller's thread only)
  std::atomic<bool> cancelled_{false};

  static std::string WithoutCr(std::string line) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
  }
};

HttpTransport::HttpTransport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpTransport::~HttpTransport() = default;

StatusOr<std::shared_ptr<HttpTransport>> HttpTransport::Create(const RestConfig& config,
                                                               Clock& clock) {
  if (config.server.empty()) return InvalidArgumentError(config.source + ": no server URL");
  LB_RETURN_IF_ERROR(ValidateTlsMaterial(config));
  try {
    web::uri uri(config.server);
    if (uri.scheme() != "https" && uri.scheme() != "http") {
      return InvalidArgumentError(config.source + ": server \"" + config.server +
                                  "\" is not an http(s) URL");
    }
  } catch (const std::exception& e) {
    return InvalidArgumentError(config.source + ": server \"" + config.server +
                                "\" is not a URL: " + e.what());
  }
  return std::shared_ptr<HttpTransport>(new HttpTransport(std::make_unique<Impl>(config, clock)));
}

StatusOr<HttpResponse> HttpTransport::Do(const HttpRequest& request) {
  // The connection's timeout is the configured one, or a longer one the request asks for
  // (rounded up to whole seconds, so that few clients and pools exist). A shorter request
  // timeout -- lease calls and fenced writes compute one per request -- is enforced here by
  // cancelling the request, not by a client per value.
  std::chrono::milliseconds client_timeout = impl_->config.timeout;
  if (request.timeout > client_timeout) {
    client_timeout = std::chrono::ceil<std::chrono::seconds>(request.timeout);
  }
  std::shared_ptr<http_client> client = impl_->ClientFor(client_timeout);
  const bool bounded = request.timeout.count() > 0 && request.timeout < client_timeout;
  const auto deadline = std::chrono::steady_clock::now() + request.timeout;

  const auto start = std::chrono::steady_clock::now();
  for (int attempt = 0;; ++attempt) {
    auto pending = std::make_shared<PendingAnswer<std::shared_ptr<HttpResponse>>>();
    pplx::cancellation_token_source cts;
    try {
      web::http::http_request msg = impl_->Message(request, impl_->tokens.Token());
      client
          ->request(msg, cts.get_token())
          // The tasks carry a pointer to the response, never the body: each pplx task keeps a
          // copy of its result until the task is destroyed, which can be long after this call
          // returned (heaptrack on the operator's start-up with 20,000 Services: when the tasks
          // carried the body, every LIST page's body was still alive five times over at the
          // peak, 86 of its 126 MB; BENCHMARKS.md, "Operator memory"). The body is taken once
          // it is all received, in one allocation of its size, as extract_utf8string does.
          .then([](const web::http::http_response& resp) { return resp.content_ready(); })
          .then([](web::http::http_response resp) {
            auto out = std::make_shared<HttpResponse>();
            out->status_code = resp.status_code();
            out->headers = LowerHeaders(resp.headers());
            concurrency::streams::streambuf<uint8_t> buffer = resp.body().streambuf();
            const size_t size = buffer.in_avail();
            out->body.resize(size);
            if (size > 0) {
              // Never blocks: content_ready() means the whole body is in the buffer.
              size_t got = buffer.getn(reinterpret_cast<uint8_t*>(out->body.data()), size).get();
              out->body.resize(got);
            }
            return out;
          })
          // pplx takes a continuation whose parameter is a task<T> by value as task-based (it
          // runs on failure too).
          // NOLINTNEXTLINE(performance-unnecessary-value-param)
          .then([pending, client](pplx::task<std::shared_ptr<HttpResponse>> task) {
            pending->Complete(std::move(task));
          });
    } catch (const std::exception& e) {
      return UnavailableError(impl_->Describe(request) + ": " + e.what());
    }
    switch (pending->Await(request.cancel, bounded ? std::optional(deadline) : std::nullopt)) {
      case PendingAnswer<std::shared_ptr<HttpResponse>>::Outcome::kAnswered:
        break;
      case PendingAnswer<std::shared_ptr<HttpResponse>>::Outcome::kCancelled:
        cts.cancel();  // closes the connection; the continuation still lands in `pending`
        return CancelledError(impl_->Describe(request) + ": cancelled");
      case PendingAnswer<std::shared_ptr<HttpResponse>>::Outcome::kTimedOut:
        cts.cancel();
        return UnavailableError(impl_->Describe(request) + ": no response within " +
                                std::to_string(request.timeout.count()) + "ms");
    }
    StatusOr<std::shared_ptr<HttpResponse>> answer = pending->Take();
    if (!answer.ok()) {
      return UnavailableError(impl_->Describe(request) + ": " +
                              impl_->ErrorText(answer.status().message()));
    }
    // Moved out: the pplx tasks may still hold the pointer for a while.
    HttpResponse response = std::move(**answer);
    impl_->LogExchange(request, response.status_code, start, attempt);
    if (response.status_code == 401 && attempt == 0 && impl_->tokens.Refresh()) continue;
    return response;
  }
}

StatusOr<std::unique_ptr<ResponseStream>> HttpTransport::Stream(const HttpRequest& request) {
  // Watches ask for random server-side timeouts; one client for all of them
  // (so their connections are pooled) with a limit above any of them.
  std::shared_ptr<http_client> client =
      impl_->ClientFor(std::max<std::chrono::milliseconds>(request.timeout, kStreamTimeout));
  const auto start = std::chrono::steady_clock::now();
  for (int attempt = 0;; ++attempt) {
    auto pending = std::make_shared<PendingAnswer<web::http::http_response>>();
    pplx::cancellation_token_source cts;
    try {
      web::http::http_request msg = impl_->Message(request, impl_->tokens.Token());
      client
          ->request(msg, cts.get_token())
          // A task-based continuation, as in Do.
          // NOLINTNEXTLINE(performance-unnecessary-value-param)
          .then([pending, client](pplx::task<web::http::http_response> task) {
            pending->Complete(std::move(task));
          });
    } catch (const std::exception& e) {
      return UnavailableError(impl_->Describe(request) + ": " + e.what());
    }
    // Waiting for the headers ends early when stop is requested (an informer stopping); the
    // body is read by the stream, without a deadline.
    if (pending->Await(request.cancel, std::nullopt) !=
        PendingAnswer<web::http::http_response>::Outcome::kAnswered) {
      cts.cancel();
      return CancelledError(impl_->Describe(request) + ": cancelled");
    }
    StatusOr<web::http::http_response> resp = pending->Take();
    if (!resp.ok()) {
      return UnavailableError(impl_->Describe(request) + ": " +
                              impl_->ErrorText(resp.status().message()));
    }
    impl_->LogExchange(request, resp->status_code(), start, attempt);
    if (resp->status_code() == 401 && attempt == 0 && impl_->tokens.Refresh()) continue;
    return std::unique_ptr<ResponseStream>(
        new HttpResponseStream(std::move(*resp), std::move(cts), client, impl_->Describe(request)));
  }
}

}  // namespace lballoc::runtime
