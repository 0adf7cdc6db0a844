#include "server/auth/jwt_authenticator.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"
#include "server/common/api_error.h"
#include "server/common/crypto.h"
#include "server/common/files.h"
#include "server/common/flag_error.h"
#include "server/common/log.h"

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

// One key a token may be signed with, and the algorithm it implies.
struct VerifyKey {
  Algorithm alg = Algorithm::kHs256;
  std::string secret;             // HS256
  std::shared_ptr<EVP_PKEY> pkey;  // RS256, ES256
};

// The keys tokens are checked against: one key whatever the token's kid, or
// a JWK Set whose kid picks the key.
struct KeySet {
  bool by_kid = false;
  VerifyKey single;
  std::map<std::string, VerifyKey, std::less<>> keys;
};

// A typ that says "this is a JWT" (RFC 7519 5.1) or "an OAuth access token"
// (RFC 9068 2.1); the media type may carry "application/" (RFC 7515 4.1.9).
bool AcceptedTyp(absl::string_view typ) {
  if (absl::StartsWithIgnoreCase(typ, "application/")) typ.remove_prefix(12);
  return absl::EqualsIgnoreCase(typ, "JWT") ||
         absl::EqualsIgnoreCase(typ, "at+jwt");
}

// What identifies a version of a file: a rewrite in place changes the size
// or the times, a Kubernetes Secret update (a new ..data symlink) the inode.
struct FileStamp {
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;

  bool operator==(const FileStamp& o) const {
    return device == o.device && inode == o.inode && size == o.size &&
           mtime_ns == o.mtime_ns && ctime_ns == o.ctime_ns;
  }
};

