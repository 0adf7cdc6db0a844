#include "server/auth/authenticator.h"

#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"
#include "server/common/api_error.h"
#include "server/common/text.h"

namespace profile {
namespace {

constexpr absl::string_view kUserIdKey = "x-user-id";

absl::Status Unauthenticated(absl::string_view why) {
  return ApiError(ApiCode::kUnauthenticated, why);
}

class TrustedHeaderAuthenticator final : public Authenticator {
 public:
  absl::StatusOr<std::string> Authenticate(
      const CallMetadata& metadata) const override {
    auto [begin, end] = metadata.equal_range(
        grpc::string_ref(kUserIdKey.data(), kUserIdKey.size()));
    if (begin == end) return Unauthenticated("metadata x-user-id is missing");
    if (std::next(begin) != end) {
      return Unauthenticated("metadata x-user-id is given more than once");
    }
    absl::string_view user_id(begin->second.data(), begin->second.size());
    if (user_id.size() > kMaxUserIdBytes) {
      return Unauthenticated("metadata x-user-id is longer than 128 bytes");
    }
    if (absl::StripAsciiWhitespace(user_id).empty()) {
      return Unauthenticated("metadata x-user-id is empty");
    }
    if (!IsCleanText(user_id)) {
      return Unauthenticated(
          "metadata x-user-id holds control characters or invalid UTF-8");
    }
    return std::string(user_id);
  }
};

}  // namespace

std::unique_ptr<Authenticator> NewTrustedHeaderAuthenticator() {
  return std::make_unique<TrustedHeaderAuthenticator>();
}

}  // namespace profile
