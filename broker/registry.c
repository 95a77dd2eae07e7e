/* registry — root-signed entries in memory, sorted two ways for bsearch. */
#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct registry {
  participant_t *by_key;    /* sorted by transport_pk, then valid_from desc */
  participant_t **by_id;    /* pointers into by_key, by id, valid_from desc */
  size_t n;
};

registry_t *registry_new(void) { return calloc(1, sizeof(registry_t)); }

static void s_clear(registry_t *reg) {
  free(reg->by_key);
  free(reg->by_id);
  reg->by_key = NULL;
  reg->by_id = NULL;
  reg->n = 0;
}

void registry_destroy(registry_t **reg) {
  if (!reg || !*reg)
    return;
  s_clear(*reg);
  free(*reg);
  *reg = NULL;
}

static int s_newer_first(const participant_t *a, const participant_t *b) {
  if (a->valid_from_ms != b->valid_from_ms)
    return a->valid_from_ms > b->valid_from_ms ? -1 : 1;
  return memcmp(a->entry_hash, b->entry_hash, PARTICIPANT_HASH_BYTES);
}

static int s_cmp_key(const void *a, const void *b) {
  const participant_t *x = a, *y = b;
  int c = memcmp(x->transport_pk, y->transport_pk, PARTICIPANT_KEY_BYTES);
  return c ? c : s_newer_first(x, y);
}

static int s_cmp_id(const void *a, const void *b) {
  const participant_t *x = *(participant_t *const *)a,
                      *y = *(participant_t *const *)b;
  int c = strcmp(x->id, y->id);
  return c ? c : s_newer_first(x, y);
}

int registry_set(registry_t *reg, const participant_t *list, size_t n) {
  participant_t *by_key = malloc((n ? n : 1) * sizeof *by_key);
  participant_t **by_id = malloc((n ? n : 1) * sizeof *by_id);
  if (!by_key || !by_id) {
    free(by_key);
    free(by_id);
    return -1;
  }
  if (n)
    memcpy(by_key, list, n * sizeof *by_key);
  qsort(by_key, n, sizeof *by_key, s_cmp_key);
  for (size_t i = 0; i < n; i++)
    by_id[i] = &by_key[i];
  qsort(by_id, n, sizeof *by_id, s_cmp_id);
  s_clear(reg);
  reg->by_key = by_key;
  reg->by_id = by_id;
  reg->n = n;
  return 0;
}

typedef struct {
  participant_t *list;
  size_t n, cap;
  int failed;
  const uint8_t *root_pk;
  int strict;
  size_t refused;
  char first_why[256];
} s_collect_t;

static int s_collect(const participant_t *p, void *arg) {
  s_collect_t *c = arg;
  char why[256];
  if (participant_verify(p, c->root_pk, why, sizeof why) != 0) {
    if (!c->refused++)
      snprintf(c->first_why, sizeof c->first_why, "%s", why);
    return c->strict ? 1 : 0;
  }
  if (c->n == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 16;
    participant_t *grown = realloc(c->list, cap * sizeof *grown);
    if (!grown) {
      c->failed = 1;
      return 1;
    }
    c->list = grown;
    c->cap = cap;
  }
  c->list[c->n++] = *p;
  return 0;
}

int registry_load(registry_t *reg, store_t *store, const uint8_t root_pk[32],
                  int strict, size_t *n_refused, char *err, size_t errlen) {
  s_collect_t c = {.root_pk = root_pk, .strict = strict};
  int rc = store_entry_each(store, 0, s_collect, &c, err, errlen);
  if (rc == 0 && c.failed) {
    snprintf(err, errlen, "out of memory loading the registry");
    rc = -1;
  }
  if (rc == 0 && c.refused && strict) {
    snprintf(err, errlen, "%s", c.first_why);
    rc = -1;
  } else if (rc == 0 && c.refused) {
    snprintf(err, errlen, "%s", c.first_why);
  }
  if (rc == 0 && registry_set(reg, c.list, c.n) != 0) {
    snprintf(err, errlen, "out of memory loading the registry");
    rc = -1;
  }
  if (n_refused)
    *n_refused = c.refused;
  free(c.list);
  return rc;
}

const participant_t *registry_find_transport(
    const registry_t *reg, const uint8_t key[PARTICIPANT_KEY_BYTES],
    int64_t now_ms) {
  /* lower bound of key, then the first of its entries valid now */
  size_t lo = 0, hi = reg->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (memcmp(reg->by_key[mid].transport_pk, key, PARTICIPANT_KEY_BYTES) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  for (size_t i = lo; i < reg->n && memcmp(reg->by_key[i].transport_pk, key,
                                           PARTICIPANT_KEY_BYTES) == 0;
       i++)
    if (participant_valid_at(&reg->by_key[i], now_ms))
      return &reg->by_key[i];
  return NULL;
}

/* Index of the first entry of id in by_id, or reg->n if none. */
static size_t s_first_of(const registry_t *reg, const char *id) {
  size_t lo = 0, hi = reg->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (strcmp(reg->by_id[mid]->id, id) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < reg->n && strcmp(reg->by_id[lo]->id, id) == 0 ? lo : reg->n;
}

const participant_t *registry_find_id(const registry_t *reg, const char *id,
                                      int64_t now_ms) {
  if (!id || strlen(id) > PARTICIPANT_ID_MAX)
    return NULL;
  for (size_t i = s_first_of(reg, id);
       i < reg->n && strcmp(reg->by_id[i]->id, id) == 0; i++)
    if (participant_valid_at(reg->by_id[i], now_ms))
      return reg->by_id[i];
  return NULL;
}

const participant_t *registry_find_signing(
    const registry_t *reg, const char *id,
    const uint8_t signing_pk[PARTICIPANT_KEY_BYTES], int64_t at_ms) {
  if (!id || strlen(id) > PARTICIPANT_ID_MAX)
    return NULL;
  const participant_t *any = NULL;
  for (size_t i = s_first_of(reg, id);
       i < reg->n && strcmp(reg->by_id[i]->id, id) == 0; i++) {
    const participant_t *p = reg->by_id[i];
    if (memcmp(p->signing_pk, signing_pk, PARTICIPANT_KEY_BYTES) != 0)
      continue;
    if (participant_valid_at(p, at_ms))
      return p;
    if (!any)
      any = p;
  }
  return any;
}

size_t registry_count(const registry_t *reg) { return reg->n; }

const participant_t *registry_at(const registry_t *reg, size_t i) {
  return i < reg->n ? reg->by_id[i] : NULL;
}

size_t registry_count_valid(const registry_t *reg, int64_t now_ms) {
  size_t n = 0;
  for (size_t i = 0; i < reg->n; i++)
    n += participant_valid_at(&reg->by_key[i], now_ms) ? 1 : 0;
  return n;
}
