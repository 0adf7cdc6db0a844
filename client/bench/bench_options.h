// BenchOptions: everything profile_bench was asked to do, read once from its
// flags in main and handed by const reference to the pieces that need it.
//
//   BenchOptions options;
//   options.target = "127.0.0.1:50051";
//   options.scenario = "verify";
//   options.compare = true;
//
// The fields hold the flags' values as given: where a count must be at
// least 1 (in_flight, channels, rounds, users), the code that uses it
// clamps it, and the printed figures show the value as given.
//
// Thread-safety: a plain struct; safe to read from any number of threads
// once filled.
#ifndef PROFILE_CLIENT_BENCH_BENCH_OPTIONS_H_
#define PROFILE_CLIENT_BENCH_BENCH_OPTIONS_H_

#include <algorithm>
#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace profile::bench {

struct BenchOptions {
  // host:port of the server.
  std::string target = "127.0.0.1:50051";
  // health, get, verify, flow or send.
  std::string scenario = "health";
  // Measured time of each phase, after `warmup` of unmeasured load.
  absl::Duration duration = absl::Seconds(10);
  absl::Duration warmup = absl::Seconds(2);
  // Operations kept in flight, over `channels` TCP connections.
  int32_t in_flight = 64;
  int32_t channels = 4;
  // Alternate the health baseline and `scenario`, `rounds` times.
  bool compare = false;
  int32_t rounds = 3;
  // One JSON object per phase and one for the summary, instead of text.
  bool json = false;
  // Distinct users of verify.
  int32_t users = 10000;
  // Distinct users of flow and get, each owning two test numbers.
  int32_t flow_users = 1024;
  // The code of the test numbers.
  std::string pass_code = "246810";
  // Send x-request-id as a gateway would (else the server makes one).
  bool send_request_id = false;
  // Deadline of each call.
  absl::Duration timeout = absl::Seconds(10);
  // label=pid,...: processes whose CPU time per operation is printed
  // (parsed by ParseCpuPids()).
  std::string cpu_pids;
};

// Returns the number of chains of calls, each with one operation in flight
// at a time: --in_flight, at least 1.
inline int ChainCount(const BenchOptions& options) {
  return std::max(1, options.in_flight);
}

}  // namespace profile::bench

#endif  // PROFILE_CLIENT_BENCH_BENCH_OPTIONS_H_
