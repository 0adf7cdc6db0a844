// Authenticator: who is calling, from the call's metadata.
//
// The service never reads an identity from a request message; it asks an
// Authenticator. The trusted-header one reads `x-user-id`, which a trusted
// caller (an API gateway, a service mesh with mTLS) sets after it has
// authenticated the end user.
//
//   std::unique_ptr<Authenticator> auth = NewTrustedHeaderAuthenticator();
//   absl::StatusOr<std::string> user_id = auth->Authenticate(metadata);
//
// Thread-safety: implementations are safe to call concurrently.
#ifndef PROFILE_SERVER_AUTH_AUTHENTICATOR_H_
#define PROFILE_SERVER_AUTH_AUTHENTICATOR_H_

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/support/string_ref.h"

namespace profile {

// The call metadata as gRPC hands it to a server.
using CallMetadata = std::multimap<grpc::string_ref, grpc::string_ref>;

// The longest user id accepted, in bytes.
inline constexpr size_t kMaxUserIdBytes = 128;

class Authenticator {
 public:
  virtual ~Authenticator() = default;

  // Returns the caller's user id, or UNAUTHENTICATED (api code 1000) with a
  // message that says what is missing or wrong.
  virtual absl::StatusOr<std::string> Authenticate(
      const CallMetadata& metadata) const = 0;
};

// Returns an authenticator that trusts metadata `x-user-id`: one value, 1 to
// 128 bytes, not blank, no control characters, valid UTF-8.
std::unique_ptr<Authenticator> NewTrustedHeaderAuthenticator();

}  // namespace profile

#endif  // PROFILE_SERVER_AUTH_AUTHENTICATOR_H_
