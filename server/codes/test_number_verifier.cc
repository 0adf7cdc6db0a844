#include "server/codes/test_number_verifier.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/common/api_error.h"
#include "server/common/crypto.h"
#include "server/phone/phone_number.h"

namespace profile {
namespace {

class TestNumberVerifier final : public CodeVerifier {
 public:
  explicit TestNumberVerifier(TestPhoneCodes codes) : codes_(std::move(codes)) {}

  bool Covers(absl::string_view phone_e164) const override {
    return codes_.contains(phone_e164);
  }

  // Test codes are fixed: nothing is texted, so no send limit applies.
  bool Texts(absl::string_view) const override { return false; }

  bool SendMayBlock() const override { return false; }

  bool CheckMayBlock() const override { return false; }

  absl::Status Send(const CodeRequest&) override { return absl::OkStatus(); }

  absl::Status Check(const CodeKey& key, absl::string_view code) override {
    auto it = codes_.find(key.phone_e164);
    if (it == codes_.end()) return NoLiveCodeError();
    if (!ConstantTimeEquals(it->second, code)) {
      return ApiError(ApiCode::kWrongCode);
    }
    return absl::OkStatus();
  }

  // Test codes are reusable: nothing to use up.
  absl::Status Consume(const CodeKey& key, absl::string_view code) override {
    return Check(key, code);
  }

 private:
  const TestPhoneCodes codes_;
};

}  // namespace

std::unique_ptr<CodeVerifier> NewTestNumberVerifier(TestPhoneCodes codes) {
  return std::make_unique<TestNumberVerifier>(std::move(codes));
}

absl::StatusOr<TestPhoneCodes> ParseTestPhoneCodes(absl::string_view text) {
  TestPhoneCodes codes;
  for (absl::string_view pair :
       absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    pair = absl::StripAsciiWhitespace(pair);
    std::pair<absl::string_view, absl::string_view> parts =
        absl::StrSplit(pair, absl::MaxSplits(':', 1));
    absl::StatusOr<PhoneNumber> phone = ParseE164(parts.first);
    if (!phone.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--test_phone_codes: \"", parts.first,
          "\" is not a valid E.164 number like +8613800138000 nor a "
          "reserved fictional one like +447700900123"));
    }
    absl::string_view code = parts.second;
    if (code.size() < 4 || code.size() > 10 ||
        !std::all_of(code.begin(), code.end(),
                     [](char c) { return absl::ascii_isdigit(c); })) {
      return absl::InvalidArgumentError(
          absl::StrCat("--test_phone_codes: the code of ", parts.first,
                       " must be 4 to 10 digits"));
    }
    if (!codes.emplace(phone->e164, std::string(code)).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--test_phone_codes: ", parts.first, " is listed twice"));
    }
  }
  return codes;
}

FictionalNumbers FictionalTestNumbers(const TestPhoneCodes& codes) {
  FictionalNumbers fictional;
  for (const auto& [e164, code] : codes) {
    if (IsReservedFictionalNumber(e164)) fictional.insert(e164);
  }
  return fictional;
}

}  // namespace profile
