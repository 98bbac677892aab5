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

constexpr std::uint64_t kEnd = std::numeric_limits<std::uint64_t>::max();  // beyond every seq

// A producer incarnation's coverage: disjoint, non-adjacent intervals begin -> end.
using Coverage = std::map<std::uint64_t, std::uint64_t>;

bool covered(const Coverage& coverage, std::uint64_t seq) {
  const auto it = coverage.upper_bound(seq);
  return it != coverage.begin() && seq < std::prev(it)->second;
}

// Calls f(from, to) for each non-empty [from, to) = an interval of coverage ∩ [lo, hi),
// ascending.
template <class F>
void for_each_overlap(const Coverage& coverage, std::uint64_t lo, std::uint64_t hi, F&& f) {
  auto it = coverage.upper_bound(lo);
  if (it != coverage.begin()) --it;
  for (; it != coverage.end() && it->first < hi; ++it) {
    const std::uint64_t from = std::max(it->first, lo);
    const std::uint64_t to = std::min(it->second, hi);
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

// -------------------------------------------------------------------------- DeliveryTally

template <class Pred>
void DeliveryTally::Examples::remove_if(Pred&& pred) {
  std::erase_if(list, [&](const IntegrityExample& e) {
    if (!pred(e)) return false;
    --counts_[e.kind];
    return true;
  });
}

bool DeliveryTally::Examples::want(const std::string& kind) const {
  const auto it = counts_.find(kind);
  return it == counts_.end() || it->second < kMaxExamplesPerKind;
}

void DeliveryTally::Examples::add(const std::string& kind, const MessageKey& key,
                                  std::int32_t consumer, std::string detail) {
  if (!want(kind)) return;
  ++counts_[kind];
  list.push_back(IntegrityExample{kind, key, consumer, std::move(detail)});
}

void DeliveryTally::add(std::uint32_t consumer, const DeliveryRecord& record) {
  add_counted(consumer, record, counts_.delivered);
}

void DeliveryTally::add_left_in_ring(const DeliveryRecord& record) {
  add_counted(static_cast<std::uint32_t>(kLeftInRing), record, counts_.left_in_ring);
}

void DeliveryTally::add_counted(std::uint32_t consumer, const DeliveryRecord& r,
                                std::uint64_t& ok) {
  const auto who = static_cast<std::int32_t>(consumer);
  const MessageKey key{r.producer, r.incarnation, r.seq};
  // A record stands for `count` messages: seqs seq .. seq + count - 1, delivered in
  // that order (only ok records hold more than one).
  const std::uint64_t n = std::max<std::uint64_t>(r.count, 1);
  if (who >= 0) recorded_[{who, r.consumer_incarnation}] += n;
  switch (r.status) {
    case DeliveryStatus::kOk: {
      ok += n;
      const std::uint64_t end = r.seq < kEnd - n ? r.seq + n : kEnd;  // a stray seq near 2^64
      if (r.claimer_pid != 0) {
        // Published again after the consumer that took it died (MpmcRing): late by
        // design, so exempt from the order check; a copy of it is a redelivery if that
        // consumer died in pop (finish()).
        republished_.push_back(
            Republished{MessageKey{r.producer, r.incarnation, r.seq}, r.claimer_pid, who});
        const IncKey inc_key{r.producer, r.incarnation};
        insert_delivery(inc_key, delivered_[inc_key], Span{r.seq, end, who}, r.seq);
        break;
      }
      ConsumerTail* tail = who >= 0 ? &tail_of(who, r.consumer_incarnation) : nullptr;
      std::uint64_t reordered_below = r.seq;  // seqs [r.seq, reordered_below) out of order
      auto [it, inserted] = highest_.try_emplace({who, r.producer, r.incarnation}, end - 1);
      if (!inserted) {
        // Each seq below the highest received so far is out of order; the run's
        // seqs ascend, so those are its first min(n, highest - seq).
        if (r.seq < it->second) {
          reordered_below = r.seq + std::min(n, it->second - r.seq);
          counts_.reordered += std::min(n, it->second - r.seq);
          examples_.add("reordered", key, who,
                        "after seq " + std::to_string(it->second) + " from the same producer");
        }
        it->second = std::max(it->second, end - 1);
      }
      const IncKey inc_key{r.producer, r.incarnation};
      insert_delivery(inc_key, delivered_[inc_key], Span{r.seq, end, who}, reordered_below);
      if (tail != nullptr) remember(*tail, inc_key, r.seq, end);
      break;
    }
    case DeliveryStatus::kTorn:
      counts_.torn += n;
      examples_.add("torn", key, who, "checksum or length mismatch (fields as read)");
      break;
    case DeliveryStatus::kForeign:
      counts_.foreign += n;
      counts_.unexpected += n;
      examples_.add("unexpected", key, who,
                    "foreign: intact, but not the payload this run's producer sends");
      break;
    case DeliveryStatus::kAbandoned: {
      // Explained or not is known at finish(), when the crashed workers are.
      counts_.abandoned += n;
      Abandoned& a = abandoned_[r.claimer_pid];
      a.count += n;
      if (a.shown.size() < kMaxExamplesPerKind) a.shown.emplace_back(key, who);
      break;
    }
  }
}

DeliveryTally::ConsumerTail& DeliveryTally::tail_of(std::int32_t who, std::uint32_t incarnation) {
  auto [it, inserted] = tails_.try_emplace(who);
  ConsumerTail& t = it->second;
  if (inserted) t.incarnation = incarnation;
  if (t.incarnation == incarnation) return t;
  t.previous.push_back(IncarnationTail{t.incarnation, std::move(t.last)});
  if (t.previous.size() > kTailIncarnations) t.previous.pop_front();
  t.last.clear();
  t.messages = 0;
  t.incarnation = incarnation;
  return t;
}

void DeliveryTally::remember(ConsumerTail& t, const IncKey& key, std::uint64_t begin,
                             std::uint64_t end) {
  if (!t.last.empty() && t.last.back().key == key && t.last.back().end == begin) {
    t.last.back().end = end;
  } else {
    t.last.push_back(TailSpan{key, begin, end});
  }
  t.messages += end - begin;
  while (t.messages > kRedeliveryWindow) {
    TailSpan& oldest = t.last.front();
    const std::uint64_t excess = t.messages - kRedeliveryWindow;
    if (oldest.end - oldest.begin <= excess) {
      t.messages -= oldest.end - oldest.begin;
      t.last.pop_front();
    } else {
      oldest.begin += excess;
      t.messages -= excess;
    }
  }
}

void DeliveryTally::count_copy(const IncKey& key, Delivered& d, Span copy,
                               std::uint64_t reordered_below) {
  // The part of the copy in one of `tail`'s spans is a possible redelivery; what is
  // left of it on either side is looked at again.
  const auto in_tail = [&](std::int32_t consumer, std::uint32_t incarnation,
                           const std::deque<TailSpan>& tail) {
    std::uint64_t after = 0;  // messages the incarnation recorded after the span
    for (auto sp = tail.rbegin(); sp != tail.rend(); ++sp) {
      const std::uint64_t from = std::max(sp->begin, copy.begin);
      const std::uint64_t to = std::min(sp->end, copy.end);
      if (sp->key == key && from < to) {
        redeliveries_.push_back(Redelivery{key, Span{from, to, copy.consumer}, consumer,
                                           incarnation, after + (sp->end - to),
                                           std::min(to, std::max(from, reordered_below))});
        if (copy.begin < from) {
          count_copy(key, d, Span{copy.begin, from, copy.consumer}, reordered_below);
        }
        if (to < copy.end) count_copy(key, d, Span{to, copy.end, copy.consumer}, reordered_below);
        return true;
      }
      after += sp->end - sp->begin;
    }
    return false;
  };
  // The newest incarnation that recorded it: the one whose death left it unreleased.
  const auto in_previous = [&](std::int32_t consumer, const ConsumerTail& t) {
    for (auto p = t.previous.rbegin(); p != t.previous.rend(); ++p) {
      if (in_tail(consumer, p->incarnation, p->last)) return true;
    }
    return false;
  };
  if (copy.consumer >= 0) {
    const auto t = tails_.find(copy.consumer);
    if (t != tails_.end() && in_previous(copy.consumer, t->second)) return;
  } else if (copy.consumer == kLeftInRing) {
    // Left in a ring after the run: what a consumer's incarnations had not released.
    for (const auto& [consumer, t] : tails_) {
      if (in_tail(consumer, t.incarnation, t.last) || in_previous(consumer, t)) return;
    }
  }
  counts_.duplicated += copy.end - copy.begin;
  d.copies.push_back(copy);
}

// Adds the span's seqs to the coverage; those it covered already are extra copies.
void DeliveryTally::insert_delivery(const IncKey& key, Delivered& d, Span span,
                                    std::uint64_t reordered_below) {
  if (span.begin >= span.end) return;
  std::uint64_t begin = span.begin;
  std::uint64_t end = span.end;
  // From the first interval that overlaps or touches [begin, end), merge them all.
  auto it = d.coverage.upper_bound(span.begin);
  if (it != d.coverage.begin() && std::prev(it)->second >= span.begin) --it;
  while (it != d.coverage.end() && it->first <= span.end) {
    const std::uint64_t from = std::max(it->first, span.begin);
    const std::uint64_t to = std::min(it->second, span.end);
    if (from < to) count_copy(key, d, Span{from, to, span.consumer}, reordered_below);
    begin = std::min(begin, it->first);
    end = std::max(end, it->second);
    it = d.coverage.erase(it);
  }
  d.coverage.emplace_hint(it, begin, end);
  // Who delivered a seq matters only where it may end up above acked (or is seq 0).
  if (span.begin == 0) {
    d.unsettled.push_back(Span{0, 1, span.consumer});
    span.begin = 1;
  }
  span.begin = std::max(span.begin, d.settled + 1);
  if (span.begin < span.end) d.unsettled.push_back(span);
}

void DeliveryTally::settle(const ProducerSnapshot& producer) {
  for (const IncarnationSnapshot& inc : producer.incarnations) {
    const auto it = delivered_.find({producer.producer, inc.incarnation});
    if (it == delivered_.end() || inc.acked <= it->second.settled) continue;
    Delivered& d = it->second;
    d.settled = inc.acked;
    for (Span& sp : d.unsettled) {
      if (sp.begin != 0) sp.begin = std::min(std::max(sp.begin, d.settled + 1), sp.end);
    }
    std::erase_if(d.unsettled, [](const Span& sp) { return sp.begin == sp.end; });
  }
}

std::uint64_t DeliveryTally::held() const noexcept {
  std::uint64_t n =
      highest_.size() + abandoned_.size() + redeliveries_.size() + republished_.size();
  n += recorded_.size();
  for (const auto& [consumer, t] : tails_) {
    n += t.last.size();
    for (const auto& p : t.previous) n += p.last.size();
  }
  for (const auto& [key, d] : delivered_) {
    n += d.coverage.size() + d.unsettled.size() + d.copies.size();
  }
  return n;
}

namespace {

// The lowest consumer whose span (sorted by begin) holds seq; -1 when none does.
std::int32_t deliverer(const auto& spans, std::uint64_t seq) {
  std::int32_t out = -1;
  for (const auto& sp : spans) {
    if (sp.begin > seq) break;
    if (seq < sp.end && (out < 0 || sp.consumer < out)) out = sp.consumer;
  }
  return out;
}

}  // namespace

MessageVerdict DeliveryTally::finish(const MessageCheckInput& input) && {
  MessageVerdict verdict;
  IntegrityCounts& c = verdict.counts;
  c = counts_;
  Examples& examples = examples_;

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

  // Dead consumers whose message an MpmcRing published again -> messages, and how many
  // of them the harness took after the run.
  std::map<std::int32_t, std::pair<std::uint64_t, std::uint64_t>> republished_from;
  for (const Republished& rp : republished_) {
    auto& [messages, drained] = republished_from[rp.claimer_pid];
    ++messages;
    if (rp.consumer == kLeftInRing) ++drained;
  }
  std::set<std::int32_t> crashed_pids;
  // Messages consumers that died in pop may have taken with them: what they still
  // claimed (CrashRecord::claims_left), or a pop's worth each when that is not known.
  std::uint64_t may_have_taken = 0;
  // Consumer incarnations that died inside pop (the watchdog's kills too): what they
  // recorded in the pop in flight (recorded, minus the op_seq - 1 messages of the pops
  // they completed) is all their death can explain coming twice.
  struct PopDeath {
    bool successor_rereads = false;
    std::uint64_t unreleased = 0;  // recorded and not released, at most
    std::uint64_t explained = 0;   // copies it explains so far
  };
  std::map<std::pair<std::uint32_t, std::uint32_t>, PopDeath> pop_deaths;  // (index, inc)
  std::map<std::int32_t, std::pair<std::uint32_t, std::uint32_t>> pop_death_of_pid;
  for (const CrashRecord& crash : input.crashes) {
    if (crash.pid != 0) crashed_pids.insert(crash.pid);
    if (crash.role != "consumer" || crash.op != WorkerOp::kPop) continue;
    const auto recorded =
        recorded_.find({static_cast<std::int32_t>(crash.index), crash.incarnation});
    const std::uint64_t n = recorded == recorded_.end() ? 0 : recorded->second;
    const std::uint64_t released = crash.op_seq > 0 ? crash.op_seq - 1 : 0;
    pop_deaths[{crash.index, crash.incarnation}] =
        PopDeath{crash.successor_rereads, n > released ? n - released : 0, 0};
    if (crash.pid != 0) pop_death_of_pid[crash.pid] = {crash.index, crash.incarnation};
    // An MpmcRing publishes a dead consumer's message again once a producer comes round
    // (or the drain takes it): one that did not may have taken it with it. A consumer the
    // watchdog killed explains no loss (what it held is counted stranded).
    if (!crash.by_watchdog && !crash.successor_rereads && republished_from.count(crash.pid) == 0) {
      may_have_taken += crash.claims_left.value_or(input.messages_per_pop);
    }
  }
  // Takes up to `want` of what the death of (consumer, incarnation) can still explain.
  const auto explain = [&](std::pair<std::uint32_t, std::uint32_t> who, bool rereads,
                           std::uint64_t want) -> std::uint64_t {
    const auto death = pop_deaths.find(who);
    if (death == pop_deaths.end() || death->second.successor_rereads != rereads) return 0;
    PopDeath& d = death->second;
    const std::uint64_t n = std::min(want, d.unreleased - d.explained);
    d.explained += n;
    return n;
  };

  // Copies of a dead SPSC consumer's last records: redelivered when its crash explains
  // them (it died in pop, they were among its last messages_per_pop and it had not
  // released them), else duplicated.
  for (const Redelivery& r : redeliveries_) {
    const std::uint64_t len = r.copy.end - r.copy.begin;
    std::uint64_t explained = 0;
    if (r.consumer >= 0 && r.distance < input.messages_per_pop) {
      // The copy's last ones.
      explained = explain({static_cast<std::uint32_t>(r.consumer), r.of_incarnation}, true,
                          std::min(len, input.messages_per_pop - r.distance));
      // A successor reads them again after its predecessor's later ones: not out of order.
      const std::uint64_t from = r.copy.end - explained;
      if (explained != 0 && from < r.reordered_below) {
        c.reordered -= r.reordered_below - from;
        examples.remove_if([&](const IntegrityExample& e) {
          return e.kind == "reordered" && e.consumer == r.copy.consumer &&
                 IncKey{e.key.producer, e.key.incarnation} == r.key && e.key.seq >= from &&
                 e.key.seq < r.reordered_below;
        });
      }
    }
    c.redelivered += explained;
    if (explained < len) {
      c.duplicated += len - explained;
      delivered_[r.key].copies.push_back(
          Span{r.copy.begin, r.copy.end - explained, r.copy.consumer});
    }
  }
  // A message an MpmcRing published again after its consumer died in pop: one copy of it
  // may be that consumer's record, made before it died (a redelivery, not a duplicate).
  for (const Republished& rp : republished_) {
    const auto death = pop_death_of_pid.find(rp.claimer_pid);
    if (death == pop_death_of_pid.end()) continue;
    auto& copies = delivered_[{rp.key.producer, rp.key.incarnation}].copies;
    const auto copy = std::find_if(copies.begin(), copies.end(), [&](const Span& sp) {
      return sp.begin <= rp.key.seq && rp.key.seq < sp.end;
    });
    if (copy == copies.end()) continue;  // delivered once: late, not twice
    if (explain(death->second, false, 1) == 0) continue;
    const Span whole = *copy;
    copies.erase(copy);
    if (whole.begin < rp.key.seq) copies.push_back(Span{whole.begin, rp.key.seq, whole.consumer});
    if (rp.key.seq + 1 < whole.end) {
      copies.push_back(Span{rp.key.seq + 1, whole.end, whole.consumer});
    }
    --c.duplicated;
    ++c.redelivered;
  }

  // Abandoned slots: explained when their claimer is a crashed worker.
  std::set<std::int32_t> abandoned_claimers;
  for (const auto& [pid, a] : abandoned_) {
    abandoned_claimers.insert(pid);
    if (crashed_pids.count(pid) != 0) continue;
    c.abandoned_unexplained += a.count;
    for (const auto& [key, consumer] : a.shown) {
      examples.add(
          "abandoned_unexplained", key, consumer,
          "slot abandoned by pid " + std::to_string(pid) + ", which is not a crashed worker");
    }
  }

  // Per producer incarnation: a few duplicated seqs shown, then each distinct seq
  // classified against the ledger.
  for (auto& [inc_key, d] : delivered_) {
    if (!d.copies.empty()) {
      std::vector<Span> ascending = d.copies;
      std::stable_sort(ascending.begin(), ascending.end(),
                       [](const Span& l, const Span& r) { return l.begin < r.begin; });
      std::uint64_t next = 0;  // duplicated seqs below this were already shown
      for (const Span& sp : ascending) {
        for (std::uint64_t seq = std::max(sp.begin, next);
             seq < sp.end && examples.want("duplicated"); ++seq) {
          std::uint64_t copies = 1;  // the first delivery, then one per extra copy
          std::int32_t first_extra = -1;
          for (const Span& copy : d.copies) {
            if (copy.begin <= seq && seq < copy.end) {
              ++copies;
              if (first_extra < 0) first_extra = copy.consumer;
            }
          }
          examples.add("duplicated", MessageKey{inc_key.first, inc_key.second, seq}, first_extra,
                       "delivered " + std::to_string(copies) + " times");
          next = seq + 1;
        }
      }
    }

    std::sort(d.unsettled.begin(), d.unsettled.end(),
              [](const Span& l, const Span& r) { return l.begin < r.begin; });
    // Distinct seqs in [lo, hi) are all of one class: counted, a few shown.
    const auto classify = [&](std::uint64_t lo, std::uint64_t hi, std::uint64_t& counter,
                              const std::string& kind, const std::string& detail) {
      for_each_overlap(d.coverage, lo, hi, [&](std::uint64_t from, std::uint64_t to) {
        counter += to - from;
        for (std::uint64_t seq = from; seq < to && examples.want(kind); ++seq) {
          examples.add(kind, MessageKey{inc_key.first, inc_key.second, seq},
                       deliverer(d.unsettled, seq), detail);
        }
      });
    };
    const auto ledger_it = ledgers.find(inc_key);
    if (ledger_it == ledgers.end()) {
      if (inc_key.second >= kLedgerSlots && producers_with_untracked.count(inc_key.first) != 0) {
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
    const auto it = delivered_.find(key);
    return it == delivered_.end() ? kNothing : it->second.coverage;
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
  c.lost_at_crash = std::min(lost_total, may_have_taken);
  // A full delivery log dropped log_overflow records, a message each: that many of the
  // rest may have been delivered unseen. Not proved lost, they are `unlogged` (and the
  // check is incomplete, which fails the run on its own).
  c.unlogged = std::min(lost_total - c.lost_at_crash, c.log_overflow);
  const std::uint64_t unexplained = lost_total - c.lost_at_crash - c.unlogged;
  // A stall ended the run: the watchdog killed the consumers with messages still in the
  // rings, so what they had not delivered yet is stranded, not proved lost.
  const bool stalled = input.stalled != 0;
  c.stranded = stalled ? unexplained : 0;
  c.lost = (stalled ? 0 : unexplained) + skipped_in_flight;
  for (const MessageKey& key : lost_examples) {
    if (unexplained != 0 && stalled) {
      examples.add("stranded", key, -1,
                   "acknowledged to its producer, not delivered when the watchdog ended the run");
    } else if (unexplained != 0) {
      examples.add("lost", key, -1, "acknowledged to its producer, never delivered");
    } else if (c.unlogged != 0) {
      examples.add("unlogged", key, -1,
                   "acknowledged to its producer, not seen delivered: a consumer's delivery "
                   "log overflowed");
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
    // A worker the watchdog killed (stopped at a failpoint by a pause, perhaps) did not
    // die there of its own: say who ended it.
    const std::string at =
        std::string(crash.by_watchdog ? " (killed by the watchdog)" : "") +
        (crash.failpoint.empty() ? std::string() : " at failpoint " + crash.failpoint);
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
      if (crash.op == WorkerOp::kPop && crash.by_watchdog) {
        a.effect = "stranded";
        a.description = who + " killed by the watchdog inside pop: what it had taken (if " +
                        "anything) is counted stranded";
      } else if (crash.op == WorkerOp::kPop && crash.successor_rereads) {
        const std::uint64_t twice = pop_deaths[{crash.index, crash.incarnation}].explained;
        a.effect = "reread";
        a.description =
            who + " died" + at +
            " inside pop: what it had taken and not released stayed in the ring, "
            "to be read again" +
            (twice == 0 ? std::string(" (none of it recorded yet)")
                        : " (" + std::to_string(twice) + " it had recorded: delivered twice)");
      } else if (crash.op == WorkerOp::kPop && republished_from.count(crash.pid) != 0) {
        const auto [late, drained] = republished_from[crash.pid];
        const std::uint64_t twice = pop_deaths[{crash.index, crash.incarnation}].explained;
        a.effect = "reread";
        a.description =
            who + " died" + at +
            (drained == late ? " inside pop: the harness took what it held from the ring after "
                               "the run ("
                             : " inside pop: the ring published what it held again for another "
                               "consumer (") +
            std::to_string(late) + " message" + (late == 1 ? "" : "s") +
            (twice == 0 ? ", delivered late)"
                        : ", " + std::to_string(twice) + " it had recorded: delivered twice)");
      } else if (crash.op == WorkerOp::kPop &&
                 (c.lost_at_crash == 0 || crash.claims_left == std::uint64_t{0})) {
        // Whatever it held, the ring would have published again (or the harness taken).
        a.effect = "none";
        a.description = who + " died" + at + " inside pop holding no message";
      } else if (crash.op == WorkerOp::kPop) {
        a.effect = "lost_in_pop";
        a.description = who + " died" + at +
                        " inside pop, holding no message the ring published again: nothing, "
                        "or one nobody could prove it dead for, lost with it";
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
  verdict.examples = std::move(examples.list);
  return verdict;
}

MessageVerdict check_messages(const MessageCheckInput& input) {
  DeliveryTally tally;
  for (const ConsumerSnapshot& consumer : input.consumers) {
    for (const DeliveryRecord& r : consumer.records) tally.add(consumer.consumer, r);
    tally.add_overflow(consumer.overflow);
  }
  return std::move(tally).finish(input);
}

std::string_view to_string(MutexLeft left) noexcept {
  switch (left) {
    case MutexLeft::kFree:
      return "free";
    case MutexLeft::kHeldByDead:
      return "held_by_dead";
    case MutexLeft::kLocked:
      return "locked";
    case MutexLeft::kNotRecoverable:
      return "not_recoverable";
    case MutexLeft::kUntried:
      return "untried";
  }
  return "untried";
}

std::optional<MutexLeft> mutex_left_from_string(std::string_view s) noexcept {
  for (const MutexLeft left : {MutexLeft::kFree, MutexLeft::kHeldByDead, MutexLeft::kLocked,
                               MutexLeft::kNotRecoverable, MutexLeft::kUntried}) {
    if (to_string(left) == s) return left;
  }
  return std::nullopt;
}

MutexFindings check_mutex(const MutexSnapshot& s, std::uint64_t locker_crashes, MutexLeft left) {
  MutexFindings f;
  f.snapshot = s;
  f.locker_crashes = locker_crashes;
  f.left = left;
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
  if (left == MutexLeft::kLocked) {
    f.problems.push_back("still locked after every locker ended");
  } else if (left == MutexLeft::kNotRecoverable) {
    f.problems.push_back(
        "left unrecoverable: unlocked after an owner death without make_consistent");
  }
  // A locker that died holding the lock after the last acquisition leaves the record
  // (and the in-section counter) as it was: only a finding when no such death explains
  // it. One that died holding nothing explains nothing.
  const bool held_by_dead = left == MutexLeft::kHeldByDead;
  if (!f.record_consistent && !held_by_dead) {
    f.problems.push_back("record left inconsistent: a=" + n(s.a) + " b=" + n(s.b) +
                         " generation=" + n(s.generation) +
                         (locker_crashes > s.owner_died ? ", with the lock free" : ""));
  }
  if (s.in_section != 0 && !held_by_dead) {
    f.problems.push_back("in-section counter is " + n(s.in_section) + " after the run");
  }
  return f;
}

std::int64_t SemaphoreFindings::lowest_drift() const noexcept {
  return expected_drift - static_cast<std::int64_t>(pending_posts) - (undo ? lent_at_exit : 0);
}

// Under SEM_UNDO a wait that completed in the kernel is undone with its process, so a
// death between the syscall and the ledger leaves no unit missing: no room above.
std::int64_t SemaphoreFindings::highest_drift() const noexcept {
  return expected_drift + (undo ? 0 : static_cast<std::int64_t>(pending_waits));
}

std::string SemaphoreFindings::expected_text() const {
  const std::int64_t low = lowest_drift();
  const std::int64_t high = highest_drift();
  if (low == high) return std::to_string(expected_drift);
  return "[" + std::to_string(low) + ", " + std::to_string(high) + "]";
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
    f.lent_at_exit += std::max<std::int64_t>(0, -u.held_at_exit);
    f.pending_waits += u.pending_waits;
    f.pending_posts += u.pending_posts;
  }
  f.drift = static_cast<std::int64_t>(s.initial) + static_cast<std::int64_t>(f.posts) -
            static_cast<std::int64_t>(f.waits) + f.held_at_exit - value;
  f.expected_drift = s.undo ? 0 : f.held_at_exit;
  f.stranded = f.expected_drift;
  if (f.drift < f.lowest_drift() || f.drift > f.highest_drift()) {
    f.problems.push_back("drift " + std::to_string(f.drift) + ", expected " + f.expected_text() +
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
