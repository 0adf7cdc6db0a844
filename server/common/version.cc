#include "server/common/version.h"

#include "absl/strings/str_cat.h"

// Defined for this file only (server/CMakeLists.txt), so that a new commit
// recompiles nothing else.
#ifndef PROFILE_VERSION
#error "PROFILE_VERSION must be defined by the build"
#endif
#ifndef PROFILE_GIT_COMMIT
#define PROFILE_GIT_COMMIT ""
#endif

namespace profile {

absl::string_view ProfileVersion() { return PROFILE_VERSION; }

absl::string_view ProfileGitCommit() { return PROFILE_GIT_COMMIT; }

std::string VersionText() {
  if (ProfileGitCommit().empty()) {
    return absl::StrCat("profile_server ", ProfileVersion(), "\n");
  }
  return absl::StrCat("profile_server ", ProfileVersion(), " (commit ",
                      ProfileGitCommit(), ")\n");
}

}  // namespace profile
