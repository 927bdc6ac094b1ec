// A small HTTP/1.1 server on POSIX sockets, with optional TLS (OpenSSL), for the in-memory
// Kubernetes API server used by tests.
//
// Why not cpprestsdk's http_listener: a Kubernetes watch is one long chunked response that must be
// flushed after every event and must notice a client that went away; a thread per connection with
// blocking writes does exactly that and keeps the wire behaviour easy to reason about.
//
// One thread per connection; keep-alive; request bodies by Content-Length or chunked. The handler
// runs on the connection's thread and may block (watches). Thread-safe: Start/Stop from any
// thread; Stop() closes every connection and joins every thread.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "operator/base/status.h"
#include "operator/base/statusor.h"

namespace lballoc::apiserver {

struct HttpRequest {
  std::string method;
  std::string target;                          // as sent: path?query
  std::string path;                            // percent-decoded path
  std::map<std::string, std::string> query;    // decoded; the last value wins
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;

  // The header's value, or "" when absent; `name` must be lower case.
  std::string Header(const std::string& name) const;
  // The query parameter's value, or "" when absent.
  std::string Param(const std::string& name) const;
  bool HasParam(const std::string& name) const { return query.count(name) > 0; }
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Writes one response. Either Send() once, or StartStream() then Write()... then the handler
// returns (the terminating chunk is written then). All calls return false once the peer is gone.
class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  virtual bool Send(int code, std::string_view content_type, std::string_view body,
                    const HeaderList& extra = {}) = 0;
  virtual bool StartStream(int code, std::string_view content_type,
                           const HeaderList& extra = {}) = 0;
  // Writes one chunk and flushes it.
  virtual bool Write(std::string_view data) = 0;
  // True when the client has closed its side (checked without blocking).
  virtual bool PeerClosed() = 0;
  // Drops the connection mid-stream (no terminating chunk), as a failing network would.
  virtual void Abort() = 0;
};

using HttpHandler = std::function<void(const HttpRequest&, ResponseWriter&)>;

class HttpServer {
 public:
  struct Options {
    std::string bind_address = "127.0.0.1";
    int port = 0;  // 0 picks a free port
    // PEM; both empty means plain HTTP.
    std::string tls_cert_pem;
    std::string tls_key_pem;
  };

  static StatusOr<std::unique_ptr<HttpServer>> Start(const Options& options, HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }
  bool tls() const { return ssl_ctx_ != nullptr; }
  // Stops accepting, shuts every open connection down and joins all threads. Idempotent.
  // Handlers blocked in a watch must return on their own (their writes start failing).
  void Stop();

 private:
  HttpServer() = default;
  void AcceptLoop();
  void ServeConnection(int fd);

  HttpHandler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  void* ssl_ctx_ = nullptr;  // SSL_CTX*
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  std::mutex mu_;
  std::map<int, std::thread> connections_;  // fd -> thread
  std::vector<std::thread> finished_;
};

// A self-signed certificate and key (PEM) for 127.0.0.1 and localhost, valid for a year.
struct SelfSigned {
  std::string cert_pem;
  std::string key_pem;
};
StatusOr<SelfSigned> MakeSelfSignedCert();

}  // namespace lballoc::apiserver
