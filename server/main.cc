// profile_server: serves profile.v1.ProfileService.
//
//   build/server/profile_server --listen=127.0.0.1:50051
//       --test_phone_codes=+8613800138000:246810
//
// Flags may also come from a file: --flagfile=/etc/profile/flags.
// --version prints the version and the git commit of the build and exits 0.
// SIGTERM or SIGINT: health goes NOT_SERVING, --drain_delay passes (so load
// balancers stop routing here), calls in flight get --shutdown_grace to
// finish, and the process exits 0.
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/parse.h"
#include "absl/flags/usage_config.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpc/support/log.h"
#include "server/common/log.h"
#include "server/common/version.h"
#include "server/flags/server_flags.h"
#include "server/server.h"

namespace profile {
namespace {

// gRPC's own log lines go into the JSON log too.
void GrpcLog(gpr_log_func_args* args) {
  const LogLevel level = args->severity == GPR_LOG_SEVERITY_ERROR
                             ? LogLevel::kError
                             : args->severity == GPR_LOG_SEVERITY_INFO
                                   ? LogLevel::kInfo
                                   : LogLevel::kDebug;
  Log(level, args->message,
      {{"source", absl::StrCat(args->file, ":", args->line)}});
}

int Fail(absl::string_view message) {
  std::fprintf(stderr, "profile_server: %.*s\n",
               static_cast<int>(message.size()), message.data());
  return 1;
}

int Run(int argc, char** argv) {
  // Debian builds Abseil with mutex deadlock detection on: every
  // absl::Mutex lock, gRPC's own included, would take one global lock and
  // update a graph (5% of server CPU, and contention across cores).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  absl::SetProgramUsageMessage(
      "Serves profile.v1.ProfileService, the phone-change API.\n"
      "Usage: profile_server [--flag=value ...] [--flagfile=FILE]");
  // --version (Abseil's own flag) prints this to stdout and exits 0.
  absl::FlagsUsageConfig usage_config;
  usage_config.version_string = &VersionText;
  absl::SetFlagsUsageConfig(usage_config);
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() > 1) {
    return Fail(absl::StrCat("unexpected argument \"", positional[1],
                             "\"; flags look like --name=value"));
  }

  absl::StatusOr<ProgramOptions> program = ProgramOptionsFromFlags();
  if (!program.ok()) return Fail(program.status().message());
  SetMinLogLevel(program->log_level);
  gpr_set_log_function(&GrpcLog);
  const ServerOptions& options = program->server;

  if (program->migrate_only) {
    absl::Status migrated = MigrateSchema(options.core.stores);
    if (!migrated.ok()) return Fail(migrated.message());
    Log(LogLevel::kInfo, "schema migrated");
    return 0;
  }

  // Block the stop signals before gRPC starts its threads, so that only
  // sigwait() below ever sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  const absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<ProfileServer>> server =
      ProfileServer::Start(options);
  if (!server.ok()) return Fail(server.status().message());
  for (absl::string_view member : absl::StrSplit(options.core.sms.sender, ',')) {
    if (member != "log") continue;
    Log(LogLevel::kWarning,
        "--sms_sender names log, which writes verification codes to this "
        "log: for local use only, never in production");
  }
  if (options.allow_trusted_header_without_mtls &&
      options.auth.mode == "trusted_header" && !options.tls.mutual()) {
    Log(LogLevel::kWarning,
        "--allow_trusted_header_without_mtls: x-user-id is believed from "
        "any caller that reaches this port; only safe behind a sidecar "
        "that terminates mutual TLS");
  }
  const std::string port = absl::StrCat((*server)->port());
  Log(LogLevel::kInfo, "serving",
      {{"version", ProfileVersion()},
       {"commit", ProfileGitCommit()},
       {"listen", options.listen},
       {"port", port},
       {"health_port", absl::StrCat((*server)->health_port())},
       {"metrics_port", absl::StrCat((*server)->metrics_port())},
       {"tls", !options.tls.enabled()  ? "off"
               : options.tls.mutual() ? "mutual"
                                       : "on"},
       {"auth", options.auth.mode},
       {"startup_ms",
        absl::StrCat(absl::ToDoubleMilliseconds(absl::Now() - start))}});

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  Log(LogLevel::kInfo, "stopping",
      {{"signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"}});
  (*server)->Drain();
  absl::SleepFor(program->drain_delay);
  (*server)->Shutdown(program->shutdown_grace);
  Log(LogLevel::kInfo, "stopped");
  return 0;
}

}  // namespace
}  // namespace profile

int main(int argc, char** argv) { return profile::Run(argc, argv); }
