// profilectl: a command-line client of the profile service.
//
//   profilectl --user_id=u1 send-code +86 18800008888 new
//   profilectl --user_id=u1 verify +86 18800008888 123456
//   profilectl --user_id=u1 update <updatePhoneToken>
//   profilectl --user_id=u1 --lang=zh-CN get
//   profilectl revert <revertToken>     # no --user_id: the token is the proof
//   PROFILE_BEARER_TOKEN=eyJ... profilectl get          # --auth=jwt servers
//   profilectl --tls_ca_file=ca.pem --tls_cert_file=client.pem
//       --tls_key_file=client.key --user_id=u1 get      # mutual TLS
//   profilectl --tls_ca_file=ca.pem --tls_cert_file=support.pem
//       --tls_key_file=support.key admin set-phone u1 +86 13800138001
//       --reason="ticket 4711: identity proofed"       # admin API
//
// Prints the response on stdout byte for byte as grpcurl prints it (the
// JSON of protobuf's printer, so names follow the descriptors, laid out as
// grpcurl's jsonpb does: 2-space indent, zero values left out) and exits 0.
// A failed call prints one line
//   error: INVALID_ARGUMENT (api code 2001): ... [request id abc]
// on stderr and exits 1. A malformed command line prints the usage on stderr
// and exits 2.

#include <cstdint>
#include <cstdlib>
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
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/profile_admin_client.h"
#include "client/profile_client.h"
#include "nlohmann/json.hpp"

ABSL_FLAG(std::string, target, "127.0.0.1:50051",
          "Address of the profile service, host:port.");
ABSL_FLAG(std::string, user_id, "",
          "The caller's user id, sent as x-user-id. Required, but for "
          "revert, which sends none, and admin commands, which refuse it "
          "(the account is their argument).");
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
          "When set (or with --tls_cert_file) the channel uses TLS, else it "
          "is plaintext.");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate chain of this client, for a server that asks for "
          "mutual TLS (--tls_client_ca_file). Needs --tls_key_file.");
ABSL_FLAG(std::string, tls_key_file, "",
          "PEM private key (unencrypted) of --tls_cert_file.");
ABSL_FLAG(std::string, bearer_token_file, "",
          "File holding the caller's JWT, sent as `authorization: Bearer "
          "<token>` to a server run with --auth=jwt (one trailing newline is "
          "dropped). Without it, $PROFILE_BEARER_TOKEN is used if set.");
ABSL_FLAG(std::string, idempotency_key, "",
          "x-idempotency-key of send-code, 1 to 64 chars of [A-Za-z0-9._:-]: "
          "the same key and request within the code's TTL get the first "
          "answer again and text nothing. Empty: a fresh key per run.");
ABSL_FLAG(std::string, reason, "",
          "Why, for admin set-phone, clear-phone and unlock (1 to 512 bytes): "
          "goes to the audit record. The server refuses a change without "
          "one (INVALID_ARGUMENT, api code 1001).");
ABSL_FLAG(int32_t, page_size, 0,
          "admin history: at most this many changes (1 to 100; 0: the "
          "server's default, 20).");
ABSL_FLAG(std::string, page_token, "",
          "admin history: the nextPageToken of the previous page; empty for "
          "the first page.");

