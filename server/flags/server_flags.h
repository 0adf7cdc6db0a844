// The flag table of profile_server: every flag is declared here, once, and
// mapped onto the options struct of the component it configures.
//
//   absl::ParseCommandLine(argc, argv);
//   absl::StatusOr<ProgramOptions> options = ProgramOptionsFromFlags();
//   if (!options.ok()) ...;  // "--code_length must be from 4 to 10"
//   ProfileServer::Start(options->server);
//
// Each component validates its own options (`Validate()`), so a range lives
// beside the component it protects; this file only maps. Adding a provider
// adds its flags here and maps them onto its options.
//
// Thread-safety: call after absl::ParseCommandLine(), from one thread.
#ifndef PROFILE_SERVER_FLAGS_SERVER_FLAGS_H_
#define PROFILE_SERVER_FLAGS_SERVER_FLAGS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/common/log.h"
#include "server/server.h"

namespace profile {

// Everything profile_server is told by its flags.
struct ProgramOptions {
  ServerOptions server;
  // --migrate_only: bring the PostgreSQL schema up to date and exit.
  bool migrate_only = false;
  // On SIGTERM: time between NOT_SERVING and closing the listener, then the
  // time calls in flight get to finish.
  absl::Duration drain_delay = absl::ZeroDuration();
  absl::Duration shutdown_grace = absl::Seconds(10);
  LogLevel log_level = LogLevel::kInfo;

  // Returns OK if the shutdown durations are in range (0s to 5m each),
  // else INVALID_ARGUMENT naming the flag. `server` validates itself.
  absl::Status Validate() const;
};

// Returns the options the parsed flags give, or INVALID_ARGUMENT naming the
// flag that cannot be mapped or is out of range.
absl::StatusOr<ProgramOptions> ProgramOptionsFromFlags();

}  // namespace profile

#endif  // PROFILE_SERVER_FLAGS_SERVER_FLAGS_H_
