// Common vocabulary of the shared-memory rings (SpscRing, MpmcRing).
//
// Both rings are bounded queues of fixed-size slots that live in caller-provided
// shared memory (a Segment payload, or any MAP_SHARED mapping) and work across
// processes. One process creates a ring in place (create_at), any number attach to
// it (attach); nobody destroys it: the memory's owner unmaps or unlinks it. The
// rings hold offsets only, never pointers, so every process may map them anywhere.
//
// Values here are plain (no shared-memory layout): RingConfig is what the creator
// asks for and what attach() reads back; PopResult is what a pop reports.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

#include "shmcheck/core/process_identity.hpp"
#include "shmcheck/core/result.hpp"

namespace shmcheck::core {

struct RingConfig {
  std::uint32_t capacity = 0;      // slots; a power of two in [kMinRingCapacity, kMaxRingCapacity]
  std::uint32_t message_size = 0;  // largest message in bytes; in [1, kMaxRingMessageSize]

  friend bool operator==(const RingConfig&, const RingConfig&) = default;
};

// What a ring's create_at may assume about the memory it is given.
enum class RingMemory {
  kAny,  // anything: every slot is written (each page of the ring is touched)
  // Every byte reads zero, as a segment just created does (new shared memory pages are
  // zero-filled): the slots are not written, so the pages of a big ring are touched
  // only as it fills. A 2 GiB ring spent seconds of system time on the memset alone.
  kZeroed,
};

inline constexpr std::uint32_t kMinRingCapacity = 2;
inline constexpr std::uint32_t kMaxRingCapacity = 1U << 20;
inline constexpr std::uint32_t kMaxRingMessageSize = 1U << 20;

// kInvalidArgument (with the reason in detail) unless config is in the ranges above.
[[nodiscard]] Result<void> validate_ring_config(const RingConfig& config) noexcept;

enum class PopStatus {
  kOk,         // a whole message was copied out; size says how long it is
  kEmpty,      // nothing committed to take (or the deadline of pop_for passed)
  kAbandoned,  // the slot's producer was proved dead before committing: the message
               // is lost in flight, nothing was copied; claimer names the dead producer
};

[[nodiscard]] const char* to_string(PopStatus status) noexcept;

struct PopResult {
  PopStatus status = PopStatus::kEmpty;
  std::uint32_t size = 0;  // bytes copied out (kOk only)
  // kAbandoned: the dead producer (start_time 0 if it died before recording it).
  // kOk: unset, unless the message is one a consumer took and died holding, which an
  // MpmcRing publishes again: then that consumer's pid (start_time 0). It may have
  // recorded the message before it died (a redelivery), and the message comes later
  // than its producer's next ones.
  ProcessIdentity claimer{};
};

// What a pop has copied out, as BeforeRelease sees it.
struct Taken {
  std::span<const std::uint32_t> sizes;  // their lengths: message i is at out[i * message_size]
  ProcessIdentity claimer{};             // as PopResult::claimer of a kOk pop
};

namespace detail {
// A callable BeforeRelease can refer to (not another BeforeRelease: that one is copied).
template <class F, class Self>
concept BeforeReleaseCallable =
    std::is_invocable_v<F&, const Taken&> && !std::is_same_v<std::remove_cvref_t<F>, Self>;
}  // namespace detail

// What a consumer does with the messages a pop has copied out, before the pop releases
// their slots: called once per pop that took messages (one for a single pop, up to the
// burst for a burst), after the copy and before the release store that lets a producer
// overwrite them. A consumer that records its deliveries here never has a message
// released and unrecorded. Killed before its record, it leaves the message in the ring
// for another consumer: SpscRing's next one, or (an MpmcRing publishes a dead reader's
// message again) any. Killed between its record and the release, it has recorded a
// message the ring still holds: it comes again, a redelivery its crash explains. Killed
// after the release, it has recorded everything it took.
// The callable must not pop from or push to the same ring, and must outlive the call (a
// function reference, like std::function_ref); it runs inside a noexcept pop.
class BeforeRelease {
 public:
  constexpr BeforeRelease() noexcept = default;
  template <detail::BeforeReleaseCallable<BeforeRelease> F>
  BeforeRelease(F& f) noexcept  // NOLINT(google-explicit-constructor): a function reference
      : fn_([](void* callable, const Taken& taken) { (*static_cast<F*>(callable))(taken); }),
        callable_(&f) {}

  void operator()(const Taken& taken) const {
    if (fn_ != nullptr) fn_(callable_, taken);
  }

 private:
  void (*fn_)(void*, const Taken&) = nullptr;
  void* callable_ = nullptr;
};

// A snapshot read with relaxed loads while the ring runs (counters, not a transaction).
struct RingStats {
  // Positions claimed by producers (SPSC: committed; MPMC: a message published again
  // takes one too).
  std::uint64_t pushes = 0;
  std::uint64_t pops = 0;          // slots taken by consumers, abandoned ones included
  std::uint64_t full_events = 0;   // push calls that found the ring full
  std::uint64_t empty_events = 0;  // pop calls that found the ring empty
  std::uint64_t abandoned = 0;     // slots released because their claimer was proved dead
  // Messages a consumer proved dead had claimed, published again (MpmcRing).
  std::uint64_t redelivered = 0;
  std::uint64_t sleeps = 0;   // futex sleeps of waiting calls (*_for), both sides
  std::uint64_t wakeups = 0;  // wake-ups sent to them (one per mover that found one asleep)
};

}  // namespace shmcheck::core
