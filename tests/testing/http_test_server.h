// HttpTestServer: a real HTTP/1.1 server on 127.0.0.1 (optionally over TLS)
// that stands in for an SMS or verification provider in tests. It records
// every request it receives and answers what the test's handler says.
//
//   TestDir dir;
//   TestPki pki = MakeTestPki(dir.path());               // test_crypto.h
//   HttpTestServerOptions options;
//   options.tls = true;
//   options.cert_file = pki.server_cert;
//   options.key_file = pki.server_key;
//   options.handler = [](const HttpTestRequest& request) {
//     HttpTestReply reply;
//     reply.status = 201;
//     reply.body = R"({"sid":"SM1"})";
//     return reply;
//   };
//   std::unique_ptr<HttpTestServer> server =
//       HttpTestServer::Start(std::move(options));
//   ... point the client at server->url() (https://127.0.0.1:PORT) ...
//   ASSERT_TRUE(server->WaitForRequests(1, absl::Seconds(5)));
//   EXPECT_EQ(server->requests()[0].Header("content-type"), "...");
//
// Keep-alive with Content-Length bodies (chunked request bodies get 501),
// `Connection: close` and `Expect: 100-continue` are understood; every
// answer carries a Content-Length. A reply can also be late
// (HttpTestReply::delay), never come (kHang), not be HTTP (kGarbage) or be a
// closed connection (kClose): the failures a provider client must survive.
//
// One thread per connection. Start() ignores SIGPIPE in the process (when it
// is at its default) so that writing to a connection the client closed is an
// error, not the test's death.
//
// Thread-safety: every method is safe to call concurrently; the handler is
// called concurrently, from the connections' threads.
#ifndef PROFILE_TESTS_TESTING_HTTP_TEST_SERVER_H_
#define PROFILE_TESTS_TESTING_HTTP_TEST_SERVER_H_

#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace profile::testing {

// One request as received.
struct HttpTestRequest {
  std::string method;
  // The path and query as sent, e.g. "/v2/Services/VA1/Verifications?x=1".
  std::string target;
  // In arrival order; names in lower case, values without surrounding
  // whitespace.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // Returns the value of the first header named `lower_name`, or "".
  std::string Header(absl::string_view lower_name) const;
};

// What to answer to one request.
struct HttpTestReply {
  enum class Kind {
    kNormal,   // The HTTP response below.
    kHang,     // No answer ever; the connection stays open until the client
               // closes it or Stop().
    kGarbage,  // Bytes that are not HTTP, then the connection is closed.
    kClose,    // The connection is closed without an answer.
  };

  int status = 200;
  // Sent as given; Content-Length is added (one set here is ignored).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Waited before answering (or closing), on this connection only.
  absl::Duration delay = absl::ZeroDuration();
  Kind kind = Kind::kNormal;
};

using HttpTestHandler = std::function<HttpTestReply(const HttpTestRequest&)>;

struct HttpTestServerOptions {
  // The port on 127.0.0.1; 0 (what tests use) picks an ephemeral one.
  int port = 0;
  // HTTPS with `cert_file` (PEM, the chain) and `key_file` (PEM), TLS 1.2+.
  bool tls = false;
  std::string cert_file;
  std::string key_file;
  // Answers each request; empty answers 200 with the JSON body {}.
  HttpTestHandler handler;
  // Keeps a copy of every request for requests(). A load test that only
  // counts turns it off so that memory stays flat.
  bool record_requests = true;
};

class HttpTestServer {
 public:
  // Listens on 127.0.0.1 (at an ephemeral port unless options.port is set)
  // and serves in the background.
  // Aborts the test binary with the reason if it cannot (bad certificate or
  // key, no socket): a test without its provider has nothing to test.
  static std::unique_ptr<HttpTestServer> Start(HttpTestServerOptions options);

  // Stop()s.
  ~HttpTestServer();
  HttpTestServer(const HttpTestServer&) = delete;
  HttpTestServer& operator=(const HttpTestServer&) = delete;

  int port() const { return port_; }
  // Returns "http://127.0.0.1:PORT" or "https://127.0.0.1:PORT".
  std::string url() const;

  // Replaces the handler for the requests that arrive from now on (empty:
  // the default handler).
  void SetHandler(HttpTestHandler handler);

  // Returns copies of the requests received so far (recorded ones only), in
  // arrival order.
  std::vector<HttpTestRequest> requests() const;
  // Returns the number of requests received, recorded or not.
  size_t request_count() const;
  // Waits until request_count() >= n; returns false if `timeout` passes
  // first.
  bool WaitForRequests(size_t n, absl::Duration timeout) const;
  // Forgets the recorded requests and sets request_count() back to zero.
  void ClearRequests();
  // Returns the number of connections accepted so far.
  size_t connection_count() const;

  // Stops listening, closes every connection (waking those that hang, sleep
  // or sit idle) and joins all threads. Returns promptly; idempotent.
  void Stop();

 private:
  struct Connection;
  using HandlerPtr = std::shared_ptr<const HttpTestHandler>;

  HttpTestServer() = default;

  void AcceptLoop();
  void Serve(Connection* connection);
  // Answers one parsed request as `handler` says, in `out`; returns false
  // if the connection must close.
  bool Answer(Connection* connection, const HttpTestHandler& handler,
              const HttpTestRequest& request, bool keep_alive,
              std::string* out);
  // Counts (and records) `request`; returns the handler to answer it.
  HandlerPtr Record(const HttpTestRequest& request) ABSL_LOCKS_EXCLUDED(mu_);
  // Joins and frees the connections whose thread has finished.
  void ReapFinished() ABSL_LOCKS_EXCLUDED(mu_);

  bool tls_ = false;
  bool record_requests_ = true;
  SSL_CTX* ssl_ctx_ = nullptr;
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread accept_thread_;
  // Notified by Stop(): ends the accept loop. (Stop() ends delays and hangs
  // by shutting the connections' sockets down.)
  absl::Notification stopping_;

  mutable absl::Mutex mu_;
  // Signalled when a request is recorded.
  mutable absl::CondVar received_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  HandlerPtr handler_ ABSL_GUARDED_BY(mu_);
  std::vector<HttpTestRequest> requests_ ABSL_GUARDED_BY(mu_);
  size_t request_count_ ABSL_GUARDED_BY(mu_) = 0;
  size_t connection_count_ ABSL_GUARDED_BY(mu_) = 0;
  std::list<std::unique_ptr<Connection>> connections_ ABSL_GUARDED_BY(mu_);
  size_t finished_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace profile::testing

#endif  // PROFILE_TESTS_TESTING_HTTP_TEST_SERVER_H_
