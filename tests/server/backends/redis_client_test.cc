#include "server/backends/redis_client.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/base/attributes.h"
#include "gtest/gtest.h"

namespace profile {
namespace {

// Constant-initialized like the stores' scripts: no work before main().
ABSL_CONST_INIT const RedisScript kReturnOne("return 1");

// Redis names a script by the SHA-1 of its text (EVALSHA); a wrong digest
// would not fail a call, it would make every call a NOSCRIPT round trip
// followed by a full EVAL. The expected values are `printf ... | sha1sum`.
TEST(RedisScriptTest, Sha1IsTheDigestOfTheSource) {
  EXPECT_EQ(kReturnOne.source(), "return 1");
  EXPECT_EQ(kReturnOne.sha1(), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
  const RedisScript empty("");
  EXPECT_EQ(empty.sha1(), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}

TEST(RedisScriptTest, FirstUseFromManyThreadsAgrees) {
  const RedisScript script("return redis.call('INCR', KEYS[1])");
  std::vector<std::string> seen(8);
  std::vector<std::thread> threads;
  for (std::string& out : seen) {
    threads.emplace_back([&script, &out] { out = std::string(script.sha1()); });
  }
  for (std::thread& thread : threads) thread.join();
  for (const std::string& sha1 : seen) {
    EXPECT_EQ(sha1, "61636018f4e6b5817b89791bbed242f93fa089e3");
  }
}

}  // namespace
}  // namespace profile
