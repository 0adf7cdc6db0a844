#include "client/bench/connections.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"

namespace profile::bench {
namespace {

uint64_t NewRunTag() {
  std::random_device random;
  return (static_cast<uint64_t>(random()) << 32 | random()) % 1000000;
}

}  // namespace

Connections::Connections(const BenchOptions& options)
    : options_(options), run_tag_(NewRunTag()) {}

bool Connections::Connect() {
  const int channels = std::max(1, options_.channels);
  for (int c = 0; c < channels; ++c) {
    grpc::ChannelArguments args;
    // Without a local subchannel pool, channels with equal arguments share
    // one connection.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("profile_bench.channel", c);
    auto channel = grpc::CreateCustomChannel(
        options_.target, grpc::InsecureChannelCredentials(), args);
    health_.push_back(::grpc::health::v1::Health::NewStub(channel));
    profile_.push_back(v1::ProfileService::NewStub(channel));
    channels_.push_back(std::move(channel));
  }
  const auto deadline =
      std::chrono::system_clock::now() + std::chrono::seconds(10);
  for (auto& channel : channels_) {
    if (!channel->WaitForConnected(deadline)) return false;
  }
  return true;
}

::grpc::health::v1::Health::Stub* Connections::health(int chain) const {
  return health_[chain % health_.size()].get();
}

v1::ProfileService::Stub* Connections::profile(int chain) const {
  return profile_[chain % profile_.size()].get();
}

std::unique_ptr<grpc::ClientContext> Connections::NewContext(
    const std::string& user_id) {
  auto context = std::make_unique<grpc::ClientContext>();
  // ToChronoSeconds() truncates: the deadline counts whole seconds.
  context->set_deadline(std::chrono::system_clock::now() +
                        absl::ToChronoSeconds(options_.timeout));
  if (!user_id.empty()) context->AddMetadata("x-user-id", user_id);
  if (options_.send_request_id) {
    context->AddMetadata(
        "x-request-id",
        absl::StrFormat("bench-%06d-%012d", run_tag_,
                        request_ids_.fetch_add(1, std::memory_order_relaxed)));
  }
  return context;
}

}  // namespace profile::bench
