#include "shmcheck/harness/run.hpp"

#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <functional>
#include <map>
#include <set>
#include <utility>

#include "run_host.hpp"
#include "shmcheck/core/mpmc_ring.hpp"
#include "shmcheck/core/robust_mutex.hpp"
#include "shmcheck/core/segment.hpp"
#include "shmcheck/core/semaphore.hpp"
#include "shmcheck/core/spsc_ring.hpp"
#include "shmcheck/harness/cli.hpp"
#include "shmcheck/harness/control_segment.hpp"
#include "shmcheck/harness/fault_schedule.hpp"
#include "shmcheck/harness/run_outputs.hpp"
#include "shmcheck/harness/spec_loader.hpp"
#include "shmcheck/harness/supervisor.hpp"
#include "shmcheck/probes/journal.hpp"
#include "shmcheck/probes/message.hpp"
#include "shmcheck/reports/reporter.hpp"

namespace shmcheck::harness {

// The loader refuses ring messages shorter than the header every message carries...
static_assert(kMinRingMessageSize == probes::kMinMessageSize);
// ... and more posters and waiters per semaphore than its journal has ledgers.
static_assert(kMaxSemaphoreWorkers == probes::kMaxSemaphoreUsers);

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::uint64_t random_seed() {
  std::uint64_t seed = 0;
  if (::getrandom(&seed, sizeof seed, 0) != static_cast<ssize_t>(sizeof seed)) {
    seed = static_cast<std::uint64_t>(Clock::now().time_since_epoch().count());
  }
  return seed % 1'000'000'000ULL;  // short enough to type in a repro command
}

core::ObjectKind object_kind(ObjectType type) {
  switch (type) {
    case ObjectType::kSegment:
      return core::ObjectKind::kRaw;
    case ObjectType::kMutex:
      return core::ObjectKind::kMutex;
    case ObjectType::kSemaphore:
      return core::ObjectKind::kSemaphore;
    case ObjectType::kSpscRing:
      return core::ObjectKind::kSpscRing;
    case ObjectType::kMpmcRing:
      return core::ObjectKind::kMpmcRing;
  }
  return core::ObjectKind::kRaw;
}

core::Backing core_backing(SegmentBacking backing) {
  switch (backing) {
    case SegmentBacking::kPosix:
      return core::Backing::kPosix;
    case SegmentBacking::kSysV:
      return core::Backing::kSysV;
    case SegmentBacking::kMemfd:
      return core::Backing::kMemfd;
  }
  return core::Backing::kPosix;
}

ManifestKind manifest_kind(core::Backing backing) {
  switch (backing) {
    case core::Backing::kPosix:
      return ManifestKind::kPosixShm;
    case core::Backing::kSysV:
      return ManifestKind::kSysvShm;
    case core::Backing::kMemfd:
      return ManifestKind::kMemfd;
  }
  return ManifestKind::kPosixShm;
}

std::optional<FaultType> fault_type(const FaultSpec& f) {
  switch (f.kind) {
    case FaultKind::kKillAtFailpoint:
      return FaultType::kKillAtFailpoint;
    case FaultKind::kKillRandom:
      return FaultType::kKillAtTime;
    case FaultKind::kPause:
      return f.failpoint.empty() ? FaultType::kPauseAtTime : FaultType::kPauseAtFailpoint;
    case FaultKind::kExit:
      return FaultType::kExitAtFailpoint;
  }
  return std::nullopt;
}

// A run-level failure before or around the workers: becomes verdict "error".
struct RunError {
  int exit_code = kExitInternal;
  std::string message;
};

// The bytes an object's segment holds after its header (0: a ring geometry the ring
// refuses).
std::size_t payload_size_of(const ObjectSpec& o) {
  const core::RingConfig ring{o.capacity, o.message_size};
  switch (o.type) {
    case ObjectType::kSegment:
      return o.size;
    case ObjectType::kMutex:
      return sizeof(core::RobustMutex);
    case ObjectType::kSemaphore:
      return core::Semaphore::kUnnamedBytes;
    case ObjectType::kSpscRing:
      return core::SpscRing::bytes_needed(ring);
    case ObjectType::kMpmcRing:
      return core::MpmcRing::bytes_needed(ring);
  }
  return 0;
}

// A spec the run cannot take: exit 2, "file:line:col: what".
RunError usage_error(const Spec& spec, const SourceMark& mark, const std::string& what) {
  return RunError{kExitUsage, spec.file + ":" + std::to_string(mark.line) + ":" +
                                  std::to_string(mark.column) + ": " + what};
}

// Whose an error creating the run's objects or starting its workers is: the host's
// (exit 3) or shmcheck's (exit 4). A failing system call is the host's: /dev/shm
// read-only (EROFS), not writable (EACCES) or missing (ENOENT), full or at a limit, a
// kernel without memfd or SysV IPC (ENOSYS), a segment over SHMMAX (EINVAL from shmget);
// all but a bad descriptor or address, which only a bug passes. So is an object of
// someone else's in the way (kForeign). What shmcheck checks without a system call is
// its own. (A read-only or unwritable /dev/shm was exit 4, "internal error".)
bool is_environment_error(const core::Error& e) {
  if (core::is_resource_limit(e.code) || e.code == core::ErrorCode::kPermission ||
      e.code == core::ErrorCode::kUnsupported || e.code == core::ErrorCode::kForeign) {
    return true;
  }
  return e.sys_errno != 0 && e.sys_errno != EBADF && e.sys_errno != EFAULT;
}

RunError from_core(const char* what, const core::Error& e) {
  return {is_environment_error(e) ? kExitEnvironment : kExitInternal,
          std::string(what) + ": " + e.message()};
}

// The manifest is a file in the runtime directory: whatever stops it being written (a
// missing or read-only directory, a full disk, the open-file limit) is the host's.
RunError manifest_error(const core::Error& e) {
  return {kExitEnvironment,
          "write run manifest (in $XDG_RUNTIME_DIR/shmcheck/runs, else "
          "/tmp/shmcheck-<uid>/runs): " +
              e.message()};
}

// One spec object as created by the harness.
struct RunObject {
  const ObjectSpec* spec = nullptr;
  std::uint32_t index = 0;
  std::uint32_t journal = 0;  // mutex / semaphore / pages journal index
  std::optional<core::Segment> segment;
  std::optional<core::Semaphore> semaphore;
  std::string sem_name;
  int sem_id = -1;
};

// Everything the run creates, removed in the destructor whatever happens.
struct RunObjects {
  std::vector<RunObject> objects;
  std::optional<ControlSegment> control;

