// Custom-resource schema validation: kube-openapi's checks with apiextensions' wording, list
// types, ratcheting.
#include "test/apiserver/schema_validation.h"

#include <rapidjson/document.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lballoc::apiserver {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

rapidjson::Document Parse(const std::string& json) {
  rapidjson::Document d;
  d.Parse(json.c_str());
  EXPECT_FALSE(d.HasParseError()) << json;
  return d;
}

std::vector<std::string> Check(const std::string& schema, const std::string& value,
                               const std::string& old = "", const std::string& prefix = "") {
  auto s = Parse(schema);
  auto v = Parse(value);
  rapidjson::Document o;
  if (!old.empty()) o = Parse(old);
  std::vector<std::string> out;
  for (const FieldError& e : ValidateAgainstSchema(v, s, prefix, old.empty() ? nullptr : &o)) {
    out.push_back(e.reason + " " + e.ToString());
  }
  return out;
}

TEST(SchemaValidationTest, Keywords) {
  const std::string obj = R"({"type":"object","properties":{"x":)";
  EXPECT_THAT(
      Check(obj + R"({"type":"integer","multipleOf":5}}})", R"({"x":7})"),
      ElementsAre("FieldValueInvalid x: Invalid value: 7: x in body should be a multiple of 5"));
  EXPECT_THAT(
      Check(obj + R"({"type":"number","minimum":0.5,"exclusiveMinimum":true}}})", R"({"x":0.5})"),
      ElementsAre("FieldValueInvalid x: Invalid value: 0.5: x in body should be greater than 0.5"));
  EXPECT_THAT(
      Check(
          obj +
              R"({"type":"object","minProperties":1,"maxProperties":1,"additionalProperties":{"type":"string"}}}})",
          R"({"x":{"a":"1","b":2}})"),
      ElementsAre(
          "FieldValueTooMany x: Too many: 2: must have at most 1 item",
          R"(FieldValueTypeInvalid x.b: Invalid value: "integer": x.b in body must be of type string: "integer")"));
  EXPECT_THAT(
      Check(obj + R"({"type":"object","minProperties":1}}})", R"({"x":{}})"),
      ElementsAre(
          "FieldValueInvalid x: Invalid value: 0: x in body should have at least 1 properties"));
  EXPECT_THAT(
      Check(obj + R"({"type":"string","format":"date"}}})", R"({"x":"2026-02-30"})"),
      ElementsAre(
          R"(FieldValueTypeInvalid x: Invalid value: "2026-02-30": x in body must be of type date: "2026-02-30")"));
  EXPECT_THAT(Check(obj + R"({"type":"string","format":"date-time"}}})",
                    R"({"x":"2026-01-02t03:04:05.1z"})"),
              IsEmpty())
      << "strfmt accepts lower-case t and z";
  EXPECT_THAT(
      Check(obj + R"({"type":"string","format":"date-time"}}})", R"({"x":"2026-01-02T03:04:05"})"),
      ::testing::SizeIs(1))
      << "a zone is required";
  EXPECT_THAT(Check(obj + R"({"type":"string","format":"email"}}})", R"({"x":"not checked"})"),
              IsEmpty());
  EXPECT_THAT(
      Check(obj + R"({"type":"string","minLength":1,"pattern":"^a"}}})", R"({"x":""})"),
      ElementsAre(
          R"(FieldValueInvalid x: Invalid value: "": x in body should be at least 1 chars long)"))
      << "the string validator stops at its first failure";
  EXPECT_THAT(Check(obj + R"({"type":"integer"}}})", R"({"x":2.0})"), IsEmpty())
      << "an integral float is an integer";
  // A float for an integer gets the type error and the number validator's range error (on the
  // root's field, <nil> for a whole object); int32 is range-checked. Measured on kube-apiserver
  // 1.37.2.
  EXPECT_THAT(
      Check(obj + R"({"type":"integer"}}})", R"({"x":1.5})"),
      ElementsAre(
          R"(FieldValueTypeInvalid x: Invalid value: "number": x in body must be of type integer: "number")",
          R"(FieldValueInvalid <nil>: Invalid value: "": Checked value must be of type integer (default format) in x)"));
  EXPECT_THAT(
      Check(obj + R"({"type":"integer","format":"int32"}}})", R"({"x":3000000000})", "", "status"),
      ElementsAre(
          R"(FieldValueInvalid status: Invalid value: "": Checked value must be of type integer with format int32 in x)"));
  EXPECT_THAT(
      Check(obj + R"({"type":"string"}}})", R"({"x":null})"),
      ElementsAre(
          R"(FieldValueTypeInvalid x: Invalid value: "null": x in body must be of type string: "null")"));
  EXPECT_THAT(
      Check(obj + R"({"type":"integer","enum":[1,2]}}})", R"({"x":3})"),
      ElementsAre(R"(FieldValueNotSupported x: Unsupported value: 3: supported values: "1", "2")"));
  EXPECT_THAT(Check(R"({"type":"object","required":["a"]})", R"({})", "", "status"),
              ElementsAre("FieldValueRequired status.a: Required value"));
}

