#include "server/sms/outbox_sms_sender.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace profile {
namespace {

class OutboxSmsSender final : public SmsSender {
 public:
  OutboxSmsSender(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~OutboxSmsSender() override { close(fd_); }

  absl::Status Send(const SmsMessage& message) override {
    nlohmann::ordered_json line;
    line["time"] = absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(),
                                    absl::UTCTimeZone());
    line["type"] = std::string(SmsTypeName(message.type));
    line["phone_e164"] = message.phone_e164;
    if (message.type == SmsType::kVerificationCode) {
      line["code"] = message.code;
      line["purpose"] = std::string(CodePurposeName(message.purpose));
    }
    line["locale"] = LanguageTag(message.language);
    line["text"] = message.text;
    if (message.type == SmsType::kPhoneChangedNotice) {
      line["revert_token"] = message.revert_token;
      line["revert_expires_in"] =
          absl::ToInt64Seconds(message.revert_expires_in);
    }
    std::string text =
        line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    text.push_back('\n');
    absl::MutexLock lock(&mu_);
    // O_APPEND and one write() per line: readers never see half a line.
    ssize_t written = write(fd_, text.data(), text.size());
    if (written != static_cast<ssize_t>(text.size())) {
      return absl::UnavailableError(absl::StrCat(
          "cannot append to the SMS outbox ", path_, ": ",
          written < 0 ? std::strerror(errno) : "short write"));
    }
    return absl::OkStatus();
  }

 private:
  const std::string path_;
  const int fd_;
  absl::Mutex mu_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<SmsSender>> NewOutboxSmsSender(
    const std::string& path) {
  int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot open the SMS outbox ", path, ": ", std::strerror(errno)));
  }
  return std::make_unique<OutboxSmsSender>(path, fd);
}

}  // namespace profile
