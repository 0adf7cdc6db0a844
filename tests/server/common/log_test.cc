#include "server/common/log.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace profile {
namespace {

using ::testing::MatchesRegex;
using ::testing::SizeIs;

// Runs `fn` and returns what it wrote to stderr, split into lines (the
// trailing newline of the last line yields no empty element).
template <typename Fn>
std::vector<std::string> CaptureLines(Fn fn) {
  ::testing::internal::CaptureStderr();
  fn();
  const std::string out = ::testing::internal::GetCapturedStderr();
  std::vector<std::string> lines = absl::StrSplit(out, '\n');
  EXPECT_FALSE(lines.empty());
  if (!lines.empty()) {
    EXPECT_EQ(lines.back(), "") << "output does not end with a newline";
    lines.pop_back();
  }
  return lines;
}

// Restores the default minimum level after each test.
class LogTest : public ::testing::Test {
 protected:
  void TearDown() override { SetMinLogLevel(LogLevel::kInfo); }
};

TEST_F(LogTest, WritesOneJsonObjectPerLine) {
  std::vector<std::string> lines = CaptureLines([] {
    Log(LogLevel::kInfo, "phone changed",
        {{"user_id", "u1"}, {"old_phone", "+86138****8000"}});
  });
  ASSERT_THAT(lines, SizeIs(1));
  ASSERT_TRUE(nlohmann::json::accept(lines[0])) << lines[0];
  nlohmann::json json = nlohmann::json::parse(lines[0]);
  ASSERT_TRUE(json.is_object());
  EXPECT_EQ(json["level"], "info");
  EXPECT_EQ(json["message"], "phone changed");
  EXPECT_EQ(json["user_id"], "u1");
  EXPECT_EQ(json["old_phone"], "+86138****8000");
  ASSERT_TRUE(json["time"].is_string());
  EXPECT_THAT(json["time"].get<std::string>(),
              MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:"
                           "[0-9]{2}\\.[0-9]{6}Z"));
  EXPECT_EQ(json.size(), 5u);
}

TEST_F(LogTest, TimeIsTheCurrentUtcTimeToTheMicrosecond) {
  const absl::Time before = absl::Now();
  std::vector<std::string> lines =
      CaptureLines([] { Log(LogLevel::kInfo, "m"); });
  const absl::Time after = absl::Now();
  ASSERT_THAT(lines, SizeIs(1));
  const std::string text =
      nlohmann::json::parse(lines[0])["time"].get<std::string>();
  absl::Time logged;
  std::string error;
  ASSERT_TRUE(absl::ParseTime("%Y-%m-%dT%H:%M:%E*SZ", text, absl::UTCTimeZone(),
                              &logged, &error))
      << text << ": " << error;
  // The line keeps microseconds: truncate the bounds the same way.
  EXPECT_GE(logged, absl::FromUnixMicros(absl::ToUnixMicros(before)));
  EXPECT_LE(logged, after) << text;
}

TEST_F(LogTest, FieldsKeepTheirOrderAfterTimeLevelMessage) {
  std::vector<std::string> lines = CaptureLines([] {
    Log(LogLevel::kWarning, "m", {{"zeta", "1"}, {"alpha", "2"}});
  });
  ASSERT_THAT(lines, SizeIs(1));
  EXPECT_THAT(lines[0], MatchesRegex("\\{\"time\":\"[^\"]*\",\"level\":"
                                     "\"warning\",\"message\":\"m\","
                                     "\"zeta\":\"1\",\"alpha\":\"2\"\\}"));
}

