// Journals: the ledgers workers keep in shared memory so that the harness can prove,
// after the fact and even after SIGKILL, what was attempted, acknowledged, delivered,
// repaired and held.
//
// Across processes: every type here lives in the control segment, placed there by
// ControlLayout (control_layout.hpp) with placement-new; the harness creates and owns
// the segment, nobody destroys these objects (they are trivially destructible where
// it matters and the segment is simply unmapped). Plain structs of lock-free atomics
// and integers: no pointers, no virtuals, neither copyable nor movable, sizes and
// alignment static_asserted. A process killed at any instruction leaves every journal
// readable: each record is published by one release store (a counter or a state
// word) after its contents, and readers acquire that word first.
//
// What the harness reads is a *snapshot* (plain value types below, also built by
// hand in unit tests); integrity_checker.hpp turns snapshots into verdicts.
//
// Protocols (the worker side calls the methods; the order is the contract):
// - Producer: begin_incarnation(inc) once; for each message seq = 1, 2, ...:
//   before_push(inc, seq) BEFORE the first try_push, after_push(inc, seq) AFTER a
//   push returned true; withdraw(inc) when it gives up on a seq whose push never
//   succeeded (end of run with a full ring); finish(inc) on a clean exit.
//   So attempted > acked means "seq attempted may be in the ring or not" (in flight).
//   A producer pushing bursts calls before_push(inc, last seq of the burst) and
//   after_push(inc, last seq pushed) after every call that pushed some: then all of
//   (acked, attempted] is in flight, and what of it reached the ring is a prefix.
// - Consumer: records each pop that returned a message (ok, torn, foreign) or
//   kAbandoned through a DeliveryLog, AFTER the pop: an ok message that continues the
//   run of its producer incarnation extends that run's record (one release store of its
//   count), anything else appends a record. A consumer killed between pop and record
//   loses that delivery: the message shows up as lost, explained by the consumer's
//   crash in pop. The harness drains the log while the run goes on (drain_log); the
//   DeliveryLog answers its seal requests.
// - Locker: after lock(): enter(owner_died); update(); leave(); then unlock().
//   enter() repairs a record a dead owner left half-updated (the caller then calls
//   make_consistent()). update() contains the mutex.locked.* failpoints.
// - Semaphore user: begin_incarnation(inc); before_wait(); wait(); after_wait();
//   before_post(); post(); after_post().
// - Every worker: WorkerSlot begin(), enter_op()/leave_op() around each operation
//   (leave_op is the watchdog's heartbeat), finish() on a clean exit.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>
#include <vector>

#include "shmcheck/core/failpoint.hpp"
#include "shmcheck/probes/message.hpp"
#include "shmcheck/probes/worker_op.hpp"

namespace shmcheck::probes {

// Journals are cache-line aligned: workers write their own lines only.
inline constexpr std::size_t kJournalAlignment = 64;

// ---------------------------------------------------------------------------------
// WorkerSlot: one per worker (global worker index), read by the watchdog and harness.

enum class WorkerState : std::uint32_t {
  kEmpty = 0,     // never started
  kStarting = 1,  // begin() ran; attaching to objects
  kRunning = 2,   // between operations
  kInOp = 3,      // inside current_op
  kExited = 4,    // finish() ran: a clean exit (a killed worker never gets here)
};
[[nodiscard]] std::string_view to_string(WorkerState state) noexcept;

// Copied out of a WorkerSlot.
struct WorkerSlotSnapshot {
  WorkerState state = WorkerState::kEmpty;
  std::int32_t pid = 0;
  std::uint32_t incarnation = 0;
  WorkerOp current_op = WorkerOp::kNone;
  std::uint64_t op_seq = 0;    // the seq / iteration of the op in flight
  std::uint64_t progress = 0;  // operations completed, all incarnations
  std::uint32_t holding = 0;   // 1 + index of the object whose lock/unit it holds; 0 none
  bool injected = false;       // a failpoint fired in this incarnation
  core::FailpointId injected_failpoint = core::FailpointId::kCount;
  core::FailpointAction injected_action = core::FailpointAction::kKill;
  std::uint64_t injected_occurrence = 0;
  std::uint64_t injections = 0;  // failpoints fired, all incarnations

