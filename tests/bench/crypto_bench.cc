// Microbenchmarks of what every call or verification draws from the CSPRNG
// and hashes: an update-phone token and its digest, and a request id.
#include <string>

#include "benchmark/benchmark.h"
#include "tests/bench/bench_main.h"
#include "server/common/crypto.h"
#include "server/service/call_context.h"

namespace profile {
namespace {

// A new token as Verify() makes it: 256 random bits, base64url, SHA-256.
void BM_NewToken(benchmark::State& state) {
  for (auto _ : state) {
    std::string token = Base64UrlEncode(RandomBytes(32));
    benchmark::DoNotOptimize(Sha256(token));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_NewToken)->Threads(1)->Threads(2)->UseRealTime();

void BM_RandomBytes32(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(RandomBytes(32));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RandomBytes32)->Threads(1)->Threads(2)->UseRealTime();

void BM_Sha256Token(benchmark::State& state) {
  const std::string token = Base64UrlEncode(RandomBytes(32));
  for (auto _ : state) benchmark::DoNotOptimize(Sha256(token));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Sha256Token);

// A request id (UUID v4) for a call that brought none.
void BM_NewRequestId(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(NewRequestId());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_NewRequestId)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace
}  // namespace profile

PROFILE_BENCHMARK_MAIN();
