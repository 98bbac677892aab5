#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "shmcheck/core/failpoint.hpp"
#include "shmcheck/harness/cli.hpp"
#include "shmcheck/harness/spec_loader.hpp"

namespace shmcheck::harness {
namespace {

// The roles whose work passes a failpoint: the ones a fault at it can target.
std::vector<std::string> role_names(std::string_view failpoint) {
  std::vector<std::string> names;
  for (const Role r : roles_reaching(failpoint)) names.emplace_back(to_string(r));
  return names;
}

}  // namespace

CommandRunner add_list_failpoints_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("list-failpoints", "List every failpoint a spec can name");
  auto json = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "Print JSON instead of a table");
  return [json] {
    const auto all = core::all_failpoints();
    if (*json) {
      auto out = nlohmann::json::array();
      for (const auto& fp : all) {
        out.push_back(
            {{"name", fp.name}, {"roles", role_names(fp.name)}, {"description", fp.description}});
      }
      std::puts(out.dump(2).c_str());
      return kExitPass;
    }
    std::printf("%-28s %-16s %s\n", "FAILPOINT", "ROLES", "WHAT IS HALF-DONE WHEN IT FIRES");
    for (const auto& fp : all) {
      std::string roles;
      for (const auto& r : role_names(fp.name)) roles += (roles.empty() ? "" : ", ") + r;
      std::printf("%-28.*s %-16s %.*s\n", static_cast<int>(fp.name.size()), fp.name.data(),
                  roles.c_str(), static_cast<int>(fp.description.size()), fp.description.data());
    }
    return kExitPass;
  };
}

}  // namespace shmcheck::harness
