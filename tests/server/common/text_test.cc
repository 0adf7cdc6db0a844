#include "server/common/text.h"

#include <string>

#include "gtest/gtest.h"

namespace profile {
namespace {

// Valid UTF-8 that is also clean text.
const char* const kCleanText[] = {
    "",
    "abc",
    "user-42_x.y:z@example.com",
    " ~",                    // U+0020 and U+007E: the printable ASCII ends
    "手机号",                // CJK
    "中文 日本語 한국어",
    "\xC2\xA0",              // U+00A0 no-break space: just after C1
    "\xC3\xA9",              // U+00E9
    "\xE2\x80\xA9",          // U+2029: just below the bidi embeddings
    "\xE2\x80\xAF",          // U+202F: just above them
    "\xE2\x81\xA5",          // U+2065: just below the isolates
    "\xE2\x81\xAA",          // U+206A: just above them
    "\xED\x9F\xBF",          // U+D7FF: the last code point before surrogates
    "\xEE\x80\x80",          // U+E000: the first after them
    "\xEF\xBF\xBD",          // U+FFFD
    "\xF0\x9F\x98\x80",      // U+1F600, a 4-byte sequence
    "\xF4\x8F\xBF\xBF",      // U+10FFFF, the last code point
};

// Not valid UTF-8 at all.
const char* const kInvalidUtf8[] = {
    "\x80",                  // a lone continuation byte
    "abc\xBF",
    "\xC0\x80",              // overlong NUL
    "\xC0\xAF",              // overlong '/'
    "\xC1\xBF",              // overlong U+007F
    "\xE0\x80\xAF",          // overlong '/' in three bytes
    "\xE0\x9F\xBF",          // overlong U+07FF
    "\xF0\x80\x80\xAF",      // overlong '/' in four bytes
    "\xF0\x8F\xBF\xBF",      // overlong U+FFFF
    "\xED\xA0\x80",          // U+D800, a high surrogate
    "\xED\xBF\xBF",          // U+DFFF, a low surrogate
    "\xED\xA0\xBD\xED\xB8\x80",  // CESU-8 surrogate pair for U+1F600
    "\xF4\x90\x80\x80",      // U+110000, beyond Unicode
    "\xF5\x80\x80\x80",
    "\xF8\x88\x80\x80\x80",  // a 5-byte form
    "\xFC\x84\x80\x80\x80\x80",  // a 6-byte form
    "\xFE",
    "\xFF",
    "\xE4\xB8",              // truncated 中
    "\xF0\x9F\x98",          // truncated emoji
    "\xC3",                  // truncated at the end
    "\xC3\x28",              // continuation byte missing
    "\xE4\x28\xAD",
    "ok\xE4\xB8",            // valid text, then a truncated sequence
};

// Valid UTF-8 that holds a control character or a bidi override.
const char* const kDirtyButValid[] = {
    "\x01",
    "a\tb",
    "a\nb",
    "a\rb",
    "\x1B[31mred",           // ANSI escape
    "\x1F",
    "\x7F",                  // DEL
    "\xC2\x80",              // U+0080, the first C1 control
    "\xC2\x85",              // U+0085, next line
    "\xC2\x9F",              // U+009F, the last C1 control
    "\xE2\x80\xAA",          // U+202A LRE
    "\xE2\x80\xAB",          // U+202B RLE
    "\xE2\x80\xAC",          // U+202C PDF
    "\xE2\x80\xAD",          // U+202D LRO
    "\xE2\x80\xAE",          // U+202E RLO
    "admin\xE2\x80\xAEgpj.exe",
    "\xE2\x81\xA6",          // U+2066 LRI
    "\xE2\x81\xA7",          // U+2067 RLI
    "\xE2\x81\xA8",          // U+2068 FSI
    "\xE2\x81\xA9",          // U+2069 PDI
};

std::string Visible(const std::string& bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    static const char kHex[] = "0123456789ABCDEF";
    out += "\\x";
    out += kHex[c >> 4];
    out += kHex[c & 0xF];
  }
  return out;
}

TEST(IsValidUtf8Test, AcceptsValidText) {
  for (const char* text : kCleanText) {
    EXPECT_TRUE(IsValidUtf8(text)) << Visible(text);
  }
  for (const char* text : kDirtyButValid) {
    EXPECT_TRUE(IsValidUtf8(text)) << Visible(text);
  }
}

TEST(IsValidUtf8Test, RejectsInvalidText) {
  for (const char* text : kInvalidUtf8) {
    EXPECT_FALSE(IsValidUtf8(text)) << Visible(text);
  }
}

TEST(IsValidUtf8Test, EmbeddedNulIsValidUtf8) {
  EXPECT_TRUE(IsValidUtf8(std::string("a\0b", 3)));
}

TEST(IsValidUtf8Test, ChecksEveryCodePointNotJustTheFirst) {
  EXPECT_FALSE(IsValidUtf8("中文中文\xFF"));
  EXPECT_FALSE(IsValidUtf8("abc\xED\xA0\x80xyz"));
}

TEST(IsValidUtf8Test, DoesNotReadPastTheView) {
  // The bytes after the view would complete the sequence; the view alone
  // ends in the middle of it.
  const std::string storage = "ab\xE4\xB8\xAD";
  EXPECT_FALSE(IsValidUtf8(absl::string_view(storage.data(), 4)));
  EXPECT_TRUE(IsValidUtf8(absl::string_view(storage.data(), 5)));
}

TEST(DecodeUtf8Test, ReturnsTheCodePointAndAdvancesPastIt) {
  const std::string text = "a\xC3\xA9\xE6\x89\x8B\xF0\x9F\x98\x80";
  size_t i = 0;
  EXPECT_EQ(DecodeUtf8(text, &i), 'a');
  EXPECT_EQ(i, 1u);
  EXPECT_EQ(DecodeUtf8(text, &i), 0xE9);
  EXPECT_EQ(i, 3u);
  EXPECT_EQ(DecodeUtf8(text, &i), 0x624B);
  EXPECT_EQ(i, 6u);
  EXPECT_EQ(DecodeUtf8(text, &i), 0x1F600);
  EXPECT_EQ(i, text.size());
}

TEST(DecodeUtf8Test, InvalidBytesLeaveThePositionAlone) {
  for (const char* invalid : kInvalidUtf8) {
    const std::string text(invalid);
    // Find the first position that does not decode; it must not move.
    size_t i = 0;
    while (i < text.size()) {
      const size_t before = i;
      if (DecodeUtf8(text, &i) < 0) {
        EXPECT_EQ(i, before) << "in \"" << text << "\"";
        break;
      }
      EXPECT_GT(i, before);
    }
    EXPECT_LT(i, text.size()) << "no invalid byte found in \"" << text << "\"";
  }
}

TEST(IsCleanTextTest, AcceptsCleanText) {
  for (const char* text : kCleanText) {
    EXPECT_TRUE(IsCleanText(text)) << Visible(text);
  }
}

TEST(IsCleanTextTest, RejectsInvalidUtf8) {
  for (const char* text : kInvalidUtf8) {
    EXPECT_FALSE(IsCleanText(text)) << Visible(text);
  }
}

TEST(IsCleanTextTest, RejectsControlsAndBidiOverrides) {
  for (const char* text : kDirtyButValid) {
    EXPECT_FALSE(IsCleanText(text)) << Visible(text);
  }
}

TEST(IsCleanTextTest, RejectsNul) {
  EXPECT_FALSE(IsCleanText(std::string("\0", 1)));
  EXPECT_FALSE(IsCleanText(std::string("user\0admin", 10)));
}

TEST(IsCleanTextTest, EveryC0AndC1ControlIsRejected) {
  for (int c = 0; c < 0x20; ++c) {
    EXPECT_FALSE(IsCleanText(std::string(1, static_cast<char>(c)))) << c;
  }
  EXPECT_FALSE(IsCleanText("\x7F"));
  for (int c = 0x80; c <= 0x9F; ++c) {
    const std::string encoded = {static_cast<char>(0xC2),
                                 static_cast<char>(c)};
    EXPECT_FALSE(IsCleanText(encoded)) << c;
  }
  for (int c = 0x20; c < 0x7F; ++c) {
    EXPECT_TRUE(IsCleanText(std::string(1, static_cast<char>(c)))) << c;
  }
}

}  // namespace
}  // namespace profile
