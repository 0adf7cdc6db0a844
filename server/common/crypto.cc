#include "server/common/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "absl/strings/escaping.h"

namespace profile {
namespace {

[[noreturn]] void Fatal(const char* what) {
  std::fprintf(stderr, "fatal: %s\n", what);
  std::abort();
}

void FillFromCsprng(unsigned char* out, size_t n) {
  if (n > 0 && RAND_bytes(out, static_cast<int>(n)) != 1) {
    Fatal("the CSPRNG failed");
  }
}

// RAND_bytes() costs about 2 us a call whatever the size up to a few KiB
// (OpenSSL 3's CTR-DRBG re-keys after every request), so each thread draws
// 4 KiB at a time and hands it out in slices, wiping every slice it hands
// out. The unread rest of a buffer tells a memory dump no more than the
// DRBG's own state next to it, which predicts its output just as well.
constexpr size_t kRandomBufferBytes = 4096;

// Bumped in a forked child, so that it never hands out bytes its parent
// also holds (OpenSSL reseeds its own DRBG on fork for the same reason).
std::atomic<uint64_t> fork_generation{0};

void OnFork() { fork_generation.fetch_add(1, std::memory_order_relaxed); }

struct RandomBuffer {
  unsigned char bytes[kRandomBufferBytes];
  size_t next = kRandomBufferBytes;  // empty
  uint64_t generation = 0;

  RandomBuffer() {
    static const bool registered = [] {
      pthread_atfork(nullptr, nullptr, &OnFork);
      return true;
    }();
    (void)registered;
  }
  ~RandomBuffer() { OPENSSL_cleanse(bytes, sizeof(bytes)); }

