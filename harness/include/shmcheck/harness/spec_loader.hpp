// Spec loader: reads a YAML workload spec, validates it against the JSON schema
// (specs/schema/shmcheck.schema.json, compiled into the binary) and the semantic
// rules, and builds a Spec (spec.hpp) — or returns every error found, each with
// the 1-based file:line:column it refers to.
//
// Input rules (all are errors, reported with a position):
// - the file must be a regular file of at most 1 MiB (a directory, FIFO or device
//   is refused without reading it; FIFOs are opened O_NONBLOCK and never read),
//   non-empty, UTF-8 without a byte order mark (a BOM is rejected, consistently,
//   since a BOM-less file is what every editor can save), with no control bytes
//   other than tab, LF and CR;
// - one YAML document whose top level is a mapping, nested at most 32 deep,
//   with no anchors, aliases or merge keys ("billion laughs"), no YAML tags other
//   than !!str, no duplicate or unknown keys (unknown keys get a "did you mean");
// - names match [A-Za-z0-9_-]{1,48}; numbers are non-negative and in range;
//   durations, sizes and rates are strings with units and no trailing junk.
//
// Pure functions of their input (plus the file system for load_spec_file);
// thread-safe; never throw for bad input (std::bad_alloc aside).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shmcheck/harness/spec.hpp"

namespace shmcheck::harness {

inline constexpr std::size_t kMaxSpecBytes = 1024 * 1024;
inline constexpr int kMaxSpecDepth = 32;
inline constexpr std::uint32_t kMaxWorkers = 256;
inline constexpr std::size_t kMaxObjects = 64;
// Posters and waiters of one semaphore (each has a ledger in its SemaphoreJournal).
inline constexpr std::uint32_t kMaxSemaphoreWorkers = 64;
inline constexpr std::size_t kMaxFaults = 64;
inline constexpr std::uint32_t kMaxBurst = 4096;  // messages per burst push or pop

struct SpecError {
  std::string file;
  int line = 0;    // 1-based; 0 when the error is about the whole file
  int column = 0;  // 1-based; 0 when unknown
  std::string message;
  // "file:line:col: message" (":line:col" left out when 0); bytes below 0x20,
  // 0x7f and invalid UTF-8 in file or message are escaped as \xNN, so an error
  // never writes raw control bytes to a terminal.
  [[nodiscard]] std::string to_string() const;
};

struct SpecLoadResult {
  std::optional<Spec> spec;       // set iff errors is empty
  std::vector<SpecError> errors;  // in file order
  [[nodiscard]] bool ok() const noexcept { return spec.has_value(); }
};

// Loads and validates the spec at `path`; Spec::file is `path`.
[[nodiscard]] SpecLoadResult load_spec_file(const std::string& path);
// Validates `text` as if read from a file named `file_label` (used in messages
// and Spec::file). Applies the same size/encoding rules as load_spec_file.
[[nodiscard]] SpecLoadResult load_spec_string(std::string_view text, std::string_view file_label);

// In a suite each spec needs its own name, which labels its reports and metrics: the
// error for `spec` when `earlier` (the file of a spec before it) has its name. `run`
// and `validate` say it alike.
[[nodiscard]] SpecError same_name_error(const Spec& spec, const std::string& earlier);

// Strict scalar parsers shared by the loader and the CLI (--duration etc.).
// On failure they return nullopt and, if `error` is given, say why
// ("unknown unit 'sec' in '5sec' (use ns, us, ms, s, m, h)").
//
// Duration: a decimal number with a unit: ns us ms s m h ("250ms", "1.5s",
// "0s"); the result must be a whole number of nanoseconds and fit in int64.
[[nodiscard]] std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text,
                                                                     std::string* error = nullptr);
// Its inverse: `d` in the largest unit that states it exactly ("2m", "1500ms", "7ns").
[[nodiscard]] std::string format_duration(std::chrono::nanoseconds d);
// The roles whose operations pass a failpoint, by its name (none for an unknown name).
[[nodiscard]] std::vector<Role> roles_reaching(std::string_view failpoint);
// Bytes for people: "512 B", "1.5 KiB", "33.0 GiB" (one decimal past bytes).
[[nodiscard]] std::string format_bytes(std::uint64_t bytes);
// Size in bytes: an integer with an optional unit B KiB MiB GiB ("4096", "4KiB").
[[nodiscard]] std::optional<std::uint64_t> parse_size(std::string_view text,
                                                      std::string* error = nullptr);
// Rate in operations per second: a decimal number, optional k M G, then "/s"
// ("250/s", "1.5k/s", "1M/s"). Must be > 0 and finite.
[[nodiscard]] std::optional<double> parse_rate(std::string_view text, std::string* error = nullptr);
// Comparison "OP VALUE" with OP one of < <= > >= and VALUE a duration (seconds
// in Comparison::value) or a rate (ops/s), e.g. "< 500us", ">= 1M/s".
enum class ComparisonUnit { kDuration, kRate };
[[nodiscard]] std::optional<Comparison> parse_comparison(std::string_view text, ComparisonUnit unit,
                                                         std::string* error = nullptr);

// The draft-07 JSON schema the loader validates against (the text of
// specs/schema/shmcheck.schema.json, compiled in).
[[nodiscard]] std::string_view spec_schema_text() noexcept;

}  // namespace shmcheck::harness
