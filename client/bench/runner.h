// Runner: drives a Scenario with ChainCount(options) operations in flight,
// measures phases of --warmup then --duration, and prints each phase, as
// text or --json, and the summary of --compare.
//
//   Runner runner(options, std::move(cpu_processes));
//   bool valid = options.compare ? runner.Compare(*health, *scenario)
//                                : runner.RunOnce(*scenario);
//
// Every error, warm-up included, makes a phase invalid: the figures of a
// run with failed calls are not to be trusted.
//
// Thread-safety: call one method at a time, from one thread; the
// operations themselves end on gRPC's threads.
#ifndef PROFILE_CLIENT_BENCH_RUNNER_H_
#define PROFILE_CLIENT_BENCH_RUNNER_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "client/bench/bench_options.h"
#include "client/bench/cpu_usage.h"
#include "client/bench/scenario.h"

namespace profile::bench {

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

}  // namespace profile::bench

#endif  // PROFILE_CLIENT_BENCH_RUNNER_H_
