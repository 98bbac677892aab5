#include "shmcheck/probes/message.hpp"

#include <xxhash.h>

#include <cstddef>
#include <cstring>
#include <limits>

#include "payload_mix.hpp"

namespace shmcheck::probes {
namespace {

using detail::payload_key;
using detail::payload_word;

constexpr std::size_t kChecksumOffset = offsetof(MessageHeader, checksum);
static_assert(kChecksumOffset == sizeof(MessageHeader) - sizeof(std::uint64_t));

bool payload_matches(std::span<const std::byte> payload, std::uint64_t seed, std::uint32_t producer,
                     std::uint64_t seq) noexcept {
  const std::uint64_t key = payload_key(seed, producer, seq);
  std::size_t i = 0;
  for (; (i + 1) * 8 <= payload.size(); ++i) {
    const std::uint64_t w = payload_word(key, i);
    if (std::memcmp(payload.data() + i * 8, &w, 8) != 0) return false;
  }
  const std::size_t tail = payload.size() - i * 8;
  if (tail != 0) {
    const std::uint64_t w = payload_word(key, i);
    if (std::memcmp(payload.data() + i * 8, &w, tail) != 0) return false;
  }
  return true;
}

}  // namespace

std::string_view to_string(MessageStatus status) noexcept {
  switch (status) {
    case MessageStatus::kOk:
      return "ok";
    case MessageStatus::kTorn:
      return "torn";
    case MessageStatus::kForeign:
      return "foreign";
  }
  return "unknown";
}

void fill_payload(std::span<std::byte> out, std::uint64_t seed, std::uint32_t producer,
                  std::uint64_t seq) noexcept {
  const std::uint64_t key = payload_key(seed, producer, seq);
  std::size_t i = 0;
  for (; (i + 1) * 8 <= out.size(); ++i) {
    const std::uint64_t w = payload_word(key, i);
    std::memcpy(out.data() + i * 8, &w, 8);
  }
  const std::size_t tail = out.size() - i * 8;
  if (tail != 0) {
    const std::uint64_t w = payload_word(key, i);
    std::memcpy(out.data() + i * 8, &w, tail);
  }
}

std::uint64_t message_checksum(const MessageHeader& header,
                               std::span<const std::byte> payload) noexcept {
  const XXH64_hash_t header_hash = XXH3_64bits(&header, kChecksumOffset);
  return XXH3_64bits_withSeed(payload.data(), payload.size(), header_hash);
}

bool encode_message(std::span<std::byte> out, std::uint64_t seed, std::uint32_t producer,
                    std::uint32_t incarnation, std::uint64_t seq, std::uint64_t send_ns) noexcept {
  if (out.size() < kMinMessageSize) return false;
  const std::size_t payload_len = out.size() - kMinMessageSize;
  if (payload_len > std::numeric_limits<std::uint32_t>::max()) return false;
  MessageHeader header{};
  header.producer = producer;
  header.incarnation = incarnation;
  header.seq = seq;
  header.len = static_cast<std::uint32_t>(payload_len);
  header.reserved = 0;
  header.send_tsc_or_ns = send_ns;
  const std::span<std::byte> payload = out.subspan(kMinMessageSize);
  fill_payload(payload, seed, producer, seq);
  header.checksum = message_checksum(header, payload);
  std::memcpy(out.data(), &header, sizeof(header));
  return true;
}

DecodedMessage verify_message(std::span<const std::byte> in, std::uint64_t seed) noexcept {
  DecodedMessage decoded;
  if (in.size() < kMinMessageSize) return decoded;  // torn, header zero
  std::memcpy(&decoded.header, in.data(), sizeof(MessageHeader));
  const std::span<const std::byte> payload = in.subspan(kMinMessageSize);
  if (decoded.header.len != payload.size()) return decoded;
  if (decoded.header.checksum != message_checksum(decoded.header, payload)) return decoded;
  if (decoded.header.reserved != 0 ||
      !payload_matches(payload, seed, decoded.header.producer, decoded.header.seq)) {
    decoded.status = MessageStatus::kForeign;
    return decoded;
  }
  decoded.status = MessageStatus::kOk;
  return decoded;
}

}  // namespace shmcheck::probes
