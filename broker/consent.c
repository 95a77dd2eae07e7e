/* consent — the consent rule. */
#include "consent.h"

#include <string.h>

int consent_is_active(const consent_t *c, int64_t now_ms) {
  return !c->revoked && c->valid_from_ms <= now_ms && now_ms < c->valid_until_ms;
}

consent_decision_t consent_allows(const consent_t *list, size_t n,
                                  const char *participant,
                                  const uint8_t subject[CONSENT_SUBJECT_BYTES],
                                  int kind, const char *author,
                                  int64_t now_ms) {
  consent_decision_t d = {CONSENT_DENIED, NULL,
                          "no consent names this participant for this subject"};
  if (author && strcmp(participant, author) == 0) {
    d.verdict = CONSENT_ALLOWED_AUTHOR;
    d.reason = "author";
    return d;
  }
  if (kind <= 0 || kind >= 64) {
    d.reason = "unknown section kind";
    return d;
  }
  /* The most telling reason among the near misses, for the audit log. */
  int rank = 0;
  for (size_t i = 0; i < n; i++) {
    const consent_t *c = &list[i];
    if (memcmp(c->subject, subject, CONSENT_SUBJECT_BYTES) != 0 ||
        strcmp(c->recipient, participant) != 0)
      continue;
    if (!(c->sections & (UINT64_C(1) << kind))) {
      if (rank < 1) {
        rank = 1;
        d.reason = "consent does not cover this section";
      }
      continue;
    }
    if (c->revoked) {
      if (rank < 2) {
        rank = 2;
        d.reason = "consent revoked";
      }
      continue;
    }
    if (now_ms < c->valid_from_ms) {
      if (rank < 2) {
        rank = 2;
        d.reason = "consent not yet valid";
      }
      continue;
    }
    if (now_ms >= c->valid_until_ms) {
      if (rank < 2) {
        rank = 2;
        d.reason = "consent expired";
      }
      continue;
    }
    d.verdict = CONSENT_ALLOWED;
    d.consent = c;
    d.reason = "consent";
    return d;
  }
  return d;
}
