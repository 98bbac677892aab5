// The integrity checker: pure functions from journal snapshots (copied out of shared
// memory after the run, or built by hand in tests) to verdicts. No I/O, no processes,
// deterministic: the same snapshots always give the same counts and examples. The
// message check is also a DeliveryTally (below) that the harness feeds while the run
// goes on, so that what it holds does not grow with the run.
//
// Messages. Keys are (producer, incarnation, seq); seq is 1-based per incarnation.
// From the producer ledgers (attempted/acked per incarnation) and the consumers'
// delivery logs, each key falls in exactly one class:
//   delivered      acked (or in flight) and delivered exactly once, in order.
//   lost           seq <= acked, never delivered, and not explained by a crash; or
//                  in flight (below) and never delivered while a later message of the
//                  same incarnation's in-flight range was: a producer publishes in
//                  seq order, so that one was committed and then went missing.
//   lost_at_crash  like lost, but explained: a consumer incarnation of an MpmcRing died
//                  inside pop holding messages the ring has not published again (no
//                  producer came round to its slot before the run ended). Each such
//                  crash explains at most the slots it still claims after the run
//                  (CrashRecord::claims_left), or MessageCheckInput::messages_per_pop
//                  lost messages when that is not known. A consumer whose ring rereads what it did
//                  not release (CrashRecord::successor_rereads, an SpscRing), or whose message the
//                  ring published again, explains no loss.
//   recovered      acked < seq <= attempted of an incarnation that did not finish
//                  (in flight when it died: one message, or the rest of a burst,
//                  whose push had begun and not returned) and delivered anyway.
//   in_flight_dropped  ditto, but never delivered (allowed: it was never acked).
//                  Of an in-flight range, what was delivered must be a prefix:
//                  a burst is published whole or not at all, and in order.
//   unexpected     delivered but never attempted: seq > attempted, seq == 0, an
//                  incarnation with no ledger, or a foreign message (counted once
//                  per distinct key; `foreign` counts foreign records separately).
// and, counted over delivery records:
//   duplicated     every extra ok delivery of a key already delivered (any consumer),
//                  unless it is redelivered:
//   redelivered    an extra copy of a message a consumer recorded and had not released
//                  when it died inside pop (core::BeforeRelease): on an SpscRing, one of
//                  the last messages_per_pop its incarnation recorded, delivered again by
//                  its next incarnation (or found in its ring after the run); on an
//                  MpmcRing, the message the ring published again naming that consumer
//                  (DeliveryRecord::claimer_pid), delivered by any. Not a violation: a
//                  crash explains it, as lost_at_crash. A message published again is
//                  exempt from the order check (it comes late by design).
//   reordered      per consumer, per (producer, incarnation): an ok delivery whose seq
//                  is below the highest seq that consumer already received from that
//                  producer incarnation. Only per-consumer order is checked: with
//                  several consumers on an MPMC ring, no order between consumers is
//                  promised (each consumer claims slots in ring order, so its own
//                  subsequence of one producer's messages must ascend). With one
//                  consumer this is the full per-producer FIFO.
//   torn           records whose message failed verification (checksum or length).
//   abandoned      records of slots the ring skipped because their claimer died;
//                  abandoned_unexplained: the claimer pid is not a crashed worker's.
//   stalled        passed through from the watchdog (MessageCheckInput::stalled).
//   stranded       in a stalled run: acked, never delivered, not explained by a crash.
//                  The watchdog killed the consumers with them still in the rings, so
//                  they are not proved lost (the stall is the finding); a stalled run
//                  counts as lost only what a later delivery proves was skipped.
//   unlogged       acked, never seen delivered, and no more of them than records a full
//                  delivery log dropped (log_overflow): not proved lost, unchecked.
// `complete` is false when a consumer log overflowed or a producer had untracked
// incarnations: then lost/unexpected may be wrong and the harness must say so.
//
// Crash attribution: every producer/consumer incarnation that died (CrashRecord)
// gets a line saying which operation was in flight and what became of it.
//
// Mutex, semaphore and segment-page checks: see check_mutex, check_semaphore,
// check_pages below.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "shmcheck/probes/journal.hpp"
#include "shmcheck/probes/worker_op.hpp"

