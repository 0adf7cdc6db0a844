#include "tests/testing/http_test_server.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/standard_webhooks.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_crypto.h"
#include "tests/testing/test_dir.h"

namespace profile::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

using Fields = std::vector<std::pair<std::string, std::string>>;

struct CurlResult {
  CURLcode code = CURLE_OK;
  long status = 0;  // NOLINT(runtime/int): libcurl's type
  // Lower-case names, trimmed values, of the final response (and any 100).
  Fields headers;
  std::string body;

  std::string Header(absl::string_view name) const {
    for (const auto& [key, value] : headers) {
      if (key == name) return value;
    }
    return "";
  }
};

size_t AppendBody(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

size_t AppendHeader(char* data, size_t size, size_t count, void* out) {
  absl::string_view line(data, size * count);
  const size_t colon = line.find(':');
  if (colon != absl::string_view::npos) {
    static_cast<Fields*>(out)->emplace_back(
        absl::AsciiStrToLower(line.substr(0, colon)),
        std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
  }
  return size * count;
}

struct CurlRequest {
  std::string url;
  std::string method = "POST";
  std::vector<std::string> headers;
  std::string body;
  std::string ca_file;
  absl::Duration timeout = absl::Seconds(10);
};

CurlRequest Get(std::string url) {
  CurlRequest request;
  request.url = std::move(url);
  request.method = "GET";
  return request;
}

CurlRequest Post(std::string url, std::vector<std::string> headers,
                 std::string body) {
  CurlRequest request;
  request.url = std::move(url);
  request.headers = std::move(headers);
  request.body = std::move(body);
  return request;
}

// Makes `request` on `easy` (which keeps its connection between calls).
CurlResult Perform(CURL* easy, const CurlRequest& request) {
  CurlResult result;
  curl_slist* headers = nullptr;
  for (const std::string& header : request.headers) {
    headers = curl_slist_append(headers, header.c_str());
  }
  curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  if (request.method == "POST") {
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE,
                     static_cast<long>(request.body.size()));  // NOLINT
  } else {
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
  }
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &AppendBody);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &result.body);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &AppendHeader);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &result.headers);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(  // NOLINT(runtime/int)
                       absl::ToInt64Milliseconds(request.timeout)));
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  if (!request.ca_file.empty()) {
    curl_easy_setopt(easy, CURLOPT_CAINFO, request.ca_file.c_str());
  }
  result.code = curl_easy_perform(easy);
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &result.status);
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(headers);
  return result;
}

struct EasyDeleter {
  void operator()(CURL* easy) const { curl_easy_cleanup(easy); }
};
using Easy = std::unique_ptr<CURL, EasyDeleter>;

Easy NewEasy() { return Easy(curl_easy_init()); }

// One request on a fresh handle.
CurlResult Fetch(const CurlRequest& request) {
  Easy easy = NewEasy();
  return Perform(easy.get(), request);
}

// Returns a socket connected to 127.0.0.1:port, or -1.
int ConnectTo(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) !=
      0) {
    close(fd);
    return -1;
  }
  return fd;
}

std::string HmacSha256Base64(absl::string_view key, absl::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac,
       &size);
  return absl::Base64Escape(
      absl::string_view(reinterpret_cast<const char*>(mac), size));
}

std::string RandomBytes(size_t n) {
  std::string bytes(n, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()),
             static_cast<int>(n));
  return bytes;
}

class HttpTestServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    dir_ = new TestDir("http_test_server_test");
    pki_ = new TestPki(MakeTestPki(dir_->path()));
  }
  static void TearDownTestSuite() {
    delete pki_;
    delete dir_;
    curl_global_cleanup();
  }

  static HttpTestServerOptions TlsOptions() {
    HttpTestServerOptions options;
    options.tls = true;
    options.cert_file = pki_->server_cert;
    options.key_file = pki_->server_key;
    return options;
  }

  static TestDir* dir_;
  static TestPki* pki_;
};

TestDir* HttpTestServerTest::dir_ = nullptr;
TestPki* HttpTestServerTest::pki_ = nullptr;

HttpTestReply ProviderReply(const HttpTestRequest&) {
  HttpTestReply reply;
  reply.status = 201;
  reply.headers = {{"Content-Type", "application/json"},
                   {"X-Provider", "fake"}};
  reply.body = R"({"sid":"SM1"})";
  return reply;
}

