#include "test/apiserver/selectors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <map>
#include <random>
#include <string>

#include "test/testing/status_matchers.h"

namespace lballoc::apiserver {
namespace {

using ::lballoc::testing::StatusIs;
using ::testing::HasSubstr;

using Labels = std::map<std::string, std::string>;

struct LabelCase {
  const char* selector;
  Labels labels;
  bool want;
};

const LabelCase kLabelCases[] = {
    {"", {}, true},
    {"   ", {{"a", "b"}}, true},
    {"a=b", {{"a", "b"}}, true},
    {"a=b", {{"a", "c"}}, false},
    {"a=b", {}, false},
    {"a==b", {{"a", "b"}}, true},
    {"a!=b", {{"a", "c"}}, true},
    {"a!=b", {{"a", "b"}}, false},
    {"a!=b", {}, true},  // != matches objects without the key
    {"a in (x,y)", {{"a", "y"}}, true},
    {"a in (x,y)", {{"a", "z"}}, false},
    {"a in (x,y)", {}, false},
    {"a notin (x)", {{"a", "y"}}, true},
    {"a notin (x)", {{"a", "x"}}, false},
    {"a notin (x)", {}, true},
    {"a", {{"a", ""}}, true},
    {"a", {{"b", "1"}}, false},
    {"!a", {{"b", "1"}}, true},
    {"!a", {{"a", "1"}}, false},
    {"a=b,c=d", {{"a", "b"}, {"c", "d"}}, true},
    {"a=b,c=d", {{"a", "b"}, {"c", "e"}}, false},
    {"a = b , c", {{"a", "b"}, {"c", "x"}}, true},
    {"a=", {{"a", ""}}, true},
    {"a=", {{"a", "x"}}, false},
    {"a in (x,)", {{"a", ""}}, true},
    {"app.kubernetes.io/name=web", {{"app.kubernetes.io/name", "web"}}, true},
    {"n>5", {{"n", "6"}}, true},
    {"n>5", {{"n", "5"}}, false},
    {"n<5", {{"n", "4"}}, true},
    {"n<5", {{"n", "x"}}, false},
    {"n<5", {}, false},
    {"a in (in,notin)", {{"a", "notin"}}, true},
};

class LabelSelectorMatchTest : public ::testing::TestWithParam<LabelCase> {};

TEST_P(LabelSelectorMatchTest, Matches) {
  const LabelCase& c = GetParam();
  ASSERT_OK_AND_ASSIGN(LabelSelector sel, LabelSelector::Parse(c.selector));
  EXPECT_EQ(sel.Matches(c.labels), c.want) << "selector '" << c.selector << "'";

  // The same through JSON metadata.labels.
  rapidjson::Document obj(rapidjson::kObjectType);
  auto& a = obj.GetAllocator();
  rapidjson::Value labels(rapidjson::kObjectType);
  for (const auto& [k, v] : c.labels) {
    labels.AddMember(rapidjson::Value(k.c_str(), a), rapidjson::Value(v.c_str(), a), a);
  }
  rapidjson::Value meta(rapidjson::kObjectType);
  meta.AddMember("labels", labels, a);
  obj.AddMember("metadata", meta, a);
  EXPECT_EQ(sel.MatchesObject(obj), c.want) << "selector '" << c.selector << "' (JSON)";
}

INSTANTIATE_TEST_SUITE_P(Table, LabelSelectorMatchTest, ::testing::ValuesIn(kLabelCases));

TEST(LabelSelectorTest, ParsesRequirements) {
  ASSERT_OK_AND_ASSIGN(LabelSelector sel, LabelSelector::Parse("a in (x, y),!b,c!=d"));
  ASSERT_EQ(sel.requirements().size(), 3u);
  EXPECT_EQ(sel.requirements()[0].op, LabelRequirement::Op::kIn);
  EXPECT_THAT(sel.requirements()[0].values, ::testing::ElementsAre("x", "y"));
  EXPECT_EQ(sel.requirements()[1].op, LabelRequirement::Op::kDoesNotExist);
  EXPECT_EQ(sel.requirements()[1].key, "b");
  EXPECT_EQ(sel.requirements()[2].op, LabelRequirement::Op::kNotEquals);
  EXPECT_FALSE(sel.Empty());
}

TEST(LabelSelectorTest, ObjectWithoutLabelsOrWithOddShapes) {
  ASSERT_OK_AND_ASSIGN(LabelSelector sel, LabelSelector::Parse("!a,b!=c"));
  rapidjson::Document d;
  for (const char* json : {"{}", R"({"metadata":null})", R"({"metadata":{"labels":[1]}})",
                           R"({"metadata":{"labels":{"a":1}}})", "[]", "3"}) {
    d.Parse(json);
    EXPECT_TRUE(sel.MatchesObject(d)) << json;
  }
  EXPECT_TRUE(sel.Matches(nullptr));
}

struct BadLabelCase {
  const char* selector;
  const char* error;
};

const BadLabelCase kBadLabelCases[] = {
    {"a=b=c", "found '=', expected: ',' or 'end of string'"},
    {"a in x", "found 'x', expected: '('"},
    {"a in (x", "found '', expected: ',', ')' or identifier"},
    {"a in ()", "values set can't be empty"},
    {"a notin (x y)", "expected: ',', or ')'"},
    {"a,", "found '', expected: identifier after ','"},
    {",a", "found ',', expected: !, identifier, or 'end of string'"},
    {"!", "found '', expected: identifier"},
    {"a b", "found 'b', expected: '=', '!=', '==', 'in', notin'"},
    {"a=(", "found '(', expected: identifier"},
    {"a>b", "the value must be an integer"},
    {"-a=b", "name part must consist of alphanumeric characters"},
    {"Bad_Prefix/a=b", "prefix part"},
    {"a=b c", "found 'c', expected: ',' or 'end of string'"},
    {"a=-x", "values[0][a]: Invalid value: \"-x\""},
    {"a=0123456789012345678901234567890123456789012345678901234567890123",
     "must be no more than 63 characters"},
    {"0123456789012345678901234567890123456789012345678901234567890123=a",
     "name part must be no more than 63 characters"},
};

class LabelSelectorErrorTest : public ::testing::TestWithParam<BadLabelCase> {};

TEST_P(LabelSelectorErrorTest, Rejects) {
  const BadLabelCase& c = GetParam();
  auto sel = LabelSelector::Parse(c.selector);
  EXPECT_THAT(sel, StatusIs(StatusCode::kInvalidArgument,
                            ::testing::AllOf(HasSubstr("unable to parse requirement: "),
                                             HasSubstr(c.error))))
      << "selector '" << c.selector << "'";
}

INSTANTIATE_TEST_SUITE_P(Table, LabelSelectorErrorTest, ::testing::ValuesIn(kBadLabelCases));

// ---------------------------------------------------------------------------------------------

struct FieldCase {
  const char* selector;
  const char* object;
  bool want;
};

const char kLbService[] =
    R"({"metadata":{"name":"web","namespace":"default"},
        "spec":{"type":"LoadBalancer","clusterIP":"10.96.0.10"}})";
