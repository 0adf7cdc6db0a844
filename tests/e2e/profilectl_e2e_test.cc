// profilectl against the real profile_server binary: mutual TLS with a
// client certificate, JWT identity from --bearer_token_file and
// $PROFILE_BEARER_TOKEN, --idempotency_key, `revert` with the token of the
// notice texted to the old phone, and its output, which must be
// byte for byte what grpcurl prints for the same response (jsonpb with
// Indent "  ": names from the descriptors, zero values left out, Go's
// string escaping).
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>

#include <fstream>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/server_process.h"
#include "tests/testing/test_crypto.h"

namespace profile {
namespace {

using ::profile::testing::ReadFileOrDie;
using ::profile::testing::ServerProcess;
using ::profile::testing::SignJwt;
using ::profile::testing::TestDir;
using ::profile::testing::TestPki;
using ::testing::AllOf;
using ::testing::Ge;
using ::testing::HasSubstr;
using ::testing::Le;
using ::testing::MatchesRegex;
using ::testing::Not;

const char kServer[] = PROFILE_SERVER_BINARY;
const char kCtl[] = PROFILECTL_BINARY;
constexpr char kTestPhone[] = "+8613800138000";
constexpr char kTestCode[] = "246810";
// A second test number, for an account that moves between two.
constexpr char kOtherTestPhone[] = "+8613800138001";
constexpr char kOtherTestCode[] = "135790";

struct CtlResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs profilectl with `args` (and `env`, NAME=value, added to the
// environment); returns its exit code, stdout and stderr.
CtlResult RunCtl(const TestDir& dir, const std::vector<std::string>& args,
                 const std::vector<std::string>& env = {}) {
  std::vector<std::string> words;
  // An empty bearer token unless the test gives one.
  words.push_back("env -u PROFILE_BEARER_TOKEN");
  for (const std::string& e : env) words.push_back("'" + e + "'");
  words.push_back(kCtl);
  for (const std::string& arg : args) words.push_back("'" + arg + "'");
  const std::string err_file = dir.path() + "/profilectl.err";
  const std::string command =
      absl::StrCat(absl::StrJoin(words, " "), " 2>", err_file);
  CtlResult result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    result.out.append(buffer, n);
  }
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(err_file);
  result.err.assign(std::istreambuf_iterator<char>(in),
                    std::istreambuf_iterator<char>());
  return result;
}

nlohmann::json Claims(const std::string& sub) {
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  return {{"sub", sub},
          {"iss", "https://login.example.com/"},
          {"aud", "profile-service"},
          {"iat", now},
          {"exp", now + 300}};
}

class ProfilectlE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TestDir();
    pki_ = new TestPki(testing::MakeTestPki(dir_->path()));
  }
  static void TearDownTestSuite() {
    delete pki_;
    delete dir_;
  }

  std::string Target(const ServerProcess& server) const {
    return absl::StrCat("--target=127.0.0.1:", server.port());
  }

  std::vector<std::string> MutualTlsServerFlags() const {
    return {"--tls_cert_file=" + pki_->server_cert,
            "--tls_key_file=" + pki_->server_key,
            "--tls_client_ca_file=" + pki_->ca_cert,
            absl::StrCat("--test_phone_codes=", kTestPhone, ":", kTestCode),
            "--sms_sender=outbox:" + outbox_};
  }

  std::vector<std::string> ClientCertFlags() const {
    return {"--tls_ca_file=" + pki_->ca_cert,
            "--tls_cert_file=" + pki_->client_cert,
            "--tls_key_file=" + pki_->client_key};
  }

  std::vector<std::string> With(std::vector<std::string> flags,
                                const std::vector<std::string>& more) {
    flags.insert(flags.end(), more.begin(), more.end());
    return flags;
  }

