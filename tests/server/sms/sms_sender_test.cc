#include "server/sms/sms_sender.h"

#include <sys/stat.h>
#include <unistd.h>

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
#include "server/sms/log_sms_sender.h"
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

TEST_F(SmsSenderTest, SpecOutboxWritesToThePath) {
  const std::string path = Path("spec.jsonl");
  absl::StatusOr<std::unique_ptr<SmsSender>> sender =
      NewSmsSenderFromSpec(absl::StrCat("outbox:", path));
  ASSERT_THAT(sender, IsOk());
  ASSERT_THAT((*sender)->Send(Sms("+8613800138000", "123456",
                               CodePurpose::kNewPhone, "t")),
              IsOk());
  std::vector<std::string> lines = ReadLines(path);
  ASSERT_THAT(lines, SizeIs(1));
  EXPECT_EQ(nlohmann::json::parse(lines[0])["code"], "123456");
}

TEST_F(SmsSenderTest, SpecLogWritesTheMessageToTheLog) {
  absl::StatusOr<std::unique_ptr<SmsSender>> sender =
      NewSmsSenderFromSpec("log");
  ASSERT_THAT(sender, IsOk());
  ::testing::internal::CaptureStderr();
  absl::Status sent = (*sender)->Send(
      Sms("+8613800138000", "123456", CodePurpose::kOldPhone, "code 123456"));
  const std::string out = ::testing::internal::GetCapturedStderr();
  ASSERT_THAT(sent, IsOk());
  std::vector<std::string> lines =
      absl::StrSplit(out, '\n', absl::SkipEmpty());
  ASSERT_THAT(lines, SizeIs(1));
  nlohmann::json json = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(json["phone_e164"], "+8613800138000");
  EXPECT_EQ(json["purpose"], "old_phone");
  EXPECT_EQ(json["sms_text"], "code 123456");
}

TEST_F(SmsSenderTest, BadSpecsAreInvalidArgument) {
  for (const std::string& spec :
       {std::string(""), std::string("smtp"), std::string("outbox:"),
        std::string("outbox"), std::string("LOG"), std::string(" log"),
        std::string("log "), std::string("file:/tmp/x"),
        std::string("Outbox:/tmp/x")}) {
    absl::StatusOr<std::unique_ptr<SmsSender>> sender =
        NewSmsSenderFromSpec(spec);
    EXPECT_THAT(sender, StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("--sms_sender")))
        << "[" << spec << "]";
  }
}

TEST_F(SmsSenderTest, SpecOutboxOnADirectoryFails) {
  EXPECT_FALSE(NewSmsSenderFromSpec(absl::StrCat("outbox:", dir_.path())).ok());
}

}  // namespace
}  // namespace profile
