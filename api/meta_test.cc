#include "api/meta.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "api/core_v1.h"
#include "api/test_util.h"
#include "operator/base/status_macros.h"
#include "test/testing/status_matchers.h"

namespace lballoc::api {
namespace {

using ::lballoc::api::testing::ParseOrFail;
using ::lballoc::api::testing::ReadTestData;
using ::lballoc::testing::IsOk;
using ::lballoc::testing::IsOkAndHolds;
using ::lballoc::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

using namespace std::chrono_literals;

TEST(ResourceInfoTest, ApiVersion) {
  EXPECT_EQ(Service::kResource.ApiVersion(), "v1");
  constexpr ResourceInfo lease{"coordination.k8s.io", "v1", "leases", "Lease", true};
  EXPECT_EQ(lease.ApiVersion(), "coordination.k8s.io/v1");
}

TEST(ObjectMetaTest, DecodesEveryField) {
  rapidjson::Document doc;
  ParseOrFail(R"({
    "name": "web", "generateName": "web-", "namespace": "shop", "uid": "u-1",
    "resourceVersion": "17", "generation": 4,
    "creationTimestamp": "2024-05-14T09:21:07Z", "deletionTimestamp": "2024-05-15T00:00:00.5Z",
    "deletionGracePeriodSeconds": 0,
    "labels": {"a": "1"}, "annotations": {"b": "2"}, "finalizers": ["f/x"],
    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u-2",
                         "controller": true, "blockOwnerDeletion": false}],
    "managedFields": [{"manager": "x"}], "selfLink": "/ignored"
  })",
              doc);
  ASSERT_OK_AND_ASSIGN(ObjectMeta meta, ObjectMeta::FromJson(doc));
  EXPECT_EQ(meta.name, "web");
  EXPECT_EQ(meta.generate_name, "web-");
  EXPECT_EQ(meta.namespace_, "shop");
  EXPECT_EQ(meta.uid, "u-1");
  EXPECT_EQ(meta.resource_version, "17");
  EXPECT_EQ(meta.generation, 4);
  ASSERT_TRUE(meta.creation_timestamp.has_value());
  EXPECT_EQ(FormatTime(*meta.creation_timestamp), "2024-05-14T09:21:07Z");
  ASSERT_TRUE(meta.deletion_timestamp.has_value());
  EXPECT_EQ(FormatTime(*meta.deletion_timestamp), "2024-05-15T00:00:00.5Z");
  EXPECT_EQ(meta.deletion_grace_period_seconds, 0);
  EXPECT_THAT(meta.labels, ElementsAre(Pair("a", "1")));
  EXPECT_THAT(meta.annotations, ElementsAre(Pair("b", "2")));
  EXPECT_THAT(meta.finalizers, ElementsAre("f/x"));
  ASSERT_EQ(meta.owner_references.size(), 1u);
  EXPECT_EQ(meta.owner_references[0].kind, "ReplicaSet");
  EXPECT_EQ(meta.owner_references[0].controller, true);
  EXPECT_EQ(meta.owner_references[0].block_owner_deletion, false);

  // Encode, decode: the same value.
  rapidjson::Document out;
  meta.ToJson(out, out.GetAllocator());
  EXPECT_THAT(ObjectMeta::FromJson(out), IsOkAndHolds(meta));
  // Nothing it does not model is written back.
  EXPECT_FALSE(out.HasMember("managedFields"));
}

TEST(ObjectMetaTest, EmptyEncodesAsEmptyObject) {
  rapidjson::Document out;
  ObjectMeta().ToJson(out, out.GetAllocator());
  EXPECT_EQ(JsonToString(out), "{}");
}

TEST(ObjectMetaTest, ErrorsNameTheField) {
  rapidjson::Document doc;
  ParseOrFail(R"({"ownerReferences": [{"controller": "yes"}]})", doc);
  EXPECT_THAT(ObjectMeta::FromJson(doc),
              StatusIs(StatusCode::kInvalidArgument,
                       "metadata.ownerReferences[0].controller: expected boolean, got string"));
}

