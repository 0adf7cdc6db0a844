// ServerProcess: the real profile_server binary, started as a child process
// on 127.0.0.1 port 0, for tests that need the whole program (flags,
// signals, exit codes).
//
//   ServerProcess server;
//   ASSERT_TRUE(server.Start({"--token_ttl=1s"}));
//   Connect to 127.0.0.1:server.port() ...
//   EXPECT_EQ(server.Stop(SIGTERM), 0);
//
// The server's stderr (its JSON log) is collected in the background; the
// port comes from its "serving" line.
//
// Thread-safety: use from one thread, except log(), which is safe anywhere.
#ifndef PROFILE_TESTS_TESTING_SERVER_PROCESS_H_
#define PROFILE_TESTS_TESTING_SERVER_PROCESS_H_

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace profile::testing {

class ServerProcess {
 public:
  ServerProcess() = default;
  ~ServerProcess();

  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Runs `binary` with `args` (plus --listen=127.0.0.1:0 unless an arg sets
  // --listen or --flagfile) and waits up to `timeout` for it to serve.
  // Returns false if it exited or never said it serves.
  bool Start(const std::string& binary, std::vector<std::string> args,
             absl::Duration timeout = absl::Seconds(20));

  // The port from the "serving" log line.
  int port() const { return port_; }
  pid_t pid() const { return pid_; }

  // Sends `signal` and waits up to `timeout` for the exit; returns the exit
  // code, 128 + signal if it died of a signal, or -1 on timeout (then it is
  // killed).
  int Stop(int signal, absl::Duration timeout = absl::Seconds(30));

  // Waits up to `timeout` for the process to exit by itself; returns as
  // Stop() does. After a Start() that failed because the process exited,
  // returns that exit code at once.
  int Wait(absl::Duration timeout);

  // Everything the process wrote to stderr so far.
  std::string log() const;

  // Waits up to `timeout` for log() to hold `text`; returns whether it
  // does. stderr is read in the background: a line the server wrote before
  // an answer may reach this process just after the answer.
  bool WaitForLog(absl::string_view text,
                  absl::Duration timeout = absl::Seconds(5)) const;

  // Returns whether the running process maps a file whose path contains
  // `name` (/proc/<pid>/maps), e.g. a library it loaded: "/libcurl.so.".
  bool Maps(absl::string_view name) const;

 private:
  void ReadLog(int fd);
  // Reaps the child and returns its exit code as Stop() does.
  int Reap(int status);

  pid_t pid_ = -1;
  int port_ = 0;
  int exit_code_ = -1;
  std::thread reader_;
  mutable absl::Mutex mu_;
  std::string log_ ABSL_GUARDED_BY(mu_);
};

// Runs `binary` with `args` to completion when it is expected not to start
// serving; returns its exit code (1000 if it served after all) and its log.
std::pair<int, std::string> RunToExit(const std::string& binary,
                                      std::vector<std::string> args);

// Returns the port a log line reports in `field` ("metrics_port":"9090"),
// or 0 if `log` has none.
int PortField(const std::string& log, const std::string& field);

}  // namespace profile::testing

#endif  // PROFILE_TESTS_TESTING_SERVER_PROCESS_H_
