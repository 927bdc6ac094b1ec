#include "operator/runtime/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <utility>

namespace lballoc::runtime {

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0);
}

void Histogram::Observe(double value) {
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<double> ReconcileTimeBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1,  0.15, 0.2,  0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6,
          0.7,   0.8,  0.9,   1.0,  1.25, 1.5,  1.75, 2.0,  2.5, 3.0,  3.5, 4.0,  4.5, 5,
          6,     7,    8,     9,    10,   15,   20,   25,   30,  40,   50,  60};
}

MetricsRegistry& MetricsRegistry::Default() {
  static MetricsRegistry* const kRegistry = new MetricsRegistry();
  return *kRegistry;
}

MetricsRegistry::Family& MetricsRegistry::FamilyLocked(std::string_view name, std::string_view help,
                                                       Type type) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(std::string(name), Family{}).first;
    it->second.type = type;
    it->second.help = std::string(help);
  }
  return it->second;
}

Counter* MetricsRegistry::GetCounter(std::string_view name, std::string_view help,
                                     const Labels& labels) {
  MutexLock lock(&mu_);
  auto& slot = FamilyLocked(name, help, Type::kCounter).counters[labels];
  if (!slot) slot = std::make_unique<Counter>();
  return slot.get();
}

Gauge* MetricsRegistry::GetGauge(std::string_view name, std::string_view help,
                                 const Labels& labels) {
  MutexLock lock(&mu_);
  auto& slot = FamilyLocked(name, help, Type::kGauge).gauges[labels];
  if (!slot) slot = std::make_unique<Gauge>();
  return slot.get();
}

Histogram* MetricsRegistry::GetHistogram(std::string_view name, std::string_view help,
                                         const Labels& labels, const std::vector<double>& bounds) {
  MutexLock lock(&mu_);
  auto& slot = FamilyLocked(name, help, Type::kHistogram).histograms[labels];
  if (!slot) slot = std::make_unique<Histogram>(bounds);
  return slot.get();
}

int MetricsRegistry::AddFunc(Type type, std::string_view name, std::string_view help,
                             const Labels& labels, std::function<double()> read) {
  MutexLock lock(&mu_);
  int id = next_func_id_++;
  FamilyLocked(name, help, type).funcs.emplace(id, std::make_pair(labels, std::move(read)));
  func_names_.emplace(id, std::string(name));
  return id;
}

void MetricsRegistry::RemoveFunc(int id) {
  MutexLock lock(&mu_);
  auto it = func_names_.find(id);
  if (it == func_names_.end()) return;
  auto family = families_.find(it->second);
  if (family != families_.end()) family->second.funcs.erase(id);
  func_names_.erase(it);
}

