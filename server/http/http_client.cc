#include "server/http/http_client.h"

#include <curl/curl.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "server/common/files.h"
#include "server/common/flag_error.h"
#include "server/http/curl_library.h"

namespace profile {
namespace {

// Easy handles kept for reuse: each keeps its connections alive.
constexpr size_t kMaxIdleHandles = 512;
// The most of a response kept; a provider's answer is small.
constexpr size_t kMaxResponseBytes = 1 << 20;

struct CurlDeleter {
  const CurlLibrary* curl;
  void operator()(CURL* easy) const { curl->curl_easy_cleanup(easy); }
};
using CurlHandle = std::unique_ptr<CURL, CurlDeleter>;

struct SlistDeleter {
  const CurlLibrary* curl;
  void operator()(curl_slist* list) const { curl->curl_slist_free_all(list); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

struct X509Deleter {
  void operator()(X509* cert) const { X509_free(cert); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;

// What a transfer writes into.
struct Received {
  HttpResponse response;
  bool too_big = false;
};

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* received = static_cast<Received*>(user);
  const size_t n = size * count;
  if (received->response.body.size() + n > kMaxResponseBytes) {
    received->too_big = true;
    return 0;  // aborts the transfer
  }
  received->response.body.append(data, n);
  return n;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* received = static_cast<Received*>(user);
  const size_t n = size * count;
  absl::string_view line(data, n);
  if (absl::StartsWith(line, "HTTP/")) {
    // A new response (after a 100 Continue): forget the earlier headers.
    received->response.headers.clear();
    return n;
  }
  const size_t colon = line.find(':');
  if (colon == absl::string_view::npos) return n;
  std::string name(absl::StripAsciiWhitespace(line.substr(0, colon)));
  absl::AsciiStrToLower(&name);
  received->response.headers.emplace_back(
      std::move(name),
      std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
  return n;
}

// Adds the extra CAs to the system's store of each new TLS context.
CURLcode AddCas(CURL*, void* ssl_ctx, void* user) {
  const auto* cas = static_cast<const std::vector<X509Ptr>*>(user);
  X509_STORE* store = SSL_CTX_get_cert_store(static_cast<SSL_CTX*>(ssl_ctx));
  for (const X509Ptr& ca : *cas) X509_STORE_add_cert(store, ca.get());
  return CURLE_OK;
}

// The host of `url`, for messages (never the path or query: they may name
// an account).
std::string HostOf(absl::string_view url) {
  absl::string_view rest = url;
  const size_t scheme = rest.find("://");
  if (scheme != absl::string_view::npos) rest.remove_prefix(scheme + 3);
  return std::string(rest.substr(0, rest.find('/')));
}

class CurlHttpClient final : public HttpClient {
 public:
  CurlHttpClient(const CurlLibrary& curl, std::vector<X509Ptr> cas)
      : curl_(curl), cas_(std::move(cas)) {}

  absl::StatusOr<HttpResponse> Do(const HttpRequest& request) override {
    CurlHandle curl = TakeHandle();
    if (curl == nullptr) {
      return absl::UnavailableError("cannot start an HTTP transfer");
    }
    CURL* c = curl.get();
    Received received;
    Slist headers(nullptr, SlistDeleter{&curl_});
    for (const auto& [name, value] : request.headers) {
      headers.reset(curl_.curl_slist_append(
          headers.release(), absl::StrCat(name, ": ", value).c_str()));
    }
    // No "Expect: 100-continue" round trip before a body.
    headers.reset(curl_.curl_slist_append(headers.release(), "Expect:"));
    curl_.curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
    curl_.curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    if (request.method == "GET") {
      curl_.curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else {
      curl_.curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.data());
      curl_.curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                             static_cast<curl_off_t>(request.body.size()));
    }
    curl_.curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    if (!request.basic_user.empty()) {
      curl_.curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
      curl_.curl_easy_setopt(c, CURLOPT_USERNAME, request.basic_user.c_str());
      curl_.curl_easy_setopt(c, CURLOPT_PASSWORD,
                             request.basic_password.c_str());
    } else {
      curl_.curl_easy_setopt(c, CURLOPT_USERNAME, nullptr);
      curl_.curl_easy_setopt(c, CURLOPT_PASSWORD, nullptr);
    }
    const int64_t timeout_ms =
        std::max<int64_t>(1, absl::ToInt64Milliseconds(request.timeout));
    curl_.curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                           static_cast<long>(timeout_ms));
    curl_.curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                           static_cast<long>(timeout_ms));
    curl_.curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
    curl_.curl_easy_setopt(c, CURLOPT_WRITEDATA, &received);
    curl_.curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_.curl_easy_setopt(c, CURLOPT_HEADERDATA, &received);

    const CURLcode code = curl_.curl_easy_perform(c);
    // The handle outlives this call; nothing may point into it.
    curl_.curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
    curl_.curl_easy_setopt(c, CURLOPT_POSTFIELDS, nullptr);
    if (code != CURLE_OK) {
      // A failed handle may hold a broken connection: do not keep it.
      if (received.too_big) {
        return absl::UnavailableError(absl::StrCat(
            HostOf(request.url), " answered more than ", kMaxResponseBytes,
            " bytes"));
      }
      return absl::UnavailableError(
          absl::StrCat("HTTP request to ", HostOf(request.url),
                       " failed: ", curl_.curl_easy_strerror(code)));
    }
    long status = 0;
    curl_.curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    received.response.status = static_cast<int>(status);
    ReturnHandle(std::move(curl));
    return std::move(received.response);
  }

 private:
  CurlHandle TakeHandle() {
    {
      absl::MutexLock lock(&mu_);
      if (!idle_.empty()) {
        CurlHandle curl = std::move(idle_.back());
        idle_.pop_back();
        return curl;
      }
    }
    CurlHandle curl(curl_.curl_easy_init(), CurlDeleter{&curl_});
    if (curl == nullptr) return curl;
    CURL* c = curl.get();
    curl_.curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_.curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_.curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_.curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_.curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_.curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    curl_.curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_.curl_easy_setopt(c, CURLOPT_USERAGENT, "profile-service");
    if (!cas_.empty()) {
      curl_.curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, AddCas);
      curl_.curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, &cas_);
    }
    return curl;
  }

