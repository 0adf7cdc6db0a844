#include "server/sms/sms_text.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "nlohmann/json.hpp"
#include "server/common/files.h"
#include "server/common/flag_error.h"

namespace profile {
namespace {

constexpr size_t kMaxAppName = 64;
constexpr size_t kMaxTemplate = 500;

// The defaults, [language][purpose - 1].
std::array<std::array<std::string, 2>, 2> DefaultTemplates() {
  return {{
      {{"{app}: {code} is your code to link this number to your account. "
        "It expires in {minutes} min. Do not share it.",
        "{app}: {code} is your code to confirm your current number before "
        "changing it. It expires in {minutes} min. Do not share it."}},
      {{"【{app}】验证码 {code}，用于将此手机号绑定到您的账号，{minutes} "
        "分钟内有效。请勿告诉他人。",
        "【{app}】验证码 {code}，用于确认您当前的手机号以便更换，{minutes} "
        "分钟内有效。请勿告诉他人。"}},
  }};
}

// A host name as WebOTP takes it: labels of letters, digits and hyphens.
bool IsHostName(absl::string_view host) {
  if (host.empty() || host.size() > 253 || host.front() == '.' ||
      host.back() == '.' || absl::StrContains(host, "..")) {
    return false;
  }
  return std::all_of(host.begin(), host.end(), [](char c) {
    return absl::ascii_isalnum(c) || c == '-' || c == '.';
  });
}

absl::Status ReadTemplates(
    const std::string& path,
    std::array<std::array<std::string, 2>, 2>* templates) {
  constexpr absl::string_view kFlag = "sms_templates_file";
  absl::StatusOr<std::string> text = ReadFlagFile(kFlag, path);
  if (!text.ok()) return text.status();
  const nlohmann::json json = nlohmann::json::parse(*text, nullptr, false);
  if (!json.is_object()) {
    return InvalidFlagError(kFlag, "is not a JSON object");
  }
  for (const auto& [language, texts] : json.items()) {
    int l;
    if (language == LanguageTag(Language::kEnglish)) {
      l = 0;
    } else if (language == LanguageTag(Language::kChinese)) {
      l = 1;
    } else {
      return InvalidFlagError(
          kFlag, absl::StrCat("names language \"", language,
                              "\"; only \"en\" and \"zh-CN\" are known"));
    }
    if (!texts.is_object()) {
      return InvalidFlagError(kFlag, absl::StrCat("\"", language,
                                                  "\" is not an object"));
    }
    for (const auto& [purpose, value] : texts.items()) {
      int p;
      if (purpose == CodePurposeName(CodePurpose::kNewPhone)) {
        p = 0;
      } else if (purpose == CodePurposeName(CodePurpose::kOldPhone)) {
        p = 1;
      } else {
        return InvalidFlagError(
            kFlag, absl::StrCat("names purpose \"", purpose,
                                "\"; only \"new_phone\" and \"old_phone\""));
      }
      const std::string where = absl::StrCat(language, ".", purpose);
      if (!value.is_string()) {
        return InvalidFlagError(kFlag, absl::StrCat(where, " is not a string"));
      }
      const std::string& text = value.get_ref<const std::string&>();
      if (!absl::StrContains(text, "{code}")) {
        return InvalidFlagError(kFlag,
                                absl::StrCat(where, " has no {code}"));
      }
      if (text.size() > kMaxTemplate) {
        return InvalidFlagError(
            kFlag, absl::StrCat(where, " is over ", kMaxTemplate, " bytes"));
      }
      (*templates)[l][p] = text;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<const SmsTexts>> SmsTexts::New(
    const SmsTextOptions& options) {
  if (options.app_name.empty() || options.app_name.size() > kMaxAppName) {
    return InvalidFlagError(
        "app_name", absl::StrCat("must be 1 to ", kMaxAppName, " bytes"));
  }
  if (!options.origin.empty() && !IsHostName(options.origin)) {
    return InvalidFlagError("sms_origin",
                            "must be a host name, like account.example.com");
  }
  const std::string& url = options.revert_url_template;
  if (!url.empty() &&
      (!absl::StartsWith(url, "https://") || url.size() > 512 ||
       url.find("{token}") == std::string::npos ||
       url.find("{token}") != url.rfind("{token}") ||
       std::any_of(url.begin(), url.end(), [](char c) {
         return static_cast<unsigned char>(c) <= ' ' || c == 0x7f;
       }))) {
    return InvalidFlagError(
        "revert_url_template",
        "must be an https:// link of at most 512 bytes holding {token} once "
        "and no spaces, like https://account.example.com/undo?token={token}");
  }
  std::shared_ptr<SmsTexts> texts(new SmsTexts());
  texts->templates_ = DefaultTemplates();
  texts->revert_url_template_ = url;
  texts->app_name_ = options.app_name;
  texts->origin_ = options.origin;
  if (!options.templates_file.empty()) {
    absl::Status read = ReadTemplates(options.templates_file, &texts->templates_);
    if (!read.ok()) return read;
  }
  return std::shared_ptr<const SmsTexts>(std::move(texts));
}

std::shared_ptr<const SmsTexts> SmsTexts::Default() {
  static const auto* const kDefault =
      new std::shared_ptr<const SmsTexts>(*New(SmsTextOptions()));
  return *kDefault;
}

std::string SmsTexts::PhoneInUseText(Language language) const {
  if (language == Language::kChinese) {
    return absl::StrCat("【", app_name_,
                        "】有人请求将此手机号绑定到一个账号，但它已绑定您的"
                        "账号，未作更改。如非您本人操作，无需处理。");
  }
  return absl::StrCat(app_name_,
                      ": someone asked to link this number to an account, "
                      "but it is already linked to yours. Nothing was "
                      "changed. If this was not you, no action is needed.");
}

std::string SmsTexts::PhoneChangedText(Language language,
                                       absl::string_view masked_new_phone,
                                       absl::string_view revert_token,
                                       absl::Duration window) const {
  const std::string undo =
      revert_url_template_.empty()
          ? std::string(revert_token)
          : absl::StrReplaceAll(revert_url_template_,
                                {{"{token}", revert_token}});
  const int64_t hours = std::max<int64_t>(
      1, absl::ToInt64Hours(absl::Ceil(window, absl::Hours(1))));
  const bool days = hours >= 48;
  if (language == Language::kChinese) {
    return absl::StrCat(
        "【", app_name_, "】您账号绑定的手机号已改为 ", masked_new_phone,
        "，此号码已解除绑定。如非您本人操作，请在 ",
        days ? hours / 24 : hours, days ? " 天" : " 小时", "内撤销：",
        revert_url_template_.empty() ? "撤销凭证 " : "", undo);
  }
  return absl::StrCat(
      app_name_, ": the phone of your account was changed to ",
      masked_new_phone, " and this number was unlinked. If this was not you, ",
      "undo it within ", days ? hours / 24 : hours,
      days ? " days" : (hours == 1 ? " hour" : " hours"),
      revert_url_template_.empty() ? " with the revert token " : ": ", undo);
}

std::string SmsTexts::PhoneUnlinkedText(Language language) const {
  if (language == Language::kChinese) {
    return absl::StrCat("【", app_name_,
                        "】账号持有人撤销了一次手机号修改，此号码已与该账号"
                        "解除绑定。");
  }
  return absl::StrCat(app_name_,
                      ": the account holder undid a phone change, and this "
                      "number is no longer linked to their account.");
}

std::string SmsTexts::CodeText(Language language, CodePurpose purpose,
                               absl::string_view code,
                               absl::Duration ttl) const {
  const int64_t minutes = std::max<int64_t>(
      1, absl::ToInt64Minutes(absl::Ceil(ttl, absl::Minutes(1))));
  const int l = language == Language::kChinese ? 1 : 0;
  const int p = purpose == CodePurpose::kOldPhone ? 1 : 0;
  std::string text = absl::StrReplaceAll(
      templates_[l][p], {{"{app}", app_name_},
                         {"{code}", code},
                         {"{minutes}", absl::StrCat(minutes)}});
  if (!origin_.empty()) absl::StrAppend(&text, "\n\n@", origin_, " #", code);
  return text;
}

}  // namespace profile
