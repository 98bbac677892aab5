#include "shmcheck/core/process_identity.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "shmcheck/core/posix_call.hpp"

namespace shmcheck::core {
namespace {

struct StatFields {
  char state = '?';
  std::uint64_t start_time = 0;
};

// Reads state (field 3) and starttime (field 22) from a /proc/<pid>/stat (or a
// thread's /proc/<pid>/task/<tid>/stat). The comm field may hold spaces and ')' so
// parsing starts after the last ')'.
Result<StatFields> read_stat_file(const char* path) noexcept {
  auto fd = posix_call("open", [&] { return ::open(path, O_RDONLY | O_CLOEXEC); });
  if (!fd) return std::move(fd).error();
  std::array<char, 1024> buf{};
  auto n = posix_call("read", [&] { return ::read(*fd, buf.data(), buf.size() - 1); });
  ::close(*fd);
  if (!n) return std::move(n).error();
  std::string_view text(buf.data(), static_cast<std::size_t>(*n));
  const auto close_paren = text.rfind(')');
  if (close_paren == std::string_view::npos || close_paren + 2 >= text.size()) {
    return make_error(ErrorCode::kCorrupt, "parse /proc/pid/stat");
  }
  StatFields out;
  out.state = text[close_paren + 2];
  // Fields after ')' start at field 3 (state); starttime is field 22.
  std::size_t pos = close_paren + 2;
  for (int field = 3; field < 22; ++field) {
    pos = text.find(' ', pos);
    if (pos == std::string_view::npos)
      return make_error(ErrorCode::kCorrupt, "parse /proc/pid/stat");
    ++pos;
  }
  std::uint64_t value = 0;
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
    value = value * 10 + static_cast<std::uint64_t>(text[pos] - '0');
    ++pos;
  }
  out.start_time = value;
  return out;
}

Result<StatFields> read_stat(pid_t pid) noexcept {
  std::array<char, 64> path{};
  std::snprintf(path.data(), path.size(), "/proc/%d/stat", static_cast<int>(pid));
  return read_stat_file(path.data());
}

constexpr bool exited(char state) noexcept { return state == 'Z' || state == 'X' || state == 'x'; }

}  // namespace

Liveness thread_group_liveness(pid_t pid) noexcept {
  std::array<char, 64> path{};
  std::snprintf(path.data(), path.size(), "/proc/%d/task", static_cast<int>(pid));
  DIR* const dir = ::opendir(path.data());
  if (dir == nullptr) {
    return errno == ENOENT || errno == ESRCH ? Liveness::kDead : Liveness::kUnknown;
  }
  Liveness found = Liveness::kDead;
  errno = 0;
  while (const dirent* entry = ::readdir(dir)) {
    char* end = nullptr;
    const long tid = std::strtol(entry->d_name, &end, 10);
    if (tid <= 0 || *end != '\0' || tid == pid) continue;
    std::snprintf(path.data(), path.size(), "/proc/%d/task/%ld/stat", static_cast<int>(pid), tid);
    auto st = read_stat_file(path.data());
    if (st && !exited(st->state)) {
      found = Liveness::kAlive;
      break;
    }
    // A thread that ended meanwhile is gone; one whose stat cannot be read may live.
    if (!st && st.error().code != ErrorCode::kNotFound) found = Liveness::kUnknown;
    errno = 0;
  }
  if (found == Liveness::kDead && errno != 0) found = Liveness::kUnknown;  // readdir failed
  ::closedir(dir);
  return found;
}

const char* to_string(Liveness liveness) noexcept {
  switch (liveness) {
    case Liveness::kAlive:
      return "alive";
    case Liveness::kDead:
      return "dead";
    case Liveness::kUnknown:
      return "unknown";
  }
  return "unknown";
}

Result<std::uint64_t> process_start_time(pid_t pid) noexcept {
  auto st = read_stat(pid);
  if (!st) return std::move(st).error();
  return st->start_time;
}

Result<ProcessIdentity> identity_of(pid_t pid) noexcept {
  auto start = process_start_time(pid);
  if (!start) return std::move(start).error();
  return ProcessIdentity{static_cast<std::int32_t>(pid), 0, *start};
}

ProcessIdentity self_identity() noexcept {
  // Cached per pid so a forked child re-reads its own start time.
  static thread_local ProcessIdentity cached{};
  const pid_t now = ::getpid();
  if (cached.pid != now) {
    auto id = identity_of(now);
    cached = id ? *id : ProcessIdentity{static_cast<std::int32_t>(now), 0, 0};
  }
  return cached;
}

Liveness liveness(const ProcessIdentity& who) noexcept {
  if (who.pid <= 0) return Liveness::kDead;
  auto st = read_stat(who.pid);
  if (!st) {
    return st.error().code == ErrorCode::kNotFound ? Liveness::kDead : Liveness::kUnknown;
  }
  if (who.start_time != 0 && st->start_time != who.start_time)
    return Liveness::kDead;  // pid reused
  // A leader that called pthread_exit shows as a zombie while its other threads run:
  // the process lives (and holds what it held) until the last of them ends.
  return exited(st->state) ? thread_group_liveness(who.pid) : Liveness::kAlive;
}

}  // namespace shmcheck::core
