// Status: the result of an operation that can fail, carried as a value.
//
// Every fallible function in lballoc returns a Status or a StatusOr<T>
// (statusor.h). Exceptions from third-party code stop at the adapter that
// calls it and become a Status there. The codes are the canonical ones, and
// they tell the caller what to do next:
//   kUnavailable        retry just the failing call (transport errors, 5xx, 429).
//   kAborted            retry the whole read-modify-write (a 409 Conflict).
//   kFailedPrecondition do not retry until the state is fixed (pool exhausted).
//   kGone               a watch's resourceVersion left the window: relist.
//
// A Status is cheap to copy when OK (a null pointer) and safe to read from
// several threads at once; mutating one needs external synchronisation.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

namespace lballoc {

enum class StatusCode : int {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,  // a 409 Conflict: optimistic concurrency lost
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
  kGone = 17,  // 410: a resourceVersion expired; list again
};

// "NotFound", "Aborted", ... (the enumerator without the leading k).
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  // An OK status.
  Status() = default;
  Status(StatusCode code, std::string_view message);

  Status(const Status& other);
  Status& operator=(const Status& other);
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;
  ~Status() = default;

  static Status Ok() { return Status(); }

  bool ok() const { return rep_ == nullptr; }
  StatusCode code() const { return rep_ ? rep_->code : StatusCode::kOk; }
  // Empty when ok().
  const std::string& message() const;

  // A delay the server asked for before a retry (HTTP Retry-After), if any.
  std::optional<std::chrono::milliseconds> retry_after() const {
    return rep_ ? rep_->retry_after : std::nullopt;
  }
  Status& set_retry_after(std::chrono::milliseconds delay);

  // Returns a copy whose message is "context: message"; OK stays OK.
  Status WithContext(std::string_view context) const;

  // "NotFound: message", or "OK".
  std::string ToString() const;

  bool operator==(const Status& other) const;
  bool operator!=(const Status& other) const { return !(*this == other); }

  // Predicates for the codes callers branch on most.
  bool IsNotFound() const { return code() == StatusCode::kNotFound; }
  bool IsAlreadyExists() const { return code() == StatusCode::kAlreadyExists; }
  bool IsConflict() const { return code() == StatusCode::kAborted; }
  bool IsGone() const { return code() == StatusCode::kGone; }
  bool IsUnavailable() const { return code() == StatusCode::kUnavailable; }

 private:
  struct Rep {
    StatusCode code;
    std::string message;
    std::optional<std::chrono::milliseconds> retry_after;
  };
  std::unique_ptr<Rep> rep_;
};

std::ostream& operator<<(std::ostream& os, const Status& status);

// Factories, one per canonical code.
Status CancelledError(std::string_view message);
Status UnknownError(std::string_view message);
Status InvalidArgumentError(std::string_view message);
Status DeadlineExceededError(std::string_view message);
Status NotFoundError(std::string_view message);
Status AlreadyExistsError(std::string_view message);
Status PermissionDeniedError(std::string_view message);
Status ResourceExhaustedError(std::string_view message);
Status FailedPreconditionError(std::string_view message);
Status AbortedError(std::string_view message);
Status ConflictError(std::string_view message);  // same code as Aborted
Status OutOfRangeError(std::string_view message);
Status UnimplementedError(std::string_view message);
Status InternalError(std::string_view message);
Status UnavailableError(std::string_view message);
Status DataLossError(std::string_view message);
Status UnauthenticatedError(std::string_view message);
Status GoneError(std::string_view message);  // a.k.a. Expired

}  // namespace lballoc
