// token_memory: resident memory per live token in the in-memory TokenStore.
//
//   build/tests/bench/token_memory --tokens=1000000
//
// Fills a store through its public API with --tokens live tokens of distinct
// users (24-character ids, an old and a new +86 mobile number: what a
// verification issues) and prints VmRSS before and after, per token. The
// inputs are made one at a time and dropped, so only the store's memory
// stays resident.
#include <malloc.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/common/clock.h"
#include "server/common/crypto.h"
#include "server/token/token_store.h"

ABSL_FLAG(int64_t, tokens, 1000000, "live tokens to hold");
ABSL_FLAG(bool, json, false, "print one JSON object");

namespace profile {
namespace {

// Returns VmRSS of this process in bytes, or -1.
int64_t ResidentBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    absl::string_view rest = line;
    if (absl::ConsumePrefix(&rest, "VmRSS:")) {
      rest = absl::StripSuffix(absl::StripAsciiWhitespace(rest), " kB");
      int64_t kb;
      if (absl::SimpleAtoi(rest, &kb)) return kb * 1024;
    }
  }
  return -1;
}

int Main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int64_t count = absl::GetFlag(FLAGS_tokens);
  // The server's defaults: a million live tokens, swept every second.
  InMemoryTokenStoreOptions options;
  options.max_live_tokens = static_cast<size_t>(std::max<int64_t>(count, 1));
  auto store = NewInMemoryTokenStore(SystemClock(), options);
  const absl::Time expires_at = absl::Now() + absl::Hours(1);
  const int64_t before = ResidentBytes();
  const absl::Time start = absl::Now();
  for (int64_t i = 0; i < count; ++i) {
    absl::Status issued = store->Issue(
        Sha256(RandomBytes(32)),
        {absl::StrFormat("65f1a0%018d", i), absl::StrFormat("+86139%08d", i),
         absl::StrFormat("+86138%08d", i)},
        expires_at);
    if (!issued.ok()) {
      std::fprintf(stderr, "token_memory: Issue %lld failed: %s\n",
                   static_cast<long long>(i),
                   std::string(issued.message()).c_str());
      return 1;
    }
  }
  const absl::Duration fill = absl::Now() - start;
  const int64_t after = ResidentBytes();
  malloc_trim(0);
  const int64_t trimmed = ResidentBytes();
  if (store->Size() != static_cast<size_t>(count) || before < 0 || after < 0) {
    std::fprintf(stderr, "token_memory: the store holds %zu tokens\n",
                 store->Size());
    return 1;
  }
  const double per_token = count > 0 ? double(after - before) / count : 0;
  const double per_token_trimmed =
      count > 0 ? double(trimmed - before) / count : 0;
  if (absl::GetFlag(FLAGS_json)) {
    std::printf(
        "{\"tokens\":%lld,\"rss_before\":%lld,\"rss_after\":%lld,"
        "\"bytes_per_token\":%.1f,\"bytes_per_token_trimmed\":%.1f,"
        "\"fill_seconds\":%.3f}\n",
        static_cast<long long>(count), static_cast<long long>(before),
        static_cast<long long>(after), per_token, per_token_trimmed,
        absl::ToDoubleSeconds(fill));
  } else {
    std::printf(
        "%lld live tokens: VmRSS %.1f MiB -> %.1f MiB: %.1f bytes per token "
        "(%.1f after malloc_trim); filled in %.2f s\n",
        static_cast<long long>(count), before / 1048576.0, after / 1048576.0,
        per_token, per_token_trimmed, absl::ToDoubleSeconds(fill));
  }
  return 0;
}

}  // namespace
}  // namespace profile

int main(int argc, char** argv) { return profile::Main(argc, argv); }