  // Returns the first line of the outbox whose `type` is `type`, waiting
  // up to 10 s for the relay that delivers notices; null if none came.
  nlohmann::json WaitForOutbox(const std::string& type) const {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    do {
      std::ifstream in(outbox_);
      for (std::string line; std::getline(in, line);) {
        nlohmann::json parsed = nlohmann::json::parse(
            line, /*cb=*/nullptr, /*allow_exceptions=*/false);
        if (parsed.is_object() && parsed.value("type", "") == type) {
          return parsed;
        }
      }
      absl::SleepFor(absl::Milliseconds(20));
    } while (absl::Now() < deadline);
    return nullptr;
  }

  int OutboxLines() const {
    std::ifstream in(outbox_);
    int lines = 0;
    for (std::string line; std::getline(in, line);) ++lines;
    return lines;
  }

  static TestDir* dir_;
  static TestPki* pki_;
  TestDir scratch_;
  const std::string outbox_ = scratch_.path() + "/outbox.jsonl";
};

TestDir* ProfilectlE2eTest::dir_ = nullptr;
TestPki* ProfilectlE2eTest::pki_ = nullptr;

TEST_F(ProfilectlE2eTest, MutualTlsFlowPrintsWhatGrpcurlPrints) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(kServer, MutualTlsServerFlags())) << server.log();
  const std::vector<std::string> tls = With(ClientCertFlags(), {Target(server)});

  CtlResult got = RunCtl(scratch_, With(tls, {"--user_id=alice",
                                              "--request_id=req-1", "get"}));
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.out,
            "{\n"
            "  \"statusCode\": 200,\n"
            "  \"message\": \"success\",\n"
            "  \"requestId\": \"req-1\",\n"
            "  \"data\": {\n"
            "    \"userId\": \"alice\"\n"
            "  }\n"
            "}\n");
  EXPECT_EQ(got.err, "");

  got = RunCtl(scratch_, With(tls, {"--user_id=alice", "--request_id=req-2",
                                    "--idempotency_key=flow-1", "send-code",
                                    "+86", "138 0013 8000", "new"}));
  ASSERT_EQ(got.exit_code, 0) << got.err;
  // A test number: no SMS, so no resendAfter (zero is left out).
  EXPECT_EQ(got.out,
            "{\n"
            "  \"statusCode\": 200,\n"
            "  \"message\": \"success\",\n"
            "  \"requestId\": \"req-2\",\n"
            "  \"data\": {\n"
            "    \"expiresIn\": 300\n"
            "  }\n"
            "}\n");

  got = RunCtl(scratch_, With(tls, {"--user_id=alice", "--request_id=req-3",
                                    "verify", "+86", "13800138000",
                                    kTestCode}));
  ASSERT_EQ(got.exit_code, 0) << got.err;
  std::smatch match;
  ASSERT_TRUE(std::regex_match(
      got.out, match,
      std::regex("\\{\n"
                 "  \"statusCode\": 200,\n"
                 "  \"message\": \"success\",\n"
                 "  \"requestId\": \"req-3\",\n"
                 "  \"data\": \\{\n"
                 "    \"updatePhoneToken\": \"([A-Za-z0-9_-]{43})\",\n"
                 "    \"tokenExpiresIn\": 60\n"
                 "  \\}\n"
                 "\\}\n")))
      << got.out;
  const std::string token = match[1];

  // Spent, then retried: the same answer both times.
  for (int attempt = 0; attempt < 2; ++attempt) {
    got = RunCtl(scratch_, With(tls, {"--user_id=alice", "--request_id=req-4",
                                      "--lang=zh-CN", "update", "--",
                                      token}));
    ASSERT_EQ(got.exit_code, 0) << got.err;
    EXPECT_EQ(got.out,
              "{\n"
              "  \"statusCode\": 200,\n"
              "  \"message\": \"操作成功\",\n"
              "  \"requestId\": \"req-4\"\n"
              "}\n");
  }

  got = RunCtl(scratch_, With(tls, {"--user_id=alice", "--request_id=req-5",
                                    "get"}));
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.out,
            "{\n"
            "  \"statusCode\": 200,\n"
            "  \"message\": \"success\",\n"
            "  \"requestId\": \"req-5\",\n"
            "  \"data\": {\n"
            "    \"userId\": \"alice\",\n"
            "    \"phoneCountryCode\": \"+86\",\n"
            "    \"phoneNumber\": \"13800138000\",\n"
            "    \"phoneE164\": \"+8613800138000\"\n"
            "  }\n"
            "}\n");

  // Go's encoding/json escapes <, > and & (grpcurl prints through it).
  got = RunCtl(scratch_, With(tls, {"--user_id=<a&b>", "--request_id=req-6",
                                    "get"}));
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_THAT(got.out,
              HasSubstr("    \"userId\": \"\\u003ca\\u0026b\\u003e\"\n"));
  EXPECT_EQ(server.Stop(SIGTERM), 0);
}

