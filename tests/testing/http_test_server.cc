#include "tests/testing/http_test_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace profile::testing {
namespace {

// A request head larger than this is refused (431) rather than buffered.
constexpr size_t kMaxHeadBytes = 64 * 1024;
// A request body larger than this is refused (413).
constexpr size_t kMaxBodyBytes = 64 * 1024 * 1024;

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "http_test_server: %s\n", why.c_str());
  std::abort();
}

std::string OpenSslError() {
  const unsigned long code = ERR_get_error();  // NOLINT(runtime/int)
  if (code == 0) return "unknown OpenSSL error";
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return text;
}

absl::string_view Reason(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
  }
}

HttpTestReply DefaultReply(const HttpTestRequest&) {
  HttpTestReply reply;
  reply.headers = {{"Content-Type", "application/json"}};
  reply.body = "{}";
  return reply;
}

// Parses the request line and header fields of `head` (without the blank
// line) into `request`; sets `version` ("HTTP/1.1"). Returns false if it is
// not an HTTP/1.x request head.
bool ParseHead(absl::string_view head, HttpTestRequest* request,
               absl::string_view* version) {
  size_t line_end = head.find("\r\n");
  absl::string_view line = head.substr(0, line_end);
  const size_t space1 = line.find(' ');
  if (space1 == absl::string_view::npos || space1 == 0) return false;
  const size_t space2 = line.find(' ', space1 + 1);
  if (space2 == absl::string_view::npos || space2 == space1 + 1) return false;
  *version = line.substr(space2 + 1);
  if (!absl::StartsWith(*version, "HTTP/1.")) return false;
  request->method.assign(line.data(), space1);
  request->target.assign(line.data() + space1 + 1, space2 - space1 - 1);
  while (line_end != absl::string_view::npos) {
    const size_t start = line_end + 2;
    line_end = head.find("\r\n", start);
    line = head.substr(start, line_end == absl::string_view::npos
                                  ? absl::string_view::npos
                                  : line_end - start);
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos || colon == 0) return false;
    absl::string_view name = line.substr(0, colon);
    for (char c : name) {
      if (c == ' ' || c == '\t') return false;
    }
    request->headers.emplace_back(
        absl::AsciiStrToLower(name),
        std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
  }
  return true;
}

}  // namespace

struct HttpTestServer::Connection {
  int fd = -1;
  SSL* ssl = nullptr;
  std::thread thread;
  // Guarded by the server's mu_: Serve() has returned.
  bool finished = false;

  // Returns what SSL_read / recv return: > 0 bytes, else closed or failed.
  ssize_t Read(char* buffer, size_t size) {
    if (ssl != nullptr) {
      const int n = SSL_read(ssl, buffer, static_cast<int>(size));
      if (n <= 0) ERR_clear_error();
      return n;
    }
    while (true) {
      const ssize_t n = recv(fd, buffer, size, 0);
      if (n < 0 && errno == EINTR) continue;
      return n;
    }
  }

  // Waits `delay`; returns false early if the socket is shut down (by
  // Stop()) or fails. Each connection waits on its own socket: no lock is
  // shared by the sleepers.
  bool Sleep(absl::Duration delay) {
    const absl::Time deadline = absl::Now() + delay;
    while (true) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return true;
      // No events asked: poll() reports only POLLHUP (both directions shut
      // down) and POLLERR, not the client's next bytes.
      pollfd entry = {fd, 0, 0};
      const int ready = poll(
          &entry, 1,
          static_cast<int>(absl::ToInt64Milliseconds(
              absl::Ceil(std::min(left, absl::Hours(1)),
                         absl::Milliseconds(1)))));
      if (ready > 0) return false;
      if (ready < 0 && errno != EINTR) return false;
    }
  }

  // Returns false if the connection failed.
  bool WriteAll(absl::string_view data) {
    if (data.empty()) return true;
    if (ssl != nullptr) {
      // Without SSL_MODE_ENABLE_PARTIAL_WRITE, SSL_write writes all or
      // fails.
      if (SSL_write(ssl, data.data(), static_cast<int>(data.size())) > 0) {
        return true;
      }
      ERR_clear_error();
      return false;
    }
    while (!data.empty()) {
      const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
};

std::string HttpTestRequest::Header(absl::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return value;
  }
  return "";
}

