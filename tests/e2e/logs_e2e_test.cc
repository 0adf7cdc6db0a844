// The log of the real profile_server binary through a full flow: every line
// is one JSON object with time, level and message; per-RPC lines (at
// --log_level=debug) carry grpc.service, grpc.method, grpc.code,
// grpc.time_ms and request_id; no code, token or whole phone number ever
// appears.
#include <signal.h>

#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/e2e_client.h"
#include "tests/testing/server_process.h"
#include "tests/testing/test_crypto.h"

namespace profile {
namespace {

using ::profile::testing::CallResult;
using ::profile::testing::E2eClient;
using ::profile::testing::ServerProcess;
using ::profile::testing::Stub;
using ::profile::testing::TestDir;
using ::testing::HasSubstr;
using ::testing::Not;

const char kBinary[] = PROFILE_SERVER_BINARY;

std::vector<nlohmann::json> ParseLog(const std::string& log) {
  std::vector<nlohmann::json> lines;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    if (line.empty()) continue;
    nlohmann::json parsed = nlohmann::json::parse(line, nullptr, false);
    EXPECT_TRUE(parsed.is_object()) << "not a JSON object: " << line;
    if (!parsed.is_object()) continue;
    for (const char* field : {"time", "level", "message"}) {
      EXPECT_TRUE(parsed.contains(field) && parsed[field].is_string())
          << field << " missing in " << line;
    }
    lines.push_back(std::move(parsed));
  }
  return lines;
}

std::vector<std::string> OutboxCodes(const std::string& outbox) {
  std::vector<std::string> codes;
  std::ifstream in(outbox);
  std::string line;
  while (std::getline(in, line)) {
    nlohmann::json sms = nlohmann::json::parse(line, nullptr, false);
    if (sms.is_object()) codes.push_back(sms.value("code", ""));
  }
  return codes;
}

// Runs a whole phone change for "u1" (send, a wrong code, verify, update,
// get, a reused token, an unauthenticated call) and returns the secrets the
// flow handled: codes and tokens.
std::vector<std::string> FullFlow(int port, const std::string& outbox) {
  E2eClient client(port);
  std::vector<std::string> secrets;
  v1::SendPhoneCodeRequest send;
  send.set_phone_country_code("+86");
  send.set_phone_number("139 0013 9000");
  send.set_purpose(v1::PHONE_CODE_PURPOSE_NEW_PHONE);
  v1::SendPhoneCodeResponse sent;
  EXPECT_EQ(client
                .Call(&Stub::SendPhoneCode, "u1", send, &sent,
                      {{"x-request-id", "flow-1"}})
                .code(),
            grpc::StatusCode::OK);
  std::vector<std::string> codes = OutboxCodes(outbox);
  EXPECT_EQ(codes.size(), 1u);
  if (codes.empty()) return secrets;
  secrets.push_back(codes[0]);

  v1::UpdatePhoneVerificationRequest verify;
  verify.set_new_phone_country_code("+86");
  verify.set_new_phone_number("13900139000");
  const std::string wrong = codes[0] == "975310" ? "975311" : "975310";
  secrets.push_back(wrong);
  verify.set_new_phone_pass_code(wrong);
  v1::UpdatePhoneVerificationResponse verified;
  EXPECT_EQ(
      client.Call(&Stub::UpdatePhoneVerification, "u1", verify, &verified)
          .api_code(),
      2001);
  verify.set_new_phone_pass_code(codes[0]);
  EXPECT_EQ(
      client.Call(&Stub::UpdatePhoneVerification, "u1", verify, &verified)
          .code(),
      grpc::StatusCode::OK);
  const std::string token = verified.data().update_phone_token();
  secrets.push_back(token);

  v1::UpdatePhoneRequest update;
  update.set_update_phone_token(token);
  v1::CommonResponse updated;
  EXPECT_EQ(client.Call(&Stub::UpdatePhone, "u1", update, &updated).code(),
            grpc::StatusCode::OK);
  // Spent: unknown to anyone but its owner.
  EXPECT_EQ(client.Call(&Stub::UpdatePhone, "u2", update, &updated).api_code(),
            2310);
  v1::GetProfileResponse profile;
  EXPECT_EQ(client.Call(&Stub::GetProfile, "u1", v1::GetProfileRequest(),
                        &profile)
                .code(),
            grpc::StatusCode::OK);
  EXPECT_EQ(profile.data().phone_e164(), "+8613900139000");
  EXPECT_EQ(client.Call(&Stub::GetProfile, "", v1::GetProfileRequest(),
                        &profile)
                .api_code(),
            1000);
  return secrets;
}

void ExpectNoSecrets(const std::string& log,
                     const std::vector<std::string>& secrets) {
  for (const std::string& secret : secrets) {
    EXPECT_THAT(log, Not(HasSubstr(secret))) << "secret in the log";
  }
  // The phone, whole, in any spelling.
  for (const char* phone : {"+8613900139000", "13900139000", "139 0013 9000"}) {
    EXPECT_THAT(log, Not(HasSubstr(phone)));
  }
}

TEST(LogsE2eTest, DebugLogOfAFullFlowIsJsonWithRpcFieldsAndNoSecrets) {
  TestDir dir;
  const std::string outbox = dir.path() + "/outbox.jsonl";
  ServerProcess server;
  ASSERT_TRUE(server.Start(kBinary, {"--log_level=debug",
                                     "--sms_sender=outbox:" + outbox}))
      << server.log();
  std::vector<std::string> secrets = FullFlow(server.port(), outbox);
  ASSERT_EQ(secrets.size(), 3u);
  EXPECT_EQ(server.Stop(SIGTERM), 0);
  const std::string log = server.log();

  std::vector<nlohmann::json> lines = ParseLog(log);
  std::multiset<std::string> rpcs;
  bool audit = false;
  for (const nlohmann::json& line : lines) {
    if (line.contains("grpc.method")) {
      for (const char* field : {"grpc.service", "grpc.method", "grpc.code",
                                "grpc.time_ms", "request_id"}) {
        EXPECT_TRUE(line.contains(field) && line[field].is_string())
            << field << " missing in " << line.dump();
      }
      EXPECT_EQ(line["grpc.service"], "profile.v1.ProfileService");
      rpcs.insert(line["grpc.method"].get<std::string>() + " " +
                  line["grpc.code"].get<std::string>());
    }
    if (line.value("audit", "") == "phone_change") {
      audit = true;
      EXPECT_EQ(line["new_phone"], "+86*******9000");
      EXPECT_EQ(line["user_id"], "u1");
    }
  }
  EXPECT_TRUE(audit);
  EXPECT_EQ(rpcs, (std::multiset<std::string>{
                      "SendPhoneCode OK", "UpdatePhoneVerification INVALID_ARGUMENT",
                      "UpdatePhoneVerification OK", "UpdatePhone OK",
                      "UpdatePhone NOT_FOUND", "GetProfile OK",
                      "GetProfile UNAUTHENTICATED"}));
  EXPECT_THAT(log, HasSubstr("\"request_id\":\"flow-1\""));
  ExpectNoSecrets(log, secrets);
}

TEST(LogsE2eTest, InfoLogKeepsTheAuditLineButNoPerRpcLines) {
  TestDir dir;
  const std::string outbox = dir.path() + "/outbox.jsonl";
  ServerProcess server;
  ASSERT_TRUE(server.Start(kBinary, {"--sms_sender=outbox:" + outbox}))
      << server.log();
  std::vector<std::string> secrets = FullFlow(server.port(), outbox);
  EXPECT_EQ(server.Stop(SIGTERM), 0);
  const std::string log = server.log();
  std::vector<nlohmann::json> lines = ParseLog(log);
  int audits = 0, rpc_lines = 0;
  for (const nlohmann::json& line : lines) {
    EXPECT_NE(line["level"], "debug");
    if (line.value("audit", "") == "phone_change") ++audits;
    if (line.contains("grpc.method")) ++rpc_lines;
  }
  EXPECT_EQ(audits, 1);
  EXPECT_EQ(rpc_lines, 0);
  ExpectNoSecrets(log, secrets);
}

// W3C Trace Context: a well-formed `traceparent` puts its trace-id and
// parent-id on the call's log lines (the per-RPC line and the audit line); a
// malformed one is ignored and the call succeeds as if it had none.
TEST(LogsE2eTest, TraceparentIsCarriedIntoTheCallsLogLines) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(kBinary,
                           {"--log_level=debug",
                            "--test_phone_codes=+8613800138000:246810"}))
      << server.log();
  E2eClient client(server.port());
  const std::string trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  const std::string span_id = "00f067aa0ba902b7";
  const std::string traceparent =
      "00-" + trace_id + "-" + span_id + "-01";

  v1::UpdatePhoneVerificationRequest verify;
  verify.set_new_phone_country_code("+86");
  verify.set_new_phone_number("13800138000");
  verify.set_new_phone_pass_code("246810");
  v1::UpdatePhoneVerificationResponse verified;
  CallResult result = client.Call(
      &Stub::UpdatePhoneVerification, "u1", verify, &verified,
      {{"traceparent", traceparent}, {"x-request-id", "traced-1"}});
  ASSERT_EQ(result.code(), grpc::StatusCode::OK)
      << result.status.error_message();
  v1::UpdatePhoneRequest update;
  update.set_update_phone_token(verified.data().update_phone_token());
  v1::CommonResponse updated;
  result = client.Call(&Stub::UpdatePhone, "u1", update, &updated,
                       {{"traceparent", traceparent},
                        {"x-request-id", "traced-2"}});
  ASSERT_EQ(result.code(), grpc::StatusCode::OK)
      << result.status.error_message();
  // Uppercase hex, and an all-zero trace-id: both malformed.
  v1::GetProfileResponse profile;
  for (const char* malformed :
       {"00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01"}) {
    result = client.Call(&Stub::GetProfile, "u1", v1::GetProfileRequest(),
                         &profile,
                         {{"traceparent", malformed},
                          {"x-request-id", "malformed-1"}});
    EXPECT_EQ(result.code(), grpc::StatusCode::OK)
        << result.status.error_message();
  }
  EXPECT_EQ(server.Stop(SIGTERM), 0);

  int traced_rpc_lines = 0, traced_audit_lines = 0, malformed_lines = 0;
  for (const nlohmann::json& line : ParseLog(server.log())) {
    const std::string request_id = line.value("request_id", "");
    if (request_id == "traced-1" || request_id == "traced-2") {
      EXPECT_EQ(line.value("trace_id", ""), trace_id) << line.dump();
      EXPECT_EQ(line.value("span_id", ""), span_id) << line.dump();
      if (line.contains("grpc.method")) ++traced_rpc_lines;
      if (line.value("audit", "") == "phone_change") ++traced_audit_lines;
    } else if (request_id == "malformed-1") {
      ++malformed_lines;
      EXPECT_FALSE(line.contains("trace_id")) << line.dump();
      EXPECT_FALSE(line.contains("span_id")) << line.dump();
    } else {
      EXPECT_FALSE(line.contains("trace_id")) << line.dump();
    }
  }
  EXPECT_EQ(traced_rpc_lines, 2);
  EXPECT_EQ(traced_audit_lines, 1);
  EXPECT_EQ(malformed_lines, 2);
}

}  // namespace
}  // namespace profile
