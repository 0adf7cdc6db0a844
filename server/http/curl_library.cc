#include "server/http/curl_library.h"

#include "absl/base/const_init.h"
#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/common/shared_library.h"

namespace profile {
namespace {

ABSL_CONST_INIT absl::Mutex loaded_mu(absl::kConstInit);
// Never freed: libcurl is never unloaded.
const CurlLibrary* loaded ABSL_GUARDED_BY(loaded_mu) = nullptr;

}  // namespace

absl::StatusOr<CurlLibrary> OpenCurl(const char* soname) {
  absl::StatusOr<SharedLibrary> library =
      SharedLibrary::Open(soname, PROFILE_CURL_PACKAGE);
  if (!library.ok()) return library.status();
  CurlLibrary curl;
  for (absl::Status found : {
           library->Resolve("curl_global_init", &curl.curl_global_init),
           library->Resolve("curl_easy_init", &curl.curl_easy_init),
           library->Resolve("curl_easy_setopt", &curl.curl_easy_setopt),
           library->Resolve("curl_easy_perform", &curl.curl_easy_perform),
           library->Resolve("curl_easy_getinfo", &curl.curl_easy_getinfo),
           library->Resolve("curl_easy_cleanup", &curl.curl_easy_cleanup),
           library->Resolve("curl_easy_strerror", &curl.curl_easy_strerror),
           library->Resolve("curl_slist_append", &curl.curl_slist_append),
           library->Resolve("curl_slist_free_all", &curl.curl_slist_free_all),
       }) {
    if (!found.ok()) return found;
  }
  return curl;
}

absl::StatusOr<const CurlLibrary*> LoadCurl() {
  absl::MutexLock lock(&loaded_mu);
  if (loaded == nullptr) {
    absl::StatusOr<CurlLibrary> curl = OpenCurl(PROFILE_CURL_SONAME);
    if (!curl.ok()) return curl.status();
    // Not thread-safe in libcurl: once, under the lock.
    curl->curl_global_init(CURL_GLOBAL_DEFAULT);
    loaded = new CurlLibrary(*curl);
  }
  return loaded;
}

}  // namespace profile
