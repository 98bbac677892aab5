#include "shmcheck/core/segment_header.hpp"

#include <sys/random.h>

#include <array>
#include <charconv>
#include <cstring>

#include "shmcheck/core/posix_call.hpp"

namespace shmcheck::core {

const char* to_string(ObjectKind kind) noexcept {
  switch (kind) {
    case ObjectKind::kRaw:
      return "raw";
    case ObjectKind::kMutex:
      return "mutex";
    case ObjectKind::kSemaphore:
      return "semaphore";
    case ObjectKind::kSpscRing:
      return "spsc_ring";
    case ObjectKind::kMpmcRing:
      return "mpmc_ring";
    case ObjectKind::kControl:
      return "control";
    case ObjectKind::kTest:
      return "test";
  }
  return "unknown";
}

Result<SegmentHeaderInfo> decode_segment_header(const void* bytes, std::size_t size) noexcept {
  if (size < kSegmentHeaderSize)
    return make_error(ErrorCode::kForeign, "decode header", "too small");
  const auto* h = static_cast<const SegmentHeader*>(bytes);
  if (h->magic.load(std::memory_order_acquire) != kSegmentMagic) {
    return make_error(ErrorCode::kForeign, "decode header", "no shmcheck magic");
  }
  if (std::memchr(h->run_id, '\0', sizeof h->run_id) == nullptr ||
      std::memchr(h->object_name, '\0', sizeof h->object_name) == nullptr) {
    return make_error(ErrorCode::kCorrupt, "decode header", "unterminated string");
  }
  // Anyone can write a file that starts with the magic: the run id and object name
  // are printed and matched, so they must be names of the form shmcheck writes.
  if (!is_valid_object_name(h->run_id) || !is_valid_object_name(h->object_name)) {
    return make_error(ErrorCode::kCorrupt, "decode header", "run id or object name is not a name");
  }
  SegmentHeaderInfo info;
  info.kind = h->kind;
  info.layout_version = h->layout_version;
  info.creator = h->creator;
  info.created_unix_ns = h->created_unix_ns;
  info.total_size = h->total_size;
  info.run_id = h->run_id;
  info.object_name = h->object_name;
  return info;
}

std::string new_run_id() {
  std::array<unsigned char, kRunIdLength / 2> raw{};
  std::size_t got = 0;
  while (got < raw.size()) {
    const auto n = ::getrandom(raw.data() + got, raw.size() - got, 0);
    if (n > 0) got += static_cast<std::size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(kRunIdLength);
  for (const unsigned char byte : raw) {
    out.push_back(kHex[byte >> 4U]);
    out.push_back(kHex[byte & 0xFU]);
  }
  return out;
}

bool is_valid_object_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > kMaxObjectNameLength || name.front() == '-') return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string segment_name(unsigned uid, std::string_view run_id, std::string_view object) {
  std::string out = "/";
  out += kNamePrefix;
  out += std::to_string(uid);
  out += '.';
  out += run_id;
  out += '.';
  out += object;
  return out;
}

Result<ParsedSegmentName> parse_segment_name(std::string_view name) {
  if (name.starts_with('/')) name.remove_prefix(1);
  if (!name.starts_with(kNamePrefix)) return make_error(ErrorCode::kForeign, "parse name");
  name.remove_prefix(kNamePrefix.size());
  const auto dot1 = name.find('.');
  if (dot1 == std::string_view::npos) return make_error(ErrorCode::kForeign, "parse name");
  ParsedSegmentName out;
  const auto uid_text = name.substr(0, dot1);
  auto [ptr, ec] = std::from_chars(uid_text.data(), uid_text.data() + uid_text.size(), out.uid);
  if (ec != std::errc{} || ptr != uid_text.data() + uid_text.size() || uid_text.empty()) {
    return make_error(ErrorCode::kForeign, "parse name");
  }
  name.remove_prefix(dot1 + 1);
  const auto dot2 = name.find('.');
  if (dot2 != kRunIdLength) return make_error(ErrorCode::kForeign, "parse name");
  out.run_id = std::string(name.substr(0, dot2));
  for (const char c : out.run_id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return make_error(ErrorCode::kForeign, "parse name");
    }
  }
  out.object = std::string(name.substr(dot2 + 1));
  if (!is_valid_object_name(out.object)) return make_error(ErrorCode::kForeign, "parse name");
  return out;
}

}  // namespace shmcheck::core
