// The send scenario: SendPhoneCode to distinct real numbers by distinct
// users.
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "client/bench/scenario.h"
#include "client/bench/test_numbers.h"
#include "client/bench/unary_call.h"
#include "profile/v1/profile.grpc.pb.h"

namespace profile::bench {
namespace {

class SendScenario final : public Scenario {
 public:
  SendScenario(const BenchOptions& options, Connections* connections)
      : connections_(connections), chains_(ChainCount(options)) {}

  absl::string_view name() const override { return "send"; }

  void Start(int chain, DoneCallback done) override {
    Chain& c = chains_[chain];
    // Distinct numbers and users: this run's tag, the chain, a counter.
    const int64_t n = c.sent++ * static_cast<int64_t>(chains_.size()) + chain;
    const uint64_t tag = connections_->run_tag();
    c.call.context =
        connections_->NewContext(UserId(absl::StrFormat("%06d", tag), n));
    c.call.request.set_phone_country_code(kCountryCode);
    c.call.request.set_phone_number(
        absl::StrFormat("138%08d", (tag * 7919 + n) % 100000000));
    c.call.request.set_purpose(v1::PHONE_CODE_PURPOSE_NEW_PHONE);
    connections_->profile(chain)->async()->SendPhoneCode(
        c.call.context.get(), &c.call.request, &c.call.response,
        std::move(done));
  }

 private:
  struct Chain {
    UnaryCall<v1::SendPhoneCodeRequest, v1::SendPhoneCodeResponse> call;
    int64_t sent = 0;  // operations started by the chain
  };

  Connections* const connections_;
  std::vector<Chain> chains_;
};

}  // namespace

std::unique_ptr<Scenario> NewSendScenario(const BenchOptions& options,
                                          Connections* connections) {
  return std::make_unique<SendScenario>(options, connections);
}

}  // namespace profile::bench