std::unique_ptr<HttpTestServer> HttpTestServer::Start(
    HttpTestServerOptions options) {
  // Writing to a connection the client has closed must fail, not kill. (TLS
  // writes go through OpenSSL's socket BIO, which cannot pass MSG_NOSIGNAL.)
  struct sigaction pipe_action;
  if (sigaction(SIGPIPE, nullptr, &pipe_action) == 0 &&
      pipe_action.sa_handler == SIG_DFL) {
    signal(SIGPIPE, SIG_IGN);
  }

  std::unique_ptr<HttpTestServer> server(new HttpTestServer());
  server->tls_ = options.tls;
  server->record_requests_ = options.record_requests;
  server->SetHandler(std::move(options.handler));

  if (options.tls) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == nullptr) Die("SSL_CTX_new: " + OpenSslError());
    server->ssl_ctx_ = ctx;
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
      Die("SSL_CTX_set_min_proto_version: " + OpenSslError());
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, options.cert_file.c_str()) !=
        1) {
      Die(absl::StrCat("cannot use certificate ", options.cert_file, ": ",
                       OpenSslError()));
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, options.key_file.c_str(),
                                    SSL_FILETYPE_PEM) != 1) {
      Die(absl::StrCat("cannot use key ", options.key_file, ": ",
                       OpenSslError()));
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
      Die(absl::StrCat("key ", options.key_file, " does not match ",
                       options.cert_file, ": ", OpenSslError()));
    }
  }

  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) Die(absl::StrCat("socket: ", std::strerror(errno)));
  server->listen_fd_ = fd;
  // SO_REUSEADDR only: never SO_REUSEPORT, so that no stale server can share
  // the port.
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(options.port));
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    Die(absl::StrCat("bind 127.0.0.1:", options.port, ": ",
                     std::strerror(errno)));
  }
  if (listen(fd, 1024) != 0) {
    Die(absl::StrCat("listen: ", std::strerror(errno)));
  }
  socklen_t size = sizeof(address);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    Die(absl::StrCat("getsockname: ", std::strerror(errno)));
  }
  server->port_ = ntohs(address.sin_port);
  server->accept_thread_ = std::thread(&HttpTestServer::AcceptLoop,
                                       server.get());
  return server;
}

HttpTestServer::~HttpTestServer() {
  Stop();
  if (ssl_ctx_ != nullptr) SSL_CTX_free(ssl_ctx_);
  if (listen_fd_ >= 0) close(listen_fd_);
}

std::string HttpTestServer::url() const {
  return absl::StrCat(tls_ ? "https" : "http", "://127.0.0.1:", port_);
}

void HttpTestServer::SetHandler(HttpTestHandler handler) {
  HandlerPtr shared = std::make_shared<const HttpTestHandler>(
      handler ? std::move(handler) : HttpTestHandler(&DefaultReply));
  absl::MutexLock lock(&mu_);
  handler_ = std::move(shared);
}

std::vector<HttpTestRequest> HttpTestServer::requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

size_t HttpTestServer::request_count() const {
  absl::MutexLock lock(&mu_);
  return request_count_;
}

bool HttpTestServer::WaitForRequests(size_t n, absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  while (request_count_ < n) {
    // WaitWithTimeout, not WaitWithDeadline: the one TSan builds teach
    // TSan about (tests/sanitizers/tsan_absl_mutex.cc).
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    received_.WaitWithTimeout(&mu_, left);
  }
  return true;
}

void HttpTestServer::ClearRequests() {
  absl::MutexLock lock(&mu_);
  requests_.clear();
  request_count_ = 0;
}

size_t HttpTestServer::connection_count() const {
  absl::MutexLock lock(&mu_);
  return connection_count_;
}

HttpTestServer::HandlerPtr HttpTestServer::Record(
    const HttpTestRequest& request) {
  absl::MutexLock lock(&mu_);
  ++request_count_;
  if (record_requests_) requests_.push_back(request);
  received_.SignalAll();
  return handler_;
}