TEST_F(ProfilectlE2eTest, MutualTlsWithoutAClientCertificateFails) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(kServer, MutualTlsServerFlags())) << server.log();
  CtlResult got = RunCtl(
      scratch_, {"--tls_ca_file=" + pki_->ca_cert, Target(server),
                 "--user_id=alice", "--timeout=2s", "get"});
  EXPECT_EQ(got.exit_code, 1);
  EXPECT_EQ(got.out, "");
  EXPECT_THAT(got.err, HasSubstr("error: UNAVAILABLE"));

  // A certificate without its key is a usage error.
  got = RunCtl(scratch_, {"--tls_ca_file=" + pki_->ca_cert,
                          "--tls_cert_file=" + pki_->client_cert,
                          Target(server), "--user_id=alice", "get"});
  EXPECT_EQ(got.exit_code, 1);
  EXPECT_THAT(got.err, HasSubstr("--tls_cert_file and --tls_key_file"));
  EXPECT_EQ(server.Stop(SIGTERM), 0);
}

TEST_F(ProfilectlE2eTest, IdempotencyKeyReplaysAcrossRuns) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(kServer, MutualTlsServerFlags())) << server.log();
  const std::vector<std::string> send =
      With(ClientCertFlags(), {Target(server), "--user_id=bob",
                               "--request_id=send-1", "--idempotency_key=k-1",
                               "send-code", "+86", "13800138001", "new"});
  const std::string expected =
      "{\n"
      "  \"statusCode\": 200,\n"
      "  \"message\": \"success\",\n"
      "  \"requestId\": \"send-1\",\n"
      "  \"data\": {\n"
      "    \"expiresIn\": 300,\n"
      "    \"resendAfter\": 60\n"
      "  }\n"
      "}\n";
  for (int run = 0; run < 2; ++run) {
    CtlResult got = RunCtl(scratch_, send);
    ASSERT_EQ(got.exit_code, 0) << got.err;
    EXPECT_EQ(got.out, expected);
  }
  EXPECT_EQ(OutboxLines(), 1);

  // The key with another number.
  CtlResult got = RunCtl(
      scratch_, With(ClientCertFlags(),
                     {Target(server), "--user_id=bob", "--request_id=send-2",
                      "--idempotency_key=k-1", "send-code", "+86",
                      "13800138002", "new"}));
  EXPECT_EQ(got.exit_code, 1);
  EXPECT_EQ(got.err,
            "error: INVALID_ARGUMENT (api code 1004): the x-idempotency-key "
            "was already used with a different request [request id send-2]\n");

  got = RunCtl(scratch_,
               With(ClientCertFlags(),
                    {Target(server), "--user_id=bob", "--request_id=send-3",
                     "--idempotency_key=not/valid", "send-code", "+86",
                     "13800138002", "new"}));
  EXPECT_EQ(got.exit_code, 1);
  EXPECT_THAT(got.err, HasSubstr("INVALID_ARGUMENT (api code 1001): "
                                 "x-idempotency-key"));
  EXPECT_EQ(OutboxLines(), 1);
  EXPECT_EQ(server.Stop(SIGTERM), 0);
}

