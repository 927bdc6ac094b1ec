#include "test/apiserver/faults.h"

namespace lballoc::apiserver {

void FaultInjector::Configure(const FaultConfig& config) {
  std::lock_guard<std::mutex> lock(mu_);
  config_ = config;
  rng_.seed(config.seed);
}

FaultConfig FaultInjector::config() const {
  std::lock_guard<std::mutex> lock(mu_);
  return config_;
}

void FaultInjector::FailNext(const std::string& verb, const std::string& resource, int code,
                             int count) {
  std::lock_guard<std::mutex> lock(mu_);
  one_shots_.push_back(OneShot{verb, resource, code, count});
}

void FaultInjector::ExpireNextWatches(int count) {
  std::lock_guard<std::mutex> lock(mu_);
  expire_next_ += count;
}

std::optional<Fault> FaultInjector::Decide(const std::string& verb, const std::string& resource) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = one_shots_.begin(); it != one_shots_.end(); ++it) {
    if (it->verb != verb || (!it->resource.empty() && it->resource != resource)) continue;
    Fault f{it->code, it->code == 429 || it->code == 503 ? config_.retry_after_seconds : 0};
    if (--it->remaining <= 0) one_shots_.erase(it);
    ++injected_;
    return f;
  }
  auto it = config_.verbs.find(verb);
  if (it == config_.verbs.end()) it = config_.verbs.find("*");
  if (it == config_.verbs.end()) return std::nullopt;
  const VerbFaults& v = it->second;
  if (v.conflict_rate <= 0 && v.error_rate <= 0 && v.throttle_rate <= 0) return std::nullopt;
  double r = std::uniform_real_distribution<double>(0, 1)(rng_);
  std::optional<Fault> f;
  if (r < v.conflict_rate) {
    f = Fault{409, 0};
  } else if (r < v.conflict_rate + v.error_rate) {
    f = Fault{500, 0};
  } else if (r < v.conflict_rate + v.error_rate + v.throttle_rate) {
    f = Fault{429, config_.retry_after_seconds};
  }
  if (f) ++injected_;
  return f;
}

bool FaultInjector::ExpireWatch() {
  std::lock_guard<std::mutex> lock(mu_);
  if (expire_next_ > 0) {
    --expire_next_;
    ++injected_;
    return true;
  }
  if (config_.watch_expire_rate <= 0) return false;
  bool e = std::uniform_real_distribution<double>(0, 1)(rng_) < config_.watch_expire_rate;
  if (e) ++injected_;
  return e;
}

std::chrono::milliseconds FaultInjector::latency() const {
  std::lock_guard<std::mutex> lock(mu_);
  return config_.latency;
}

std::chrono::milliseconds FaultInjector::watch_drop_interval() const {
  std::lock_guard<std::mutex> lock(mu_);
  return config_.watch_drop_interval;
}

int64_t FaultInjector::injected() const {
  std::lock_guard<std::mutex> lock(mu_);
  return injected_;
}

}  // namespace lballoc::apiserver
