/* erase — erasure (AVG art. 17) and retention.
 *
 * An erasure is a controller's signed request (keten.Erasure, signed over
 * keten/erasure/v1 by its author) to erase the sections it authored about
 * a subject: every version of them, of the kinds it names or all, with
 * every key wrap, the pending deliveries of them and the pending rewrap
 * requests for them; with erase_evidence also the evidence_ref of the
 * author's consent records on the subject. The author sends it itself
 * (ERASE, handle_erase.c) or hands it to the operator, who applies it
 * with `keten admin subject erase` (clients/keten/cmd_erase.c). Each
 * recipient that held a wrap gets a broker-signed NOTICE_DELETE (reason
 * NOTICE_REASON_ERASED). Retention: every section version carries a date
 * (PUT, or the kind's default in proto/policy.c); the sweep erases what
 * passed it. The audit records each erasure (counts, kinds, erasure_id),
 * never content; the commit that follows truncates the WAL so the erased
 * bytes leave the database files (store_wal_truncate).
 *
 * docs/protocol.md 7.12 and 8.9, docs/sections.md ("Retention"),
 * docs/operations.md ("Erasure (AVG art. 17) and retention"). */
#ifndef KETEND_ERASE_H
#define KETEND_ERASE_H

#include <stddef.h>
#include <stdint.h>

#include "broker_internal.h"
#include "keten.pb-c.h"
#include "store.h"

/* Every section kind there is (bits 1..12): a valid Erasure.kinds has no
 * other bit; 0 means all of them. */
#define ERASE_ALL_KINDS UINT64_C(0x1ffe)

/* The evidence_ref an erased consent record carries instead of its own:
 * this prefix and the 32 hex digits of the erasure_id that erased it. Its
 * signature then no longer verifies (what it covered is gone); the signed
 * Erasure in the erasure table accounts for it (docs/protocol.md 7.12). */
#define ERASE_EVIDENCE_MARKER "erased:"

/* How far ahead of the broker's clock requested_at_ms may be. */
#define ERASE_MAX_SKEW_MS INT64_C(86400000)
/* An erasure request older than this is refused: a request is applied
 * soon after it is signed, and a back-dated one signed with a key that
 * was retired since must not be accepted. */
#define ERASE_MAX_AGE_MS (INT64_C(30) * 86400000)

/* Sections erased per retention sweep (versions, across groups). */
#define ERASE_SWEEP_VERSIONS 64
/* Owed notice rows (keten admin's erasures) signed per sweep. */
#define ERASE_SWEEP_NOTICES 240

/* One recipient that held a wrap of an erased section of kind, up to
 * that version. */
typedef struct {
  char recipient[PARTICIPANT_ID_MAX + 1];
  int kind;
  uint64_t up_to_version;
} erase_target_t;

/* What an erasure removed. */
typedef struct {
  store_erase_counts_t counts;
  int64_t consents;              /* consent records whose evidence_ref was erased */
  int64_t rewraps_dropped;       /* erase_evidence: the author's other pending rewraps */
  erase_target_t *targets;       /* by recipient, then kind (malloc'd) */
  size_t n_targets, cap;
  int failed;
} erase_result_t;

/* Checks the shape of an erasure: no unknown fields, 16-byte erasure_id,
 * 32-byte subject, a participant id as author, kinds within
 * ERASE_ALL_KINDS, reason 1..255 printable ASCII bytes, requested_at_ms
 * set and at most ERASE_MAX_SKEW_MS after now_ms (0: not checked), a
 * 64-byte signature. 0, or -1 with why. */
int erase_check_shape(const Keten__Erasure *e, int64_t now_ms, char *why,
                      size_t whylen);

/* Applies erasure e (shape and signature checked by the caller) in the
 * store's open transaction: the sections, wraps, pending deliveries and
 * rewrap requests; with erase_evidence the evidence references; the
 * erasure row (applied_by, now_ms); with owe_notices (keten admin: no
 * broker key to sign with) a row per notice ketend owes; and ONE audit
 * entry: audit comes with name, status, actor and trace ids set, and gets
 * subject, counterparty (the author) and detail here. Returns 0, 1 when
 * erasure_id was applied before (nothing done), -1 on a store failure.
 * out (erase_result_free) gets what went. */
int erase_apply(store_t *store, const Keten__Erasure *e, const char *applied_by,
                int64_t now_ms, audit_entry_t *audit, int owe_notices,
                erase_result_t *out);

void erase_result_free(erase_result_t *res);

/* ketend: sends every target recipient of res one NOTICE_DELETE (reason
 * ERASED) naming what it held of author's sections of subject, signed
 * and audited by access_notify(). 0, or -1. */
int erase_notify(broker_t *b, const request_t *r, const uint8_t subject[32],
                 const char *author, const erase_result_t *res);

/* ketend's sweep (once a second, inside the batch): erases up to
 * ERASE_SWEEP_VERSIONS section versions whose retention passed (one audit
 * entry per (subject, kind, author) group, notices with reason ERASED),
 * and signs and queues the notices keten admin's erasures owe. */
int erase_sweep(broker_t *b, int64_t now_ms);

/* ERASE: the author's own signed erasure. */
int handle_erase(request_t *r);

#endif