TEST(ApiStatusTest, DecodesFixtures) {
  rapidjson::Document doc;
  ParseOrFail(ReadTestData("status_invalid.json"), doc);
  ASSERT_OK_AND_ASSIGN(ApiStatus status, ApiStatus::FromJson(doc));
  EXPECT_EQ(status.status, "Failure");
  EXPECT_EQ(status.reason, "Invalid");
  EXPECT_EQ(status.code, 422);
  ASSERT_TRUE(status.details.has_value());
  EXPECT_EQ(status.details->group, "lballoc.io");
  ASSERT_EQ(status.details->causes.size(), 1u);
  EXPECT_EQ(status.details->causes[0].reason, "FieldValueInvalid");
  EXPECT_EQ(status.details->causes[0].field, "spec.addresses");
  EXPECT_THAT(status.ToStatus(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("should have at least 1 items")));

  rapidjson::Document again;
  ParseOrFail(status.ToJsonString(), again);
  EXPECT_THAT(ApiStatus::FromJson(again), IsOkAndHolds(status));

  ParseOrFail(ReadTestData("status_conflict.json"), doc);
  ASSERT_OK_AND_ASSIGN(status, ApiStatus::FromJson(doc));
  EXPECT_TRUE(status.ToStatus().IsConflict());
}

TEST(ApiStatusTest, RejectsOtherKinds) {
  rapidjson::Document doc;
  ParseOrFail(R"({"kind": "Service", "apiVersion": "v1"})", doc);
  EXPECT_THAT(ApiStatus::FromJson(doc),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("kind: expected \"Status\"")));
}

struct ToStatusCase {
  int32_t code;
  const char* reason;
  StatusCode want;
};

TEST(ApiStatusTest, MapsCodesAndReasons) {
  const ToStatusCase cases[] = {
      {404, "NotFound", StatusCode::kNotFound},
      {409, "AlreadyExists", StatusCode::kAlreadyExists},
      {409, "Conflict", StatusCode::kAborted},
      {410, "Gone", StatusCode::kGone},
      {410, "Expired", StatusCode::kGone},
      {0, "Expired", StatusCode::kGone},
      {422, "Invalid", StatusCode::kInvalidArgument},
      {400, "BadRequest", StatusCode::kInvalidArgument},
      {415, "UnsupportedMediaType", StatusCode::kInvalidArgument},
      {401, "Unauthorized", StatusCode::kUnauthenticated},
      {403, "Forbidden", StatusCode::kPermissionDenied},
      {429, "TooManyRequests", StatusCode::kUnavailable},
      {500, "InternalError", StatusCode::kUnavailable},
      {503, "ServiceUnavailable", StatusCode::kUnavailable},
      {504, "Timeout", StatusCode::kUnavailable},
      {405, "MethodNotAllowed", StatusCode::kUnimplemented},
      {418, "", StatusCode::kUnknown},
  };
  for (const ToStatusCase& c : cases) {
    ApiStatus status = ApiStatus::Failure(c.code, c.reason, "msg " + std::string(c.reason));
    EXPECT_THAT(status.ToStatus(), StatusIs(c.want, "msg " + std::string(c.reason)))
        << c.code << " " << c.reason;
  }
  ApiStatus success;
  success.status = "Success";
  EXPECT_OK(success.ToStatus());
  EXPECT_THAT(ApiStatus::Failure(404, "NotFound", "").ToStatus(),
              StatusIs(StatusCode::kNotFound, "NotFound (404)"));
}

TEST(ApiStatusTest, RetryAfterFromDetails) {
  rapidjson::Document doc;
  ParseOrFail(R"({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"TooManyRequests",
                  "message":"slow down","code":429,"details":{"retryAfterSeconds":3}})",
              doc);
  ASSERT_OK_AND_ASSIGN(ApiStatus status, ApiStatus::FromJson(doc));
  Status s = status.ToStatus();
  EXPECT_TRUE(s.IsUnavailable());
  EXPECT_EQ(s.retry_after(), std::chrono::milliseconds(3000));
}

TEST(ListTest, DecodesServiceList) {
  rapidjson::Document doc;
  ParseOrFail(ReadTestData("service_list.json"), doc);
  ASSERT_OK_AND_ASSIGN(List<Service> list, List<Service>::FromJson(doc));
  EXPECT_EQ(list.resource_version, "184250");
  EXPECT_THAT(list.continue_token, HasSubstr("eyJ2Ijoi"));
  EXPECT_EQ(list.remaining_item_count, 7);
  ASSERT_EQ(list.items.size(), 2u);
  EXPECT_EQ(list.items[0].metadata.name, "kubernetes");
  EXPECT_EQ(list.items[0].spec.ports[0].target_port, IntOrString{6443});
  EXPECT_EQ(list.items[1].metadata.annotations.at("lballoc.io/ips"), "192.0.2.9");

  rapidjson::Document out;
  list.ToJson(out, out.GetAllocator());
  ASSERT_OK_AND_ASSIGN(List<Service> again, List<Service>::FromJson(out));
  EXPECT_EQ(again.items, list.items);
  EXPECT_EQ(again.continue_token, list.continue_token);
  EXPECT_EQ(again.remaining_item_count, list.remaining_item_count);
}

