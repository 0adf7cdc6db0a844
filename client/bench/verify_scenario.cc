// The verify scenario: UpdatePhoneVerification of one test number by
// --users distinct users in turn.
#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "client/bench/scenario.h"
#include "client/bench/test_numbers.h"
#include "client/bench/unary_call.h"
#include "profile/v1/profile.grpc.pb.h"

namespace profile::bench {
namespace {

class VerifyScenario final : public Scenario {
 public:
  VerifyScenario(const BenchOptions& options, Connections* connections)
      : options_(options),
        connections_(connections),
        chains_(ChainCount(options)) {
    // Chain i takes users i, i + chains, i + 2 chains...
    for (size_t i = 0; i < chains_.size(); ++i) chains_[i].next_user = i;
  }

  absl::string_view name() const override { return "verify"; }

  void Start(int chain, DoneCallback done) override {
    Chain& c = chains_[chain];
    const int64_t users = std::max(1, options_.users);
    c.call.context =
        connections_->NewContext(UserId("65f1a0", c.next_user % users));
    c.next_user += static_cast<int64_t>(chains_.size());
    SetVerification(kVerifyNumber, options_.pass_code, &c.call.request);
    connections_->profile(chain)->async()->UpdatePhoneVerification(
        c.call.context.get(), &c.call.request, &c.call.response,
        std::move(done));
  }

 private:
  struct Chain {
    UnaryCall<v1::UpdatePhoneVerificationRequest,
              v1::UpdatePhoneVerificationResponse>
        call;
    int64_t next_user = 0;  // the user's index, before % --users
  };

  const BenchOptions& options_;
  Connections* const connections_;
  std::vector<Chain> chains_;
};

}  // namespace

std::unique_ptr<Scenario> NewVerifyScenario(const BenchOptions& options,
                                            Connections* connections) {
  return std::make_unique<VerifyScenario>(options, connections);
}

}  // namespace profile::bench
