#include "tests/testing/test_dir.h"

#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace profile::testing {
namespace {

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "test_dir: %s\n", why.c_str());
  std::abort();
}

}  // namespace

TestDir::TestDir(absl::string_view prefix) {
  std::string pattern = absl::StrCat("/tmp/", prefix, "_XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) Die("mkdtemp failed: " + pattern);
  path_ = pattern;
}

TestDir::~TestDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TestDir::File(absl::string_view name) const {
  return absl::StrCat(path_, "/", name);
}

std::string TestDir::Write(absl::string_view name,
                           absl::string_view contents) const {
  const std::string file = File(name);
  std::ofstream out(file, std::ios::binary);
  out << contents;
  if (!out.good()) Die("cannot write " + file);
  return file;
}

}  // namespace profile::testing