TEST(ListTest, ItemErrorsNameTheItem) {
  rapidjson::Document doc;
  ParseOrFail(R"({"kind":"ServiceList","apiVersion":"v1","metadata":{},"items":[
      {"metadata":{"name":"ok"}}, {"spec":{"ports":[{"port":"80"}]}}]})",
              doc);
  EXPECT_THAT(List<Service>::FromJson(doc),
              StatusIs(StatusCode::kInvalidArgument,
                       "items[1]: spec.ports[0].port: expected integer, got string"));
  ParseOrFail(R"({"kind":"PodList","items":[]})", doc);
  EXPECT_THAT(List<Service>::FromJson(doc),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("expected \"ServiceList\"")));
}

TEST(WatchEventTypeTest, ParsesAllTypes) {
  for (WatchEventType t :
       {WatchEventType::kAdded, WatchEventType::kModified, WatchEventType::kDeleted,
        WatchEventType::kBookmark, WatchEventType::kError}) {
    EXPECT_THAT(ParseWatchEventType(WatchEventTypeName(t)), IsOkAndHolds(t));
  }
  EXPECT_THAT(ParseWatchEventType("added"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("\"added\"")));
}

TEST(BookmarkTest, KindsDecodeMetadataOnlyObjects) {
  rapidjson::Document doc;
  ParseOrFail(R"({"kind":"Service","apiVersion":"v1","metadata":{"resourceVersion":"12345",
                  "annotations":{"k8s.io/initial-events-end":"true"}}})",
              doc);
  ASSERT_OK_AND_ASSIGN(Service svc, Service::FromJson(doc));
  EXPECT_EQ(svc.metadata.resource_version, "12345");
}

TEST(ConditionTest, SetConditionKeepsTransitionTimeUnlessStatusChanges) {
  Time t0 = Time() + std::chrono::hours(24 * 365 * 54);
  std::vector<Condition> conditions;
  EXPECT_TRUE(SetCondition(conditions, {"Ready", "True", 1, std::nullopt, "Serving", "ok"}, t0));
  ASSERT_EQ(conditions.size(), 1u);
  EXPECT_EQ(conditions[0].last_transition_time, t0);

  // Same status, new message: changed, but the transition time stays.
  EXPECT_TRUE(
      SetCondition(conditions, {"Ready", "True", 2, std::nullopt, "Serving", "ok2"}, t0 + 10s));
  EXPECT_EQ(conditions[0].last_transition_time, t0);
  EXPECT_EQ(conditions[0].message, "ok2");
  EXPECT_EQ(conditions[0].observed_generation, 2);

  // Identical: no change reported.
  EXPECT_FALSE(
      SetCondition(conditions, {"Ready", "True", 2, std::nullopt, "Serving", "ok2"}, t0 + 20s));

  // Status flips: new transition time, at second precision like the server.
  EXPECT_TRUE(SetCondition(conditions, {"Ready", "False", 2, std::nullopt, "Overlap", "x"},
                           t0 + 30s + 750ms));
  EXPECT_EQ(conditions[0].last_transition_time, t0 + 30s);

  EXPECT_TRUE(SetCondition(conditions, {"Exhausted", "False", 2, std::nullopt, "A", ""}, t0));
  ASSERT_EQ(conditions.size(), 2u);
  ASSERT_NE(FindCondition(conditions, "Exhausted"), nullptr);
  EXPECT_EQ(FindCondition(conditions, "Ready")->reason, "Overlap");
  EXPECT_EQ(FindCondition(conditions, "Nope"), nullptr);
  EXPECT_TRUE(RemoveCondition(conditions, "Ready"));
  EXPECT_FALSE(RemoveCondition(conditions, "Ready"));
  EXPECT_EQ(conditions.size(), 1u);
}

