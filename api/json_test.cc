#include "api/json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "test/testing/status_matchers.h"

namespace lballoc::api {
namespace {

using ::lballoc::testing::IsOk;
using ::lballoc::testing::IsOkAndHolds;
using ::lballoc::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

using namespace std::chrono_literals;

Time At(int y, unsigned m, unsigned d, int hh, int mm, int ss) {
  return std::chrono::sys_days(std::chrono::year(y) / m / d) + std::chrono::hours(hh) +
         std::chrono::minutes(mm) + std::chrono::seconds(ss);
}

TEST(ParseJsonTest, AcceptsDocument) {
  rapidjson::Document doc;
  ASSERT_OK(ParseJson(R"({"a": [1, 2, {"b": null}]})", doc));
  EXPECT_TRUE(doc.IsObject());
}

TEST(ParseJsonTest, MalformedNamesOffset) {
  rapidjson::Document doc;
  EXPECT_THAT(ParseJson(R"({"a": 1,})", doc),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("malformed JSON at offset 8")));
  EXPECT_THAT(ParseJson("", doc), StatusIs(StatusCode::kInvalidArgument, HasSubstr("offset 0")));
  EXPECT_THAT(ParseJson("{} trailing", doc),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("malformed JSON at offset 3")));
  EXPECT_THAT(ParseJson("\"\xff\"", doc),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("offset")));
  EXPECT_THAT(ParseJson("NaN", doc), StatusIs(StatusCode::kInvalidArgument, HasSubstr("offset")));
}

TEST(ParseJsonTest, DeepNestingDoesNotOverflowTheStack) {
  std::string deep(200000, '[');
  deep += std::string(200000, ']');
  rapidjson::Document doc;
  EXPECT_OK(ParseJson(deep, doc));
  std::string unbalanced(200000, '[');
  EXPECT_THAT(ParseJson(unbalanced, doc),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("offset")));
}

// Found by api_codec_fuzzer: RapidJSON kept "\udc00" as bytes that are not
// UTF-8, so an object decoded from such JSON encoded to JSON that did not parse.
TEST(ParseJsonTest, LoneSurrogateEscapesBecomeReplacementCharacters) {
  rapidjson::Document doc;
  ASSERT_THAT(ParseJson(R"({"k\udc00":["a\udE12b","\ud83d\ude00","\\udc00"]})", doc), IsOk());
  ASSERT_TRUE(doc.IsObject());
  EXPECT_EQ(std::string(doc.MemberBegin()->name.GetString()), "k\xEF\xBF\xBD");
  const auto& a = doc.MemberBegin()->value;
  EXPECT_EQ(std::string(a[0].GetString()), std::string("a\xEF\xBF\xBD") + "b");
  EXPECT_EQ(std::string(a[1].GetString()), "\xF0\x9F\x98\x80");  // a pair stays U+1F600
  EXPECT_EQ(std::string(a[2].GetString()), "\\udc00");           // an escaped backslash
  rapidjson::Document again;
  EXPECT_THAT(ParseJson(JsonToString(doc), again), IsOk());
  EXPECT_THAT(ParseJson(R"(["\ud800x"])", again),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("malformed JSON")));
}

TEST(TimeTest, ParsesRfc3339Forms) {
  EXPECT_THAT(ParseTime("2024-01-02T03:04:05Z"), IsOkAndHolds(At(2024, 1, 2, 3, 4, 5)));
  EXPECT_THAT(ParseTime("2024-01-02T03:04:05.25Z"), IsOkAndHolds(At(2024, 1, 2, 3, 4, 5) + 250ms));
  EXPECT_THAT(ParseTime("2024-01-02T03:04:05.123456789Z"),
              IsOkAndHolds(At(2024, 1, 2, 3, 4, 5) + 123456789ns));
  // More than nanosecond precision is truncated, as Go does.
  EXPECT_THAT(ParseTime("2024-01-02T03:04:05.1234567891Z"),
              IsOkAndHolds(At(2024, 1, 2, 3, 4, 5) + 123456789ns));
  EXPECT_THAT(ParseTime("2024-01-02T05:04:05+02:00"), IsOkAndHolds(At(2024, 1, 2, 3, 4, 5)));
  EXPECT_THAT(ParseTime("2024-01-01T23:04:05-04:00"), IsOkAndHolds(At(2024, 1, 2, 3, 4, 5)));
  EXPECT_THAT(ParseTime("2024-02-29T00:00:00Z"), IsOkAndHolds(At(2024, 2, 29, 0, 0, 0)));
  EXPECT_THAT(ParseTime("1969-12-31T23:59:59Z"), IsOkAndHolds(Time() - 1s));
}

