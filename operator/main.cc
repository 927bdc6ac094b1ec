// lballoc-operator: gives Services of type LoadBalancer their addresses from LoadBalancerPools.
//
// This file only turns the command line into app::FlagValues (gflags is used here and nowhere
// else in the operator) and maps the outcome to an exit status; operator/app.h does the rest.
// Flags are read with a small loop over gflags' registry rather than
// gflags::ParseCommandLineFlags, because gflags exits with status 1 on an unknown flag or a bad
// value and the contract is status 2 for usage errors (as Go's flag package does).
#include <gflags/gflags.h>
#include <glog/logging.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "operator/app.h"
#include "operator/runtime/http_transport.h"
#include "operator/runtime/manager.h"
#include "operator/runtime/rest_config.h"

DEFINE_string(kubeconfig, "",
              "kubeconfig file; default: $KUBECONFIG, else in-cluster, else ~/.kube/config");
DEFINE_string(loadbalancer_class, "kube-router",
              "spec.loadBalancerClass of the Services this operator always handles");
DEFINE_bool(loadbalancer_default_class, true,
            "also handle Services with no loadBalancerClass or the class \"default\"");
DEFINE_bool(leader_elect, true, "elect a leader through a Lease so that only one replica writes");
DEFINE_string(leader_elect_lease_name, "lballoc", "name of the leader-election Lease");
DEFINE_string(leader_elect_lease_duration, "15s",
              "how long a non-leader waits after the last renewal before taking the lease");
DEFINE_string(leader_elect_renew_deadline, "10s",
              "how long the leader keeps retrying a renewal before it stops leading");
DEFINE_string(leader_elect_retry_period, "2s", "time between leader-election attempts");
DEFINE_string(health_probe_bind_address, ":8081",
              "address of /healthz and /readyz (host:port, :port; 0 turns it off)");
DEFINE_string(metrics_bind_address, ":8080",
              "address of /metrics, Prometheus text format (host:port, :port; 0 turns it off)");

namespace {

constexpr char kProgram[] = "lballoc-operator";

// The operator's own flags, in the order --help lists them.
const std::vector<std::string>& OwnFlags() {
  static const std::vector<std::string> kFlags = {
      "kubeconfig",
      "loadbalancer_class",
      "loadbalancer_default_class",
      "leader_elect",
      "leader_elect_lease_name",
      "leader_elect_lease_duration",
      "leader_elect_renew_deadline",
      "leader_elect_retry_period",
      "health_probe_bind_address",
      "metrics_bind_address",
  };
  return kFlags;
}

std::string Dashed(std::string name) {
  std::replace(name.begin(), name.end(), '_', '-');
  return name;
}

void PrintUsage() {
  std::printf(
      "Usage: %s [flags]\n\n"
      "Gives Services of type LoadBalancer addresses from LoadBalancerPool resources.\n"
      "Environment: POD_NAME (leader-election identity), POD_NAMESPACE (the Lease's namespace).\n\n"
      "Flags:\n",
      kProgram);
  for (const std::string& name : OwnFlags()) {
    gflags::CommandLineFlagInfo info;
    if (!gflags::GetCommandLineFlagInfo(name.c_str(), &info)) continue;
    std::string value =
        info.type == "string" ? "\"" + info.default_value + "\"" : info.default_value;
    std::printf("  --%s (default %s)\n      %s\n", Dashed(name).c_str(), value.c_str(),
                info.description.c_str());
  }
  std::printf(
      "  --version\n      print the version and exit\n"
      "  --help\n      print this help and exit\n"
      "Logging (glog): --v=N for verbose logs; --helpfull lists every flag, logging included.\n"
      "Durations are written as in Go: 15s, 1m30s, 500ms.\n"
      "Exit status: 0 after a clean shutdown (SIGTERM, SIGINT), 1 on a failure, 2 on bad flags "
      "or configuration.\n");
}

int UsageError(const std::string& message) {
  std::fprintf(stderr, "%s: %s\nRun %s --help for the flags.\n", kProgram, message.c_str(),
               kProgram);
  return lballoc::app::kExitUsage;
}

// Sets every flag of argv through gflags' registry. Returns "" or the error.
std::string ParseFlags(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") {
      if (i + 1 < argc) return std::string("unexpected argument \"") + argv[i + 1] + "\"";
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') return "unexpected argument \"" + arg + "\"";
    std::string body = arg.substr(arg[1] == '-' ? 2 : 1);
    std::string name = body;
    std::string value;
    bool has_value = false;
    if (size_t eq = body.find('='); eq != std::string::npos) {
      name = body.substr(0, eq);
      value = body.substr(eq + 1);
      has_value = true;
    }
    std::replace(name.begin(), name.end(), '-', '_');
    gflags::CommandLineFlagInfo info;
    if (!gflags::GetCommandLineFlagInfo(name.c_str(), &info)) {
      // --noleader-elect: gflags' negation of a bool flag.
      if (!has_value && name.rfind("no", 0) == 0 &&
          gflags::GetCommandLineFlagInfo(name.substr(2).c_str(), &info) && info.type == "bool") {
        name = name.substr(2);
        value = "false";
        has_value = true;
      } else {
        return "unknown flag \"" + arg + "\"";
      }
    }
    if (!has_value) {
      if (info.type == "bool") {
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        return "flag \"" + arg + "\" needs a value";
      }
    }
    if (gflags::SetCommandLineOption(name.c_str(), value.c_str()).empty()) {
      return "invalid value \"" + value + "\" for flag --" + Dashed(name) + " (a " + info.type +
             ")";
    }
  }
  return "";
}

