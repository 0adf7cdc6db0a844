#include "server/auth/authenticator.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/common/api_error.h"
#include "server/common/text.h"

namespace profile {
namespace {

constexpr absl::string_view kUserIdKey = "x-user-id";
constexpr absl::string_view kAuthTimeKey = "x-auth-time";

// Unix seconds up to the year 9999: 11 digits at most.
constexpr size_t kMaxAuthTimeDigits = 11;

absl::Status Unauthenticated(absl::string_view why) {
  return ApiError(ApiCode::kUnauthenticated, why);
}

// Reads metadata x-auth-time into `identity`; absent leaves it unknown.
absl::Status ReadAuthTime(const CallMetadata& metadata, Identity& identity) {
  auto [begin, end] = metadata.equal_range(
      grpc::string_ref(kAuthTimeKey.data(), kAuthTimeKey.size()));
  if (begin == end) return absl::OkStatus();
  if (std::next(begin) != end) {
    return InvalidFieldError("x-auth-time", "is given more than once");
  }
  absl::string_view value(begin->second.data(), begin->second.size());
  int64_t seconds = 0;
  if (value.empty() || value.size() > kMaxAuthTimeDigits ||
      !std::all_of(value.begin(), value.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(value, &seconds)) {
    return InvalidFieldError("x-auth-time",
                             "must be the Unix seconds of the sign-in");
  }
  identity.auth_time = absl::FromUnixSeconds(seconds);
  return absl::OkStatus();
}

class TrustedHeaderAuthenticator final : public Authenticator {
 public:
  absl::StatusOr<Identity> Identify(
      const CallMetadata& metadata) const override {
    auto [begin, end] = metadata.equal_range(
        grpc::string_ref(kUserIdKey.data(), kUserIdKey.size()));
    if (begin == end) return Unauthenticated("metadata x-user-id is missing");
    if (std::next(begin) != end) {
      return Unauthenticated("metadata x-user-id is given more than once");
    }
    absl::string_view user_id(begin->second.data(), begin->second.size());
    const absl::string_view problem = UserIdProblem(user_id);
    if (!problem.empty()) {
      return Unauthenticated(absl::StrCat("metadata x-user-id ", problem));
    }
    Identity identity;
    identity.user_id = std::string(user_id);
    absl::Status auth_time = ReadAuthTime(metadata, identity);
    if (!auth_time.ok()) return auth_time;
    return identity;
  }
};

}  // namespace

absl::StatusOr<std::string> Authenticator::Authenticate(
    const CallMetadata& metadata) const {
  absl::StatusOr<Identity> identity = Identify(metadata);
  if (!identity.ok()) return identity.status();
  return std::move(identity->user_id);
}

absl::Status CheckSignInAge(const Identity& identity, absl::Duration max_age,
                            absl::Time now) {
  if (max_age == absl::ZeroDuration()) return absl::OkStatus();
  if (identity.auth_time == absl::InfinitePast() ||
      identity.auth_time > now + kSignInClockSkew ||
      now - identity.auth_time > max_age) {
    return ApiError(ApiCode::kSignInAgain);
  }
  return absl::OkStatus();
}

absl::string_view UserIdProblem(absl::string_view user_id) {
  if (user_id.size() > kMaxUserIdBytes) return "is longer than 128 bytes";
  if (absl::StripAsciiWhitespace(user_id).empty()) return "is empty";
  if (!IsCleanText(user_id)) {
    return "holds control characters or invalid UTF-8";
  }
  return "";
}

bool HasAdminScope(const Identity& identity) {
  return std::find(identity.scopes.begin(), identity.scopes.end(),
                   kAdminScope) != identity.scopes.end();
}

std::unique_ptr<Authenticator> NewTrustedHeaderAuthenticator() {
  return std::make_unique<TrustedHeaderAuthenticator>();
}

}  // namespace profile
