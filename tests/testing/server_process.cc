#include "tests/testing/server_process.h"

#include <fcntl.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"

namespace profile::testing {

ServerProcess::~ServerProcess() {
  if (pid_ > 0) Stop(SIGKILL);
  if (reader_.joinable()) reader_.join();
}

bool ServerProcess::Start(const std::string& binary,
                          std::vector<std::string> args,
                          absl::Duration timeout) {
  bool has_listen = false;
  for (const std::string& arg : args) {
    if (absl::StartsWith(arg, "--listen") ||
        absl::StartsWith(arg, "--flagfile")) {
      has_listen = true;
    }
  }
  if (!has_listen) args.push_back("--listen=127.0.0.1:0");

  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return false;
  pid_ = fork();
  if (pid_ < 0) return false;
  if (pid_ == 0) {
    dup2(pipe_fds[1], STDERR_FILENO);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(binary.c_str()));
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  reader_ = std::thread([this, fd = pipe_fds[0]] { ReadLog(fd); });

  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    {
      absl::MutexLock lock(&mu_);
      for (absl::string_view line : absl::StrSplit(log_, '\n')) {
        if (!absl::StrContains(line, "\"serving\"")) continue;
        nlohmann::json parsed = nlohmann::json::parse(line, nullptr, false);
        if (parsed.is_object() && parsed["port"].is_string() &&
            absl::SimpleAtoi(parsed["port"].get<std::string>(), &port_)) {
          return true;
        }
      }
    }
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_code_ = Reap(status);
      return false;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return false;
}

int ServerProcess::Reap(int status) {
  pid_ = -1;
  if (reader_.joinable()) reader_.join();
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

int ServerProcess::Wait(absl::Duration timeout) {
  if (pid_ <= 0) return exit_code_;
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    int status;
    pid_t done = waitpid(pid_, &status, WNOHANG);
    if (done == pid_) return exit_code_ = Reap(status);
    absl::SleepFor(absl::Milliseconds(5));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
  return -1;
}

int ServerProcess::Stop(int signal, absl::Duration timeout) {
  if (pid_ <= 0) return -1;
  kill(pid_, signal);
  return Wait(timeout);
}

bool ServerProcess::Maps(absl::string_view name) const {
  std::ifstream maps(absl::StrCat("/proc/", pid_, "/maps"));
  for (std::string line; std::getline(maps, line);) {
    if (absl::StrContains(line, name)) return true;
  }
  return false;
}

std::string ServerProcess::log() const {
  absl::MutexLock lock(&mu_);
  return log_;
}

bool ServerProcess::WaitForLog(absl::string_view text,
                               absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  while (!absl::StrContains(log(), text)) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

void ServerProcess::ReadLog(int fd) {
  char buffer[4096];
  while (true) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    absl::MutexLock lock(&mu_);
    log_.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
}

std::pair<int, std::string> RunToExit(const std::string& binary,
                                      std::vector<std::string> args) {
  ServerProcess server;
  if (server.Start(binary, std::move(args), absl::Seconds(10))) {
    server.Stop(SIGKILL);
    return {1000, server.log()};
  }
  return {server.Wait(absl::Seconds(10)), server.log()};
}

int PortField(const std::string& log, const std::string& field) {
  const std::string key = "\"" + field + "\":\"";
  const size_t at = log.find(key);
  return at == std::string::npos ? 0 : std::atoi(log.c_str() + at + key.size());
}

}  // namespace profile::testing
