#include "server/sms/sms_sender.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "server/common/log.h"
#include "server/sms/failover_sms_sender.h"
#include "server/sms/log_sms_sender.h"
#include "server/sms/sms_factory.h"
#include "server/sms/outbox_sms_sender.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_dir.h"

namespace profile {
namespace {

using ::profile::testing::IsOk;
using ::profile::testing::StatusIs;
using ::profile::testing::TestDir;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::SizeIs;

// A message with the four fields the senders write.
SmsMessage Sms(std::string phone_e164, std::string code, CodePurpose purpose,
               std::string text) {
  SmsMessage message;
  message.phone_e164 = std::move(phone_e164);
  message.code = std::move(code);
  message.purpose = purpose;
  message.text = std::move(text);
  return message;
}

// A fresh directory per test, removed afterwards.
class SmsSenderTest : public ::testing::Test {
 protected:
  std::string Path(absl::string_view name) const { return dir_.File(name); }

  static std::vector<std::string> ReadLines(const std::string& path) {
    std::ifstream in(path);
    std::stringstream buffer;
    buffer << in.rdbuf();
    std::string text = buffer.str();
    EXPECT_TRUE(text.empty() || text.back() == '\n')
        << "the outbox does not end with a newline";
    std::vector<std::string> lines =
        absl::StrSplit(text, '\n', absl::SkipEmpty());
    return lines;
  }

