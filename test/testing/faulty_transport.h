// FaultyTransport: a runtime::Transport decorator that damages what a real server answers, for
// the bad-input tests: response bodies replaced or cut (garbage, truncated, empty, another
// kind) and extra lines slipped into open watch streams (garbage, half an event, an object of
// the wrong kind). The server still does the work: a write whose response is damaged has
// happened, as when a proxy mangles an answer.
//
//   auto faulty = std::make_shared<FaultyTransport>(std::move(http));
//   faulty->DamageNext("PATCH", "/services/", [](std::string) { return "<html>"; });
//   faulty->InjectWatchLine("/services", R"({"type":"ERROR","object":{}})");
//
// Rules match a request by method ("" = any) and a substring of its target (path and query).
// A watch line is handed to the first matching open stream that reads next, before the
// server's next line; a stream blocked waiting for the server gets it after the server's next
// line (tests then make some harmless change to wake it).
//
// Thread-safety: safe for concurrent use.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "operator/base/status.h"
#include "operator/base/statusor.h"
#include "operator/runtime/transport.h"

namespace lballoc::testing {

class FaultyTransport final : public runtime::Transport,
                              public std::enable_shared_from_this<FaultyTransport> {
 public:
  // Turns a response body into the damaged one.
  using Damage = std::function<std::string(std::string body)>;

  explicit FaultyTransport(std::shared_ptr<runtime::Transport> inner) : inner_(std::move(inner)) {}

  // The next `count` non-stream responses to `method` requests whose target contains `target`
  // get their body replaced by damage(body) (the status code and headers stay).
  void DamageNext(std::string method, std::string target, Damage damage, int count = 1) {
    std::lock_guard<std::mutex> lock(mu_);
    rules_.push_back({std::move(method), std::move(target), std::move(damage), count});
  }
  // `line` goes to the next open watch stream whose target contains `target`.
  void InjectWatchLine(std::string target, std::string line) {
    std::lock_guard<std::mutex> lock(mu_);
    lines_.push_back({std::move(target), std::move(line)});
  }
  // Responses damaged and lines injected so far (a rule only counts once it was used).
  int damaged() const {
    std::lock_guard<std::mutex> lock(mu_);
    return damaged_;
  }
  int injected() const {
    std::lock_guard<std::mutex> lock(mu_);
    return injected_;
  }
  // Rules and lines not used yet.
  bool idle() const {
    std::lock_guard<std::mutex> lock(mu_);
    return rules_.empty() && lines_.empty();
  }
  // Drops the rules and lines not used yet.
  void Reset() {
    std::lock_guard<std::mutex> lock(mu_);
    rules_.clear();
    lines_.clear();
  }

  StatusOr<runtime::HttpResponse> Do(const runtime::HttpRequest& request) override {
    StatusOr<runtime::HttpResponse> response = inner_->Do(request);
    if (!response.ok()) return response;
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = rules_.begin(); it != rules_.end(); ++it) {
      if (!it->method.empty() && it->method != request.method) continue;
      if (request.target.find(it->target) == std::string::npos) continue;
      response->body = it->damage(std::move(response->body));
      ++damaged_;
      if (--it->remaining <= 0) rules_.erase(it);
      break;
    }
    return response;
  }

  StatusOr<std::unique_ptr<runtime::ResponseStream>> Stream(
      const runtime::HttpRequest& request) override {
    StatusOr<std::unique_ptr<runtime::ResponseStream>> stream = inner_->Stream(request);
    if (!stream.ok()) return stream;
    return std::unique_ptr<runtime::ResponseStream>(
        new InjectingStream(std::move(stream).value(), shared_from_this(), request.target));
  }

 private:
  struct Rule {
    std::string method;
    std::string target;
    Damage damage;
    int remaining;
  };
  struct Line {
    std::string target;
    std::string text;
  };

  std::optional<std::string> TakeLine(const std::string& target) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = lines_.begin(); it != lines_.end(); ++it) {
      if (target.find(it->target) == std::string::npos) continue;
      std::string text = std::move(it->text);
      lines_.erase(it);
      ++injected_;
      return text;
    }
    return std::nullopt;
  }

  class InjectingStream final : public runtime::ResponseStream {
   public:
    InjectingStream(std::unique_ptr<runtime::ResponseStream> inner,
                    std::shared_ptr<FaultyTransport> owner, std::string target)
        : inner_(std::move(inner)), owner_(std::move(owner)), target_(std::move(target)) {}
    int status_code() const override { return inner_->status_code(); }
    const std::map<std::string, std::string>& headers() const override { return inner_->headers(); }
    StatusOr<std::optional<std::string>> ReadLine() override {
      if (inner_->status_code() == 200) {
        if (std::optional<std::string> line = owner_->TakeLine(target_)) {
          return std::optional<std::string>(std::move(*line));
        }
      }
      return inner_->ReadLine();
    }
    void Cancel() override { inner_->Cancel(); }

   private:
    std::unique_ptr<runtime::ResponseStream> inner_;
    std::shared_ptr<FaultyTransport> owner_;
    std::string target_;
  };

  std::shared_ptr<runtime::Transport> inner_;
  mutable std::mutex mu_;
  std::deque<Rule> rules_;
  std::deque<Line> lines_;
  int damaged_ = 0;
  int injected_ = 0;
};

}  // namespace lballoc::testing