TEST_F(HttpTestServerTest, RecordsTheRequestAndSendsTheReply) {
  HttpTestServerOptions options;
  options.handler = &ProviderReply;
  auto server = HttpTestServer::Start(std::move(options));
  EXPECT_EQ(server->url(), absl::StrCat("http://127.0.0.1:", server->port()));

  const CurlResult result = Fetch(
      Post(server->url() + "/2010-04-01/Messages.json?x=1&y=%2B",
           {"Content-Type: application/x-www-form-urlencoded",
            "X-Trace:    abc def  "},
           "To=%2B8613800138000&Body=hi"));
  ASSERT_EQ(result.code, CURLE_OK) << curl_easy_strerror(result.code);
  EXPECT_EQ(result.status, 201);
  EXPECT_EQ(result.Header("content-type"), "application/json");
  EXPECT_EQ(result.Header("x-provider"), "fake");
  EXPECT_EQ(result.Header("content-length"), "13");
  EXPECT_EQ(result.body, R"({"sid":"SM1"})");

  ASSERT_EQ(server->request_count(), 1u);
  const std::vector<HttpTestRequest> requests = server->requests();
  ASSERT_EQ(requests.size(), 1u);
  const HttpTestRequest& request = requests[0];
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.target, "/2010-04-01/Messages.json?x=1&y=%2B");
  EXPECT_EQ(request.body, "To=%2B8613800138000&Body=hi");
  EXPECT_EQ(request.Header("host"),
            absl::StrCat("127.0.0.1:", server->port()));
  EXPECT_EQ(request.Header("content-type"),
            "application/x-www-form-urlencoded");
  EXPECT_EQ(request.Header("content-length"), "27");
  EXPECT_EQ(request.Header("x-trace"), "abc def");
  EXPECT_EQ(request.Header("absent"), "");
  EXPECT_THAT(request.headers,
              ElementsAre(Pair("host", absl::StrCat("127.0.0.1:",
                                                    server->port())),
                          Pair("accept", "*/*"),
                          Pair("content-type",
                               "application/x-www-form-urlencoded"),
                          Pair("x-trace", "abc def"),
                          Pair("content-length", "27")));
}

TEST_F(HttpTestServerTest, DefaultReplyIsEmptyJson) {
  auto server = HttpTestServer::Start({});
  const CurlResult result = Fetch(Get(server->url() + "/"));
  ASSERT_EQ(result.code, CURLE_OK) << curl_easy_strerror(result.code);
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(result.Header("content-type"), "application/json");
  EXPECT_EQ(result.body, "{}");
  ASSERT_EQ(server->requests().size(), 1u);
  EXPECT_EQ(server->requests()[0].method, "GET");
  EXPECT_EQ(server->requests()[0].target, "/");
  EXPECT_EQ(server->requests()[0].body, "");
}

TEST_F(HttpTestServerTest, SetHandlerAndClearRequests) {
  auto server = HttpTestServer::Start({});
  EXPECT_EQ(Fetch(Get(server->url() + "/a")).status, 200);
  server->SetHandler([](const HttpTestRequest& request) {
    HttpTestReply reply;
    reply.status = 503;
    reply.headers = {{"Retry-After", "7"}};
    reply.body = "busy " + request.target;
    return reply;
  });
  const CurlResult result = Fetch(Get(server->url() + "/b"));
  EXPECT_EQ(result.status, 503);
  EXPECT_EQ(result.Header("retry-after"), "7");
  EXPECT_EQ(result.body, "busy /b");
  EXPECT_EQ(server->request_count(), 2u);

  server->ClearRequests();
  EXPECT_EQ(server->request_count(), 0u);
  EXPECT_TRUE(server->requests().empty());
  EXPECT_FALSE(server->WaitForRequests(1, absl::Milliseconds(50)));
  EXPECT_EQ(Fetch(Get(server->url() + "/c")).status, 503);
  EXPECT_TRUE(server->WaitForRequests(1, absl::Seconds(5)));
  ASSERT_EQ(server->requests().size(), 1u);
  EXPECT_EQ(server->requests()[0].target, "/c");
}

TEST_F(HttpTestServerTest, RecordRequestsOffOnlyCounts) {
  HttpTestServerOptions options;
  options.record_requests = false;
  auto server = HttpTestServer::Start(std::move(options));
  EXPECT_EQ(Fetch(Get(server->url() + "/")).status, 200);
  EXPECT_EQ(server->request_count(), 1u);
  EXPECT_TRUE(server->requests().empty());
}