namespace shmcheck::probes {

// One worker incarnation that ended without finish() (killed, crashed, _exit).
struct CrashRecord {
  std::string role;  // "producer", "consumer", "locker", "poster", "waiter", "writer", "reader"
  std::uint32_t index = 0;  // role-local index (producer index, consumer index, ...)
  std::uint32_t incarnation = 0;
  std::int32_t pid = 0;
  WorkerOp op = WorkerOp::kNone;  // WorkerSlot current_op at death
  std::uint64_t op_seq = 0;       // WorkerSlot op_seq at death
  std::string failpoint;          // the failpoint that fired, "" when none (timer, signal)
  // Killed by the watchdog as it ended a stalled run: a consumer's pop it cut short
  // explains no loss (what it held is counted stranded, as what the ring still held).
  bool by_watchdog = false;
  // A consumer whose ring keeps what a pop took until the pop releases it (SpscRing):
  // its successor reads again what it had not released. Its death in pop explains
  // redeliveries, not losses.
  bool successor_rereads = false;
  // An MpmcRing consumer: the ring's slots still claimed by it once the harness drained
  // the ring after the run (what nobody could prove it dead for, and so publish again):
  // the most its death can have taken. Unset: not known, messages_per_pop. A consumer
  // killed waiting in an empty ring claimed nothing, and excused a real loss before.
  std::optional<std::uint64_t> claims_left = std::nullopt;
};

// A CrashRecord from the dead worker's slot (op in flight, injected failpoint name).
[[nodiscard]] CrashRecord make_crash_record(std::string role, std::uint32_t index,
                                            const WorkerSlotSnapshot& slot);

struct MessageKey {
  std::uint32_t producer = 0;
  std::uint32_t incarnation = 0;
  std::uint64_t seq = 0;
  friend auto operator<=>(const MessageKey&, const MessageKey&) = default;
};

struct IntegrityCounts {
  std::uint64_t attempted = 0;  // Σ attempted over producer incarnations (messages tried)
  std::uint64_t acked = 0;      // Σ acked
  std::uint64_t delivered = 0;  // ok deliveries, in messages (duplicates included)
  // Committed, still in a ring when the workers had ended (the run stopped its consumers
  // with a backlog), drained and verified by the harness: checked as deliveries are
  // (duplicates, order, torn) and not counted delivered.
  std::uint64_t left_in_ring = 0;
  std::uint64_t lost = 0;
  std::uint64_t lost_at_crash = 0;
  std::uint64_t recovered = 0;
  std::uint64_t in_flight_dropped = 0;
  std::uint64_t unexpected = 0;
  std::uint64_t foreign = 0;
  std::uint64_t duplicated = 0;
  std::uint64_t redelivered = 0;
  std::uint64_t reordered = 0;
  std::uint64_t torn = 0;
  std::uint64_t abandoned = 0;
  std::uint64_t abandoned_unexplained = 0;
  std::uint64_t stalled = 0;
  std::uint64_t stranded = 0;
  std::uint64_t unlogged = 0;                // acked, unseen, at most log_overflow of them
  std::uint64_t log_overflow = 0;            // Σ consumer log overflow
  std::uint64_t untracked_incarnations = 0;  // Σ producers' untracked incarnations
  bool complete = true;

