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
// Exactly one algorithm is accepted, the one the configured key implies:
// HS256 for a shared secret, RS256 for an RSA public key (2048 bits or
// more), ES256 for a P-256 public key. `alg: none`, any other `alg`, a
// `crit` header, a bad signature, a missing or passed `exp`, an `nbf` in the
// future, a wrong `iss` or `aud` (when configured) and anything malformed
// are UNAUTHENTICATED (api code 1000) with a message that says what is wrong
// and never repeats the token. `exp` and `nbf` get kJwtLeeway of clock skew.
// `sub` must pass the checks `x-user-id` passes (1 to 128 bytes, not blank,
// no control characters, valid UTF-8). Metadata `x-user-id` is ignored.
//
// The cryptography is OpenSSL's: HMAC-SHA256 compared in constant time, and
// EVP_DigestVerify for RSA PKCS#1 v1.5 and ECDSA (whose JWS form, r||s, is
// turned into DER first).
//
// Thread-safety: Authenticate() is safe to call concurrently.
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

struct JwtOptions {
  // Exactly one of these is set: an HS256 shared secret (raw bytes), or a
  // PEM public key ("-----BEGIN PUBLIC KEY-----", RSA or EC P-256).
  std::string hs256_secret;
  std::string public_key_pem;
  // When not empty, `iss` must equal it.
  std::string issuer;
  // When not empty, `aud` (a string or an array of strings) must hold it.
  std::string audience;
};

// Returns a JWT authenticator, or INVALID_ARGUMENT naming the flag when the
// key is unusable (--jwt_secret_file, --jwt_public_key_file).
absl::StatusOr<std::unique_ptr<Authenticator>> NewJwtAuthenticator(
    const JwtOptions& options, std::shared_ptr<Clock> clock = SystemClock());

// What --auth=jwt is configured with: the key file (exactly one of the two)
// and the claims every token must carry.
struct JwtFileOptions {
  std::string secret_file;      // --jwt_secret_file (HS256)
  std::string public_key_file;  // --jwt_public_key_file (RS256 or ES256)
  std::string issuer;           // --jwt_issuer
  std::string audience;         // --jwt_audience

  // Returns OK if exactly one key file is named, else INVALID_ARGUMENT
  // naming the flags.
  absl::Status Validate() const;
};

// Reads the key file `options` names (a secret file loses its trailing line
// break, as `echo secret > file` leaves one) and returns
// NewJwtAuthenticator(). Errors name the flag and the path.
absl::StatusOr<std::unique_ptr<Authenticator>> NewJwtAuthenticatorFromFiles(
    const JwtFileOptions& options, std::shared_ptr<Clock> clock = SystemClock());

}  // namespace profile

#endif  // PROFILE_SERVER_AUTH_JWT_AUTHENTICATOR_H_
