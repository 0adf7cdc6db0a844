// The one style of every option check: INVALID_ARGUMENT "--<flag> <why>",
// naming the flag the operator has to fix.
//
//   if (code_length < 4) {
//     return InvalidFlagError("code_length", "must be from 4 to 10");
//   }  // "--code_length must be from 4 to 10"
//
// Each component's options struct validates itself with it
// (`absl::Status Validate() const`); server/flags/ maps the flags onto them.
#ifndef PROFILE_SERVER_COMMON_FLAG_ERROR_H_
#define PROFILE_SERVER_COMMON_FLAG_ERROR_H_

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace profile {

inline absl::Status InvalidFlagError(absl::string_view flag,
                                     absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, " ", why));
}

}  // namespace profile

#endif  // PROFILE_SERVER_COMMON_FLAG_ERROR_H_
