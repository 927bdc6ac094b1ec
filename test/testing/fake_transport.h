// FakeTransport: a runtime::Transport for tests. Requests are answered by a test-provided
// handler; streams (watches) are FakeStreams the test feeds line by line. Test-only (it used to
// live in operator/runtime/transport.h).
//
// Thread-safety: FakeTransport and FakeStream are safe for concurrent use.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "operator/base/status.h"
#include "operator/base/statusor.h"
#include "operator/runtime/transport.h"

namespace lballoc::runtime {

// A stream whose lines are pushed by the test. Thread-safe.
class FakeStream final : public ResponseStream {
 public:
  explicit FakeStream(int status_code = 200, std::map<std::string, std::string> headers = {})
      : status_code_(status_code), headers_(std::move(headers)) {}

  int status_code() const override { return status_code_; }
  const std::map<std::string, std::string>& headers() const override { return headers_; }

  StatusOr<std::optional<std::string>> ReadLine() override {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return cancelled_ || !lines_.empty() || closed_; });
    if (cancelled_) return CancelledError("watch stream cancelled");
    if (!lines_.empty()) {
      std::string line = std::move(lines_.front());
      lines_.pop_front();
      return std::optional<std::string>(std::move(line));
    }
    if (!close_status_.ok()) return close_status_;
    return std::optional<std::string>();
  }
  void Cancel() override {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    cv_.notify_all();
  }

  // Test side.
  void Push(std::string line) {
    std::lock_guard<std::mutex> lock(mu_);
    lines_.push_back(std::move(line));
    cv_.notify_all();
  }
  // Ends the body after the pushed lines: cleanly, or with `status` (a broken
  // connection).
  void Close(Status status = Status()) {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    close_status_ = std::move(status);
    cv_.notify_all();
  }
  bool cancelled() const {
    std::lock_guard<std::mutex> lock(mu_);
    return cancelled_;
  }

 private:
  const int status_code_;
  const std::map<std::string, std::string> headers_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> lines_;
  bool closed_ = false;
  bool cancelled_ = false;
  Status close_status_;
};

class FakeTransport final : public Transport {
 public:
  using Handler = std::function<StatusOr<HttpResponse>(const HttpRequest&)>;
  using StreamHandler = std::function<StatusOr<std::shared_ptr<FakeStream>>(const HttpRequest&)>;

  void SetHandler(Handler handler) {
    std::lock_guard<std::mutex> lock(mu_);
    handler_ = std::move(handler);
  }
  void SetStreamHandler(StreamHandler handler) {
    std::lock_guard<std::mutex> lock(mu_);
    stream_handler_ = std::move(handler);
  }

  StatusOr<HttpResponse> Do(const HttpRequest& request) override {
    Handler handler;
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(request);
      handler = handler_;
    }
    if (!handler) return UnavailableError("FakeTransport: no handler for " + request.target);
    return handler(request);
  }

  StatusOr<std::unique_ptr<ResponseStream>> Stream(const HttpRequest& request) override {
    StreamHandler handler;
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(request);
      handler = stream_handler_;
    }
    if (!handler) return UnavailableError("FakeTransport: no stream handler for " + request.target);
    StatusOr<std::shared_ptr<FakeStream>> stream = handler(request);
    if (!stream.ok()) return stream.status();
    return std::unique_ptr<ResponseStream>(new SharedStream(*std::move(stream)));
  }

  std::vector<HttpRequest> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  // Lets the test keep its shared_ptr to the FakeStream it handed out.
  class SharedStream final : public ResponseStream {
   public:
    explicit SharedStream(std::shared_ptr<FakeStream> s) : s_(std::move(s)) {}
    int status_code() const override { return s_->status_code(); }
    const std::map<std::string, std::string>& headers() const override { return s_->headers(); }
    StatusOr<std::optional<std::string>> ReadLine() override { return s_->ReadLine(); }
    void Cancel() override { s_->Cancel(); }

   private:
    std::shared_ptr<FakeStream> s_;
  };

  mutable std::mutex mu_;
  Handler handler_;
  StreamHandler stream_handler_;
  std::vector<HttpRequest> requests_;
};

}  // namespace lballoc::runtime
