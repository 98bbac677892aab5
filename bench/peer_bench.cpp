// peer_bench: stress-ng's IPC stressors side by side with shmcheck specs doing the
// equivalent work (bench/specs/peer-*.yaml), run by the real `shmcheck` binary, in
// one run: repetition 1 of every stressor and spec, then repetition 2, ... so a
// drift of the machine hits both sides alike. Both sides run the same number of
// working processes (threads, for stress-ng's mutex stressor) for the same
// duration; ops/s is ops / wall time as each side reports it: stress-ng's "bogo ops/s
// (real time)" from its --yaml output, shmcheck's counted operations of the role
// that does the stressor's bogo op over `durations.run_s` of `shmcheck run --json`.
// Prints its part of the table (median of the repetitions, [min .. max], ratio
// shmcheck / stress-ng, target >= 1x) and, with --json, writes every figure.
// A report, not a test: exit status 0 even when a target is missed.
//
//   peer_bench [--quick] [--json FILE] [--repetitions N] [--seconds S]
//              [--shmcheck PATH] [--stress-ng PATH] [--specs DIR]
//
// Every child process runs under a deadline: SIGTERM to its process group when the
// deadline passes (both stress-ng and shmcheck clean up what they created on
// SIGTERM), SIGKILL after a grace period. A missing stress-ng or shmcheck, a
// failing run or a timeout becomes a failed figure with the reason, never a crash.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cases.hpp"

#ifndef SHMCHECK_PEER_BENCH_SHMCHECK
#define SHMCHECK_PEER_BENCH_SHMCHECK "shmcheck"
#endif
#ifndef SHMCHECK_PEER_BENCH_SPECS
#define SHMCHECK_PEER_BENCH_SPECS "bench/specs"
#endif

