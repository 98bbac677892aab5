// The two roles of a throughput trial, shared by ring_bench's throughput group and
// ring_ops --pair: a producer stamping each message with its sequence number and a
// consumer checking it (a transport that loses or reorders a message fails its
// figure). Both keep their buffer in memory (touch_memory) as real code would.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_support.hpp"
#include "shmcheck/core/ring.hpp"

namespace shmcheck::bench {

// What every ring's producer and consumer do when the ring is full or empty, the
// same for all rings: pause kBackoffPauses times before trying again. Retrying after
// one pause keeps pulling the other side's cache lines away from it and halved the
// minimal ring's 8 B throughput on these VMs (47 vs 95 M msg/s).
constexpr int kBackoffPauses = 64;
inline void back_off() noexcept {
  for (int i = 0; i < kBackoffPauses; ++i) cpu_relax();
}

inline void stamp(std::byte* msg, std::uint64_t seq) noexcept {
  std::memcpy(msg, &seq, sizeof(seq));
}
[[nodiscard]] inline std::uint64_t seq_of(const std::byte* msg) noexcept {
  std::uint64_t seq = 0;
  std::memcpy(&seq, msg, sizeof(seq));
  return seq;
}

// Producer: fills a message once, stamps the sequence, hands it to push().
template <std::size_t kSize, class Push>
void produce(Role& role, std::uint64_t n, Push&& push) {
  alignas(64) std::byte msg[kSize];
  for (std::size_t i = 0; i < kSize; ++i) msg[i] = static_cast<std::byte>(i * 31U + 7U);
  role.start();
  for (std::uint64_t i = 0; i < n; ++i) {
    stamp(msg, i);
    touch_memory(msg);
    push(msg);
  }
  role.stop();
  role.report().ops = n;
}

template <std::size_t kSize, class Pop>
void consume(Role& role, std::uint64_t n, Pop&& pop) {
  alignas(64) std::byte msg[kSize] = {};
  role.start();
  for (std::uint64_t i = 0; i < n; ++i) {
    pop(msg);
    touch_memory(msg);
    if (seq_of(msg) != i) [[unlikely]] {
      role.stop();
      role.fail("message " + std::to_string(i) + " arrived as " + std::to_string(seq_of(msg)));
      return;
    }
  }
  role.stop();
  role.report().ops = n;
}

// Producer and consumer of a shmcheck ring (SpscRing or MpmcRing) moving n messages
// of kSize bytes, retrying with back_off() while the ring is full or empty.
template <std::size_t kSize, class Ring>
std::vector<RoleFn> shmcheck_ring_roles(Ring& ring, std::uint64_t n) {
  return {[&ring, n](Role& role) {
            produce<kSize>(role, n, [&](const std::byte* m) {
              while (!ring.try_push(std::span<const std::byte>(m, kSize))) back_off();
            });
          },
          [&ring, n](Role& role) {
            consume<kSize>(role, n, [&](std::byte* m) {
              for (;;) {
                const auto r = ring.try_pop(std::span<std::byte>(m, kSize));
                if (r.status == core::PopStatus::kOk) [[likely]] {
                  if (r.size != kSize) throw std::runtime_error("ring: short message");
                  return;
                }
                if (r.status == core::PopStatus::kAbandoned) {
                  throw std::runtime_error("ring: abandoned slot with no crash");
                }
                back_off();
              }
            });
          }};
}

// The same with SpscRing's bursts: the producer stamps up to kBurstMessages messages and
// hands them to try_push_burst (offering again what did not fit), the consumer takes up
// to as many with try_pop_burst and checks each one.
inline constexpr std::size_t kBurstMessages = 32;

template <std::size_t kSize, class Ring>
std::vector<RoleFn> burst_ring_roles(Ring& ring, std::uint64_t n) {
  return {[&ring, n](Role& role) {
            alignas(64) std::byte msgs[kBurstMessages * kSize];
            for (std::size_t i = 0; i < sizeof(msgs); ++i) {
              msgs[i] = static_cast<std::byte>(i * 31U + 7U);
            }
            role.start();
            for (std::uint64_t seq = 0; seq < n;) {
              const auto want = std::min<std::uint64_t>(kBurstMessages, n - seq);
              for (std::uint64_t i = 0; i < want; ++i) stamp(msgs + i * kSize, seq + i);
              touch_memory(msgs);
              for (std::uint64_t done = 0; done < want;) {
                const auto pushed = ring.try_push_burst(
                    std::span<const std::byte>(msgs + done * kSize, (want - done) * kSize), kSize);
                if (pushed == 0) back_off();
                done += pushed;
              }
              seq += want;
            }
            role.stop();
            role.report().ops = n;
          },
          [&ring, n](Role& role) {
            alignas(64) std::byte out[kBurstMessages * kSize];
            std::uint32_t sizes[kBurstMessages];
            role.start();
            for (std::uint64_t seq = 0; seq < n;) {
              const auto room = std::min<std::uint64_t>(kBurstMessages, n - seq);
              const auto popped =
                  ring.try_pop_burst(std::span<std::byte>(out, room * kSize), sizes);
              if (popped == 0) {
                back_off();
                continue;
              }
              touch_memory(out);
              for (std::size_t i = 0; i < popped; ++i) {
                if (sizes[i] != kSize) throw std::runtime_error("ring: short message");
                if (seq_of(out + i * kSize) != seq + i) [[unlikely]] {
                  role.stop();
                  role.fail("message " + std::to_string(seq + i) + " arrived as " +
                            std::to_string(seq_of(out + i * kSize)));
                  return;
                }
              }
              seq += popped;
            }
            role.stop();
            role.report().ops = n;
          }};
}

}  // namespace shmcheck::bench
