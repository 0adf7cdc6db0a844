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
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
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

// Returns true if 127.0.0.1:`port` accepts a TCP connection.
bool Accepts(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok =
      connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

// Returns the contents of `path` from byte `offset` on ("" if unreadable).
std::string ReadFrom(const std::string& path, size_t offset = 0) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream contents;
  contents << in.rdbuf();
  std::string text = contents.str();
  return offset < text.size() ? text.substr(offset) : "";
}

// Copies `from` to `to` with `mode`, owned by `user` when given: PostgreSQL
// only reads a key file that its own user owns and nobody else can read.
bool CopyPrivate(const std::string& from, const std::string& to, mode_t mode,
                 const passwd* user) {
  std::ifstream in(from, std::ios::binary);
  std::ofstream out(to, std::ios::binary | std::ios::trunc);
  out << in.rdbuf();
  out.close();
  if (!in.good() || !out.good() || chmod(to.c_str(), mode) != 0) return false;
  return user == nullptr || chown(to.c_str(), user->pw_uid, user->pw_gid) == 0;
}

}  // namespace

bool RedisAnswersPlaintext(int port) { return RedisAnswers(port); }

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

void RedisServer::EnableTls(const std::string& cert_file,
                            const std::string& key_file,
                            const std::string& ca_file,
                            const std::string& password) {
  tls_cert_file_ = cert_file;
  tls_key_file_ = key_file;
  tls_ca_file_ = ca_file;
  password_ = password;
}

bool RedisServer::Start() {
  // Kept across restarts, like a server's data directory.
  if (dir_ == nullptr) dir_ = std::make_unique<TestDir>("profile_redis");
  const std::string& dir = dir_->path();
  if (port_ == 0) port_ = FreePort();
  const std::string log = dir + "/redis.log";
  const bool tls = !tls_cert_file_.empty();
  std::vector<std::string> argv = {
      "redis-server", "--bind", "127.0.0.1", "--dir", dir, "--save", "",
      "--appendonly", "no", "--protected-mode", "no", "--daemonize", "no"};
  if (tls) {
    argv.insert(argv.end(),
                {"--port", "0", "--tls-port", absl::StrCat(port_),
                 "--tls-cert-file", tls_cert_file_, "--tls-key-file",
                 tls_key_file_, "--tls-ca-cert-file", tls_ca_file_,
                 "--tls-auth-clients", "no"});
  } else {
    argv.insert(argv.end(), {"--port", absl::StrCat(port_)});
  }
  if (!password_.empty()) argv.insert(argv.end(), {"--requirepass", password_});
  // A plaintext PING cannot reach a TLS port: then readiness is the log
  // line of this run.
  const size_t log_offset = ReadFrom(log).size();
  pid_ = Spawn(argv, nullptr, log);
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline) {
    if (tls ? absl::StrContains(ReadFrom(log, log_offset),
                                "Ready to accept connections")
            : RedisAnswers(port_)) {
      return true;
    }
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

// ---- stunnel ----

StunnelClient::~StunnelClient() { Stop(); }

std::string StunnelClient::redis_url(const std::string& password) const {
  return absl::StrCat("redis://", password.empty() ? "" : ":", password,
                      password.empty() ? "" : "@", "127.0.0.1:", port_);
}

std::string StunnelClient::log() const {
  return dir_ == nullptr ? "" : ReadFrom(dir_->File("stunnel.log"));
}

bool StunnelClient::Start(int connect_port, const std::string& ca_file,
                          const std::string& check_host) {
  if (dir_ == nullptr) dir_ = std::make_unique<TestDir>("profile_stunnel");
  if (port_ == 0) port_ = FreePort();
  // The production sidecar's settings (deploy/overlays/production), with
  // this test's ports and files; foreground, so that Stop() stops it.
  const std::string config = dir_->Write(
      "stunnel.conf",
      absl::StrCat("foreground = yes\n"
                   "syslog = no\n"
                   "pid = ", dir_->File("stunnel.pid"), "\n",
                   "debug = info\n"
                   "[redis]\n"
                   "client = yes\n"
                   "accept = 127.0.0.1:", port_, "\n",
                   "connect = 127.0.0.1:", connect_port, "\n",
                   "verifyChain = yes\n"
                   "CAfile = ", ca_file, "\n",
                   "checkHost = ", check_host, "\n"));
  pid_ = Spawn({"stunnel", config}, nullptr, dir_->File("stunnel.log"));
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline) {
    if (Accepts(port_)) return true;
    int status = 0;
    if (pid_ > 0 && waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      error_ = WIFEXITED(status) && WEXITSTATUS(status) == 127
                   ? "stunnel is not installed (Debian package stunnel4; "
                     "run deploy/install-deps.sh --test)"
                   : absl::StrCat("stunnel exited: ", log());
      return false;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  error_ = absl::StrCat("stunnel did not accept connections within 20s: ",
                        log());
  return false;
}

void StunnelClient::Stop() {
  StopProcess(pid_, SIGTERM, absl::Seconds(10));
  pid_ = -1;
}

// ---- PostgreSQL ----

PostgresServer::~PostgresServer() { Stop(); }

std::string PostgresServer::url(const std::string& name) const {
  return absl::StrCat("postgresql://postgres@127.0.0.1:", port_, "/", name);
}

void PostgresServer::EnableTls(const std::string& cert_file,
                               const std::string& key_file) {
  tls_cert_file_ = cert_file;
  tls_key_file_ = key_file;
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
    // TCP over TLS only; the socket in `dir` stays open for local tools.
    // The superuser is trusted (the tests' own connections); every other
    // role needs its password, e.g. from a password file.
    if (!tls_cert_file_.empty() &&
        (!CopyPrivate(tls_cert_file_, dir + "/data/server.crt", 0644, user) ||
         !CopyPrivate(tls_key_file_, dir + "/data/server.key", 0600, user) ||
         !CopyPrivate(dir_->Write("pg_hba.conf",
                                  "local all all trust\n"
                                  "hostssl all postgres 127.0.0.1/32 trust\n"
                                  "hostssl all all 127.0.0.1/32 "
                                  "scram-sha-256\n"),
                      dir + "/data/pg_hba.conf", 0600, user))) {
      error_ = "cannot give postgres its certificate, key and pg_hba.conf";
      return false;
    }
  }
  std::vector<std::string> argv = {
      PostgresBinary("postgres"), "-D", dir + "/data", "-p",
      absl::StrCat(port_), "-k", dir, "-c", "listen_addresses=127.0.0.1",
      "-c", "fsync=off", "-c", "max_connections=200"};
  if (!tls_cert_file_.empty()) {
    // Relative to the data directory.
    argv.insert(argv.end(), {"-c", "ssl=on", "-c", "ssl_cert_file=server.crt",
                             "-c", "ssl_key_file=server.key"});
  }
  pid_ = Spawn(argv, user, dir + "/postgres.log");
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
