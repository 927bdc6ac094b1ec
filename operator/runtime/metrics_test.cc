#include "operator/runtime/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <thread>
#include <vector>

#include "test/testing/status_matchers.h"

namespace lballoc::runtime {
namespace {

using ::lballoc::testing::IsOkAndHolds;
using ::lballoc::testing::StatusIs;
using ::testing::_;
using ::testing::HasSubstr;

TEST(MetricsTest, RendersCountersGaugesAndFuncsAndParsesBack) {
  MetricsRegistry registry;
  registry.GetCounter("reconcile_total", "Reconciles.", {{"controller", "svc"}, {"result", "ok"}})
      ->Inc(3);
  registry.GetGauge("leader", "Leader status.", {{"name", "x"}})->Set(1);
  double depth = 7;
  int id = registry.AddFunc(MetricsRegistry::Type::kGauge, "depth", "Depth.", {{"name", "q"}},
                            [&] { return depth; });
  std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("# TYPE reconcile_total counter\n"));
  EXPECT_THAT(text, HasSubstr("# HELP leader Leader status.\n"));
  EXPECT_THAT(text, HasSubstr("reconcile_total{controller=\"svc\",result=\"ok\"} 3\n"));
  ASSERT_OK_AND_ASSIGN(auto samples, ParsePrometheusText(text));
  EXPECT_THAT(FindSample(samples, "depth", {{"name", "q"}}), IsOkAndHolds(7.0));
  EXPECT_THAT(FindSample(samples, "leader", {{"name", "x"}}), IsOkAndHolds(1.0));
  depth = 2;
  ASSERT_OK_AND_ASSIGN(samples, ParsePrometheusText(registry.Render()));
  EXPECT_THAT(FindSample(samples, "depth", {{"name", "q"}}), IsOkAndHolds(2.0));
  registry.RemoveFunc(id);
  ASSERT_OK_AND_ASSIGN(samples, ParsePrometheusText(registry.Render()));
  EXPECT_THAT(FindSample(samples, "depth", {{"name", "q"}}),
              StatusIs(StatusCode::kNotFound, HasSubstr("depth{name=\"q\"}")));
}

TEST(MetricsTest, SameNameAndLabelsIsTheSameMetric) {
  MetricsRegistry registry;
  Counter* a = registry.GetCounter("c", "h", {{"k", "v"}});
  Counter* b = registry.GetCounter("c", "h", {{"k", "v"}});
  Counter* other = registry.GetCounter("c", "h", {{"k", "w"}});
  EXPECT_EQ(a, b);
  EXPECT_NE(a, other);
}

TEST(MetricsTest, HistogramBucketsAreCumulative) {
  MetricsRegistry registry;
  Histogram* h = registry.GetHistogram("t_seconds", "Time.", {{"c", "x"}}, {0.1, 1.0});
  h->Observe(0.05);
  h->Observe(0.1);  // upper bounds are inclusive
  h->Observe(0.5);
  h->Observe(5);
  ASSERT_OK_AND_ASSIGN(auto samples, ParsePrometheusText(registry.Render()));
  EXPECT_THAT(FindSample(samples, "t_seconds_bucket", {{"c", "x"}, {"le", "0.10000000000000001"}}),
              IsOkAndHolds(2.0));
  EXPECT_THAT(FindSample(samples, "t_seconds_bucket", {{"c", "x"}, {"le", "1"}}),
              IsOkAndHolds(3.0));
  EXPECT_THAT(FindSample(samples, "t_seconds_bucket", {{"c", "x"}, {"le", "+Inf"}}),
              IsOkAndHolds(4.0));
  EXPECT_THAT(FindSample(samples, "t_seconds_count", {{"c", "x"}}), IsOkAndHolds(4.0));
  EXPECT_THAT(FindSample(samples, "t_seconds_sum", {{"c", "x"}}), IsOkAndHolds(5.65));
}

TEST(MetricsTest, LabelValuesAreEscaped) {
  MetricsRegistry registry;
  registry.GetCounter("c", "h", {{"k", "a\"b\\c\nd"}})->Inc();
  std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr(R"(c{k="a\"b\\c\nd"} 1)"));
  ASSERT_OK_AND_ASSIGN(auto samples, ParsePrometheusText(text));
  EXPECT_THAT(FindSample(samples, "c", {{"k", "a\"b\\c\nd"}}), IsOkAndHolds(1.0));
}

TEST(MetricsTest, ParserRejectsMalformedLines) {
  EXPECT_THAT(ParsePrometheusText("ok 1\n{x=\"y\"} 1\n"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("line 2")));
  EXPECT_THAT(ParsePrometheusText("m{k=\"v} 1"), StatusIs(StatusCode::kInvalidArgument, _));
  EXPECT_THAT(ParsePrometheusText("m 1x"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("bad value")));
  EXPECT_THAT(ParsePrometheusText("m"), StatusIs(StatusCode::kInvalidArgument, _));
}

TEST(MetricsTest, InformerMetricsAreLabelledByResource) {
  MetricsRegistry registry;
  InformerMetrics m = InformerMetricsFor(registry, "services");
  m.lists->Inc();
  m.watches->Inc(2);
  ASSERT_OK_AND_ASSIGN(auto samples, ParsePrometheusText(registry.Render()));
  EXPECT_THAT(FindSample(samples, "lballoc_informer_lists_total", {{"resource", "services"}}),
              IsOkAndHolds(1.0));
  EXPECT_THAT(FindSample(samples, "lballoc_informer_watches_total", {{"resource", "services"}}),
              IsOkAndHolds(2.0));
}

TEST(MetricsTest, ConcurrentUpdatesAreNotLost) {
  MetricsRegistry registry;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        registry.GetCounter("c", "h")->Inc();
        registry.GetHistogram("h", "h", {}, {1})->Observe(0.5);
        if (i % 100 == 0) (void)registry.Render();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(registry.GetCounter("c", "h")->Value(), 4000);
  EXPECT_EQ(registry.GetHistogram("h", "h", {}, {1})->Count(), 4000u);
}

}  // namespace
}  // namespace lballoc::runtime
