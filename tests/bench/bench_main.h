// The main() of the microbenchmarks: Google Benchmark's, after turning off
// Abseil's mutex deadlock detection as profile_server does (Debian builds
// Abseil with it on, which makes every absl::Mutex lock take one global
// lock). Pass --mutex_deadlock_detection to measure with it on.
#ifndef PROFILE_TESTS_BENCH_BENCH_MAIN_H_
#define PROFILE_TESTS_BENCH_BENCH_MAIN_H_

#include <cstring>

#include "absl/synchronization/mutex.h"
#include "benchmark/benchmark.h"

#define PROFILE_BENCHMARK_MAIN()                                          \
  int main(int argc, char** argv) {                                       \
    bool detect = false;                                                  \
    int kept = 1;                                                         \
    for (int i = 1; i < argc; ++i) {                                      \
      if (std::strcmp(argv[i], "--mutex_deadlock_detection") == 0) {      \
        detect = true;                                                    \
      } else {                                                            \
        argv[kept++] = argv[i];                                           \
      }                                                                   \
    }                                                                     \
    argc = kept;                                                          \
    if (!detect) {                                                        \
      absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore); \
    }                                                                     \
    benchmark::Initialize(&argc, argv);                                   \
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;     \
    benchmark::RunSpecifiedBenchmarks();                                  \
    benchmark::Shutdown();                                                \
    return 0;                                                             \
  }                                                                       \
  static_assert(true, "")

#endif  // PROFILE_TESTS_BENCH_BENCH_MAIN_H_
