// Tests of profile::client::ProfileClient.
//
// Two layers:
//   * ProfileClientMockTest drives the client through the generated gMock
//     stub (profile/v1/profile_mock.grpc.pb.h) and inspects the ClientContext
//     it builds: the exact metadata sent and the deadline.
//   * ProfileClientWireTest runs a tiny in-process ProfileService on
//     127.0.0.1:0 that records what it receives and answers errors with the
//     service's trailing metadata (x-api-code, x-request-id, retry-after),
//     which a mock cannot inject into a ClientContext.
#include "client/profile_client.h"

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <grpcpp/test/client_context_test_peer.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "profile/v1/profile.grpc.pb.h"
#include "profile/v1/profile.pb.h"

// The gMock stub exists only when proto/ generates it
// (generate_mock_code=true); without it the mock tests report a skip
// instead of breaking the build.
#if __has_include("profile/v1/profile_mock.grpc.pb.h")
#include "profile/v1/profile_mock.grpc.pb.h"
#define PROFILE_HAVE_MOCK_STUB 1
#else
#define PROFILE_HAVE_MOCK_STUB 0
#endif

namespace profile {
namespace client {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;
using ::testing::Pair;

using Metadata = std::multimap<std::string, std::string>;

ProfileClient::Options FullOptions() {
  ProfileClient::Options options;
  options.user_id = "u1";
  options.request_id = "req-1";
  options.language = "zh-CN";
  options.timeout = absl::Seconds(7);
  return options;
}

TEST(StatusAccessorsTest, PlainStatusesCarryNothing) {
  EXPECT_EQ(ApiCodeOf(absl::OkStatus()), 0);
  EXPECT_EQ(RequestIdOf(absl::OkStatus()), "");
  EXPECT_EQ(RetryAfterOf(absl::OkStatus()), -1);

  absl::Status error = absl::InvalidArgumentError("bad");
  EXPECT_EQ(ApiCodeOf(error), 0);
  EXPECT_EQ(RequestIdOf(error), "");
  EXPECT_EQ(RetryAfterOf(error), -1);
}

// ---------------------------------------------------------------------------
// Through the gMock stub.
// ---------------------------------------------------------------------------

#if PROFILE_HAVE_MOCK_STUB

using ::testing::_;
using ::testing::Return;
using ::testing::StrictMock;

class ProfileClientMockTest : public ::testing::Test {
 protected:
  ProfileClientMockTest() {
    auto stub = std::make_unique<StrictMock<v1::MockProfileServiceStub>>();
    stub_ = stub.get();
    client_ = std::make_unique<ProfileClient>(std::move(stub), FullOptions());
  }

  StrictMock<v1::MockProfileServiceStub>* stub_;  // owned by client_
  std::unique_ptr<ProfileClient> client_;
};

TEST_F(ProfileClientMockTest, SendsMetadataAndDeadline) {
  Metadata sent;
  std::chrono::system_clock::time_point deadline;
  const absl::Time before = absl::Now();
  EXPECT_CALL(*stub_, GetProfile(_, _, _))
      .WillOnce([&](grpc::ClientContext* context, const v1::GetProfileRequest&,
                    v1::GetProfileResponse* response) {
        sent = grpc::testing::ClientContextTestPeer(context)
                   .GetSendInitialMetadata();
        deadline = context->deadline();
        response->set_status_code(200);
        response->set_request_id("req-1");
        response->mutable_data()->set_user_id("u1");
        return grpc::Status::OK;
      });

  absl::StatusOr<v1::GetProfileResponse> response =
      client_->GetProfile(v1::GetProfileRequest());
  const absl::Time after = absl::Now();

  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status_code(), 200);
  EXPECT_EQ(response->request_id(), "req-1");
  EXPECT_EQ(response->data().user_id(), "u1");
  EXPECT_THAT(sent, ElementsAre(Pair("x-authing-lang", "zh-CN"),
                                Pair("x-request-id", "req-1"),
                                Pair("x-user-id", "u1")));
  EXPECT_GE(absl::FromChrono(deadline), before + absl::Seconds(7));
  EXPECT_LE(absl::FromChrono(deadline), after + absl::Seconds(7));
}

TEST_F(ProfileClientMockTest, EmptyOptionsSendNoMetadata) {
  Metadata sent = {{"sentinel", "x"}};
  EXPECT_CALL(*stub_, UpdatePhone(_, _, _))
      .WillOnce([&](grpc::ClientContext* context,
                    const v1::UpdatePhoneRequest& request,
                    v1::CommonResponse* response) {
        sent = grpc::testing::ClientContextTestPeer(context)
                   .GetSendInitialMetadata();
        EXPECT_EQ(request.update_phone_token(), "tok");
        response->set_status_code(200);
        return grpc::Status::OK;
      });

  v1::UpdatePhoneRequest request;
  request.set_update_phone_token("tok");
  absl::StatusOr<v1::CommonResponse> response =
      client_->UpdatePhone(request, ProfileClient::Options());

  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status_code(), 200);
  EXPECT_THAT(sent, IsEmpty());
}