TEST_F(HttpTestServerTest, KeepAliveReusesOneConnection) {
  auto server = HttpTestServer::Start({});
  Easy easy = NewEasy();
  for (const char* body : {"first", "second"}) {
    const CurlResult result =
        Perform(easy.get(), Post(server->url() + "/send", {}, body));
    ASSERT_EQ(result.code, CURLE_OK) << curl_easy_strerror(result.code);
    EXPECT_EQ(result.status, 200);
  }
  EXPECT_EQ(server->connection_count(), 1u);
  ASSERT_EQ(server->requests().size(), 2u);
  EXPECT_EQ(server->requests()[0].body, "first");
  EXPECT_EQ(server->requests()[1].body, "second");
}

TEST_F(HttpTestServerTest, ConnectionCloseEndsTheConnection) {
  auto server = HttpTestServer::Start({});
  Easy easy = NewEasy();
  const CurlResult first = Perform(
      easy.get(), Post(server->url() + "/", {"Connection: close"}, "1"));
  ASSERT_EQ(first.code, CURLE_OK) << curl_easy_strerror(first.code);
  EXPECT_EQ(first.Header("connection"), "close");
  const CurlResult second =
      Perform(easy.get(), Post(server->url() + "/", {}, "2"));
  ASSERT_EQ(second.code, CURLE_OK) << curl_easy_strerror(second.code);
  EXPECT_EQ(second.Header("connection"), "");
  EXPECT_EQ(server->connection_count(), 2u);
  EXPECT_EQ(server->request_count(), 2u);
}

TEST_F(HttpTestServerTest, AnswersExpectContinue) {
  auto server = HttpTestServer::Start({});
  Easy easy = NewEasy();
  // Without the 100, curl would wait this long before sending the body.
  curl_easy_setopt(easy.get(), CURLOPT_EXPECT_100_TIMEOUT_MS, 30000L);
  const std::string body(2 * 1024 * 1024, 'x');
  const absl::Time start = absl::Now();
  const CurlResult result = Perform(
      easy.get(),
      Post(server->url() + "/", {"Expect: 100-continue"}, body));
  const absl::Duration elapsed = absl::Now() - start;
  ASSERT_EQ(result.code, CURLE_OK) << curl_easy_strerror(result.code);
  EXPECT_EQ(result.status, 200);
  EXPECT_LT(elapsed, absl::Seconds(20));
  ASSERT_EQ(server->requests().size(), 1u);
  EXPECT_EQ(server->requests()[0].Header("expect"), "100-continue");
  EXPECT_EQ(server->requests()[0].body, body);
}

TEST_F(HttpTestServerTest, RefusesChunkedBodies) {
  auto server = HttpTestServer::Start({});
  const CurlResult result =
      Fetch(Post(server->url() + "/", {"Transfer-Encoding: chunked"}, "abc"));
  ASSERT_EQ(result.code, CURLE_OK) << curl_easy_strerror(result.code);
  EXPECT_EQ(result.status, 501);
}

TEST_F(HttpTestServerTest, DelayDelaysOnlyItsConnection) {
  HttpTestServerOptions options;
  options.handler = [](const HttpTestRequest& request) {
    HttpTestReply reply;
    if (request.target == "/slow") reply.delay = absl::Seconds(3);
    return reply;
  };
  auto server = HttpTestServer::Start(std::move(options));
  const std::string slow_url = server->url() + "/slow";
  CurlResult slow;
  absl::Duration slow_elapsed;
  std::thread slow_thread([&] {
    const absl::Time start = absl::Now();
    slow = Fetch(Get(slow_url));
    slow_elapsed = absl::Now() - start;
  });
  ASSERT_TRUE(server->WaitForRequests(1, absl::Seconds(10)));
  // While /slow waits, another connection is answered.
  const CurlResult fast = Fetch(Get(server->url() + "/fast"));
  EXPECT_EQ(fast.status, 200);
  EXPECT_EQ(server->request_count(), 2u);
  slow_thread.join();
  ASSERT_EQ(slow.code, CURLE_OK) << curl_easy_strerror(slow.code);
  EXPECT_EQ(slow.status, 200);
  EXPECT_GE(slow_elapsed, absl::Seconds(3));
}

