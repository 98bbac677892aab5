// shmcheck against a real Prometheus server and Pushgateway, both started here on
// 127.0.0.1 with temporary storage and stopped by pid. Without the Debian packages
// the tests are skipped (SHMCHECK_REQUIRE_PROMETHEUS=1, set by CI, fails instead).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "shmcheck/testing/http.hpp"
#include "shmcheck/testing/process.hpp"
#include "shmcheck/testing/server.hpp"

namespace {

namespace fs = std::filesystem;
using shmcheck::testing::http_get;
using shmcheck::testing::ReservedPort;
using shmcheck::testing::ServerProcess;
using shmcheck::testing::url_encode;
using namespace std::chrono_literals;

bool have(const char* tool) {
  return std::system((std::string("command -v ") + tool + " >/dev/null 2>&1").c_str()) == 0;
}

void require_tools() {
  if (have("prometheus") && have("prometheus-pushgateway") && have("promtool")) return;
  const char* require = std::getenv("SHMCHECK_REQUIRE_PROMETHEUS");
  if (require != nullptr && *require == '1') {
    FAIL() << "SHMCHECK_REQUIRE_PROMETHEUS=1 but prometheus/prometheus-pushgateway are missing";
  }
  GTEST_SKIP()
      << "prometheus and prometheus-pushgateway not installed (scripts/bootstrap installs them)";
}

// Instant query; returns the "data" object of a successful answer.
std::optional<nlohmann::json> query(int prom_port, const std::string& promql) {
  auto r = http_get(prom_port, "/api/v1/query?query=" + url_encode(promql), 10s);
  if (!r || r->status != 200) return std::nullopt;
  auto doc = nlohmann::json::parse(r->body, nullptr, false);
  if (doc.is_discarded() || doc.value("status", "") != "success") return std::nullopt;
  return doc.at("data");
}

// The first sample value of a vector answer, or NaN.
double first_value(const nlohmann::json& data) {
  if (!data.contains("result") || data["result"].empty()) return std::nan("");
  return std::stod(data["result"][0]["value"][1].get<std::string>());
}

// Polls until promql yields a value satisfying pred, or the deadline.
bool eventually_value(int prom_port, const std::string& promql,
                      const std::function<bool(double)>& pred, std::chrono::seconds deadline,
                      double* last = nullptr) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (auto d = query(prom_port, promql)) {
      const double v = first_value(*d);
      if (last != nullptr) *last = v;
      if (!std::isnan(v) && pred(v)) return true;
    }
    std::this_thread::sleep_for(500ms);
  }
  return false;
}

