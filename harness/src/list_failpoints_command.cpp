#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "shmcheck/core/failpoint.hpp"
#include "shmcheck/harness/cli.hpp"

namespace shmcheck::harness {

CommandRunner add_list_failpoints_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("list-failpoints", "List every failpoint a spec can name");
  auto json = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "Print JSON instead of a table");
  return [json] {
    const auto all = core::all_failpoints();
    if (*json) {
      auto out = nlohmann::json::array();
      for (const auto& fp : all) {
        out.push_back({{"name", fp.name}, {"description", fp.description}});
      }
      std::puts(out.dump(2).c_str());
      return kExitPass;
    }
    for (const auto& fp : all) {
      std::printf("%-28.*s %.*s\n", static_cast<int>(fp.name.size()), fp.name.data(),
                  static_cast<int>(fp.description.size()), fp.description.data());
    }
    return kExitPass;
  };
}

}  // namespace shmcheck::harness