  void ReturnHandle(CurlHandle curl) {
    absl::MutexLock lock(&mu_);
    if (idle_.size() < kMaxIdleHandles) idle_.push_back(std::move(curl));
  }

  const CurlLibrary& curl_;
  const std::vector<X509Ptr> cas_;
  absl::Mutex mu_;
  std::vector<CurlHandle> idle_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<std::vector<X509Ptr>> ReadCas(const std::string& path) {
  absl::StatusOr<std::string> pem = ReadFlagFile("sms_ca_file", path);
  if (!pem.ok()) return pem.status();
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())), BIO_free);
  std::vector<X509Ptr> cas;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    cas.emplace_back(cert);
  }
  if (cas.empty()) {
    return InvalidFlagError("sms_ca_file",
                            absl::StrCat(path, " holds no PEM certificate"));
  }
  return cas;
}

bool IsLoopbackHost(absl::string_view host) {
  if (host == "localhost" || host == "[::1]") return true;
  std::vector<absl::string_view> octets = absl::StrSplit(host, '.');
  if (octets.size() != 4 || octets[0] != "127") return false;
  for (absl::string_view octet : octets) {
    int value = 0;
    if (!absl::SimpleAtoi(octet, &value) || value < 0 || value > 255) {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::string_view HttpResponse::Header(absl::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return "";
}

absl::StatusOr<std::unique_ptr<HttpClient>> HttpClient::New(
    const HttpClientOptions& options) {
  absl::StatusOr<const CurlLibrary*> curl = LoadCurl();
  if (!curl.ok()) return curl.status();
  std::vector<X509Ptr> cas;
  if (!options.ca_file.empty()) {
    absl::StatusOr<std::vector<X509Ptr>> read = ReadCas(options.ca_file);
    if (!read.ok()) return read.status();
    cas = *std::move(read);
  }
  return std::make_unique<CurlHttpClient>(**curl, std::move(cas));
}

absl::Status CheckProviderUrl(absl::string_view flag, absl::string_view url) {
  absl::string_view rest = url;
  const bool https = absl::ConsumePrefix(&rest, "https://");
  const bool http = !https && absl::ConsumePrefix(&rest, "http://");
  if (!https && !http) {
    return InvalidFlagError(flag, "must be an https:// URL");
  }
  absl::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.empty() || absl::StrContains(authority, '@') ||
      absl::StrContains(url, ' ')) {
    return InvalidFlagError(flag, "must be an https:// URL with a host, "
                                  "without credentials or spaces");
  }
  if (http) {
    // Strip the port: "127.0.0.1:8080", "[::1]:8080", "localhost".
    absl::string_view host = authority;
    const size_t colon = host.rfind(':');
    if (colon != absl::string_view::npos &&
        host.find(']', colon) == absl::string_view::npos) {
      host = host.substr(0, colon);
    }
    if (!IsLoopbackHost(host)) {
      return InvalidFlagError(
          flag, "must be https://; plain http:// is allowed only to a "
                "loopback address (127.0.0.1, ::1, localhost)");
    }
  }
  return absl::OkStatus();
}

std::string PercentEncode(absl::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3);
  for (unsigned char c : text) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' ||
        c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string FormEncode(const HttpFields& fields) {
  std::string out;
  for (const auto& [name, value] : fields) {
    if (!out.empty()) out.push_back('&');
    absl::StrAppend(&out, PercentEncode(name), "=", PercentEncode(value));
  }
  return out;
}

absl::Duration ParseRetryAfter(absl::string_view value) {
  int64_t seconds = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(value), &seconds) ||
      seconds < 0) {
    return absl::ZeroDuration();
  }
  return absl::Seconds(std::min<int64_t>(seconds, 24 * 3600));
}

}  // namespace profile