TEST_F(HttpTestServerTest, HangTimesOutAndStopStillReturns) {
  HttpTestServerOptions options;
  options.handler = [](const HttpTestRequest&) {
    HttpTestReply reply;
    reply.kind = HttpTestReply::Kind::kHang;
    return reply;
  };
  auto server = HttpTestServer::Start(std::move(options));
  CurlRequest request = Get(server->url() + "/");
  request.timeout = absl::Milliseconds(300);
  const CurlResult result = Fetch(request);
  EXPECT_EQ(result.code, CURLE_OPERATION_TIMEDOUT);
  EXPECT_EQ(server->request_count(), 1u);

  // A connection whose request hangs, and one that sits idle.
  const int hanging = ConnectTo(server->port());
  ASSERT_GE(hanging, 0);
  const std::string get = "GET /h HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(send(hanging, get.data(), get.size(), 0),
            static_cast<ssize_t>(get.size()));
  const int idle = ConnectTo(server->port());
  ASSERT_GE(idle, 0);
  ASSERT_TRUE(server->WaitForRequests(2, absl::Seconds(10)));
  // Accepted, not just in the listen queue (closing the listener resets
  // those).
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (server->connection_count() < 3 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_EQ(server->connection_count(), 3u);

  const absl::Time start = absl::Now();
  server->Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  // The server closed both without an answer.
  char byte;
  EXPECT_EQ(recv(hanging, &byte, 1, 0), 0);
  EXPECT_EQ(recv(idle, &byte, 1, 0), 0);
  close(hanging);
  close(idle);
  server->Stop();  // again: nothing to do
}

TEST_F(HttpTestServerTest, StopEndsADelay) {
  HttpTestServerOptions options;
  options.handler = [](const HttpTestRequest&) {
    HttpTestReply reply;
    reply.delay = absl::Hours(1);
    return reply;
  };
  auto server = HttpTestServer::Start(std::move(options));
  const std::string url = server->url() + "/";
  CurlResult result;
  std::thread client([&] { result = Fetch(Get(url)); });
  ASSERT_TRUE(server->WaitForRequests(1, absl::Seconds(10)));
  const absl::Time start = absl::Now();
  server.reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  client.join();
  EXPECT_EQ(result.code, CURLE_GOT_NOTHING);
}

TEST_F(HttpTestServerTest, GarbageFailsTheClient) {
  HttpTestServerOptions options;
  options.handler = [](const HttpTestRequest&) {
    HttpTestReply reply;
    reply.kind = HttpTestReply::Kind::kGarbage;
    return reply;
  };
  auto server = HttpTestServer::Start(std::move(options));
  const CurlResult result = Fetch(Post(server->url() + "/", {}, "x"));
  EXPECT_EQ(result.code, CURLE_UNSUPPORTED_PROTOCOL)
      << curl_easy_strerror(result.code);
  EXPECT_EQ(server->request_count(), 1u);
}

TEST_F(HttpTestServerTest, CloseFailsTheClient) {
  HttpTestServerOptions options;
  options.handler = [](const HttpTestRequest&) {
    HttpTestReply reply;
    reply.kind = HttpTestReply::Kind::kClose;
    return reply;
  };
  auto server = HttpTestServer::Start(std::move(options));
  const CurlResult result = Fetch(Post(server->url() + "/", {}, "x"));
  EXPECT_EQ(result.code, CURLE_GOT_NOTHING) << curl_easy_strerror(result.code);
  EXPECT_EQ(server->request_count(), 1u);
}

TEST_F(HttpTestServerTest, ServesHttps) {
  HttpTestServerOptions options = TlsOptions();
  options.handler = &ProviderReply;
  auto server = HttpTestServer::Start(std::move(options));
  EXPECT_EQ(server->url(),
            absl::StrCat("https://127.0.0.1:", server->port()));
  Easy easy = NewEasy();
  for (const char* body : {"To=1", "To=2"}) {
    CurlRequest request =
        Post(server->url() + "/v1/messages",
             {"Content-Type: application/x-www-form-urlencoded"}, body);
    request.ca_file = pki_->ca_cert;
    const CurlResult result = Perform(easy.get(), request);
    ASSERT_EQ(result.code, CURLE_OK) << curl_easy_strerror(result.code);
    EXPECT_EQ(result.status, 201);
    EXPECT_EQ(result.Header("x-provider"), "fake");
    EXPECT_EQ(result.body, R"({"sid":"SM1"})");
  }
  EXPECT_EQ(server->connection_count(), 1u);
  const std::vector<HttpTestRequest> requests = server->requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].target, "/v1/messages");
  EXPECT_EQ(requests[0].Header("content-type"),
            "application/x-www-form-urlencoded");
  EXPECT_EQ(requests[0].body, "To=1");
  EXPECT_EQ(requests[1].body, "To=2");
}