  TestDir dir_{"sms_sender_test"};
};

TEST_F(SmsSenderTest, OutboxWritesOneJsonObjectPerLine) {
  const std::string path = Path("outbox.jsonl");
  absl::StatusOr<std::unique_ptr<SmsSender>> sender = NewOutboxSmsSender(path);
  ASSERT_THAT(sender, IsOk());
  ASSERT_THAT((*sender)->Send(Sms("+8613800138000", "123456",
                               CodePurpose::kNewPhone, "Your code is 123456")),
              IsOk());
  ASSERT_THAT((*sender)->Send(Sms("+14155550100", "654321",
                               CodePurpose::kOldPhone, "您的验证码是 654321")),
              IsOk());

  std::vector<std::string> lines = ReadLines(path);
  ASSERT_THAT(lines, SizeIs(2));
  nlohmann::json first = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(first["phone_e164"], "+8613800138000");
  EXPECT_EQ(first["code"], "123456");
  EXPECT_EQ(first["purpose"], "new_phone");
  EXPECT_EQ(first["text"], "Your code is 123456");
  ASSERT_TRUE(first["time"].is_string());
  EXPECT_THAT(first["time"].get<std::string>(),
              MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{6}Z"));

  nlohmann::json second = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(second["phone_e164"], "+14155550100");
  EXPECT_EQ(second["code"], "654321");
  EXPECT_EQ(second["purpose"], "old_phone");
  EXPECT_EQ(second["text"], "您的验证码是 654321");
}

TEST_F(SmsSenderTest, OutboxIsCreatedWithMode0600) {
  const std::string path = Path("outbox.jsonl");
  const mode_t old_umask = umask(0);  // the mode must not rely on the umask
  absl::StatusOr<std::unique_ptr<SmsSender>> sender = NewOutboxSmsSender(path);
  umask(old_umask);
  ASSERT_THAT(sender, IsOk());
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(SmsSenderTest, OutboxAppendsToAnExistingFile) {
  const std::string path = Path("outbox.jsonl");
  {
    std::ofstream out(path);
    out << "{\"earlier\":true}\n";
  }
  {
    absl::StatusOr<std::unique_ptr<SmsSender>> sender =
        NewOutboxSmsSender(path);
    ASSERT_THAT(sender, IsOk());
    ASSERT_THAT((*sender)->Send(Sms("+8613800138000", "111111",
                                 CodePurpose::kNewPhone, "a")),
                IsOk());
  }
  {
    // A second sender (a restarted server) appends as well.
    absl::StatusOr<std::unique_ptr<SmsSender>> sender =
        NewOutboxSmsSender(path);
    ASSERT_THAT(sender, IsOk());
    ASSERT_THAT((*sender)->Send(Sms("+8613800138000", "222222",
                                 CodePurpose::kNewPhone, "b")),
                IsOk());
  }
  std::vector<std::string> lines = ReadLines(path);
  ASSERT_THAT(lines, SizeIs(3));
  EXPECT_EQ(lines[0], "{\"earlier\":true}");
  EXPECT_EQ(nlohmann::json::parse(lines[1])["code"], "111111");
  EXPECT_EQ(nlohmann::json::parse(lines[2])["code"], "222222");
}

TEST_F(SmsSenderTest, OutboxEscapesTextAndReplacesInvalidUtf8) {
  const std::string path = Path("outbox.jsonl");
  absl::StatusOr<std::unique_ptr<SmsSender>> sender = NewOutboxSmsSender(path);
  ASSERT_THAT(sender, IsOk());
  ASSERT_THAT((*sender)->Send(Sms("+8613800138000", "123456",
                               CodePurpose::kNewPhone,
                               "line1\nline2 \"quoted\" \xFF")),
              IsOk());
  std::vector<std::string> lines = ReadLines(path);
  ASSERT_THAT(lines, SizeIs(1));
  ASSERT_TRUE(nlohmann::json::accept(lines[0])) << lines[0];
  EXPECT_EQ(nlohmann::json::parse(lines[0])["text"],
            "line1\nline2 \"quoted\" \xEF\xBF\xBD");
}

TEST_F(SmsSenderTest, ConcurrentSendsWriteWholeLines) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 100;
  const std::string path = Path("outbox.jsonl");
  absl::StatusOr<std::unique_ptr<SmsSender>> sender = NewOutboxSmsSender(path);
  ASSERT_THAT(sender, IsOk());
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        if (!(*sender)
                 ->Send(Sms("+8613800138000", absl::StrCat(t * 1000 + i),
                         CodePurpose::kNewPhone, std::string(300, 'x')))
                 .ok()) {
          ++failures;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  std::vector<std::string> lines = ReadLines(path);
  ASSERT_THAT(lines, SizeIs(kThreads * kPerThread));
  std::set<std::string> codes;
  for (const std::string& line : lines) {
    ASSERT_TRUE(nlohmann::json::accept(line)) << line;
    codes.insert(nlohmann::json::parse(line)["code"].get<std::string>());
  }
  EXPECT_EQ(codes.size(), static_cast<size_t>(kThreads * kPerThread));
}

TEST_F(SmsSenderTest, OutboxOnADirectoryFails) {
  absl::StatusOr<std::unique_ptr<SmsSender>> sender = NewOutboxSmsSender(dir_.path());
  EXPECT_FALSE(sender.ok());
  EXPECT_THAT(sender, StatusIs(absl::StatusCode::kInvalidArgument,
                               HasSubstr(dir_.path())));
}

TEST_F(SmsSenderTest, OutboxInAMissingDirectoryFails) {
  absl::StatusOr<std::unique_ptr<SmsSender>> sender =
      NewOutboxSmsSender(Path("missing/outbox.jsonl"));
  EXPECT_FALSE(sender.ok());
  EXPECT_THAT(sender, StatusIs(absl::StatusCode::kInvalidArgument,
                               HasSubstr("missing/outbox.jsonl")));
}

TEST_F(SmsSenderTest, FailedWriteIsUnavailable) {
  // /dev/full accepts the open and fails every write with ENOSPC.
  if (access("/dev/full", W_OK) != 0) GTEST_SKIP() << "no /dev/full";
  absl::StatusOr<std::unique_ptr<SmsSender>> sender =
      NewOutboxSmsSender("/dev/full");
  ASSERT_THAT(sender, IsOk());
  EXPECT_THAT((*sender)->Send(Sms("+8613800138000", "123456",
                               CodePurpose::kNewPhone, "x")),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("outbox")));
}

TEST_F(SmsSenderTest, ChainOutboxWritesToThePath) {
  const std::string path = Path("spec.jsonl");
  SmsOptions options;
  options.sender = absl::StrCat("outbox:", path);
  absl::StatusOr<std::unique_ptr<SmsSender>> sender =
      NewSmsSender(options, nullptr, nullptr);
  ASSERT_THAT(sender, IsOk());
  ASSERT_THAT((*sender)->Send(Sms("+8613800138000", "123456",
                               CodePurpose::kNewPhone, "t")),
              IsOk());
  std::vector<std::string> lines = ReadLines(path);
  ASSERT_THAT(lines, SizeIs(1));
  EXPECT_EQ(nlohmann::json::parse(lines[0])["code"], "123456");
}

TEST_F(SmsSenderTest, ChainLogWritesTheMessageToTheLog) {
  SmsOptions options;
  options.sender = "log";
  absl::StatusOr<std::unique_ptr<SmsSender>> sender =
      NewSmsSender(options, nullptr, nullptr);
  ASSERT_THAT(sender, IsOk());
  // The log sender never waits: the in-memory default runs calls inline.
  EXPECT_FALSE((*sender)->MayBlock());
  ::testing::internal::CaptureStderr();
  absl::Status sent = (*sender)->Send(
      Sms("+8613800138000", "123456", CodePurpose::kOldPhone, "code 123456"));
  const std::string out = ::testing::internal::GetCapturedStderr();
  ASSERT_THAT(sent, IsOk());
  std::vector<std::string> lines =
      absl::StrSplit(out, '\n', absl::SkipEmpty());
  // The message, then the delivery policy's line about the attempt.
  ASSERT_THAT(lines, SizeIs(2));
  nlohmann::json json = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(json["phone_e164"], "+8613800138000");
  EXPECT_EQ(json["purpose"], "old_phone");
  EXPECT_EQ(json["sms_text"], "code 123456");
  nlohmann::json attempt = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(attempt["message"], "sms sent");
  EXPECT_EQ(attempt["provider"], "log");
  EXPECT_EQ(attempt["phone"], MaskPhone("+8613800138000"));
}

TEST_F(SmsSenderTest, BadChainsAreInvalidArgument) {
  for (const std::string& spec :
       {std::string(""), std::string("smtp"), std::string("outbox:"),
        std::string("outbox"), std::string("LOG"), std::string(" log"),
        std::string("log "), std::string("file:/tmp/x"),
        std::string("Outbox:/tmp/x"), std::string("log,"),
        std::string(",log"), std::string("log,,webhook"),
        std::string("log,log"), std::string("twilio,webhook,twilio"),
        std::string("outbox:/a,outbox:/b"), std::string("twilio verify")}) {
    SmsOptions options;
    options.sender = spec;
    EXPECT_THAT(options.Validate(),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("--sms_sender")))
        << "[" << spec << "]";
    EXPECT_THAT(NewSmsSender(options, nullptr, nullptr),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("--sms_sender")))
        << "[" << spec << "]";
  }
}

TEST_F(SmsSenderTest, ChainOutboxOnADirectoryFails) {
  SmsOptions options;
  options.sender = absl::StrCat("log,outbox:", dir_.path());
  EXPECT_FALSE(NewSmsSender(options, nullptr, nullptr).ok());
}

TEST_F(SmsSenderTest, DeliveryFlagsOutOfRangeNameTheFlag) {
  struct Case {
    const char* flag;
    void (*set)(SmsDeliveryOptions&);
  };
  const Case cases[] = {
      {"--sms_timeout", [](SmsDeliveryOptions& o) { o.timeout = absl::Milliseconds(9); }},
      {"--sms_timeout", [](SmsDeliveryOptions& o) { o.timeout = absl::Seconds(61); }},
      {"--sms_attempts", [](SmsDeliveryOptions& o) { o.attempts = 0; }},
      {"--sms_attempts", [](SmsDeliveryOptions& o) { o.attempts = 11; }},
      {"--sms_breaker_failures", [](SmsDeliveryOptions& o) { o.breaker_failures = 0; }},
      {"--sms_breaker_cooloff", [](SmsDeliveryOptions& o) { o.breaker_cooloff = absl::Milliseconds(999); }},
      {"--sms_breaker_cooloff", [](SmsDeliveryOptions& o) { o.breaker_cooloff = absl::Hours(2); }},
      {"--sms_max_in_flight", [](SmsDeliveryOptions& o) { o.max_in_flight = 0; }},
  };
  EXPECT_THAT(SmsDeliveryOptions().Validate(), IsOk());
  for (const Case& c : cases) {
    SmsOptions options;
    c.set(options.delivery);
    EXPECT_THAT(NewSmsSender(options, nullptr, nullptr),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr(c.flag)));
  }
}