namespace {

namespace fs = std::filesystem;
using namespace shmcheck::bench;
using std::chrono::milliseconds;

// One stressor and the spec that does its work.
struct Peer {
  std::string id;                     // figure ids: peer.<id>.stress-ng / peer.<id>.shmcheck
  std::string stressor;               // stress-ng --<stressor> 1
  std::vector<std::string> pin_args;  // stress-ng options that pin its defaults
  std::string spec;                   // file in the specs directory
  std::string role;                   // the spec role whose operations are counted
  std::string stress_procs;           // stress-ng's working processes (threads), for the label
  std::string shmcheck_procs;         // the spec's working processes, for the label
  std::string stress_note;            // what one stress-ng bogo op is, how many processes
  std::string shmcheck_note;          // what one counted shmcheck op is
};

std::vector<Peer> peers() {
  return {
      {"mutex",
       "mutex",
       {"--mutex-procs", "2"},
       "peer-mutex.yaml",
       "locker",
       "2 threads",
       "2 procs",
       "stress-ng --mutex 1: one process, 2 threads contending on one pthread mutex; bogo op "
       "= one pthread_mutex_lock + unlock, with 2 sched_setscheduler calls and a sched_yield "
       "inside the critical section (its design: priority inversion under SCHED_FIFO)",
       "2 locker processes on one robust process-shared mutex in POSIX shm; op = one lock + "
       "record update (exclusion check) + unlock; hold 0, think 0"},
      {"sem-sysv",
       "sem-sysv",
       {"--sem-sysv-procs", "2"},
       "peer-sem-sysv.yaml",
       "waiter",
       "2 procs",
       "2 procs",
       "stress-ng --sem-sysv 1 --sem-sysv-procs 2: 2 child processes on one SysV semaphore "
       "(initial 1, SEM_UNDO); bogo op = semtimedop(-1) + semop(+1)",
       "2 waiter processes on one SysV semaphore (initial 1, SEM_UNDO); op = one wait (spin "
       "on IPC_NOWAIT, then semtimedop) + one post, each recorded in the drift ledger"},
      {"mq",
       "mq",
       {"--mq-size", "10"},
       "peer-mq.yaml",
       "consumer",
       "2 procs",
       "2 procs",
       "stress-ng --mq 1: sender + receiver process over a POSIX message queue of 10 "
       "messages of 8 B; bogo op = one message sent (and received)",
       "1 producer + 1 consumer process over an SPSC ring of 16 slots (POSIX shm); op = one "
       "message delivered; 40 B messages (the smallest a spec allows: header with seq, "
       "send time and XXH3 checksum), each verified by the consumer"},
      {"msg",
       "msg",
       {"--msg-bytes", "4"},
       "peer-msg.yaml",
       "consumer",
       "2 procs",
       "2 procs",
       "stress-ng --msg 1: sender + receiver process over a SysV message queue of 4 B "
       "messages (queue limit msgmnb = 16 KiB: 4096 messages); bogo op = one message sent "
       "(and received)",
       "1 producer + 1 consumer process over an SPSC ring of 4096 slots (SysV shm); op = one "
       "message delivered; 40 B messages (the smallest a spec allows: header with seq, send "
       "time and XXH3 checksum), each verified by the consumer"},
  };
}

// Where a child's exit ended up.
struct ChildRun {
  bool ok = false;
  std::string error;  // why not ok: exit status, signal, timeout (with the log's tail)
};

std::string tail_of(const fs::path& log, std::size_t bytes = 400) {
  std::ifstream in(log, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (text.size() > bytes) text = "..." + text.substr(text.size() - bytes);
  for (auto& c : text) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return text;
}

// Sends sig to the child's process group (and to the child, should it have left it).
void signal_group(pid_t pid, int sig) {
  (void)::kill(-pid, sig);
  (void)::kill(pid, sig);
}

// Runs argv[0] (a path) with stdout and stderr into log, stdin from /dev/null, in a
// process group of its own. After `deadline`: SIGTERM to the group, SIGKILL 3 s later.
ChildRun run_child(const std::vector<std::string>& argv, const fs::path& log,
                   milliseconds deadline) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = ::fork();
  if (pid < 0) return {false, std::string("fork: ") + std::strerror(errno)};
  if (pid == 0) {
    (void)::setpgid(0, 0);
    (void)::prctl(PR_SET_PDEATHSIG, SIGKILL);  // peer_bench killed: no orphaned run
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (out < 0 || in < 0 || ::dup2(in, STDIN_FILENO) < 0 || ::dup2(out, STDOUT_FILENO) < 0 ||
        ::dup2(out, STDERR_FILENO) < 0) {
      ::_exit(126);
    }
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  (void)::setpgid(pid, pid);  // either side may win the race; both ask for the same
  const auto start = std::chrono::steady_clock::now();
  bool terminated = false;
  bool killed = false;
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return {false, std::string("waitpid: ") + std::strerror(errno)};
    const auto waited = std::chrono::steady_clock::now() - start;
    if (!terminated && waited >= deadline) {
      signal_group(pid, SIGTERM);
      terminated = true;
    } else if (!killed && waited >= deadline + std::chrono::seconds(3)) {
      signal_group(pid, SIGKILL);
      killed = true;
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
  signal_group(pid, SIGKILL);  // anything the child left running in its group
  const std::string name = fs::path(argv[0]).filename().string();
  if (terminated) {
    return {false,
            name + " still running after " + std::to_string(deadline.count()) + " ms: " +
                (killed ? "SIGKILLed (may have left IPC objects: check ipcs)" : "SIGTERMed") +
                "; log: " + tail_of(log)};
  }
  if (WIFSIGNALED(status)) {
    return {false, name + " killed by signal " + std::to_string(WTERMSIG(status)) +
                       "; log: " + tail_of(log)};
  }
  const int code = WEXITSTATUS(status);
  if (code == 127) return {false, "cannot execute " + argv[0]};
  if (code != 0) {
    return {false, name + " exited " + std::to_string(code) + "; log: " + tail_of(log)};
  }
  return {true, {}};
}

// The first executable called `name` on PATH; empty when none.
std::string find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");  // NOLINT(concurrency-mt-unsafe): start-up only
  std::stringstream dirs(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    const fs::path candidate = fs::path(dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return {};
}

class PeerRunner {
 public:
  PeerRunner(std::string shmcheck, std::string stress_ng, fs::path specs, fs::path work,
             int seconds)
      : shmcheck_(std::move(shmcheck)),
        stress_ng_(std::move(stress_ng)),
        specs_(std::move(specs)),
        work_(std::move(work)),
        seconds_(seconds) {}

  // stress-ng's bogo ops/s (real time) for one run of --<stressor> 1.
  TrialValue stress_ng(const Peer& p) const {
    if (stress_ng_.empty()) return trial_failed("stress-ng not found on PATH (Debian: stress-ng)");
    const fs::path yaml = work_ / (p.id + ".stress-ng.yaml");
    const fs::path temp = work_ / "stress-ng-temp";
    fs::create_directories(temp);
    fs::remove(yaml);
    std::vector<std::string> argv{stress_ng_,
                                  "--" + p.stressor,
                                  "1",
                                  "--timeout",
                                  std::to_string(seconds_) + "s",
                                  "--metrics-brief",
                                  "--yaml",
                                  yaml.string(),
                                  "--temp-path",
                                  temp.string()};
    argv.insert(argv.end(), p.pin_args.begin(), p.pin_args.end());
    const auto run = run_child(argv, work_ / (p.id + ".stress-ng.log"), deadline());
    if (!run.ok) return trial_failed(run.error);
    try {
      const YAML::Node doc = YAML::LoadFile(yaml.string());
      for (const auto& m : doc["metrics"]) {
        if (m["stressor"].as<std::string>() != p.stressor) continue;
        TrialValue t;
        t.ok = true;
        t.seconds = m["wall-clock-time"].as<double>();
        t.values = {m["bogo-ops-per-second-real-time"].as<double>() / 1e3};
        return t;
      }
      return trial_failed("stress-ng --yaml has no metrics for " + p.stressor);
    } catch (const std::exception& e) {
      return trial_failed("reading stress-ng's --yaml " + yaml.string() + ": " + e.what());
    }
  }

  // ops/s of the counted role in one `shmcheck run` of the peer's spec.
  TrialValue shmcheck(const Peer& p) const {
    if (::access(shmcheck_.c_str(), X_OK) != 0) {
      return trial_failed("shmcheck binary not executable: " + shmcheck_);
    }
    auto spec = timed_spec(p);
    if (!spec.ok) return spec;
    const fs::path json = work_ / (p.id + ".shmcheck.json");
    fs::remove(json);
    const std::vector<std::string> argv{shmcheck_, "run",         (work_ / p.spec).string(),
                                        "--json",  json.string(), "--quiet"};
    const auto run = run_child(argv, work_ / (p.id + ".shmcheck.log"), deadline());
    if (!run.ok) return trial_failed(run.error);
    try {
      std::ifstream in(json);
      const auto doc = nlohmann::json::parse(in);
      const auto& r = doc.at("runs").at(0);
      std::uint64_t ops = 0;
      for (const auto& role : r.at("roles")) {
        if (role.at("role").get<std::string>() != p.role) continue;
        for (const auto& [op, n] : role.at("ops_by_op").items()) ops += n.get<std::uint64_t>();
      }
      const double run_s = r.at("durations").at("run_s").get<double>();
      if (ops == 0 || run_s <= 0) return trial_failed("the run counted no " + p.role + " ops");
      // Same duration as stress-ng, or no comparison: a producer whose `ops` budget ran
      // out ends the run early (its rate would be over a different span).
      if (run_s < 0.9 * seconds_) {
        return trial_failed(p.spec + " ended after " + std::to_string(run_s) + " s of " +
                            std::to_string(seconds_) + " s (" + std::to_string(ops) + " " + p.role +
                            " ops): raise the producer's ops budget");
      }
      TrialValue t;
      t.ok = true;
      t.seconds = run_s;
      t.values = {static_cast<double>(ops) / run_s / 1e3};
      return t;
    } catch (const std::exception& e) {
      return trial_failed("reading shmcheck's --json " + json.string() + ": " + e.what());
    }
  }

 private:
  // Generous: start-up, the run, the checks and the leak audit on a loaded machine.
  [[nodiscard]] milliseconds deadline() const { return milliseconds(1000 * seconds_ + 30'000); }

  // The peer's spec with its `duration:` set to this run's: written into the work
  // directory, which the run then loads (nothing else in the spec changes).
  TrialValue timed_spec(const Peer& p) const {
    std::ifstream in(specs_ / p.spec);
    if (!in) return trial_failed("cannot read " + (specs_ / p.spec).string());
    std::ofstream out(work_ / p.spec);
    std::string line;
    bool replaced = false;
    while (std::getline(in, line)) {
      if (line.rfind("duration:", 0) == 0) {
        line = "duration: " + std::to_string(seconds_) + "s";
        replaced = true;
      }
      out << line << '\n';
    }
    if (!replaced) return trial_failed((specs_ / p.spec).string() + " has no top-level duration");
    if (!out.flush()) return trial_failed("cannot write " + (work_ / p.spec).string());
    TrialValue t;
    t.ok = true;
    return t;
  }

  std::string shmcheck_;
  std::string stress_ng_;
  fs::path specs_;
  fs::path work_;
  int seconds_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"shmcheck peer_bench: stress-ng's IPC stressors vs shmcheck specs"};
  Options opts;
  int seconds = 2;
  std::string json_path;
  std::string shmcheck_bin = SHMCHECK_PEER_BENCH_SHMCHECK;
  std::string stress_ng = find_on_path("stress-ng");
  std::string specs_dir = SHMCHECK_PEER_BENCH_SPECS;
  app.add_flag("--quick", opts.quick, "tiny run for CI smoke: 1 repetition of 1 s per side");
  app.add_option("--json", json_path, "write every figure as JSON to this file");
  app.add_option("--repetitions", opts.repetitions, "repetitions per stressor and spec")
      ->check(CLI::Range(1, 101));
  app.add_option("--seconds", seconds, "duration of every run, both sides (whole seconds)")
      ->check(CLI::Range(1, 600));
  app.add_option("--shmcheck", shmcheck_bin, "the shmcheck binary");
  app.add_option("--stress-ng", stress_ng, "the stress-ng binary (default: found on PATH)");
  app.add_option("--specs", specs_dir, "directory of the peer-*.yaml specs");
  int nice_value = -20;
  app.add_option("--nice", nice_value,
                 "nice value for peer_bench and every run it starts, both sides alike (below 0: "
                 "needs CAP_SYS_NICE, ignored when not permitted)")
      ->check(CLI::Range(-20, 19));
  CLI11_PARSE(app, argc, argv);
  const std::string priority = raise_priority(nice_value);
  if (opts.quick) {
    opts.repetitions = 1;
    seconds = 1;
  }
  opts.trial_seconds = seconds;

  std::error_code ec;
  fs::path work =
      fs::temp_directory_path(ec) / ("shmcheck-peer-bench." + std::to_string(::getpid()));
  try {
    fs::create_directories(work);
    Report report;
    add_machine_context(report);
    report.set_context("stress-ng", stress_ng.empty() ? "not found on PATH" : stress_ng);
    report.set_context("shmcheck", shmcheck_bin);
    report.set_context("priority", priority + " (inherited by stress-ng and shmcheck alike)");
    report.set_context(
        "mode", std::string(opts.quick ? "quick (smoke; figures meaningless)" : "full") + ", " +
                    std::to_string(opts.repetitions) + " repetitions of " +
                    std::to_string(seconds) + " s per side, alternating");

    const PeerRunner runner(shmcheck_bin, stress_ng, specs_dir, work, seconds);
    MeasureBatch batch(report, opts);
    const std::string group = "stress-ng stressors vs shmcheck specs (k ops/s, " +
                              std::to_string(seconds) + " s runs, higher is better)";
    const auto all = peers();
    for (const auto& p : all) {
      Figure ref;
      ref.id = "peer." + p.id + ".stress-ng";
      ref.group = group;
      ref.label = p.id + " stress-ng (" + p.stress_procs + ")";
      ref.unit = "k ops/s";
      ref.note = p.stress_note + "; bogo ops/s (real time) from --yaml";
      batch.add({ref}, 0, 0, false, [&runner, &p](std::uint64_t) { return runner.stress_ng(p); });
      Figure ours;
      ours.id = "peer." + p.id + ".shmcheck";
      ours.group = group;
      ours.label = p.id + " shmcheck (" + p.shmcheck_procs + ")";
      ours.unit = "k ops/s";
      ours.note = "bench/specs/" + p.spec + ": " + p.shmcheck_note + "; " + p.role +
                  " ops (ops_by_op) / durations.run_s of `shmcheck run --json`";
      batch.add({ours}, 0, 0, false, [&runner, &p](std::uint64_t) { return runner.shmcheck(p); });
    }
    batch.run();
    for (const auto& p : all) {
      report.compare("peer." + p.id + ".shmcheck", "peer." + p.id + ".stress-ng",
                     at_least(1.0, ">= 1x"));
    }
    report.omit(
        "shm-sysv",
        "stress-ng's bogo op is shmget + shmat + touching every page of an 8 MiB segment + "
        "madvise + shmdt + IPC_RMID, 8 segments a round; shmcheck's spec language has no role "
        "that creates, attaches and destroys segments in a loop (the harness creates every "
        "object once per run, before the workers start), so there is no equivalent spec to run");

    finish_part(report, json_path);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "peer_bench: %s\n", e.what());
    fs::remove_all(work, ec);
    return 4;
  }
  fs::remove_all(work, ec);
  return 0;
}
