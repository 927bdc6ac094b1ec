// HttpTransport: the Transport over cpprestsdk's http_client, the only place
// the client side touches cpprestsdk (its headers stay in http_transport.cc).
//
//   - TLS: the server certificate is verified against the RestConfig's CA
//     (only that CA when one is given; the system store otherwise) and a name:
//     tls_server_name when set, else the server URL's host (DNS or IP SANs,
//     OpenSSL's matching), unless insecure_skip_tls_verify (which may not come
//     with a CA: InvalidArgument, as in client-go). tls_server_name is also
//     sent as SNI (not when it is an IP address); the Host header stays the
//     URL's, as in client-go. A refused certificate is an Unavailable error
//     that says why ("TLS: server certificate refused: ..."). Client
//     certificate and key from PEM data.
//   - Auth: "Authorization: Bearer" from a TokenSource; a token file is
//     re-read when the cached token is older than 50 s, and at once after a
//     401 (the request is then retried once if the token changed).
//   - One http_client per connection timeout (the configured one, or a longer
//     one a request asks for, in whole seconds), reused, so connections are
//     pooled per host; a shorter HttpRequest::timeout (lease calls, fenced
//     writes) cancels that request when it runs out. Streams (watches) share
//     one client whose timeout is 11 min or the request's, if longer (the
//     server ends informer watches within 10).
//   - Logging: one line per response at --v=6 (method, URL, status, time),
//     the request headers at --v=9 with the Authorization value masked.
//     Credentials (tokens, keys) are never logged at any verbosity.
//   - Every cpprestsdk/std exception stops here and becomes Unavailable
//     (Cancelled for a cancelled stream).
//
// Thread-safety: HttpTransport and TokenSource are safe for concurrent use.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "operator/base/clock.h"
#include "operator/base/mutex.h"
#include "operator/base/statusor.h"
#include "operator/runtime/rest_config.h"
#include "operator/runtime/transport.h"

namespace lballoc::runtime {

// A bearer token, static or read from a file that is re-read as it ages.
class TokenSource {
 public:
  // `file` empty: the static token forever. Otherwise `initial` (may be
  // empty) is used until it is `max_age` old, then the file is re-read.
  TokenSource(std::string initial, std::string file, Clock& clock,
              Clock::Duration max_age = std::chrono::seconds(50));

  // The current token ("" = none). A failed re-read keeps the previous token.
  std::string Token();
  // Re-reads the file now (after a 401). True when the token changed.
  bool Refresh();

 private:
  bool ReadLocked() REQUIRES(mu_);

  Mutex mu_;
  std::string token_ GUARDED_BY(mu_);
  const std::string file_;
  Clock& clock_;
  const Clock::Duration max_age_;
  bool has_read_time_ GUARDED_BY(mu_) = false;
  Clock::TimePoint read_time_ GUARDED_BY(mu_);
};

// Sizes cpprestsdk's shared thread pool, on which every HTTP client and listener of the process
// runs its I/O and continuations (no thread of it ever blocks: callers wait on their own
// threads). The library's default on Linux is 40 threads waiting on one asio scheduler, and
// every completion woke many of them: in the end-to-end benchmark (BENCHMARKS.md, "End to end")
// 61 % of the operator's CPU samples were the kernel switching tasks, about 78 context switches
// per Service. Call it from main, before anything uses HTTP; FailedPrecondition once the pool
// exists. Under AddressSanitizer it does nothing (see http_transport.cc).
Status SetHttpThreadPoolSize(size_t threads);
// What lballoc's processes use: enough for the operator's few connections (Service workers,
// watches, the lease), as measured there.
inline constexpr size_t kHttpThreadPoolSize = 2;

// Checks PEM data: CA bundle (at least one certificate), client certificate
// and key (and that they belong together). InvalidArgument naming the piece.
Status ValidateTlsMaterial(const RestConfig& config);

class HttpTransport final : public Transport {
 public:
  static StatusOr<std::shared_ptr<HttpTransport>> Create(const RestConfig& config,
                                                         Clock& clock = Clock::Real());
  ~HttpTransport() override;

  StatusOr<HttpResponse> Do(const HttpRequest& request) override;
  StatusOr<std::unique_ptr<ResponseStream>> Stream(const HttpRequest& request) override;

  struct Impl;

 private:
  explicit HttpTransport(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lballoc::runtime
