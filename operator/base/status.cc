#include "operator/base/status.h"

#include <iostream>

#include "operator/base/statusor.h"

namespace lballoc {

std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "OK";
    case StatusCode::kCancelled:
      return "Cancelled";
    case StatusCode::kUnknown:
      return "Unknown";
    case StatusCode::kInvalidArgument:
      return "InvalidArgument";
    case StatusCode::kDeadlineExceeded:
      return "DeadlineExceeded";
    case StatusCode::kNotFound:
      return "NotFound";
    case StatusCode::kAlreadyExists:
      return "AlreadyExists";
    case StatusCode::kPermissionDenied:
      return "PermissionDenied";
    case StatusCode::kResourceExhausted:
      return "ResourceExhausted";
    case StatusCode::kFailedPrecondition:
      return "FailedPrecondition";
    case StatusCode::kAborted:
      return "Aborted";
    case StatusCode::kOutOfRange:
      return "OutOfRange";
    case StatusCode::kUnimplemented:
      return "Unimplemented";
    case StatusCode::kInternal:
      return "Internal";
    case StatusCode::kUnavailable:
      return "Unavailable";
    case StatusCode::kDataLoss:
      return "DataLoss";
    case StatusCode::kUnauthenticated:
      return "Unauthenticated";
    case StatusCode::kGone:
      return "Gone";
  }
  return "Unknown";
}

Status::Status(StatusCode code, std::string_view message) {
  if (code != StatusCode::kOk) {
    rep_ = std::make_unique<Rep>(Rep{code, std::string(message), std::nullopt});
  }
}

Status::Status(const Status& other)
    : rep_(other.rep_ ? std::make_unique<Rep>(*other.rep_) : nullptr) {}

Status& Status::operator=(const Status& other) {
  if (this != &other) {
    rep_ = other.rep_ ? std::make_unique<Rep>(*other.rep_) : nullptr;
  }
  return *this;
}

const std::string& Status::message() const {
  static const std::string* const kEmpty = new std::string();
  return rep_ ? rep_->message : *kEmpty;
}

Status& Status::set_retry_after(std::chrono::milliseconds delay) {
  if (rep_) rep_->retry_after = delay;
  return *this;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  Status copy(code(), std::string(context) + ": " + message());
  copy.rep_->retry_after = rep_->retry_after;
  return copy;
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out(StatusCodeName(code()));
  if (!message().empty()) out += ": " + message();
  return out;
}

bool Status::operator==(const Status& other) const {
  return code() == other.code() && message() == other.message();
}

std::ostream& operator<<(std::ostream& os, const Status& status) { return os << status.ToString(); }

#define LB_DEFINE_STATUS_FACTORY(Name, code) \
  Status Name(std::string_view message) { return Status(StatusCode::code, message); }
LB_DEFINE_STATUS_FACTORY(CancelledError, kCancelled)
LB_DEFINE_STATUS_FACTORY(UnknownError, kUnknown)
LB_DEFINE_STATUS_FACTORY(InvalidArgumentError, kInvalidArgument)
LB_DEFINE_STATUS_FACTORY(DeadlineExceededError, kDeadlineExceeded)
LB_DEFINE_STATUS_FACTORY(NotFoundError, kNotFound)
LB_DEFINE_STATUS_FACTORY(AlreadyExistsError, kAlreadyExists)
LB_DEFINE_STATUS_FACTORY(PermissionDeniedError, kPermissionDenied)
LB_DEFINE_STATUS_FACTORY(ResourceExhaustedError, kResourceExhausted)
LB_DEFINE_STATUS_FACTORY(FailedPreconditionError, kFailedPrecondition)
LB_DEFINE_STATUS_FACTORY(AbortedError, kAborted)
LB_DEFINE_STATUS_FACTORY(ConflictError, kAborted)
LB_DEFINE_STATUS_FACTORY(OutOfRangeError, kOutOfRange)
LB_DEFINE_STATUS_FACTORY(UnimplementedError, kUnimplemented)
LB_DEFINE_STATUS_FACTORY(InternalError, kInternal)
LB_DEFINE_STATUS_FACTORY(UnavailableError, kUnavailable)
LB_DEFINE_STATUS_FACTORY(DataLossError, kDataLoss)
LB_DEFINE_STATUS_FACTORY(UnauthenticatedError, kUnauthenticated)
LB_DEFINE_STATUS_FACTORY(GoneError, kGone)
#undef LB_DEFINE_STATUS_FACTORY

namespace internal {
void DieOnBadStatusOrAccess(const Status& status) {
  std::cerr << "StatusOr::value() called on an error: " << status << std::endl;
  std::abort();
}
void DieOnOkStatusInStatusOr() {
  std::cerr << "StatusOr constructed from an OK Status" << std::endl;
  std::abort();
}
}  // namespace internal

}  // namespace lballoc
