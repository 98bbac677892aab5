#include "shmcheck/probes/integrity_checker.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>

namespace shmcheck::probes {
namespace {

using IncKey = std::pair<std::uint32_t, std::uint32_t>;  // (producer, incarnation)

struct Delivery {
  std::uint64_t seq;
  std::int32_t consumer;
  friend bool operator<(const Delivery& l, const Delivery& r) {
    return l.seq != r.seq ? l.seq < r.seq : l.consumer < r.consumer;
  }
};

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
  return {{"attempted", c.attempted},
          {"acked", c.acked},
          {"delivered", c.delivered},
          {"lost", c.lost},
          {"lost_at_crash", c.lost_at_crash},
          {"recovered", c.recovered},
          {"in_flight_dropped", c.in_flight_dropped},
          {"unexpected", c.unexpected},
          {"foreign", c.foreign},
          {"duplicated", c.duplicated},
          {"reordered", c.reordered},
          {"torn", c.torn},
          {"abandoned", c.abandoned},
          {"abandoned_unexplained", c.abandoned_unexplained},
          {"stalled", c.stalled},
          {"log_overflow", c.log_overflow},
          {"untracked_incarnations", c.untracked_incarnations}};
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
  // by producer incarnation.
  std::map<IncKey, std::vector<Delivery>> deliveries;
  std::set<std::int32_t> abandoned_claimers;
  for (const ConsumerSnapshot& consumer : input.consumers) {
    c.log_overflow += consumer.overflow;
    const auto consumer_index = static_cast<std::int32_t>(consumer.consumer);
    std::map<IncKey, std::uint64_t> highest;  // this consumer's highest seq per incarnation
    for (const DeliveryRecord& r : consumer.records) {
      const MessageKey key{r.producer, r.incarnation, r.seq};
      switch (r.status) {
        case DeliveryStatus::kOk: {
          ++c.delivered;
          deliveries[{r.producer, r.incarnation}].push_back(Delivery{r.seq, consumer_index});
          auto [it, inserted] = highest.try_emplace({r.producer, r.incarnation}, r.seq);
          if (!inserted) {
            if (r.seq < it->second) {
              ++c.reordered;
              examples.add("reordered", key, consumer_index,
                           "after seq " + std::to_string(it->second) + " from the same producer");
            } else {
              it->second = r.seq;
            }
          }
          break;
        }
        case DeliveryStatus::kTorn:
          ++c.torn;
          examples.add("torn", key, consumer_index, "checksum or length mismatch (fields as read)");
          break;
        case DeliveryStatus::kForeign:
          ++c.foreign;
          ++c.unexpected;
          examples.add("unexpected", key, consumer_index,
                       "foreign: intact, but not the payload this run's producer sends");
          break;
        case DeliveryStatus::kAbandoned:
          ++c.abandoned;
          abandoned_claimers.insert(r.claimer_pid);
          if (crashed_pids.count(r.claimer_pid) == 0) {
            ++c.abandoned_unexplained;
            examples.add("abandoned_unexplained", key, consumer_index,
                         "slot abandoned by pid " + std::to_string(r.claimer_pid) +
                             ", which is not a crashed worker");
          }
          break;
      }
    }
  }

  // Pass 2: classify each delivered key against its ledger.
  std::uint64_t lost_total = 0;
  std::vector<MessageKey> lost_examples;
  std::set<MessageKey> recovered_keys;
  for (auto& [inc_key, list] : deliveries) {
    std::sort(list.begin(), list.end());
    const auto ledger_it = ledgers.find(inc_key);
    for (std::size_t i = 0; i < list.size();) {
      std::size_t j = i;
      while (j < list.size() && list[j].seq == list[i].seq) ++j;
      const MessageKey key{inc_key.first, inc_key.second, list[i].seq};
      const std::uint64_t copies = j - i;
      if (copies > 1) {
        c.duplicated += copies - 1;
        examples.add("duplicated", key, list[i + 1].consumer,
                     "delivered " + std::to_string(copies) + " times");
      }
      if (ledger_it == ledgers.end()) {
        if (key.incarnation >= kMaxIncarnations &&
            producers_with_untracked.count(key.producer) != 0) {
          // Untracked incarnation: cannot be judged; `complete` is false.
        } else {
          ++c.unexpected;
          examples.add("unexpected", key, list[i].consumer, "no such producer incarnation");
        }
      } else {
        const IncarnationSnapshot& ledger = ledger_it->second;
        if (key.seq == 0 || key.seq > ledger.attempted) {
          ++c.unexpected;
          examples.add("unexpected", key, list[i].consumer,
                       "never attempted (attempted " + std::to_string(ledger.attempted) + ")");
        } else if (key.seq > ledger.acked) {
          if (ledger.state != IncarnationState::kFinished) {
            ++c.recovered;
            recovered_keys.insert(key);
            examples.add("recovered", key, list[i].consumer,
                         "in flight when its producer died, delivered anyway");
          } else {
            ++c.unexpected;
            examples.add("unexpected", key, list[i].consumer,
                         "its push was never acknowledged and the producer exited cleanly");
          }
        }
      }
      i = j;
    }
  }

  // Pass 3: lost = acked but never delivered; in flight at a crash and never delivered.
  std::uint64_t skipped_in_flight = 0;  // lost for sure: a later in-flight one arrived
  for (const auto& [inc_key, ledger] : ledgers) {
    static const std::vector<Delivery> kNone;
    const auto it = deliveries.find(inc_key);
    const std::vector<Delivery>& list = it == deliveries.end() ? kNone : it->second;
    std::uint64_t distinct_in_range = 0;
    std::uint64_t previous = 0;
    for (const Delivery& d : list) {
      if (d.seq != previous && d.seq >= 1 && d.seq <= ledger.acked) ++distinct_in_range;
      previous = d.seq;
    }
    const std::uint64_t missing = ledger.acked - distinct_in_range;
    lost_total += missing;
    if (missing != 0 && lost_examples.size() < kMaxExamplesPerKind) {
      std::size_t pos = 0;
      for (std::uint64_t seq = 1; seq <= ledger.acked && lost_examples.size() < kMaxExamplesPerKind;
           ++seq) {
        while (pos < list.size() && list[pos].seq < seq) ++pos;
        if (pos >= list.size() || list[pos].seq != seq) {
          lost_examples.push_back(MessageKey{inc_key.first, inc_key.second, seq});
        }
      }
    }
    if (ledger.attempted > ledger.acked && ledger.state != IncarnationState::kFinished) {
      // The in-flight range (acked, attempted]: what arrived must be a prefix of it.
      std::uint64_t last_recovered = 0;
      for (std::uint64_t seq = ledger.attempted; seq > ledger.acked; --seq) {
        if (recovered_keys.count({inc_key.first, inc_key.second, seq}) != 0) {
          last_recovered = seq;
          break;
        }
      }
      for (std::uint64_t seq = ledger.acked + 1; seq <= ledger.attempted; ++seq) {
        const MessageKey key{inc_key.first, inc_key.second, seq};
        if (recovered_keys.count(key) != 0) continue;
        if (seq > last_recovered) {
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
          delivered += recovered_keys.count({crash.index, crash.incarnation, seq});
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
