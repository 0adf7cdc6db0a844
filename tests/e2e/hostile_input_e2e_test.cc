// Hostile input against the real server (issue 6): garbage and oversized
// bodies, hostile strings in every field and in x-user-id, huge metadata, a
// flood of verifications against --max_live_tokens, hundreds of idle
// connections, and cancelled and expired calls. Every call must get a
// canonical gRPC code (never UNKNOWN or INTERNAL) and the exact api code, and
// the server must stay alive with its memory bounded.
//
// Most tests run ProfileServer in-process on 127.0.0.1:0; the flag and
// connection tests run the profile_server binary as a child process, so that
// its resident memory and exit code can be read.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/common/clock.h"
#include "server/common/executor.h"
#include "server/server.h"
#include "server/service/profile_service.h"
#include "server/service/wire.h"
#include "server/sms/sms_sender.h"
#include "tests/testing/e2e_client.h"
#include "tests/testing/capturing_sms_sender.h"
#include "tests/testing/server_process.h"
#include "tests/testing/test_dir.h"

namespace profile {
namespace {

using ::profile::testing::CallResult;
using ::profile::testing::E2eClient;
using ::profile::testing::CapturingSmsSender;
using ::profile::testing::ServerProcess;
using ::profile::testing::Stub;
using ::profile::testing::TestDir;
using ::testing::HasSubstr;

constexpr char kBinary[] = PROFILE_SERVER_BINARY;
constexpr char kTestPhone[] = "+8613800138000";
constexpr char kTestCode[] = "246810";
constexpr char kSecondTestPhone[] = "+8613800138001";
constexpr char kSecondTestCode[] = "135790";
constexpr char kService[] = "/profile.v1.ProfileService/";

using Metadata = std::vector<std::pair<std::string, std::string>>;

// The strings an attacker types: control characters, invalid UTF-8, huge
// values, full-width digits, bidi overrides, SQL and format strings.
std::vector<std::string> HostileStrings() {
  return {
      std::string("138\x01" "0013\x1b[2J8000"),
      std::string("13800\n138000"),
      std::string("138\0" "00138000", 12),
      std::string("\xff\xfe\xfd"),
      std::string("\xc3\x28"),                 // a broken 2-byte sequence
      std::string("\xed\xa0\x80"),             // a UTF-16 surrogate
      std::string(129, '1'),                   // over every field's cap
      std::string(2000, '9'),                  // far over it
      "\xef\xbc\x91\xef\xbc\x93\xef\xbc\x98",  // full-width 138
      "\xe2\x80\xae" "13800138000",            // right-to-left override
      "\xe2\x80\x8b" "13800138000",            // zero-width space
      "1' OR '1'='1",
      "'; DROP TABLE profiles; --",
      "%s%s%s%n%x%p",
      "${jndi:ldap://127.0.0.1/x}",
      "{{7*7}}",
      "../../../../etc/passwd",
      "-1",
      "+",
  };
}

// Calls `method` with a raw body, as a client that does not use the
// generated stubs can.
CallResult RawCall(grpc::GenericStub& stub, const std::string& method,
                   const std::string& body, const Metadata& metadata,
                   std::string* response = nullptr) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(20));
  for (const auto& [key, value] : metadata) context.AddMetadata(key, value);
  grpc::Slice slice(body);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer reply;
  absl::Notification done;
  CallResult result;
  stub.UnaryCall(&context, absl::StrCat(kService, method), grpc::StubOptions(),
                 &request, &reply, [&](grpc::Status status) {
                   result.status = std::move(status);
                   done.Notify();
                 });
  done.WaitForNotification();
  for (const auto& [key, value] : context.GetServerTrailingMetadata()) {
    result.trailers.emplace(std::string(key.data(), key.size()),
                            std::string(value.data(), value.size()));
  }
  if (response != nullptr) {
    std::vector<grpc::Slice> slices;
    response->clear();
    if (reply.Dump(&slices).ok()) {
      for (const grpc::Slice& s : slices) {
        response->append(reinterpret_cast<const char*>(s.begin()), s.size());
      }
    }
  }
  return result;
}

// The resident memory of process `pid`, in KiB, or -1.
int64_t ResidentKib(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) != 0) continue;
    std::vector<std::string> parts =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    int64_t kib = -1;
    if (parts.size() >= 2 && absl::SimpleAtoi(parts[1], &kib)) return kib;
  }
  return -1;
}

