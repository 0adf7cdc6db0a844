#include "tests/testing/test_crypto.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace profile::testing {
namespace {

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "test_crypto: %s\n", why.c_str());
  std::abort();
}

}  // namespace

std::string Run(const std::string& command) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) Die("popen failed: " + command);
  std::string output;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    output.append(buffer, n);
  }
  const int status = pclose(pipe);
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    Die(absl::StrCat("command failed: ", command, "\n", output));
  }
  return output;
}

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in.good()) Die("cannot read " + path);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

KeyPair MakeKeyPair(const std::string& dir, const std::string& name,
                    const std::string& spec) {
  KeyPair pair;
  pair.private_file = absl::StrCat(dir, "/", name, ".key");
  pair.public_file = absl::StrCat(dir, "/", name, ".pub");
  std::string options;
  const size_t colon = spec.find(':');
  const std::string algorithm = spec.substr(0, colon);
  if (algorithm == "RSA") {
    options = " -pkeyopt rsa_keygen_bits:" + spec.substr(colon + 1);
  } else if (algorithm == "EC") {
    options = " -pkeyopt ec_paramgen_curve:" + spec.substr(colon + 1);
  }
  Run(absl::StrCat("openssl genpkey -algorithm ", algorithm, options,
                   " -out '", pair.private_file, "'"));
  Run(absl::StrCat("openssl pkey -in '", pair.private_file,
                   "' -pubout -out '", pair.public_file, "'"));
  pair.private_pem = ReadFileOrDie(pair.private_file);
  pair.public_pem = ReadFileOrDie(pair.public_file);
  return pair;
}

TestPki MakeTestPki(const std::string& dir) {
  const std::string d = dir + "/";
  auto ca = [&](const std::string& name, const std::string& cn) {
    Run(absl::StrCat("openssl req -x509 -newkey rsa:2048 -nodes -days 2 ",
                     "-subj '/CN=", cn, "' -keyout '", d, name, ".key' -out '",
                     d, name, ".crt' -addext basicConstraints=critical,CA:TRUE ",
                     "-addext keyUsage=critical,keyCertSign,cRLSign"));
  };
  auto leaf = [&](const std::string& name, const std::string& cn,
                  const std::string& issuer, const std::string& ext) {
    Run(absl::StrCat("openssl req -newkey rsa:2048 -nodes -subj '/CN=", cn,
                     "' -keyout '", d, name, ".key' -out '", d, name,
                     ".csr'"));
    std::ofstream(d + name + ".ext") << ext;
    Run(absl::StrCat("openssl x509 -req -in '", d, name, ".csr' -CA '", d,
                     issuer, ".crt' -CAkey '", d, issuer,
                     ".key' -CAcreateserial -days 2 -out '", d, name,
                     ".crt' -extfile '", d, name, ".ext'"));
  };
  ca("ca", "profile test CA");
  ca("other_ca", "another CA");
  leaf("server", "localhost", "ca",
       "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
       "extendedKeyUsage=serverAuth\n");
  leaf("client", "gateway", "ca", "extendedKeyUsage=clientAuth\n");
  leaf("other_client", "intruder", "other_ca", "extendedKeyUsage=clientAuth\n");
  return {d + "ca.crt",           d + "server.crt", d + "server.key",
          d + "client.crt",       d + "client.key", d + "other_ca.crt",
          d + "other_client.crt", d + "other_client.key"};
}

