/* participant — a registry entry and the rules for its fields (pure). */
#ifndef KETEND_PARTICIPANT_H
#define KETEND_PARTICIPANT_H

#include <stdint.h>

#define PARTICIPANT_ID_MAX 64
#define PARTICIPANT_NAME_MAX 128
#define PARTICIPANT_KEY_BYTES 32

typedef struct {
  char id[PARTICIPANT_ID_MAX + 1];          /* e.g. "gemeente:0716" */
  int role;                                 /* keten.Role */
  char display_name[PARTICIPANT_NAME_MAX + 1];
  uint8_t transport_pk[PARTICIPANT_KEY_BYTES];
  uint8_t signing_pk[PARTICIPANT_KEY_BYTES];
  uint8_t sealing_pk[PARTICIPANT_KEY_BYTES];
  int64_t added_at_ms;
} participant_t;

/* A participant id is 1..64 bytes of [a-z0-9-] segments joined by ':',
 * each segment non-empty, starting with a letter: "coa", "vwn:zeeland",
 * "gemeente:0716". Returns 1 if id is valid. */
int participant_valid_id(const char *id);

/* A display name is 1..128 bytes of printable ASCII or UTF-8 text without
 * control characters. Returns 1 if valid. */
int participant_valid_name(const char *name);

/* Checks every field of p (id, role, name). Returns 1 if valid. */
int participant_valid(const participant_t *p);

#endif
