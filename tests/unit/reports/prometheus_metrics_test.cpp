#include "shmcheck/reports/prometheus_metrics.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "fixture.hpp"
#include "shmcheck/probes/inventory_json.hpp"
#include "shmcheck/reports/audit_metrics.hpp"
#include "shmcheck/testing/http.hpp"

namespace shmcheck::reports {
namespace {

std::string final_text() {
  return to_text(run_metric_families(
      {snapshot_of(testing::passing_run()), snapshot_of(testing::failing_run())}));
}

// Runs promtool check metrics on text; returns (exit status, output).
std::pair<int, std::string> promtool_check(const std::string& text) {
  const auto path =
      std::filesystem::temp_directory_path() / ("shmcheck-promtool-" + std::to_string(::getpid()));
  std::ofstream(path) << text;
  const std::string cmd = "promtool check metrics < " + path.string() + " 2>&1";
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return {-1, "popen failed"};
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  const int status = ::pclose(p);
  std::filesystem::remove(path);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

bool have_promtool() { return std::system("command -v promtool >/dev/null 2>&1") == 0; }

TEST(RunMetrics, FamiliesUseBaseUnitsAndNoPidLabels) {
  const auto text = final_text();
  for (const char* name :
       {"shmcheck_ops_total{", "shmcheck_message_latency_seconds_bucket{",
        "shmcheck_lock_wait_seconds_bucket{", "shmcheck_ring_wait_seconds_bucket{",
        "shmcheck_integrity_violations_total{", "shmcheck_faults_injected_total{",
        "shmcheck_workers{", "shmcheck_run_exit_code{", "shmcheck_lock_owner_died_total{",
        "shmcheck_ring_full_total{"}) {
    EXPECT_NE(text.find(name), std::string::npos) << name << "\n" << text;
  }
  EXPECT_EQ(text.find("pid="), std::string::npos);
  // The rings' own counters, per object (the fixture's ring: 17 sleeps, 16 wake-ups).
  EXPECT_NE(text.find("shmcheck_ring_futex_sleeps_total{object=\"queue\",spec=\"mpmc-producer-"
                      "crash\"} 17"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("shmcheck_ring_futex_wakeups_total{object=\"queue\",spec=\"mpmc-producer-"
                      "crash\"} 16"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("le=\"1e-07\""), std::string::npos) << "buckets start at 100 ns";
  EXPECT_NE(text.find("le=\"+Inf\""), std::string::npos);
  EXPECT_NE(text.find("shmcheck_integrity_violations_total{kind=\"lost\",spec=\"broken <ring> & "
                      "\\\"quotes\\\"\"} 3"),
            std::string::npos)
      << text;
}

// run_metric_label_names() is what --push-label refuses: every label name on a series
// of the final metrics is in it.
TEST(RunMetrics, EveryLabelNameOnASeriesIsListed) {
  const auto& listed = run_metric_label_names();
  std::set<std::string> seen;
  const std::regex series(R"(^shmcheck_\w+\{([^}]*)\} )");
  const std::regex name(R"((\w+)="(?:[^"\\]|\\.)*")");
  std::istringstream lines(final_text());
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (!std::regex_search(line, m, series)) continue;
    const std::string labels = m[1].str();
    for (std::sregex_iterator it(labels.begin(), labels.end(), name), end; it != end; ++it)
      seen.insert((*it)[1].str());
  }
  EXPECT_GE(seen.size(), 6U);
  for (const auto& n : seen) {
    EXPECT_NE(std::find(listed.begin(), listed.end(), n), listed.end()) << n << " is not listed";
  }
}

// The faults injected are those the schedule says fired: a run cut short by a signal
// has no workers' outcomes, and its final push said 0 kills of one that had fired.
TEST(RunMetrics, FaultsInjectedAreTheScheduleFaultsThatFired) {
  auto run = testing::passing_run();
  const auto fired = [](const std::string& text, const char* kind) {
    return text.find("shmcheck_faults_injected_total{kind=\"" + std::string(kind) +
                     "\",spec=\"mpmc-producer-crash\"} 1") != std::string::npos;
  };
  run.workers.clear();  // as after SIGTERM
  std::string text = to_text(run_metric_families({snapshot_of(run)}));
  EXPECT_TRUE(fired(text, "kill")) << text;
  EXPECT_FALSE(fired(text, "pause")) << "the pause was skipped\n" << text;
  run.fault_schedule[1].status = probes::FaultStatus::kFired;
  text = to_text(run_metric_families({snapshot_of(run)}));
  EXPECT_TRUE(fired(text, "pause")) << text;
}

// What a crash explains (a message lost with its killed consumer, one read again) is
// not a violation, and a dashboard still shows it, apart from the violations.
TEST(RunMetrics, CrashEffectsAreCountedApartFromViolations) {
  auto run = testing::passing_run();
  run.integrity->counts.redelivered = 4;
  run.integrity->counts.recovered = 2;
  const auto text = to_text(run_metric_families({snapshot_of(run)}));
  for (
      const char* series :
      {R"(shmcheck_integrity_crash_effects_total{kind="lost_at_crash",spec="mpmc-producer-crash"} 1)",
       R"(shmcheck_integrity_crash_effects_total{kind="redelivered",spec="mpmc-producer-crash"} 4)",
       R"(shmcheck_integrity_crash_effects_total{kind="recovered",spec="mpmc-producer-crash"} 2)",
       R"(shmcheck_integrity_crash_effects_total{kind="abandoned",spec="mpmc-producer-crash"} 0)"}) {
    EXPECT_NE(text.find(series), std::string::npos) << series << "\n" << text;
  }
  EXPECT_EQ(text.find(R"(shmcheck_integrity_violations_total{kind="redelivered")"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find(R"(shmcheck_integrity_violations_total{kind="lost_at_crash")"),
            std::string::npos)
      << text;
}

// A role gets the counters it can move: no lock series for a producer, no ring series
// for a locker (they were there, at 0 for ever).
TEST(RunMetrics, EachRoleGetsOnlyTheCountersItsWorkCanMove) {
  const auto text = final_text();
  const auto has = [&](const std::string& family, const std::string& role) {
    return text.find(family + "{role=\"" + role + "\"") != std::string::npos;
  };
  EXPECT_TRUE(has("shmcheck_ring_full_total", "producer")) << text;
  EXPECT_TRUE(has("shmcheck_payload_bytes_total", "producer")) << text;
  EXPECT_FALSE(has("shmcheck_ring_empty_total", "producer")) << text;
  EXPECT_FALSE(has("shmcheck_lock_acquisitions_total", "producer")) << text;
  EXPECT_FALSE(has("shmcheck_lock_owner_died_total", "producer")) << text;
  EXPECT_TRUE(has("shmcheck_lock_owner_died_total", "locker")) << text;
  EXPECT_TRUE(has("shmcheck_lock_repairs_total", "locker")) << text;
  EXPECT_FALSE(has("shmcheck_ring_full_total", "locker")) << text;
  EXPECT_FALSE(has("shmcheck_payload_bytes_total", "locker")) << text;
}

TEST(RunMetrics, PassesPromtoolCheckMetrics) {
  if (!have_promtool())
    GTEST_SKIP() << "promtool not installed (scripts/bootstrap installs prometheus)";
  const auto [status, out] = promtool_check(final_text());
  EXPECT_EQ(status, 0) << out;
}

// The auditor's series: every kind x verdict of a kind the scan listed, zeros
// included; none for a kind it could not list (/dev/mqueue not mounted, or left out by
// --kind), which exported a false 0 before, and shmcheck_audit_source_up says why.
TEST(AuditMetrics, AKindTheScanCouldNotListHasNoSeriesRatherThanAZero) {
  probes::Inventory inv;
  inv.dev_shm_available = true;
  inv.sysvipc_available = true;
  inv.proc_available = true;
  inv.mqueue_available = false;
  probes::IpcObject orphan;
  orphan.kind = probes::IpcKind::kPosixShm;
  orphan.verdict = probes::Verdict::kOrphaned;
  orphan.bytes_allocated = 8192;
  orphan.device = 27;
  orphan.inode = 1;
  probes::IpcObject other = orphan;
  other.inode = 2;
  inv.objects = {orphan, other};
  const auto text = to_text(audit_metric_families(inv, {}));
  for (const char* series : {R"(shmcheck_ipc_objects{kind="posix_shm",state="orphaned"} 2)",
                             R"(shmcheck_ipc_bytes{kind="posix_shm",state="orphaned"} 16384)",
                             R"(shmcheck_ipc_objects{kind="sysv_sem",state="unknown"} 0)",
                             R"(shmcheck_ipc_objects{kind="deleted",state="in_use"} 0)",
                             R"(shmcheck_audit_source_up{source="mqueue"} 0)",
                             R"(shmcheck_audit_source_up{source="dev_shm"} 1)"}) {
    EXPECT_NE(text.find(series), std::string::npos) << series << "\n" << text;
  }
  EXPECT_EQ(text.find(R"(kind="posix_mq")"), std::string::npos) << text;

  inv.kinds_asked = {probes::IpcKind::kSysvShm};
  inv.objects.clear();
  const auto only = to_text(audit_metric_families(inv, {}));
  EXPECT_NE(only.find(R"(shmcheck_ipc_objects{kind="sysv_shm",state="orphaned"} 0)"),
            std::string::npos)
      << only;
  EXPECT_EQ(only.find(R"(kind="posix_shm")"), std::string::npos) << only;
  // Only the sources the asked kinds need: no /dev/shm, read or not, for sysv_shm alone.
  EXPECT_EQ(only.find(R"(source="dev_shm")"), std::string::npos) << only;
  EXPECT_NE(only.find(R"(shmcheck_audit_source_up{source="sysvipc"} 1)"), std::string::npos)
      << only;
  if (have_promtool()) {
    const auto [status, out] = promtool_check(text);
    EXPECT_EQ(status, 0) << out;
  }
}

// Two names of one file in /dev/shm (hard links) are two objects and one storage: the
// bytes count once. Before, 1 MiB linked twice exported 2 MiB.
TEST(AuditMetrics, BytesOfHardLinkedNamesCountOnce) {
  probes::Inventory inv;
  inv.dev_shm_available = inv.sysvipc_available = inv.proc_available = true;
  probes::IpcObject a;
  a.kind = probes::IpcKind::kPosixShm;
  a.verdict = probes::Verdict::kOrphaned;
  a.bytes_allocated = 1 << 20;
  a.device = 27;
  a.inode = 93310;
  a.name = "/a";
  probes::IpcObject b = a;
  b.name = "/b";
  inv.objects = {a, b};
  const auto text = to_text(audit_metric_families(inv, {}));
  EXPECT_NE(text.find(R"(shmcheck_ipc_objects{kind="posix_shm",state="orphaned"} 2)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(shmcheck_ipc_bytes{kind="posix_shm",state="orphaned"} 1048576)"),
            std::string::npos)
      << text;
  const probes::InventoryTotals t = probes::totals(inv.objects);
  EXPECT_EQ(t.all.count, 2U);
  EXPECT_EQ(t.all.bytes, 1U << 20);
  EXPECT_EQ(t.sharing_storage, 1U);
  EXPECT_EQ(t.by_kind[static_cast<std::size_t>(probes::IpcKind::kPosixShm)].bytes, 1U << 20);
}

TEST(RunMetrics, PromtoolRejectsABrokenExposition) {
  if (!have_promtool()) GTEST_SKIP() << "promtool not installed";
  // Proves the check above can fail: a counter without _total is a lint error.
  const auto [status, out] =
      promtool_check("# HELP bad_counter x\n# TYPE bad_counter counter\nbad_counter 1\n");
  EXPECT_NE(status, 0) << out;
}

// prometheus-cpp puts the grouping labels into the push's URL path unescaped: a value
// with '/', a space, nothing or a path step goes in the gateway's base64url form.
TEST(PushGrouping, PlainValuesGoAsTheyAreAndOthersAsBase64Url) {
  const std::map<std::string, std::string> given{{"instance", "runner-3.example:1"},
                                                 {"pool", "runner/3 x"},
                                                 {"empty", ""},
                                                 {"dot", "."},
                                                 {"name", "\xc3\xa9"},
                                                 {"one", " "},
                                                 {"two", "a "},
                                                 {"three", "a b"}};
  const std::map<std::string, std::string> expected{{"instance", "runner-3.example:1"},
                                                    {"pool@base64", "cnVubmVyLzMgeA=="},
                                                    {"empty@base64", "="},
                                                    {"dot@base64", "Lg=="},
                                                    {"name@base64", "w6k="},
                                                    {"one@base64", "IA=="},
                                                    {"two@base64", "YSA="},
                                                    {"three@base64", "YSBi"}};
  EXPECT_EQ(gateway_grouping_path(given), expected);
  EXPECT_EQ(gateway_grouping_path({{"x", "?a=b"}}).at("x@base64"), "P2E9Yg==");
  // The URL-safe alphabet: '-' and '_' where standard base64 has '+' and '/'.
  EXPECT_EQ(gateway_grouping_path({{"x", "\xfb\xff"}}).at("x@base64"), "-_8=");
}

TEST(MetricsServer, ServesTheLatestSnapshotOnAFreePort) {
  auto server = MetricsServer::listen("127.0.0.1:0");
  ASSERT_TRUE(server) << server.error().message();
  ASSERT_GT((*server)->port(), 0);
  (*server)->publish(run_metric_families({snapshot_of(testing::passing_run())}));
  auto r = shmcheck::testing::http_get((*server)->port(), "/metrics");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(
      r->body.find(
          "shmcheck_ops_total{op=\"push\",role=\"producer\",spec=\"mpmc-producer-crash\"} 5000"),
      std::string::npos)
      << r->body;
  EXPECT_GE((*server)->scrapes(), 1U);
}

TEST(MetricsServer, BadAddressesAreErrors) {
  for (const char* bad : {"127.0.0.1", "127.0.0.1:", ":9090", "127.0.0.1:http"}) {
    auto s = MetricsServer::listen(bad);
    ASSERT_FALSE(s) << bad;
    EXPECT_EQ(s.error().code, core::ErrorCode::kInvalidArgument) << bad;
  }
}

// Each says why in words: civetweb's own exception said "null context when constructing
// CivetServer. Possible problem binding to port." for all of them.
TEST(MetricsServer, AnAddressThatCannotBeServedSaysWhy) {
  const std::pair<const char*, const char*> cases[] = {
      {"[::1]:0", "IPv6 addresses cannot be served"},
      {"::1:0", "IPv6 addresses cannot be served"},
      {"192.0.2.1:0", "'192.0.2.1' is not an address of this machine"},  // TEST-NET-1
      {"no-such-host.invalid:0", "host 'no-such-host.invalid' does not resolve"},
      // Bound, and never reachable (a run served them to nobody, exit 0).
      {"224.0.0.1:0", "a multicast or broadcast address cannot serve HTTP"},
      {"255.255.255.255:0", "a multicast or broadcast address cannot serve HTTP"},
      // Resolved by the kernel's parser, not by the HTTP server's (exit 3, "port taken").
      {"127.1:0", "write the IPv4 address as four decimal numbers"},
      {"0x7f000001:0", "write the IPv4 address as four decimal numbers"},
      {"127.000.000.001:0", "write the IPv4 address as four decimal numbers"}};
  for (const auto& [address, why] : cases) {
    EXPECT_FALSE(MetricsServer::check_address(address).has_value()) << address;
    auto s = MetricsServer::listen(address);
    ASSERT_FALSE(s) << address;
    EXPECT_EQ(s.error().code, core::ErrorCode::kInvalidArgument) << address;
    EXPECT_NE(s.error().brief().find(why), std::string::npos) << s.error().brief();
  }
  EXPECT_TRUE(MetricsServer::check_address("localhost:0").has_value());
  EXPECT_TRUE(MetricsServer::check_address("0.0.0.0:9100").has_value());
}

// A subnet's broadcast address binds, and nothing ever connects: refused like
// 255.255.255.255, for every interface of this machine that has one.
TEST(MetricsServer, AnInterfacesBroadcastAddressIsRefused) {
  ifaddrs* list = nullptr;
  ASSERT_EQ(::getifaddrs(&list), 0);
  std::vector<std::string> broadcasts;
  for (const ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if ((i->ifa_flags & IFF_BROADCAST) == 0 || i->ifa_broadaddr == nullptr ||
        i->ifa_broadaddr->sa_family != AF_INET) {
      continue;
    }
    char text[INET_ADDRSTRLEN] = {};
    const auto* addr = reinterpret_cast<const sockaddr_in*>(i->ifa_broadaddr);
    ::inet_ntop(AF_INET, &addr->sin_addr, text, sizeof text);
    broadcasts.emplace_back(text);
  }
  ::freeifaddrs(list);
  if (broadcasts.empty()) GTEST_SKIP() << "no interface with an IPv4 broadcast address";
  for (const auto& b : broadcasts) {
    const auto checked = MetricsServer::check_address(b + ":0");
    ASSERT_FALSE(checked.has_value()) << b;
    EXPECT_NE(checked.error().brief().find("a multicast or broadcast address cannot serve HTTP"),
              std::string::npos)
        << checked.error().brief();
  }
}

// A server stops at once: its listening thread polls 2 s at a time, and a stop waited
// for that poll to end (1.7 s on average, after every run with --metrics-listen). Three
// stops, each far under the poll: the old wait passed all three 1 time in 8.
TEST(MetricsServer, StopsWithoutWaitingOutTheListenersPoll) {
  for (const char* address : {"127.0.0.1:0", "0.0.0.0:0", "localhost:0"}) {
    auto server = MetricsServer::listen(address);
    ASSERT_TRUE(server) << server.error().message();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const auto t0 = std::chrono::steady_clock::now();
    server->reset();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1000)) << address;
  }
}

TEST(MetricsServer, PortInUseIsAnErrorSayingSo) {
  auto first = MetricsServer::listen("127.0.0.1:0");
  ASSERT_TRUE(first);
  const std::string taken = "127.0.0.1:" + std::to_string((*first)->port());
  auto second = MetricsServer::listen(taken);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().brief(),
            "metrics listen (cannot serve on " + taken + "): Address already in use");
}

TEST(PushMetrics, UnreachableGatewayIsAClearErrorNotAHang) {
  const shmcheck::testing::ReservedPort dead;  // nothing listens there
  const int port = dead.port();
  ASSERT_GT(port, 0);
  const auto start = std::chrono::steady_clock::now();
  auto r = push_metrics("http://127.0.0.1:" + std::to_string(port), "shmcheck", {{"spec", "x"}},
                        run_metric_families({snapshot_of(testing::passing_run())}),
                        std::chrono::seconds(5));
  ASSERT_FALSE(r);
  // Refused at once on 127.0.0.1: curl's reason in words (the brief once ended in "not
  // found", the name of the error code it was given).
  EXPECT_EQ(r.error().brief(), "push to gateway: http://127.0.0.1:" + std::to_string(port) +
                                   " cannot be reached: could not connect (curl error 7)");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(6));
}

TEST(PushMetrics, GatewayUrlsAreParsedStrictly) {
  auto ok = parse_gateway_url("http://127.0.0.1:9091/");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->scheme_host, "http://127.0.0.1");
  EXPECT_EQ(ok->port, "9091");
  EXPECT_TRUE(parse_gateway_url("https://gw.example:65535"));
  for (const char* bad : {"127.0.0.1:9091", "ftp://h:1", "http://h", "http://h:x",
                          "http://h:9091/metrics", "http://h:0", "http://h:65536",
                          "http://h:99999999999999999999", "http://:9091", "http://h:-1"}) {
    EXPECT_FALSE(parse_gateway_url(bad)) << bad;
  }
  EXPECT_NE(parse_gateway_url("http://:9091").error().message().find("no host"), std::string::npos);
}

TEST(MetricsServer, AListenAddressNeedsAPortIn0To65535) {
  for (const char* bad : {"127.0.0.1:65536", "127.0.0.1:99999", "127.0.0.1:-1", "127.0.0.1:x"}) {
    auto server = MetricsServer::listen(bad);
    ASSERT_FALSE(server) << bad;
    EXPECT_EQ(server.error().code, core::ErrorCode::kInvalidArgument) << bad;
  }
}

TEST(Textfile, IsWrittenAtomically) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("shmcheck-textfile-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = (dir / "shmcheck.prom").string();
  ASSERT_TRUE(write_textfile(path, run_metric_families({snapshot_of(testing::passing_run())})));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_NE(ss.str().find("# TYPE shmcheck_ops_total counter"), std::string::npos);
  EXPECT_FALSE(write_textfile((dir / "missing" / "x.prom").string(), {}));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace shmcheck::reports
