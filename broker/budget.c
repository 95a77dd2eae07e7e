/* budget — per-participant request budgets and their aggregated audit. */
#include "budget.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const s_names[BUDGET_KINDS] = {
    "requests_per_second",   "max_connections",
    "max_pending_per_author", "max_consents_per_recipient",
    "delivery_window_bytes", "stall_timeouts",
    "max_author_bytes"};

const char *budget_name(budget_kind_t kind) {
  return (unsigned)kind < BUDGET_KINDS ? s_names[kind] : "unknown budget";
}

void budget_clear(budget_t *t) {
  free(t->parts);
  free(t->index);
  free(t->fd_owner);
  memset(t, 0, sizeof *t);
}

static uint32_t s_hash(const char *s) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 16777619u;
  }
  return h;
}

/* The index position of id: its slot, or the empty one it would take. */
static size_t s_probe(const budget_t *t, const char *id) {
  size_t mask = t->index_slots - 1;
  size_t i = s_hash(id) & mask;
  while (t->index[i] && strcmp(t->parts[t->index[i] - 1].id, id) != 0)
    i = (i + 1) & mask;
  return i;
}

static int s_grow(budget_t *t) {
  size_t cap = t->cap ? 2 * t->cap : 16;
  budget_participant_t *parts = realloc(t->parts, cap * sizeof *parts);
  if (!parts)
    return -1;
  t->parts = parts;
  uint32_t *index = calloc(2 * cap, sizeof *index);
  if (!index)
    return -1;
  free(t->index);
  t->index = index;
  t->index_slots = 2 * cap;
  t->cap = cap;
  for (size_t k = 0; k < t->n; k++)
    t->index[s_probe(t, t->parts[k].id)] = (uint32_t)(k + 1);
  return 0;
}

budget_participant_t *budget_find(budget_t *t, const char *id, int64_t now_ms,
                                  double burst) {
  if (t->index_slots) {
    size_t i = s_probe(t, id);
    if (t->index[i])
      return &t->parts[t->index[i] - 1];
  }
  if (t->n == t->cap && s_grow(t) != 0)
    return NULL;
  budget_participant_t *p = &t->parts[t->n];
  memset(p, 0, sizeof *p);
  snprintf(p->id, sizeof p->id, "%s", id);
  if (burst > 0)
    ratelimit_bucket_init(&p->bucket, now_ms, burst);
  else
    p->bucket_unset = 1; /* filled at its first request */
  t->index[s_probe(t, p->id)] = (uint32_t)(++t->n);
  return p;
}

static budget_participant_t *s_lookup(const budget_t *t, const char *id) {
  if (!t->index_slots)
    return NULL;
  size_t i = s_probe(t, id);
  return t->index[i] ? &t->parts[t->index[i] - 1] : NULL;
}

static void s_note(budget_participant_t *p, budget_kind_t kind,
                   uint64_t limit, int64_t now_ms, int *log) {
  budget_refusals_t *r = &p->refused[kind];
  if (r->pending == 0)
    r->first_ms = now_ms;
  if (r->pending == r->flushed)
    r->unflushed_ms = now_ms;
  r->pending++;
  r->last_ms = now_ms;
  r->limit = limit;
  p->has_refusals = 1;
  if (!r->logged) {
    r->logged = 1;
    *log = 1;
  } else {
    r->unlogged++;
    *log = 0;
  }
}

int budget_request(budget_t *t, const char *id, int64_t now_ms, double rate,
                   double burst, int64_t *retry_after_ms) {
  budget_participant_t *p = budget_find(t, id, now_ms, burst);
  if (!p)
    return -1;
  if (p->bucket_unset) {
    ratelimit_bucket_init(&p->bucket, now_ms, burst);
    p->bucket_unset = 0;
  }
  if (ratelimit_bucket_take(&p->bucket, now_ms, rate, burst, retry_after_ms))
    return 1;
  p->bucket.refused = 0; /* counted by budget_refused, not in the bucket */
  return 0;
}

