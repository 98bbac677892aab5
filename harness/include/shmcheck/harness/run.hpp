// run_spec: one complete run of one validated spec (DESIGN.md "The run").
//
//   1. expand the seeded fault schedule; write the run manifest (before any object);
//   2. snapshot the host's IPC inventory;
//   3. create the objects and the control segment, recording each name in the manifest
//      before creating it;
//   4. spawn and supervise the workers (supervisor.hpp);
//   5. collect the journals, run the integrity checkers, remove what the run created,
//      diff the inventory (leaks), compare the spec's expectations;
//   6. build the RunResult (verdict, exit code, reproduction command).
//
// Runs in the harness process; never throws for environment problems (they become a
// RunResult with verdict "error" and exit code 3 or 4). Not re-entrant: one run at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "shmcheck/harness/live_sample.hpp"
#include "shmcheck/harness/spec.hpp"
#include "shmcheck/harness/supervisor.hpp"
#include "shmcheck/harness/worker.hpp"
#include "shmcheck/probes/run_result.hpp"

namespace shmcheck::harness {

// A producer's default delivery-log allowance, in record slots of its consumers' logs
// (which get kMaxLogSlots at most).
inline constexpr std::uint64_t kDefaultLogRecords = 1'000'000;

struct RunOptions {
  std::optional<std::uint64_t> seed;  // --seed: overrides the spec's
  // --duration: overrides the spec's (a soak of a short spec, a quick run of a long one);
  // the fault schedule is expanded over it, and the repro command carries it.
  std::optional<std::chrono::nanoseconds> duration;
  // What the workers start from (SupervisorOptions::worker_executable): `shmcheck run`
  // resolves it once for all its specs (worker_executable_beside_self).
  std::string worker_executable = "/proc/self/exe";
  bool quiet = false;             // no progress lines on stderr
  Broken broken = Broken::kNone;  // test-only (SHMCHECK_TEST_BROKEN)
  bool probes = true;             // false: --no-probes (WorkerConfig::probes)
  LiveSampleSink on_sample;       // live progress (metrics, progress line); may be empty
  // Delivery-log slots each producer without `ops` adds to its consumers' logs (a
  // record is a run of consecutive seqs; see run.cpp). The supervisor drains the logs
  // while the run goes on, so this bounds the records waiting to be drained, not the
  // run. Tests lower it through SHMCHECK_TEST_LOG_RECORDS.
  std::uint64_t log_records = kDefaultLogRecords;
  // Slots of every consumer's delivery log, as they are (0: sized from log_records as
  // run.cpp says, never under kMinLogSlots). Tests set it through
  // SHMCHECK_TEST_LOG_SLOTS to fill a log in a known number of records: how many
  // messages a record spans depends on how the consumers were scheduled.
  std::uint64_t log_slots = 0;
  // Drained delivery records the supervisor may hold before a duration-bound run ends
  // early (SupervisorOptions::held_records): `shmcheck run --max-log-records`.
  std::uint64_t held_records = kDefaultHeldRecords;
};

[[nodiscard]] probes::RunResult run_spec(const Spec& spec, const RunOptions& options);

// `word` as one word for a POSIX shell: as it is when every character is safe
// (letters, digits and _ - . / : @ % + = ,), else in single quotes ('it'\''s').
[[nodiscard]] std::string shell_quote(std::string_view word);

// "shmcheck run <file> --seed <seed>", and " --duration <d>" when it was overridden
// (in the largest unit that states it exactly: "90s", "1500ms"); the file shell-quoted.
[[nodiscard]] std::string repro_command(
    const std::string& spec_file, std::uint64_t seed,
    std::optional<std::chrono::nanoseconds> duration = std::nullopt);

// The short human summary printed after a run (several lines, ends with a newline).
[[nodiscard]] std::string summarize(const probes::RunResult& result);

}  // namespace shmcheck::harness