class RealPrometheus : public ::testing::Test {
 protected:
  void SetUp() override {
    require_tools();
    if (IsSkipped() || HasFatalFailure()) return;
    dir_ = fs::temp_directory_path() /
           ("shmcheck-prom-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_ / "tsdb");
    ASSERT_TRUE(gw_port_ > 0 && metrics_port_ > 0 && audit_port_ > 0 && prom_port_ > 0);
    gateway_ = ServerProcess::start(
        // No persistence: Debian's gateway otherwise loads (and saves) the groups of
        // every gateway before it, another test's or a user's, from /var/lib.
        {"prometheus-pushgateway", "--web.listen-address=127.0.0.1:" + std::to_string(gw_port_),
         "--persistence.file="},
        (dir_ / "pushgateway.log").string());
    ASSERT_TRUE(gateway_ && gateway_->wait_ready(gw_port_, "/-/ready"))
        << (gateway_ ? gateway_->log() : "no process");
    std::ofstream(dir_ / "prometheus.yml")
        << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
           "scrape_configs:\n"
           "  - job_name: shmcheck\n    static_configs:\n      - targets: ['127.0.0.1:"
        << metrics_port_
        << "']\n"
           "  - job_name: shmcheck-audit\n    static_configs:\n      - targets: ['127.0.0.1:"
        << audit_port_
        << "']\n"
           "  - job_name: pushgateway\n    honor_labels: true\n    static_configs:\n"
           "      - targets: ['127.0.0.1:"
        << gw_port_ << "']\n";
    prometheus_ =
        ServerProcess::start({"prometheus", "--config.file=" + (dir_ / "prometheus.yml").string(),
                              "--storage.tsdb.path=" + (dir_ / "tsdb").string(),
                              "--web.listen-address=127.0.0.1:" + std::to_string(prom_port_)},
                             (dir_ / "prometheus.log").string());
    ASSERT_TRUE(prometheus_ && prometheus_->wait_ready(prom_port_, "/-/ready", 60s))
        << (prometheus_ ? prometheus_->log() : "no process");
    // Prometheus applies discovered targets a few seconds after it is ready: wait
    // for the first scrape of the gateway so the run is scraped from its start.
    ASSERT_TRUE(eventually_value(
        prom_port_, "up{job=\"pushgateway\"}", [](double x) { return x == 1; }, 60s))
        << "Prometheus never scraped its first target\n"
        << prometheus_->log();
  }
  std::string targets() const {
    auto r = http_get(prom_port_, "/api/v1/targets", 5s);
    return r ? r->body : std::string("(no answer)");
  }
  void TearDown() override {
    prometheus_.reset();
    gateway_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  fs::path dir_;
  // Held from the start to the end of each test, so that no parallel test takes a
  // port between its choice and the server's bind.
  const ReservedPort gw_reserved_, metrics_reserved_, audit_reserved_, prom_reserved_;
  const int gw_port_ = gw_reserved_.port(), metrics_port_ = metrics_reserved_.port(),
            audit_port_ = audit_reserved_.port(), prom_port_ = prom_reserved_.port();
  std::optional<ServerProcess> gateway_, prometheus_;
};

TEST_F(RealPrometheus, LiveMetricsAndPushedMetricsArrive) {
  // A short spec with a producer and a consumer; --linger keeps /metrics up for
  // Prometheus's last scrapes after the run ends. Rates are taken over the last
  // minute (subqueries), so the assertions do not race the end of the run.
  auto run = ServerProcess::start(
      {SHMCHECK_BINARY, "run",
       std::string(SHMCHECK_SOURCE_DIR) + "/tests/data/specs/metrics-live.yaml", "--quiet",
       "--metrics-listen", "127.0.0.1:" + std::to_string(metrics_port_), "--push-gateway",
       "http://127.0.0.1:" + std::to_string(gw_port_), "--push-job", "shmcheck-ci", "--linger",
       "6s"},
      (dir_ / "run.log").string());
  ASSERT_TRUE(run.has_value());
  static const std::regex kProgress(
      R"(shmcheck_run_progress_ratio\{spec="metrics-live"\} ([0-9.e+-]+))");
  bool saw_live_ring_series = false;
  for (const auto until = std::chrono::steady_clock::now() + 20s;
       !saw_live_ring_series && std::chrono::steady_clock::now() < until;
       std::this_thread::sleep_for(100ms)) {
    const auto page = http_get(metrics_port_, "/metrics", 2s);
    std::smatch m;
    if (!page || !std::regex_search(page->body, m, kProgress)) continue;
    if (std::stod(m[1].str()) >= 1) break;  // the run ended first
    saw_live_ring_series =
        page->body.find("shmcheck_ring_futex_sleeps_total{object=\"queue\"") != std::string::npos;
  }
  double v = 0;
  EXPECT_TRUE(eventually_value(
      prom_port_, "max_over_time(sum(rate(shmcheck_ops_total{job=\"shmcheck\"}[5s]))[60s:1s])",
      [](double x) { return x > 0; }, 40s, &v))
      << "live ops rate never rose above 0 (last " << v << ")\n"
      << run->log() << "\ntargets: " << targets();
  EXPECT_TRUE(eventually_value(
      prom_port_,
      "max_over_time(histogram_quantile(0.99, sum by (le) "
      "(rate(shmcheck_message_latency_seconds_bucket{job=\"shmcheck\"}[10s])))[60s:1s])",
      [](double x) { return x > 0 && std::isfinite(x); }, 30s, &v))
      << "latency p99 never answered (last " << v << ")";
  // The ring's own futex counters are live too, one series per ring object: on a page
  // served while the run was still going (progress below 1).
  EXPECT_TRUE(eventually_value(
      prom_port_,
      "max_over_time(count(shmcheck_ring_futex_sleeps_total{job=\"shmcheck\",object=\"queue\"})"
      "[60s:1s])",
      [](double x) { return x == 1; }, 30s, &v))
      << "no ring futex series (last " << v << ")";
  EXPECT_TRUE(saw_live_ring_series) << run->log();
  const int status = run->wait_exit(60s);
  ASSERT_GE(status, 0) << "shmcheck run did not finish\n" << run->log();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << run->log();
  // The final push: grouped by job and spec, scraped from the gateway with honor_labels.
  EXPECT_TRUE(eventually_value(
      prom_port_, "sum(shmcheck_ops_total{job=\"shmcheck-ci\",spec=\"metrics-live\"})",
      [](double x) { return x > 0; }, 30s, &v))
      << "pushed ops never arrived";
  auto gw = http_get(gw_port_, "/metrics");
  ASSERT_TRUE(gw.has_value());
  EXPECT_NE(gw->body.find("shmcheck_run_exit_code{"), std::string::npos)
      << "final exit code not pushed";
}

// A push replaces its group (HTTP PUT): a second run without probes leaves no latency
// histogram of the first in the gateway. Before, the push was a POST, which replaces
// only the families pushed, and the group mixed the two runs.
TEST_F(RealPrometheus, APushReplacesItsGroupWhole) {
  const std::string spec = std::string(SHMCHECK_SOURCE_DIR) + "/specs/spsc-producer-crash.yaml";
  const std::string gateway = "http://127.0.0.1:" + std::to_string(gw_port_);
  const auto push = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv{
        SHMCHECK_BINARY,  "run",   spec,         "--quiet",     "--duration", "300ms",
        "--push-gateway", gateway, "--push-job", "replace-test"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto run = ServerProcess::start(argv, (dir_ / "run.log").string());
    ASSERT_TRUE(run.has_value());
    const int status = run->wait_exit(60s);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << run->log();
  };
  // A series of the group: the gateway adds instance="" and sorts the labels.
  const auto in_group = [](const std::string& page, const std::string& name) {
    std::istringstream lines(page);
    for (std::string line; std::getline(lines, line);) {
      if (line.starts_with(name + "{") && line.find("job=\"replace-test\"") != std::string::npos)
        return true;
    }
    return false;
  };
  push({});
  auto first = http_get(gw_port_, "/metrics");
  ASSERT_TRUE(first.has_value());
  EXPECT_TRUE(in_group(first->body, "shmcheck_message_latency_seconds_count")) << first->body;
  push({"--no-probes"});
  auto second = http_get(gw_port_, "/metrics");
  ASSERT_TRUE(second.has_value());
  EXPECT_FALSE(in_group(second->body, "shmcheck_message_latency_seconds_count")) << second->body;
  EXPECT_TRUE(in_group(second->body, "shmcheck_ops_total")) << second->body;
}

// Two runners push the same spec under one job, each with its own --push-label
// instance: the gateway keeps both groups (without the label the second replaced the
// first), and a value with '/' and a space arrives as given (sent base64url-encoded).
TEST_F(RealPrometheus, PushLabelsKeepAGroupPerRunner) {
  const std::string spec = std::string(SHMCHECK_SOURCE_DIR) + "/specs/spsc-producer-crash.yaml";
  for (const std::string instance : {"runner-1", "pool/runner 2"}) {
    auto run = ServerProcess::start(
        // A --push-label before the spec takes one value, not the spec too.
        {SHMCHECK_BINARY, "run", "--push-label", "instance=" + instance, spec, "--quiet",
         "--duration", "300ms", "--push-gateway", "http://127.0.0.1:" + std::to_string(gw_port_),
         "--push-job", "labels-test", "--push-label", "pipeline=nightly"},
        (dir_ / "run.log").string());
    ASSERT_TRUE(run.has_value());
    const int status = run->wait_exit(60s);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << run->log();
  }
  const auto page = http_get(gw_port_, "/metrics");
  ASSERT_TRUE(page.has_value());
  // The gateway sorts a series' labels by name.
  for (const std::string instance : {"runner-1", "pool/runner 2"}) {
    const std::string series = "shmcheck_ops_total{instance=\"" + instance +
                               "\",job=\"labels-test\",op=\"push\",pipeline=\"nightly\","
                               "role=\"producer\",spec=\"spsc-producer-crash\"}";
    EXPECT_NE(page->body.find(series), std::string::npos) << instance << "\n" << page->body;
  }
}

// A run cut short by SIGTERM (a CI job's timeout) pushes what it had done: its counters
// so far, the fault that fired, how far it got, and exit code 3. Before, its final push
// held no ops at all, 0 kills and a progress of 1.
TEST_F(RealPrometheus, ARunCutShortPushesWhatItHadDone) {
  auto run = ServerProcess::start(
      {SHMCHECK_BINARY, "run",
       std::string(SHMCHECK_SOURCE_DIR) + "/tests/data/specs/metrics-live.yaml", "--quiet",
       "--metrics-listen", "127.0.0.1:" + std::to_string(metrics_port_), "--push-gateway",
       "http://127.0.0.1:" + std::to_string(gw_port_), "--push-job", "cut-short"},
      (dir_ / "run.log").string());
  ASSERT_TRUE(run.has_value());
  // Under way: its live page counts the locker's injected kill (at update 100).
  static const std::regex kKills(
      R"(shmcheck_faults_injected_total\{kind="kill",spec="metrics-live"\} ([0-9.e+]+))");
  ASSERT_TRUE(shmcheck::testing::eventually(
      [&] {
        const auto page = http_get(metrics_port_, "/metrics", 2s);
        std::smatch m;
        return page && std::regex_search(page->body, m, kKills) && std::stod(m[1].str()) >= 1;
      },
      30s))
      << run->log();
  ASSERT_EQ(::kill(run->pid(), SIGTERM), 0);
  const int status = run->wait_exit(60s);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 3) << run->log();
  const auto gw = http_get(gw_port_, "/metrics");
  ASSERT_TRUE(gw.has_value());
  const auto value = [&](const std::string& name, const std::string& labels) -> double {
    const std::regex series(name + R"(\{([^}]*)\} ([0-9.e+-]+))");
    for (std::sregex_iterator it(gw->body.begin(), gw->body.end(), series), end; it != end; ++it) {
      const std::string found = (*it)[1].str();
      if (found.find("job=\"cut-short\"") != std::string::npos &&
          found.find(labels) != std::string::npos) {
        return std::stod((*it)[2].str());
      }
    }
    return -1;
  };
  EXPECT_GT(value("shmcheck_ops_total", "op=\"push\""), 0) << gw->body;
  EXPECT_GE(value("shmcheck_faults_injected_total", "kind=\"kill\""), 1) << gw->body;
  const double progress = value("shmcheck_run_progress_ratio", "spec=\"metrics-live\"");
  EXPECT_GT(progress, 0) << gw->body;
  EXPECT_LT(progress, 1) << gw->body;
  EXPECT_EQ(value("shmcheck_run_exit_code", "spec=\"metrics-live\""), 3) << gw->body;
}

TEST_F(RealPrometheus, UnreachableGatewayIsReportedAndDoesNotChangeTheVerdict) {
  const ReservedPort dead;  // nothing listens there
  const int dead_port = dead.port();
  ASSERT_GT(dead_port, 0);
  auto run = ServerProcess::start(
      {SHMCHECK_BINARY, "run",
       std::string(SHMCHECK_SOURCE_DIR) + "/tests/data/specs/metrics-live.yaml", "--quiet",
       "--push-gateway", "http://127.0.0.1:" + std::to_string(dead_port)},
      (dir_ / "run.log").string());
  ASSERT_TRUE(run.has_value());
  const int status = run->wait_exit(90s);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << run->log();
  EXPECT_NE(run->log().find("metrics not pushed: push to gateway: http://127.0.0.1:" +
                            std::to_string(dead_port) +
                            " cannot be reached: could not connect (curl error 7)"),
            std::string::npos)
      << run->log();
}

TEST_F(RealPrometheus, AuditExporterIsScrapedAndPassesPromtool) {
  auto audit =
      ServerProcess::start({SHMCHECK_BINARY, "audit", "--serve",
                            "127.0.0.1:" + std::to_string(audit_port_), "--min-interval", "1s"},
                           (dir_ / "audit.log").string());
  ASSERT_TRUE(audit && audit->wait_ready(audit_port_, "/metrics", 30s))
      << (audit ? audit->log() : "");
  double v = -1;
  EXPECT_TRUE(eventually_value(
      prom_port_, "count(shmcheck_ipc_objects{job=\"shmcheck-audit\"})",
      [](double x) { return x >= 1; }, 30s, &v))
      << "no shmcheck_ipc_objects series (last " << v << ")";
  auto page = http_get(audit_port_, "/metrics");
  ASSERT_TRUE(page.has_value());
  const auto path = dir_ / "audit.prom";
  std::ofstream(path) << page->body;
  EXPECT_EQ(std::system(("promtool check metrics < " + path.string() + " >/dev/null 2>&1").c_str()),
            0)
      << page->body;
}

TEST_F(RealPrometheus, EveryDashboardQueryIsAcceptedByPrometheus) {
  std::ifstream in(std::string(SHMCHECK_SOURCE_DIR) + "/reports/grafana/shmcheck-dashboard.json");
  const auto dash = nlohmann::json::parse(in);
  // Datasource is a template variable, not __inputs.
  EXPECT_FALSE(dash.contains("__inputs"));
  bool has_ds_var = false;
  for (const auto& v : dash["templating"]["list"])
    has_ds_var |= v.value("type", "") == "datasource";
  EXPECT_TRUE(has_ds_var);
  std::size_t checked = 0;
  for (const auto& panel : dash["panels"]) {
    EXPECT_EQ(panel["datasource"]["uid"], "${datasource}") << panel["title"];
    for (const auto& target : panel["targets"]) {
      std::string expr = target["expr"];
      expr = std::regex_replace(expr, std::regex(R"(\$__rate_interval)"), "1m");
      expr = std::regex_replace(expr, std::regex(R"(\$spec)"), ".*");
      auto r = http_get(prom_port_, "/api/v1/query?query=" + url_encode(expr), 10s);
      ASSERT_TRUE(r.has_value()) << expr;
      EXPECT_EQ(r->status, 200) << panel["title"] << ": " << expr << "\n" << r->body;
      ++checked;
    }
  }
  EXPECT_GE(checked, 10U);
  // And the check can fail: a broken query is refused.
  auto bad =
      http_get(prom_port_, "/api/v1/query?query=" + url_encode("sum by (le (rate(x[1m]))"), 10s);
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->status, 400);
}

