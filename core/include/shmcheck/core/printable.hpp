// Text from outside the program (object and file names, spec values) made safe to show:
// a terminal must not take a name's bytes for escape sequences, and JSON and XML carry
// only valid UTF-8.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace shmcheck::core {

// Length of the valid UTF-8 sequence starting at text[i] (1 for ASCII), or 0 when the
// bytes there are not one (a stray continuation byte, an overlong or truncated form).
[[nodiscard]] std::size_t utf8_sequence_length(std::string_view text, std::size_t i) noexcept;

// Characters in `text`: its bytes that do not continue a UTF-8 sequence (a column in an
// editor, the width of a label).
[[nodiscard]] std::size_t utf8_characters(std::string_view text) noexcept;

// `text` with control bytes (below 0x20, and 0x7f), bytes that are not valid UTF-8, and
// the bytes of characters that steer a terminal or the layout without showing (C1
// controls such as U+009B, an 8-bit CSI; bidirectional overrides, embeddings, isolates
// and marks; the line and paragraph separators) written as \xNN; other valid UTF-8 is
// kept. "a\x1b[31m" prints as the nine characters a\x1b[31m, not as a switch to red.
// Applied twice it changes nothing more (a message made of printable parts stays as it is).
[[nodiscard]] std::string printable(std::string_view text);

// printable(), and a backslash written \\: for a name that must read back one way (the
// audit's table), where the name a\x0ab, six bytes, printed as the name a<newline>b did
// and could pose as it. Not for text printable() was applied to already.
[[nodiscard]] std::string printable_name(std::string_view text);

}  // namespace shmcheck::core
