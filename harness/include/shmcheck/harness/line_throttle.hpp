// LineThrottle: how much of a flood of like console lines gets printed. A spec that
// kills a producer every 10 ms would print 100 lines a second for as long as it runs;
// the console is for a person (the reports keep every event), so each window of time
// prints its first `per_window` lines and counts the rest, which the caller then says
// in one line ("... and 95 more injected faults in the last 1.0 s").
//
// Single-threaded (the supervisor's loop); times are the caller's monotonic ns.
#pragma once

#include <cstddef>
#include <cstdint>

namespace shmcheck::harness {

class LineThrottle {
 public:
  LineThrottle(std::size_t per_window, std::uint64_t window_ns) noexcept
      : per_window_(per_window), window_ns_(window_ns) {}

  // Whether the line due at `now_ns` is printed; when not, it is counted as held.
  // Take the previous window's held lines (take_held) first, so the count comes out
  // before the next window's lines.
  [[nodiscard]] bool admit(std::uint64_t now_ns) noexcept {
    if (!open_ || now_ns - start_ns_ >= window_ns_) {
      open_ = true;
      start_ns_ = now_ns;
      printed_ = 0;
    }
    if (printed_ < per_window_) {
      ++printed_;
      return true;
    }
    ++held_;
    return false;
  }

  struct Held {
    std::uint64_t lines = 0;      // held back, not printed
    std::uint64_t window_ns = 0;  // from the window's first line to now
  };
  // The lines held back in a window that is over by `now_ns` (or in any window, when
  // `final`), then forgotten; lines == 0 when there is nothing to say yet.
  [[nodiscard]] Held take_held(std::uint64_t now_ns, bool final = false) noexcept {
    if (held_ == 0 || (!final && now_ns - start_ns_ < window_ns_)) return {};
    const Held out{held_, now_ns - start_ns_};
    held_ = 0;
    return out;
  }

 private:
  std::size_t per_window_;
  std::uint64_t window_ns_;
  bool open_ = false;
  std::uint64_t start_ns_ = 0;
  std::size_t printed_ = 0;
  std::uint64_t held_ = 0;
};

}  // namespace shmcheck::harness
