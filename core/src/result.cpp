#include "shmcheck/core/result.hpp"

#include <cstring>
#include <string>

namespace shmcheck::core {

ErrorCode error_code_from_errno(int err) noexcept {
  switch (err) {
    case 0:
      return ErrorCode::kOk;
    case EEXIST:
      return ErrorCode::kExists;
    case ENOENT:
      return ErrorCode::kNotFound;
    case EACCES:
    case EPERM:
      return ErrorCode::kPermission;
    case ENOSPC:
    case ENOMEM:
    case EFBIG:
      return ErrorCode::kNoSpace;
    case EMFILE:
    case ENFILE:
    case EAGAIN:
      return ErrorCode::kLimit;
    case EINVAL:
    case ENAMETOOLONG:
      return ErrorCode::kInvalidArgument;
    case ETIMEDOUT:
      return ErrorCode::kTimedOut;
    case ENOTRECOVERABLE:
      return ErrorCode::kNotRecoverable;
    case ENOSYS:
    case EOPNOTSUPP:
      return ErrorCode::kUnsupported;
    default:
      return ErrorCode::kOther;
  }
}

const char* to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kOk:
      return "ok";
    case ErrorCode::kExists:
      return "exists";
    case ErrorCode::kNotFound:
      return "not found";
    case ErrorCode::kPermission:
      return "permission denied";
    case ErrorCode::kNoSpace:
      return "no space";
    case ErrorCode::kLimit:
      return "resource limit";
    case ErrorCode::kInvalidArgument:
      return "invalid argument";
    case ErrorCode::kTimedOut:
      return "timed out";
    case ErrorCode::kForeign:
      return "foreign object";
    case ErrorCode::kCorrupt:
      return "corrupt";
    case ErrorCode::kNotRecoverable:
      return "not recoverable";
    case ErrorCode::kUnsupported:
      return "unsupported";
    case ErrorCode::kOther:
      return "error";
  }
  return "error";
}

bool is_resource_limit(ErrorCode code) noexcept {
  return code == ErrorCode::kNoSpace || code == ErrorCode::kLimit;
}

std::string Error::message() const {
  std::string out = call;
  if (!detail.empty()) out += "(" + detail + ")";
  out += ": ";
  if (sys_errno != 0) {
    out += std::strerror(
        sys_errno);  // NOLINT(concurrency-mt-unsafe): messages are built on one thread
    out += " ";
  }
  out += "[";
  out += to_string(code);
  out += "] at ";
  out += where.file_name();
  out += ":";
  out += std::to_string(where.line());
  return out;
}

std::string Error::brief() const {
  std::string out = call;
  if (sys_errno == 0 && code == ErrorCode::kOther && !detail.empty()) {
    return out + ": " + detail;  // the detail is the whole story; "error" would add nothing
  }
  if (!detail.empty()) out += " (" + detail + ")";
  out += ": ";
  // NOLINTNEXTLINE(concurrency-mt-unsafe): messages are built on one thread
  out += sys_errno != 0 ? std::strerror(sys_errno) : to_string(code);
  return out;
}

}  // namespace shmcheck::core
