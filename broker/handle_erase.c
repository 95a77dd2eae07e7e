/* handle_erase — ERASE: an author erases the sections it wrote about a
 * subject (AVG art. 17) with its own signed Erasure (docs/protocol.md
 * 7.12). Every refusal after the sender is known is audited; the erasure,
 * its notices and its single `keten.section.erase` entry are written in
 * the request's transaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canon.h"
#include "erase.h"
#include "log.h"
#include "request.h"

static int s_audit_refused(request_t *r, const Keten__Erasure *e,
                           const char *detail) {
  audit_entry_t a;
  request_audit_init(&a, r, "keten.section.erase", AUDIT_STATUS_ERROR);
  memcpy(a.subject, e->subject.data, CANON_SUBJECT_BYTES);
  snprintf(a.counterparty, sizeof a.counterparty, "%s", e->author);
  snprintf(a.detail, sizeof a.detail, "%s", detail);
  return request_audit(r->b, &a);
}

int handle_erase(request_t *r) {
  broker_t *b = r->b;
  const Keten__Erasure *e = r->req->erase->erasure;
  char why[128];
  if (erase_check_shape(e, r->now_ms, why, sizeof why) != 0) {
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_INVALID_FIELD, "%s", why);
    return 0;
  }
  if (strcmp(e->author, r->who->id) != 0) {
    /* The operator applies a controller's erasure on the store (keten
     * admin subject erase), never over the wire. */
    if (s_audit_refused(r, e, "refused: the sender is not the erasure's author"))
      return -1;
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_NOT_AUTHOR,
                        "you are %s; the erasure names %s as author",
                        r->who->id, e->author);
    return 0;
  }
  int seen = store_message_seen(b->store, r->who->id, r->req->message_id.data,
                                r->now_ms);
  if (seen < 0)
    return -1;
  if (seen) {
    if (s_audit_refused(r, e, "refused: replayed message_id"))
      return -1;
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_REPLAYED,
                        "this message_id was already processed");
    return 0;
  }
  if (canon_verify_erasure(e, r->who->signing_pk) != 0) {
    if (s_audit_refused(r, e, "refused: signature does not verify"))
      return -1;
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_BAD_SIGNATURE,
                        "the erasure's signature does not verify against your "
                        "registered signing key");
    return 0;
  }
  store_erasure_t before;
  int found = store_erasure_get(b->store, e->erasure_id.data, &before);
  if (found < 0)
    return -1;
  if (found) {
    if (s_audit_refused(r, e, "refused: erasure_id was applied before"))
      return -1;
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_CONFLICT,
                        "this erasure_id was applied before (by %s)",
                        before.applied_by);
    return 0;
  }
  audit_entry_t a;
  request_audit_init(&a, r, "keten.section.erase", AUDIT_STATUS_OK);
  erase_result_t res;
  int rc = erase_apply(b->store, e, r->who->id, r->now_ms, &a, 0, &res);
  if (rc == 0)
    rc = erase_notify(b, r, e->subject.data, e->author, &res);
  char **notified = rc == 0 ? calloc(res.n_targets + 1, sizeof *notified) : NULL;
  if (rc == 0 && !notified)
    rc = -1;
  if (rc != 0) {
    erase_result_free(&res);
    return -1; /* 1 (applied meanwhile) cannot happen: checked above */
  }
  size_t n = 0;
  for (size_t i = 0; i < res.n_targets; i++)
    if (n == 0 || strcmp(notified[n - 1], res.targets[i].recipient) != 0)
      notified[n++] = res.targets[i].recipient;
  Keten__EraseReply reply = KETEN__ERASE_REPLY__INIT;
  reply.sections = (uint32_t)res.counts.sections;
  reply.wraps = (uint32_t)res.counts.wraps;
  reply.deliveries = (uint32_t)res.counts.deliveries;
  reply.notified = notified;
  reply.n_notified = n;
  request_reply(r, KETEN__ENVELOPE__BODY_ERASED, &reply);
  log_msg(LOG_INFO, "erase",
          "%s erased %lld section version(s) of a subject, %zu recipient(s) "
          "notified",
          r->who->id, (long long)res.counts.sections, n);
  free(notified);
  erase_result_free(&res);
  return 0;
}
