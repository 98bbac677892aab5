// The HTML report in a real browser: Debian's headless Chromium renders it, logs
// no console messages (the report has no script, so any console line is an error:
// a blocked resource, a CSP violation), the DOM has every section, and the
// screenshot is not blank. Without Chromium the tests are skipped, never passed;
// SHMCHECK_REQUIRE_BROWSER=1 (CI) turns a missing browser into a failure.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "fixture.hpp"
#include "shmcheck/reports/reporter.hpp"
#include "shmcheck/testing/png.hpp"
#include "shmcheck/testing/process.hpp"

namespace shmcheck::reports {
namespace {

namespace fs = std::filesystem;

std::string chromium_path() {
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return {};
}

struct BrowserRun {
  bool ok = false;
  std::string output;  // stdout (DOM with --dump-dom) and stderr (console lines)
};

// Runs headless Chromium on file://page with extra flags; a 90 s deadline.
BrowserRun run_chromium(const fs::path& page, const std::vector<std::string>& extra,
                        const fs::path& dir) {
  const auto log = dir / ("chromium-" + std::to_string(extra.size()) + ".log");
  const auto profile = dir / "profile";
  std::vector<std::string> args = {chromium_path(),
                                   "--headless",
                                   "--no-sandbox",
                                   "--disable-gpu",
                                   "--disable-quic",
                                   "--no-first-run",
                                   "--disable-background-networking",
                                   "--disable-component-update",
                                   "--disable-sync",
                                   "--user-data-dir=" + profile.string(),
                                   "--enable-logging=stderr",
                                   "--v=0"};
  args.insert(args.end(), extra.begin(), extra.end());
  args.push_back("file://" + page.string());
  const pid_t pid = shmcheck::testing::fork_child([&] {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    return 127;
  });
  const auto exit = shmcheck::testing::wait_child(pid, std::chrono::seconds(90));
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  return {exit.ok(), ss.str()};
}

std::vector<std::string> console_lines(const std::string& output) {
  std::vector<std::string> out;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) {
    if (line.find(":CONSOLE") != std::string::npos ||
        line.find("Failed to load resource") != std::string::npos ||
        line.find("Content Security Policy") != std::string::npos) {
      out.push_back(line);
    }
  }
  return out;
}

class HtmlInBrowser : public ::testing::Test {
 protected:
  void SetUp() override {
    if (chromium_path().empty()) {
      const char* require = std::getenv("SHMCHECK_REQUIRE_BROWSER");
      if (require != nullptr && *require == '1')
        FAIL() << "SHMCHECK_REQUIRE_BROWSER=1 but Chromium is missing";
      GTEST_SKIP() << "Chromium not installed (scripts/bootstrap installs Debian's chromium)";
    }
    dir_ = fs::temp_directory_path() /
           ("shmcheck-browser-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  fs::path write_page(const std::string& name, const std::string& html) {
    const auto path = dir_ / name;
    std::ofstream(path) << html;
    return path;
  }
  fs::path dir_;
};

std::string report_html() {
  std::ostringstream out;
  make_html_reporter()->write(testing::suite_of({testing::passing_run(), testing::failing_run()}),
                              out);
  return out.str();
}

TEST_F(HtmlInBrowser, ReportRendersWithoutConsoleErrorsAndIsNotBlank) {
  const auto page = write_page("report.html", report_html());
  const auto dom = run_chromium(page, {"--dump-dom"}, dir_);
  ASSERT_TRUE(dom.ok) << dom.output;
  EXPECT_TRUE(console_lines(dom.output).empty()) << console_lines(dom.output).front();
  for (const char* section : {"Verdicts", "Latency per role", "Throughput", "Lock wait",
                              "Ring waits", "Timeline", "Fault schedule", "Leaks", "<svg"}) {
    EXPECT_NE(dom.output.find(section), std::string::npos) << section;
  }
  const auto png = dir_ / "shot.png";
  const auto shot =
      run_chromium(page, {"--screenshot=" + png.string(), "--window-size=1100,1600"}, dir_);
  ASSERT_TRUE(shot.ok) << shot.output;
  const auto stats = shmcheck::testing::png_stats(png.string());
  ASSERT_TRUE(stats.has_value()) << "no readable screenshot";
  EXPECT_EQ(stats->width, 1100U);
  EXPECT_GT(stats->non_background_fraction, 0.05) << "screenshot is (nearly) blank";
  EXPECT_GT(stats->distinct_colors, 16U) << "screenshot has almost no colours";
}

// A copy of `html` that may run one script: the report's own policy forbids scripts
// (it has none), so the copy's policy lets this one in, and only it.
std::string with_script(std::string html, const std::string& script) {
  const std::string csp = "default-src 'none';";
  const auto at = html.find(csp);
  if (at != std::string::npos) html.insert(at + csp.size(), " script-src 'unsafe-inline';");
  const auto end = html.rfind("</body>");
  html.insert(end == std::string::npos ? html.size() : end, "<script>" + script + "</script>");
  return html;
}

// Every table, chart and code block of the report stays inside its spec's card (and
// the page inside the window) at a laptop's width: the message integrity table, grown
// to 15 columns, ran 260 px past its card and gave the page a horizontal scroll bar.
// A script in a copy of the page measures the layout and writes what sticks out into
// the DOM, which Chromium dumps.
constexpr const char* kOverflowScript = R"js(
const out = [];
for (const el of document.querySelectorAll('main table, main svg, main pre')) {
  const box = el.closest('section.spec') || document.querySelector('main');
  const style = getComputedStyle(box);
  const right = box.getBoundingClientRect().right - parseFloat(style.paddingRight);
  const over = el.getBoundingClientRect().right - right;
  if (over > 1) out.push(el.tagName + ' after "' + (el.previousElementSibling
      ? el.previousElementSibling.textContent.slice(0, 40) : '') + '": ' + Math.round(over) + ' px');
}
const page = document.documentElement.scrollWidth - window.innerWidth;
if (page > 0) out.push('page: ' + page + ' px wider than the window');
const p = document.createElement('pre');
p.id = 'layout';
p.textContent = 'sticking' + ' out: ' + (out.length ? out.join('; ') : 'none') + ' :' + 'end';
document.body.appendChild(p);
)js";

// What the script wrote (its own text spells the markers apart).
std::string sticking_out(const std::string& dom) {
  const auto begin = dom.find("sticking out: ");
  if (begin == std::string::npos) return "(no layout measured)";
  const auto end = dom.find(" :end", begin);
  return dom.substr(begin + 14, end == std::string::npos ? std::string::npos : end - begin - 14);
}

TEST_F(HtmlInBrowser, NothingSticksOutOfItsCardAtALaptopsWidth) {
  const auto page = write_page("layout.html", with_script(report_html(), kOverflowScript));
  const auto dom = run_chromium(page, {"--dump-dom", "--window-size=1100,1600"}, dir_);
  ASSERT_TRUE(dom.ok) << dom.output;
  EXPECT_EQ(sticking_out(dom.output), "none");

  // The measurement can fail: a table wider than any card.
  std::string wide = "<table><tr>";
  for (int i = 0; i < 40; ++i) wide += "<th>column" + std::to_string(i) + "</th>";
  wide += "</tr></table>";
  auto html = report_html();
  html.insert(html.find("<h3>"), wide);
  const auto bad = write_page("wide.html", with_script(html, kOverflowScript));
  const auto caught = run_chromium(bad, {"--dump-dom", "--window-size=1100,1600"}, dir_);
  ASSERT_TRUE(caught.ok) << caught.output;
  EXPECT_NE(sticking_out(caught.output).find("TABLE"), std::string::npos)
      << sticking_out(caught.output);
}

// The checks above can fail: a page that logs to the console and a blank page.
TEST_F(HtmlInBrowser, ConsoleErrorsAndBlankPagesAreDetected) {
  const auto noisy = write_page("noisy.html",
                                "<!DOCTYPE html><html><body><p>x</p>"
                                "<script>console.error('boom')</script></body></html>");
  const auto run = run_chromium(noisy, {"--dump-dom"}, dir_);
  ASSERT_TRUE(run.ok) << run.output;
  EXPECT_FALSE(console_lines(run.output).empty());

  const auto blank = write_page("blank.html", "<!DOCTYPE html><html><body></body></html>");
  const auto png = dir_ / "blank.png";
  const auto shot =
      run_chromium(blank, {"--screenshot=" + png.string(), "--window-size=400,300"}, dir_);
  ASSERT_TRUE(shot.ok) << shot.output;
  const auto stats = shmcheck::testing::png_stats(png.string());
  ASSERT_TRUE(stats.has_value());
  EXPECT_LT(stats->non_background_fraction, 0.001);
}

}  // namespace
}  // namespace shmcheck::reports
