#include "server/common/log.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>

#include "absl/base/const_init.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
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

// Returns true if one of the 8 bytes of `w` needs more than a copy: a
// control character, a quote, a backslash or a byte of a multi-byte UTF-8
// sequence. (The bit tricks of "Bit Twiddling Hacks", determine if a word
// has a zero byte / a byte less than n: exact for "any byte".)
bool AnyByteNeedsEscape(uint64_t w) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHighs = 0x8080808080808080ULL;
  const auto has_zero = [](uint64_t v) { return (v - kOnes) & ~v & kHighs; };
  const uint64_t less_than_space = (w - kOnes * 0x20) & ~w & kHighs;
  return ((w & kHighs) | less_than_space | has_zero(w ^ (kOnes * '"')) |
          has_zero(w ^ (kOnes * '\\'))) != 0;
}

// Appends `text` as a JSON string (RFC 8259): quotes, backslashes and
// control characters escaped, each byte that is not part of valid UTF-8
// replaced by U+FFFD, everything else copied as is.
void AppendJsonString(absl::string_view text, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  // Runs of bytes that need no escape (nearly every byte of a log line) are
  // found 8 bytes at a time and copied with one append each: byte by byte,
  // the line cost more than the write(2) that prints it.
  size_t run = 0;
  for (size_t i = 0; i < text.size();) {
    if (text.size() - i >= 8) {
      uint64_t w;
      std::memcpy(&w, text.data() + i, sizeof(w));
      if (!AnyByteNeedsEscape(w)) {
        i += 8;
        continue;
      }
    }
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte >= 0x20 && byte < 0x80 && byte != '"' && byte != '\\') {
      ++i;
      continue;
    }
    out->append(text.data() + run, i - run);
    if (byte >= 0x80) {
      const size_t start = i;
      if (DecodeUtf8(text, &i) < 0) {
        out->append("\xEF\xBF\xBD");
        ++i;
      } else {
        out->append(text.data() + start, i - start);
      }
      run = i;
      continue;
    }
    ++i;
    run = i;
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
        out->append("\\u00");
        out->push_back(kHex[byte >> 4]);
        out->push_back(kHex[byte & 0xF]);
    }
  }
  out->append(text.data() + run, text.size() - run);
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

namespace {

// Returns how many leading digits of an E.164 number's digits (after the
// "+") are its calling code. Calling codes are prefix-free (ITU-T E.164
// assignments): 1 and 7 have one digit, the list below two, all others three.
size_t CallingCodeDigits(absl::string_view digits) {
  if (digits.empty()) return 0;
  if (digits[0] == '1' || digits[0] == '7') return 1;
  if (digits.size() < 2) return digits.size();
  static constexpr absl::string_view kTwoDigitCodes[] = {
      "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41",
      "43", "44", "45", "46", "47", "48", "49", "51", "52", "53", "54",
      "55", "56", "57", "58", "60", "61", "62", "63", "64", "65", "66",
      "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98"};
  const absl::string_view first_two = digits.substr(0, 2);
  for (absl::string_view code : kTwoDigitCodes) {
    if (code == first_two) return 2;
  }
  return std::min<size_t>(3, digits.size());
}

}  // namespace

std::string MaskPhone(absl::string_view e164) {
  if (e164.empty()) return "";
  absl::string_view digits = e164;
  if (!absl::ConsumePrefix(&digits, "+") || digits.empty() ||
      !std::all_of(digits.begin(), digits.end(),
                   [](char c) { return c >= '0' && c <= '9'; })) {
    return "****";  // not E.164: nothing of it is shown
  }
  const size_t code = CallingCodeDigits(digits);
  const size_t national = digits.size() - code;
  if (national == 0) return "****";
  // The last four digits show only while at least four stay hidden; a
  // short number shows its last two while at least three stay hidden.
  const size_t shown = national >= 8 ? 4 : national >= 5 ? 2 : 0;
  return absl::StrCat("+", digits.substr(0, code),
                      std::string(national - shown, '*'),
                      digits.substr(digits.size() - shown));
}

}  // namespace profile