namespace {

using ::profile::client::ProfileAdminClient;
using ::profile::client::ProfileClient;
namespace v1 = ::profile::v1;
namespace admin = ::profile::admin::v1;

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
  revert <token>
      Undoes a phone change with the revert token texted to the phone it
      removed. Needs no --user_id and sends no identity: the token is the
      proof. Never retried: a spent token answers NOT_FOUND (api code 2320).

Admin commands (ProfileAdminService, for support staff). The admin is the
client certificate (--tls_cert_file, a SAN in the server's
--admin_allowed_names) or a bearer token whose scope holds profile.admin;
they send no --user_id. Others get PERMISSION_DENIED (api code 1003).
  admin get <user_id>
      Prints the account: phone, phone-change lock, live update token.
  admin set-phone <user_id> <country_code> <number> --reason=TEXT
      Binds the number without codes. Never retried.
  admin clear-phone <user_id> --reason=TEXT
      Unbinds the account's phone. Never retried.
  admin unlock <user_id> --reason=TEXT
      Lifts the lock a revert put on the account's phone changes. Never
      retried.
  admin history <user_id> [--page_size=N] [--page_token=T]
      Lists the account's phone changes, newest first.

Flags:
  --target=127.0.0.1:50051  --user_id=ID  --request_id=ID  --lang=zh-CN
  --timeout=5s  --tls_ca_file=ca.pem  --tls_cert_file=client.pem
  --tls_key_file=client.key  --bearer_token_file=jwt.txt  --idempotency_key=K
  --reason=TEXT  --page_size=N  --page_token=T
--user_id is required unless a bearer token is given (--bearer_token_file or
$PROFILE_BEARER_TOKEN), but for revert and admin commands. A token that
starts with "-" goes after "--", or it reads as a flag:
profilectl revert -- -Xk3...
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

// Appends `text` as a JSON string the way Go's encoding/json writes it
// (grpcurl prints through it): \" \\ \n \r \t \b \f, other control
// characters as \u00xx, and <, >, &, U+2028 and U+2029 as \u escapes.
void AppendGoJsonString(absl::string_view text, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    switch (c) {
      case '"': out->append("\\\""); continue;
      case '\\': out->append("\\\\"); continue;
      case '\n': out->append("\\n"); continue;
      case '\r': out->append("\\r"); continue;
      case '\t': out->append("\\t"); continue;
      case '\b': out->append("\\b"); continue;
      case '\f': out->append("\\f"); continue;
      default: break;
    }
    if (c < 0x20 || c == '<' || c == '>' || c == '&') {
      out->append("\\u00");
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 0xF]);
      continue;
    }
    // U+2028 and U+2029 are E2 80 A8 and E2 80 A9 in UTF-8.
    if (c == 0xE2 && i + 2 < text.size() &&
        static_cast<unsigned char>(text[i + 1]) == 0x80 &&
        (static_cast<unsigned char>(text[i + 2]) & 0xFE) == 0xA8) {
      out->append(static_cast<unsigned char>(text[i + 2]) == 0xA8
                      ? "\\u2028"
                      : "\\u2029");
      i += 2;
      continue;
    }
    out->push_back(static_cast<char>(c));
  }
  out->push_back('"');
}

// Appends `value` laid out as grpcurl's jsonpb marshaler (Indent "  ")
// lays out a message: "{", a newline, each field on its own line one level
// in as `"name": value` with ",\n" between fields, a newline, the closing
// brace at `indent` (so an empty message is "{", a blank line and "}").
void AppendGrpcurlJson(const nlohmann::ordered_json& value,
                       const std::string& indent, std::string* out) {
  if (value.is_object()) {
    out->append("{\n");
    bool first = true;
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (!first) out->append(",\n");
      first = false;
      absl::StrAppend(out, indent, "  ");
      AppendGoJsonString(it.key(), out);
      out->append(": ");
      AppendGrpcurlJson(it.value(), indent + "  ", out);
    }
    absl::StrAppend(out, "\n", indent, "}");
  } else if (value.is_array()) {
    // A repeated field (ListPhoneChanges' changes), as jsonpb lays it out:
    // "[", each element on its own line one level in from the field's
    // name, ",\n" between them, a newline and "]" at the field's level.
    out->append("[\n");
    bool first = true;
    for (const auto& element : value) {
      if (!first) out->append(",\n");
      first = false;
      absl::StrAppend(out, indent, "  ");
      AppendGrpcurlJson(element, indent + "  ", out);
    }
    absl::StrAppend(out, "\n", indent, "]");
  } else if (value.is_string()) {
    AppendGoJsonString(value.get<std::string>(), out);
  } else {
    // Numbers (protobuf already quotes 64-bit integers) and booleans.
    out->append(value.dump());
  }
}

