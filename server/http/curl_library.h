// CurlLibrary: the libcurl functions the HTTP client calls, from libcurl
// loaded (dlopen, server/common/shared_library.h) when the first HttpClient
// is made. A server whose SMS sender and code verifier need no HTTP never
// maps libcurl and the ~15 libraries it brings (nghttp2, libssh2, librtmp,
// GnuTLS...). <curl/curl.h> still gives the types and constants.
//
//   absl::StatusOr<const CurlLibrary*> curl = LoadCurl();
//   if (!curl.ok()) return curl.status();
//   CURL* easy = (*curl)->curl_easy_init();
//
// Each member is the libcurl function of the same name.
//
// Thread-safety: LoadCurl() may be called concurrently; the table it returns
// is immutable and lives as long as the process.
#ifndef PROFILE_SERVER_HTTP_CURL_LIBRARY_H_
#define PROFILE_SERVER_HTTP_CURL_LIBRARY_H_

#include <curl/curl.h>

#include "absl/status/statusor.h"

namespace profile {

struct CurlLibrary {
  decltype(&::curl_global_init) curl_global_init;
  decltype(&::curl_easy_init) curl_easy_init;
  decltype(&::curl_easy_setopt) curl_easy_setopt;
  decltype(&::curl_easy_perform) curl_easy_perform;
  decltype(&::curl_easy_getinfo) curl_easy_getinfo;
  decltype(&::curl_easy_cleanup) curl_easy_cleanup;
  decltype(&::curl_easy_strerror) curl_easy_strerror;
  decltype(&::curl_slist_append) curl_slist_append;
  decltype(&::curl_slist_free_all) curl_slist_free_all;
};

// Returns libcurl, loaded and curl_global_init()ed by the first call that
// succeeds (the soname of Debian's libcurl4, from the build). Returns
// FAILED_PRECONDITION naming the library if it cannot be loaded; a later
// call tries again.
absl::StatusOr<const CurlLibrary*> LoadCurl();

// Returns the functions of the libcurl `soname`, without initializing it.
// LoadCurl() is this for the build's soname, once; for tests of the errors.
absl::StatusOr<CurlLibrary> OpenCurl(const char* soname);

}  // namespace profile

#endif  // PROFILE_SERVER_HTTP_CURL_LIBRARY_H_
