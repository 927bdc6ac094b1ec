// Metrics: a small Prometheus registry (counters, gauges, histograms, and values read from a
// callback at scrape time) rendered in the Prometheus text exposition format (version 0.0.4),
// plus a parser of that format for tests and tools.
//
// Metric names follow controller-runtime where one exists (controller_runtime_reconcile_total,
// workqueue_depth, leader_election_master_status, ...). Informers report their LIST and WATCH
// requests through InformerMetricsFor().
//
// Thread-safety: everything here is safe for concurrent use. Metric objects returned by the
// registry live as long as the registry; updating one is a lock-free atomic operation.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "operator/base/mutex.h"
#include "operator/base/statusor.h"

namespace lballoc::runtime {

using Labels = std::map<std::string, std::string>;

class Counter {
 public:
  void Inc(double delta = 1.0) { value_.fetch_add(delta, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Histogram {
 public:
  // `bounds` are the upper bounds of the buckets, ascending; +Inf is implicit.
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);

  const std::vector<double>& bounds() const { return bounds_; }
  // Non-cumulative count of bucket i (i == bounds().size() is the +Inf bucket).
  uint64_t BucketCount(size_t i) const { return counts_[i].load(std::memory_order_relaxed); }
  uint64_t Count() const { return count_.load(std::memory_order_relaxed); }
  double Sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0.0};
};

// controller-runtime's reconcile-time buckets (seconds).
std::vector<double> ReconcileTimeBuckets();

class MetricsRegistry {
 public:
  enum class Type { kCounter, kGauge, kHistogram };

  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // The process-wide registry, used when no other is given.
  static MetricsRegistry& Default();

  // Returns the metric with this name and labels, creating it (and its family) on first use.
  // A name is bound to one type and one help text, set by its first use.
  Counter* GetCounter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge* GetGauge(std::string_view name, std::string_view help, const Labels& labels = {});
  Histogram* GetHistogram(std::string_view name, std::string_view help, const Labels& labels,
                          const std::vector<double>& bounds);

  // A counter or gauge whose value is read from `read` at every scrape (for values that are
  // kept elsewhere, like a work queue's depth). Returns an id for RemoveFunc(); call it before
  // whatever `read` refers to goes away.
  int AddFunc(Type type, std::string_view name, std::string_view help, const Labels& labels,
              std::function<double()> read);
  void RemoveFunc(int id);

  // The whole registry in the Prometheus text format, families sorted by name.
  std::string Render() const;

 private:
  struct Family {
    Type type;
    std::string help;
    std::map<Labels, std::unique_ptr<Counter>> counters;
    std::map<Labels, std::unique_ptr<Gauge>> gauges;
    std::map<Labels, std::unique_ptr<Histogram>> histograms;
    std::map<int, std::pair<Labels, std::function<double()>>> funcs;
  };
  Family& FamilyLocked(std::string_view name, std::string_view help, Type type) REQUIRES(mu_);

  mutable Mutex mu_;
  std::map<std::string, Family, std::less<>> families_ GUARDED_BY(mu_);
  std::map<int, std::string> func_names_ GUARDED_BY(mu_);
  int next_func_id_ GUARDED_BY(mu_) = 1;
};

// Counters an informer updates (lballoc_informer_lists_total, _watches_total,
// _watch_events_total, labelled with the resource, e.g. "services").
struct InformerMetrics {
  Counter* lists;
  Counter* watches;
  Counter* watch_events;
};
InformerMetrics InformerMetricsFor(MetricsRegistry& registry, std::string_view resource);

// One sample of a parsed exposition: name, labels, value.
struct Sample {
  std::string name;
  Labels labels;
  double value;
};
// Parses the Prometheus text format (comments and blank lines skipped). Malformed lines are an
// InvalidArgument error naming the line.
StatusOr<std::vector<Sample>> ParsePrometheusText(std::string_view text);
// The value of the sample with this name and exactly these labels, or NotFound.
StatusOr<double> FindSample(const std::vector<Sample>& samples, std::string_view name,
                            const Labels& labels = {});

}  // namespace lballoc::runtime