TEST(TimeTest, RejectsBadTimes) {
  for (const char* bad :
       {"", "2024-01-02", "2024-01-02 03:04:05Z", "2024-01-02T03:04:05", "2024-13-02T03:04:05Z",
        "2023-02-29T03:04:05Z", "2024-01-02T24:00:00Z", "2024-01-02T03:60:00Z",
        "2024-01-02T03:04:05.Z", "2024-01-02T03:04:05+0200", "2024-01-02T03:04:05Zjunk",
        "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2024-1-02T03:04:05Z"}) {
    EXPECT_THAT(ParseTime(bad), StatusIs(StatusCode::kInvalidArgument, HasSubstr("RFC 3339")))
        << bad;
  }
}

TEST(TimeTest, FormatsTimeAndMicroTime) {
  Time t = At(2024, 5, 14, 9, 21, 7);
  EXPECT_EQ(FormatTime(t), "2024-05-14T09:21:07Z");
  EXPECT_EQ(FormatTime(t + 250ms), "2024-05-14T09:21:07.25Z");
  EXPECT_EQ(FormatTime(t + 1ns), "2024-05-14T09:21:07.000000001Z");
  EXPECT_EQ(FormatMicroTime(t), "2024-05-14T09:21:07.000000Z");
  EXPECT_EQ(FormatMicroTime(t + 734521us + 999ns), "2024-05-14T09:21:07.734521Z");
  EXPECT_EQ(FormatTime(Time() - 1s), "1969-12-31T23:59:59Z");
  // Round trip through text.
  EXPECT_THAT(ParseTime(FormatTime(t + 123ns)), IsOkAndHolds(t + 123ns));
  EXPECT_THAT(ParseTime(FormatMicroTime(t + 5us)), IsOkAndHolds(t + 5us));
}

class JsonObjectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(ParseJson(R"({
      "s": "text", "b": true, "i": 42, "big": 9223372036854775807, "huge": 18446744073709551615,
      "neg": -3, "f": 1.5, "n": null, "t": "2024-01-02T03:04:05Z", "badt": "yesterday",
      "list": ["a", "b"], "mixed": ["a", 1], "map": {"k": "v", "l": "w"}, "badmap": {"k": 1},
      "obj": {"x": 1}, "objs": [{"x": 1}, {"x": 2}], "notobjs": [{"x": 1}, 3]
    })",
                        doc_));
    ASSERT_OK_AND_ASSIGN(JsonObject obj, JsonObject::Of(doc_, "spec"));
    obj_.emplace(obj);
  }
  rapidjson::Document doc_;
  std::optional<JsonObject> obj_;
};

TEST_F(JsonObjectTest, ReadsTypedValues) {
  std::string s = "unchanged";
  EXPECT_OK(obj_->GetString("s", &s));
  EXPECT_EQ(s, "text");
  bool b = false;
  EXPECT_OK(obj_->GetBool("b", &b));
  EXPECT_TRUE(b);
  int64_t i = 0;
  EXPECT_OK(obj_->GetInt64("big", &i));
  EXPECT_EQ(i, INT64_MAX);
  int32_t i32 = 0;
  EXPECT_OK(obj_->GetInt32("neg", &i32));
  EXPECT_EQ(i32, -3);
  std::optional<Time> t;
  EXPECT_OK(obj_->GetTime("t", &t));
  EXPECT_EQ(t, At(2024, 1, 2, 3, 4, 5));
  std::vector<std::string> list;
  EXPECT_OK(obj_->GetStringList("list", &list));
  EXPECT_THAT(list, ElementsAre("a", "b"));
  std::map<std::string, std::string> map;
  EXPECT_OK(obj_->GetStringMap("map", &map));
  EXPECT_THAT(map, ElementsAre(Pair("k", "v"), Pair("l", "w")));
  std::vector<int> xs;
  EXPECT_OK(obj_->ForEachObject("objs", [&](const JsonObject& o) {
    int32_t x = 0;
    Status st = o.GetInt32("x", &x);
    xs.push_back(x);
    return st;
  }));
  EXPECT_THAT(xs, ElementsAre(1, 2));
}

