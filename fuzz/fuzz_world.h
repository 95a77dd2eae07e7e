/* fuzz_world — the fixed world the fuzz targets and their seed generator
 * share: deterministic keys (derived from fixed labels, so that the seeds
 * in fuzz/corpus/ keep their signatures valid), a chain root, the broker's
 * keys, and a store holding root-signed entries of participants of every
 * role. Test code only: these keys are public knowledge. */
#ifndef KETEN_FUZZ_WORLD_H
#define KETEN_FUZZ_WORLD_H

#include <stddef.h>
#include <stdint.h>

#include "keten.h"

/* The participants, in the order the fuzz targets' first byte picks them. */
#define FUZZ_N_PARTICIPANTS 7
extern const struct fuzz_participant {
  const char *id;
  const char *role;
} fuzz_participants[FUZZ_N_PARTICIPANTS];

/* Fixed windows: every entry is valid in [2020-01-01, 2100-01-01) and was
 * issued 2026-01-01, so its bytes (and signature) never change. */
#define FUZZ_VALID_FROM_MS INT64_C(1577836800000)
#define FUZZ_VALID_UNTIL_MS INT64_C(4102444800000)
#define FUZZ_ISSUED_AT_MS INT64_C(1767225600000)

/* The keys of label (a participant id, or "broker"). */
void fuzz_keys(const char *label, keten_keys_t *keys);

/* The chain root (with its secret). */
void fuzz_root(keten_root_key_t *root);

/* Creates in dir (which must exist): broker.key, broker.pub, root.pub and
 * the store keten.db with the entries of fuzz_participants. 0 or -1 with
 * err filled. */
int fuzz_world_create(const char *dir, char *err, size_t errlen);

/* A temporary directory on tmpfs when there is one (/dev/shm), else in
 * $TMPDIR or /tmp, named keten-fuzz-XXXXXX, into dir (cap bytes); removed
 * at exit. 0 or -1. */
int fuzz_tempdir(char *dir, size_t cap);

/* Removes dir and everything in it. */
void fuzz_rmtree(const char *dir);

/* Copies file from to to (mode 0600, replacing it). 0 or -1. */
int fuzz_copy_file(const char *from, const char *to);

#endif
