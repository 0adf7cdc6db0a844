#include "server/common/log.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>

#include "absl/base/const_init.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/common/text.h"

namespace profile {
namespace {

std::atomic<int> min_level{static_cast<int>(LogLevel::kInfo)};

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

// Appends `text` as a JSON string (RFC 8259): quotes, backslashes and
// control characters escaped, each byte that is not part of valid UTF-8
// replaced by U+FFFD, everything else copied as is.
void AppendJsonString(absl::string_view text, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte >= 0x80) {
      const size_t start = i;
      if (DecodeUtf8(text, &i) < 0) {
        out->append("\xEF\xBF\xBD");
        ++i;
      } else {
        out->append(text.data() + start, i - start);
      }
      continue;
    }
    ++i;
    switch (byte) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (byte < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[byte >> 4]);
          out->push_back(kHex[byte & 0xF]);
        } else {
          out->push_back(static_cast<char>(byte));
        }
    }
  }
  out->push_back('"');
}

// Appends "2026-11-24T06:00:00.123456Z" for `now`. The calendar part is
// computed once per second per thread.
void AppendTimestamp(absl::Time now, std::string* out) {
  thread_local int64_t cached_second = -1;
  thread_local char cached[64];  // "2026-11-24T06:00:00."
  const int64_t micros = absl::ToUnixMicros(now);
  int64_t second = micros / 1000000;
  int64_t micro = micros % 1000000;
  if (micro < 0) micro += 1000000, second -= 1;
  if (second != cached_second) {
    const std::time_t t = static_cast<std::time_t>(second);
    std::tm tm;
    gmtime_r(&t, &tm);
    std::snprintf(cached, sizeof(cached), "%04d-%02d-%02dT%02d:%02d:%02d.",
                  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                  tm.tm_min, tm.tm_sec);
    cached_second = second;
  }
  char fraction[16];
  std::snprintf(fraction, sizeof(fraction), "%06dZ", static_cast<int>(micro));
  out->append(cached);
  out->append(fraction);
}

// Writes the whole line, in one write(2) unless the kernel takes less.
// The lock keeps concurrent lines whole (as stdio's stream lock did).
void WriteLine(absl::string_view line) {
  static absl::Mutex mu(absl::kConstInit);
  absl::MutexLock lock(&mu);
  while (!line.empty()) {
    const ssize_t written = ::write(STDERR_FILENO, line.data(), line.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere left to report it
    }
    line.remove_prefix(static_cast<size_t>(written));
  }
}

}  // namespace

void SetMinLogLevel(LogLevel level) {
  min_level.store(static_cast<int>(level), std::memory_order_relaxed);
}

bool LogEnabled(LogLevel level) {
  return static_cast<int>(level) >= min_level.load(std::memory_order_relaxed);
}

bool ParseLogLevel(absl::string_view text, LogLevel* level) {
  for (LogLevel candidate : {LogLevel::kDebug, LogLevel::kInfo,
                             LogLevel::kWarning, LogLevel::kError}) {
    if (text == LevelName(candidate)) {
      *level = candidate;
      return true;
    }
  }
  return false;
}

void Log(LogLevel level, absl::string_view message,
         std::initializer_list<LogField> fields) {
  static const TraceContext* const kNoTrace = new TraceContext();
  Log(level, message, fields, *kNoTrace);
}

void Log(LogLevel level, absl::string_view message,
         std::initializer_list<LogField> fields, const TraceContext& trace) {
  if (!LogEnabled(level)) return;
  std::string line;
  line.reserve(256);
  line.append("{\"time\":\"");
  AppendTimestamp(absl::Now(), &line);
  line.append("\",\"level\":\"");
  line.append(LevelName(level));
  line.append("\",\"message\":");
  AppendJsonString(message, &line);
  for (const auto& [key, value] : fields) {
    line.push_back(',');
    AppendJsonString(key, &line);
    line.push_back(':');
    AppendJsonString(value, &line);
  }
  if (trace.has_trace()) {
    line.append(",\"trace_id\":\"");
    line.append(trace.trace_id);  // lowercase hex: nothing to escape
    line.append("\",\"span_id\":\"");
    line.append(trace.span_id);
    line.push_back('"');
  }
  line.append("}\n");
  WriteLine(line);
}

std::string MaskPhone(absl::string_view e164) {
  if (e164.empty()) return "";
  const size_t size = e164.size();
  if (size <= 8) {
    // Short numbers keep the "+" and, when that still hides at least three
    // characters, their last two digits.
    return absl::StrCat(e164.front() == '+' ? "+" : "", "****",
                        e164.substr(size >= 5 ? size - 2 : size));
  }
  // Show the last four digits and as much of the front as leaves at least
  // four characters hidden.
  const size_t hidden = std::max<size_t>(4, size > 10 ? size - 10 : 0);
  const size_t prefix = size - 4 - hidden;
  return absl::StrCat(e164.substr(0, prefix), "****", e164.substr(size - 4));
}

}  // namespace profile
