// Tests of profile::client::ProfileAdminClient.
//
// Two layers, as profile_client_test.cc:
//   * ProfileAdminClientMockTest drives the client through the generated
//     gMock stub (profile/admin/v1/admin_mock.grpc.pb.h) and inspects the
//     ClientContext it builds: the exact metadata sent (never x-user-id) and
//     the request fields.
//   * ProfileAdminClientRetryTest runs an in-process ProfileAdminService on
//     127.0.0.1:0 that answers each call's first attempt UNAVAILABLE, over
//     a channel from CreateProfileChannel(): the reads are retried, the
//     changes are not. Retries happen in the channel, which a mock stub
//     bypasses.
#include "client/profile_admin_client.h"

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
#include "client/profile_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "profile/admin/v1/admin.grpc.pb.h"
#include "profile/admin/v1/admin.pb.h"
#include "profile/admin/v1/admin_mock.grpc.pb.h"

namespace profile {
namespace client {
namespace {

using ::testing::_;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::Return;
using ::testing::StrictMock;

using Metadata = std::multimap<std::string, std::string>;

ProfileAdminClient::Options FullOptions() {
  ProfileAdminClient::Options options;
  options.request_id = "adm-1";
  options.language = "zh-CN";
  options.bearer_token = "admin.jwt";
  options.timeout = absl::Seconds(7);
  return options;
}

// ---------------------------------------------------------------------------
// Through the gMock stub.
// ---------------------------------------------------------------------------

class ProfileAdminClientMockTest : public ::testing::Test {
 protected:
  ProfileAdminClientMockTest() {
    auto stub =
        std::make_unique<StrictMock<admin::v1::MockProfileAdminServiceStub>>();
    stub_ = stub.get();
    client_ =
        std::make_unique<ProfileAdminClient>(std::move(stub), FullOptions());
  }

  // The metadata every call of FullOptions() sends: no x-user-id.
  static auto FullMetadata() {
    return ElementsAre(Pair("authorization", "Bearer admin.jwt"),
                       Pair("x-authing-lang", "zh-CN"),
                       Pair("x-request-id", "adm-1"));
  }

