// Time and MicroTime parsing against what go1.26's time.Parse does with the layouts metav1 uses
// (expected values produced by running Go on the same inputs).
#include "test/apiserver/times.h"

#include "gtest/gtest.h"

namespace lballoc::apiserver {
namespace {

struct Case {
  const char* in;
  const char* micro;  // normalized MicroTime, or Go's error
  const char* time;   // normalized Time, or Go's error
};

std::string TextOf(StatusOr<std::string> r) { return r.ok() ? *r : r.status().message(); }

TEST(TimesTest, MatchesGo) {
  const Case cases[] = {
      {"2026-01-02T03:04:05.123456Z", "2026-01-02T03:04:05.123456Z", "2026-01-02T03:04:05Z"},
      {"2026-01-02T03:04:05Z",
       R"(parsing time "2026-01-02T03:04:05Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "Z" as ".000000")",
       "2026-01-02T03:04:05Z"},
      {"2026-01-02T03:04:05.123Z",
       R"(parsing time "2026-01-02T03:04:05.123Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse ".123Z" as ".000000")",
       "2026-01-02T03:04:05Z"},
      {"2026-01-02T03:04:05.123456789Z",
       R"(parsing time "2026-01-02T03:04:05.123456789Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "789Z" as "Z07:00")",
       "2026-01-02T03:04:05Z"},
      {"2026-01-02T03:04:05.123456+02:00", "2026-01-02T01:04:05.123456Z", "2026-01-02T01:04:05Z"},
      {"2026-01-02T03:04:05,123456Z", "2026-01-02T03:04:05.123456Z", "2026-01-02T03:04:05Z"},
      {"2026-01-02t03:04:05.123456z",
       R"(parsing time "2026-01-02t03:04:05.123456z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "t03:04:05.123456z" as "T")",
       R"(parsing time "2026-01-02t03:04:05.123456z" as "2006-01-02T15:04:05Z07:00": cannot parse "t03:04:05.123456z" as "T")"},
      {"2026-01-02T24:00:00.000000Z",
       R"(parsing time "2026-01-02T24:00:00.000000Z": hour out of range)",
       R"(parsing time "2026-01-02T24:00:00.000000Z": hour out of range)"},
      {"2024-02-29T00:00:00.000000Z", "2024-02-29T00:00:00.000000Z", "2024-02-29T00:00:00Z"},
      {"2026-02-29T00:00:00.000000Z",
       R"(parsing time "2026-02-29T00:00:00.000000Z": day out of range)",
       R"(parsing time "2026-02-29T00:00:00.000000Z": day out of range)"},
      {"2026-01-01T00:30:00.000001+01:00", "2025-12-31T23:30:00.000001Z", "2025-12-31T23:30:00Z"},
      {"2026-01-02T03:04:05.123456+24:00", "2026-01-01T03:04:05.123456Z", "2026-01-01T03:04:05Z"},
      {"2026-01-02T03:04:05.123456+25:00",
       R"(parsing time "2026-01-02T03:04:05.123456+25:00": time zone offset hour out of range)",
       R"(parsing time "2026-01-02T03:04:05.123456+25:00": time zone offset hour out of range)"},
      {"2026-01-02T03:04:05.123456+01:60", "2026-01-02T01:04:05.123456Z", "2026-01-02T01:04:05Z"},
      {"2026-01-02T03:04:05+02:00",
       R"(parsing time "2026-01-02T03:04:05+02:00" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "+02:00" as ".000000")",
       "2026-01-02T01:04:05Z"},
      {"2026-01-02T03:04:05",
       R"(parsing time "2026-01-02T03:04:05" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "" as ".000000")",
       R"(parsing time "2026-01-02T03:04:05" as "2006-01-02T15:04:05Z07:00": cannot parse "" as "Z07:00")"},
      {"2026-1-02T03:04:05Z",
       R"(parsing time "2026-1-02T03:04:05Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "1-02T03:04:05Z" as "01")",
       R"(parsing time "2026-1-02T03:04:05Z" as "2006-01-02T15:04:05Z07:00": cannot parse "1-02T03:04:05Z" as "01")"},
      {"2026-01-02T03:04:60Z", R"(parsing time "2026-01-02T03:04:60Z": second out of range)",
       R"(parsing time "2026-01-02T03:04:60Z": second out of range)"},
      {"2026-13-02T03:0x:05Z", R"(parsing time "2026-13-02T03:0x:05Z": month out of range)",
       R"(parsing time "2026-13-02T03:0x:05Z": month out of range)"},
      {"", R"(parsing time "" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "" as "2006")",
       R"(parsing time "" as "2006-01-02T15:04:05Z07:00": cannot parse "" as "2006")"},
      {"2026-01-02T03:04:05.Z",
       R"(parsing time "2026-01-02T03:04:05.Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse ".Z" as ".000000")",
       R"(parsing time "2026-01-02T03:04:05.Z" as "2006-01-02T15:04:05Z07:00": cannot parse ".Z" as "Z07:00")"},
      {"2026-01-02T03:04:05Zjunk",
       R"(parsing time "2026-01-02T03:04:05Zjunk" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "Zjunk" as ".000000")",
       R"(parsing time "2026-01-02T03:04:05Zjunk": extra text: "junk")"},
      {"2026-01-02T3:04:05.000001Z", "2026-01-02T03:04:05.000001Z", "2026-01-02T03:04:05Z"},
      {"2026-01-02T03:04:05+01:61",
       R"(parsing time "2026-01-02T03:04:05+01:61" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "+01:61" as ".000000")",
       R"(parsing time "2026-01-02T03:04:05+01:61": time zone offset minute out of range)"},
      {"2026-01-02T03:04:05+0100",
       R"(parsing time "2026-01-02T03:04:05+0100" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "+0100" as ".000000")",
       R"(parsing time "2026-01-02T03:04:05+0100" as "2006-01-02T15:04:05Z07:00": cannot parse "+0100" as "Z07:00")"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(TextOf(NormalizeMicroTime(c.in)), c.micro) << c.in;
    EXPECT_EQ(TextOf(NormalizeTime(c.in)), c.time) << c.in;
  }
}

}  // namespace
}  // namespace lballoc::apiserver
