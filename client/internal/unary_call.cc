#include "client/internal/unary_call.h"

#include <cassert>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace profile {
namespace client {
namespace internal {
namespace {

// Call metadata the service reads and writes.
constexpr char kUserIdKey[] = "x-user-id";
constexpr char kRequestIdKey[] = "x-request-id";
constexpr char kLanguageKey[] = "x-authing-lang";
constexpr char kIdempotencyKey[] = "x-idempotency-key";
constexpr char kAuthorizationKey[] = "authorization";
constexpr char kApiCodeKey[] = "x-api-code";
constexpr char kRetryAfterKey[] = "retry-after";

// gRPC refuses metadata values outside printable ASCII; catching them here
// gives the caller a clear INVALID_ARGUMENT instead of an opaque failure.
absl::Status CheckMetadataValue(absl::string_view name,
                                absl::string_view value) {
  for (char c : value) {
    if (c < 0x20 || c > 0x7e) {
      // A credential is never echoed.
      if (name == "bearer_token") {
        return absl::InvalidArgumentError(
            "bearer_token must be printable ASCII");
      }
      return absl::InvalidArgumentError(
          absl::StrCat(name, " must be printable ASCII, got \"",
                       absl::CEscape(value), "\""));
    }
  }
  return absl::OkStatus();
}

// Returns the first value of trailing metadata `key`, or "".
std::string Trailer(const grpc::ClientContext& context, const char* key) {
  const auto& trailers = context.GetServerTrailingMetadata();
  auto it = trailers.find(key);
  if (it == trailers.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

// Returns the absl code of a gRPC code: the two share the canonical
// numbering; anything out of range (not sent by a conforming peer) is
// UNKNOWN.
absl::StatusCode CanonicalCode(grpc::StatusCode code) {
  const int raw = static_cast<int>(code);
  if (raw < 0 || raw > static_cast<int>(absl::StatusCode::kUnauthenticated)) {
    return absl::StatusCode::kUnknown;
  }
  return static_cast<absl::StatusCode>(raw);
}

}  // namespace

absl::Status PrepareContext(const ProfileClient::Options& options,
                            absl::string_view idempotency_key,
                            grpc::ClientContext* context) {
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("timeout must be positive, got ",
                     absl::FormatDuration(options.timeout)));
  }
  const struct {
    const char* key;
    absl::string_view name;
    std::string value;
  } metadata[] = {
      {kUserIdKey, "user_id", options.user_id},
      {kRequestIdKey, "request_id", options.request_id},
      {kLanguageKey, "language", options.language},
      {kIdempotencyKey, "idempotency_key", std::string(idempotency_key)},
      {kAuthorizationKey, "bearer_token",
       options.bearer_token.empty() ? std::string()
                                    : "Bearer " + options.bearer_token},
  };
  for (const auto& entry : metadata) {
    if (entry.value.empty()) continue;
    absl::Status valid = CheckMetadataValue(entry.name, entry.value);
    if (!valid.ok()) return valid;
    context->AddMetadata(entry.key, entry.value);
  }
  if (options.timeout != absl::InfiniteDuration()) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + options.timeout));
  }
  return absl::OkStatus();
}

absl::Status FromRpcStatus(const grpc::Status& status,
                           const grpc::ClientContext& context,
                           const ProfileClient::Options& options) {
  assert(!status.ok());
  absl::Status result(CanonicalCode(status.error_code()),
                      status.error_message());

  int api_code = 0;
  if (absl::SimpleAtoi(Trailer(context, kApiCodeKey), &api_code) &&
      api_code > 0) {
    result.SetPayload(kApiCodeUrl, absl::Cord(absl::StrCat(api_code)));
  }
  std::string request_id = Trailer(context, kRequestIdKey);
  if (request_id.empty()) request_id = options.request_id;
  if (!request_id.empty()) {
    result.SetPayload(kRequestIdUrl, absl::Cord(request_id));
  }
  int retry_after = -1;
  if (absl::SimpleAtoi(Trailer(context, kRetryAfterKey), &retry_after) &&
      retry_after >= 0) {
    result.SetPayload(kRetryAfterUrl, absl::Cord(absl::StrCat(retry_after)));
  }
  return result;
}

}  // namespace internal
}  // namespace client
}  // namespace profile