// Returns the stamp of the file `path` names (following symlinks), or
// the reason it has none.
absl::StatusOr<FileStamp> StampOf(const std::string& path) {
  struct stat info;
  if (stat(path.c_str(), &info) != 0) {
    return absl::NotFoundError(std::strerror(errno));
  }
  FileStamp stamp;
  stamp.device = info.st_dev;
  stamp.inode = info.st_ino;
  stamp.size = info.st_size;
  stamp.mtime_ns = int64_t{info.st_mtim.tv_sec} * 1000000000 +
                   info.st_mtim.tv_nsec;
  stamp.ctime_ns = int64_t{info.st_ctim.tv_sec} * 1000000000 +
                   info.st_ctim.tv_nsec;
  return stamp;
}

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
  // `jwks_path` not empty: the key set came from that file, as `stamp`
  // found it, and follows it as it changes.
  JwtAuthenticator(const JwtOptions& options,
                   std::shared_ptr<const KeySet> keys,
                   std::shared_ptr<Clock> clock, std::string jwks_path = "",
                   FileStamp stamp = {})
      : issuer_(options.issuer),
        audience_(options.audience),
        max_lifetime_(options.max_lifetime),
        clock_(std::move(clock)),
        keys_(std::move(keys)),
        jwks_path_(std::move(jwks_path)),
        stamp_(stamp),
        last_check_(clock_->Now()) {}

  absl::StatusOr<Identity> Identify(
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
  absl::StatusOr<Identity> Verify(absl::string_view token) const {
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
    auto typ = header.find("typ");
    if (typ != header.end() &&
        (!typ->is_string() || !AcceptedTyp(typ->get<std::string>()))) {
      return Unauthenticated(
          "the JWT typ is neither JWT nor at+jwt; refused");
    }
    const std::shared_ptr<const KeySet> keys = CurrentKeys();
    const VerifyKey* key = &keys->single;
    if (keys->by_kid) {
      auto kid = header.find("kid");
      if (kid == header.end() || !kid->is_string() ||
          kid->get<std::string>().empty()) {
        return Unauthenticated(
            "the JWT header has no kid, which picks the key of the key set");
      }
      auto found = keys->keys.find(kid->get<std::string>());
      if (found == keys->keys.end()) {
        return Unauthenticated("the JWT kid is not in the key set");
      }
      key = &found->second;
    }
    if (alg_name != AlgorithmName(key->alg)) {
      return Unauthenticated(absl::StrCat("the JWT alg is not ",
                                          AlgorithmName(key->alg),
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
    if (!SignatureValid(*key, signed_part, signature)) {
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

  absl::StatusOr<Identity> CheckClaims(const nlohmann::json& claims) const {
    const absl::Time now = clock_->Now();
    bool has_exp = false, has_nbf = false, has_iat = false,
         has_auth_time = false;
    absl::Time exp, nbf, iat, auth_time;
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
    // iat bounds how long a token lives, whatever exp its issuer chose.
    if (!ReadNumericDate(claims, "iat", &has_iat, &iat)) {
      return Unauthenticated("the JWT iat is not a number of seconds");
    }
    if (!has_iat) {
      return Unauthenticated(
          "the JWT has no iat, which --jwt_max_lifetime needs");
    }
    if (now + kJwtLeeway < iat) {
      return Unauthenticated("the JWT was issued in the future (iat)");
    }
    if (exp - iat > max_lifetime_) {
      return Unauthenticated(absl::StrCat(
          "the JWT lives longer than --jwt_max_lifetime allows (exp - iat is ",
          absl::FormatDuration(exp - iat), ", over ",
          absl::FormatDuration(max_lifetime_), ")"));
    }
    if (!ReadNumericDate(claims, "auth_time", &has_auth_time, &auth_time)) {
      return Unauthenticated("the JWT auth_time is not a number of seconds");
    }
    if (has_auth_time && now + kJwtLeeway < auth_time) {
      return Unauthenticated("the JWT auth_time is in the future");
    }
    auto iss = claims.find("iss");
    if (iss == claims.end() || !iss->is_string() ||
        iss->get<std::string>() != issuer_) {
      return Unauthenticated("the JWT issuer (iss) is not the expected one");
    }
    if (!HasAudience(claims)) {
      return Unauthenticated(
          "the JWT audience (aud) does not include this service");
    }
    auto sub = claims.find("sub");
    if (sub == claims.end() || !sub->is_string()) {
      return Unauthenticated("the JWT has no sub (the user id)");
    }
    Identity identity;
    identity.user_id = sub->get<std::string>();
    identity.auth_time = has_auth_time ? auth_time : iat;
    // RFC 8693 section 4.2: one string of space-separated scopes.
    if (auto scope = claims.find("scope");
        scope != claims.end() && scope->is_string()) {
      identity.scopes = absl::StrSplit(scope->get<std::string>(), ' ',
                                       absl::SkipEmpty());
    }
    const absl::string_view problem = UserIdProblem(identity.user_id);
    if (!problem.empty()) {
      return Unauthenticated(absl::StrCat("the JWT sub ", problem));
    }
    return identity;
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

  static bool SignatureValid(const VerifyKey& key,
                             absl::string_view signed_part,
                             absl::string_view signature) {
    if (key.alg == Algorithm::kHs256) {
      return ConstantTimeEquals(HmacSha256(key.secret, signed_part),
                                signature);
    }
    std::string der;
    if (key.alg == Algorithm::kEs256) {
      der = EcdsaJwsToDer(signature);
      if (der.empty()) return false;
      signature = der;
    }
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    if (ctx == nullptr) return false;
    bool valid =
        EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr,
                             key.pkey.get()) == 1 &&
        EVP_DigestVerify(
            ctx, reinterpret_cast<const unsigned char*>(signature.data()),
            signature.size(),
            reinterpret_cast<const unsigned char*>(signed_part.data()),
            signed_part.size()) == 1;
    EVP_MD_CTX_free(ctx);
    return valid;
  }

  // Returns the keys to check a token against, first reading the JWKS file
  // again if it changed (at most every kJwksCheckInterval; one call checks
  // while the others go on with the keys they have).
  std::shared_ptr<const KeySet> CurrentKeys() const {
    if (!jwks_path_.empty() && reload_mu_.TryLock()) {
      MaybeReload();
      reload_mu_.Unlock();
    }
    absl::MutexLock lock(&mu_);
    return keys_;
  }

  void MaybeReload() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(reload_mu_);

  const std::string issuer_;
  const std::string audience_;
  const absl::Duration max_lifetime_;
  const std::shared_ptr<Clock> clock_;
  mutable absl::Mutex mu_;
  mutable std::shared_ptr<const KeySet> keys_ ABSL_GUARDED_BY(mu_);
  // --jwt_jwks_file, when the keys come from it.
  const std::string jwks_path_;
  // Held by the one call that checks the file.
  mutable absl::Mutex reload_mu_;
  // The file's stamp at the last read, good or bad, and whether the last
  // check could not even stat it: each change is read, and warned about,
  // once.
  mutable FileStamp stamp_ ABSL_GUARDED_BY(reload_mu_);
  mutable bool unreadable_ ABSL_GUARDED_BY(reload_mu_) = false;
  mutable absl::Time last_check_ ABSL_GUARDED_BY(reload_mu_);
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
      "--auth=jwt needs exactly one of --jwt_secret_file (HS256), "
      "--jwt_public_key_file (RS256 or ES256) and --jwt_jwks_file (a JWK "
      "Set of RS256 and ES256 keys)");
}

absl::Status BadJwks(absl::string_view why) {
  return InvalidFlagError("jwt_jwks_file", why);
}

// Makes a public key of `type` ("RSA", "EC") from OSSL_PARAMs.
PkeyPtr KeyFromParams(const char* type, OSSL_PARAM_BLD* builder) {
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(builder);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  EVP_PKEY* key = nullptr;
  if (params == nullptr || ctx == nullptr ||
      EVP_PKEY_fromdata_init(ctx) != 1 ||
      EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1) {
    key = nullptr;
  }
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  return PkeyPtr(key);
}

// Returns the base64url member `name` of a JWK, decoded; "" if it is
// missing or malformed.
std::string JwkBytes(const nlohmann::json& jwk, const char* name) {
  auto it = jwk.find(name);
  std::string out;
  if (it == jwk.end() || !it->is_string() ||
      !DecodeBase64Url(it->get<std::string>(), &out)) {
    return "";
  }
  return out;
}

// Returns the RSA key of a JWK (n, e): 2048 bits or more.
absl::StatusOr<PkeyPtr> RsaFromJwk(const nlohmann::json& jwk) {
  const std::string n = JwkBytes(jwk, "n");
  const std::string e = JwkBytes(jwk, "e");
  if (n.empty() || e.empty()) {
    return absl::InvalidArgumentError("has no base64url n and e");
  }
  BIGNUM* bn_n = BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()),
                           static_cast<int>(n.size()), nullptr);
  BIGNUM* bn_e = BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()),
                           static_cast<int>(e.size()), nullptr);
  OSSL_PARAM_BLD* builder = OSSL_PARAM_BLD_new();
  PkeyPtr key;
  if (bn_n != nullptr && bn_e != nullptr && builder != nullptr &&
      OSSL_PARAM_BLD_push_BN(builder, OSSL_PKEY_PARAM_RSA_N, bn_n) == 1 &&
      OSSL_PARAM_BLD_push_BN(builder, OSSL_PKEY_PARAM_RSA_E, bn_e) == 1) {
    key = KeyFromParams("RSA", builder);
  }
  OSSL_PARAM_BLD_free(builder);
  BN_free(bn_n);
  BN_free(bn_e);
  if (key == nullptr) return absl::InvalidArgumentError("is not an RSA key");
  if (EVP_PKEY_get_bits(key.get()) < 2048) {
    return absl::InvalidArgumentError("is an RSA key shorter than 2048 bits");
  }
  return key;
}

