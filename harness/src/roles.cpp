#include "shmcheck/harness/roles.hpp"

#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <optional>
#include <span>
#include <type_traits>
#include <vector>

#include "shmcheck/core/failpoint.hpp"
#include "shmcheck/core/mpmc_ring.hpp"
#include "shmcheck/core/robust_mutex.hpp"
#include "shmcheck/core/segment.hpp"
#include "shmcheck/core/semaphore.hpp"
#include "shmcheck/core/spsc_ring.hpp"
#include "shmcheck/harness/pacing.hpp"
#include "shmcheck/probes/message.hpp"
#include "shmcheck/probes/segment_page.hpp"

namespace shmcheck::harness {
namespace {

using probes::WorkerOp;

constexpr std::chrono::milliseconds kPollStep{
    2};  // how long a blocking op waits before re-checking stop

// Shared state of every role loop.
class Context {
 public:
  Context(const WorkerConfig& cfg, ControlSegment& control)
      : cfg_(cfg),
        control_(control),
        slot_(control.view().worker(cfg.index)),
        stats_(control.view().stats(cfg.index)) {}

  const WorkerConfig& cfg() const { return cfg_; }
  ControlSegment& control() { return control_; }
  probes::WorkerSlot& slot() { return slot_; }
  probes::StatsBlock& stats() { return stats_; }

  // The run's end instant passed, or the harness asked everyone to stop.
  bool should_stop() const {
    if (control_.phase() == RunPhase::kStop) return true;
    const auto end = control_.run().end_ns.load(std::memory_order_acquire);
    return end != 0 && monotonic_ns() >= end;
  }
  bool budget_spent(std::uint64_t done) const { return cfg_.ops && done >= *cfg_.ops; }
  // Messages for the next push or pop call: a burst, or what is left of the budget.
  std::uint64_t batch(std::uint64_t done) const {
    return cfg_.ops ? std::min<std::uint64_t>(cfg_.burst, *cfg_.ops - done) : cfg_.burst;
  }

  // Rate pacing: the instant the n-th operation (0-based) of this incarnation should
  // start; now when unpaced. Sleeps until then; nullopt when the run ended first (see
  // wait_unless_stopped), and the operation is not to be done.
  // `drain`: a consumer's wait ends with the stop phase only, not at the run's end: it
  // drains its ring until then, paced or not.
  std::optional<std::uint64_t> pace(std::uint64_t n, bool drain = false) {
    const std::uint64_t now = monotonic_ns();
    if (cfg_.rate <= 0) return now;
    if (pace_origin_ == 0) pace_origin_ = now;
    const auto offset = static_cast<std::uint64_t>(static_cast<double>(n) * 1e9 / cfg_.rate);
    const std::uint64_t intended = pace_origin_ + offset;
    if (intended > now && !wait_unless_stopped(now, intended, WaitTail::yield, drain)) {
      return std::nullopt;
    }
    return intended;
  }
  // For every role but the producer (which times its messages from pace()): true when
  // the n-th operation may start, at once when unpaced; false when the run ended while
  // it waited. A consumer at 10/s is a slow consumer, a locker at 1k/s a lock's load.
  bool paced(std::uint64_t n, bool drain = false) {
    return cfg_.rate <= 0 || pace(n, drain).has_value();
  }
  // A hold keeps its CPU (WaitTail::spin): the worker holds a lock or a unit meanwhile.
  void hold() const { wait_for_unless_stopped(cfg_.hold_ns, WaitTail::spin); }
  void think() const { wait_for_unless_stopped(cfg_.think_ns, WaitTail::yield); }