nlohmann::json PublicJwk(const KeyPair& key, const std::string& kid) {
  BIO* bio = BIO_new_mem_buf(key.public_pem.data(),
                             static_cast<int>(key.public_pem.size()));
  EVP_PKEY* pkey = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (pkey == nullptr) Die("PublicJwk: not a PEM public key");
  auto bytes = [&](const char* name, int pad) {
    BIGNUM* bn = nullptr;
    if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1) {
      Die(std::string("PublicJwk: no ") + name);
    }
    std::string out(pad > 0 ? pad : BN_num_bytes(bn), '\0');
    BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()),
                 static_cast<int>(out.size()));
    BN_free(bn);
    return Base64Url(out);
  };
  nlohmann::json jwk = {{"kid", kid}, {"use", "sig"}};
  if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA) {
    jwk.update({{"kty", "RSA"},
                {"alg", "RS256"},
                {"n", bytes(OSSL_PKEY_PARAM_RSA_N, 0)},
                {"e", bytes(OSSL_PKEY_PARAM_RSA_E, 0)}});
  } else {
    jwk.update({{"kty", "EC"},
                {"alg", "ES256"},
                {"crv", "P-256"},
                {"x", bytes(OSSL_PKEY_PARAM_EC_PUB_X, 32)},
                {"y", bytes(OSSL_PKEY_PARAM_EC_PUB_Y, 32)}});
  }
  EVP_PKEY_free(pkey);
  return jwk;
}

ClientCert MakeClientCert(const std::string& dir, const std::string& name,
                          const std::string& cn, const std::string& san) {
  const std::string base = absl::StrCat(dir, "/", name);
  Run(absl::StrCat("openssl req -newkey rsa:2048 -nodes -subj '/CN=", cn,
                   "' -keyout '", base, ".key' -out '", base, ".csr'"));
  std::string ext = "extendedKeyUsage=clientAuth\n";
  if (!san.empty()) ext += "subjectAltName=" + san + "\n";
  std::ofstream(base + ".ext") << ext;
  Run(absl::StrCat("openssl x509 -req -in '", base, ".csr' -CA '", dir,
                   "/ca.crt' -CAkey '", dir, "/ca.key' -CAcreateserial ",
                   "-days 2 -out '", base, ".crt' -extfile '", base, ".ext'"));
  return {base + ".crt", base + ".key"};
}

std::string Base64Url(absl::string_view data) {
  return absl::WebSafeBase64Escape(data);
}

std::string SignJwt(const std::string& alg, const std::string& key,
                    const nlohmann::json& claims,
                    const nlohmann::json& extra_header) {
  nlohmann::json header = {{"alg", alg}, {"typ", "JWT"}};
  header.update(extra_header);
  const std::string signed_part =
      absl::StrCat(Base64Url(header.dump()), ".", Base64Url(claims.dump()));
  if (alg == "none") return signed_part + ".";
  std::string signature;
  if (alg == "HS256") {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_size = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(signed_part.data()),
         signed_part.size(), mac, &mac_size);
    signature.assign(reinterpret_cast<char*>(mac), mac_size);
  } else {
    BIO* bio = BIO_new_mem_buf(key.data(), static_cast<int>(key.size()));
    EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (pkey == nullptr) Die("SignJwt: not a PEM private key");
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    size_t size = 0;
    if (EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, pkey) != 1 ||
        EVP_DigestSign(ctx, nullptr, &size,
                       reinterpret_cast<const unsigned char*>(
                           signed_part.data()),
                       signed_part.size()) != 1) {
      Die("SignJwt: EVP_DigestSign failed");
    }
    std::string der(size, '\0');
    if (EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(der.data()),
                       &size,
                       reinterpret_cast<const unsigned char*>(
                           signed_part.data()),
                       signed_part.size()) != 1) {
      Die("SignJwt: EVP_DigestSign failed");
    }
    der.resize(size);
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    if (alg == "ES256") {
      // DER ECDSA-Sig-Value -> r||s, 32 bytes each.
      const unsigned char* p =
          reinterpret_cast<const unsigned char*>(der.data());
      ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
      if (sig == nullptr) Die("SignJwt: not an ECDSA signature");
      unsigned char raw[64];
      BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32);
      BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32);
      ECDSA_SIG_free(sig);
      signature.assign(reinterpret_cast<char*>(raw), 64);
    } else {
      signature = der;
    }
  }
  return absl::StrCat(signed_part, ".", Base64Url(signature));
}

}  // namespace profile::testing
