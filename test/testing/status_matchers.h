// gMock matchers and assertion macros for Status and StatusOr<T>.
//
//   EXPECT_THAT(DoIt(), IsOk());
//   EXPECT_THAT(Parse("x"), StatusIs(StatusCode::kInvalidArgument, HasSubstr("x")));
//   EXPECT_THAT(Parse("1.2.3.4"), IsOkAndHolds(Eq(addr)));
//   ASSERT_OK(DoIt());
//   ASSERT_OK_AND_ASSIGN(auto pool, ParsePool(spec));
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "operator/base/status.h"
#include "operator/base/statusor.h"

namespace lballoc::testing {

inline const Status& GetStatus(const Status& status) { return status; }
template <typename T>
Status GetStatus(const StatusOr<T>& status_or) {
  return status_or.status();
}

MATCHER(IsOk, "is OK") {
  Status status = ::lballoc::testing::GetStatus(arg);
  if (!status.ok()) *result_listener << "status is " << status;
  return status.ok();
}

MATCHER_P2(StatusIs, code, message_matcher,
           std::string("has code ") + std::string(StatusCodeName(code))) {
  Status status = ::lballoc::testing::GetStatus(arg);
  *result_listener << "status is " << status;
  return status.code() == code && ::testing::Matches(message_matcher)(status.message());
}

MATCHER_P(StatusCodeIs, code, std::string("has code ") + std::string(StatusCodeName(code))) {
  Status status = ::lballoc::testing::GetStatus(arg);
  *result_listener << "status is " << status;
  return status.code() == code;
}

MATCHER_P(IsOkAndHolds, value_matcher, "is OK and holds a matching value") {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status();
    return false;
  }
  return ::testing::ExplainMatchResult(value_matcher, *arg, result_listener);
}

}  // namespace lballoc::testing

#define ASSERT_OK(expr) ASSERT_THAT((expr), ::lballoc::testing::IsOk())
#define EXPECT_OK(expr) EXPECT_THAT((expr), ::lballoc::testing::IsOk())

#define LB_TESTING_CONCAT_INNER_(a, b) a##b
#define LB_TESTING_CONCAT_(a, b) LB_TESTING_CONCAT_INNER_(a, b)
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL_(LB_TESTING_CONCAT_(lb_test_statusor_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                               \
  ASSERT_OK(statusor.status());                         \
  lhs = std::move(statusor).value()
