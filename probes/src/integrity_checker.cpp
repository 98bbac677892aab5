#include "shmcheck/probes/integrity_checker.hpp"

#include <algorithm>
#include <iterator>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <utility>

namespace shmcheck::probes {
namespace {

using IncKey = std::pair<std::uint32_t, std::uint32_t>;  // (producer, incarnation)
constexpr std::uint64_t kEnd = std::numeric_limits<std::uint64_t>::max();  // beyond every seq

// Seqs [begin, end) of one producer incarnation, delivered to one consumer (one
// record of its log: a run of consecutive seqs).
struct Span {
  std::uint64_t begin;
  std::uint64_t end;
  std::int32_t consumer;
  friend bool operator<(const Span& l, const Span& r) {
    return l.begin != r.begin ? l.begin < r.begin : l.consumer < r.consumer;
  }
};

// Disjoint, ascending, non-adjacent intervals [first, second): the distinct seqs of
// one producer incarnation that were delivered at least once.
using Coverage = std::vector<std::pair<std::uint64_t, std::uint64_t>>;

bool covered(const Coverage& coverage, std::uint64_t seq) {
  const auto it = std::upper_bound(coverage.begin(), coverage.end(), seq,
                                   [](std::uint64_t s, const auto& iv) { return s < iv.first; });
  return it != coverage.begin() && seq < std::prev(it)->second;
}

// Calls f(from, to) for each non-empty [from, to) = an interval of coverage ∩ [lo, hi).
template <class F>
void for_each_overlap(const Coverage& coverage, std::uint64_t lo, std::uint64_t hi, F&& f) {
  for (const auto& [b, e] : coverage) {
    const std::uint64_t from = std::max(b, lo);
    const std::uint64_t to = std::min(e, hi);
    if (from < to) f(from, to);
  }
}

// |coverage ∩ [lo, hi)|
std::uint64_t covered_in(const Coverage& coverage, std::uint64_t lo, std::uint64_t hi) {
  std::uint64_t n = 0;
  for_each_overlap(coverage, lo, hi,
                   [&n](std::uint64_t from, std::uint64_t to) { n += to - from; });
  return n;
}

// The consumers whose spans hold seq, ascending (one per copy delivered).
std::vector<std::int32_t> consumers_of(const std::vector<Span>& spans, std::uint64_t seq) {
  std::vector<std::int32_t> out;
  for (const Span& sp : spans) {
    if (sp.begin > seq) break;  // sorted by begin
    if (seq < sp.end) out.push_back(sp.consumer);
  }
  std::sort(out.begin(), out.end());
  return out;
}

class Examples {
 public:
  explicit Examples(std::vector<IntegrityExample>& out) : out_(out) {}
  [[nodiscard]] bool want(const std::string& kind) const {
    const auto it = counts_.find(kind);
    return it == counts_.end() || it->second < kMaxExamplesPerKind;
  }
  void add(const std::string& kind, const MessageKey& key, std::int32_t consumer,
           std::string detail) {
    if (!want(kind)) return;
    ++counts_[kind];
    out_.push_back(IntegrityExample{kind, key, consumer, std::move(detail)});
  }

