// Event conversion between the two APIs, the Go encoder's shape, and Event/Lease/ObjectMeta rules.
#include "test/apiserver/events.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/apiserver/builtin_rules.h"

namespace lballoc::apiserver {
namespace {

using ::testing::IsEmpty;

rapidjson::Document Parse(const char* json) {
  rapidjson::Document d;
  d.Parse(json);
  return d;
}

std::string ToJson(const rapidjson::Value& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v.Accept(w);
  return sb.GetString();
}

std::vector<std::string> Fields(const std::vector<FieldError>& errs) {
  std::vector<std::string> out;
  for (const auto& e : errs) out.push_back(e.ToString());
  return out;
}

TEST(EventsTest, ConversionRoundTripsAndWritesGoShape) {
  auto v1 = Parse(
      R"({"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{"name":"a","namespace":"default"},"eventTime":"2026-01-01T00:00:00.000000Z","reportingController":"x.io/c","reportingInstance":"i","action":"A","reason":"R","regarding":{"kind":"Service","name":"web","namespace":"default"},"note":"n","type":"Normal","unknown":1})");
  auto core = EventsV1EventToCore(v1);
  EXPECT_EQ(
      ToJson(core),
      R"({"kind":"Event","apiVersion":"v1","metadata":{"name":"a","namespace":"default"},"involvedObject":{"kind":"Service","name":"web","namespace":"default"},"reason":"R","message":"n","type":"Normal","eventTime":"2026-01-01T00:00:00.000000Z","action":"A","reportingComponent":"x.io/c","reportingInstance":"i","source":{},"firstTimestamp":null,"lastTimestamp":null})");
  auto back = CoreEventToEventsV1(core);
  EXPECT_EQ(
      ToJson(back),
      R"({"kind":"Event","apiVersion":"events.k8s.io/v1","metadata":{"name":"a","namespace":"default"},"eventTime":"2026-01-01T00:00:00.000000Z","reportingController":"x.io/c","reportingInstance":"i","action":"A","reason":"R","regarding":{"kind":"Service","name":"web","namespace":"default"},"note":"n","type":"Normal","deprecatedSource":{},"deprecatedFirstTimestamp":null,"deprecatedLastTimestamp":null})");
  auto empty =
      Parse(R"({"metadata":{"name":"b"},"reason":"","count":0,"involvedObject":{"uid":""}})");
  NormalizeCoreEvent(empty, empty.GetAllocator());
  EXPECT_EQ(
      ToJson(empty),
      R"({"metadata":{"name":"b"},"involvedObject":{},"source":{},"firstTimestamp":null,"lastTimestamp":null,"eventTime":null,"reportingComponent":"","reportingInstance":""})");
}

TEST(EventsTest, LegacyAndStrictValidation) {
  auto legacy = Parse(R"({"metadata":{"namespace":"ns"},"involvedObject":{}})");
  EXPECT_THAT(
      Fields(ValidateEventCreate(legacy, false)),
      ::testing::ElementsAre(
          R"(involvedObject.namespace: Invalid value: "": does not match event.namespace)"));
  auto cluster = Parse(R"({"metadata":{"namespace":"default"},"involvedObject":{}})");
  EXPECT_THAT(ValidateEventCreate(cluster, false), IsEmpty());
  auto v1 = Parse(
      R"({"metadata":{"namespace":"default"},"involvedObject":{},"eventTime":"2026-01-01T00:00:00.000000Z","reportingComponent":"x.io/c","reportingInstance":"i","action":"A","reason":"R","type":"Normal","count":2,"series":{"count":1}})");
  EXPECT_THAT(ValidateEventCreate(v1, false), IsEmpty());
  EXPECT_THAT(Fields(ValidateEventCreate(v1, true)),
              ::testing::ElementsAre(R"(series.count: Invalid value: "": should be at least 2)",
                                     "series.lastObservedTime: Required value",
                                     R"(count: Invalid value: "": needs to be unset)"));
  auto old = Parse(R"({"metadata":{"namespace":"default"},"involvedObject":{},"reason":"R"})");
  auto changed = Parse(R"({"metadata":{"namespace":"default"},"involvedObject":{},"reason":"S"})");
  EXPECT_THAT(ValidateEventUpdate(changed, old, false), IsEmpty());
  EXPECT_THAT(Fields(ValidateEventUpdate(changed, old, true)),
              ::testing::ElementsAre(R"(reason: Invalid value: "S": field is immutable)",
                                     R"(reason: Invalid value: "S": field is immutable)"));
}

TEST(BuiltinRulesTest, LeaseSpecAndTimes) {
  auto lease = Parse(
      R"({"spec":{"leaseDurationSeconds":-1,"leaseTransitions":-2,"strategy":"Bogus","renewTime":"2026-01-02T03:04:05.123456-01:00"}})");
  EXPECT_THAT(
      Fields(ValidateLeaseSpec(lease)),
      ::testing::ElementsAre(
          "spec.leaseDurationSeconds: Invalid value: -1: must be greater than 0",
          "spec.leaseTransitions: Invalid value: -2: must be greater than or equal to 0",
          R"(spec.strategy: Unsupported value: "Bogus": supported values: "OldestEmulationVersion")"));
  ASSERT_TRUE(
      NormalizeTypedTimes("coordination.k8s.io", "Lease", lease, lease.GetAllocator()).ok());
  EXPECT_STREQ(lease["spec"]["renewTime"].GetString(), "2026-01-02T04:04:05.123456Z");
  auto bad = Parse(R"({"spec":{"renewTime":5}})");
  EXPECT_EQ(NormalizeTypedTimes("coordination.k8s.io", "Lease", bad, bad.GetAllocator()).message(),
            "json: cannot unmarshal number into Go value of type string");
  auto svc =
      Parse(R"({"status":{"conditions":[{"lastTransitionTime":"2026-01-02T03:04:05.9+01:00"}]}})");
  ASSERT_TRUE(NormalizeTypedTimes("", "Service", svc, svc.GetAllocator()).ok());
  EXPECT_STREQ(svc["status"]["conditions"][0]["lastTransitionTime"].GetString(),
               "2026-01-02T02:04:05Z");
}

TEST(BuiltinRulesTest, ObjectMeta) {
  auto ok = Parse(R"({"metadata":{"name":"a.b","labels":{"x.io/y":"z"},"finalizers":["x.io/f"]}})");
  EXPECT_THAT(ValidateObjectMetaCreate(ok, NameRule::kDnsSubdomain), IsEmpty());
  EXPECT_THAT(
      Fields(ValidateObjectMetaCreate(ok, NameRule::kDnsLabel)),
      ::testing::ElementsAre(R"(metadata.name: Invalid value: "a.b": must not contain dots)"));
  auto none = Parse(R"({"metadata":{}})");
  EXPECT_THAT(
      Fields(ValidateObjectMetaCreate(none, NameRule::kDnsSubdomain)),
      ::testing::ElementsAre("metadata.name: Required value: name or generateName is required"));
  auto owners = Parse(
      R"({"metadata":{"name":"a","ownerReferences":[{"apiVersion":"v1","kind":"K","name":"n","uid":"u","controller":true},{"apiVersion":"v1","kind":"K","name":"m","uid":"v","controller":true},{"kind":"K"}]}})");
  auto errs = Fields(ValidateObjectMetaCreate(owners, NameRule::kDnsSubdomain));
  ASSERT_EQ(errs.size(), 4u);
  EXPECT_THAT(errs[0], ::testing::HasSubstr("Only one reference can have Controller set to true. "
                                            "Found \"true\" in references for K/n and K/m"));
  EXPECT_EQ(errs[1], "metadata.ownerReferences[2].apiVersion: Required value: must not be empty");
  auto deleting = Parse(R"({"metadata":{"deletionTimestamp":"x","finalizers":["a/b"]}})");
  auto more = Parse(R"({"metadata":{"finalizers":["a/b","c/d","e/f"]}})");
  EXPECT_THAT(
      Fields(ValidateObjectMetaUpdate(more, deleting)),
      ::testing::ElementsAre(
          R"(metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{"c/d", "e/f"})"));
}

}  // namespace
}  // namespace lballoc::apiserver
