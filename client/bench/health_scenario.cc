// The health scenario: grpc.health.v1.Health/Check, the --compare baseline.
#include <utility>
#include <vector>

#include "client/bench/scenario.h"
#include "client/bench/unary_call.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace profile::bench {
namespace {

using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;

class HealthScenario final : public Scenario {
 public:
  HealthScenario(const BenchOptions& options, Connections* connections)
      : connections_(connections), calls_(ChainCount(options)) {}

  absl::string_view name() const override { return "health"; }

  void Start(int chain, DoneCallback done) override {
    UnaryCall<HealthCheckRequest, HealthCheckResponse>& call = calls_[chain];
    // The health service asks for no user.
    call.context = connections_->NewContext("");
    connections_->health(chain)->async()->Check(
        call.context.get(), &call.request, &call.response, std::move(done));
  }

 private:
  Connections* const connections_;
  std::vector<UnaryCall<HealthCheckRequest, HealthCheckResponse>> calls_;
};

}  // namespace

std::unique_ptr<Scenario> NewHealthScenario(const BenchOptions& options,
                                            Connections* connections) {
  return std::make_unique<HealthScenario>(options, connections);
}

}  // namespace profile::bench
