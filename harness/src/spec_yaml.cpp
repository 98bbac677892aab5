#include "spec_yaml.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/anchor.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <limits>
#include <sstream>

#include "shmcheck/core/posix_call.hpp"
#include "shmcheck/core/printable.hpp"
#include "shmcheck/harness/spec_loader.hpp"

namespace shmcheck::harness::detail {
namespace {

std::string errno_text(int err) {
  char buf[256];
  // GNU strerror_r returns the message pointer (possibly not buf).
  return ::strerror_r(err, buf, sizeof buf);
}

// Closes the fd on every path out of read_spec_bytes.
struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

std::string hex_byte(unsigned char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s = "0x";
  s += kHex[c >> 4U];
  s += kHex[c & 0xfU];
  return s;
}

// Length of the UTF-8 sequence at text[i], or 0 when it is not valid UTF-8
// (overlong forms, surrogates and code points above U+10FFFF are invalid).
std::size_t utf8_length(std::string_view text, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(text[i + k]); };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (i + n > text.size()) return 0;
  if (b(1) < lo || b(1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if (b(k) < 0x80 || b(k) > 0xbf) return 0;
  }
  return n;
}

bool check_bytes(std::string_view bytes, std::vector<Diag>& diags) {
  if (bytes.size() > kMaxSpecBytes) {
    diags.push_back({{},
                     "file is " + std::to_string(bytes.size()) +
                         " bytes; a spec may have at most 1 MiB (1048576 bytes)",
                     ""});
    return false;
  }
  if (bytes.empty()) {
    diags.push_back(
        {{}, "file is empty: a spec is a YAML mapping with name, objects and processes", ""});
    return false;
  }
  if (bytes.starts_with("\xEF\xBB\xBF")) {
    diags.push_back({{1, 1},
                     "file starts with a UTF-8 byte order mark (BOM); specs must be UTF-8 "
                     "without a BOM",
                     ""});
    return false;
  }
  int line = 1;
  int column = 1;
  for (std::size_t i = 0; i < bytes.size();) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c == '\n') {
      ++line;
      column = 1;
      ++i;
      continue;
    }
    if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f) {
      diags.push_back(
          {{line, column},
           "control byte " + hex_byte(c) + " is not allowed in a spec (only tab, LF and CR are)",
           ""});
      return false;
    }
    const std::size_t n = utf8_length(bytes, i);
    if (n == 0) {
      diags.push_back(
          {{line, column}, "invalid UTF-8 byte " + hex_byte(c) + ": specs must be UTF-8", ""});
      return false;
    }
    i += n;
    ++column;
  }
  return true;
}

SourceMark to_mark(const YAML::Mark& m) {
  if (m.is_null() || m.line < 0 || m.column < 0) return {};
  return {m.line + 1, m.column + 1};
}

// Thrown by the event handler to stop yaml-cpp on the first structural problem;
// the Diag is already recorded.
struct Abort {};

bool is_plain_int(std::string_view s) {
  std::size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  if (i == s.size()) return false;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

bool is_prefixed_int(std::string_view s, std::string_view prefix, int base) {
  if (!s.starts_with(prefix) || s.size() == prefix.size()) return false;
  for (char c : s.substr(prefix.size())) {
    int digit = -1;
    if (c >= '0' && c <= '9') digit = c - '0';
    if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
    if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
    if (digit < 0 || digit >= base) return false;
  }
  return true;
}

bool is_plain_float(std::string_view s) {
  std::size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  std::size_t digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    std::size_t exp_digits = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++exp_digits;
    if (exp_digits == 0) return false;
  }
  return i == s.size();
}

