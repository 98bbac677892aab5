// Segment pages: the writer/reader workload's unit of shared data, with a seqlock.
//
// A page is `page_size` bytes in a raw segment (page_size a multiple of 64, at least
// kMinPageSize): a 64-byte PageHeader, then the payload. The payload is derived from
// (seed, writer, generation) like a message payload, and covered by an XXH3 checksum.
//
// Protocol (a seqlock; any number of readers, writers serialized per page by the
// workload, e.g. one writer per page): the writer makes the generation odd, writes
// payload and checksum with release stores, then makes it even (release). Readers
// read the generation (acquire), copy payload and checksum with acquire loads, and
// re-read the generation: equal and even means a consistent copy, which must then
// verify. A page left odd by a dead writer is completed by the next writer (counted
// as a repair). Payload words are accessed through std::atomic_ref<uint64_t>, so the
// race a seqlock tolerates is not undefined behaviour; no standalone fences, so TSan
// checks it (on x86 release stores and acquire loads are plain moves).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace shmcheck::probes {

struct alignas(64) PageHeader {
  std::atomic<std::uint64_t> generation;  // even: stable; odd: a write in progress
  std::atomic<std::uint64_t> checksum;    // XXH3-64 of payload, seeded with generation
  std::atomic<std::uint32_t> writer;      // writer index of the last write
  std::atomic<std::uint32_t> len;         // payload bytes
};
static_assert(sizeof(PageHeader) == 64);

inline constexpr std::size_t kMinPageSize = 128;

enum class PageReadStatus : std::uint8_t {
  kOk,     // consistent copy, checksum and content verified
  kEmpty,  // never written (generation 0)
  kBusy,   // a write was in progress or happened during the read: retry
  kTorn,   // consistent (stable even generation) but does not verify: a bug
};
[[nodiscard]] std::string_view to_string(PageReadStatus status) noexcept;

struct PageWriteResult {
  std::uint64_t generation = 0;  // the new, even generation
  bool repaired = false;         // the page had been left odd by a dead writer
};

struct PageReadResult {
  PageReadStatus status = PageReadStatus::kEmpty;
  std::uint64_t generation = 0;
  std::uint32_t writer = 0;
};

// The page must be 64-byte aligned and page.size() % 64 == 0, >= kMinPageSize (asserted).
// Fires core failpoint segment.write.mid_page after half of the payload is written.
PageWriteResult write_page(std::span<std::byte> page, std::uint64_t seed,
                           std::uint32_t writer) noexcept;

// Copies the page out (scratch.size() >= page.size() - sizeof(PageHeader), asserted).
[[nodiscard]] PageReadResult read_page(std::span<const std::byte> page, std::uint64_t seed,
                                       std::span<std::byte> scratch) noexcept;

}  // namespace shmcheck::probes