TEST(SchemaValidationTest, Composition) {
  const std::string any =
      R"({"type":"object","properties":{"x":{"type":"string","anyOf":[{"maxLength":1},{"pattern":"^a"}]}}})";
  EXPECT_THAT(Check(any, R"({"x":"abc"})"), IsEmpty());
  auto errs = Check(any, R"({"x":"bcd"})");
  ASSERT_EQ(errs.size(), 2u);
  EXPECT_EQ(
      errs[0],
      R"(FieldValueInvalid <nil>: Invalid value: "": "x" must validate at least one schema (anyOf))");
  const std::string one =
      R"({"type":"object","properties":{"x":{"type":"string","oneOf":[{"maxLength":5},{"pattern":"^a"}]}}})";
  EXPECT_THAT(
      Check(one, R"({"x":"abc"})"),
      ElementsAre(
          R"(FieldValueInvalid <nil>: Invalid value: "": "x" must validate one and only one schema (oneOf). Found 2 valid alternatives)"));
  const std::string n =
      R"({"type":"object","properties":{"x":{"type":"string","not":{"pattern":"^a"}}}})";
  EXPECT_THAT(
      Check(n, R"({"x":"abc"})"),
      ElementsAre(
          R"(FieldValueInvalid <nil>: Invalid value: "": "x" must not validate the schema (not))"));
}

TEST(SchemaValidationTest, RatchetingCorrelatesByNameAndMapKeys) {
  const std::string schema =
      R"({"type":"object","properties":{"a":{"type":"integer","maximum":1},"l":{"type":"array","x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["k"],"items":{"type":"object","properties":{"k":{"type":"string"},"v":{"type":"integer","maximum":1}}}},"s":{"type":"array","items":{"type":"integer","maximum":1}}}})";
  EXPECT_THAT(Check(schema, R"({"a":5,"b":1})", R"({"a":5})"), IsEmpty());
  EXPECT_THAT(Check(schema, R"({"a":6})", R"({"a":5})"), ::testing::SizeIs(1));
  EXPECT_THAT(
      Check(schema, R"({"l":[{"k":"y","v":0},{"k":"x","v":5}]})", R"({"l":[{"k":"x","v":5}]})"),
      IsEmpty())
      << "map items correlate by key, wherever they moved";
  EXPECT_THAT(Check(schema, R"({"s":[0,5]})", R"({"s":[5]})"), ::testing::SizeIs(1))
      << "atomic lists do not correlate items";
}

TEST(SchemaValidationTest, ListTypes) {
  auto schema = Parse(
      R"({"type":"object","properties":{"m":{"type":"array","x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["a","b"],"items":{"type":"object"}},"o":{"type":"object","additionalProperties":{"type":"array","x-kubernetes-list-type":"set","items":{"type":"object"}}}}})");
  auto v = Parse(
      R"({"m":[{"a":1,"b":"x"},{"a":1,"b":"x","c":3},{"a":1}],"o":{"k":[{"z":1},{"z":1},{"z":1}]}})");
  std::vector<std::string> out;
  for (const FieldError& e : ValidateListTypes(v, schema)) out.push_back(e.ToString());
  EXPECT_THAT(out, ElementsAre(R"(m[1]: Duplicate value: {"a":1,"b":"x"})",
                               R"(o[k][1]: Duplicate value: {"z":1})"));
}

}  // namespace
}  // namespace lballoc::apiserver
