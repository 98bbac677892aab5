// `shmcheck validate SPEC...`: load and check each spec without running it.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "shmcheck/harness/cli.hpp"
#include "shmcheck/harness/spec_loader.hpp"

namespace shmcheck::harness {

CommandRunner add_validate_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "validate", "Check specs against the schema and the semantic rules without running them");
  auto files = std::make_shared<std::vector<std::string>>();
  auto quiet = std::make_shared<bool>(false);
  cmd->add_option("spec", *files, "Spec files (YAML)")->required();
  cmd->add_flag("-q,--quiet", *quiet, "Print only errors");
  return [files, quiet] {
    bool all_ok = true;
    std::map<std::string, std::string> names;  // spec name -> its first file
    for (const auto& file : *files) {
      const SpecLoadResult result = load_spec_file(file);
      if (result.ok()) {
        if (const auto [first, fresh] = names.emplace(result.spec->name, file); !fresh) {
          all_ok = false;
          std::fprintf(stderr, "%s\n",
                       same_name_error(*result.spec, first->second).to_string().c_str());
          continue;
        }
        if (!*quiet) {
          const Spec& spec = *result.spec;
          const std::string line =
              SpecError{file, 0, 0,
                        "OK (" + spec.name + ": " + std::to_string(spec.objects.size()) +
                            " objects, " + std::to_string(spec.total_workers()) + " workers, " +
                            std::to_string(spec.faults.size()) + " faults)"}
                  .to_string();
          std::printf("%s\n", line.c_str());
        }
        continue;
      }
      all_ok = false;
      for (const auto& error : result.errors) {
        std::fprintf(stderr, "%s\n", error.to_string().c_str());
      }
    }
    std::fflush(stdout);
    return all_ok ? kExitPass : kExitUsage;
  };
}

}  // namespace shmcheck::harness
