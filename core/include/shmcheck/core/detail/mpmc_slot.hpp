// Private layout of an MpmcRing slot and its state-word encoding (not part of the API).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "shmcheck/core/process_identity.hpp"
#include "shmcheck/core/ring.hpp"

namespace shmcheck::core::detail {

// One slot: [state][claim][length, reserved][payload]. Only `state` synchronizes.
struct MpmcSlot {
  // {lap sequence:40 | claimer pid:22 | kind:2}; the sequence is the first position of
  // the lap (MpmcRing::lap_of), so zero is "free for the first lap".
  std::atomic<std::uint64_t> state;
  // {claimer start time:40 | tag:24}, tag = {low 23 bits of the claimed position,
  // 1 bit consumer}: stored right after a claim so a stuck slot's claimer can be
  // named by pid + start time. The tag tells whether the word belongs to the claim
  // in `state` or to an older one (then only the pid is known).
  std::atomic<std::uint64_t> claim;
  std::uint32_t length;
  // The pid of a consumer that claimed this slot's message and died holding it, when a
  // producer published the message again for another consumer (MpmcRing::push_contended);
  // 0 for any other message. Written with the length by whoever commits the slot (never
  // by the one that abandons it), read by the consumer that takes the message (which
  // reports it in PopResult::claimer).
  std::uint32_t redelivered_from;

  [[nodiscard]] std::byte* payload() noexcept {
    return reinterpret_cast<std::byte*>(this) + sizeof(MpmcSlot);
  }
};
static_assert(sizeof(MpmcSlot) == 24);
static_assert(std::is_standard_layout_v<MpmcSlot>);

namespace mpmc {

enum Kind : std::uint64_t {
  kFree = 0,     // waiting for the producer of `seq`
  kWriting = 1,  // claimed by producer `pid`, not committed
  kFull = 2,     // committed message for position `seq`
  kReading = 3,  // claimed by consumer `pid`, not released
};

inline constexpr unsigned kKindBits = 2;
inline constexpr unsigned kPidBits = 22;  // Linux PID_MAX_LIMIT is 2^22
inline constexpr unsigned kSeqBits = 64 - kPidBits - kKindBits;
inline constexpr std::uint64_t kPidMask = (std::uint64_t{1} << kPidBits) - 1;
inline constexpr std::uint64_t kSeqMask = (std::uint64_t{1} << kSeqBits) - 1;
inline constexpr unsigned kTagBits = 24;
inline constexpr std::uint64_t kTagMask = (std::uint64_t{1} << kTagBits) - 1;
inline constexpr std::uint64_t kStartTimeMask = (std::uint64_t{1} << (64 - kTagBits)) - 1;
static_assert(kMaxRingCapacity <= (std::uint64_t{1} << (kTagBits - 1 - 3)),
              "a stale claim tag needs 8 laps of claimers dying unrecorded to alias");

enum class Role : std::uint64_t { kProducer = 0, kConsumer = 1 };

constexpr std::uint64_t make_state(std::uint64_t pos, std::uint32_t pid, Kind kind) noexcept {
  return ((pos & kSeqMask) << (kPidBits + kKindBits)) |
         ((std::uint64_t{pid} & kPidMask) << kKindBits) | kind;
}
constexpr Kind kind_of(std::uint64_t state) noexcept { return static_cast<Kind>(state & 3U); }
constexpr std::int32_t pid_of(std::uint64_t state) noexcept {
  return static_cast<std::int32_t>((state >> kKindBits) & kPidMask);
}
// Signed distance, in positions, from pos to the lap the state belongs to.
constexpr std::int64_t lap_distance(std::uint64_t state, std::uint64_t pos) noexcept {
  const std::uint64_t seq = state >> (kPidBits + kKindBits);
  const std::uint64_t diff = (seq - pos) & kSeqMask;
  // Sign-extend the kSeqBits-wide difference.
  return static_cast<std::int64_t>(diff << (kPidBits + kKindBits)) >>
         static_cast<int>(kPidBits + kKindBits);
}

constexpr std::uint64_t claim_tag(std::uint64_t pos, Role role) noexcept {
  return ((pos << 1) | static_cast<std::uint64_t>(role)) & kTagMask;
}
constexpr std::uint64_t make_claim(std::uint64_t start_time, std::uint64_t pos,
                                   Role role) noexcept {
  return ((start_time & kStartTimeMask) << kTagBits) | claim_tag(pos, role);
}

}  // namespace mpmc

// self_identity(), cached per thread and refreshed after fork() (a pthread_atfork
// child handler bumps the generation), so a claim is a plain store into the slot.
struct IdentityCache {
  std::uint64_t generation = 0;
  ProcessIdentity identity{};
};
inline std::atomic<std::uint64_t> g_fork_generation{1};
inline thread_local IdentityCache t_identity_cache{};
[[nodiscard]] ProcessIdentity refresh_self_identity() noexcept;

inline ProcessIdentity cached_self_identity() noexcept {
  if (t_identity_cache.generation != g_fork_generation.load(std::memory_order_relaxed))
      [[unlikely]] {
    return refresh_self_identity();
  }
  return t_identity_cache.identity;
}

}  // namespace shmcheck::core::detail