  friend bool operator==(const WorkerSlotSnapshot&, const WorkerSlotSnapshot&) = default;
};

class alignas(kJournalAlignment) WorkerSlot {
 public:
  WorkerSlot() noexcept = default;
  WorkerSlot(const WorkerSlot&) = delete;
  WorkerSlot& operator=(const WorkerSlot&) = delete;

  // Called by the worker itself first thing (a restart calls it again, incarnation + 1).
  void begin(std::int32_t pid, std::uint32_t incarnation) noexcept;
  void set_running() noexcept;  // attached to everything, starting its loop
  void enter_op(WorkerOp op, std::uint64_t seq) noexcept;
  void leave_op() noexcept;  // progress + 1 (heartbeat), state kRunning
  void set_holding(std::uint32_t object_plus_one) noexcept;
  void finish() noexcept;  // clean exit
  // Called from the failpoint observer before the action runs (see
  // install_failpoint_observer): "injected at failpoint X on occurrence N".
  void record_injection(core::FailpointId id, std::uint64_t occurrence,
                        core::FailpointAction action) noexcept;

  [[nodiscard]] WorkerSlotSnapshot snapshot() const noexcept;

 private:
  std::atomic<std::uint32_t> state_{0};
  std::atomic<std::int32_t> pid_{0};
  std::atomic<std::uint32_t> incarnation_{0};
  std::atomic<std::uint32_t> current_op_{0};
  std::atomic<std::uint64_t> op_seq_{0};
  std::atomic<std::uint64_t> progress_{0};
  std::atomic<std::uint32_t> holding_{0};
  std::atomic<std::uint32_t> injected_failpoint_{0};  // 1 + FailpointId; 0 none
  std::atomic<std::uint64_t> injected_occurrence_{0};
  std::atomic<std::uint32_t> injected_action_{0};
  std::atomic<std::uint32_t> reserved_{0};
  std::atomic<std::uint64_t> injections_{0};
};
static_assert(sizeof(WorkerSlot) == 64);
static_assert(std::is_standard_layout_v<WorkerSlot>);

// Makes the core's failpoint observer record every firing failpoint into `slot`
// (process-global; the slot must outlive the process's failpoints, i.e. stay mapped).
void install_failpoint_observer(WorkerSlot* slot) noexcept;

// ---------------------------------------------------------------------------------
// ProducerJournal: one per producer index; one IncarnationLedger per restart.

// Ledger slots per producer. Incarnation i uses slot i % kLedgerSlots; the harness
// retires an ended incarnation's ledger (retire(): copies it out, frees the slot) before
// it starts the incarnation that needs the slot, so a producer may restart any number of
// times (there used to be 256 slots and no reuse: a producer restarted more often
// failed the run's integrity_complete). Incarnations of a producer run one at a time,
// so one slot would do; a few more keep the last ones readable in place. An
// incarnation whose slot is still taken (nobody retired the previous holder) is still
// run but not journaled (counted in untracked_incarnations; the checker then reports
// its messages as untracked, never as a clean result).
inline constexpr std::uint32_t kLedgerSlots = 16;

enum class IncarnationState : std::uint32_t {
  kUnused = 0,
  kActive = 1,    // begun, not finished: running, or killed
  kFinished = 2,  // finish() ran: clean exit
};

struct alignas(32) IncarnationLedger {
  std::atomic<std::uint64_t> attempted{0};    // seq about to be pushed (0: none yet)
  std::atomic<std::uint64_t> acked{0};        // highest seq whose push returned true
  std::atomic<std::uint32_t> state{0};        // IncarnationState
  std::atomic<std::uint32_t> incarnation{0};  // whose ledger it is (while state != kUnused)
};
static_assert(sizeof(IncarnationLedger) == 32);

struct IncarnationSnapshot {
  std::uint32_t incarnation = 0;
  std::uint64_t attempted = 0;
  std::uint64_t acked = 0;
  IncarnationState state = IncarnationState::kUnused;
  friend bool operator==(const IncarnationSnapshot&, const IncarnationSnapshot&) = default;
};

struct ProducerSnapshot {
  std::uint32_t producer = 0;
  std::vector<IncarnationSnapshot> incarnations;  // only the used ones, ascending
  std::uint64_t untracked_incarnations = 0;
  friend bool operator==(const ProducerSnapshot&, const ProducerSnapshot&) = default;
};

class alignas(kJournalAlignment) ProducerJournal {
 public:
  explicit ProducerJournal(std::uint32_t producer) noexcept : producer_(producer) {}
  ProducerJournal(const ProducerJournal&) = delete;
  ProducerJournal& operator=(const ProducerJournal&) = delete;

