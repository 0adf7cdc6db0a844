#include "server/auth/jwt_authenticator.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "server/common/api_error.h"
#include "server/common/crypto.h"
#include "server/common/files.h"
#include "server/common/text.h"

namespace profile {
namespace {

constexpr absl::string_view kAuthorizationKey = "authorization";

enum class Algorithm { kHs256, kRs256, kEs256 };

absl::string_view AlgorithmName(Algorithm alg) {
  switch (alg) {
    case Algorithm::kHs256:
      return "HS256";
    case Algorithm::kRs256:
      return "RS256";
    case Algorithm::kEs256:
      return "ES256";
  }
  return "";
}

absl::Status Unauthenticated(absl::string_view why) {
  return ApiError(ApiCode::kUnauthenticated, why);
}

struct PkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

// Decodes unpadded base64url, refusing any other character (padding,
// whitespace, the standard alphabet's + and /).
bool DecodeBase64Url(absl::string_view text, std::string* out) {
  if (text.empty() || text.size() % 4 == 1) return false;
  for (char c : text) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_') return false;
  }
  return absl::WebSafeBase64Unescape(text, out);
}

// Parses a JSON object; returns a discarded value for anything else.
nlohmann::json ParseObject(absl::string_view text) {
  nlohmann::json parsed =
      nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (!parsed.is_object()) return nlohmann::json::value_t::discarded;
  return parsed;
}

// Reads a NumericDate claim (seconds since the epoch, integer or not).
// Returns false if it is present but not a finite number in range.
bool ReadNumericDate(const nlohmann::json& claims, const char* name,
                     bool* present, absl::Time* value) {
  auto it = claims.find(name);
  *present = it != claims.end();
  if (!*present) return true;
  if (!it->is_number()) return false;
  const double seconds = it->get<double>();
  // Years 0 to 9999 are plenty; beyond that absl::Time math saturates.
  if (!std::isfinite(seconds) || seconds < 0 || seconds > 253402300799.0) {
    return false;
  }
  *value = absl::FromUnixSeconds(0) + absl::Seconds(seconds);
  return true;
}

// Converts a JWS ES256 signature (r||s, 32 bytes each) to the DER
// ECDSA-Sig-Value OpenSSL verifies; returns "" if it cannot.
std::string EcdsaJwsToDer(absl::string_view jws) {
  if (jws.size() != 64) return "";
  ECDSA_SIG* sig = ECDSA_SIG_new();
  if (sig == nullptr) return "";
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(jws.data()),
                        32, nullptr);
  BIGNUM* s = BN_bin2bn(
      reinterpret_cast<const unsigned char*>(jws.data() + 32), 32, nullptr);
  if (r == nullptr || s == nullptr || ECDSA_SIG_set0(sig, r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return "";
  }
  unsigned char* der = nullptr;
  const int size = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  if (size <= 0) return "";
  std::string result(reinterpret_cast<char*>(der), static_cast<size_t>(size));
  OPENSSL_free(der);
  return result;
}

class JwtAuthenticator final : public Authenticator {
 public:
  JwtAuthenticator(const JwtOptions& options, Algorithm alg, PkeyPtr key,
                   std::shared_ptr<Clock> clock)
      : alg_(alg),
        secret_(options.hs256_secret),
        key_(std::move(key)),
        issuer_(options.issuer),
        audience_(options.audience),
        clock_(std::move(clock)) {}

  absl::StatusOr<std::string> Authenticate(
      const CallMetadata& metadata) const override {
    auto [begin, end] = metadata.equal_range(
        grpc::string_ref(kAuthorizationKey.data(), kAuthorizationKey.size()));
    if (begin == end) {
      return Unauthenticated("metadata authorization is missing");
    }
    if (std::next(begin) != end) {
      return Unauthenticated("metadata authorization is given more than once");
    }
    absl::string_view value(begin->second.data(), begin->second.size());
    if (value.size() > kMaxJwtBytes) {
      return Unauthenticated("metadata authorization is too long");
    }
    if (value.size() < 7 || !absl::StartsWithIgnoreCase(value, "bearer ")) {
      return Unauthenticated(
          "metadata authorization must be \"Bearer <JWT>\"");
    }
    return Verify(absl::StripAsciiWhitespace(value.substr(7)));
  }

