/* ratelimit — token buckets per participant (pure: the caller gives the
 * time). A participant may make `rate` requests a second, sustained, and
 * `burst` at once; a refusal tells when the next one would pass. The
 * table also counts refusals not yet audited, so that a flood of refused
 * requests costs one audit entry a second, not one each. */
#ifndef KETEND_RATELIMIT_H
#define KETEND_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "participant.h"

typedef struct {
  char id[PARTICIPANT_ID_MAX + 1];
  double tokens;
  int64_t last_ms;           /* when tokens was last brought up to date */
  uint64_t refused;          /* refusals not yet in a committed audit entry */
  uint64_t flushed;          /* of those, in an entry of the open batch */
  int64_t audited_ms;        /* when the last audit entry was written */
} ratelimit_bucket_t;

typedef struct {
  ratelimit_bucket_t *buckets;
  size_t n, cap;
} ratelimit_t;

/* Takes one token of id's bucket (a new bucket starts full). Returns 1 if
 * the request may go ahead, 0 if not (then *retry_after_ms, may be NULL,
 * gets how long until a token is back, and the refusal is counted), -1
 * when out of memory. *bucket (may be NULL) points at id's bucket until
 * the next call. */
int ratelimit_take(ratelimit_t *t, const char *id, int64_t now_ms,
                   double rate, double burst, int64_t *retry_after_ms,
                   ratelimit_bucket_t **bucket);

/* One bucket's arithmetic (what ratelimit_take does once it found id's
 * bucket), for tables kept elsewhere (budget.c): init fills the bucket;
 * take returns 1 (a token taken) or 0 (refused, counted in b->refused,
 * *retry_after_ms set when not NULL). */
void ratelimit_bucket_init(ratelimit_bucket_t *b, int64_t now_ms,
                           double burst);
int ratelimit_bucket_take(ratelimit_bucket_t *b, int64_t now_ms, double rate,
                          double burst, int64_t *retry_after_ms);

/* Frees the table's memory. */
void ratelimit_clear(ratelimit_t *t);

#endif
