// /metrics of the real profile_server binary, scraped over HTTP on
// 127.0.0.1 after real calls: the grpc-prometheus figures with their exact
// label sets, and the domain figures.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/backend_servers.h"
#include "tests/testing/e2e_client.h"
#include "tests/testing/server_process.h"
#include "tests/testing/test_crypto.h"

namespace profile {
namespace {

using ::profile::testing::CallResult;
using ::profile::testing::E2eClient;
using ::profile::testing::PortField;
using ::profile::testing::RedisServer;
using ::profile::testing::ServerProcess;
using ::profile::testing::Stub;
using ::profile::testing::TestDir;
using ::testing::HasSubstr;

const char kBinary[] = PROFILE_SERVER_BINARY;

// An HTTP/1.0 GET on 127.0.0.1:port; returns the whole response.
std::string HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) !=
      0) {
    close(fd);
    return "";
  }
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
  if (write(fd, request.data(), request.size()) !=
      static_cast<ssize_t>(request.size())) {
    close(fd);
    return "";
  }
  std::string response;
  char buffer[8192];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) response.append(buffer, n);
  close(fd);
  return response;
}

// Samples by "name{label="value",...}" with the labels sorted by name, so
// that lookups do not depend on the order the exporter writes them in.
using Samples = std::map<std::string, double>;

Samples Scrape(int port) {
  Samples samples;
  const std::string response = HttpGet(port, "/metrics");
  const size_t body = response.find("\r\n\r\n");
  if (body == std::string::npos) return samples;
  for (absl::string_view line :
       absl::StrSplit(response.substr(body + 4), '\n')) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    double value = 0;
    if (space == absl::string_view::npos ||
        !absl::SimpleAtod(line.substr(space + 1), &value)) {
      continue;
    }
    absl::string_view series = line.substr(0, space);
    const size_t brace = series.find('{');
    if (brace == absl::string_view::npos) {
      samples[std::string(series)] = value;
      continue;
    }
    absl::string_view labels = series.substr(brace + 1);
    absl::ConsumeSuffix(&labels, "}");
    std::vector<std::string> sorted;
    for (absl::string_view label : absl::StrSplit(labels, "\",")) {
      std::string text(label);
      if (!text.empty() && text.back() != '"') text += '"';
      sorted.push_back(text);
    }
    std::sort(sorted.begin(), sorted.end());
    samples[absl::StrCat(series.substr(0, brace), "{",
                         absl::StrJoin(sorted, ","), "}")] = value;
  }
  return samples;
}

// The value of a series, -1 when it is absent.
double Value(const Samples& samples, const std::string& name,
             std::vector<std::string> labels = {}) {
  std::sort(labels.begin(), labels.end());
  const std::string key =
      labels.empty() ? name
                     : absl::StrCat(name, "{", absl::StrJoin(labels, ","), "}");
  auto it = samples.find(key);
  return it == samples.end() ? -1 : it->second;
}

std::vector<std::string> Rpc(const std::string& method) {
  return {"grpc_method=\"" + method + "\"",
          "grpc_service=\"profile.v1.ProfileService\"",
          "grpc_type=\"unary\""};
}
std::vector<std::string> Rpc(const std::string& method,
                             const std::string& code) {
  std::vector<std::string> labels = Rpc(method);
  labels.push_back("grpc_code=\"" + code + "\"");
  return labels;
}

// The code of the last SMS in the outbox.
std::string LastOutboxCode(const std::string& outbox) {
  std::ifstream in(outbox);
  std::string line, code;
  while (std::getline(in, line)) {
    nlohmann::json sms = nlohmann::json::parse(line, nullptr, false);
    if (sms.is_object()) code = sms.value("code", "");
  }
  return code;
}