TEST_F(HttpTestServerTest, UntrustedCertificateFailsTheHandshake) {
  auto server = HttpTestServer::Start(TlsOptions());
  CurlRequest request = Get(server->url() + "/");
  request.ca_file = pki_->other_ca_cert;
  const CurlResult result = Fetch(request);
  EXPECT_EQ(result.code, CURLE_PEER_FAILED_VERIFICATION)
      << curl_easy_strerror(result.code);
  EXPECT_EQ(server->request_count(), 0u);

  // The same server, trusted, answers.
  request.ca_file = pki_->ca_cert;
  EXPECT_EQ(Fetch(request).code, CURLE_OK);
}

TEST_F(HttpTestServerTest, HttpClientOfHttpsServerFails) {
  auto server = HttpTestServer::Start(TlsOptions());
  const CurlResult result =
      Fetch(Get(absl::StrCat("http://127.0.0.1:", server->port(), "/")));
  EXPECT_NE(result.code, CURLE_OK);
  EXPECT_EQ(server->request_count(), 0u);
}

// The webhook provider's signature, made here as the specification says.
struct SignedWebhook {
  std::string secret;
  std::vector<std::string> headers;
};
SignedWebhook SignWebhook(absl::string_view key, absl::string_view id,
                          int64_t timestamp, absl::string_view body) {
  const std::string content = absl::StrCat(id, ".", timestamp, ".", body);
  return {absl::StrCat("whsec_", absl::Base64Escape(key)),
          {"Content-Type: application/json", absl::StrCat("webhook-id: ", id),
           absl::StrCat("webhook-timestamp: ", timestamp),
           absl::StrCat("webhook-signature: v1,",
                        HmacSha256Base64(key, content))}};
}

TEST_F(HttpTestServerTest, StandardWebhooksChecksTheSignature) {
  auto server = HttpTestServer::Start({});
  const std::string key = RandomBytes(32);
  const std::string body =
      R"({"to":"+8613800138000","text":"Your code is 123456"})";
  const SignedWebhook webhook =
      SignWebhook(key, "msg_2b7c", absl::ToUnixSeconds(absl::Now()), body);
  ASSERT_EQ(Fetch(Post(server->url() + "/sms", webhook.headers, body))
                .status,
            200);
  ASSERT_EQ(server->requests().size(), 1u);
  const HttpTestRequest request = server->requests()[0];
  EXPECT_THAT(VerifyWithStandardWebhooks(webhook.secret, request), IsOk());

  HttpTestRequest tampered = request;
  tampered.body = R"({"to":"+8613800138001","text":"Your code is 123456"})";
  EXPECT_THAT(VerifyWithStandardWebhooks(webhook.secret, tampered),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("No matching signature found")));

  const std::string wrong_secret =
      absl::StrCat("whsec_", absl::Base64Escape(RandomBytes(32)));
  EXPECT_THAT(VerifyWithStandardWebhooks(wrong_secret, request),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("No matching signature found")));
}

TEST_F(HttpTestServerTest, StandardWebhooksAcceptsOneOfSeveralSignatures) {
  const std::string key = RandomBytes(24);
  const std::string body = R"({"n":1})";
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  HttpTestRequest request;
  request.method = "POST";
  request.body = body;
  request.headers = {
      {"webhook-id", "msg_1"},
      {"webhook-timestamp", absl::StrCat(now)},
      {"webhook-signature",
       absl::StrCat("v1,", HmacSha256Base64(RandomBytes(24), "x"), " v1,",
                    HmacSha256Base64(key, absl::StrCat("msg_1.", now, ".",
                                                       body)))}};
  const std::string secret = absl::StrCat("whsec_", absl::Base64Escape(key));
  EXPECT_THAT(VerifyWithStandardWebhooks(secret, request), IsOk());
}

TEST_F(HttpTestServerTest, StandardWebhooksRejectsAnOldTimestamp) {
  const std::string key = RandomBytes(32);
  const std::string body = "{}";
  const int64_t then = absl::ToUnixSeconds(absl::Now() - absl::Minutes(10));
  HttpTestRequest request;
  request.body = body;
  request.headers = {
      {"webhook-id", "msg_1"},
      {"webhook-timestamp", absl::StrCat(then)},
      {"webhook-signature",
       absl::StrCat("v1,", HmacSha256Base64(
                               key, absl::StrCat("msg_1.", then, ".", body)))}};
  EXPECT_THAT(
      VerifyWithStandardWebhooks(
          absl::StrCat("whsec_", absl::Base64Escape(key)), request),
      StatusIs(absl::StatusCode::kUnauthenticated,
               HasSubstr("Message timestamp too old")));
}

}  // namespace
}  // namespace profile::testing
