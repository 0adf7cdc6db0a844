#include "server/service/call_context.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <iterator>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "server/common/api_error.h"
#include "server/common/crypto.h"

namespace profile {
namespace {

absl::string_view Lookup(const CallMetadata& metadata, absl::string_view key) {
  auto it = metadata.find(grpc::string_ref(key.data(), key.size()));
  if (it == metadata.end()) return {};
  return absl::string_view(it->second.data(), it->second.size());
}

bool IsSaneRequestId(absl::string_view id) {
  return !id.empty() && id.size() <= kMaxRequestIdBytes &&
         std::all_of(id.begin(), id.end(), [](char c) {
           return absl::ascii_isalnum(c) || c == '.' || c == '_' ||
                  c == ':' || c == '-';
         });
}

// Returns true if an Accept-Language style value prefers Chinese: its first
// language range is zh or zh-*.
bool AsksForChinese(absl::string_view value) {
  value = absl::StripLeadingAsciiWhitespace(value);
  if (value.size() < 2 || !absl::StartsWithIgnoreCase(value, "zh")) {
    return false;
  }
  return value.size() == 2 || value[2] == '-' || value[2] == '_' ||
         value[2] == ',' || value[2] == ';';
}

}  // namespace

std::string NewRequestId() {
  unsigned char bytes[16];
  RandomFill(bytes, sizeof(bytes));
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0F) | 0x40);  // version 4
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3F) | 0x80);  // RFC 4122
  // xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx, written in place: one allocation.
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(36, '-');
  size_t out = 0;
  for (size_t i = 0; i < sizeof(bytes); ++i) {
    if (out == 8 || out == 13 || out == 18 || out == 23) ++out;
    const unsigned char b = bytes[i];
    id[out++] = kHex[b >> 4];
    id[out++] = kHex[b & 0x0F];
  }
  return id;
}

std::string RequestIdFrom(const CallMetadata& metadata) {
  absl::string_view id = Lookup(metadata, "x-request-id");
  return IsSaneRequestId(id) ? std::string(id) : NewRequestId();
}

TraceContext TraceContextFrom(const CallMetadata& metadata) {
  const grpc::string_ref key("traceparent");
  if (metadata.count(key) != 1) return {};
  return ParseTraceparent(Lookup(metadata, "traceparent"));
}

absl::StatusOr<std::string> IdempotencyKeyFrom(const CallMetadata& metadata) {
  constexpr absl::string_view kName = "x-idempotency-key";
  auto range = metadata.equal_range(grpc::string_ref(kName.data(), kName.size()));
  if (range.first == range.second) return std::string();
  absl::string_view key(range.first->second.data(),
                        range.first->second.size());
  if (std::next(range.first) != range.second) {
    return InvalidFieldError(kName, "must be sent once");
  }
  // The request id's alphabet and length.
  if (!IsSaneRequestId(key)) {
    return InvalidFieldError(kName,
                             "must be 1 to 64 characters of [A-Za-z0-9._:-]");
  }
  return std::string(key);
}

absl::StatusOr<std::string> ClientIpFrom(const CallMetadata& metadata) {
  constexpr absl::string_view kName = "x-client-ip";
  auto range =
      metadata.equal_range(grpc::string_ref(kName.data(), kName.size()));
  if (range.first == range.second) return std::string();
  if (std::next(range.first) != range.second) {
    return InvalidFieldError(kName, "must be sent once");
  }
  const std::string ip(range.first->second.data(),
                       range.first->second.size());
  // inet_pton() takes exactly the textual forms, no zone id, no port.
  unsigned char address[sizeof(in6_addr)];
  char canonical[INET6_ADDRSTRLEN];
  const int family = ip.find(':') == std::string::npos ? AF_INET : AF_INET6;
  if (ip.size() >= INET6_ADDRSTRLEN ||
      inet_pton(family, ip.c_str(), address) != 1 ||
      inet_ntop(family, address, canonical, sizeof(canonical)) == nullptr) {
    return InvalidFieldError(kName, "must be one IPv4 or IPv6 address");
  }
  return std::string(canonical);
}

Language LanguageFrom(const CallMetadata& metadata) {
  absl::string_view lang = Lookup(metadata, "x-authing-lang");
  if (lang.empty()) lang = Lookup(metadata, "accept-language");
  return AsksForChinese(lang) ? Language::kChinese : Language::kEnglish;
}

}  // namespace profile
