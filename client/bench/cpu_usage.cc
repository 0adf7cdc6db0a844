#include "client/bench/cpu_usage.h"

#include <unistd.h>

#include <fstream>
#include <iterator>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace profile::bench {
namespace {

// utime + stime of `pid` in clock ticks; 0 if it is gone.
int64_t ProcessTicks(int pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  // The command name may hold spaces: fields are counted after its ")".
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(stat).substr(close + 2), ' ');
  int64_t utime = 0, stime = 0;
  // Fields 14 and 15 of stat(5), 12 and 13 after the name and state.
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    return 0;
  }
  return utime + stime;
}

}  // namespace

absl::StatusOr<std::vector<CpuProcess>> ParseCpuPids(absl::string_view text) {
  std::vector<CpuProcess> processes;
  if (text.empty()) return processes;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    std::pair<std::string, std::string> parts = absl::StrSplit(item, '=');
    CpuProcess process{parts.first, 0};
    if (process.label.empty() ||
        !absl::SimpleAtoi(parts.second, &process.pid) || process.pid <= 0) {
      return absl::InvalidArgumentError(
          "--cpu_pids must be label=pid[,label=pid...]");
    }
    processes.push_back(std::move(process));
  }
  return processes;
}

int64_t TreeTicks(int pid) {
  int64_t ticks = ProcessTicks(pid);
  std::ifstream tasks(absl::StrCat("/proc/", pid, "/task/", pid, "/children"));
  int child;
  while (tasks >> child) ticks += ProcessTicks(child);
  return ticks;
}

double MicrosPerTick() {
  return 1e6 / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace profile::bench
