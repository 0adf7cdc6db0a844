#include "server/codes/code_validator.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/common/api_error.h"
#include "server/common/crypto.h"
#include "server/phone/phone_number.h"

namespace profile {
namespace {

class StoredCodeValidator final : public CodeValidator {
 public:
  StoredCodeValidator(CodeStore* store, std::string secret)
      : store_(store), secret_(std::move(secret)) {}

  bool Covers(absl::string_view) const override { return true; }

  absl::Status Check(const CodeKey& key, absl::string_view code) override {
    return store_->Check(key, CodeDigest(secret_, key, code));
  }

  absl::Status Consume(const CodeKey& key, absl::string_view code) override {
    return store_->Consume(key, CodeDigest(secret_, key, code));
  }

 private:
  CodeStore* const store_;
  const std::string secret_;
};

class FixedCodeValidator final : public CodeValidator {
 public:
  explicit FixedCodeValidator(
      absl::flat_hash_map<std::string, std::string> codes)
      : codes_(std::move(codes)) {}

  bool Covers(absl::string_view phone_e164) const override {
    return codes_.contains(phone_e164);
  }

  absl::Status Check(const CodeKey& key, absl::string_view code) override {
    auto it = codes_.find(key.phone_e164);
    if (it == codes_.end()) return NoLiveCodeError();
    if (!ConstantTimeEquals(it->second, code)) {
      return ApiError(ApiCode::kWrongCode, "the verification code is wrong");
    }
    return absl::OkStatus();
  }

  // Test codes are reusable: nothing to use up.
  absl::Status Consume(const CodeKey& key, absl::string_view code) override {
    return Check(key, code);
  }

 private:
  const absl::flat_hash_map<std::string, std::string> codes_;
};

class CodeValidatorChain final : public CodeValidator {
 public:
  explicit CodeValidatorChain(
      std::vector<std::unique_ptr<CodeValidator>> validators)
      : validators_(std::move(validators)) {}

  bool Covers(absl::string_view phone_e164) const override {
    return Find(phone_e164) != nullptr;
  }

  absl::Status Check(const CodeKey& key, absl::string_view code) override {
    CodeValidator* validator = Find(key.phone_e164);
    return validator == nullptr ? NoLiveCodeError() : validator->Check(key, code);
  }

  absl::Status Consume(const CodeKey& key, absl::string_view code) override {
    CodeValidator* validator = Find(key.phone_e164);
    return validator == nullptr ? NoLiveCodeError() : validator->Consume(key, code);
  }

 private:
  CodeValidator* Find(absl::string_view phone_e164) const {
    for (const auto& validator : validators_) {
      if (validator->Covers(phone_e164)) return validator.get();
    }
    return nullptr;
  }

  const std::vector<std::unique_ptr<CodeValidator>> validators_;
};

}  // namespace

std::unique_ptr<CodeValidator> NewStoredCodeValidator(CodeStore* store,
                                                      std::string secret) {
  return std::make_unique<StoredCodeValidator>(store, std::move(secret));
}

std::unique_ptr<CodeValidator> NewFixedCodeValidator(
    absl::flat_hash_map<std::string, std::string> codes) {
  return std::make_unique<FixedCodeValidator>(std::move(codes));
}

std::unique_ptr<CodeValidator> NewCodeValidatorChain(
    std::vector<std::unique_ptr<CodeValidator>> validators) {
  return std::make_unique<CodeValidatorChain>(std::move(validators));
}

absl::StatusOr<absl::flat_hash_map<std::string, std::string>>
ParseTestPhoneCodes(absl::string_view text) {
  absl::flat_hash_map<std::string, std::string> codes;
  for (absl::string_view pair :
       absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    pair = absl::StripAsciiWhitespace(pair);
    std::pair<absl::string_view, absl::string_view> parts =
        absl::StrSplit(pair, absl::MaxSplits(':', 1));
    absl::StatusOr<PhoneNumber> phone = ParseE164(parts.first);
    if (!phone.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--test_phone_codes: \"", parts.first,
          "\" is not a valid E.164 number like +8613800138000"));
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

}  // namespace profile
