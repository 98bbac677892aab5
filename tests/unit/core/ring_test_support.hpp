// Shared pieces of the ring tests: anonymous shared memory that survives fork(),
// self-checking test messages, and a ledger in shared memory where consumer
// processes record what they received (so a SIGKILLed process loses nothing the
// parent needs to judge the run).
#pragma once

#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <span>
#include <string>
#include <vector>

#include "shmcheck/core/failpoint.hpp"
#include "shmcheck/core/process_identity.hpp"
#include "shmcheck/core/ring.hpp"

namespace shmcheck::core::ring_test {

// MAP_SHARED | MAP_ANONYMOUS: shared with forked children, no name to clean up.
class SharedArea {
 public:
  explicit SharedArea(std::size_t bytes) : size_(bytes) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      std::perror("mmap");
      std::abort();
    }
    data_ = p;
  }
  ~SharedArea() { ::munmap(data_, size_); }
  SharedArea(const SharedArea&) = delete;
  SharedArea& operator=(const SharedArea&) = delete;

  [[nodiscard]] void* data() const { return data_; }
  [[nodiscard]] std::size_t size() const { return size_; }
  template <class T>
  [[nodiscard]] T* as(std::size_t offset = 0) const {
    return static_cast<T*>(static_cast<void*>(static_cast<std::byte*>(data_) + offset));
  }

 private:
  void* data_ = nullptr;
  std::size_t size_ = 0;
};

// Test message: {producer:4, length:4, seq:8} then bytes that depend on all three,
// so a torn or mixed-up message fails decode().
inline constexpr std::uint32_t kMessageHeader = 16;

inline std::byte fill_byte(std::uint32_t producer, std::uint64_t seq, std::size_t i) {
  return static_cast<std::byte>((producer * 131U + seq * 31U + i * 7U + 1U) & 0xFFU);
}

// Length varies with seq in [kMessageHeader, max_size].
inline std::uint32_t message_length(std::uint64_t seq, std::uint32_t max_size) {
  return kMessageHeader + static_cast<std::uint32_t>(seq % (max_size - kMessageHeader + 1));
}

inline std::span<const std::byte> encode(std::vector<std::byte>& buf, std::uint32_t producer,
                                         std::uint64_t seq, std::uint32_t length) {
  buf.resize(std::max<std::size_t>(buf.size(), length));
  std::memcpy(buf.data(), &producer, 4);
  std::memcpy(buf.data() + 4, &length, 4);
  std::memcpy(buf.data() + 8, &seq, 8);
  for (std::size_t i = kMessageHeader; i < length; ++i) buf[i] = fill_byte(producer, seq, i);
  return {buf.data(), length};
}

struct Decoded {
  bool ok = false;
  std::uint32_t producer = 0;
  std::uint64_t seq = 0;
};

inline Decoded decode(std::span<const std::byte> buf, std::uint32_t size) {
  Decoded d;
  if (size < kMessageHeader || size > buf.size()) return d;
  std::uint32_t length = 0;
  std::memcpy(&d.producer, buf.data(), 4);
  std::memcpy(&length, buf.data() + 4, 4);
  std::memcpy(&d.seq, buf.data() + 8, 8);
  if (length != size) return d;
  for (std::size_t i = kMessageHeader; i < size; ++i) {
    if (buf[i] != fill_byte(d.producer, d.seq, i)) return d;
  }
  d.ok = true;
  return d;
}

inline constexpr std::size_t kMaxProducers = 4;
inline constexpr std::size_t kMaxSeq = 120'000;
inline constexpr std::size_t kMaxAbandoned = 8;