class TreeBuilder final : public YAML::EventHandler {
 public:
  TreeBuilder(Document& doc, std::vector<Diag>& diags, std::string_view text)
      : doc_(doc), diags_(diags), text_(text) {
    line_starts_.push_back(0);
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\n') line_starts_.push_back(i + 1);
    }
  }

  int documents() const { return documents_; }

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents_ > 1) {
      fail(to_mark(mark), "a spec holds exactly one YAML document; found a second one", "");
    }
  }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    check_anchor(mark, anchor);
    add(null_mark(mark), nlohmann::json(nullptr), false);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { alias_error(to_mark(mark)); }
  void OnAnchor(const YAML::Mark& mark, const std::string&) override { alias_error(to_mark(mark)); }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    check_anchor(mark, anchor);
    const SourceMark m = to_mark(mark);
    if (value.size() > kMaxScalarBytes) {
      fail(m,
           "value is " + std::to_string(value.size()) + " bytes long; at most " +
               std::to_string(kMaxScalarBytes) + " are allowed",
           "");
    }
    if (tag == "?") {
      add(mark, resolve_plain(value, m), true, value);
    } else if (tag == "!" || tag == "tag:yaml.org,2002:str") {
      add(mark, nlohmann::json(value), true, value);
    } else {
      tag_error(m, tag);
    }
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    check_anchor(mark, anchor);
    if (tag != "?" && !tag.empty()) tag_error(to_mark(mark), tag);
    open(mark, nlohmann::json::array());
  }
  void OnSequenceEnd() override { close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    check_anchor(mark, anchor);
    if (tag != "?" && !tag.empty()) tag_error(to_mark(mark), tag);
    open(mark, nlohmann::json::object());
  }
  void OnMapEnd() override { close(); }

 private:
  struct Frame {
    nlohmann::json* node;
    std::string pointer;
    bool expecting_key = true;  // maps alternate key, value
    std::string key;
    SourceMark key_mark;
  };

  // Where a null is. yaml-cpp marks an empty value (`name:` and nothing) where the next
  // token starts: the next line, or past the end of the file (`expect:` on the last
  // line read 8:1 of a 7-line file). A map's empty value is marked at its key, a
  // sequence's empty item at its '-'; an explicit null (~, null) where it is.
  SourceMark null_mark(const YAML::Mark& mark) const {
    if (mark.is_null() || mark.pos < 0 || explicit_null_at(static_cast<std::size_t>(mark.pos))) {
      return to_mark(mark);
    }
    if (!stack_.empty() && stack_.back().node->is_object() && !stack_.back().expecting_key) {
      return stack_.back().key_mark;
    }
    return indicator_before(mark).value_or(to_mark(mark));
  }
  // Whether a null is written at pos (~, null, Null, NULL, ending there), not implied
  // by an empty value (whose mark is the next token's: maybe a key named "null").
  bool explicit_null_at(std::size_t pos) const {
    for (const std::string_view word : {"~", "null", "Null", "NULL"}) {
      if (!text_.substr(pos).starts_with(word)) continue;
      std::size_t after = pos + word.size();
      while (after < text_.size() && (text_[after] == ' ' || text_[after] == '\t')) ++after;
      if (after == text_.size() ||
          std::string_view("\n\r,]}#").find(text_[after]) != std::string_view::npos) {
        return true;
      }
    }
    return false;
  }
  // The last character before the mark that is neither blank nor in a comment: the
  // indicator ('-', ':', ',') of an empty value. Linear over a file: blanks back to the
  // indicator on the mark's own line (no comment can sit between them); a line crossed
  // is one no later null crosses again (`[,,,,]` on one line cost its length per entry,
  // 20 s for 160k entries).
  std::optional<SourceMark> indicator_before(const YAML::Mark& mark) const {
    std::size_t i = std::min(text_.size(), static_cast<std::size_t>(std::max(0, mark.pos)));
    while (i > 0 && (text_[i - 1] == ' ' || text_[i - 1] == '\t' || text_[i - 1] == '\r')) --i;
    if (i == 0) return std::nullopt;
    int line = mark.line;
    if (text_[i - 1] != '\n') {
      if (line < 0 || static_cast<std::size_t>(line) >= line_starts_.size()) return std::nullopt;
      return SourceMark{line + 1,
                        static_cast<int>(i - line_starts_[static_cast<std::size_t>(line)])};
    }
    for (--line; line >= 0 && static_cast<std::size_t>(line) < line_starts_.size(); --line) {
      const std::size_t start = line_starts_[static_cast<std::size_t>(line)];
      std::string_view content = text_.substr(start, i - 1 - start);  // without its '\n'
      for (std::size_t k = 0; k < content.size(); ++k) {
        if (content[k] == '#' && (k == 0 || content[k - 1] == ' ' || content[k - 1] == '\t')) {
          content = content.substr(0, k);
          break;
        }
      }
      while (!content.empty() &&
             (content.back() == ' ' || content.back() == '\t' || content.back() == '\r')) {
        content.remove_suffix(1);
      }
      if (!content.empty()) return SourceMark{line + 1, static_cast<int>(content.size())};
      i = start;
    }
    return std::nullopt;
  }

  [[noreturn]] void fail(SourceMark mark, std::string message, std::string pointer) {
    diags_.push_back({mark, std::move(message), std::move(pointer)});
    throw Abort{};
  }
  [[noreturn]] void alias_error(SourceMark mark) {
    fail(mark, "YAML anchors (&) and aliases (*) are not allowed in specs (alias expansion tricks)",
         "");
  }
  [[noreturn]] void tag_error(SourceMark mark, const std::string& tag) {
    fail(mark, "YAML tag '" + tag.substr(0, 64) + "' is not supported (only !!str)", "");
  }
  void check_anchor(const YAML::Mark& mark, YAML::anchor_t anchor) {
    if (anchor != YAML::NullAnchor) alias_error(to_mark(mark));
  }

  nlohmann::json resolve_plain(const std::string& s, SourceMark mark) {
    if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
    // Not fatal: the node keeps its text and is reported once; the rest of the
    // file is still checked.
    bool bad = false;
    const auto out_of_range = [&] {
      diags_.push_back(
          {mark, "number " + s.substr(0, 40) + " is out of range (integers are -2^63 .. 2^64-1)",
           current_pointer()});
      bad = true;
    };
    if (is_plain_int(s)) {
      std::string_view digits = s;
      const bool negative = digits.front() == '-';
      if (digits.front() == '-' || digits.front() == '+') digits.remove_prefix(1);
      std::uint64_t v = 0;
      const auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
      if (ec != std::errc{}) out_of_range();
      if (!bad && negative &&
          v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) + 1) {
        out_of_range();
      }
      if (bad) return s;
      if (!negative) return v;
      return static_cast<std::int64_t>(0 - v);
    }
    for (const auto& [prefix, base] : {std::pair<std::string_view, int>{"0x", 16}, {"0o", 8}}) {
      if (is_prefixed_int(s, prefix, base)) {
        std::uint64_t v = 0;
        const auto [p, ec] =
            std::from_chars(s.data() + prefix.size(), s.data() + s.size(), v, base);
        if (ec != std::errc{}) out_of_range();
        if (bad) return s;
        return v;
      }
    }
    if (is_plain_float(s)) {
      double v = 0;
      // from_chars rejects a leading '+': parse the rest.
      const std::size_t skip = s[0] == '+' ? 1 : 0;
      const auto [p, ec] = std::from_chars(s.data() + skip, s.data() + s.size(), v);
      if (ec != std::errc{} || p != s.data() + s.size()) out_of_range();
      if (bad) return s;
      return v;
    }
    return s;
  }

  std::string current_pointer() const {
    if (stack_.empty()) return "";
    const Frame& f = stack_.back();
    if (f.node->is_object()) return f.expecting_key ? f.pointer : child_pointer(f.pointer, f.key);
    return child_pointer(f.pointer, f.node->size());
  }

  // Places `value` where the parser is: root, next array element, map key or value.
  // Returns the stored node (nullptr when it was a key).
  nlohmann::json* add(const YAML::Mark& ymark, nlohmann::json value, bool is_scalar,
                      const std::string& text = {}) {
    return add(to_mark(ymark), std::move(value), is_scalar, text);
  }
  nlohmann::json* add(const SourceMark mark, nlohmann::json value, bool is_scalar,
                      const std::string& text = {}) {
    if (stack_.empty()) {
      if (have_root_) fail(mark, "a spec holds exactly one YAML document", "");
      have_root_ = true;
      doc_.root = std::move(value);
      doc_.value_marks[""] = mark;
      return &doc_.root;
    }
    Frame& f = stack_.back();
    if (f.node->is_array()) {
      const std::string ptr = child_pointer(f.pointer, f.node->size());
      f.node->push_back(std::move(value));
      doc_.value_marks[ptr] = mark;
      return &f.node->back();
    }
    if (f.expecting_key) {
      if (!is_scalar || value.is_null()) {
        fail(mark, "mapping keys must be plain strings", f.pointer);
      }
      f.key = text;
      f.key_mark = mark;
      f.expecting_key = false;
      const std::string ptr = child_pointer(f.pointer, f.key);
      if (f.node->contains(f.key)) {
        const SourceMark first = doc_.key_marks[ptr];
        diags_.push_back({mark,
                          "duplicate key '" + f.key.substr(0, 64) + "' (first at line " +
                              std::to_string(first.line) + ":" + std::to_string(first.column) + ")",
                          ptr});
        f.node->erase(f.key);
      } else {
        doc_.key_marks[ptr] = mark;
      }
      return nullptr;
    }
    const std::string ptr = child_pointer(f.pointer, f.key);
    f.expecting_key = true;
    auto& slot = (*f.node)[f.key];
    slot = std::move(value);
    doc_.value_marks[ptr] = mark;
    return &slot;
  }

  void open(const YAML::Mark& mark, nlohmann::json empty) {
    if (static_cast<int>(stack_.size()) >= kMaxSpecDepth) {
      fail(to_mark(mark),
           "nesting deeper than " + std::to_string(kMaxSpecDepth) + " levels is not allowed", "");
    }
    const std::string ptr = stack_.empty() ? std::string() : current_pointer();
    if (!stack_.empty() && stack_.back().node->is_object() && stack_.back().expecting_key) {
      fail(to_mark(mark), "mapping keys must be plain strings", stack_.back().pointer);
    }
    nlohmann::json* node = add(mark, std::move(empty), false);
    stack_.push_back(Frame{node, ptr, true, {}, {}});
  }

  void close() { stack_.pop_back(); }

  Document& doc_;
  std::vector<Diag>& diags_;
  std::string_view text_;                 // the spec's bytes, for the marks of empty values
  std::vector<std::size_t> line_starts_;  // byte offset of each line (yaml-cpp's lines)
  std::vector<Frame> stack_;
  int documents_ = 0;
  bool have_root_ = false;
};

}  // namespace

