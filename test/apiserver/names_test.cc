// Name/address formats and field-error wording against apimachinery's messages.
#include "test/apiserver/names.h"

#include <rapidjson/document.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/apiserver/field_error.h"

namespace lballoc::apiserver {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(NamesTest, DnsNames) {
  EXPECT_THAT(IsDns1123Label("my-name"), IsEmpty());
  EXPECT_THAT(IsDns1123Label("a.b"), ElementsAre("must not contain dots"));
  EXPECT_THAT(IsDns1123Label("Bad"),
              ElementsAre("a lowercase RFC 1123 label must consist of lower case alphanumeric "
                          "characters or '-', and must start and end with an alphanumeric "
                          "character (e.g. 'my-name',  or '123-abc', regex used for validation is "
                          "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"));
  EXPECT_THAT(IsDns1123Subdomain("example.com"), IsEmpty());
  EXPECT_EQ(IsDns1123Subdomain(std::string(254, 'a')).front(),
            "must be no more than 253 characters");
  EXPECT_THAT(IsDns1035Label("1abc"), ::testing::SizeIs(1));
  EXPECT_THAT(CheckName(NameRule::kDnsSubdomain, "web-", /*prefix=*/true), IsEmpty());
  EXPECT_THAT(CheckName(NameRule::kPathSegment, "a/b", false), ElementsAre("may not contain '/'"));
  EXPECT_THAT(CheckName(NameRule::kPathSegment, "..", false), ElementsAre("may not be '..'"));
  EXPECT_THAT(CheckName(NameRule::kPathSegment, "Any_Thing.1", false), IsEmpty());
}

TEST(NamesTest, QualifiedNamesAndLabelValues) {
  EXPECT_THAT(IsQualifiedName("lballoc.io/pool"), IsEmpty());
  EXPECT_THAT(IsQualifiedName("kubernetes"), IsEmpty());
  EXPECT_THAT(IsQualifiedName("/x"), ElementsAre("prefix part must be non-empty"));
  EXPECT_THAT(IsQualifiedName("a/b/c"), ::testing::SizeIs(1));
  EXPECT_THAT(IsQualifiedName("x/-bad"), ::testing::SizeIs(1));
  EXPECT_THAT(IsLabelValue(""), IsEmpty());
  EXPECT_THAT(IsLabelValue("My_Value.1"), IsEmpty());
  EXPECT_THAT(IsLabelValue("-x"), ::testing::SizeIs(1));
  EXPECT_THAT(IsLabelValue(std::string(64, 'a')),
              ElementsAre("must be no more than 63 characters"));
}

TEST(NamesTest, IpAddressesAreParsedStrictly) {
  EXPECT_FALSE(IpAddressError("192.0.2.1"));
  EXPECT_FALSE(IpAddressError("2001:db8::1"));
  EXPECT_FALSE(IpAddressError("2001:DB8:0:0:0:0:0:1")) << "non-canonical IPv6 is a legacy form";
  EXPECT_EQ(IpAddressError("010.0.0.1").value_or(""), "must not have leading 0s");
  EXPECT_EQ(IpAddressError("::ffff:1.2.3.4").value_or(""),
            "must not be an IPv4-mapped IPv6 address");
  EXPECT_EQ(IpAddressError("1.2.3").value_or(""),
            "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)");
  EXPECT_TRUE(IpAddressError("256.1.1.1"));
  EXPECT_TRUE(IpAddressError("fe80::1%eth0"));
  EXPECT_TRUE(IpAddressError(""));
}

TEST(FieldErrorTest, ValuesPrintLikeGo) {
  EXPECT_EQ(GoFloat(1.5), "1.5");
  EXPECT_EQ(GoFloat(100.25), "100.25");
  EXPECT_EQ(GoFloat(0.0001), "0.0001");
  EXPECT_EQ(GoFloat(0.00001), "1e-05");
  EXPECT_EQ(GoFloat(1234567.5), "1.2345675e+06");
  EXPECT_EQ(GoFloat(123456.5), "123456.5");
  EXPECT_EQ(GoFloat(-2.5e-5), "-2.5e-05");
  EXPECT_EQ(GoFloat(1e20), "1e+20");
  EXPECT_EQ(GoQuote("a\"b\\c\x01"), R"("a\"b\\c\x01")");
  rapidjson::Document d;
  d.Parse(R"({"s":"x","i":-3,"b":true,"o":{"type":"Ready"},"f":2.5})");
  EXPECT_EQ(GoValue(d["s"]), "\"x\"");
  EXPECT_EQ(GoValue(d["i"]), "-3");
  EXPECT_EQ(GoValue(d["b"]), "true");
  EXPECT_EQ(GoValue(d["o"]), R"({"type":"Ready"})");
  EXPECT_EQ(GoValue(d["f"]), "2.5");
}

TEST(FieldErrorTest, Wording) {
  EXPECT_EQ(RequiredError("spec.x").ToString(), "spec.x: Required value");
  EXPECT_EQ(InvalidError("a", "0", "must be greater than 0").ToString(),
            "a: Invalid value: 0: must be greater than 0");
  EXPECT_EQ(NotSupportedError("t", "\"x\"", {"A", "B"}).message,
            R"(Unsupported value: "x": supported values: "A", "B")");
  EXPECT_EQ(TooLongError("n", 1).message, "Too long: may not be more than 1 byte");
  EXPECT_EQ(TooManyError("l", 5, 3).message, "Too many: 5: must have at most 3 items");
  EXPECT_EQ(DuplicateError("l[1]", "\"a\"").reason, "FieldValueDuplicate");
  EXPECT_EQ(InvalidMessage("Lease.coordination.k8s.io", "x",
                           {RequiredError("a"), ForbiddenError("b", "no")}),
            R"(Lease.coordination.k8s.io "x" is invalid: [a: Required value, b: Forbidden: no])");
}

}  // namespace
}  // namespace lballoc::apiserver
