// Checks on untrusted text from requests and metadata.
//
// Thread-safety: pure functions.
#ifndef PROFILE_SERVER_COMMON_TEXT_H_
#define PROFILE_SERVER_COMMON_TEXT_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace profile {

// Decodes the code point that starts at text[*i] and advances *i past it.
// Returns -1, leaving *i alone, if the bytes there are not valid UTF-8
// (overlong forms and surrogates included).
// REQUIRES: *i < text.size().
int32_t DecodeUtf8(absl::string_view text, size_t* i);

// Returns true if `text` is valid UTF-8 (no overlong forms, no surrogates).
bool IsValidUtf8(absl::string_view text);

// Returns true if `text` is valid UTF-8 without control characters (C0, DEL,
// C1) and without bidirectional overrides (U+202A..U+202E, U+2066..U+2069),
// which could disguise what a log line or an admin screen shows.
bool IsCleanText(absl::string_view text);

}  // namespace profile

#endif  // PROFILE_SERVER_COMMON_TEXT_H_