std::string child_pointer(const std::string& parent, std::string_view key) {
  std::string out = parent;
  out += '/';
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

std::string child_pointer(const std::string& parent, std::size_t index) {
  return parent + "/" + std::to_string(index);
}

std::optional<std::string> read_spec_bytes(const std::string& path, std::vector<Diag>& diags) {
  const auto file_error = [&](std::string message) {
    diags.push_back({{}, std::move(message), ""});
    return std::nullopt;
  };
  if (path.find('\0') != std::string::npos) return file_error("path contains a NUL byte");
  // O_NONBLOCK: opening a FIFO with no writer must not block; we refuse it below.
  auto opened = core::posix_call(
      "open", [&] { return ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY); });
  if (!opened) return file_error("cannot open: " + errno_text(opened.error().sys_errno));
  const FdCloser closer{*opened};
  struct stat st {};
  if (auto r = core::posix_call("fstat", [&] { return ::fstat(closer.fd, &st); }); !r) {
    return file_error("cannot stat: " + errno_text(r.error().sys_errno));
  }
  if (S_ISDIR(st.st_mode)) return file_error("is a directory, not a spec file");
  if (S_ISFIFO(st.st_mode)) return file_error("is a FIFO, not a regular file; refusing to read it");
  if (!S_ISREG(st.st_mode)) return file_error("is not a regular file");
  if (static_cast<std::uint64_t>(st.st_size) > kMaxSpecBytes) {
    return file_error("file is " + std::to_string(st.st_size) +
                      " bytes; a spec may have at most 1 MiB (1048576 bytes)");
  }
  std::string bytes;
  // One byte more than the limit: a file that grew after fstat is still caught.
  bytes.resize(kMaxSpecBytes + 1);
  std::size_t used = 0;
  while (used < bytes.size()) {
    auto n = core::posix_call(
        "read", [&] { return ::read(closer.fd, bytes.data() + used, bytes.size() - used); });
    if (!n) return file_error("cannot read: " + errno_text(n.error().sys_errno));
    if (*n == 0) break;
    used += static_cast<std::size_t>(*n);
  }
  bytes.resize(used);
  return bytes;
}

