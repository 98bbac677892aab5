// posix_call: the one way the core makes a raw syscall.
//
// Retries EINTR, classifies the failure, and records the call's name, errno and
// source location in the returned Error. Two shapes cover the C APIs we use:
//   posix_call("shm_open", [&] { return ::shm_open(...); })        // -1 + errno
//   pthread_call("pthread_mutex_lock", [&] { return ::pthread_mutex_lock(m); })  // returns errno
// Pointer-returning calls (mmap, shmat) use posix_call_ptr with their failure value.
#pragma once

#include <cerrno>
#include <source_location>
#include <type_traits>

#include "shmcheck/core/result.hpp"

namespace shmcheck::core {

// Calls fn() until it does not fail with EINTR. Failure is a return of -1.
template <class Fn>
[[nodiscard]] auto posix_call(const char* name, Fn&& fn,
                              std::source_location where = std::source_location::current())
    -> Result<std::invoke_result_t<Fn&>> {
  for (;;) {
    errno = 0;
    auto r = fn();
    if (r != -1) return r;
    const int err = errno;
    if (err == EINTR) continue;
    return Error{error_code_from_errno(err), err, name, {}, where};
  }
}

// For calls that return 0 or an errno value (pthread_*).
template <class Fn>
[[nodiscard]] Result<void> pthread_call(
    const char* name, Fn&& fn, std::source_location where = std::source_location::current()) {
  for (;;) {
    const int err = fn();
    if (err == 0) return {};
    if (err == EINTR) continue;
    return Error{error_code_from_errno(err), err, name, {}, where};
  }
}

// For calls that return a pointer and signal failure with a sentinel (MAP_FAILED, (void*)-1).
template <class Fn, class Ptr>
[[nodiscard]] auto posix_call_ptr(const char* name, Ptr failure, Fn&& fn,
                                  std::source_location where = std::source_location::current())
    -> Result<std::invoke_result_t<Fn&>> {
  for (;;) {
    errno = 0;
    auto r = fn();
    if (r != failure) return r;
    const int err = errno;
    if (err == EINTR) continue;
    return Error{error_code_from_errno(err), err, name, {}, where};
  }
}

}  // namespace shmcheck::core