int budget_connection(budget_t *t, int fd, const char *id, int max,
                      int64_t now_ms) {
  if (fd < 0)
    return 1;
  budget_participant_t *p = budget_find(t, id, now_ms, 0);
  if (!p)
    return -1;
  uint32_t self = (uint32_t)(p - t->parts) + 1;
  if ((size_t)fd < t->n_fds && t->fd_owner[fd] == self)
    return 1;
  if ((size_t)fd >= t->n_fds) {
    size_t n = t->n_fds ? t->n_fds : 64;
    while (n <= (size_t)fd)
      n *= 2;
    uint32_t *grown = realloc(t->fd_owner, n * sizeof *grown);
    if (!grown)
      return -1;
    memset(grown + t->n_fds, 0, (n - t->n_fds) * sizeof *grown);
    t->fd_owner = grown;
    t->n_fds = n;
  }
  /* The descriptor held another participant's connection: that one is
   * closed (its monitor event may still be on its way). */
  budget_disconnected(t, fd);
  if (p->connections >= max)
    return 0;
  p->connections++;
  t->fd_owner[fd] = self;
  return 1;
}

void budget_disconnected(budget_t *t, int fd) {
  if (fd < 0 || (size_t)fd >= t->n_fds || !t->fd_owner[fd])
    return;
  budget_participant_t *p = &t->parts[t->fd_owner[fd] - 1];
  if (p->connections > 0)
    p->connections--;
  t->fd_owner[fd] = 0;
}

int budget_connections(const budget_t *t, const char *id) {
  const budget_participant_t *p = s_lookup(t, id);
  return p ? p->connections : 0;
}

int budget_refused(budget_t *t, const char *id, budget_kind_t kind,
                   uint64_t limit, int64_t now_ms) {
  if ((unsigned)kind >= BUDGET_KINDS)
    return -1;
  budget_participant_t *p = budget_find(t, id, now_ms, 0);
  if (!p)
    return -1;
  int log;
  s_note(p, kind, limit, now_ms, &log);
  return log;
}

static int s_flush_one(const char *id, budget_kind_t kind,
                       budget_refusals_t *r, int64_t now_ms,
                       int64_t interval_ms, int force, budget_fn fn,
                       void *arg) {
  if (r->pending <= r->flushed)
    return 0;
  if (!force && r->audited && now_ms - r->audited_ms < interval_ms &&
      now_ms >= r->audited_ms)
    return 0;
  int64_t span = r->last_ms - r->unflushed_ms;
  uint64_t count = r->pending - r->flushed;
  /* the first refusal of the period had its own line */
  uint64_t unlogged = r->unlogged;
  if (fn && fn(id, kind, count, span < 0 ? 0 : span, r->limit, unlogged,
               arg) != 0)
    return -1;
  r->flushed = r->pending;
  r->prev_audited = r->audited;
  r->prev_audited_ms = r->audited_ms;
  r->audited = 1;
  r->audited_ms = now_ms;
  r->unlogged = 0;
  r->logged = 0;
  return 0;
}

int budget_flush(budget_t *t, int64_t now_ms, int64_t interval_ms, int force,
                 budget_fn fn, void *arg) {
  for (size_t k = 0; k < t->n; k++) {
    budget_participant_t *p = &t->parts[k];
    if (!p->has_refusals)
      continue;
    for (int kind = 0; kind < BUDGET_KINDS; kind++) {
      budget_refusals_t *r = &p->refused[kind];
      if (r->pending > r->flushed)
        t->flushing = 1;
      if (s_flush_one(p->id, (budget_kind_t)kind, r, now_ms, interval_ms,
                      force, fn, arg) != 0)
        return -1;
    }
  }
  return 0;
}

void budget_settle(budget_t *t, int committed) {
  if (!t->flushing)
    return;
  t->flushing = 0;
  for (size_t k = 0; k < t->n; k++) {
    budget_participant_t *p = &t->parts[k];
    if (!p->has_refusals)
      continue;
    int left = 0;
    for (int kind = 0; kind < BUDGET_KINDS; kind++) {
      budget_refusals_t *r = &p->refused[kind];
      if (r->flushed) {
        if (committed) {
          r->pending -= r->flushed;
          r->first_ms = r->unflushed_ms;
        } else {
          r->audited = r->prev_audited;
          r->audited_ms = r->prev_audited_ms;
          r->unflushed_ms = r->first_ms;
        }
        r->flushed = 0;
      }
      if (r->pending)
        left = 1;
    }
    p->has_refusals = left;
  }
}

uint64_t budget_pending(const budget_t *t, const char *id,
                        budget_kind_t kind) {
  uint64_t n = 0;
  for (size_t k = 0; k < t->n; k++)
    if ((!id || strcmp(t->parts[k].id, id) == 0) &&
        (unsigned)kind < BUDGET_KINDS)
      n += t->parts[k].refused[kind].pending;
  return n;
}