TEST_F(ProfileClientMockTest, PerCallOptionsReplaceTheDefaults) {
  Metadata sent;
  std::chrono::system_clock::time_point deadline;
  const absl::Time before = absl::Now();
  EXPECT_CALL(*stub_, SendPhoneCode(_, _, _))
      .WillOnce([&](grpc::ClientContext* context,
                    const v1::SendPhoneCodeRequest& request,
                    v1::SendPhoneCodeResponse* response) {
        sent = grpc::testing::ClientContextTestPeer(context)
                   .GetSendInitialMetadata();
        deadline = context->deadline();
        EXPECT_EQ(request.phone_country_code(), "+86");
        EXPECT_EQ(request.phone_number(), "18800008888");
        EXPECT_EQ(request.purpose(), v1::PHONE_CODE_PURPOSE_NEW_PHONE);
        response->set_status_code(200);
        response->mutable_data()->set_expires_in(300);
        return grpc::Status::OK;
      });

  ProfileClient::Options options;
  options.user_id = "u2";
  options.timeout = absl::Milliseconds(250);
  v1::SendPhoneCodeRequest request;
  request.set_phone_country_code("+86");
  request.set_phone_number("18800008888");
  request.set_purpose(v1::PHONE_CODE_PURPOSE_NEW_PHONE);
  absl::StatusOr<v1::SendPhoneCodeResponse> response =
      client_->SendPhoneCode(request, options);
  const absl::Time after = absl::Now();

  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->data().expires_in(), 300);
  // SendPhoneCode always carries an idempotency key, fresh per call.
  EXPECT_THAT(sent, ElementsAre(Pair("x-idempotency-key",
                                     MatchesRegex("[0-9a-f]{32}")),
                                Pair("x-user-id", "u2")));
  EXPECT_GE(absl::FromChrono(deadline), before + absl::Milliseconds(250));
  EXPECT_LE(absl::FromChrono(deadline), after + absl::Milliseconds(250));
}

TEST_F(ProfileClientMockTest, RevertSendsTheTokenWithoutIdentityOrKey) {
  Metadata sent = {{"sentinel", "x"}};
  EXPECT_CALL(*stub_, RevertPhoneChange(_, _, _))
      .WillOnce([&](grpc::ClientContext* context,
                    const v1::RevertPhoneChangeRequest& request,
                    v1::CommonResponse* response) {
        sent = grpc::testing::ClientContextTestPeer(context)
                   .GetSendInitialMetadata();
        EXPECT_EQ(request.revert_token(), "rtok");
        response->set_status_code(200);
        response->set_request_id("rev-1");
        return grpc::Status::OK;
      });

  // The token is the proof: no user id is needed, and unlike SendPhoneCode
  // no idempotency key goes out.
  ProfileClient::Options options;
  options.request_id = "rev-1";
  v1::RevertPhoneChangeRequest request;
  request.set_revert_token("rtok");
  absl::StatusOr<v1::CommonResponse> response =
      client_->RevertPhoneChange(request, options);

  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status_code(), 200);
  EXPECT_EQ(response->request_id(), "rev-1");
  EXPECT_THAT(sent, ElementsAre(Pair("x-request-id", "rev-1")));
}

