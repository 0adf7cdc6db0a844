// Connections: profile_bench's --channels connections to the server, the
// stubs over them, and the ClientContext of every call it makes.
//
//   Connections connections(options);
//   if (!connections.Connect()) { ... }
//   std::unique_ptr<grpc::ClientContext> context =
//       connections.NewContext(user_id);
//   connections.profile(chain)->async()->GetProfile(context.get(), ...);
//
// Chain i (of the --in_flight chains of calls) uses channel i % --channels,
// so that calls spread evenly over the connections.
//
// Thread-safety: Connect() must be called once, before anything else but
// run_tag(); after it, every method is safe to call concurrently.
#ifndef PROFILE_CLIENT_BENCH_CONNECTIONS_H_
#define PROFILE_CLIENT_BENCH_CONNECTIONS_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "client/bench/bench_options.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "profile/v1/profile.grpc.pb.h"

namespace profile::bench {

class Connections {
 public:
  // Opens nothing yet: Connect() does.
  // REQUIRES: `options` outlives the Connections.
  explicit Connections(const BenchOptions& options);

  Connections(const Connections&) = delete;
  Connections& operator=(const Connections&) = delete;

  // Opens the channels and waits up to 10 s for all of them to connect.
  // Returns false on timeout.
  bool Connect();

  // Returns the stubs of the channel of chain `chain`.
  // REQUIRES: Connect() returned true.
  ::grpc::health::v1::Health::Stub* health(int chain) const;
  v1::ProfileService::Stub* profile(int chain) const;

  // Returns a context for one call: the --timeout deadline, x-user-id
  // unless `user_id` is empty and, with --send_request_id, a fresh
  // x-request-id.
  std::unique_ptr<grpc::ClientContext> NewContext(const std::string& user_id);

  // Returns a number below 10^6 drawn once per run, which tells this run's
  // request ids (and send's users and numbers) from an earlier run's.
  uint64_t run_tag() const { return run_tag_; }

 private:
  const BenchOptions& options_;
  const uint64_t run_tag_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<::grpc::health::v1::Health::Stub>> health_;
  std::vector<std::unique_ptr<v1::ProfileService::Stub>> profile_;
  std::atomic<int64_t> request_ids_{0};
};

}  // namespace profile::bench

#endif  // PROFILE_CLIENT_BENCH_CONNECTIONS_H_
