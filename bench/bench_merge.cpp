// bench_merge: joins the JSON reports of scripts/bench's programs (ring_bench,
// harness_bench, peer_bench) into one document and prints the PASS/MISS summary
// over all of them, so one command gives one table (each program printed its own
// part while it ran) and one JSON file.
//
//   bench_merge --json OUT PART.json [PART.json ...]
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "report.hpp"

int main(int argc, char** argv) {
  CLI::App app{"shmcheck bench_merge: one report from the parts of scripts/bench"};
  std::string out;
  std::vector<std::string> parts;
  app.add_option("--json", out, "the merged JSON document")->required();
  app.add_option("parts", parts, "part reports written with --json")
      ->required()
      ->check(CLI::ExistingFile);
  CLI11_PARSE(app, argc, argv);
  try {
    shmcheck::bench::Report report;
    for (const auto& part : parts) report.append_json(part);
    std::printf("\n== all parts (%zu)", parts.size());
    report.print_targets();
    report.write_json(out);
    std::printf("\nwrote %s\n", out.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_merge: %s\n", e.what());
    return 4;
  }
  return 0;
}
