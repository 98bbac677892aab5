#include "report.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace shmcheck::bench {

Figure& Report::add(Figure f) {
  figures_.push_back(std::move(f));
  return figures_.back();
}

void Report::compare(const std::string& figure, const std::string& reference,
                     std::optional<Target> target) {
  comparisons_.push_back(Comparison{figure, reference, std::move(target)});
}

void Report::omit(const std::string& what, const std::string& why) {
  omitted_.emplace_back(what, why);
}

void Report::set_context(std::string key, std::string value) {
  context_.emplace_back(std::move(key), std::move(value));
}

const Figure* Report::find(const std::string& id) const {
  for (const auto& f : figures_) {
    if (f.id == id) return &f;
  }
  return nullptr;
}

std::optional<Ratio> ratio_of(const Figure& figure, const Figure& reference) {
  if (!figure.failure.empty() || !reference.failure.empty() || reference.summary.median <= 0) {
    return std::nullopt;
  }
  const auto& a = figure.summary.values;
  const auto& b = reference.summary.values;
  const bool same_batch = !figure.batch.empty() && figure.batch == reference.batch &&
                          a.size() == b.size() && !a.empty() &&
                          std::all_of(b.begin(), b.end(), [](double v) { return v > 0; });
  if (!same_batch) return Ratio{figure.summary.median / reference.summary.median, false};
  std::vector<double> ratios(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) ratios[i] = a[i] / b[i];
  return Ratio{summarize(std::move(ratios)).median, true};
}

Report::Evaluated Report::evaluate(const Comparison& c) const {
  Evaluated e;
  const Figure* f = find(c.figure);
  const Figure* r = find(c.reference);
  if (f == nullptr || r == nullptr) {
    e.status = c.target ? "n/a" : "";
    return e;
  }
  const auto ratio = ratio_of(*f, *r);
  if (!ratio) {
    e.status = c.target ? "n/a" : "";
    return e;
  }
  e.measurable = true;
  e.ratio = ratio->value;
  e.paired = ratio->paired;
  if (c.target) {
    const bool pass =
        c.target->op == Op::kAtLeast ? e.ratio >= c.target->ratio : e.ratio <= c.target->ratio;
    e.status = pass ? "PASS" : "MISS";
  }
  return e;
}

namespace {

std::string format_value(double v) {
  char buf[32];
  const double a = std::fabs(v);
  if (a >= 1000) {
    std::snprintf(buf, sizeof(buf), "%.0f", v);
  } else if (a >= 100) {
    std::snprintf(buf, sizeof(buf), "%.1f", v);
  } else if (a >= 1) {
    std::snprintf(buf, sizeof(buf), "%.2f", v);
  } else {
    std::snprintf(buf, sizeof(buf), "%.3f", v);
  }
  return buf;
}

std::string format_ratio(double r) {
  char buf[32];
  if (r >= 100) {
    std::snprintf(buf, sizeof(buf), "%.0fx", r);
  } else if (r >= 0.1) {
    std::snprintf(buf, sizeof(buf), "%.2fx", r);
  } else {
    std::snprintf(buf, sizeof(buf), "1/%.0f", 1.0 / r);
  }
  return buf;
}

}  // namespace

void Report::print() const {
  for (const auto& [k, v] : context_) std::printf("%-12s %s\n", (k + ":").c_str(), v.c_str());
  std::printf(
      "values: median of the repetitions [min .. max]; ratio = figure / reference: the median\n"
      "        of the per-repetition ratios when both ran side by side (else of the medians,\n"
      "        marked ~)\n");

  // Width of the name column: the longest figure label or "vs <reference>" line.
  int width = 20;
  for (const auto& f : figures_) width = std::max(width, static_cast<int>(f.label.size()));
  for (const auto& c : comparisons_) {
    const Figure* r = find(c.reference);
    const int w = static_cast<int>((r != nullptr ? r->label : c.reference).size()) + 7;
    width = std::max(width, w);
  }

  std::string group;
  for (const auto& f : figures_) {
    if (f.group != group) {
      group = f.group;
      std::printf("\n== %s\n", group.c_str());
    }
    if (!f.failure.empty()) {
      std::printf("  %-*s FAILED: %s\n", width, f.label.c_str(), f.failure.c_str());
    } else {
      const std::string spread =
          "[" + format_value(f.summary.min) + " .. " + format_value(f.summary.max) + "]";
      std::printf("  %-*s %10s %-8s %s\n", width, f.label.c_str(),
                  format_value(f.summary.median).c_str(), f.unit.c_str(), spread.c_str());
    }
    for (const auto& c : comparisons_) {
      if (c.figure != f.id) continue;
      const Figure* r = find(c.reference);
      const Evaluated e = evaluate(c);
      const std::string ref_label = "vs " + (r != nullptr ? r->label : c.reference);
      std::string ratio = e.measurable && !e.paired ? "~" : "";
      ratio += e.measurable ? format_ratio(e.ratio) : "-";
      const std::string target = c.target ? "target " + c.target->text : "";
      std::printf("      %-*s %10s   %-18s %s\n", width - 4, ref_label.c_str(), ratio.c_str(),
                  target.c_str(), e.status.c_str());
    }
  }
  if (!omitted_.empty()) {
    std::printf("\n== left out\n");
    for (const auto& [what, why] : omitted_) std::printf("  %s: %s\n", what.c_str(), why.c_str());
  }
  print_targets();
}

