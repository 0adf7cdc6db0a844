// FakeMetadata: call metadata for unit tests of code that reads a server
// call's metadata (authenticators, request ids, languages).
//
//   FakeMetadata metadata{{"x-user-id", "u1"}};
//   metadata.Add("x-request-id", "r-1");
//   auth->Authenticate(metadata.map());
//
// The string_refs point into strings this object owns, as a server's
// metadata points into the call's arena.
//
// Thread-safety: not thread-safe; map() may be read concurrently.
#ifndef PROFILE_TESTS_TESTING_CALL_METADATA_H_
#define PROFILE_TESTS_TESTING_CALL_METADATA_H_

#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "server/auth/authenticator.h"

namespace profile::testing {

class FakeMetadata {
 public:
  FakeMetadata() = default;
  FakeMetadata(
      std::initializer_list<std::pair<std::string, std::string>> entries) {
    for (const auto& [key, value] : entries) Add(key, value);
  }

  FakeMetadata& Add(std::string key, std::string value) {
    storage_.push_back(std::make_unique<std::pair<std::string, std::string>>(
        std::move(key), std::move(value)));
    const auto& entry = *storage_.back();
    map_.emplace(grpc::string_ref(entry.first.data(), entry.first.size()),
                 grpc::string_ref(entry.second.data(), entry.second.size()));
    return *this;
  }

  const CallMetadata& map() const { return map_; }

 private:
  std::vector<std::unique_ptr<std::pair<std::string, std::string>>> storage_;
  CallMetadata map_;
};

}  // namespace profile::testing

#endif  // PROFILE_TESTS_TESTING_CALL_METADATA_H_