// Prints `response` as JSON on stdout, or the call's error on stderr;
// returns the exit code.
template <typename Response>
int Report(const absl::StatusOr<Response>& response) {
  if (!response.ok()) return CallError(response.status());
  // Protobuf's printer decides what is printed and how it is named (JSON
  // names from the descriptors, enums by name, 64-bit integers quoted,
  // zero values left out); the layout is then grpcurl's.
  std::string json;
  auto printed = google::protobuf::util::MessageToJsonString(
      *response, &json, google::protobuf::util::JsonPrintOptions());
  nlohmann::ordered_json parsed = nlohmann::ordered_json::parse(
      json, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (!printed.ok() || parsed.is_discarded()) {
    return CallError(absl::InternalError(
        absl::StrCat("cannot print the response as JSON: ",
                     std::string(printed.message()))));
  }
  std::string out;
  AppendGrpcurlJson(parsed, "", &out);
  std::cout << out << "\n" << std::flush;
  return kExitOk;
}

// Returns the contents of the file `flag` names, or an error naming it.
absl::StatusOr<std::string> ReadFlagFile(absl::string_view flag,
                                         const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream contents;
  contents << in.rdbuf();
  if (!in || contents.str().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read --", flag, " ", path));
  }
  return contents.str();
}

// Returns the channel credentials the flags ask for.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> Credentials() {
  const std::string ca_file = absl::GetFlag(FLAGS_tls_ca_file);
  const std::string cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  const std::string key_file = absl::GetFlag(FLAGS_tls_key_file);
  if (cert_file.empty() != key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert_file and --tls_key_file go together");
  }
  if (ca_file.empty() && cert_file.empty()) {
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions options;
  if (!ca_file.empty()) {
    absl::StatusOr<std::string> pem = ReadFlagFile("tls_ca_file", ca_file);
    if (!pem.ok()) return pem.status();
    if (!absl::StrContains(*pem, "-----BEGIN CERTIFICATE-----")) {
      return absl::InvalidArgumentError(
          absl::StrCat("--tls_ca_file ", ca_file, " holds no PEM certificate"));
    }
    options.pem_root_certs = *std::move(pem);
  }
  if (!cert_file.empty()) {
    absl::StatusOr<std::string> cert = ReadFlagFile("tls_cert_file", cert_file);
    if (!cert.ok()) return cert.status();
    if (!absl::StrContains(*cert, "-----BEGIN CERTIFICATE-----")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--tls_cert_file ", cert_file, " holds no PEM certificate"));
    }
    absl::StatusOr<std::string> key = ReadFlagFile("tls_key_file", key_file);
    if (!key.ok()) return key.status();
    if (!absl::StrContains(*key, "PRIVATE KEY-----")) {
      return absl::InvalidArgumentError(
          absl::StrCat("--tls_key_file ", key_file, " holds no PEM private key"));
    }
    options.pem_cert_chain = *std::move(cert);
    options.pem_private_key = *std::move(key);
  }
  return grpc::SslCredentials(options);
}

// Returns the bearer token from --bearer_token_file or, without it,
// $PROFILE_BEARER_TOKEN; "" for none. Never echoes the token.
absl::StatusOr<std::string> BearerToken() {
  std::string token;
  const std::string file = absl::GetFlag(FLAGS_bearer_token_file);
  if (!file.empty()) {
    absl::StatusOr<std::string> read = ReadFlagFile("bearer_token_file", file);
    if (!read.ok()) return read.status();
    token = *std::move(read);
  } else if (const char* env = std::getenv("PROFILE_BEARER_TOKEN")) {
    token = env;
  }
  // One trailing newline, as `echo` writes it.
  if (absl::EndsWith(token, "\n")) token.pop_back();
  if (absl::EndsWith(token, "\r")) token.pop_back();
  if (!file.empty() && token.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--bearer_token_file ", file, " is empty"));
  }
  return token;
}

// Runs `admin <subcommand> <args>`; `args` is everything after "admin".
int RunAdmin(const std::vector<std::string>& args) {
  // The command line is checked in full before anything goes on the wire.
  // A missing --reason is left to the server, which names the problem
  // (INVALID_ARGUMENT, api code 1001) as it does for any other caller.
  if (args.empty()) {
    return UsageError(
        "admin takes a subcommand: get, set-phone, clear-phone, unlock or "
        "history");
  }
  const std::string& subcommand = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  const std::string reason = absl::GetFlag(FLAGS_reason);
  admin::GetUserRequest get;
  admin::SetPhoneRequest set_phone;
  admin::ClearPhoneRequest clear_phone;
  admin::UnlockPhoneChangesRequest unlock;
  admin::ListPhoneChangesRequest history;
  if (subcommand == "get") {
    if (rest.size() != 1) return UsageError("admin get takes 1 argument: <user_id>");
    get.set_user_id(rest[0]);
  } else if (subcommand == "set-phone") {
    if (rest.size() != 3) {
      return UsageError(
          "admin set-phone takes 3 arguments: <user_id> <country_code> "
          "<number>");
    }
    set_phone.set_user_id(rest[0]);
    set_phone.set_phone_country_code(rest[1]);
    set_phone.set_phone_number(rest[2]);
    set_phone.set_reason(reason);
  } else if (subcommand == "clear-phone") {
    if (rest.size() != 1) {
      return UsageError("admin clear-phone takes 1 argument: <user_id>");
    }
    clear_phone.set_user_id(rest[0]);
    clear_phone.set_reason(reason);
  } else if (subcommand == "unlock") {
    if (rest.size() != 1) {
      return UsageError("admin unlock takes 1 argument: <user_id>");
    }
    unlock.set_user_id(rest[0]);
    unlock.set_reason(reason);
  } else if (subcommand == "history") {
    if (rest.size() != 1) {
      return UsageError("admin history takes 1 argument: <user_id>");
    }
    history.set_user_id(rest[0]);
    history.set_page_size(absl::GetFlag(FLAGS_page_size));
    history.set_page_token(absl::GetFlag(FLAGS_page_token));
  } else {
    return UsageError(
        absl::StrCat("unknown admin subcommand \"", subcommand, "\""));
  }

  // The admin is who the certificate or the token says; an x-user-id
  // would name no one the server trusts here, so none is sent, and a
  // --user_id is refused rather than silently dropped.
  if (!absl::GetFlag(FLAGS_user_id).empty()) {
    return UsageError(
        "admin commands send no --user_id: the account is an argument, and "
        "the admin is the client certificate (--tls_cert_file) or the bearer "
        "token");
  }
  ProfileAdminClient::Options options;
  options.request_id = absl::GetFlag(FLAGS_request_id);
  options.language = absl::GetFlag(FLAGS_lang);
  options.timeout = absl::GetFlag(FLAGS_timeout);
  absl::StatusOr<std::string> bearer = BearerToken();
  if (!bearer.ok()) return UsageError(std::string(bearer.status().message()));
  options.bearer_token = *std::move(bearer);
  if (options.timeout <= absl::ZeroDuration()) {
    return UsageError("--timeout must be positive");
  }

  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      Credentials();
  if (!credentials.ok()) return CallError(credentials.status());
  // With the retry policy of profile_admin_client.h: UNAVAILABLE is
  // retried for get and history, never for the changes.
  ProfileAdminClient client(absl::GetFlag(FLAGS_target), *credentials,
                            options);

  if (subcommand == "get") return Report(client.GetUser(get));
  if (subcommand == "set-phone") return Report(client.SetPhone(set_phone));
  if (subcommand == "clear-phone") {
    return Report(client.ClearPhone(clear_phone));
  }
  if (subcommand == "unlock") return Report(client.UnlockPhoneChanges(unlock));
  return Report(client.ListPhoneChanges(history));
}

// Runs `command` with its `args` (everything after the command word).
int Run(const std::string& command, const std::vector<std::string>& args) {
  if (command == "admin") return RunAdmin(args);
  // The command line is checked in full before anything goes on the wire.
  v1::SendPhoneCodeRequest send_code;
  v1::UpdatePhoneVerificationRequest verify;
  v1::UpdatePhoneRequest update;
  v1::RevertPhoneChangeRequest revert;
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
  } else if (command == "revert") {
    if (args.size() != 1) return UsageError("revert takes 1 argument");
    revert.set_revert_token(args[0]);
  } else {
    return UsageError(absl::StrCat("unknown command \"", command, "\""));
  }

  ProfileClient::Options options;
  options.request_id = absl::GetFlag(FLAGS_request_id);
  options.language = absl::GetFlag(FLAGS_lang);
  options.timeout = absl::GetFlag(FLAGS_timeout);
  options.idempotency_key = absl::GetFlag(FLAGS_idempotency_key);
  // A revert is made by whoever holds the old phone, who may have lost the
  // account: it carries no identity, and the server reads none.
  if (command != "revert") {
    options.user_id = absl::GetFlag(FLAGS_user_id);
    absl::StatusOr<std::string> bearer = BearerToken();
    if (!bearer.ok()) {
      return UsageError(std::string(bearer.status().message()));
    }
    options.bearer_token = *std::move(bearer);
    if (options.user_id.empty() && options.bearer_token.empty()) {
      return UsageError(
          "--user_id is required (or a bearer token: --bearer_token_file or "
          "$PROFILE_BEARER_TOKEN)");
    }
  }
  if (options.timeout <= absl::ZeroDuration()) {
    return UsageError("--timeout must be positive");
  }

  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      Credentials();
  if (!credentials.ok()) return CallError(credentials.status());
  // With the retry policy of profile_client.h: UNAVAILABLE is retried for
  // get, update and send-code (which always carries an idempotency key);
  // never for verify and revert.
  ProfileClient client(absl::GetFlag(FLAGS_target), *credentials, options);

  if (command == "send-code") return Report(client.SendPhoneCode(send_code));
  if (command == "verify") {
    return Report(client.UpdatePhoneVerification(verify));
  }
  if (command == "update") return Report(client.UpdatePhone(update));
  if (command == "revert") return Report(client.RevertPhoneChange(revert));
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
