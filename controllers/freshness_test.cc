#include "controllers/freshness.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace lballoc::controllers {
namespace {

using ::testing::HasSubstr;

TEST(SameOrNewerTest, DecimalVersionsCompareAsNumbersOthersOnlyByEquality) {
  EXPECT_TRUE(SameOrNewer("10", "9"));
  EXPECT_TRUE(SameOrNewer("10", "10"));
  EXPECT_FALSE(SameOrNewer("9", "10"));
  EXPECT_TRUE(SameOrNewer("abc", "abc"));
  EXPECT_FALSE(SameOrNewer("abd", "abc"));
  EXPECT_FALSE(SameOrNewer("10", "x9"));
  EXPECT_FALSE(SameOrNewer("", "1"));
  EXPECT_FALSE(SameOrNewer("99999999999999999999", "1"));  // not a uint64: equality only
}

TEST(CacheCaughtUpTest, CurrentOrNewerCacheIsCaughtUp) {
  EXPECT_TRUE(CacheCaughtUp("Service", {{"ns/a", "5"}, {"ns/b", "7"}}, "9",
                            {{"ns/a", "5"}, {"ns/b", "8"}, {"ns/c", "10"}})
                  .ok());
  EXPECT_TRUE(CacheCaughtUp("Service", {}, "9", {}).ok());
}

TEST(CacheCaughtUpTest, AnOlderMissingOrDeletedObjectIsBehind) {
  // The case the chaos test found: the standby's cache still has a Service's status from
  // before the previous leader gave it an address.
  Status older =
      CacheCaughtUp("Service", {{"ns/a", "5"}, {"ns/b", "7"}}, "9", {{"ns/a", "5"}, {"ns/b", "6"}});
  EXPECT_EQ(older.code(), StatusCode::kUnavailable);
  EXPECT_THAT(older.message(), HasSubstr("ns/b is cached at resourceVersion 6, the server has 7"));
  Status missing = CacheCaughtUp("pool", {{"p", "3"}}, "9", {});
  EXPECT_EQ(missing.code(), StatusCode::kUnavailable);
  EXPECT_THAT(missing.message(), HasSubstr("pool cache is behind the API server: p"));
  Status deleted = CacheCaughtUp("Service", {}, "9", {{"ns/gone", "4"}});
  EXPECT_EQ(deleted.code(), StatusCode::kUnavailable);
  EXPECT_THAT(deleted.message(), HasSubstr("ns/gone is cached but was deleted"));
}

}  // namespace
}  // namespace lballoc::controllers
