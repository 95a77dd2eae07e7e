/* participant — a registry entry and the rules for its fields. */
#include "participant.h"

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

int participant_valid_name(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n > PARTICIPANT_NAME_MAX)
    return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)name[i];
    if (c < 0x20 || c == 0x7f)
      return 0;
  }
  return 1;
}

int participant_valid(const participant_t *p) {
  return participant_valid_id(p->id) && roles_name(p->role) != NULL &&
         participant_valid_name(p->display_name);
}