class HostileInputE2eTest : public ::testing::Test {
 protected:
  ServerOptions BaseOptions() {
    ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.core.sms.sender = "outbox:" + outbox_;
    options.core.test_phone_codes = absl::StrCat(kTestPhone, ":", kTestCode, ",",
                                            kSecondTestPhone, ":",
                                            kSecondTestCode);
    return options;
  }

  void TearDown() override { server_.reset(); }

  void StartServer(const ServerOptions& options) {
    absl::StatusOr<std::unique_ptr<ProfileServer>> server =
        ProfileServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    client_ = std::make_unique<E2eClient>(server_->port());
    generic_ = std::make_unique<grpc::GenericStub>(client_->channel());
  }

  int OutboxLines() {
    std::ifstream in(outbox_);
    int lines = 0;
    for (std::string line; std::getline(in, line);) ++lines;
    return lines;
  }

  // The server still serves a well-formed call.
  void ExpectAlive() {
    v1::GetProfileResponse response;
    CallResult result = client_->Call(&Stub::GetProfile, "alive",
                                      v1::GetProfileRequest(), &response);
    EXPECT_EQ(result.code(), grpc::StatusCode::OK)
        << result.status.error_message();
    EXPECT_EQ(response.data().user_id(), "alive");
  }

  // Binds kTestPhone to `user` through the whole flow.
  void BindTestPhone(const std::string& user) {
    v1::UpdatePhoneVerificationRequest verify;
    verify.set_new_phone_country_code("+86");
    verify.set_new_phone_number("13800138000");
    verify.set_new_phone_pass_code(kTestCode);
    v1::UpdatePhoneVerificationResponse verified;
    ASSERT_TRUE(client_
                    ->Call(&Stub::UpdatePhoneVerification, user, verify,
                           &verified)
                    .status.ok());
    v1::UpdatePhoneRequest update;
    update.set_update_phone_token(verified.data().update_phone_token());
    v1::CommonResponse updated;
    ASSERT_TRUE(
        client_->Call(&Stub::UpdatePhone, user, update, &updated).status.ok());
  }

  TestDir dir_{"profile_hostile"};
  const std::string outbox_ = dir_.File("outbox.jsonl");
  std::unique_ptr<ProfileServer> server_;
  std::unique_ptr<E2eClient> client_;
  std::unique_ptr<grpc::GenericStub> generic_;
};

TEST_F(HostileInputE2eTest, GarbageBodiesAreInvalidArgument) {
  StartServer(BaseOptions());
  const std::vector<std::string> garbage = {
      std::string(11, '\xff'),            // a varint tag that never ends
      std::string("\x00", 1),             // field number 0
      std::string("\x07"),                // wire type 7 does not exist
      std::string("\x0a\x05" "ab"),       // a string longer than the body
      std::string("\x0b"),                // a group that is never closed
      std::string("\x0a\xff\xff\xff\xff\x0f"),  // a 4 GiB length
      std::string("\x0c"),                // an end-group with no start
      std::string(300, '\x0b'),           // deeply nested groups
  };
  for (const char* method : {"SendPhoneCode", "UpdatePhoneVerification",
                             "UpdatePhone", "GetProfile"}) {
    for (const std::string& body : garbage) {
      CallResult result =
          RawCall(*generic_, method, body, {{"x-user-id", "u1"}});
      const std::string what =
          absl::StrCat(method, " body of ", body.size(), " bytes");
      EXPECT_EQ(result.code(), grpc::StatusCode::INVALID_ARGUMENT) << what;
      EXPECT_EQ(result.api_code(), 1001) << what;
      EXPECT_THAT(result.status.error_message(),
                  HasSubstr("not a valid message")) << what;
    }
  }
  // An unknown method is gRPC's own UNIMPLEMENTED.
  CallResult unknown =
      RawCall(*generic_, "DeleteEverything", "", {{"x-user-id", "u1"}});
  EXPECT_EQ(unknown.code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(OutboxLines(), 0);
  ExpectAlive();
}

TEST_F(HostileInputE2eTest, CallWithoutAMessageIsInvalidArgument) {
  StartServer(BaseOptions());
  // A client that half-closes without sending a message (a truncated frame
  // reaches the handler the same way): not an empty request.
  for (const char* method : {"SendPhoneCode", "UpdatePhoneVerification",
                             "UpdatePhone", "GetProfile"}) {
    grpc::ClientContext context;
    context.AddMetadata("x-user-id", "u1");
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(20));
    grpc::CompletionQueue cq;
    std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
        generic_->PrepareCall(&context, absl::StrCat(kService, method), &cq);
    void* tag;
    bool ok;
    call->StartCall(reinterpret_cast<void*>(1));
    ASSERT_TRUE(cq.Next(&tag, &ok));
    call->WritesDone(reinterpret_cast<void*>(2));
    ASSERT_TRUE(cq.Next(&tag, &ok));
    grpc::Status status;
    call->Finish(&status, reinterpret_cast<void*>(3));
    ASSERT_TRUE(cq.Next(&tag, &ok));
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << method;
    EXPECT_EQ(status.error_message(),
              "the request body is missing or incomplete") << method;
    auto api_code = context.GetServerTrailingMetadata().find("x-api-code");
    ASSERT_NE(api_code, context.GetServerTrailingMetadata().end()) << method;
    EXPECT_EQ(std::string(api_code->second.data(), api_code->second.size()),
              "1001") << method;
    cq.Shutdown();
    while (cq.Next(&tag, &ok)) {
    }
  }
  ExpectAlive();
}

