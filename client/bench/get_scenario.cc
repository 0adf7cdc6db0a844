// The get scenario: GetProfile for the flow users, each given a phone first.
#include <utility>
#include <vector>

#include "client/bench/flow_users.h"
#include "client/bench/scenario.h"
#include "client/bench/unary_call.h"
#include "profile/v1/profile.grpc.pb.h"

namespace profile::bench {
namespace {

class GetScenario final : public Scenario {
 public:
  GetScenario(const BenchOptions& options, Connections* connections)
      : connections_(connections),
        users_(options, connections),
        calls_(ChainCount(options)) {}

  absl::string_view name() const override { return "get"; }

  // A profile with a phone, as most are.
  absl::Status Prepare() override {
    return users_.Prepare(/*give_phones=*/true);
  }

  void Start(int chain, DoneCallback done) override {
    UnaryCall<v1::GetProfileRequest, v1::GetProfileResponse>& call =
        calls_[chain];
    call.context = connections_->NewContext(users_.Next(chain).id);
    connections_->profile(chain)->async()->GetProfile(
        call.context.get(), &call.request, &call.response, std::move(done));
  }

 private:
  Connections* const connections_;
  FlowUsers users_;
  std::vector<UnaryCall<v1::GetProfileRequest, v1::GetProfileResponse>> calls_;
};

}  // namespace

std::unique_ptr<Scenario> NewGetScenario(const BenchOptions& options,
                                         Connections* connections) {
  return std::make_unique<GetScenario>(options, connections);
}

}  // namespace profile::bench