  // Violations of the exactly-once contract that no crash explains:
  // lost + unexpected + duplicated + reordered + torn + abandoned_unexplained + stalled.
  [[nodiscard]] std::uint64_t violations() const noexcept;
  friend bool operator==(const IntegrityCounts&, const IntegrityCounts&) = default;
};

// Calls f(name, count) for every count by its stable name (the IntegrityCounts field
// names, in declaration order, "complete" excluded): the one list of them, walked by
// named_counts and by the run result's JSON.
template <class Counts, class F>
requires std::is_same_v<std::remove_const_t<Counts>, IntegrityCounts>
void for_each_count(Counts& c, F&& f) {
  f("attempted", c.attempted);
  f("acked", c.acked);
  f("delivered", c.delivered);
  f("left_in_ring", c.left_in_ring);
  f("lost", c.lost);
  f("lost_at_crash", c.lost_at_crash);
  f("recovered", c.recovered);
  f("in_flight_dropped", c.in_flight_dropped);
  f("unexpected", c.unexpected);
  f("foreign", c.foreign);
  f("duplicated", c.duplicated);
  f("redelivered", c.redelivered);
  f("reordered", c.reordered);
  f("torn", c.torn);
  f("abandoned", c.abandoned);
  f("abandoned_unexplained", c.abandoned_unexplained);
  f("stalled", c.stalled);
  f("stranded", c.stranded);
  f("unlogged", c.unlogged);
  f("log_overflow", c.log_overflow);
  f("untracked_incarnations", c.untracked_incarnations);
}

// Every count by its stable name (for_each_count's order): the `kind` label of
// shmcheck_integrity_violations_total and the rows of report tables.
[[nodiscard]] std::vector<std::pair<std::string_view, std::uint64_t>> named_counts(
    const IntegrityCounts& counts);
// The kinds that count as violations (summed by IntegrityCounts::violations()).
[[nodiscard]] bool is_violation_kind(std::string_view kind) noexcept;

// A few keys per class for the report ("lost: producer 1 incarnation 0 seq 77").
// IntegrityExample::consumer of what the harness drained from a ring after the run.
inline constexpr std::int32_t kLeftInRing = -2;

struct IntegrityExample {
  std::string kind;  // "lost", "duplicated", ... (the IntegrityCounts field name)
  MessageKey key;
  // The consumer whose log shows it; -1 when none, kLeftInRing when the harness found
  // it in a ring after the run.
  std::int32_t consumer = -1;
  std::string detail;
  friend bool operator==(const IntegrityExample&, const IntegrityExample&) = default;
};

struct CrashAttribution {
  CrashRecord crash;
  // "recovered", "in_flight_dropped", "lost_in_pop", "reread" (a consumer that died in
  // pop on a ring that rereads), "stranded", "abandoned_slot", "none" (nothing
  // message-related was in flight), "not_a_message_worker".
  std::string effect;
  std::optional<MessageKey> message;  // the message in flight, when known
  std::string description;            // one sentence for people
};

struct MessageCheckInput {
  std::vector<ProducerSnapshot> producers;
  std::vector<ConsumerSnapshot> consumers;
  std::vector<CrashRecord> crashes;  // all roles; non-message roles are ignored
  std::uint64_t stalled = 0;
  // The most messages one pop can take (consumers popping bursts take up to their
  // burst, at most kRedeliveryWindow): what a consumer that died inside pop may have
  // taken and not logged, or logged and not released.
  std::uint64_t messages_per_pop = 1;
};

struct MessageVerdict {
  IntegrityCounts counts;
  std::vector<IntegrityExample> examples;  // at most kMaxExamplesPerKind per kind
  std::vector<CrashAttribution> crashes;   // one per producer/consumer crash, input order
};

inline constexpr std::size_t kMaxExamplesPerKind = 8;
// The last messages of each consumer incarnation the tally remembers, to recognise what
// its successor reads again: messages_per_pop beyond it explains no more.
inline constexpr std::uint64_t kRedeliveryWindow = 4096;

[[nodiscard]] MessageVerdict check_messages(const MessageCheckInput& input);

// DeliveryTally: check_messages fed one delivery record at a time, so that a run of any
// length is checked in memory bounded by what is still open, not by what was
// delivered. check_messages(input) is exactly: add() every record of input.consumers,
// add_overflow() their overflows, then finish(input).
//
// The harness adds the records it drains from the consumers' logs while the run goes
// on, and after each drain settles every producer: a delivered seq at or below its
// incarnation's acked is final (it is a delivery, or a duplicate counted and kept
// when it arrived), so it needs no more than a place in the incarnation's coverage,
// a set of seq intervals that merges as the consumers' records fill the gaps between
// each other. What the tally holds (held()) is then the coverage's intervals (one per
// producer incarnation plus one per gap not yet filled: the records of consumers
// drained at different points, and messages lost), the deliveries above acked (for
// examples: who delivered them), duplicate copies and abandoned slots (violations,
// kept for their examples), and one highest seq per consumer and producer
// incarnation. Without settle() it keeps every delivery above seq 0 (check_messages).
//
// Per consumer, records must be added in append order (the reordering check is
// per consumer); consumers may interleave. One thread; copyable, movable.
class DeliveryTally {
 public:
  // A record of the log of consumer `consumer` (ConsumerLog::consumer()).
  void add(std::uint32_t consumer, const DeliveryRecord& record);
  // A message (or abandoned slot) the harness popped from a ring after every worker had
  // ended: checked like a delivery by a consumer of its own (kLeftInRing), counted in
  // left_in_ring instead of delivered. Added after every consumer record.
  void add_left_in_ring(const DeliveryRecord& record);
  // Appends the consumer's log refused (ConsumerSnapshot::overflow).
  void add_overflow(std::uint64_t refused) noexcept { counts_.log_overflow += refused; }
  // The producer's incarnations have acknowledged up to their `acked` (read after the
  // records added so far were drained, or later): forget who delivered seqs 1..acked.
  void settle(const ProducerSnapshot& producer);
  // Intervals, spans and entries held (the quantity `shmcheck run --max-log-records`
  // bounds), each some 50-80 bytes with its container's overhead; with each consumer's
  // last records (kRedeliveryWindow messages at most, a few spans).
  [[nodiscard]] std::uint64_t held() const noexcept;
  // The verdict over everything added; input.consumers is not read. Consumes the tally.
  [[nodiscard]] MessageVerdict finish(const MessageCheckInput& input) &&;