 private:
  const WorkerConfig& cfg_;
  ControlSegment& control_;
  probes::WorkerSlot& slot_;
  probes::StatsBlock& stats_;
  // Waits until `instant`, in slices of kStopCheckNs while more than one is left, so a
  // long wait ends with the run (a producer paced at 1/s kept a 300 ms run going for a
  // second; a 4 s think, for 4 s); false when the run ended first. A wait of one slice
  // or less, every paced op of a busy run, costs nothing more than wait_until.
  bool wait_unless_stopped(std::uint64_t now, std::uint64_t instant,
                           WaitTail tail = WaitTail::yield, bool drain = false) const {
    while (instant > now + kStopCheckNs) {
      if (drain ? control_.phase() == RunPhase::kStop : should_stop()) return false;
      wait_until(now + kStopCheckNs, tail);
      now = monotonic_ns();
    }
    wait_until(instant, tail);
    return true;
  }
  void wait_for_unless_stopped(std::int64_t ns, WaitTail tail) const {
    if (ns <= 0) return;
    const std::uint64_t now = monotonic_ns();
    wait_unless_stopped(now, now + static_cast<std::uint64_t>(ns), tail);
  }
  static constexpr std::uint64_t kStopCheckNs = 10'000'000;

  std::uint64_t pace_origin_ = 0;
};

int fail(const Context& ctx, const char* what, const core::Error& error) {
  worker_log(ctx.cfg().index, "%s: %s", what, error.message().c_str());
  return kWorkerExitFailure;
}

// ---- producer / consumer -------------------------------------------------------------

// Messages this producer's earlier incarnations sent: the ops budget covers every
// incarnation, so a restarted producer sends what is left.
std::uint64_t sent_before(const WorkerConfig& cfg, const probes::ProducerJournal& journal) {
  std::uint64_t sent = 0;
  for (const auto& inc : journal.snapshot().incarnations) {
    if (inc.incarnation < cfg.incarnation) sent += inc.acked;
  }
  return sent;
}

// Test-only (Broken::kPublishBeforeWrite): what a consumer sees when a slot is
// published before its payload is written: header fields set, checksum and payload not.
void unwrite(std::span<std::byte> message) {
  constexpr std::size_t kChecksumOffset = offsetof(probes::MessageHeader, checksum);
  std::memset(message.data() + kChecksumOffset, 0, message.size() - kChecksumOffset);
}

// A full (producer) or empty (consumer) event: begun by the push or pop that found the
// ring so, ended by the one that moved something, or by the role's end. Counted once,
// however many poll steps it lasts; with the probes on, its length goes to the role's
// ring_wait histogram (two clock reads per event, none while the ring keeps moving).
class RingWait {
 public:
  enum class Side : std::uint8_t { kFull, kEmpty };
  RingWait(Context& ctx, Side side) : stats_(ctx.stats()), side_(side), timed_(ctx.cfg().probes) {}
  RingWait(const RingWait&) = delete;
  RingWait& operator=(const RingWait&) = delete;
  ~RingWait() { end(); }

  // One ring call: a first try (timeout 0: it still wakes the other side's sleepers)
  // unless this wait is already on; if that moved nothing (`moved`), the wait begins or
  // goes on, and the call waits up to a poll step. `call(timeout)` returns a value-
  // initialized result when it moved nothing.
  template <class Call, class Moved>
  auto attempt(Call&& call, Moved&& moved) {
    using Got = decltype(call(kPollStep));
    Got got = active_ ? Got{} : call(std::chrono::nanoseconds::zero());
    if (!moved(got)) {
      begin();
      got = call(kPollStep);
      if (moved(got)) end();
    }
    return got;
  }

 private:
  void begin() {
    if (active_) return;
    active_ = true;
    if (side_ == Side::kFull) {
      stats_.count_full();
    } else {
      stats_.count_empty();
    }
    if (timed_) since_ = monotonic_ns();
  }
  void end() {
    if (!active_) return;
    active_ = false;
    if (timed_) stats_.observe_ring_wait(monotonic_ns() - since_);
  }