// A provider answering from a script, one SmsAttempt per call; the last
// entry repeats. Records the timeouts it was given.
class ScriptedProvider final : public SmsProvider {
 public:
  ScriptedProvider(std::string name, std::vector<SmsAttempt> script,
                   bool may_block = true)
      : name_(std::move(name)), script_(std::move(script)),
        may_block_(may_block) {}

  absl::string_view name() const override { return name_; }
  bool MayBlock() const override { return may_block_; }

  SmsAttempt Attempt(const SmsMessage& message,
                     absl::Duration timeout) override {
    absl::MutexLock lock(&mu_);
    timeouts_.push_back(timeout);
    const size_t i = std::min(calls_++, script_.size() - 1);
    if (block_ != nullptr) {
      mu_.Await(absl::Condition(
          +[](bool* released) { return *released; }, &released_));
    }
    return script_[i];
  }

  int calls() const {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(calls_);
  }
  std::vector<absl::Duration> timeouts() const {
    absl::MutexLock lock(&mu_);
    return timeouts_;
  }
  // Makes attempts wait until Release().
  void Hold() {
    absl::MutexLock lock(&mu_);
    block_ = &released_;
    released_ = false;
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    released_ = true;
  }

 private:
  const std::string name_;
  const std::vector<SmsAttempt> script_;
  const bool may_block_;
  mutable absl::Mutex mu_;
  size_t calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<absl::Duration> timeouts_ ABSL_GUARDED_BY(mu_);
  bool* block_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool released_ ABSL_GUARDED_BY(mu_) = false;
};