  StrictMock<admin::v1::MockProfileAdminServiceStub>* stub_;  // in client_
  std::unique_ptr<ProfileAdminClient> client_;
};

TEST_F(ProfileAdminClientMockTest, GetUserSendsMetadataAndDeadline) {
  Metadata sent;
  std::chrono::system_clock::time_point deadline;
  const absl::Time before = absl::Now();
  EXPECT_CALL(*stub_, GetUser(_, _, _))
      .WillOnce([&](grpc::ClientContext* context,
                    const admin::v1::GetUserRequest& request,
                    admin::v1::GetUserResponse* response) {
        sent = grpc::testing::ClientContextTestPeer(context)
                   .GetSendInitialMetadata();
        deadline = context->deadline();
        EXPECT_EQ(request.user_id(), "u1");
        response->set_status_code(200);
        response->set_request_id("adm-1");
        response->mutable_data()->set_user_id("u1");
        response->mutable_data()->set_phone_e164("+8613800138000");
        return grpc::Status::OK;
      });

  admin::v1::GetUserRequest request;
  request.set_user_id("u1");
  absl::StatusOr<admin::v1::GetUserResponse> response =
      client_->GetUser(request);
  const absl::Time after = absl::Now();

  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status_code(), 200);
  EXPECT_EQ(response->data().user_id(), "u1");
  EXPECT_EQ(response->data().phone_e164(), "+8613800138000");
  EXPECT_THAT(sent, FullMetadata());
  EXPECT_GE(absl::FromChrono(deadline), before + absl::Seconds(7));
  EXPECT_LE(absl::FromChrono(deadline), after + absl::Seconds(7));
}

TEST_F(ProfileAdminClientMockTest, ChangesSendTheirFieldsAndNoUserId) {
  Metadata set_sent, clear_sent, unlock_sent;
  EXPECT_CALL(*stub_, SetPhone(_, _, _))
      .WillOnce([&](grpc::ClientContext* context,
                    const admin::v1::SetPhoneRequest& request,
                    admin::v1::SetPhoneResponse* response) {
        set_sent = grpc::testing::ClientContextTestPeer(context)
                       .GetSendInitialMetadata();
        EXPECT_EQ(request.user_id(), "u1");
        EXPECT_EQ(request.phone_country_code(), "+86");
        EXPECT_EQ(request.phone_number(), "13800138001");
        EXPECT_EQ(request.reason(), "ticket 4711: identity proofed");
        response->set_status_code(200);
        return grpc::Status::OK;
      });
  EXPECT_CALL(*stub_, ClearPhone(_, _, _))
      .WillOnce([&](grpc::ClientContext* context,
                    const admin::v1::ClearPhoneRequest& request,
                    admin::v1::ClearPhoneResponse* response) {
        clear_sent = grpc::testing::ClientContextTestPeer(context)
                         .GetSendInitialMetadata();
        EXPECT_EQ(request.user_id(), "u2");
        EXPECT_EQ(request.reason(), "ticket 4712");
        response->set_status_code(200);
        return grpc::Status::OK;
      });
  EXPECT_CALL(*stub_, UnlockPhoneChanges(_, _, _))
      .WillOnce([&](grpc::ClientContext* context,
                    const admin::v1::UnlockPhoneChangesRequest& request,
                    admin::v1::UnlockPhoneChangesResponse* response) {
        unlock_sent = grpc::testing::ClientContextTestPeer(context)
                          .GetSendInitialMetadata();
        EXPECT_EQ(request.user_id(), "u3");
        EXPECT_EQ(request.reason(), "ticket 4713");
        response->set_status_code(200);
        return grpc::Status::OK;
      });

  admin::v1::SetPhoneRequest set;
  set.set_user_id("u1");
  set.set_phone_country_code("+86");
  set.set_phone_number("13800138001");
  set.set_reason("ticket 4711: identity proofed");
  admin::v1::ClearPhoneRequest clear;
  clear.set_user_id("u2");
  clear.set_reason("ticket 4712");
  admin::v1::UnlockPhoneChangesRequest unlock;
  unlock.set_user_id("u3");
  unlock.set_reason("ticket 4713");

  absl::StatusOr<admin::v1::SetPhoneResponse> set_response =
      client_->SetPhone(set);
  absl::StatusOr<admin::v1::ClearPhoneResponse> clear_response =
      client_->ClearPhone(clear);
  absl::StatusOr<admin::v1::UnlockPhoneChangesResponse> unlock_response =
      client_->UnlockPhoneChanges(unlock);

  ASSERT_TRUE(set_response.ok()) << set_response.status();
  ASSERT_TRUE(clear_response.ok()) << clear_response.status();
  ASSERT_TRUE(unlock_response.ok()) << unlock_response.status();
  EXPECT_EQ(set_response->status_code(), 200);
  EXPECT_THAT(set_sent, FullMetadata());
  EXPECT_THAT(clear_sent, FullMetadata());
  EXPECT_THAT(unlock_sent, FullMetadata());
}

TEST_F(ProfileAdminClientMockTest, ListPhoneChangesSendsPaging) {
  EXPECT_CALL(*stub_, ListPhoneChanges(_, _, _))
      .WillOnce([&](grpc::ClientContext*,
                    const admin::v1::ListPhoneChangesRequest& request,
                    admin::v1::ListPhoneChangesResponse* response) {
        EXPECT_EQ(request.user_id(), "u1");
        EXPECT_EQ(request.page_size(), 50);
        EXPECT_EQ(request.page_token(), "next-1");
        response->set_status_code(200);
        admin::v1::PhoneChange* change = response->add_changes();
        change->set_action("set");
        change->set_actor("spiffe://example/sa/support-console");
        response->set_next_page_token("next-2");
        return grpc::Status::OK;
      });

  admin::v1::ListPhoneChangesRequest request;
  request.set_user_id("u1");
  request.set_page_size(50);
  request.set_page_token("next-1");
  absl::StatusOr<admin::v1::ListPhoneChangesResponse> response =
      client_->ListPhoneChanges(request);

  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->changes_size(), 1);
  EXPECT_EQ(response->changes(0).action(), "set");
  EXPECT_EQ(response->next_page_token(), "next-2");
}

TEST_F(ProfileAdminClientMockTest, EmptyOptionsSendNoMetadata) {
  Metadata sent = {{"sentinel", "x"}};
  EXPECT_CALL(*stub_, ClearPhone(_, _, _))
      .WillOnce([&](grpc::ClientContext* context,
                    const admin::v1::ClearPhoneRequest&,
                    admin::v1::ClearPhoneResponse*) {
        sent = grpc::testing::ClientContextTestPeer(context)
                   .GetSendInitialMetadata();
        return grpc::Status::OK;
      });

  ASSERT_TRUE(client_
                  ->ClearPhone(admin::v1::ClearPhoneRequest(),
                               ProfileAdminClient::Options())
                  .ok());
  // Not even an idempotency key: the admin API takes none.
  EXPECT_THAT(sent, IsEmpty());
}

TEST_F(ProfileAdminClientMockTest, ErrorKeepsCodeMessageAndRequestId) {
  EXPECT_CALL(*stub_, SetPhone(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                                    "the caller is not an admin")));

