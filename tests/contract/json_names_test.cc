// The JSON names of the contract as reflection clients (grpcurl) see them:
// the running profile_server's reflection service serves profile.proto with
// an explicit json_name on every field, the API's camelCase name.
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.pb.h"
#include "gtest/gtest.h"
#include "tests/testing/reflection_client.h"
#include "tests/testing/server_process.h"

namespace profile {
namespace {

using ::profile::testing::ReflectionClient;
using ::profile::testing::ServerProcess;

// "Message.field_name" -> the API's name. A contract: other clients and
// black-box checks depend on these exactly.
const std::map<std::string, std::string>& ExpectedJsonNames() {
  static const auto* names = new std::map<std::string, std::string>{
      {"SendPhoneCodeRequest.phone_country_code", "phoneCountryCode"},
      {"SendPhoneCodeRequest.phone_number", "phoneNumber"},
      {"SendPhoneCodeRequest.purpose", "purpose"},
      {"SendPhoneCodeResponse.status_code", "statusCode"},
      {"SendPhoneCodeResponse.message", "message"},
      {"SendPhoneCodeResponse.api_code", "apiCode"},
      {"SendPhoneCodeResponse.request_id", "requestId"},
      {"SendPhoneCodeResponse.data", "data"},
      {"SendPhoneCodeData.expires_in", "expiresIn"},
      {"SendPhoneCodeData.resend_after", "resendAfter"},
      {"UpdatePhoneVerificationRequest.new_phone_country_code",
       "newPhoneCountryCode"},
      {"UpdatePhoneVerificationRequest.new_phone_number", "newPhoneNumber"},
      {"UpdatePhoneVerificationRequest.new_phone_pass_code",
       "newPhonePassCode"},
      {"UpdatePhoneVerificationRequest.old_phone_country_code",
       "oldPhoneCountryCode"},
      {"UpdatePhoneVerificationRequest.old_phone_number", "oldPhoneNumber"},
      {"UpdatePhoneVerificationRequest.old_phone_pass_code",
       "oldPhonePassCode"},
      {"UpdatePhoneVerificationResponse.status_code", "statusCode"},
      {"UpdatePhoneVerificationResponse.message", "message"},
      {"UpdatePhoneVerificationResponse.api_code", "apiCode"},
      {"UpdatePhoneVerificationResponse.request_id", "requestId"},
      {"UpdatePhoneVerificationResponse.data", "data"},
      {"UpdatePhoneVerificationData.update_phone_token", "updatePhoneToken"},
      {"UpdatePhoneVerificationData.token_expires_in", "tokenExpiresIn"},
      {"UpdatePhoneRequest.update_phone_token", "updatePhoneToken"},
      {"RevertPhoneChangeRequest.revert_token", "revertToken"},
      {"CommonResponse.status_code", "statusCode"},
      {"CommonResponse.message", "message"},
      {"CommonResponse.api_code", "apiCode"},
      {"CommonResponse.request_id", "requestId"},
      {"GetProfileResponse.status_code", "statusCode"},
      {"GetProfileResponse.message", "message"},
      {"GetProfileResponse.api_code", "apiCode"},
      {"GetProfileResponse.request_id", "requestId"},
      {"GetProfileResponse.data", "data"},
      {"Profile.user_id", "userId"},
      {"Profile.phone_country_code", "phoneCountryCode"},
      {"Profile.phone_number", "phoneNumber"},
      {"Profile.phone_e164", "phoneE164"},
  };
  return *names;
}

TEST(JsonNamesTest, ReflectionServesTheApiNameOfEveryField) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(PROFILE_SERVER_BINARY, {})) << server.log();
  google::protobuf::FileDescriptorProto file;
  ASSERT_TRUE(ReflectionClient(server.port())
                  .FileContainingSymbol("profile.v1.ProfileService", &file));
  ASSERT_EQ(file.name(), "profile/v1/profile.proto");

  std::map<std::string, std::string> served;
  for (const auto& message : file.message_type()) {
    for (const auto& field : message.field()) {
      const std::string key = absl::StrCat(message.name(), ".", field.name());
      // has_json_name(): protoc keeps a json_name in the embedded descriptor
      // only when the .proto sets it, so this is what reflection clients get.
      EXPECT_TRUE(field.has_json_name()) << key << " has no json_name";
      served[key] = field.json_name();
    }
  }
  EXPECT_EQ(served, ExpectedJsonNames());
  EXPECT_EQ(server.Stop(SIGTERM), 0) << server.log();
}

}  // namespace
}  // namespace profile