bool BoolFlag(const char* name) {
  std::string value;
  return gflags::GetCommandLineOption(name, &value) && value == "true";
}

}  // namespace

int main(int argc, char** argv) {
  // An operator logs to stderr (the container's log), not to files in /tmp.
  gflags::SetCommandLineOptionWithMode("logtostderr", "true", gflags::SET_FLAGS_DEFAULT);
  gflags::SetVersionString(LBALLOC_VERSION);
  gflags::SetUsageMessage("gives Services of type LoadBalancer addresses from LoadBalancerPools");
  if (std::string error = ParseFlags(argc, argv); !error.empty()) return UsageError(error);
  if (BoolFlag("help")) {
    PrintUsage();
    return lballoc::app::kExitOk;
  }
  if (BoolFlag("version")) {
    std::printf("%s %s\n", kProgram, LBALLOC_VERSION);
    return lballoc::app::kExitOk;
  }
  if (BoolFlag("helpfull")) {
    gflags::ShowUsageWithFlags(argv[0]);
    return lballoc::app::kExitOk;
  }
  google::InitGoogleLogging(argv[0]);
  if (lballoc::Status s =
          lballoc::runtime::SetHttpThreadPoolSize(lballoc::runtime::kHttpThreadPoolSize);
      !s.ok()) {
    LOG(ERROR) << "cannot start: " << s;
    return lballoc::app::ExitCodeFor(s);
  }

  lballoc::app::FlagValues flags;
  flags.kubeconfig = FLAGS_kubeconfig;
  flags.load_balancer_class = FLAGS_loadbalancer_class;
  flags.load_balancer_default_class = FLAGS_loadbalancer_default_class;
  flags.leader_elect = FLAGS_leader_elect;
  flags.leader_elect_lease_name = FLAGS_leader_elect_lease_name;
  flags.leader_elect_lease_duration = FLAGS_leader_elect_lease_duration;
  flags.leader_elect_renew_deadline = FLAGS_leader_elect_renew_deadline;
  flags.leader_elect_retry_period = FLAGS_leader_elect_retry_period;
  flags.health_probe_bind_address = FLAGS_health_probe_bind_address;
  flags.metrics_bind_address = FLAGS_metrics_bind_address;

  lballoc::StatusOr<lballoc::app::AppConfig> config =
      lballoc::app::ResolveConfig(flags, lballoc::runtime::ProcessEnv());
  if (!config.ok()) return UsageError(std::string(config.status().message()));

  LOG(INFO) << kProgram << " " << LBALLOC_VERSION << " starting: class \""
            << flags.load_balancer_class << "\", default class "
            << (flags.load_balancer_default_class ? "handled" : "ignored") << ", leader election "
            << (flags.leader_elect ? "on" : "off");
  lballoc::StatusOr<std::unique_ptr<lballoc::app::Operator>> created =
      lballoc::app::Operator::Create(*config);
  if (!created.ok()) {
    LOG(ERROR) << "cannot start: " << created.status();
    return lballoc::app::ExitCodeFor(created.status());
  }
  std::shared_ptr<lballoc::app::Operator> op = *std::move(created);
  // The signal watcher may outlive main's locals: it holds only a weak reference.
  std::weak_ptr<lballoc::app::Operator> weak = op;
  lballoc::runtime::InstallShutdownSignalHandlers([weak] {
    if (auto alive = weak.lock()) alive->Stop();
  });
  lballoc::Status status = op->Run();
  if (!op->ShutdownComplete()) {
    // The manager's shutdown overran its timeout and still runs: leave without destroying
    // anything it uses (its contract), after making sure the reason is in the log.
    LOG(ERROR) << "shutdown did not finish in time, exiting now: " << status;
    google::FlushLogFiles(google::GLOG_INFO);
    std::fflush(nullptr);
    _exit(lballoc::app::kExitFailure);
  }
  if (!status.ok()) {
    LOG(ERROR) << "stopped with an error: " << status;
  } else {
    LOG(INFO) << "stopped cleanly";
  }
  op.reset();
  return lballoc::app::ExitCodeFor(status);
}
