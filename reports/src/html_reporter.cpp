// HTML: one self-contained file (inline CSS and SVG, no script, no network) that
// shows, per spec: the verdict table, latency distribution and percentiles per
// role, throughput over time with every injected fault marked, the lock-wait
// distribution, a per-worker timeline and the leak table. Several specs make one
// page with an index at the top.
#include <algorithm>
#include <array>
#include <cstdio>
#include <initializer_list>
#include <map>
#include <ostream>
#include <sstream>
#include <utility>

#include "shmcheck/reports/reporter.hpp"
#include "shmcheck/reports/svg_chart.hpp"
#include "shmcheck/reports/xml.hpp"

namespace shmcheck::reports {
namespace {

constexpr std::string_view kStyle = R"css(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2937;background:#f8fafc}
header{background:#0f172a;color:#f8fafc;padding:16px 28px}
header h1{margin:0;font-size:20px}
main{padding:8px 28px 40px;max-width:1000px}
section.spec{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:4px 20px 16px;margin:18px 0}
h2{font-size:18px;margin:14px 0 6px}h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}
th,td{border-bottom:1px solid #e2e8f0;padding:3px 10px;text-align:left;vertical-align:top}
th{background:#f1f5f9}td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;border-radius:4px;padding:1px 8px;font-weight:600;font-size:12px}
.pass{background:#dcfce7;color:#166534}.fail{background:#fee2e2;color:#991b1b}.error{background:#fef3c7;color:#92400e}
code{background:#f1f5f9;padding:1px 4px;border-radius:3px}
.meta{color:#475569;font-size:13px}
svg.chart{display:block;margin:6px 0;background:#fff;max-width:100%;height:auto}
@media (max-width:760px){main{padding:8px 10px 40px}section.spec{padding:4px 10px 12px}table{display:block;overflow-x:auto;max-width:100%}}
.chart-title{font-weight:600;font-size:13px;fill:#0f172a}
.tick,.lane-label{font-size:11px;fill:#475569}.axis-label{font-size:11px;fill:#334155}
.legend,.marker-label{font-size:11px;paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
.legend{font-weight:600}.marker-label{fill:#1f2937}
.grid{stroke:#e2e8f0;stroke-width:1}.empty{fill:#94a3b8;font-size:13px}
.bar{fill:#2563eb}.marker{stroke-width:1.5;stroke-dasharray:4 3}.marker.fault,.marker.kill,.marker.exit{stroke:#dc2626}
.marker.pause{stroke:#d97706}.marker.resume{stroke:#16a34a}.marker.p50{stroke:#16a34a}.marker.p99{stroke:#dc2626}
.span.run{fill:#bfdbfe}.span.paused{fill:#fde68a}
.event{stroke:#fff;stroke-width:1}.event.kill,.event.exit-signal{fill:#dc2626}.event.exit{fill:#475569}
.event.pause{fill:#d97706}.event.resume{fill:#16a34a}.event.restart,.event.spawn{fill:#2563eb}.event.stall{fill:#7c3aed}
)css";

std::string fixed(double v, int digits = 2) {
  std::array<char, 48> buf{};
  std::snprintf(buf.data(), buf.size(), "%.*f", digits, v);
  return buf.data();
}

std::string badge(probes::RunVerdict v) {
  const std::string word(probes::to_string(v));
  return "<span class=\"badge " + word + "\">" + word + "</span>";
}

std::string bucket_label(std::size_t i) {
  if (i >= probes::kHistogramBoundsNs.size()) return "+Inf";
  return "≤" + format_seconds(probes::histogram_bound_seconds(i));
}

// Position of a quantile on the bar axis (bucket index units).
double bucket_position(const probes::HistogramSnapshot& h, double seconds) {
  for (std::size_t i = 0; i < probes::kHistogramBoundsNs.size(); ++i) {
    if (seconds <= probes::histogram_bound_seconds(i)) return static_cast<double>(i) + 0.5;
  }
  return static_cast<double>(h.buckets.size()) - 0.5;
}

// Per-event tables (crashes, scheduled faults, leaked objects) grow with the run: the
// first and last kReportEdgeRows rows, and one row between them counting the others.
template <class Item, class Row>
void capped_rows(const std::vector<Item>& items, int columns, std::ostream& out, Row&& row) {
  for_each_capped(
      items.size(), kReportEdgeRows, [&](std::size_t i) { row(items[i]); },
      [&](std::size_t skipped) {
        out << "<tr><td colspan=\"" << columns << "\" class=\"meta\">… " << skipped
            << " more rows, not shown here (" << items.size()
            << " in all; shmcheck.json has every one)</td></tr>";
      });
}

std::string histogram_chart(const std::string& title, const probes::HistogramSnapshot& h) {
  svg::BarChart chart;
  chart.title = title;
  chart.y_label = "count";
  for (std::size_t i = 0; i < h.buckets.size(); ++i) {
    chart.bars.push_back({bucket_label(i), static_cast<double>(h.buckets[i])});
  }
  if (h.count > 0) {
    for (const auto& [q, name] : {std::pair{0.5, "p50"}, std::pair{0.99, "p99"}}) {
      const double s = h.quantile_seconds(q);
      chart.markers.push_back(
          {bucket_position(h, s), std::string(name) + " " + format_seconds(s), name});
    }
  }
  return svg::render(chart);
}

void verdict_section(const probes::RunResult& run, std::ostream& out) {
  out << "<h3>Verdicts</h3><table><tr><th>expectation</th><th>expected</th><th>actual</th><th></"
         "th></tr>";
  for (const auto& e : run.expectations) {
    out << "<tr><td><code>" << xml_escape(e.name) << "</code></td><td>" << xml_escape(e.expected)
        << "</td><td>" << xml_escape(e.actual) << "</td><td>"
        << badge(e.pass ? probes::RunVerdict::kPass : probes::RunVerdict::kFail) << "</td></tr>";
  }
  if (run.expectations.empty()) out << "<tr><td colspan=\"4\">no expectations evaluated</td></tr>";
  out << "</table>";
  if (run.integrity) {
    const auto& c = run.integrity->counts;
    // Two tables, where the messages went and what went wrong: as one row of 15
    // columns it ran past its card at a laptop's width.
    out << "<h3>Message integrity</h3>";
    const auto counts = [&](std::initializer_list<std::pair<const char*, std::uint64_t>> cols) {
      out << "<table><tr>";
      for (const auto& [name, value] : cols) out << "<th>" << name << "</th>";
      out << "</tr><tr>";
      for (const auto& [name, value] : cols) out << "<td class=\"num\">" << value << "</td>";
      out << "</tr></table>";
    };
    counts({{"attempted", c.attempted},
            {"acked", c.acked},
            {"delivered", c.delivered},
            {"left in a ring", c.left_in_ring},
            {"recovered", c.recovered},
            {"read again after a crash", c.redelivered},
            {"in flight dropped", c.in_flight_dropped},
            {"stranded by a stall", c.stranded},
            {"unchecked: log overflowed", c.unlogged}});
    counts({{"lost", c.lost},
            {"lost at a crash", c.lost_at_crash},
            {"duplicated", c.duplicated},
            {"reordered", c.reordered},
            {"torn", c.torn},
            {"abandoned", c.abandoned},
            {"unexpected", c.unexpected}});
    if (!run.integrity->crashes.empty()) {
      out << "<table><tr><th>crash</th><th>effect</th></tr>";
      capped_rows(run.integrity->crashes, 2, out, [&](const probes::CrashAttribution& a) {
        out << "<tr><td>" << xml_escape(a.crash.role) << "[" << a.crash.index << "] #"
            << a.crash.incarnation << "</td><td>" << xml_escape(a.description) << "</td></tr>";
      });
      out << "</table>";
    }
  }
  for (const auto& m : run.mutexes) {
    out << "<p>mutex <code>" << xml_escape(m.object) << "</code>: " << m.snapshot.repairs
        << " repairs, " << m.snapshot.exclusion_violations << " exclusion violations, record "
        << (m.record_consistent ? "consistent" : "<b>torn</b>")
        << (m.left == probes::MutexLeft::kHeldByDead
                ? ", left held by a dead locker (nobody locked after it)"
                : "")
        << "</p>";
  }
  for (const auto& s : run.semaphores) {
    out << "<p>semaphore <code>" << xml_escape(s.object) << "</code> (" << xml_escape(s.flavor)
        << (s.undo ? ", SEM_UNDO" : "") << "): drift " << s.drift << " (expected "
        << xml_escape(s.expected_text()) << ")</p>";
  }
  for (const auto& s : run.stalls) {
    out << "<p><span class=\"badge fail\">stall</span> at " << fixed(s.t_s)
        << " s: " << xml_escape(s.description) << "</p><ul>";
    for (const auto& w : s.workers) out << "<li>" << xml_escape(w) << "</li>";
    out << "</ul>";
  }
}

void latency_section(const probes::RunResult& run, std::ostream& out) {
  out << "<h3>Latency per role</h3><table><tr><th>role</th><th>count</th><th>p50</th><th>p90</th>"
         "<th>p99</th><th>p99.9</th><th>max</th></tr>";
  for (const auto& r : run.roles) {
    if (r.stats.latency.count == 0) continue;
    const auto p = probes::percentiles(r.stats.latency);
    out << "<tr><td>" << xml_escape(r.role) << "</td><td class=\"num\">" << p.count
        << "</td><td class=\"num\">" << format_seconds(p.p50) << "</td><td class=\"num\">"
        << format_seconds(p.p90) << "</td><td class=\"num\">" << format_seconds(p.p99)
        << "</td><td class=\"num\">" << format_seconds(p.p999) << "</td><td class=\"num\">"
        << format_seconds(p.max) << "</td></tr>";
  }
  out << "</table>";
  bool any = false;
  for (const auto& r : run.roles) {
    if (r.stats.latency.count == 0) continue;
    any = true;
    out << histogram_chart("Latency distribution: " + r.role, r.stats.latency);
  }
  if (!any) out << "<p class=\"meta\">No latency samples in this run.</p>";
}

void throughput_section(const probes::RunResult& run, std::ostream& out) {
  svg::LineChart chart;
  chart.title = "Throughput over time (injected faults marked)";
  chart.x_label = "seconds since start";
  chart.y_label = "ops/s";
  const double dt = run.throughput.interval_s > 0 ? run.throughput.interval_s : 0.1;
  for (const auto& s : run.throughput.series) {
    svg::Series series{s.role, {}};
    for (std::size_t i = 0; i < s.ops.size(); ++i) {
      series.points.push_back(
          {dt * static_cast<double>(i + 1), static_cast<double>(s.ops[i]) / dt});
    }
    chart.series.push_back(std::move(series));
  }
  for (const auto& m : run.throughput.fault_markers) {
    chart.markers.push_back(
        {m.t_s, m.kind + " " + m.role + "[" + std::to_string(m.index) + "]", m.kind});
  }
  out << "<h3>Throughput</h3>" << svg::render(chart);
}

void lock_section(const probes::RunResult& run, std::ostream& out) {
  probes::HistogramSnapshot merged;
  for (const auto& r : run.roles) merged.merge(r.stats.lock_wait);
  if (merged.count == 0) return;
  const auto p = probes::percentiles(merged);
  out << "<h3>Lock wait</h3><p class=\"meta\">" << p.count << " acquisitions; p50 "
      << format_seconds(p.p50) << ", p99 " << format_seconds(p.p99) << ", max "
      << format_seconds(p.max) << "</p>" << histogram_chart("Lock wait distribution", merged);
}

// Per ring role: how often its pushes found the ring full (back-pressure on a producer)
// or its pops found it empty (a consumer's idle time), and how long each such wait lasted;
// then each ring's own counters: what the waits cost in futex sleeps and wake-ups.
void ring_wait_section(const probes::RunResult& run, std::ostream& out) {
  std::vector<const probes::RoleStats*> roles;
  for (const auto& r : run.roles) {
    if (r.stats.full_events + r.stats.empty_events > 0) roles.push_back(&r);
  }
  if (roles.empty() && run.rings.empty()) return;
  out << "<h3>Ring waits</h3>";
  if (!run.rings.empty()) {
    out << "<table><tr><th>ring</th><th>slots</th><th>pushes</th><th>pops</th>"
           "<th>calls that found it full</th><th>empty</th><th>futex sleeps</th>"
           "<th>wake-ups</th><th>abandoned</th><th>published again</th></tr>";
    for (const auto& g : run.rings) {
      out << "<tr><td><code>" << xml_escape(g.object) << "</code> (" << xml_escape(g.kind)
          << ")</td>";
      for (const std::uint64_t v : {g.capacity, g.pushes, g.pops, g.full_events, g.empty_events,
                                    g.sleeps, g.wakeups, g.abandoned, g.redelivered}) {
        out << "<td class=\"num\">" << v << "</td>";
      }
      out << "</tr>";
    }
    out << "</table><p class=\"meta\">The rings' own counters, over every process that used "
           "them: a push or pop call that found the ring full or empty counts once per call "
           "(a role tries once before it waits); a waiting call sleeps on a futex for at most "
           "200 us at a time.</p>";
  }
  if (roles.empty()) return;
  out << "<table><tr><th>role</th><th>found the ring</th><th>times</th>"
         "<th>waited in all</th><th>p50</th><th>p99</th><th>max</th></tr>";
  for (const auto* r : roles) {
    const auto& st = r->stats;
    out << "<tr><td>" << xml_escape(r->role) << "</td><td>"
        << (st.full_events > 0 ? "full" : "empty") << "</td><td class=\"num\">"
        << st.full_events + st.empty_events << "</td>";
    if (st.ring_wait.count == 0) {
      // With the probes on, no wait ended: the worker was killed inside its only one
      // (a stalled producer). It read "probes off" either way.
      const bool probes_on = std::ranges::any_of(run.roles, [](const auto& role) {
        return role.stats.latency.count + role.stats.lock_wait.count + role.stats.ring_wait.count >
               0;
      });
      out << "<td colspan=\"4\" class=\"meta\">"
          << (probes_on ? "no wait ended (its worker was stopped inside it)"
                        : "not timed (probes off)")
          << "</td></tr>";
      continue;
    }
    const auto p = probes::percentiles(st.ring_wait);
    out << "<td class=\"num\">" << format_seconds(static_cast<double>(st.ring_wait.sum_ns) / 1e9)
        << "</td><td class=\"num\">" << format_seconds(p.p50) << "</td><td class=\"num\">"
        << format_seconds(p.p99) << "</td><td class=\"num\">" << format_seconds(p.max)
        << "</td></tr>";
  }
  out << "</table>";
  for (const auto* r : roles) {
    if (r->stats.ring_wait.count == 0) continue;
    out << histogram_chart("Ring wait distribution: " + r->role, r->stats.ring_wait);
  }
}

// Marks at one instant overlap, and the last drawn shows: what happened to a worker (a
// kill, a pause, a stall) goes over the routine marks beside it, its exit and the
// restart that follows a kill within a millisecond. Drawn in time order, every kill
// was hidden under its restart's blue.
int draw_rank(const std::string& kind) {
  if (kind == "spawn" || kind == "restart") return 0;
  if (kind == "exit" || kind == "resume") return 1;
  return 2;
}

void timeline_section(const probes::RunResult& run, std::ostream& out) {
  svg::Timeline tl;
  tl.title = "Workers (spawn, kill, pause, restart, exit)";
  tl.x_label = "seconds since start";
  tl.x_max = std::max(run.durations.run_s, 0.001);
  std::map<std::pair<std::string, std::uint32_t>, std::size_t> lane_of;
  for (const auto& w : run.workers) {
    svg::Lane lane;
    lane.label = w.role + "[" + std::to_string(w.index) + "]";
    for (const auto& p : w.processes) {
      lane.spans.push_back({p.start_s, p.end_s, "run"});
      tl.x_max = std::max(tl.x_max, p.end_s);
    }
    lane_of[{w.role, w.index}] = tl.lanes.size();
    tl.lanes.push_back(std::move(lane));
  }
  std::map<std::pair<std::string, std::uint32_t>, double> paused_at;
  for (const auto& e : run.timeline) {
    const auto it = lane_of.find({e.role, e.index});
    if (it == lane_of.end()) continue;
    auto& lane = tl.lanes[it->second];
    lane.events.push_back({e.t_s, e.kind + ": " + e.detail, e.kind});
    if (e.kind == "pause") paused_at[{e.role, e.index}] = e.t_s;
    if (e.kind == "resume") {
      const auto p = paused_at.find({e.role, e.index});
      if (p != paused_at.end()) lane.spans.push_back({p->second, e.t_s, "paused"});
    }
  }
  for (auto& lane : tl.lanes) {
    std::ranges::stable_sort(lane.events, {},
                             [](const svg::Marker& m) { return draw_rank(m.css_class); });
  }
  out << "<h3>Timeline</h3>" << svg::render(tl);
}

void leak_section(const probes::RunResult& run, std::ostream& out) {
  out << "<h3>Leaks</h3><p>" << run.leaks.leaked_objects
      << " object(s) of this run left behind.</p>";
  if (run.leaks.findings.empty()) return;
  out << "<table><tr><th>kind</th><th>name</th><th>bytes</th><th>verdict</th></tr>";
  capped_rows(run.leaks.findings, 4, out, [&](const auto& f) {
    out << "<tr><td>" << xml_escape(f.kind) << "</td><td><code>" << xml_escape(f.name)
        << "</code></td><td class=\"num\">" << f.bytes << "</td><td>" << xml_escape(f.verdict)
        << "</td></tr>";
  });
  out << "</table>";
}

void schedule_section(const probes::RunResult& run, std::ostream& out) {
  out << "<h3>Fault schedule (seed " << run.seed << ")</h3>";
  if (run.fault_schedule.empty()) {
    out << "<p class=\"meta\">No faults scheduled.</p>";
    return;
  }
  out << "<table><tr><th>worker</th><th>fault</th><th>when</th><th>restart</th>"
         "<th>outcome</th></tr>";
  capped_rows(run.fault_schedule, 4, out, [&](const auto& f) {
    std::string when = f.failpoint.empty() ? "" : f.failpoint + " #" + std::to_string(f.occurrence);
    if (f.at_s) when += (when.empty() ? "" : ", ") + ("t=" + fixed(*f.at_s, 3) + " s");
    if (f.pause_s > 0) when += " for " + format_seconds(f.pause_s);
    out << "<tr><td>" << xml_escape(f.role) << "[" << f.index << "]</td><td>" << xml_escape(f.kind)
        << "</td><td>" << xml_escape(when) << "</td><td>" << (f.restart ? "yes" : "no")
        << "</td><td>" << xml_escape(describe_outcome(f)) << "</td></tr>";
  });
  out << "</table>";
}

class HtmlReporter final : public Reporter {
 public:
  [[nodiscard]] std::string_view format() const override { return "html"; }
  [[nodiscard]] std::string_view file_name() const override { return "report.html"; }

  void write(const SuiteResult& suite, std::ostream& sink) const override {
    std::ostringstream out;
    out << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
           "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
           "style-src 'unsafe-inline'; img-src data:\">"
           "<title>shmcheck report: "
        << xml_escape(suite_verdict(suite)) << "</title><style>" << kStyle
        << "</style></head><body>";
    out << "<header><h1>shmcheck report <span class=\"badge " << suite_verdict(suite) << "\">"
        << suite_verdict(suite) << "</span></h1><div class=\"meta\">"
        << xml_escape(suite.started_at) << " &middot; " << xml_escape(suite.hostname)
        << " &middot; exit code " << suite.exit_code << " &middot; " << fixed(suite.total_s)
        << " s</div></header><main>";
    out << "<h2>Specs</h2><table id=\"index\"><tr><th>spec</th><th>verdict</th><th>seed</th>"
           "<th>reproduce</th></tr>";
    for (std::size_t i = 0; i < suite.runs.size(); ++i) {
      const auto& run = suite.runs[i];
      out << "<tr><td><a href=\"#spec-" << i << "\">" << xml_escape(run.spec_name)
          << "</a></td><td>" << badge(run.verdict) << "</td><td class=\"num\">"
          << (run.started() ? std::to_string(run.seed) : "-") << "</td><td><code>"
          << xml_escape(run.repro) << "</code></td></tr>";
    }
    out << "</table>";
    for (std::size_t i = 0; i < suite.runs.size(); ++i) {
      const auto& run = suite.runs[i];
      out << "<section class=\"spec\" id=\"spec-" << i << "\"><h2>" << xml_escape(run.spec_name)
          << " " << badge(run.verdict) << "</h2><p class=\"meta\"><code>"
          << xml_escape(run.spec_file) << "</code>";
      if (run.started()) {
        out << " &middot; run " << xml_escape(run.run_id) << " &middot; "
            << fixed(run.durations.run_s) << " s running, " << fixed(run.durations.total_s)
            << " s total";
      }
      out << "</p>";
      if (!run.error.empty())
        out << "<p><span class=\"badge error\">error</span> " << xml_escape(run.error) << "</p>";
      if (!run.started()) {  // no figures, charts or timeline: empty ones said "no data"
        out << "</section>";
        continue;
      }
      if (!run.ended_early.empty())
        out << "<p class=\"meta\">ended early: " << xml_escape(run.ended_early) << "</p>";
      verdict_section(run, out);
      latency_section(run, out);
      throughput_section(run, out);
      lock_section(run, out);
      ring_wait_section(run, out);
      timeline_section(run, out);
      schedule_section(run, out);
      leak_section(run, out);
      out << "</section>";
    }
    out << "</main></body></html>";
    // One element per line: readable diffs and golden files; whitespace between
    // elements does not change the rendering of this markup.
    std::string text = out.str();
    std::string lined;
    lined.reserve(text.size() + text.size() / 16);
    for (std::size_t i = 0; i < text.size(); ++i) {
      lined.push_back(text[i]);
      if (text[i] == '>' && i + 1 < text.size() && text[i + 1] == '<') lined.push_back('\n');
    }
    sink << lined << '\n';
  }
};

}  // namespace

std::unique_ptr<Reporter> make_html_reporter() { return std::make_unique<HtmlReporter>(); }

}  // namespace shmcheck::reports