  void begin_incarnation(std::uint32_t incarnation) noexcept;
  void before_push(std::uint32_t incarnation, std::uint64_t seq) noexcept;  // release
  void after_push(std::uint32_t incarnation, std::uint64_t seq) noexcept;   // release
  void withdraw(std::uint32_t incarnation) noexcept;                        // attempted = acked
  void finish(std::uint32_t incarnation) noexcept;

  [[nodiscard]] std::uint32_t producer() const noexcept { return producer_; }
  // The ledgers in the slots, ascending by incarnation (retired ones are not there).
  [[nodiscard]] ProducerSnapshot snapshot() const;
  // The harness, once the incarnation has ended (its process reaped) and before it
  // starts incarnation + kLedgerSlots: the ledger's final values, and its slot
  // freed. nullopt when the slot does not hold that incarnation.
  [[nodiscard]] std::optional<IncarnationSnapshot> retire(std::uint32_t incarnation) noexcept;

 private:
  IncarnationLedger* ledger(std::uint32_t incarnation) noexcept;

  std::uint32_t producer_;
  std::uint32_t reserved_ = 0;
  std::atomic<std::uint64_t> untracked_incarnations_{0};
  alignas(kJournalAlignment) std::array<IncarnationLedger, kLedgerSlots> ledgers_{};
};
static_assert(std::is_standard_layout_v<ProducerJournal>);

// ---------------------------------------------------------------------------------
// ConsumerLog: one per consumer index; a ring of `capacity` DeliveryRecord slots that
// directly follows the ConsumerLog header in memory (ControlLayout reserves
// ConsumerLog::bytes_needed(capacity)). One writer: the consumer (all its incarnations);
// one drainer: the harness (drain_log), which moves closed records out into its own
// memory while the run goes on, so that the slots are reused and a run of any length
// fits a log of a fixed size. A record stands for a run of messages, so even undrained
// the capacity bounds the runs (a consumer receiving one producer's messages in order
// writes one record however many arrive), not the messages.
//
// Draining (records are numbered 0, 1, ... in append order; record i lives in slot
// i % capacity): records [0, drained) have been copied out and their slots are free.
// Only the consumer knows which of its records are still growing (open runs), so the
// harness first asks it to close them: it stores seal_request = n (the records
// appended so far); the consumer, at its next record, forgets every open run and
// acknowledges (sealed = n, release). From then on records [drained, n) never change:
// the harness copies them and stores drained = n (release), and the consumer may reuse
// their slots. A consumer incarnation that dies never acknowledges; its successor
// starts with no open run and acknowledges at its first record.

enum class DeliveryStatus : std::uint32_t {
  kOk = 0,         // verify_message ok: producer/incarnation/seq are trustworthy
  kTorn = 1,       // verify_message torn: fields are best effort
  kForeign = 2,    // verify_message foreign
  kAbandoned = 3,  // the ring skipped a slot whose claimer died (claimer_pid says who)
};
[[nodiscard]] std::string_view to_string(DeliveryStatus status) noexcept;

struct DeliveryRecord {
  std::uint32_t producer = 0;
  std::uint32_t incarnation = 0;
  std::uint64_t seq = 0;  // the first of the run
  DeliveryStatus status = DeliveryStatus::kOk;
  // kAbandoned: PopResult::claimer.pid; kOk: the dead consumer whose message the ring
  // published again (PopResult::claimer.pid), 0 for any other.
  std::int32_t claimer_pid = 0;
  std::uint32_t consumer_incarnation = 0;
  // Messages the record stands for: seqs seq .. seq + count - 1 of one producer
  // incarnation, delivered in that order to one consumer incarnation. Only kOk
  // records grow past 1; in a log it grows by release stores while others read.
  std::uint32_t count = 1;  // last: ConsumerLog::snapshot copies what precedes it
  friend bool operator==(const DeliveryRecord&, const DeliveryRecord&) = default;
};
static_assert(sizeof(DeliveryRecord) == 32);
static_assert(offsetof(DeliveryRecord, count) + sizeof(std::uint32_t) == sizeof(DeliveryRecord));
static_assert(std::is_trivially_copyable_v<DeliveryRecord>);

// The record a consumer appends for a message it popped and verified: fields from the
// header, status from the verification (kOk, kTorn, kForeign).
[[nodiscard]] DeliveryRecord make_delivery_record(const DecodedMessage& message,
                                                  std::uint32_t consumer_incarnation) noexcept;
// The record for a pop that returned kAbandoned (claimer = PopResult::claimer.pid).
[[nodiscard]] DeliveryRecord make_abandoned_record(std::int32_t claimer_pid,
                                                   std::uint32_t consumer_incarnation) noexcept;

struct ConsumerSnapshot {
  std::uint32_t consumer = 0;
  std::vector<DeliveryRecord> records;  // in append order
  std::uint64_t overflow = 0;           // appends refused: the log was full
  friend bool operator==(const ConsumerSnapshot&, const ConsumerSnapshot&) = default;
};

class alignas(kJournalAlignment) ConsumerLog {
 public:
  ConsumerLog(std::uint32_t consumer, std::uint64_t capacity) noexcept
      : consumer_(consumer), capacity_(capacity) {}
  ConsumerLog(const ConsumerLog&) = delete;
  ConsumerLog& operator=(const ConsumerLog&) = delete;