TEST_F(ProfileClientMockTest, InfiniteTimeoutSetsNoDeadline) {
  std::chrono::system_clock::time_point deadline;
  EXPECT_CALL(*stub_, GetProfile(_, _, _))
      .WillOnce([&](grpc::ClientContext* context, const v1::GetProfileRequest&,
                    v1::GetProfileResponse*) {
        deadline = context->deadline();
        return grpc::Status::OK;
      });

  ProfileClient::Options options = FullOptions();
  options.timeout = absl::InfiniteDuration();
  ASSERT_TRUE(client_->GetProfile(v1::GetProfileRequest(), options).ok());
  EXPECT_EQ(deadline, std::chrono::system_clock::time_point::max());
}

TEST_F(ProfileClientMockTest, ErrorKeepsCanonicalCodeAndMessage) {
  const grpc::StatusCode kCodes[] = {
      grpc::StatusCode::CANCELLED,
      grpc::StatusCode::UNKNOWN,
      grpc::StatusCode::INVALID_ARGUMENT,
      grpc::StatusCode::DEADLINE_EXCEEDED,
      grpc::StatusCode::NOT_FOUND,
      grpc::StatusCode::ALREADY_EXISTS,
      grpc::StatusCode::PERMISSION_DENIED,
      grpc::StatusCode::RESOURCE_EXHAUSTED,
      grpc::StatusCode::FAILED_PRECONDITION,
      grpc::StatusCode::ABORTED,
      grpc::StatusCode::OUT_OF_RANGE,
      grpc::StatusCode::UNIMPLEMENTED,
      grpc::StatusCode::INTERNAL,
      grpc::StatusCode::UNAVAILABLE,
      grpc::StatusCode::DATA_LOSS,
      grpc::StatusCode::UNAUTHENTICATED,
  };
  for (grpc::StatusCode code : kCodes) {
    SCOPED_TRACE(static_cast<int>(code));
    EXPECT_CALL(*stub_, UpdatePhoneVerification(_, _, _))
        .WillOnce(Return(grpc::Status(code, "the message")));

    absl::Status status =
        client_->UpdatePhoneVerification(v1::UpdatePhoneVerificationRequest())
            .status();

    EXPECT_EQ(static_cast<int>(status.code()), static_cast<int>(code));
    EXPECT_EQ(status.message(), "the message");
    // No trailing metadata reached the mock: no api code, no retry-after,
    // and the request id is the one the call sent.
    EXPECT_EQ(ApiCodeOf(status), 0);
    EXPECT_EQ(RetryAfterOf(status), -1);
    EXPECT_EQ(RequestIdOf(status), "req-1");
  }
}

TEST_F(ProfileClientMockTest, ErrorWithoutRequestIdHasNone) {
  EXPECT_CALL(*stub_, GetProfile(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::UNAVAILABLE, "down")));

  absl::Status status =
      client_->GetProfile(v1::GetProfileRequest(), ProfileClient::Options())
          .status();

  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(status.message(), "down");
  EXPECT_EQ(RequestIdOf(status), "");
}

TEST_F(ProfileClientMockTest, NonPositiveTimeoutFailsWithoutACall) {
  // StrictMock: any call to the stub fails the test.
  for (absl::Duration timeout : {absl::ZeroDuration(), absl::Seconds(-1)}) {
    ProfileClient::Options options = FullOptions();
    options.timeout = timeout;
    absl::Status status =
        client_->GetProfile(v1::GetProfileRequest(), options).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(status.message(), absl::StrCat("timeout must be positive, got ",
                                             absl::FormatDuration(timeout)));
  }
}

TEST_F(ProfileClientMockTest, UnsendableMetadataFailsWithoutACall) {
  ProfileClient::Options options = FullOptions();
  options.user_id = "u1\nx-user-id: admin";
  absl::Status status =
      client_->GetProfile(v1::GetProfileRequest(), options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "user_id must be printable ASCII, got \"u1\\nx-user-id: admin\"");

  options = FullOptions();
  options.language = "\xe4\xb8\xad";
  status = client_->GetProfile(v1::GetProfileRequest(), options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "language must be printable ASCII, got \"\\344\\270\\255\"");
}

