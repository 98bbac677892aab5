// SegmentHeader: the first 256 bytes of every segment shmcheck creates.
//
// It lets anyone who can read the object (the auditor, a later run, a person with
// xxd) attribute it positively: which run made it, which object of the spec it is,
// and which process created it (pid + start time, so pid reuse is detected).
// Written once by the creator before any other process can see the name's content
// as valid: every field first, then `magic` with a release store. Readers load
// `magic` with acquire and ignore the rest unless it matches. Never changes after.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "shmcheck/core/process_identity.hpp"

namespace shmcheck::core {

inline constexpr std::uint64_t kSegmentMagic =
    0x3130'4B43'484D'5348ULL;  // "SHMCHK01" little-endian
inline constexpr std::uint32_t kLayoutVersion = 1;
inline constexpr std::size_t kSegmentHeaderSize = 256;
inline constexpr std::size_t kCacheLineSize = 64;
inline constexpr std::size_t kRunIdLength = 16;          // hex characters
inline constexpr std::size_t kMaxObjectNameLength = 48;  // spec object names

// What a segment holds. Stable numbers: they are stored in segments.
enum class ObjectKind : std::uint32_t {
  kRaw = 1,        // plain pages (writer/reader workloads)
  kMutex = 2,      // RobustMutex + protected record
  kSemaphore = 3,  // POSIX unnamed semaphore (+ bounded buffer)
  kSpscRing = 4,
  kMpmcRing = 5,
  kControl = 6,  // the harness's control segment (ledgers, stats, schedule)
  kTest = 7,     // made by tests and helpers
};

[[nodiscard]] const char* to_string(ObjectKind kind) noexcept;

struct SegmentHeader {
  std::atomic<std::uint64_t> magic;  // kSegmentMagic once the header is complete
  std::uint32_t layout_version;
  ObjectKind kind;
  ProcessIdentity creator;
  std::uint64_t created_unix_ns;  // CLOCK_REALTIME at creation
  std::uint64_t total_size;       // bytes mapped, header included
  std::uint64_t payload_offset;   // kSegmentHeaderSize: payload starts cache-aligned
  std::uint64_t payload_size;
  char run_id[kRunIdLength + 1];               // NUL-terminated hex
  char object_name[kMaxObjectNameLength + 1];  // NUL-terminated
  char reserved[kSegmentHeaderSize - 8 - 4 - 4 - 16 - 8 - 8 - 8 - 8 - (kRunIdLength + 1) -
                (kMaxObjectNameLength + 1)];
};
static_assert(sizeof(SegmentHeader) == kSegmentHeaderSize);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

// A header read out of a segment (for the auditor): plain copy, magic verified.
struct SegmentHeaderInfo {
  ObjectKind kind = ObjectKind::kRaw;
  std::uint32_t layout_version = 0;
  ProcessIdentity creator{};
  std::uint64_t created_unix_ns = 0;
  std::uint64_t total_size = 0;
  std::string run_id;
  std::string object_name;
};

// Decodes a header from raw bytes (at least kSegmentHeaderSize). Fails with kForeign
// when the magic does not match, kCorrupt when strings are not terminated.
[[nodiscard]] Result<SegmentHeaderInfo> decode_segment_header(const void* bytes,
                                                              std::size_t size) noexcept;

// Names. POSIX segments are "/shmcheck.<uid>.<run-id>.<object>"; SysV keys and
// memfd names carry the same string so every backing is attributed the same way.
inline constexpr std::string_view kNamePrefix = "shmcheck.";

// A new unpredictable run id: kRunIdLength hex characters from getrandom(2).
[[nodiscard]] std::string new_run_id();

// "/shmcheck.<uid>.<run_id>.<object>". object must be a valid object name.
[[nodiscard]] std::string segment_name(unsigned uid, std::string_view run_id,
                                       std::string_view object);

// Valid object names: 1..kMaxObjectNameLength of [A-Za-z0-9_-], not starting with '-'.
[[nodiscard]] bool is_valid_object_name(std::string_view name) noexcept;

struct ParsedSegmentName {
  unsigned uid = 0;
  std::string run_id;
  std::string object;
};
// Parses a name with or without the leading '/'. Empty optional-like result on mismatch.
[[nodiscard]] Result<ParsedSegmentName> parse_segment_name(std::string_view name);

}  // namespace shmcheck::core