TEST_F(HostileInputE2eTest, BodyOverMaxRequestBytesIsResourceExhausted) {
  ServerOptions options = BaseOptions();
  options.max_request_bytes = 1024;
  StartServer(options);
  // Field 15 is unknown to every request: a body of just the right size.
  auto body_of = [](size_t size) {
    std::string body = "\x7a";  // field 15, length-delimited
    const size_t payload = size - 3;
    body += static_cast<char>(0x80 | (payload & 0x7f));
    body += static_cast<char>(payload >> 7);
    body.append(payload, 'x');
    return body;
  };
  for (const char* method : {"SendPhoneCode", "UpdatePhoneVerification",
                             "UpdatePhone", "GetProfile"}) {
    CallResult over =
        RawCall(*generic_, method, body_of(1025), {{"x-user-id", "u1"}});
    EXPECT_EQ(over.code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << method;
    EXPECT_THAT(over.status.error_message(), HasSubstr("larger than max"))
        << method;
    EXPECT_THAT(over.status.error_message(), HasSubstr("1024")) << method;
  }
  // At the limit, GetProfile (which ignores unknown fields) is served.
  std::string response;
  CallResult at_limit = RawCall(*generic_, "GetProfile", body_of(1024),
                                {{"x-user-id", "u1"}}, &response);
  EXPECT_EQ(at_limit.code(), grpc::StatusCode::OK)
      << at_limit.status.error_message();
  // A megabyte is refused the same way, without hurting the server.
  CallResult huge = RawCall(*generic_, "UpdatePhone",
                            body_of(size_t{1} << 20), {{"x-user-id", "u1"}});
  EXPECT_EQ(huge.code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  ExpectAlive();
}

TEST_F(HostileInputE2eTest, HostileStringsInEveryFieldAreInvalidArgument) {
  ServerOptions options = BaseOptions();
  // Every well-formed verification counts, and this test makes many.
  options.core.phone_change.send_limits.max_verifications_per_user_per_hour =
      1000;
  StartServer(options);
  // With a phone bound and --verify_old_phone (the default), every
  // old-phone field is read, so every field of every request is checked.
  BindTestPhone("holder");

  struct Case {
    std::string field;
    std::function<CallResult(const std::string&)> call;
  };
  auto send = [this](const std::string& cc, const std::string& number) {
    v1::SendPhoneCodeRequest request;
    request.set_phone_country_code(cc);
    request.set_phone_number(number);
    request.set_purpose(v1::PHONE_CODE_PURPOSE_NEW_PHONE);
    v1::SendPhoneCodeResponse response;
    return client_->Call(&Stub::SendPhoneCode, "holder", request, &response);
  };
  auto verify = [this](int index, const std::string& value) {
    v1::UpdatePhoneVerificationRequest request;
    request.set_new_phone_country_code("+86");
    request.set_new_phone_number("13800138001");
    request.set_new_phone_pass_code(kSecondTestCode);
    request.set_old_phone_country_code("+86");
    request.set_old_phone_number("13800138000");
    request.set_old_phone_pass_code(kTestCode);
    switch (index) {
      case 0: request.set_new_phone_country_code(value); break;
      case 1: request.set_new_phone_number(value); break;
      case 2: request.set_new_phone_pass_code(value); break;
      case 3: request.set_old_phone_country_code(value); break;
      case 4: request.set_old_phone_number(value); break;
      case 5: request.set_old_phone_pass_code(value); break;
    }
    v1::UpdatePhoneVerificationResponse response;
    return client_->Call(&Stub::UpdatePhoneVerification, "holder", request,
                         &response);
  };
  std::vector<Case> cases = {
      {"phone_country_code",
       [&](const std::string& v) { return send(v, "13800138001"); }},
      {"phone_number", [&](const std::string& v) { return send("+86", v); }},
      {"new_phone_country_code",
       [&](const std::string& v) { return verify(0, v); }},
      {"new_phone_number", [&](const std::string& v) { return verify(1, v); }},
      {"new_phone_pass_code",
       [&](const std::string& v) { return verify(2, v); }},
      {"old_phone_country_code",
       [&](const std::string& v) { return verify(3, v); }},
      {"old_phone_number", [&](const std::string& v) { return verify(4, v); }},
      {"old_phone_pass_code",
       [&](const std::string& v) { return verify(5, v); }},
      {"update_phone_token",
       [&](const std::string& v) {
         v1::UpdatePhoneRequest request;
         request.set_update_phone_token(v);
         v1::CommonResponse response;
         return client_->Call(&Stub::UpdatePhone, "holder", request,
                              &response);
       }},
  };
  for (const Case& c : cases) {
    for (const std::string& value : HostileStrings()) {
      CallResult result = c.call(value);
      const std::string what = absl::StrCat(c.field, " = \"",
                                            value.substr(0, 40), "\"");
      if (c.field == "update_phone_token" && value == "-1") {
        // Shaped like a token (base64url): looked up, and not found.
        EXPECT_EQ(result.code(), grpc::StatusCode::NOT_FOUND) << what;
        EXPECT_EQ(result.api_code(), 2310) << what;
        continue;
      }
      EXPECT_EQ(result.code(), grpc::StatusCode::INVALID_ARGUMENT) << what;
      EXPECT_EQ(result.api_code(), 1001) << what;
      EXPECT_THAT(result.status.error_message(), HasSubstr(c.field)) << what;
    }
  }
  // Nothing was sent, nothing changed hands.
  EXPECT_EQ(OutboxLines(), 0);
  v1::GetProfileResponse profile;
  ASSERT_TRUE(client_
                  ->Call(&Stub::GetProfile, "holder", v1::GetProfileRequest(),
                         &profile)
                  .status.ok());
  EXPECT_EQ(profile.data().phone_e164(), kTestPhone);
  ExpectAlive();
}

TEST_F(HostileInputE2eTest, FieldsOverTheCapAreNamedEvenWhenIgnored) {
  // An account without a phone has no old phone to prove: the old-phone
  // fields are not read, but a value over kMaxRequestStringBytes is still
  // refused.
  StartServer(BaseOptions());
  v1::UpdatePhoneVerificationRequest request;
  request.set_new_phone_country_code("+86");
  request.set_new_phone_number("13800138000");
  request.set_new_phone_pass_code(kTestCode);
  request.set_old_phone_number(std::string(kMaxRequestStringBytes + 1, '1'));
  v1::UpdatePhoneVerificationResponse response;
  CallResult result = client_->Call(&Stub::UpdatePhoneVerification, "u1",
                                    request, &response);
  EXPECT_EQ(result.code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(result.api_code(), 1001);
  EXPECT_EQ(result.status.error_message(),
            "old_phone_number: is longer than 128 bytes");
  // At the cap it is ignored, as before.
  request.set_old_phone_number(std::string(kMaxRequestStringBytes, '1'));
  result = client_->Call(&Stub::UpdatePhoneVerification, "u1", request,
                         &response);
  EXPECT_EQ(result.code(), grpc::StatusCode::OK)
      << result.status.error_message();
}

TEST_F(HostileInputE2eTest, HostileUserIdsAreUnauthenticatedOrOpaque) {
  StartServer(BaseOptions());
  // Values gRPC refuses to put on the wire (control characters, bytes over
  // 0x7e) are covered by authenticator_test; here is what reaches a server.
  for (const std::string& user_id :
       {std::string(" "), std::string("   "), std::string(129, 'u'),
        std::string(4000, 'u')}) {
    v1::GetProfileResponse response;
    CallResult result = client_->Call(&Stub::GetProfile, user_id,
                                      v1::GetProfileRequest(), &response);
    EXPECT_EQ(result.code(), grpc::StatusCode::UNAUTHENTICATED)
        << user_id.size();
    EXPECT_EQ(result.api_code(), 1000) << user_id.size();
  }
  // Repeated.
  {
    v1::GetProfileResponse response;
    CallResult result =
        client_->Call(&Stub::GetProfile, "a", v1::GetProfileRequest(),
                      &response, {{"x-user-id", "b"}});
    EXPECT_EQ(result.code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(result.api_code(), 1000);
  }
  // Printable text is an opaque id: served as that user, nothing else.
  for (const std::string& user_id :
       {std::string("1' OR '1'='1"), std::string("'; DROP TABLE profiles;--"),
        std::string("%s%s%n%x"), std::string("${jndi:ldap://x}"),
        std::string("*"), std::string("%"), std::string(128, 'u')}) {
    v1::GetProfileResponse response;
    CallResult result = client_->Call(&Stub::GetProfile, user_id,
                                      v1::GetProfileRequest(), &response);
    EXPECT_EQ(result.code(), grpc::StatusCode::OK) << user_id;
    EXPECT_EQ(response.data().user_id(), user_id);
    EXPECT_EQ(response.data().phone_e164(), "");
  }
  ExpectAlive();
}

TEST_F(HostileInputE2eTest, HostileMetadataValuesAreIgnoredOrRefused) {
  ServerOptions options = BaseOptions();
  options.max_metadata_bytes = 4096;
  StartServer(options);
  // Over-long or odd request ids are replaced, odd languages mean English.
  for (const Metadata& metadata :
       {Metadata{{"x-request-id", std::string(65, 'r')}},
        Metadata{{"x-request-id", "id with spaces; DROP TABLE x"}},
        Metadata{{"x-request-id", "%s%n%x"}},
        Metadata{{"x-authing-lang", std::string(2000, 'z')}},
        Metadata{{"accept-language", "zh" + std::string(2000, ';')}},
        Metadata{{"accept-language", "%s%n"}, {"x-authing-lang", "${x}"}},
        Metadata{{"authorization", "Bearer " + std::string(2000, 'a')}}}) {
    v1::GetProfileResponse response;
    CallResult result = client_->Call(&Stub::GetProfile, "u1",
                                      v1::GetProfileRequest(), &response,
                                      metadata);
    EXPECT_EQ(result.code(), grpc::StatusCode::OK) << metadata[0].first;
    EXPECT_NE(response.request_id(), metadata[0].second);
    EXPECT_LE(response.request_id().size(), 64u);
  }
  // Metadata over --max_metadata_bytes is refused by gRPC before any
  // handler runs, and gRPC then closes that caller's connection (its header
  // compression state cannot be trusted after an aborted header block). Each
  // call therefore gets a connection of its own: on a shared one, the next
  // call can be written before the client has read the close, and fails
  // UNAVAILABLE "Socket closed" (seen once in 50 runs).
  auto own_connection = [&] {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return std::make_unique<E2eClient>(grpc::CreateCustomChannel(
        absl::StrCat("127.0.0.1:", server_->port()),
        grpc::InsecureChannelCredentials(), args));
  };
  for (const Metadata& metadata :
       {Metadata{{"x-request-id", std::string(8000, 'r')}},
        Metadata{{"x-padding", std::string(3000, 'p')},
                 {"x-padding-2", std::string(3000, 'p')}}}) {
    v1::GetProfileResponse response;
    CallResult result = own_connection()->Call(
        &Stub::GetProfile, "u1", v1::GetProfileRequest(), &response,
        metadata);
    EXPECT_EQ(result.code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
        << metadata[0].first << ": " << result.status.error_message();
    EXPECT_THAT(result.status.error_message(), HasSubstr("metadata"));
  }
  // Closing the connection costs only that caller: the shared client and a
  // new connection are both served.
  std::unique_ptr<E2eClient> fresh = own_connection();
  for (E2eClient* client : {client_.get(), fresh.get()}) {
    v1::GetProfileResponse response;
    CallResult result =
        client->Call(&Stub::GetProfile, "alive", v1::GetProfileRequest(),
                     &response, {}, /*wait_for_ready=*/true);
    EXPECT_EQ(result.code(), grpc::StatusCode::OK)
        << result.status.error_message();
    EXPECT_EQ(response.data().user_id(), "alive");
  }
}

TEST_F(HostileInputE2eTest, VerificationFloodStopsAtMaxLiveTokens) {
  ServerOptions options = BaseOptions();
  options.core.stores.max_live_tokens = 5;
  StartServer(options);
  constexpr int kThreads = 8;
  constexpr int kUsersPerThread = 25;
  std::atomic<int> ok{0}, full{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kUsersPerThread; ++i) {
        v1::UpdatePhoneVerificationRequest request;
        request.set_new_phone_country_code("+86");
        request.set_new_phone_number("13800138000");
        request.set_new_phone_pass_code(kTestCode);
        v1::UpdatePhoneVerificationResponse response;
        CallResult result =
            client_->Call(&Stub::UpdatePhoneVerification,
                          absl::StrCat("flood-", t, "-", i), request,
                          &response);
        if (result.code() == grpc::StatusCode::OK) {
          ++ok;
        } else if (result.code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
                   result.api_code() == 2312) {
          ++full;
        } else {
          ++other;
          ADD_FAILURE() << result.code() << " " << result.api_code() << " "
                        << result.status.error_message();
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), 5);
  EXPECT_EQ(full.load(), kThreads * kUsersPerThread - 5);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(server_->tokens().Size(), 5u);
  ExpectAlive();
}

TEST_F(HostileInputE2eTest, AnAlreadyExpiredDeadlineDoesNoWork) {
  StartServer(BaseOptions());
  v1::SendPhoneCodeRequest request;
  request.set_phone_country_code("+86");
  request.set_phone_number("13800138002");
  request.set_purpose(v1::PHONE_CODE_PURPOSE_NEW_PHONE);
  grpc::ClientContext context;
  context.AddMetadata("x-user-id", "u1");
  context.set_deadline(std::chrono::system_clock::now() -
                       std::chrono::seconds(1));
  v1::SendPhoneCodeResponse response;
  grpc::Status status =
      client_->stub().SendPhoneCode(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(OutboxLines(), 0);
  // The phone's cooldown was not started either.
  v1::SendPhoneCodeResponse sent;
  EXPECT_EQ(client_->Call(&Stub::SendPhoneCode, "u1", request, &sent).code(),
            grpc::StatusCode::OK);
  EXPECT_EQ(OutboxLines(), 1);
}

// The service on a real socket with an executor that holds the first call
// until the test lets it run: the call is then cancelled or expired while
// queued, exactly as on a saturated backend pool.
class GatedExecutor final : public Executor {
 public:
  bool TrySchedule(std::function<void()> fn) override {
    {
      absl::MutexLock lock(&mu_);
      if (!held_) {
        held_ = std::move(fn);
        queued_.Notify();
        return true;
      }
    }
    fn();
    return true;
  }
  // Waits until a call is queued; false if none came within `timeout`.
  bool WaitQueued(absl::Duration timeout) {
    return queued_.WaitForNotificationWithTimeout(timeout);
  }
  void RunHeld() {
    std::function<void()> fn;
    {
      absl::MutexLock lock(&mu_);
      fn = held_;
    }
    fn();
  }

 private:
  absl::Mutex mu_;
  std::function<void()> held_ ABSL_GUARDED_BY(mu_);
  absl::Notification queued_;
};

class QueuedCallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The server as main.cc starts it, with a sender that counts as a
    // network provider (so SendPhoneCode goes to the executor) and the
    // held executor.
    ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.core.stores.max_live_tokens = 1000;
    ServerOverrides overrides;
    overrides.core.sms = sms_;
    overrides.executor = executor_;
    absl::StatusOr<std::unique_ptr<ProfileServer>> server =
        ProfileServer::Start(options, std::move(overrides));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    client_ = std::make_unique<E2eClient>(server_->port());
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(absl::ZeroDuration());
  }

  static v1::SendPhoneCodeRequest SendRequest() {
    v1::SendPhoneCodeRequest request;
    request.set_phone_country_code("+86");
    request.set_phone_number("13800138002");
    request.set_purpose(v1::PHONE_CODE_PURPOSE_NEW_PHONE);
    return request;
  }

  // A SendPhoneCode from u1, made asynchronously.
  struct AsyncSend {
    grpc::ClientContext context;
    v1::SendPhoneCodeRequest request = SendRequest();
    v1::SendPhoneCodeResponse response;
    absl::Notification done;
    grpc::Status status;

    // Returns the call's status once it has ended.
    grpc::Status Wait() {
      done.WaitForNotification();
      return status;
    }
  };

  // Starts `send` with `deadline` and returns once the server has queued it
  // on the held executor.
  void StartQueued(AsyncSend& send,
                   std::chrono::system_clock::time_point deadline) {
    send.context.AddMetadata("x-user-id", "u1");
    send.context.set_deadline(deadline);
    client_->stub().async()->SendPhoneCode(
        &send.context, &send.request, &send.response,
        [&send](grpc::Status status) {
          send.status = std::move(status);
          send.done.Notify();
        });
    ASSERT_TRUE(executor_->WaitQueued(absl::Seconds(30)));
  }

  // A round trip on the same connection: the server has read everything the
  // client sent before it (frames on one connection are read in order).
  void RoundTrip() {
    v1::GetProfileResponse response;
    EXPECT_EQ(client_
                  ->Call(&Stub::GetProfile, "probe", v1::GetProfileRequest(),
                         &response)
                  .code(),
              grpc::StatusCode::OK);
  }

  // The call that was held did nothing: no SMS, and the cooldown of the
  // phone was not started (a new SendPhoneCode is served and texts).
  void ExpectNoWorkWasDone() {
    EXPECT_EQ(sms_->count(), 0);
    v1::SendPhoneCodeResponse response;
    CallResult again =
        client_->Call(&Stub::SendPhoneCode, "u1", SendRequest(), &response);
    EXPECT_EQ(again.code(), grpc::StatusCode::OK)
        << again.status.error_message();
    EXPECT_EQ(sms_->count(), 1);
  }

  std::shared_ptr<CapturingSmsSender> sms_ =
      std::make_shared<CapturingSmsSender>(/*may_block=*/true);
  std::shared_ptr<GatedExecutor> executor_ = std::make_shared<GatedExecutor>();
  std::unique_ptr<ProfileServer> server_;
  std::unique_ptr<E2eClient> client_;
};

TEST_F(QueuedCallTest, CallCancelledWhileQueuedSendsNoSms) {
  AsyncSend send;
  ASSERT_NO_FATAL_FAILURE(StartQueued(
      send, std::chrono::system_clock::now() + std::chrono::seconds(60)));
  send.context.TryCancel();
  EXPECT_EQ(send.Wait().error_code(), grpc::StatusCode::CANCELLED);
  RoundTrip();
  // The cancellation travels from the transport to the call asynchronously;
  // give it a moment beyond the round trip before the held call runs.
  absl::SleepFor(absl::Milliseconds(200));
  executor_->RunHeld();
  ExpectNoWorkWasDone();
}

TEST_F(QueuedCallTest, CallExpiredWhileQueuedSendsNoSms) {
  const auto deadline =
      std::chrono::system_clock::now() + std::chrono::seconds(3);
  AsyncSend send;
  ASSERT_NO_FATAL_FAILURE(StartQueued(send, deadline));
  EXPECT_EQ(send.Wait().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // The server's deadline is the client's, give or take the encoding of
  // grpc-timeout; a second later it has certainly passed.
  while (std::chrono::system_clock::now() <
         deadline + std::chrono::seconds(1)) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  executor_->RunHeld();
  ExpectNoWorkWasDone();
}

// The profile_server binary: flags, many connections, memory, exit code.
class HostileBinaryTest : public ::testing::Test {};

TEST_F(HostileBinaryTest, OutOfRangeLimitFlagsStopTheStart) {
  for (const std::string& flag :
       {std::string("--max_request_bytes=10"),
        std::string("--max_metadata_bytes=100"),
        std::string("--max_concurrent_streams=0"),
        std::string("--memory_quota_bytes=1000"),
        std::string("--max_connection_idle=10ms"),
        std::string("--keepalive_time=1s"),
        std::string("--keepalive_timeout=0s"),
        std::string("--handshake_timeout=0s")}) {
    ServerProcess server;
    EXPECT_FALSE(server.Start(kBinary, {flag}));
    EXPECT_EQ(server.Wait(absl::Seconds(10)), 1) << flag;
    const std::string name = flag.substr(0, flag.find('='));
    EXPECT_THAT(server.log(), HasSubstr(name)) << flag;
  }
}

TEST_F(HostileBinaryTest, IdleConnectionsDoNotStarveACaller) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(
      kBinary, {"--test_phone_codes=+8613800138000:246810",
                "--max_request_bytes=2048", "--handshake_timeout=2s"}));
  const int64_t rss_before = ResidentKib(server.pid());
  ASSERT_GT(rss_before, 0);

  // 300 idle HTTP/2 connections (one per channel) ...
  std::vector<std::shared_ptr<grpc::Channel>> idle;
  for (int i = 0; i < 300; ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("profile.test.channel", i);  // no sharing between channels
    idle.push_back(grpc::CreateCustomChannel(
        absl::StrCat("127.0.0.1:", server.port()),
        grpc::InsecureChannelCredentials(), args));
  }
  for (auto& channel : idle) {
    ASSERT_TRUE(channel->WaitForConnected(std::chrono::system_clock::now() +
                                          std::chrono::seconds(30)));
  }
  // ... and 200 sockets that connect and never say a word (slowloris).
  std::vector<int> silent;
  for (int i = 0; i < 200; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(server.port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
              0);
    silent.push_back(fd);
  }

  // A real caller is served the whole flow meanwhile.
  E2eClient client(server.port());
  v1::UpdatePhoneVerificationRequest verify;
  verify.set_new_phone_country_code("+86");
  verify.set_new_phone_number("13800138000");
  verify.set_new_phone_pass_code("246810");
  v1::UpdatePhoneVerificationResponse verified;
  CallResult result =
      client.Call(&Stub::UpdatePhoneVerification, "u1", verify, &verified);
  ASSERT_EQ(result.code(), grpc::StatusCode::OK)
      << result.status.error_message();
  v1::UpdatePhoneRequest update;
  update.set_update_phone_token(verified.data().update_phone_token());
  v1::CommonResponse updated;
  EXPECT_EQ(client.Call(&Stub::UpdatePhone, "u1", update, &updated).code(),
            grpc::StatusCode::OK);
  // The limit flags reach the binary.
  grpc::GenericStub generic(client.channel());
  CallResult big = RawCall(generic, "GetProfile",
                           "\x7a\x8c\x10" + std::string(2060, 'x'),
                           {{"x-user-id", "u1"}});
  EXPECT_EQ(big.code(), grpc::StatusCode::RESOURCE_EXHAUSTED);

  // Memory stays bounded: 500 connections cost well under 64 MiB (under
  // ASan, which keeps up to 256 MiB of freed memory in quarantine and pads
  // every allocation, under 384 MiB).
#if defined(__SANITIZE_ADDRESS__)
  constexpr int64_t kMaxGrowthKib = 384 * 1024;
#else
  constexpr int64_t kMaxGrowthKib = 64 * 1024;
#endif
  const int64_t rss_after = ResidentKib(server.pid());
  std::fprintf(stderr, "server resident memory: %lld KiB idle, %lld KiB with "
               "500 connections\n", static_cast<long long>(rss_before),
               static_cast<long long>(rss_after));
  EXPECT_LT(rss_after - rss_before, kMaxGrowthKib)
      << rss_before << " KiB before, " << rss_after << " KiB after";

  // The silent sockets are closed by the server once the handshake
  // timeout passes: a read returns end of file (or a reset).
  for (int fd : silent) {
    timeval timeout{30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  }
  char byte;
  for (int fd : silent) {
    ssize_t n;
    do {
      n = read(fd, &byte, 1);
    } while (n > 0);  // the server's SETTINGS frame, then end of file
    EXPECT_TRUE(n == 0 || errno == ECONNRESET) << n << " errno " << errno;
    close(fd);
  }
  idle.clear();
  EXPECT_EQ(server.Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace profile
