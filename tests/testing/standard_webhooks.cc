#include "tests/testing/standard_webhooks.h"

#include <stdio.h>
#include <sys/wait.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"
#include "tests/testing/test_dir.h"

namespace profile::testing {

absl::Status VerifyWithStandardWebhooks(const std::string& secret,
                                        const HttpTestRequest& request) {
  nlohmann::json input = {
      {"secret", secret},
      {"headers",
       {{"webhook-id", request.Header("webhook-id")},
        {"webhook-timestamp", request.Header("webhook-timestamp")},
        {"webhook-signature", request.Header("webhook-signature")}}},
      {"body", request.body}};
  // The body is not necessarily UTF-8; replace what is not rather than
  // throw (a signature over other bytes then fails, as it should).
  const std::string json =
      input.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  TestDir dir("standard_webhooks");
  const std::string input_file = dir.Write("input.json", json);
  const std::string command =
      absl::StrCat("node '", PROFILE_SOURCE_DIR,
                   "/tests/webhooks/verify_webhook.mjs' < '", input_file,
                   "' 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return absl::InternalError("popen failed: " + command);
  std::string output;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    output.append(buffer, n);
  }
  const int status = pclose(pipe);
  const std::string message(absl::StripAsciiWhitespace(output));
  if (status != -1 && WIFEXITED(status)) {
    if (WEXITSTATUS(status) == 0) return absl::OkStatus();
    if (WEXITSTATUS(status) == 1) {
      return absl::UnauthenticatedError(
          absl::StrCat("standardwebhooks: ", message));
    }
  }
  return absl::InternalError(
      absl::StrCat("cannot run ", command, " (status ", status, "): ",
                   message));
}

}  // namespace profile::testing
