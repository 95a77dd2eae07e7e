/* handle_audit — AUDIT_PROOF (docs/protocol.md 7.11): the latest signed
 * tree head (or the one of at_size), a consistency proof from old_size,
 * and the inclusion proof of one entry about the caller's own traffic. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_log.h"
#include "broker_internal.h"
#include "log.h"
#include "request.h"

/* A refused inclusion proof is audited (the caller asked about traffic
 * not its own); the answer is ERROR_FORBIDDEN. */
static int s_forbidden(request_t *r, uint64_t seq) {
  audit_entry_t e;
  request_audit_init(&e, r, "keten.audit.proof", AUDIT_STATUS_ERROR);
  snprintf(e.detail, sizeof e.detail,
           "inclusion proof of entry %llu refused: not about the caller",
           (unsigned long long)seq);
  if (request_audit(r->b, &e) != 0)
    return -1;
  request_reply_error(r, KETEN__ERROR_CODE__ERROR_FORBIDDEN,
                      "entry %llu is not about your own traffic",
                      (unsigned long long)seq);
  return 0;
}

static void s_hashes(const uint8_t *proof, size_t n, ProtobufCBinaryData *out) {
  for (size_t i = 0; i < n; i++) {
    out[i].data = (uint8_t *)proof + 32 * i;
    out[i].len = 32;
  }
}

int handle_audit_proof(request_t *r) {
  broker_t *b = r->b;
  const Keten__AuditProofRequest *q = r->req->audit_proof;
  if (!b->has_head) {
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_INTERNAL,
                        "no signed tree head yet; retry");
    return 0;
  }
  keten_tree_head_t head = b->head;
  if (q->at_size && q->at_size != head.size) {
    store_tree_head_t sh;
    int found = store_tree_head_get(b->store, q->at_size, &sh);
    if (found < 0)
      return -1;
    if (found == 0 || sh.size > head.size) {
      request_reply_error(r, KETEN__ERROR_CODE__ERROR_NOT_FOUND,
                          "no signed tree head of size %llu",
                          (unsigned long long)q->at_size);
      return 0;
    }
    audit_log_head_to_keten(&sh, &head);
  }
  if (q->old_size > head.size) {
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
                        "old_size %llu is beyond the head's %llu entries",
                        (unsigned long long)q->old_size,
                        (unsigned long long)head.size);
    return 0;
  }
  if (q->want_inclusion && (q->seq == 0 || q->seq > head.size)) {
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
                        "seq must be in 1..%llu (the head's entries)",
                        (unsigned long long)head.size);
    return 0;
  }
  uint8_t cons[MERKLE_PROOF_BYTES], incl[MERKLE_PROOF_BYTES];
  size_t n_cons = 0, n_incl = 0;
  uint8_t *entry = NULL;
  size_t entry_len = 0;
  if (audit_log_consistency(b->store, q->old_size, head.size, cons,
                            &n_cons) != 0) {
    log_msg(LOG_ERROR, "audit", "cannot make a consistency proof %llu -> %llu",
            (unsigned long long)q->old_size, (unsigned long long)head.size);
    return -1;
  }
  if (q->want_inclusion) {
    audit_entry_t e;
    int found = store_audit_get(b->store, q->seq, &e);
    if (found < 0)
      return -1;
    if (found == 0) {
      request_reply_error(r, KETEN__ERROR_CODE__ERROR_NOT_FOUND,
                          "no audit entry %llu", (unsigned long long)q->seq);
      return 0;
    }
    if (strcmp(e.actor, r->who->id) != 0 &&
        strcmp(e.counterparty, r->who->id) != 0)
      return s_forbidden(r, q->seq);
    if (audit_log_inclusion(b->store, q->seq, head.size, incl, &n_incl) != 0 ||
        !(entry = audit_entry_string(&e, &entry_len))) {
      log_msg(LOG_ERROR, "audit", "cannot make an inclusion proof of %llu",
              (unsigned long long)q->seq);
      return -1;
    }
  }
  ProtobufCBinaryData cons_b[MERKLE_MAX_PROOF], incl_b[MERKLE_MAX_PROOF];
  s_hashes(cons, n_cons, cons_b);
  s_hashes(incl, n_incl, incl_b);
  Keten__TreeHead th;
  keten__tree_head__init(&th);
  th.size = head.size;
  th.root.data = head.root;
  th.root.len = 32;
  th.timestamp_ms = head.timestamp_ms;
  th.broker_key.data = head.broker_key;
  th.broker_key.len = 32;
  th.signature.data = head.signature;
  th.signature.len = 64;
  Keten__AuditProofReply a = KETEN__AUDIT_PROOF_REPLY__INIT;
  a.head = &th;
  /* protobuf-c: a repeated bytes field is an array of values. */
  a.consistency = cons_b;
  a.n_consistency = n_cons;
  a.inclusion = incl_b;
  a.n_inclusion = n_incl;
  if (entry) {
    a.entry.data = entry;
    a.entry.len = entry_len;
  }
  request_reply(r, KETEN__ENVELOPE__BODY_AUDIT_PROVED, &a);
  free(entry);
  return 0;
}
