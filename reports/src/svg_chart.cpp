#include "shmcheck/reports/svg_chart.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "shmcheck/core/printable.hpp"
#include "shmcheck/reports/xml.hpp"

namespace shmcheck::reports::svg {
namespace {

constexpr double kLeft = 64;
constexpr double kRight = 16;
constexpr double kTop = 28;
constexpr double kBottom = 40;
constexpr std::array<const char*, 6> kPalette = {"#2563eb", "#16a34a", "#d97706",
                                                 "#7c3aed", "#0891b2", "#be123c"};

// A marker label's width, estimated: 11 px text averages under 6.5 px a character.
constexpr double kMarkerLabelCharW = 6.5;
constexpr double kMarkerLabelLineH = 13;

std::string num(double v) {
  std::array<char, 32> buf{};
  std::snprintf(buf.data(), buf.size(), "%.1f", v);
  return buf.data();
}

// Markers that would be drawn within kMarkerMergePx of an earlier one of the same class
// are drawn once, titled with how many there are and when: a soak that kills a worker
// 100 times a second would otherwise put thousands of overlapping lines (each with its
// title) on a chart a few hundred pixels wide. So a chart's size is bounded by its
// width, not by the run's length. `px` maps a marker's x to pixels.
constexpr double kMarkerMergePx = 3;

template <class ToPx>
std::vector<Marker> merge_close_markers(const std::vector<Marker>& markers, ToPx&& px) {
  struct Group {
    Marker first;
    double last_x = 0;
    std::size_t count = 0;
  };
  std::vector<Group> groups;
  std::map<std::string, std::size_t> open;  // css class -> its latest group
  for (const auto& m : markers) {
    const auto it = open.find(m.css_class);
    if (it != open.end() && std::fabs(px(m.x) - px(groups[it->second].first.x)) < kMarkerMergePx) {
      auto& g = groups[it->second];
      g.last_x = std::max(g.last_x, m.x);
      ++g.count;
      continue;
    }
    open[m.css_class] = groups.size();
    groups.push_back({m, m.x, 1});
  }
  std::vector<Marker> out;
  out.reserve(groups.size());
  for (auto& g : groups) {
    if (g.count > 1) {
      g.first.label += " (and " + std::to_string(g.count - 1) + " more " + g.first.css_class +
                       " marks up to x=" + format_si(g.last_x) + ")";
    }
    out.push_back(std::move(g.first));
  }
  return out;
}

// Consecutive spans of one class less than a pixel apart are drawn as one (a worker
// restarted within a millisecond runs on, as far as a chart can show).
template <class ToPx>
std::vector<Span> merge_close_spans(const std::vector<Span>& spans, ToPx&& px) {
  std::vector<Span> out;
  for (const auto& s : spans) {
    if (!out.empty() && out.back().css_class == s.css_class && s.start >= out.back().start &&
        px(s.start) - px(out.back().end) < 1.0) {
      out.back().end = std::max(out.back().end, s.end);
      continue;
    }
    out.push_back(s);
  }
  return out;
}

// The points of a line that land in one pixel column are drawn as that column's first,
// lowest, highest and last point (M4): the same pixels, so a dip at a kill stays visible,
// but at most four points per column. A day-long soak samples its throughput every
// 100 ms, 864,000 points per role; drawn one by one, its chart alone was megabytes of
// SVG for 800 pixels. `px` maps x to pixels; the points are in x order.
template <class ToPx>
std::vector<Point> thin_to_pixel_columns(const std::vector<Point>& points, ToPx&& px) {
  std::vector<Point> out;
  std::size_t i = 0;
  while (i < points.size()) {
    const auto column = std::floor(px(points[i].x));
    std::size_t end = i + 1;
    std::size_t lo = i;
    std::size_t hi = i;
    for (; end < points.size() && std::floor(px(points[end].x)) == column; ++end) {
      if (points[end].y < points[lo].y) lo = end;
      if (points[end].y > points[hi].y) hi = end;
    }
    std::array<std::size_t, 4> keep{i, std::min(lo, hi), std::max(lo, hi), end - 1};
    for (std::size_t k = 0; k < keep.size(); ++k) {
      if (k == 0 || keep[k] != keep[k - 1]) out.push_back(points[keep[k]]);
    }
    i = end;
  }
  return out;
}

// The spacing of an axis's ticks from 0 to `extent`, in at most `max_steps` steps: 1, 2
// or 5 times a power of ten, the smallest that fits. A run of 3.01 s is ticked every
// 0.5 s, where fifths of it read 0.602, 1.2, 1.81.
double nice_step(double extent, int max_steps) {
  if (!(extent > 0) || !std::isfinite(extent)) return 1;
  const double raw = extent / max_steps;
  const double exp = std::pow(10.0, std::floor(std::log10(raw)));
  for (const double m : {1.0, 2.0, 5.0}) {
    if (raw <= m * exp * (1 + 1e-9)) return m * exp;
  }
  return 10 * exp;
}

// Calls emit(k * step) for k = 0, 1, ... while k * step <= upto (give or take rounding:
// 3 * 0.1 is 0.30000000000000004).
template <class Emit>
void for_each_multiple(double step, double upto, Emit&& emit) {
  for (int k = 0; k * step <= upto * (1 + 1e-9); ++k) emit(k * step);
}

// A value axis: its top, the first multiple of its step at or above the data's
// maximum, so the data fills the height (a 203k peak tops out at 250k, not 500k).
struct ValueAxis {
  double max = 1;
  double step = 0.25;
};
// `whole`: a count axis, ticked at whole numbers (one sample read 0.2, 0.4, ...).
ValueAxis value_axis(double data_max, bool whole = false) {
  if (!(data_max > 0) || !std::isfinite(data_max)) return whole ? ValueAxis{1, 1} : ValueAxis{};
  const double step = whole ? std::max(1.0, nice_step(data_max, 5)) : nice_step(data_max, 5);
  return {step * std::ceil(data_max / step - 1e-9), step};
}

// The ticks of a time axis from 0 to x_max: the multiples of its nice step.
template <class Emit>
void time_ticks(double x_max, Emit&& emit) {
  for_each_multiple(nice_step(x_max, 8), x_max, emit);
}

std::string open_svg(int width, int height, const std::string& title) {
  std::string out =
      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" role=\"img\" width=\"" +
      std::to_string(width) + "\" height=\"" + std::to_string(height) + "\" viewBox=\"0 0 " +
      std::to_string(width) + " " + std::to_string(height) + "\" aria-label=\"" +
      xml_escape(title) + "\">";
  out += "<title>" + xml_escape(title) + "</title>";
  out += "<text class=\"chart-title\" x=\"" + num(kLeft) + "\" y=\"18\">" + xml_escape(title) +
         "</text>";
  return out;
}

std::string empty_note(double x, double y) {
  return "<text class=\"empty\" x=\"" + num(x) + "\" y=\"" + num(y) + "\">no data</text>";
}

void y_axis(std::string& out, double plot_h, const ValueAxis& axis, double width,
            const std::string& label) {
  for_each_multiple(axis.step, axis.max, [&](double value) {
    const double y = kTop + plot_h * (1 - value / axis.max);
    out += "<line class=\"grid\" x1=\"" + num(kLeft) + "\" x2=\"" + num(width - kRight) +
           "\" y1=\"" + num(y) + "\" y2=\"" + num(y) + "\"/>";
    out += "<text class=\"tick\" text-anchor=\"end\" x=\"" + num(kLeft - 6) + "\" y=\"" +
           num(y + 4) + "\">" + format_si(value) + "</text>";
  });
  out += "<text class=\"axis-label\" transform=\"rotate(-90)\" x=\"" + num(-(kTop + plot_h / 2)) +
         "\" y=\"14\" text-anchor=\"middle\">" + xml_escape(label) + "</text>";
}

}  // namespace

std::string format_si(double value) {
  std::array<char, 32> buf{};
  const double a = std::fabs(value);
  if (a >= 1e9)
    std::snprintf(buf.data(), buf.size(), "%.3gG", value / 1e9);
  else if (a >= 1e6)
    std::snprintf(buf.data(), buf.size(), "%.3gM", value / 1e6);
  else if (a >= 1e3)
    std::snprintf(buf.data(), buf.size(), "%.3gk", value / 1e3);
  else
    std::snprintf(buf.data(), buf.size(), "%.3g", value);
  return buf.data();
}

std::string render(const LineChart& chart) {
  const double w = chart.width;
  const double h = chart.height;
  const double plot_w = w - kLeft - kRight;
  const double plot_h = h - kTop - kBottom;
  std::string out = open_svg(chart.width, chart.height, chart.title);

  double x_max = 0;
  double y_max = 0;
  bool any = false;
  for (const auto& s : chart.series) {
    for (const auto& p : s.points) {
      x_max = std::max(x_max, p.x);
      y_max = std::max(y_max, p.y);
      any = true;
    }
  }
  for (const auto& m : chart.markers) x_max = std::max(x_max, m.x);
  if (x_max <= 0) x_max = 1;
  const auto axis = value_axis(y_max);
  y_axis(out, plot_h, axis, w, chart.y_label);
  const auto sx = [&](double x) { return kLeft + plot_w * (x / x_max); };
  const auto sy = [&](double y) { return kTop + plot_h * (1 - y / axis.max); };

  time_ticks(x_max, [&](double x) {
    out += "<text class=\"tick\" text-anchor=\"middle\" x=\"" + num(sx(x)) + "\" y=\"" +
           num(h - kBottom + 16) + "\">" + format_si(x) + "</text>";
  });
  out += "<text class=\"axis-label\" text-anchor=\"middle\" x=\"" + num(kLeft + plot_w / 2) +
         "\" y=\"" + num(h - 6) + "\">" + xml_escape(chart.x_label) + "</text>";
  if (!any) out += empty_note(kLeft + plot_w / 2 - 20, kTop + plot_h / 2);

  for (std::size_t i = 0; i < chart.series.size(); ++i) {
    const auto& s = chart.series[i];
    if (s.points.empty()) continue;
    std::string pts;
    for (const auto& p : thin_to_pixel_columns(s.points, sx)) {
      pts += num(sx(p.x)) + "," + num(sy(p.y)) + " ";
    }
    const char* color = kPalette[i % kPalette.size()];
    out += "<polyline class=\"series\" fill=\"none\" stroke=\"" + std::string(color) +
           "\" stroke-width=\"1.8\" points=\"" + pts + "\"><title>" + xml_escape(s.label) +
           "</title></polyline>";
    out += "<text class=\"legend\" fill=\"" + std::string(color) + "\" x=\"" +
           num(w - kRight - 160) + "\" y=\"" + num(kTop + 14 + 14 * static_cast<double>(i)) +
           "\">" + xml_escape(s.label) + "</text>";
  }
  for (const auto& m : merge_close_markers(chart.markers, sx)) {
    const double x = sx(m.x);
    out += "<line class=\"marker " + xml_escape(m.css_class) + "\" x1=\"" + num(x) + "\" x2=\"" +
           num(x) + "\" y1=\"" + num(kTop) + "\" y2=\"" + num(kTop + plot_h) + "\"><title>" +
           xml_escape(m.label) + "</title></line>";
  }
  out += "</svg>";
  return out;
}

std::string render(const BarChart& chart) {
  const double w = chart.width;
  const double h = chart.height;
  const double plot_w = w - kLeft - kRight;
  const double plot_h = h - kTop - kBottom;
  std::string out = open_svg(chart.width, chart.height, chart.title);
  double y_max = 0;
  for (const auto& b : chart.bars) y_max = std::max(y_max, b.value);
  const bool any = y_max > 0;
  const auto axis = value_axis(y_max, /*whole=*/true);  // bars count
  y_axis(out, plot_h, axis, w, chart.y_label);
  if (!any || chart.bars.empty()) {
    out += empty_note(kLeft + plot_w / 2 - 20, kTop + plot_h / 2);
    out += "</svg>";
    return out;
  }
  const double slot = plot_w / static_cast<double>(chart.bars.size());
  const std::size_t label_every = std::max<std::size_t>(1, (chart.bars.size() + 7) / 8);
  for (std::size_t i = 0; i < chart.bars.size(); ++i) {
    const auto& b = chart.bars[i];
    const double bh = plot_h * (b.value / axis.max);
    const double x = kLeft + slot * static_cast<double>(i);
    out += "<rect class=\"bar\" x=\"" + num(x + 1) + "\" y=\"" + num(kTop + plot_h - bh) +
           "\" width=\"" + num(std::max(1.0, slot - 2)) + "\" height=\"" + num(bh) + "\"><title>" +
           xml_escape(b.label) + ": " + format_si(b.value) + "</title></rect>";
    if (i % label_every == 0) {
      out += "<text class=\"tick\" text-anchor=\"middle\" x=\"" + num(x + slot / 2) + "\" y=\"" +
             num(h - kBottom + 16) + "\">" + xml_escape(b.label) + "</text>";
    }
  }
  // A label that would run into the one before it (p50 and p99 in one bucket, or in
  // neighbouring ones) steps down a line instead of being drawn over it.
  double label_row_end = -1e9;
  double label_y = kTop + 10;
  for (const auto& m : chart.markers) {
    const double x = kLeft + slot * m.x;
    out += "<line class=\"marker " + xml_escape(m.css_class) + "\" x1=\"" + num(x) + "\" x2=\"" +
           num(x) + "\" y1=\"" + num(kTop) + "\" y2=\"" + num(kTop + plot_h) + "\"/>";
    // Right of its line, or left of it where it would run off the chart.
    const double label_w = kMarkerLabelCharW * static_cast<double>(core::utf8_characters(m.label));
    const bool left = x + 3 + label_w > w;
    const double label_x = left ? x - 3 - label_w : x + 3;
    label_y = label_x < label_row_end ? label_y + kMarkerLabelLineH : kTop + 10;
    label_row_end = label_x + label_w + 4;
    out += std::string("<text class=\"marker-label\"") + (left ? " text-anchor=\"end\"" : "") +
           " x=\"" + num(left ? x - 3 : label_x) + "\" y=\"" + num(label_y) + "\">" +
           xml_escape(m.label) + "</text>";
  }
  out += "</svg>";
  return out;
}

std::string render(const Timeline& timeline) {
  constexpr double kLaneH = 22;
  constexpr double kLabelW = 150;
  const double w = timeline.width;
  const double plot_w = w - kLabelW - kRight;
  const double h = kTop +
                   kLaneH * static_cast<double>(std::max<std::size_t>(1, timeline.lanes.size())) +
                   kBottom;
  std::string out = open_svg(timeline.width, static_cast<int>(h), timeline.title);
  const double x_max = timeline.x_max > 0 ? timeline.x_max : 1;
  const auto sx = [&](double x) { return kLabelW + plot_w * std::clamp(x / x_max, 0.0, 1.0); };
  if (timeline.lanes.empty()) out += empty_note(kLabelW + plot_w / 2 - 20, kTop + 14);
  for (std::size_t i = 0; i < timeline.lanes.size(); ++i) {
    const auto& lane = timeline.lanes[i];
    const double y = kTop + kLaneH * static_cast<double>(i);
    out += "<text class=\"lane-label\" x=\"4\" y=\"" + num(y + 15) + "\">" +
           xml_escape(lane.label) + "</text>";
    for (const auto& s : merge_close_spans(lane.spans, sx)) {
      out += "<rect class=\"span " + xml_escape(s.css_class) + "\" x=\"" + num(sx(s.start)) +
             "\" y=\"" + num(y + 4) + "\" width=\"" + num(std::max(1.0, sx(s.end) - sx(s.start))) +
             "\" height=\"" + num(kLaneH - 8) + "\"/>";
    }
    for (const auto& e : merge_close_markers(lane.events, sx)) {
      const double x = sx(e.x);
      out += "<path class=\"event " + xml_escape(e.css_class) + "\" d=\"M" + num(x) + " " +
             num(y + 2) + " l5 9 l-5 9 l-5 -9 z\"><title>" + xml_escape(e.label) +
             "</title></path>";
    }
  }
  const double axis_y =
      kTop + kLaneH * static_cast<double>(std::max<std::size_t>(1, timeline.lanes.size()));
  time_ticks(x_max, [&](double x) {
    out += "<text class=\"tick\" text-anchor=\"middle\" x=\"" + num(sx(x)) + "\" y=\"" +
           num(axis_y + 16) + "\">" + format_si(x) + "</text>";
  });
  out += "<text class=\"axis-label\" text-anchor=\"middle\" x=\"" + num(kLabelW + plot_w / 2) +
         "\" y=\"" + num(h - 6) + "\">" + xml_escape(timeline.x_label) + "</text>";
  out += "</svg>";
  return out;
}

}  // namespace shmcheck::reports::svg
