// Transport security for the gRPC port: plaintext, TLS, or mutual TLS.
//
//   TlsOptions tls;
//   tls.cert_file = "/etc/profile/tls/tls.crt";       // --tls_cert_file
//   tls.key_file = "/etc/profile/tls/tls.key";        // --tls_key_file
//   tls.client_ca_file = "/etc/profile/tls/ca.crt";   // --tls_client_ca_file
//   absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> creds =
//       NewServerCredentials(tls);
//
// With a client CA, every caller must present a certificate that chains to
// it (GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY); others
// fail the handshake. The files are read and checked with OpenSSL once, at
// start: a missing or unreadable file, a file without a certificate or key,
// or a key that does not belong to the certificate stops the start with a
// message naming the flag. A renewed certificate takes effect on restart.
//
// With `client_allowed_names` too, a client certificate must also carry one
// of those names as a DNS or URI subject alternative name (a SPIFFE ID such
// as spiffe://example.org/ns/app/sa/caller): CheckClientAllowed() answers
// the others PERMISSION_DENIED, api code 1003, call by call.
//
// Thread-safety: pure functions.
#ifndef PROFILE_SERVER_TLS_TLS_CREDENTIALS_H_
#define PROFILE_SERVER_TLS_TLS_CREDENTIALS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/security/auth_context.h"
#include "grpcpp/security/server_credentials.h"

namespace profile {

struct TlsOptions {
  // PEM certificate chain (leaf first) and its private key; both or neither.
  std::string cert_file;
  std::string key_file;
  // PEM CA certificates client certificates must chain to; needs TLS.
  std::string client_ca_file;
  // The DNS or URI SANs a client certificate must carry one of (compared
  // exactly); empty: any certificate the CA signed. Needs mutual TLS.
  std::vector<std::string> client_allowed_names;
  // --admin_allowed_names: the client certificate SANs of admins
  // (ProfileAdminService); their certificates are no user identity.
  std::vector<std::string> admin_allowed_names;

  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
  bool mutual() const { return !client_ca_file.empty(); }

  // Returns OK if the flags fit together (both of cert and key, a client CA
  // only with them, allowed names only with a client CA), else
  // INVALID_ARGUMENT naming the flag.
  absl::Status Validate() const;
};

// Returns the credentials `options` ask for: insecure when TLS is off.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> NewServerCredentials(
    const TlsOptions& options);

// Returns OK if `allowed` is empty, or if the peer of `context` presented a
// client certificate with a DNS or URI subject alternative name that
// `allowed` lists; else PERMISSION_DENIED, api code 1003.
// Returns the first DNS or URI SAN of the verified client certificate that
// `names` lists; "" for none (or no client certificate).
std::string ClientNameIn(const grpc::AuthContext* context,
                         const std::vector<std::string>& names);

absl::Status CheckClientAllowed(const grpc::AuthContext* context,
                                const std::vector<std::string>& allowed);

// Returns true if `listen` (host:port) only accepts connections from this
// machine: 127.0.0.0/8, [::1], localhost, or a unix: socket.
bool IsLoopbackListen(absl::string_view listen);

}  // namespace profile

#endif  // PROFILE_SERVER_TLS_TLS_CREDENTIALS_H_
