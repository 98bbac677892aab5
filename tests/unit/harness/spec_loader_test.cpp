#include "shmcheck/harness/spec_loader.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "shmcheck/testing/process.hpp"
#include "spec_yaml.hpp"

namespace shmcheck::harness {
namespace {

namespace fs = std::filesystem;
using std::chrono::nanoseconds;
using namespace std::chrono_literals;

const fs::path kSpecData = fs::path(SHMCHECK_SOURCE_DIR) / "tests" / "data" / "specs";

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string all_errors(const SpecLoadResult& r) {
  std::string out;
  for (const auto& e : r.errors) out += e.to_string() + "\n";
  return out;
}

std::vector<fs::path> files_in(const fs::path& dir, const std::string& ext) {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ext) out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A private scratch directory, removed with everything in it.
class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = (fs::temp_directory_path() / "shmcheck-spec-test.XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// ---- the bad-spec corpus: tests/data/specs/bad/NAME.yaml + NAME.expect -------
// NAME.expect holds "LINE:COL: message substring" (0:0 = about the whole file).

struct Expectation {
  int line = 0;
  int column = 0;
  std::string substring;
};

Expectation read_expect(const fs::path& path) {
  const std::string text = read_all(path);
  Expectation e;
  const auto colon1 = text.find(':');
  const auto colon2 = text.find(':', colon1 + 1);
  EXPECT_NE(colon2, std::string::npos) << path;
  e.line = std::stoi(text.substr(0, colon1));
  e.column = std::stoi(text.substr(colon1 + 1, colon2 - colon1 - 1));
  e.substring = text.substr(colon2 + 2);
  while (!e.substring.empty() && e.substring.back() == '\n') e.substring.pop_back();
  return e;
}

void expect_error(const SpecLoadResult& result, const Expectation& e, const std::string& what) {
  EXPECT_FALSE(result.ok()) << what << " loaded although it is bad";
  EXPECT_FALSE(result.spec.has_value()) << what;
  const bool found = std::any_of(result.errors.begin(), result.errors.end(), [&](const auto& err) {
    return err.line == e.line && err.column == e.column &&
           err.to_string().find(e.substring) != std::string::npos;  // escaped form
  });
  EXPECT_TRUE(found) << what << ": expected " << e.line << ":" << e.column << ": " << e.substring
                     << "\ngot:\n"
                     << all_errors(result);
}

TEST(SpecLoaderBadCorpus, EveryBadSpecFailsWithTheExpectedMessageAndPosition) {
  const auto specs = files_in(kSpecData / "bad", ".yaml");
  ASSERT_GE(specs.size(), 25U);
  for (const auto& spec : specs) {
    fs::path expect = spec;
    expect.replace_extension(".expect");
    ASSERT_TRUE(fs::exists(expect)) << "no " << expect;
    const SpecLoadResult result = load_spec_file(spec.string());
    expect_error(result, read_expect(expect), spec.filename().string());
    for (const auto& err : result.errors) EXPECT_EQ(err.file, spec.string());
  }
}

TEST(SpecLoaderBadCorpus, LoadSpecStringGivesTheSameErrorsAsTheFile) {
  for (const auto& spec : files_in(kSpecData / "bad", ".yaml")) {
    const auto from_file = load_spec_file(spec.string());
    const auto from_string = load_spec_string(read_all(spec), spec.string());
    EXPECT_EQ(all_errors(from_file), all_errors(from_string)) << spec;
  }
}

TEST(SpecLoaderFiles, HugeFileIsRejectedBeforeParsing) {
  const ScratchDir dir;
  const fs::path path = dir.path() / "huge.yaml";
  {
    std::ofstream out(path, std::ios::binary);
    out << "name: huge\n";
    const std::string line = "# " + std::string(1022, 'x') + "\n";  // 1 KiB per line
    for (int i = 0; i < 1024; ++i) out << line;
  }
  ASSERT_GT(fs::file_size(path), kMaxSpecBytes);
  const auto result = load_spec_file(path.string());
  expect_error(result, {0, 0, "at most 1 MiB"}, "huge file");
  expect_error(load_spec_string(read_all(path), "huge"), {0, 0, "at most 1 MiB"}, "huge string");
}

TEST(SpecLoaderFiles, FileOfExactlyTheLimitIsParsed) {
  std::string text = "name: t\n";
  text.append(kMaxSpecBytes - text.size() - 1, '#');
  text += "\n";
  ASSERT_EQ(text.size(), kMaxSpecBytes);
  const auto result = load_spec_string(text, "limit");
  expect_error(result, {1, 1, "missing required key 'objects'"}, "limit");
}

TEST(SpecLoaderFiles, DirectoryIsRejected) {
  const ScratchDir dir;
  expect_error(load_spec_file(dir.path().string()), {0, 0, "is a directory"}, "directory");
}

TEST(SpecLoaderFiles, FifoIsRejectedWithoutBlocking) {
  const ScratchDir dir;
  const fs::path fifo = dir.path() / "spec.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // In a child with a deadline: a loader that blocked on the FIFO (no writer)
  // would be killed and reported instead of hanging the suite.
  const pid_t pid = testing::fork_child([&] {
    const auto result = load_spec_file(fifo.string());
    const bool ok = !result.ok() && result.errors.size() == 1 &&
                    result.errors[0].message.find("is a FIFO") != std::string::npos;
    return ok ? 0 : 1;
  });
  const auto exit = testing::wait_child(pid, 10s);
  EXPECT_FALSE(exit.timed_out) << "load_spec_file blocked on a FIFO";
  EXPECT_TRUE(exit.ok()) << exit.describe();
}

TEST(SpecLoaderFiles, MissingFileSaysItCannotOpen) {
  const ScratchDir dir;
  const auto path = (dir.path() / "absent.yaml").string();
  const auto result = load_spec_file(path);
  expect_error(result, {0, 0, "cannot open: No such file or directory"}, "missing");
  EXPECT_EQ(result.errors[0].to_string(), path + ": cannot open: No such file or directory");
}

// ---- good specs ----------------------------------------------------------------

TEST(SpecLoaderGood, EveryGoodSpecLoadsWithoutErrors) {
  std::vector<fs::path> specs = files_in(kSpecData / "good", ".yaml");
  ASSERT_GE(specs.size(), 3U);
  // The project's shipped examples must load too.
  for (const auto& s : files_in(fs::path(SHMCHECK_SOURCE_DIR) / "specs", ".yaml")) {
    specs.push_back(s);
  }
  for (const auto& spec : specs) {
    const auto result = load_spec_file(spec.string());
    EXPECT_TRUE(result.ok()) << spec << "\n" << all_errors(result);
  }
}

TEST(SpecLoaderGood, DesignExampleBuildsTheDeclaredModel) {
  const auto path = (kSpecData / "good" / "design-example.yaml").string();
  const auto result = load_spec_file(path);
  ASSERT_TRUE(result.ok()) << all_errors(result);
  const Spec& s = *result.spec;
  EXPECT_EQ(s.name, "mpmc-producer-crash");
  EXPECT_EQ(s.file, path);
  EXPECT_EQ(s.seed, 42U);
  EXPECT_EQ(s.duration, nanoseconds(5s));
  EXPECT_EQ(s.timeout, nanoseconds(60s));
  ASSERT_EQ(s.objects.size(), 3U);
  EXPECT_EQ(s.objects[0].type, ObjectType::kMpmcRing);
  EXPECT_EQ(s.objects[0].capacity, 1024U);
  EXPECT_EQ(s.objects[0].message_size, 64U);
  EXPECT_EQ(s.objects[0].mark.line, 7);
  EXPECT_EQ(s.objects[0].mark.column, 5);
  EXPECT_EQ(s.objects[1].type, ObjectType::kMutex);
  EXPECT_EQ(s.objects[2].type, ObjectType::kSemaphore);
  EXPECT_EQ(s.objects[2].flavor, SemFlavor::kSysV);
  EXPECT_TRUE(s.objects[2].undo);
  EXPECT_EQ(s.objects[2].initial, 4U);
  ASSERT_NE(s.find_object("guard"), nullptr);
  EXPECT_EQ(s.find_object("nope"), nullptr);
  ASSERT_EQ(s.processes.size(), 3U);
  EXPECT_EQ(s.processes[0].role, Role::kProducer);
  EXPECT_EQ(s.processes[0].name, "producer");
  EXPECT_EQ(s.processes[0].count, 3U);
  EXPECT_EQ(s.processes[2].hold, nanoseconds(2us));
  EXPECT_FALSE(s.processes[2].ops.has_value());
  EXPECT_EQ(s.total_workers(), 9U);
  ASSERT_EQ(s.faults.size(), 3U);
  EXPECT_EQ(s.faults[0].kind, FaultKind::kKillAtFailpoint);
  EXPECT_EQ(s.faults[0].failpoint, "ring.push.before_commit");
  EXPECT_EQ(s.faults[0].after, 10000U);
  EXPECT_EQ(s.faults[0].signal, SIGKILL);
  EXPECT_TRUE(s.faults[0].restart);
  EXPECT_EQ(s.faults[1].kind, FaultKind::kKillRandom);
  EXPECT_EQ(s.faults[1].target, "any");
  EXPECT_EQ(s.faults[1].every, nanoseconds(250ms));
  EXPECT_EQ(s.faults[1].jitter, nanoseconds(100ms));
  EXPECT_EQ(s.faults[2].kind, FaultKind::kPause);
  EXPECT_EQ(s.faults[2].pause_for, nanoseconds(200ms));
  EXPECT_TRUE(s.faults[2].failpoint.empty());
  EXPECT_EQ(s.expect.delivery, Delivery::kExactlyOnce);
  EXPECT_EQ(s.expect.lost, 0U);
  EXPECT_FALSE(s.expect.reordered.has_value());
  ASSERT_TRUE(s.expect.p99_latency.has_value());
  EXPECT_EQ(s.expect.p99_latency->op, Comparison::kLess);
  EXPECT_DOUBLE_EQ(s.expect.p99_latency->value, 500e-6);
  EXPECT_EQ(s.expect.p99_latency->text, "< 500us");
  ASSERT_TRUE(s.expect.throughput.has_value());
  EXPECT_EQ(s.expect.throughput->op, Comparison::kGreater);
  EXPECT_DOUBLE_EQ(s.expect.throughput->value, 1e6);
}

TEST(SpecLoaderGood, SizesRatesBackingsAndExitFaultsAreConverted) {
  const auto result = load_spec_file((kSpecData / "good" / "segments-and-exit.yaml").string());
  ASSERT_TRUE(result.ok()) << all_errors(result);
  const Spec& s = *result.spec;
  EXPECT_EQ(s.description, "Writers and readers over a SysV segment; the writer _exits mid-page.");
  EXPECT_FALSE(s.duration.has_value());
  EXPECT_EQ(s.objects[0].type, ObjectType::kSpscRing);
  EXPECT_EQ(s.objects[0].backing, SegmentBacking::kMemfd);
  EXPECT_EQ(s.objects[0].message_size, 1024U);
  EXPECT_EQ(s.objects[1].backing, SegmentBacking::kSysV);
  EXPECT_EQ(s.objects[1].size, 1024U * 1024U);
  EXPECT_EQ(s.processes[0].message_size, 512U);
  EXPECT_EQ(s.processes[0].burst, 1U);  // the default: one message per call
  EXPECT_EQ(s.processes[1].burst, 16U);
  ASSERT_TRUE(s.processes[0].rate.has_value());
  EXPECT_DOUBLE_EQ(*s.processes[0].rate, 1500.0);
  EXPECT_EQ(s.processes[2].think, nanoseconds(1500us));
  ASSERT_EQ(s.faults.size(), 1U);
  EXPECT_EQ(s.faults[0].kind, FaultKind::kExit);
  EXPECT_EQ(s.faults[0].failpoint, "segment.write.mid_page");
  EXPECT_EQ(s.faults[0].exit_code, 3);
  EXPECT_EQ(s.faults[0].after, 100U);
  EXPECT_EQ(s.expect.throughput->op, Comparison::kGreaterEq);
  EXPECT_DOUBLE_EQ(s.expect.throughput->value, 10e3);
}

TEST(SpecLoaderGood, TimedAndFailpointPausesAndSignedDriftAreConverted) {
  const auto result = load_spec_file((kSpecData / "good" / "semaphores-and-pauses.yaml").string());
  ASSERT_TRUE(result.ok()) << all_errors(result);
  const Spec& s = *result.spec;
  EXPECT_EQ(s.timeout, nanoseconds(30s));
  EXPECT_EQ(s.objects[1].flavor, SemFlavor::kPosixNamed);
  EXPECT_EQ(s.objects[1].initial, 0U);
  EXPECT_EQ(s.faults[0].kind, FaultKind::kPause);
  EXPECT_EQ(s.faults[0].failpoint, "semaphore.after_wait");
  EXPECT_EQ(s.faults[0].after, 5U);
  EXPECT_EQ(s.faults[1].kind, FaultKind::kPause);
  EXPECT_EQ(s.faults[1].start, nanoseconds(100ms));
  EXPECT_EQ(s.faults[1].max, 3U);
  EXPECT_EQ(s.faults[3].kind, FaultKind::kKillRandom);
  EXPECT_EQ(s.faults[3].signal, SIGTERM);
  EXPECT_EQ(s.faults[3].every, nanoseconds(60s));
  EXPECT_EQ(s.expect.semaphore_drift, -1);
  EXPECT_EQ(s.expect.p99_latency->op, Comparison::kLessEq);
  EXPECT_DOUBLE_EQ(s.expect.p99_latency->value, 1.5e-3);
}

// ---- messages -------------------------------------------------------------------

TEST(SpecLoaderMessages, EveryProblemInAFileIsReportedInFileOrder) {
  const auto result = load_spec_string(
      "name: x\n"
      "objects:\n"
      "  - {name: q, kind: mpmc_ring, capasity: 8}\n"
      "  - {name: r, kind: ring}\n"
      "processes:\n"
      "  - {role: producer, uses: q, count: -1}\n"
      "name: y\n",
      "multi.yaml");
  ASSERT_EQ(result.errors.size(), 4U) << all_errors(result);
  EXPECT_EQ(result.errors[0].to_string(),
            "multi.yaml:3:32: unknown key 'capasity' (did you mean 'capacity'?)");
  EXPECT_EQ(result.errors[1].line, 4);
  EXPECT_EQ(result.errors[2].line, 6);
  EXPECT_EQ(result.errors[3].to_string(),
            "multi.yaml:7:1: duplicate key 'name' (first at line 1:1)");
}

// The schema check read every integer as an int64: a seed or an `after` of 2^63 or
// more (the loader's range goes to 2^64-1, and `--seed` takes them) was refused with
// "Expected number greater than or equal to 0".
TEST(SpecLoaderGood, WholeNumbersUpTo2To64Minus1PassTheSchemaCheck) {
  const auto result = load_spec_string(
      "name: x\n"
      "seed: 18446744073709551615\n"
      "duration: 1s\n"
      "objects:\n"
      "  - {name: q, kind: spsc_ring, capacity: 8}\n"
      "processes:\n"
      "  - {role: producer, uses: q}\n"
      "  - {role: consumer, uses: q}\n"
      "faults:\n"
      "  - {kill: producer, at: ring.push.before_commit, after: 9223372036854775808}\n",
      "huge.yaml");
  ASSERT_TRUE(result.ok()) << all_errors(result);
  EXPECT_EQ(result.spec->seed, UINT64_MAX);
  EXPECT_EQ(result.spec->faults.at(0).after, 9223372036854775808ULL);
}

// The schema limits a description to 4096 characters; the parser's bound on a scalar
// was 4096 bytes, so 3000 'é' (6000 bytes), valid in an editor, were refused.
TEST(SpecLoaderMessages, ADescriptionIsLimitedInCharactersAsTheSchemaSays) {
  const auto spec = [](const std::string& description) {
    return load_spec_string("name: x\ndescription: \"" + description +
                                "\"\nduration: 1s\nobjects:\n"
                                "  - {name: q, kind: spsc_ring, capacity: 8}\n"
                                "processes:\n  - {role: producer, uses: q}\n"
                                "  - {role: consumer, uses: q}\n",
                            "d.yaml");
  };
  std::string e_acute;
  for (int i = 0; i < 3000; ++i) e_acute += "\xc3\xa9";
  const auto fits = spec(e_acute);
  EXPECT_TRUE(fits.ok()) << all_errors(fits);
  for (int i = 0; i < 1097; ++i) e_acute += "\xc3\xa9";
  const auto over = spec(e_acute);
  ASSERT_FALSE(over.ok());
  EXPECT_NE(all_errors(over).find("d.yaml:2:14: schema"), std::string::npos) << all_errors(over);
  const auto huge = spec(std::string(20000, 'a'));
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(all_errors(huge).find("20000 bytes long; at most 16384"), std::string::npos)
      << all_errors(huge);
}

// Columns count characters, as editors do: yaml-cpp's count bytes, and an error after
// an 'é' (2 bytes) pointed one column past its key.
TEST(SpecLoaderMessages, ColumnsCountCharactersNotBytes) {
  const auto result = load_spec_string(
      "name: x\nduration: 1s\nobjects:\n"
      "  - { name: q, kind: spsc_ring, capacity: 8, colour: \"\xc3\xa9\", size: 1 }\n"
      "processes:\n  - {role: producer, uses: q}\n  - {role: consumer, uses: q}\n",
      "e.yaml");
  ASSERT_EQ(result.errors.size(), 2U) << all_errors(result);
  EXPECT_EQ(result.errors[0].column, 46);  // before the 'é': bytes and characters agree
  EXPECT_EQ(result.errors[1].line, 4);
  EXPECT_EQ(result.errors[1].column, 59) << all_errors(result);  // 60 in bytes
}

// yaml-cpp marks an empty value where the next token starts: the next line, or past
// the end of the file. An empty map value is placed at its key, an empty sequence item
// at its '-', an explicit null where it is written.
TEST(SpecLoaderMessages, AnEmptyValueIsPlacedAtItsKeyOrDashNotAtTheNextLine) {
  const std::string tail =
      "processes:\n  - {role: producer, uses: q}\n  - {role: consumer, uses: q}\n";
  const std::string objects =
      "objects:\n  - { name: q, kind: spsc_ring, capacity: 8, message_size: 64 }\n";
  const struct {
    std::string text;
    Expectation where;
  } cases[] = {
      {"name:\nduration: 1s\n" + objects + tail, {1, 1, "'name' must be a string"}},
      {"name:   # none yet\n\n# more\nduration: 1s\n" + objects + tail,
       {1, 1, "'name' must be a string"}},
      {"name: x\n" + objects + tail + "expect:", {7, 1, "'expect' must be a mapping"}},
      {"name: x\n" + objects + "  -\n" + tail, {4, 3, "an object must be a mapping"}},
      {"name: x\n" + objects + "  - # nothing\n" + tail, {4, 3, "an object must be a mapping"}},
      {"name: ~\n" + objects + tail, {1, 7, "'name' must be a string"}},
      {"name: x\n" + objects + "  - null\n" + tail, {4, 5, "an object must be a mapping"}},
      // The next token of an empty value spells "null" and goes on: not an explicit null.
      {"name: x\n" + objects + tail + "expect:\nnulls: 1\n", {7, 1, "'expect' must be a mapping"}},
  };
  for (const auto& c : cases) expect_error(load_spec_string(c.text, "e.yaml"), c.where, c.text);
}

// A file that is not a spec at all gets its first 20 problems and a count of the rest,
// not one line per problem (validate /proc/self/status printed 62).
TEST(SpecLoaderMessages, AtMostTwentyProblemsAreListedAndTheRestCounted) {
  std::string text;
  for (int i = 0; i < 30; ++i) text += "Key" + std::to_string(i) + ": " + std::to_string(i) + "\n";
  const auto result = load_spec_string(text, "status");
  ASSERT_EQ(result.errors.size(), 21U) << all_errors(result);
  EXPECT_EQ(result.errors[0].line, 1);
  // 30 unknown keys and 3 missing ones: 33, of which 20 are shown.
  EXPECT_EQ(result.errors.back().to_string(), "status: 13 more problems not shown (is it a spec?)");
}

TEST(SpecLoaderMessages, ToStringEscapesControlBytesAndInvalidUtf8) {
  const SpecError e{"a\x1b[31m.yaml", 2, 3, "bad \x01 value \xff caf\xc3\xa9"};
  EXPECT_EQ(e.to_string(), "a\\x1b[31m.yaml:2:3: bad \\x01 value \\xff caf\xc3\xa9");
  const SpecError whole{"f.yaml", 0, 0, "is a directory"};
  EXPECT_EQ(whole.to_string(), "f.yaml: is a directory");
}

TEST(SpecLoaderMessages, UnknownEnumValueListsTheAllowedValues) {
  const auto result = load_spec_string(
      "name: t\nobjects: [{name: q, kind: queue}]\nprocesses: [{role: producer, uses: q}]\n",
      "enum");
  ASSERT_FALSE(result.ok());
  EXPECT_NE(
      result.errors[0].message.find("allowed: segment, mutex, semaphore, spsc_ring, mpmc_ring"),
      std::string::npos)
      << all_errors(result);
}

TEST(SpecLoaderMessages, ControlBytesInsideQuotedValuesAreEscapedInMessages) {
  const auto result = load_spec_string(
      "name: t\nobjects: [{name: \"q\\e[2J\", kind: mutex}]\nprocesses: []\n", "esc");
  ASSERT_FALSE(result.ok());
  const std::string text = all_errors(result);
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << text;
  EXPECT_NE(text.find("q\\x1b[2J"), std::string::npos) << text;
}

// ---- the JSON schema -------------------------------------------------------------

TEST(SpecSchema, CompiledInSchemaIsTheSchemaFile) {
  const auto file =
      read_all(fs::path(SHMCHECK_SOURCE_DIR) / "specs" / "schema" / "shmcheck.schema.json");
  EXPECT_EQ(spec_schema_text(), file);
}

std::optional<detail::Document> parse_file(const fs::path& path) {
  std::vector<detail::Diag> diags;
  return detail::parse_spec_yaml(read_all(path), diags);
}

TEST(SpecSchema, GoodSpecsConformToTheSchema) {
  for (const auto& spec : files_in(kSpecData / "good", ".yaml")) {
    const auto doc = parse_file(spec);
    ASSERT_TRUE(doc.has_value()) << spec;
    EXPECT_TRUE(detail::schema_violations(doc->root).empty()) << spec;
  }
}

TEST(SpecSchema, SchemaAloneRejectsTheStructuralMistakes) {
  // Bad specs whose mistake is structural: the schema must catch each one by
  // itself (editors rely on it), not only the loader's typed checks.
  const char* structural[] = {
      "06-missing-key",        "07-unknown-key",
      "09-wrong-type",         "10-negative",
      "12-bad-unit",           "13-bad-enum",
      "15-name-with-slash",    "16-name-with-nul",
      "31-key-not-for-kind",   "36-yes-is-not-a-boolean",
      "37-fault-without-kind", "38-bad-comparison",
      "39-nested-not-a-map",
  };
  for (const char* name : structural) {
    const auto doc = parse_file(kSpecData / "bad" / (std::string(name) + ".yaml"));
    ASSERT_TRUE(doc.has_value()) << name;
    EXPECT_FALSE(detail::schema_violations(doc->root).empty()) << name;
  }
}

// ---- scalar parsers ----------------------------------------------------------------

// format_duration is parse_duration's inverse, in the largest exact unit (the fault
// schedule's descriptions and the repro command's --duration use it).
TEST(FormatDuration, WritesTheLargestExactUnitAndParsesBack) {
  using std::chrono::nanoseconds;
  const std::pair<std::int64_t, const char*> cases[] = {{0, "0s"},
                                                        {7, "7ns"},
                                                        {1'500, "1500ns"},
                                                        {3'000, "3us"},
                                                        {1'500'000'000, "1500ms"},
                                                        {90'000'000'000, "90s"},
                                                        {120'000'000'000, "2m"},
                                                        {5'400'000'000'000, "90m"},
                                                        {7'200'000'000'000, "2h"}};
  for (const auto& [ns, text] : cases) {
    EXPECT_EQ(format_duration(nanoseconds(ns)), text);
    EXPECT_EQ(parse_duration(format_duration(nanoseconds(ns))), nanoseconds(ns)) << text;
  }
}

TEST(ParseDuration, AcceptsEveryUnitAndExactFractions) {
  EXPECT_EQ(parse_duration("250ms"), nanoseconds(250ms));
  EXPECT_EQ(parse_duration("0s"), nanoseconds(0));
  EXPECT_EQ(parse_duration("7ns"), nanoseconds(7));
  EXPECT_EQ(parse_duration("2us"), nanoseconds(2us));
  EXPECT_EQ(parse_duration("5s"), nanoseconds(5s));
  EXPECT_EQ(parse_duration("3m"), nanoseconds(3min));
  EXPECT_EQ(parse_duration("2h"), nanoseconds(2h));
  EXPECT_EQ(parse_duration("1.5s"), nanoseconds(1500ms));
  EXPECT_EQ(parse_duration("0.000000001s"), nanoseconds(1));
  EXPECT_EQ(parse_duration("1.50000000000000000000s"), nanoseconds(1500ms));
  EXPECT_EQ(parse_duration("9223372036854775807ns"), nanoseconds(INT64_MAX));
}

TEST(ParseDuration, RejectsJunkUnitsSignsAndOverflowWithAReason) {
  std::string why;
  EXPECT_FALSE(parse_duration("", &why));
  EXPECT_FALSE(parse_duration("5", &why));
  EXPECT_NE(why.find("needs a unit"), std::string::npos) << why;
  EXPECT_FALSE(parse_duration("5sec", &why));
  EXPECT_NE(why.find("unknown duration unit 'sec'"), std::string::npos) << why;
  EXPECT_FALSE(parse_duration("5 s", &why));
  EXPECT_FALSE(parse_duration("5s ", &why));
  EXPECT_FALSE(parse_duration(" 5s", &why));
  EXPECT_FALSE(parse_duration("-5s", &why));
  EXPECT_NE(why.find("negative"), std::string::npos) << why;
  EXPECT_FALSE(parse_duration("+5s", &why));
  EXPECT_FALSE(parse_duration("5.s", &why));
  EXPECT_FALSE(parse_duration(".5s", &why));
  EXPECT_FALSE(parse_duration("1e3s", &why));
  EXPECT_FALSE(parse_duration("0.5ns", &why));
  EXPECT_NE(why.find("finer than 1ns"), std::string::npos) << why;
  EXPECT_FALSE(parse_duration("9223372036854775808ns", &why));
  EXPECT_NE(why.find("out of range"), std::string::npos) << why;
  EXPECT_FALSE(parse_duration("99999999999999999999999h", &why));
  EXPECT_NE(why.find("out of range"), std::string::npos) << why;
  EXPECT_FALSE(parse_duration("2562048h", &why));  // 2562048 h > 2^63 ns
  EXPECT_FALSE(parse_duration(std::string_view("5s\0", 3), &why));
}

TEST(ParseSize, AcceptsBytesAndBinaryUnits) {
  EXPECT_EQ(parse_size("0"), 0U);
  EXPECT_EQ(parse_size("4096"), 4096U);
  EXPECT_EQ(parse_size("64B"), 64U);
  EXPECT_EQ(parse_size("4KiB"), 4096U);
  EXPECT_EQ(parse_size("3MiB"), 3U << 20U);
  EXPECT_EQ(parse_size("2GiB"), 2ULL << 30U);
  EXPECT_EQ(parse_size("18446744073709551615"), UINT64_MAX);
}

TEST(ParseSize, RejectsDecimalUnitsFractionsAndOverflow) {
  std::string why;
  EXPECT_FALSE(parse_size("4KB", &why));
  EXPECT_NE(why.find("unknown size unit 'KB'"), std::string::npos) << why;
  EXPECT_FALSE(parse_size("4kib", &why));
  EXPECT_FALSE(parse_size("1.5KiB", &why));
  EXPECT_FALSE(parse_size("-1", &why));
  EXPECT_FALSE(parse_size("4 KiB", &why));
  EXPECT_FALSE(parse_size("18446744073709551616", &why));
  EXPECT_NE(why.find("out of range"), std::string::npos) << why;
  EXPECT_FALSE(parse_size("17179869184GiB", &why));  // 2^34 GiB = 2^64 bytes
  EXPECT_FALSE(parse_size("", &why));
}

TEST(ParseRate, AcceptsPlainAndScaledRates) {
  EXPECT_EQ(parse_rate("250/s"), 250.0);
  EXPECT_EQ(parse_rate("10k/s"), 10e3);
  EXPECT_EQ(parse_rate("1M/s"), 1e6);
  EXPECT_EQ(parse_rate("2G/s"), 2e9);
  EXPECT_EQ(parse_rate("1.5k/s"), 1500.0);
}

TEST(ParseRate, RejectsMissingPerSecondZeroAndJunk) {
  std::string why;
  EXPECT_FALSE(parse_rate("1M", &why));
  EXPECT_FALSE(parse_rate("1m/s", &why));
  EXPECT_FALSE(parse_rate("1M/sec", &why));
  EXPECT_FALSE(parse_rate("1M/s ", &why));
  EXPECT_FALSE(parse_rate("0/s", &why));
  EXPECT_NE(why.find("greater than zero"), std::string::npos) << why;
  EXPECT_FALSE(parse_rate("-1/s", &why));
  EXPECT_FALSE(parse_rate(std::string(400, '9') + "G/s", &why));
  EXPECT_NE(why.find("out of range"), std::string::npos) << why;
}

TEST(ParseComparison, ReadsOperatorAndValueInBaseUnits) {
  const auto lt = parse_comparison("< 500us", ComparisonUnit::kDuration);
  ASSERT_TRUE(lt);
  EXPECT_EQ(lt->op, Comparison::kLess);
  EXPECT_DOUBLE_EQ(lt->value, 500e-6);
  EXPECT_TRUE(lt->holds(400e-6));
  EXPECT_FALSE(lt->holds(500e-6));
  const auto ge = parse_comparison(">=1M/s", ComparisonUnit::kRate);
  ASSERT_TRUE(ge);
  EXPECT_EQ(ge->op, Comparison::kGreaterEq);
  EXPECT_TRUE(ge->holds(1e6));
  EXPECT_FALSE(ge->holds(999e3));
  EXPECT_FALSE(parse_comparison("500us", ComparisonUnit::kDuration));
  EXPECT_FALSE(parse_comparison("< 1M/s", ComparisonUnit::kDuration));
  EXPECT_FALSE(parse_comparison("= 5s", ComparisonUnit::kDuration));
  EXPECT_FALSE(parse_comparison("<", ComparisonUnit::kRate));
}

}  // namespace
}  // namespace shmcheck::harness