namespace {

// yaml-cpp counts columns in bytes; editors, and the schema's lengths, in characters:
// an error after an 'é' was a column off. Maps a mark of yaml-cpp's to characters
// (check_bytes counts characters itself, and has passed the text as UTF-8).
class CharacterColumns {
 public:
  // An ASCII text needs no conversion; another counts its characters once, up to each
  // byte (a mark's column was counted from its line's start, per mark: 31 s for 60k
  // nodes on one line after an 'é').
  explicit CharacterColumns(std::string_view text) {
    if (std::ranges::all_of(text, [](char c) { return static_cast<unsigned char>(c) < 0x80U; })) {
      return;
    }
    line_starts_.push_back(0);
    chars_before_.reserve(text.size() + 1);
    std::uint32_t chars = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
      chars_before_.push_back(chars);
      if ((static_cast<unsigned char>(text[i]) & 0xC0U) != 0x80U) ++chars;
      if (text[i] == '\n') line_starts_.push_back(i + 1);
    }
    chars_before_.push_back(chars);
  }
  void convert(SourceMark& m) const {
    if (chars_before_.empty() || m.line <= 0 || m.column <= 1 ||
        static_cast<std::size_t>(m.line) > line_starts_.size()) {
      return;
    }
    const std::size_t start = line_starts_[static_cast<std::size_t>(m.line) - 1];
    const std::size_t end =
        std::min(chars_before_.size() - 1, start + static_cast<std::size_t>(m.column) - 1);
    m.column = static_cast<int>(chars_before_[end] - chars_before_[start]) + 1;
  }

