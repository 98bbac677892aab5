// Report: the figures one benchmark run measured, the comparisons between them
// (ratio to a reference, the target from the issue, PASS/MISS), printed as one
// table and written as JSON. A report, not a test: a missed target is printed
// as MISS, never turned into a failing exit code.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "bench_support.hpp"

namespace shmcheck::bench {

enum class Better { kHigher, kLower };

struct Figure {
  std::string id;     // stable key for JSON: "throughput.spsc.shmcheck.8"
  std::string group;  // table section
  std::string label;  // "SPSC shmcheck 8 B"
  std::string unit;   // "M msg/s", "ns"
  Better better = Better::kHigher;
  Summary summary;                // over repetitions
  std::string failure;            // non-empty: the figure could not be measured
  std::string note;               // how it was measured (shown in JSON)
  std::uint64_t ops_per_rep = 0;  // operations per repetition
  // Figures measured side by side (MeasureBatch: repetition 1 of every case, then 2,
  // ...) share a batch, the id of the batch's first figure. A ratio between two of
  // them is paired: the median of the per-repetition ratios, so a drift of the
  // machine between repetitions (this VM changes speed for minutes at a time) cancels
  // instead of pairing one figure's fast-phase median with the other's slow one.
  std::string batch;
};

enum class Op { kAtLeast, kAtMost };

struct Target {
  Op op = Op::kAtLeast;
  double ratio = 1.0;
  std::string text;  // as the issue puts it: ">= 50x", "<= 1/50"
};

struct Comparison {
  std::string figure;     // Figure::id
  std::string reference;  // Figure::id
  std::optional<Target> target;
};

class Report {
 public:
  Figure& add(Figure f);
  void compare(const std::string& figure, const std::string& reference,
               std::optional<Target> target = std::nullopt);
  void omit(const std::string& what, const std::string& why);  // a piece left out, and why
  void set_context(std::string key, std::string value);

  [[nodiscard]] const Figure* find(const std::string& id) const;
  // Prints the table to stdout.
  void print() const;
  // Prints only the PASS/MISS count and the missed targets (bench_merge's summary).
  void print_targets() const;
  // Writes every figure, comparison and the context as JSON. Throws on I/O failure.
  void write_json(const std::string& path) const;
  // Appends what write_json wrote (figures, comparisons, omitted, context; a context key
  // already present gets the file's stem as prefix). Throws on I/O or format errors.
  void append_json(const std::string& path);

 private:
  struct Evaluated {
    double ratio = 0;
    bool measurable = false;
    bool paired = false;  // median of per-repetition ratios (same batch), not of medians
    std::string status;   // PASS, MISS, "" (no target), n/a
  };
  [[nodiscard]] Evaluated evaluate(const Comparison& c) const;

  std::vector<Figure> figures_;
  std::vector<Comparison> comparisons_;
  std::vector<std::pair<std::string, std::string>> omitted_;
  std::vector<std::pair<std::string, std::string>> context_;
};

// figure / reference: the median of the per-repetition ratios when both were measured
// in the same batch with as many repetitions, else the ratio of the medians. nullopt
// when either is unmeasured or the reference is not positive.
struct Ratio {
  double value = 0;
  bool paired = false;
};
[[nodiscard]] std::optional<Ratio> ratio_of(const Figure& figure, const Figure& reference);

// A Figure with its descriptive fields set; the summary comes from the measurement.
[[nodiscard]] Figure make_figure(std::string id, std::string group, std::string label,
                                 std::string unit, Better better, std::string note);

// The context every program's part starts with: machine, kernel, load at the start.
void add_machine_context(Report& report);
// Ends a program's part: the load at the end, the table on stdout, and the JSON when
// json_path is not empty. Throws on I/O failure.
void finish_part(Report& report, const std::string& json_path);

[[nodiscard]] inline Target at_least(double ratio, std::string text) {
  return Target{Op::kAtLeast, ratio, std::move(text)};
}
[[nodiscard]] inline Target at_most(double ratio, std::string text) {
  return Target{Op::kAtMost, ratio, std::move(text)};
}

}  // namespace shmcheck::bench
