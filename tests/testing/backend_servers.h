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

  // Starts redis-server (again on the same port after Stop()) and waits
  // until it answers PING.
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
  std::string error_;
};

class PostgresServer {
 public:
  PostgresServer() = default;
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

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
  std::string error_;
};

}  // namespace profile::testing

#endif  // PROFILE_TESTS_TESTING_BACKEND_SERVERS_H_