 private:
  std::vector<std::size_t> line_starts_;
  std::vector<std::uint32_t> chars_before_;  // characters in text[0, i)
};

// What most often lies behind yaml-cpp's terse syntax errors, when the text shows it:
// a tab in an indentation ("illegal block entry") or old Mac line endings, CR alone,
// which make the whole file one line ("1:15: illegal map value").
std::string line_ending_hint(std::string_view bytes) {
  const auto cr = bytes.find('\r');
  if (cr != std::string_view::npos && (cr + 1 == bytes.size() || bytes[cr + 1] != '\n')) {
    return " (the file's lines end in CR alone, old Mac style: YAML needs LF or CR LF)";
  }
  return "";
}

std::string syntax_hint(std::string_view bytes, const YAML::Mark& mark) {
  if (auto hint = line_ending_hint(bytes); !hint.empty()) return hint;
  if (mark.is_null() || mark.pos < 0) return "";
  // The indentation of the error's line, and of the line before it (yaml-cpp may stop
  // at the token after the tab).
  const auto pos = std::min(bytes.size(), static_cast<std::size_t>(mark.pos));
  const auto line_start = [&](std::size_t at) {
    const auto nl = at == 0 ? std::string_view::npos : bytes.rfind('\n', at - 1);
    return nl == std::string_view::npos ? std::size_t{0} : nl + 1;
  };
  const std::size_t here = line_start(pos);
  for (const std::size_t start : {here, here == 0 ? here : line_start(here - 1)}) {
    for (std::size_t i = start; i < bytes.size() && (bytes[i] == ' ' || bytes[i] == '\t'); ++i) {
      if (bytes[i] == '\t') return " (a tab in the indentation: YAML indents with spaces only)";
    }
  }
  return "";
}

std::optional<Document> parse_yaml_bytes(std::string_view bytes, std::vector<Diag>& diags) {
  Document doc;
  try {
    std::istringstream in{std::string(bytes)};
    YAML::Parser parser(in);
    TreeBuilder builder(doc, diags, bytes);
    // A second document is reported by OnDocumentStart; keep asking until the
    // stream ends so "a: 1\n---\nb: 2" is caught.
    while (parser.HandleNextDocument(builder)) {
    }
    if (builder.documents() == 0) {
      diags.push_back({{},
                       "no YAML document: the file holds only comments or blank lines" +
                           line_ending_hint(bytes),
                       ""});
      return std::nullopt;
    }
  } catch (const Abort&) {
    return std::nullopt;
  } catch (const YAML::Exception& e) {
    diags.push_back(
        {to_mark(e.mark), "YAML syntax error: " + e.msg + syntax_hint(bytes, e.mark), ""});
    return std::nullopt;
  }
  if (!doc.root.is_object()) {
    const char* what = doc.root.is_array()  ? "a sequence"
                       : doc.root.is_null() ? "empty"
                                            : "a scalar";
    diags.push_back({doc.value_marks[""],
                     std::string("top level is ") + what +
                         "; a spec is a mapping with name, objects and processes",
                     ""});
    return std::nullopt;
  }
  return doc;
}

}  // namespace

std::optional<Document> parse_spec_yaml(std::string_view bytes, std::vector<Diag>& diags) {
  if (!check_bytes(bytes, diags)) return std::nullopt;
  const std::size_t before = diags.size();
  auto doc = parse_yaml_bytes(bytes, diags);
  const CharacterColumns columns(bytes);
  for (std::size_t i = before; i < diags.size(); ++i) columns.convert(diags[i].mark);
  if (doc) {
    for (auto* marks : {&doc->value_marks, &doc->key_marks}) {
      for (auto& [pointer, mark] : *marks) columns.convert(mark);
    }
  }
  return doc;
}

}  // namespace shmcheck::harness::detail