TEST_F(ProfileClientMockTest, StubIsTheInjectedOne) {
  EXPECT_EQ(client_->stub(), stub_);
  EXPECT_EQ(client_->options().user_id, "u1");
  EXPECT_EQ(client_->options().timeout, absl::Seconds(7));
}

#else  // !PROFILE_HAVE_MOCK_STUB

TEST(ProfileClientMockTest, MockStubNotGenerated) {
  GTEST_SKIP() << "profile/v1/profile_mock.grpc.pb.h was not generated: "
                  "proto/CMakeLists.txt must run grpc_cpp_plugin with "
                  "generate_mock_code=true";
}

#endif  // PROFILE_HAVE_MOCK_STUB

// ---------------------------------------------------------------------------
// Over the wire, against an in-process server.
// ---------------------------------------------------------------------------

// What the recording service saw of the last call.
struct SeenCall {
  // The x-* metadata the client sent (gRPC adds others, like user-agent).
  std::map<std::string, std::string> metadata;
  std::chrono::system_clock::time_point deadline;
};

// A ProfileService that records each call and answers as the real service
// does on the wire:
//   GetProfile               OK, data.user_id = x-user-id.
//   UpdatePhone              OK, request_id = x-request-id.
//   UpdatePhoneVerification  INVALID_ARGUMENT, x-api-code 2001 and the
//                            server's own x-request-id "srv-req-9".
//   SendPhoneCode            RESOURCE_EXHAUSTED, x-api-code 2100,
//                            retry-after 42, x-request-id echoed.
//   RevertPhoneChange        NOT_FOUND, x-api-code 2320, x-request-id
//                            echoed.
// Thread-safety: thread-safe; calls arrive on gRPC's threads.
class RecordingService final : public v1::ProfileService::CallbackService {
 public:
  SeenCall last() const {
    absl::MutexLock lock(&mu_);
    return last_;
  }

  grpc::ServerUnaryReactor* GetProfile(
      grpc::CallbackServerContext* context, const v1::GetProfileRequest*,
      v1::GetProfileResponse* response) override {
    SeenCall seen = Record(context);
    response->set_status_code(200);
    response->mutable_data()->set_user_id(seen.metadata["x-user-id"]);
    return Finish(context, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* UpdatePhone(grpc::CallbackServerContext* context,
                                        const v1::UpdatePhoneRequest*,
                                        v1::CommonResponse* response) override {
    SeenCall seen = Record(context);
    response->set_status_code(200);
    response->set_request_id(seen.metadata["x-request-id"]);
    return Finish(context, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* UpdatePhoneVerification(
      grpc::CallbackServerContext* context,
      const v1::UpdatePhoneVerificationRequest*,
      v1::UpdatePhoneVerificationResponse*) override {
    Record(context);
    context->AddTrailingMetadata("x-api-code", "2001");
    context->AddTrailingMetadata("x-request-id", "srv-req-9");
    return Finish(context, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                        "the verification code is wrong"));
  }

  grpc::ServerUnaryReactor* SendPhoneCode(grpc::CallbackServerContext* context,
                                          const v1::SendPhoneCodeRequest*,
                                          v1::SendPhoneCodeResponse*) override {
    SeenCall seen = Record(context);
    context->AddTrailingMetadata("x-api-code", "2100");
    context->AddTrailingMetadata("x-request-id", seen.metadata["x-request-id"]);
    context->AddTrailingMetadata("retry-after", "42");
    return Finish(context, grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                        "codes requested too frequently"));
  }

  grpc::ServerUnaryReactor* RevertPhoneChange(
      grpc::CallbackServerContext* context,
      const v1::RevertPhoneChangeRequest*, v1::CommonResponse*) override {
    SeenCall seen = Record(context);
    context->AddTrailingMetadata("x-api-code", "2320");
    context->AddTrailingMetadata("x-request-id", seen.metadata["x-request-id"]);
    return Finish(context,
                  grpc::Status(grpc::StatusCode::NOT_FOUND,
                               "the revert token is unknown, expired or used"));
  }

 private:
  SeenCall Record(grpc::CallbackServerContext* context) {
    SeenCall seen;
    for (const auto& [key, value] : context->client_metadata()) {
      std::string name(key.data(), key.size());
      if (name.rfind("x-", 0) == 0) {
        seen.metadata[name] = std::string(value.data(), value.size());
      }
    }
    seen.deadline = context->deadline();
    absl::MutexLock lock(&mu_);
    last_ = seen;
    return seen;
  }

  static grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context,
                                          const grpc::Status& status) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(status);
    return reactor;
  }