void HttpTestServer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  stopping_.Notify();
  // Wakes the blocked accept() (it fails with EINVAL).
  shutdown(listen_fd_, SHUT_RDWR);
  if (accept_thread_.joinable()) accept_thread_.join();
  std::list<std::unique_ptr<Connection>> connections;
  {
    absl::MutexLock lock(&mu_);
    // The descriptors stay open until the threads are joined, so none of
    // these can be a descriptor reused by someone else.
    for (const auto& connection : connections_) {
      shutdown(connection->fd, SHUT_RDWR);
    }
    connections.swap(connections_);
  }
  for (const auto& connection : connections) {
    connection->thread.join();
    if (connection->ssl != nullptr) SSL_free(connection->ssl);
    close(connection->fd);
  }
}

void HttpTestServer::ReapFinished() {
  std::list<std::unique_ptr<Connection>> finished;
  {
    absl::MutexLock lock(&mu_);
    if (finished_ == 0) return;
    for (auto it = connections_.begin(); it != connections_.end();) {
      auto next = std::next(it);
      if ((*it)->finished) finished.splice(finished.end(), connections_, it);
      it = next;
    }
    finished_ = 0;
  }
  for (const auto& connection : finished) {
    connection->thread.join();
    if (connection->ssl != nullptr) SSL_free(connection->ssl);
    close(connection->fd);
  }
}

void HttpTestServer::AcceptLoop() {
  while (!stopping_.HasBeenNotified()) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (stopping_.HasBeenNotified()) break;
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
          errno == ENOMEM) {
        ReapFinished();
        absl::SleepFor(absl::Milliseconds(10));
        continue;
      }
      Die(absl::StrCat("accept: ", std::strerror(errno)));
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    ReapFinished();
    auto connection = std::make_unique<Connection>();
    connection->fd = fd;
    Connection* raw = connection.get();
    absl::MutexLock lock(&mu_);
    if (stopped_) {
      close(fd);
      break;
    }
    connections_.push_back(std::move(connection));
    ++connection_count_;
    // Started under mu_ so that Stop() never sees a connection without its
    // thread.
    raw->thread = std::thread(&HttpTestServer::Serve, this, raw);
  }
}

