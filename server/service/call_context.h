// What the RPC layer reads from a call's metadata before the core runs: the
// request id, the caller's trace, the caller's language and the idempotency
// key.
//
//   std::string request_id = RequestIdFrom(context->client_metadata());
//   Language language = LanguageFrom(context->client_metadata());
//
// Thread-safety: pure functions (request id generation reads the CSPRNG).
#ifndef PROFILE_SERVER_SERVICE_CALL_CONTEXT_H_
#define PROFILE_SERVER_SERVICE_CALL_CONTEXT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/auth/authenticator.h"
#include "server/common/language.h"
#include "server/common/trace_context.h"

namespace profile {

// The longest caller-chosen request id kept, in bytes.
inline constexpr size_t kMaxRequestIdBytes = 64;

// Returns the caller's `x-request-id` if it is 1 to 64 characters of
// [A-Za-z0-9._:-]; otherwise a fresh random one (a UUID v4).
std::string RequestIdFrom(const CallMetadata& metadata);

// Returns the caller's `x-idempotency-key`, or "" if it sent none. A key
// that is not 1 to 64 characters of [A-Za-z0-9._:-], or is sent twice, is
// INVALID_ARGUMENT, api code 1001, naming x-idempotency-key.
absl::StatusOr<std::string> IdempotencyKeyFrom(const CallMetadata& metadata);

// Returns the end user's address from metadata `x-client-ip`, set by the
// trusted gateway like x-user-id, in canonical form ("2001:db8::1"); "" if
// it sent none. A value that is not one IPv4 or IPv6 address, or is sent
// twice, is INVALID_ARGUMENT, api code 1001, naming x-client-ip.
absl::StatusOr<std::string> ClientIpFrom(const CallMetadata& metadata);

// Returns a fresh random request id, a UUID v4.
std::string NewRequestId();

// Returns the caller's W3C trace from metadata `traceparent` (one
// well-formed version-00 value; see ParseTraceparent()); empty when it is
// missing, repeated or malformed, which is never an error.
TraceContext TraceContextFrom(const CallMetadata& metadata);

// Returns Chinese if `x-authing-lang` or, failing that, `accept-language`
// asks for zh (zh-CN, zh-Hans, zh;q=0.9...), else English.
Language LanguageFrom(const CallMetadata& metadata);

}  // namespace profile

#endif  // PROFILE_SERVER_SERVICE_CALL_CONTEXT_H_
