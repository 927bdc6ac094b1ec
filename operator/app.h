// The lballoc-operator program without its flag parser: main.cc turns command-line flags into
// FlagValues, and everything after that (checking them, reading the environment, finding the
// cluster, wiring the runtime and the controllers, running until stopped) lives here so tests
// can drive it without gflags or a process.
//
//   StatusOr<AppConfig> config = ResolveConfig(flags, runtime::ProcessEnv());   // exit 2 on error
//   StatusOr<std::unique_ptr<Operator>> op = Operator::Create(*config);        // exit 1 on error
//   InstallShutdownSignalHandlers([&] { (*op)->Stop(); });
//   Status status = (*op)->Run();
//   if (!(*op)->ShutdownComplete()) _exit(kExitFailure);   // shutdown overran its timeout
//   return ExitCodeFor(status);
//
// Exit codes (API.md "Running it"): 0 after a clean shutdown, 1 on a runtime failure, 2 on bad
// flags or configuration.
//
// Thread-safety: ResolveConfig and ParseDuration are pure. Operator: Run() on one thread, Stop()
// from any thread (a signal watcher), manager() after Create().
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "controllers/operator.h"
#include "operator/base/clock.h"
#include "operator/base/status.h"
#include "operator/base/statusor.h"
#include "operator/runtime/event_recorder.h"
#include "operator/runtime/manager.h"
#include "operator/runtime/metrics.h"
#include "operator/runtime/process_metrics.h"
#include "operator/runtime/rest_config.h"

namespace lballoc::app {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// The flags of API.md "Running it", as given (durations still text).
struct FlagValues {
  std::string kubeconfig;
  std::string load_balancer_class = "kube-router";
  bool load_balancer_default_class = true;
  bool leader_elect = true;
  std::string leader_elect_lease_name = "lballoc";
  std::string leader_elect_lease_duration = "15s";
  std::string leader_elect_renew_deadline = "10s";
  std::string leader_elect_retry_period = "2s";
  std::string health_probe_bind_address = ":8081";
  std::string metrics_bind_address = ":8080";
};

// Everything the operator needs to start, checked.
struct AppConfig {
  runtime::RestConfig rest;
  controllers::OperatorOptions controller_options;
  runtime::ManagerOptions manager_options;  // leader election filled in, clock/metrics unset
  std::string pod_name;                     // Lease holder identity, event source host
  std::string pod_namespace;                // the Lease's namespace ("" without election)
};

// Go's time.ParseDuration grammar ("15s", "1m30s", "500ms", "1.5h", "0"; units ns us µs ms s
// m h). InvalidArgument naming the text when it does not parse.
StatusOr<Clock::Duration> ParseDuration(std::string_view text);

// "" and "0" (off), "port", ":port", "host:port", "[v6]:port" with a port of 0-65535.
Status ValidateBindAddress(std::string_view flag, std::string_view address);

// Checks the flags, reads POD_NAME / POD_NAMESPACE (namespace falls back to the
// service-account namespace file in `sa_dir`) and finds the cluster (runtime::LoadRestConfig).
// Every error is a configuration error (exit 2) naming the flag, variable or file at fault.
// Without leader election POD_NAME is optional (it then defaults to the host name) and no
// namespace is needed.
StatusOr<AppConfig> ResolveConfig(const FlagValues& flags, const runtime::EnvLookup& env,
                                  const std::string& sa_dir = runtime::kServiceAccountDir);

// The running operator: client (with rest_client_* metrics), manager, event recorder,
// process_* metrics and lballoc's controllers.
class Operator {
 public:
  // `metrics` nullptr: MetricsRegistry::Default(). Errors are runtime failures (exit 1),
  // except InvalidArgument from the controllers' options (exit 2, see ExitCodeFor).
  static StatusOr<std::unique_ptr<Operator>> Create(const AppConfig& config,
                                                    runtime::MetricsRegistry* metrics = nullptr);
  ~Operator();

  // Runs until Stop() (clean: OK) or a failure; then flushes pending events.
  Status Run();
  void Stop();
  // False when Run() returned because the shutdown overran its timeout and is still going on
  // (runtime::Manager's overrun contract): the caller must then leave with _exit() without
  // destroying the Operator, whose destructor would wait for that shutdown.
  bool ShutdownComplete() const { return manager_->ShutdownComplete(); }
  runtime::Manager& manager() { return *manager_; }

 private:
  Operator() = default;

  std::unique_ptr<runtime::ProcessMetrics> process_metrics_;
  std::unique_ptr<runtime::Manager> manager_;
  // Declared after the manager: destroyed first, while the client it writes through exists.
  std::unique_ptr<runtime::ClientEventRecorder> recorder_;
};

// kExitOk for OK, kExitUsage for InvalidArgument, kExitFailure otherwise.
int ExitCodeFor(const Status& status);

}  // namespace lballoc::app
