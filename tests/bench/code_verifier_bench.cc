// Microbenchmarks of the code validators: the stored-code validator (the
// HMAC digest of a typed code, checked against the in-memory CodeStore and
// used up), and the chain a verification goes through for a test number.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "tests/bench/bench_main.h"
#include "server/codes/code_store.h"
#include "server/codes/code_verifier.h"
#include "server/codes/local_code_verifier.h"
#include "server/codes/test_number_verifier.h"
#include "server/common/clock.h"
#include "server/common/crypto.h"
#include "server/sms/log_sms_sender.h"

namespace profile {
namespace {

// The local verifier over `store`. The benchmarks only check and consume
// codes, so its sender (the log) never runs.
std::unique_ptr<CodeVerifier> LocalVerifier(CodeStore* store,
                                            std::string secret) {
  static SmsSender* const sms = NewLogSmsSender().release();
  LocalCodeVerifierOptions options;
  options.secret = std::move(secret);
  return NewLocalCodeVerifier(options, SystemClock(), store, sms);
}

constexpr int kPhones = 1 << 12;

std::vector<CodeKey> Keys() {
  std::vector<CodeKey> keys;
  for (int i = 0; i < kPhones; ++i) {
    keys.push_back({absl::StrFormat("+86138%08d", i), CodePurpose::kNewPhone});
  }
  return keys;
}

// Check() of the right code: one HMAC and one store lookup.
void BM_StoredCheck(benchmark::State& state) {
  auto store = NewInMemoryCodeStore(SystemClock(), {1000000, absl::ZeroDuration()});
  const std::string secret = RandomBytes(32);
  auto validator = LocalVerifier(store.get(), secret);
  const std::vector<CodeKey> keys = Keys();
  const absl::Time expires_at = absl::Now() + absl::Hours(1);
  for (const CodeKey& key : keys) {
    store->Put(key, CodeDigest(secret, key, "246810"), expires_at, 5)
        .IgnoreError();
  }
  size_t i = 0;
  for (auto _ : state) {
    absl::Status status = validator->Check(keys[i++ & (kPhones - 1)], "246810");
    if (!status.ok()) {
      state.SkipWithError("Check failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StoredCheck);

// What a texted code goes through from SendPhoneCode to a verification:
// Put(), Check(), Consume().
void BM_StoredPutCheckConsume(benchmark::State& state) {
  auto store = NewInMemoryCodeStore(SystemClock(), {1000000, absl::ZeroDuration()});
  const std::string secret = RandomBytes(32);
  auto validator = LocalVerifier(store.get(), secret);
  const std::vector<CodeKey> keys = Keys();
  const absl::Time expires_at = absl::Now() + absl::Hours(1);
  size_t i = 0;
  for (auto _ : state) {
    const CodeKey& key = keys[i++ & (kPhones - 1)];
    absl::Status status =
        store->Put(key, CodeDigest(secret, key, "246810"), expires_at, 5);
    if (status.ok()) status = validator->Check(key, "246810");
    if (status.ok()) status = validator->Consume(key, "246810");
    if (!status.ok()) {
      state.SkipWithError("Put/Check/Consume failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StoredPutCheckConsume);

// The server's chain (test numbers first, then stored codes) deciding a
// test number: Check() and Consume() as Verify() calls them.
void BM_ChainTestNumber(benchmark::State& state) {
  auto store = NewInMemoryCodeStore(SystemClock(), {1000000, absl::ZeroDuration()});
  absl::flat_hash_map<std::string, std::string> test_codes;
  for (int i = 0; i < 2049; ++i) {
    test_codes.emplace(absl::StrFormat("+86139%08d", i), "246810");
  }
  std::vector<std::unique_ptr<CodeVerifier>> chain;
  chain.push_back(NewTestNumberVerifier(std::move(test_codes)));
  chain.push_back(LocalVerifier(store.get(), RandomBytes(32)));
  auto validator = NewCodeVerifierChain(std::move(chain));
  const CodeKey key{"+8613900000007", CodePurpose::kNewPhone, "u1"};
  for (auto _ : state) {
    absl::Status status = validator->Check(key, "246810");
    if (status.ok()) status = validator->Consume(key, "246810");
    if (!status.ok()) {
      state.SkipWithError("Check/Consume failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ChainTestNumber);

// CodeDigest alone: the HMAC-SHA256 of purpose, phone and code.
void BM_CodeDigest(benchmark::State& state) {
  const std::string secret = RandomBytes(32);
  const CodeKey key{"+8613800138000", CodePurpose::kNewPhone, "u1"};
  for (auto _ : state) {
    benchmark::DoNotOptimize(CodeDigest(secret, key, "246810"));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CodeDigest);

}  // namespace
}  // namespace profile

PROFILE_BENCHMARK_MAIN();
