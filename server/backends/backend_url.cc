#include "server/backends/backend_url.h"

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace profile {
namespace {

absl::Status Bad(absl::string_view scheme, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "the ", scheme, " URL ", why, "; expected ", scheme,
      "://[user][:password@]host:port[/database]"));
}

bool PercentDecode(absl::string_view in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    int value = 0;
    if (i + 2 >= in.size() ||
        !absl::SimpleHexAtoi(in.substr(i + 1, 2), &value)) {
      return false;
    }
    out->push_back(static_cast<char>(value));
    i += 2;
  }
  return true;
}

}  // namespace

std::string BackendUrl::Redacted() const {
  std::string auth;
  if (!user.empty() || !password.empty()) {
    auth = absl::StrCat(user, password.empty() ? "" : ":***", "@");
  }
  const bool v6 = absl::StrContains(host, ':');
  return absl::StrCat(auth, v6 ? "[" : "", host, v6 ? "]" : "", ":", port,
                      database.empty() ? "" : "/", database);
}

absl::StatusOr<BackendUrl> ParseBackendUrl(absl::string_view url,
                                           absl::string_view scheme,
                                           const char* password_env) {
  BackendUrl out;
  absl::string_view rest = url;
  const std::string prefix = absl::StrCat(scheme, "://");
  if (!absl::ConsumePrefix(&rest, prefix)) {
    return Bad(scheme, absl::StrCat("does not start with ", prefix));
  }
  for (char c : rest) {
    if (absl::ascii_iscntrl(static_cast<unsigned char>(c)) || c == ' ') {
      return Bad(scheme, "has spaces or control characters");
    }
  }
  if (size_t at = rest.rfind('@'); at != absl::string_view::npos) {
    absl::string_view auth = rest.substr(0, at);
    rest.remove_prefix(at + 1);
    absl::string_view user = auth, password;
    if (size_t colon = auth.find(':'); colon != absl::string_view::npos) {
      user = auth.substr(0, colon);
      password = auth.substr(colon + 1);
    }
    if (!PercentDecode(user, &out.user) ||
        !PercentDecode(password, &out.password)) {
      return Bad(scheme, "has a malformed %-escape in its user or password");
    }
  }
  absl::string_view host_port = rest;
  if (size_t slash = rest.find('/'); slash != absl::string_view::npos) {
    host_port = rest.substr(0, slash);
    out.database = std::string(rest.substr(slash + 1));
    if (size_t query = out.database.find('?'); query != std::string::npos) {
      return Bad(scheme, "has query parameters, which are not supported");
    }
  }
  absl::string_view port_text;
  if (absl::StartsWith(host_port, "[")) {
    size_t close = host_port.find(']');
    if (close == absl::string_view::npos) return Bad(scheme, "has an open [");
    out.host = std::string(host_port.substr(1, close - 1));
    absl::string_view after = host_port.substr(close + 1);
    if (!absl::ConsumePrefix(&after, ":")) return Bad(scheme, "has no port");
    port_text = after;
  } else {
    size_t colon = host_port.rfind(':');
    if (colon == absl::string_view::npos) return Bad(scheme, "has no port");
    out.host = std::string(host_port.substr(0, colon));
    port_text = host_port.substr(colon + 1);
  }
  if (out.host.empty()) return Bad(scheme, "has no host");
  if (!absl::SimpleAtoi(port_text, &out.port) || out.port < 1 ||
      out.port > 65535) {
    return Bad(scheme, "has no valid port (1 to 65535)");
  }
  if (out.password.empty() && password_env != nullptr) {
    if (const char* env = std::getenv(password_env); env != nullptr) {
      out.password = env;
    }
  }
  return out;
}

}  // namespace profile