const char kPlainService[] = R"({"metadata":{"name":"db","namespace":"prod"},"spec":{}})";

const FieldCase kFieldCases[] = {
    {"", kLbService, true},
    {"metadata.name=web", kLbService, true},
    {"metadata.name==web", kLbService, true},
    {"metadata.name=db", kLbService, false},
    {"metadata.namespace!=prod", kLbService, true},
    {"metadata.namespace!=prod", kPlainService, false},
    {"spec.type=LoadBalancer", kLbService, true},
    {"spec.type=LoadBalancer", kPlainService, false},
    {"spec.type!=LoadBalancer", kPlainService, true},  // missing compares as ""
    {"spec.type=", kPlainService, true},
    {"metadata.name=web,spec.type=LoadBalancer", kLbService, true},
    {"metadata.name=web,spec.clusterIP=10.96.0.11", kLbService, false},
};

class FieldSelectorTest : public ::testing::TestWithParam<FieldCase> {};

TEST_P(FieldSelectorTest, Matches) {
  const FieldCase& c = GetParam();
  ASSERT_OK_AND_ASSIGN(FieldSelector sel, ParseFieldSelector(c.selector, "Service"));
  rapidjson::Document obj;
  obj.Parse(c.object);
  ASSERT_FALSE(obj.HasParseError());
  EXPECT_EQ(sel.Matches(obj), c.want) << "selector '" << c.selector << "'";
}

INSTANTIATE_TEST_SUITE_P(Table, FieldSelectorTest, ::testing::ValuesIn(kFieldCases));

