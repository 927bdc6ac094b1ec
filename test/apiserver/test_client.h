// A minimal blocking HTTP/1.1 client (plain or TLS) for the API server's own tests and benchmark:
// one request per connection, or a streaming watch read line by line. Deliberately independent
// of the server's code so the tests check the bytes on the wire.
//
// Not thread-safe per object; use one per thread.
#pragma once

#include <rapidjson/document.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "operator/base/statusor.h"

namespace lballoc::apiserver {

struct ClientResponse {
  int code = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  rapidjson::Document Json() const;
};

class TestClient {
 public:
  // `url` is http://127.0.0.1:PORT or https://...; `ca_pem` enables certificate checks.
  TestClient(std::string url, std::string token = "", std::string ca_pem = "");
  ~TestClient();
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;

  StatusOr<ClientResponse> Request(const std::string& method, const std::string& path,
                                   const std::string& body = "",
                                   const std::string& content_type = "application/json",
                                   const std::map<std::string, std::string>& headers = {});
  StatusOr<ClientResponse> Get(const std::string& path) { return Request("GET", path); }

  // Keeps one connection open across requests (for the benchmark).
  void set_keep_alive(bool on) { keep_alive_ = on; }

  struct Conn;

 private:
  std::string host_;
  int port_ = 0;
  bool tls_ = false;
  std::string token_;
  std::string ca_pem_;
  bool keep_alive_ = false;
  std::unique_ptr<Conn> conn_;
};

// A watch: the response head, then events one line at a time.
class WatchStream {
 public:
  static StatusOr<std::unique_ptr<WatchStream>> Open(const std::string& url,
                                                     const std::string& path,
                                                     const std::string& token = "",
                                                     const std::string& ca_pem = "",
                                                     const std::string& accept = "");
  ~WatchStream();
  int code() const { return code_; }
  const std::map<std::string, std::string>& headers() const { return headers_; }
  // The next event (one JSON line), nullopt on timeout; `ended()` tells a clean end
  // (terminating chunk) from a dropped connection (`dropped()`).
  std::optional<std::string> Next(std::chrono::milliseconds timeout);
  bool ended() const { return ended_; }
  bool dropped() const { return dropped_; }
  // For non-200 answers: the whole body.
  const std::string& error_body() const { return error_body_; }

 private:
  WatchStream() = default;
  std::unique_ptr<TestClient::Conn> conn_;
  int code_ = 0;
  std::map<std::string, std::string> headers_;
  std::string raw_;    // undecoded bytes
  std::string lines_;  // decoded body not yet returned
  bool ended_ = false;
  bool dropped_ = false;
  std::string error_body_;
};

}  // namespace lballoc::apiserver
