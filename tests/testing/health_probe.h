// Probing a server's grpc.health.v1 health exactly as the kubelet does: one
// Check call with a deadline.
//
//   EXPECT_EQ(HealthOf(port), HealthCheckResponse::SERVING);
//   EXPECT_TRUE(HealthBecomes(port, HealthCheckResponse::NOT_SERVING,
//                             absl::Seconds(10)));
//
// Thread-safety: pure functions.
#ifndef PROFILE_TESTS_TESTING_HEALTH_PROBE_H_
#define PROFILE_TESTS_TESTING_HEALTH_PROBE_H_

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace profile::testing {

// Returns the health of `service` ("" for the whole server) over `channel`,
// or -1 - the gRPC code when the call fails.
int HealthOf(const std::shared_ptr<grpc::Channel>& channel,
             const std::string& service = "");

// The same over a plaintext connection to 127.0.0.1:`port`.
int HealthOf(int port, const std::string& service = "");

// Polls until the health of `service` on `port` is `want`; returns false if
// `timeout` passes first.
bool HealthBecomes(int port, int want, absl::Duration timeout,
                   const std::string& service = "");

}  // namespace profile::testing

#endif  // PROFILE_TESTS_TESTING_HEALTH_PROBE_H_
