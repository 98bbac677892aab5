// Strict parsers for durations, sizes, rates and comparisons (spec_loader.hpp).
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <limits>
#include <string>

#include "shmcheck/harness/spec_loader.hpp"

namespace shmcheck::harness {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool fail(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
  return false;
}

std::string quoted(std::string_view text) {
  // Cap what we echo back: a 1 MiB value makes an unreadable message.
  constexpr std::size_t kEcho = 40;
  std::string out = "'";
  out.append(text.substr(0, kEcho));
  if (text.size() > kEcho) out += "...";
  out += "'";
  return out;
}

// "123.45" at the start of `text`: integer digits, optional fraction. Leaves the
// rest (the unit) in `rest`.
struct Decimal {
  std::string_view integer;
  std::string_view fraction;
  std::string_view rest;
};

std::optional<Decimal> split_decimal(std::string_view text, std::string_view what,
                                     std::string* error) {
  if (text.empty()) {
    fail(error, std::string("empty ") + std::string(what));
    return std::nullopt;
  }
  if (text.front() == '-') {
    fail(error, std::string(what) + " must not be negative: " + quoted(text));
    return std::nullopt;
  }
  std::size_t i = 0;
  while (i < text.size() && is_digit(text[i])) ++i;
  if (i == 0) {
    fail(error, std::string(what) + " must start with a digit: " + quoted(text));
    return std::nullopt;
  }
  Decimal d{text.substr(0, i), {}, {}};
  if (i < text.size() && text[i] == '.') {
    const std::size_t start = ++i;
    while (i < text.size() && is_digit(text[i])) ++i;
    if (i == start) {
      fail(error, "digits expected after '.' in " + quoted(text));
      return std::nullopt;
    }
    d.fraction = text.substr(start, i - start);
  }
  d.rest = text.substr(i);
  return d;
}

// Integer digits as uint64; nullopt on overflow.
std::optional<std::uint64_t> to_u64(std::string_view digits) {
  std::uint64_t value = 0;
  const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc{} || ptr != digits.data() + digits.size()) return std::nullopt;
  return value;
}

}  // namespace

namespace {

struct DurationUnit {
  std::string_view name;
  std::uint64_t ns;
};
constexpr DurationUnit kDurationUnits[] = {{"ns", 1},
                                           {"us", 1'000},
                                           {"ms", 1'000'000},
                                           {"s", 1'000'000'000},
                                           {"m", 60'000'000'000},
                                           {"h", 3'600'000'000'000}};

}  // namespace

std::string format_bytes(std::uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < std::size(kUnits)) {
    value /= 1024.0;
    ++unit;
  }
  char buf[32];
  if (unit == 0) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s", value, kUnits[unit]);
  }
  return buf;
}

std::string format_duration(std::chrono::nanoseconds d) {
  const auto ns = d.count();
  if (ns == 0) return "0s";
  for (auto it = std::rbegin(kDurationUnits); it != std::rend(kDurationUnits); ++it) {
    const auto per = static_cast<std::int64_t>(it->ns);
    if (ns % per == 0) return std::to_string(ns / per) + std::string(it->name);
  }
  return std::to_string(ns) + "ns";  // not reached: every count is whole ns
}

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text, std::string* error) {
  const auto d = split_decimal(text, "duration", error);
  if (!d) return std::nullopt;
  if (d->rest.empty()) {
    fail(error, "duration needs a unit (ns, us, ms, s, m, h): " + quoted(text));
    return std::nullopt;
  }
  const DurationUnit* unit = nullptr;
  for (const auto& u : kDurationUnits) {
    if (u.name == d->rest) unit = &u;
  }
  if (unit == nullptr) {
    fail(error, "unknown duration unit " + quoted(d->rest) + " in " + quoted(text) +
                    " (use ns, us, ms, s, m, h)");
    return std::nullopt;
  }
  constexpr auto kMax = static_cast<unsigned __int128>(std::numeric_limits<std::int64_t>::max());
  const auto too_long = [&] {
    fail(error, "duration out of range: " + quoted(text));
    return std::nullopt;
  };
  const auto integer = to_u64(d->integer);
  if (!integer) return too_long();
  unsigned __int128 total = static_cast<unsigned __int128>(*integer) * unit->ns;
  if (total > kMax) return too_long();
  if (!d->fraction.empty()) {
    // Exact: fraction * unit / 10^digits must be whole nanoseconds.
    std::string_view frac = d->fraction;
    while (!frac.empty() && frac.back() == '0') frac.remove_suffix(1);
    if (frac.size() > 18) {
      fail(error, "duration finer than 1ns: " + quoted(text));
      return std::nullopt;
    }
    if (!frac.empty()) {
      const auto f = to_u64(frac);
      unsigned __int128 scale = 1;
      for (std::size_t k = 0; k < frac.size(); ++k) scale *= 10;
      const unsigned __int128 numerator = static_cast<unsigned __int128>(*f) * unit->ns;
      if (numerator % scale != 0) {
        fail(error, "duration finer than 1ns: " + quoted(text));
        return std::nullopt;
      }
      total += numerator / scale;
      if (total > kMax) return too_long();
    }
  }
  return std::chrono::nanoseconds(static_cast<std::int64_t>(total));
}

