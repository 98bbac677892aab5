// One typed suite over SpscRing and MpmcRing for the behaviour they share.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <new>
#include <numeric>
#include <vector>

#include "ring_test_support.hpp"
#include "shmcheck/core/mpmc_ring.hpp"
#include "shmcheck/core/spsc_ring.hpp"
#include "shmcheck/testing/process.hpp"

namespace shmcheck::core {
namespace {

using namespace std::chrono_literals;
using ring_test::SharedArea;

template <class Ring>
class RingTest : public ::testing::Test {
 protected:
  // RingMemory::kAny builds on memory full of garbage (create_at must write all it
  // relies on); kZeroed on the fresh mapping, as the harness does in a new segment.
  Ring& make(RingConfig config, RingMemory memory = RingMemory::kAny) {
    area_ = std::make_unique<SharedArea>(Ring::bytes_needed(config));
    if (memory == RingMemory::kAny) std::memset(area_->data(), 0xA5, area_->size());
    auto r = Ring::create_at(area_->data(), area_->size(), config, memory);
    if (!r) {
      ADD_FAILURE() << r.error().message();
      std::abort();
    }
    return **r;
  }
  std::unique_ptr<SharedArea> area_;
};

using RingTypes = ::testing::Types<SpscRing, MpmcRing>;
class RingNames {
 public:
  template <class T>
  static std::string GetName(int) {
    return std::is_same_v<T, SpscRing> ? "Spsc" : "Mpmc";
  }
};
TYPED_TEST_SUITE(RingTest, RingTypes, RingNames);

// The first min(size, 8) bytes of value; an empty vector (whose data() may be null, not
// a valid memcpy argument) for size 0.
std::vector<std::byte> bytes_of(std::uint64_t value, std::size_t size = 8) {
  std::vector<std::byte> out(size);
  if (size > 0) std::memcpy(out.data(), &value, std::min<std::size_t>(size, 8));
  return out;
}

std::uint64_t value_of(const std::vector<std::byte>& buf) {
  std::uint64_t v = 0;
  std::memcpy(&v, buf.data(), 8);
  return v;
}

TYPED_TEST(RingTest, PopOnEmptyRingReturnsEmpty) {
  auto& ring = this->make({8, 16});
  std::vector<std::byte> out(16);
  const auto r = ring.try_pop(out);
  EXPECT_EQ(r.status, PopStatus::kEmpty);
  EXPECT_EQ(ring.stats().empty_events, 1U);
}

TYPED_TEST(RingTest, TryPushWhenFullReturnsFalse) {
  auto& ring = this->make({4, 8});
  for (std::uint64_t i = 0; i < 4; ++i) ASSERT_TRUE(ring.try_push(bytes_of(i))) << i;
  EXPECT_FALSE(ring.try_push(bytes_of(99)));
  EXPECT_EQ(ring.stats().full_events, 1U);
  std::vector<std::byte> out(8);
  ASSERT_EQ(ring.try_pop(out).status, PopStatus::kOk);
  EXPECT_EQ(value_of(out), 0U);
  EXPECT_TRUE(ring.try_push(bytes_of(4)));  // one slot freed, one push fits
}

// BeforeRelease runs once per pop that took a message, with the message already in the
// caller's buffer and its slot not yet given back: a full ring stays full inside it (a
// push fails), and has room once the pop returns. An empty pop does not call it.
TYPED_TEST(RingTest, BeforeReleaseSeesTheCopiedMessageWhileItsSlotIsStillHeld) {
  auto& ring = this->make({4, 8});
  std::vector<std::byte> out(8);
  int calls = 0;
  auto check = [&](const Taken& taken) {
    ++calls;
    ASSERT_EQ(taken.sizes.size(), 1U);
    EXPECT_EQ(taken.sizes[0], 8U);
    EXPECT_EQ(taken.claimer.pid, 0);
    EXPECT_EQ(value_of(out), static_cast<std::uint64_t>(calls - 1));
    EXPECT_FALSE(ring.try_push(bytes_of(99))) << "the slot was released before BeforeRelease";
  };
  EXPECT_EQ(ring.try_pop(out, check).status, PopStatus::kEmpty);
  EXPECT_EQ(ring.pop_for(out, 1ms, check).status, PopStatus::kEmpty);
  EXPECT_EQ(calls, 0);
  for (std::uint64_t i = 0; i < 4; ++i) ASSERT_TRUE(ring.try_push(bytes_of(i)));
  ASSERT_EQ(ring.try_pop(out, check).status, PopStatus::kOk);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(ring.try_push(bytes_of(4)));
  ASSERT_EQ(ring.pop_for(out, 1s, check).status, PopStatus::kOk);
  EXPECT_EQ(calls, 2);
  EXPECT_TRUE(ring.try_push(bytes_of(5)));
}

TYPED_TEST(RingTest, MessagesComeOutInFifoOrderAcrossManyWraparounds) {
  auto& ring = this->make({8, 8});
  std::vector<std::byte> out(8);
  std::uint64_t next_in = 0;
  std::uint64_t next_out = 0;
  // Uneven batches so the indices wrap at every offset of the ring.
  for (int round = 0; round < 500; ++round) {
    const int batch = 1 + round % 4;  // at most 4 queued + 4 new = capacity
    for (int i = 0; i < batch; ++i) ASSERT_TRUE(ring.try_push(bytes_of(next_in++)));
    for (int i = 0; i < batch - (round % 3 == 0 ? 1 : 0); ++i) {
      const auto r = ring.try_pop(out);
      ASSERT_EQ(r.status, PopStatus::kOk);
      ASSERT_EQ(r.size, 8U);
      ASSERT_EQ(value_of(out), next_out++);
    }
    while (next_in - next_out > 4) {
      ASSERT_EQ(ring.try_pop(out).status, PopStatus::kOk);
      ASSERT_EQ(value_of(out), next_out++);
    }
  }
  const auto stats = ring.stats();
  EXPECT_EQ(stats.pushes, next_in);
  EXPECT_EQ(stats.pops, next_out);
  EXPECT_EQ(stats.abandoned, 0U);
}

TYPED_TEST(RingTest, EveryLengthUpToMessageSizeRoundTripsExactly) {
  constexpr std::uint32_t kMax = 67;  // not a multiple of 8: slot padding must not leak
  auto& ring = this->make({4, kMax});
  std::vector<std::byte> in(kMax);
  std::vector<std::byte> out(kMax);
  for (std::uint32_t len = 0; len <= kMax; ++len) {
    for (std::uint32_t i = 0; i < len; ++i) in[i] = static_cast<std::byte>(len * 3 + i);
    ASSERT_TRUE(ring.try_push({in.data(), len})) << len;
    std::fill(out.begin(), out.end(), std::byte{0xEE});
    const auto r = ring.try_pop(out);
    ASSERT_EQ(r.status, PopStatus::kOk) << len;
    ASSERT_EQ(r.size, len);
    EXPECT_EQ(std::memcmp(in.data(), out.data(), len), 0) << len;
    EXPECT_EQ(out[len == kMax ? 0 : len], len == kMax ? in[0] : std::byte{0xEE})
        << "pop wrote past the message";
  }
}

// SpscRing stores a slot's length only when it differs from the lap before: a slot
// whose length repeats, changes, and changes back must report each one exactly, with
// the ring full (every slot in flight at once) between the laps.
TYPED_TEST(RingTest, LengthsThatRepeatOrChangeFromLapToLapAreEachReportedExactly) {
  auto& ring = this->make({4, 8});
  const std::vector<std::vector<std::uint32_t>> laps = {{8, 8, 8, 8}, {8, 8, 8, 8}, {3, 8, 0, 8},
                                                        {3, 3, 3, 3}, {8, 1, 0, 8}, {8, 8, 8, 8}};
  std::vector<std::byte> out(8);
  std::uint64_t seq = 0;
  for (const auto& lengths : laps) {
    for (const std::uint32_t len : lengths) {
      ASSERT_TRUE(ring.try_push(bytes_of(++seq, len)));
    }
    seq -= lengths.size();
    for (const std::uint32_t len : lengths) {
      std::fill(out.begin(), out.end(), std::byte{0});
      const auto r = ring.try_pop(out);
      ASSERT_EQ(r.status, PopStatus::kOk);
      ASSERT_EQ(r.size, len) << "message " << seq + 1;
      const auto expected = bytes_of(++seq);
      EXPECT_EQ(std::memcmp(out.data(), expected.data(), len), 0) << "message " << seq;
    }
    EXPECT_EQ(ring.try_pop(out).status, PopStatus::kEmpty);
  }
}

TYPED_TEST(RingTest, AttachSeesTheCreatorsConfigAndMessages) {
  auto& ring = this->make({16, 24});
  ASSERT_TRUE(ring.try_push(bytes_of(7)));
  auto attached = TypeParam::attach(this->area_->data(), this->area_->size());
  ASSERT_TRUE(attached) << attached.error().message();
  EXPECT_EQ(*attached, &ring);
  EXPECT_EQ((*attached)->config(), (RingConfig{16, 24}));
  std::vector<std::byte> out(24);
  ASSERT_EQ((*attached)->try_pop(out).status, PopStatus::kOk);
  EXPECT_EQ(value_of(out), 7U);
}

TYPED_TEST(RingTest, AttachRejectsForeignShortOrCorruptMemory) {
  SharedArea blank(4096);
  auto foreign = TypeParam::attach(blank.data(), blank.size());
  ASSERT_FALSE(foreign);
  EXPECT_EQ(foreign.error().code, ErrorCode::kForeign);

  auto& ring = this->make({16, 24});
  (void)ring;
  auto short_map = TypeParam::attach(this->area_->data(), this->area_->size() - 1);
  ASSERT_FALSE(short_map);
  EXPECT_EQ(short_map.error().code, ErrorCode::kCorrupt);

  // The other ring type's layout is foreign too.
  using Other = std::conditional_t<std::is_same_v<TypeParam, SpscRing>, MpmcRing, SpscRing>;
  auto other = Other::attach(this->area_->data(), this->area_->size());
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, ErrorCode::kForeign);

