#include "server/common/trace_context.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace profile {
namespace {

constexpr size_t kTraceparentSize = 55;

bool IsLowerHex(absl::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

bool IsAllZero(absl::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c == '0'; });
}

}  // namespace

std::string TraceContext::Traceparent() const {
  if (!has_trace()) return "";
  return absl::StrCat("00-", trace_id, "-", span_id, "-", flags);
}

TraceContext ParseTraceparent(absl::string_view value) {
  // 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
  // 0  3                                36               53
  if (value.size() != kTraceparentSize || value.substr(0, 3) != "00-" ||
      value[35] != '-' || value[52] != '-') {
    return {};
  }
  const absl::string_view trace_id = value.substr(3, 32);
  const absl::string_view span_id = value.substr(36, 16);
  const absl::string_view flags = value.substr(53, 2);
  if (!IsLowerHex(trace_id) || !IsLowerHex(span_id) || !IsLowerHex(flags) ||
      IsAllZero(trace_id) || IsAllZero(span_id)) {
    return {};
  }
  return TraceContext{std::string(trace_id), std::string(span_id),
                      std::string(flags)};
}

}  // namespace profile
