#include "shmcheck/reports/xml.hpp"

#include <array>
#include <cstdio>

namespace shmcheck::reports {
namespace {

// Length of a valid UTF-8 sequence starting at text[i], or 0 when invalid.
std::size_t utf8_length(std::string_view text, std::size_t i) {
  const auto b0 = static_cast<unsigned char>(text[i]);
  std::size_t len = 0;
  if (b0 < 0x80) return 1;
  if ((b0 & 0xE0U) == 0xC0 && b0 >= 0xC2)
    len = 2;
  else if ((b0 & 0xF0U) == 0xE0)
    len = 3;
  else if ((b0 & 0xF8U) == 0xF0 && b0 <= 0xF4)
    len = 4;
  else
    return 0;
  if (i + len > text.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    if ((static_cast<unsigned char>(text[i + k]) & 0xC0U) != 0x80) return 0;
  }
  return len;
}

}  // namespace

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 16);
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    switch (c) {
      case '&':
        out += "&amp;";
        ++i;
        continue;
      case '<':
        out += "&lt;";
        ++i;
        continue;
      case '>':
        out += "&gt;";
        ++i;
        continue;
      case '"':
        out += "&quot;";
        ++i;
        continue;
      case '\'':
        out += "&apos;";
        ++i;
        continue;
      default:
        break;
    }
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 && c != '\t' && c != '\n' && c != '\r') {
      std::array<char, 8> buf{};
      std::snprintf(buf.data(), buf.size(), "\\x%02x", byte);
      out += buf.data();
      ++i;
      continue;
    }
    const std::size_t len = utf8_length(text, i);
    if (len == 0) {
      std::array<char, 8> buf{};
      std::snprintf(buf.data(), buf.size(), "\\x%02x", byte);
      out += buf.data();
      ++i;
      continue;
    }
    out.append(text.substr(i, len));
    i += len;
  }
  return out;
}

}  // namespace shmcheck::reports
