#include "server/sms/sms_sender.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/sms/log_sms_sender.h"
#include "server/sms/outbox_sms_sender.h"

namespace profile {

absl::StatusOr<std::unique_ptr<SmsSender>> NewSmsSenderFromSpec(
    absl::string_view spec) {
  // One entry per sender. A new sender adds its file pair in this folder,
  // a line here, and its flags in server/flags/server_flags.cc.
  if (spec == "log") return NewLogSmsSender();
  if (absl::StartsWith(spec, "outbox:") && spec.size() > 7) {
    return NewOutboxSmsSender(std::string(spec.substr(7)));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--sms_sender: \"", spec, "\" is neither \"log\" nor \"outbox:PATH\""));
}

}  // namespace profile
