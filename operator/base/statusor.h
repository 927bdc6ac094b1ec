// StatusOr<T>: either a value of type T or a non-OK Status explaining why
// there is none.
//
//   StatusOr<Pool> pool = ParsePool(spec);
//   if (!pool.ok()) return pool.status();
//   Use(*pool);
//
// Accessing the value of an error StatusOr is a programming error and aborts
// (with the status in the message); check ok() first.
#pragma once

#include <cstdlib>
#include <iostream>
#include <type_traits>
#include <utility>
#include <variant>

#include "operator/base/status.h"

namespace lballoc {

namespace internal {
[[noreturn]] void DieOnBadStatusOrAccess(const Status& status);
[[noreturn]] void DieOnOkStatusInStatusOr();
}  // namespace internal

template <typename T>
class [[nodiscard]] StatusOr {
  static_assert(!std::is_same_v<std::decay_t<T>, Status>, "StatusOr<Status> makes no sense");

 public:
  // An error. Passing an OK status is a programming error.
  StatusOr(const Status& status) : rep_(status) { CheckNotOk(); }        // NOLINT
  StatusOr(Status&& status) : rep_(std::move(status)) { CheckNotOk(); }  // NOLINT

  // A value.
  StatusOr(const T& value) : rep_(value) {}        // NOLINT
  StatusOr(T&& value) : rep_(std::move(value)) {}  // NOLINT
  template <typename U, typename = std::enable_if_t<std::is_constructible_v<T, U&&> &&
                                                    !std::is_same_v<std::decay_t<U>, Status> &&
                                                    !std::is_same_v<std::decay_t<U>, StatusOr<T>> &&
                                                    !std::is_same_v<std::decay_t<U>, T>>>
  StatusOr(U&& value) : rep_(std::in_place_index<1>, std::forward<U>(value)) {}  // NOLINT

  bool ok() const { return rep_.index() == 1; }

  // OK when a value is held.
  Status status() const { return ok() ? Status() : std::get<0>(rep_); }

  const T& value() const& {
    CheckOk();
    return std::get<1>(rep_);
  }
  T& value() & {
    CheckOk();
    return std::get<1>(rep_);
  }
  T&& value() && {
    CheckOk();
    return std::get<1>(std::move(rep_));
  }
  template <typename U>
  T value_or(U&& fallback) const& {
    return ok() ? std::get<1>(rep_) : static_cast<T>(std::forward<U>(fallback));
  }

  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

 private:
  void CheckOk() const {
    if (!ok()) internal::DieOnBadStatusOrAccess(std::get<0>(rep_));
  }
  void CheckNotOk() const {
    if (std::get<0>(rep_).ok()) internal::DieOnOkStatusInStatusOr();
  }

  std::variant<Status, T> rep_;
};

}  // namespace lballoc
