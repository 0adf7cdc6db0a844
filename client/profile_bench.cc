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
// The scenarios and the connections live in client/bench/.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/bench/bench_options.h"
#include "client/bench/connections.h"
#include "client/bench/cpu_usage.h"
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

// What one phase measured.
struct PhaseResult {
  std::string scenario;
  int rpcs_per_op = 1;
  double seconds = 0;
  int64_t ops = 0;
  std::vector<uint32_t> latencies_ns;  // sorted
  // Failed operations by status code name ("UNAVAILABLE").
  std::map<std::string, int64_t> errors;
  // Per --cpu_pids entry: CPU microseconds per operation.
  std::vector<std::pair<std::string, double>> cpu_us_per_op;

  double ops_per_second() const { return seconds > 0 ? ops / seconds : 0; }
  // Returns the latency at quantile `p` (0.99), in microseconds.
  double Percentile(double p) const;
  bool valid() const { return errors.empty() && ops > 0; }
};

class Runner {
 public:
  // REQUIRES: `options` outlives the Runner.
  Runner(const BenchOptions& options, std::vector<CpuProcess> cpu_processes);

  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  // Measures `scenario` once and prints the phase as round 0. Returns true
  // if the phase is valid.
  bool RunOnce(Scenario& scenario);

  // Measures `baseline` and `scenario` alternately, --rounds times, in ABBA
  // order, prints each phase, then the median over the rounds of their
  // throughput ratio (per RPC of the baseline) and latency differences.
  // Returns true if every phase is valid.
  bool Compare(Scenario& baseline, Scenario& scenario);

  // Runs `scenario` for --warmup then --duration and returns what the
  // measured time saw.
  // REQUIRES: the scenario is prepared.
  PhaseResult Measure(Scenario& scenario);

 private:
  // One chain of operations: at most one in flight, so its members need no
  // lock (each callback happens after the call it follows).
  struct Chain {
    int index = 0;
    int64_t op_start_ns = 0;
    // Per phase.
    std::vector<uint32_t> latencies_ns;
    std::map<std::string, int64_t> errors;
  };

  // Starts the chain's next operation, or ends the chain at the end of the
  // phase.
  void StartOp(Chain& chain);
  void EndOp(Chain& chain, const grpc::Status& status);
  void Print(const PhaseResult& result, int round) const;

  const BenchOptions& options_;
  const std::vector<CpuProcess> cpu_processes_;
  std::vector<Chain> chains_;  // never resized: callbacks hold references
  // The scenario of the phase under way.
  Scenario* scenario_ = nullptr;
  std::atomic<int64_t> record_from_ns_{0};
  std::atomic<int64_t> stop_at_ns_{0};
  absl::Mutex mu_;
  int active_ ABSL_GUARDED_BY(mu_) = 0;  // chains still running
};

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// "UNAVAILABLE"; "CODE_20" for a code gRPC does not define.
std::string CodeName(grpc::StatusCode code) {
  // gRPC's codes and names are absl::StatusCode's.
  std::string name =
      absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  return name.empty() ? absl::StrCat("CODE_", static_cast<int>(code)) : name;
}

std::string ErrorsText(const PhaseResult& r) {
  std::vector<std::string> parts;
  for (const auto& [code, n] : r.errors)
    parts.push_back(absl::StrCat(code, "=", n));
  return parts.empty() ? "none" : absl::StrJoin(parts, " ");
}

std::string ErrorsJson(const PhaseResult& r) {
  std::vector<std::string> parts;
  for (const auto& [code, n] : r.errors) {
    parts.push_back(absl::StrCat("\"", code, "\":", n));
  }
  return absl::StrCat("{", absl::StrJoin(parts, ","), "}");
}

std::string CpuText(const PhaseResult& r) {
  std::string text;
  for (const auto& [label, us] : r.cpu_us_per_op) {
    absl::StrAppend(&text, "  cpu ", label, absl::StrFormat(" %.1f us/op", us));
  }
  return text;
}

