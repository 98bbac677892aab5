#include "shmcheck/probes/segment_page.hpp"

#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t on the stack: no allocation while writing
#include <xxhash.h>

#include <atomic>
#include <cassert>
#include <cstring>

#include "payload_mix.hpp"
#include "shmcheck/core/failpoint.hpp"

namespace shmcheck::probes {
namespace {

constexpr std::size_t kWord = sizeof(std::uint64_t);

PageHeader& header_of(std::byte* page) noexcept {
  return *std::launder(reinterpret_cast<PageHeader*>(page));
}

std::uint64_t* words_of(std::byte* page) noexcept {
  return std::launder(reinterpret_cast<std::uint64_t*>(page + sizeof(PageHeader)));
}

// A page's payload key: pages reuse the message mixer with (writer, generation).
std::uint64_t page_key(std::uint64_t seed, std::uint32_t writer,
                       std::uint64_t generation) noexcept {
  return detail::payload_key(seed ^ 0x5041'4745ULL, writer, generation);  // "PAGE"
}

void assert_page(std::span<const std::byte> page) noexcept {
  assert(page.size() >= kMinPageSize && page.size() % 64 == 0 && "page size");
  assert(reinterpret_cast<std::uintptr_t>(page.data()) % 64 == 0 && "page alignment");
  static_cast<void>(page);
}

}  // namespace

std::string_view to_string(PageReadStatus status) noexcept {
  switch (status) {
    case PageReadStatus::kOk:
      return "ok";
    case PageReadStatus::kEmpty:
      return "empty";
    case PageReadStatus::kBusy:
      return "busy";
    case PageReadStatus::kTorn:
      return "torn";
  }
  return "unknown";
}

PageWriteResult write_page(std::span<std::byte> page, std::uint64_t seed,
                           std::uint32_t writer) noexcept {
  assert_page(page);
  PageHeader& header = header_of(page.data());
  std::uint64_t* words = words_of(page.data());
  const std::size_t n = (page.size() - sizeof(PageHeader)) / kWord;

  PageWriteResult result;
  const std::uint64_t g = header.generation.load(std::memory_order_acquire);
  result.repaired = (g & 1U) != 0;  // a writer died between its odd and even stores
  const std::uint64_t odd = result.repaired ? g + 2 : g + 1;
  result.generation = odd + 1;

  // No standalone fences (TSan cannot model them): every payload store is a release,
  // so no reader can see a new word without also seeing the odd generation before it;
  // every reader load is an acquire, so the second generation load cannot move up.
  // On x86 both are plain moves.
  header.generation.store(odd, std::memory_order_relaxed);
  const std::uint64_t key = page_key(seed, writer, result.generation);
  for (std::size_t i = 0; i < n; ++i) {
    if (i == n / 2) core::failpoint(core::FailpointId::kSegmentWriteMidPage);
    std::atomic_ref<std::uint64_t>(words[i]).store(detail::payload_word(key, i),
                                                   std::memory_order_release);
  }
  // Only this writer writes the page now, so hashing what it just stored is race-free
  // with respect to writes; readers only read.
  std::uint64_t checksum = 0;
  {
    XXH3_state_t state;
    XXH3_64bits_reset_withSeed(&state, result.generation);
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t w =
          std::atomic_ref<std::uint64_t>(words[i]).load(std::memory_order_relaxed);
      XXH3_64bits_update(&state, &w, kWord);
    }
    checksum = XXH3_64bits_digest(&state);
  }
  header.checksum.store(checksum, std::memory_order_release);
  header.writer.store(writer, std::memory_order_release);
  header.len.store(static_cast<std::uint32_t>(n * kWord), std::memory_order_release);
  header.generation.store(result.generation, std::memory_order_release);
  return result;
}

PageReadResult read_page(std::span<const std::byte> page, std::uint64_t seed,
                         std::span<std::byte> scratch) noexcept {
  assert_page(page);
  const std::size_t payload = page.size() - sizeof(PageHeader);
  assert(scratch.size() >= payload && "scratch smaller than the payload");
  // Readers never write: the casts only let atomic_ref (which needs non-const) load.
  auto* bytes = const_cast<std::byte*>(page.data());
  PageHeader& header = header_of(bytes);
  std::uint64_t* words = words_of(bytes);
  const std::size_t n = payload / kWord;

  PageReadResult result;
  const std::uint64_t g1 = header.generation.load(std::memory_order_acquire);
  result.generation = g1;
  if (g1 == 0) return result;  // kEmpty
  if ((g1 & 1U) != 0) {
    result.status = PageReadStatus::kBusy;
    return result;
  }
  const std::uint64_t checksum = header.checksum.load(std::memory_order_acquire);
  const std::uint32_t writer = header.writer.load(std::memory_order_acquire);
  const std::uint32_t len = header.len.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t w =
        std::atomic_ref<std::uint64_t>(words[i]).load(std::memory_order_acquire);
    std::memcpy(scratch.data() + i * kWord, &w, kWord);
  }
  if (header.generation.load(std::memory_order_relaxed) != g1) {
    result.status = PageReadStatus::kBusy;
    return result;
  }
  result.writer = writer;
  // A consistent copy: it must verify (length, checksum, content).
  bool ok = len == n * kWord && XXH3_64bits_withSeed(scratch.data(), n * kWord, g1) == checksum;
  const std::uint64_t key = page_key(seed, writer, g1);
  for (std::size_t i = 0; ok && i < n; ++i) {
    const std::uint64_t w = detail::payload_word(key, i);
    ok = std::memcmp(scratch.data() + i * kWord, &w, kWord) == 0;
  }
  result.status = ok ? PageReadStatus::kOk : PageReadStatus::kTorn;
  return result;
}

}  // namespace shmcheck::probes
