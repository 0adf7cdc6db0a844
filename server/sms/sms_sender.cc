#include "server/sms/sms_sender.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "server/common/log.h"

namespace profile {
namespace {

class LogSmsSender final : public SmsSender {
 public:
  absl::Status Send(const SmsMessage& message) override {
    // The one place a code reaches the log, by design of this sender.
    Log(LogLevel::kInfo, "sms (log sender, local use only)",
        {{"phone_e164", message.phone_e164},
         {"purpose", CodePurposeName(message.purpose)},
         {"sms_text", message.text}});
    return absl::OkStatus();
  }
};

class OutboxSmsSender final : public SmsSender {
 public:
  OutboxSmsSender(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~OutboxSmsSender() override { close(fd_); }

  absl::Status Send(const SmsMessage& message) override {
    nlohmann::ordered_json line;
    line["time"] = absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(),
                                    absl::UTCTimeZone());
    line["phone_e164"] = message.phone_e164;
    line["code"] = message.code;
    line["purpose"] = std::string(CodePurposeName(message.purpose));
    line["text"] = message.text;
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

std::unique_ptr<SmsSender> NewLogSmsSender() {
  return std::make_unique<LogSmsSender>();
}

absl::StatusOr<std::unique_ptr<SmsSender>> NewOutboxSmsSender(
    const std::string& path) {
  int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot open the SMS outbox ", path, ": ", std::strerror(errno)));
  }
  return std::make_unique<OutboxSmsSender>(path, fd);
}

absl::StatusOr<std::unique_ptr<SmsSender>> NewSmsSenderFromSpec(
    absl::string_view spec) {
  if (spec == "log") return NewLogSmsSender();
  if (absl::StartsWith(spec, "outbox:") && spec.size() > 7) {
    return NewOutboxSmsSender(std::string(spec.substr(7)));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--sms_sender: \"", spec, "\" is neither \"log\" nor \"outbox:PATH\""));
}

}  // namespace profile
