// Transport security of the real profile_server binary: TLS and mutual TLS
// with certificates made at test time by openssl, the plaintext health port
// for kubelet probes, the refusal of trusted headers on an open port without
// mutual TLS and --tls_client_allowed_names, the allowed client names, and
// --max_connection_age.
#include <signal.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "profile/v1/profile.grpc.pb.h"
#include "tests/testing/e2e_client.h"
#include "tests/testing/health_probe.h"
#include "tests/testing/server_process.h"
#include "tests/testing/test_crypto.h"

namespace profile {
namespace {

using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::profile::testing::CallResult;
using ::profile::testing::ClientCert;
using ::profile::testing::E2eClient;
using ::profile::testing::ReadFileOrDie;
using ::profile::testing::HealthOf;
using ::profile::testing::RunToExit;
using ::profile::testing::ServerProcess;
using ::profile::testing::TestDir;
using ::profile::testing::TestPki;
using ::testing::HasSubstr;

const char kBinary[] = PROFILE_SERVER_BINARY;
const char kCallerId[] = "spiffe://example.org/ns/app/sa/caller";
const char kGatewayName[] = "gateway.example.org";

std::shared_ptr<grpc::Channel> TlsChannel(int port, const TestPki& pki,
                                          const std::string& client_cert,
                                          const std::string& client_key) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ReadFileOrDie(pki.ca_cert);
  if (!client_cert.empty()) {
    options.pem_cert_chain = ReadFileOrDie(client_cert);
    options.pem_private_key = ReadFileOrDie(client_key);
  }
  grpc::ChannelArguments args;
  // A fresh connection per channel: a refused handshake must not be hidden
  // by a subchannel another channel already has.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                   grpc::SslCredentials(options), args);
}

std::shared_ptr<grpc::Channel> PlainChannel(int port) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                   grpc::InsecureChannelCredentials(), args);
}

// GetProfile as "u1"; returns the gRPC status.
grpc::Status GetProfile(const std::shared_ptr<grpc::Channel>& channel,
                        v1::GetProfileResponse* response = nullptr) {
  auto stub = v1::ProfileService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(5));
  context.AddMetadata("x-user-id", "u1");
  v1::GetProfileResponse ignored;
  return stub->GetProfile(&context, {}, response ? response : &ignored);
}

int HealthPortOf(const ServerProcess& server) {
  const std::string log = server.log();
  const std::string key = "\"health_port\":\"";
  const size_t at = log.find(key);
  if (at == std::string::npos) return 0;
  return std::atoi(log.c_str() + at + key.size());
}


class TlsE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TestDir();
    pki_ = new TestPki(testing::MakeTestPki(dir_->path()));
    caller_ = new ClientCert(testing::MakeClientCert(
        dir_->path(), "caller", "caller", absl::StrCat("URI:", kCallerId)));
  }
  static void TearDownTestSuite() {
    delete caller_;
    delete pki_;
    delete dir_;
  }

  std::vector<std::string> TlsFlags(bool mutual) const {
    std::vector<std::string> flags = {
        "--tls_cert_file=" + pki_->server_cert,
        "--tls_key_file=" + pki_->server_key};
    if (mutual) flags.push_back("--tls_client_ca_file=" + pki_->ca_cert);
    return flags;
  }

  static TestDir* dir_;
  static TestPki* pki_;
  // A client certificate whose URI SAN is kCallerId.
  static ClientCert* caller_;
};

TestDir* TlsE2eTest::dir_ = nullptr;
TestPki* TlsE2eTest::pki_ = nullptr;
ClientCert* TlsE2eTest::caller_ = nullptr;

TEST_F(TlsE2eTest, TlsServesTlsClientsAndRefusesPlaintext) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(kBinary, TlsFlags(false))) << server.log();
  EXPECT_THAT(server.log(), HasSubstr("\"tls\":\"on\""));
  v1::GetProfileResponse response;
  grpc::Status status =
      GetProfile(TlsChannel(server.port(), *pki_, "", ""), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::OK)
      << status.error_message();
  EXPECT_EQ(response.data().user_id(), "u1");
  EXPECT_EQ(GetProfile(PlainChannel(server.port())).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(server.Stop(SIGTERM), 0);
}

