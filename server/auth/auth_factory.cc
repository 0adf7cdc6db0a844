#include "server/auth/auth_factory.h"

#include <utility>

#include "server/common/flag_error.h"

namespace profile {

absl::Status AuthOptions::Validate() const {
  if (mode != "trusted_header" && mode != "jwt") {
    return InvalidFlagError("auth", "must be trusted_header or jwt");
  }
  const bool jwt_flags = !jwt.secret_file.empty() ||
                         !jwt.public_key_file.empty() ||
                         !jwt.jwks_file.empty();
  if (mode != "jwt" && jwt_flags) {
    return InvalidFlagError(
        "jwt_secret_file",
        "and --jwt_public_key_file and --jwt_jwks_file need --auth=jwt");
  }
  if (max_auth_age != absl::ZeroDuration() &&
      (max_auth_age < kMinMaxAuthAge || max_auth_age > kMaxMaxAuthAge)) {
    return InvalidFlagError("max_auth_age",
                            "must be 0s (off) or from 1m to 720h (30 days)");
  }
  if (mode == "jwt") return jwt.Validate();
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Authenticator>> NewAuthenticator(
    const AuthOptions& options, std::shared_ptr<Clock> clock) {
  absl::Status valid = options.Validate();
  if (!valid.ok()) return valid;
  if (options.mode == "jwt") {
    return NewJwtAuthenticatorFromFiles(options.jwt, std::move(clock));
  }
  return NewTrustedHeaderAuthenticator();
}

}  // namespace profile
