#include "operator/ipam/address.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "test/testing/status_matchers.h"

namespace lballoc::ipam {
namespace {

using ::lballoc::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

struct RoundTrip {
  std::string in;
  std::string canonical;
};

class AddressRoundTripTest : public ::testing::TestWithParam<RoundTrip> {};

TEST_P(AddressRoundTripTest, ParsesToCanonicalText) {
  ASSERT_OK_AND_ASSIGN(Address a, ParseAddress(GetParam().in));
  EXPECT_EQ(a.ToString(), GetParam().canonical);
  // Canonical text parses back to the same value.
  ASSERT_OK_AND_ASSIGN(Address b, ParseAddress(a.ToString()));
  EXPECT_EQ(a, b);
}

INSTANTIATE_TEST_SUITE_P(
    Forms, AddressRoundTripTest,
    ::testing::Values(RoundTrip{"0.0.0.0", "0.0.0.0"},
                      RoundTrip{"255.255.255.255", "255.255.255.255"},
                      RoundTrip{"192.0.2.7", "192.0.2.7"}, RoundTrip{" 10.1.2.3\t", "10.1.2.3"},
                      RoundTrip{"::", "::"}, RoundTrip{"::1", "::1"}, RoundTrip{"1::", "1::"},
                      RoundTrip{"2001:DB8::7", "2001:db8::7"},
                      RoundTrip{"2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"},
                      // RFC 5952 4.2.2: a single zero group is not shortened.
                      RoundTrip{"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},
                      // 4.2.3: the longest run wins; on a tie, the first.
                      RoundTrip{"2001:0:0:1:0:0:0:1", "2001:0:0:1::1"},
                      RoundTrip{"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},
                      RoundTrip{"1:0:0:0:0:0:0:0", "1::"}, RoundTrip{"0:0:0:0:0:0:0:1", "::1"},
                      RoundTrip{"1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"},
                      RoundTrip{"1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"},  // "::" for one group parses
                      RoundTrip{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
                      // Section 5: IPv4-mapped addresses print a dotted quad.
                      RoundTrip{"::ffff:192.0.2.1", "::ffff:192.0.2.1"},
                      RoundTrip{"::ffff:c000:0201", "::ffff:192.0.2.1"},
                      RoundTrip{"64:ff9b::192.0.2.33", "64:ff9b::c000:221"},
                      RoundTrip{"1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"}));

struct Bad {
  std::string in;
  std::string why;  // substring of the message
};

class AddressRejectTest : public ::testing::TestWithParam<Bad> {};

TEST_P(AddressRejectTest, RejectsWithReason) {
  EXPECT_THAT(ParseAddress(GetParam().in),
              StatusIs(StatusCode::kInvalidArgument,
                       AllOf(HasSubstr(GetParam().why), HasSubstr("\"" + GetParam().in))));
}

INSTANTIATE_TEST_SUITE_P(
    Forms, AddressRejectTest,
    ::testing::Values(
        Bad{"", "empty address"}, Bad{"1.2.3", "four dot-separated octets"},
        Bad{"1.2.3.4.5", "four dot-separated octets"}, Bad{"1.2.3.256", "out of range"},
        Bad{"01.2.3.4", "leading zero"}, Bad{"1.2.3.4x", "unexpected character"},
        Bad{"1..2.3", "expected a decimal octet"}, Bad{"host.example", "not an IPv4 or IPv6"},
        Bad{"1.2.3.", "expected a decimal octet"}, Bad{":", "single ':'"},
        Bad{":1::", "single ':'"}, Bad{"1:", "single ':'"}, Bad{"1::2::3", "more than one"},
        Bad{":::", "empty IPv6 group"}, Bad{"12345::", "longer than four"},
        Bad{"1:2:3:4:5:6:7", "eight groups"}, Bad{"1:2:3:4:5:6:7:8:9", "too many"},
        Bad{"1:2:3:4:5:6:7:8::", "at least one group"}, Bad{"fe80::1%eth0", "zones"},
        Bad{"g::1", "unexpected character"}, Bad{"::1.2.3", "embedded IPv4"},
        Bad{"1:2:3:4:5:6:7:1.2.3.4", "too many"}, Bad{"::1.2.3.4:5", "embedded IPv4"}));

TEST(AddressTest, OrderPutsIPv4BeforeIPv6ThenNumeric) {
  EXPECT_LT(Address::V4(0xffffffff), Address::V6(0));
  EXPECT_LT(Address::V4(1), Address::V4(2));
  EXPECT_LT(Address::V6(0, 5), Address::V6(1, 0));
  EXPECT_NE(Address::V4(1), Address::V6(1));
}

TEST(AddressTest, BuggyV4) {
  EXPECT_TRUE(Address::V4(0x0a000000).IsBuggyV4());
  EXPECT_TRUE(Address::V4(0x0a0000ff).IsBuggyV4());
  EXPECT_FALSE(Address::V4(0x0a000001).IsBuggyV4());
  EXPECT_FALSE(Address::V6(0xff).IsBuggyV4());
}

struct RangeCase {
  std::string in;
  std::string first;
  std::string last;
  std::string canonical;
};

class RangeParseTest : public ::testing::TestWithParam<RangeCase> {};

TEST_P(RangeParseTest, Parses) {
  ASSERT_OK_AND_ASSIGN(AddressRange r, ParseAddressRange(GetParam().in));
  EXPECT_EQ(r.first.ToString(), GetParam().first);
  EXPECT_EQ(r.last.ToString(), GetParam().last);
  EXPECT_EQ(r.ToString(), GetParam().canonical);
  ASSERT_OK_AND_ASSIGN(AddressRange again, ParseAddressRange(r.ToString()));
  EXPECT_EQ(again, r);
}

INSTANTIATE_TEST_SUITE_P(
    Forms, RangeParseTest,
    ::testing::Values(RangeCase{"192.0.2.0/24", "192.0.2.0", "192.0.2.255", "192.0.2.0/24"},
                      RangeCase{"192.0.2.7/32", "192.0.2.7", "192.0.2.7", "192.0.2.7"},
                      RangeCase{"0.0.0.0/0", "0.0.0.0", "255.255.255.255", "0.0.0.0/0"},
                      RangeCase{"10.0.0.0/8", "10.0.0.0", "10.255.255.255", "10.0.0.0/8"},
                      RangeCase{"198.51.100.10-198.51.100.20", "198.51.100.10", "198.51.100.20",
                                "198.51.100.10-198.51.100.20"},
                      RangeCase{"198.51.100.10 - 198.51.100.20", "198.51.100.10", "198.51.100.20",
                                "198.51.100.10-198.51.100.20"},
                      RangeCase{"10.0.0.0-10.0.0.255", "10.0.0.0", "10.0.0.255", "10.0.0.0/24"},
                      RangeCase{"10.0.0.5-10.0.0.5", "10.0.0.5", "10.0.0.5", "10.0.0.5"},
                      RangeCase{"192.0.2.9", "192.0.2.9", "192.0.2.9", "192.0.2.9"},
                      RangeCase{"2001:db8:1::/64", "2001:db8:1::",
                                "2001:db8:1:0:ffff:ffff:ffff:ffff", "2001:db8:1::/64"},
                      RangeCase{"2001:db8::1/128", "2001:db8::1", "2001:db8::1", "2001:db8::1"},
                      RangeCase{"::/0", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::/0"},
                      RangeCase{"2001:db8::1 -2001:db8::ff", "2001:db8::1", "2001:db8::ff",
                                "2001:db8::1-2001:db8::ff"}));

class RangeRejectTest : public ::testing::TestWithParam<Bad> {};

TEST_P(RangeRejectTest, RejectsWithReason) {
  EXPECT_THAT(ParseAddressRange(GetParam().in),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr(GetParam().why)));
}

INSTANTIATE_TEST_SUITE_P(
    Forms, RangeRejectTest,
    ::testing::Values(
        Bad{"", "empty entry"}, Bad{"  ", "empty entry"},
        Bad{"10.0.0.9-10.0.0.1", "last address is below the first"},
        Bad{"10.0.0.1-2001:db8::1", "mixes IPv4 and IPv6"}, Bad{"10.0.0.1-", "no last address"},
        Bad{"-10.0.0.1", "no first address"}, Bad{"10.0.0.1-10.0.0.2-10.0.0.3", "exactly one '-'"},
        Bad{"10.0.0.0/24-10.0.1.0", "not both"}, Bad{"10.0.0.0/33", "above /32"},
        Bad{"2001:db8::/129", "above /128"}, Bad{"10.0.0.0/", "no prefix length"},
        Bad{"/24", "no address"}, Bad{"10.0.0.0/2x", "not a decimal"},
        Bad{"10.0.0.0/08", "leading zero"}, Bad{"10.0.0.0/-1", "not both"},
        Bad{"10.0.0.1/24", "host bits are set; the block is 10.0.0.0/24"},
        Bad{"2001:db8::1/64", "host bits are set; the block is 2001:db8::/64"},
        Bad{"10.0.0.x-10.0.0.9", "first address"}, Bad{"10.0.0.1-10.0.0.x", "last address"},
        Bad{"10.0.0.256/24", "CIDR address"}, Bad{"10.0.0.0/99999999999999999", "above /32"},
        Bad{"banana", "not an IPv4 or IPv6"}));

TEST(RangeTest, ContainsAndOverlaps) {
  AddressRange a{Address::V4(10), Address::V4(20)};
  AddressRange b{Address::V4(20), Address::V4(30)};
  AddressRange c{Address::V4(21), Address::V4(30)};
  AddressRange v6{Address::V6(10), Address::V6(20)};
  EXPECT_TRUE(a.Overlaps(b));
  EXPECT_FALSE(a.Overlaps(c));
  EXPECT_FALSE(a.Overlaps(v6));
  EXPECT_TRUE(a.Contains(Address::V4(10)));
  EXPECT_FALSE(a.Contains(Address::V6(10)));
  EXPECT_EQ(a.SizeMinusOne(), 10u);
}

TEST(CountTest, Saturates) {
  EXPECT_EQ(SaturatingInt64(5), 5);
  EXPECT_EQ(SaturatingInt64(uint128{1} << 64), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(SaturatingInt64(uint128{std::numeric_limits<int64_t>::max()}),
            std::numeric_limits<int64_t>::max());
  EXPECT_EQ(SaturatingAdd(~uint128{0}, 1), ~uint128{0});
  EXPECT_EQ(Uint128ToString(uint128{1} << 64), "18446744073709551616");
  EXPECT_EQ(Uint128ToString(0), "0");
}

}  // namespace
}  // namespace lballoc::ipam