TEST_F(TlsE2eTest, MutualTlsAdmitsOnlyClientsOfTheConfiguredCa) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(kBinary, TlsFlags(true))) << server.log();
  EXPECT_THAT(server.log(), HasSubstr("\"tls\":\"mutual\""));
  grpc::Status status = GetProfile(
      TlsChannel(server.port(), *pki_, pki_->client_cert, pki_->client_key));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::OK)
      << status.error_message();
  // No client certificate, one from another CA, or no TLS at all: the
  // handshake fails, so the call never reaches the service.
  EXPECT_EQ(GetProfile(TlsChannel(server.port(), *pki_, "", "")).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(GetProfile(TlsChannel(server.port(), *pki_,
                                  pki_->other_client_cert,
                                  pki_->other_client_key))
                .error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(GetProfile(PlainChannel(server.port())).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(server.Stop(SIGTERM), 0);
}

TEST_F(TlsE2eTest, TrustedHeaderOnAnOpenPortNeedsMutualTls) {
  // Without mutual TLS: refused, with the reason and the ways out.
  auto [code, log] = RunToExit(kBinary, {"--listen=0.0.0.0:0"});
  EXPECT_EQ(code, 1) << log;
  EXPECT_THAT(log, HasSubstr("--auth=trusted_header believes whatever "
                             "x-user-id a caller sends"));
  EXPECT_THAT(log, HasSubstr("--allow_trusted_header_without_mtls"));
  std::tie(code, log) = RunToExit(kBinary, {"--listen=[::]:0"});
  EXPECT_EQ(code, 1) << log;
  std::vector<std::string> tls_only = TlsFlags(false);
  tls_only.push_back("--listen=0.0.0.0:0");
  std::tie(code, log) = RunToExit(kBinary, tls_only);
  EXPECT_EQ(code, 1) << log;
  EXPECT_THAT(log, HasSubstr("without mutual TLS"));

  // Mutual TLS alone lets any workload with a certificate of the CA claim
  // any user: the allowed client names are required too.
  std::vector<std::string> mutual = TlsFlags(true);
  mutual.push_back("--listen=0.0.0.0:0");
  std::tie(code, log) = RunToExit(kBinary, mutual);
  EXPECT_EQ(code, 1) << log;
  EXPECT_THAT(log, HasSubstr("--tls_client_allowed_names is required with "
                             "--auth=trusted_header on --listen=0.0.0.0:0"));

  // With both it starts, and so it does with the loud override.
  mutual.push_back(absl::StrCat("--tls_client_allowed_names=", kCallerId));
  ServerProcess with_mtls;
  ASSERT_TRUE(with_mtls.Start(kBinary, mutual)) << with_mtls.log();
  EXPECT_EQ(GetProfile(TlsChannel(with_mtls.port(), *pki_, caller_->cert,
                                  caller_->key))
                .error_code(),
            grpc::StatusCode::OK);
  EXPECT_EQ(with_mtls.Stop(SIGTERM), 0);

  ServerProcess overridden;
  ASSERT_TRUE(overridden.Start(kBinary, {"--listen=0.0.0.0:0",
                                         "--allow_trusted_header_without_mtls"}))
      << overridden.log();
  EXPECT_THAT(overridden.log(),
              HasSubstr("\"level\":\"warning\",\"message\":\"--allow_trusted_"
                        "header_without_mtls: x-user-id is believed"));
  EXPECT_EQ(GetProfile(PlainChannel(overridden.port())).error_code(),
            grpc::StatusCode::OK);
  EXPECT_EQ(overridden.Stop(SIGTERM), 0);
}

TEST_F(TlsE2eTest, AllowedClientNamesAdmitOnlyListedCertificates) {
  const ClientCert gateway = testing::MakeClientCert(
      dir_->path(), "gateway_dns", "gateway",
      absl::StrCat("DNS:", kGatewayName));
  const ClientCert both = testing::MakeClientCert(
      dir_->path(), "both", "both",
      absl::StrCat("DNS:other.example.org,URI:", kCallerId));
  const ClientCert other = testing::MakeClientCert(
      dir_->path(), "other_sa", "other",
      "URI:spiffe://example.org/ns/app/sa/other");
  // The allowed name in the common name only, or as an IP or e-mail SAN,
  // does not count.
  const ClientCert cn_only =
      testing::MakeClientCert(dir_->path(), "cn_only", kGatewayName, "");
  const ClientCert email = testing::MakeClientCert(
      dir_->path(), "email", "email", absl::StrCat("email:", kGatewayName));

  std::vector<std::string> flags = TlsFlags(true);
  flags.push_back(absl::StrCat("--tls_client_allowed_names= ", kCallerId,
                               " , ", kGatewayName));
  ServerProcess server;
  ASSERT_TRUE(server.Start(kBinary, flags)) << server.log();
  for (const ClientCert* allowed :
       std::vector<const ClientCert*>{caller_, &gateway, &both}) {
    E2eClient client(TlsChannel(server.port(), *pki_, allowed->cert,
                                allowed->key));
    v1::GetProfileResponse response;
    CallResult result =
        client.Call(&testing::Stub::GetProfile, "u1", {}, &response);
    EXPECT_EQ(result.code(), grpc::StatusCode::OK)
        << allowed->cert << ": " << result.status.error_message();
    EXPECT_EQ(response.data().user_id(), "u1");
  }
  for (const std::string& refused :
       {pki_->client_cert, other.cert, cn_only.cert, email.cert}) {
    const std::string key = refused.substr(0, refused.size() - 4) + ".key";
    E2eClient client(TlsChannel(server.port(), *pki_, refused, key));
    v1::GetProfileResponse response;
    CallResult result =
        client.Call(&testing::Stub::GetProfile, "u1", {}, &response);
    EXPECT_EQ(result.code(), grpc::StatusCode::PERMISSION_DENIED) << refused;
    EXPECT_EQ(result.api_code(), 1003) << refused;
    EXPECT_THAT(result.status.error_message(),
                HasSubstr("--tls_client_allowed_names"))
        << refused;
    // Every method, not only reads.
    v1::SendPhoneCodeResponse sent;
    v1::SendPhoneCodeRequest send;
    send.set_phone_country_code("+86");
    send.set_phone_number("13800138000");
    send.set_purpose(v1::PHONE_CODE_PURPOSE_NEW_PHONE);
    result = client.Call(&testing::Stub::SendPhoneCode, "u1", send, &sent);
    EXPECT_EQ(result.code(), grpc::StatusCode::PERMISSION_DENIED) << refused;
    EXPECT_EQ(result.api_code(), 1003) << refused;
  }
  EXPECT_EQ(server.Stop(SIGTERM), 0);
}

TEST_F(TlsE2eTest, BadTlsFlagsStopTheStartNamingTheFlag) {
  const std::string missing = dir_->path() + "/missing.pem";
  const std::string garbage = dir_->Write("garbage.pem", "not a certificate");
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--tls_cert_file=" + pki_->server_cert},
       "--tls_key_file is required with --tls_cert_file"},
      {{"--tls_key_file=" + pki_->server_key},
       "--tls_cert_file is required with --tls_key_file"},
      {{"--tls_client_ca_file=" + pki_->ca_cert},
       "--tls_client_ca_file needs --tls_cert_file and --tls_key_file"},
      {{"--tls_cert_file=" + missing, "--tls_key_file=" + pki_->server_key},
       "--tls_cert_file: cannot read " + missing + ": No such file"},
      {{"--tls_cert_file=" + pki_->server_cert, "--tls_key_file=" + missing},
       "--tls_key_file: cannot read " + missing},
      {{"--tls_cert_file=" + dir_->path(),
        "--tls_key_file=" + pki_->server_key},
       "--tls_cert_file: cannot read " + dir_->path() + ": not a regular"},
      {{"--tls_cert_file=" + garbage, "--tls_key_file=" + pki_->server_key},
       "--tls_cert_file " + garbage + " holds no PEM certificate"},
      {{"--tls_cert_file=" + pki_->server_cert, "--tls_key_file=" + garbage},
       "--tls_key_file " + garbage + " holds no unencrypted PEM private key"},
      {{"--tls_cert_file=" + pki_->server_cert,
        "--tls_key_file=" + pki_->client_key},
       "is not the key of the certificate in --tls_cert_file"},
      {{"--tls_cert_file=" + pki_->server_cert,
        "--tls_key_file=" + pki_->server_key,
        "--tls_client_ca_file=" + garbage},
       "--tls_client_ca_file " + garbage + " holds no PEM certificate"},
      {{"--tls_cert_file=" + pki_->server_cert,
        "--tls_key_file=" + pki_->server_key,
        "--tls_client_ca_file=" + missing},
       "--tls_client_ca_file: cannot read"},
      {{"--tls_client_allowed_names=spiffe://example.org/ns/app/sa/caller"},
       "--tls_client_allowed_names needs --tls_client_ca_file"},
      {{"--tls_cert_file=" + pki_->server_cert,
        "--tls_key_file=" + pki_->server_key,
        "--tls_client_allowed_names=spiffe://example.org/a"},
       "--tls_client_allowed_names needs --tls_client_ca_file"},
      {{"--max_connection_age=500ms"},
       "--max_connection_age must be 0 (never) or 1s to 24h"},
      {{"--max_connection_age=-1s"}, "--max_connection_age"},
      {{"--health_listen=not-an-address"},
       "--health_listen: cannot listen on not-an-address"},
  };
  for (const Case& c : cases) {
    auto [code, log] = RunToExit(kBinary, c.args);
    EXPECT_EQ(code, 1) << c.args[0] << "\n" << log;
    EXPECT_THAT(log, HasSubstr(c.message)) << c.args[0];
  }
}