std::string CpuJson(const PhaseResult& r) {
  std::vector<std::string> parts;
  for (const auto& [label, us] : r.cpu_us_per_op) {
    parts.push_back(absl::StrFormat("\"%s\":%.2f", label, us));
  }
  return absl::StrCat("{", absl::StrJoin(parts, ","), "}");
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// The ratios of --compare, three decimals each, joined by `separator`.
std::string RatiosText(const std::vector<double>& ratios,
                       absl::string_view separator) {
  return absl::StrJoin(ratios, separator, [](std::string* out, double r) {
    absl::StrAppend(out, absl::StrFormat("%.3f", r));
  });
}

double PhaseResult::Percentile(double p) const {
  if (latencies_ns.empty()) return 0;
  size_t i = static_cast<size_t>(p * (latencies_ns.size() - 1) + 0.5);
  return latencies_ns[std::min(i, latencies_ns.size() - 1)] / 1000.0;
}

Runner::Runner(const BenchOptions& options,
               std::vector<CpuProcess> cpu_processes)
    : options_(options),
      cpu_processes_(std::move(cpu_processes)),
      chains_(ChainCount(options)) {
  for (size_t i = 0; i < chains_.size(); ++i) chains_[i].index = i;
}

PhaseResult Runner::Measure(Scenario& scenario) {
  const int64_t warmup_ns = absl::ToInt64Nanoseconds(options_.warmup);
  const int64_t duration_ns = absl::ToInt64Nanoseconds(options_.duration);
  scenario_ = &scenario;
  const int64_t start = NowNs();
  record_from_ns_ = start + warmup_ns;
  stop_at_ns_ = start + warmup_ns + duration_ns;
  {
    absl::MutexLock lock(&mu_);
    active_ = static_cast<int>(chains_.size());
  }
  for (Chain& chain : chains_) {
    chain.latencies_ns.clear();
    chain.latencies_ns.reserve(1 << 16);
    chain.errors.clear();
    StartOp(chain);
  }
  // Sample the processes' CPU time at both ends of the measured time.
  std::vector<int64_t> ticks_before(cpu_processes_.size());
  std::vector<int64_t> ticks_after(cpu_processes_.size());
  if (!cpu_processes_.empty()) {
    absl::SleepFor(absl::Nanoseconds(record_from_ns_ - NowNs()));
    for (size_t i = 0; i < cpu_processes_.size(); ++i) {
      ticks_before[i] = TreeTicks(cpu_processes_[i].pid);
    }
    absl::SleepFor(absl::Nanoseconds(stop_at_ns_ - NowNs()));
    for (size_t i = 0; i < cpu_processes_.size(); ++i) {
      ticks_after[i] = TreeTicks(cpu_processes_[i].pid);
    }
  }
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](int* active) { return *active == 0; }, &active_));
  }
  PhaseResult result;
  result.scenario = std::string(scenario.name());
  result.rpcs_per_op = scenario.rpcs_per_operation();
  result.seconds = duration_ns / 1e9;
  for (const Chain& chain : chains_) {
    result.latencies_ns.insert(result.latencies_ns.end(),
                               chain.latencies_ns.begin(),
                               chain.latencies_ns.end());
    for (const auto& [code, n] : chain.errors) result.errors[code] += n;
  }
  std::sort(result.latencies_ns.begin(), result.latencies_ns.end());
  result.ops = static_cast<int64_t>(result.latencies_ns.size());
  const double us_per_tick = MicrosPerTick();
  for (size_t i = 0; i < cpu_processes_.size(); ++i) {
    result.cpu_us_per_op.emplace_back(
        cpu_processes_[i].label,
        result.ops > 0 ? (ticks_after[i] - ticks_before[i]) * us_per_tick /
                             static_cast<double>(result.ops)
                       : 0.0);
  }
  return result;
}

void Runner::StartOp(Chain& chain) {
  chain.op_start_ns = NowNs();
  if (chain.op_start_ns >= stop_at_ns_) {
    absl::MutexLock lock(&mu_);
    --active_;
    return;
  }
  scenario_->Start(chain.index, [this, &chain](grpc::Status status) {
    EndOp(chain, status);
  });
}

void Runner::EndOp(Chain& chain, const grpc::Status& status) {
  const int64_t end = NowNs();
  if (!status.ok()) {
    // Warm-up included: a failure anywhere makes the phase suspect.
    ++chain.errors[CodeName(status.error_code())];
  } else if (chain.op_start_ns >= record_from_ns_ && end <= stop_at_ns_) {
    chain.latencies_ns.push_back(static_cast<uint32_t>(
        std::min<int64_t>(end - chain.op_start_ns, UINT32_MAX)));
  }
  StartOp(chain);
}

