// The configuration half of app.h: flags and environment -> AppConfig. Kept apart from the
// Operator so that its tests link without the controllers.
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <utility>

#include "operator/app.h"
#include "operator/base/status_macros.h"

namespace lballoc::app {

namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  size_t start = 0;
  while (start < s.size() && s[start] == ' ') ++start;
  return s.substr(start);
}

}  // namespace

StatusOr<Clock::Duration> ParseDuration(std::string_view text) {
  const std::string quoted = "\"" + std::string(text) + "\"";
  auto bad = [&](std::string_view why) {
    return InvalidArgumentError("invalid duration " + quoted + ": " + std::string(why) +
                                " (examples: 15s, 1m30s, 500ms)");
  };
  std::string_view s = text;
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return Clock::Duration::zero();
  if (s.empty()) return bad("empty");
  // Sum in long double nanoseconds; the range check below rejects overflow.
  long double total = 0;
  while (!s.empty()) {
    size_t i = 0;
    long double value = 0;
    bool digits = false;
    while (i < s.size() && IsDigit(s[i])) {
      value = value * 10 + (s[i] - '0');
      ++i;
      digits = true;
    }
    if (i < s.size() && s[i] == '.') {
      ++i;
      long double scale = 0.1L;
      while (i < s.size() && IsDigit(s[i])) {
        value += (s[i] - '0') * scale;
        scale /= 10;
        ++i;
        digits = true;
      }
    }
    if (!digits) return bad("expected a number");
    size_t unit_start = i;
    while (i < s.size() && !IsDigit(s[i]) && s[i] != '.') ++i;
    std::string_view unit = s.substr(unit_start, i - unit_start);
    long double ns_per_unit;
    if (unit == "ns") {
      ns_per_unit = 1;
    } else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") {  // µs, μs
      ns_per_unit = 1e3L;
    } else if (unit == "ms") {
      ns_per_unit = 1e6L;
    } else if (unit == "s") {
      ns_per_unit = 1e9L;
    } else if (unit == "m") {
      ns_per_unit = 60e9L;
    } else if (unit == "h") {
      ns_per_unit = 3600e9L;
    } else if (unit.empty()) {
      return bad("missing unit");
    } else {
      return bad("unknown unit \"" + std::string(unit) + "\"");
    }
    total += value * ns_per_unit;
    s.remove_prefix(i);
  }
  if (total > static_cast<long double>(std::numeric_limits<int64_t>::max())) {
    return bad("out of range");
  }
  int64_t ns = static_cast<int64_t>(std::llround(static_cast<double>(total)));
  return Clock::Duration(negative ? -ns : ns);
}

Status ValidateBindAddress(std::string_view flag, std::string_view address) {
  if (address.empty() || address == "0") return Status();
  std::string_view port = address;
  if (size_t colon = address.rfind(':'); colon != std::string_view::npos) {
    std::string_view host = address.substr(0, colon);
    port = address.substr(colon + 1);
    // An IPv6 host needs brackets, or its own colons would be taken for the port's.
    if (host.find(':') != std::string_view::npos && (host.front() != '[' || host.back() != ']')) {
      return InvalidArgumentError("--" + std::string(flag) + "=" + std::string(address) +
                                  ": put an IPv6 address in brackets, e.g. [::1]:8080");
    }
  }
  bool numeric = !port.empty() && port.size() <= 5;
  for (char c : port) numeric = numeric && IsDigit(c);
  if (!numeric || std::stoi(std::string(port)) > 65535) {
    return InvalidArgumentError("--" + std::string(flag) + "=" + std::string(address) +
                                ": expected host:port, :port, port, or 0 to turn it off");
  }
  return Status();
}

