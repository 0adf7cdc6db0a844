// The flow scenario: UpdatePhoneVerification then UpdatePhone with its
// token, by the flow users, each alternating between its two numbers. Each
// verification also proves the number the user leaves (a test number's
// fixed code), as a server with --verify_old_phone, the default, requires.
#include <utility>
#include <vector>

#include "client/bench/flow_users.h"
#include "client/bench/scenario.h"
#include "client/bench/test_numbers.h"
#include "client/bench/unary_call.h"
#include "profile/v1/profile.grpc.pb.h"

namespace profile::bench {
namespace {

class FlowScenario final : public Scenario {
 public:
  FlowScenario(const BenchOptions& options, Connections* connections)
      : options_(options),
        connections_(connections),
        users_(options, connections),
        chains_(ChainCount(options)) {}

  absl::string_view name() const override { return "flow"; }
  int rpcs_per_operation() const override { return 2; }

  // The flow changes phones itself: the users need none to begin with.
  absl::Status Prepare() override {
    return users_.Prepare(/*give_phones=*/false);
  }

  void Start(int chain, DoneCallback done) override {
    Chain& c = chains_[chain];
    c.done = std::move(done);
    c.user = &users_.Next(chain);
    c.verify.context = connections_->NewContext(c.user->id);
    SetVerification(FlowNumber(c.user->next_number), options_.pass_code,
                    &c.verify.request);
    SetOldPhone(FlowNumber(c.user->next_number ^ 1), options_.pass_code,
                &c.verify.request);
    connections_->profile(chain)->async()->UpdatePhoneVerification(
        c.verify.context.get(), &c.verify.request, &c.verify.response,
        [this, chain](grpc::Status status) { Verified(chain, status); });
  }

 private:
  struct Chain {
    UnaryCall<v1::UpdatePhoneVerificationRequest,
              v1::UpdatePhoneVerificationResponse>
        verify;
    UnaryCall<v1::UpdatePhoneRequest, v1::CommonResponse> update;
    FlowUsers::User* user = nullptr;
    DoneCallback done;
  };

  // Spends the token the verification issued.
  void Verified(int chain, const grpc::Status& status) {
    Chain& c = chains_[chain];
    if (!status.ok()) {
      Finish(c, status);
      return;
    }
    c.update.context = connections_->NewContext(c.user->id);
    c.update.request.set_update_phone_token(
        c.verify.response.data().update_phone_token());
    connections_->profile(chain)->async()->UpdatePhone(
        c.update.context.get(), &c.update.request, &c.update.response,
        [this, &c](grpc::Status status) {
          if (status.ok()) c.user->next_number ^= 1;
          Finish(c, status);
        });
  }

  static void Finish(Chain& c, const grpc::Status& status) {
    // The callback starts the chain's next operation, which sets c.done
    // anew: it must not run from c.done itself.
    DoneCallback done = std::move(c.done);
    done(status);
  }

  const BenchOptions& options_;
  Connections* const connections_;
  FlowUsers users_;
  std::vector<Chain> chains_;
};

}  // namespace

std::unique_ptr<Scenario> NewFlowScenario(const BenchOptions& options,
                                          Connections* connections) {
  return std::make_unique<FlowScenario>(options, connections);
}

}  // namespace profile::bench
