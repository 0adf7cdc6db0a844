#include "client/bench/runner.h"

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace profile::bench {
namespace {

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

}  // namespace

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

}  // namespace profile::bench
