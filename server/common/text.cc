#include "server/common/text.h"

#include <cstdint>

namespace profile {

int32_t DecodeUtf8(absl::string_view text, size_t* i) {
  const auto byte = [&](size_t k) {
    return static_cast<unsigned char>(text[k]);
  };
  unsigned char lead = byte(*i);
  if (lead < 0x80) {
    ++*i;
    return lead;
  }
  size_t length;
  int32_t cp;
  int32_t min;
  if ((lead & 0xE0) == 0xC0) {
    length = 2, cp = lead & 0x1F, min = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, cp = lead & 0x0F, min = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, cp = lead & 0x07, min = 0x10000;
  } else {
    return -1;
  }
  if (*i + length > text.size()) return -1;
  for (size_t k = 1; k < length; ++k) {
    unsigned char c = byte(*i + k);
    if ((c & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (c & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
  *i += length;
  return cp;
}

bool IsValidUtf8(absl::string_view text) {
  for (size_t i = 0; i < text.size();) {
    if (DecodeUtf8(text, &i) < 0) return false;
  }
  return true;
}

bool IsCleanText(absl::string_view text) {
  for (size_t i = 0; i < text.size();) {
    int32_t cp = DecodeUtf8(text, &i);
    if (cp < 0 || cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) ||
        (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069)) {
      return false;
    }
  }
  return true;
}

}  // namespace profile
