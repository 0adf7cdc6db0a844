// SharedLibrary: a library loaded at run time (dlopen) instead of linked,
// for the libraries that only some configurations use. libcurl (HTTP SMS
// providers) and libpq (--postgres_url) each bring a dozen or more libraries
// of their own; linked, every server would map them and bind their symbols
// at start. Each has a loader that resolves the functions the server calls
// into a table of function pointers (server/http/curl_library.h,
// server/backends/libpq_library.h); the library's own header still gives
// the types.
//
//   absl::StatusOr<SharedLibrary> library =
//       SharedLibrary::Open("libpq.so.5", "libpq5");
//   if (!library.ok()) return library.status();
//   decltype(&::PQclear) clear = nullptr;
//   absl::Status found = library->Resolve("PQclear", &clear);
//
// A library once opened stays loaded for the life of the process, so the
// functions resolved from it stay valid.
//
// Thread-safety: Open() may be called concurrently; Resolve() is const.
#ifndef PROFILE_SERVER_COMMON_SHARED_LIBRARY_H_
#define PROFILE_SERVER_COMMON_SHARED_LIBRARY_H_

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace profile {

class SharedLibrary {
 public:
  // Loads `soname` (a name the dynamic loader looks up, "libpq.so.5").
  // Returns FAILED_PRECONDITION naming it, the Debian `package` that ships
  // it and the loader's reason if it cannot be loaded.
  static absl::StatusOr<SharedLibrary> Open(const char* soname,
                                            const char* package);

  // Sets `*function` to the function `name` of the library. Returns
  // FAILED_PRECONDITION naming both if the library has no such function
  // (a version too old).
  template <typename Function>
  absl::Status Resolve(const char* name, Function* function) const {
    void* address = nullptr;
    absl::Status found = Find(name, &address);
    *function = reinterpret_cast<Function>(address);
    return found;
  }

 private:
  SharedLibrary(void* handle, std::string soname, std::string package)
      : handle_(handle),
        soname_(std::move(soname)),
        package_(std::move(package)) {}

  absl::Status Find(const char* name, void** address) const;

  void* handle_;
  std::string soname_;
  std::string package_;
};

}  // namespace profile

#endif  // PROFILE_SERVER_COMMON_SHARED_LIBRARY_H_