 private:
  std::vector<IntegrityExample>& out_;
  std::map<std::string, std::size_t> counts_;
};

}  // namespace

CrashRecord make_crash_record(std::string role, std::uint32_t index,
                              const WorkerSlotSnapshot& slot) {
  CrashRecord c;
  c.role = std::move(role);
  c.index = index;
  c.incarnation = slot.incarnation;
  c.pid = slot.pid;
  c.op = slot.current_op;
  c.op_seq = slot.op_seq;
  if (slot.injected) c.failpoint = std::string(core::to_string(slot.injected_failpoint));
  return c;
}

std::uint64_t IntegrityCounts::violations() const noexcept {
  return lost + unexpected + duplicated + reordered + torn + abandoned_unexplained + stalled;
}

std::vector<std::pair<std::string_view, std::uint64_t>> named_counts(const IntegrityCounts& c) {
  std::vector<std::pair<std::string_view, std::uint64_t>> out;
  for_each_count(
      c, [&out](std::string_view name, std::uint64_t value) { out.emplace_back(name, value); });
  return out;
}

bool is_violation_kind(std::string_view kind) noexcept {
  return kind == "lost" || kind == "unexpected" || kind == "duplicated" || kind == "reordered" ||
         kind == "torn" || kind == "abandoned_unexplained" || kind == "stalled";
}

MessageVerdict check_messages(const MessageCheckInput& input) {
  MessageVerdict verdict;
  IntegrityCounts& c = verdict.counts;
  Examples examples(verdict.examples);

  std::map<IncKey, IncarnationSnapshot> ledgers;
  std::set<std::uint32_t> producers_with_untracked;
  for (const ProducerSnapshot& p : input.producers) {
    c.untracked_incarnations += p.untracked_incarnations;
    if (p.untracked_incarnations != 0) producers_with_untracked.insert(p.producer);
    for (const IncarnationSnapshot& inc : p.incarnations) {
      ledgers[{p.producer, inc.incarnation}] = inc;
      c.attempted += inc.attempted;
      c.acked += inc.acked;
    }
  }

  std::set<std::int32_t> crashed_pids;
  std::uint64_t consumer_pop_crashes = 0;
  for (const CrashRecord& crash : input.crashes) {
    if (crash.pid != 0) crashed_pids.insert(crash.pid);
    if (crash.role == "consumer" && crash.op == WorkerOp::kPop) ++consumer_pop_crashes;
  }

  // Pass 1: per-consumer order, torn/foreign/abandoned records, deliveries grouped
  // by producer incarnation. A record stands for `count` messages: seqs seq .. seq +
  // count - 1, delivered in that order (only ok records hold more than one).
  std::map<IncKey, std::vector<Span>> deliveries;
  std::set<std::int32_t> abandoned_claimers;
  for (const ConsumerSnapshot& consumer : input.consumers) {
    c.log_overflow += consumer.overflow;
    const auto consumer_index = static_cast<std::int32_t>(consumer.consumer);
    std::map<IncKey, std::uint64_t> highest;  // this consumer's highest seq per incarnation
    for (const DeliveryRecord& r : consumer.records) {
      const MessageKey key{r.producer, r.incarnation, r.seq};
      const std::uint64_t n = std::max<std::uint64_t>(r.count, 1);
      switch (r.status) {
        case DeliveryStatus::kOk: {
          c.delivered += n;
          const std::uint64_t last = r.seq + (n - 1);
          deliveries[{r.producer, r.incarnation}].push_back(Span{r.seq, last + 1, consumer_index});
          auto [it, inserted] = highest.try_emplace({r.producer, r.incarnation}, last);
          if (!inserted) {
            // Each seq below the highest received so far is out of order; the run's
            // seqs ascend, so those are its first min(n, highest - seq).
            if (r.seq < it->second) {
              c.reordered += std::min(n, it->second - r.seq);
              examples.add("reordered", key, consumer_index,
                           "after seq " + std::to_string(it->second) + " from the same producer");
            }
            it->second = std::max(it->second, last);
          }
          break;
        }
        case DeliveryStatus::kTorn:
          c.torn += n;
          examples.add("torn", key, consumer_index, "checksum or length mismatch (fields as read)");
          break;
        case DeliveryStatus::kForeign:
          c.foreign += n;
          c.unexpected += n;
          examples.add("unexpected", key, consumer_index,
                       "foreign: intact, but not the payload this run's producer sends");
          break;
        case DeliveryStatus::kAbandoned:
          c.abandoned += n;
          abandoned_claimers.insert(r.claimer_pid);
          if (crashed_pids.count(r.claimer_pid) == 0) {
            c.abandoned_unexplained += n;
            examples.add("abandoned_unexplained", key, consumer_index,
                         "slot abandoned by pid " + std::to_string(r.claimer_pid) +
                             ", which is not a crashed worker");
          }
          break;
      }
    }
  }

  // Pass 2: per producer incarnation, the distinct seqs delivered (coverage) and the
  // extra copies; then each distinct seq classified against the ledger.
  std::map<IncKey, Coverage> coverages;
  for (auto& [inc_key, spans] : deliveries) {
    std::sort(spans.begin(), spans.end());
    Coverage& coverage = coverages[inc_key];
    std::uint64_t copies_total = 0;
    std::uint64_t next_example = 0;  // duplicated seqs below this were already shown
    for (const Span& sp : spans) {
      copies_total += sp.end - sp.begin;
      if (!coverage.empty() && sp.begin <= coverage.back().second) {
        // Overlaps (or touches) what is covered so far: [begin, covered end) are copies.
        const std::uint64_t overlap_end = std::min(sp.end, coverage.back().second);
        for (std::uint64_t seq = std::max(sp.begin, next_example);
             seq < overlap_end && examples.want("duplicated"); ++seq) {
          const auto holders = consumers_of(spans, seq);
          examples.add("duplicated", MessageKey{inc_key.first, inc_key.second, seq}, holders[1],
                       "delivered " + std::to_string(holders.size()) + " times");
          next_example = seq + 1;
        }
        coverage.back().second = std::max(coverage.back().second, sp.end);
      } else {
        coverage.emplace_back(sp.begin, sp.end);
      }
    }
    c.duplicated += copies_total - covered_in(coverage, 0, kEnd);

    // Distinct seqs in [lo, hi) are all of one class: counted, a few shown.
    const auto classify = [&](std::uint64_t lo, std::uint64_t hi, std::uint64_t& counter,
                              const std::string& kind, const std::string& detail) {
      for_each_overlap(coverage, lo, hi, [&](std::uint64_t from, std::uint64_t to) {
        counter += to - from;
        for (std::uint64_t seq = from; seq < to && examples.want(kind); ++seq) {
          examples.add(kind, MessageKey{inc_key.first, inc_key.second, seq},
                       consumers_of(spans, seq).front(), detail);
        }
      });
    };
    const auto ledger_it = ledgers.find(inc_key);
    if (ledger_it == ledgers.end()) {
      if (inc_key.second >= kMaxIncarnations &&
          producers_with_untracked.count(inc_key.first) != 0) {
        // Untracked incarnation: cannot be judged; `complete` is false.
      } else {
        classify(0, kEnd, c.unexpected, "unexpected", "no such producer incarnation");
      }
      continue;
    }
    const IncarnationSnapshot& ledger = ledger_it->second;
    const std::string never_attempted =
        "never attempted (attempted " + std::to_string(ledger.attempted) + ")";
    classify(0, 1, c.unexpected, "unexpected", never_attempted);
    if (ledger.state != IncarnationState::kFinished) {
      classify(ledger.acked + 1, ledger.attempted + 1, c.recovered, "recovered",
               "in flight when its producer died, delivered anyway");
    } else {
      classify(ledger.acked + 1, ledger.attempted + 1, c.unexpected, "unexpected",
               "its push was never acknowledged and the producer exited cleanly");
    }
    classify(ledger.attempted + 1, kEnd, c.unexpected, "unexpected", never_attempted);
  }
  static const Coverage kNothing;
  const auto coverage_of = [&](const IncKey& key) -> const Coverage& {
    const auto it = coverages.find(key);
    return it == coverages.end() ? kNothing : it->second;
  };
  // Delivered while in flight at its producer's death (acked < seq <= attempted).
  const auto recovered = [&](const IncKey& key, const IncarnationSnapshot& ledger,
                             std::uint64_t seq) {
    return ledger.state != IncarnationState::kFinished && seq > ledger.acked &&
           seq <= ledger.attempted && covered(coverage_of(key), seq);
  };

  // Pass 3: lost = acked but never delivered; in flight at a crash and never delivered.
  std::uint64_t lost_total = 0;
  std::vector<MessageKey> lost_examples;
  std::uint64_t skipped_in_flight = 0;  // lost for sure: a later in-flight one arrived
  for (const auto& [inc_key, ledger] : ledgers) {
    const Coverage& coverage = coverage_of(inc_key);
    const std::uint64_t missing = ledger.acked - covered_in(coverage, 1, ledger.acked + 1);
    lost_total += missing;
    // The gaps in [1, acked], ascending.
    std::uint64_t seq = 1;
    for (auto it = coverage.begin();
         missing != 0 && seq <= ledger.acked && lost_examples.size() < kMaxExamplesPerKind;) {
      if (it != coverage.end() && it->second <= seq) {
        ++it;
      } else if (it != coverage.end() && it->first <= seq) {
        seq = it->second;
      } else {
        lost_examples.push_back(MessageKey{inc_key.first, inc_key.second, seq});
        ++seq;
      }
    }
    if (ledger.attempted > ledger.acked && ledger.state != IncarnationState::kFinished) {
      // The in-flight range (acked, attempted]: what arrived must be a prefix of it.
      std::uint64_t last_recovered = 0;
      for (std::uint64_t s = ledger.attempted; s > ledger.acked; --s) {
        if (covered(coverage, s)) {
          last_recovered = s;
          break;
        }
      }
      for (std::uint64_t s = ledger.acked + 1; s <= ledger.attempted; ++s) {
        const MessageKey key{inc_key.first, inc_key.second, s};
        if (covered(coverage, s)) continue;
        if (s > last_recovered) {
          ++c.in_flight_dropped;
        } else {
          ++skipped_in_flight;
          examples.add("lost", key, -1,
                       "in flight, never delivered, while seq " + std::to_string(last_recovered) +
                           " of the same push was");
        }
      }
    }
  }
  c.lost_at_crash = std::min(lost_total, consumer_pop_crashes * input.messages_per_pop);
  const std::uint64_t unexplained = lost_total - c.lost_at_crash;
  c.lost = unexplained + skipped_in_flight;
  for (const MessageKey& key : lost_examples) {
    if (unexplained != 0) {
      examples.add("lost", key, -1, "acknowledged to its producer, never delivered");
    } else {
      examples.add("lost_at_crash", key, -1, "never delivered; a consumer died inside pop");
    }
  }

  c.stalled = input.stalled;
  c.complete = c.log_overflow == 0 && c.untracked_incarnations == 0;

  // Crash attribution: what each dead producer/consumer had in flight.
  for (const CrashRecord& crash : input.crashes) {
    CrashAttribution a;
    a.crash = crash;
    const std::string who = crash.role + "[" + std::to_string(crash.index) + "] incarnation " +
                            std::to_string(crash.incarnation) + " (pid " +
                            std::to_string(crash.pid) + ")";
    const std::string at =
        crash.failpoint.empty() ? std::string() : " at failpoint " + crash.failpoint;
    if (crash.role == "producer") {
      const auto it = ledgers.find({crash.index, crash.incarnation});
      if (it == ledgers.end()) {
        a.effect = "none";
        a.description = who + " died" + at + " before journaling any message";
      } else if (it->second.attempted > it->second.acked) {
        // The last message in flight stands for the push (a burst: the rest of it).
        const MessageKey key{crash.index, crash.incarnation, it->second.attempted};
        a.message = key;
        const std::uint64_t first = it->second.acked + 1;
        const std::string during =
            who + " died" + at + " during " + std::string(to_string(crash.op)) +
            (first == key.seq
                 ? " of seq " + std::to_string(key.seq)
                 : " of seqs " + std::to_string(first) + ".." + std::to_string(key.seq));
        std::uint64_t delivered = 0;  // a prefix of the range, when all is well
        for (std::uint64_t seq = first; seq <= key.seq; ++seq) {
          delivered += recovered({crash.index, crash.incarnation}, it->second, seq) ? 1 : 0;
        }
        if (delivered == key.seq - first + 1) {
          a.effect = "recovered";
          a.description = during + "; delivered";
        } else if (delivered != 0) {
          a.effect = "recovered";
          a.description = during + "; " + std::to_string(delivered) +
                          " of them delivered, the rest never (not acked)";
        } else if (abandoned_claimers.count(crash.pid) != 0) {
          a.effect = "abandoned_slot";
          a.description = during + "; the ring skipped its half-written slot";
        } else {
          a.effect = "in_flight_dropped";
          a.description = during + "; never delivered (not acked)";
        }
      } else {
        a.effect = "none";
        a.description = who + " died" + at + " with no push in flight (acked seq " +
                        std::to_string(it->second.acked) + ")";
      }
    } else if (crash.role == "consumer") {
      if (crash.op == WorkerOp::kPop) {
        a.effect = "lost_in_pop";
        a.description =
            who + " died" + at + " inside pop: what it had taken (if anything) died with it";
      } else {
        a.effect = "none";
        a.description = who + " died" + at + " outside pop (" + std::string(to_string(crash.op)) +
                        "): no message in flight";
      }
    } else {
      a.effect = "not_a_message_worker";
      a.description = who + " died" + at + " during " + std::string(to_string(crash.op));
    }
    verdict.crashes.push_back(std::move(a));
  }
  return verdict;
}

MutexFindings check_mutex(const MutexSnapshot& s, std::uint64_t locker_crashes) {
  MutexFindings f;
  f.snapshot = s;
  f.locker_crashes = locker_crashes;
  f.record_consistent = s.a == s.b && s.a == s.generation;
  const auto n = [](std::uint64_t v) { return std::to_string(v); };
  if (s.exclusion_violations != 0) {
    f.problems.push_back(n(s.exclusion_violations) +
                         " exclusion violations: more than one locker inside the critical section");
  }
  if (s.torn_unexpected != 0) {
    f.problems.push_back("record found half-updated " + n(s.torn_unexpected) +
                         " times without an owner death");
  }
  if (s.owner_died > locker_crashes) {
    f.problems.push_back("owner-died reported " + n(s.owner_died) + " times but only " +
                         n(locker_crashes) + " lockers died");
  }
  if (s.repairs != s.owner_died) {
    f.problems.push_back(n(s.owner_died) + " owner-died acquisitions but " + n(s.repairs) +
                         " repairs");
  }
  // A locker that died holding the lock after the last acquisition leaves the record
  // (and the in-section counter) as it was: only a finding when no death explains it.
  const bool undiscovered_death = locker_crashes > s.owner_died;
  if (!f.record_consistent && !undiscovered_death) {
    f.problems.push_back("record left inconsistent: a=" + n(s.a) + " b=" + n(s.b) +
                         " generation=" + n(s.generation));
  }
  if (s.in_section != 0 && !undiscovered_death) {
    f.problems.push_back("in-section counter is " + n(s.in_section) + " after the run");
  }
  return f;
}

SemaphoreFindings check_semaphore(const SemaphoreSnapshot& s, std::int64_t value) {
  SemaphoreFindings f;
  f.initial = s.initial;
  f.undo = s.undo;
  f.value = value;
  for (const SemaphoreUserSnapshot& u : s.users) {
    f.posts += u.posts;
    f.waits += u.waits;
    f.held_at_exit += u.held_at_exit;
    f.pending_waits += u.pending_waits;
    f.pending_posts += u.pending_posts;
  }
  f.drift = static_cast<std::int64_t>(s.initial) + static_cast<std::int64_t>(f.posts) -
            static_cast<std::int64_t>(f.waits) + f.held_at_exit - value;
  f.expected_drift = s.undo ? 0 : f.held_at_exit;
  f.stranded = f.expected_drift;
  const std::int64_t low = f.expected_drift - static_cast<std::int64_t>(f.pending_posts);
  const std::int64_t high = f.expected_drift + static_cast<std::int64_t>(f.pending_waits);
  if (f.drift < low || f.drift > high) {
    std::string range = std::to_string(f.expected_drift);
    if (low != high) range = "[" + std::to_string(low) + ", " + std::to_string(high) + "]";
    f.problems.push_back("drift " + std::to_string(f.drift) + ", expected " + range +
                         (s.undo ? " (the kernel undoes exited holders' units)"
                                 : " (units still held by ended holders)") +
                         ": value " + std::to_string(value) + ", initial " +
                         std::to_string(s.initial) + ", posts " + std::to_string(f.posts) +
                         ", waits " + std::to_string(f.waits));
  }
  if (value < 0) f.problems.push_back("negative semaphore value " + std::to_string(value));
  return f;
}

PageFindings check_pages(const SegmentPageSnapshot& s, std::uint64_t writer_crashes) {
  PageFindings f;
  f.snapshot = s;
  if (s.reads_torn != 0) {
    f.problems.push_back(std::to_string(s.reads_torn) +
                         " consistent reads (stable generation) failed verification");
  }
  if (s.pages_repaired > writer_crashes) {
    f.problems.push_back(std::to_string(s.pages_repaired) + " pages found mid-write but only " +
                         std::to_string(writer_crashes) + " writers died");
  }
  return f;
}

}  // namespace shmcheck::probes
