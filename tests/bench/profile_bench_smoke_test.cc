// Smoke test of profile_bench against the real profile_server: for a second
// per scenario it runs, reports a throughput and sees no errors. No timing
// is asserted: the figures belong in BENCHMARKS.md, not in a test.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/server_process.h"

namespace profile {
namespace {

using ::profile::testing::ServerProcess;

const char kServer[] = PROFILE_SERVER_BINARY;
const char kBench[] = PROFILE_BENCH_BINARY;

struct Output {
  int exit_code = -1;
  std::string text;
};

// Runs profile_bench with `args` and returns its stdout and exit code.
Output RunBench(const std::vector<std::string>& args) {
  const std::string command =
      absl::StrCat(kBench, " ", absl::StrJoin(args, " "), " 2>&1");
  Output output;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return output;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    output.text.append(buffer, n);
  }
  const int status = pclose(pipe);
  output.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return output;
}

// The JSON lines of profile_bench --json.
std::vector<nlohmann::json> JsonLines(const std::string& text) {
  std::vector<nlohmann::json> lines;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    nlohmann::json parsed = nlohmann::json::parse(line, nullptr, false);
    if (parsed.is_object()) lines.push_back(std::move(parsed));
  }
  return lines;
}

class ProfileBenchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Few flow users keep the server's flag short; in_flight must not
    // exceed them.
    Output codes = RunBench({"--print_test_phone_codes", "--flow_users=16"});
    ASSERT_EQ(codes.exit_code, 0) << codes.text;
    std::string test_codes(absl::StripAsciiWhitespace(codes.text));
    // One user verifies thousands of times, and thousands of codes go to
    // +86 numbers nobody verifies: lift the limits that stop such traffic.
    ASSERT_TRUE(server_.Start(
        kServer, {absl::StrCat("--test_phone_codes=", test_codes),
                  "--max_verifications_per_user_per_hour=1000000",
                  "--region_breaker_min_codes=0"}))
        << server_.log();
  }

  // Runs one scenario briefly; expects a throughput and no error.
  void ExpectReports(const std::string& scenario,
                     std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {
        absl::StrCat("--target=127.0.0.1:", server_.port()),
        absl::StrCat("--scenario=", scenario),
        "--duration=1s",
        "--warmup=200ms",
        "--in_flight=8",
        "--channels=2",
        "--flow_users=16",
        "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    Output output = RunBench(args);
    ASSERT_EQ(output.exit_code, 0) << output.text;
    std::vector<nlohmann::json> lines = JsonLines(output.text);
    ASSERT_FALSE(lines.empty()) << output.text;
    for (const nlohmann::json& line : lines) {
      if (!line.contains("phase")) continue;
      EXPECT_GT(line["ops_per_second"].get<double>(), 0) << line.dump();
      EXPECT_GT(line["p99_us"].get<double>(), 0) << line.dump();
      EXPECT_TRUE(line["errors"].empty()) << line.dump();
      EXPECT_TRUE(line["valid"].get<bool>()) << line.dump();
    }
  }

  ServerProcess server_;
};

TEST_F(ProfileBenchTest, Health) { ExpectReports("health"); }

TEST_F(ProfileBenchTest, Verify) { ExpectReports("verify"); }

TEST_F(ProfileBenchTest, FlowTwiceAgainstOneServer) {
  // The second run finds the users where the first left them.
  ExpectReports("flow");
  ExpectReports("flow");
}

TEST_F(ProfileBenchTest, Get) { ExpectReports("get"); }

TEST_F(ProfileBenchTest, Send) { ExpectReports("send"); }

TEST_F(ProfileBenchTest, CompareReportsARatio) {
  std::vector<std::string> args = {
      absl::StrCat("--target=127.0.0.1:", server_.port()),
      "--scenario=verify", "--compare", "--rounds=2", "--duration=300ms",
      "--warmup=100ms", "--in_flight=4", "--json"};
  Output output = RunBench(args);
  ASSERT_EQ(output.exit_code, 0) << output.text;
  std::vector<nlohmann::json> lines = JsonLines(output.text);
  ASSERT_FALSE(lines.empty());
  const nlohmann::json& summary = lines.back();
  ASSERT_TRUE(summary.contains("summary")) << output.text;
  EXPECT_GT(summary["ratio"].get<double>(), 0);
  EXPECT_TRUE(summary["valid"].get<bool>());
}

TEST_F(ProfileBenchTest, CpuPidsReportTheServersCpuPerOperation) {
  std::vector<std::string> args = {
      absl::StrCat("--target=127.0.0.1:", server_.port()),
      "--scenario=verify", "--compare", "--rounds=2", "--duration=500ms",
      "--warmup=100ms", "--in_flight=4",
      absl::StrCat("--cpu_pids=server=", server_.pid()), "--json"};
  Output output = RunBench(args);
  ASSERT_EQ(output.exit_code, 0) << output.text;
  std::vector<nlohmann::json> lines = JsonLines(output.text);
  ASSERT_EQ(lines.size(), 5u) << output.text;
  for (size_t i = 0; i < 4; ++i) {
    ASSERT_TRUE(lines[i].contains("cpu_us_per_op")) << lines[i].dump();
    // Every call costs the server some CPU; ticks are 10 ms, and 500 ms of
    // calls at four in flight keep it busy for more than one.
    EXPECT_GT(lines[i]["cpu_us_per_op"]["server"].get<double>(), 0)
        << lines[i].dump();
  }
  EXPECT_GT(lines[4]["cpu_per_rpc_ratio"]["server"].get<double>(), 0)
      << lines[4].dump();
}

TEST_F(ProfileBenchTest, MalformedCpuPidsAreRefused) {
  for (const char* bad : {"--cpu_pids=server", "--cpu_pids=server=abc",
                          "--cpu_pids==12", "--cpu_pids=server=-1"}) {
    Output output = RunBench({absl::StrCat("--target=127.0.0.1:",
                                           server_.port()),
                              bad});
    EXPECT_EQ(output.exit_code, 2) << bad << ": " << output.text;
    EXPECT_NE(output.text.find("--cpu_pids"), std::string::npos)
        << output.text;
  }
}

TEST_F(ProfileBenchTest, ErrorsMakeTheFigureInvalid) {
  // Flow users whose test numbers the server does not know: every
  // verification fails, and the tool must say so and exit non-zero.
  std::vector<std::string> args = {
      absl::StrCat("--target=127.0.0.1:", server_.port()),
      "--scenario=verify", "--pass_code=999999", "--duration=200ms",
      "--warmup=0s", "--in_flight=2"};
  Output output = RunBench(args);
  EXPECT_NE(output.exit_code, 0) << output.text;
  EXPECT_NE(output.text.find("INVALID"), std::string::npos) << output.text;
}

}  // namespace
}  // namespace profile