void HttpTestServer::Serve(Connection* connection) {
  bool handshake_ok = true;
  if (tls_) {
    connection->ssl = SSL_new(ssl_ctx_);
    if (connection->ssl == nullptr ||
        SSL_set_fd(connection->ssl, connection->fd) != 1 ||
        SSL_accept(connection->ssl) != 1) {
      // E.g. a client that does not trust the certificate.
      ERR_clear_error();
      handshake_ok = false;
    }
  }

  char chunk[16 * 1024];
  std::string in;
  std::string out;
  size_t scanned = 0;  // `in` up to here holds no "\r\n\r\n"
  bool clean_close = false;
  while (handshake_ok) {
    const size_t head_end =
        in.find("\r\n\r\n", scanned >= 3 ? scanned - 3 : 0);
    if (head_end == std::string::npos) {
      if (in.size() > kMaxHeadBytes) {
        connection->WriteAll(
            "HTTP/1.1 431 Request Header Fields Too Large\r\n"
            "Content-Length: 0\r\nConnection: close\r\n\r\n");
        break;
      }
      scanned = in.size();
      const ssize_t n = connection->Read(chunk, sizeof(chunk));
      if (n <= 0) {
        clean_close = in.empty();
        break;
      }
      in.append(chunk, static_cast<size_t>(n));
      continue;
    }

    HttpTestRequest request;
    absl::string_view version;
    const size_t body_start = head_end + 4;
    if (!ParseHead(absl::string_view(in).substr(0, head_end), &request,
                   &version)) {
      connection->WriteAll(
          "HTTP/1.1 400 Bad Request\r\n"
          "Content-Length: 0\r\nConnection: close\r\n\r\n");
      break;
    }
    // `version` points into `in`, which reading the body may reallocate:
    // decide with it now.
    const bool http11 = version == "HTTP/1.1";
    const std::string transfer_encoding = request.Header("transfer-encoding");
    if (!transfer_encoding.empty() &&
        !absl::EqualsIgnoreCase(transfer_encoding, "identity")) {
      Record(request);
      connection->WriteAll(
          "HTTP/1.1 501 Not Implemented\r\n"
          "Content-Length: 0\r\nConnection: close\r\n\r\n");
      break;
    }
    size_t content_length = 0;
    const std::string length_text = request.Header("content-length");
    if (!length_text.empty() &&
        !absl::SimpleAtoi(length_text, &content_length)) {
      connection->WriteAll(
          "HTTP/1.1 400 Bad Request\r\n"
          "Content-Length: 0\r\nConnection: close\r\n\r\n");
      break;
    }
    if (content_length > kMaxBodyBytes) {
      connection->WriteAll(
          "HTTP/1.1 413 Content Too Large\r\n"
          "Content-Length: 0\r\nConnection: close\r\n\r\n");
      break;
    }
    if (in.size() - body_start < content_length &&
        absl::EqualsIgnoreCase(request.Header("expect"), "100-continue") &&
        !connection->WriteAll("HTTP/1.1 100 Continue\r\n\r\n")) {
      break;
    }
    bool complete = true;
    while (in.size() - body_start < content_length) {
      const ssize_t n = connection->Read(chunk, sizeof(chunk));
      if (n <= 0) {
        complete = false;
        break;
      }
      in.append(chunk, static_cast<size_t>(n));
    }
    if (!complete) break;
    request.body.assign(in, body_start, content_length);
    in.erase(0, body_start + content_length);
    scanned = 0;

    const std::string connection_header =
        absl::AsciiStrToLower(request.Header("connection"));
    const bool keep_alive =
        http11
            ? !absl::StrContains(connection_header, "close")
            : absl::StrContains(connection_header, "keep-alive");
    const HandlerPtr handle = Record(request);
    if (!Answer(connection, *handle, request, keep_alive, &out)) break;
    if (!keep_alive) {
      clean_close = true;
      break;
    }
  }

  if (clean_close && connection->ssl != nullptr) {
    SSL_shutdown(connection->ssl);  // close_notify, best effort
    ERR_clear_error();
  }
  // The client sees the end now; the descriptor is closed when the thread
  // is joined.
  shutdown(connection->fd, SHUT_RDWR);
  absl::MutexLock lock(&mu_);
  connection->finished = true;
  ++finished_;
}

bool HttpTestServer::Answer(Connection* connection,
                            const HttpTestHandler& handler,
                            const HttpTestRequest& request, bool keep_alive,
                            std::string* out) {
  const HttpTestReply reply = handler(request);
  if (reply.kind == HttpTestReply::Kind::kHang) {
    // Reads (and drops) until the client gives up or Stop() shuts the
    // socket down.
    char chunk[4096];
    while (connection->Read(chunk, sizeof(chunk)) > 0) {
    }
    return false;
  }
  if (reply.delay > absl::ZeroDuration() &&
      !connection->Sleep(reply.delay)) {
    return false;
  }
  switch (reply.kind) {
    case HttpTestReply::Kind::kClose:
      return false;
    case HttpTestReply::Kind::kGarbage:
      connection->WriteAll("\x01\x02 not http\r\n\r\n");
      return false;
    default:
      break;
  }
  out->clear();
  absl::StrAppend(out, "HTTP/1.1 ", reply.status, " ", Reason(reply.status),
                  "\r\n");
  for (const auto& [name, value] : reply.headers) {
    if (absl::EqualsIgnoreCase(name, "content-length") ||
        absl::EqualsIgnoreCase(name, "connection")) {
      continue;
    }
    absl::StrAppend(out, name, ": ", value, "\r\n");
  }
  absl::StrAppend(out, "Content-Length: ", reply.body.size(), "\r\n");
  if (!keep_alive) out->append("Connection: close\r\n");
  out->append("\r\n");
  if (request.method != "HEAD") out->append(reply.body);
  return connection->WriteAll(*out);
}

}  // namespace profile::testing
