// Test-side helpers for talking to a running profile server through the
// generated stub, exactly as an outside caller would.
//
//   E2eClient client(port);
//   v1::GetProfileResponse response;
//   CallResult result = client.Call(&Stub::GetProfile, "u1", {}, &response);
//   EXPECT_EQ(result.status.error_code(), grpc::StatusCode::OK);
//
// Thread-safety: Call() may be used from many threads at once.
#ifndef PROFILE_TESTS_TESTING_E2E_CLIENT_H_
#define PROFILE_TESTS_TESTING_E2E_CLIENT_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "profile/v1/profile.grpc.pb.h"

namespace profile::testing {

using Stub = ::profile::v1::ProfileService::Stub;

// What a call returned besides its response.
struct CallResult {
  grpc::Status status;
  std::multimap<std::string, std::string> trailers;

  grpc::StatusCode code() const { return status.error_code(); }

  // The `x-api-code` trailer, or -1.
  int api_code() const { return IntTrailer("x-api-code"); }
  // The `retry-after` trailer, or -1.
  int retry_after() const { return IntTrailer("retry-after"); }
  std::string Trailer(const std::string& key) const {
    auto it = trailers.find(key);
    return it == trailers.end() ? std::string() : it->second;
  }

 private:
  int IntTrailer(const std::string& key) const {
    int value = -1;
    auto it = trailers.find(key);
    if (it == trailers.end() || !absl::SimpleAtoi(it->second, &value)) {
      return -1;
    }
    return value;
  }
};

class E2eClient {
 public:
  explicit E2eClient(int port)
      : E2eClient(grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                      grpc::InsecureChannelCredentials())) {}
  explicit E2eClient(std::shared_ptr<grpc::Channel> channel)
      : channel_(std::move(channel)),
        stub_(v1::ProfileService::NewStub(channel_)) {}

  // Calls `method` as `user_id` ("" sends no x-user-id) with extra metadata.
  // With `wait_for_ready`, a call made while the channel reconnects waits
  // for the connection instead of failing UNAVAILABLE.
  template <typename Request, typename Response>
  CallResult Call(grpc::Status (Stub::*method)(grpc::ClientContext*,
                                               const Request&, Response*),
                  const std::string& user_id, const Request& request,
                  Response* response,
                  const std::vector<std::pair<std::string, std::string>>&
                      metadata = {},
                  bool wait_for_ready = false) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    context.set_wait_for_ready(wait_for_ready);
    if (!user_id.empty()) context.AddMetadata("x-user-id", user_id);
    for (const auto& [key, value] : metadata) context.AddMetadata(key, value);
    CallResult result;
    result.status = (stub_.get()->*method)(&context, request, response);
    for (const auto& [key, value] : context.GetServerTrailingMetadata()) {
      result.trailers.emplace(std::string(key.data(), key.size()),
                              std::string(value.data(), value.size()));
    }
    return result;
  }

  Stub& stub() { return *stub_; }
  const std::shared_ptr<grpc::Channel>& channel() { return channel_; }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<Stub> stub_;
};

// How many concurrent spends of one token ended OK, NOT_FOUND 2310 (already
// spent), or otherwise.
struct SpendRace {
  int ok = 0;
  int not_found = 0;
  int other = 0;
};

// Runs spend(0) ... spend(n - 1) on n threads at once and counts outcomes.
inline SpendRace RaceSpends(int n, const std::function<CallResult(int)>& spend) {
  std::atomic<int> ok{0}, not_found{0}, other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      const CallResult result = spend(i);
      if (result.code() == grpc::StatusCode::OK) {
        ++ok;
      } else if (result.code() == grpc::StatusCode::NOT_FOUND &&
                 result.api_code() == 2310) {
        ++not_found;
      } else {
        ++other;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  return SpendRace{ok.load(), not_found.load(), other.load()};
}

// The steps of the flow as `user`, on +86 numbers, for tests that drive a
// server step by step.
inline CallResult Send(E2eClient& client, const std::string& user,
                       const std::string& number,
                       v1::PhoneCodePurpose purpose =
                           v1::PHONE_CODE_PURPOSE_NEW_PHONE) {
  v1::SendPhoneCodeRequest request;
  request.set_phone_country_code("+86");
  request.set_phone_number(number);
  request.set_purpose(purpose);
  v1::SendPhoneCodeResponse response;
  return client.Call(&Stub::SendPhoneCode, user, request, &response);
}

// Verifies `number` with `code`, and the old phone `old_number` with
// `old_code` unless `old_number` is empty; `*token` gets the token.
inline CallResult Verify(E2eClient& client, const std::string& user,
                         const std::string& number, const std::string& code,
                         std::string* token,
                         const std::string& old_number = "",
                         const std::string& old_code = "") {
  v1::UpdatePhoneVerificationRequest request;
  request.set_new_phone_country_code("+86");
  request.set_new_phone_number(number);
  request.set_new_phone_pass_code(code);
  if (!old_number.empty()) {
    request.set_old_phone_country_code("+86");
    request.set_old_phone_number(old_number);
    request.set_old_phone_pass_code(old_code);
  }
  v1::UpdatePhoneVerificationResponse response;
  CallResult result =
      client.Call(&Stub::UpdatePhoneVerification, user, request, &response);
  *token = response.data().update_phone_token();
  return result;
}

inline CallResult Update(E2eClient& client, const std::string& user,
                         const std::string& token) {
  v1::UpdatePhoneRequest request;
  request.set_update_phone_token(token);
  v1::CommonResponse response;
  return client.Call(&Stub::UpdatePhone, user, request, &response);
}

// `*phone` gets the E.164 phone of `user`, "" for none.
inline CallResult Get(E2eClient& client, const std::string& user,
                      std::string* phone) {
  v1::GetProfileResponse response;
  CallResult result = client.Call(&Stub::GetProfile, user,
                                  v1::GetProfileRequest(), &response);
  *phone = response.data().phone_e164();
  return result;
}

}  // namespace profile::testing

#endif  // PROFILE_TESTS_TESTING_E2E_CLIENT_H_
