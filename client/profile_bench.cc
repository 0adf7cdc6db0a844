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
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/status/statusor.h"
#include "client/bench/bench_options.h"
#include "client/bench/connections.h"
#include "client/bench/cpu_usage.h"
#include "client/bench/test_numbers.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "profile/v1/profile.grpc.pb.h"

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

using Clock = std::chrono::steady_clock;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             Clock::now().time_since_epoch())
      .count();
}

// What one phase measured.
struct Result {
  std::string scenario;
  int rpcs_per_op = 1;
  double seconds = 0;
  int64_t ops = 0;
  std::vector<uint32_t> latencies_ns;  // sorted
  std::map<std::string, int64_t> errors;
  // Per --cpu_pids entry: CPU microseconds per operation.
  std::vector<std::pair<std::string, double>> cpu_us_per_op;

  double ops_per_second() const { return seconds > 0 ? ops / seconds : 0; }
  double Percentile(double p) const {
    if (latencies_ns.empty()) return 0;
    size_t i = static_cast<size_t>(p * (latencies_ns.size() - 1) + 0.5);
    return latencies_ns[std::min(i, latencies_ns.size() - 1)] / 1000.0;
  }
  bool valid() const { return errors.empty() && ops > 0; }
};

std::string CodeName(grpc::StatusCode code) {
  static const char* const kNames[] = {
      "OK",           "CANCELLED",          "UNKNOWN",
      "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
      "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION", "ABORTED",      "OUT_OF_RANGE",
      "UNIMPLEMENTED", "INTERNAL",          "UNAVAILABLE",
      "DATA_LOSS",    "UNAUTHENTICATED"};
  const int i = static_cast<int>(code);
  return i >= 0 && i < 17 ? kNames[i] : absl::StrCat("CODE_", i);
}

// The state of one user of flow/get: which of its two numbers comes next.
struct FlowUser {
  std::string id;
  int next_number = 0;  // index into FlowNumber()
};

class Bench;

// One chain of calls: at most one operation in flight at a time, so its
// members need no lock (each callback happens after the call it follows).
struct Slot {
  Bench* bench = nullptr;
  int index = 0;

  std::unique_ptr<grpc::ClientContext> context;
  HealthCheckRequest health_request;
  HealthCheckResponse health_response;
  v1::GetProfileRequest get_request;
  v1::GetProfileResponse get_response;
  v1::UpdatePhoneVerificationRequest verify_request;
  v1::UpdatePhoneVerificationResponse verify_response;
  v1::UpdatePhoneRequest update_request;
  v1::CommonResponse update_response;
  v1::SendPhoneCodeRequest send_request;
  v1::SendPhoneCodeResponse send_response;

  int64_t op_start_ns = 0;
  int64_t next_user = 0;        // verify: index into the user pool
  std::vector<FlowUser*> flow;  // flow/get: this slot's users
  size_t next_flow = 0;
  int64_t request_count = 0;

  // Per phase.
  std::vector<uint32_t> latencies_ns;
  std::map<std::string, int64_t> errors;
};

class Bench {
 public:
  Bench(const BenchOptions& options, Connections* connections)
      : options_(options), connections_(connections) {
    const int in_flight = std::max(1, options_.in_flight);
    for (int i = 0; i < in_flight; ++i) {
      auto slot = std::make_unique<Slot>();
      slot->bench = this;
      slot->index = i;
      slot->next_user = i;
      slots_.push_back(std::move(slot));
    }
  }

  // Gives the flow users their numbers and, for get, a phone. Returns an
  // error message, or "" on success.
  std::string PrepareFlowUsers(bool need_phone) {
    if (!flow_users_.empty() && !need_phone) return "";
    const int count = options_.flow_users;
    if (count < static_cast<int>(slots_.size())) {
      return "--flow_users must be at least --in_flight";
    }
    if (flow_users_.empty()) {
      for (int i = 0; i < count; ++i) {
        auto user = std::make_unique<FlowUser>();
        user->id = UserId("65f1b0", i);
        user->next_number = 2 * i;
        flow_users_.push_back(std::move(user));
      }
      // Learn where a previous run left each user.
      for (int i = 0; i < count; ++i) {
        FlowUser& user = *flow_users_[i];
        v1::GetProfileResponse response;
        grpc::Status status = connections_->profile(0)->GetProfile(
            connections_->NewContext(user.id).get(), v1::GetProfileRequest(),
            &response);
        if (!status.ok()) {
          return absl::StrCat("GetProfile of ", user.id, ": ",
                              status.error_message());
        }
        const std::string& number = response.data().phone_number();
        if (number == FlowNumber(2 * i)) {
          user.next_number = 2 * i + 1;
        } else if (!number.empty() && number != FlowNumber(2 * i + 1)) {
          return absl::StrCat(user.id, " has an unexpected phone ", number);
        }
      }
      for (size_t i = 0; i < flow_users_.size(); ++i) {
        slots_[i % slots_.size()]->flow.push_back(flow_users_[i].get());
      }
    }
    if (need_phone) {
      for (auto& user : flow_users_) {
        if (user->next_number % 2 == 1) continue;  // has number 2i already
        if (std::string error = SyncFlow(*user); !error.empty()) return error;
      }
    }
    return "";
  }

