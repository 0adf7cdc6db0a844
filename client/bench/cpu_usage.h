// CPU time of the processes named by --cpu_pids, read from /proc: the time
// each process (with its children: a PostgreSQL postmaster's backends)
// spends per operation hardly moves when other work shares the machine,
// unlike throughput.
//
//   absl::StatusOr<std::vector<CpuProcess>> processes =
//       ParseCpuPids("server=1234,postgres=1240");
//   const int64_t before = TreeTicks((*processes)[0].pid);
//   ... load ...
//   const double us = (TreeTicks((*processes)[0].pid) - before) *
//                     MicrosPerTick();
//
// Thread-safety: plain functions, safe anywhere.
#ifndef PROFILE_CLIENT_BENCH_CPU_USAGE_H_
#define PROFILE_CLIENT_BENCH_CPU_USAGE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace profile::bench {

// A process whose CPU time is sampled, with its direct children.
struct CpuProcess {
  std::string label;
  int pid = 0;
};

// Parses --cpu_pids: "label=pid[,label=pid...]", or "" for none. Returns
// INVALID_ARGUMENT if it is malformed.
absl::StatusOr<std::vector<CpuProcess>> ParseCpuPids(absl::string_view text);

// Returns the CPU time (user + system) of `pid` and of its direct children
// (the children of every thread), in clock ticks; a process that is gone
// counts 0.
int64_t TreeTicks(int pid);

// Returns the length of a clock tick in microseconds.
double MicrosPerTick();

}  // namespace profile::bench

#endif  // PROFILE_CLIENT_BENCH_CPU_USAGE_H_