  // capacity is the third 32-bit word of the header: make it not a power of two.
  auto* words = this->area_->template as<std::uint32_t>();
  words[3] = 12;
  auto corrupt = TypeParam::attach(this->area_->data(), this->area_->size());
  ASSERT_FALSE(corrupt);
  EXPECT_EQ(corrupt.error().code, ErrorCode::kCorrupt);
}

TYPED_TEST(RingTest, CreateRejectsBadConfigSmallOrMisalignedMemory) {
  SharedArea area(1 << 20);
  for (const RingConfig bad :
       {RingConfig{0, 8}, RingConfig{1, 8}, RingConfig{6, 8}, RingConfig{8, 0},
        RingConfig{kMaxRingCapacity * 2, 8}, RingConfig{8, kMaxRingMessageSize + 1}}) {
    EXPECT_EQ(TypeParam::bytes_needed(bad), 0U);
    auto r = TypeParam::create_at(area.data(), area.size(), bad);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  }
  const RingConfig good{8, 8};
  const auto needed = TypeParam::bytes_needed(good);
  EXPECT_FALSE(TypeParam::create_at(area.data(), needed - 1, good));
  EXPECT_FALSE(TypeParam::create_at(area.template as<std::byte>(8), needed, good));
  EXPECT_TRUE(TypeParam::create_at(area.data(), needed, good));
}

TYPED_TEST(RingTest, TimedCallsGiveUpAtTheDeadline) {
  auto& ring = this->make({2, 8});
  std::vector<std::byte> out(8);
  EXPECT_EQ(ring.pop_for(out, 2ms).status, PopStatus::kEmpty);
  ASSERT_TRUE(ring.push_for(bytes_of(1), 0ns));
  ASSERT_TRUE(ring.push_for(bytes_of(2), 0ns));
  EXPECT_FALSE(ring.push_for(bytes_of(3), 2ms));
  EXPECT_EQ(ring.pop_for(out, 0ns).status, PopStatus::kOk);
  EXPECT_EQ(value_of(out), 1U);
}

// pop_for(timeout) here while a child process, once this one is asleep, pushes 42 with
// `push`: the message arrives. Returns the ring's wake-ups.
template <class Ring, class Push>
std::uint64_t pop_for_gets_what_a_child_pushes_while_it_sleeps(
    Ring& ring, Push push, std::chrono::nanoseconds timeout = 20s) {
  const pid_t child = testing::fork_child([&] {
    if (!testing::eventually([&] { return ring.stats().sleeps > 0; })) return 2;
    return push(ring, bytes_of(42)) ? 0 : 1;
  });
  std::vector<std::byte> out(8);
  const auto r = ring.pop_for(out, timeout);
  const auto exit = testing::wait_child(child);
  EXPECT_TRUE(exit.ok()) << exit.describe();
  EXPECT_EQ(r.status, PopStatus::kOk);
  EXPECT_EQ(value_of(out), 42U);
  return ring.stats().wakeups;
}

// try_push wakes nobody: pop_for, asleep, sees its message at its next timed look (at
// most 200 us later).
TYPED_TEST(RingTest, PopForSeesAMessageTryPushedByAnotherProcessWithoutAWakeUp) {
  testing::Watchdog dog(60s, "PopForSeesAMessageTryPushedByAnotherProcessWithoutAWakeUp");
  auto& ring = this->make({4, 8});
  EXPECT_EQ(pop_for_gets_what_a_child_pushes_while_it_sleeps(
                ring, [](auto& r, const auto& msg) { return r.try_push(msg); }),
            0U);
}

// Past its spin and yield phases pop_for sleeps on the ring's futex; push_for from
// another process wakes it (one wake-up sent, and the message arrives).
TYPED_TEST(RingTest, PopForAsleepIsWokenByPushForFromAnotherProcess) {
  testing::Watchdog dog(60s, "PopForAsleepIsWokenByPushForFromAnotherProcess");
  auto& ring = this->make({4, 8});
  EXPECT_EQ(pop_for_gets_what_a_child_pushes_while_it_sleeps(
                ring, [](auto& r, const auto& msg) { return r.push_for(msg, 0ns); }),
            1U);
}

// "Wait as long as it takes": the deadline saturates instead of overflowing (it was
// now + timeout in signed nanoseconds: past the end, so pop_for gave up at once).
TYPED_TEST(RingTest, TheLongestTimeoutWaitsForTheMessage) {
  testing::Watchdog dog(60s, "TheLongestTimeoutWaitsForTheMessage");
  auto& ring = this->make({4, 8});
  EXPECT_EQ(pop_for_gets_what_a_child_pushes_while_it_sleeps(
                ring, [](auto& r, const auto& msg) { return r.push_for(msg, 0ns); },
                std::chrono::nanoseconds::max()),
            1U);
}

// And the other way: push_for asleep on a full ring is woken by pop_for.
TYPED_TEST(RingTest, PushForAsleepOnAFullRingIsWokenByPopForFromAnotherProcess) {
  testing::Watchdog dog(60s, "PushForAsleepOnAFullRingIsWokenByPopForFromAnotherProcess");
  auto& ring = this->make({2, 8});
  ASSERT_TRUE(ring.try_push(bytes_of(1)));
  ASSERT_TRUE(ring.try_push(bytes_of(2)));
  const pid_t child = testing::fork_child([&] {
    if (!testing::eventually([&] { return ring.stats().sleeps > 0; })) return 2;
    std::vector<std::byte> out(8);
    return ring.pop_for(out, 0ns).status == PopStatus::kOk && value_of(out) == 1 ? 0 : 1;
  });
  EXPECT_TRUE(ring.push_for(bytes_of(3), 20s));
  const auto exit = testing::wait_child(child);
  EXPECT_TRUE(exit.ok()) << exit.describe();
  EXPECT_EQ(ring.stats().wakeups, 1U);
}

// A consumer SIGKILLed in its sleep leaves the sleepers flag up: the next push clears
// it with one wake-up, and the pushes after it pay none (no syscall per message).
TYPED_TEST(RingTest, ASleeperKilledInItsSleepCostsOneWakeUpNotOnePerMessage) {
  testing::Watchdog dog(60s, "ASleeperKilledInItsSleepCostsOneWakeUpNotOnePerMessage");
  auto& ring = this->make({128, 8});
  const pid_t child = testing::fork_child([&] {
    std::vector<std::byte> out(8);
    (void)ring.pop_for(out, 60s);
    return 0;
  });
  ASSERT_TRUE(testing::eventually([&] { return ring.stats().sleeps > 0; }));
  ::kill(child, SIGKILL);
  EXPECT_TRUE(testing::wait_child(child).killed_by(SIGKILL));
  for (std::uint64_t i = 0; i < 100; ++i) ASSERT_TRUE(ring.push_for(bytes_of(i), 0ns));
  EXPECT_EQ(ring.stats().wakeups, 1U);
}

// inconsistency(): what the harness asks before it drains a ring its workers left (a
// stray write into the segment must be reported, not abort the harness or loop it).
TYPED_TEST(RingTest, ARingAsItsOperationsLeftItIsConsistent) {
  auto& ring = this->make({8, 16});
  EXPECT_EQ(ring.inconsistency(), nullptr);
  for (std::uint64_t i = 0; i < 8; ++i) ASSERT_TRUE(ring.try_push(bytes_of(i, 16)));
  std::vector<std::byte> out(16);
  ASSERT_EQ(ring.try_pop(out).status, PopStatus::kOk);
  EXPECT_EQ(ring.inconsistency(), nullptr);
}

// The SpscRing layout the writes below assume (spsc_ring.hpp): tail at byte 64, head at
// 128, the consumer's cached tail at 136, the length table from 256.
TEST(SpscRingConsistency, BrokenIndicesAndLengthsAreNamed) {
  const RingConfig config{8, 16};
  SharedArea area(SpscRing::bytes_needed(config));
  auto* bytes = static_cast<std::byte*>(area.data());
  const auto word = [&](std::size_t offset) -> std::uint64_t& {
    return *reinterpret_cast<std::uint64_t*>(bytes + offset);
  };
  const auto fresh = [&] {
    std::memset(area.data(), 0, area.size());
    auto& ring = **SpscRing::create_at(area.data(), area.size(), config);
    for (std::uint64_t i = 0; i < 3; ++i) EXPECT_TRUE(ring.try_push(bytes_of(i, 16)));
    EXPECT_EQ(word(64), 3U);
    EXPECT_EQ(word(128), 0U);
    return &ring;
  };
  const auto named = [](const char* what) { return std::string(what == nullptr ? "" : what); };

  SpscRing* ring = fresh();
  word(64) = 9;  // tail 9 past head 0: more than capacity 8
  EXPECT_EQ(named(ring->inconsistency()), "SpscRing tail and head more than a lap apart");
  ring = fresh();
  word(128) = 4;  // head 4 past tail 3
  EXPECT_EQ(named(ring->inconsistency()), "SpscRing head past tail");
  ring = fresh();
  word(136) = std::uint64_t{1} << 40;  // the consumer would read a lap's slots again and again
  EXPECT_EQ(named(ring->inconsistency()), "SpscRing cached tail past tail");
  ring = fresh();
  reinterpret_cast<std::uint32_t*>(bytes + sizeof(SpscRing))[2] = 17;  // slot 2: 17 > 16
  EXPECT_EQ(named(ring->inconsistency()), "SpscRing slot length past message_size");
  ring = fresh();
  reinterpret_cast<std::uint32_t*>(bytes + sizeof(SpscRing))[5] = 17;  // a free slot's: unread
  EXPECT_EQ(ring->inconsistency(), nullptr);
}

TEST(MpmcRingConsistency, ACommittedSlotsLengthPastMessageSizeIsNamed) {
  const RingConfig config{8, 16};
  SharedArea area(MpmcRing::bytes_needed(config));
  auto& ring = **MpmcRing::create_at(area.data(), area.size(), config);
  ASSERT_TRUE(ring.try_push(bytes_of(1, 16)));
  auto* first =
      reinterpret_cast<detail::MpmcSlot*>(static_cast<std::byte*>(area.data()) + sizeof(MpmcRing));
  ASSERT_EQ(first->length, 16U);
  first->length = 17;
  const char* what = ring.inconsistency();
  ASSERT_NE(what, nullptr);
  EXPECT_STREQ(what, "MpmcRing slot length past message_size");
}

// The futex under those sleeps: a process asleep for up to 30 s on a WaitWord in shared
// memory is woken by another process's wake() at once (well inside the 10 s deadline),
// and a sleeper whose epoch moved after it armed does not sleep at all.
TEST(RingWaitWord, WakeEndsASleepInAnotherProcess) {
  testing::Watchdog dog(60s, "RingWaitWord.WakeEndsASleepInAnotherProcess");
  SharedArea area(sizeof(detail::WaitWord));
  auto* word = new (area.data()) detail::WaitWord{};
  const pid_t child = testing::fork_child([&] {
    const auto epoch = detail::arm_sleep(*word);
    detail::sleep_armed(*word, epoch, std::chrono::nanoseconds(30s).count());
    return 0;
  });
  ASSERT_TRUE(testing::eventually([&] { return word->sleeps.load() > 0; }));
  detail::wake(*word);
  const auto exit = testing::wait_child(child, 10s);
  EXPECT_TRUE(exit.ok()) << exit.describe();
  EXPECT_EQ(word->wakeups.load(), 1U);
  EXPECT_EQ(word->sleepers.load(), 0U);

  const auto stale = detail::arm_sleep(*word);
  detail::wake(*word);
  const pid_t late = testing::fork_child([&] {
    detail::sleep_armed(*word, stale, std::chrono::nanoseconds(30s).count());
    return 0;
  });
  const auto late_exit = testing::wait_child(late, 10s);
  EXPECT_TRUE(late_exit.ok()) << late_exit.describe();
}

// 100k sequenced messages from one producer process to one consumer process:
// every one arrives once, whole, in order; in a ring built on zeroed memory (nothing
// written but its header), as the harness builds its rings.
TYPED_TEST(RingTest, HundredThousandMessagesCrossProcessesOnceInOrder) {
  testing::Watchdog dog(60s, "HundredThousandMessagesCrossProcessesOnceInOrder");
  constexpr std::uint64_t kMessages = 100'000;
  auto& ring = this->make({256, 48}, RingMemory::kZeroed);
  SharedArea ledger_area(sizeof(ring_test::Ledger));
  auto* ledger = ring_test::make_ledger(ledger_area);
  const pid_t producer =
      testing::fork_child([&] { return ring_test::produce(ring, 1, 0, kMessages); });
  const pid_t consumer =
      testing::fork_child([&] { return ring_test::consume(ring, *ledger, kMessages); });
  const auto p = testing::wait_child(producer, 40s);
  const auto c = testing::wait_child(consumer, 40s);
  EXPECT_TRUE(p.ok()) << "producer " << p.describe();
  EXPECT_TRUE(c.ok()) << "consumer " << c.describe();
  EXPECT_EQ(ledger->delivered.load(), kMessages);
  EXPECT_EQ(ledger->torn.load(), 0U);
  EXPECT_EQ(ledger->reordered.load(), 0U);
  EXPECT_EQ(ledger->abandoned.load(), 0U);
  std::uint64_t once = 0;
  for (std::uint64_t seq = 0; seq < kMessages; ++seq) once += ledger->count(1, seq) == 1 ? 1 : 0;
  EXPECT_EQ(once, kMessages);
  EXPECT_EQ(ring.stats().pushes, kMessages);
  EXPECT_EQ(ring.stats().pops, kMessages);
}

// Pages of [p, p + bytes) resident in memory (mincore).
std::size_t resident_pages(void* p, std::size_t bytes) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> in_core((bytes + page - 1) / page);
  if (::mincore(p, bytes, in_core.data()) != 0) {
    ADD_FAILURE() << "mincore: " << std::strerror(errno);
    return 0;
  }
  return static_cast<std::size_t>(
      std::count_if(in_core.begin(), in_core.end(), [](unsigned char c) { return (c & 1) != 0; }));
}

