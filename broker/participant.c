/* participant — a registry entry and the rules for its fields. */
#include "participant.h"

#include <stdint.h>
#include <string.h>

#include "roles.h"

int participant_valid_id(const char *id) {
  size_t n = strlen(id);
  if (n == 0 || n > PARTICIPANT_ID_MAX)
    return 0;
  int segment_start = 1;
  for (size_t i = 0; i < n; i++) {
    char c = id[i];
    if (c == ':') {
      if (segment_start)
        return 0; /* empty segment */
      segment_start = 1;
      continue;
    }
    int lower = c >= 'a' && c <= 'z';
    int digit = c >= '0' && c <= '9';
    if (!(lower || digit || c == '-'))
      return 0;
    if (i == 0 && !lower)
      return 0;
    segment_start = 0;
  }
  return !segment_start;
}

/* Length of the UTF-8 sequence starting at s (well-formed, shortest form,
 * no surrogates), or 0 if it is not one. */
static size_t s_utf8_char(const unsigned char *s, size_t left) {
  unsigned char c = s[0];
  size_t len;
  uint32_t cp;
  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (left < len)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return len;
}

int participant_valid_name(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n > PARTICIPANT_NAME_MAX)
    return 0;
  for (size_t i = 0; i < n;) {
    unsigned char c = (unsigned char)name[i];
    if (c < 0x20 || c == 0x7f)
      return 0;
    size_t len = s_utf8_char((const unsigned char *)name + i, n - i);
    if (!len)
      return 0; /* not UTF-8: strict proto3 decoders would reject it */
    i += len;
  }
  return 1;
}

int participant_valid(const participant_t *p) {
  return participant_valid_id(p->id) && roles_name(p->role) != NULL &&
         participant_valid_name(p->display_name);
}
