// profile_bench: a load generator for profile.v1.ProfileService.
//
//   profile_server --test_phone_codes="$(profile_bench --print_test_phone_codes)"
//   profile_bench --target=127.0.0.1:50051 --scenario=verify --compare
//
// Keeps --in_flight calls in flight over --channels separate connections
// with the gRPC callback API, and prints requests per second, p50/p90/p99/
// p99.9 latency and errors by status code. Any error makes the figure
// invalid: the tool says so and exits 1.
//
// Scenarios (every call carries the metadata a real caller sends: x-user-id,
// optionally x-request-id, with the request a real app sends):
//   health  grpc.health.v1.Health/Check, the cheapest RPC the server answers
//   get     GetProfile for the flow users (each is given a phone first)
//   verify  UpdatePhoneVerification of a test number, by --users distinct
//           users in turn (each verification really issues a token)
//   flow    UpdatePhoneVerification then UpdatePhone with its token, by
//           --flow_users users, each alternating between two test numbers
//           of its own, so every token is issued and spent; one operation
//           is two RPCs
//   send    SendPhoneCode to distinct real numbers (+86 138...) by distinct
//           users: one code per phone and per user, so no limit is hit
//
// --compare alternates the health baseline and the scenario, --rounds times,
// in one run against one server (ABBA order), and prints their throughput
// ratio and p99 difference: on a shared machine only same-run ratios count.
//
// The test numbers the server must know (verify, flow, get) come from
// --print_test_phone_codes, in --test_phone_codes syntax.
//
// --cpu_pids=server=PID[,postgres=PID...] also prints the CPU time each of
// those processes (with its children: a PostgreSQL postmaster's backends)
// spent per operation during the measured time: unlike throughput, it
// hardly moves when other work shares the machine.
//
// This file only reads the flags into a BenchOptions; the scenarios, the
// connections and the runner live in client/bench/.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/bench/bench_options.h"
#include "client/bench/connections.h"
#include "client/bench/cpu_usage.h"
#include "client/bench/runner.h"
#include "client/bench/scenario.h"
#include "client/bench/test_numbers.h"

// The defaults are BenchOptions' own.
using ::profile::bench::BenchOptions;

ABSL_FLAG(std::string, target, BenchOptions().target,
          "host:port of the server");
ABSL_FLAG(std::string, scenario, BenchOptions().scenario,
          "health, get, verify, flow or send");
ABSL_FLAG(absl::Duration, duration, BenchOptions().duration,
          "measured time of each phase");
ABSL_FLAG(absl::Duration, warmup, BenchOptions().warmup,
          "unmeasured load before each phase");
ABSL_FLAG(int32_t, in_flight, BenchOptions().in_flight,
          "calls (operations) kept in flight");
ABSL_FLAG(int32_t, channels, BenchOptions().channels,
          "channels, each its own TCP connection; calls spread evenly");
ABSL_FLAG(bool, compare, BenchOptions().compare,
          "alternate the health baseline and --scenario, --rounds times, "
          "and print their ratio");
ABSL_FLAG(int32_t, rounds, BenchOptions().rounds, "rounds of --compare");
ABSL_FLAG(bool, json, BenchOptions().json,
          "print one JSON object per phase and one for the summary");
ABSL_FLAG(int32_t, users, BenchOptions().users, "distinct users of verify");
ABSL_FLAG(int32_t, flow_users, BenchOptions().flow_users,
          "distinct users of flow and get (at least --in_flight); each owns "
          "two test numbers");
ABSL_FLAG(std::string, pass_code, BenchOptions().pass_code,
          "the code of the test numbers");
ABSL_FLAG(bool, send_request_id, BenchOptions().send_request_id,
          "send x-request-id as a gateway would (else the server makes one)");
ABSL_FLAG(absl::Duration, timeout, BenchOptions().timeout,
          "deadline of each call");
ABSL_FLAG(std::string, cpu_pids, BenchOptions().cpu_pids,
          "label=pid,...: also print each process's CPU time (children "
          "included) per operation, e.g. server=$(pidof profile_server)");
ABSL_FLAG(bool, print_test_phone_codes, false,
          "print the server's --test_phone_codes value for verify, flow and "
          "get, and exit");

namespace profile::bench {
namespace {

// Prints `message` as profile_bench's complaint and returns `exit_code`.
int Fail(int exit_code, absl::string_view message) {
  std::fprintf(stderr, "profile_bench: %s\n", std::string(message).c_str());
  return exit_code;
}

// Reads every flag but --print_test_phone_codes, once.
BenchOptions OptionsFromFlags() {
  BenchOptions options;
  options.target = absl::GetFlag(FLAGS_target);
  options.scenario = absl::GetFlag(FLAGS_scenario);
  options.duration = absl::GetFlag(FLAGS_duration);
  options.warmup = absl::GetFlag(FLAGS_warmup);
  options.in_flight = absl::GetFlag(FLAGS_in_flight);
  options.channels = absl::GetFlag(FLAGS_channels);
  options.compare = absl::GetFlag(FLAGS_compare);
  options.rounds = absl::GetFlag(FLAGS_rounds);
  options.json = absl::GetFlag(FLAGS_json);
  options.users = absl::GetFlag(FLAGS_users);
  options.flow_users = absl::GetFlag(FLAGS_flow_users);
  options.pass_code = absl::GetFlag(FLAGS_pass_code);
  options.send_request_id = absl::GetFlag(FLAGS_send_request_id);
  options.timeout = absl::GetFlag(FLAGS_timeout);
  options.cpu_pids = absl::GetFlag(FLAGS_cpu_pids);
  return options;
}

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Load generator for profile.v1.ProfileService.\n"
      "Usage: profile_bench --target=HOST:PORT --scenario=verify [--compare]");
  absl::ParseCommandLine(argc, argv);
  // Debian builds Abseil with deadlock detection on: every absl::Mutex lock
  // (gRPC's included) then goes through one global lock, which would make
  // the load generator, not the server, the bottleneck.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  const BenchOptions options = OptionsFromFlags();
  if (absl::GetFlag(FLAGS_print_test_phone_codes)) {
    std::printf("%s\n",
                TestPhoneCodes(options.flow_users, options.pass_code).c_str());
    return 0;
  }
  // The scenario and --cpu_pids are checked before anything connects.
  Connections connections(options);
  absl::StatusOr<std::unique_ptr<Scenario>> scenario =
      NewScenario(options.scenario, options, &connections);
  if (!scenario.ok()) return Fail(2, scenario.status().message());
  absl::StatusOr<std::vector<CpuProcess>> cpu_processes =
      ParseCpuPids(options.cpu_pids);
  if (!cpu_processes.ok()) return Fail(2, cpu_processes.status().message());

  Runner runner(options, *std::move(cpu_processes));
  if (!connections.Connect()) {
    return Fail(1, absl::StrCat("cannot connect to ", options.target));
  }
  if (absl::Status prepared = (*scenario)->Prepare(); !prepared.ok()) {
    return Fail(1, prepared.message());
  }
  bool valid;
  if (options.compare) {
    std::unique_ptr<Scenario> health = NewHealthScenario(options, &connections);
    valid = runner.Compare(*health, **scenario);
  } else {
    valid = runner.RunOnce(**scenario);
  }
  if (!valid) {
    return Fail(1, "some calls failed; the figures above are INVALID");
  }
  return 0;
}

}  // namespace
}  // namespace profile::bench

int main(int argc, char** argv) { return profile::bench::Main(argc, argv); }
