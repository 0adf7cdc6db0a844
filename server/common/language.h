// Language: the language a caller reads, chosen per call from its metadata
// (server/service/call_context.h) and used for error messages and SMS texts.
#ifndef PROFILE_SERVER_COMMON_LANGUAGE_H_
#define PROFILE_SERVER_COMMON_LANGUAGE_H_

namespace profile {

enum class Language { kEnglish, kChinese };

// Returns the BCP 47 tag of `language`: "en" or "zh-CN".
constexpr const char* LanguageTag(Language language) {
  return language == Language::kChinese ? "zh-CN" : "en";
}

}  // namespace profile

#endif  // PROFILE_SERVER_COMMON_LANGUAGE_H_
