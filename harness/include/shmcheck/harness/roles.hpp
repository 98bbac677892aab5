// Roles: the workloads a worker process runs, one per spec role.
//
//   producer / consumer  checksummed, sequenced messages (probes/message.hpp) over a
//                        SpscRing or MpmcRing; producer journal: attempted before the
//                        push, acked after; consumers log every delivery.
//   locker               a RobustMutex-protected record with the invariant a == b
//                        (probes::MutexRecordJournal); repairs after kOwnerDied, then
//                        make_consistent(); an in-section counter checks exclusion.
//   waiter / poster      a semaphore of any flavor used as a pool: waiters take a unit,
//                        hold it, give it back; posters lend one, hold, take it back.
//                        The ledger gives the checker the drift after crashes.
//   writer / reader      segment pages with a seqlock generation and a checksum.
//
// Each loop runs until the run's end instant, its `ops` budget (shared by all its
// incarnations), or the harness's stop phase. Time is read with CLOCK_MONOTONIC once
// per operation; latency is measured from the intended send time (rate pacing), so a
// stalled producer does not hide its backlog (coordinated omission).
//
// Timing probes (WorkerConfig::probes, off with `shmcheck run --no-probes`): the
// consumer's latency sample (a clock read and a histogram update per message) and the
// locker's lock-wait sample (a histogram update per acquisition; clock reads only when
// try_lock failed and it had to wait, an immediate acquisition is a 0 ns sample). Off,
// those histograms stay empty and an unpaced producer sends no timestamp; journals,
// counters and the slot heartbeat stay.
#pragma once

#include "shmcheck/harness/control_segment.hpp"
#include "shmcheck/harness/worker.hpp"

namespace shmcheck::harness {

// Runs cfg.role to completion in this process; returns the worker's exit code.
[[nodiscard]] int run_role(const WorkerConfig& cfg, ControlSegment& control);

// write(2) of one formatted line to stderr, prefixed "shmcheck worker <index>: ".
// Async-signal-safe apart from vsnprintf; never buffered.
void worker_log(std::uint32_t index, const char* format, ...) __attribute__((format(printf, 2, 3)));

}  // namespace shmcheck::harness
