#include "server/common/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace profile {
namespace {

absl::Status Unreadable(absl::string_view flag, const std::string& path,
                        absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("--", flag, ": cannot read ", path, ": ", why));
}

}  // namespace

absl::StatusOr<std::string> ReadFlagFile(absl::string_view flag,
                                         const std::string& path) {
  if (path.empty()) return Unreadable(flag, path, "no path given");
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Unreadable(flag, path, std::strerror(errno));
  struct stat info;
  if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    close(fd);
    return Unreadable(flag, path, "not a regular file");
  }
  if (info.st_size > static_cast<off_t>(kMaxFlagFileBytes)) {
    close(fd);
    return Unreadable(flag, path, "larger than 1 MiB");
  }
  std::string contents;
  char buffer[4096];
  while (true) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      close(fd);
      return Unreadable(flag, path, std::strerror(error));
    }
    if (n == 0) break;
    contents.append(buffer, static_cast<size_t>(n));
    if (contents.size() > kMaxFlagFileBytes) {
      close(fd);
      return Unreadable(flag, path, "larger than 1 MiB");
    }
  }
  close(fd);
  if (contents.empty()) return Unreadable(flag, path, "the file is empty");
  return contents;
}

absl::StatusOr<std::string> ReadSecretFile(absl::string_view flag,
                                           const std::string& path,
                                           size_t min_bytes) {
  absl::StatusOr<std::string> secret = ReadFlagFile(flag, path);
  if (!secret.ok()) return secret.status();
  while (!secret->empty() &&
         (secret->back() == '\n' || secret->back() == '\r')) {
    secret->pop_back();
  }
  if (secret->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": ", path, " holds only a newline"));
  }
  if (secret->size() < min_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, " must hold at least ", min_bytes, " bytes of secret"));
  }
  return secret;
}

}  // namespace profile