TEST(MetricsE2eTest, CountsRpcsAndDomainEventsWithExactLabels) {
  TestDir dir;
  const std::string outbox = dir.path() + "/outbox.jsonl";
  ServerProcess server;
  ASSERT_TRUE(server.Start(
      kBinary, {"--metrics_listen=127.0.0.1:0", "--sms_sender=outbox:" + outbox,
                "--test_phone_codes=+8613800138000:246810", "--token_ttl=1s"}))
      << server.log();
  const int metrics_port = PortField(server.log(), "metrics_port");
  ASSERT_GT(metrics_port, 0) << server.log();

  Samples before = Scrape(metrics_port);
  EXPECT_EQ(Value(before, "profile_codes_sent_total",
                  {"purpose=\"new_phone\""}),
            0);
  EXPECT_EQ(Value(before, "profile_tokens_live"), 0);
  // Without Redis, no round trips to count.
  EXPECT_EQ(Value(before, "profile_redis_round_trips_total"), -1);

  E2eClient client(server.port());
  v1::SendPhoneCodeRequest send;
  send.set_phone_country_code("+86");
  send.set_phone_number("139 0013 9000");
  send.set_purpose(v1::PHONE_CODE_PURPOSE_NEW_PHONE);
  v1::SendPhoneCodeResponse sent;
  ASSERT_EQ(client.Call(&Stub::SendPhoneCode, "u1", send, &sent).code(),
            grpc::StatusCode::OK);
  const std::string code = LastOutboxCode(outbox);
  ASSERT_EQ(code.size(), 6u);

  v1::UpdatePhoneVerificationRequest verify;
  verify.set_new_phone_country_code("+86");
  verify.set_new_phone_number("13900139000");
  verify.set_new_phone_pass_code(code == "000000" ? "111111" : "000000");
  v1::UpdatePhoneVerificationResponse verified;
  CallResult result =
      client.Call(&Stub::UpdatePhoneVerification, "u1", verify, &verified);
  ASSERT_EQ(result.api_code(), 2001);
  verify.set_new_phone_pass_code(code);
  ASSERT_EQ(client.Call(&Stub::UpdatePhoneVerification, "u1", verify, &verified)
                .code(),
            grpc::StatusCode::OK);
  EXPECT_EQ(Value(Scrape(metrics_port), "profile_tokens_live"), 1);

  v1::UpdatePhoneRequest update;
  update.set_update_phone_token(verified.data().update_phone_token());
  v1::CommonResponse updated;
  ASSERT_EQ(client.Call(&Stub::UpdatePhone, "u1", update, &updated).code(),
            grpc::StatusCode::OK);
  v1::GetProfileResponse profile;
  ASSERT_EQ(client.Call(&Stub::GetProfile, "", v1::GetProfileRequest(),
                        &profile)
                .code(),
            grpc::StatusCode::UNAUTHENTICATED);

  // A malformed request: INVALID_ARGUMENT, api code 1001.
  v1::SendPhoneCodeRequest malformed = send;
  malformed.set_phone_number("not a number");
  ASSERT_EQ(client.Call(&Stub::SendPhoneCode, "u1", malformed, &sent)
                .api_code(),
            1001);

  // A token left to expire (--token_ttl=1s, swept every second).
  v1::UpdatePhoneVerificationRequest test_number;
  test_number.set_new_phone_country_code("+86");
  test_number.set_new_phone_number("13800138000");
  test_number.set_new_phone_pass_code("246810");
  ASSERT_EQ(client.Call(&Stub::UpdatePhoneVerification, "u2", test_number,
                        &verified)
                .code(),
            grpc::StatusCode::OK);
  Samples after = Scrape(metrics_port);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (Value(after, "profile_tokens_expired_total") < 1 &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(100));
    after = Scrape(metrics_port);
  }

  // grpc-prometheus figures, exact label sets.
  EXPECT_THAT(HttpGet(metrics_port, "/metrics"),
              HasSubstr("# TYPE grpc_server_handling_seconds histogram"));
  EXPECT_EQ(Value(after, "grpc_server_started_total",
                  Rpc("UpdatePhoneVerification")),
            3);
  EXPECT_EQ(Value(after, "grpc_server_handled_total",
                  Rpc("UpdatePhoneVerification", "OK")),
            2);
  EXPECT_EQ(Value(after, "grpc_server_handled_total",
                  Rpc("UpdatePhoneVerification", "InvalidArgument")),
            1);
  EXPECT_EQ(Value(after, "grpc_server_handled_total",
                  Rpc("SendPhoneCode", "OK")),
            1);
  EXPECT_EQ(Value(after, "grpc_server_handled_total",
                  Rpc("SendPhoneCode", "InvalidArgument")),
            1);
  EXPECT_EQ(Value(after, "grpc_server_handled_total",
                  Rpc("UpdatePhone", "OK")),
            1);
  EXPECT_EQ(Value(after, "grpc_server_handled_total",
                  Rpc("GetProfile", "Unauthenticated")),
            1);
  EXPECT_EQ(Value(after, "grpc_server_handled_total",
                  Rpc("GetProfile", "OK")),
            -1);
  EXPECT_EQ(Value(after, "grpc_server_handling_seconds_count",
                  Rpc("UpdatePhoneVerification")),
            3);
  std::vector<std::string> inf_bucket = Rpc("UpdatePhoneVerification");
  inf_bucket.push_back("le=\"+Inf\"");
  EXPECT_EQ(Value(after, "grpc_server_handling_seconds_bucket", inf_bucket),
            3);
  std::vector<std::string> bucket = Rpc("UpdatePhoneVerification");
  bucket.push_back("le=\"10\"");
  EXPECT_EQ(Value(after, "grpc_server_handling_seconds_bucket", bucket), 3);

  // Failed calls by api code (the x-api-code trailer); none for OK calls.
  EXPECT_EQ(Value(after, "profile_rpc_errors_total",
                  {"grpc_method=\"SendPhoneCode\"", "api_code=\"1001\""}),
            1);
  EXPECT_EQ(Value(after, "profile_rpc_errors_total",
                  {"grpc_method=\"UpdatePhoneVerification\"",
                   "api_code=\"2001\""}),
            1);
  EXPECT_EQ(Value(after, "profile_rpc_errors_total",
                  {"grpc_method=\"GetProfile\"", "api_code=\"1000\""}),
            1);
  EXPECT_EQ(Value(after, "profile_rpc_errors_total",
                  {"grpc_method=\"UpdatePhone\"", "api_code=\"none\""}),
            -1);

  // Domain figures.
  EXPECT_EQ(Value(after, "profile_codes_sent_total", {"purpose=\"new_phone\""}),
            1);
  EXPECT_EQ(Value(after, "profile_codes_sent_total", {"purpose=\"old_phone\""}),
            0);
  EXPECT_EQ(Value(after, "profile_verifications_total", {"outcome=\"ok\""}),
            2);
  EXPECT_EQ(Value(after, "profile_verifications_total",
                  {"outcome=\"wrong_code\""}),
            1);
  EXPECT_EQ(Value(after, "profile_tokens_issued_total"), 2);
  EXPECT_EQ(Value(after, "profile_tokens_spent_total"), 1);
  EXPECT_EQ(Value(after, "profile_tokens_expired_total"), 1);
  EXPECT_EQ(Value(after, "profile_tokens_live"), 0);
  EXPECT_EQ(server.Stop(SIGTERM), 0);
}

