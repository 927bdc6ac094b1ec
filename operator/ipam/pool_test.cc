#include "operator/ipam/pool.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>

#include "test/testing/status_matchers.h"

namespace lballoc::ipam {
namespace {

using ::lballoc::testing::StatusIs;
using ::testing::HasSubstr;

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

Address A(const char* text) { return *ParseAddress(text); }

PoolSpec Spec(std::vector<std::string> addresses, std::vector<std::string> excludes = {},
              bool avoid_buggy = false) {
  PoolSpec spec;
  spec.name = "p";
  spec.addresses = std::move(addresses);
  spec.exclude_addresses = std::move(excludes);
  spec.avoid_buggy_ips = avoid_buggy;
  return spec;
}

struct InvalidCase {
  PoolSpec spec;
  std::string why;
};

class PoolInvalidTest : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(PoolInvalidTest, NamesTheEntry) {
  EXPECT_THAT(PoolLayout::Compile(GetParam().spec),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr(GetParam().why)));
}

INSTANTIATE_TEST_SUITE_P(
    Specs, PoolInvalidTest,
    ::testing::Values(
        InvalidCase{Spec({}), "spec.addresses: at least one entry"},
        InvalidCase{Spec({"10.0.0.0/24", "10.0.0.9-10.0.0.1"}),
                    "spec.addresses[1]: \"10.0.0.9-10.0.0.1\": last address is below the first"},
        InvalidCase{Spec({"10.0.0.0/24", "10.0.0.128/25"}),
                    "spec.addresses[0] \"10.0.0.0/24\" overlaps spec.addresses[1] "
                    "\"10.0.0.128/25\""},
        InvalidCase{Spec({"10.0.1.5", "10.0.0.0-10.0.1.5"}),
                    "spec.addresses[0] \"10.0.1.5\" overlaps spec.addresses[1]"},
        InvalidCase{Spec({"10.0.0.0/24"}, {"10.0.1.1"}),
                    "spec.excludeAddresses[0]: \"10.0.1.1\": not inside"},
        InvalidCase{Spec({"10.0.0.0/24"}, {"10.0.0.200-10.0.1.3"}),
                    "spec.excludeAddresses[0]: \"10.0.0.200-10.0.1.3\": not inside"},
        InvalidCase{Spec({"10.0.0.0/24"}, {"2001:db8::1"}), "spec.excludeAddresses[0]"},
        InvalidCase{Spec({"10.0.0.0/24"}, {"bogus"}), "spec.excludeAddresses[0]: \"bogus\""},
        InvalidCase{Spec({"10.0.0.0/24", "10.0.0.1-10.0.0.2 - 3"}), "spec.addresses[1]"}));

TEST(PoolLayoutTest, ExclusionsAtRangeEdges) {
  ASSERT_OK_AND_ASSIGN(PoolLayout p,
                       PoolLayout::Compile(Spec({"10.0.0.0/29"}, {"10.0.0.0", "10.0.0.7"})));
  EXPECT_EQ(p.Counts(Family::kIPv4).total, 6);
  EXPECT_EQ(p.Find(A("10.0.0.0")), nullptr);
  EXPECT_EQ(p.Miss(A("10.0.0.0")), "excluded");
  EXPECT_EQ(p.Miss(A("10.0.0.7")), "excluded");
  EXPECT_EQ(p.Miss(A("10.0.0.8")), "outside");
  EXPECT_EQ(p.LowestFree(Family::kIPv4), A("10.0.0.1"));
}

TEST(PoolLayoutTest, ExclusionSpanningTwoEntriesAndOverlappingExclusions) {
  ASSERT_OK_AND_ASSIGN(
      PoolLayout p, PoolLayout::Compile(Spec({"10.0.0.0/25", "10.0.0.128/25"},
                                             {"10.0.0.120-10.0.0.130", "10.0.0.125-10.0.0.140"})));
  EXPECT_EQ(p.Counts(Family::kIPv4).total, 256 - 21);
  EXPECT_NE(p.Find(A("10.0.0.119")), nullptr);
  EXPECT_EQ(p.Find(A("10.0.0.120")), nullptr);
  EXPECT_EQ(p.Find(A("10.0.0.140")), nullptr);
  EXPECT_NE(p.Find(A("10.0.0.141")), nullptr);
}

TEST(PoolLayoutTest, ExcludingEverythingLeavesAnEmptyValidPool) {
  ASSERT_OK_AND_ASSIGN(PoolLayout p, PoolLayout::Compile(Spec({"10.0.0.0/30"}, {"10.0.0.0/30"})));
  EXPECT_EQ(p.Counts(Family::kIPv4).total, 0);
  EXPECT_EQ(p.LowestFree(Family::kIPv4), std::nullopt);
  EXPECT_FALSE(p.HasFamily(Family::kIPv4));
}

struct BuggyCase {
  std::string range;
  int64_t total;
  std::string lowest;
};

class AvoidBuggyTest : public ::testing::TestWithParam<BuggyCase> {};

TEST_P(AvoidBuggyTest, SkipsDotZeroAndDot255) {
  ASSERT_OK_AND_ASSIGN(PoolLayout p, PoolLayout::Compile(Spec({GetParam().range}, {}, true)));
  EXPECT_EQ(p.Counts(Family::kIPv4).total, GetParam().total);
  if (GetParam().lowest.empty()) {
    EXPECT_EQ(p.LowestFree(Family::kIPv4), std::nullopt);
  } else {
    EXPECT_EQ(p.LowestFree(Family::kIPv4), A(GetParam().lowest.c_str()));
  }
}

INSTANTIATE_TEST_SUITE_P(Boundaries, AvoidBuggyTest,
                         ::testing::Values(BuggyCase{"10.0.0.0/24", 254, "10.0.0.1"},
                                           BuggyCase{"10.0.0.0/23", 508, "10.0.0.1"},
                                           BuggyCase{"10.0.0.255-10.0.1.0", 0, ""},
                                           BuggyCase{"10.0.0.254-10.0.1.1", 2, "10.0.0.254"},
                                           BuggyCase{"10.0.0.255-10.0.1.5", 5, "10.0.1.1"},
                                           BuggyCase{"10.0.0.0/32", 0, ""},
                                           BuggyCase{"0.0.0.0/30", 3, "0.0.0.1"},
                                           BuggyCase{"255.255.255.0/24", 254, "255.255.255.1"},
                                           BuggyCase{"10.0.0.0/16", 256 * 254, "10.0.0.1"}));

TEST(AvoidBuggyTest, WalksAcrossSlash24Boundaries) {
  ASSERT_OK_AND_ASSIGN(PoolLayout p, PoolLayout::Compile(Spec({"10.0.0.250-10.0.2.3"}, {}, true)));
  std::vector<std::string> got;
  while (auto a = p.LowestFree(Family::kIPv4)) {
    ASSERT_TRUE(p.Mark(*a));
    EXPECT_FALSE(a->IsBuggyV4()) << *a;
    got.push_back(a->ToString());
  }
  ASSERT_EQ(got.size(), 5u + 254u + 3u);
  EXPECT_EQ(got[4], "10.0.0.254");
  EXPECT_EQ(got[5], "10.0.1.1");
  EXPECT_EQ(got.back(), "10.0.2.3");
  EXPECT_EQ(p.Counts(Family::kIPv4).available, 0);
  EXPECT_EQ(p.Miss(A("10.0.1.0")), "skipped");
  EXPECT_EQ(p.Miss(A("10.0.1.255")), "skipped");
  EXPECT_FALSE(p.Mark(A("10.0.1.255")));
  // Freeing in the middle is found again first.
  EXPECT_TRUE(p.Unmark(A("10.0.1.77")));
  EXPECT_EQ(p.LowestFree(Family::kIPv4), A("10.0.1.77"));
}

TEST(AvoidBuggyTest, DoesNotApplyToIPv6) {
  ASSERT_OK_AND_ASSIGN(PoolLayout p, PoolLayout::Compile(Spec({"2001:db8::/120"}, {}, true)));
  EXPECT_EQ(p.Counts(Family::kIPv6).total, 256);
  EXPECT_EQ(p.LowestFree(Family::kIPv6), A("2001:db8::"));
}

TEST(PoolLayoutTest, CountsPerFamilySaturate) {
  ASSERT_OK_AND_ASSIGN(
      PoolLayout p,
      PoolLayout::Compile(Spec({"192.0.2.0/24", "2001:db8:1::/64", "2001:db8:2::/48"})));
  EXPECT_EQ(p.Counts(Family::kIPv4), (FamilyCounts{256, 0, 256}));
  EXPECT_EQ(p.Counts(Family::kIPv6), (FamilyCounts{kMax, 0, kMax}));
  ASSERT_TRUE(p.Mark(A("2001:db8:1::5")));
  EXPECT_EQ(p.Counts(Family::kIPv6), (FamilyCounts{kMax, 1, kMax}));
  ASSERT_OK_AND_ASSIGN(PoolLayout all, PoolLayout::Compile(Spec({"::/0"})));
  EXPECT_EQ(all.Counts(Family::kIPv6).total, kMax);
  // 2^63 - 1 addresses exactly, and 2^63.
  ASSERT_OK_AND_ASSIGN(PoolLayout big, PoolLayout::Compile(Spec({"::/65"})));
  EXPECT_EQ(big.Counts(Family::kIPv6).total, kMax);
  ASSERT_OK_AND_ASSIGN(PoolLayout fits, PoolLayout::Compile(Spec({"::1-::7fff:ffff:ffff:ffff"})));
  EXPECT_EQ(fits.Counts(Family::kIPv6).total, kMax);
  ASSERT_OK_AND_ASSIGN(PoolLayout below, PoolLayout::Compile(Spec({"::2-::7fff:ffff:ffff:ffff"})));
  EXPECT_EQ(below.Counts(Family::kIPv6).total, kMax - 1);
}

TEST(PoolLayoutTest, Slash32AndSlash128) {
  ASSERT_OK_AND_ASSIGN(PoolLayout p,
                       PoolLayout::Compile(Spec({"192.0.2.7/32", "2001:db8::7/128"})));
  EXPECT_EQ(p.LowestFree(Family::kIPv4), A("192.0.2.7"));
  EXPECT_EQ(p.LowestFree(Family::kIPv6), A("2001:db8::7"));
  EXPECT_TRUE(p.Mark(A("192.0.2.7")));
  EXPECT_EQ(p.LowestFree(Family::kIPv4), std::nullopt);
  EXPECT_EQ(p.Counts(Family::kIPv4), (FamilyCounts{1, 1, 0}));
}

TEST(PoolLayoutTest, TopOfTheAddressSpace) {
  ASSERT_OK_AND_ASSIGN(
      PoolLayout p, PoolLayout::Compile(
                        Spec({"255.255.255.254/31", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127"},
                             {"255.255.255.254", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"})));
  EXPECT_EQ(p.LowestFree(Family::kIPv4), A("255.255.255.255"));
  EXPECT_EQ(p.LowestFree(Family::kIPv6), A("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
  EXPECT_TRUE(p.Mark(A("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
  EXPECT_EQ(p.LowestFree(Family::kIPv6), std::nullopt);
}

}  // namespace
}  // namespace lballoc::ipam
