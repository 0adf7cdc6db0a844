// sms_receiver: a stand-in SMS provider for load tests of the HTTP SMS
// providers: an HttpTestServer that answers every request after --delay
// with --status and the JSON body {}, and counts what it receives.
//
//   build/tests/bench/sms_receiver --port=0 --delay=50ms
//   (HTTPS: add --tls_cert=server.crt --tls_key=server.key)
//   listening on 40123
//   ... point the server's provider URL at http(s)://127.0.0.1:40123 ...
//   (SIGTERM or SIGINT)
//   received 183004 requests
//
// "listening on PORT" is printed (and flushed) once it accepts connections;
// it serves until SIGTERM or SIGINT, then prints the number of requests.
#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/time/time.h"
#include "tests/testing/http_test_server.h"

ABSL_FLAG(int, port, 0, "TCP port on 127.0.0.1; 0 picks a free one");
ABSL_FLAG(absl::Duration, delay, absl::Milliseconds(50),
          "how long each answer waits");
ABSL_FLAG(int, status, 200, "the HTTP status of every answer");
ABSL_FLAG(std::string, tls_cert, "",
          "serve HTTPS with this certificate chain (PEM); needs --tls_key");
ABSL_FLAG(std::string, tls_key, "", "the private key (PEM) of --tls_cert");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string cert = absl::GetFlag(FLAGS_tls_cert);
  const std::string key = absl::GetFlag(FLAGS_tls_key);
  if (cert.empty() != key.empty()) {
    std::fprintf(stderr, "sms_receiver: --tls_cert and --tls_key go together\n");
    return 2;
  }

  // Blocked before any thread starts, so that every thread inherits the
  // mask and sigwait() below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  profile::testing::HttpTestServerOptions options;
  options.port = absl::GetFlag(FLAGS_port);
  options.tls = !cert.empty();
  options.cert_file = cert;
  options.key_file = key;
  options.record_requests = false;  // counts only: flat memory under load
  const absl::Duration delay = absl::GetFlag(FLAGS_delay);
  const int status = absl::GetFlag(FLAGS_status);
  options.handler = [delay, status](const profile::testing::HttpTestRequest&) {
    profile::testing::HttpTestReply reply;
    reply.status = status;
    reply.headers = {{"Content-Type", "application/json"}};
    reply.body = "{}";
    reply.delay = delay;
    return reply;
  };
  std::unique_ptr<profile::testing::HttpTestServer> server =
      profile::testing::HttpTestServer::Start(std::move(options));
  std::printf("listening on %d\n", server->port());
  std::fflush(stdout);

  int signal = 0;
  sigwait(&signals, &signal);
  server->Stop();
  std::printf("received %zu requests\n", server->request_count());
  std::fflush(stdout);
  return 0;
}
