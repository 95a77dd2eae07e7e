/* fanout — what keten-bench-fanout's driver (bench_fanout.c) and its store
 * pre-population (fanout_store.c) share: the benchmark's participants and
 * their keys, the shape of its subjects and sections, and the builders of
 * the big stores of phases (c) and (d). Not part of keten; see
 * bench/README.md. */
#ifndef KETEN_BENCH_FANOUT_H
#define KETEN_BENCH_FANOUT_H

#include <stddef.h>
#include <stdint.h>

#include "keten.h"
#include "store.h"

#define FO_MAX_PRODUCERS 16
#define FO_RECIPIENTS 3
#define FO_FILLERS 64            /* extra registered participants, phase (c) */
#define FO_SEED_BYTES 32
/* What the producers (COA) write and may send, by the policy table
 * (proto/policy.c), to all three recipients (GEMEENTE, VOLUNTEER, CARE):
 * COA authors STORY; BEGELEIDING covers STORY and serves all three roles;
 * STORY is no special category, so no legal reference is needed. */
#define FO_KIND 3                /* SECTION_STORY: the kind every section has */
#define FO_PURPOSE 5             /* PURPOSE_BEGELEIDING */
#define FO_BASIS 1               /* BASIS_CONSENT */
#define FO_MAX_SLOTS 65536       /* subjects per producer (slot in 2 bytes) */

/* Every participant of a run, and the chain root that signs their
 * registry entries. Keys come from a seed, so a store prepared by one run
 * (and cached) still matches the keys of the next. */
typedef struct {
  keten_root_key_t root;
  keten_keys_t broker;
  keten_keys_t producer[FO_MAX_PRODUCERS];
  keten_keys_t recipient[FO_RECIPIENTS];
  keten_keys_t filler[FO_FILLERS];
} fo_keys_t;

/* Derives every key pair of the run, the root's too, from seed (keyed
 * BLAKE2b per participant and key kind, then libsodium's seed_keypair
 * functions). */
void fo_keys_derive(fo_keys_t *k, const uint8_t seed[FO_SEED_BYTES]);

/* Overwrites every secret key in k. */
void fo_keys_wipe(fo_keys_t *k);

/* The subject of producer p's subject slot s: 32 pseudo-random bytes from
 * the seed, with p in byte 29 and s in bytes 30-31 so that a recipient can
 * tell which pre-sealed section a delivery is. */
void fo_subject(const uint8_t seed[FO_SEED_BYTES], int p, unsigned s,
                uint8_t out[32]);

/* Decodes fo_subject()'s p and s; returns -1 if the subject is not one. */
int fo_subject_slot(const uint8_t subject[32], int *p, unsigned *s);

/* Registers the producers (COA), the recipients (GEMEENTE, VOLUNTEER,
 * CARE) and (fillers != 0) the filler participants (GEMEENTE and CARE,
 * alternately) in store, each entry signed by k->root and valid from an
 * hour before now for a year. */
int fo_register(store_t *store, const fo_keys_t *k, int fillers, char *err,
                size_t errlen);

/* Progress of a long build: called about once a second. */
typedef void (*fo_progress_fn)(const char *what, uint64_t done, uint64_t total,
                               void *arg);

/* Phase (c): a store holding n_subjects subjects with n_consents consents
 * recorded by filler participants for other fillers and the bench
 * recipients, each for kinds its recorder writes and a purpose the policy
 * allows to the recipient's role (dummy signatures: the store does not
 * re-check them), one small sealed section per subject by its recorder
 * with two wraps, and one audit entry per consent; plus the registry.
 * Written in big transactions. Returns 0 or -1 with err. */
int fo_build_big(const char *path, const fo_keys_t *k,
                 const uint8_t seed[FO_SEED_BYTES], uint64_t n_subjects,
                 uint64_t n_consents, fo_progress_fn progress, void *arg,
                 char *err, size_t errlen);

/* Phase (d): a store holding n_sections sealed sections of plaintext
 * pt_bytes each, spread over n_subjects subjects authored by producers
 * 0..n_producers-1, each with a consent for recipient 0 and queued in
 * recipient 0's mailbox (seq 1..n_sections), not delivered. Every section
 * is validly signed and opens for recipient 0. threads signer threads
 * run beside the inserting one. Returns 0 or -1 with err. */
int fo_build_queue(const char *path, const fo_keys_t *k,
                   const uint8_t seed[FO_SEED_BYTES], uint64_t n_sections,
                   uint64_t n_subjects, size_t pt_bytes, int n_producers,
                   int threads, fo_progress_fn progress, void *arg, char *err,
                   size_t errlen);

/* The role of recipient r: "GEMEENTE", "VOLUNTEER", "CARE". */
const char *fo_recipient_role(int r);

/* The id of producer p / recipient r / filler f ("prod-0", "recv-0",
 * "fill-0"), in a static table. */
const char *fo_producer_id(int p);
const char *fo_recipient_id(int r);
const char *fo_filler_id(int f);

/* Writes the section plaintext of producer p's k-th section: a JSON object
 * naming p and k, padded with spaces to exactly len bytes (len >= 64).
 * Returns the length of the prefix that names p and k. */
size_t fo_plaintext(char *buf, size_t len, int p, uint64_t k);

#endif
