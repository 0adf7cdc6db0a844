// Reading the small files flags point at: keys, certificates, secrets.
//
//   absl::StatusOr<std::string> pem =
//       ReadFlagFile("tls_cert_file", "/etc/profile/tls/tls.crt");
//   if (!pem.ok()) return pem.status();  // "--tls_cert_file: cannot read ..."
//
// Thread-safety: pure functions.
#ifndef PROFILE_SERVER_COMMON_FILES_H_
#define PROFILE_SERVER_COMMON_FILES_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace profile {

// The largest file ReadFlagFile() reads, in bytes.
inline constexpr size_t kMaxFlagFileBytes = 1 << 20;

// Returns the contents of `path`, or INVALID_ARGUMENT naming `--flag`, the
// path and the reason (missing, unreadable, a directory, empty, over 1 MiB).
absl::StatusOr<std::string> ReadFlagFile(absl::string_view flag,
                                         const std::string& path);

// Returns the secret in the file at `path` without its trailing line breaks
// (`echo secret > file` leaves one), or INVALID_ARGUMENT naming `--flag`: as
// ReadFlagFile(), or when fewer than `min_bytes` remain.
absl::StatusOr<std::string> ReadSecretFile(absl::string_view flag,
                                           const std::string& path,
                                           size_t min_bytes = 1);

}  // namespace profile

#endif  // PROFILE_SERVER_COMMON_FILES_H_
