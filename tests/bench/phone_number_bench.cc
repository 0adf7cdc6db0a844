// Microbenchmarks of phone parsing: what every SendPhoneCode and
// UpdatePhoneVerification does to its number (ParsePhoneNumber), and what
// GetProfile does to the stored one (ParseE164). Repeated inputs hit the
// parse cache; BM_ParseDistinct measures libphonenumber itself.
#include <cstdint>
#include <string>

#include "absl/strings/str_format.h"

#include "benchmark/benchmark.h"
#include "tests/bench/bench_main.h"
#include "server/phone/phone_number.h"

namespace profile {
namespace {

void Parse(benchmark::State& state, const char* country_code,
           const char* number) {
  for (auto _ : state) {
    absl::StatusOr<PhoneNumber> phone =
        ParsePhoneNumber(country_code, number, "new_phone_number");
    if (!phone.ok()) {
      state.SkipWithError("ParsePhoneNumber failed");
      break;
    }
    benchmark::DoNotOptimize(phone);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(Parse, cn_mobile, "+86", "13800138000");
BENCHMARK_CAPTURE(Parse, cn_mobile_typed, "+86", "138 0013-8000");
BENCHMARK_CAPTURE(Parse, us_national, "+1", "(415) 555-0100");
BENCHMARK_CAPTURE(Parse, gb_trunk_prefix, "+44", "07400 123456");

// Distinct numbers, each parsed once: what libphonenumber itself costs
// (the cache only ever misses).
void BM_ParseDistinct(benchmark::State& state) {
  int64_t n = 0;
  for (auto _ : state) {
    const std::string number = absl::StrFormat("135%08d", n++ % 100000000);
    absl::StatusOr<PhoneNumber> phone =
        ParsePhoneNumber("+86", number, "new_phone_number");
    if (!phone.ok()) {
      state.SkipWithError("ParsePhoneNumber failed");
      break;
    }
    benchmark::DoNotOptimize(phone);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseDistinct);

void BM_ParseInvalid(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        ParsePhoneNumber("+86", "12345", "new_phone_number"));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseInvalid);

void BM_ParseE164(benchmark::State& state) {
  for (auto _ : state) {
    absl::StatusOr<PhoneNumber> phone = ParseE164("+8613800138000");
    if (!phone.ok()) {
      state.SkipWithError("ParseE164 failed");
      break;
    }
    benchmark::DoNotOptimize(phone);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseE164);

}  // namespace
}  // namespace profile

PROFILE_BENCHMARK_MAIN();