TEST(FieldSelectorTest, UnsupportedFieldsPerKind) {
  EXPECT_THAT(ParseFieldSelector("spec.type=LoadBalancer", "ConfigMap"),
              StatusIs(StatusCode::kInvalidArgument,
                       "\"spec.type\" is not a known field selector: only \"metadata.name\", "
                       "\"metadata.namespace\""));
  EXPECT_THAT(ParseFieldSelector("metadata.name=a,spec.foo=b", "Service"),
              StatusIs(StatusCode::kInvalidArgument, "field label not supported: spec.foo"));
  EXPECT_OK(ParseFieldSelector("status.phase=Active", "Namespace").status());
  EXPECT_OK(ParseFieldSelector("involvedObject.name=x,reason=Y", "Event").status());
  EXPECT_OK(
      ParseFieldSelector("regarding.name=x,reportingController=c", "Event", {}, "events.k8s.io")
          .status());
  EXPECT_THAT(ParseFieldSelector("involvedObject.name=x", "Event", {}, "events.k8s.io"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("involvedObject.name")));
  EXPECT_THAT(ParseFieldSelector("spec.type=x", "Service", {}, "example.com"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("spec.type")));
  // A CRD's selectableFields.
  EXPECT_OK(ParseFieldSelector("spec.color=red", "Widget", {"spec.color"}).status());
  EXPECT_THAT(ParseFieldSelector("spec.color=red", "Widget"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("spec.color")));
}

TEST(FieldSelectorTest, SyntaxErrorsAndEscapes) {
  EXPECT_THAT(FieldSelector::Parse("metadata.name"),
              StatusIs(StatusCode::kInvalidArgument,
                       "invalid selector: 'metadata.name'; can't understand 'metadata.name'"));
  EXPECT_THAT(FieldSelector::Parse("=x"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("can't understand '=x'")));
  EXPECT_THAT(FieldSelector::Parse("a=b\\x"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("invalid escape")));
  ASSERT_OK_AND_ASSIGN(FieldSelector sel, FieldSelector::Parse("reason=a\\,b\\=c,type!=Normal"));
  ASSERT_EQ(sel.requirements().size(), 2u);
  EXPECT_EQ(sel.requirements()[0].value, "a,b=c");
  EXPECT_FALSE(sel.requirements()[1].equals);
  EXPECT_EQ(sel.RequiredValue("reason"), "a,b=c");
  EXPECT_EQ(sel.RequiredValue("type"), std::nullopt);
}

TEST(FieldSelectorTest, EventSourceAndNonStringValues) {
  rapidjson::Document ev;
  ev.Parse(R"({"source":{"component":"lballoc"},"count":3,"flag":true,"metadata":{"name":"e"}})");
  ASSERT_OK_AND_ASSIGN(FieldSelector sel, ParseFieldSelector("source=lballoc", "Event"));
  EXPECT_TRUE(sel.Matches(ev));
  ASSERT_OK_AND_ASSIGN(FieldSelector num, FieldSelector::Parse("count=3,flag=true"));
  EXPECT_TRUE(num.Matches(ev));
  rapidjson::Document arr;
  arr.Parse("[1]");
  ASSERT_OK_AND_ASSIGN(FieldSelector name, FieldSelector::Parse("metadata.name=e"));
  EXPECT_FALSE(name.Matches(arr));
}

// Robustness: random strings over the selector alphabet parse or fail cleanly, and what parses
// matches without crashing.
TEST(SelectorRobustnessTest, RandomSelectors) {
  static const char* kPieces[] = {
      "a",         "b", "=", "==", "!=",    "!", "(", ")", ",",  " ",   "in",
      "notin",     ">", "<", "1",  "x.io/", "-", "_", ".", "\\", "\\,", "metadata.name",
      "spec.type", "\t"};
  std::mt19937 rng(7);
  int parsed = 0;
  Labels labels = {{"a", "1"}, {"b", "x"}, {"x.io/a", "2"}};
  rapidjson::Document obj;
  obj.Parse(R"({"metadata":{"name":"a","labels":{"a":"1","b":[]}},"spec":{"type":{"x":1}}})");
  for (int i = 0; i < 5000; ++i) {
    std::string text;
    for (int n = static_cast<int>(rng() % 8); n > 0; --n) text += kPieces[rng() % 24];
    auto sel = LabelSelector::Parse(text);
    if (sel.ok()) {
      ++parsed;
      sel->Matches(labels);
      sel->MatchesObject(obj);
    } else {
      EXPECT_EQ(sel.status().code(), StatusCode::kInvalidArgument);
      EXPECT_THAT(sel.status().message(), ::testing::StartsWith("unable to parse requirement: "));
    }
    auto fields = FieldSelector::Parse(text);
    if (fields.ok()) {
      fields->Matches(obj);
    } else {
      EXPECT_EQ(fields.status().code(), StatusCode::kInvalidArgument);
    }
  }
  EXPECT_GT(parsed, 100);
}

}  // namespace
}  // namespace lballoc::apiserver