// Returns the P-256 key of a JWK (x, y, 32 bytes each, a point on the
// curve).
absl::StatusOr<PkeyPtr> P256FromJwk(const nlohmann::json& jwk) {
  const std::string x = JwkBytes(jwk, "x");
  const std::string y = JwkBytes(jwk, "y");
  if (x.size() != 32 || y.size() != 32) {
    return absl::InvalidArgumentError(
        "has no base64url x and y of 32 bytes each");
  }
  const std::string point = absl::StrCat("\x04", x, y);
  OSSL_PARAM_BLD* builder = OSSL_PARAM_BLD_new();
  PkeyPtr key;
  if (builder != nullptr &&
      OSSL_PARAM_BLD_push_utf8_string(builder, OSSL_PKEY_PARAM_GROUP_NAME,
                                      SN_X9_62_prime256v1, 0) == 1 &&
      OSSL_PARAM_BLD_push_octet_string(builder, OSSL_PKEY_PARAM_PUB_KEY,
                                       point.data(), point.size()) == 1) {
    key = KeyFromParams("EC", builder);
  }
  OSSL_PARAM_BLD_free(builder);
  bool on_curve = false;
  if (key != nullptr) {
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr);
    on_curve = ctx != nullptr && EVP_PKEY_public_check(ctx) == 1;
    EVP_PKEY_CTX_free(ctx);
  }
  if (!on_curve) {
    return absl::InvalidArgumentError("is not a point on P-256");
  }
  return key;
}

