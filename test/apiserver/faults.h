// Fault injection for the in-memory API server: per-verb error rates (409 Conflict, 500, 429
// with Retry-After), added latency, watch streams dropped at intervals, and watch resumes forced
// to 410 Expired. Also one-shot faults ("the next 2 updates of services fail with 409") for
// deterministic tests. All random choices come from one generator seeded by `seed`, so a run is
// reproducible for a given request order.
//
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>

namespace lballoc::apiserver {

struct VerbFaults {
  double conflict_rate = 0;  // 409 Conflict
  double error_rate = 0;     // 500 InternalError
  double throttle_rate = 0;  // 429 TooManyRequests with Retry-After
};

struct FaultConfig {
  // Verb ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
  // to its rates; "*" applies to verbs not listed.
  std::map<std::string, VerbFaults> verbs;
  std::chrono::milliseconds latency{0};              // added to every resource request
  std::chrono::milliseconds watch_drop_interval{0};  // 0: never; else each watch ends after it
  double watch_expire_rate = 0;  // chance a watch resuming from a version gets ERROR 410
  int retry_after_seconds = 1;
  uint64_t seed = 1;
};

// What to do with one request.
struct Fault {
  int code = 0;  // 409, 500 or 429
  int retry_after_seconds = 0;
};

class FaultInjector {
 public:
  FaultInjector() = default;

  void Configure(const FaultConfig& config);
  FaultConfig config() const;

  // The next `count` requests with this verb on this resource plural ("" matches every
  // resource) fail with `code` (409, 429, 500 or 503), before any random choice.
  void FailNext(const std::string& verb, const std::string& resource, int code, int count = 1);
  // The next `count` watches that resume from a resourceVersion get ERROR 410.
  void ExpireNextWatches(int count = 1);

  // Decides for one request.
  std::optional<Fault> Decide(const std::string& verb, const std::string& resource);
  bool ExpireWatch();
  std::chrono::milliseconds latency() const;
  std::chrono::milliseconds watch_drop_interval() const;

  // How many faults were injected so far.
  int64_t injected() const;

 private:
  struct OneShot {
    std::string verb;
    std::string resource;
    int code;
    int remaining;
  };
  mutable std::mutex mu_;
  FaultConfig config_;
  std::mt19937_64 rng_{1};
  std::deque<OneShot> one_shots_;
  int expire_next_ = 0;
  int64_t injected_ = 0;
};

}  // namespace lballoc::apiserver