TEST_F(TlsE2eTest, PlaintextHealthPortMirrorsTheTlsServersHealth) {
  std::vector<std::string> flags = TlsFlags(true);
  flags.push_back("--health_listen=127.0.0.1:0");
  flags.push_back("--drain_delay=3s");
  ServerProcess server;
  ASSERT_TRUE(server.Start(kBinary, flags)) << server.log();
  const int health_port = HealthPortOf(server);
  ASSERT_GT(health_port, 0) << server.log();
  auto probe = PlainChannel(health_port);
  // Exactly what a kubelet gRPC probe sends: plaintext Check.
  EXPECT_EQ(HealthOf(probe, ""), HealthCheckResponse::SERVING);
  EXPECT_EQ(HealthOf(probe, "profile.v1.ProfileService"),
            HealthCheckResponse::SERVING);
  EXPECT_EQ(HealthOf(probe, "no.such.Service"),
            -1 - grpc::StatusCode::NOT_FOUND);
  // Nothing but health is served there.
  EXPECT_EQ(GetProfile(probe).error_code(), grpc::StatusCode::UNIMPLEMENTED);

  kill(server.pid(), SIGTERM);
  const absl::Time deadline = absl::Now() + absl::Seconds(3);
  int health = HealthOf(probe, "");
  while (health == HealthCheckResponse::SERVING && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
    health = HealthOf(probe, "");
  }
  EXPECT_EQ(health, HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(server.Wait(absl::Seconds(20)), 0) << server.log();
}

TEST_F(TlsE2eTest, MaxConnectionAgeClosesOldConnections) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(kBinary, {"--max_connection_age=1s"}))
      << server.log();
  auto channel = PlainChannel(server.port());
  ASSERT_EQ(GetProfile(channel).error_code(), grpc::StatusCode::OK);
  ASSERT_EQ(channel->GetState(false), GRPC_CHANNEL_READY);
  // The server sends GOAWAY after about a second (with jitter): the channel
  // leaves READY without the client doing anything.
  const bool changed = channel->WaitForStateChange(
      GRPC_CHANNEL_READY,
      std::chrono::system_clock::now() + std::chrono::seconds(10));
  EXPECT_TRUE(changed);
  EXPECT_NE(channel->GetState(false), GRPC_CHANNEL_READY);
  // And the next call simply reconnects.
  EXPECT_EQ(GetProfile(channel).error_code(), grpc::StatusCode::OK);
  EXPECT_EQ(server.Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace profile
