// Result<T>: the value of a fallible core operation, or the Error that stopped it.
//
// The core never throws. Every syscall goes through posix_call (posix_call.hpp),
// which turns a failure into an Error carrying the call's name, errno, a coarse
// ErrorCode and the source location, so a person reading a message can act on it.
// Result is a plain value type: not for shared memory, no ordering promises.
#pragma once

#include <cassert>
#include <cerrno>
#include <source_location>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace shmcheck::core {

// Coarse classes the harness maps to exit codes ("no resource" is not "test failed").
enum class ErrorCode {
  kOk = 0,
  kExists,           // EEXIST: name taken (retry with a new name)
  kNotFound,         // ENOENT
  kPermission,       // EACCES / EPERM
  kNoSpace,          // ENOSPC / ENOMEM / EFBIG: /dev/shm full, SHMALL
  kLimit,            // EMFILE / ENFILE / EAGAIN on SysV ids, SHMMNI
  kInvalidArgument,  // EINVAL, bad sizes
  kTimedOut,         // ETIMEDOUT / EAGAIN on timed waits
  kForeign,          // object exists but is not ours (owner, mode, magic mismatch)
  kCorrupt,          // header or layout damaged
  kNotRecoverable,   // ENOTRECOVERABLE: robust mutex abandoned without repair
  kUnsupported,      // kernel or platform lacks the feature
  kOther,
};

[[nodiscard]] ErrorCode error_code_from_errno(int err) noexcept;
[[nodiscard]] const char* to_string(ErrorCode code) noexcept;
// True for codes that mean "the environment ran out of something" (exit code 3).
[[nodiscard]] bool is_resource_limit(ErrorCode code) noexcept;

struct Error {
  ErrorCode code = ErrorCode::kOther;
  int sys_errno = 0;      // 0 when the error is not from a syscall
  const char* call = "";  // static string: the syscall or operation name
  std::string detail;     // optional context (a name, a size)
  std::source_location where = std::source_location::current();

  // "shm_open(/shmcheck.0.ab.q): File exists [exists] at core/src/segment.cpp:42"
  [[nodiscard]] std::string message() const;
  // For people: "shm_open (/shmcheck.0.ab.q): File exists", no code or source location
  // (the code's name when there is no errno; an errno-less kOther error says only
  // "call: detail", its detail being the whole reason: "push to gateway: http://gw:9091
  // answered HTTP 500").
  [[nodiscard]] std::string brief() const;
};

[[nodiscard]] inline Error make_error(
    ErrorCode code, const char* call, std::string detail = {}, int sys_errno = 0,
    std::source_location where = std::source_location::current()) {
  return Error{code, sys_errno, call, std::move(detail), where};
}

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error)
      : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT: implicit by design

  [[nodiscard]] bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & {
    assert(has_value() && "Result::value() on an error");
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(has_value() && "Result::value() on an error");
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(has_value() && "Result::value() on an error");
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  [[nodiscard]] const Error& error() const& {
    assert(!has_value() && "Result::error() on a value");
    return std::get<1>(v_);
  }
  [[nodiscard]] Error&& error() && {
    assert(!has_value() && "Result::error() on a value");
    return std::get<1>(std::move(v_));
  }

 private:
  std::variant<T, Error> v_;
};

// Result<void>: success or an Error.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit by design

  [[nodiscard]] bool has_value() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  [[nodiscard]] const Error& error() const& {
    assert(!ok_ && "Result::error() on success");
    return error_;
  }
  [[nodiscard]] Error&& error() && { return std::move(error_); }

 private:
  Error error_{};
  bool ok_ = true;
};

// Propagates an error from an expression returning Result<...>.
#define SHMCHECK_TRY(expr)                                 \
  do {                                                     \
    if (auto shmcheck_try_r_ = (expr); !shmcheck_try_r_) { \
      return std::move(shmcheck_try_r_).error();           \
    }                                                      \
  } while (false)

}  // namespace shmcheck::core
