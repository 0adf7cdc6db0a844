// JwtAuthenticator: the caller is the `sub` of a signed JSON Web Token in
// metadata `authorization: Bearer <JWT>` (RFC 7519, JWS compact form).
//
//   JwtOptions options;
//   options.public_key_pem = ReadFile("/etc/profile/jwt/public.pem");
//   options.issuer = "https://login.example.com/";
//   options.audience = "profile-service";
//   absl::StatusOr<std::unique_ptr<Authenticator>> auth =
//       NewJwtAuthenticator(options, SystemClock());
//   absl::StatusOr<std::string> user_id = (*auth)->Authenticate(metadata);
//
// The key decides the algorithm: HS256 for a shared secret, RS256 for an
// RSA public key (2048 bits or more), ES256 for a P-256 public key. With a
// JWK Set (RFC 7517, RSA and EC P-256 keys), the token's `kid` picks the key
// and the key its algorithm; a token without `kid`, or with one the set
// lacks, is refused. `alg: none`, any other `alg`, a `typ` other than `JWT`
// or `at+jwt` (case-insensitive, `application/` allowed), a `crit` header,
// a bad signature, a missing or passed `exp`, an `nbf` in the future, a
// missing `iat` or one in the future, `exp - iat` over `max_lifetime`, a
// wrong `iss` or `aud`, and anything malformed are UNAUTHENTICATED (api
// code 1000) with a message that says what is wrong and never repeats the
// token. `exp`, `nbf`, `iat` and `auth_time` get kJwtLeeway of clock skew.
// `sub` must pass the checks `x-user-id` passes (1 to 128 bytes, not blank,
// no control characters, valid UTF-8). Metadata `x-user-id` is ignored. The
// identity's auth time is the OIDC `auth_time` claim, else `iat`.
//
// A JWK Set read from a file (NewJwtAuthenticatorFromFiles with
// --jwt_jwks_file) follows the file: at most once a second, on use, the
// file's inode, size and modification time are compared with the last
// read, and a changed file is read again (key rotation through a mounted
// Kubernetes Secret). A file that became unreadable or invalid leaves the
// last good key set in use and logs a warning, once per change.
//
// The cryptography is OpenSSL's: HMAC-SHA256 compared in constant time, and
// EVP_DigestVerify for RSA PKCS#1 v1.5 and ECDSA (whose JWS form, r||s, is
// turned into DER first).
//
// Thread-safety: Identify() and Authenticate() are safe to call concurrently.
#ifndef PROFILE_SERVER_AUTH_JWT_AUTHENTICATOR_H_
#define PROFILE_SERVER_AUTH_JWT_AUTHENTICATOR_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/auth/authenticator.h"
#include "server/common/clock.h"

namespace profile {

// Clock skew allowed on `exp` and `nbf`.
inline constexpr absl::Duration kJwtLeeway = absl::Seconds(30);

// The shortest HS256 secret accepted, in bytes (RFC 7518 3.2: a key at least
// as long as the hash).
inline constexpr size_t kMinJwtSecretBytes = 32;

// The longest `authorization` value accepted, in bytes.
inline constexpr size_t kMaxJwtBytes = 8192;

// The range of --jwt_max_lifetime.
inline constexpr absl::Duration kMinJwtMaxLifetime = absl::Minutes(1);
inline constexpr absl::Duration kMaxJwtMaxLifetime = absl::Hours(24 * 30);

// How often, at most, a --jwt_jwks_file is checked for a change.
inline constexpr absl::Duration kJwksCheckInterval = absl::Seconds(1);

struct JwtOptions {
  // Exactly one of these is set: an HS256 shared secret (raw bytes), a PEM
  // public key ("-----BEGIN PUBLIC KEY-----", RSA or EC P-256), or a JWK
  // Set ({"keys": [...]}, each key with a kid).
  std::string hs256_secret;
  std::string public_key_pem;
  std::string jwks_json;
  // `iss` must equal it. Required.
  std::string issuer;
  // `aud` (a string or an array of strings) must hold it. Required.
  std::string audience;
  // The longest a token may live, `exp - iat`; `iat` is required.
  absl::Duration max_lifetime = absl::Hours(24);
};

// Returns a JWT authenticator, or INVALID_ARGUMENT naming the flag when the
// key is unusable (--jwt_secret_file, --jwt_public_key_file,
// --jwt_jwks_file) or a required option is missing or out of range.
absl::StatusOr<std::unique_ptr<Authenticator>> NewJwtAuthenticator(
    const JwtOptions& options, std::shared_ptr<Clock> clock = SystemClock());

// What --auth=jwt is configured with: the key file (exactly one of the
// three) and the claims every token must carry.
struct JwtFileOptions {
  std::string secret_file;      // --jwt_secret_file (HS256)
  std::string public_key_file;  // --jwt_public_key_file (RS256 or ES256)
  std::string jwks_file;        // --jwt_jwks_file (RS256 and ES256 by kid)
  std::string issuer;           // --jwt_issuer, required
  std::string audience;         // --jwt_audience, required
  absl::Duration max_lifetime = absl::Hours(24);  // --jwt_max_lifetime

  // Returns OK if exactly one key file is named, the issuer and audience
  // are set and the lifetime is in range, else INVALID_ARGUMENT naming the
  // flag.
  absl::Status Validate() const;
};

// Reads the key file `options` names (a secret file loses its trailing line
// break, as `echo secret > file` leaves one) and returns
// NewJwtAuthenticator(); a --jwt_jwks_file is followed as it changes.
// Errors name the flag and the path.
absl::StatusOr<std::unique_ptr<Authenticator>> NewJwtAuthenticatorFromFiles(
    const JwtFileOptions& options, std::shared_ptr<Clock> clock = SystemClock());

}  // namespace profile

#endif  // PROFILE_SERVER_AUTH_JWT_AUTHENTICATOR_H_
