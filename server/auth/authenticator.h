// Authenticator: who is calling, from the call's metadata.
//
// The service never reads an identity from a request message; it asks an
// Authenticator. The trusted-header one reads `x-user-id`, which a trusted
// caller (an API gateway, a service mesh with mTLS) sets after it has
// authenticated the end user.
//
//   std::unique_ptr<Authenticator> auth = NewTrustedHeaderAuthenticator();
//   absl::StatusOr<Identity> caller = auth->Identify(metadata);
//   absl::Status fresh = CheckSignInAge(*caller, absl::Minutes(15), now);
//
// Thread-safety: implementations are safe to call concurrently.
#ifndef PROFILE_SERVER_AUTH_AUTHENTICATOR_H_
#define PROFILE_SERVER_AUTH_AUTHENTICATOR_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/support/string_ref.h"

namespace profile {

// The call metadata as gRPC hands it to a server.
using CallMetadata = std::multimap<grpc::string_ref, grpc::string_ref>;

// The longest user id accepted, in bytes.
inline constexpr size_t kMaxUserIdBytes = 128;

// Who is calling, and when they signed in.
struct Identity {
  std::string user_id;
  // When the user last proved who they are (a JWT's auth_time, else its
  // iat; the trusted gateway's x-auth-time); InfinitePast() when the
  // credentials do not say.
  absl::Time auth_time = absl::InfinitePast();
  // The OAuth scopes a JWT grants (its space-separated `scope` claim);
  // empty for other credentials.
  std::vector<std::string> scopes;
};

// Returns why `user_id` cannot name a user ("is longer than 128 bytes", "is
// empty", "holds control characters or invalid UTF-8"), or "" if it can:
// the rules of x-user-id, of a JWT's sub and of an admin's user_id.
absl::string_view UserIdProblem(absl::string_view user_id);

// The scope that makes a JWT's bearer an admin of ProfileAdminService; the
// public RPCs refuse it as a user identity.
inline constexpr char kAdminScope[] = "profile.admin";

// Returns true if `identity` holds kAdminScope.
bool HasAdminScope(const Identity& identity);

class Authenticator {
 public:
  virtual ~Authenticator() = default;

  // Returns the caller's identity, or UNAUTHENTICATED (api code 1000) with a
  // message that says what is missing or wrong (INVALID_ARGUMENT, 1001, for
  // a malformed x-auth-time).
  virtual absl::StatusOr<Identity> Identify(
      const CallMetadata& metadata) const = 0;

  // Returns Identify()'s user id.
  absl::StatusOr<std::string> Authenticate(const CallMetadata& metadata) const;
};

// Returns an authenticator that trusts metadata `x-user-id`: one value, 1 to
// 128 bytes, not blank, no control characters, valid UTF-8; and, when
// present, `x-auth-time`: one value, the Unix seconds of the sign-in
// (digits only, else INVALID_ARGUMENT 1001 naming it).
std::unique_ptr<Authenticator> NewTrustedHeaderAuthenticator();

// A sign-in time this far ahead of the server's clock still counts as now
// (clock skew); beyond it, it is not believed.
inline constexpr absl::Duration kSignInClockSkew = absl::Seconds(30);

// Returns OK if `max_age` is zero (the check is off) or `identity` signed
// in at most `max_age` before `now`; else UNAUTHENTICATED, api code 1002,
// "sign in again" (also when the sign-in time is unknown, or later than
// `now` + kSignInClockSkew).
absl::Status CheckSignInAge(const Identity& identity, absl::Duration max_age,
                            absl::Time now);

}  // namespace profile

#endif  // PROFILE_SERVER_AUTH_AUTHENTICATOR_H_