 private:
  absl::StatusOr<std::string> Verify(absl::string_view token) const {
    std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
    if (parts.size() != 3) {
      return Unauthenticated(
          "the bearer token is not a JWT (header.payload.signature)");
    }
    std::string header_json, claims_json, signature;
    if (!DecodeBase64Url(parts[0], &header_json)) {
      return Unauthenticated("the JWT header is not base64url");
    }
    nlohmann::json header = ParseObject(header_json);
    if (header.is_discarded()) {
      return Unauthenticated("the JWT header is not a JSON object");
    }
    auto alg = header.find("alg");
    if (alg == header.end() || !alg->is_string()) {
      return Unauthenticated("the JWT header has no alg");
    }
    const std::string alg_name = alg->get<std::string>();
    if (absl::EqualsIgnoreCase(alg_name, "none")) {
      return Unauthenticated("the JWT is unsigned (alg none); refused");
    }
    if (alg_name != AlgorithmName(alg_)) {
      return Unauthenticated(absl::StrCat("the JWT alg is not ",
                                          AlgorithmName(alg_),
                                          ", the only one the key allows"));
    }
    if (header.contains("crit")) {
      return Unauthenticated("the JWT header has crit extensions; refused");
    }
    if (parts[2].empty() || !DecodeBase64Url(parts[2], &signature)) {
      return Unauthenticated("the JWT signature is missing or not base64url");
    }
    // The signature covers the encoded header and payload as sent.
    const absl::string_view signed_part =
        token.substr(0, parts[0].size() + 1 + parts[1].size());
    if (!SignatureValid(signed_part, signature)) {
      return Unauthenticated("the JWT signature is invalid");
    }

    // Only now, with the sender proven, is the payload worth reading.
    if (!DecodeBase64Url(parts[1], &claims_json)) {
      return Unauthenticated("the JWT payload is not base64url");
    }
    nlohmann::json claims = ParseObject(claims_json);
    if (claims.is_discarded()) {
      return Unauthenticated("the JWT payload is not a JSON object");
    }
    return CheckClaims(claims);
  }

  absl::StatusOr<std::string> CheckClaims(const nlohmann::json& claims) const {
    const absl::Time now = clock_->Now();
    bool has_exp = false, has_nbf = false;
    absl::Time exp, nbf;
    if (!ReadNumericDate(claims, "exp", &has_exp, &exp)) {
      return Unauthenticated("the JWT exp is not a number of seconds");
    }
    if (!has_exp) return Unauthenticated("the JWT has no exp");
    if (now >= exp + kJwtLeeway) return Unauthenticated("the JWT has expired");
    if (!ReadNumericDate(claims, "nbf", &has_nbf, &nbf)) {
      return Unauthenticated("the JWT nbf is not a number of seconds");
    }
    if (has_nbf && now + kJwtLeeway < nbf) {
      return Unauthenticated("the JWT is not valid yet (nbf)");
    }
    if (!issuer_.empty()) {
      auto iss = claims.find("iss");
      if (iss == claims.end() || !iss->is_string() ||
          iss->get<std::string>() != issuer_) {
        return Unauthenticated("the JWT issuer (iss) is not the expected one");
      }
    }
    if (!audience_.empty() && !HasAudience(claims)) {
      return Unauthenticated(
          "the JWT audience (aud) does not include this service");
    }
    auto sub = claims.find("sub");
    if (sub == claims.end() || !sub->is_string()) {
      return Unauthenticated("the JWT has no sub (the user id)");
    }
    std::string user_id = sub->get<std::string>();
    if (user_id.size() > kMaxUserIdBytes) {
      return Unauthenticated("the JWT sub is longer than 128 bytes");
    }
    if (absl::StripAsciiWhitespace(user_id).empty()) {
      return Unauthenticated("the JWT sub is empty");
    }
    if (!IsCleanText(user_id)) {
      return Unauthenticated(
          "the JWT sub holds control characters or invalid UTF-8");
    }
    return user_id;
  }

  bool HasAudience(const nlohmann::json& claims) const {
    auto aud = claims.find("aud");
    if (aud == claims.end()) return false;
    if (aud->is_string()) return aud->get<std::string>() == audience_;
    if (!aud->is_array()) return false;
    return std::any_of(aud->begin(), aud->end(), [&](const nlohmann::json& a) {
      return a.is_string() && a.get<std::string>() == audience_;
    });
  }

