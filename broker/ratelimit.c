/* ratelimit — token buckets per participant. */
#include "ratelimit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ratelimit_bucket_t *s_find(ratelimit_t *t, const char *id,
                                  int64_t now_ms, double burst) {
  for (size_t i = 0; i < t->n; i++)
    if (strcmp(t->buckets[i].id, id) == 0)
      return &t->buckets[i];
  if (t->n == t->cap) {
    size_t cap = t->cap ? 2 * t->cap : 16;
    ratelimit_bucket_t *grown = realloc(t->buckets, cap * sizeof *grown);
    if (!grown)
      return NULL;
    t->buckets = grown;
    t->cap = cap;
  }
  ratelimit_bucket_t *b = &t->buckets[t->n++];
  memset(b, 0, sizeof *b);
  snprintf(b->id, sizeof b->id, "%s", id);
  b->tokens = burst;
  b->last_ms = now_ms;
  return b;
}

int ratelimit_take(ratelimit_t *t, const char *id, int64_t now_ms,
                   double rate, double burst, int64_t *retry_after_ms,
                   ratelimit_bucket_t **bucket) {
  ratelimit_bucket_t *b = s_find(t, id, now_ms, burst);
  if (bucket)
    *bucket = b;
  if (!b)
    return -1;
  return ratelimit_bucket_take(b, now_ms, rate, burst, retry_after_ms);
}

void ratelimit_bucket_init(ratelimit_bucket_t *b, int64_t now_ms,
                           double burst) {
  b->tokens = burst;
  b->last_ms = now_ms;
}

int ratelimit_bucket_take(ratelimit_bucket_t *b, int64_t now_ms, double rate,
                          double burst, int64_t *retry_after_ms) {
  if (now_ms > b->last_ms) {
    b->tokens += (double)(now_ms - b->last_ms) * rate / 1000.0;
    if (b->tokens > burst)
      b->tokens = burst;
  }
  b->last_ms = now_ms > b->last_ms ? now_ms : b->last_ms;
  if (b->tokens >= 1.0) {
    b->tokens -= 1.0;
    return 1;
  }
  b->refused++;
  if (retry_after_ms)
    *retry_after_ms = (int64_t)((1.0 - b->tokens) * 1000.0 / rate) + 1;
  return 0;
}

void ratelimit_clear(ratelimit_t *t) {
  free(t->buckets);
  memset(t, 0, sizeof *t);
}
