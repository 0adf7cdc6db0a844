// Structured logging: one JSON object per line on stderr.
//
//   Log(LogLevel::kInfo, "phone changed",
//       {{"user_id", user_id}, {"old_phone", MaskPhone(old_e164)}});
//
// prints
//
//   {"time":"2026-11-24T06:00:00.123456Z","level":"info",
//    "message":"phone changed","user_id":"u1","old_phone":"+86*******8000"}
//
// Never pass a verification code or a token; pass phone numbers through
// MaskPhone(). Invalid UTF-8 in a value is replaced, never echoed raw.
//
// Thread-safety: Log() is safe to call concurrently; each line is written
// whole.
#ifndef PROFILE_SERVER_COMMON_LOG_H_
#define PROFILE_SERVER_COMMON_LOG_H_

#include <initializer_list>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "server/common/trace_context.h"

namespace profile {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

using LogField = std::pair<absl::string_view, absl::string_view>;

// Writes one log line if `level` is at or above the minimum level.
void Log(LogLevel level, absl::string_view message,
         std::initializer_list<LogField> fields = {});

// As above, followed by `trace_id` and `span_id` when the call that wrote
// the line carries a trace.
void Log(LogLevel level, absl::string_view message,
         std::initializer_list<LogField> fields, const TraceContext& trace);

// Sets the minimum level written (kInfo by default).
void SetMinLogLevel(LogLevel level);

// Returns true if a line at `level` would be written.
bool LogEnabled(LogLevel level);

// Parses "debug", "info", "warning" or "error".
bool ParseLogLevel(absl::string_view text, LogLevel* level);

// Returns `e164` with all but its calling code and last four digits hidden,
// one "*" per digit: "+8613800138000" becomes "+86*******8000",
// "+14155550100" "+1******0100". The calling code is read from the digits
// alone (E.164 calling codes are prefix-free). A national number shorter
// than 8 digits shows only its last two digits, or none below 5 digits,
// so that at least three stay hidden. Anything that is not "+" and digits
// becomes "****".
std::string MaskPhone(absl::string_view e164);

}  // namespace profile

#endif  // PROFILE_SERVER_COMMON_LOG_H_
