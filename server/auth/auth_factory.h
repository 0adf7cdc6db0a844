// How callers are identified, as configured: the options of --auth and the
// factory that builds the Authenticator they name.
//
//   AuthOptions options;
//   options.mode = "jwt";
//   options.jwt.secret_file = "/etc/profile/jwt/secret";
//   absl::StatusOr<std::unique_ptr<Authenticator>> auth =
//       NewAuthenticator(options, clock);
//
// Thread-safety: pure functions; see each Authenticator.
#ifndef PROFILE_SERVER_AUTH_AUTH_FACTORY_H_
#define PROFILE_SERVER_AUTH_AUTH_FACTORY_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/auth/authenticator.h"
#include "server/auth/jwt_authenticator.h"
#include "server/common/clock.h"

namespace profile {

// The range of --max_auth_age when it is on.
inline constexpr absl::Duration kMinMaxAuthAge = absl::Minutes(1);
inline constexpr absl::Duration kMaxMaxAuthAge = absl::Hours(24 * 30);

struct AuthOptions {
  // "trusted_header" (metadata x-user-id) or "jwt" (see `jwt`).
  std::string mode = "trusted_header";
  // --auth=jwt: the key file and the expected claims.
  JwtFileOptions jwt;
  // --max_auth_age: calls that change the account (SendPhoneCode,
  // UpdatePhoneVerification, UpdatePhone) need a sign-in at most this old
  // (CheckSignInAge()); zero: not checked.
  absl::Duration max_auth_age = absl::ZeroDuration();

  // Returns OK if the mode is known and its flags fit it, else
  // INVALID_ARGUMENT naming the flag.
  absl::Status Validate() const;
};

// Returns the Authenticator `options` names.
absl::StatusOr<std::unique_ptr<Authenticator>> NewAuthenticator(
    const AuthOptions& options, std::shared_ptr<Clock> clock);

}  // namespace profile

#endif  // PROFILE_SERVER_AUTH_AUTH_FACTORY_H_
