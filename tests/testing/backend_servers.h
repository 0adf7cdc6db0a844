// Real Redis and PostgreSQL servers for tests: started on 127.0.0.1 at free
// ports, in temporary directories, and stopped (and removed) by the
// destructor.
//
//   RedisServer redis;
//   ASSERT_TRUE(redis.Start()) << redis.error();
//   options.redis_url = redis.url();
//
//   PostgresServer postgres;
//   ASSERT_TRUE(postgres.Start()) << postgres.error();
//   options.postgres_url = postgres.NewDatabase();
//
// PostgreSQL refuses to run as root, so when the tests run as root its
// processes run as the `postgres` user.
//
// Either server can serve TLS only (EnableTls() before the first Start()),
// and StunnelClient is the plaintext-to-TLS tunnel that production runs
// beside the server for Redis:
//
//   redis.EnableTls(pki.server_cert, pki.server_key, pki.ca_cert);
//   StunnelClient tunnel;
//   ASSERT_TRUE(tunnel.Start(redis.port(), pki.ca_cert, "localhost"));
//   options.redis_url = tunnel.url();
//
// Thread-safety: use each from one thread.
#ifndef PROFILE_TESTS_TESTING_BACKEND_SERVERS_H_
#define PROFILE_TESTS_TESTING_BACKEND_SERVERS_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "tests/testing/test_dir.h"

namespace profile::testing {

// Returns a TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();

class RedisServer {
 public:
  RedisServer() = default;
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // Makes Start() serve TLS only, with a certificate and its key (PEM), on
  // port(): the plaintext port is off (--port 0), so the only way in is
  // TLS. Clients need no certificate. Commands need `password` unless it
  // is empty.
  void EnableTls(const std::string& cert_file, const std::string& key_file,
                 const std::string& ca_file, const std::string& password = "");

  // Starts redis-server (again on the same port after Stop()) and waits
  // until it answers PING (with TLS: until it says it is ready).
  bool Start();
  // Stops it (SIGTERM) and waits for the exit.
  void Stop();

  int port() const { return port_; }
  std::string url() const;
  const std::string& error() const { return error_; }

 private:
  std::unique_ptr<TestDir> dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  std::string tls_cert_file_;
  std::string tls_key_file_;
  std::string tls_ca_file_;
  std::string password_;
  std::string error_;
};

// Returns true if a plaintext PING to 127.0.0.1:`port` gets +PONG.
bool RedisAnswersPlaintext(int port);

// stunnel in client mode: accepts plaintext on 127.0.0.1 at a free port and
// forwards it over TLS to 127.0.0.1:`connect_port`, verifying the server's
// certificate against `ca_file` and the host name `check_host`, as the
// production sidecar does.
class StunnelClient {
 public:
  StunnelClient() = default;
  ~StunnelClient();
  StunnelClient(const StunnelClient&) = delete;
  StunnelClient& operator=(const StunnelClient&) = delete;

  // Starts `stunnel` in the foreground and waits until it accepts
  // connections. Fails (see error()) if the binary is missing.
  bool Start(int connect_port, const std::string& ca_file,
             const std::string& check_host);
  // Stops it (SIGTERM) and waits for the exit.
  void Stop();

  int port() const { return port_; }
  // redis://[:password@]127.0.0.1:port().
  std::string redis_url(const std::string& password = "") const;
  // What stunnel logged so far.
  std::string log() const;
  const std::string& error() const { return error_; }

 private:
  std::unique_ptr<TestDir> dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  std::string error_;
};

class PostgresServer {
 public:
  PostgresServer() = default;
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // Makes Start() serve TLS with a certificate and its key (PEM), and
  // accept TCP connections over TLS only (pg_hba.conf: hostssl): from
  // `postgres` without a password, from other roles with theirs
  // (scram-sha-256). REQUIRES: called before the first Start().
  void EnableTls(const std::string& cert_file, const std::string& key_file);

  // Creates a cluster (first time) and starts it (again on the same port
  // after Stop()); waits until it accepts connections.
  bool Start();
  // Stops it (fast shutdown) and waits for the exit.
  void Stop();

  int port() const { return port_; }
  // Creates a fresh database and returns its URL.
  std::string NewDatabase();
  // The URL of database `name`.
  std::string url(const std::string& name) const;
  // Runs `sql` in database `name`; returns false (and sets error()) on
  // failure.
  bool Exec(const std::string& name, const std::string& sql);
  const std::string& error() const { return error_; }

 private:
  std::unique_ptr<TestDir> dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  int databases_ = 0;
  std::string tls_cert_file_;
  std::string tls_key_file_;
  std::string error_;
};

}  // namespace profile::testing

#endif  // PROFILE_TESTS_TESTING_BACKEND_SERVERS_H_