  probes::StatsBlock& stats_;
  Side side_;
  bool timed_;
  bool active_ = false;
  std::uint64_t since_ = 0;
};

// One push call for the messages in `msgs` (back to back, `size` bytes each): how many
// the ring took. With `burst` > 1 (SpscRing only) push_burst_for, otherwise push_for of
// the first message; tried, then waited for as `full` says.
template <class Ring>
std::size_t push_some(Context& ctx, Ring& ring, std::span<const std::byte> msgs, std::size_t size,
                      RingWait& full) {
  const auto push = [&](std::chrono::nanoseconds timeout) -> std::size_t {
    if constexpr (std::is_same_v<Ring, core::SpscRing>) {
      if (ctx.cfg().burst > 1) return ring.push_burst_for(msgs, size, timeout);
    }
    return ring.push_for(msgs.first(size), timeout) ? 1 : 0;
  };
  return full.attempt(push, [](std::size_t n) { return n != 0; });
}

// Encodes up to `burst` messages (one, unless the spec says more), journals the last of
// them as attempted, and pushes them until all are in (the ring may take a burst a part
// at a time; each part is acked as its call returns). A kill inside a call publishes all
// of that call's messages or none: the checker accepts a prefix of the in-flight range
// and nothing else.
template <class Ring>
int run_producer(Context& ctx, Ring& ring) {
  const auto& cfg = ctx.cfg();
  auto& journal = ctx.control().view().producer(cfg.role_index);
  const std::uint64_t already = sent_before(cfg, journal);
  journal.begin_incarnation(cfg.incarnation);
  const std::size_t size = std::max<std::size_t>(cfg.message_size, probes::kMinMessageSize);
  std::vector<std::byte> buf(size * cfg.burst);
  ctx.slot().set_running();

  std::uint64_t seq = 0;  // the last seq pushed
  RingWait full(ctx, RingWait::Side::kFull);
  while (!ctx.should_stop() && !ctx.budget_spent(already + seq)) {
    const std::uint64_t n = ctx.batch(already + seq);
    // The intended send time, carried for the consumer's latency sample (every message
    // of a burst carries the burst's); unpaced with the probes off there is no sample
    // to take, so no clock read either.
    std::uint64_t intended = 0;
    if (cfg.rate > 0 || cfg.probes) {
      const auto paced = ctx.pace(seq);
      if (!paced) break;  // the run ended while this message waited for its time
      intended = *paced;
    }
    const std::span<std::byte> burst = std::span(buf).first(n * size);
    for (std::uint64_t i = 0; i < n; ++i) {
      const auto message = burst.subspan(i * size, size);
      if (!probes::encode_message(message, cfg.seed, cfg.role_index, cfg.incarnation, seq + 1 + i,
                                  intended)) {
        worker_log(cfg.index, "message of %zu bytes cannot be encoded", size);
        return kWorkerExitFailure;
      }
      if (cfg.broken == Broken::kPublishBeforeWrite) unwrite(message);
    }
    ctx.slot().enter_op(WorkerOp::kPush, seq + 1);
    journal.before_push(cfg.incarnation, seq + n);
    // Pushes the whole burst until it is in (or the run stops): how many are in.
    // `acked` calls after_push as each call returns.
    const auto push_all = [&](bool acked) {
      std::uint64_t pushed = 0;
      while (pushed < n) {
        const std::size_t got = push_some(ctx, ring, burst.subspan(pushed * size), size, full);
        if (got == 0) {
          if (ctx.should_stop()) break;
          continue;
        }
        pushed += got;
        if (acked) journal.after_push(cfg.incarnation, seq + pushed);
      }
      return pushed;
    };
    const std::uint64_t pushed = push_all(true);
    seq += pushed;
    if (pushed < n) {
      journal.withdraw(cfg.incarnation);
      break;
    }
    if (cfg.broken == Broken::kDuplicateSend) push_all(false);
    ctx.slot().leave_op();
    ctx.stats().count_ops(WorkerOp::kPush, n, n * size);
    ctx.think();
  }
  journal.finish(cfg.incarnation);
  return 0;
}

// Verifies a popped message, records its delivery, samples its latency.
// redelivered_from: the dead consumer whose message the ring published again, or 0.
void deliver(Context& ctx, probes::DeliveryLog& log, std::span<const std::byte> message,
             std::int32_t redelivered_from) {
  const auto& cfg = ctx.cfg();
  const auto msg = probes::verify_message(message, cfg.seed);
  log.record(msg, redelivered_from);
  if (msg.status == probes::MessageStatus::kOk && cfg.probes) {
    const std::uint64_t now = monotonic_ns();
    const std::uint64_t sent = msg.header.send_tsc_or_ns;
    ctx.stats().observe_latency(now > sent ? now - sent : 0);
  }
}

// What one pop call got: `n` messages (message i at buf[i * message_size], its length
// in sizes[i]), or a slot the ring abandoned because its claimer died (MpmcRing).
struct Popped {
  std::size_t n = 0;
  bool abandoned = false;
  std::int32_t claimer_pid = 0;
};

// The ring's producers have all ended: nothing more will be pushed.
bool producers_done(Context& ctx) {
  return ctx.control().run().producers_done[ctx.cfg().object.index].load(
             std::memory_order_acquire) != 0;
}

// One pop call for up to `want` messages. With `burst` > 1 (SpscRing only)
// pop_burst_for, otherwise pop_for of one message; tried, then waited for as `empty`
// says. What it takes is handed to `deliver` before the ring gets the slots back.
template <class Ring>
Popped pop_some(Context& ctx, Ring& ring, std::span<std::byte> buf, std::span<std::uint32_t> sizes,
                std::size_t want, RingWait& empty, core::BeforeRelease deliver) {
  const std::size_t message_size = ring.config().message_size;
  const auto pop = [&](std::chrono::nanoseconds timeout) -> Popped {
    if constexpr (std::is_same_v<Ring, core::SpscRing>) {
      if (ctx.cfg().burst > 1) {
        return {ring.pop_burst_for(buf.first(want * message_size), sizes.first(want), timeout,
                                   deliver)};
      }
    }
    const auto r = ring.pop_for(buf.first(message_size), timeout, deliver);
    switch (r.status) {
      case core::PopStatus::kEmpty:
        return {};
      case core::PopStatus::kAbandoned:
        return {0, true, r.claimer.pid};
      case core::PopStatus::kOk:
        break;
    }
    return {1};
  };
  return empty.attempt(pop, [](const Popped& p) { return p.n != 0 || p.abandoned; });
}

// Pops up to `burst` messages per call (one, unless the spec says more), verifies and
// records each before the pop releases its slot (core::BeforeRelease), so no message is
// ever out of the ring and unrecorded. A consumer killed inside pop leaves what it took
// in the ring: SpscRing's next consumer reads it; an MpmcRing publishes it again for
// another consumer, naming this one. What it had recorded then comes twice, which the
// checker allows as redelivered: at most what it recorded in the pop in flight, that is
// its records minus the op_seq - 1 messages of the pops it completed (so `popped`
// counts messages, not calls). An abandoned slot is recorded as such and counts as one
// pop.
// How long a delivery waits for the supervisor to drain a full delivery log (it drains
// every millisecond) before the record is dropped and the check counts an overflow: a
// harness held up that long (stopped, starved of CPU) is the only way to fill one.
constexpr std::chrono::seconds kLogRoomWait{5};

template <class Ring>
int run_consumer(Context& ctx, Ring& ring) {
  const auto& cfg = ctx.cfg();
  probes::DeliveryLog log(ctx.control().view().consumer(cfg.role_index), cfg.incarnation,
                          kLogRoomWait);
  const std::size_t message_size = ring.config().message_size;
  std::vector<std::byte> buf(message_size * cfg.burst);
  std::vector<std::uint32_t> sizes(cfg.burst);
  ctx.slot().set_running();

  std::uint64_t popped = 0;
  int empty_after_done = 0;
  RingWait empty(ctx, RingWait::Side::kEmpty);
  std::uint64_t bytes = 0;         // delivered by the current pop
  std::uint64_t taken_so_far = 0;  // Broken::kDropMessage's count
  auto record = [&](const core::Taken& taken) {
    for (std::size_t i = 0; i < taken.sizes.size(); ++i) {
      if (cfg.broken == Broken::kDropMessage && ++taken_so_far == 20) continue;
      deliver(ctx, log, std::span(buf).subspan(i * message_size, taken.sizes[i]),
              taken.claimer.pid);
      bytes += taken.sizes[i];
    }
  };
  for (;;) {
    if (ctx.control().phase() == RunPhase::kStop || ctx.budget_spent(popped)) break;
    if (!ctx.paced(popped, /*drain=*/true)) break;
    ctx.slot().enter_op(WorkerOp::kPop, popped + 1);
    bytes = 0;
    const Popped got =
        pop_some(ctx, ring, std::span(buf), std::span(sizes), ctx.batch(popped), empty, record);
    if (got.n == 0 && !got.abandoned) {
      ctx.slot().set_running();
      // Producers are done: two empty polls in a row mean the ring is drained.
      if (producers_done(ctx) && ++empty_after_done >= 2) break;
      continue;
    }
    empty_after_done = 0;
    if (got.abandoned) {
      log.record_abandoned(got.claimer_pid);
      ctx.stats().count_abandoned();
    }
    const std::uint64_t ops = got.abandoned ? 1 : got.n;
    popped += ops;
    ctx.slot().leave_op();
    ctx.stats().count_ops(WorkerOp::kPop, ops, bytes);
    ctx.think();
  }
  return 0;
}

template <class Ring>
int run_ring_role(Context& ctx, core::Segment& segment) {
  auto ring = Ring::attach(segment.payload(), segment.payload_size());
  if (!ring) return fail(ctx, "attach ring", ring.error());
  if (ctx.cfg().role == "producer") return run_producer(ctx, **ring);
  return run_consumer(ctx, **ring);
}

// ---- locker ---------------------------------------------------------------------------

int run_locker(Context& ctx, core::Segment& segment) {
  const auto& cfg = ctx.cfg();
  auto* mutex = core::RobustMutex::attach(segment.payload());
  auto& record = ctx.control().view().mutex(cfg.object.journal);
  const bool skip_lock = cfg.broken == Broken::kSkipLock;
  ctx.slot().set_running();
  std::uint64_t done = 0;
  while (!ctx.should_stop() && !ctx.budget_spent(done) && ctx.paced(done)) {
    ctx.slot().enter_op(WorkerOp::kLock, done + 1);
    std::uint64_t t0 = 0;  // when the wait began: read only when there is a wait
    bool waited = false;
    bool owner_died = false;
    if (!skip_lock) {
      auto status = mutex->try_lock();
      if (!status && status.error().code == core::ErrorCode::kTimedOut) {
        waited = true;
        if (cfg.probes) t0 = monotonic_ns();
        status = mutex->lock();
      }
      if (!status) return fail(ctx, "lock", status.error());
      owner_died = *status == core::LockStatus::kOwnerDied;
    }
    ctx.slot().set_holding(cfg.object.index + 1);
    if (cfg.probes) {
      // An acquisition by try_lock did not wait: a 0 ns sample, no clock read (two reads
      // cost more than the uncontended lock itself; try_lock's few ns fall in the first
      // bucket, <= 100 ns, either way).
      ctx.stats().count_lock(waited ? monotonic_ns() - t0 : 0, waited, owner_died);
    } else {
      ctx.stats().count_lock_untimed(waited, owner_died);
    }
    const auto entered = record.enter(owner_died);
    if (owner_died) {
      if (auto r = mutex->make_consistent(); !r) return fail(ctx, "make_consistent", r.error());
      if (entered.repaired) ctx.stats().count_repair();
    }
    ctx.slot().enter_op(WorkerOp::kUpdate, done + 1);
    record.update();
    ctx.hold();
    record.leave();
    ctx.slot().set_holding(0);
    if (!skip_lock) {
      if (auto r = mutex->unlock(); !r) return fail(ctx, "unlock", r.error());
    }
    ++done;
    ctx.slot().leave_op();
    ctx.stats().count_op(WorkerOp::kUpdate);
    ctx.think();
  }
  return 0;
}

// ---- waiter / poster ------------------------------------------------------------------

core::Result<core::Semaphore> open_semaphore(const ObjectBinding& obj,
                                             std::optional<core::Segment>& segment) {
  if (obj.flavor == "posix_named") return core::Semaphore::open_named(obj.sem_name);
  if (obj.flavor == "sysv") return core::Semaphore::open_sysv(obj.sem_id, obj.undo);
  auto ref = core::SegmentRef::parse(obj.segment_ref);
  if (!ref) return std::move(ref).error();
  auto seg = core::Segment::open(*ref);
  if (!seg) return std::move(seg).error();
  segment.emplace(std::move(seg).value());
  return core::Semaphore::attach_unnamed(segment->payload());
}

// Takes one unit, waiting in short steps so a stop is noticed. false: stopped first.
// stop_at_end: give up at the run's end (a waiter), not only at the harness's stop (a
// poster taking back the unit it lent: leaving without it would count a lent unit, drift
// -1, in a run where nobody was killed).
core::Result<bool> take_unit(Context& ctx, core::Semaphore& sem,
                             probes::SemaphoreUserLedger& ledger, std::uint64_t n,
                             bool stop_at_end) {
  ctx.slot().enter_op(WorkerOp::kWait, n);
  for (;;) {
    ledger.before_wait();
    auto got = sem.wait_for(kPollStep);
    if (!got) {
      ledger.cancel_wait();
      return std::move(got).error();
    }
    if (*got) {
      ledger.after_wait();
      return true;
    }
    ledger.cancel_wait();
    // At the run's end, not only at the harness's stop: a waiter blocked on a unit
    // nobody will post (stranded by a crash) held a 1 s run open until the stop, 2 s
    // long, and its rate and the run's throughput were reckoned over that.
    if (stop_at_end ? ctx.should_stop() : ctx.control().phase() == RunPhase::kStop) return false;
  }
}

core::Result<void> give_unit(Context& ctx, core::Semaphore& sem,
                             probes::SemaphoreUserLedger& ledger, std::uint64_t n) {
  ctx.slot().enter_op(WorkerOp::kPost, n);
  ledger.before_post();
  SHMCHECK_TRY(sem.post());
  ledger.after_post();
  return {};
}

int run_semaphore_user(Context& ctx) {
  const auto& cfg = ctx.cfg();
  std::optional<core::Segment> segment;
  auto sem = open_semaphore(cfg.object, segment);
  if (!sem) return fail(ctx, "open semaphore", sem.error());
  auto* ledger = ctx.control().view().semaphore(cfg.object.journal).user(cfg.role_index);
  if (ledger == nullptr) {
    worker_log(cfg.index, "semaphore user %u beyond the journal's capacity", cfg.role_index);
    return kWorkerExitFailure;
  }
  ledger->begin_incarnation(cfg.incarnation);
  const bool lender = cfg.role == "poster";
  ctx.slot().set_running();
  std::uint64_t done = 0;
  while (!ctx.should_stop() && !ctx.budget_spent(done) && ctx.paced(done)) {
    if (lender) {
      // Lend a unit, hold, take one back: a crash in between leaves one unit too many.
      if (auto r = give_unit(ctx, *sem, *ledger, done + 1); !r) return fail(ctx, "post", r.error());
      ctx.slot().set_holding(cfg.object.index + 1);
      ctx.hold();
      auto took = take_unit(ctx, *sem, *ledger, done + 1, /*stop_at_end=*/false);
      if (!took) return fail(ctx, "wait", took.error());
      ctx.slot().set_holding(0);
      if (!*took) break;
    } else {
      // Take a unit, hold it, give it back: a crash in between strands the unit.
      auto took = take_unit(ctx, *sem, *ledger, done + 1, /*stop_at_end=*/true);
      if (!took) return fail(ctx, "wait", took.error());
      if (!*took) break;
      ctx.slot().set_holding(cfg.object.index + 1);
      core::failpoint(core::FailpointId::kSemaphoreAfterWait);
      ctx.hold();
      if (auto r = give_unit(ctx, *sem, *ledger, done + 1); !r) return fail(ctx, "post", r.error());
      ctx.slot().set_holding(0);
    }
    ++done;
    ctx.slot().leave_op();
    ctx.stats().count_op(lender ? WorkerOp::kPost : WorkerOp::kWait);
    ctx.think();
  }
  return 0;
}

// ---- writer / reader ------------------------------------------------------------------

int run_pages(Context& ctx, core::Segment& segment) {
  const auto& cfg = ctx.cfg();
  const std::size_t page_size = cfg.object.page_size;
  if (page_size < probes::kMinPageSize || page_size % 64 != 0) {
    worker_log(cfg.index, "bad page size %zu", page_size);
    return kWorkerExitFailure;
  }
  const std::size_t pages = segment.payload_size() / page_size;
  if (pages == 0) {
    worker_log(cfg.index, "segment smaller than one page");
    return kWorkerExitFailure;
  }
  auto* base = static_cast<std::byte*>(segment.payload());
  auto& journal = ctx.control().view().pages(cfg.object.journal);
  const bool writer = cfg.role == "writer";
  // Writers own pages round-robin (page % writers == writer index): one writer per page.
  const std::uint32_t writers = std::max<std::uint32_t>(cfg.writers, 1);
  const std::uint32_t me = cfg.role_index;
  std::vector<std::byte> scratch(page_size);
  ctx.slot().set_running();
  std::uint64_t done = 0;
  std::size_t next = me % pages;
  while (!ctx.should_stop() && !ctx.budget_spent(done) && ctx.paced(done)) {
    const std::span<std::byte> page(base + next * page_size, page_size);
    if (writer) {
      ctx.slot().enter_op(WorkerOp::kWrite, done + 1);
      const auto w = probes::write_page(page, cfg.seed, me);
      journal.count_write();
      if (w.repaired) journal.count_repair();
      next += writers;
      if (next >= pages) next = me % pages;
    } else {
      ctx.slot().enter_op(WorkerOp::kRead, done + 1);
      const auto r = probes::read_page(page, cfg.seed, scratch);
      switch (r.status) {
        case probes::PageReadStatus::kOk:
          journal.count_read_ok();
          break;
        case probes::PageReadStatus::kBusy:
          journal.count_retry();
          break;
        case probes::PageReadStatus::kTorn:
          journal.count_torn();
          break;
        case probes::PageReadStatus::kEmpty:
          break;
      }
      next = (next + 1) % pages;
    }
    ++done;
    ctx.slot().leave_op();
    ctx.stats().count_op(writer ? WorkerOp::kWrite : WorkerOp::kRead, page_size);
    ctx.think();
  }
  return 0;
}

core::Result<core::Segment> open_object_segment(const ObjectBinding& obj) {
  auto ref = core::SegmentRef::parse(obj.segment_ref);
  if (!ref) return std::move(ref).error();
  return core::Segment::open(*ref);
}

}  // namespace

void worker_log(std::uint32_t index, const char* format, ...) {
  char buf[512];
  int n = std::snprintf(buf, sizeof buf, "shmcheck worker %u: ", index);
  if (n < 0) return;
  va_list args;
  va_start(args, format);
  const int m = std::vsnprintf(buf + n, sizeof buf - static_cast<std::size_t>(n), format, args);
  va_end(args);
  std::size_t len = static_cast<std::size_t>(n) + (m > 0 ? static_cast<std::size_t>(m) : 0);
  if (len > sizeof buf - 2) len = sizeof buf - 2;
  buf[len++] = '\n';
  [[maybe_unused]] const auto w = ::write(STDERR_FILENO, buf, len);
}

int run_role(const WorkerConfig& cfg, ControlSegment& control) {
  Context ctx(cfg, control);
  const auto& role = cfg.role;
  if (role == "waiter" || role == "poster") return run_semaphore_user(ctx);
  auto segment = open_object_segment(cfg.object);
  if (!segment) return fail(ctx, "open object segment", segment.error());
  if (role == "producer" || role == "consumer") {
    if (cfg.object.kind == "spsc_ring") return run_ring_role<core::SpscRing>(ctx, *segment);
    return run_ring_role<core::MpmcRing>(ctx, *segment);
  }
  if (role == "locker") return run_locker(ctx, *segment);
  if (role == "writer" || role == "reader") return run_pages(ctx, *segment);
  worker_log(cfg.index, "unknown role '%s'", role.c_str());
  return kWorkerExitFailure;
}

}  // namespace shmcheck::harness