  mutable absl::Mutex mu_;
  SeenCall last_ ABSL_GUARDED_BY(mu_);
};

class ProfileClientWireTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    // A stale server on a reused port must never answer these calls.
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port, 0);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                   grpc::InsecureChannelCredentials());
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  RecordingService service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(ProfileClientWireTest, ServerSeesMetadataAndDeadline) {
  ProfileClient client(channel_, FullOptions());
  const absl::Time before = absl::Now();
  absl::StatusOr<v1::GetProfileResponse> response =
      client.GetProfile(v1::GetProfileRequest());
  const absl::Time after = absl::Now();

  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status_code(), 200);
  EXPECT_EQ(response->data().user_id(), "u1");
  SeenCall seen = service_.last();
  EXPECT_THAT(seen.metadata, ElementsAre(Pair("x-authing-lang", "zh-CN"),
                                         Pair("x-request-id", "req-1"),
                                         Pair("x-user-id", "u1")));
  // The deadline travels as a rounded timeout measured against gRPC's
  // cached clocks, so the server's copy is only close to the client's.
  const absl::Duration slack = absl::Milliseconds(500);
  EXPECT_GE(absl::FromChrono(seen.deadline), before + absl::Seconds(7) - slack);
  EXPECT_LE(absl::FromChrono(seen.deadline), after + absl::Seconds(7) + slack);
}

TEST_F(ProfileClientWireTest, EmptyOptionsSendNoMetadata) {
  ProfileClient client(channel_);
  v1::UpdatePhoneRequest request;
  request.set_update_phone_token("tok");
  absl::StatusOr<v1::CommonResponse> response = client.UpdatePhone(request);

  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->request_id(), "");
  EXPECT_THAT(service_.last().metadata, IsEmpty());
}

TEST_F(ProfileClientWireTest, ErrorCarriesApiCodeAndServerRequestId) {
  ProfileClient client(channel_, FullOptions());
  v1::UpdatePhoneVerificationRequest request;
  request.set_new_phone_country_code("+86");
  request.set_new_phone_number("18800008888");
  request.set_new_phone_pass_code("000000");
  absl::Status status = client.UpdatePhoneVerification(request).status();

  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "the verification code is wrong");
  EXPECT_EQ(ApiCodeOf(status), 2001);
  // The server's id wins over the one the call sent.
  EXPECT_EQ(RequestIdOf(status), "srv-req-9");
  EXPECT_EQ(RetryAfterOf(status), -1);
}

TEST_F(ProfileClientWireTest, ResourceExhaustedCarriesRetryAfter) {
  ProfileClient client(channel_, FullOptions());
  v1::SendPhoneCodeRequest request;
  request.set_phone_country_code("+86");
  request.set_phone_number("18800008888");
  request.set_purpose(v1::PHONE_CODE_PURPOSE_NEW_PHONE);
  absl::Status status = client.SendPhoneCode(request).status();

  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(status.message(), "codes requested too frequently");
  EXPECT_EQ(ApiCodeOf(status), 2100);
  EXPECT_EQ(RetryAfterOf(status), 42);
  EXPECT_EQ(RequestIdOf(status), "req-1");
}

