// Asking a running server's grpc.reflection.v1alpha service what grpcurl
// asks it: the services it lists, and the file that declares a symbol.
//
//   ReflectionClient reflection(port);
//   std::vector<std::string> services = reflection.ListServices();
//   google::protobuf::FileDescriptorProto file;
//   ASSERT_TRUE(reflection.FileContainingSymbol("profile.v1.ProfileService",
//                                               &file));
//
// Each call is one ServerReflectionInfo stream with a 5 s deadline.
//
// Thread-safety: use from one thread.
#ifndef PROFILE_TESTS_TESTING_REFLECTION_CLIENT_H_
#define PROFILE_TESTS_TESTING_REFLECTION_CLIENT_H_

#include <memory>
#include <string>
#include <vector>

#include "google/protobuf/descriptor.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"

namespace profile::testing {

class ReflectionClient {
 public:
  // Talks plaintext to 127.0.0.1:`port`.
  explicit ReflectionClient(int port);

  // Returns the names of the services the server lists; empty on failure.
  std::vector<std::string> ListServices();

  // Fills `file` with the first file of the answer to file_containing_symbol
  // (the file that declares `symbol`); returns false on failure.
  bool FileContainingSymbol(const std::string& symbol,
                            google::protobuf::FileDescriptorProto* file);

 private:
  // Sends `request` alone on a new stream; returns false on failure.
  bool Ask(const grpc::reflection::v1alpha::ServerReflectionRequest& request,
           grpc::reflection::v1alpha::ServerReflectionResponse* response);

  std::unique_ptr<grpc::reflection::v1alpha::ServerReflection::Stub> stub_;
};

}  // namespace profile::testing

#endif  // PROFILE_TESTS_TESTING_REFLECTION_CLIENT_H_