  // Header plus `capacity` records, rounded up to kJournalAlignment.
  [[nodiscard]] static std::size_t bytes_needed(std::uint64_t capacity) noexcept;

  // --- The consumer (single writer).
  // Writes the record in the next slot, then publishes it (count, release), and returns
  // the slot; nullopt (nothing written or counted) when every slot holds a record not
  // yet drained.
  [[nodiscard]] std::optional<std::uint64_t> try_append(const DeliveryRecord& record) noexcept;
  // try_append, counting an overflow when the log is full.
  bool append(const DeliveryRecord& record) noexcept;
  void count_overflow() noexcept;
  // Sets the count of the record in `slot` (returned by try_append, not drained since)
  // to `count` with one release store: the record then stands for that many messages.
  void set_run_length(std::uint64_t slot, std::uint32_t count) noexcept;
  // The harness's latest request to close open runs (see Draining above); the consumer
  // acknowledges it once it has forgotten every run it had open.
  [[nodiscard]] std::uint64_t seal_request() const noexcept {
    return seal_request_.load(std::memory_order_relaxed);
  }
  void acknowledge_seal(std::uint64_t request) noexcept {
    sealed_.store(request, std::memory_order_release);
  }

  // --- Anyone.
  [[nodiscard]] std::uint32_t consumer() const noexcept { return consumer_; }
  [[nodiscard]] std::uint64_t capacity() const noexcept { return capacity_; }
  // Records appended so far, drained ones included.
  [[nodiscard]] std::uint64_t size() const noexcept {
    return count_.load(std::memory_order_acquire);
  }
  // Records drained so far (their slots are free again).
  [[nodiscard]] std::uint64_t drained() const noexcept {
    return drained_.load(std::memory_order_acquire);
  }
  // The records in the slots: appended and not drained, oldest first. Safe beside the
  // consumer (a growing count is read atomically), not beside a drainer (a slot freed
  // during the copy may be reused under it): the harness drains and snapshots from
  // one thread, the snapshot after every consumer has ended.
  [[nodiscard]] ConsumerSnapshot snapshot() const;

