// Scenario: what one operation of profile_bench is: which RPCs it makes, as
// which user, with which request. The runner keeps --in_flight chains of
// operations going; each chain starts its next operation when the last one
// is done.
//
//   absl::StatusOr<std::unique_ptr<Scenario>> scenario =
//       NewScenario("verify", options, &connections);
//   if (!scenario.ok()) { ... }  // INVALID_ARGUMENT: no such scenario
//   if (absl::Status prepared = (*scenario)->Prepare(); !prepared.ok()) ...
//   (*scenario)->Start(chain, [](grpc::Status status) { ... });
//
// Every call carries the metadata a real caller sends (x-user-id,
// optionally x-request-id) with the request a real app sends.
//
// Thread-safety: Prepare() runs alone, before any Start(). Start() may be
// called concurrently for different chains, but a chain's next operation
// starts only after its last one is done: each chain's state needs no lock.
#ifndef PROFILE_CLIENT_BENCH_SCENARIO_H_
#define PROFILE_CLIENT_BENCH_SCENARIO_H_

#include <functional>
#include <memory>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/bench/bench_options.h"
#include "client/bench/connections.h"

namespace profile::bench {

class Scenario {
 public:
  // Receives the final status of one operation: OK, or its first failure.
  // The type gRPC's callback API takes, so that a one-RPC operation hands
  // it on as it is.
  using DoneCallback = std::function<void(grpc::Status)>;

  virtual ~Scenario() = default;

  // Returns the name --scenario selects it by, e.g. "verify".
  virtual absl::string_view name() const = 0;

  // Returns how many RPCs one operation makes.
  virtual int rpcs_per_operation() const { return 1; }

  // Gets the server's data ready for the operations, e.g. gives the users
  // a phone. Returns why it could not, for the user to read.
  // REQUIRES: Connections::Connect() returned true; called once, before
  // any Start().
  virtual absl::Status Prepare() { return absl::OkStatus(); }

  // Starts one operation of chain `chain` on the gRPC callback API and
  // returns at once; `done` runs on a gRPC thread when it ends.
  // REQUIRES: 0 <= chain < ChainCount(options); the chain's previous
  // operation is done.
  virtual void Start(int chain, DoneCallback done) = 0;
};

// Each factory below returns one scenario. REQUIRES for all: `options` and
// `connections` outlive the scenario.

// grpc.health.v1.Health/Check, the cheapest RPC the server answers: the
// baseline of --compare.
std::unique_ptr<Scenario> NewHealthScenario(const BenchOptions& options,
                                            Connections* connections);

// GetProfile for the flow users (each is given a phone by Prepare()).
std::unique_ptr<Scenario> NewGetScenario(const BenchOptions& options,
                                         Connections* connections);

// UpdatePhoneVerification of a test number, by --users distinct users in
// turn (each verification really issues a token).
std::unique_ptr<Scenario> NewVerifyScenario(const BenchOptions& options,
                                            Connections* connections);

// UpdatePhoneVerification then UpdatePhone with its token, by --flow_users
// users, each alternating between two test numbers of its own, so every
// token is issued and spent; one operation is two RPCs.
std::unique_ptr<Scenario> NewFlowScenario(const BenchOptions& options,
                                          Connections* connections);

// SendPhoneCode to distinct real numbers (+86 138...) by distinct users:
// one code per phone and per user, so no limit is hit.
std::unique_ptr<Scenario> NewSendScenario(const BenchOptions& options,
                                          Connections* connections);

// Returns the scenario named `name` (health, get, verify, flow or send), or
// INVALID_ARGUMENT saying which names there are.
absl::StatusOr<std::unique_ptr<Scenario>> NewScenario(
    absl::string_view name, const BenchOptions& options,
    Connections* connections);

}  // namespace profile::bench

#endif  // PROFILE_CLIENT_BENCH_SCENARIO_H_
