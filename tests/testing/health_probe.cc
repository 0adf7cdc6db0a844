#include "tests/testing/health_probe.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace profile::testing {

using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;

int HealthOf(const std::shared_ptr<grpc::Channel>& channel,
             const std::string& service) {
  auto stub = Health::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(5));
  HealthCheckRequest request;
  request.set_service(service);
  HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) return -1 - status.error_code();
  return response.status();
}

int HealthOf(int port, const std::string& service) {
  return HealthOf(grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                      grpc::InsecureChannelCredentials()),
                  service);
}

bool HealthBecomes(int port, int want, absl::Duration timeout,
                   const std::string& service) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (HealthOf(port, service) == want) return true;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return false;
}

}  // namespace profile::testing
