#include "operator/runtime/http_transport.h"

#include <cpprest/containerstream.h>
#include <cpprest/http_client.h>
#include <glog/logging.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <atomic>
#include <boost/asio/ssl.hpp>
#include <fstream>
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

  Impl(RestConfig c, Clock& clk)
      : config(std::move(c)),
        clock(&clk),
        tokens(config.bearer_token, config.bearer_token_file, clk) {}

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
    cfg.set_ssl_context_callback([ca, cert, key, insecure](boost::asio::ssl::context& ctx) {
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

  StatusOr<std::optional<std::string>> ReadLine() override {
    if (cancelled_.load()) return CancelledError(what_ + ": cancelled");
    try {
      concurrency::streams::container_buffer<std::string> buf;
      size_t n = body_.read_line(buf).get();
      if (n == 0 && body_.is_eof()) return std::optional<std::string>();
      std::string line = std::move(buf.collection());
      if (!line.empty() && line.back() == '\r') line.pop_back();
      return std::optional<std::string>(std::move(line));
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
  std::atomic<bool> cancelled_{false};
};

HttpTransport::HttpTransport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpTransport::~HttpTransport() = default;

StatusOr<std::shared_ptr<HttpTransport>> HttpTransport::Create(const RestConfig& config,
                                                               Clock& clock) {
  if (config.server.empty()) return InvalidArgumentError(config.source + ": no server URL");
  LB_RETURN_IF_ERROR(ValidateTlsMaterial(config));
  if (!config.tls_server_name.empty()) {
    // Not honoured (see the header). Verification against the URL's host is stricter, not
    // weaker, so the connection is safe; it fails if the certificate lacks that host.
    LOG(WARNING) << config.source << ": tls-server-name \"" << config.tls_server_name
                 << "\" is not supported; verifying the certificate against the server URL's "
                    "host instead";
  }
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

  // Where the response (or the exception) lands; shared with the continuation, which may
  // finish after this call gave up on it.
  struct Result {
    Mutex mu;
    CondVar cv;
    bool done GUARDED_BY(mu) = false;
    HttpResponse response GUARDED_BY(mu);
    std::string error GUARDED_BY(mu);
  };
  for (int attempt = 0;; ++attempt) {
    auto result = std::make_shared<Result>();
    pplx::cancellation_token_source cts;
    try {
      web::http::http_request msg = impl_->Message(request, impl_->tokens.Token());
      client->request(msg, cts.get_token())
          .then([](web::http::http_response resp) {
            auto out = std::make_shared<HttpResponse>();
            out->status_code = resp.status_code();
            out->headers = LowerHeaders(resp.headers());
            return resp.extract_utf8string(true).then([out](std::string body) {
              out->body = std::move(body);
              return *out;
            });
          })
          // pplx takes a continuation whose parameter is a task<T> by value as task-based (it
          // runs on failure too).
          // NOLINTNEXTLINE(performance-unnecessary-value-param)
          .then([result, client](pplx::task<HttpResponse> task) {
            HttpResponse response;
            std::string error;
            try {
              response = task.get();
            } catch (const std::exception& e) {
              error = e.what();
              if (error.empty()) error = "request failed";
            }
            MutexLock lock(&result->mu);
            result->response = std::move(response);
            result->error = std::move(error);
            result->done = true;
            result->cv.NotifyAll();
          });
    } catch (const std::exception& e) {
      return UnavailableError(impl_->Describe(request) + ": " + e.what());
    }
    {
      // Registered before the lock is taken: it runs at once when stop was already requested.
      std::stop_callback wake(request.cancel, [&result] {
        MutexLock lock(&result->mu);
        result->cv.NotifyAll();
      });
      MutexLock lock(&result->mu);
      bool in_time = true;
      while (!result->done && !request.cancel.stop_requested()) {
        if (!bounded) {
          result->cv.Wait(&result->mu);
        } else if (!result->cv.WaitUntil(&result->mu, deadline)) {  // deadline passed
          in_time = result->done || request.cancel.stop_requested();
          break;
        }
      }
      if (!result->done) {
        lock.Unlock();
        cts.cancel();  // closes the connection; the continuation still lands in `result`
        if (!in_time) {
          return UnavailableError(impl_->Describe(request) + ": no response within " +
                                  std::to_string(request.timeout.count()) + "ms");
        }
        return CancelledError(impl_->Describe(request) + ": cancelled");
      }
    }
    MutexLock lock(&result->mu);
    if (!result->error.empty()) {
      return UnavailableError(impl_->Describe(request) + ": " + result->error);
    }
    if (result->response.status_code == 401 && attempt == 0 && impl_->tokens.Refresh()) continue;
    return std::move(result->response);
  }
}

StatusOr<std::unique_ptr<ResponseStream>> HttpTransport::Stream(const HttpRequest& request) {
  // Watches ask for random server-side timeouts; one client for all of them
  // (so their connections are pooled) with a limit above any of them.
  std::shared_ptr<http_client> client =
      impl_->ClientFor(std::max<std::chrono::milliseconds>(request.timeout, kStreamTimeout));
  struct Result {
    Mutex mu;
    CondVar cv;
    bool done GUARDED_BY(mu) = false;
    std::optional<web::http::http_response> response GUARDED_BY(mu);
    std::string error GUARDED_BY(mu);
  };
  for (int attempt = 0;; ++attempt) {
    auto result = std::make_shared<Result>();
    pplx::cancellation_token_source cts;
    try {
      web::http::http_request msg = impl_->Message(request, impl_->tokens.Token());
      client
          ->request(msg, cts.get_token())
          // A task-based continuation, as in Send.
          // NOLINTNEXTLINE(performance-unnecessary-value-param)
          .then([result, client](pplx::task<web::http::http_response> task) {
            std::optional<web::http::http_response> response;
            std::string error;
            try {
              response = task.get();
            } catch (const std::exception& e) {
              error = e.what();
              if (error.empty()) error = "request failed";
            }
            MutexLock lock(&result->mu);
            result->response = std::move(response);
            result->error = std::move(error);
            result->done = true;
            result->cv.NotifyAll();
          });
    } catch (const std::exception& e) {
      return UnavailableError(impl_->Describe(request) + ": " + e.what());
    }
    {
      // Waiting for the headers ends early when stop is requested (an informer stopping).
      std::stop_callback wake(request.cancel, [&result] {
        MutexLock lock(&result->mu);
        result->cv.NotifyAll();
      });
      MutexLock lock(&result->mu);
      while (!result->done && !request.cancel.stop_requested()) result->cv.Wait(&result->mu);
      if (!result->done) {
        lock.Unlock();
        cts.cancel();
        return CancelledError(impl_->Describe(request) + ": cancelled");
      }
    }
    MutexLock lock(&result->mu);
    if (!result->error.empty()) {
      return UnavailableError(impl_->Describe(request) + ": " + result->error);
    }
    web::http::http_response resp = *result->response;
    if (resp.status_code() == 401 && attempt == 0 && impl_->tokens.Refresh()) continue;
    return std::unique_ptr<ResponseStream>(
        new HttpResponseStream(std::move(resp), std::move(cts), client, impl_->Describe(request)));
  }
}

}  // namespace lballoc::runtime