SmsAttempt Ok(std::string id = "id-1") {
  SmsAttempt attempt;
  attempt.http_status = 200;
  attempt.message_id = std::move(id);
  return attempt;
}

SmsAttempt Fail(int http_status, bool retryable,
                absl::Duration retry_after = absl::ZeroDuration()) {
  SmsAttempt attempt;
  attempt.status = absl::UnavailableError(
      absl::StrCat("provider answered HTTP ", http_status));
  attempt.http_status = http_status;
  attempt.retryable = retryable;
  attempt.retry_after = retry_after;
  return attempt;
}

// Records what the delivery policy reports.
class RecordingSmsMetrics final : public SmsMetrics {
 public:
  void SmsAttempted(absl::string_view provider, absl::string_view outcome,
                    absl::Duration) override {
    absl::MutexLock lock(&mu_);
    attempts_.push_back(absl::StrCat(provider, ":", outcome));
  }
  void SmsBreakerOpen(absl::string_view provider, bool open) override {
    absl::MutexLock lock(&mu_);
    breakers_.push_back(absl::StrCat(provider, open ? ":open" : ":closed"));
  }
  std::vector<std::string> attempts() const {
    absl::MutexLock lock(&mu_);
    return attempts_;
  }
  std::vector<std::string> breakers() const {
    absl::MutexLock lock(&mu_);
    return breakers_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> attempts_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> breakers_ ABSL_GUARDED_BY(mu_);
};

// A chain of scripted providers under a fast delivery policy.
class FailoverTest : public ::testing::Test {
 protected:
  FailoverTest() {
    options_.backoff = absl::Milliseconds(1);
    options_.breaker_cooloff = absl::Seconds(1);
  }

  ScriptedProvider* Add(std::string name, std::vector<SmsAttempt> script) {
    auto provider =
        std::make_unique<ScriptedProvider>(std::move(name), std::move(script));
    ScriptedProvider* raw = provider.get();
    providers_.push_back(std::move(provider));
    return raw;
  }

  std::unique_ptr<SmsSender> Build() {
    return NewFailoverSmsSender(std::move(providers_), options_, &metrics_);
  }

  static SmsMessage Message() {
    return Sms("+8613800138000", "123456", CodePurpose::kNewPhone, "t");
  }

