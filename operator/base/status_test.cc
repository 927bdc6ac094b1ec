#include "operator/base/status.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "operator/base/status_macros.h"
#include "operator/base/statusor.h"
#include "test/testing/status_matchers.h"

namespace lballoc {
namespace {

using ::lballoc::testing::IsOk;
using ::lballoc::testing::IsOkAndHolds;
using ::lballoc::testing::StatusIs;
using ::testing::Eq;
using ::testing::HasSubstr;

TEST(StatusTest, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.message(), "");
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, FactoriesSetCodeAndMessage) {
  struct Case {
    Status status;
    StatusCode code;
    const char* name;
  };
  const Case cases[] = {
      {NotFoundError("m"), StatusCode::kNotFound, "NotFound"},
      {AlreadyExistsError("m"), StatusCode::kAlreadyExists, "AlreadyExists"},
      {ConflictError("m"), StatusCode::kAborted, "Aborted"},
      {AbortedError("m"), StatusCode::kAborted, "Aborted"},
      {InvalidArgumentError("m"), StatusCode::kInvalidArgument, "InvalidArgument"},
      {FailedPreconditionError("m"), StatusCode::kFailedPrecondition, "FailedPrecondition"},
      {ResourceExhaustedError("m"), StatusCode::kResourceExhausted, "ResourceExhausted"},
      {UnavailableError("m"), StatusCode::kUnavailable, "Unavailable"},
      {UnauthenticatedError("m"), StatusCode::kUnauthenticated, "Unauthenticated"},
      {PermissionDeniedError("m"), StatusCode::kPermissionDenied, "PermissionDenied"},
      {InternalError("m"), StatusCode::kInternal, "Internal"},
      {GoneError("m"), StatusCode::kGone, "Gone"},
      {DeadlineExceededError("m"), StatusCode::kDeadlineExceeded, "DeadlineExceeded"},
      {CancelledError("m"), StatusCode::kCancelled, "Cancelled"},
  };
  for (const Case& c : cases) {
    EXPECT_FALSE(c.status.ok()) << c.name;
    EXPECT_EQ(c.status.code(), c.code) << c.name;
    EXPECT_EQ(c.status.ToString(), std::string(c.name) + ": m");
  }
  EXPECT_TRUE(ConflictError("x").IsConflict());
  EXPECT_TRUE(GoneError("x").IsGone());
  EXPECT_TRUE(NotFoundError("x").IsNotFound());
}

TEST(StatusTest, OkCodeWithMessageIsOk) { EXPECT_TRUE(Status(StatusCode::kOk, "ignored").ok()); }

TEST(StatusTest, CopyAndCompare) {
  Status a = NotFoundError("svc default/x");
  Status b = a;
  EXPECT_EQ(a, b);
  EXPECT_NE(a, NotFoundError("other"));
  EXPECT_NE(a, Status());
  b = Status();
  EXPECT_TRUE(b.ok());
  EXPECT_FALSE(a.ok());
}

TEST(StatusTest, WithContextPrefixesAndKeepsRetryAfter) {
  Status s = UnavailableError("too many requests");
  s.set_retry_after(std::chrono::milliseconds(3000));
  Status c = s.WithContext("PUT /api/v1/x");
  EXPECT_EQ(c.message(), "PUT /api/v1/x: too many requests");
  ASSERT_TRUE(c.retry_after().has_value());
  EXPECT_EQ(*c.retry_after(), std::chrono::milliseconds(3000));
  EXPECT_TRUE(Status().WithContext("x").ok());
}

StatusOr<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgumentError("odd: " + std::to_string(x));
  return x / 2;
}

StatusOr<int> Quarter(int x) {
  LB_ASSIGN_OR_RETURN(int half, Half(x));
  LB_ASSIGN_OR_RETURN(int quarter, Half(half), _.WithContext("second half"));
  return quarter;
}

Status CheckEven(int x) {
  LB_RETURN_IF_ERROR(Half(x).status());
  return Status();
}

TEST(StatusOrTest, ValueAndError) {
  EXPECT_THAT(Half(4), IsOkAndHolds(Eq(2)));
  EXPECT_THAT(Half(3), StatusIs(StatusCode::kInvalidArgument, HasSubstr("odd: 3")));
  EXPECT_EQ(Half(3).value_or(-1), -1);
  StatusOr<std::string> s = std::string("abc");
  EXPECT_EQ(s->size(), 3u);
  StatusOr<std::unique_ptr<int>> moved = std::make_unique<int>(7);
  std::unique_ptr<int> p = std::move(moved).value();
  EXPECT_EQ(*p, 7);
}

TEST(StatusOrTest, Macros) {
  EXPECT_THAT(Quarter(8), IsOkAndHolds(2));
  EXPECT_THAT(Quarter(3), StatusIs(StatusCode::kInvalidArgument, Eq("odd: 3")));
  EXPECT_THAT(Quarter(6), StatusIs(StatusCode::kInvalidArgument, Eq("second half: odd: 3")));
  EXPECT_THAT(CheckEven(2), IsOk());
  EXPECT_THAT(CheckEven(1), StatusIs(StatusCode::kInvalidArgument, HasSubstr("odd")));
}

TEST(StatusOrDeathTest, ValueOfErrorAborts) {
  StatusOr<int> bad = NotFoundError("gone");
  EXPECT_DEATH((void)bad.value(), "NotFound: gone");
}

}  // namespace
}  // namespace lballoc