TEST(ConditionTest, RoundTrip) {
  rapidjson::Document doc;
  ParseOrFail(R"({"type":"Ready","status":"True","observedGeneration":3,
                  "lastTransitionTime":"2024-05-14T08:40:01Z","reason":"Serving","message":"m"})",
              doc);
  ASSERT_OK_AND_ASSIGN(Condition c, Condition::FromJson(doc));
  rapidjson::Document out;
  c.ToJson(out, out.GetAllocator());
  EXPECT_TRUE(out == doc) << JsonToString(out);
}

// --- Label selectors ----------------------------------------------------------

StatusOr<LabelSelector> Selector(const std::string& json) {
  rapidjson::Document doc;
  LB_RETURN_IF_ERROR(ParseJson(json, doc));
  return LabelSelector::FromJson(doc, "spec.serviceSelector");
}

struct MatchCase {
  const char* selector;
  std::map<std::string, std::string> labels;
  bool want;
};

TEST(LabelSelectorTest, MatchingTable) {
  const MatchCase cases[] = {
      {R"({})", {}, true},
      {R"({})", {{"a", "1"}}, true},
      {R"({"matchLabels":{"a":"1"}})", {{"a", "1"}, {"b", "2"}}, true},
      {R"({"matchLabels":{"a":"1"}})", {{"a", "2"}}, false},
      {R"({"matchLabels":{"a":"1"}})", {}, false},
      {R"({"matchLabels":{"a":"1","b":"2"}})", {{"a", "1"}}, false},
      {R"({"matchExpressions":[{"key":"env","operator":"In","values":["prod","stg"]}]})",
       {{"env", "stg"}},
       true},
      {R"({"matchExpressions":[{"key":"env","operator":"In","values":["prod"]}]})",
       {{"env", "dev"}},
       false},
      {R"({"matchExpressions":[{"key":"env","operator":"In","values":["prod"]}]})", {}, false},
      {R"({"matchExpressions":[{"key":"env","operator":"NotIn","values":["prod"]}]})",
       {{"env", "dev"}},
       true},
      {R"({"matchExpressions":[{"key":"env","operator":"NotIn","values":["prod"]}]})", {}, true},
      {R"({"matchExpressions":[{"key":"env","operator":"NotIn","values":["prod"]}]})",
       {{"env", "prod"}},
       false},
      {R"({"matchExpressions":[{"key":"env","operator":"Exists"}]})", {{"env", ""}}, true},
      {R"({"matchExpressions":[{"key":"env","operator":"Exists"}]})", {{"other", "x"}}, false},
      {R"({"matchExpressions":[{"key":"env","operator":"DoesNotExist"}]})", {{"x", "y"}}, true},
      {R"({"matchExpressions":[{"key":"env","operator":"DoesNotExist"}]})", {{"env", "y"}}, false},
      // matchLabels AND matchExpressions: both must hold.
      {R"({"matchLabels":{"team":"web"},
           "matchExpressions":[{"key":"env","operator":"In","values":["prod"]},
                               {"key":"canary","operator":"DoesNotExist"}]})",
       {{"team", "web"}, {"env", "prod"}},
       true},
      {R"({"matchLabels":{"team":"web"},
           "matchExpressions":[{"key":"env","operator":"In","values":["prod"]}]})",
       {{"team", "db"}, {"env", "prod"}},
       false},
      {R"({"matchLabels":{"team":"web"},
           "matchExpressions":[{"key":"env","operator":"In","values":["prod"]},
                               {"key":"canary","operator":"DoesNotExist"}]})",
       {{"team", "web"}, {"env", "prod"}, {"canary", "1"}},
       false},
      {R"({"matchLabels":{"example.com/team":"web-1.a_b"}})",
       {{"example.com/team", "web-1.a_b"}},
       true},
  };
  for (const MatchCase& c : cases) {
    ASSERT_OK_AND_ASSIGN(LabelSelector selector, Selector(c.selector));
    EXPECT_EQ(selector.Matches(c.labels), c.want) << c.selector;
    // Encoding keeps the meaning.
    rapidjson::Document out;
    selector.ToJson(out, out.GetAllocator());
    EXPECT_THAT(LabelSelector::FromJson(out), IsOkAndHolds(selector));
  }
}

struct InvalidSelectorCase {
  const char* selector;
  const char* want_message;
};