 private:
  friend std::uint64_t drain_log(ConsumerLog& log, std::uint64_t threshold,
                                 std::vector<DeliveryRecord>& out);
  DeliveryRecord* records() noexcept;
  const DeliveryRecord* records() const noexcept;
  // Appends records [from, to) (in the slots, to <= size()) to out.
  void copy_records(std::uint64_t from, std::uint64_t to, std::vector<DeliveryRecord>& out) const;

  std::atomic<std::uint64_t> count_{0};         // consumer: records appended
  std::atomic<std::uint64_t> overflow_{0};      // consumer: appends refused
  std::atomic<std::uint64_t> sealed_{0};        // consumer: the request acknowledged
  std::atomic<std::uint64_t> seal_request_{0};  // harness: close runs below this record
  std::atomic<std::uint64_t> drained_{0};       // harness: records copied out
  std::uint32_t consumer_;
  std::uint32_t reserved_ = 0;
  std::uint64_t capacity_;
};
static_assert(sizeof(ConsumerLog) == 64);
static_assert(std::is_standard_layout_v<ConsumerLog>);

// DeliveryLog: a consumer incarnation's writer of its ConsumerLog. An ok message whose
// seq is the next of the run this consumer incarnation last received from the same
// producer incarnation extends that run's record; anything else (the first message
// of a producer incarnation, a gap, a repeat or an older seq, a torn, foreign or
// abandoned slot) appends a record. Per producer incarnation the records stay in
// delivery order; between producers they do not (the checker compares within one).
// Before each delivery it honours a pending seal request (one relaxed load when
// there is none).
class DeliveryLog {
 public:
  // room_wait: how long a delivery waits for the harness to drain a full log before
  // it counts an overflow (0: not at all, for a log nobody drains).
  DeliveryLog(ConsumerLog& log, std::uint32_t consumer_incarnation,
              std::chrono::nanoseconds room_wait = std::chrono::nanoseconds::zero()) noexcept
      : log_(log), consumer_incarnation_(consumer_incarnation), room_wait_(room_wait) {}

  // A popped message, as verify_message judged it; redelivered_from: PopResult::claimer.pid
  // of a kOk pop (a dead consumer whose message the ring published again), else 0.
  // False when the log stayed full.
  bool record(const DecodedMessage& message, std::int32_t redelivered_from = 0);
  // A pop that returned kAbandoned (claimer = PopResult::claimer.pid).
  bool record_abandoned(std::int32_t claimer_pid);

 private:
  void honour_seal_request();
  std::optional<std::uint64_t> append(const DeliveryRecord& record);

  // A producer's open run: its record, as this writer last stored it.
  struct Run {
    std::uint64_t slot = 0;  // the record's slot in the log
    std::uint64_t first_seq = 0;
    std::uint32_t incarnation = 0;
    std::uint32_t count = 0;  // 0: no open run
  };
  // The producer index comes from a message header: bounded, so that a stray value
  // cannot grow the table (a producer beyond it gets a record per message).
  static constexpr std::uint32_t kMaxRunProducers = 4096;

  ConsumerLog& log_;
  std::uint32_t consumer_incarnation_;
  std::chrono::nanoseconds room_wait_;
  std::uint64_t acknowledged_ = ~std::uint64_t{0};  // none yet: the first record acknowledges
  std::vector<Run> runs_;                           // by producer index
};

// drain_log: the harness's side of one ConsumerLog while the run goes on. Appends the
// records the consumer has sealed to `out`, in append order, frees their slots, and asks
// for the next seal once `threshold` records wait in the slots; returns how many it
// moved. It never waits: a consumer that is paused, busy or dead simply acknowledges
// later (its successor at its first record), and a log that gets no new records needs
// no drain. What the consumer has not sealed stays in the slots (ConsumerLog::snapshot
// once every consumer has ended). One drainer per log, in one process.
std::uint64_t drain_log(ConsumerLog& log, std::uint64_t threshold,
                        std::vector<DeliveryRecord>& out);

// ---------------------------------------------------------------------------------
// MutexRecordJournal: one per mutex object: the protected record and its checks.
// The record {a, b, generation} has the invariant a == b == generation outside the
// critical section; update() writes a, then (mutex.locked.mid_update) b and
// generation, then fires mutex.locked.after_update.

struct MutexEnterResult {
  bool exclusion_violation = false;  // someone else was inside the section
  bool repaired = false;             // owner died: record checked (and fixed if torn)
  bool torn = false;                 // the record was found with a != b
};

struct MutexSnapshot {
  std::uint64_t a = 0;
  std::uint64_t b = 0;
  std::uint64_t generation = 0;
  std::uint64_t in_section = 0;
  std::uint64_t updates = 0;               // completed updates
  std::uint64_t owner_died = 0;            // enter(owner_died = true)
  std::uint64_t repairs = 0;               // owner-died recoveries done by enter()
  std::uint64_t torn_repaired = 0;         // of those, records found half-updated (expected)
  std::uint64_t torn_unexpected = 0;       // a != b after a normal acquisition: a bug
  std::uint64_t exclusion_violations = 0;  // in-section counter was not 0 on entry
  friend bool operator==(const MutexSnapshot&, const MutexSnapshot&) = default;
};

class alignas(kJournalAlignment) MutexRecordJournal {
 public:
  MutexRecordJournal() noexcept = default;
  MutexRecordJournal(const MutexRecordJournal&) = delete;
  MutexRecordJournal& operator=(const MutexRecordJournal&) = delete;

