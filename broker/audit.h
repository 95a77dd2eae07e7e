/* audit — entries of the tamper-evident audit log and their chain (pure).
 *
 * Fields follow the Logboek Dataverwerkingen standard where they fit
 * (trace_id, operation_id, parent_operation_id, name, status_code,
 * start/end time, foreign_operation, dpl.core.processing_activity_id,
 * dpl.core.data_subject_id) plus keten's own: seq, actor, counterparty,
 * section kind, consent id, detail. Each entry's hash is BLAKE2b-256 over
 * its canonical string, which includes the previous entry's hash. Nothing
 * secret or identifying in clear is ever put in an entry: the subject is
 * the pseudonym and detail is fixed text chosen by the broker.
 */
#ifndef KETEND_AUDIT_H
#define KETEND_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "participant.h"

#define AUDIT_HASH_BYTES 32
#define AUDIT_TAG "keten/audit/v1"
#define AUDIT_CHECKPOINT_TAG "keten/audit-checkpoint/v1"

enum { AUDIT_STATUS_OK = 1, AUDIT_STATUS_ERROR = 2 };

typedef struct {
  uint64_t seq;                            /* 1, 2, 3, ... */
  uint8_t trace_id[16];
  uint8_t operation_id[8];                 /* keten's own operation */
  uint8_t parent_operation_id[8];          /* the partner's operation, or zeros */
  char name[48];                           /* e.g. "keten.section.put" */
  int status;                              /* AUDIT_STATUS_* */
  int64_t start_ms, end_ms;
  char actor[PARTICIPANT_ID_MAX + 1];      /* who asked ("ketend" for the broker) */
  char counterparty[PARTICIPANT_ID_MAX + 1]; /* who it concerned, or "" */
  uint8_t subject[32];                     /* pseudonym, or zeros */
  int kind;                                /* section kind, or 0 */
  uint8_t consent_id[16];                  /* or zeros */
  int purpose;                             /* keten.Purpose, or 0 */
  uint8_t foreign_trace_id[16];            /* the partner's trace_id, or zeros */
  uint8_t foreign_operation_id[8];         /* the partner's operation_id, or zeros */
  char detail[128];                        /* fixed text, no personal data */
  uint8_t prev_hash[AUDIT_HASH_BYTES];
  uint8_t hash[AUDIT_HASH_BYTES];
  int damaged;  /* read back from storage in a shape no entry has (not hashed) */
} audit_entry_t;

/* Starts an entry written outside a request (a `keten admin` command, the
 * store's upgrade): status OK, fresh random trace and operation ids, the
 * time now, the actor and detail given; the rest zero. */
void audit_entry_local(audit_entry_t *e, const char *name, const char *actor,
                       const char *detail);

/* Computes the hash of e from its fields and e->prev_hash. */
void audit_entry_hash(const audit_entry_t *e, uint8_t out[AUDIT_HASH_BYTES]);

/* The leaf hash of e in the audit log's Merkle tree (RFC 9162):
 * SHA-256(0x00 || e's canonical string keten/audit/v1, prev_hash
 * included). */
void audit_leaf_hash(const audit_entry_t *e, uint8_t out[32]);

/* e's canonical string (what audit_entry_hash and audit_leaf_hash hash)
 * in a new buffer of *len bytes (caller frees), or NULL. */
uint8_t *audit_entry_string(const audit_entry_t *e, size_t *len);

/* Links e after an entry whose hash is prev (all zeros for the first):
 * sets e->prev_hash and e->hash. */
void audit_chain(audit_entry_t *e, const uint8_t prev[AUDIT_HASH_BYTES]);

/* Checks e against the hash of the entry before it: returns 0 if e's
 * prev_hash is prev, its hash matches its fields and it is not damaged. */
int audit_check(const audit_entry_t *e, const uint8_t prev[AUDIT_HASH_BYTES]);

/* The byte string a checkpoint signature covers (tag, seq, head hash,
 * time). Writes it to out when it fits in cap; returns its length. */
size_t audit_checkpoint_bytes(uint64_t seq, const uint8_t head[AUDIT_HASH_BYTES],
                              int64_t at_ms, uint8_t *out, size_t cap);

/* The Logboek processing activity name of a keten.Purpose. */
const char *audit_purpose_activity(int purpose);

#endif
