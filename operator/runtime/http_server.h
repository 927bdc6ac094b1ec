// HttpServer: a minimal HTTP/1.1 server for the operator's own endpoints (/healthz, /readyz,
// /metrics), on POSIX sockets.
//
// Why not cpprestsdk's http_listener: these endpoints answer small GETs from kubelet and
// Prometheus, which one thread serves easily; plain sockets let a test bind port 0 and learn the
// port, stop promptly, and stay clean under ThreadSanitizer (cpprestsdk's uninstrumented thread
// pool is not). Every response closes the connection.
//
// Thread-safety: Start/Stop/port may be called from any thread; the handler runs on the
// server's single thread, one request at a time.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <thread>

#include "operator/base/status.h"
#include "operator/base/statusor.h"

namespace lballoc::runtime {

struct ServedResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

struct ServedRequest {
  std::string method;
  std::string path;                               // without the query
  std::multimap<std::string, std::string> query;  // decoded; "?verbose" maps to ""
};

class HttpServer {
 public:
  using Handler = std::function<ServedResponse(const ServedRequest& request)>;

  // `address` is "host:port", ":port" (all interfaces) or "port"; port 0 picks a free port.
  HttpServer(std::string address, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens (errors: bad address -> InvalidArgument, bind failure -> Unavailable),
  // then serves on a background thread.
  Status Start();
  // Stops accepting, finishes the request in progress and joins the thread. Idempotent.
  void Stop();
  // The bound port (after Start), useful with port 0.
  int port() const { return port_.load(); }

 private:
  void Serve();
  void HandleConnection(int fd);

  const std::string address_;
  const Handler handler_;
  int listen_fd_ = -1;
  std::atomic<int> port_{0};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// A blocking GET of http://host:port/target for tests and tools; returns the status code and
// body. Unavailable on connection errors.
struct HttpResult {
  int status = 0;
  std::string body;
};
StatusOr<HttpResult> HttpGetForTest(const std::string& host, int port, const std::string& target);

}  // namespace lballoc::runtime