StatusOr<AppConfig> ResolveConfig(const FlagValues& flags, const runtime::EnvLookup& env,
                                  const std::string& sa_dir) {
  AppConfig config;
  if (flags.load_balancer_class.empty()) {
    return InvalidArgumentError("--loadbalancer-class must not be empty");
  }
  config.controller_options.load_balancer_class = flags.load_balancer_class;
  config.controller_options.load_balancer_default_class = flags.load_balancer_default_class;

  runtime::ManagerOptions& manager = config.manager_options;
  LB_RETURN_IF_ERROR(
      ValidateBindAddress("health-probe-bind-address", flags.health_probe_bind_address));
  LB_RETURN_IF_ERROR(ValidateBindAddress("metrics-bind-address", flags.metrics_bind_address));
  manager.health_probe_bind_address = flags.health_probe_bind_address;
  manager.metrics_bind_address = flags.metrics_bind_address;

  // Durations are checked even with --leader-elect=false: a typo should not wait to bite.
  struct DurationFlag {
    const char* name;
    const std::string& text;
    Clock::Duration* out;
  };
  runtime::LeaderElectionConfig& election = manager.leader_election_config;
  for (const DurationFlag& d :
       {DurationFlag{"leader-elect-lease-duration", flags.leader_elect_lease_duration,
                     &election.lease_duration},
        DurationFlag{"leader-elect-renew-deadline", flags.leader_elect_renew_deadline,
                     &election.renew_deadline},
        DurationFlag{"leader-elect-retry-period", flags.leader_elect_retry_period,
                     &election.retry_period}}) {
    StatusOr<Clock::Duration> parsed = ParseDuration(d.text);
    if (!parsed.ok()) return parsed.status().WithContext(std::string("--") + d.name);
    if (*parsed <= Clock::Duration::zero()) {
      return InvalidArgumentError(std::string("--") + d.name + "=" + d.text +
                                  ": must be greater than zero");
    }
    *d.out = *parsed;
  }
  // The elector's own rules (client-go's), checked here so that a bad combination is a usage
  // error at start-up rather than a failure after the caches synced.
  if (election.lease_duration < std::chrono::seconds(1)) {
    return InvalidArgumentError("--leader-elect-lease-duration=" +
                                flags.leader_elect_lease_duration + ": must be at least 1s");
  }
  if (election.lease_duration <= election.renew_deadline) {
    return InvalidArgumentError("--leader-elect-lease-duration (" +
                                flags.leader_elect_lease_duration +
                                ") must be greater than --leader-elect-renew-deadline (" +
                                flags.leader_elect_renew_deadline + ")");
  }
  if (static_cast<double>(election.renew_deadline.count()) <=
      1.2 * static_cast<double>(election.retry_period.count())) {
    return InvalidArgumentError("--leader-elect-renew-deadline (" +
                                flags.leader_elect_renew_deadline +
                                ") must be greater than 1.2 x --leader-elect-retry-period (" +
                                flags.leader_elect_retry_period + ")");
  }

  manager.leader_election = flags.leader_elect;
  config.pod_name = env("POD_NAME").value_or("");
  if (flags.leader_elect) {
    if (flags.leader_elect_lease_name.empty()) {
      return InvalidArgumentError("--leader-elect-lease-name must not be empty");
    }
    if (config.pod_name.empty()) {
      return InvalidArgumentError(
          "POD_NAME is not set: leader election uses it as this replica's identity (set it from "
          "the downward API, metadata.name, or run with --leader-elect=false)");
    }
    config.pod_namespace = env("POD_NAMESPACE").value_or("");
    if (config.pod_namespace.empty()) {
      std::ifstream in(sa_dir + "/namespace");
      std::stringstream text;
      if (in) text << in.rdbuf();
      config.pod_namespace = Trim(text.str());
    }
    if (config.pod_namespace.empty()) {
      return InvalidArgumentError(
          "POD_NAMESPACE is not set and " + sa_dir +
          "/namespace is not readable: the leader-election Lease needs a namespace (set it from "
          "the downward API, metadata.namespace)");
    }
    manager.leader_election_namespace = config.pod_namespace;
    manager.leader_election_name = flags.leader_elect_lease_name;
    election.identity = config.pod_name;
    election.name = flags.leader_elect_lease_name;
  } else if (config.pod_name.empty()) {
    char host[256] = {0};
    config.pod_name = gethostname(host, sizeof(host) - 1) == 0 ? host : "lballoc-operator";
  }

  StatusOr<runtime::RestConfig> rest = runtime::LoadRestConfig(flags.kubeconfig, env, sa_dir);
  if (!rest.ok()) {
    return InvalidArgumentError("cannot find the cluster: " + rest.status().ToString());
  }
  config.rest = *std::move(rest);
  return config;
}

int ExitCodeFor(const Status& status) {
  if (status.ok()) return kExitOk;
  if (status.code() == StatusCode::kInvalidArgument) return kExitUsage;
  return kExitFailure;
}

}  // namespace lballoc::app