// Parses a JWK Set into keys by kid. Keys for other uses (`use` not
// `sig`), other algorithms, types or curves are left out; a signing key of
// a kind this server verifies must be well-formed and carry a kid of its
// own, and at least one must be there.
absl::StatusOr<std::shared_ptr<const KeySet>> ParseJwks(
    absl::string_view text) {
  nlohmann::json jwks = ParseObject(text);
  auto list = jwks.is_discarded() ? jwks.end() : jwks.find("keys");
  if (jwks.is_discarded() || list == jwks.end() || !list->is_array()) {
    return BadJwks("is not a JWK Set (a JSON object with a \"keys\" array)");
  }
  auto keys = std::make_shared<KeySet>();
  keys->by_kid = true;
  int index = 0;
  for (const nlohmann::json& jwk : *list) {
    const std::string where = absl::StrCat("key ", index++);
    if (!jwk.is_object()) {
      return BadJwks(absl::StrCat(where, " is not a JSON object"));
    }
    auto member = [&](const char* name) -> std::string {
      auto it = jwk.find(name);
      return it != jwk.end() && it->is_string() ? it->get<std::string>()
                                                : std::string();
    };
    const std::string kty = member("kty"), use = member("use"),
                      alg = member("alg"), crv = member("crv");
    if (jwk.contains("use") && use != "sig") continue;
    VerifyKey key;
    absl::StatusOr<PkeyPtr> pkey;
    if (kty == "RSA" && (alg.empty() || alg == "RS256")) {
      key.alg = Algorithm::kRs256;
      pkey = RsaFromJwk(jwk);
    } else if (kty == "EC" && crv == "P-256" &&
               (alg.empty() || alg == "ES256")) {
      key.alg = Algorithm::kEs256;
      pkey = P256FromJwk(jwk);
    } else {
      continue;  // not a key this server verifies with
    }
    const std::string kid = member("kid");
    if (kid.empty()) return BadJwks(absl::StrCat(where, " has no kid"));
    if (!pkey.ok()) {
      return BadJwks(absl::StrCat(where, " (kid \"", kid, "\") ",
                                  pkey.status().message()));
    }
    key.pkey = std::shared_ptr<EVP_PKEY>(pkey->release(), PkeyDeleter());
    if (!keys->keys.emplace(kid, std::move(key)).second) {
      return BadJwks(absl::StrCat(where, " repeats kid \"", kid, "\""));
    }
  }
  if (keys->keys.empty()) {
    return BadJwks(
        "holds no RS256 or ES256 signing key (kty RSA, or kty EC with crv "
        "P-256)");
  }
  return std::shared_ptr<const KeySet>(std::move(keys));
}

// Reads and parses the JWKS file; errors name the flag and the path.
absl::StatusOr<std::shared_ptr<const KeySet>> ReadJwksFile(
    const std::string& path) {
  absl::StatusOr<std::string> text = ReadFlagFile("jwt_jwks_file", path);
  if (!text.ok()) return text.status();
  absl::StatusOr<std::shared_ptr<const KeySet>> keys = ParseJwks(*text);
  if (!keys.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(keys.status().message(), " (", path, ")"));
  }
  return keys;
}

