#include "server/codes/test_number_verifier.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "server/common/api_error.h"
#include "server/common/crypto.h"
#include "server/phone/phone_number.h"

namespace profile {
namespace {

class TestNumberVerifier final : public CodeVerifier {
 public:
  TestNumberVerifier(TestPhoneCodes codes, TestNumberVerifierOptions options,
                     std::shared_ptr<Clock> clock)
      : codes_(std::move(codes)),
        options_(options),
        clock_(std::move(clock)) {}

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
    const bool right = ConstantTimeEquals(it->second, code);
    absl::MutexLock lock(&mu_);
    // Nobody guessed wrong lately (the usual case): nothing to look up.
    if (right && wrong_guesses_.empty()) return absl::OkStatus();
    const absl::Time now = clock_->Now();
    // Only covered numbers get here: the map holds at most one entry per
    // test number and purpose.
    const std::pair<std::string, CodePurpose> guess_key(key.phone_e164,
                                                        key.purpose);
    auto guesses = wrong_guesses_.find(guess_key);
    if (guesses != wrong_guesses_.end() && now >= guesses->second.until) {
      wrong_guesses_.erase(guesses);
      guesses = wrong_guesses_.end();
    }
    if (guesses != wrong_guesses_.end() &&
        guesses->second.count >= options_.max_attempts) {
      return NoLiveCodeError();
    }
    if (right) return absl::OkStatus();
    if (guesses == wrong_guesses_.end()) {
      wrong_guesses_.emplace(guess_key,
                             WrongGuesses{1, now + options_.window});
    } else {
      ++guesses->second.count;
    }
    return ApiError(ApiCode::kWrongCode);
  }

  // Test codes are reusable: nothing to use up.
  absl::Status Consume(const CodeKey& key, absl::string_view code) override {
    return Check(key, code);
  }

 private:
  // The wrong codes of a run, which ends `window` after its first.
  struct WrongGuesses {
    int count;
    absl::Time until;
  };

  const TestPhoneCodes codes_;
  const TestNumberVerifierOptions options_;
  const std::shared_ptr<Clock> clock_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::pair<std::string, CodePurpose>, WrongGuesses>
      wrong_guesses_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<CodeVerifier> NewTestNumberVerifier(
    TestPhoneCodes codes, TestNumberVerifierOptions options,
    std::shared_ptr<Clock> clock) {
  if (clock == nullptr) clock = SystemClock();
  return std::make_unique<TestNumberVerifier>(std::move(codes), options,
                                              std::move(clock));
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