void Report::print_targets() const {
  int pass = 0;
  int miss = 0;
  int unmeasured = 0;
  std::vector<std::string> missed;
  for (const auto& c : comparisons_) {
    const Evaluated e = evaluate(c);
    if (e.status == "PASS") ++pass;
    if (e.status == "n/a") ++unmeasured;
    if (e.status != "MISS") continue;
    ++miss;
    const Figure* f = find(c.figure);
    const Figure* r = find(c.reference);
    missed.push_back((f != nullptr ? f->label : c.figure) + " vs " +
                     (r != nullptr ? r->label : c.reference) + ": " + format_ratio(e.ratio) +
                     " (target " + c.target->text + ")");
  }
  std::printf("\ntargets: %d PASS, %d MISS, %d not measured\n", pass, miss, unmeasured);
  for (const auto& m : missed) std::printf("  MISS  %s\n", m.c_str());
}

void Report::write_json(const std::string& path) const {
  using nlohmann::json;
  json out;
  json context = json::object();
  for (const auto& [k, v] : context_) context[k] = v;
  out["context"] = context;
  json figures = json::array();
  for (const auto& f : figures_) {
    json j{{"id", f.id},
           {"group", f.group},
           {"label", f.label},
           {"unit", f.unit},
           {"better", f.better == Better::kHigher ? "higher" : "lower"},
           {"ops_per_repetition", f.ops_per_rep},
           {"note", f.note}};
    if (!f.batch.empty()) j["batch"] = f.batch;
    if (f.failure.empty()) {
      j["median"] = f.summary.median;
      j["min"] = f.summary.min;
      j["max"] = f.summary.max;
      j["repetitions"] = f.summary.values;
    } else {
      j["failure"] = f.failure;
    }
    figures.push_back(std::move(j));
  }
  out["figures"] = figures;
  json comparisons = json::array();
  for (const auto& c : comparisons_) {
    const Evaluated e = evaluate(c);
    json j{{"figure", c.figure}, {"reference", c.reference}};
    j["ratio"] = e.measurable ? json(e.ratio) : json(nullptr);
    j["paired"] = e.paired;
    if (c.target) {
      j["target"] = {{"op", c.target->op == Op::kAtLeast ? ">=" : "<="},
                     {"ratio", c.target->ratio},
                     {"text", c.target->text}};
      j["status"] = e.status;
    }
    comparisons.push_back(std::move(j));
  }
  out["comparisons"] = comparisons;
  json omitted = json::array();
  for (const auto& [what, why] : omitted_) omitted.push_back({{"what", what}, {"why", why}});
  out["omitted"] = omitted;

  std::ofstream file(path);
  if (!file) throw std::runtime_error("cannot write " + path);
  file << out.dump(2) << '\n';
  if (!file) throw std::runtime_error("error writing " + path);
}

void Report::append_json(const std::string& path) {
  using nlohmann::json;
  std::ifstream file(path);
  if (!file) throw std::runtime_error("cannot read " + path);
  const json in = json::parse(file);  // throws json::parse_error with the position
  const auto stem = std::filesystem::path(path).stem().string();
  for (const auto& [key, value] : in.at("context").items()) {
    const bool taken = std::any_of(context_.begin(), context_.end(),
                                   [&](const auto& kv) { return kv.first == key; });
    set_context(taken ? stem + " " + key : key, value.get<std::string>());
  }
  for (const auto& j : in.at("figures")) {
    Figure f;
    f.id = j.at("id").get<std::string>();
    f.group = j.at("group").get<std::string>();
    f.label = j.at("label").get<std::string>();
    f.unit = j.at("unit").get<std::string>();
    f.better = j.at("better").get<std::string>() == "higher" ? Better::kHigher : Better::kLower;
    f.ops_per_rep = j.at("ops_per_repetition").get<std::uint64_t>();
    f.note = j.at("note").get<std::string>();
    f.batch = j.value("batch", std::string());
    if (j.contains("failure")) {
      f.failure = j.at("failure").get<std::string>();
    } else {
      f.summary.median = j.at("median").get<double>();
      f.summary.min = j.at("min").get<double>();
      f.summary.max = j.at("max").get<double>();
      f.summary.values = j.at("repetitions").get<std::vector<double>>();
    }
    add(std::move(f));
  }
  for (const auto& j : in.at("comparisons")) {
    std::optional<Target> target;
    if (j.contains("target")) {
      const auto& t = j.at("target");
      target = Target{t.at("op").get<std::string>() == ">=" ? Op::kAtLeast : Op::kAtMost,
                      t.at("ratio").get<double>(), t.at("text").get<std::string>()};
    }
    compare(j.at("figure").get<std::string>(), j.at("reference").get<std::string>(),
            std::move(target));
  }
  for (const auto& j : in.at("omitted")) {
    omit(j.at("what").get<std::string>(), j.at("why").get<std::string>());
  }
}

Figure make_figure(std::string id, std::string group, std::string label, std::string unit,
                   Better better, std::string note) {
  Figure f;
  f.id = std::move(id);
  f.group = std::move(group);
  f.label = std::move(label);
  f.unit = std::move(unit);
  f.better = better;
  f.note = std::move(note);
  return f;
}

void add_machine_context(Report& report) {
  report.set_context("machine",
                     std::to_string(::sysconf(_SC_NPROCESSORS_ONLN)) + " CPUs, " + cpu_model());
  utsname uts{};
  if (::uname(&uts) == 0)
    report.set_context("kernel", std::string(uts.sysname) + " " + uts.release);
  report.set_context("load", load_average() + " (1/5/15 min, at start)");
}

void finish_part(Report& report, const std::string& json_path) {
  report.set_context("load at end", load_average());
  report.print();
  if (!json_path.empty()) {
    report.write_json(json_path);
    std::printf("\nwrote %s\n", json_path.c_str());
  }
}

}  // namespace shmcheck::bench