// A ring built on zeroed memory writes its header and nothing else: a 64 MiB ring
// starts with a page or two resident, not 64 MiB of them (a 2 GiB ring took seconds to
// build and the whole of it in memory, used or not). It is empty, fills to capacity,
// and carries messages over several laps in order like any other.
TYPED_TEST(RingTest, BuiltOnZeroedMemoryItTouchesOnlyItsHeaderAndWorksOverManyLaps) {
  constexpr RingConfig kLargeRing{65'536, 1000};
  const std::size_t bytes = TypeParam::bytes_needed(kLargeRing);
  const int fd = ::memfd_create("ring-test", MFD_CLOEXEC);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(bytes)), 0) << std::strerror(errno);
  void* mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  ASSERT_NE(mem, MAP_FAILED) << std::strerror(errno);
  auto made = TypeParam::create_at(mem, bytes, kLargeRing, RingMemory::kZeroed);
  ASSERT_TRUE(made) << made.error().message();
  auto& ring = **made;
  EXPECT_LE(resident_pages(mem, bytes), 2U) << "of " << bytes / 4096;

  std::vector<std::byte> out(kLargeRing.message_size);
  EXPECT_EQ(ring.try_pop(out).status, PopStatus::kEmpty);
  std::uint64_t next_in = 0;
  std::uint64_t next_out = 0;
  for (std::uint64_t i = 0; i < kLargeRing.capacity; ++i)
    ASSERT_TRUE(ring.try_push(bytes_of(next_in++)));
  EXPECT_FALSE(ring.try_push(bytes_of(next_in)));
  for (int lap = 0; lap < 3 * 8; ++lap) {  // 3 laps, an eighth of the ring at a time
    for (std::uint64_t i = 0; i < kLargeRing.capacity / 8; ++i) {
      const auto r = ring.try_pop(out);
      ASSERT_EQ(r.status, PopStatus::kOk) << next_out;
      ASSERT_EQ(value_of(out), next_out++);
    }
    for (std::uint64_t i = 0; i < kLargeRing.capacity / 8; ++i)
      ASSERT_TRUE(ring.try_push(bytes_of(next_in++)));
    ASSERT_FALSE(ring.try_push(bytes_of(next_in)));
  }
  while (next_out < next_in) {
    ASSERT_EQ(ring.try_pop(out).status, PopStatus::kOk);
    ASSERT_EQ(value_of(out), next_out++);
  }
  EXPECT_EQ(ring.try_pop(out).status, PopStatus::kEmpty);
  EXPECT_EQ(ring.stats().abandoned, 0U);
  ::munmap(mem, bytes);
}

}  // namespace
}  // namespace shmcheck::core
