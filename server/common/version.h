// The version of this build: PROFILE_VERSION (CMake's project(VERSION)) and
// the git commit the build was configured at. No timestamp, so that a build
// of one commit is reproducible.
//
//   profile_server --version
//   // profile_server 1.0.0 (commit 86a6560c3f1e)
//
// Thread-safety: constants.
#ifndef PROFILE_SERVER_COMMON_VERSION_H_
#define PROFILE_SERVER_COMMON_VERSION_H_

#include <string>

#include "absl/strings/string_view.h"

namespace profile {

// Returns the release version, "1.0.0".
absl::string_view ProfileVersion();

// Returns the git commit (12 hex digits) CMake was configured at, or "" if
// it was not configured in a git checkout.
absl::string_view ProfileGitCommit();

// Returns what `--version` prints: "profile_server 1.0.0 (commit
// 86a6560c3f1e)\n", without the commit part when it is unknown.
std::string VersionText();

}  // namespace profile

#endif  // PROFILE_SERVER_COMMON_VERSION_H_
