#include "operator/runtime/process_metrics.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "test/testing/status_matchers.h"

namespace lballoc::runtime {
namespace {

using ::lballoc::testing::IsOkAndHolds;
using ::lballoc::testing::StatusIs;
using ::testing::_;
using ::testing::HasSubstr;

TEST(ParseProcStatTest, CountsFieldsFromTheLastParenthesis) {
  // A command name with spaces and a ')' must not shift the fields.
  std::string text =
      "4242 (we ird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 "
      "250 150 0 0 20 0 7 0 12345 104857600 2560 18446744073709551615";
  ASSERT_OK_AND_ASSIGN(ProcessStat stat, ParseProcStat(text, 100, 4096));
  EXPECT_DOUBLE_EQ(stat.cpu_seconds, 4.0);  // (250 + 150) / 100
  EXPECT_DOUBLE_EQ(stat.start_seconds_since_boot, 123.45);
  EXPECT_DOUBLE_EQ(stat.virtual_bytes, 104857600);
  EXPECT_DOUBLE_EQ(stat.resident_bytes, 2560.0 * 4096);
}

TEST(ParseProcStatTest, RejectsTruncatedOrGarbledText) {
  EXPECT_THAT(ParseProcStat("1 (x) S 1 2 3", 100, 4096),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("field 14 missing")));
  EXPECT_THAT(ParseProcStat("no parenthesis here", 100, 4096),
              StatusIs(StatusCode::kInvalidArgument, _));
  EXPECT_THAT(ParseProcStat("1 (x) S 1 1 1 0 -1 0 0 0 0 0 abc 1 0 0 20 0 1 0 5 10 10", 100, 4096),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("\"abc\"")));
}

TEST(ParseBootTimeTest, ReadsBtime) {
  EXPECT_THAT(ParseBootTime("cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n"),
              IsOkAndHolds(1700000000.0));
  EXPECT_THAT(ParseBootTime("cpu 1\n"), StatusIs(StatusCode::kNotFound, _));
}

double Value(const MetricsRegistry& registry, const std::string& name) {
  auto samples = ParsePrometheusText(registry.Render());
  if (!samples.ok()) return -1;
  auto value = FindSample(*samples, name);
  return value.ok() ? *value : -1;
}

TEST(ProcessMetricsTest, ReadsThisProcessAtScrapeTime) {
  MetricsRegistry registry;
  {
    ProcessMetrics metrics(registry);
    EXPECT_GT(Value(registry, "process_resident_memory_bytes"), 1 << 20);
    EXPECT_GE(Value(registry, "process_virtual_memory_bytes"),
              Value(registry, "process_resident_memory_bytes"));
    EXPECT_GE(Value(registry, "process_cpu_seconds_total"), 0);
    const double now =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    const double start = Value(registry, "process_start_time_seconds");
    EXPECT_LE(start, now + 1);
    EXPECT_GT(start, now - 3600) << "this test process started over an hour ago?";

    rlimit limit{};
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
    EXPECT_EQ(Value(registry, "process_max_fds"), static_cast<double>(limit.rlim_cur));

    // Read at scrape time: opening descriptors shows at the next scrape.
    const double before = Value(registry, "process_open_fds");
    EXPECT_GE(before, 3);
    std::vector<int> fds;
    for (int i = 0; i < 5; ++i) fds.push_back(open("/dev/null", O_RDONLY | O_CLOEXEC));
    EXPECT_EQ(Value(registry, "process_open_fds"), before + 5);
    for (int fd : fds) close(fd);
    EXPECT_EQ(Value(registry, "process_open_fds"), before);

    // CPU time grows with work done.
    const double cpu = Value(registry, "process_cpu_seconds_total");
    volatile double sink = 0;
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
    while (std::chrono::steady_clock::now() < until) sink = sink + 1;
    EXPECT_GT(Value(registry, "process_cpu_seconds_total"), cpu);
  }
  // Removed with the object.
  EXPECT_EQ(Value(registry, "process_open_fds"), -1);
}

}  // namespace
}  // namespace lballoc::runtime
