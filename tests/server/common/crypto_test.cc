#include "server/common/crypto.h"

#include <array>
#include <set>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace profile {
namespace {

using ::testing::MatchesRegex;

std::string Hex(absl::string_view bytes) {
  return absl::BytesToHexString(bytes);
}

TEST(RandomBytesTest, ReturnsTheRequestedLength) {
  EXPECT_EQ(RandomBytes(0), "");
  EXPECT_EQ(RandomBytes(1).size(), 1u);
  EXPECT_EQ(RandomBytes(32).size(), 32u);
  EXPECT_EQ(RandomBytes(1000).size(), 1000u);
}

TEST(RandomBytesTest, DoesNotRepeat) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    EXPECT_TRUE(seen.insert(RandomBytes(16)).second) << "repeat at " << i;
  }
}

TEST(RandomDigitsTest, ReturnsOnlyDigitsOfTheRequestedLength) {
  EXPECT_EQ(RandomDigits(0), "");
  for (size_t n : {1u, 4u, 6u, 10u, 100u}) {
    std::string digits = RandomDigits(n);
    EXPECT_EQ(digits.size(), n);
    EXPECT_THAT(digits, MatchesRegex("[0-9]*"));
  }
}

TEST(RandomDigitsTest, EveryDigitAppearsAboutEquallyOften) {
  // 100000 digits: each expected 10000 times, standard deviation ~95.
  // A bound of +-800 (over 8 sigma) cannot flake but catches a bias such as
  // the one rejection sampling avoids (bytes 250..255 would add ~2.3% to 0-5).
  std::array<int, 10> counts = {};
  const std::string digits = RandomDigits(100000);
  for (char c : digits) ++counts[c - '0'];
  for (int d = 0; d < 10; ++d) {
    EXPECT_GT(counts[d], 9200) << "digit " << d;
    EXPECT_LT(counts[d], 10800) << "digit " << d;
  }
}

TEST(Sha256Test, MatchesKnownVectors) {
  EXPECT_EQ(Hex(Sha256("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Hex(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256Test, HandlesEmbeddedNulBytes) {
  const std::string with_nul("a\0b", 3);
  EXPECT_EQ(Sha256(with_nul).size(), 32u);
  EXPECT_NE(Sha256(with_nul), Sha256("a"));
  EXPECT_NE(Sha256(with_nul), Sha256("ab"));
}

TEST(HmacSha256Test, MatchesRfc4231TestCase2) {
  EXPECT_EQ(
      Hex(HmacSha256("Jefe", "what do ya want for nothing?")),
      "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(HmacSha256Test, DependsOnKeyAndData) {
  const std::string mac = HmacSha256("key", "data");
  EXPECT_EQ(mac.size(), 32u);
  EXPECT_EQ(mac, HmacSha256("key", "data"));
  EXPECT_NE(mac, HmacSha256("key2", "data"));
  EXPECT_NE(mac, HmacSha256("key", "data2"));
  EXPECT_NE(mac, Sha256("data"));
}

TEST(ConstantTimeEqualsTest, ComparesContent) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "xbc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
  EXPECT_FALSE(ConstantTimeEquals("", "a"));
  EXPECT_FALSE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0c", 3)));
  EXPECT_TRUE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0b", 3)));
}

TEST(Base64UrlEncodeTest, IsUrlSafeWithoutPadding) {
  EXPECT_EQ(Base64UrlEncode(""), "");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff\xbf"), "-_-_");
}

TEST(Base64UrlEncodeTest, A32ByteTokenIs43Characters) {
  const std::string token = Base64UrlEncode(RandomBytes(32));
  EXPECT_EQ(token.size(), 43u);
  EXPECT_THAT(token, MatchesRegex("[A-Za-z0-9_-]+"));
}

}  // namespace
}  // namespace profile
