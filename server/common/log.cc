#include "server/common/log.h"

#include <algorithm>
#include <atomic>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

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
  if (!LogEnabled(level)) return;
  nlohmann::ordered_json line;
  line["time"] = absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(),
                                  absl::UTCTimeZone());
  line["level"] = LevelName(level);
  line["message"] = std::string(message);
  for (const auto& [key, value] : fields) {
    line[std::string(key)] = std::string(value);
  }
  std::string text =
      line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  text.push_back('\n');
  // One fwrite per line: stdio locks the stream, so lines never interleave.
  std::fwrite(text.data(), 1, text.size(), stderr);
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
