/* refusals — refused handshakes counted per source address. */
#include "refusals.h"

#include <stdio.h>
#include <string.h>

#define INDEX_SLOTS (2 * REFUSALS_MAX_SOURCES)

static size_t s_limit(const refusals_t *t) {
  return t->limit && t->limit < REFUSALS_MAX_SOURCES ? t->limit
                                                     : REFUSALS_MAX_SOURCES;
}

static uint32_t s_hash(const char *s) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 16777619u;
  }
  return h;
}

/* The index position of addr: its slot, or the empty place it would go. */
static size_t s_probe(const refusals_t *t, const char *addr) {
  size_t i = s_hash(addr) & (INDEX_SLOTS - 1);
  while (t->index[i] &&
         strcmp(t->sources[t->index[i] - 1].addr, addr) != 0)
    i = (i + 1) & (INDEX_SLOTS - 1);
  return i;
}

static void s_reindex(refusals_t *t) {
  memset(t->index, 0, sizeof t->index);
  for (size_t k = 0; k < t->n; k++)
    t->index[s_probe(t, t->sources[k].addr)] = (uint16_t)(k + 1);
}

int refusals_note(refusals_t *t, const char *addr, int64_t now_ms) {
  char key[REFUSALS_ADDR_MAX + 1];
  snprintf(key, sizeof key, "%s", addr && *addr ? addr : REFUSALS_NO_ADDR);
  size_t i = s_probe(t, key);
  refusals_source_t *s;
  if (t->index[i]) {
    s = &t->sources[t->index[i] - 1];
  } else if (t->n < s_limit(t)) {
    s = &t->sources[t->n];
    memset(s, 0, sizeof *s);
    memcpy(s->addr, key, sizeof key);
    t->index[i] = (uint16_t)(++t->n);
  } else {
    s = &t->other;
    if (!s->addr[0])
      snprintf(s->addr, sizeof s->addr, "%s", REFUSALS_OTHER);
  }
  if (s->pending == 0)
    s->first_ms = now_ms;
  if (s->pending == s->flushed)
    s->unflushed_ms = now_ms;
  s->pending++;
  s->last_ms = now_ms;
  t->total++;
  if (!s->logged) {
    s->logged = 1;
    return 1;
  }
  s->unlogged++;
  return 0;
}

static int s_idle(const refusals_source_t *s, int64_t now_ms,
                  int64_t interval_ms) {
  return s->pending == 0 && s->flushed == 0 &&
         (!s->audited || now_ms - s->audited_ms >= interval_ms ||
          now_ms < s->audited_ms);
}

static int s_flush_one(refusals_source_t *s, int64_t now_ms,
                       int64_t interval_ms, int force, refusals_fn fn,
                       void *arg) {
  if (s->pending <= s->flushed)
    return 0;
  if (!force && s->audited && now_ms - s->audited_ms < interval_ms &&
      now_ms >= s->audited_ms)
    return 0;
  int64_t span = s->last_ms - s->unflushed_ms;
  if (fn && fn(s, s->pending - s->flushed, span < 0 ? 0 : span, s->unlogged,
               arg) != 0)
    return -1;
  s->flushed = s->pending;
  s->prev_audited = s->audited;
  s->prev_audited_ms = s->audited_ms;
  s->audited = 1;
  s->audited_ms = now_ms;
  s->unlogged = 0;
  s->logged = 0;
  return 0;
}

int refusals_flush(refusals_t *t, int64_t now_ms, int64_t interval_ms,
                   int force, refusals_fn fn, void *arg) {
  size_t kept = 0;
  t->flushing = 1;
  for (size_t k = 0; k < t->n; k++)
    if (!s_idle(&t->sources[k], now_ms, interval_ms))
      t->sources[kept++] = t->sources[k];
  if (kept != t->n) {
    t->n = kept;
    s_reindex(t);
  }
  for (size_t k = 0; k < t->n; k++)
    if (s_flush_one(&t->sources[k], now_ms, interval_ms, force, fn, arg) != 0)
      return -1;
  return s_flush_one(&t->other, now_ms, interval_ms, force, fn, arg);
}

static void s_settle(refusals_source_t *s, int committed) {
  if (!s->flushed)
    return;
  if (committed) {
    s->pending -= s->flushed;
    s->first_ms = s->unflushed_ms;
  } else {
    s->audited = s->prev_audited;
    s->audited_ms = s->prev_audited_ms;
    s->unflushed_ms = s->first_ms;
  }
  s->flushed = 0;
}

void refusals_settle(refusals_t *t, int committed) {
  if (!t->flushing)
    return; /* O(1) for the batches that flushed nothing */
  t->flushing = 0;
  for (size_t k = 0; k < t->n; k++)
    s_settle(&t->sources[k], committed);
  s_settle(&t->other, committed);
}

uint64_t refusals_pending(const refusals_t *t) {
  uint64_t n = t->other.pending;
  for (size_t k = 0; k < t->n; k++)
    n += t->sources[k].pending;
  return n;
}
