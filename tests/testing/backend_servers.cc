#include "tests/testing/backend_servers.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace profile::testing {
namespace {

// Finds a PostgreSQL server binary: Debian keeps them per major version.
std::string PostgresBinary(const std::string& name) {
  for (const char* version : {"17", "16", "15", "14", "13"}) {
    std::string path =
        absl::StrCat("/usr/lib/postgresql/", version, "/bin/", name);
    if (access(path.c_str(), X_OK) == 0) return path;
  }
  return name;
}

// The user that PostgreSQL runs as: ourselves, unless we are root.
const passwd* PostgresUser() {
  return geteuid() == 0 ? getpwnam("postgres") : nullptr;
}

// Forks and execs `argv`, as `user` when given, with stdout and stderr to
// `log_path`. Returns the pid, or -1.
pid_t Spawn(const std::vector<std::string>& argv, const passwd* user,
            const std::string& log_path) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (log >= 0) {
    dup2(log, STDOUT_FILENO);
    dup2(log, STDERR_FILENO);
  }
  int null = open("/dev/null", O_RDONLY);
  if (null >= 0) dup2(null, STDIN_FILENO);
  setpgid(0, 0);  // a terminal's Ctrl-C is the test runner's business
  if (user != nullptr &&
      (setgid(user->pw_gid) != 0 || setuid(user->pw_uid) != 0)) {
    _exit(126);
  }
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  execvp(args[0], args.data());
  _exit(127);
}

// Runs `argv` to completion; returns its exit code.
int RunToExit(const std::vector<std::string>& argv, const passwd* user,
              const std::string& log_path) {
  pid_t pid = Spawn(argv, user, log_path);
  if (pid < 0) return -1;
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Sends `signal` to `pid` and reaps it, killing it after `timeout`.
void StopProcess(pid_t pid, int signal, absl::Duration timeout) {
  if (pid <= 0) return;
  kill(pid, signal);
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) return;
    absl::SleepFor(absl::Milliseconds(10));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

bool IsAlive(pid_t pid) {
  return pid > 0 && waitpid(pid, nullptr, WNOHANG) == 0;
}

bool RedisAnswers(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = false;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const char ping[] = "PING\r\n";
    char reply[16] = {};
    ok = write(fd, ping, sizeof(ping) - 1) == sizeof(ping) - 1 &&
         read(fd, reply, sizeof(reply) - 1) > 0 &&
         std::string(reply).rfind("+PONG", 0) == 0;
  }
  close(fd);
  return ok;
}

}  // namespace

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t length = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// ---- Redis ----

RedisServer::~RedisServer() { Stop(); }

std::string RedisServer::url() const {
  return absl::StrCat("redis://127.0.0.1:", port_);
}

bool RedisServer::Start() {
  // Kept across restarts, like a server's data directory.
  if (dir_ == nullptr) dir_ = std::make_unique<TestDir>("profile_redis");
  const std::string& dir = dir_->path();
  if (port_ == 0) port_ = FreePort();
  pid_ = Spawn({"redis-server", "--bind", "127.0.0.1", "--port",
                absl::StrCat(port_), "--dir", dir, "--save", "",
                "--appendonly", "no", "--protected-mode", "no",
                "--daemonize", "no"},
               nullptr, dir + "/redis.log");
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline) {
    if (RedisAnswers(port_)) return true;
    if (!IsAlive(pid_)) {
      error_ = absl::StrCat("redis-server exited; see ", dir, "/redis.log");
      pid_ = -1;
      return false;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  error_ = "redis-server did not answer PING within 20s";
  return false;
}

void RedisServer::Stop() {
  StopProcess(pid_, SIGTERM, absl::Seconds(10));
  pid_ = -1;
}

// ---- PostgreSQL ----

PostgresServer::~PostgresServer() { Stop(); }

std::string PostgresServer::url(const std::string& name) const {
  return absl::StrCat("postgresql://postgres@127.0.0.1:", port_, "/", name);
}

bool PostgresServer::Start() {
  const passwd* user = PostgresUser();
  if (geteuid() == 0 && user == nullptr) {
    error_ = "running as root, and there is no postgres user to run as";
    return false;
  }
  const bool fresh = dir_ == nullptr;
  if (fresh) dir_ = std::make_unique<TestDir>("profile_postgres");
  const std::string& dir = dir_->path();
  if (fresh) {
    if (user != nullptr && chown(dir.c_str(), user->pw_uid, user->pw_gid) != 0) {
      error_ = "cannot hand the temporary directory to postgres";
      return false;
    }
    port_ = FreePort();
    const std::string log = dir + "/initdb.log";
    if (RunToExit({PostgresBinary("initdb"), "-D", dir + "/data", "-U",
                   "postgres", "--auth=trust", "--no-sync", "-E", "UTF8",
                   "--locale=C.UTF-8"},
                  user, log) != 0) {
      error_ = absl::StrCat("initdb failed; see ", log);
      return false;
    }
  }
  pid_ = Spawn({PostgresBinary("postgres"), "-D", dir + "/data", "-p",
                absl::StrCat(port_), "-k", dir, "-c",
                "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c",
                "max_connections=200"},
               user, dir + "/postgres.log");
  const std::string conninfo =
      absl::StrCat("host=127.0.0.1 port=", port_, " user=postgres dbname=postgres");
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    if (PQping(conninfo.c_str()) == PQPING_OK) return true;
    if (!IsAlive(pid_)) {
      error_ = absl::StrCat("postgres exited; see ", dir, "/postgres.log");
      pid_ = -1;
      return false;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  error_ = "postgres did not accept connections within 30s";
  return false;
}

void PostgresServer::Stop() {
  StopProcess(pid_, SIGINT, absl::Seconds(20));  // SIGINT: fast shutdown
  pid_ = -1;
}

bool PostgresServer::Exec(const std::string& name, const std::string& sql) {
  const std::string conninfo = absl::StrCat(
      "host=127.0.0.1 port=", port_, " user=postgres dbname=", name);
  PGconn* conn = PQconnectdb(conninfo.c_str());
  bool ok = PQstatus(conn) == CONNECTION_OK;
  if (ok) {
    PGresult* result = PQexec(conn, sql.c_str());
    const ExecStatusType status = PQresultStatus(result);
    ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
    if (!ok) error_ = PQresultErrorMessage(result);
    PQclear(result);
  } else {
    error_ = PQerrorMessage(conn);
  }
  PQfinish(conn);
  return ok;
}

std::string PostgresServer::NewDatabase() {
  const std::string name = absl::StrCat("profile_test_", ++databases_);
  if (!Exec("postgres", absl::StrCat("CREATE DATABASE ", name))) return "";
  return url(name);
}

}  // namespace profile::testing