TEST_F(ProfilectlE2eTest, BearerTokenFromFileOrEnvironment) {
  testing::KeyPair key =
      testing::MakeKeyPair(scratch_.path(), "es", "EC:P-256");
  ServerProcess server;
  ASSERT_TRUE(server.Start(kServer, {"--auth=jwt",
                                     "--jwt_public_key_file=" + key.public_file,
                                     "--jwt_issuer=https://login.example.com/",
                                     "--jwt_audience=profile-service"}))
      << server.log();
  const std::string jwt = SignJwt("ES256", key.private_pem, Claims("carol"));
  const std::string jwt_file = scratch_.path() + "/jwt.txt";
  std::ofstream(jwt_file) << jwt << "\n";
  const std::string expected =
      "{\n"
      "  \"statusCode\": 200,\n"
      "  \"message\": \"success\",\n"
      "  \"requestId\": \"jwt-1\",\n"
      "  \"data\": {\n"
      "    \"userId\": \"carol\"\n"
      "  }\n"
      "}\n";

  CtlResult got = RunCtl(scratch_, {Target(server), "--request_id=jwt-1",
                                    "--bearer_token_file=" + jwt_file, "get"});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.out, expected);

  got = RunCtl(scratch_, {Target(server), "--request_id=jwt-1", "get"},
               {"PROFILE_BEARER_TOKEN=" + jwt});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.out, expected);

  // The JWT's sub wins over --user_id, as over any x-user-id.
  got = RunCtl(scratch_, {Target(server), "--request_id=jwt-1",
                          "--user_id=mallory", "get"},
               {"PROFILE_BEARER_TOKEN=" + jwt});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.out, expected);

  // No token: refused, and profilectl says why without echoing anything.
  got = RunCtl(scratch_, {Target(server), "--user_id=carol", "get"});
  EXPECT_EQ(got.exit_code, 1);
  EXPECT_THAT(got.err, HasSubstr("error: UNAUTHENTICATED (api code 1000)"));
  got = RunCtl(scratch_, {Target(server), "get"});
  EXPECT_EQ(got.exit_code, 2);
  EXPECT_THAT(got.err, HasSubstr("--user_id is required"));
  const std::string bad_token = SignJwt("ES256", key.private_pem, Claims(""));
  got = RunCtl(scratch_, {Target(server), "get"},
               {"PROFILE_BEARER_TOKEN=" + bad_token});
  EXPECT_EQ(got.exit_code, 1);
  EXPECT_THAT(got.err, Not(HasSubstr(bad_token)));
  EXPECT_EQ(server.Stop(SIGTERM), 0);
  EXPECT_THAT(server.log(), Not(HasSubstr(jwt)));
}

