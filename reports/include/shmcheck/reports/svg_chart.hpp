// Inline SVG charts for the self-contained HTML report: no scripts, no network,
// no external fonts. Each function returns one <svg> element as text.
//
// Charts are deliberately plain: a line chart (throughput over time with fault
// markers), a bar chart over labelled buckets (latency and lock-wait histograms),
// and a lane timeline (per-worker spawn / kill / pause / restart / exit). Marks of one
// class within 3 px of each other are drawn as one (its title counts them) and spans
// less than a pixel apart as one, so a chart's size follows its width, not the run's
// length.
#pragma once

#include <string>
#include <vector>

namespace shmcheck::reports::svg {

struct Point {
  double x = 0;
  double y = 0;
};

struct Series {
  std::string label;
  std::vector<Point> points;
};

// A vertical rule at x, e.g. an injected fault.
struct Marker {
  double x = 0;
  std::string label;
  std::string css_class = "fault";  // styles: fault, pause, restart
};

struct LineChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<Series> series;
  std::vector<Marker> markers;
  int width = 880;
  int height = 280;
};

struct Bar {
  std::string label;  // bucket label, e.g. "≤ 1 µs"
  double value = 0;
};

struct BarChart {
  std::string title;
  std::string y_label;
  std::vector<Bar> bars;
  std::vector<Marker> markers;  // x in bar index units (e.g. a percentile between buckets)
  int width = 880;
  int height = 260;
};

struct Span {
  double start = 0;
  double end = 0;
  std::string css_class = "run";  // run, paused
};

struct Lane {
  std::string label;
  std::vector<Span> spans;
  std::vector<Marker> events;  // point events: kill, exit, restart
};

struct Timeline {
  std::string title;
  std::string x_label;
  double x_max = 0;
  std::vector<Lane> lanes;
  int width = 880;
};

[[nodiscard]] std::string render(const LineChart& chart);
[[nodiscard]] std::string render(const BarChart& chart);
[[nodiscard]] std::string render(const Timeline& timeline);

// "1.5k", "2M", "250": compact axis labels.
[[nodiscard]] std::string format_si(double value);

}  // namespace shmcheck::reports::svg