  bool SignatureValid(absl::string_view signed_part,
                      absl::string_view signature) const {
    if (alg_ == Algorithm::kHs256) {
      return ConstantTimeEquals(HmacSha256(secret_, signed_part), signature);
    }
    std::string der;
    if (alg_ == Algorithm::kEs256) {
      der = EcdsaJwsToDer(signature);
      if (der.empty()) return false;
      signature = der;
    }
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    if (ctx == nullptr) return false;
    bool valid =
        EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key_.get()) ==
            1 &&
        EVP_DigestVerify(
            ctx, reinterpret_cast<const unsigned char*>(signature.data()),
            signature.size(),
            reinterpret_cast<const unsigned char*>(signed_part.data()),
            signed_part.size()) == 1;
    EVP_MD_CTX_free(ctx);
    return valid;
  }

  const Algorithm alg_;
  const std::string secret_;
  const PkeyPtr key_;
  const std::string issuer_;
  const std::string audience_;
  const std::shared_ptr<Clock> clock_;
};

absl::Status BadKey(absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("--jwt_public_key_file ", why));
}

// Reads the PEM public key and works out the algorithm it implies.
absl::StatusOr<std::pair<Algorithm, PkeyPtr>> LoadPublicKey(
    absl::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return absl::ResourceExhaustedError("out of memory");
  PkeyPtr key(PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  if (key == nullptr) {
    return BadKey(
        "does not hold a PEM public key (-----BEGIN PUBLIC KEY-----)");
  }
  switch (EVP_PKEY_get_base_id(key.get())) {
    case EVP_PKEY_RSA:
      if (EVP_PKEY_get_bits(key.get()) < 2048) {
        return BadKey("holds an RSA key shorter than 2048 bits");
      }
      return std::make_pair(Algorithm::kRs256, std::move(key));
    case EVP_PKEY_EC: {
      char group[64] = {0};
      size_t length = 0;
      if (EVP_PKEY_get_group_name(key.get(), group, sizeof(group), &length) !=
              1 ||
          absl::string_view(group, length) != SN_X9_62_prime256v1) {
        return BadKey("holds an EC key that is not on P-256 (ES256)");
      }
      return std::make_pair(Algorithm::kEs256, std::move(key));
    }
    default:
      return BadKey("holds a key that is neither RSA nor EC P-256");
  }
}

absl::Status OneKeyFileError() {
  return absl::InvalidArgumentError(
      "--auth=jwt needs exactly one of --jwt_secret_file (HS256) and "
      "--jwt_public_key_file (RS256 or ES256)");
}

}  // namespace

absl::StatusOr<std::unique_ptr<Authenticator>> NewJwtAuthenticator(
    const JwtOptions& options, std::shared_ptr<Clock> clock) {
  const bool has_secret = !options.hs256_secret.empty();
  const bool has_key = !options.public_key_pem.empty();
  if (has_secret == has_key) return OneKeyFileError();
  if (has_secret) {
    if (options.hs256_secret.size() < kMinJwtSecretBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--jwt_secret_file must hold at least ", kMinJwtSecretBytes,
          " bytes of secret (HS256)"));
    }
    return std::make_unique<JwtAuthenticator>(options, Algorithm::kHs256,
                                              nullptr, std::move(clock));
  }
  absl::StatusOr<std::pair<Algorithm, PkeyPtr>> key =
      LoadPublicKey(options.public_key_pem);
  if (!key.ok()) return key.status();
  return std::make_unique<JwtAuthenticator>(
      options, key->first, std::move(key->second), std::move(clock));
}

absl::Status JwtFileOptions::Validate() const {
  if (secret_file.empty() == public_key_file.empty()) return OneKeyFileError();
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Authenticator>> NewJwtAuthenticatorFromFiles(
    const JwtFileOptions& flags, std::shared_ptr<Clock> clock) {
  absl::Status valid = flags.Validate();
  if (!valid.ok()) return valid;
  JwtOptions options;
  options.issuer = flags.issuer;
  options.audience = flags.audience;
  if (!flags.secret_file.empty()) {
    absl::StatusOr<std::string> secret =
        ReadSecretFile("jwt_secret_file", flags.secret_file);
    if (!secret.ok()) return secret.status();
    options.hs256_secret = *std::move(secret);
  } else {
    absl::StatusOr<std::string> pem =
        ReadFlagFile("jwt_public_key_file", flags.public_key_file);
    if (!pem.ok()) return pem.status();
    options.public_key_pem = *std::move(pem);
  }
  absl::StatusOr<std::unique_ptr<Authenticator>> auth =
      NewJwtAuthenticator(options, std::move(clock));
  if (!auth.ok() && !flags.public_key_file.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(auth.status().message(), " (", flags.public_key_file,
                     ")"));
  }
  return auth;
}

}  // namespace profile