void JwtAuthenticator::MaybeReload() const {
  const absl::Time now = clock_->Now();
  if (now - last_check_ < kJwksCheckInterval) return;
  last_check_ = now;
  absl::StatusOr<FileStamp> stamp = StampOf(jwks_path_);
  if (!stamp.ok()) {
    if (!unreadable_) {
      Log(LogLevel::kWarning,
          "--jwt_jwks_file cannot be read; keeping the last good key set",
          {{"path", jwks_path_}, {"error", stamp.status().message()}});
    }
    unreadable_ = true;
    return;
  }
  if (!unreadable_ && *stamp == stamp_) return;
  unreadable_ = false;
  stamp_ = *stamp;
  absl::StatusOr<std::shared_ptr<const KeySet>> keys = ReadJwksFile(jwks_path_);
  if (!keys.ok()) {
    Log(LogLevel::kWarning,
        "--jwt_jwks_file changed but is not usable; keeping the last good "
        "key set",
        {{"path", jwks_path_}, {"error", keys.status().message()}});
    return;
  }
  const std::string count = absl::StrCat((*keys)->keys.size());
  {
    absl::MutexLock lock(&mu_);
    keys_ = *std::move(keys);
  }
  Log(LogLevel::kInfo, "--jwt_jwks_file reloaded",
      {{"path", jwks_path_}, {"keys", count}});
}

absl::Status ValidateClaimOptions(absl::string_view issuer,
                                  absl::string_view audience,
                                  absl::Duration max_lifetime) {
  if (issuer.empty()) {
    return InvalidFlagError("jwt_issuer", "is required with --auth=jwt");
  }
  if (audience.empty()) {
    return InvalidFlagError("jwt_audience", "is required with --auth=jwt");
  }
  if (max_lifetime < kMinJwtMaxLifetime || max_lifetime > kMaxJwtMaxLifetime) {
    return InvalidFlagError("jwt_max_lifetime", "must be from 1m to 720h (30 days)");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Authenticator>> NewJwtAuthenticator(
    const JwtOptions& options, std::shared_ptr<Clock> clock) {
  const int key_count = !options.hs256_secret.empty() +
                        !options.public_key_pem.empty() +
                        !options.jwks_json.empty();
  if (key_count != 1) return OneKeyFileError();
  absl::Status valid = ValidateClaimOptions(options.issuer, options.audience,
                                            options.max_lifetime);
  if (!valid.ok()) return valid;
  auto keys = std::make_shared<KeySet>();
  if (!options.hs256_secret.empty()) {
    if (options.hs256_secret.size() < kMinJwtSecretBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--jwt_secret_file must hold at least ", kMinJwtSecretBytes,
          " bytes of secret (HS256)"));
    }
    keys->single.alg = Algorithm::kHs256;
    keys->single.secret = options.hs256_secret;
  } else if (!options.public_key_pem.empty()) {
    absl::StatusOr<std::pair<Algorithm, PkeyPtr>> key =
        LoadPublicKey(options.public_key_pem);
    if (!key.ok()) return key.status();
    keys->single.alg = key->first;
    keys->single.pkey =
        std::shared_ptr<EVP_PKEY>(key->second.release(), PkeyDeleter());
  } else {
    absl::StatusOr<std::shared_ptr<const KeySet>> jwks =
        ParseJwks(options.jwks_json);
    if (!jwks.ok()) return jwks.status();
    return std::make_unique<JwtAuthenticator>(options, *std::move(jwks),
                                              std::move(clock));
  }
  return std::make_unique<JwtAuthenticator>(options, std::move(keys),
                                            std::move(clock));
}

absl::Status JwtFileOptions::Validate() const {
  const int key_files =
      !secret_file.empty() + !public_key_file.empty() + !jwks_file.empty();
  if (key_files != 1) return OneKeyFileError();
  return ValidateClaimOptions(issuer, audience, max_lifetime);
}

absl::StatusOr<std::unique_ptr<Authenticator>> NewJwtAuthenticatorFromFiles(
    const JwtFileOptions& flags, std::shared_ptr<Clock> clock) {
  absl::Status valid = flags.Validate();
  if (!valid.ok()) return valid;
  JwtOptions options;
  options.issuer = flags.issuer;
  options.audience = flags.audience;
  options.max_lifetime = flags.max_lifetime;
  if (!flags.jwks_file.empty()) {
    // Stamped before the read: a write that lands after it changes the
    // stamp, so the next check reads the file again.
    absl::StatusOr<FileStamp> stamp = StampOf(flags.jwks_file);
    absl::StatusOr<std::shared_ptr<const KeySet>> keys =
        ReadJwksFile(flags.jwks_file);
    if (!keys.ok()) return keys.status();
    return std::make_unique<JwtAuthenticator>(
        options, *std::move(keys), std::move(clock), flags.jwks_file,
        stamp.ok() ? *stamp : FileStamp());
  }
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