  // Runs `scenario` for --warmup then --duration and returns what it
  // measured.
  Result Run(const std::string& scenario) {
    const int64_t warmup_ns = absl::ToInt64Nanoseconds(options_.warmup);
    const int64_t duration_ns = absl::ToInt64Nanoseconds(options_.duration);
    scenario_ = scenario;
    const int64_t start = NowNs();
    record_from_ns_ = start + warmup_ns;
    stop_at_ns_ = start + warmup_ns + duration_ns;
    {
      absl::MutexLock lock(&mu_);
      active_ = static_cast<int>(slots_.size());
    }
    for (auto& slot : slots_) {
      slot->latencies_ns.clear();
      slot->latencies_ns.reserve(1 << 16);
      slot->errors.clear();
      StartOp(*slot);
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
    Result result;
    result.scenario = scenario;
    result.rpcs_per_op = scenario == "flow" ? 2 : 1;
    result.seconds = duration_ns / 1e9;
    for (auto& slot : slots_) {
      result.latencies_ns.insert(result.latencies_ns.end(),
                                 slot->latencies_ns.begin(),
                                 slot->latencies_ns.end());
      for (const auto& [code, n] : slot->errors) result.errors[code] += n;
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

  void set_cpu_processes(std::vector<CpuProcess> processes) {
    cpu_processes_ = std::move(processes);
  }

 private:
  void NewContext(Slot& slot, const std::string& user_id) {
    slot.context = connections_->NewContext(user_id);
  }

  // Blocking verify + update, to give a flow user a phone before get.
  std::string SyncFlow(FlowUser& user) {
    v1::UpdatePhoneVerificationRequest verify;
    SetVerification(FlowNumber(user.next_number), options_.pass_code, &verify);
    v1::UpdatePhoneVerificationResponse verified;
    grpc::Status status = connections_->profile(0)->UpdatePhoneVerification(
        connections_->NewContext(user.id).get(), verify, &verified);
    if (!status.ok()) return absl::StrCat("verify: ", status.error_message());
    v1::UpdatePhoneRequest update;
    update.set_update_phone_token(verified.data().update_phone_token());
    v1::CommonResponse updated;
    status = connections_->profile(0)->UpdatePhone(
        connections_->NewContext(user.id).get(), update, &updated);
    if (!status.ok()) return absl::StrCat("update: ", status.error_message());
    user.next_number ^= 1;
    return "";
  }

  void StartOp(Slot& slot) {
    slot.op_start_ns = NowNs();
    if (slot.op_start_ns >= stop_at_ns_) {
      absl::MutexLock lock(&mu_);
      --active_;
      return;
    }
    if (scenario_ == "health") {
      NewContext(slot, "");
      connections_->health(slot.index)->async()->Check(
          slot.context.get(), &slot.health_request, &slot.health_response,
          [this, &slot](grpc::Status status) { EndOp(slot, status); });
    } else if (scenario_ == "get") {
      FlowUser& user = *slot.flow[slot.next_flow++ % slot.flow.size()];
      NewContext(slot, user.id);
      connections_->profile(slot.index)->async()->GetProfile(
          slot.context.get(), &slot.get_request, &slot.get_response,
          [this, &slot](grpc::Status status) { EndOp(slot, status); });
    } else if (scenario_ == "verify") {
      const int64_t users = std::max(1, options_.users);
      NewContext(slot, UserId("65f1a0", slot.next_user % users));
      slot.next_user += static_cast<int64_t>(slots_.size());
      SetVerification(kVerifyNumber, options_.pass_code, &slot.verify_request);
      connections_->profile(slot.index)->async()->UpdatePhoneVerification(
          slot.context.get(), &slot.verify_request, &slot.verify_response,
          [this, &slot](grpc::Status status) { EndOp(slot, status); });
    } else if (scenario_ == "flow") {
      FlowUser& user = *slot.flow[slot.next_flow % slot.flow.size()];
      NewContext(slot, user.id);
      SetVerification(FlowNumber(user.next_number), options_.pass_code,
                      &slot.verify_request);
      connections_->profile(slot.index)->async()->UpdatePhoneVerification(
          slot.context.get(), &slot.verify_request, &slot.verify_response,
          [this, &slot, &user](grpc::Status status) {
            if (!status.ok()) {
              ++slot.next_flow;
              EndOp(slot, status);
              return;
            }
            NewContext(slot, user.id);
            slot.update_request.set_update_phone_token(
                slot.verify_response.data().update_phone_token());
            connections_->profile(slot.index)->async()->UpdatePhone(
                slot.context.get(), &slot.update_request,
                &slot.update_response,
                [this, &slot, &user](grpc::Status status) {
                  if (status.ok()) user.next_number ^= 1;
                  ++slot.next_flow;
                  EndOp(slot, status);
                });
          });
    } else {  // send
      // Distinct numbers and users: this run's tag, the slot, a counter.
      const int64_t n =
          slot.request_count++ * static_cast<int64_t>(slots_.size()) +
          slot.index;
      const uint64_t run_tag = connections_->run_tag();
      NewContext(slot, UserId(absl::StrFormat("%06d", run_tag), n));
      slot.send_request.set_phone_country_code(kCountryCode);
      slot.send_request.set_phone_number(
          absl::StrFormat("138%08d", (run_tag * 7919 + n) % 100000000));
      slot.send_request.set_purpose(v1::PHONE_CODE_PURPOSE_NEW_PHONE);
      connections_->profile(slot.index)->async()->SendPhoneCode(
          slot.context.get(), &slot.send_request, &slot.send_response,
          [this, &slot](grpc::Status status) { EndOp(slot, status); });
    }
  }

  void EndOp(Slot& slot, const grpc::Status& status) {
    const int64_t end = NowNs();
    if (!status.ok()) {
      // Warm-up included: a failure anywhere makes the phase suspect.
      ++slot.errors[CodeName(status.error_code())];
    } else if (slot.op_start_ns >= record_from_ns_ && end <= stop_at_ns_) {
      slot.latencies_ns.push_back(static_cast<uint32_t>(
          std::min<int64_t>(end - slot.op_start_ns, UINT32_MAX)));
    }
    StartOp(slot);
  }

  const BenchOptions& options_;
  Connections* const connections_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<std::unique_ptr<FlowUser>> flow_users_;
  std::vector<CpuProcess> cpu_processes_;
  std::string scenario_;
  std::atomic<int64_t> record_from_ns_{0};
  std::atomic<int64_t> stop_at_ns_{0};
  absl::Mutex mu_;
  int active_ ABSL_GUARDED_BY(mu_) = 0;
};

std::string ErrorsText(const Result& r) {
  std::vector<std::string> parts;
  for (const auto& [code, n] : r.errors) parts.push_back(absl::StrCat(code, "=", n));
  return parts.empty() ? "none" : absl::StrJoin(parts, " ");
}

std::string ErrorsJson(const Result& r) {
  std::vector<std::string> parts;
  for (const auto& [code, n] : r.errors) {
    parts.push_back(absl::StrCat("\"", code, "\":", n));
  }
  return absl::StrCat("{", absl::StrJoin(parts, ","), "}");
}

std::string CpuText(const Result& r) {
  std::string text;
  for (const auto& [label, us] : r.cpu_us_per_op) {
    absl::StrAppend(&text, "  cpu ", label, absl::StrFormat(" %.1f us/op", us));
  }
  return text;
}

std::string CpuJson(const Result& r) {
  std::vector<std::string> parts;
  for (const auto& [label, us] : r.cpu_us_per_op) {
    parts.push_back(absl::StrFormat("\"%s\":%.2f", label, us));
  }
  return absl::StrCat("{", absl::StrJoin(parts, ","), "}");
}

void Print(const BenchOptions& options, const Result& r, int round) {
  if (options.json) {
    std::printf(
        "{\"phase\":\"%s\",\"round\":%d,\"in_flight\":%d,\"channels\":%d,"
        "\"ops\":%" PRId64 ",\"ops_per_second\":%.1f,\"rpcs_per_second\":%.1f,"
        "\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
        "\"cpu_us_per_op\":%s,\"errors\":%s,\"valid\":%s}\n",
        r.scenario.c_str(), round, options.in_flight, options.channels, r.ops, r.ops_per_second(),
        r.ops_per_second() * r.rpcs_per_op, r.Percentile(0.50),
        r.Percentile(0.90), r.Percentile(0.99), r.Percentile(0.999),
        CpuJson(r).c_str(), ErrorsJson(r).c_str(),
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

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
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
  const std::string& scenario = options.scenario;
  if (scenario != "health" && scenario != "get" && scenario != "verify" &&
      scenario != "flow" && scenario != "send") {
    std::fprintf(stderr,
                 "profile_bench: --scenario must be health, get, verify, "
                 "flow or send\n");
    return 2;
  }

  absl::StatusOr<std::vector<CpuProcess>> cpu_processes =
      ParseCpuPids(options.cpu_pids);
  if (!cpu_processes.ok()) {
    std::fprintf(stderr, "profile_bench: %s\n",
                 std::string(cpu_processes.status().message()).c_str());
    return 2;
  }

  Connections connections(options);
  Bench bench(options, &connections);
  bench.set_cpu_processes(*std::move(cpu_processes));
  if (!connections.Connect()) {
    std::fprintf(stderr, "profile_bench: cannot connect to %s\n",
                 options.target.c_str());
    return 1;
  }
  if (scenario == "flow" || scenario == "get") {
    if (std::string error = bench.PrepareFlowUsers(scenario == "get");
        !error.empty()) {
      std::fprintf(stderr,
                   "profile_bench: preparing the flow users: %s (does the "
                   "server have --test_phone_codes from "
                   "--print_test_phone_codes?)\n",
                   error.c_str());
      return 1;
    }
  }

  bool valid = true;
  if (!options.compare) {
    Result r = bench.Run(scenario);
    Print(options, r, 0);
    valid = r.valid();
  } else {
    std::vector<double> ratios, p99_diffs, p50_diffs;
    // Per --cpu_pids entry: CPU per RPC of the scenario over the health
    // check's, by round.
    std::map<std::string, std::vector<double>> cpu_ratios;
    const int rounds = std::max(1, options.rounds);
    for (int round = 1; round <= rounds; ++round) {
      // ABBA: alternate which goes first, so a drift in the machine's load
      // does not favour one side.
      Result health, other;
      if (round % 2 == 1) {
        health = bench.Run("health");
        Print(options, health, round);
        other = bench.Run(scenario);
        Print(options, other, round);
      } else {
        other = bench.Run(scenario);
        Print(options, other, round);
        health = bench.Run("health");
        Print(options, health, round);
      }
      valid = valid && health.valid() && other.valid();
      // A flow is two RPCs: compare its operations with half the baseline.
      ratios.push_back(other.ops_per_second() /
                       (health.ops_per_second() / other.rpcs_per_op));
      p99_diffs.push_back(other.Percentile(0.99) - health.Percentile(0.99));
      p50_diffs.push_back(other.Percentile(0.50) - health.Percentile(0.50));
      for (size_t i = 0; i < other.cpu_us_per_op.size(); ++i) {
        const double base = health.cpu_us_per_op[i].second;
        if (base > 0) {
          cpu_ratios[other.cpu_us_per_op[i].first].push_back(
              other.cpu_us_per_op[i].second / other.rpcs_per_op / base);
        }
      }
    }
    std::string cpu_summary;
    std::vector<std::string> cpu_json;
    for (const auto& [label, by_round] : cpu_ratios) {
      absl::StrAppend(&cpu_summary,
                      absl::StrFormat("; %s CPU per RPC %.2fx health's", label,
                                      Median(by_round)));
      cpu_json.push_back(
          absl::StrFormat("\"%s\":%.3f", label, Median(by_round)));
    }
    const double ratio = Median(ratios);
    if (options.json) {
      std::printf(
          "{\"summary\":\"%s\",\"rounds\":%d,\"ratio\":%.3f,\"ratios\":[%s],"
          "\"p50_diff_us\":%.1f,\"p99_diff_us\":%.1f,"
          "\"cpu_per_rpc_ratio\":{%s},\"valid\":%s}\n",
          scenario.c_str(), rounds, ratio,
          absl::StrJoin(ratios, ",",
                        [](std::string* out, double r) {
                          absl::StrAppend(out, absl::StrFormat("%.3f", r));
                        })
              .c_str(),
          Median(p50_diffs), Median(p99_diffs),
          absl::StrJoin(cpu_json, ",").c_str(), valid ? "true" : "false");
    } else {
      std::printf(
          "%s / %shealth, median of %d rounds: ratio %.3f (rounds: %s); "
          "p50 %+.1f us, p99 %+.1f us%s\n",
          scenario.c_str(), scenario == "flow" ? "half " : "", rounds, ratio,
          absl::StrJoin(ratios, " ",
                        [](std::string* out, double r) {
                          absl::StrAppend(out, absl::StrFormat("%.3f", r));
                        })
              .c_str(),
          Median(p50_diffs), Median(p99_diffs), cpu_summary.c_str());
    }
  }
  if (!valid) {
    std::fprintf(stderr,
                 "profile_bench: some calls failed; the figures above are "
                 "INVALID\n");
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace profile::bench

int main(int argc, char** argv) { return profile::bench::Main(argc, argv); }