 private:
  using IncKey = std::pair<std::uint32_t, std::uint32_t>;  // (producer, incarnation)
  // Seqs [begin, end) of one producer incarnation, delivered to `consumer`.
  struct Span {
    std::uint64_t begin = 0;
    std::uint64_t end = 0;
    std::int32_t consumer = -1;
  };
  struct Delivered {  // per producer incarnation
    // Disjoint, non-adjacent intervals begin -> end: the distinct seqs delivered.
    std::map<std::uint64_t, std::uint64_t> coverage;
    std::vector<Span> unsettled;  // deliveries not known to be at or below acked
    std::vector<Span> copies;     // extra copies of seqs already covered, arrival order
    std::uint64_t settled = 0;    // acked at the last settle(): seqs 1..settled are final
  };
  // Messages [begin, end) of one producer incarnation, recorded in a row by one consumer
  // incarnation.
  struct TailSpan {
    IncKey key;
    std::uint64_t begin = 0;
    std::uint64_t end = 0;
  };
  // Per consumer: the last messages its current incarnation recorded, and those of the
  // incarnations before it (what a successor may read again: a consumer killed while
  // reading again what its predecessor left leaves some of both), oldest first.
  struct IncarnationTail {
    std::uint32_t incarnation = 0;
    std::deque<TailSpan> last;
  };
  static constexpr std::size_t kTailIncarnations = 16;  // previous ones remembered
  struct ConsumerTail {
    std::uint32_t incarnation = 0;
    std::deque<TailSpan> last;
    std::uint64_t messages = 0;            // in `last`, at most kRedeliveryWindow
    std::deque<IncarnationTail> previous;  // newest last
  };
  // An extra copy of messages [begin, end) that consumer `consumer` incarnation
  // `of_incarnation` recorded among its last: a redelivery if that incarnation died in
  // pop on a ring that rereads, and if they were among its last messages_per_pop.
  struct Redelivery {
    IncKey key;
    Span copy;                   // [begin, end) and who delivered the copy
    std::int32_t consumer = -1;  // who recorded the first copy
    std::uint32_t of_incarnation = 0;
    std::uint64_t distance = 0;  // messages that incarnation recorded after seq end - 1
    // Seqs [copy.begin, reordered_below) were counted reordered (below what that consumer
    // had received): not, if they are redelivered.
    std::uint64_t reordered_below = 0;
  };
  struct Abandoned {  // per claimer pid
    std::uint64_t count = 0;
    std::vector<std::pair<MessageKey, std::int32_t>> shown;  // (key, consumer), a few
  };
  // The first kMaxExamplesPerKind examples of each kind, in the order found.
  class Examples {
   public:
    [[nodiscard]] bool want(const std::string& kind) const;
    void add(const std::string& kind, const MessageKey& key, std::int32_t consumer,
             std::string detail);
    template <class Pred>
    void remove_if(Pred&& pred);
    std::vector<IntegrityExample> list;

