/* registry — the participants the broker admits, in memory, looked up by
 * transport key (for ZAP and per frame) and by id. Loaded from the store
 * at start-up and on reload; a reload replaces the table as a whole. */
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

/* Replaces the contents with the store's participants. On failure the
 * old contents stay and -1 is returned with a reason in err. */
int registry_load(registry_t *reg, store_t *store, char *err, size_t errlen);

/* Replaces the contents with n participants (copied). Returns 0 or -1. */
int registry_set(registry_t *reg, const participant_t *list, size_t n);

/* The participant with this transport public key, or NULL. The pointer is
 * valid until the next load or set. */
const participant_t *registry_find_transport(const registry_t *reg,
                                             const uint8_t key[PARTICIPANT_KEY_BYTES]);

/* The participant with this id, or NULL (valid until the next load/set). */
const participant_t *registry_find_id(const registry_t *reg, const char *id);

/* Number of participants. */
size_t registry_count(const registry_t *reg);

#endif