TEST_F(ProfileClientWireTest, RevertErrorCarriesApiCode) {
  ProfileClient client(channel_, FullOptions());
  v1::RevertPhoneChangeRequest request;
  request.set_revert_token("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
  absl::Status status = client.RevertPhoneChange(request).status();

  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(status.message(), "the revert token is unknown, expired or used");
  EXPECT_EQ(ApiCodeOf(status), 2320);
  EXPECT_EQ(RequestIdOf(status), "req-1");
  EXPECT_EQ(RetryAfterOf(status), -1);
  EXPECT_THAT(service_.last().metadata,
              ElementsAre(Pair("x-authing-lang", "zh-CN"),
                          Pair("x-request-id", "req-1"),
                          Pair("x-user-id", "u1")));
}

TEST(ProfileClientNoServerTest, UnreachableServerIsUnavailable) {
  // Port 1 on loopback: nothing listens, the connection is refused at once.
  ProfileClient::Options options;
  options.request_id = "req-2";
  options.timeout = absl::Seconds(2);
  ProfileClient client(
      grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials()),
      options);
  absl::Status status = client.GetProfile(v1::GetProfileRequest()).status();

  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ApiCodeOf(status), 0);
  EXPECT_EQ(RetryAfterOf(status), -1);
  EXPECT_EQ(RequestIdOf(status), "req-2");
}

// ---------------------------------------------------------------------------
// Retries, against an in-process server that fails each call's first
// attempt with UNAVAILABLE.
// ---------------------------------------------------------------------------

// A ProfileService whose every method answers the first attempt of a call
// UNAVAILABLE (api code 5003, as the real service when a backend is down)
// and the next one OK, and records the x-idempotency-key of each attempt.
// Attempts of one call are told apart from new calls by the request: each
// test uses a distinct request per logical call.
// Thread-safety: thread-safe; calls arrive on gRPC's threads.
class FlakyService final : public v1::ProfileService::CallbackService {
 public:
  // The x-idempotency-key of every attempt so far ("-" for none), in order.
  std::vector<std::string> keys() const {
    absl::MutexLock lock(&mu_);
    return keys_;
  }

  grpc::ServerUnaryReactor* GetProfile(
      grpc::CallbackServerContext* context, const v1::GetProfileRequest*,
      v1::GetProfileResponse* response) override {
    response->set_status_code(200);
    return Answer(context, "get");
  }

  grpc::ServerUnaryReactor* UpdatePhone(grpc::CallbackServerContext* context,
                                        const v1::UpdatePhoneRequest* request,
                                        v1::CommonResponse* response) override {
    response->set_status_code(200);
    return Answer(context, "update " + request->update_phone_token());
  }

  grpc::ServerUnaryReactor* UpdatePhoneVerification(
      grpc::CallbackServerContext* context,
      const v1::UpdatePhoneVerificationRequest* request,
      v1::UpdatePhoneVerificationResponse* response) override {
    response->set_status_code(200);
    return Answer(context, "verify " + request->new_phone_number());
  }

  grpc::ServerUnaryReactor* SendPhoneCode(
      grpc::CallbackServerContext* context,
      const v1::SendPhoneCodeRequest* request,
      v1::SendPhoneCodeResponse* response) override {
    response->set_status_code(200);
    response->mutable_data()->set_expires_in(300);
    return Answer(context, "send " + request->phone_number());
  }

  grpc::ServerUnaryReactor* RevertPhoneChange(
      grpc::CallbackServerContext* context,
      const v1::RevertPhoneChangeRequest* request,
      v1::CommonResponse* response) override {
    response->set_status_code(200);
    return Answer(context, "revert " + request->revert_token());
  }

 private:
  grpc::ServerUnaryReactor* Answer(grpc::CallbackServerContext* context,
                                   const std::string& call) {
    std::string key = "-";
    auto it = context->client_metadata().find("x-idempotency-key");
    if (it != context->client_metadata().end()) {
      key = std::string(it->second.data(), it->second.size());
    }
    bool first;
    {
      absl::MutexLock lock(&mu_);
      keys_.push_back(key);
      first = ++attempts_[call] == 1;
    }
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    if (first) {
      context->AddTrailingMetadata("x-api-code", "5003");
      reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                   "a backend is unavailable; retry later"));
    } else {
      reactor->Finish(grpc::Status::OK);
    }
    return reactor;
  }

  mutable absl::Mutex mu_;
  std::vector<std::string> keys_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> attempts_ ABSL_GUARDED_BY(mu_);
};

class ProfileClientRetryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  std::string target() const { return absl::StrCat("127.0.0.1:", port_); }

  static v1::SendPhoneCodeRequest SendRequest(const std::string& number) {
    v1::SendPhoneCodeRequest request;
    request.set_phone_country_code("+86");
    request.set_phone_number(number);
    request.set_purpose(v1::PHONE_CODE_PURPOSE_NEW_PHONE);
    return request;
  }

  FlakyService service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(ProfileClientRetryTest, SendPhoneCodeRetriesWithOneKey) {
  ProfileClient client(target(), grpc::InsecureChannelCredentials(),
                       FullOptions());
  absl::StatusOr<v1::SendPhoneCodeResponse> response =
      client.SendPhoneCode(SendRequest("18800008888"));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->data().expires_in(), 300);
  std::vector<std::string> keys = service_.keys();
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_THAT(keys[0], MatchesRegex("[0-9a-f]{32}"));
  EXPECT_EQ(keys[1], keys[0]);

  // The next logical call has a key of its own.
  ASSERT_TRUE(client.SendPhoneCode(SendRequest("18800008889")).ok());
  keys = service_.keys();
  ASSERT_EQ(keys.size(), 4u);
  EXPECT_EQ(keys[3], keys[2]);
  EXPECT_NE(keys[2], keys[0]);
}

TEST_F(ProfileClientRetryTest, SendPhoneCodeRetriesWithTheCallersKey) {
  ProfileClient::Options options = FullOptions();
  options.idempotency_key = "order-42:send";
  ProfileClient client(CreateProfileChannel(
                           target(), grpc::InsecureChannelCredentials()),
                       options);
  ASSERT_TRUE(client.SendPhoneCode(SendRequest("18800008888")).ok());
  EXPECT_THAT(service_.keys(), ElementsAre("order-42:send", "order-42:send"));
}

TEST_F(ProfileClientRetryTest, GetProfileAndUpdatePhoneRetryWithoutAKey) {
  ProfileClient client(target(), grpc::InsecureChannelCredentials(),
                       FullOptions());
  ASSERT_TRUE(client.GetProfile(v1::GetProfileRequest()).ok());
  v1::UpdatePhoneRequest update;
  update.set_update_phone_token("tok");
  ASSERT_TRUE(client.UpdatePhone(update).ok());
  EXPECT_THAT(service_.keys(), ElementsAre("-", "-", "-", "-"));
}

TEST_F(ProfileClientRetryTest, UpdatePhoneVerificationIsNotRetried) {
  ProfileClient client(target(), grpc::InsecureChannelCredentials(),
                       FullOptions());
  v1::UpdatePhoneVerificationRequest request;
  request.set_new_phone_number("18800008888");
  absl::Status status = client.UpdatePhoneVerification(request).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ApiCodeOf(status), 5003);
  EXPECT_EQ(service_.keys().size(), 1u);
}

// A revert token is single use: a blind repeat of a revert whose answer
// was lost would answer 2320, so the client leaves the decision to its
// caller.
TEST_F(ProfileClientRetryTest, RevertPhoneChangeIsNotRetried) {
  ProfileClient client(target(), grpc::InsecureChannelCredentials(),
                       FullOptions());
  v1::RevertPhoneChangeRequest request;
  request.set_revert_token("rtok");
  absl::Status status = client.RevertPhoneChange(request).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ApiCodeOf(status), 5003);
  EXPECT_THAT(service_.keys(), ElementsAre("-"));
}

TEST_F(ProfileClientRetryTest, PlainChannelDoesNotRetry) {
  ProfileClient client(
      grpc::CreateChannel(target(), grpc::InsecureChannelCredentials()),
      FullOptions());
  absl::Status status = client.GetProfile(v1::GetProfileRequest()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(service_.keys().size(), 1u);
}

}  // namespace
}  // namespace client
}  // namespace profile
