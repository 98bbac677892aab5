#include "shmcheck/gtest/leak_listener.hpp"

#include <unistd.h>

#include <cstdio>
#include <string>

namespace shmcheck::gtest {
namespace {

LeakListener* g_installed = nullptr;

std::string describe(const probes::IpcObject& o, probes::AttributionReason why) {
  std::string s = "  ";
  s += to_string(o.kind);
  s += " ";
  s += o.name;
  s += " (" + std::to_string(o.bytes_allocated) + " bytes, " + std::string(to_string(o.verdict));
  if (!o.reason.empty()) s += ": " + o.reason;
  s += "; attributed by " + std::string(to_string(why)) + ")";
  return s;
}

}  // namespace

LeakListener::LeakListener() : LeakListener(LeakListenerOptions{}) {}

LeakListener::LeakListener(LeakListenerOptions options) : options_(std::move(options)) {}

void LeakListener::note_process(pid_t pid) { noted_.insert(pid); }

void LeakListener::add_name_prefix(std::string prefix) {
  options_.name_prefixes.push_back(std::move(prefix));
}

void LeakListener::OnTestStart(const ::testing::TestInfo& /*info*/) {
  noted_.clear();
  last_leaks_.clear();
  before_ = probes::take_inventory(options_.inventory);
}

void LeakListener::OnTestEnd(const ::testing::TestInfo& /*info*/) {
  if (!before_) return;
  const auto after = probes::take_inventory(options_.inventory);
  const auto d = probes::diff(*before_, after);
  before_.reset();
  probes::RunAttribution run;
  run.run_ids = options_.run_ids;
  run.name_prefixes = options_.name_prefixes;
  if (options_.attribute_process_tree) {
    run.creator_pids = probes::process_tree(::getpid(), options_.inventory.proc_dir);
    run.creator_pids.insert(noted_.begin(), noted_.end());
    run.include_holders = true;
  }
  std::string message;
  for (const auto& o : d.appeared) {
    const auto why = probes::attribute(o, run);
    if (why == probes::AttributionReason::kNone) continue;
    last_leaks_.push_back(o);
    message += describe(o, why) + "\n";
  }
  if (!last_leaks_.empty()) {
    ADD_FAILURE() << "shmcheck: this test leaked " << last_leaks_.size() << " IPC object(s):\n"
                  << message;
  }
}

LeakListener* installed_leak_listener() noexcept { return g_installed; }

LeakListener& install_leak_listener(LeakListenerOptions options) {
  auto* listener = new LeakListener(std::move(options));  // owned by gtest's listener list
  ::testing::UnitTest::GetInstance()->listeners().Append(listener);
  g_installed = listener;
  return *listener;
}

}  // namespace shmcheck::gtest