void Runner::Print(const PhaseResult& r, int round) const {
  if (options_.json) {
    std::printf(
        "{\"phase\":\"%s\",\"round\":%d,\"in_flight\":%d,\"channels\":%d,"
        "\"ops\":%" PRId64
        ",\"ops_per_second\":%.1f,\"rpcs_per_second\":%.1f,"
        "\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
        "\"cpu_us_per_op\":%s,\"errors\":%s,\"valid\":%s}\n",
        r.scenario.c_str(), round, options_.in_flight, options_.channels, r.ops,
        r.ops_per_second(), r.ops_per_second() * r.rpcs_per_op,
        r.Percentile(0.50), r.Percentile(0.90), r.Percentile(0.99),
        r.Percentile(0.999), CpuJson(r).c_str(), ErrorsJson(r).c_str(),
        r.valid() ? "true" : "false");
  } else {
    std::printf(
        "%-7s round %d: %10.0f ops/s (%10.0f RPC/s)  p50 %7.1f us  p90 %7.1f "
        "us  p99 %7.1f us  p99.9 %8.1f us  errors: %s%s%s\n",
        r.scenario.c_str(), round, r.ops_per_second(),
        r.ops_per_second() * r.rpcs_per_op, r.Percentile(0.50),
        r.Percentile(0.90), r.Percentile(0.99), r.Percentile(0.999),
        ErrorsText(r).c_str(), CpuText(r).c_str(),
        r.valid() ? "" : "  INVALID");
  }
  std::fflush(stdout);
}

bool Runner::RunOnce(Scenario& scenario) {
  PhaseResult r = Measure(scenario);
  Print(r, 0);
  return r.valid();
}

bool Runner::Compare(Scenario& baseline, Scenario& scenario) {
  bool valid = true;
  std::vector<double> ratios, p99_diffs, p50_diffs;
  // Per --cpu_pids entry: CPU per RPC of the scenario over the baseline's,
  // by round.
  std::map<std::string, std::vector<double>> cpu_ratios;
  const int rounds = std::max(1, options_.rounds);
  for (int round = 1; round <= rounds; ++round) {
    // ABBA: alternate which goes first, so a drift in the machine's load
    // does not favour one side.
    PhaseResult base, other;
    if (round % 2 == 1) {
      base = Measure(baseline);
      Print(base, round);
      other = Measure(scenario);
      Print(other, round);
    } else {
      other = Measure(scenario);
      Print(other, round);
      base = Measure(baseline);
      Print(base, round);
    }
    valid = valid && base.valid() && other.valid();
    // A flow is two RPCs: compare its operations with half the baseline.
    ratios.push_back(other.ops_per_second() /
                     (base.ops_per_second() / other.rpcs_per_op));
    p99_diffs.push_back(other.Percentile(0.99) - base.Percentile(0.99));
    p50_diffs.push_back(other.Percentile(0.50) - base.Percentile(0.50));
    for (size_t i = 0; i < other.cpu_us_per_op.size(); ++i) {
      const double base_us = base.cpu_us_per_op[i].second;
      if (base_us > 0) {
        cpu_ratios[other.cpu_us_per_op[i].first].push_back(
            other.cpu_us_per_op[i].second / other.rpcs_per_op / base_us);
      }
    }
  }
  std::string cpu_summary;
  std::vector<std::string> cpu_json;
  for (const auto& [label, by_round] : cpu_ratios) {
    absl::StrAppend(&cpu_summary,
                    absl::StrFormat("; %s CPU per RPC %.2fx %s's", label,
                                    Median(by_round), baseline.name()));
    cpu_json.push_back(absl::StrFormat("\"%s\":%.3f", label, Median(by_round)));
  }
  const double ratio = Median(ratios);
  const std::string name(scenario.name());
  if (options_.json) {
    std::printf(
        "{\"summary\":\"%s\",\"rounds\":%d,\"ratio\":%.3f,\"ratios\":[%s],"
        "\"p50_diff_us\":%.1f,\"p99_diff_us\":%.1f,"
        "\"cpu_per_rpc_ratio\":{%s},\"valid\":%s}\n",
        name.c_str(), rounds, ratio, RatiosText(ratios, ",").c_str(),
        Median(p50_diffs), Median(p99_diffs),
        absl::StrJoin(cpu_json, ",").c_str(), valid ? "true" : "false");
  } else {
    std::printf(
        "%s / %s%s, median of %d rounds: ratio %.3f (rounds: %s); "
        "p50 %+.1f us, p99 %+.1f us%s\n",
        name.c_str(), scenario.rpcs_per_operation() == 2 ? "half " : "",
        std::string(baseline.name()).c_str(), rounds, ratio,
        RatiosText(ratios, " ").c_str(), Median(p50_diffs), Median(p99_diffs),
        cpu_summary.c_str());
  }
  return valid;
}

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
