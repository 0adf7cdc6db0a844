// Keys, certificates and JWTs made at test time with the real openssl CLI
// and OpenSSL's signing API, for tests of TLS, mutual TLS and JWT identity.
//
//   TestDir dir;                                  // test_dir.h
//   TestPki pki = MakeTestPki(dir.path());        // CAs, server, clients
//   std::string pem = MakeKeyPair(dir.path(), "es", "EC").public_pem;
//   std::string jwt = SignJwt("ES256", private_pem, {{"sub","u1"},...});
//
// Every function aborts the test binary (with the command's output) on
// failure: a test without its keys has nothing to test.
//
// Thread-safety: use from one thread.
#ifndef PROFILE_TESTS_TESTING_TEST_CRYPTO_H_
#define PROFILE_TESTS_TESTING_TEST_CRYPTO_H_

#include <string>

#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "tests/testing/test_dir.h"

namespace profile::testing {

// Runs `command` with /bin/sh; returns its stdout and stderr. Aborts if it
// exits non-zero.
std::string Run(const std::string& command);

// Returns the contents of `path`; aborts if it cannot be read.
std::string ReadFileOrDie(const std::string& path);

struct KeyPair {
  std::string private_file;
  std::string public_file;
  std::string private_pem;
  std::string public_pem;
};

// Generates `<dir>/<name>.key` and `<dir>/<name>.pub` with `openssl genpkey`:
// `spec` is "RSA:2048", "RSA:1024", "EC:P-256", "EC:P-384" or "ED25519".
KeyPair MakeKeyPair(const std::string& dir, const std::string& name,
                    const std::string& spec);

// Files (PEM) of a small PKI: a CA, a server certificate for 127.0.0.1 and
// localhost (subjectAltName) signed by it, a client certificate signed by
// it, and a client certificate signed by another CA.
struct TestPki {
  std::string ca_cert;
  std::string server_cert;
  std::string server_key;
  std::string client_cert;
  std::string client_key;
  std::string other_ca_cert;
  std::string other_client_cert;
  std::string other_client_key;
};
TestPki MakeTestPki(const std::string& dir);

// A client certificate signed by the CA MakeTestPki(dir) made, with common
// name `cn` and, unless `san` is empty, the subjectAltName `san` (as openssl
// spells it: "URI:spiffe://example.org/ns/app/sa/caller",
// "DNS:gateway.example.org"). Files `<dir>/<name>.crt` and `.key`.
struct ClientCert {
  std::string cert;
  std::string key;
};
ClientCert MakeClientCert(const std::string& dir, const std::string& name,
                          const std::string& cn, const std::string& san);

// Returns a compact JWS of `claims` with header {"alg": alg, "typ": "JWT"}
// merged with `extra_header`. `key` is the HS256 secret, or the PEM private
// key for RS256 and ES256 (ES256 signatures in the JWS r||s form). "none"
// yields an unsigned token with an empty signature.
std::string SignJwt(const std::string& alg, const std::string& key,
                    const nlohmann::json& claims,
                    const nlohmann::json& extra_header = nlohmann::json::object());

// Returns the public JWK (RFC 7517) of `key`, an RSA or EC P-256 key pair
// from MakeKeyPair(): {"kty","kid","use":"sig","alg",n/e or crv/x/y}.
nlohmann::json PublicJwk(const KeyPair& key, const std::string& kid);

// Base64url without padding.
std::string Base64Url(absl::string_view data);

}  // namespace profile::testing

#endif  // PROFILE_TESTS_TESTING_TEST_CRYPTO_H_
