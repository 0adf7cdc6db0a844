#include "server/tls/tls_credentials.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "grpcpp/security/server_credentials.h"
#include "grpc/grpc_security_constants.h"
#include "server/common/api_error.h"
#include "server/common/files.h"
#include "server/common/flag_error.h"

namespace profile {
namespace {

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

BioPtr MemoryBio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// Returns the first certificate in `pem` (nullptr if none); counts them all.
X509* ReadCertificates(const std::string& pem, int* count) {
  BioPtr bio = MemoryBio(pem);
  X509* first = nullptr;
  *count = 0;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    if (first == nullptr) {
      first = cert;
    } else {
      X509_free(cert);
    }
    ++*count;
  }
  ERR_clear_error();  // the read that ends the loop always fails
  return first;
}

}  // namespace

absl::Status TlsOptions::Validate() const {
  const TlsOptions& options = *this;
  if (!options.cert_file.empty() && options.key_file.empty()) {
    return InvalidFlagError("tls_key_file", "is required with --tls_cert_file");
  }
  if (options.cert_file.empty() && !options.key_file.empty()) {
    return InvalidFlagError("tls_cert_file", "is required with --tls_key_file");
  }
  if (options.mutual() && !options.enabled()) {
    return InvalidFlagError("tls_client_ca_file",
               "needs --tls_cert_file and --tls_key_file (mutual TLS is TLS "
               "first)");
  }
  if (!options.client_allowed_names.empty() && !options.mutual()) {
    return InvalidFlagError("tls_client_allowed_names",
                            "needs --tls_client_ca_file (mutual TLS): only "
                            "a client certificate carries the names");
  }
  if (!options.admin_allowed_names.empty() && !options.mutual()) {
    return InvalidFlagError("admin_allowed_names",
                            "needs --tls_client_ca_file (mutual TLS): only "
                            "a client certificate carries the names");
  }
  for (const auto& [flag, names] :
       {std::make_pair("tls_client_allowed_names",
                       &options.client_allowed_names),
        std::make_pair("admin_allowed_names", &options.admin_allowed_names)}) {
    for (const std::string& name : *names) {
      if (name.empty() || name.size() > 2048 ||
          std::any_of(name.begin(), name.end(), [](char c) {
            return static_cast<unsigned char>(c) <= ' ' || c == 0x7f;
          })) {
        return InvalidFlagError(flag,
                                "must be DNS names or URIs separated by "
                                "commas, without spaces or control "
                                "characters");
      }
    }
  }
  return absl::OkStatus();
}

std::string ClientNameIn(const grpc::AuthContext* context,
                         const std::vector<std::string>& names) {
  if (context == nullptr || names.empty()) return "";
  for (const char* property :
       {GRPC_PEER_DNS_PROPERTY_NAME, GRPC_PEER_URI_PROPERTY_NAME}) {
    for (const grpc::string_ref& name : context->FindPropertyValues(property)) {
      const absl::string_view value(name.data(), name.size());
      if (std::find(names.begin(), names.end(), value) != names.end()) {
        return std::string(value);
      }
    }
  }
  return "";
}

absl::Status CheckClientAllowed(const grpc::AuthContext* context,
                                const std::vector<std::string>& allowed) {
  if (allowed.empty()) return absl::OkStatus();
  if (context != nullptr) {
    // gRPC lists the certificate's DNS and URI SANs under these names
    // (only the verified peer certificate's); x509_subject_alternative_name
    // would also hold IP addresses and e-mail addresses.
    for (const char* property : {GRPC_PEER_DNS_PROPERTY_NAME,
                                 GRPC_PEER_URI_PROPERTY_NAME}) {
      for (const grpc::string_ref& name :
           context->FindPropertyValues(property)) {
        const absl::string_view value(name.data(), name.size());
        if (std::find(allowed.begin(), allowed.end(), value) !=
            allowed.end()) {
          return absl::OkStatus();
        }
      }
    }
  }
  return ApiError(ApiCode::kPermissionDenied,
                  "the client certificate names none of "
                  "--tls_client_allowed_names");
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> NewServerCredentials(
    const TlsOptions& options) {
  absl::Status valid = options.Validate();
  if (!valid.ok()) return valid;
  if (!options.enabled()) return grpc::InsecureServerCredentials();

  absl::StatusOr<std::string> cert =
      ReadFlagFile("tls_cert_file", options.cert_file);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key =
      ReadFlagFile("tls_key_file", options.key_file);
  if (!key.ok()) return key.status();

  int count = 0;
  X509* leaf = ReadCertificates(*cert, &count);
  if (leaf == nullptr) {
    return InvalidFlagError("tls_cert_file",
               absl::StrCat(options.cert_file,
                            " holds no PEM certificate (-----BEGIN "
                            "CERTIFICATE-----)"));
  }
  BioPtr key_bio = MemoryBio(*key);
  EVP_PKEY* pkey =
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr);
  ERR_clear_error();
  if (pkey == nullptr) {
    X509_free(leaf);
    return InvalidFlagError("tls_key_file",
               absl::StrCat(options.key_file,
                            " holds no unencrypted PEM private key"));
  }
  const bool matches = X509_check_private_key(leaf, pkey) == 1;
  ERR_clear_error();
  EVP_PKEY_free(pkey);
  X509_free(leaf);
  if (!matches) {
    return InvalidFlagError("tls_key_file",
               absl::StrCat(options.key_file,
                            " is not the key of the certificate in "
                            "--tls_cert_file"));
  }

  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({*key, *cert});
  if (options.mutual()) {
    absl::StatusOr<std::string> ca =
        ReadFlagFile("tls_client_ca_file", options.client_ca_file);
    if (!ca.ok()) return ca.status();
    X509* first_ca = ReadCertificates(*ca, &count);
    if (first_ca == nullptr) {
      return InvalidFlagError("tls_client_ca_file",
                 absl::StrCat(options.client_ca_file,
                              " holds no PEM certificate"));
    }
    X509_free(first_ca);
    ssl.pem_root_certs = *std::move(ca);
    ssl.client_certificate_request =
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

bool IsLoopbackListen(absl::string_view listen) {
  if (absl::StartsWith(listen, "unix:") ||
      absl::StartsWith(listen, "unix-abstract:")) {
    return true;
  }
  absl::string_view host = listen;
  const size_t colon = host.rfind(':');
  if (colon != absl::string_view::npos) host = host.substr(0, colon);
  if (absl::ConsumePrefix(&host, "[")) {
    if (!absl::ConsumeSuffix(&host, "]")) return false;
    return host == "::1";
  }
  if (absl::EqualsIgnoreCase(host, "localhost")) return true;
  // 127.0.0.0/8: "127." followed by the rest of a dotted quad.
  if (!absl::StartsWith(host, "127.")) return false;
  int dots = 0;
  for (char c : host) {
    if (c == '.') {
      ++dots;
    } else if (c < '0' || c > '9') {
      return false;
    }
  }
  return dots == 3;
}

}  // namespace profile