  MutexEnterResult enter(bool owner_died) noexcept;
  void update() noexcept;
  void leave() noexcept;
  [[nodiscard]] MutexSnapshot snapshot() const noexcept;

 private:
  std::atomic<std::uint64_t> a_{0};
  std::atomic<std::uint64_t> b_{0};
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<std::uint64_t> in_section_{0};
  alignas(kJournalAlignment) std::atomic<std::uint64_t> updates_{0};
  std::atomic<std::uint64_t> owner_died_{0};
  std::atomic<std::uint64_t> repairs_{0};
  std::atomic<std::uint64_t> torn_repaired_{0};
  std::atomic<std::uint64_t> torn_unexpected_{0};
  std::atomic<std::uint64_t> exclusion_violations_{0};
};
static_assert(sizeof(MutexRecordJournal) == 128);
static_assert(std::is_standard_layout_v<MutexRecordJournal>);

// ---------------------------------------------------------------------------------
// SemaphoreJournal: one per semaphore object, with one ledger per user (the
// semaphore's workers, 0-based in the order the harness assigns).

inline constexpr std::uint32_t kMaxSemaphoreUsers = 64;

struct SemaphoreUserSnapshot {
  std::uint32_t user = 0;   // index in the SemaphoreJournal
  std::uint64_t waits = 0;  // all incarnations
  std::uint64_t posts = 0;
  // Units (waits - posts) each ended incarnation still held when it ended, summed;
  // includes the last incarnation (the harness snapshots after every worker ended).
  std::int64_t held_at_exit = 0;
  std::uint32_t pending_waits = 0;  // incarnations that ended between before/after_wait
  std::uint32_t pending_posts = 0;  // ... between before/after_post
  std::uint32_t incarnations = 0;
  friend bool operator==(const SemaphoreUserSnapshot&, const SemaphoreUserSnapshot&) = default;
};

class alignas(kJournalAlignment) SemaphoreUserLedger {
 public:
  SemaphoreUserLedger() noexcept = default;
  SemaphoreUserLedger(const SemaphoreUserLedger&) = delete;
  SemaphoreUserLedger& operator=(const SemaphoreUserLedger&) = delete;

  // Folds the previous incarnation (if any) into the ended totals first.
  void begin_incarnation(std::uint32_t incarnation) noexcept;
  void before_wait() noexcept;
  void after_wait() noexcept;   // the wait succeeded: a unit is held
  void cancel_wait() noexcept;  // the wait timed out or failed: nothing taken
  void before_post() noexcept;
  void after_post() noexcept;

  [[nodiscard]] bool used() const noexcept { return used_.load(std::memory_order_acquire) != 0; }
  [[nodiscard]] SemaphoreUserSnapshot snapshot() const noexcept;

