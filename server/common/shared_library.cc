#include "server/common/shared_library.h"

#include <dlfcn.h>

#include <utility>

#include "absl/strings/str_cat.h"

namespace profile {

absl::StatusOr<SharedLibrary> SharedLibrary::Open(const char* soname,
                                                  const char* package) {
  // RTLD_NOW: a missing symbol fails here, at start, not in a later call.
  // RTLD_LOCAL: its symbols stay out of the global scope. Never closed.
  void* handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return absl::FailedPreconditionError(
        absl::StrCat("cannot load ", soname, " (Debian package ", package,
                     "): ", why != nullptr ? why : "unknown error"));
  }
  return SharedLibrary(handle, soname, package);
}

absl::Status SharedLibrary::Find(const char* name, void** address) const {
  dlerror();  // clears an earlier error
  *address = dlsym(handle_, name);
  if (*address == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(soname_, " has no function ", name, " (Debian package ",
                     package_, " too old?)"));
  }
  return absl::OkStatus();
}

}  // namespace profile