// The region breaker's gauge, read from the limiter at scrape time, and its
// error log line.
TEST(MetricsE2eTest, SuspendedRegionIsAGaugeAndAnErrorLine) {
  TestDir dir;
  ServerProcess server;
  ASSERT_TRUE(server.Start(
      kBinary, {"--metrics_listen=127.0.0.1:0",
                "--sms_sender=outbox:" + dir.path() + "/outbox.jsonl",
                "--region_breaker_min_codes=2",
                "--region_breaker_min_conversion=0.5"}))
      << server.log();
  const int metrics_port = PortField(server.log(), "metrics_port");
  ASSERT_GT(metrics_port, 0) << server.log();
  EXPECT_EQ(Value(Scrape(metrics_port), "profile_sms_region_suspended",
                  {"region=\"CN\""}),
            -1);

  E2eClient client(server.port());
  v1::SendPhoneCodeRequest send;
  send.set_phone_country_code("+86");
  send.set_purpose(v1::PHONE_CODE_PURPOSE_NEW_PHONE);
  v1::SendPhoneCodeResponse sent;
  for (int i = 0; i < 2; ++i) {
    send.set_phone_number(absl::StrCat("1390013900", i));
    ASSERT_EQ(client.Call(&Stub::SendPhoneCode, absl::StrCat("u", i), send,
                          &sent)
                  .code(),
              grpc::StatusCode::OK);
  }
  // Two codes, none verified: the third trips the breaker.
  send.set_phone_number("13900139002");
  CallResult refused = client.Call(&Stub::SendPhoneCode, "u2", send, &sent);
  EXPECT_EQ(refused.code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(refused.api_code(), 2100);
  EXPECT_EQ(refused.retry_after(), 3600);
  // Another region is still texted.
  send.set_phone_country_code("+44");
  send.set_phone_number("7400 123456");
  EXPECT_EQ(client.Call(&Stub::SendPhoneCode, "u3", send, &sent).code(),
            grpc::StatusCode::OK);

  const Samples samples = Scrape(metrics_port);
  EXPECT_EQ(Value(samples, "profile_sms_region_suspended",
                  {"region=\"CN\""}),
            1);
  EXPECT_EQ(Value(samples, "profile_sms_region_suspended",
                  {"region=\"GB\""}),
            -1);
  EXPECT_TRUE(server.WaitForLog(
      "\"level\":\"error\",\"message\":\"sms region suspended\""))
      << server.log();
  EXPECT_THAT(server.log(), HasSubstr("\"region\":\"CN\""));
  EXPECT_EQ(server.Stop(SIGTERM), 0);
}

TEST(MetricsE2eTest, RedisRoundTripsAreACounter) {
  RedisServer redis;
  ASSERT_TRUE(redis.Start()) << redis.error();
  TestDir dir;
  ServerProcess server;
  ASSERT_TRUE(server.Start(
      kBinary,
      {"--metrics_listen=127.0.0.1:0",
       "--sms_sender=outbox:" + dir.path() + "/outbox.jsonl",
       "--redis_url=" + redis.url(),
       "--code_secret_file=" + dir.Write("code-secret", std::string(32, 'k'))}))
      << server.log();
  const int metrics_port = PortField(server.log(), "metrics_port");
  ASSERT_GT(metrics_port, 0) << server.log();
  EXPECT_THAT(HttpGet(metrics_port, "/metrics"),
              HasSubstr("# TYPE profile_redis_round_trips_total counter\n"));
  const double before =
      Value(Scrape(metrics_port), "profile_redis_round_trips_total");
  ASSERT_GE(before, 0);

  E2eClient client(server.port());
  v1::SendPhoneCodeRequest send;
  send.set_phone_country_code("+86");
  send.set_phone_number("13900139000");
  send.set_purpose(v1::PHONE_CODE_PURPOSE_NEW_PHONE);
  v1::SendPhoneCodeResponse sent;
  ASSERT_EQ(client.Call(&Stub::SendPhoneCode, "u1", send, &sent).code(),
            grpc::StatusCode::OK);
  // The send limits and the code at least; scrapes and the backend check
  // make round trips of their own (core_factory_test pins each RPC's).
  EXPECT_GE(Value(Scrape(metrics_port), "profile_redis_round_trips_total"),
            before + 2);
  EXPECT_EQ(server.Stop(SIGTERM), 0);
}

TEST(MetricsE2eTest, BuildInfoCarriesTheVersion) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(kBinary, {"--metrics_listen=127.0.0.1:0"}))
      << server.log();
  const int metrics_port = PortField(server.log(), "metrics_port");
  ASSERT_GT(metrics_port, 0) << server.log();
  const std::string version = PROFILE_EXPECTED_VERSION;
  EXPECT_EQ(Value(Scrape(metrics_port), "profile_build_info",
                  {"version=\"" + version + "\""}),
            1);
  EXPECT_THAT(HttpGet(metrics_port, "/metrics"),
              HasSubstr("# TYPE profile_build_info gauge\n"
                        "profile_build_info{version=\"" + version + "\"} 1\n"));
  EXPECT_EQ(server.Stop(SIGTERM), 0);
}

TEST(MetricsE2eTest, BadMetricsListenStopsTheStart) {
  for (std::string listen : {"nonsense", "127.0.0.1:notaport"}) {
    ServerProcess server;
    ASSERT_FALSE(server.Start(kBinary, {"--metrics_listen=" + listen},
                              absl::Seconds(10)));
    EXPECT_EQ(server.Wait(absl::Seconds(10)), 1) << server.log();
    EXPECT_THAT(server.log(), HasSubstr("--metrics_listen")) << listen;
  }
  // A busy port.
  ServerProcess first;
  ASSERT_TRUE(first.Start(kBinary, {"--metrics_listen=127.0.0.1:0"}));
  const int busy = PortField(first.log(), "metrics_port");
  ServerProcess second;
  ASSERT_FALSE(second.Start(
      kBinary, {absl::StrCat("--metrics_listen=127.0.0.1:", busy)},
      absl::Seconds(10)));
  EXPECT_EQ(second.Wait(absl::Seconds(10)), 1) << second.log();
  EXPECT_THAT(second.log(), HasSubstr("--metrics_listen: cannot listen on"));
  EXPECT_EQ(first.Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace profile
