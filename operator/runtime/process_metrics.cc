#include "operator/runtime/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

namespace lballoc::runtime {

namespace {

std::optional<std::string> ReadFile(const char* path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

StatusOr<ProcessStat> ReadSelfStat() {
  std::optional<std::string> text = ReadFile("/proc/self/stat");
  if (!text) return UnavailableError("cannot read /proc/self/stat");
  return ParseProcStat(*text, sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE));
}

double OrNaN(const StatusOr<ProcessStat>& stat, double ProcessStat::*field) {
  return stat.ok() ? (*stat).*field : NAN;
}

double OpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return NAN;
  double count = 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count - 1;  // the descriptor opendir() itself holds
}

double MaxFds() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return NAN;
  return limit.rlim_cur == RLIM_INFINITY ? INFINITY : static_cast<double>(limit.rlim_cur);
}

double StartTime() {
  StatusOr<ProcessStat> stat = ReadSelfStat();
  std::optional<std::string> proc_stat = ReadFile("/proc/stat");
  if (!stat.ok() || !proc_stat) return NAN;
  StatusOr<double> boot = ParseBootTime(*proc_stat);
  if (!boot.ok()) return NAN;
  return *boot + stat->start_seconds_since_boot;
}

}  // namespace

StatusOr<ProcessStat> ParseProcStat(std::string_view text, int64_t clock_ticks_per_second,
                                    int64_t page_size) {
  // "pid (comm) state ppid ...": comm may contain anything, so fields are counted from the
  // last ')'. After it, field 3 (state) comes first; utime is field 14, stime 15,
  // starttime 22, vsize 23, rss 24 (proc(5)).
  size_t close = text.rfind(')');
  if (close == std::string_view::npos) {
    return InvalidArgumentError("/proc stat: no ')' after the command name");
  }
  std::istringstream in{std::string(text.substr(close + 1))};
  std::vector<std::string> fields;
  for (std::string field; in >> field;) fields.push_back(field);
  // fields[0] is field 3 of proc(5).
  auto field = [&](int number) -> StatusOr<double> {
    size_t index = static_cast<size_t>(number - 3);
    if (index >= fields.size()) {
      return InvalidArgumentError("/proc stat: field " + std::to_string(number) + " missing");
    }
    char* end = nullptr;
    double value = std::strtod(fields[index].c_str(), &end);
    if (end == fields[index].c_str() || *end != '\0') {
      return InvalidArgumentError("/proc stat: field " + std::to_string(number) + " \"" +
                                  fields[index] + "\" is not a number");
    }
    return value;
  };
  if (clock_ticks_per_second <= 0 || page_size <= 0) {
    return InvalidArgumentError("/proc stat: bad clock tick rate or page size");
  }
  ProcessStat stat;
  StatusOr<double> utime = field(14), stime = field(15), start = field(22), vsize = field(23),
                   rss = field(24);
  for (const StatusOr<double>* v : {&utime, &stime, &start, &vsize, &rss}) {
    if (!v->ok()) return v->status();
  }
  const double ticks = static_cast<double>(clock_ticks_per_second);
  stat.cpu_seconds = (*utime + *stime) / ticks;
  stat.start_seconds_since_boot = *start / ticks;
  stat.virtual_bytes = *vsize;
  stat.resident_bytes = *rss * static_cast<double>(page_size);
  return stat;
}

StatusOr<double> ParseBootTime(std::string_view proc_stat_text) {
  std::istringstream in{std::string(proc_stat_text)};
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("btime ", 0) == 0) {
      char* end = nullptr;
      double value = std::strtod(line.c_str() + 6, &end);
      if (end != line.c_str() + 6) return value;
    }
  }
  return NotFoundError("/proc/stat has no btime line");
}

ProcessMetrics::ProcessMetrics(MetricsRegistry& registry) : registry_(registry) {
  using Type = MetricsRegistry::Type;
  auto add = [&](Type type, const char* name, const char* help, std::function<double()> read) {
    ids_.push_back(registry_.AddFunc(type, name, help, {}, std::move(read)));
  };
  add(Type::kCounter, "process_cpu_seconds_total", "User and system CPU time spent, in seconds.",
      [] { return OrNaN(ReadSelfStat(), &ProcessStat::cpu_seconds); });
  add(Type::kGauge, "process_resident_memory_bytes", "Resident memory size, in bytes.",
      [] { return OrNaN(ReadSelfStat(), &ProcessStat::resident_bytes); });
  add(Type::kGauge, "process_virtual_memory_bytes", "Virtual memory size, in bytes.",
      [] { return OrNaN(ReadSelfStat(), &ProcessStat::virtual_bytes); });
  // Fixed for the life of the process: computed once.
  const double start = StartTime();
  add(Type::kGauge, "process_start_time_seconds",
      "Start time of the process since the Unix epoch, in seconds.", [start] { return start; });
  add(Type::kGauge, "process_open_fds", "Open file descriptors.", [] { return OpenFds(); });
  add(Type::kGauge, "process_max_fds", "Maximum number of open file descriptors (soft limit).",
      [] { return MaxFds(); });
}

ProcessMetrics::~ProcessMetrics() {
  for (int id : ids_) registry_.RemoveFunc(id);
}

}  // namespace lballoc::runtime