  SmsDeliveryOptions options_;
  RecordingSmsMetrics metrics_;
  std::vector<std::unique_ptr<SmsProvider>> providers_;
};

TEST_F(FailoverTest, FirstProviderThatTakesTheMessageEndsTheSend) {
  ScriptedProvider* a = Add("twilio", {Ok("SM1")});
  ScriptedProvider* b = Add("webhook", {Ok()});
  std::unique_ptr<SmsSender> sender = Build();
  EXPECT_TRUE(sender->MayBlock());
  EXPECT_THAT(sender->Send(Message()), IsOk());
  EXPECT_EQ(a->calls(), 1);
  EXPECT_EQ(b->calls(), 0);
  EXPECT_THAT(metrics_.attempts(), ::testing::ElementsAre("twilio:ok"));
  EXPECT_THAT(a->timeouts(), ::testing::ElementsAre(absl::Seconds(5)));
}

TEST_F(FailoverTest, RetryableFailureIsRetriedThenFailsOver) {
  ScriptedProvider* a = Add("twilio", {Fail(503, true)});
  ScriptedProvider* b = Add("webhook", {Fail(500, true), Ok()});
  std::unique_ptr<SmsSender> sender = Build();
  EXPECT_THAT(sender->Send(Message()), IsOk());
  EXPECT_EQ(a->calls(), 2);
  EXPECT_EQ(b->calls(), 2);
  EXPECT_THAT(metrics_.attempts(),
              ::testing::ElementsAre("twilio:retried", "twilio:failed",
                                     "webhook:retried", "webhook:ok"));
}

TEST_F(FailoverTest, PermanentRefusalGoesToTheNextProviderAtOnce) {
  ScriptedProvider* a = Add("twilio", {Fail(400, false)});
  ScriptedProvider* b = Add("aliyun", {Ok()});
  std::unique_ptr<SmsSender> sender = Build();
  EXPECT_THAT(sender->Send(Message()), IsOk());
  EXPECT_EQ(a->calls(), 1);
  EXPECT_EQ(b->calls(), 1);
  EXPECT_THAT(metrics_.attempts(),
              ::testing::ElementsAre("twilio:failed", "aliyun:ok"));
}

TEST_F(FailoverTest, EveryProviderFailingIsUnavailableNamingTheLast) {
  Add("twilio", {Fail(503, true)});
  Add("webhook", {Fail(404, false)});
  std::unique_ptr<SmsSender> sender = Build();
  EXPECT_THAT(sender->Send(Message()),
              StatusIs(absl::StatusCode::kUnavailable,
                       ::testing::AllOf(HasSubstr("every SMS provider failed"),
                                        HasSubstr("HTTP 404"))));
}

TEST_F(FailoverTest, RetryAfterIsWaitedWithinTheDeadline) {
  ScriptedProvider* a = Add("twilio", {Fail(429, true, absl::Milliseconds(300)), Ok()});
  std::unique_ptr<SmsSender> sender = Build();
  const absl::Time start = absl::Now();
  EXPECT_THAT(sender->Send(Message()), IsOk());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(300));
  EXPECT_EQ(a->calls(), 2);
}

TEST_F(FailoverTest, RetryAfterPastTheDeadlineFailsOverAtOnce) {
  ScriptedProvider* a = Add("twilio", {Fail(503, true, absl::Seconds(30)), Ok()});
  ScriptedProvider* b = Add("webhook", {Ok()});
  std::unique_ptr<SmsSender> sender = Build();
  SmsMessage message = Message();
  message.deadline = absl::Now() + absl::Seconds(5);
  const absl::Time start = absl::Now();
  EXPECT_THAT(sender->Send(message), IsOk());
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_EQ(a->calls(), 1);
  EXPECT_EQ(b->calls(), 1);
}

TEST_F(FailoverTest, AttemptsNeverRunPastTheDeadline) {
  ScriptedProvider* a = Add("twilio", {Ok()});
  std::unique_ptr<SmsSender> sender = Build();
  SmsMessage message = Message();
  message.deadline = absl::Now() + absl::Milliseconds(800);
  EXPECT_THAT(sender->Send(message), IsOk());
  ASSERT_THAT(a->timeouts(), SizeIs(1));
  EXPECT_LE(a->timeouts()[0], absl::Milliseconds(800));
  EXPECT_GT(a->timeouts()[0], absl::Milliseconds(500));

  message.deadline = absl::Now() - absl::Seconds(1);
  EXPECT_THAT(sender->Send(message),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("deadline")));
  EXPECT_EQ(a->calls(), 1);
}