std::optional<std::uint64_t> parse_size(std::string_view text, std::string* error) {
  const auto d = split_decimal(text, "size", error);
  if (!d) return std::nullopt;
  if (!d->fraction.empty()) {
    fail(error, "size must be a whole number: " + quoted(text));
    return std::nullopt;
  }
  std::uint64_t multiplier = 0;
  if (d->rest.empty() || d->rest == "B") {
    multiplier = 1;
  } else if (d->rest == "KiB") {
    multiplier = 1ULL << 10U;
  } else if (d->rest == "MiB") {
    multiplier = 1ULL << 20U;
  } else if (d->rest == "GiB") {
    multiplier = 1ULL << 30U;
  } else {
    fail(error, "unknown size unit " + quoted(d->rest) + " in " + quoted(text) +
                    " (use B, KiB, MiB, GiB)");
    return std::nullopt;
  }
  const auto integer = to_u64(d->integer);
  if (!integer || *integer > std::numeric_limits<std::uint64_t>::max() / multiplier) {
    fail(error, "size out of range: " + quoted(text));
    return std::nullopt;
  }
  return *integer * multiplier;
}

std::optional<double> parse_rate(std::string_view text, std::string* error) {
  const auto d = split_decimal(text, "rate", error);
  if (!d) return std::nullopt;
  std::string_view rest = d->rest;
  double multiplier = 1;
  if (!rest.empty() && (rest.front() == 'k' || rest.front() == 'M' || rest.front() == 'G')) {
    multiplier = rest.front() == 'k' ? 1e3 : rest.front() == 'M' ? 1e6 : 1e9;
    rest.remove_prefix(1);
  }
  if (rest != "/s") {
    fail(error, "rate must look like '250/s', '10k/s', '1M/s' or '2G/s': " + quoted(text));
    return std::nullopt;
  }
  const std::string_view number = text.substr(0, text.size() - d->rest.size());
  double value = 0;
  const auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (ec != std::errc{} || ptr != number.data() + number.size() || !std::isfinite(value)) {
    fail(error, "rate out of range: " + quoted(text));
    return std::nullopt;
  }
  value *= multiplier;
  if (!std::isfinite(value)) {
    fail(error, "rate out of range: " + quoted(text));
    return std::nullopt;
  }
  if (value <= 0) {
    fail(error, "rate must be greater than zero: " + quoted(text));
    return std::nullopt;
  }
  return value;
}

std::optional<Comparison> parse_comparison(std::string_view text, ComparisonUnit unit,
                                           std::string* error) {
  Comparison c;
  c.text = std::string(text);
  std::string_view rest = text;
  if (rest.starts_with("<=")) {
    c.op = Comparison::kLessEq;
    rest.remove_prefix(2);
  } else if (rest.starts_with(">=")) {
    c.op = Comparison::kGreaterEq;
    rest.remove_prefix(2);
  } else if (rest.starts_with("<")) {
    c.op = Comparison::kLess;
    rest.remove_prefix(1);
  } else if (rest.starts_with(">")) {
    c.op = Comparison::kGreater;
    rest.remove_prefix(1);
  } else {
    const char* example = unit == ComparisonUnit::kDuration ? "'< 500us'" : "'> 1M/s'";
    fail(error, "comparison must start with <, <=, > or >= (e.g. " + std::string(example) +
                    "): " + quoted(text));
    return std::nullopt;
  }
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  if (unit == ComparisonUnit::kDuration) {
    const auto d = parse_duration(rest, error);
    if (!d) return std::nullopt;
    c.value = std::chrono::duration<double>(*d).count();
  } else {
    const auto r = parse_rate(rest, error);
    if (!r) return std::nullopt;
    c.value = *r;
  }
  return c;
}

}  // namespace shmcheck::harness