TEST_F(JsonObjectTest, AbsentAndNullLeaveDefaults) {
  std::string s = "keep";
  EXPECT_OK(obj_->GetString("n", &s));
  EXPECT_OK(obj_->GetString("missing", &s));
  EXPECT_EQ(s, "keep");
  std::optional<int64_t> oi;
  EXPECT_OK(obj_->GetOptionalInt64("n", &oi));
  EXPECT_FALSE(oi.has_value());
  EXPECT_FALSE(obj_->Has("n"));
  ASSERT_OK_AND_ASSIGN(auto nested, obj_->GetObject("missing"));
  EXPECT_FALSE(nested.has_value());
}

TEST_F(JsonObjectTest, WrongTypesNameThePath) {
  std::string s;
  EXPECT_THAT(obj_->GetString("i", &s),
              StatusIs(StatusCode::kInvalidArgument, "spec.i: expected string, got integer"));
  bool b;
  EXPECT_THAT(obj_->GetBool("s", &b),
              StatusIs(StatusCode::kInvalidArgument, "spec.s: expected boolean, got string"));
  int64_t i;
  EXPECT_THAT(obj_->GetInt64("f", &i),
              StatusIs(StatusCode::kInvalidArgument, "spec.f: expected integer, got number"));
  EXPECT_THAT(obj_->GetInt64("huge", &i),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("spec.huge: integer out of range")));
  int32_t i32;
  EXPECT_THAT(obj_->GetInt32("big", &i32),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("spec.big: integer")));
  std::optional<Time> t;
  EXPECT_THAT(obj_->GetTime("badt", &t),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("spec.badt: invalid RFC 3339")));
  std::vector<std::string> list;
  EXPECT_THAT(
      obj_->GetStringList("mixed", &list),
      StatusIs(StatusCode::kInvalidArgument, "spec.mixed[1]: expected string, got integer"));
  EXPECT_THAT(obj_->GetStringList("s", &list),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("spec.s: expected array")));
  std::map<std::string, std::string> map;
  EXPECT_THAT(
      obj_->GetStringMap("badmap", &map),
      StatusIs(StatusCode::kInvalidArgument, HasSubstr("spec.badmap[\"k\"]: expected string")));
  EXPECT_THAT(obj_->GetObject("list"),
              StatusIs(StatusCode::kInvalidArgument, "spec.list: expected object, got array"));
  EXPECT_THAT(
      obj_->ForEachObject("notobjs", [](const JsonObject&) { return Status(); }),
      StatusIs(StatusCode::kInvalidArgument, "spec.notobjs[1]: expected object, got integer"));
  EXPECT_THAT(JsonObject::Of(doc_["list"], "x"),
              StatusIs(StatusCode::kInvalidArgument, "x: expected object, got array"));
}

TEST(JsonWriteTest, HelpersWriteMembers) {
  rapidjson::Document doc(rapidjson::kObjectType);
  auto& a = doc.GetAllocator();
  std::string key = "dynamic";
  AddString(doc, key, "v\"q", a);
  key = "overwritten";  // keys and values are copied
  AddStringIfNotEmpty(doc, "empty", "", a);
  AddInt64(doc, "n", -7, a);
  AddBool(doc, "b", false, a);
  AddNull(doc, "z", a);
  AddStringListIfNotEmpty(doc, "l", {"x"}, a);
  AddStringListIfNotEmpty(doc, "l0", {}, a);
  AddStringMapIfNotEmpty(doc, "m", {{"k", "v"}}, a);
  AddMicroTimeIfSet(doc, "t", Time(), a);
  AddTimeIfSet(doc, "t0", std::nullopt, a);
  EXPECT_EQ(JsonToString(doc),
            R"({"dynamic":"v\"q","n":-7,"b":false,"z":null,"l":["x"],"m":{"k":"v"},)"
            R"("t":"1970-01-01T00:00:00.000000Z"})");
}

}  // namespace
}  // namespace lballoc::api
