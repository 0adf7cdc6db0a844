// Microbenchmarks of the in-memory TokenStore: one Issue() and one Take()
// per iteration, as a verification followed by its UpdatePhone does, on one
// and two threads; and the two miss paths of Take() (an unknown token,
// another user's token). Hashes are computed up front: this measures the
// store.
//
//   build/tests/bench/token_store_bench --benchmark_repetitions=5
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "tests/bench/bench_main.h"
#include "server/common/clock.h"
#include "server/common/crypto.h"
#include "server/token/token_store.h"

namespace profile {
namespace {

constexpr int kTokensPerThread = 1 << 16;

// What one thread issues and takes: distinct users and token hashes.
struct Work {
  std::vector<std::string> hashes;
  std::vector<TokenGrant> grants;
};

Work MakeWork(int thread, int count) {
  Work work;
  for (int i = 0; i < count; ++i) {
    work.hashes.push_back(Sha256(RandomBytes(32)));
    // 24-character user ids, like an identity platform's.
    work.grants.push_back({absl::StrFormat("65f1%02d%018d", thread, i),
                           absl::StrFormat("+86139%08d", i),
                           absl::StrFormat("+86138%08d", i)});
  }
  return work;
}

// One store per benchmark run, shared by its threads; `live` tokens of
// other users are issued first, as in a busy server.
std::unique_ptr<TokenStore> store;

void SetUp(const benchmark::State& state) {
  InMemoryTokenStoreOptions options;
  options.max_live_tokens = 2000000;
  options.sweep_interval = absl::ZeroDuration();  // nothing expires here
  store = NewInMemoryTokenStore(SystemClock(), options);
  const absl::Time expires_at = absl::Now() + absl::Hours(1);
  for (int64_t i = 0; i < state.range(0); ++i) {
    TokenGrant grant{absl::StrFormat("65f1ff%018d", i), "",
                     "+8613700000000"};
    store->Issue(Sha256(RandomBytes(32)), grant, expires_at).IgnoreError();
  }
}

void TearDown(const benchmark::State&) { store.reset(); }

// What every benchmark here runs with: a fresh store per run, on one and
// two threads, timed by the wall clock (CPU time of two threads would hide
// contention). The "live" arguments are added per benchmark.
void OnOneAndTwoThreads(benchmark::internal::Benchmark* b) {
  b->ArgName("live")
      ->Setup(SetUp)
      ->Teardown(TearDown)
      ->Threads(1)
      ->Threads(2)
      ->UseRealTime();
}

void BM_IssueTake(benchmark::State& state) {
  const Work work = MakeWork(state.thread_index(), kTokensPerThread);
  const absl::Time expires_at = absl::Now() + absl::Hours(1);
  size_t i = 0;
  for (auto _ : state) {
    const size_t n = i++ & (kTokensPerThread - 1);
    const TokenGrant& grant = work.grants[n];
    if (!store->Issue(work.hashes[n], grant, expires_at).ok()) {
      state.SkipWithError("Issue failed");
      break;
    }
    absl::StatusOr<TokenGrant> taken = store->Take(work.hashes[n], grant.user_id);
    if (!taken.ok()) {
      state.SkipWithError("Take failed");
      break;
    }
    benchmark::DoNotOptimize(taken);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_IssueTake)->Apply(OnOneAndTwoThreads)->Arg(0)->Arg(100000);

// A verification that replaces the user's previous token (Issue() revokes
// it), without a Take(): the verify scenario.
void BM_IssueReplacing(benchmark::State& state) {
  const Work work = MakeWork(state.thread_index(), kTokensPerThread);
  const absl::Time expires_at = absl::Now() + absl::Hours(1);
  size_t i = 0;
  for (auto _ : state) {
    const size_t n = i++ & (kTokensPerThread - 1);
    // 1024 users per thread, each replacing its own previous token.
    if (!store->Issue(work.hashes[n], work.grants[n & 1023], expires_at).ok()) {
      state.SkipWithError("Issue failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_IssueReplacing)->Apply(OnOneAndTwoThreads)->Arg(0);

// Take() of a token that was never issued, as a client replaying garbage
// does: the miss path, which answers NOT_FOUND.
void BM_TakeUnknown(benchmark::State& state) {
  const Work work = MakeWork(state.thread_index(), kTokensPerThread);
  size_t i = 0;
  for (auto _ : state) {
    const size_t n = i++ & (kTokensPerThread - 1);
    absl::StatusOr<TokenGrant> taken =
        store->Take(work.hashes[n], work.grants[n].user_id);
    if (taken.ok()) {
      state.SkipWithError("Take of an unknown token succeeded");
      break;
    }
    benchmark::DoNotOptimize(taken);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TakeUnknown)->Apply(OnOneAndTwoThreads)->Arg(0)->Arg(100000);

// Take() of another user's live token: the other miss path, which answers
// PERMISSION_DENIED and leaves the token in place.
void BM_TakeOtherUser(benchmark::State& state) {
  constexpr int kOwned = 1024;
  const Work work = MakeWork(state.thread_index(), kOwned);
  const absl::Time expires_at = absl::Now() + absl::Hours(1);
  for (int n = 0; n < kOwned; ++n) {
    if (!store->Issue(work.hashes[n], work.grants[n], expires_at).ok()) {
      state.SkipWithError("Issue failed");
      return;
    }
  }
  size_t i = 0;
  for (auto _ : state) {
    const size_t n = i++ & (kOwned - 1);
    // The next user's id: never the owner's.
    absl::StatusOr<TokenGrant> taken =
        store->Take(work.hashes[n], work.grants[(n + 1) & (kOwned - 1)].user_id);
    if (taken.ok()) {
      state.SkipWithError("Take by another user succeeded");
      break;
    }
    benchmark::DoNotOptimize(taken);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TakeOtherUser)->Apply(OnOneAndTwoThreads)->Arg(0);

}  // namespace
}  // namespace profile

PROFILE_BENCHMARK_MAIN();