namespace {

std::string EscapeLabelValue(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatLabels(const Labels& labels, const std::string& extra_name = "",
                         const std::string& extra_value = "") {
  if (labels.empty() && extra_name.empty()) return "";
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ",";
    first = false;
    out += k + "=\"" + EscapeLabelValue(v) + "\"";
  }
  if (!extra_name.empty()) {
    if (!first) out += ",";
    out += extra_name + "=\"" + EscapeLabelValue(extra_value) + "\"";
  }
  return out + "}";
}

std::string FormatValue(double value) {
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (std::isnan(value)) return "NaN";
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return std::to_string(static_cast<int64_t>(value));
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", value);
  return buf;
}

std::string_view TypeName(MetricsRegistry::Type type) {
  switch (type) {
    case MetricsRegistry::Type::kCounter:
      return "counter";
    case MetricsRegistry::Type::kGauge:
      return "gauge";
    case MetricsRegistry::Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

}  // namespace

std::string MetricsRegistry::Render() const {
  // Read the callbacks outside the lock? They are quick reads of atomics or small locks held
  // by their owners, never of this registry, so calling them under mu_ cannot deadlock.
  MutexLock lock(&mu_);
  std::ostringstream out;
  for (const auto& [name, family] : families_) {
    out << "# HELP " << name << " " << family.help << "\n";
    out << "# TYPE " << name << " " << TypeName(family.type) << "\n";
    for (const auto& [labels, c] : family.counters) {
      out << name << FormatLabels(labels) << " " << FormatValue(c->Value()) << "\n";
    }
    for (const auto& [labels, g] : family.gauges) {
      out << name << FormatLabels(labels) << " " << FormatValue(g->Value()) << "\n";
    }
    for (const auto& [id, func] : family.funcs) {
      out << name << FormatLabels(func.first) << " " << FormatValue(func.second()) << "\n";
    }
    for (const auto& [labels, h] : family.histograms) {
      uint64_t cumulative = 0;
      for (size_t i = 0; i < h->bounds().size(); ++i) {
        cumulative += h->BucketCount(i);
        out << name << "_bucket" << FormatLabels(labels, "le", FormatValue(h->bounds()[i])) << " "
            << cumulative << "\n";
      }
      cumulative += h->BucketCount(h->bounds().size());
      out << name << "_bucket" << FormatLabels(labels, "le", "+Inf") << " " << cumulative << "\n";
      out << name << "_sum" << FormatLabels(labels) << " " << FormatValue(h->Sum()) << "\n";
      out << name << "_count" << FormatLabels(labels) << " " << h->Count() << "\n";
    }
  }
  return out.str();
}

InformerMetrics InformerMetricsFor(MetricsRegistry& registry, std::string_view resource) {
  Labels labels{{"resource", std::string(resource)}};
  return InformerMetrics{
      registry.GetCounter("lballoc_informer_lists_total",
                          "LIST requests made by informers (initial lists and relists).", labels),
      registry.GetCounter("lballoc_informer_watches_total", "WATCH requests opened by informers.",
                          labels),
      registry.GetCounter("lballoc_informer_watch_events_total",
                          "Watch events received by informers.", labels),
  };
}

namespace {

bool IsNameChar(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
         (!first && c >= '0' && c <= '9');
}

Status LineError(size_t line_no, std::string_view line, std::string_view why) {
  return InvalidArgumentError("line " + std::to_string(line_no) + " \"" + std::string(line) +
                              "\": " + std::string(why));
}

}  // namespace

StatusOr<std::vector<Sample>> ParsePrometheusText(std::string_view text) {
  std::vector<Sample> samples;
  size_t line_no = 0;
  while (!text.empty()) {
    size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    Sample sample;
    size_t i = 0;
    while (i < line.size() && IsNameChar(line[i], i == 0)) ++i;
    if (i == 0) return LineError(line_no, line, "expected a metric name");
    sample.name = std::string(line.substr(0, i));
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (true) {
        if (i < line.size() && line[i] == '}') {
          ++i;
          break;
        }
        size_t start = i;
        while (i < line.size() && IsNameChar(line[i], i == start)) ++i;
        if (i == start) return LineError(line_no, line, "expected a label name");
        std::string label(line.substr(start, i - start));
        if (i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') {
          return LineError(line_no, line, "expected =\" after label " + label);
        }
        i += 2;
        std::string value;
        while (i < line.size() && line[i] != '"') {
          if (line[i] == '\\' && i + 1 < line.size()) {
            ++i;
            value += line[i] == 'n' ? '\n' : line[i];
          } else {
            value += line[i];
          }
          ++i;
        }
        if (i >= line.size()) return LineError(line_no, line, "unterminated label value");
        ++i;
        sample.labels[label] = value;
        if (i < line.size() && line[i] == ',') ++i;
      }
    }
    if (i >= line.size() || line[i] != ' ') return LineError(line_no, line, "expected a value");
    std::string value_text(line.substr(i + 1));
    if (size_t sp = value_text.find(' '); sp != std::string::npos) value_text.resize(sp);
    if (value_text == "+Inf") {
      sample.value = std::numeric_limits<double>::infinity();
    } else if (value_text == "-Inf") {
      sample.value = -std::numeric_limits<double>::infinity();
    } else if (value_text == "NaN") {
      sample.value = std::numeric_limits<double>::quiet_NaN();
    } else {
      char* end = nullptr;
      sample.value = std::strtod(value_text.c_str(), &end);
      if (value_text.empty() || end != value_text.c_str() + value_text.size()) {
        return LineError(line_no, line, "bad value \"" + value_text + "\"");
      }
    }
    samples.push_back(std::move(sample));
  }
  return samples;
}

StatusOr<double> FindSample(const std::vector<Sample>& samples, std::string_view name,
                            const Labels& labels) {
  for (const Sample& s : samples) {
    if (s.name == name && s.labels == labels) return s.value;
  }
  return NotFoundError("no sample " + std::string(name) + FormatLabels(labels));
}

}  // namespace lballoc::runtime
