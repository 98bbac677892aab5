#include "shmcheck/core/printable.hpp"

#include <algorithm>

namespace shmcheck::core {

std::size_t utf8_characters(std::string_view text) noexcept {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0U) != 0x80U;
  }));
}

namespace {

// The code point of the `len`-byte sequence at text[i] (its continuation bytes checked).
char32_t decode(std::string_view text, std::size_t i, std::size_t len) noexcept {
  static constexpr unsigned kLeadBits[] = {0, 0x7F, 0x1F, 0x0F, 0x07};
  char32_t cp = static_cast<unsigned char>(text[i]) & kLeadBits[len];
  for (std::size_t k = 1; k < len; ++k) {
    cp = (cp << 6U) | (static_cast<unsigned char>(text[i + k]) & 0x3FU);
  }
  return cp;
}

// Characters that steer a terminal or the text's layout without showing: C1 controls
// (U+009B is an 8-bit CSI, as ESC [ is), bidirectional embeddings, overrides and isolates
// (U+202E shows a name backwards), and the line and paragraph separators.
bool steers_the_display(char32_t cp) noexcept {
  return (cp >= 0x80 && cp <= 0x9F) || (cp >= 0x202A && cp <= 0x202E) ||
         (cp >= 0x2066 && cp <= 0x2069) || cp == 0x2028 || cp == 0x2029 || cp == 0x200E ||
         cp == 0x200F || cp == 0x061C;
}

}  // namespace

std::size_t utf8_sequence_length(std::string_view text, std::size_t i) noexcept {
  const auto b0 = static_cast<unsigned char>(text[i]);
  if (b0 < 0x80) return 1;
  std::size_t len = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if ((b0 & 0xF0U) == 0xE0) {
    len = 3;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
  } else {
    return 0;
  }
  if (i + len > text.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    if ((static_cast<unsigned char>(text[i + k]) & 0xC0U) != 0x80) return 0;
  }
  // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
  const char32_t cp = decode(text, i, len);
  if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
      (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) {
    return 0;
  }
  return len;
}

namespace {

std::string escape(std::string_view text, bool double_backslash) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    const std::size_t len = (c < 0x20 || c == 0x7f) ? 0 : utf8_sequence_length(text, i);
    const std::size_t escaped = len > 1 && steers_the_display(decode(text, i, len)) ? len : 0;
    if (c == '\\' && double_backslash) {
      out += "\\\\";
      ++i;
    } else if (len == 0 || escaped != 0) {
      for (std::size_t k = 0; k < std::max<std::size_t>(escaped, 1); ++k) {
        const auto b = static_cast<unsigned char>(text[i + k]);
        out += "\\x";
        out += kHex[b >> 4U];
        out += kHex[b & 0xfU];
      }
      i += std::max<std::size_t>(escaped, 1);
    } else {
      out.append(text, i, len);
      i += len;
    }
  }
  return out;
}

}  // namespace

std::string printable(std::string_view text) { return escape(text, false); }

std::string printable_name(std::string_view text) { return escape(text, true); }

}  // namespace shmcheck::core