// Lives in a SharedArea; zero-initialised by mmap.
struct Ledger {
  std::atomic<std::uint64_t> delivered;
  std::atomic<std::uint64_t> abandoned;
  std::atomic<std::uint64_t> torn;
  std::atomic<std::uint64_t> reordered;
  std::atomic<std::uint64_t> out_of_range;
  std::atomic<std::uint64_t> redelivered;      // messages a ring published again (claimer set)
  std::atomic<std::int32_t> redelivered_from;  // the last one's dead consumer
  std::array<std::atomic<std::int32_t>, kMaxAbandoned> abandoned_pid;
  std::array<std::atomic<std::uint64_t>, kMaxAbandoned> abandoned_start_time;
  std::array<std::array<std::atomic<std::uint8_t>, kMaxSeq>, kMaxProducers> seen;

  [[nodiscard]] std::uint64_t events() const {
    return delivered.load() + abandoned.load() + torn.load() + out_of_range.load();
  }
  [[nodiscard]] std::uint8_t count(std::uint32_t producer, std::uint64_t seq) const {
    return seen[producer][seq].load();
  }
};

inline Ledger* make_ledger(const SharedArea& area) {
  if (area.size() < sizeof(Ledger)) std::abort();
  return new (area.data()) Ledger();
}

// A ring of `config` and a delivery ledger, both in MAP_SHARED memory that forked
// children inherit: the crash tests' common ground.
template <class Ring>
struct SharedRing {
  explicit SharedRing(const RingConfig& config) : ring_area(Ring::bytes_needed(config)) {
    auto r = Ring::create_at(ring_area.data(), ring_area.size(), config);
    if (!r) std::abort();
    ring = *r;
    ledger = make_ledger(ledger_area);
  }
  SharedArea ring_area;
  SharedArea ledger_area{sizeof(Ledger)};
  Ring* ring = nullptr;
  Ledger* ledger = nullptr;
};

// A failpoint's name as a test-name suffix ("ring_push_after_claim").
inline std::string failpoint_test_name(FailpointId id) {
  std::string name(to_string(id));
  std::replace(name.begin(), name.end(), '.', '_');
  return name;
}

// Records one pop result. last[] is this consumer's last seq per producer (FIFO check).
inline void record(Ledger& ledger, const PopResult& r, std::span<const std::byte> buf,
                   std::array<std::int64_t, kMaxProducers>& last) {
  if (r.status == PopStatus::kAbandoned) {
    const auto i = ledger.abandoned.fetch_add(1);
    if (i < kMaxAbandoned) {
      ledger.abandoned_pid[i].store(r.claimer.pid);
      ledger.abandoned_start_time[i].store(r.claimer.start_time);
    }
    return;
  }
  const auto d = decode(buf, r.size);
  if (!d.ok) {
    ledger.torn.fetch_add(1);
    return;
  }
  if (d.producer >= kMaxProducers || d.seq >= kMaxSeq) {
    ledger.out_of_range.fetch_add(1);
    return;
  }
  if (r.claimer.pid != 0) {
    // Published again after the consumer that took it died: late, so not in order.
    ledger.redelivered.fetch_add(1);
    ledger.redelivered_from.store(r.claimer.pid);
  } else {
    if (static_cast<std::int64_t>(d.seq) <= last[d.producer]) ledger.reordered.fetch_add(1);
    last[d.producer] = static_cast<std::int64_t>(d.seq);
  }
  ledger.seen[d.producer][d.seq].fetch_add(1);
  ledger.delivered.fetch_add(1);
}

// When a consumer records a message it took: after the pop returned (a consumer killed
// in between loses it), or in the pop's BeforeRelease (nothing is ever out of the ring
// and unrecorded).
enum class Recording { kAfterPop, kBeforeRelease };

// Pops into the ledger until it holds `events` events. 0 on success, 3 on deadline.
template <class Ring>
int consume(Ring& ring, Ledger& ledger, std::uint64_t events,
            std::chrono::milliseconds deadline = std::chrono::seconds(20),
            Recording recording = Recording::kAfterPop) {
  std::vector<std::byte> buf(ring.config().message_size);
  std::array<std::int64_t, kMaxProducers> last{};
  last.fill(-1);
  auto record_taken = [&](const Taken& taken) {
    record(ledger, {PopStatus::kOk, taken.sizes[0], taken.claimer}, buf, last);
  };
  const BeforeRelease before_release =
      recording == Recording::kBeforeRelease ? BeforeRelease(record_taken) : BeforeRelease();
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (ledger.events() < events) {
    if (std::chrono::steady_clock::now() > end) return 3;
    const auto r = ring.pop_for(buf, std::chrono::milliseconds(2), before_release);
    if (r.status == PopStatus::kAbandoned ||
        (r.status == PopStatus::kOk && recording == Recording::kAfterPop)) {
      record(ledger, r, buf, last);
    }
  }
  return 0;
}

