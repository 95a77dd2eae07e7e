/* access — removing access and the delete notices that follow. */
#include "access.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canon.h"
#include "clock.h"
#include "link.h"
#include "request.h"

int access_remove(broker_t *b, const uint8_t subject[32], const char *author,
                  const char *recipient, uint64_t kinds, const uint8_t *except,
                  const char *linked, int64_t now_ms, access_removed_t *out) {
  if (strcmp(recipient, author) == 0)
    return 0; /* an author's own copies are not access someone gave */
  consent_t *list = NULL;
  size_t n = 0;
  if (link_consents_for(b, subject, author, recipient, linked, &list, &n) != 0)
    return -1;
  const participant_t *to = registry_find_id(b->registry, recipient, now_ms);
  int rc = 0;
  for (int kind = 1; kind < 64 && rc == 0; kind++) {
    if (!(kinds & (UINT64_C(1) << kind)))
      continue;
    consent_query_t q = {.participant = recipient,
                         .role = to ? to->role : 0,
                         .subject = subject,
                         .kind = kind,
                         .author = author,
                         .now_ms = now_ms,
                         .linked_gemeente = linked && linked[0] ? linked : NULL};
    int still = 0;
    for (size_t i = 0; i < n && !still; i++)
      if ((!except ||
           memcmp(list[i].consent_id, except, CONSENT_ID_BYTES) != 0) &&
          consent_allows(&list[i], 1, &q).verdict == CONSENT_ALLOWED)
        still = 1;
    if (still)
      continue;
    uint64_t had = 0;
    int64_t w = 0, p = 0;
    rc = store_wrap_max_version(b->store, recipient, subject, kind, author,
                                &had) ||
         store_revoke_access(b->store, recipient, subject, kind, author, &w,
                             &p);
    out->wraps += w;
    out->pending += p;
    if (rc == 0 && had > 0 && out->n < ACCESS_MAX_ITEMS) {
      out->items[out->n].kind = kind;
      snprintf(out->items[out->n].author, sizeof out->items[out->n].author,
               "%s", author);
      out->items[out->n].up_to_version = had;
      out->n++;
    }
  }
  free(list);
  return rc ? -1 : 0;
}

/* Signs and queues one notice of items [from, to) of removed. */
static int s_notice(broker_t *b, const request_t *r, const uint8_t subject[32],
                    const char *recipient, int reason,
                    const uint8_t *consent_id, const uint8_t *tvs_event_id,
                    const access_removed_t *removed, size_t from, size_t to) {
  Keten__NoticeItem items[CANON_MAX_NOTICE_ITEMS];
  Keten__NoticeItem *ptrs[CANON_MAX_NOTICE_ITEMS];
  char authors[CANON_MAX_NOTICE_ITEMS][PARTICIPANT_ID_MAX + 1];
  uint8_t notice_id[CANON_NOTICE_ID_BYTES], sig[CANON_SIGNATURE_BYTES];
  int64_t now = clock_wall_ms();
  Keten__Notice n = KETEN__NOTICE__INIT;
  for (size_t i = from; i < to; i++) {
    size_t k = i - from;
    keten__notice_item__init(&items[k]);
    items[k].kind = (Keten__SectionKind)removed->items[i].kind;
    snprintf(authors[k], sizeof authors[k], "%s", removed->items[i].author);
    items[k].author = authors[k];
    items[k].up_to_version = removed->items[i].up_to_version;
    ptrs[k] = &items[k];
  }
  randombytes_buf(notice_id, sizeof notice_id);
  n.kind = KETEN__NOTICE_KIND__NOTICE_DELETE;
  n.reason = (Keten__NoticeReason)reason;
  n.subject.data = (uint8_t *)subject;
  n.subject.len = CANON_SUBJECT_BYTES;
  if (consent_id) {
    n.consent_id.data = (uint8_t *)consent_id;
    n.consent_id.len = CANON_CONSENT_ID_BYTES;
  }
  if (tvs_event_id) {
    n.tvs_event_id.data = (uint8_t *)tvs_event_id;
    n.tvs_event_id.len = 16;
  }
  n.notice_id.data = notice_id;
  n.notice_id.len = sizeof notice_id;
  n.created_at_ms = (uint64_t)now;
  n.items = ptrs;
  n.n_items = to - from;
  if (canon_sign_notice(&n, b->keys.signing_sk, sig) != 0)
    return -1;
  n.broker_signature.data = sig;
  n.broker_signature.len = sizeof sig;
  size_t len = keten__notice__get_packed_size(&n);
  uint8_t *payload = malloc(len ? len : 1);
  if (!payload)
    return -1;
  keten__notice__pack(&n, payload);
  store_notice_t row = {.kind = KETEN__NOTICE_KIND__NOTICE_DELETE,
                        .payload = payload, .payload_len = len,
                        .created_at_ms = now};
  memcpy(row.subject, subject, sizeof row.subject);
  uint64_t seq = 0;
  int rc = store_notice_push(b->store, recipient, &row, &seq);
  free(payload);
  if (rc != 0)
    return -1;
  audit_entry_t e;
  request_audit_init(&e, r, "keten.notice.queue", AUDIT_STATUS_OK);
  memcpy(e.subject, subject, CANON_SUBJECT_BYTES);
  if (consent_id)
    memcpy(e.consent_id, consent_id, CONSENT_ID_BYTES);
  snprintf(e.counterparty, sizeof e.counterparty, "%s", recipient);
  snprintf(e.detail, sizeof e.detail,
           "delete notice (%s): %zu item(s), seq %llu",
           reason == KETEN__NOTICE_REASON__NOTICE_REASON_REVOKED   ? "revoked"
           : reason == KETEN__NOTICE_REASON__NOTICE_REASON_EXPIRED ? "expired"
           : reason == KETEN__NOTICE_REASON__NOTICE_REASON_ONTKOPPELD
               ? "ontkoppeld"
               : "erased",
           to - from, (unsigned long long)seq);
  if (request_audit(b, &e) != 0)
    return -1;
  delivery_wake(b, recipient);
  return 0;
}

int access_notify(broker_t *b, const request_t *r, const uint8_t subject[32],
                  const char *recipient, int reason, const uint8_t *consent_id,
                  const uint8_t *tvs_event_id,
                  const access_removed_t *removed) {
  for (size_t i = 0; i < removed->n; i += CANON_MAX_NOTICE_ITEMS) {
    size_t end = i + CANON_MAX_NOTICE_ITEMS;
    if (end > removed->n)
      end = removed->n;
    if (s_notice(b, r, subject, recipient, reason, consent_id, tvs_event_id,
                 removed, i, end) != 0)
      return -1;
  }
  return 0;
}
