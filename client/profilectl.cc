// profilectl: a command-line client of the profile service.
//
//   profilectl --user_id=u1 send-code +86 18800008888 new
//   profilectl --user_id=u1 verify +86 18800008888 123456
//   profilectl --user_id=u1 update <updatePhoneToken>
//   profilectl --user_id=u1 --lang=zh-CN get
//
// Prints the response as JSON with the API's camelCase field names (as
// grpcurl does) on stdout and exits 0. A failed call prints one line
//   error: INVALID_ARGUMENT (api code 2001): ... [request id abc]
// on stderr and exits 1. A malformed command line prints the usage on stderr
// and exits 2.

#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/profile_client.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051",
          "Address of the profile service, host:port.");
ABSL_FLAG(std::string, user_id, "",
          "The caller's user id, sent as x-user-id. Required.");
ABSL_FLAG(std::string, request_id, "",
          "Request id sent as x-request-id, [A-Za-z0-9._:-], at most 64 "
          "chars. The server generates one when empty.");
ABSL_FLAG(std::string, lang, "",
          "Language of the messages, sent as x-authing-lang (zh-CN for "
          "Chinese).");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(5),
          "Deadline of the call, like 5s or 500ms.");
ABSL_FLAG(std::string, tls_ca_file, "",
          "PEM file of the root CA that signed the server's certificate. "
          "When set the channel uses TLS, else it is plaintext.");

namespace {

using ::profile::client::ProfileClient;
namespace v1 = ::profile::v1;

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

constexpr char kUsage[] =
    R"(profilectl [flags] <command> [args]

Commands:
  send-code <country_code> <number> <new|old>
      Texts a verification code to the new phone or to the current one.
  verify <new_cc> <new_number> <new_code> [<old_cc> <old_number> <old_code>]
      Checks the code(s) and prints an updatePhoneToken.
  update <token>
      Spends the token and binds the new phone to the account.
  get
      Prints the caller's profile.

Flags:
  --target=127.0.0.1:50051  --user_id=ID (required)  --request_id=ID
  --lang=zh-CN  --timeout=5s  --tls_ca_file=ca.pem
Run with --help for details.)";

// Prints `problem` and the usage to stderr; returns the usage exit code.
int UsageError(const std::string& problem) {
  std::cerr << "profilectl: " << problem << "\n\nusage: " << kUsage
            << std::endl;
  return kExitUsage;
}

// Prints a failed call as one line on stderr; returns the error exit code.
int CallError(const absl::Status& status) {
  std::string line =
      absl::StrCat("error: ", absl::StatusCodeToString(status.code()));
  int api_code = profile::client::ApiCodeOf(status);
  if (api_code != 0) absl::StrAppend(&line, " (api code ", api_code, ")");
  if (!status.message().empty()) absl::StrAppend(&line, ": ", status.message());
  int retry_after = profile::client::RetryAfterOf(status);
  if (retry_after >= 0) {
    absl::StrAppend(&line, " (retry after ", retry_after, "s)");
  }
  std::string request_id = profile::client::RequestIdOf(status);
  if (!request_id.empty()) {
    absl::StrAppend(&line, " [request id ", request_id, "]");
  }
  std::cerr << absl::StrReplaceAll(line, {{"\r", " "}, {"\n", " "}})
            << std::endl;
  return kExitError;
}

// Returns `json` as printed by protobuf with add_whitespace (one space per
// level) re-indented with two spaces per level and a final newline, the way
// grpcurl prints. JSON strings cannot hold raw newlines, so every leading
// space of a line is indentation.
std::string GrpcurlIndent(absl::string_view json) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(json, '\n', absl::SkipEmpty())) {
    size_t depth = line.find_first_not_of(' ');
    if (depth == absl::string_view::npos) continue;
    out.append(2 * depth, ' ');
    absl::StrAppend(&out, line.substr(depth), "\n");
  }
  return out;
}

