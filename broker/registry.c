/* registry — participants in memory, sorted two ways for bsearch. */
#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct registry {
  participant_t *by_key;    /* sorted by transport_pk */
  participant_t **by_id;    /* pointers into by_key, sorted by id */
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

static int s_cmp_key(const void *a, const void *b) {
  return memcmp(((const participant_t *)a)->transport_pk,
                ((const participant_t *)b)->transport_pk,
                PARTICIPANT_KEY_BYTES);
}

static int s_cmp_id(const void *a, const void *b) {
  return strcmp((*(participant_t *const *)a)->id,
                (*(participant_t *const *)b)->id);
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
} s_collect_t;

static int s_collect(const participant_t *p, void *arg) {
  s_collect_t *c = arg;
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

int registry_load(registry_t *reg, store_t *store, char *err, size_t errlen) {
  s_collect_t c = {0};
  int rc = store_participant_each(store, s_collect, &c, err, errlen);
  if (rc == 0 && c.failed) {
    snprintf(err, errlen, "out of memory loading the registry");
    rc = -1;
  }
  if (rc == 0 && registry_set(reg, c.list, c.n) != 0) {
    snprintf(err, errlen, "out of memory loading the registry");
    rc = -1;
  }
  free(c.list);
  return rc;
}

const participant_t *registry_find_transport(
    const registry_t *reg, const uint8_t key[PARTICIPANT_KEY_BYTES]) {
  participant_t probe;
  memcpy(probe.transport_pk, key, PARTICIPANT_KEY_BYTES);
  return bsearch(&probe, reg->by_key, reg->n, sizeof probe, s_cmp_key);
}

const participant_t *registry_find_id(const registry_t *reg, const char *id) {
  participant_t probe;
  participant_t *pp = &probe;
  if (strlen(id) > PARTICIPANT_ID_MAX)
    return NULL;
  snprintf(probe.id, sizeof probe.id, "%s", id);
  participant_t **hit = bsearch(&pp, reg->by_id, reg->n, sizeof pp, s_cmp_id);
  return hit ? *hit : NULL;
}

size_t registry_count(const registry_t *reg) { return reg->n; }