TEST(LabelSelectorTest, InvalidSelectorsNameTheEntry) {
  const InvalidSelectorCase cases[] = {
      {R"({"matchExpressions":[{"key":"a","operator":"Equals","values":["x"]}]})",
       "spec.serviceSelector.matchExpressions[0].operator: unknown operator \"Equals\""},
      {R"({"matchExpressions":[{"key":"a","operator":"in","values":["x"]}]})",
       "spec.serviceSelector.matchExpressions[0].operator: unknown operator \"in\""},
      {R"({"matchExpressions":[{"key":"a","values":["x"]}]})",
       "spec.serviceSelector.matchExpressions[0].operator: unknown operator \"\""},
      {R"({"matchExpressions":[{"key":"a","operator":"Exists"},
                               {"key":"b","operator":"Exists","values":["x"]}]})",
       "spec.serviceSelector.matchExpressions[1].values: must be empty for operator Exists"},
      {R"({"matchExpressions":[{"key":"b","operator":"DoesNotExist","values":["x"]}]})",
       "spec.serviceSelector.matchExpressions[0].values: must be empty for operator DoesNotExist"},
      {R"({"matchExpressions":[{"key":"b","operator":"In","values":[]}]})",
       "spec.serviceSelector.matchExpressions[0].values: must be non-empty for operator In"},
      {R"({"matchExpressions":[{"key":"b","operator":"NotIn"}]})",
       "spec.serviceSelector.matchExpressions[0].values: must be non-empty for operator NotIn"},
      {R"({"matchExpressions":[{"key":"","operator":"Exists"}]})",
       "spec.serviceSelector.matchExpressions[0].key: label key must not be empty"},
      {R"({"matchExpressions":[{"key":"bad key","operator":"Exists"}]})",
       "spec.serviceSelector.matchExpressions[0].key: label key \"bad key\""},
      {R"({"matchExpressions":[{"key":"a","operator":"In","values":["ok","-bad"]}]})",
       "spec.serviceSelector.matchExpressions[0].values[1]: label value \"-bad\""},
      {R"({"matchLabels":{"Example.com/a":"x"}})",
       "spec.serviceSelector.matchLabels[\"Example.com/a\"]: label key \"Example.com/a\": prefix"},
      {R"({"matchLabels":{"a":"has space"}})",
       "spec.serviceSelector.matchLabels[\"a\"]: label value \"has space\""},
  };
  for (const InvalidSelectorCase& c : cases) {
    EXPECT_THAT(Selector(c.selector),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr(c.want_message)))
        << c.selector;
    // Decode() accepts the structure; the invalid selector then matches nothing.
    rapidjson::Document doc;
    ParseOrFail(c.selector, doc);
    ASSERT_OK_AND_ASSIGN(LabelSelector decoded, LabelSelector::Decode(doc));
    EXPECT_FALSE(decoded.Validate().ok());
    EXPECT_FALSE(decoded.Matches({{"a", "x"}, {"b", "y"}})) << c.selector;
  }
}

TEST(LabelSelectorTest, StructuralErrors) {
  EXPECT_THAT(Selector(R"({"matchLabels":["a"]})"),
              StatusIs(StatusCode::kInvalidArgument,
                       "spec.serviceSelector.matchLabels: expected object of strings, got array"));
  EXPECT_THAT(Selector(R"({"matchExpressions":{"key":"a"}})"),
              StatusIs(StatusCode::kInvalidArgument,
                       "spec.serviceSelector.matchExpressions: expected array, got object"));
  EXPECT_THAT(
      Selector(R"({"matchExpressions":[{"key":"a","operator":"In","values":"x"}]})"),
      StatusIs(StatusCode::kInvalidArgument,
               HasSubstr("spec.serviceSelector.matchExpressions[0].values: expected array")));
}

TEST(LabelKeyTest, Syntax) {
  EXPECT_OK(ValidateLabelKey("app"));
  EXPECT_OK(ValidateLabelKey("app.kubernetes.io/name"));
  EXPECT_OK(ValidateLabelKey(std::string(63, 'a')));
  EXPECT_FALSE(ValidateLabelKey(std::string(64, 'a')).ok());
  EXPECT_FALSE(ValidateLabelKey("a/").ok());
  EXPECT_FALSE(ValidateLabelKey("/a").ok());
  EXPECT_FALSE(ValidateLabelKey("a..b/c").ok());
  EXPECT_FALSE(ValidateLabelKey("a/b/c").ok());
  EXPECT_OK(ValidateLabelValue(""));
  EXPECT_OK(ValidateLabelValue("v1.2_3-x"));
  EXPECT_FALSE(ValidateLabelValue("v_").ok());
  EXPECT_FALSE(ValidateLabelValue(std::string(64, 'v')).ok());
}

}  // namespace
}  // namespace lballoc::api