  absl::Status status =
      client_->SetPhone(admin::v1::SetPhoneRequest()).status();

  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(status.message(), "the caller is not an admin");
  // No trailing metadata reached the mock: the request id is the one sent.
  EXPECT_EQ(ApiCodeOf(status), 0);
  EXPECT_EQ(RequestIdOf(status), "adm-1");
}

TEST_F(ProfileAdminClientMockTest, UnsendableOptionsFailWithoutACall) {
  // StrictMock: any call to the stub fails the test.
  ProfileAdminClient::Options options = FullOptions();
  options.timeout = absl::ZeroDuration();
  absl::Status status =
      client_->GetUser(admin::v1::GetUserRequest(), options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "timeout must be positive, got 0");

  options = FullOptions();
  options.bearer_token = "secret\n";
  status = client_->GetUser(admin::v1::GetUserRequest(), options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  // A credential is never echoed.
  EXPECT_EQ(status.message(), "bearer_token must be printable ASCII");
}

TEST_F(ProfileAdminClientMockTest, StubIsTheInjectedOne) {
  EXPECT_EQ(client_->stub(), stub_);
  EXPECT_EQ(client_->options().request_id, "adm-1");
}

// ---------------------------------------------------------------------------
// Retries, against an in-process server that fails each call's first
// attempt with UNAVAILABLE.
// ---------------------------------------------------------------------------

// A ProfileAdminService whose every method answers the first attempt of a
// call UNAVAILABLE (api code 5003) and the next one OK, and records every
// attempt's method and x-* metadata. Attempts of one call are told apart
// from new calls by the method: each test makes one call per method.
// Thread-safety: thread-safe; calls arrive on gRPC's threads.
class FlakyAdminService final
    : public admin::v1::ProfileAdminService::CallbackService {
 public:
  // The method of every attempt so far, in order.
  std::vector<std::string> attempts() const {
    absl::MutexLock lock(&mu_);
    return attempts_;
  }

  // The x-* metadata of the last attempt.
  std::map<std::string, std::string> last_metadata() const {
    absl::MutexLock lock(&mu_);
    return last_metadata_;
  }

  grpc::ServerUnaryReactor* GetUser(grpc::CallbackServerContext* context,
                                    const admin::v1::GetUserRequest*,
                                    admin::v1::GetUserResponse* response)
      override {
    response->set_status_code(200);
    return Answer(context, "GetUser");
  }

  grpc::ServerUnaryReactor* SetPhone(grpc::CallbackServerContext* context,
                                     const admin::v1::SetPhoneRequest*,
                                     admin::v1::SetPhoneResponse* response)
      override {
    response->set_status_code(200);
    return Answer(context, "SetPhone");
  }

  grpc::ServerUnaryReactor* ClearPhone(grpc::CallbackServerContext* context,
                                       const admin::v1::ClearPhoneRequest*,
                                       admin::v1::ClearPhoneResponse* response)
      override {
    response->set_status_code(200);
    return Answer(context, "ClearPhone");
  }

  grpc::ServerUnaryReactor* UnlockPhoneChanges(
      grpc::CallbackServerContext* context,
      const admin::v1::UnlockPhoneChangesRequest*,
      admin::v1::UnlockPhoneChangesResponse* response) override {
    response->set_status_code(200);
    return Answer(context, "UnlockPhoneChanges");
  }

  grpc::ServerUnaryReactor* ListPhoneChanges(
      grpc::CallbackServerContext* context,
      const admin::v1::ListPhoneChangesRequest*,
      admin::v1::ListPhoneChangesResponse* response) override {
    response->set_status_code(200);
    return Answer(context, "ListPhoneChanges");
  }

 private:
  grpc::ServerUnaryReactor* Answer(grpc::CallbackServerContext* context,
                                   const std::string& method) {
    std::map<std::string, std::string> metadata;
    for (const auto& [key, value] : context->client_metadata()) {
      std::string name(key.data(), key.size());
      if (name.rfind("x-", 0) == 0) {
        metadata[name] = std::string(value.data(), value.size());
      }
    }
    bool first;
    {
      absl::MutexLock lock(&mu_);
      attempts_.push_back(method);
      last_metadata_ = std::move(metadata);
      first = ++count_[method] == 1;
    }
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    if (first) {
      context->AddTrailingMetadata("x-api-code", "5003");
      context->AddTrailingMetadata("x-request-id", "srv-req-1");
      reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                   "a backend is unavailable; retry later"));
    } else {
      reactor->Finish(grpc::Status::OK);
    }
    return reactor;
  }

  mutable absl::Mutex mu_;
  std::vector<std::string> attempts_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> last_metadata_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> count_ ABSL_GUARDED_BY(mu_);
};

class ProfileAdminClientRetryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    // A stale server on a reused port must never answer these calls.
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

  ProfileAdminClient Client() const {
    ProfileAdminClient::Options options;
    options.request_id = "adm-2";
    return ProfileAdminClient(target(), grpc::InsecureChannelCredentials(),
                              options);
  }

  FlakyAdminService service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(ProfileAdminClientRetryTest, ReadsAreRetriedOnUnavailable) {
  ProfileAdminClient client = Client();
  absl::StatusOr<admin::v1::GetUserResponse> user =
      client.GetUser(admin::v1::GetUserRequest());
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ(user->status_code(), 200);
  absl::StatusOr<admin::v1::ListPhoneChangesResponse> changes =
      client.ListPhoneChanges(admin::v1::ListPhoneChangesRequest());
  ASSERT_TRUE(changes.ok()) << changes.status();
  EXPECT_EQ(changes->status_code(), 200);

  EXPECT_THAT(service_.attempts(),
              ElementsAre("GetUser", "GetUser", "ListPhoneChanges",
                          "ListPhoneChanges"));
  // The retry carries the same metadata, and never a user id.
  EXPECT_THAT(service_.last_metadata(), ElementsAre(Pair("x-request-id",
                                                         "adm-2")));
}

TEST_F(ProfileAdminClientRetryTest, ChangesAreNotRetried) {
  ProfileAdminClient client = Client();
  absl::Status set = client.SetPhone(admin::v1::SetPhoneRequest()).status();
  absl::Status clear =
      client.ClearPhone(admin::v1::ClearPhoneRequest()).status();
  absl::Status unlock =
      client.UnlockPhoneChanges(admin::v1::UnlockPhoneChangesRequest())
          .status();

  for (const absl::Status& status : {set, clear, unlock}) {
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(status.message(), "a backend is unavailable; retry later");
    EXPECT_EQ(ApiCodeOf(status), 5003);
    EXPECT_EQ(RequestIdOf(status), "srv-req-1");
  }
  EXPECT_THAT(service_.attempts(),
              ElementsAre("SetPhone", "ClearPhone", "UnlockPhoneChanges"));
}

TEST_F(ProfileAdminClientRetryTest, PlainChannelDoesNotRetryReads) {
  ProfileAdminClient client(
      grpc::CreateChannel(target(), grpc::InsecureChannelCredentials()));
  absl::Status status = client.GetUser(admin::v1::GetUserRequest()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(service_.attempts(), ElementsAre("GetUser"));
}

}  // namespace
}  // namespace client
}  // namespace profile
