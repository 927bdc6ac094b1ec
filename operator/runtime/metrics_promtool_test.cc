// The whole runtime's metrics pass `promtool check metrics`, Prometheus' own linter (API.md
// "Metrics"): a registry with every family the runtime exports, with samples in them, is
// rendered and handed to promtool (Debian package `prometheus`, installed by `make deps`).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include "operator/base/clock.h"
#include "operator/runtime/client.h"
#include "operator/runtime/controller.h"
#include "operator/runtime/leader_election.h"
#include "operator/runtime/metrics.h"
#include "operator/runtime/metrics_transport.h"
#include "operator/runtime/process_metrics.h"
#include "test/testing/eventually.h"
#include "test/testing/fake_clock.h"
#include "test/testing/fake_lease.h"
#include "test/testing/fake_transport.h"
#include "test/testing/status_matchers.h"

namespace lballoc::runtime {
namespace {

using ::testing::HasSubstr;

struct Result {
  int exit_code;
  std::string output;
};

// Runs promtool on `exposition`.
Result Promtool(const std::string& exposition) {
  const std::string path = ::testing::TempDir() + "/metrics_" + std::to_string(getpid()) + ".txt";
  std::ofstream(path) << exposition;
  const std::string command = std::string(LBALLOC_PROMTOOL) + " check metrics < " + path + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  Result result{-1, ""};
  if (pipe == nullptr) return result;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof(buf), pipe)) result.output.append(buf, n);
  int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::remove(path.c_str());
  return result;
}

TEST(MetricsPromtoolTest, PromtoolIsInstalled) {
  Result version = Promtool("");
  ASSERT_NE(version.exit_code, 127)
      << LBALLOC_PROMTOOL << " is missing: run `make deps` (Debian package prometheus)";
}

// The linter must be able to fail, or the test below proves nothing.
TEST(MetricsPromtoolTest, PromtoolRejectsACounterWithoutTotal) {
  MetricsRegistry registry;
  registry.GetCounter("lballoc_things", "Things.")->Inc();
  Result result = Promtool(registry.Render());
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.output, HasSubstr("_total"));
}

TEST(MetricsPromtoolTest, EveryRuntimeFamilyPassesTheLinter) {
  MetricsRegistry registry;
  FakeClock clock;

  // controller_runtime_* and workqueue_*, with work done.
  auto reconciler = std::make_shared<ReconcilerFunc>([](const Request& r) {
    return r.name == "bad" ? ReconcileResult::Error(InternalError("no")) : ReconcileResult::Done();
  });
  ControllerOptions options;
  options.metrics = &registry;
  Controller controller("service", reconciler, options);
  ASSERT_OK(controller.Start());
  controller.Enqueue({"ns", "good"});
  controller.Enqueue({"ns", "bad"});
  ASSERT_TRUE(lballoc::testing::Eventually([&] {
    auto samples = ParsePrometheusText(registry.Render());
    auto n = FindSample(*samples, "controller_runtime_reconcile_errors_total",
                        {{"controller", "service"}});
    return n.ok() && *n >= 1;
  }));

  // leader_election_master_status.
  fakes::FakeLeaseServer lease_server;
  fakes::FakeLeaseLock lock(lease_server);
  LeaderElectionConfig config;
  config.identity = "pod-a";
  config.clock = &clock;
  config.metrics = &registry;
  ASSERT_OK_AND_ASSIGN(auto elector, LeaderElector::Create(lock, config, {}));
  ASSERT_TRUE(elector->TryAcquireOrRenew());

  // rest_client_*.
  auto fake = std::make_shared<FakeTransport>();
  fake->SetHandler([](const HttpRequest&) -> StatusOr<HttpResponse> {
    return HttpResponse{200, "{}", {}};
  });
  MetricsTransport transport(fake, "127.0.0.1:6443", registry, clock);
  ASSERT_OK(transport.Do(HttpRequest{}).status());

  // lballoc_informer_* and process_*.
  InformerMetricsFor(registry, "services").lists->Inc();
  ProcessMetrics process(registry);

  const std::string text = registry.Render();
  for (const char* family :
       {"controller_runtime_reconcile_total", "controller_runtime_reconcile_time_seconds_bucket",
        "workqueue_depth", "workqueue_adds_total", "workqueue_retries_total",
        "workqueue_queue_duration_seconds_bucket", "workqueue_work_duration_seconds_bucket",
        "workqueue_unfinished_work_seconds", "workqueue_longest_running_processor_seconds",
        "leader_election_master_status", "rest_client_requests_total",
        "rest_client_request_duration_seconds_bucket", "process_cpu_seconds_total",
        "process_resident_memory_bytes", "process_start_time_seconds", "process_open_fds",
        "process_max_fds", "process_virtual_memory_bytes", "lballoc_informer_lists_total"}) {
    EXPECT_THAT(text, HasSubstr(std::string("\n") + family)) << family;
  }
  Result result = Promtool(text);
  EXPECT_EQ(result.exit_code, 0) << result.output << "\n--- exposition:\n" << text;
  controller.Stop();
}

}  // namespace
}  // namespace lballoc::runtime
