#include "server/common/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/escaping.h"

namespace profile {

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (n > 0 &&
      RAND_bytes(reinterpret_cast<unsigned char*>(out.data()),
                 static_cast<int>(n)) != 1) {
    std::fprintf(stderr, "fatal: the CSPRNG failed\n");
    std::abort();
  }
  return out;
}

std::string RandomDigits(size_t n) {
  std::string out;
  out.reserve(n);
  while (out.size() < n) {
    // Rejection sampling: bytes >= 250 would bias the digits 0-5.
    std::string bytes = RandomBytes(n - out.size() + 4);
    for (char c : bytes) {
      auto b = static_cast<unsigned char>(c);
      if (b < 250 && out.size() < n) out.push_back(static_cast<char>('0' + b % 10));
    }
  }
  return out;
}

std::string Sha256(absl::string_view data) {
  std::string out(32, '\0');
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(),
                 reinterpret_cast<unsigned char*>(out.data()), &len,
                 EVP_sha256(), nullptr) != 1 ||
      len != 32) {
    std::fprintf(stderr, "fatal: SHA-256 failed\n");
    std::abort();
  }
  return out;
}

std::string HmacSha256(absl::string_view key, absl::string_view data) {
  std::string out(32, '\0');
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(),
           reinterpret_cast<unsigned char*>(out.data()), &len) == nullptr ||
      len != 32) {
    std::fprintf(stderr, "fatal: HMAC-SHA256 failed\n");
    std::abort();
  }
  return out;
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  return a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string Base64UrlEncode(absl::string_view data) {
  return absl::WebSafeBase64Escape(data);
}

}  // namespace profile
