#include "server/sms/sms_text.h"

#include <fstream>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_dir.h"

namespace profile {
namespace {

using ::profile::testing::IsOk;
using ::profile::testing::StatusIs;
using ::profile::testing::TestDir;
using ::testing::HasSubstr;

std::shared_ptr<const SmsTexts> Texts(const SmsTextOptions& options) {
  absl::StatusOr<std::shared_ptr<const SmsTexts>> texts = SmsTexts::New(options);
  EXPECT_THAT(texts, IsOk());
  return texts.ok() ? *texts : nullptr;
}

TEST(SmsTextTest, DefaultsNameTheAppTheActionAndTheValidity) {
  SmsTextOptions options;
  options.app_name = "Acme";
  std::shared_ptr<const SmsTexts> texts = Texts(options);
  ASSERT_NE(texts, nullptr);
  EXPECT_EQ(texts->CodeText(Language::kEnglish, CodePurpose::kNewPhone,
                            "123456", absl::Minutes(5)),
            "Acme: 123456 is your code to link this number to your account. "
            "It expires in 5 min. Do not share it.");
  EXPECT_EQ(texts->CodeText(Language::kEnglish, CodePurpose::kOldPhone,
                            "123456", absl::Seconds(61)),
            "Acme: 123456 is your code to confirm your current number before "
            "changing it. It expires in 2 min. Do not share it.");
  EXPECT_EQ(texts->CodeText(Language::kChinese, CodePurpose::kNewPhone,
                            "654321", absl::Seconds(10)),
            "【Acme】验证码 654321，用于将此手机号绑定到您的账号，1 "
            "分钟内有效。请勿告诉他人。");
  EXPECT_EQ(texts->CodeText(Language::kChinese, CodePurpose::kOldPhone,
                            "654321", absl::Minutes(10)),
            "【Acme】验证码 654321，用于确认您当前的手机号以便更换，10 "
            "分钟内有效。请勿告诉他人。");
}

TEST(SmsTextTest, DefaultIsAppProfile) {
  EXPECT_THAT(SmsTexts::Default()->CodeText(Language::kEnglish,
                                            CodePurpose::kNewPhone, "1234",
                                            absl::Minutes(5)),
              ::testing::StartsWith("Profile: 1234 is your code"));
}

TEST(SmsTextTest, OriginAppendsTheWebOtpLine) {
  SmsTextOptions options;
  options.origin = "account.example.com";
  std::shared_ptr<const SmsTexts> texts = Texts(options);
  ASSERT_NE(texts, nullptr);
  const std::string text = texts->CodeText(
      Language::kChinese, CodePurpose::kNewPhone, "246810", absl::Minutes(5));
  // The WebOTP format: the last line is "@<origin> #<code>".
  EXPECT_THAT(text, ::testing::EndsWith("\n\n@account.example.com #246810"));
}

TEST(SmsTextTest, BadAppNameOrOriginIsRefusedNamingTheFlag) {
  SmsTextOptions options;
  options.app_name = "";
  EXPECT_THAT(SmsTexts::New(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--app_name")));
  options.app_name = std::string(65, 'a');
  EXPECT_THAT(SmsTexts::New(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--app_name")));
  for (const char* origin : {"https://a.example", "a.example/x", "a b",
                             ".a.example", "a..example", "a.example."}) {
    options = SmsTextOptions();
    options.origin = origin;
    EXPECT_THAT(SmsTexts::New(options),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("--sms_origin")))
        << origin;
  }
}

class SmsTemplatesTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& text) {
    const std::string path = dir_.File("templates.json");
    std::ofstream(path) << text;
    return path;
  }

  TestDir dir_{"sms_text_test"};
};

TEST_F(SmsTemplatesTest, TemplatesOverrideTheirTextsOnly) {
  SmsTextOptions options;
  options.app_name = "Acme";
  options.templates_file = Write(R"({
    "en": {"old_phone": "{app} check: {code} ({minutes}m) {code}"},
    "zh-CN": {"new_phone": "【{app}】{code}"}
  })");
  std::shared_ptr<const SmsTexts> texts = Texts(options);
  ASSERT_NE(texts, nullptr);
  EXPECT_EQ(texts->CodeText(Language::kEnglish, CodePurpose::kOldPhone, "1234",
                            absl::Minutes(3)),
            "Acme check: 1234 (3m) 1234");
  EXPECT_EQ(texts->CodeText(Language::kChinese, CodePurpose::kNewPhone, "1234",
                            absl::Minutes(3)),
            "【Acme】1234");
  // The others keep their defaults.
  EXPECT_THAT(texts->CodeText(Language::kEnglish, CodePurpose::kNewPhone,
                              "1234", absl::Minutes(3)),
              ::testing::StartsWith("Acme: 1234 is your code to link"));
}

TEST_F(SmsTemplatesTest, PlaceholdersInTheAppNameAreNotExpanded) {
  SmsTextOptions options;
  options.app_name = "{code}";
  options.templates_file = Write(R"({"en": {"new_phone": "{app} {code}"}})");
  std::shared_ptr<const SmsTexts> texts = Texts(options);
  ASSERT_NE(texts, nullptr);
  EXPECT_EQ(texts->CodeText(Language::kEnglish, CodePurpose::kNewPhone, "99",
                            absl::Minutes(1)),
            "{code} 99");
}

TEST_F(SmsTemplatesTest, BadTemplatesFilesAreRefusedNamingTheFlag) {
  for (const char* text :
       {"", "not json", "[]", R"({"fr": {"new_phone": "{code}"}})",
        R"({"en": "x"})", R"({"en": {"email": "{code}"}})",
        R"({"en": {"new_phone": 5}})",
        R"({"en": {"new_phone": "Your code is {cod}"}})",
        R"({"zh-CN": {"old_phone": "no code here"}})"}) {
    SmsTextOptions options;
    options.templates_file = Write(text);
    EXPECT_THAT(SmsTexts::New(options),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("--sms_templates_file")))
        << text;
  }
  SmsTextOptions options;
  options.templates_file = dir_.File("missing.json");
  EXPECT_THAT(SmsTexts::New(options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--sms_templates_file")));
}

TEST_F(SmsTemplatesTest, TemplateWithoutCodeSaysWhich) {
  SmsTextOptions options;
  options.templates_file =
      Write(R"({"zh-CN": {"old_phone": "no code here"}})");
  EXPECT_THAT(SmsTexts::New(options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("zh-CN.old_phone has no {code}")));
}

}  // namespace
}  // namespace profile
