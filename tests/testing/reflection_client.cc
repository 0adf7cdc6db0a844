#include "tests/testing/reflection_client.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"

namespace profile::testing {

using ::grpc::reflection::v1alpha::ServerReflection;
using ::grpc::reflection::v1alpha::ServerReflectionRequest;
using ::grpc::reflection::v1alpha::ServerReflectionResponse;

ReflectionClient::ReflectionClient(int port)
    : stub_(ServerReflection::NewStub(
          grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                              grpc::InsecureChannelCredentials()))) {}

bool ReflectionClient::Ask(const ServerReflectionRequest& request,
                           ServerReflectionResponse* response) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(5));
  auto stream = stub_->ServerReflectionInfo(&context);
  const bool answered = stream->Write(request) && stream->Read(response);
  stream->WritesDone();
  return stream->Finish().ok() && answered;
}

std::vector<std::string> ReflectionClient::ListServices() {
  ServerReflectionRequest request;
  request.set_list_services("*");
  ServerReflectionResponse response;
  std::vector<std::string> services;
  if (!Ask(request, &response)) return services;
  for (const auto& service : response.list_services_response().service()) {
    services.push_back(service.name());
  }
  return services;
}

bool ReflectionClient::FileContainingSymbol(
    const std::string& symbol, google::protobuf::FileDescriptorProto* file) {
  ServerReflectionRequest request;
  request.set_file_containing_symbol(symbol);
  ServerReflectionResponse response;
  if (!Ask(request, &response)) return false;
  const auto& files = response.file_descriptor_response();
  return files.file_descriptor_proto_size() >= 1 &&
         file->ParseFromString(files.file_descriptor_proto(0));
}

}  // namespace profile::testing