TEST(ServerStart, AServerThatFailsToStartIsReportedNotAwaitedForever) {
  if (!have("prometheus")) GTEST_SKIP() << "prometheus not installed";
  const auto dir = fs::temp_directory_path() / ("shmcheck-badprom-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "bad.yml") << "scrape_configs: [ this is: not valid\n";
  const ReservedPort reserved;
  const int port = reserved.port();
  auto p = ServerProcess::start({"prometheus", "--config.file=" + (dir / "bad.yml").string(),
                                 "--storage.tsdb.path=" + (dir / "tsdb").string(),
                                 "--web.listen-address=127.0.0.1:" + std::to_string(port)},
                                (dir / "log").string());
  ASSERT_TRUE(p.has_value());
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(p->wait_ready(port, "/-/ready", 30s));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 25s)
      << "should notice the exit, not wait out the deadline";
  p.reset();
  fs::remove_all(dir);
}

// A reserved port is the test's: a plain bind is refused (the port is in the kernel's
// bind table, which bind to port 0 and a connection's local port both avoid), nothing
// answers on it (a dead port for a test), yet the server started on it binds and
// listens (it sets SO_REUSEADDR, as Go servers do).
TEST(ServerStart, AReservedPortIsHeldFromOthersAndTheServerStartsOnIt) {
  require_tools();
  if (IsSkipped() || HasFatalFailure()) return;
  const ReservedPort reserved;
  ASSERT_GT(reserved.port(), 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(reserved.port()));
  auto* const sa = reinterpret_cast<sockaddr*>(&addr);  // NOLINT(*-reinterpret-cast): BSD sockets
  const int plain = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(plain, 0);
  EXPECT_NE(::bind(plain, sa, sizeof addr), 0);
  EXPECT_EQ(errno, EADDRINUSE);
  ::close(plain);
  const int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(client, 0);
  EXPECT_NE(::connect(client, sa, sizeof addr), 0);
  EXPECT_EQ(errno, ECONNREFUSED);
  ::close(client);
  const auto log =
      fs::temp_directory_path() / ("shmcheck-reserved-" + std::to_string(::getpid()) + ".log");
  auto gateway = ServerProcess::start(
      {"prometheus-pushgateway",
       "--web.listen-address=127.0.0.1:" + std::to_string(reserved.port()), "--persistence.file="},
      log.string());
  ASSERT_TRUE(gateway.has_value());
  EXPECT_TRUE(gateway->wait_ready(reserved.port(), "/-/ready")) << gateway->log();
  gateway.reset();
  fs::remove(log);
}

TEST(Deploy, DaemonSetAndScrapeConfigCarryWhatTheExporterNeeds) {
  const auto ds = YAML::LoadFile(std::string(SHMCHECK_SOURCE_DIR) + "/deploy/daemonset.yaml");
  EXPECT_EQ(ds["kind"].as<std::string>(), "DaemonSet");
  const auto pod = ds["spec"]["template"]["spec"];
  EXPECT_TRUE(pod["hostIPC"].as<bool>());
  EXPECT_TRUE(pod["hostPID"].as<bool>());
  const auto c = pod["containers"][0];
  std::vector<std::string> args;
  for (const auto& a : c["args"]) args.push_back(a.as<std::string>());
  ASSERT_GE(args.size(), 3U);
  EXPECT_EQ(args[0], "audit");
  EXPECT_EQ(args[1], "--serve");
  const auto port = std::stoi(args[2].substr(args[2].rfind(':') + 1));
  EXPECT_EQ(c["ports"][0]["containerPort"].as<int>(), port);
  EXPECT_EQ(c["ports"][0]["name"].as<std::string>(), "metrics");
  EXPECT_EQ(c["readinessProbe"]["httpGet"]["path"].as<std::string>(), "/metrics");
  bool shm_ro = false;
  for (const auto& m : c["volumeMounts"]) {
    shm_ro |= m["mountPath"].as<std::string>() == "/dev/shm" && m["readOnly"].as<bool>();
  }
  EXPECT_TRUE(shm_ro) << "/dev/shm must be mounted read-only";
  EXPECT_FALSE(c["securityContext"]["allowPrivilegeEscalation"].as<bool>());
  EXPECT_EQ(
      ds["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"].as<std::string>(),
      std::to_string(port));
  const auto scrape =
      YAML::LoadFile(std::string(SHMCHECK_SOURCE_DIR) + "/deploy/prometheus-scrape.yaml");
  const auto job = scrape["scrape_configs"][0];
  EXPECT_EQ(job["job_name"].as<std::string>(), "shmcheck-audit");
  bool keeps_port = false;
  bool keeps_app = false;
  for (const auto& r : job["relabel_configs"]) {
    const auto src = r["source_labels"][0].as<std::string>();
    keeps_port |= src == "__meta_kubernetes_pod_container_port_name" &&
                  r["regex"].as<std::string>() == "metrics";
    keeps_app |= src == "__meta_kubernetes_pod_label_app_kubernetes_io_name" &&
                 r["regex"].as<std::string>() ==
                     ds["metadata"]["labels"]["app.kubernetes.io/name"].as<std::string>();
  }
  EXPECT_TRUE(keeps_port);
  EXPECT_TRUE(keeps_app);
}

// The DaemonSet's capabilities, and no others, are enough to prove another user's
// orphan: `audit` run under them (setpriv, uid 0) calls a file of uid 65534 that
// nothing holds `orphaned`, by the kernel's lease (CAP_LEASE). Without LEASE the
// proof rests on reading every process, which fails where one cannot be read (this
// host's pid 1 cannot, with the other two), and the file was `unknown`.
TEST(Deploy, TheDaemonSetsCapabilitiesProveAnotherUsersOrphan) {
  if (::geteuid() != 0 || !have("setpriv")) GTEST_SKIP() << "needs root and setpriv";
  const auto ds = YAML::LoadFile(std::string(SHMCHECK_SOURCE_DIR) + "/deploy/daemonset.yaml");
  const auto security = ds["spec"]["template"]["spec"]["containers"][0]["securityContext"];
  ASSERT_EQ(security["capabilities"]["drop"][0].as<std::string>(), "ALL");
  std::string caps = "-all";
  for (const auto& cap : security["capabilities"]["add"]) {
    std::string name = cap.as<std::string>();
    for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    caps += ",+" + name;
  }
  const std::string name = "/shmcheck-deploy-test." + std::to_string(::getpid());
  const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  ASSERT_GE(fd, 0);
  struct Unlink {
    std::string name;
    ~Unlink() { ::shm_unlink(name.c_str()); }
  } unlink_at_end{name};
  ASSERT_EQ(::ftruncate(fd, 4096), 0);
  ASSERT_EQ(::fchown(fd, 65534, 65534), 0);
  ::close(fd);
  const auto dir = fs::temp_directory_path() / ("shmcheck-deploy-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string command = "timeout 60 setpriv --reuid=0 --inh-caps=" + caps +
                              " --ambient-caps=" + caps + " --bounding-set=" + caps + " " +
                              SHMCHECK_BINARY + " audit --json --kind posix_shm >" +
                              (dir / "out.json").string() + " 2>" + (dir / "err").string();
  // The verdict is one instant's: another test's inventory, taking its own leases on
  // every POSIX object, can hold the file for a moment (then it is `in_use`, "the kernel
  // refused an exclusive lease"). Up to five looks; without LEASE every one is `unknown`.
  nlohmann::json object = nlohmann::json::object();
  std::string said;
  for (int look = 0; look < 5 && object.value("verdict", "") != "orphaned"; ++look) {
    if (look != 0) std::this_thread::sleep_for(100ms);
    const int status = std::system(command.c_str());
    std::ifstream err(dir / "err");
    said.assign(std::istreambuf_iterator<char>(err), std::istreambuf_iterator<char>());
    ASSERT_EQ(status, 0) << command << "\n" << said;
    const auto doc = nlohmann::json::parse(std::ifstream(dir / "out.json"), nullptr, false);
    ASSERT_FALSE(doc.is_discarded()) << said;
    object = nlohmann::json::object();
    for (const auto& o : doc.at("inventory").at("objects")) {
      if (o.at("name") == name) object = o;
    }
    ASSERT_FALSE(object.empty()) << name << " not listed: " << doc.dump(2);
  }
  EXPECT_EQ(object.at("verdict"), "orphaned") << object.dump(2) << "\n" << said;
  fs::remove_all(dir);
}

}  // namespace
