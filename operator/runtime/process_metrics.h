// ProcessMetrics: the process_* families Prometheus clients export, read from /proc at every
// scrape (Linux only):
//   process_cpu_seconds_total       user + system CPU time        (/proc/self/stat)
//   process_resident_memory_bytes   resident set size             (/proc/self/stat)
//   process_virtual_memory_bytes    virtual memory size           (/proc/self/stat)
//   process_start_time_seconds      start time, Unix seconds      (/proc/self/stat + /proc/stat)
//   process_open_fds                open file descriptors         (/proc/self/fd)
//   process_max_fds                 the soft RLIMIT_NOFILE
// A value that cannot be read is rendered as NaN rather than hiding the family.
//
// Thread-safety: construct and destroy on one thread; scrapes may run concurrently.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "operator/base/statusor.h"
#include "operator/runtime/metrics.h"

namespace lballoc::runtime {

// What /proc/self/stat says about this process, in the units of the metrics.
struct ProcessStat {
  double cpu_seconds = 0;
  double resident_bytes = 0;
  double virtual_bytes = 0;
  double start_seconds_since_boot = 0;
};
// Parses the text of /proc/<pid>/stat (the command name may hold spaces and parentheses).
StatusOr<ProcessStat> ParseProcStat(std::string_view text, int64_t clock_ticks_per_second,
                                    int64_t page_size);
// The "btime" line of /proc/stat: boot time in Unix seconds.
StatusOr<double> ParseBootTime(std::string_view proc_stat_text);

class ProcessMetrics {
 public:
  // Adds the families to `registry` (which must outlive this object).
  explicit ProcessMetrics(MetricsRegistry& registry);
  ~ProcessMetrics();
  ProcessMetrics(const ProcessMetrics&) = delete;
  ProcessMetrics& operator=(const ProcessMetrics&) = delete;

 private:
  MetricsRegistry& registry_;
  std::vector<int> ids_;
};

}  // namespace lballoc::runtime