// Pushes producer's messages [first, end). 0 on success, 2 when a push times out.
template <class Ring>
int produce(Ring& ring, std::uint32_t producer, std::uint64_t first, std::uint64_t end,
            std::chrono::milliseconds per_push = std::chrono::seconds(10)) {
  std::vector<std::byte> buf(ring.config().message_size);
  for (auto seq = first; seq < end; ++seq) {
    const auto msg = encode(buf, producer, seq, message_length(seq, ring.config().message_size));
    if (!ring.push_for(msg, per_push)) return 2;
  }
  return 0;
}

// ---- bursts (SpscRing) ----

inline constexpr std::size_t kBurst = 7;  // not a divisor of the capacity: bursts straddle the wrap

// Pushes producer's messages [first, end) in bursts (try_push_burst) of up to kBurst, all
// messages of a burst as long as its first one's message_length (so lengths change from burst to
// burst). Before each call it stores the burst's first seq in *attempt, if given.
// 0 on success, 2 on deadline.
template <class Ring>
int produce_bursts(Ring& ring, std::uint32_t producer, std::uint64_t first, std::uint64_t end,
                   std::atomic<std::uint64_t>* attempt = nullptr) {
  const std::uint32_t max = ring.config().message_size;
  std::vector<std::byte> burst(kBurst * max);
  std::vector<std::byte> one(max);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (std::uint64_t seq = first; seq < end;) {
    const auto n = std::min<std::uint64_t>(kBurst, end - seq);
    const std::uint32_t len = message_length(seq, max);
    for (std::uint64_t i = 0; i < n; ++i) {
      const auto msg = encode(one, producer, seq + i, len);
      std::memcpy(burst.data() + i * len, msg.data(), len);
    }
    if (attempt != nullptr) attempt->store(seq);
    const auto pushed = ring.try_push_burst({burst.data(), n * len}, len);
    if (pushed == 0) {
      if (std::chrono::steady_clock::now() > deadline) return 2;
      ::sched_yield();
    }
    seq += pushed;
  }
  return 0;
}

// Pops bursts (try_pop_burst) into the ledger until done() or the deadline (then 3).
template <class Ring, class Done>
int consume_bursts(Ring& ring, Ledger& ledger, Done&& done,
                   Recording recording = Recording::kAfterPop) {
  const std::uint32_t max = ring.config().message_size;
  std::vector<std::byte> out(kBurst * max);
  std::vector<std::uint32_t> sizes(kBurst);
  std::array<std::int64_t, kMaxProducers> last{};
  last.fill(-1);
  auto record_taken = [&](const Taken& taken) {
    for (std::size_t i = 0; i < taken.sizes.size(); ++i) {
      const std::span<const std::byte> msg(out.data() + i * max, max);
      record(ledger, {PopStatus::kOk, taken.sizes[i], {}}, msg, last);
    }
  };
  const BeforeRelease before_release =
      recording == Recording::kBeforeRelease ? BeforeRelease(record_taken) : BeforeRelease();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!done()) {
    const auto n = ring.try_pop_burst(out, sizes, before_release);
    if (n == 0) {
      if (std::chrono::steady_clock::now() > deadline) return 3;
      ::sched_yield();
      continue;
    }
    if (recording == Recording::kAfterPop) record_taken(Taken{std::span(sizes).first(n)});
  }
  return 0;
}

}  // namespace shmcheck::core::ring_test
