// Cryptographic primitives: the CSPRNG, hashing and constant-time comparison.
//
// Every code, token and request id comes from RandomBytes() (OpenSSL's
// CSPRNG, drawn 4 KiB at a time per thread and handed out once); secrets
// are stored only as Sha256() or HmacSha256() digests and compared with
// ConstantTimeEquals().
//
//   std::string token = Base64UrlEncode(RandomBytes(32));
//   std::string key = Sha256(token);
//
// Thread-safety: every function is safe to call concurrently.
#ifndef PROFILE_SERVER_COMMON_CRYPTO_H_
#define PROFILE_SERVER_COMMON_CRYPTO_H_

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace profile {

// Returns `n` bytes from the CSPRNG. Aborts if the CSPRNG fails: handing out
// predictable secrets is never an option.
std::string RandomBytes(size_t n);

// Fills `out` with `n` bytes from the CSPRNG, as RandomBytes() does: for
// callers that need no string of them.
void RandomFill(unsigned char* out, size_t n);

// Returns `n` uniformly distributed decimal digits from the CSPRNG.
std::string RandomDigits(size_t n);

// Returns the 32-byte SHA-256 digest of `data`.
std::string Sha256(absl::string_view data);

// Returns the 32-byte HMAC-SHA256 of `data` under `key`.
std::string HmacSha256(absl::string_view key, absl::string_view data);

// Returns true if `a` and `b` are equal, in time that depends only on their
// lengths.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

// Returns the first 128 bits of `digest` (a SHA-256 digest) as two words:
// a compact map key, since collisions of 128 bits are out of reach. A
// shorter input is a bug upstream; zero-padding keeps it memory-safe.
inline std::array<uint64_t, 2> DigestPrefix128(absl::string_view digest) {
  char bytes[16] = {};
  std::memcpy(bytes, digest.data(), std::min<size_t>(16, digest.size()));
  std::array<uint64_t, 2> key;
  std::memcpy(key.data(), bytes, sizeof(bytes));
  return key;
}

// Base64url without padding (RFC 4648 section 5).
std::string Base64UrlEncode(absl::string_view data);

// Seals `plaintext` under a 32-byte `key` with AES-256-GCM: a fresh 12-byte
// nonce, the ciphertext and the 16-byte tag, in that order. For a secret
// that must be kept until it is handed over, but never readable from where
// it is kept (a revert token waiting in the outbox).
std::string Seal(absl::string_view key, absl::string_view plaintext);

// Opens what Seal() made under `key`; nullopt if it was made under another
// key or altered.
std::optional<std::string> Unseal(absl::string_view key,
                                  absl::string_view sealed);

}  // namespace profile

#endif  // PROFILE_SERVER_COMMON_CRYPTO_H_
