/* entry — root-signed registry entries. */
#include "entry.h"

#include <stdio.h>
#include <string.h>

#include "canon.h"
#include "roles.h"

int entry_reserved_id(const char *id) {
  return id && (strcmp(id, "ketend") == 0 || strcmp(id, "operator") == 0);
}

int entry_valid_id(const char *id) {
  size_t n = id ? strlen(id) : 0;
  if (n == 0 || n > CANON_MAX_ID)
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

int entry_valid_name(const char *name) {
  size_t n = name ? strlen(name) : 0;
  if (n == 0 || n > CANON_MAX_NAME)
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

/* The shape checks of entry_check(), and (with root_pk) the signature. */
static int s_check(const Keten__RegistryEntry *e, const uint8_t *root_pk,
                   char *why, size_t whylen) {
  const char *reason = NULL;
  if (!e)
    reason = "no registry entry";
  else if (!canon_exact(&e->base))
    reason = "registry entry carries fields its signature does not cover";
  else if (!entry_valid_id(e->participant_id))
    reason = "registry entry has no valid participant id";
  else if (entry_reserved_id(e->participant_id))
    reason = "registry entry names an id the broker's own audit entries use "
             "(ketend, operator)";
  else if (!roles_name((int)e->role))
    reason = "registry entry has an unknown role";
  else if (!entry_valid_name(e->display_name))
    reason = "registry entry has an invalid display name";
  else if (e->transport_key.len != 32 || e->signing_key.len != 32 ||
           e->sealing_key.len != 32)
    reason = "registry entry keys must be 32 bytes each";
  else if (e->valid_until_ms <= e->valid_from_ms ||
           e->valid_until_ms > (uint64_t)INT64_MAX)
    reason = "registry entry validity window is empty";
  else if (e->root_signature.len != CANON_SIGNATURE_BYTES)
    reason = "registry entry is not signed by the chain root";
  else if (root_pk && canon_verify_entry(e, root_pk) != 0)
    reason = "registry entry's signature does not verify with the chain root key";
  if (reason && why && whylen)
    snprintf(why, whylen, "%s%s%s", reason,
             e && entry_valid_id(e->participant_id) ? ": " : "",
             e && entry_valid_id(e->participant_id) ? e->participant_id : "");
  return reason ? -1 : 0;
}

int entry_check_shape(const Keten__RegistryEntry *e, char *why,
                      size_t whylen) {
  return s_check(e, NULL, why, whylen);
}

int entry_check(const Keten__RegistryEntry *e, const uint8_t root_pk[32],
                char *why, size_t whylen) {
  return s_check(e, root_pk, why, whylen);
}

int entry_valid_at(const Keten__RegistryEntry *e, uint64_t t) {
  return e && e->valid_from_ms <= t && t < e->valid_until_ms;
}