TEST_F(FailoverTest, BreakerOpensSkipsThenOneProbeClosesIt) {
  options_.attempts = 1;
  options_.breaker_failures = 3;
  // Three failures, then a working provider again.
  ScriptedProvider* a = Add("twilio", {Fail(503, true), Fail(503, true),
                                       Fail(503, true), Ok()});
  ScriptedProvider* b = Add("webhook", {Ok()});
  std::unique_ptr<SmsSender> sender = Build();
  for (int i = 0; i < 3; ++i) EXPECT_THAT(sender->Send(Message()), IsOk());
  EXPECT_EQ(a->calls(), 3);
  EXPECT_THAT(metrics_.breakers(),
              ::testing::ElementsAre("twilio:closed", "webhook:closed",
                                     "twilio:open"));
  // Open: skipped without an attempt.
  EXPECT_THAT(sender->Send(Message()), IsOk());
  EXPECT_EQ(a->calls(), 3);
  EXPECT_EQ(metrics_.attempts()[6], "twilio:skipped");
  // After the cool-off, one probe; it succeeds and closes the breaker.
  absl::SleepFor(absl::Milliseconds(1100));
  EXPECT_THAT(sender->Send(Message()), IsOk());
  EXPECT_EQ(a->calls(), 4);
  EXPECT_EQ(metrics_.breakers().back(), "twilio:closed");
  EXPECT_THAT(sender->Send(Message()), IsOk());
  EXPECT_EQ(a->calls(), 5);
  EXPECT_EQ(b->calls(), 4);
}

TEST_F(FailoverTest, FailedProbeOpensTheBreakerAgain) {
  options_.attempts = 2;
  options_.breaker_failures = 2;
  ScriptedProvider* a = Add("twilio", {Fail(503, true)});
  Add("webhook", {Ok()});
  std::unique_ptr<SmsSender> sender = Build();
  EXPECT_THAT(sender->Send(Message()), IsOk());  // two failures: open
  EXPECT_EQ(a->calls(), 2);
  absl::SleepFor(absl::Milliseconds(1100));
  EXPECT_THAT(sender->Send(Message()), IsOk());  // the probe: one attempt
  EXPECT_EQ(a->calls(), 3);
  EXPECT_THAT(sender->Send(Message()), IsOk());  // open again: skipped
  EXPECT_EQ(a->calls(), 3);
}

TEST_F(FailoverTest, AllBreakersOpenFailsWithoutWaiting) {
  options_.attempts = 1;
  options_.breaker_failures = 1;
  Add("twilio", {Fail(503, true)});
  std::unique_ptr<SmsSender> sender = Build();
  EXPECT_FALSE(sender->Send(Message()).ok());
  const absl::Time start = absl::Now();
  EXPECT_THAT(sender->Send(Message()),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("breakers are open")));
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(100));
}

TEST_F(FailoverTest, SendsBeyondMaxInFlightFailAtOnce) {
  options_.max_in_flight = 2;
  ScriptedProvider* a = Add("webhook", {Ok()});
  a->Hold();
  std::unique_ptr<SmsSender> sender = Build();
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&] { EXPECT_THAT(sender->Send(Message()), IsOk()); });
  }
  while (a->calls() < 2) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_THAT(sender->Send(Message()),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("--sms_max_in_flight")));
  a->Release();
  for (std::thread& t : threads) t.join();
  EXPECT_THAT(sender->Send(Message()), IsOk());
}

TEST_F(FailoverTest, NeverBlocksWhenNoProviderMay) {
  providers_.push_back(std::make_unique<ScriptedProvider>(
      "log", std::vector<SmsAttempt>{Ok()}, /*may_block=*/false));
  EXPECT_FALSE(Build()->MayBlock());
}

}  // namespace
}  // namespace profile
