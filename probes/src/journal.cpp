#include "shmcheck/probes/journal.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <limits>
#include <span>
#include <thread>

namespace shmcheck::probes {
namespace {

// Single-writer increment: the owner of the counter is the only writer.
void bump_release(std::atomic<std::uint64_t>& c) noexcept {
  c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_release);
}

std::atomic<WorkerSlot*> g_observer_slot{nullptr};

void record_in_slot(core::FailpointId id, std::uint64_t occurrence,
                    core::FailpointAction action) noexcept {
  if (WorkerSlot* slot = g_observer_slot.load(std::memory_order_acquire); slot != nullptr) {
    slot->record_injection(id, occurrence, action);
  }
}

}  // namespace

std::string_view to_string(WorkerState state) noexcept {
  switch (state) {
    case WorkerState::kEmpty:
      return "empty";
    case WorkerState::kStarting:
      return "starting";
    case WorkerState::kRunning:
      return "running";
    case WorkerState::kInOp:
      return "in_op";
    case WorkerState::kExited:
      return "exited";
  }
  return "unknown";
}

std::string_view to_string(DeliveryStatus status) noexcept {
  switch (status) {
    case DeliveryStatus::kOk:
      return "ok";
    case DeliveryStatus::kTorn:
      return "torn";
    case DeliveryStatus::kForeign:
      return "foreign";
    case DeliveryStatus::kAbandoned:
      return "abandoned";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------- WorkerSlot

void WorkerSlot::begin(std::int32_t pid, std::uint32_t incarnation) noexcept {
  pid_.store(pid, std::memory_order_relaxed);
  incarnation_.store(incarnation, std::memory_order_relaxed);
  current_op_.store(static_cast<std::uint32_t>(WorkerOp::kNone), std::memory_order_relaxed);
  op_seq_.store(0, std::memory_order_relaxed);
  holding_.store(0, std::memory_order_relaxed);
  injected_failpoint_.store(0, std::memory_order_relaxed);
  injected_occurrence_.store(0, std::memory_order_relaxed);
  injected_action_.store(0, std::memory_order_relaxed);
  state_.store(static_cast<std::uint32_t>(WorkerState::kStarting), std::memory_order_release);
}

void WorkerSlot::set_running() noexcept {
  state_.store(static_cast<std::uint32_t>(WorkerState::kRunning), std::memory_order_release);
}

void WorkerSlot::enter_op(WorkerOp op, std::uint64_t seq) noexcept {
  current_op_.store(static_cast<std::uint32_t>(op), std::memory_order_relaxed);
  op_seq_.store(seq, std::memory_order_relaxed);
  state_.store(static_cast<std::uint32_t>(WorkerState::kInOp), std::memory_order_release);
}

void WorkerSlot::leave_op() noexcept {
  bump_release(progress_);
  current_op_.store(static_cast<std::uint32_t>(WorkerOp::kNone), std::memory_order_relaxed);
  state_.store(static_cast<std::uint32_t>(WorkerState::kRunning), std::memory_order_release);
}

void WorkerSlot::set_holding(std::uint32_t object_plus_one) noexcept {
  holding_.store(object_plus_one, std::memory_order_release);
}

void WorkerSlot::finish() noexcept {
  current_op_.store(static_cast<std::uint32_t>(WorkerOp::kNone), std::memory_order_relaxed);
  state_.store(static_cast<std::uint32_t>(WorkerState::kExited), std::memory_order_release);
}

void WorkerSlot::record_injection(core::FailpointId id, std::uint64_t occurrence,
                                  core::FailpointAction action) noexcept {
  injected_occurrence_.store(occurrence, std::memory_order_relaxed);
  injected_action_.store(static_cast<std::uint32_t>(action), std::memory_order_relaxed);
  bump_release(injections_);
  injected_failpoint_.store(static_cast<std::uint32_t>(id) + 1, std::memory_order_release);
}

WorkerSlotSnapshot WorkerSlot::snapshot() const noexcept {
  WorkerSlotSnapshot s;
  s.state = static_cast<WorkerState>(state_.load(std::memory_order_acquire));
  s.pid = pid_.load(std::memory_order_relaxed);
  s.incarnation = incarnation_.load(std::memory_order_relaxed);
  const std::uint32_t op = current_op_.load(std::memory_order_relaxed);
  s.current_op = op < kWorkerOpCount ? static_cast<WorkerOp>(op) : WorkerOp::kNone;
  s.op_seq = op_seq_.load(std::memory_order_relaxed);
  s.progress = progress_.load(std::memory_order_acquire);
  s.holding = holding_.load(std::memory_order_acquire);
  const std::uint32_t fp = injected_failpoint_.load(std::memory_order_acquire);
  if (fp != 0 && fp <= core::kFailpointCount) {
    s.injected = true;
    s.injected_failpoint = static_cast<core::FailpointId>(fp - 1);
    s.injected_action =
        static_cast<core::FailpointAction>(injected_action_.load(std::memory_order_relaxed));
    s.injected_occurrence = injected_occurrence_.load(std::memory_order_relaxed);
  }
  s.injections = injections_.load(std::memory_order_relaxed);
  return s;
}

void install_failpoint_observer(WorkerSlot* slot) noexcept {
  g_observer_slot.store(slot, std::memory_order_release);
  core::set_failpoint_observer(slot != nullptr ? &record_in_slot : nullptr);
}

// ---------------------------------------------------------------------- ProducerJournal

namespace {

IncarnationSnapshot read_ledger(const IncarnationLedger& l, IncarnationState state) noexcept {
  IncarnationSnapshot inc;
  inc.incarnation = l.incarnation.load(std::memory_order_relaxed);
  inc.state = state;
  // acked first: a push acknowledged after we read acked then shows up as attempted.
  inc.acked = l.acked.load(std::memory_order_acquire);
  inc.attempted = std::max(l.attempted.load(std::memory_order_acquire), inc.acked);
  return inc;
}

// The incarnation whose ledger `l` is, or none while the slot is unused.
std::optional<std::uint32_t> holder(const IncarnationLedger& l, std::memory_order order) noexcept {
  if (l.state.load(order) == static_cast<std::uint32_t>(IncarnationState::kUnused)) {
    return std::nullopt;
  }
  return l.incarnation.load(std::memory_order_relaxed);
}

}  // namespace

// The incarnation's ledger, or nullptr when its slot holds another (untracked). The
// producer reads its own line: two loads that hit its cache.
IncarnationLedger* ProducerJournal::ledger(std::uint32_t incarnation) noexcept {
  IncarnationLedger& l = ledgers_[incarnation % kLedgerSlots];
  return holder(l, std::memory_order_relaxed) == incarnation ? &l : nullptr;
}

void ProducerJournal::begin_incarnation(std::uint32_t incarnation) noexcept {
  IncarnationLedger& l = ledgers_[incarnation % kLedgerSlots];
  if (const auto held = holder(l, std::memory_order_acquire); held && *held != incarnation) {
    untracked_incarnations_.fetch_add(1, std::memory_order_release);  // not retired
    return;
  }
  l.incarnation.store(incarnation, std::memory_order_relaxed);
  l.attempted.store(0, std::memory_order_relaxed);
  l.acked.store(0, std::memory_order_relaxed);
  l.state.store(static_cast<std::uint32_t>(IncarnationState::kActive), std::memory_order_release);
}

std::optional<IncarnationSnapshot> ProducerJournal::retire(std::uint32_t incarnation) noexcept {
  IncarnationLedger& l = ledgers_[incarnation % kLedgerSlots];
  if (holder(l, std::memory_order_acquire) != incarnation) return std::nullopt;
  const auto state = static_cast<IncarnationState>(l.state.load(std::memory_order_relaxed));
  const IncarnationSnapshot final_values = read_ledger(l, state);
  l.state.store(static_cast<std::uint32_t>(IncarnationState::kUnused), std::memory_order_release);
  return final_values;
}

void ProducerJournal::before_push(std::uint32_t incarnation, std::uint64_t seq) noexcept {
  if (IncarnationLedger* l = ledger(incarnation))
    l->attempted.store(seq, std::memory_order_release);
}

void ProducerJournal::after_push(std::uint32_t incarnation, std::uint64_t seq) noexcept {
  if (IncarnationLedger* l = ledger(incarnation)) l->acked.store(seq, std::memory_order_release);
}

void ProducerJournal::withdraw(std::uint32_t incarnation) noexcept {
  if (IncarnationLedger* l = ledger(incarnation)) {
    l->attempted.store(l->acked.load(std::memory_order_relaxed), std::memory_order_release);
  }
}

void ProducerJournal::finish(std::uint32_t incarnation) noexcept {
  if (IncarnationLedger* l = ledger(incarnation)) {
    l->state.store(static_cast<std::uint32_t>(IncarnationState::kFinished),
                   std::memory_order_release);
  }
}

ProducerSnapshot ProducerJournal::snapshot() const {
  ProducerSnapshot s;
  s.producer = producer_;
  s.untracked_incarnations = untracked_incarnations_.load(std::memory_order_acquire);
  for (const IncarnationLedger& l : ledgers_) {
    const auto state = static_cast<IncarnationState>(l.state.load(std::memory_order_acquire));
    if (state != IncarnationState::kUnused) s.incarnations.push_back(read_ledger(l, state));
  }
  std::sort(s.incarnations.begin(), s.incarnations.end(),
            [](const auto& a, const auto& b) { return a.incarnation < b.incarnation; });
  return s;
}

// -------------------------------------------------------------------------- ConsumerLog

std::size_t ConsumerLog::bytes_needed(std::uint64_t capacity) noexcept {
  const std::size_t raw =
      sizeof(ConsumerLog) + static_cast<std::size_t>(capacity) * sizeof(DeliveryRecord);
  return (raw + kJournalAlignment - 1) / kJournalAlignment * kJournalAlignment;
}

DeliveryRecord* ConsumerLog::records() noexcept {
  return reinterpret_cast<DeliveryRecord*>(reinterpret_cast<std::byte*>(this) +
                                           sizeof(ConsumerLog));
}

const DeliveryRecord* ConsumerLog::records() const noexcept {
  return reinterpret_cast<const DeliveryRecord*>(reinterpret_cast<const std::byte*>(this) +
                                                 sizeof(ConsumerLog));
}

std::optional<std::uint64_t> ConsumerLog::try_append(const DeliveryRecord& record) noexcept {
  const std::uint64_t n = count_.load(std::memory_order_relaxed);
  // Acquire: the harness copied the record that was in the slot before freeing it.
  if (n - drained_.load(std::memory_order_acquire) >= capacity_) return std::nullopt;
  const std::uint64_t slot = n % capacity_;
  records()[slot] = record;
  count_.store(n + 1, std::memory_order_release);  // publishes the record
  return slot;
}

void ConsumerLog::count_overflow() noexcept {
  overflow_.store(overflow_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
}

bool ConsumerLog::append(const DeliveryRecord& record) noexcept {
  if (try_append(record)) return true;
  count_overflow();
  return false;
}

void ConsumerLog::set_run_length(std::uint64_t slot, std::uint32_t count) noexcept {
  std::atomic_ref<std::uint32_t>(records()[slot].count).store(count, std::memory_order_release);
}

void ConsumerLog::copy_records(std::uint64_t from, std::uint64_t to,
                               std::vector<DeliveryRecord>& out) const {
  // No reserve: out may already hold records (a drain's scratch reused, or what was
  // drained before), and an exact reserve per call would defeat its growing by half.
  for (std::uint64_t i = from; i < to; ++i) {
    const DeliveryRecord& src = records()[i % capacity_];
    // Every field before count is fixed once published (copied as bytes: the record
    // is trivially copyable); count may be growing right now.
    DeliveryRecord r;
    std::memcpy(static_cast<void*>(&r), &src, offsetof(DeliveryRecord, count));
    r.count = std::atomic_ref<std::uint32_t>(const_cast<std::uint32_t&>(src.count))
                  .load(std::memory_order_acquire);
    out.push_back(r);
  }
}

ConsumerSnapshot ConsumerLog::snapshot() const {
  ConsumerSnapshot s;
  s.consumer = consumer_;
  const std::uint64_t drained = drained_.load(std::memory_order_acquire);
  const std::uint64_t n = std::max(count_.load(std::memory_order_acquire), drained);
  s.records.reserve(n - drained);
  copy_records(drained, n, s.records);
  s.overflow = overflow_.load(std::memory_order_acquire);
  return s;
}

// -------------------------------------------------------------------------- DeliveryLog

void DeliveryLog::honour_seal_request() {
  const std::uint64_t request = log_.seal_request();
  if (request == acknowledged_) return;
  // Every open run's record may be below the request: none of them grows again.
  for (Run& run : runs_) run.count = 0;
  log_.acknowledge_seal(request);
  acknowledged_ = request;
}

std::optional<std::uint64_t> DeliveryLog::append(const DeliveryRecord& record) {
  if (auto slot = log_.try_append(record)) return slot;
  // Full: the harness drains every millisecond or so once asked; keep answering its
  // requests (our runs are closed by now, this record opens a new one) until there is
  // room or room_wait has passed.
  if (room_wait_ > std::chrono::nanoseconds::zero()) {
    const auto deadline = std::chrono::steady_clock::now() + room_wait_;
    do {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
      honour_seal_request();
      if (auto slot = log_.try_append(record)) return slot;
    } while (std::chrono::steady_clock::now() < deadline);
  }
  log_.count_overflow();
  return std::nullopt;
}

bool DeliveryLog::record(const DecodedMessage& message, std::int32_t redelivered_from) {
  honour_seal_request();
  DeliveryRecord r = make_delivery_record(message, consumer_incarnation_);
  if (r.status == DeliveryStatus::kOk) r.claimer_pid = redelivered_from;
  // A message published again comes out of its producer's order: a record of its own,
  // and the producer's run goes on past it.
  if (r.status != DeliveryStatus::kOk || r.producer >= kMaxRunProducers || redelivered_from != 0) {
    return append(r).has_value();
  }
  if (r.producer >= runs_.size()) runs_.resize(r.producer + 1);
  Run& run = runs_[r.producer];
  if (run.count != 0 && run.incarnation == r.incarnation && r.seq == run.first_seq + run.count &&
      run.count < std::numeric_limits<std::uint32_t>::max()) {
    log_.set_run_length(run.slot, ++run.count);
    return true;
  }
  const auto slot = append(r);
  // append() may have honoured a seal request while it waited: `run` still refers to
  // this producer's entry (runs_ does not change size there).
  run = slot ? Run{*slot, r.seq, r.incarnation, 1} : Run{};
  return slot.has_value();
}

bool DeliveryLog::record_abandoned(std::int32_t claimer_pid) {
  honour_seal_request();
  return append(make_abandoned_record(claimer_pid, consumer_incarnation_)).has_value();
}

// ---------------------------------------------------------------------------- drain_log

std::uint64_t drain_log(ConsumerLog& log, std::uint64_t threshold,
                        std::vector<DeliveryRecord>& out) {
  const std::uint64_t request = log.seal_request_.load(std::memory_order_relaxed);
  if (log.sealed_.load(std::memory_order_acquire) != request) return 0;  // not yet answered
  const std::uint64_t drained = log.drained_.load(std::memory_order_relaxed);
  std::uint64_t moved = 0;
  if (request > drained) {
    // Sealed: records [drained, request) are final.
    log.copy_records(drained, request, out);
    moved = request - drained;
    log.drained_.store(request, std::memory_order_release);  // their slots are free
  }
  const std::uint64_t n = log.count_.load(std::memory_order_acquire);
  if (n - request >= std::max<std::uint64_t>(threshold, 1)) {
    log.seal_request_.store(n, std::memory_order_relaxed);
  }
  return moved;
}

// ------------------------------------------------------------------- MutexRecordJournal

MutexEnterResult MutexRecordJournal::enter(bool owner_died) noexcept {
  MutexEnterResult result;
  if (owner_died) {
    owner_died_.fetch_add(1, std::memory_order_relaxed);
    // The dead owner can no longer leave the section: forget its entry.
    in_section_.store(0, std::memory_order_relaxed);
    const std::uint64_t a = a_.load(std::memory_order_relaxed);
    if (a != b_.load(std::memory_order_relaxed) ||
        a != generation_.load(std::memory_order_relaxed)) {
      // Roll forward: update() writes a first, so a holds the value being written.
      result.torn = true;
      b_.store(a, std::memory_order_relaxed);
      generation_.store(a, std::memory_order_relaxed);
      torn_repaired_.fetch_add(1, std::memory_order_relaxed);
    }
    repairs_.fetch_add(1, std::memory_order_relaxed);
    result.repaired = true;
  }
  if (in_section_.fetch_add(1, std::memory_order_acq_rel) != 0) {
    result.exclusion_violation = true;
    exclusion_violations_.fetch_add(1, std::memory_order_relaxed);
  }
  if (!owner_died) {
    const std::uint64_t a = a_.load(std::memory_order_relaxed);
    if (a != b_.load(std::memory_order_relaxed) ||
        a != generation_.load(std::memory_order_relaxed)) {
      result.torn = true;
      torn_unexpected_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  return result;
}

void MutexRecordJournal::update() noexcept {
  const std::uint64_t next = generation_.load(std::memory_order_relaxed) + 1;
  a_.store(next, std::memory_order_relaxed);
  core::failpoint(core::FailpointId::kMutexLockedMidUpdate);
  b_.store(next, std::memory_order_relaxed);
  generation_.store(next, std::memory_order_relaxed);
  updates_.fetch_add(1, std::memory_order_relaxed);
  core::failpoint(core::FailpointId::kMutexLockedAfterUpdate);
}

void MutexRecordJournal::leave() noexcept {
  if (in_section_.fetch_sub(1, std::memory_order_acq_rel) == 0) {
    // Someone reset the counter under us (an owner-died repair while we were inside):
    // that is itself an exclusion violation; undo the wrap-around.
    in_section_.fetch_add(1, std::memory_order_relaxed);
    exclusion_violations_.fetch_add(1, std::memory_order_relaxed);
  }
}

MutexSnapshot MutexRecordJournal::snapshot() const noexcept {
  MutexSnapshot s;
  s.a = a_.load(std::memory_order_acquire);
  s.b = b_.load(std::memory_order_acquire);
  s.generation = generation_.load(std::memory_order_acquire);
  s.in_section = in_section_.load(std::memory_order_acquire);
  s.updates = updates_.load(std::memory_order_relaxed);
  s.owner_died = owner_died_.load(std::memory_order_relaxed);
  s.repairs = repairs_.load(std::memory_order_relaxed);
  s.torn_repaired = torn_repaired_.load(std::memory_order_relaxed);
  s.torn_unexpected = torn_unexpected_.load(std::memory_order_relaxed);
  s.exclusion_violations = exclusion_violations_.load(std::memory_order_relaxed);
  return s;
}

// --------------------------------------------------------------------- SemaphoreJournal

void SemaphoreUserLedger::begin_incarnation(std::uint32_t incarnation) noexcept {
  if (used_.load(std::memory_order_relaxed) != 0) {
    const std::uint64_t waits = inc_waits_.load(std::memory_order_relaxed);
    const std::uint64_t posts = inc_posts_.load(std::memory_order_relaxed);
    ended_waits_.store(ended_waits_.load(std::memory_order_relaxed) + waits,
                       std::memory_order_relaxed);
    ended_posts_.store(ended_posts_.load(std::memory_order_relaxed) + posts,
                       std::memory_order_relaxed);
    ended_net_.store(ended_net_.load(std::memory_order_relaxed) + static_cast<std::int64_t>(waits) -
                         static_cast<std::int64_t>(posts),
                     std::memory_order_relaxed);
    const std::uint32_t pending = pending_.load(std::memory_order_relaxed);
    if (pending == kPendingWait) ended_pending_waits_.fetch_add(1, std::memory_order_relaxed);
    if (pending == kPendingPost) ended_pending_posts_.fetch_add(1, std::memory_order_relaxed);
    ended_incarnations_.fetch_add(1, std::memory_order_relaxed);
  }
  inc_waits_.store(0, std::memory_order_relaxed);
  inc_posts_.store(0, std::memory_order_relaxed);
  pending_.store(kNoPending, std::memory_order_relaxed);
  incarnation_.store(incarnation, std::memory_order_relaxed);
  used_.store(1, std::memory_order_release);
}

void SemaphoreUserLedger::before_wait() noexcept {
  pending_.store(kPendingWait, std::memory_order_release);
}

void SemaphoreUserLedger::after_wait() noexcept {
  inc_waits_.store(inc_waits_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  pending_.store(kNoPending, std::memory_order_release);
}

void SemaphoreUserLedger::cancel_wait() noexcept {
  pending_.store(kNoPending, std::memory_order_release);
}

void SemaphoreUserLedger::before_post() noexcept {
  pending_.store(kPendingPost, std::memory_order_release);
}

void SemaphoreUserLedger::after_post() noexcept {
  inc_posts_.store(inc_posts_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  pending_.store(kNoPending, std::memory_order_release);
}

SemaphoreUserSnapshot SemaphoreUserLedger::snapshot() const noexcept {
  SemaphoreUserSnapshot s;
  if (used_.load(std::memory_order_acquire) == 0) return s;
  const std::uint64_t inc_waits = inc_waits_.load(std::memory_order_acquire);
  const std::uint64_t inc_posts = inc_posts_.load(std::memory_order_acquire);
  const std::uint32_t pending = pending_.load(std::memory_order_acquire);
  s.waits = ended_waits_.load(std::memory_order_relaxed) + inc_waits;
  s.posts = ended_posts_.load(std::memory_order_relaxed) + inc_posts;
  s.held_at_exit = ended_net_.load(std::memory_order_relaxed) +
                   static_cast<std::int64_t>(inc_waits) - static_cast<std::int64_t>(inc_posts);
  s.pending_waits =
      ended_pending_waits_.load(std::memory_order_relaxed) + (pending == kPendingWait ? 1U : 0U);
  s.pending_posts =
      ended_pending_posts_.load(std::memory_order_relaxed) + (pending == kPendingPost ? 1U : 0U);
  s.incarnations = ended_incarnations_.load(std::memory_order_relaxed) + 1;
  return s;
}

SemaphoreUserLedger* SemaphoreJournal::user(std::uint32_t user) noexcept {
  return user < kMaxSemaphoreUsers ? &users_[user] : nullptr;
}

SemaphoreSnapshot SemaphoreJournal::snapshot() const {
  SemaphoreSnapshot s;
  s.initial = initial_;
  s.undo = undo_ != 0;
  for (std::uint32_t i = 0; i < kMaxSemaphoreUsers; ++i) {
    if (!users_[i].used()) continue;
    SemaphoreUserSnapshot u = users_[i].snapshot();
    u.user = i;
    s.users.push_back(u);
  }
  return s;
}

SegmentPageSnapshot SegmentPageJournal::snapshot() const noexcept {
  SegmentPageSnapshot s;
  s.pages_written = pages_written_.load(std::memory_order_relaxed);
  s.reads_ok = reads_ok_.load(std::memory_order_relaxed);
  s.read_retries = read_retries_.load(std::memory_order_relaxed);
  s.reads_torn = reads_torn_.load(std::memory_order_relaxed);
  s.pages_repaired = pages_repaired_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace shmcheck::probes

namespace shmcheck::probes {

DeliveryRecord make_delivery_record(const DecodedMessage& message,
                                    std::uint32_t consumer_incarnation) noexcept {
  DeliveryRecord r;
  r.producer = message.header.producer;
  r.incarnation = message.header.incarnation;
  r.seq = message.header.seq;
  switch (message.status) {
    case MessageStatus::kOk:
      r.status = DeliveryStatus::kOk;
      break;
    case MessageStatus::kTorn:
      r.status = DeliveryStatus::kTorn;
      break;
    case MessageStatus::kForeign:
      r.status = DeliveryStatus::kForeign;
      break;
  }
  r.consumer_incarnation = consumer_incarnation;
  return r;
}

DeliveryRecord make_abandoned_record(std::int32_t claimer_pid,
                                     std::uint32_t consumer_incarnation) noexcept {
  DeliveryRecord r;
  r.status = DeliveryStatus::kAbandoned;
  r.claimer_pid = claimer_pid;
  r.consumer_incarnation = consumer_incarnation;
  return r;
}

}  // namespace shmcheck::probes