TEST_F(LogTest, ATracedLineEndsWithTraceAndSpanIds) {
  const TraceContext trace = ParseTraceparent(
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  std::vector<std::string> lines = CaptureLines([&] {
    Log(LogLevel::kInfo, "m", {{"a", "1"}}, trace);
    Log(LogLevel::kInfo, "m", {{"a", "1"}}, TraceContext());
  });
  ASSERT_THAT(lines, SizeIs(2));
  EXPECT_THAT(lines[0],
              MatchesRegex(".*\"message\":\"m\",\"a\":\"1\","
                           "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\","
                           "\"span_id\":\"00f067aa0ba902b7\"\\}"));
  EXPECT_THAT(lines[1], MatchesRegex(".*\"message\":\"m\",\"a\":\"1\"\\}"));
}

TEST_F(LogTest, EscapesQuotesNewlinesAndControlCharacters) {
  const std::string nasty = "a\"b\\c\nd\re\tf\x01g";
  std::vector<std::string> lines = CaptureLines([&] {
    Log(LogLevel::kError, "line1\nline2", {{"value", nasty}});
  });
  ASSERT_THAT(lines, SizeIs(1)) << "a newline in a value split the line";
  nlohmann::json json = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(json["message"], "line1\nline2");
  EXPECT_EQ(json["value"], nasty);
  EXPECT_EQ(json["level"], "error");
}

TEST_F(LogTest, InvalidUtf8IsReplacedNotEchoed) {
  const std::string invalid_values[] = {
      "\xff",              // never valid
      "ab\xc3",            // truncated sequence
      "\xc0\xaf",          // overlong "/"
      "\xed\xa0\x80",      // a UTF-16 surrogate
      "ok\x80" "continued",  // stray continuation byte
  };
  for (const std::string& value : invalid_values) {
    std::vector<std::string> lines = CaptureLines([&] {
      Log(LogLevel::kInfo, "bad bytes", {{"value", value}, {"after", "x"}});
    });
    ASSERT_THAT(lines, SizeIs(1));
    ASSERT_TRUE(nlohmann::json::accept(lines[0]))
        << "not valid JSON for value of " << value.size() << " bytes";
    nlohmann::json json = nlohmann::json::parse(lines[0]);
    const std::string logged = json["value"].get<std::string>();
    EXPECT_NE(logged, value);
    EXPECT_NE(logged.find("\xEF\xBF\xBD"), std::string::npos)
        << "expected U+FFFD in " << logged;
    EXPECT_EQ(json["after"], "x");
  }
}

TEST_F(LogTest, InvalidUtf8MessageIsReplaced) {
  std::vector<std::string> lines =
      CaptureLines([] { Log(LogLevel::kInfo, "bad \xfe message"); });
  ASSERT_THAT(lines, SizeIs(1));
  ASSERT_TRUE(nlohmann::json::accept(lines[0]));
  EXPECT_EQ(nlohmann::json::parse(lines[0])["message"],
            "bad \xEF\xBF\xBD message");
}

TEST_F(LogTest, ValidUtf8IsKept) {
  std::vector<std::string> lines = CaptureLines(
      [] { Log(LogLevel::kInfo, "手机号已修改", {{"name", "张三 😀"}}); });
  ASSERT_THAT(lines, SizeIs(1));
  nlohmann::json json = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(json["message"], "手机号已修改");
  EXPECT_EQ(json["name"], "张三 😀");
}

TEST_F(LogTest, EmbeddedNulIsKeptInsideTheLine) {
  const std::string with_nul("a\0b", 3);
  std::vector<std::string> lines =
      CaptureLines([&] { Log(LogLevel::kInfo, "m", {{"value", with_nul}}); });
  ASSERT_THAT(lines, SizeIs(1));
  EXPECT_EQ(nlohmann::json::parse(lines[0])["value"], with_nul);
}

TEST_F(LogTest, LinesBelowTheMinimumLevelAreDropped) {
  EXPECT_FALSE(LogEnabled(LogLevel::kDebug));
  EXPECT_TRUE(LogEnabled(LogLevel::kInfo));
  std::vector<std::string> lines =
      CaptureLines([] { Log(LogLevel::kDebug, "hidden"); });
  EXPECT_THAT(lines, SizeIs(0));

  SetMinLogLevel(LogLevel::kError);
  EXPECT_FALSE(LogEnabled(LogLevel::kWarning));
  EXPECT_TRUE(LogEnabled(LogLevel::kError));
  lines = CaptureLines([] {
    Log(LogLevel::kInfo, "hidden");
    Log(LogLevel::kWarning, "hidden");
    Log(LogLevel::kError, "shown");
  });
  ASSERT_THAT(lines, SizeIs(1));
  EXPECT_EQ(nlohmann::json::parse(lines[0])["message"], "shown");

  SetMinLogLevel(LogLevel::kDebug);
  lines = CaptureLines([] { Log(LogLevel::kDebug, "now shown"); });
  ASSERT_THAT(lines, SizeIs(1));
  EXPECT_EQ(nlohmann::json::parse(lines[0])["level"], "debug");
}

TEST_F(LogTest, ConcurrentLinesNeverInterleave) {
  constexpr int kThreads = 8;
  constexpr int kLinesPerThread = 200;
  std::vector<std::string> lines = CaptureLines([] {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([t] {
        const std::string padding(200, static_cast<char>('a' + t));
        for (int i = 0; i < kLinesPerThread; ++i) {
          Log(LogLevel::kInfo, "concurrent",
              {{"thread", absl::StrCat(t)}, {"padding", padding}});
        }
      });
    }
    for (auto& thread : threads) thread.join();
  });
  ASSERT_THAT(lines, SizeIs(kThreads * kLinesPerThread));
  for (const std::string& line : lines) {
    ASSERT_TRUE(nlohmann::json::accept(line)) << line;
    nlohmann::json json = nlohmann::json::parse(line);
    const int t = std::stoi(json["thread"].get<std::string>());
    EXPECT_EQ(json["padding"], std::string(200, static_cast<char>('a' + t)));
  }
}

