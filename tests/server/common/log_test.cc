#include "server/common/log.h"

#include <algorithm>
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

// Plain runs are scanned 8 bytes at a time: each byte that needs an escape
// (and each multi-byte character) must be caught at every offset of a word
// and in the tail shorter than one.
TEST_F(LogTest, EscapesEveryByteThatNeedsItAtEveryOffset) {
  const std::string specials[] = {"\"", "\\", "\n", "\x01", "\x1f",
                                  std::string("\0", 1), "\xc3\xa9", "\x7f"};
  for (const std::string& special : specials) {
    for (size_t length = 0; length <= 20; ++length) {
      for (size_t at = 0; at <= length; ++at) {
        std::string value(length, 'a');
        value.insert(at, special);
        std::vector<std::string> lines = CaptureLines(
            [&] { Log(LogLevel::kInfo, "m", {{"value", value}}); });
        ASSERT_THAT(lines, SizeIs(1));
        ASSERT_TRUE(nlohmann::json::accept(lines[0])) << lines[0];
        EXPECT_EQ(nlohmann::json::parse(lines[0])["value"], value)
            << "length " << length << ", at " << at;
      }
    }
  }
  // A byte invalid as UTF-8 deep in a long value is still replaced.
  std::vector<std::string> lines = CaptureLines([] {
    Log(LogLevel::kInfo, "m", {{"value", "abcdefghijklmnop\xffqrstuvw"}});
  });
  ASSERT_THAT(lines, SizeIs(1));
  EXPECT_EQ(nlohmann::json::parse(lines[0])["value"],
            "abcdefghijklmnop\xEF\xBF\xBDqrstuvw");
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

TEST(MaskPhoneTest, ShowsOnlyTheCallingCodeAndTheLastFourDigits) {
  EXPECT_EQ(MaskPhone("+8613800138000"), "+86*******8000");
  EXPECT_EQ(MaskPhone("+14155550100"), "+1******0100");
  EXPECT_EQ(MaskPhone("+447400123456"), "+44******3456");
  EXPECT_EQ(MaskPhone("+4402012345678"), "+44*******5678");
  EXPECT_EQ(MaskPhone("+79161234567"), "+7******4567");
  EXPECT_EQ(MaskPhone("+85291234567"), "+852****4567");
  EXPECT_EQ(MaskPhone("+9715012345678"), "+971******5678");
}

TEST(MaskPhoneTest, EmptyStaysEmpty) { EXPECT_EQ(MaskPhone(""), ""); }

// E.164 calling codes are prefix-free: 1 and 7, 44 two-digit codes, and
// three digits for everything else (libphonenumber agrees for every code it
// knows: tests/server/phone/phone_number_test.cc).
TEST(MaskPhoneTest, ReadsTheCallingCodeFromTheDigits) {
  EXPECT_EQ(MaskPhone("+12125550000"), "+1******0000");
  EXPECT_EQ(MaskPhone("+77012345678"), "+7******5678");
  EXPECT_EQ(MaskPhone("+201001234567"), "+20******4567");
  EXPECT_EQ(MaskPhone("+211912345678"), "+211*****5678");
  EXPECT_EQ(MaskPhone("+98912345678"), "+98*****5678");
  EXPECT_EQ(MaskPhone("+99890123456"), "+998****3456");
  EXPECT_EQ(MaskPhone("+80012345678"), "+800****5678");
}

TEST(MaskPhoneTest, ShortNationalNumbersShowLessOfTheirEnd) {
  // 8 national digits: the last four, four hidden.
  EXPECT_EQ(MaskPhone("+6591234567"), "+65****4567");
  // 5 to 7: the last two.
  EXPECT_EQ(MaskPhone("+3541234567"), "+354*****67");
  EXPECT_EQ(MaskPhone("+86110123"), "+86****23");
  // 1 to 4: none.
  EXPECT_EQ(MaskPhone("+6834002"), "+683****");
  EXPECT_EQ(MaskPhone("+861234"), "+86****");
  EXPECT_EQ(MaskPhone("+86110"), "+86***");
}

TEST(MaskPhoneTest, AnythingButE164ShowsNothing) {
  EXPECT_EQ(MaskPhone("110"), "****");
  EXPECT_EQ(MaskPhone("12"), "****");
  EXPECT_EQ(MaskPhone("+"), "****");
  EXPECT_EQ(MaskPhone("+86"), "****");
  EXPECT_EQ(MaskPhone("+86 138 0013 8000"), "****");
  EXPECT_EQ(MaskPhone("8613800138000"), "****");
}

int CountDigits(absl::string_view text) {
  int digits = 0;
  for (char c : text) digits += (c >= '0' && c <= '9') ? 1 : 0;
  return digits;
}

TEST(MaskPhoneTest, HidesEveryDigitBetweenTheCallingCodeAndTheEnd) {
  for (absl::string_view prefix : {"+1", "+86", "+852"}) {
    for (size_t national = 1; national <= 14; ++national) {
      const std::string e164 = absl::StrCat(
          prefix, std::string("98765432109876").substr(0, national));
      const std::string masked = MaskPhone(e164);
      EXPECT_EQ(masked.size(), e164.size()) << e164 << " -> " << masked;
      EXPECT_TRUE(absl::StartsWith(masked, absl::StrCat(prefix, "*")))
          << e164 << " -> " << masked;
      const int shown =
          CountDigits(masked) - (static_cast<int>(prefix.size()) - 1);
      EXPECT_EQ(shown, national >= 8 ? 4 : national >= 5 ? 2 : 0)
          << e164 << " -> " << masked;
      EXPECT_EQ(std::count(masked.begin(), masked.end(), '*'),
                static_cast<int>(national) - shown)
          << e164 << " -> " << masked;
      EXPECT_TRUE(absl::EndsWith(e164, masked.substr(masked.size() - shown)))
          << e164 << " -> " << masked;
    }
  }
}

}  // namespace
}  // namespace profile
