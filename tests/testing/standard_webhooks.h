// An independent check of a webhook delivery's Standard Webhooks signature:
// the standardwebhooks npm package (the specification's reference
// implementation, pinned in tests/webhooks/package-lock.json) verifies the
// request a test's HttpTestServer received, so that the service's signing
// code is never checked only against itself.
//
//   std::unique_ptr<HttpTestServer> receiver = HttpTestServer::Start({});
//   ... the webhook provider posts to receiver->url() ...
//   ASSERT_TRUE(receiver->WaitForRequests(1, absl::Seconds(5)));
//   EXPECT_THAT(VerifyWithStandardWebhooks("whsec_...",
//                                          receiver->requests()[0]),
//               IsOk());
//
// Runs `node tests/webhooks/verify_webhook.mjs` of the source tree; needs
// Node.js and `npm ci --prefix tests/webhooks` (deploy/install-deps.sh
// --test).
//
// Thread-safety: safe to call concurrently.
#ifndef PROFILE_TESTS_TESTING_STANDARD_WEBHOOKS_H_
#define PROFILE_TESTS_TESTING_STANDARD_WEBHOOKS_H_

#include <string>

#include "absl/status/status.h"
#include "tests/testing/http_test_server.h"

namespace profile::testing {

// Returns OK if the webhook-id, webhook-timestamp and webhook-signature
// headers of `request` sign its body under `secret` ("whsec_" + base64 of
// the key) and the timestamp is within 5 minutes of now. Otherwise
// UNAUTHENTICATED with the library's message, or INTERNAL if the check
// could not run (no node, no node_modules).
absl::Status VerifyWithStandardWebhooks(const std::string& secret,
                                        const HttpTestRequest& request);

}  // namespace profile::testing

#endif  // PROFILE_TESTS_TESTING_STANDARD_WEBHOOKS_H_
