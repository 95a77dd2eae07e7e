/* registry — the root-signed entries the broker knows, in memory, looked up
 * by transport key (for ZAP and per frame), by id and by signing key.
 * Loaded from the store at start-up and on reload; a reload replaces the
 * table as a whole. Every entry in it has been checked against the chain
 * root key; lookups that admit take the time, since entries expire. */
#ifndef KETEND_REGISTRY_H
#define KETEND_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "participant.h"
#include "store.h"

typedef struct registry registry_t;

/* Creates an empty registry, or NULL when out of memory. */
registry_t *registry_new(void);

/* Frees the registry and sets *reg to NULL; NULL is ignored. */
void registry_destroy(registry_t **reg);

/* Replaces the contents with the store's installed entries whose root
 * signature verifies with root_pk. With strict, one entry that does not
 * verify fails the load (start-up: refuse to serve); without, such
 * entries are left out and counted in *n_refused (may be NULL), the first
 * one's reason in err. On failure the old contents stay and -1 is
 * returned with a reason in err. */
int registry_load(registry_t *reg, store_t *store, const uint8_t root_pk[32],
                  int strict, size_t *n_refused, char *err, size_t errlen);

/* Replaces the contents with n entries (copied, not checked). 0 or -1. */
int registry_set(registry_t *reg, const participant_t *list, size_t n);

/* The entry admitted at now_ms with this transport key, or NULL. Pointers
 * returned here are valid until the next load or set. */
const participant_t *registry_find_transport(
    const registry_t *reg, const uint8_t key[PARTICIPANT_KEY_BYTES],
    int64_t now_ms);

/* The primary entry of id at now_ms: the valid one with the latest
 * valid_from (whose sealing key authors seal to), or NULL. */
const participant_t *registry_find_id(const registry_t *reg, const char *id,
                                      int64_t now_ms);

/* A known entry of id with this signing key, valid or not (sections signed
 * before a key rotation still verify), preferring one whose window holds
 * at_ms; NULL if none. */
const participant_t *registry_find_signing(
    const registry_t *reg, const char *id,
    const uint8_t signing_pk[PARTICIPANT_KEY_BYTES], int64_t at_ms);

/* Number of entries, and of entries valid at now_ms. */
size_t registry_count(const registry_t *reg);
size_t registry_count_valid(const registry_t *reg, int64_t now_ms);

/* The i-th entry in id order (i < registry_count), for listing each id
 * once (the metrics' per-participant gauges). */
const participant_t *registry_at(const registry_t *reg, size_t i);

#endif
