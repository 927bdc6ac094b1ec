// Transport: the seam between the Kubernetes client and the wire.
//
// A Transport sends one HTTP request to the API server and hands back the
// response, whatever its status code: mapping 4xx/5xx to Status values is the
// client's job (client.cc), so a fake transport and the real one behave the
// same above this line. Only failures to get any response at all (refused
// connection, TLS failure, timeout, cancellation) are errors here, and they
// are Unavailable (Cancelled for a cancelled stream).
//
// Streams (watch) hand the body back line by line as it arrives; Cancel()
// makes a blocked ReadLine() return promptly from any thread.
//
// HttpTransport (http_transport.h) is the real one over cpprestsdk;
// FakeTransport (test/testing/fake_transport.h) is for tests. Both are safe
// for concurrent use.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include "operator/base/status.h"
#include "operator/base/statusor.h"

namespace lballoc::runtime {

struct HttpRequest {
  std::string method = "GET";
  // Path and query, already escaped: "/api/v1/namespaces/a/services?limit=10".
  std::string target;
  std::string body;
  std::string content_type;  // for a body; "" means application/json when a body is given
  // 0 = the transport's default timeout.
  std::chrono::milliseconds timeout{0};
  // When stop is requested the transport abandons the request (or the wait for a stream's
  // headers) and returns Cancelled.
  std::stop_token cancel;
};

struct HttpResponse {
  int status_code = 0;
  std::string body;
  // Header names in lower case.
  std::map<std::string, std::string> headers;

  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// The body of a streamed response, read a line at a time.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  // Status line and headers, known when the stream is returned.
  virtual int status_code() const = 0;
  virtual const std::map<std::string, std::string>& headers() const = 0;
  // The next line without its "\n" (and "\r"); std::nullopt at the end of the
  // body. Unavailable when the connection breaks, Cancelled after Cancel().
  virtual StatusOr<std::optional<std::string>> ReadLine() = 0;
  // Reads what is left of the body (for error responses).
  StatusOr<std::string> ReadAll() {
    std::string out;
    while (true) {
      StatusOr<std::optional<std::string>> line = ReadLine();
      if (!line.ok()) return line.status();
      if (!line->has_value()) return out;
      if (!out.empty()) out += '\n';
      out += **line;
    }
  }
  // Thread-safe; idempotent.
  virtual void Cancel() = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual StatusOr<HttpResponse> Do(const HttpRequest& request) = 0;
  // Sends the request and returns once the status line and headers arrived.
  virtual StatusOr<std::unique_ptr<ResponseStream>> Stream(const HttpRequest& request) = 0;
};

}  // namespace lballoc::runtime
