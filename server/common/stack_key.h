// StackKey: a map key assembled from parts in a buffer on the stack, so a
// hot lookup allocates nothing (a std::string holds only 15 bytes of its
// own, and "p+86|13800138000" is 16). A key longer than the buffer goes to
// the heap, so any parts are accepted.
//
//   const StackKey key({"f:", phone_e164, "\n", user_id});
//   auto it = map.find(key.view());
//
// Neither copyable nor movable: view() points into the object itself.
#ifndef PROFILE_SERVER_COMMON_STACK_KEY_H_
#define PROFILE_SERVER_COMMON_STACK_KEY_H_

#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <string>

#include "absl/strings/string_view.h"

namespace profile {

class StackKey {
 public:
  explicit StackKey(std::initializer_list<absl::string_view> parts) {
    size_t size = 0;
    for (absl::string_view part : parts) size += part.size();
    char* out = inline_;
    if (size > sizeof(inline_)) {
      heap_.resize(size);
      out = heap_.data();
    }
    view_ = absl::string_view(out, size);
    for (absl::string_view part : parts) {
      out = std::copy(part.begin(), part.end(), out);
    }
  }
  StackKey(const StackKey&) = delete;
  StackKey& operator=(const StackKey&) = delete;

  absl::string_view view() const { return view_; }

 private:
  char inline_[192];
  std::string heap_;
  absl::string_view view_;
};

}  // namespace profile

#endif  // PROFILE_SERVER_COMMON_STACK_KEY_H_
