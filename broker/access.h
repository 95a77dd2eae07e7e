/* access — taking away what a recipient could read, and telling it to
 * delete its copies: a NOTICE_DELETE signed by the broker. Used when a
 * consent is revoked or expires and when a subject's link to a gemeente
 * ends (ONTKOPPELING, VERHUIZING). */
#ifndef KETEND_ACCESS_H
#define KETEND_ACCESS_H

#include "broker_internal.h"

#define ACCESS_MAX_ITEMS 192          /* 12 kinds x 16 authors per notice batch */

/* What one recipient lost: (kind, author, highest version it had). */
typedef struct {
  struct {
    int kind;
    char author[PARTICIPANT_ID_MAX + 1];
    uint64_t up_to_version;
  } items[ACCESS_MAX_ITEMS];
  size_t n;
  int64_t wraps, pending;
} access_removed_t;

/* Removes recipient's access to author's sections of subject for each kind
 * in kinds (bit n: kind n) that no live consent of author still allows
 * (not counting consent `except`, 16 bytes or NULL; linked is the
 * subject's linked gemeente now, "" if none): its wraps and its pending
 * deliveries. Adds what it had to out. */
int access_remove(broker_t *b, const uint8_t subject[32], const char *author,
                  const char *recipient, uint64_t kinds, const uint8_t *except,
                  const char *linked, int64_t now_ms, access_removed_t *out);

/* Sends recipient one NOTICE_DELETE per 64 items in removed (none if it
 * had nothing), with reason (keten.NoticeReason) and the consent or TVS
 * event that caused it (16 bytes each, or NULL), and audits each. */
int access_notify(broker_t *b, const request_t *r, const uint8_t subject[32],
                  const char *recipient, int reason, const uint8_t *consent_id,
                  const uint8_t *tvs_event_id, const access_removed_t *removed);

#endif
