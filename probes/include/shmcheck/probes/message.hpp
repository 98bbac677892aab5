// The wire format of a ring message, and how producers encode and consumers verify it.
//
// A message is one MessageHeader followed by `len` payload bytes. The payload is a
// pure function of (seed, producer, seq), so a consumer can verify not only that the
// bytes are intact (checksum) but that they are the bytes this run's producer meant
// to send (content). Plain bytes: safe in shared memory, no pointers, no ordering
// promises of its own (the ring's publishing store orders it).
//
// Checksum: XXH3-64 of the payload, seeded with XXH3-64 of the header bytes before
// `checksum` (producer .. send_tsc_or_ns). So every header field and every payload
// byte is covered, without copying header and payload into one buffer.
//
// Size: a message is at least kMinMessageSize (= sizeof(MessageHeader), 40) bytes;
// a spec whose message_size is below kMinMessageSize is a spec error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace shmcheck::probes {

struct MessageHeader {
  std::uint32_t producer;        // producer index in the run (role-local, 0-based)
  std::uint32_t incarnation;     // restart count of that producer (0 = first process)
  std::uint64_t seq;             // 1-based, per (producer, incarnation)
  std::uint32_t len;             // payload bytes after the header
  std::uint32_t reserved;        // 0
  std::uint64_t send_tsc_or_ns;  // intended send time (CLOCK_MONOTONIC ns), for latency
  std::uint64_t checksum;        // see the banner
};
static_assert(sizeof(MessageHeader) == 40);
static_assert(alignof(MessageHeader) == 8);

// The smallest message a spec may declare (its message_size); the header alone.
inline constexpr std::size_t kMinMessageSize = sizeof(MessageHeader);

enum class MessageStatus : std::uint8_t {
  kOk,       // checksum and content match
  kTorn,     // shorter than a header, len disagrees with the size, or checksum mismatch
  kForeign,  // intact (checksum ok) but the payload is not what (seed, producer, seq)
             // derives: written by someone else, or by another run (another seed)
};
[[nodiscard]] std::string_view to_string(MessageStatus status) noexcept;

struct DecodedMessage {
  MessageStatus status = MessageStatus::kTorn;
  // The header as read (copied out). Trustworthy only when status == kOk; for kTorn
  // it is best effort (zero when the input is shorter than a header).
  MessageHeader header{};
};

// Fills `out` entirely: header, then out.size() - kMinMessageSize payload bytes.
// Returns false (and writes nothing) when out is smaller than kMinMessageSize or
// the payload would not fit in 32 bits. No allocation, no syscalls.
[[nodiscard]] bool encode_message(std::span<std::byte> out, std::uint64_t seed,
                                  std::uint32_t producer, std::uint32_t incarnation,
                                  std::uint64_t seq, std::uint64_t send_ns) noexcept;

// Verifies a message as received (in.size() is the size the ring returned).
[[nodiscard]] DecodedMessage verify_message(std::span<const std::byte> in,
                                            std::uint64_t seed) noexcept;

// The checksum encode_message stores, over a header (its checksum field ignored) and payload.
[[nodiscard]] std::uint64_t message_checksum(const MessageHeader& header,
                                             std::span<const std::byte> payload) noexcept;

// Writes the payload (seed, producer, seq) derives into out (any length).
void fill_payload(std::span<std::byte> out, std::uint64_t seed, std::uint32_t producer,
                  std::uint64_t seq) noexcept;

}  // namespace shmcheck::probes
