#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <new>
#include <string>

#include "shmcheck/harness/build_stamp.hpp"
#include "shmcheck/harness/cli.hpp"

namespace shmcheck::harness {

namespace {

// Standard output was closed when we were started (see fail_writes_to_a_closed_stdout).
bool g_stdout_was_closed = false;

// Descriptors 0, 1 and 2 that were closed when we were started (`shmcheck run ... >&-
// 2>&-`, a daemon's child) are opened on /dev/null. Else the next open() takes one of
// them: a segment or report file would become "stderr", and a diagnostic line would be
// written into shared memory or a report. (Seen: with stdout and stderr closed, a run's
// workers failed and its producer's messages were reported lost.)
void open_closed_standard_descriptors() noexcept {
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    if (fd == STDOUT_FILENO) g_stdout_was_closed = true;
    const int opened = ::open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);  // lowest free: fd
    if (opened != fd && opened >= 0) ::close(opened);  // cannot happen; never leak one
  }
}

// What a command prints on stdout is what it was asked for (an audit's table or JSON, a
// validation's findings): a write that failed (a full disk, `> /dev/full`, a reader that
// went away while SIGPIPE is ignored) must not end in a success and an empty file, as
// `shmcheck audit --json > audit.json` on a full disk did. Like coreutils'
// close_stdout: said on stderr, and the exit code becomes at least kExitEnvironment.
int check_standard_output(const std::string& program, int code) {
  errno = 0;
  const bool flushed = std::fflush(stdout) == 0;
  const int error = errno;
  if (flushed && std::ferror(stdout) == 0) return code;
  // A failure before this flush sets the error flag; its errno is long gone.
  const std::string why = g_stdout_was_closed     ? ": it was closed"
                          : flushed || error == 0 ? ""
                                                  : std::string(": ") + std::strerror(error);
  std::fprintf(stderr, "%s: cannot write standard output%s\n", program.c_str(), why.c_str());
  return std::max(code, static_cast<int>(kExitEnvironment));
}

// A command whose output is what it was asked for (an audit, a validation, the list
// of failpoints) cannot be written into a standard output closed when it started: its
// descriptor, kept on /dev/null so that no file takes it, goes to /dev/full, and the
// write fails as into a full disk. `run` (the verdict is its exit code and reports) and
// the worker keep /dev/null.
void fail_writes_to_a_closed_stdout(const CLI::App& command) noexcept {
  const auto& name = command.get_name();
  if (!g_stdout_was_closed || name == "run" || name == "worker") return;
  const int full = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
  if (full < 0) return;
  (void)::dup2(full, STDOUT_FILENO);  // dup2 clears FD_CLOEXEC on the copy
  ::close(full);
}

}  // namespace

bool stdout_was_closed() noexcept { return g_stdout_was_closed; }

CLI::Validator non_empty_path() {
  return {[](const std::string& v) {
            return v.empty() ? std::string("an empty path (an unset variable?)") : std::string();
          },
          "PATH"};
}

CLI::Validator non_empty_value() {
  return {[](const std::string& v) {
            return v.empty() ? std::string("an empty value (an unset variable?)") : std::string();
          },
          ""};
}

int run_command_line(CLI::App& app, std::initializer_list<CommandFactory> commands, int argc,
                     char** argv) {
  open_closed_standard_descriptors();
  // A reader that went away (`shmcheck audit | head`) is a write error said and exited
  // with (kExitEnvironment, check_standard_output), not a silent death by SIGPIPE.
  ::signal(SIGPIPE, SIG_IGN);
  // Likewise a file-size limit (ulimit -f) met while sizing a segment or writing a
  // report: EFBIG, an environment limit (exit 3) after a cleanup, not a death by SIGXFSZ
  // that left the run's objects behind. Workers inherit the disposition.
  ::signal(SIGXFSZ, SIG_IGN);
  app.require_subcommand(1);
  std::map<const CLI::App*, CommandRunner> runners;
  for (const CommandFactory factory : commands) {
    const auto before = app.get_subcommands({});
    CommandRunner runner = factory(app);
    for (auto* sub : app.get_subcommands({})) {
      if (std::find(before.begin(), before.end(), sub) == before.end()) runners[sub] = runner;
    }
  }

  app.add_flag_callback(
      "--build-stamp",
      [] {
        std::printf("%.*s\n", static_cast<int>(build_stamp().size()), build_stamp().data());
        throw CLI::Success();
      },
      "Print the build stamp (a digest of the sources this binary was built from) and exit");
  // CLI11 answers `shmcheck frobnicate` with "A subcommand is required": name the word.
  if (argc > 1 && argv[1][0] != '-') {
    const std::string word = argv[1];
    const auto subs = app.get_subcommands({});
    if (std::none_of(subs.begin(), subs.end(),
                     [&](const CLI::App* s) { return s->check_name(word); })) {
      std::string names;
      for (const CLI::App* sub : subs) {
        if (sub->get_group().empty()) continue;  // hidden (the worker)
        names += (names.empty() ? "" : ", ") + sub->get_name();
      }
      if (!names.empty()) names = " (commands: " + names + ")";
      std::fprintf(stderr, "%s: unknown command '%s'%s\nRun with --help for more information.\n",
                   app.get_name().c_str(), word.c_str(), names.c_str());
      return kExitUsage;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --help-all, --version, --build-stamp
    return check_standard_output(app.get_name(), app.exit(e));
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  try {
    for (auto* sub : app.get_subcommands()) {
      fail_writes_to_a_closed_stdout(*sub);
      return check_standard_output(app.get_name(), runners.at(sub)());
    }
  } catch (const std::bad_alloc&) {
    // A memory limit (ulimit -v, a cgroup), not a bug: the environment's exit code.
    std::fprintf(stderr, "%s: out of memory\n", app.get_name().c_str());
    return kExitEnvironment;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: internal error: %s\n", app.get_name().c_str(), e.what());
    return kExitInternal;
  }
  return kExitUsage;
}

}  // namespace shmcheck::harness
