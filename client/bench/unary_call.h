// UnaryCall: the state of one unary RPC of a chain of operations, reused by
// each operation of the chain.
//
//   UnaryCall<v1::GetProfileRequest, v1::GetProfileResponse>& call =
//       calls_[chain];
//   call.context = connections->NewContext(user_id);
//   stub->async()->GetProfile(call.context.get(), &call.request,
//                             &call.response, std::move(done));
//
// A ClientContext serves one call only, so each call gets a new one; the
// request and response outlive the call, as the callback API requires.
//
// Thread-safety: none; a chain has at most one call in flight, and gRPC
// runs the callback after the call it ends.
#ifndef PROFILE_CLIENT_BENCH_UNARY_CALL_H_
#define PROFILE_CLIENT_BENCH_UNARY_CALL_H_

#include <memory>

#include <grpcpp/grpcpp.h>

namespace profile::bench {

template <typename Request, typename Response>
struct UnaryCall {
  std::unique_ptr<grpc::ClientContext> context;
  Request request;
  Response response;
};

}  // namespace profile::bench

#endif  // PROFILE_CLIENT_BENCH_UNARY_CALL_H_
