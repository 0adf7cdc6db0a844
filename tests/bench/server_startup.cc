// server_startup: how fast profile_server serves and how much memory it
// holds when idle.
//
//   build/tests/bench/server_startup --runs=5 [--args="--flag=value ..."]
//
// Each run starts the real binary on a free 127.0.0.1 port and measures the
// time from fork() to the first health check that answers SERVING for
// profile.v1.ProfileService, then, after --idle, reads VmRSS, VmHWM and
// Threads from /proc/<pid>/status, and stops it with SIGTERM. Prints each
// run and the medians.
//
// The port is polled every millisecond in /proc/net/tcp, and the health
// check asked over a channel created once the server listens: a gRPC channel
// waits at least 100 ms between two connection attempts, whatever its
// backoff arguments say, so one created before the server listens sees it
// up to 100 ms late; and a new channel per poll takes CPU from the server
// starting on the same cores.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"

ABSL_FLAG(int32_t, runs, 5, "server starts to measure");
ABSL_FLAG(absl::Duration, idle, absl::Seconds(1),
          "time to let the server idle before reading its memory");
ABSL_FLAG(std::string, args, "",
          "extra server flags, separated by spaces");
ABSL_FLAG(std::string, binary, PROFILE_SERVER_BINARY, "the server binary");
ABSL_FLAG(bool, json, false, "print one JSON object for the medians");

namespace profile {
namespace {

using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return 0;
  }
  close(fd);
  return ntohs(addr.sin_port);
}

// Returns the "Key:" value of /proc/<pid>/status in kB, or -1.
int64_t StatusValue(pid_t pid, absl::string_view key) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    absl::string_view rest = line;
    if (absl::ConsumePrefix(&rest, key) && absl::ConsumePrefix(&rest, ":")) {
      rest = absl::StripSuffix(absl::StripAsciiWhitespace(rest), " kB");
      int64_t value;
      if (absl::SimpleAtoi(rest, &value)) return value;
    }
  }
  return -1;
}

// Returns whether a socket listens on TCP port `port`, as /proc/net/tcp and
// tcp6 tell: connecting to find out would hand the server a connection to
// handle, and its idle memory would count that work.
bool Listening(int port) {
  // "  sl  local_address rem_address   st ...": the port in hex, 0A: LISTEN.
  const std::string local_port = absl::StrFormat(":%04X", port);
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream tcp(table);
    std::string line;
    while (std::getline(tcp, line)) {
      std::vector<absl::string_view> fields =
          absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (fields.size() > 3 && absl::EndsWith(fields[1], local_port) &&
          fields[3] == "0A") {
        return true;
      }
    }
  }
  return false;
}

// Returns whether the server behind `stub` answers SERVING.
bool Serving(Health::Stub& stub) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(50));
  context.set_wait_for_ready(true);
  HealthCheckRequest request;
  request.set_service("profile.v1.ProfileService");
  HealthCheckResponse response;
  grpc::Status status = stub.Check(&context, request, &response);
  return status.ok() && response.status() == HealthCheckResponse::SERVING;
}

struct Run {
  double serving_ms = -1;
  int64_t rss_kb = -1;
  int64_t hwm_kb = -1;
  int64_t threads = -1;
};

bool MeasureOnce(Run* run) {
  const int port = FreePort();
  if (port == 0) return false;
  const std::string target = absl::StrCat("127.0.0.1:", port);

  std::vector<std::string> args = {absl::GetFlag(FLAGS_binary),
                                   absl::StrCat("--listen=", target)};
  for (absl::string_view arg :
       absl::StrSplit(absl::GetFlag(FLAGS_args), ' ', absl::SkipEmpty())) {
    args.emplace_back(arg);
  }
  const auto start = std::chrono::steady_clock::now();
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(null, STDERR_FILENO);
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  bool serving = false;
  // Created once the server listens; stays connected while it idles,
  // as a client would.
  std::unique_ptr<Health::Stub> stub;
  while (std::chrono::steady_clock::now() - start < std::chrono::seconds(20)) {
    if (stub == nullptr && Listening(port)) {
      grpc::ChannelArguments channel_args;
      channel_args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      stub = Health::NewStub(grpc::CreateCustomChannel(
          target, grpc::InsecureChannelCredentials(), channel_args));
    }
    if (stub != nullptr && Serving(*stub)) {
      serving = true;
      break;
    }
    if (waitpid(pid, nullptr, WNOHANG) == pid) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  run->serving_ms = std::chrono::duration<double, std::milli>(
                        std::chrono::steady_clock::now() - start)
                        .count();
  if (serving) {
    absl::SleepFor(absl::GetFlag(FLAGS_idle));
    run->rss_kb = StatusValue(pid, "VmRSS");
    run->hwm_kb = StatusValue(pid, "VmHWM");
    run->threads = StatusValue(pid, "Threads");
  }
  kill(pid, SIGTERM);
  int wstatus = 0;
  waitpid(pid, &wstatus, 0);
  return serving && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0;
}

template <typename T>
T Median(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int Main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::vector<double> serving_ms;
  std::vector<int64_t> rss_kb, hwm_kb, threads;
  for (int i = 0; i < std::max(1, absl::GetFlag(FLAGS_runs)); ++i) {
    Run run;
    if (!MeasureOnce(&run)) {
      std::fprintf(stderr, "server_startup: run %d: the server did not serve "
                           "or did not exit 0 on SIGTERM\n", i + 1);
      return 1;
    }
    if (!absl::GetFlag(FLAGS_json)) {
      std::printf("run %d: SERVING after %.1f ms; idle VmRSS %.1f MiB, "
                  "VmHWM %.1f MiB, %lld threads\n",
                  i + 1, run.serving_ms, run.rss_kb / 1024.0,
                  run.hwm_kb / 1024.0, static_cast<long long>(run.threads));
    }
    serving_ms.push_back(run.serving_ms);
    rss_kb.push_back(run.rss_kb);
    hwm_kb.push_back(run.hwm_kb);
    threads.push_back(run.threads);
  }
  if (absl::GetFlag(FLAGS_json)) {
    std::printf("{\"runs\":%zu,\"serving_ms\":%.1f,\"idle_rss_mib\":%.1f,"
                "\"hwm_mib\":%.1f,\"threads\":%lld}\n",
                serving_ms.size(), Median(serving_ms), Median(rss_kb) / 1024.0,
                Median(hwm_kb) / 1024.0,
                static_cast<long long>(Median(threads)));
  } else {
    std::printf("median of %zu: SERVING after %.1f ms; idle VmRSS %.1f MiB, "
                "VmHWM %.1f MiB, %lld threads\n",
                serving_ms.size(), Median(serving_ms), Median(rss_kb) / 1024.0,
                Median(hwm_kb) / 1024.0,
                static_cast<long long>(Median(threads)));
  }
  return 0;
}

}  // namespace
}  // namespace profile

int main(int argc, char** argv) { return profile::Main(argc, argv); }
