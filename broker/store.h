/* store — the broker's durable state behind one interface.
 *
 * store_sqlite.c implements it on SQLite (WAL, synchronous=FULL). A second
 * backend (e.g. PostgreSQL) is a second implementation of this header.
 * Every function returns 0 on success and -1 on failure with a reason in
 * err unless documented otherwise; no function prints.
 */
#ifndef KETEND_STORE_H
#define KETEND_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "participant.h"

typedef struct store store_t;

/* Opens (creating if needed) the store at path and brings its schema up to
 * date. A store written by a newer keten is refused. */
store_t *store_open(const char *path, char *err, size_t errlen);

/* Closes the store and sets *store to NULL; NULL is ignored. */
void store_close(store_t **store);

/* The schema version the store is at after store_open(). */
int store_schema_version(store_t *store);

/* The newest schema version this build knows. */
int store_schema_latest(void);

/* Adds a participant. Fails if p is invalid, or if its id or transport key
 * is already registered. Durable when it returns 0. */
int store_participant_add(store_t *store, const participant_t *p, char *err,
                          size_t errlen);

/* Removes participant id. Returns 1 if removed, 0 if there was none, -1 on
 * error. */
int store_participant_remove(store_t *store, const char *id, char *err,
                             size_t errlen);

/* Calls fn for each participant in id order; stops early (returning 0) when
 * fn returns non-zero. */
typedef int (*store_participant_fn)(const participant_t *p, void *arg);
int store_participant_each(store_t *store, store_participant_fn fn, void *arg,
                           char *err, size_t errlen);

/* A number that changes whenever another connection (e.g. `keten admin`)
 * committed to the store. Returns -1 on error. */
int64_t store_data_version(store_t *store);

#endif