  void Take(unsigned char* out, size_t n) {
    const uint64_t current = fork_generation.load(std::memory_order_relaxed);
    if (generation != current) {
      OPENSSL_cleanse(bytes, sizeof(bytes));
      next = kRandomBufferBytes;
      generation = current;
    }
    while (n > 0) {
      if (next == kRandomBufferBytes) {
        FillFromCsprng(bytes, kRandomBufferBytes);
        next = 0;
      }
      const size_t chunk = std::min(n, kRandomBufferBytes - next);
      std::memcpy(out, bytes + next, chunk);
      OPENSSL_cleanse(bytes + next, chunk);
      next += chunk;
      out += chunk;
      n -= chunk;
    }
  }
};

// OpenSSL 3 looks an algorithm up by name on every EVP_sha256() use (about
// 200 ns and a global lock); fetch it once and reuse one context per thread.
const EVP_MD* Sha256Md() {
  static const EVP_MD* const md = [] {
    EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (fetched == nullptr) Fatal("SHA-256 is unavailable");
    return fetched;
  }();
  return md;
}

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

EVP_MD_CTX* ThreadMdCtx() {
  thread_local std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  if (ctx == nullptr) Fatal("out of memory for SHA-256");
  return ctx.get();
}

// SHA-256 of the concatenation of `a` and `b` into `out` (32 bytes).
void Sha256Into(absl::string_view a, absl::string_view b, unsigned char* out) {
  EVP_MD_CTX* ctx = ThreadMdCtx();
  unsigned int len = 0;
  if (EVP_DigestInit_ex(ctx, Sha256Md(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx, a.data(), a.size()) != 1 ||
      EVP_DigestUpdate(ctx, b.data(), b.size()) != 1 ||
      EVP_DigestFinal_ex(ctx, out, &len) != 1 || len != 32) {
    Fatal("SHA-256 failed");
  }
}

}  // namespace

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  RandomFill(reinterpret_cast<unsigned char*>(out.data()), n);
  return out;
}

void RandomFill(unsigned char* out, size_t n) {
  if (n >= kRandomBufferBytes) {
    FillFromCsprng(out, n);
  } else if (n > 0) {
    thread_local RandomBuffer buffer;
    buffer.Take(out, n);
  }
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
  Sha256Into(data, {}, reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

// HMAC (RFC 2104) over the reused SHA-256 context: OpenSSL 3's HMAC()
// fetches its algorithms on every call, five times the cost of the hashing.
std::string HmacSha256(absl::string_view key, absl::string_view data) {
  constexpr size_t kBlock = 64;
  unsigned char key_block[kBlock] = {};
  if (key.size() > kBlock) {
    Sha256Into(key, {}, key_block);
  } else if (!key.empty()) {
    std::memcpy(key_block, key.data(), key.size());
  }
  unsigned char pad[kBlock];
  for (size_t i = 0; i < kBlock; ++i) pad[i] = key_block[i] ^ 0x36;
  unsigned char inner[32];
  Sha256Into(absl::string_view(reinterpret_cast<char*>(pad), kBlock), data,
             inner);
  for (size_t i = 0; i < kBlock; ++i) pad[i] = key_block[i] ^ 0x5c;
  std::string out(32, '\0');
  Sha256Into(absl::string_view(reinterpret_cast<char*>(pad), kBlock),
             absl::string_view(reinterpret_cast<char*>(inner), sizeof(inner)),
             reinterpret_cast<unsigned char*>(out.data()));
  OPENSSL_cleanse(key_block, sizeof(key_block));
  OPENSSL_cleanse(pad, sizeof(pad));
  OPENSSL_cleanse(inner, sizeof(inner));
  return out;
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  return a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string Base64UrlEncode(absl::string_view data) {
  return absl::WebSafeBase64Escape(data);
}

namespace {

constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;

struct CipherDeleter {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using Cipher = std::unique_ptr<EVP_CIPHER_CTX, CipherDeleter>;

const unsigned char* Bytes(absl::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// As with SHA-256 (Sha256Md()): the cipher would otherwise be looked up by
// name on every Seal() and Unseal(), a third of their instructions.
const EVP_CIPHER* Aes256Gcm() {
  static const EVP_CIPHER* const cipher = [] {
    EVP_CIPHER* fetched = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
    if (fetched == nullptr) Fatal("AES-256-GCM is unavailable");
    return fetched;
  }();
  return cipher;
}

}  // namespace

std::string Seal(absl::string_view key, absl::string_view plaintext) {
  const std::string nonce = RandomBytes(kNonceBytes);
  std::string sealed(kNonceBytes + plaintext.size() + kTagBytes, '\0');
  std::memcpy(sealed.data(), nonce.data(), kNonceBytes);
  auto* out = reinterpret_cast<unsigned char*>(sealed.data()) + kNonceBytes;
  Cipher ctx(EVP_CIPHER_CTX_new());
  int n = 0;
  if (key.size() != 32 || ctx == nullptr ||
      EVP_EncryptInit_ex(ctx.get(), Aes256Gcm(), nullptr, Bytes(key),
                         Bytes(nonce)) != 1 ||
      EVP_EncryptUpdate(ctx.get(), out, &n, Bytes(plaintext),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), out + n, &n) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes,
                          out + plaintext.size()) != 1) {
    // A wrong key size is a bug; OpenSSL failing to encrypt is fatal.
    std::fprintf(stderr, "fatal: cannot seal with AES-256-GCM\n");
    std::abort();
  }
  return sealed;
}

std::optional<std::string> Unseal(absl::string_view key,
                                  absl::string_view sealed) {
  if (key.size() != 32 || sealed.size() < kNonceBytes + kTagBytes) {
    return std::nullopt;
  }
  const absl::string_view nonce = sealed.substr(0, kNonceBytes);
  const absl::string_view body =
      sealed.substr(kNonceBytes, sealed.size() - kNonceBytes - kTagBytes);
  std::string tag(sealed.substr(sealed.size() - kTagBytes));
  std::string plaintext(body.size(), '\0');
  auto* out = reinterpret_cast<unsigned char*>(plaintext.data());
  Cipher ctx(EVP_CIPHER_CTX_new());
  int n = 0;
  if (ctx == nullptr ||
      EVP_DecryptInit_ex(ctx.get(), Aes256Gcm(), nullptr, Bytes(key),
                         Bytes(nonce)) != 1 ||
      EVP_DecryptUpdate(ctx.get(), out, &n, Bytes(body),
                        static_cast<int>(body.size())) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes,
                          tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), out + n, &n) != 1) {
    return std::nullopt;
  }
  return plaintext;
}

}  // namespace profile