TEST(ParseLogLevelTest, ParsesTheFourNames) {
  LogLevel level = LogLevel::kInfo;
  ASSERT_TRUE(ParseLogLevel("debug", &level));
  EXPECT_EQ(level, LogLevel::kDebug);
  ASSERT_TRUE(ParseLogLevel("info", &level));
  EXPECT_EQ(level, LogLevel::kInfo);
  ASSERT_TRUE(ParseLogLevel("warning", &level));
  EXPECT_EQ(level, LogLevel::kWarning);
  ASSERT_TRUE(ParseLogLevel("error", &level));
  EXPECT_EQ(level, LogLevel::kError);
}

TEST(ParseLogLevelTest, RejectsOtherTextAndLeavesTheLevel) {
  for (const char* text : {"", "warn", "INFO", "Error", "fatal", " info"}) {
    LogLevel level = LogLevel::kWarning;
    EXPECT_FALSE(ParseLogLevel(text, &level)) << text;
    EXPECT_EQ(level, LogLevel::kWarning) << text;
  }
}

TEST(MaskPhoneTest, HidesTheMiddleOfLongNumbers) {
  EXPECT_EQ(MaskPhone("+8613800138000"), "+86138****8000");
  EXPECT_EQ(MaskPhone("+14155550100"), "+141****0100");
  EXPECT_EQ(MaskPhone("+447400123456"), "+4474****3456");
}

TEST(MaskPhoneTest, EmptyStaysEmpty) { EXPECT_EQ(MaskPhone(""), ""); }

int CountDigits(absl::string_view text) {
  int digits = 0;
  for (char c : text) digits += (c >= '0' && c <= '9') ? 1 : 0;
  return digits;
}

TEST(MaskPhoneTest, NineCharactersAreLong) {
  EXPECT_EQ(MaskPhone("+12345678"), "+****5678");
}

TEST(MaskPhoneTest, ShortNumbersKeepOnlyTheirLastTwoDigits) {
  EXPECT_EQ(MaskPhone("+861234"), "+****34");
  EXPECT_EQ(MaskPhone("+86110"), "+****10");
  EXPECT_EQ(MaskPhone("110"), "****");
  EXPECT_EQ(MaskPhone("12"), "****");
  EXPECT_EQ(MaskPhone("+"), "+****");
}

// The header promises that a short number (up to eight characters: the last
// four show only from nine on) keeps only its last two digits.
TEST(MaskPhoneTest, EightCharacterNumbersShowOnlyTheirLastTwoDigits) {
  for (const char* e164 : {"+1234567", "+8612345", "+6834002"}) {
    const std::string masked = MaskPhone(e164);
    const absl::string_view view(e164);
    EXPECT_THAT(masked, ::testing::HasSubstr("****")) << e164;
    EXPECT_TRUE(absl::EndsWith(masked, view.substr(view.size() - 2)))
        << e164 << " -> " << masked;
    EXPECT_EQ(CountDigits(masked), 2) << e164 << " -> " << masked;
  }
}

TEST(MaskPhoneTest, AlwaysHidesAtLeastFourCharactersAndShowsNoMoreThanTen) {
  const std::string digits = "+123456789012345";  // up to E.164's maximum
  for (size_t size = 9; size <= digits.size(); ++size) {
    const std::string e164 = digits.substr(0, size);
    const std::string masked = MaskPhone(e164);
    const size_t stars = masked.find("****");
    ASSERT_NE(stars, std::string::npos) << e164;
    const std::string prefix = masked.substr(0, stars);
    const std::string suffix = masked.substr(stars + 4);
    EXPECT_EQ(suffix, e164.substr(size - 4)) << e164;
    EXPECT_EQ(prefix, e164.substr(0, prefix.size())) << e164;
    EXPECT_GE(size - prefix.size() - suffix.size(), 4u) << e164;
    EXPECT_LE(prefix.size() + suffix.size(), 10u) << e164;
  }
}

}  // namespace
}  // namespace profile