TEST_F(ProfilectlE2eTest, RevertUndoesAChangeOnceAndLocksTheAccount) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(
      kServer, {absl::StrCat("--test_phone_codes=", kTestPhone, ":", kTestCode,
                             ",", kOtherTestPhone, ":", kOtherTestCode),
                "--sms_sender=outbox:" + outbox_}))
      << server.log();
  const std::string target = Target(server);

  // dave binds the first number, then moves to the second, proving both
  // (--verify_old_phone is on by default). Test numbers have fixed codes.
  CtlResult got = RunCtl(scratch_, {target, "--user_id=dave", "verify", "+86",
                                    "13800138000", kTestCode});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  std::smatch match;
  const std::regex token_line("[\\s\\S]*\"updatePhoneToken\": "
                              "\"([A-Za-z0-9_-]{43})\"[\\s\\S]*");
  ASSERT_TRUE(std::regex_match(got.out, match, token_line)) << got.out;
  // Tokens are base64url: one in 64 starts with "-", which only "--" keeps
  // from reading as a flag.
  got = RunCtl(scratch_, {target, "--user_id=dave", "update", "--", match[1]});
  ASSERT_EQ(got.exit_code, 0) << got.err;

  got = RunCtl(scratch_, {target, "--user_id=dave", "verify", "+86",
                          "13800138001", kOtherTestCode, "+86", "13800138000",
                          kTestCode});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  ASSERT_TRUE(std::regex_match(got.out, match, token_line)) << got.out;
  got = RunCtl(scratch_, {target, "--user_id=dave", "update", "--", match[1]});
  ASSERT_EQ(got.exit_code, 0) << got.err;

  // The first number is told, with the token that undoes the change.
  const nlohmann::json notice = WaitForOutbox("phone_changed_notice");
  ASSERT_TRUE(notice.is_object()) << "no phone_changed_notice in the outbox\n"
                                  << server.log();
  EXPECT_EQ(notice.value("phone_e164", ""), kTestPhone);
  // Whole seconds left of --revert_window (168h) when the relay sent it.
  EXPECT_THAT(notice.value("revert_expires_in", 0),
              AllOf(Ge(168 * 3600 - 10), Le(168 * 3600)));
  const std::string revert_token = notice.value("revert_token", "");
  ASSERT_TRUE(std::regex_match(revert_token, std::regex("[A-Za-z0-9_-]{43}")))
      << notice.dump();
  EXPECT_EQ(notice.value("text", ""),
            "Profile: the phone of your account was changed to "
            "+86*******8001 and this number was unlinked. If this was not "
            "you, undo it within 7 days with the revert token " +
                revert_token);

  // No --user_id: the token is the proof.
  got = RunCtl(scratch_, {target, "--request_id=rev-1", "revert", "--",
                          revert_token});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.out,
            "{\n"
            "  \"statusCode\": 200,\n"
            "  \"message\": \"success\",\n"
            "  \"requestId\": \"rev-1\"\n"
            "}\n");
  EXPECT_EQ(got.err, "");

  got = RunCtl(scratch_, {target, "--user_id=dave", "--request_id=get-1",
                          "get"});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.out,
            "{\n"
            "  \"statusCode\": 200,\n"
            "  \"message\": \"success\",\n"
            "  \"requestId\": \"get-1\",\n"
            "  \"data\": {\n"
            "    \"userId\": \"dave\",\n"
            "    \"phoneCountryCode\": \"+86\",\n"
            "    \"phoneNumber\": \"13800138000\",\n"
            "    \"phoneE164\": \"+8613800138000\"\n"
            "  }\n"
            "}\n");

  // The number the revert removed is told too, without a token.
  const nlohmann::json unlinked = WaitForOutbox("phone_unlinked_notice");
  ASSERT_TRUE(unlinked.is_object()) << server.log();
  EXPECT_EQ(unlinked.value("phone_e164", ""), kOtherTestPhone);
  EXPECT_FALSE(unlinked.contains("revert_token")) << unlinked.dump();

  // Single use.
  got = RunCtl(scratch_, {target, "--request_id=rev-2", "revert", "--",
                          revert_token});
  EXPECT_EQ(got.exit_code, 1);
  EXPECT_EQ(got.out, "");
  EXPECT_EQ(got.err,
            "error: NOT_FOUND (api code 2320): the revert token is unknown, "
            "expired or used [request id rev-2]\n");

  got = RunCtl(scratch_, {target, "--request_id=rev-3", "revert",
                          "not-a-token"});
  EXPECT_EQ(got.exit_code, 1);
  EXPECT_EQ(got.out, "");
  EXPECT_EQ(got.err,
            "error: INVALID_ARGUMENT (api code 1001): revert_token: is not a "
            "revert token from a phone-change notice [request id rev-3]\n");

  got = RunCtl(scratch_, {target, "revert"});
  EXPECT_EQ(got.exit_code, 2);
  EXPECT_THAT(got.err, HasSubstr("revert takes 1 argument"));

  // dave's phone changes are locked now (--change_lock_after_revert, 24h).
  got = RunCtl(scratch_, {target, "--user_id=dave", "--request_id=chg-1",
                          "verify", "+86", "13800138001", kOtherTestCode,
                          "+86", "13800138000", kTestCode});
  EXPECT_EQ(got.exit_code, 1);
  EXPECT_EQ(got.out, "");
  EXPECT_THAT(got.err,
              MatchesRegex("error: FAILED_PRECONDITION \\(api code 2330\\): "
                           "phone changes of this account are locked after a "
                           "revert until "
                           "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z "
                           "\\[request id chg-1\\]\n"));
  EXPECT_EQ(server.Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace profile
