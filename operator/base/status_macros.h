// Early-return helpers for Status and StatusOr.
//
//   LB_RETURN_IF_ERROR(WriteStatus(svc));
//   LB_ASSIGN_OR_RETURN(Pool pool, ParsePool(spec));
//   LB_ASSIGN_OR_RETURN(auto ip, ParseAddress(text), _.WithContext("spec.ip"));
//
// In the optional third argument of LB_ASSIGN_OR_RETURN the error Status is
// named `_`, so it can be decorated before it is returned.
#pragma once

#include <utility>

#include "operator/base/status.h"
#include "operator/base/statusor.h"

#define LB_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::lballoc::Status lb_status_ = (expr);   \
    if (!lb_status_.ok()) return lb_status_; \
  } while (false)

#define LB_STATUS_CONCAT_INNER_(a, b) a##b
#define LB_STATUS_CONCAT_(a, b) LB_STATUS_CONCAT_INNER_(a, b)

#define LB_ASSIGN_OR_RETURN(...)                                                         \
  LB_ASSIGN_OR_RETURN_PICK_(__VA_ARGS__, LB_ASSIGN_OR_RETURN_3_, LB_ASSIGN_OR_RETURN_2_) \
  (__VA_ARGS__)
#define LB_ASSIGN_OR_RETURN_PICK_(a, b, c, name, ...) name

#define LB_ASSIGN_OR_RETURN_2_(lhs, expr) \
  LB_ASSIGN_OR_RETURN_IMPL_(LB_STATUS_CONCAT_(lb_statusor_, __LINE__), lhs, expr, _)
#define LB_ASSIGN_OR_RETURN_3_(lhs, expr, on_error) \
  LB_ASSIGN_OR_RETURN_IMPL_(LB_STATUS_CONCAT_(lb_statusor_, __LINE__), lhs, expr, on_error)

#define LB_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr, on_error) \
  auto statusor = (expr);                                        \
  if (!statusor.ok()) {                                          \
    ::lballoc::Status _ = statusor.status();                     \
    return on_error;                                             \
  }                                                              \
  lhs = std::move(statusor).value()
