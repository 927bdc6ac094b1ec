// Reconciler: the one method a controller calls for every key taken from its work queue, and the
// key itself (Request) and the verdict (ReconcileResult).
//
// A Reconciler reads the current state of the object named by the Request (usually from an
// informer's cache), drives the world towards it, and says what should happen next: nothing
// (Done), look again later (RequeueAfter), retry with back-off (Error) or give up on this
// event (Terminal). Implementations must be safe to call from several worker threads at once
// for different Requests; the controller never calls Reconcile twice at once for one Request.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <ostream>
#include <stop_token>
#include <string>
#include <utility>

#include "operator/base/clock.h"
#include "operator/base/status.h"

namespace lballoc::runtime {

// The key of a work item: an object's namespace ("" for cluster-scoped objects) and name.
struct Request {
  std::string namespace_;
  std::string name;

  // "namespace/name", or "name" when cluster-scoped (the informer key format).
  std::string ToString() const { return namespace_.empty() ? name : namespace_ + "/" + name; }

  friend bool operator==(const Request&, const Request&) = default;
  friend auto operator<=>(const Request&, const Request&) = default;
};

inline std::ostream& operator<<(std::ostream& os, const Request& request) {
  return os << request.ToString();
}

struct RequestHash {
  size_t operator()(const Request& request) const {
    size_t h = std::hash<std::string>()(request.namespace_);
    // Mix so that {"a","bc"} and {"ab","c"} differ.
    return h ^
           (std::hash<std::string>()(request.name) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
  }
};

// What the controller does with a Request after Reconcile returns.
class ReconcileResult {
 public:
  enum class Kind {
    kDone,          // forget the back-off; wait for the next event
    kRequeueAfter,  // forget the back-off; reconcile again after `requeue_after`
    kError,         // retry with the per-item exponential back-off (and the overall bucket)
    kTerminal,      // no retry: the event cannot succeed as is; logged and counted
  };

  static ReconcileResult Done() { return ReconcileResult(Kind::kDone, {}, Status()); }
  static ReconcileResult RequeueAfter(Clock::Duration after) {
    return ReconcileResult(Kind::kRequeueAfter, after, Status());
  }
  // `error` should not be OK; an OK status is treated as Done.
  static ReconcileResult Error(Status error) {
    if (error.ok()) return Done();
    return ReconcileResult(Kind::kError, {}, std::move(error));
  }
  static ReconcileResult Terminal(Status error) {
    if (error.ok()) return Done();
    return ReconcileResult(Kind::kTerminal, {}, std::move(error));
  }
  // OK -> Done, anything else -> Error (retried).
  static ReconcileResult FromStatus(Status status) { return Error(std::move(status)); }

  Kind kind() const { return kind_; }
  Clock::Duration requeue_after() const { return requeue_after_; }
  const Status& error() const { return error_; }

 private:
  ReconcileResult(Kind kind, Clock::Duration after, Status error)
      : kind_(kind), requeue_after_(after), error_(std::move(error)) {}

  Kind kind_;
  Clock::Duration requeue_after_;
  Status error_;
};

class Reconciler {
 public:
  virtual ~Reconciler() = default;
  virtual ReconcileResult Reconcile(const Request& request) = 0;
  // What the controller calls. `stop` is requested when the controller stops (the term ended
  // or the process shuts down): a long reconcile should return soon after, and may hand the
  // token to its client calls (CallOptions::cancel) so that they end too. Override it (and
  // make the one-argument form call it with an empty token) to use the token; by default it
  // calls Reconcile(request).
  virtual ReconcileResult Reconcile(const Request& request, std::stop_token stop) {
    (void)stop;
    return Reconcile(request);
  }
};

// Adapts a function (or lambda) to the Reconciler interface.
class ReconcilerFunc final : public Reconciler {
 public:
  using Func = std::function<ReconcileResult(const Request&)>;
  using StoppableFunc = std::function<ReconcileResult(const Request&, std::stop_token)>;
  explicit ReconcilerFunc(Func func)
      : func_([func = std::move(func)](const Request& r, std::stop_token) { return func(r); }) {}
  explicit ReconcilerFunc(StoppableFunc func) : func_(std::move(func)) {}
  ReconcileResult Reconcile(const Request& request) override {
    return func_(request, std::stop_token());
  }
  ReconcileResult Reconcile(const Request& request, std::stop_token stop) override {
    return func_(request, std::move(stop));
  }

 private:
  StoppableFunc func_;
};

inline std::shared_ptr<Reconciler> MakeReconciler(ReconcilerFunc::Func func) {
  return std::make_shared<ReconcilerFunc>(std::move(func));
}
// For a function that takes the stop token too.
inline std::shared_ptr<Reconciler> MakeStoppableReconciler(ReconcilerFunc::StoppableFunc func) {
  return std::make_shared<ReconcilerFunc>(std::move(func));
}

}  // namespace lballoc::runtime

template <>
struct std::hash<lballoc::runtime::Request> {
  size_t operator()(const lballoc::runtime::Request& request) const {
    return lballoc::runtime::RequestHash()(request);
  }
};