// Prints `response` as JSON on stdout, or the call's error on stderr;
// returns the exit code.
template <typename Response>
int Report(const absl::StatusOr<Response>& response) {
  if (!response.ok()) return CallError(response.status());
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  std::string json;
  auto printed =
      google::protobuf::util::MessageToJsonString(*response, &json, options);
  if (!printed.ok()) {
    return CallError(
        absl::InternalError(absl::StrCat("cannot print the response as JSON: ",
                                         std::string(printed.message()))));
  }
  std::cout << GrpcurlIndent(json) << std::flush;
  return kExitOk;
}

// Returns the channel credentials the flags ask for.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> Credentials() {
  std::string ca_file = absl::GetFlag(FLAGS_tls_ca_file);
  if (ca_file.empty()) return grpc::InsecureChannelCredentials();
  std::ifstream in(ca_file, std::ios::binary);
  std::stringstream pem;
  pem << in.rdbuf();
  if (!in || pem.str().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read --tls_ca_file ", ca_file));
  }
  if (!absl::StrContains(pem.str(), "-----BEGIN CERTIFICATE-----")) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls_ca_file ", ca_file, " holds no PEM certificate"));
  }
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = pem.str();
  return grpc::SslCredentials(options);
}

// Runs `command` with its `args` (everything after the command word).
int Run(const std::string& command, const std::vector<std::string>& args) {
  // The command line is checked in full before anything goes on the wire.
  v1::SendPhoneCodeRequest send_code;
  v1::UpdatePhoneVerificationRequest verify;
  v1::UpdatePhoneRequest update;
  if (command == "send-code") {
    if (args.size() != 3) return UsageError("send-code takes 3 arguments");
    v1::PhoneCodePurpose purpose;
    if (args[2] == "new") {
      purpose = v1::PHONE_CODE_PURPOSE_NEW_PHONE;
    } else if (args[2] == "old") {
      purpose = v1::PHONE_CODE_PURPOSE_OLD_PHONE;
    } else {
      return UsageError(absl::StrCat("the purpose must be new or old, got \"",
                                     args[2], "\""));
    }
    send_code.set_phone_country_code(args[0]);
    send_code.set_phone_number(args[1]);
    send_code.set_purpose(purpose);
  } else if (command == "verify") {
    if (args.size() != 3 && args.size() != 6) {
      return UsageError("verify takes 3 or 6 arguments");
    }
    verify.set_new_phone_country_code(args[0]);
    verify.set_new_phone_number(args[1]);
    verify.set_new_phone_pass_code(args[2]);
    if (args.size() == 6) {
      verify.set_old_phone_country_code(args[3]);
      verify.set_old_phone_number(args[4]);
      verify.set_old_phone_pass_code(args[5]);
    }
  } else if (command == "update") {
    if (args.size() != 1) return UsageError("update takes 1 argument");
    update.set_update_phone_token(args[0]);
  } else if (command == "get") {
    if (!args.empty()) return UsageError("get takes no arguments");
  } else {
    return UsageError(absl::StrCat("unknown command \"", command, "\""));
  }

  ProfileClient::Options options;
  options.user_id = absl::GetFlag(FLAGS_user_id);
  options.request_id = absl::GetFlag(FLAGS_request_id);
  options.language = absl::GetFlag(FLAGS_lang);
  options.timeout = absl::GetFlag(FLAGS_timeout);
  if (options.user_id.empty()) return UsageError("--user_id is required");
  if (options.timeout <= absl::ZeroDuration()) {
    return UsageError("--timeout must be positive");
  }

  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      Credentials();
  if (!credentials.ok()) return CallError(credentials.status());
  ProfileClient client(
      grpc::CreateChannel(absl::GetFlag(FLAGS_target), *credentials), options);

  if (command == "send-code") return Report(client.SendPhoneCode(send_code));
  if (command == "verify") {
    return Report(client.UpdatePhoneVerification(verify));
  }
  if (command == "update") return Report(client.UpdatePhone(update));
  return Report(client.GetProfile(v1::GetProfileRequest()));
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() < 2) return UsageError("missing command");
  std::string command = positional[1];
  std::vector<std::string> args(positional.begin() + 2, positional.end());
  return Run(command, args);
}