  void destroy() noexcept {
    for (auto& o : objects) {
      if (o.semaphore) {
        (void)o.semaphore->destroy();
        o.semaphore.reset();
      }
      if (o.segment) {
        (void)o.segment->unlink();
        o.segment.reset();
      }
    }
    if (control) {
      (void)control->segment().unlink();
      control.reset();
    }
  }
  ~RunObjects() { destroy(); }
};

// How a mutex was left once every locker has ended: the harness tries the lock itself
// (never blocking), and gives back what it took, made consistent, so that nothing is
// left locked in the segment it then removes. `error` says why it could not try.
probes::MutexLeft how_left(core::Segment& segment, std::string& error) {
  core::RobustMutex& mutex = *core::RobustMutex::attach(segment.payload());
  const auto taken = mutex.try_lock();
  if (!taken) {
    switch (taken.error().code) {
      case core::ErrorCode::kTimedOut:
        return probes::MutexLeft::kLocked;
      case core::ErrorCode::kNotRecoverable:
        return probes::MutexLeft::kNotRecoverable;
      default:
        error = taken.error().message();
        return probes::MutexLeft::kUntried;
    }
  }
  const bool owner_died = *taken == core::LockStatus::kOwnerDied;
  if (owner_died) (void)mutex.make_consistent();
  (void)mutex.unlock();
  return owner_died ? probes::MutexLeft::kHeldByDead : probes::MutexLeft::kFree;
}

struct WorkerPlanEx {
  WorkerPlan plan;
  const ProcessSpec* process = nullptr;
};

std::string format_seconds(double s) {
  char buf[32];
  if (s >= 1.0) {
    std::snprintf(buf, sizeof buf, "%.3gs", s);
  } else if (s >= 1e-3) {
    std::snprintf(buf, sizeof buf, "%.3gms", s * 1e3);
  } else if (s >= 1e-6) {
    std::snprintf(buf, sizeof buf, "%.3gus", s * 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%.3gns", s * 1e9);
  }
  return buf;
}

std::string format_rate(double r) {
  char buf[32];
  if (r >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.3gM/s", r / 1e6);
  } else if (r >= 1e3) {
    std::snprintf(buf, sizeof buf, "%.3gk/s", r / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.3g/s", r);
  }
  return buf;
}

probes::ExitCause exit_cause(const IncarnationOutcome& o) {
  if (o.clean) return probes::ExitCause::kClean;
  if (o.injected) {
    return o.slot.injected && o.cause.rfind("failpoint", 0) == 0
               ? probes::ExitCause::kInjectedFailpoint
               : probes::ExitCause::kInjectedTimer;
  }
  if (!o.unexpected) return probes::ExitCause::kStoppedByHarness;
  if (o.cause.find("OOM kill (cgroup") != std::string::npos) return probes::ExitCause::kOomKilled;
  return o.signaled ? probes::ExitCause::kUnexpectedSignal : probes::ExitCause::kUnexpectedExit;
}

std::string fault_kind_name(FaultType t) {
  switch (t) {
    case FaultType::kKillAtFailpoint:
    case FaultType::kKillAtTime:
      return "kill";
    case FaultType::kExitAtFailpoint:
      return "exit";
    case FaultType::kPauseAtFailpoint:
    case FaultType::kPauseAtTime:
      return "pause";
  }
  return "kill";
}

class Runner {
 public:
  Runner(const Spec& spec, const RunOptions& options) : spec_(spec), options_(options) {}

  probes::RunResult run();

 private:
  probes::RunResult run_unguarded(Clock::time_point t0);
  // Verdict "error" with err's exit code and message, timed from t0.
  probes::RunResult finish_error(const RunError& err, Clock::time_point t0);
  // finish_error, after removing every object the run created and its manifest.
  probes::RunResult abandon(const RunError& err, Clock::time_point t0);
  std::optional<RunError> plan();
  std::optional<RunError> create_objects();
  std::vector<WorkerConfig> worker_configs() const;
  void collect(SupervisionReport& report);
  // What collect takes first and an interrupted run keeps: each fault's status, the
  // timeline, the throughput series.
  void collect_events(SupervisionReport& report);
  // Each ring's own counters, read through the harness's mapping of its segment.
  [[nodiscard]] std::vector<probes::RingCounters> read_rings() const;
  void drain_rings(probes::DeliveryTally& tally);
  // Spec objects in which pid holds an MPMC slot claim (SupervisorOptions::claims_of).
  [[nodiscard]] std::vector<std::size_t> claims_of(pid_t pid) const;
  void expectations();
  void note(const char* format, ...) const __attribute__((format(printf, 2, 3)));

  const Spec& spec_;
  const RunOptions& options_;
  probes::RunResult result_;
  std::uint64_t seed_ = 0;
  std::string run_id_;
  std::vector<WorkerPlanEx> workers_;
  std::vector<std::uint32_t> role_index_;  // per worker
  std::map<std::uint32_t, std::uint32_t> writers_per_object_;
  FaultSchedule schedule_;
  ManifestWriter manifest_;
  LeakProbe leaks_;
  RunObjects created_;
  std::uint32_t producers_ = 0;
  std::uint32_t consumers_ = 0;
  std::uint64_t log_capacity_ = 0;
  double run_s_ = 0;
  std::uint64_t stalls_ = 0;
  std::uint64_t unexpected_deaths_ = 0;
  std::vector<std::string> unexpected_notes_;
  // Rings whose shared state the drain found broken (name, what): not drained.
  std::vector<std::pair<std::string, std::string>> broken_rings_;
  std::set<pid_t> pids_;
};

void Runner::note(const char* format, ...) const {
  if (options_.quiet) return;
  va_list args;
  va_start(args, format);
  std::vfprintf(stderr, format, args);
  va_end(args);
}

std::optional<RunError> Runner::plan() {
  if (spec_.objects.size() > kMaxRunObjects) {
    return RunError{kExitUsage, spec_.file + ": at most " + std::to_string(kMaxRunObjects) +
                                    " objects can run at once"};
  }
  std::map<std::string, std::uint32_t> role_counts;
  std::map<std::uint32_t, std::uint32_t> sem_users;  // object -> users so far
  std::map<std::uint32_t, std::uint32_t> readers;
  for (std::size_t g = 0; g < spec_.processes.size(); ++g) {
    const auto& p = spec_.processes[g];
    const ObjectSpec* obj = spec_.find_object(p.uses);
    if (obj == nullptr) return RunError{kExitUsage, spec_.file + ": unknown object " + p.uses};
    const auto obj_index = static_cast<std::uint32_t>(obj - spec_.objects.data());
    for (std::uint32_t i = 0; i < p.count; ++i) {
      const std::string role(to_string(p.role));
      std::uint32_t role_index = 0;
      switch (p.role) {
        case Role::kProducer:
          role_index = producers_++;
          break;
        case Role::kConsumer:
          role_index = consumers_++;
          break;
        case Role::kPoster:
        case Role::kWaiter:
          role_index = sem_users[obj_index]++;
          if (role_index >= probes::kMaxSemaphoreUsers) {
            return RunError{kExitUsage, spec_.file + ": at most " +
                                            std::to_string(probes::kMaxSemaphoreUsers) +
                                            " posters and waiters per semaphore"};
          }
          break;
        case Role::kWriter:
          role_index = writers_per_object_[obj_index]++;
          break;
        case Role::kReader:
          role_index = readers[obj_index]++;
          break;
        case Role::kLocker:
          role_index = role_counts[role];
          break;
      }
      ++role_counts[role];
      workers_.push_back({WorkerPlan{role, g, role_index}, &p});
      role_index_.push_back(role_index);
    }
  }
  // Delivery logs: a record per run of consecutive seqs a consumer receives from one
  // producer incarnation. A producer with `ops` needs at most that many records on each
  // consumer of its ring (every message its own run, in the worst case); any other
  // producer gets an allowance. A ring's sole consumer breaks runs only at crashes,
  // restarts and violations: a sixteenth of the allowance (62,500 records by default)
  // is plenty. Consumers sharing an MPMC ring split a producer's seqs between them and
  // break runs every few messages: the whole allowance. The supervisor drains the logs
  // into the message check as they fill (drain_log, DeliveryTally), so the slots bound
  // the records waiting between drains, not the run: a log gets at most its share of
  // kLogSlotsBudget (kMinLogSlots to kMaxLogSlots), and a full one makes its consumer
  // wait for the drain. Should what the check holds reach options_.held_records, the
  // supervisor ends the run early, so the check stays exact.
  std::map<std::string, std::uint64_t> ring_consumers;
  std::uint64_t consumers = 0;
  for (const auto& w : workers_) {
    if (w.process->role == Role::kConsumer) {
      ++ring_consumers[w.process->uses];
      ++consumers;
    }
  }
  std::map<std::string, std::uint64_t> ring_records;
  for (const auto& w : workers_) {
    const auto* p = w.process;
    if (p->role != Role::kProducer) continue;
    const std::uint64_t allowance = ring_consumers[p->uses] > 1
                                        ? options_.log_records
                                        : std::max<std::uint64_t>(options_.log_records / 16, 1);
    std::uint64_t records = allowance;
    if (p->ops) {
      records = *p->ops;
    } else if (p->rate && spec_.duration) {
      records = static_cast<std::uint64_t>(
                    *p->rate * std::chrono::duration<double>(*spec_.duration).count() * 1.1) +
                16;
      records = std::min(records, allowance);
    }
    // No log holds more than kMaxLogSlots: capped here, the sum over a ring's producers
    // cannot wrap (two producers of ops 2^63 summed to 0 records, and the run ended in
    // an internal error, "consumers without a consumer log capacity").
    ring_records[p->uses] += std::min(records, kMaxLogSlots);
  }
  for (const auto& [ring, records] : ring_records) {
    log_capacity_ = std::max(log_capacity_, records);
  }
  // Duplicates (at-least-once redelivery after a consumer crash) need a little room.
  if (log_capacity_ > 0) log_capacity_ += log_capacity_ / 8 + 1024;
  if (consumers > 0) {
    log_capacity_ = std::min(log_capacity_,
                             std::clamp(kLogSlotsBudget / consumers, kMinLogSlots, kMaxLogSlots));
  }
  if (options_.log_slots != 0 && log_capacity_ > 0) log_capacity_ = options_.log_slots;

  // Faults.
  std::vector<FaultRule> rules;
  for (std::size_t i = 0; i < spec_.faults.size(); ++i) {
    const auto& f = spec_.faults[i];
    const auto type = fault_type(f);
    if (!type) continue;
    FaultRule r;
    r.type = *type;
    r.target = f.target;
    if (!f.failpoint.empty()) {
      r.failpoint = core::failpoint_from_name(f.failpoint);
      if (!r.failpoint) {
        return usage_error(spec_, f.mark, "unknown failpoint '" + f.failpoint + "'");
      }
    }
    r.after = f.after;
    r.start = f.start;
    r.every = f.every;
    r.jitter = f.jitter;
    r.max = f.max;
    r.duration = f.pause_for;
    r.signal = f.signal;
    r.exit_code = f.exit_code;
    r.restart = f.restart;
    r.rule_index = i;
    rules.push_back(std::move(r));
  }
  // The loader refused a plan too large for the spec's own duration; --duration may
  // lengthen the run.
  const auto run_length = spec_.duration.value_or(spec_.timeout);
  std::vector<std::uint64_t> firings;
  for (const auto& r : rules) {
    firings.push_back(
        is_failpoint_fault(r.type) ? 1 : timed_firings(r.start, r.every, r.max, run_length));
  }
  if (auto refused = check_plan_size(firings, run_length)) {
    const auto& f = spec_.faults[rules[refused->rule].rule_index];
    return usage_error(spec_, f.mark, refused->why);
  }
  std::vector<WorkerPlan> plans;
  for (const auto& w : workers_) plans.push_back(w.plan);
  schedule_ = expand_fault_schedule(seed_, plans, rules, run_length);
  // A timed rule that plans nothing (its first firing after a shortened run's end; the
  // loader refuses that against the spec's own duration) would let the run pass
  // without the faults it asks for.
  for (const auto& r : rules) {
    if (is_failpoint_fault(r.type)) continue;
    if (std::ranges::any_of(schedule_.faults,
                            [&](const ScheduledFault& f) { return f.rule == r.rule_index; })) {
      continue;
    }
    const auto& f = spec_.faults[r.rule_index];
    return usage_error(spec_, f.mark,
                       "this fault's first firing is not inside the run (" +
                           format_duration(run_length) +
                           "): it would never fire; run longer or fire it sooner");
  }
  result_.fault_schedule.reserve(schedule_.faults.size());
  for (const auto& f : schedule_.faults) {
    probes::ScheduledFault s;
    s.role = f.role;
    s.index = role_index_[f.worker];
    s.kind = fault_kind_name(f.type);
    if (f.failpoint) {
      s.failpoint = std::string(core::to_string(*f.failpoint));
      s.occurrence = f.occurrence;
    } else {
      s.at_s = std::chrono::duration<double>(f.at).count();
    }
    s.signal = s.kind == "kill" ? f.signal : 0;
    s.pause_s = std::chrono::duration<double>(f.duration).count();
    s.restart = f.restart;
    result_.fault_schedule.push_back(std::move(s));
  }
  return std::nullopt;
}

std::optional<RunError> Runner::create_objects() {
  // Every object's pages come out of memory once touched, whatever its backing; a memfd
  // or SysV segment takes them only then, so each create alone cannot tell that the
  // objects together are too much (three 10 GiB rings on a 24 GiB machine).
  std::uint64_t needed = 0;
  for (const auto& o : spec_.objects) needed += payload_size_of(o);
  if (const auto avail = core::available_memory(); avail && needed > *avail) {
    return RunError{
        kExitEnvironment,
        spec_.file + ": the spec's objects need " + format_bytes(needed) +
            " of shared memory together; " + format_bytes(*avail) +
            " of memory is available (MemAvailable and free swap, or the memory cgroup's limit): "
            "make rings or segments smaller"};
  }
  const unsigned uid = ::geteuid();
  probes::ControlShape shape;
  shape.workers = static_cast<std::uint32_t>(workers_.size());
  shape.producers = producers_;
  shape.consumers = consumers_;
  shape.consumer_log_capacity = log_capacity_;
  std::uint32_t mutexes = 0;
  std::uint32_t pages = 0;
  for (std::size_t i = 0; i < spec_.objects.size(); ++i) {
    const auto& o = spec_.objects[i];
    RunObject ro;
    ro.spec = &o;
    ro.index = static_cast<std::uint32_t>(i);
    if (o.type == ObjectType::kMutex) ro.journal = mutexes++;
    if (o.type == ObjectType::kSegment) ro.journal = pages++;
    if (o.type == ObjectType::kSemaphore) {
      ro.journal = static_cast<std::uint32_t>(shape.semaphores.size());
      shape.semaphores.push_back({o.initial, o.flavor == SemFlavor::kSysV && o.undo});
    }
    created_.objects.push_back(std::move(ro));
  }
  shape.mutexes = mutexes;
  shape.page_objects = pages;

  // The control segment first: workers cannot start without it.
  {
    auto entry =
        manifest_.add(ManifestKind::kPosixShm, core::segment_name(uid, run_id_, "control"));
    if (!entry) return manifest_error(entry.error());
    core::SegmentOptions opts;
    opts.run_id = run_id_;
    opts.object = "control";
    auto control = ControlSegment::create(opts, shape);
    if (!control) return from_core("create control segment", control.error());
    created_.control.emplace(std::move(control).value());
    if (auto r = manifest_.update(*entry, created_.control->segment().ref().to_string(), -1); !r) {
      return manifest_error(r.error());
    }
  }

  for (auto& ro : created_.objects) {
    const auto& o = *ro.spec;
    const std::string name = core::segment_name(uid, run_id_, o.name);
    if (o.type == ObjectType::kSemaphore && o.flavor != SemFlavor::kPosixUnnamed) {
      if (o.flavor == SemFlavor::kPosixNamed) {
        auto entry = manifest_.add(ManifestKind::kPosixSemaphore, name);
        if (!entry) return manifest_error(entry.error());
        auto sem = core::Semaphore::create_named(name, o.initial);
        if (!sem) return from_core(("create semaphore " + o.name).c_str(), sem.error());
        ro.sem_name = name;
        ro.semaphore.emplace(std::move(sem).value());
        if (auto r = manifest_.update(*entry, name, -1); !r) return manifest_error(r.error());
      } else {
        // A key derived from the run-unique name: reclaimable by name even if the
        // harness dies between semget and the manifest update.
        auto entry = manifest_.add(ManifestKind::kSysvSemaphore, name);
        if (!entry) return manifest_error(entry.error());
        std::optional<core::Semaphore> sem;
        for (unsigned attempt = 0; attempt < core::Segment::kSysVKeyAttempts && !sem; ++attempt) {
          auto s =
              core::Semaphore::create_sysv(o.initial, o.undo, core::sysv_key_for(name, attempt));
          if (s) {
            sem.emplace(std::move(s).value());
          } else if (s.error().code != core::ErrorCode::kExists) {
            return from_core(("create semaphore " + o.name).c_str(), s.error());
          }
        }
        if (!sem)
          return RunError{kExitEnvironment, "create semaphore " + o.name + ": every key taken"};
        ro.sem_id = sem->sysv_id();
        ro.semaphore.emplace(std::move(*sem));
        if (auto r = manifest_.update(*entry, "sysv_sem:" + std::to_string(ro.sem_id), ro.sem_id);
            !r) {
          return manifest_error(r.error());
        }
      }
      continue;
    }
    core::SegmentOptions opts;
    opts.backing = core_backing(o.backing);
    opts.run_id = run_id_;
    opts.object = o.name;
    opts.kind = object_kind(o.type);
    const core::RingConfig ring{o.capacity, o.message_size};
    opts.payload_size = payload_size_of(o);
    if (opts.payload_size == 0) {
      return usage_error(
          spec_, o.mark,
          "object '" + o.name + "': capacity/message_size not supported by the ring");
    }
    auto entry = manifest_.add(manifest_kind(opts.backing), name);
    if (!entry) return manifest_error(entry.error());
    auto seg = core::Segment::create(opts);
    if (!seg) return from_core(("create segment " + o.name).c_str(), seg.error());
    ro.segment.emplace(std::move(seg).value());
    if (auto r = manifest_.update(*entry, ro.segment->ref().to_string(), ro.segment->sysv_id());
        !r) {
      return manifest_error(r.error());
    }
    // Created just now (O_EXCL): its pages read zero until written, so a ring is built
    // without writing its slots, and a big ring's pages are touched only as it fills.
    void* mem = ro.segment->payload();
    const std::size_t bytes = ro.segment->payload_size();
    switch (o.type) {
      case ObjectType::kSegment:
        break;
      case ObjectType::kMutex:
        if (auto r = core::RobustMutex::create_at(mem); !r)
          return from_core("create mutex", r.error());
        break;
      case ObjectType::kSemaphore: {
        auto s = core::Semaphore::create_unnamed(mem, o.initial);
        if (!s) return from_core(("create semaphore " + o.name).c_str(), s.error());
        ro.semaphore.emplace(std::move(s).value());
        break;
      }
      case ObjectType::kSpscRing:
        if (auto r = core::SpscRing::create_at(mem, bytes, ring, core::RingMemory::kZeroed); !r)
          return from_core("create ring", r.error());
        break;
      case ObjectType::kMpmcRing:
        if (auto r = core::MpmcRing::create_at(mem, bytes, ring, core::RingMemory::kZeroed); !r)
          return from_core("create ring", r.error());
        break;
    }
  }
  return std::nullopt;
}

std::vector<WorkerConfig> Runner::worker_configs() const {
  std::vector<WorkerConfig> out;
  for (std::size_t w = 0; w < workers_.size(); ++w) {
    const auto& p = *workers_[w].process;
    const ObjectSpec* obj = spec_.find_object(p.uses);
    const auto& ro = created_.objects[static_cast<std::size_t>(obj - spec_.objects.data())];
    WorkerConfig c;
    c.index = static_cast<std::uint32_t>(w);
    c.role = std::string(to_string(p.role));
    c.role_index = role_index_[w];
    c.run_id = run_id_;
    c.seed = seed_;
    c.ops = p.ops;
    c.hold_ns = p.hold.count();
    c.think_ns = p.think.count();
    c.rate = p.rate.value_or(0);
    c.message_size = p.message_size.value_or(obj->message_size);
    c.burst = p.burst;
    if (const auto it = writers_per_object_.find(ro.index); it != writers_per_object_.end()) {
      c.writers = it->second;
    }
    c.object.name = obj->name;
    c.object.kind = std::string(to_string(obj->type));
    c.object.index = ro.index;
    c.object.journal = ro.journal;
    if (ro.segment) c.object.segment_ref = ro.segment->ref().to_string();
    c.object.flavor = std::string(to_string(obj->flavor));
    c.object.sem_name = ro.sem_name;
    c.object.sem_id = ro.sem_id;
    c.object.undo = obj->undo;
    c.object.page_size = kPageSize;
    c.failpoints = schedule_.arm_string_for(w);
    c.probes = options_.probes;
    out.push_back(std::move(c));
  }
  return out;
}

// f(ring) with the ring object o's segment holds, attached as its type (a
// Result<SpscRing*> or Result<MpmcRing*>: an error when the header does not validate).
template <class F>
auto with_ring(const ObjectSpec& o, const core::Segment& seg, F&& f) {
  if (o.type == ObjectType::kSpscRing) {
    return f(core::SpscRing::attach(seg.payload(), seg.payload_size()));
  }
  return f(core::MpmcRing::attach(seg.payload(), seg.payload_size()));
}

// A ring's own counters, read through its segment (nullopt if the header does not
// validate: the workers found that out first, and said so).
std::optional<probes::RingCounters> ring_counters(const ObjectSpec& o, const core::Segment& seg) {
  const auto read = [&](auto attached) -> std::optional<probes::RingCounters> {
    if (!attached) return std::nullopt;
    const core::RingStats s = (*attached)->stats();
    return probes::RingCounters{o.name,
                                std::string(to_string(o.type)),
                                (*attached)->config().capacity,
                                s.pushes,
                                s.pops,
                                s.full_events,
                                s.empty_events,
                                s.abandoned,
                                s.sleeps,
                                s.wakeups,
                                s.redelivered};
  };
  return with_ring(o, seg, read);
}

std::vector<probes::RingCounters> Runner::read_rings() const {
  std::vector<probes::RingCounters> out;
  for (const auto& ro : created_.objects) {
    const auto& o = *ro.spec;
    if ((o.type == ObjectType::kSpscRing || o.type == ObjectType::kMpmcRing) && ro.segment) {
      if (auto counters = ring_counters(o, *ro.segment)) out.push_back(*counters);
    }
  }
  return out;
}

// What is still in the rings once every worker has ended: a consumer slower than its
// producers is stopped a drain grace after the end with its backlog in the ring, and
// the watchdog kills consumers whatever they had left. Popped and verified here, those
// messages are checked like deliveries (torn, duplicated, out of order) and counted
// left_in_ring; before, a slow consumer's backlog, intact in its ring, was counted lost
// (a 1k/s consumer behind a 10k/s producer: 3,097 of 6,087 messages "lost"). A slot a
// dead producer claimed is abandoned here as a consumer would (after its liveness
// check), so what is queued behind it is found too. The harness does not trust what it
// drains: a ring whose indices or lengths are broken (a stray write into the segment)
// is reported and left as it is, where popping it aborted the harness or, past a
// cached index, read the same slots for ever, its memory growing. A consistent ring
// gives at most its capacity; the drain stops at twice that (slack, not a bound any
// consistent ring reaches) and says so.
void Runner::drain_rings(probes::DeliveryTally& tally) {
  // Long enough for an MPMC pop to prove a dead claimer dead (MpmcRing::kStuckCheckAfter).
  constexpr auto kDrainWait = std::chrono::milliseconds(5);
  for (auto& ro : created_.objects) {
    const auto& o = *ro.spec;
    if (!ro.segment || (o.type != ObjectType::kSpscRing && o.type != ObjectType::kMpmcRing)) {
      continue;
    }
    std::vector<std::byte> buf(o.message_size);
    const auto left_in_ring = [&](const core::PopResult& r) {
      if (r.status == core::PopStatus::kAbandoned) {
        tally.add_left_in_ring(probes::make_abandoned_record(r.claimer.pid, 0));
        return;
      }
      probes::DeliveryRecord record = probes::make_delivery_record(
          probes::verify_message(std::span(buf).first(r.size), seed_), 0);
      // A dead consumer's message an MPMC ring published again names that consumer.
      if (record.status == probes::DeliveryStatus::kOk) record.claimer_pid = r.claimer.pid;
      tally.add_left_in_ring(record);
    };
    bool broken = false;
    const auto check = [&](auto ring) {
      if (!ring) return;  // the header does not validate: the workers said so first
      if (const char* what = (*ring)->inconsistency()) {
        broken_rings_.emplace_back(o.name, std::string(what) + " (not drained)");
        broken = true;
      }
    };
    const auto drain = [&](auto ring) {
      if (!ring) return;
      const std::uint64_t most = 2 * std::uint64_t{(*ring)->config().capacity};
      for (std::uint64_t popped = 0;; ++popped) {
        if (popped == most) {
          broken_rings_.emplace_back(o.name,
                                     "gave twice its capacity in messages and was still "
                                     "not empty; left partly drained");
          return;
        }
        const core::PopResult r = (*ring)->pop_for(std::span(buf), kDrainWait);
        if (r.status == core::PopStatus::kEmpty) return;
        left_in_ring(r);
      }
    };
    // What consumers that died holding an MPMC slot took with them, when no producer came
    // round to publish it again before the run ended.
    const auto drain_dead_readers = [&](auto ring) {
      if constexpr (std::is_same_v<decltype(**ring), core::MpmcRing&>) {
        if (!ring) return;
        for (std::uint32_t n = 0; n < (*ring)->config().capacity; ++n) {
          const core::PopResult r = (*ring)->take_from_dead_reader(std::span(buf));
          if (r.status != core::PopStatus::kOk) return;
          left_in_ring(r);
        }
      }
    };
    with_ring(o, *ro.segment, check);
    if (broken) continue;
    with_ring(o, *ro.segment, drain);
    with_ring(o, *ro.segment, drain_dead_readers);
  }
}

std::vector<std::size_t> Runner::claims_of(pid_t pid) const {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < created_.objects.size(); ++i) {
    const auto& ro = created_.objects[i];
    if (ro.spec->type != ObjectType::kMpmcRing || !ro.segment) continue;
    const auto ring = core::MpmcRing::attach(ro.segment->payload(), ro.segment->payload_size());
    if (ring && (*ring)->claimed_by(pid) != 0) out.push_back(i);
  }
  return out;
}

void Runner::collect_events(SupervisionReport& report) {
  for (std::size_t f = 0; f < report.faults.size(); ++f) {
    result_.fault_schedule[f].status = report.faults[f].status;
    result_.fault_schedule[f].note = std::move(report.faults[f].note);
  }
  result_.timeline = std::move(report.timeline);
  result_.throughput = std::move(report.throughput);
}

void Runner::collect(SupervisionReport& report) {
  const auto& view = created_.control->view();
  result_.ended_early = report.ended_early;
  // Workers and crashes.
  probes::MessageCheckInput messages;
  std::vector<std::pair<std::size_t, std::uint32_t>> mpmc_consumer_crashes;  // crash, ring
  std::map<std::uint32_t, std::uint64_t> crashes_per_object;
  for (std::size_t w = 0; w < report.workers.size(); ++w) {
    const auto& h = report.workers[w];
    probes::WorkerOutcome wo;
    wo.role = h.config.role;
    wo.index = h.config.role_index;
    wo.restarts = h.restarts();
    wo.ops = view.worker(static_cast<std::uint32_t>(w)).snapshot().progress;
    for (const auto& inc : h.incarnations) {
      pids_.insert(inc.pid);
      probes::ProcessOutcome po;
      po.incarnation = inc.incarnation;
      po.pid = inc.pid;
      if (inc.exited) po.exit_code = inc.exit_code;
      if (inc.signaled) po.signal = inc.signal;
      po.cause = exit_cause(inc);
      // A worker killed before its slot's begin() left the slot as its previous
      // incarnation had it: nothing of that is this one's.
      const bool slot_is_its = inc.slot.incarnation == inc.incarnation && inc.slot.pid == inc.pid;
      if (inc.slot.injected && slot_is_its) {
        po.failpoint = std::string(core::to_string(inc.slot.injected_failpoint));
        po.occurrence = inc.slot.injected_occurrence;
      }
      const probes::WorkerOp op =
          inc.clean || !slot_is_its ? probes::WorkerOp::kNone : inc.slot.current_op;
      po.op = std::string(probes::to_string(op));
      po.op_seq = slot_is_its ? inc.slot.op_seq : 0;
      po.end_s = static_cast<double>(inc.ended_after_ns) / 1e9;
      wo.processes.push_back(po);
      if (inc.unexpected) {
        ++unexpected_deaths_;
        unexpected_notes_.push_back(h.config.role + "[" + std::to_string(h.config.role_index) +
                                    "]" + " pid " + std::to_string(inc.pid) + ": " + inc.cause);
      }
      if (!inc.clean) {
        probes::CrashRecord c;
        c.role = h.config.role;
        c.index = h.config.role_index;
        c.incarnation = inc.incarnation;
        c.pid = inc.pid;
        c.op = op;
        c.op_seq = po.op_seq;
        c.failpoint = po.failpoint;
        c.by_watchdog = report.stall.stalled && po.cause == probes::ExitCause::kStoppedByHarness;
        c.successor_rereads = h.config.object.kind == "spsc_ring";
        if (c.role == "consumer" && h.config.object.kind == "mpmc_ring") {
          mpmc_consumer_crashes.emplace_back(messages.crashes.size(), h.config.object.index);
        }
        messages.crashes.push_back(std::move(c));
        ++crashes_per_object[h.config.object.index];
      }
    }
    // Start times: incarnation 0 at 0, each restart when the previous one ended.
    for (std::size_t i = 1; i < wo.processes.size(); ++i)
      wo.processes[i].start_s = wo.processes[i - 1].end_s;
    result_.workers.push_back(std::move(wo));
  }
  collect_events(report);
  if (report.stall.stalled) {
    stalls_ = 1;
    probes::StallFinding s;
    s.t_s = static_cast<double>(report.stall.after_ns) / 1e9;
    s.description = report.stall.reason;
    for (const auto& h : report.stall.holders) s.description += "; " + h;
    s.workers = report.stall.workers;
    result_.stalls.push_back(std::move(s));
  }

  // The rings' own counters, before the harness drains what the workers left in them.
  result_.rings = read_rings();
  // Messages.
  if (producers_ > 0 || consumers_ > 0) {
    for (std::uint32_t i = 0; i < producers_; ++i) {
      probes::ProducerSnapshot p = view.producer(i).snapshot();
      // With the ledgers retired during the run (restarts beyond the journal's slots).
      const auto& retired = report.retired_ledgers[i];
      p.incarnations.insert(p.incarnations.begin(), retired.begin(), retired.end());
      messages.producers.push_back(std::move(p));
    }
    // The supervisor checked what it drained during the run; then what is still in
    // the slots.
    for (std::uint32_t i = 0; i < consumers_; ++i) {
      const probes::ConsumerSnapshot rest = view.consumer(i).snapshot();
      for (const probes::DeliveryRecord& r : rest.records) report.deliveries.add(rest.consumer, r);
      report.deliveries.add_overflow(rest.overflow);
    }
    drain_rings(report.deliveries);
    // What each dead MPMC consumer still claims now that the drain took what it could
    // prove dead: the most its death can have taken with it.
    for (const auto& [crash, object] : mpmc_consumer_crashes) {
      auto& c = messages.crashes[crash];
      const auto& ro = created_.objects[object];
      const auto ring = core::MpmcRing::attach(ro.segment->payload(), ro.segment->payload_size());
      if (ring) c.claims_left = (*ring)->claimed_by(c.pid);
    }
    messages.stalled = stalls_;
    for (const auto& p : spec_.processes) {
      if (p.role == Role::kConsumer) {
        messages.messages_per_pop = std::max<std::uint64_t>(messages.messages_per_pop, p.burst);
      }
    }
    result_.integrity = std::move(report.deliveries).finish(messages);
  }
  // Mutexes, semaphores, pages.
  for (auto& ro : created_.objects) {
    const auto& o = *ro.spec;
    const auto crashes = crashes_per_object[ro.index];
    if (o.type == ObjectType::kMutex) {
      std::string untried;
      const probes::MutexLeft left = how_left(*ro.segment, untried);
      auto f = probes::check_mutex(view.mutex(ro.journal).snapshot(), crashes, left);
      if (!untried.empty()) f.problems.push_back("could not try the lock: " + untried);
      f.object = o.name;
      result_.mutexes.push_back(std::move(f));
    } else if (o.type == ObjectType::kSemaphore && ro.semaphore) {
      auto value = ro.semaphore->value();
      auto f = probes::check_semaphore(view.semaphore(ro.journal).snapshot(), value ? *value : -1);
      f.object = o.name;
      f.flavor = std::string(to_string(o.flavor));
      if (!value) f.problems.push_back("could not read the value: " + value.error().message());
      result_.semaphores.push_back(std::move(f));
    } else if (o.type == ObjectType::kSegment) {
      auto f = probes::check_pages(view.pages(ro.journal).snapshot(), crashes);
      f.object = o.name;
      result_.pages.push_back(std::move(f));
    }
  }
  // Stats per role.
  for (std::size_t w = 0; w < report.workers.size(); ++w) {
    const auto& role = report.workers[w].config.role;
    auto it = std::find_if(result_.roles.begin(), result_.roles.end(),
                           [&](const probes::RoleStats& r) { return r.role == role; });
    if (it == result_.roles.end()) {
      result_.roles.push_back({role, {}});
      it = result_.roles.end() - 1;
    }
    it->stats.merge(view.stats(static_cast<std::uint32_t>(w)).snapshot());
  }
}

void Runner::expectations() {
  auto& out = result_.expectations;
  const auto& e = spec_.expect;
  const auto add = [&](std::string name, std::string expected, std::string actual, bool pass) {
    out.push_back({std::move(name), std::move(expected), std::move(actual), pass});
  };
  const auto at_most = [&](const char* name, const std::optional<std::uint64_t>& limit,
                           std::uint64_t actual) {
    if (limit) add(name, std::to_string(*limit), std::to_string(actual), actual <= *limit);
  };
  const probes::IntegrityCounts counts =
      result_.integrity ? result_.integrity->counts : probes::IntegrityCounts{};
  if (e.delivery) {
    const bool no_loss = counts.lost == 0 && counts.abandoned_unexplained == 0;
    const bool no_dup = counts.duplicated == 0 && counts.unexpected == 0;
    const bool intact = counts.torn == 0 && counts.reordered == 0;
    bool pass = false;
    switch (*e.delivery) {
      case Delivery::kExactlyOnce:
        pass = no_loss && no_dup && intact;
        break;
      case Delivery::kAtLeastOnce:
        pass = no_loss && counts.unexpected == 0 && intact;
        break;
      case Delivery::kAtMostOnce:
        // A crash explains a message read again, but it was still read twice.
        pass = no_dup && intact && counts.redelivered == 0;
        break;
    }
    // What held, as the expectation counts it: for at_most_once a message read again
    // after a crash came twice ("got exactly_once" beside its failure read as a pass).
    const bool once = no_dup && (*e.delivery != Delivery::kAtMostOnce || counts.redelivered == 0);
    std::string actual = no_loss && once ? "exactly_once"
                         : no_loss       ? "at_least_once"
                         : once          ? "at_most_once"
                                         : "none";
    actual += " (" + std::to_string(counts.lost) + " lost, " + std::to_string(counts.duplicated) +
              " duplicated, " + std::to_string(counts.unexpected) + " unexpected, " +
              std::to_string(counts.torn) + " torn, " + std::to_string(counts.reordered) +
              " reordered" +
              (counts.lost_at_crash != 0 ? "; " + std::to_string(counts.lost_at_crash) +
                                               " taken by a killed consumer, unrecorded"
                                         : std::string()) +
              (counts.redelivered != 0 ? "; " + std::to_string(counts.redelivered) +
                                             " read again after a killed consumer's pop"
                                       : std::string()) +
              ")";
    add("delivery", std::string(to_string(*e.delivery)), actual, pass);
  }
  at_most("lost", e.lost, counts.lost);
  at_most("duplicated", e.duplicated, counts.duplicated);
  // Torn: messages that failed verification, torn page reads, and mutex records found
  // half-updated without a dead owner to explain it.
  std::uint64_t torn = counts.torn;
  for (const auto& p : result_.pages) torn += p.snapshot.reads_torn;
  for (const auto& m : result_.mutexes) torn += m.snapshot.torn_unexpected;
  at_most("torn", e.torn, torn);
  at_most("reordered", e.reordered, counts.reordered);
  at_most("unexpected", e.unexpected, counts.unexpected);
  // Every message is checked, whatever the spec expects: what none of its expectations
  // covers (all of it without `delivery:`) must be clean. A spec expecting only
  // leaked_objects passed with 39,999 of 39,999 messages lost, and one expecting only
  // `lost: 0` with every message delivered twice.
  if (result_.integrity && !e.delivery) {
    std::string found;
    const auto uncovered = [&](const std::optional<std::uint64_t>& expected, std::uint64_t n,
                               const char* what) {
      if (expected || n == 0) return;
      found += (found.empty() ? "" : ", ") + std::to_string(n) + " " + what;
    };
    uncovered(e.lost, counts.lost, "lost");
    uncovered(e.duplicated, counts.duplicated, "duplicated");
    uncovered(e.torn, counts.torn, "torn");
    uncovered(e.reordered, counts.reordered, "reordered");
    uncovered(e.unexpected, counts.unexpected, "unexpected");
    uncovered(std::nullopt, counts.abandoned_unexplained, "abandoned, their claimer not dead");
    add("messages", "none lost, duplicated, torn, reordered, unexpected or abandoned",
        found.empty() ? "ok" : found, found.empty());
  }
  std::uint64_t exclusion = 0;
  for (const auto& m : result_.mutexes) exclusion += m.snapshot.exclusion_violations;
  at_most("exclusion_violations", e.exclusion_violations, exclusion);
  // Leaks and stalls are findings even when the spec does not mention them.
  add("leaked_objects", std::to_string(e.leaked_objects.value_or(0)),
      std::to_string(result_.leaks.leaked_objects),
      result_.leaks.leaked_objects <= e.leaked_objects.value_or(0));
  // An explicit `stalled: N` is a claim that the watchdog fires: it must match exactly.
  add("stalled", std::to_string(e.stalled.value_or(0)), std::to_string(stalls_),
      stalls_ == e.stalled.value_or(0));
  if (e.semaphore_drift) {
    // Each semaphore's drift, not their sum: a +1 on one and a -1 on another summed to
    // the 0 expected and passed (and this expectation replaces each one's own check).
    bool all = true;
    std::string drifts;
    for (const auto& s : result_.semaphores) {
      all = all && s.drift == *e.semaphore_drift;
      if (result_.semaphores.size() > 1) drifts += (drifts.empty() ? "" : ", ") + s.object + " ";
      drifts += std::to_string(s.drift);
    }
    // The checker's model may explain a drift the spec did not expect (SEM_UNDO cannot
    // take back a killed poster's unit a waiter took): say so beside the failure.
    const bool explained =
        !all && std::ranges::all_of(result_.semaphores, [](const auto& s) { return s.ok(); });
    add("semaphore_drift",
        std::to_string(*e.semaphore_drift) + (result_.semaphores.size() > 1 ? " each" : ""),
        drifts + (explained ? " (what killed workers held or lent: see the semaphores)" : ""), all);
  }
  // Latency: message latency when there are messages, else lock wait.
  probes::HistogramSnapshot latency;
  probes::HistogramSnapshot lock_wait;
  for (const auto& r : result_.roles) {
    latency.merge(r.stats.latency);
    lock_wait.merge(r.stats.lock_wait);
  }
  if (e.p99_latency) {
    const auto& h = latency.count > 0 ? latency : lock_wait;
    const double p99 = h.quantile_seconds(0.99);
    add("p99_latency", e.p99_latency->text,
        h.count == 0 ? "no samples" : "<= " + format_seconds(p99),
        h.count > 0 && e.p99_latency->holds(p99));
  }
  if (e.throughput) {
    const double per_s =
        run_s_ > 0 ? static_cast<double>(probes::throughput_ops(result_)) / run_s_ : 0;
    add("throughput", e.throughput->text, format_rate(per_s), e.throughput->holds(per_s));
  }
  // Always-on findings. A fault the run never fired tested nothing: the run passing
  // without it would say the spec's crash was survived when it never came. `missed`
  // lists what failed (fault indexes), `detail` says why for the first.
  const auto add_fired = [&](const char* name, const std::string& expected, std::size_t total,
                             const std::vector<std::size_t>& missed,
                             const std::function<std::string(std::size_t)>& detail) {
    std::string actual = std::to_string(total - missed.size()) + " of " + std::to_string(total);
    if (!missed.empty()) {
      actual += "; " + detail(missed.front());
      if (missed.size() > 1) actual += " and " + std::to_string(missed.size() - 1) + " more";
    }
    add(name, expected, actual, missed.empty());
  };
  // Failpoint faults, one by one. Timed ones, by rule: a rule none of whose faults fired
  // (an ops-bound worker done before the first kill, every firing due while its worker
  // was down); single skips of a rule that fired are normal.
  std::size_t at_failpoints = 0;
  std::vector<std::size_t> not_reached;
  struct RuleTally {
    std::size_t planned = 0;
    std::size_t fired = 0;
    std::size_t first = 0;  // its first fault
  };
  std::map<std::size_t, RuleTally> timed;
  // A failpoint fault preempted by an earlier death of its worker tested nothing at
  // its failpoint unless another fault of its sort fired there: a kill that can never
  // come (after: 100000000) passed once a timed kill had ended the worker first, with no
  // owner death and no repair to show. A crash (kill or exit) is stood for only by a
  // crash there; a pause by any fault there. (A 1 ms pause at the failpoint excused
  // such a kill, and the run said "2 of 2" reached.)
  const auto is_crash = [&](std::size_t f) {
    const FaultType type = schedule_.faults[f].type;
    return type == FaultType::kKillAtFailpoint || type == FaultType::kExitAtFailpoint;
  };
  std::set<std::string> fired_at;        // any fault fired at these failpoints
  std::set<std::string> crash_fired_at;  // a kill or an exit
  for (std::size_t f = 0; f < schedule_.faults.size(); ++f) {
    const auto& outcome = result_.fault_schedule[f];
    if (outcome.failpoint.empty() || outcome.status != probes::FaultStatus::kFired) continue;
    fired_at.insert(outcome.failpoint);
    if (is_crash(f)) crash_fired_at.insert(outcome.failpoint);
  }
  for (std::size_t f = 0; f < schedule_.faults.size(); ++f) {
    const auto status = result_.fault_schedule[f].status;
    if (is_failpoint_fault(schedule_.faults[f].type)) {
      ++at_failpoints;
      const auto& stood_for = is_crash(f) ? crash_fired_at : fired_at;
      const bool untested = status == probes::FaultStatus::kPreempted &&
                            stood_for.count(result_.fault_schedule[f].failpoint) == 0;
      if (status == probes::FaultStatus::kNotReached || untested) not_reached.push_back(f);
      continue;
    }
    auto [it, added] = timed.try_emplace(schedule_.faults[f].rule, RuleTally{0, 0, f});
    ++it->second.planned;
    if (status == probes::FaultStatus::kFired) ++it->second.fired;
  }
  if (at_failpoints > 0) {
    add_fired("failpoint_faults_reached", "all " + std::to_string(at_failpoints), at_failpoints,
              not_reached, [&](std::size_t f) {
                const bool preempted =
                    result_.fault_schedule[f].status == probes::FaultStatus::kPreempted;
                const char* why = !preempted ? "not reached: "
                                  : is_crash(f)
                                      ? "preempted, and no crash fired at its failpoint: "
                                      : "preempted, and no fault fired at its failpoint: ";
                return why + schedule_.faults[f].describe() + ": " + result_.fault_schedule[f].note;
              });
  }
  if (!timed.empty()) {
    std::vector<std::size_t> silent;  // the first fault of each rule none of whose fired
    for (const auto& [rule, tally] : timed) {
      if (tally.fired == 0) silent.push_back(tally.first);
    }
    add_fired("timed_faults_fired", "every rule at least once", timed.size(), silent,
              [&](std::size_t first) {
                const std::size_t rule = schedule_.faults[first].rule;
                return "faults[" + std::to_string(rule) + "] never fired (" +
                       std::to_string(timed[rule].planned) + " planned; the first, " +
                       schedule_.faults[first].describe() + ": " +
                       std::string(probes::to_string(result_.fault_schedule[first].status)) + ", " +
                       result_.fault_schedule[first].note + ")";
              });
  }
  // A run that did nothing checked nothing (`--duration 1us` passed with 0 messages
  // sent): its pass would say the spec held when it was never exercised.
  if (result_.integrity) {
    add("work_done", "> 0 messages committed", std::to_string(counts.acked) + " messages committed",
        counts.acked > 0);
  } else {
    std::uint64_t ops = 0;
    for (const auto& r : result_.roles) ops += r.stats.total_ops();
    add("work_done", "> 0 operations", std::to_string(ops) + " operations", ops > 0);
  }
  add("no_unexpected_deaths", "0",
      std::to_string(unexpected_deaths_) +
          (unexpected_notes_.empty() ? "" : " (" + unexpected_notes_.front() + ")"),
      unexpected_deaths_ == 0);
  if (result_.integrity) {
    add("integrity_complete", "true", counts.complete ? "true" : "false", counts.complete);
  }
  for (const auto& [ring, what] : broken_rings_) {
    add("ring " + ring, "consistent", what, false);
  }
  for (const auto& m : result_.mutexes) {
    add("mutex " + m.object, "no problems",
        m.ok() ? "ok" : m.problems.front() + (m.problems.size() > 1 ? " (+more)" : ""), m.ok());
  }
  for (const auto& s : result_.semaphores) {
    // An explicit semaphore_drift expectation replaces the checker's drift rule.
    if (e.semaphore_drift) continue;
    add("semaphore " + s.object, "drift explained",
        s.ok() ? "drift " + std::to_string(s.drift) + " (expected " + s.expected_text() + ")"
               : s.problems.front(),
        s.ok());
  }
  for (const auto& p : result_.pages) {
    add("pages " + p.object, "no torn reads", p.ok() ? "ok" : p.problems.front(), p.ok());
  }
}

// The harness holds every delivery record for the check, so a long or fast run can reach
// a memory limit (ulimit -v, a cgroup) mid-run: an environment error like any other. By
// the time the handler runs, unwinding has killed the workers (~Supervisor) and freed
// what the harness held; it removes the run's objects and manifest as the other error
// paths do.
probes::RunResult Runner::run() {
  const auto t0 = Clock::now();
  try {
    return run_unguarded(t0);
  } catch (const std::bad_alloc&) {
    return abandon(
        RunError{kExitEnvironment,
                 "out of memory: the harness keeps what the integrity check needs (deliveries "
                 "it cannot merge yet, gaps, duplicates); allow it more memory, or lower "
                 "--max-log-records or shorten the run (duration, ops)"},
        t0);
  }
}

probes::RunResult Runner::finish_error(const RunError& err, Clock::time_point t0) {
  result_.verdict = probes::RunVerdict::kError;
  result_.exit_code = err.exit_code;
  result_.error = err.message;
  result_.finished_at = iso_utc_now();
  result_.durations.total_s = seconds_since(t0);
  return std::move(result_);  // the Runner's last act
}

probes::RunResult Runner::abandon(const RunError& err, Clock::time_point t0) {
  created_.destroy();
  (void)manifest_.remove();
  return finish_error(err, t0);
}

probes::RunResult Runner::run_unguarded(Clock::time_point t0) {
  result_.spec_name = spec_.name;
  result_.spec_file = spec_.file;
  result_.started_at = iso_utc_now();
  result_.shmcheck_version = "0.1.0";
  seed_ = options_.seed ? *options_.seed : spec_.seed ? *spec_.seed : random_seed();
  result_.seed = seed_;
  result_.repro = repro_command(spec_.file, seed_, options_.duration);
  run_id_ = core::new_run_id();
  result_.run_id = run_id_;

  if (auto err = plan()) return finish_error(*err, t0);
  note("shmcheck run %s (seed %" PRIu64 ", run %s, %zu workers)\n", spec_.file.c_str(), seed_,
       run_id_.c_str(), workers_.size());
  note("fault schedule:\n%s", schedule_.describe(reports::kReportEdgeRows).c_str());

  if (auto r = manifest_.begin(run_id_); !r) return finish_error(manifest_error(r.error()), t0);
  leaks_.before();
  if (auto err = create_objects()) {
    return abandon(*err, t0);
  }
  result_.durations.setup_s = seconds_since(t0);

  SupervisorOptions sopts;
  sopts.on_sample = options_.on_sample;
  sopts.ring_counters = [this] { return read_rings(); };
  sopts.claims_of = [this](pid_t pid) { return claims_of(pid); };
  sopts.control_ref = created_.control->segment().ref().to_string();
  sopts.worker_executable = options_.worker_executable;
  sopts.duration = spec_.duration;
  sopts.timeout = spec_.timeout;
  for (const auto& o : spec_.objects) sopts.object_names.push_back(o.name);
  sopts.broken = options_.broken;
  sopts.quiet = options_.quiet;
  sopts.held_records = options_.held_records;
  auto configs = worker_configs();
  Supervisor supervisor(*created_.control, configs, schedule_, sopts);
  const auto t_run = Clock::now();
  auto report = supervisor.run();
  supervisor.kill_all();
  run_s_ = seconds_since(t_run);
  result_.durations.run_s = run_s_;
  if (!report) {
    return abandon(from_core("supervise", report.error()), t0);
  }
  if (report->interrupted_by != 0) {
    // What happened before the signal stays in the reports (every fault read "not due"
    // and the timeline was empty, while the console had shown kills).
    collect_events(*report);
    return abandon(
        RunError{kExitEnvironment, "interrupted by " + signal_name(report->interrupted_by) +
                                       ": run stopped, its objects removed"},
        t0);
  }
  if (report->spawn_failures > 0) {
    return abandon(
        RunError{kExitEnvironment, "could not start " + std::to_string(report->spawn_failures) +
                                       " worker(s): " + report->spawn_error},
        t0);
  }

  const auto t_check = Clock::now();
  collect(*report);
  // Remove what the run created, then prove nothing of the run is left.
  created_.destroy();
  pids_.insert(::getpid());
  const auto leaks = leaks_.after(run_id_, pids_);
  result_.leaks.leaked_objects = leaks.leaked_objects;
  for (const auto& item : leaks.items) {
    result_.leaks.findings.push_back({item.kind, item.name, item.bytes, item.verdict});
  }
  if (auto r = manifest_.remove(); !r)
    note("warning: could not remove the run manifest: %s\n", r.error().brief().c_str());
  expectations();
  result_.durations.check_s = seconds_since(t_check);

  const bool pass = std::all_of(result_.expectations.begin(), result_.expectations.end(),
                                [](const probes::ExpectationResult& x) { return x.pass; });
  result_.verdict = pass ? probes::RunVerdict::kPass : probes::RunVerdict::kFail;
  result_.exit_code = pass ? kExitPass : kExitExpectationFailed;
  result_.finished_at = iso_utc_now();
  result_.durations.total_s = seconds_since(t0);
  return std::move(result_);  // the Runner's last act
}

}  // namespace

std::string shell_quote(std::string_view word) {
  const auto safe = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
           std::string_view("_-./:@%+=,").find(c) != std::string_view::npos;
  };
  if (!word.empty() && std::ranges::all_of(word, safe)) return std::string(word);
  std::string out = "'";
  for (const char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string repro_command(const std::string& spec_file, std::uint64_t seed,
                          std::optional<std::chrono::nanoseconds> duration) {
  // Pasted into a shell: a spec named "a b.yaml" ran "a", and one named
  // "x|y `z`.yaml" ran a pipe and a command.
  std::string out = "shmcheck run " + shell_quote(spec_file) + " --seed " + std::to_string(seed);
  if (duration) out += " --duration " + format_duration(*duration);
  return out;
}

probes::RunResult run_spec(const Spec& spec, const RunOptions& options) {
  if (options.duration) {
    Spec resized = spec;
    resized.duration = options.duration;
    return Runner(resized, options).run();
  }
  return Runner(spec, options).run();
}

std::string summarize(const probes::RunResult& r) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%s: %s  (seed %" PRIu64 ", %.2fs, run %s)\n",
                r.spec_name.c_str(), std::string(probes::to_string(r.verdict)).c_str(), r.seed,
                r.durations.total_s, r.run_id.c_str());
  out += line;
  if (r.verdict == probes::RunVerdict::kError) {
    out += "  error: " + r.error + "\n";
  }
  if (!r.ended_early.empty()) out += "  ended early: " + r.ended_early + "\n";
  if (r.integrity) {
    const auto& c = r.integrity->counts;
    std::snprintf(line, sizeof line,
                  "  messages: %" PRIu64 " acked, %" PRIu64 " delivered, %" PRIu64 " lost, %" PRIu64
                  " duplicated, %" PRIu64 " torn, %" PRIu64 " reordered, %" PRIu64
                  " recovered, %" PRIu64 " in flight dropped\n",
                  c.acked, c.delivered, c.lost, c.duplicated, c.torn, c.reordered, c.recovered,
                  c.in_flight_dropped);
    out += line;
    // The acked messages not delivered for a reason, when there are any, so that acked
    // and delivered add up on screen: a consumer died holding them (an MPMC pop's claimed
    // slot), the stall ended the run with them queued, the harness found them in a ring
    // after the run (intact: checked), or a full delivery log may have dropped them; and
    // those delivered twice because a consumer killed in pop had recorded them and not
    // released them (an SPSC ring gives them to its successor again).
    const std::pair<std::uint64_t, const char*> reasons[] = {
        {c.redelivered, "read again after a killed consumer's pop"},
        {c.lost_at_crash, "taken by a killed consumer, unrecorded"},
        {c.stranded, "stranded by the stall"},
        {c.left_in_ring, "left in the ring (checked)"},
        {c.unlogged, "unchecked (a delivery log overflowed)"}};
    for (const auto& [count, reason] : reasons) {
      if (count == 0) continue;
      out.pop_back();
      out += ", " + std::to_string(count) + " " + reason + "\n";
    }
  }
  for (const auto& m : r.mutexes) {
    std::snprintf(line, sizeof line,
                  "  mutex %s: %" PRIu64 " updates, %" PRIu64 " owner died, %" PRIu64
                  " repairs, %" PRIu64 " exclusion violations\n",
                  m.object.c_str(), m.snapshot.updates, m.snapshot.owner_died, m.snapshot.repairs,
                  m.snapshot.exclusion_violations);
    out += line;
    if (m.left == probes::MutexLeft::kHeldByDead) {
      // A crash whose recovery never ran: say so, though it is no problem.
      out.pop_back();
      out += m.record_consistent ? "; left held by a dead locker, nobody locked after it\n"
                                 : "; left held by a dead locker mid-update (record torn), "
                                   "nobody locked after it to repair it\n";
    }
  }
  for (const auto& s : r.semaphores) {
    std::snprintf(line, sizeof line,
                  "  semaphore %s (%s%s): value %" PRId64 ", drift %" PRId64
                  " (expected %s), %" PRIu64 " waits, %" PRIu64 " posts\n",
                  s.object.c_str(), s.flavor.c_str(), s.undo ? ", SEM_UNDO" : "", s.value, s.drift,
                  s.expected_text().c_str(), s.waits, s.posts);
    out += line;
  }
  for (const auto& p : r.pages) {
    std::snprintf(line, sizeof line,
                  "  segment %s: %" PRIu64 " pages written, %" PRIu64 " reads ok, %" PRIu64
                  " retries, %" PRIu64 " torn, %" PRIu64 " repaired\n",
                  p.object.c_str(), p.snapshot.pages_written, p.snapshot.reads_ok,
                  p.snapshot.read_retries, p.snapshot.reads_torn, p.snapshot.pages_repaired);
    out += line;
  }
  std::uint64_t restarts = 0;
  for (const auto& w : r.workers) restarts += w.restarts;
  if (!r.workers.empty()) {
    out += "  workers: " + std::to_string(r.workers.size());
    if (!r.fault_schedule.empty()) {
      // "faults: 12 planned, 10 fired, 2 skipped"
      std::map<probes::FaultStatus, std::size_t> by_status;
      for (const auto& f : r.fault_schedule) ++by_status[f.status];
      out += ", faults: " + std::to_string(r.fault_schedule.size()) + " planned";
      for (const auto& [status, n] : by_status) {
        out += ", " + std::to_string(n) + " " + reports::describe(status);
      }
    }
    out += ", restarts: " + std::to_string(restarts) + "\n";
  }
  for (const auto& role : r.roles) {
    const double run_s = r.durations.run_s > 0 ? r.durations.run_s : 1;
    const auto ops = role.stats.total_ops();
    std::snprintf(line, sizeof line, "  %s: %" PRIu64 " ops (%s)", role.role.c_str(), ops,
                  format_rate(static_cast<double>(ops) / run_s).c_str());
    out += line;
    if (role.stats.latency.count > 0) {
      const auto p = probes::percentiles(role.stats.latency);
      out += ", latency p50 " + format_seconds(p.p50) + " p99 " + format_seconds(p.p99);
    }
    if (role.stats.lock_wait.count > 0) {
      const auto p = probes::percentiles(role.stats.lock_wait);
      out += ", lock wait p99 " + format_seconds(p.p99);
    }
    const auto waits = role.stats.full_events + role.stats.empty_events;
    if (waits > 0) {
      out += ", ring " + std::string(role.stats.full_events > 0 ? "full" : "empty") + " " +
             std::to_string(waits) + "x";
      if (role.stats.ring_wait.count > 0) {
        out += " for " + format_seconds(static_cast<double>(role.stats.ring_wait.sum_ns) / 1e9);
      }
    }
    out += "\n";
  }
  for (const auto& g : r.rings) {
    // What the waits cost, when they went as far as the futex; and what the ring did
    // about claimers that died.
    std::string ring_line;
    if (g.sleeps != 0 || g.wakeups != 0) {
      ring_line += ", " + std::to_string(g.sleeps) + " futex sleeps, " + std::to_string(g.wakeups) +
                   " wake-ups";
    }
    if (g.abandoned != 0) ring_line += ", " + std::to_string(g.abandoned) + " slots abandoned";
    if (g.redelivered != 0) {
      ring_line +=
          ", " + std::to_string(g.redelivered) + " dead consumers' messages published again";
    }
    if (!ring_line.empty()) out += "  ring " + g.object + ": " + ring_line.substr(2) + "\n";
  }
  for (const auto& s : r.stalls)
    out += "  STALLED at " + format_seconds(s.t_s) + ": " + s.description + "\n";
  if (r.leaks.leaked_objects > 0) {
    out += "  leaked objects: " + std::to_string(r.leaks.leaked_objects) + "\n";
    for (const auto& f : r.leaks.findings)
      out += "    " + f.kind + " " + f.name + " (" + f.verdict + ")\n";
  }
  for (const auto& e : r.expectations) {
    if (!e.pass)
      out += "  FAILED " + e.name + ": expected " + e.expected + ", got " + e.actual + "\n";
  }
  if (r.verdict != probes::RunVerdict::kPass) out += "  reproduce: " + r.repro + "\n";
  return out;
}

}  // namespace shmcheck::harness