 private:
  enum Pending : std::uint32_t { kNoPending = 0, kPendingWait = 1, kPendingPost = 2 };
  std::atomic<std::uint64_t> ended_waits_{0};  // ended incarnations, summed
  std::atomic<std::uint64_t> ended_posts_{0};
  std::atomic<std::uint64_t> inc_waits_{0};  // current incarnation: one store per operation
  std::atomic<std::uint64_t> inc_posts_{0};
  std::atomic<std::int64_t> ended_net_{0};  // Σ over ended incarnations of waits - posts
  std::atomic<std::uint32_t> pending_{0};   // Pending
  std::atomic<std::uint32_t> incarnation_{0};
  std::atomic<std::uint32_t> ended_pending_waits_{0};  // incarnations ended inside a wait
  std::atomic<std::uint32_t> ended_pending_posts_{0};  // incarnations ended inside a post
  std::atomic<std::uint32_t> ended_incarnations_{0};
  std::atomic<std::uint32_t> used_{0};
};
static_assert(sizeof(SemaphoreUserLedger) == 64);

struct SemaphoreSnapshot {
  std::uint32_t initial = 0;
  bool undo = false;  // the kernel gives an exiting process's units back (SysV SEM_UNDO)
  std::vector<SemaphoreUserSnapshot> users;  // the users that began an incarnation
  friend bool operator==(const SemaphoreSnapshot&, const SemaphoreSnapshot&) = default;
};

class alignas(kJournalAlignment) SemaphoreJournal {
 public:
  SemaphoreJournal(std::uint32_t initial, bool undo) noexcept
      : initial_(initial), undo_(undo ? 1U : 0U) {}
  SemaphoreJournal(const SemaphoreJournal&) = delete;
  SemaphoreJournal& operator=(const SemaphoreJournal&) = delete;

  // nullptr when user >= kMaxSemaphoreUsers.
  [[nodiscard]] SemaphoreUserLedger* user(std::uint32_t user) noexcept;
  [[nodiscard]] SemaphoreSnapshot snapshot() const;

 private:
  std::uint32_t initial_;
  std::uint32_t undo_;
  alignas(kJournalAlignment) std::array<SemaphoreUserLedger, kMaxSemaphoreUsers> users_{};
};
static_assert(std::is_standard_layout_v<SemaphoreJournal>);

// ---------------------------------------------------------------------------------
// SegmentPageJournal: one per raw segment object (writer/reader workload). The
// pages themselves (generation seqlock + checksum per page) are in segment_page.hpp;
// this is what writers and readers count.

struct SegmentPageSnapshot {
  std::uint64_t pages_written = 0;
  std::uint64_t reads_ok = 0;
  std::uint64_t read_retries = 0;    // generation odd or changed during the read: retried
  std::uint64_t reads_torn = 0;      // stable even generation but checksum mismatch: a bug
  std::uint64_t pages_repaired = 0;  // page left odd by a dead writer, rewritten
  friend bool operator==(const SegmentPageSnapshot&, const SegmentPageSnapshot&) = default;
};

class alignas(kJournalAlignment) SegmentPageJournal {
 public:
  SegmentPageJournal() noexcept = default;
  SegmentPageJournal(const SegmentPageJournal&) = delete;
  SegmentPageJournal& operator=(const SegmentPageJournal&) = delete;

  void count_write() noexcept { pages_written_.fetch_add(1, std::memory_order_relaxed); }
  void count_read_ok() noexcept { reads_ok_.fetch_add(1, std::memory_order_relaxed); }
  void count_retry() noexcept { read_retries_.fetch_add(1, std::memory_order_relaxed); }
  void count_torn() noexcept { reads_torn_.fetch_add(1, std::memory_order_relaxed); }
  void count_repair() noexcept { pages_repaired_.fetch_add(1, std::memory_order_relaxed); }
  [[nodiscard]] SegmentPageSnapshot snapshot() const noexcept;

 private:
  std::atomic<std::uint64_t> pages_written_{0};
  std::atomic<std::uint64_t> reads_ok_{0};
  std::atomic<std::uint64_t> read_retries_{0};
  std::atomic<std::uint64_t> reads_torn_{0};
  std::atomic<std::uint64_t> pages_repaired_{0};
};
static_assert(sizeof(SegmentPageJournal) == 64);

}  // namespace shmcheck::probes