   private:
    std::map<std::string, std::size_t> counts_;
  };

  // Seqs [span.begin, reordered_below) were counted reordered as they arrived.
  void insert_delivery(const IncKey& key, Delivered& d, Span span, std::uint64_t reordered_below);
  // Consumer `who`'s tail, as of a record of its incarnation `incarnation` (a new one:
  // the last one's tail joins the previous incarnations').
  ConsumerTail& tail_of(std::int32_t who, std::uint32_t incarnation);
  // Appends seqs [begin, end) of `key` to the tail, forgetting what falls out of the window.
  static void remember(ConsumerTail& tail, const IncKey& key, std::uint64_t begin,
                       std::uint64_t end);
  // An extra copy: the part of it some consumer recorded last (its own predecessor's, or
  // for kLeftInRing any consumer's last incarnation's) is a possible redelivery, the rest
  // is duplicated.
  void count_copy(const IncKey& key, Delivered& d, Span copy, std::uint64_t reordered_below);
  // add(), its ok messages counted into `ok` (counts_.delivered or left_in_ring).
  void add_counted(std::uint32_t consumer, const DeliveryRecord& record, std::uint64_t& ok);

  IntegrityCounts counts_;  // those counted per record: delivered, duplicated, ...
  Examples examples_;
  std::map<IncKey, Delivered> delivered_;
  // Per (consumer, producer, incarnation): the highest seq that consumer received.
  std::map<std::tuple<std::int32_t, std::uint32_t, std::uint32_t>, std::uint64_t> highest_;
  std::map<std::int32_t, Abandoned> abandoned_;
  std::map<std::int32_t, ConsumerTail> tails_;
  // Messages each (consumer, incarnation) recorded, whatever their status.
  std::map<std::pair<std::int32_t, std::uint32_t>, std::uint64_t> recorded_;
  std::vector<Redelivery> redeliveries_;
  // Deliveries of messages an MpmcRing published again (DeliveryRecord::claimer_pid).
  struct Republished {
    MessageKey key;
    std::int32_t claimer_pid = 0;  // the consumer that died holding it
    std::int32_t consumer = -1;    // who took it (kLeftInRing: the harness, after the run)
  };
  std::vector<Republished> republished_;
};

// How the harness found a mutex once every locker had ended: it tries the lock itself.
enum class MutexLeft : std::uint8_t {
  kFree,            // unlocked
  kHeldByDead,      // a locker died holding it and no locker took it after (EOWNERDEAD)
  kLocked,          // still locked: by a process that is not a locker of the run
  kNotRecoverable,  // unlocked after an owner death without make_consistent
  kUntried,         // the harness could not try it (the error is a problem)
};
[[nodiscard]] std::string_view to_string(MutexLeft left) noexcept;
[[nodiscard]] std::optional<MutexLeft> mutex_left_from_string(std::string_view s) noexcept;

// Mutex: `locker_crashes` = locker incarnations that did not finish (died holding or
// not); `left` = how the harness found the lock after the run. Problems: exclusion
// violations, torn records without owner death, owner-died more often than lockers
// died, an owner-died not repaired, a lock left locked or unrecoverable, and the record
// (a == b == generation) or the in-section counter left wrong at the end, unless the
// lock was left held by a dead locker (it died inside the section, and nobody has
// locked after it: then record_consistent may be false, and it is not a problem).
// A locker that died outside the section explains nothing: the lock is free.
struct MutexFindings {
  std::string object;  // filled by the caller
  MutexSnapshot snapshot;
  std::uint64_t locker_crashes = 0;
  MutexLeft left = MutexLeft::kFree;
  bool record_consistent = true;  // a == b at the end
  std::vector<std::string> problems;
  [[nodiscard]] bool ok() const noexcept { return problems.empty(); }
};
[[nodiscard]] MutexFindings check_mutex(const MutexSnapshot& snapshot, std::uint64_t locker_crashes,
                                        MutexLeft left);

// Semaphore, after every user ended: value = the semaphore's value read by the harness.
//   held_at_exit = Σ over ended incarnations of (waits - posts) they still held.
//   drift        = initial + posts - waits + held_at_exit - value
//                  = units missing compared with a world where every ended holder's
//                  units came back.
//   expected_drift: 0 when the kernel gives units back (SysV SEM_UNDO), otherwise
//                  held_at_exit (POSIX cannot recover a dead holder's post).
//   stranded     = expected_drift: units no live process will ever post back.
//   lent_at_exit = Σ units ended lenders (posters) had posted and not taken back.
//                  SEM_UNDO takes such a unit back only while the value is above 0:
//                  the kernel clamps at 0, so a unit a waiter already took stays, one
//                  too many (drift -1 each, at most).
// ok when drift is within [expected - pending_posts - (undo ? lent_at_exit : 0),
// expected + (undo ? 0 : pending_waits)] (incarnations that died between the syscall
// and the ledger update make the ledger uncertain by one unit each; under SEM_UNDO the
// kernel gives back what a dead waiter's completed wait took, so no unit can be missing).
struct SemaphoreFindings {
  std::string object;  // filled by the caller
  std::string flavor;  // filled by the caller ("posix_unnamed", "posix_named", "sysv")
  std::uint32_t initial = 0;
  bool undo = false;
  std::int64_t value = 0;
  std::uint64_t posts = 0;
  std::uint64_t waits = 0;
  std::int64_t held_at_exit = 0;
  std::int64_t lent_at_exit = 0;
  std::int64_t drift = 0;
  std::int64_t expected_drift = 0;
  std::int64_t stranded = 0;
  std::uint64_t pending_waits = 0;
  std::uint64_t pending_posts = 0;
  std::vector<std::string> problems;
  [[nodiscard]] bool ok() const noexcept { return problems.empty(); }
  // The drifts the check accepts (above), and them as a report says it: "1" when the
  // ledger is certain, else "[0, 2]".
  [[nodiscard]] std::int64_t lowest_drift() const noexcept;
  [[nodiscard]] std::int64_t highest_drift() const noexcept;
  [[nodiscard]] std::string expected_text() const;
};
[[nodiscard]] SemaphoreFindings check_semaphore(const SemaphoreSnapshot& snapshot,
                                                std::int64_t value);

// Segment pages: torn reads are violations; repairs are expected after writer crashes.
struct PageFindings {
  std::string object;  // filled by the caller
  SegmentPageSnapshot snapshot;
  std::vector<std::string> problems;
  [[nodiscard]] bool ok() const noexcept { return problems.empty(); }
};
[[nodiscard]] PageFindings check_pages(const SegmentPageSnapshot& snapshot,
                                       std::uint64_t writer_crashes);

}  // namespace shmcheck::probes
