#include "test/apiserver/times.h"

#include <cstdint>
#include <cstdio>

#include "operator/base/status.h"

namespace lballoc::apiserver {
namespace {

constexpr char kTimeLayout[] = "2006-01-02T15:04:05Z07:00";
constexpr char kMicroLayout[] = "2006-01-02T15:04:05.000000Z07:00";

struct Parsed {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  int64_t micros = 0;      // truncated fractional second
  int offset_minutes = 0;  // east of UTC
};

bool IsLeap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysIn(int month, int year) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && IsLeap(year) ? 29 : kDays[month - 1];
}

// Days since 1970-01-01 of a proleptic Gregorian date.
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void CivilFromDays(int64_t z, int& y, int& m, int& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  y = static_cast<int>(yoe + era * 400 + (m <= 2));
}

class Parser {
 public:
  Parser(std::string_view text, const char* layout) : text_(text), layout_(layout) {}

  // Go checks most ranges as soon as it has read the element (the day only at the end), and
  // reads the hour ("15") as one or two digits.
  Status Parse(bool micro, Parsed& p) {
    if (!Digits(4, "2006", p.year) || !Lit('-') || !Digits(2, "01", p.month)) return Fail();
    if (p.month < 1 || p.month > 12) return Range("month");
    if (!Lit('-') || !Digits(2, "02", p.day) || !Lit('T')) return Fail();
    if (!Hour(p.hour)) return Fail();
    if (p.hour > 23) return Range("hour");
    if (!Lit(':') || !Digits(2, "04", p.minute)) return Fail();
    if (p.minute > 59) return Range("minute");
    if (!Lit(':') || !Digits(2, "05", p.second)) return Fail();
    if (p.second > 59) return Range("second");
    if (micro) {
      // Exactly seven characters: the separator and six digits.
      if (rest().size() < 7 || (rest()[0] != '.' && rest()[0] != ',')) {
        elem_ = ".000000";
        return Fail();
      }
      for (size_t i = 1; i < 7; ++i) {
        char c = rest()[i];
        if (c < '0' || c > '9') {
          elem_ = ".000000";
          return Fail();
        }
        p.micros = p.micros * 10 + (c - '0');
      }
      pos_ += 7;
    } else if (!rest().empty() && (rest()[0] == '.' || rest()[0] == ',') && rest().size() > 1 &&
               rest()[1] >= '0' && rest()[1] <= '9') {
      // Go accepts a fractional second the layout does not mention.
      ++pos_;
      int n = 0;
      while (!rest().empty() && rest()[0] >= '0' && rest()[0] <= '9') {
        if (n < 6) p.micros = p.micros * 10 + (rest()[0] - '0');
        ++n;
        ++pos_;
      }
      for (; n < 6; ++n) p.micros *= 10;
    }
    elem_ = "Z07:00";
    if (!rest().empty() && rest()[0] == 'Z') {
      ++pos_;
    } else if (rest().size() >= 6 && (rest()[0] == '+' || rest()[0] == '-') && rest()[3] == ':' &&
               IsDigits(rest().substr(1, 2)) && IsDigits(rest().substr(4, 2))) {
      int hh = (rest()[1] - '0') * 10 + (rest()[2] - '0');
      int mm = (rest()[4] - '0') * 10 + (rest()[5] - '0');
      if (hh > 24) return Range("time zone offset hour");
      if (mm > 60) return Range("time zone offset minute");
      p.offset_minutes = (rest()[0] == '-' ? -1 : 1) * (hh * 60 + mm);
      pos_ += 6;
    } else {
      return Fail();
    }
    if (!rest().empty()) {
      return InvalidArgumentError("parsing time " + Q(text_) + ": extra text: " + Q(rest()));
    }
    if (p.day < 1 || p.day > DaysIn(p.month, p.year)) return Range("day");
    return Status();
  }

 private:
  std::string_view rest() const { return text_.substr(pos_); }
  static bool IsDigits(std::string_view s) {
    for (char c : s) {
      if (c < '0' || c > '9') return false;
    }
    return true;
  }
  static std::string Q(std::string_view s) { return "\"" + std::string(s) + "\""; }

  bool Digits(size_t n, const char* elem, int& out) {
    elem_ = elem;
    if (rest().size() < n || !IsDigits(rest().substr(0, n))) return false;
    out = 0;
    for (size_t i = 0; i < n; ++i) out = out * 10 + (rest()[i] - '0');
    pos_ += n;
    return true;
  }
  bool Hour(int& out) {
    elem_ = "15";
    if (rest().empty() || !IsDigits(rest().substr(0, 1))) return false;
    out = rest()[0] - '0';
    ++pos_;
    if (!rest().empty() && IsDigits(rest().substr(0, 1))) {
      out = out * 10 + (rest()[0] - '0');
      ++pos_;
    }
    return true;
  }
  bool Lit(char c) {
    elem_ = std::string(1, c);
    if (rest().empty() || rest()[0] != c) return false;
    ++pos_;
    return true;
  }
  Status Fail() const {
    return InvalidArgumentError("parsing time " + Q(text_) + " as " + Q(layout_) +
                                ": cannot parse " + Q(rest()) + " as " + Q(elem_));
  }
  Status Range(const std::string& what) const {
    return InvalidArgumentError("parsing time " + Q(text_) + ": " + what + " out of range");
  }

  std::string_view text_;
  const char* layout_;
  size_t pos_ = 0;
  std::string elem_;
};

StatusOr<std::string> Normalize(std::string_view text, bool micro) {
  Parsed p;
  Parser parser(text, micro ? kMicroLayout : kTimeLayout);
  Status s = parser.Parse(micro, p);
  if (!s.ok()) return s;
  int64_t secs = DaysFromCivil(p.year, p.month, p.day) * 86400 + p.hour * 3600 + p.minute * 60 +
                 p.second - static_cast<int64_t>(p.offset_minutes) * 60;
  int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  int64_t sod = secs - days * 86400;
  int y, m, d;
  CivilFromDays(days, y, m, d);
  char buf[48];
  if (micro) {
    std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", y, m, d,
                  static_cast<int>(sod / 3600), static_cast<int>(sod / 60 % 60),
                  static_cast<int>(sod % 60), static_cast<long long>(p.micros));
  } else {
    std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d,
                  static_cast<int>(sod / 3600), static_cast<int>(sod / 60 % 60),
                  static_cast<int>(sod % 60));
  }
  return std::string(buf);
}

}  // namespace

StatusOr<std::string> NormalizeTime(std::string_view text) { return Normalize(text, false); }
StatusOr<std::string> NormalizeMicroTime(std::string_view text) { return Normalize(text, true); }

}  // namespace lballoc::apiserver
