// A temporary directory for one test, removed with everything in it when the
// object goes away.
//
//   TestDir dir;
//   std::string outbox = dir.File("outbox.jsonl");    // dir.path() + "/..."
//   std::string flagfile = dir.Write("flags", "--code_length=8\n");
//
// Construction aborts the test binary if no directory can be made: a test
// without its files has nothing to test.
//
// Thread-safety: const methods may be called from any thread.
#ifndef PROFILE_TESTS_TESTING_TEST_DIR_H_
#define PROFILE_TESTS_TESTING_TEST_DIR_H_

#include <string>

#include "absl/strings/string_view.h"

namespace profile::testing {

class TestDir {
 public:
  // Makes /tmp/<prefix>_XXXXXX.
  explicit TestDir(absl::string_view prefix = "profile_test");
  ~TestDir();
  TestDir(const TestDir&) = delete;
  TestDir& operator=(const TestDir&) = delete;

  const std::string& path() const { return path_; }
  // Returns path()/name; the file need not exist.
  std::string File(absl::string_view name) const;
  // Writes `contents` to path()/name and returns the full path; aborts if it
  // cannot.
  std::string Write(absl::string_view name, absl::string_view contents) const;

 private:
  std::string path_;
};

}  // namespace profile::testing

#endif  // PROFILE_TESTS_TESTING_TEST_DIR_H_
