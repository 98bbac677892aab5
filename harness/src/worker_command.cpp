#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "shmcheck/core/failpoint.hpp"
#include "shmcheck/core/segment.hpp"
#include "shmcheck/harness/cli.hpp"
#include "shmcheck/harness/control_segment.hpp"
#include "shmcheck/harness/pacing.hpp"
#include "shmcheck/harness/roles.hpp"
#include "shmcheck/harness/worker.hpp"

namespace shmcheck::harness {
namespace {

struct WorkerArgs {
  std::string control;
  std::uint32_t index = 0;
  std::uint32_t incarnation = 0;
  std::string config;
};

// Test-only: a segment named for this run that nobody will remove.
void leak_a_segment(const WorkerConfig& cfg) {
  core::SegmentOptions opts;
  opts.run_id = cfg.run_id;
  opts.object = "leak-w" + std::to_string(cfg.index) + "-i" + std::to_string(cfg.incarnation);
  opts.kind = core::ObjectKind::kTest;
  opts.payload_size = 4096;
  auto seg = core::Segment::create(opts);
  if (!seg) {
    worker_log(cfg.index, "broken=leak-segment: %s", seg.error().message().c_str());
    return;
  }
  seg->keep_name();
}

int worker_main(const WorkerArgs& args) {
  WorkerConfig cfg;
  try {
    cfg = WorkerConfig::from_json(nlohmann::json::parse(args.config));
  } catch (const std::exception& e) {
    worker_log(args.index, "bad --config: %s", e.what());
    return kWorkerExitSetup;
  }
  cfg.index = args.index;
  cfg.incarnation = args.incarnation;
  auto ref = core::SegmentRef::parse(args.control);
  if (!ref) {
    worker_log(cfg.index, "bad --control: %s", ref.error().message().c_str());
    return kWorkerExitSetup;
  }
  auto control = ControlSegment::open(*ref);
  if (!control) {
    worker_log(cfg.index, "open control segment: %s", control.error().message().c_str());
    return kWorkerExitSetup;
  }
  if (cfg.index >= control->view().workers()) {
    worker_log(cfg.index, "worker index beyond the control segment's %u workers",
               control->view().workers());
    return kWorkerExitSetup;
  }
  // Paced sends, holds and think times end on time (pacing.hpp).
  if (!use_precise_timer_slack()) {
    worker_log(cfg.index, "prctl(PR_SET_TIMERSLACK): %s (sleeps may wake late)",
               std::strerror(errno));
  }
  auto& slot = control->view().worker(cfg.index);
  slot.begin(static_cast<std::int32_t>(::getpid()), cfg.incarnation);
  probes::install_failpoint_observer(&slot);
  if (!cfg.failpoints.empty()) {
    if (auto r = core::arm_failpoints_from_string(cfg.failpoints); !r) {
      worker_log(cfg.index, "arm failpoints: %s", r.error().message().c_str());
      return kWorkerExitSetup;
    }
  }
  if (cfg.broken == Broken::kLeakSegment) leak_a_segment(cfg);
  // Wait for the go (restarted workers find the run already going).
  control->wait_for_go();
  const int rc = run_role(cfg, *control);
  if (rc == 0) slot.finish();
  core::disarm_all_failpoints();
  return rc;
}

}  // namespace

CommandRunner add_worker_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("worker", "Internal: one worker process of `shmcheck run`");
  cmd->group("");  // hidden from --help: started only by the supervisor
  auto args = std::make_shared<WorkerArgs>();
  cmd->add_option("--control", args->control, "control segment ref")->required();
  cmd->add_option("--index", args->index, "global worker index")->required();
  cmd->add_option("--incarnation", args->incarnation, "restart count");
  cmd->add_option("--config", args->config, "worker config (JSON)")->required();
  return [args] { return worker_main(*args); };
}

}  // namespace shmcheck::harness
