/* consent — the consent rule. */
#include "consent.h"

#include <string.h>

#include "tvs.h"

int consent_names(const consent_t *c, const char *participant,
                  const char *linked_gemeente) {
  if (strcmp(c->recipient, participant) == 0)
    return 1;
  return tvs_is_linked_recipient(c->recipient) && linked_gemeente &&
         strcmp(linked_gemeente, participant) == 0;
}

int consent_is_active(const consent_t *c, int64_t now_ms) {
  return !c->revoked && c->valid_from_ms <= now_ms && now_ms < c->valid_until_ms;
}

consent_decision_t consent_allows(const consent_t *list, size_t n,
                                  const consent_query_t *q) {
  consent_decision_t d = {CONSENT_DENIED, NULL, POLICY_OK,
                          "no consent of the author names this participant "
                          "for this subject"};
  if (q->author && strcmp(q->participant, q->author) == 0) {
    d.verdict = CONSENT_ALLOWED_AUTHOR;
    d.reason = "author";
    return d;
  }
  if (q->kind <= 0 || q->kind >= 64) {
    d.reason = "unknown section kind";
    return d;
  }
  if (!q->author) /* only the author's own consents open its section */
    return d;
  /* The most telling reason among the near misses, for the audit log. */
  int rank = 0;
  for (size_t i = 0; i < n; i++) {
    const consent_t *c = &list[i];
    if (memcmp(c->subject, q->subject, CONSENT_SUBJECT_BYTES) != 0 ||
        !consent_names(c, q->participant, q->linked_gemeente) ||
        strcmp(c->recorded_by, q->author) != 0)
      continue;
    if (!(c->sections & (UINT64_C(1) << q->kind))) {
      if (rank < 1) {
        rank = 1;
        d.reason = "consent does not cover this section";
      }
      continue;
    }
    const char *miss = c->revoked                   ? "consent revoked"
                       : q->now_ms < c->valid_from_ms ? "consent not yet valid"
                       : q->now_ms >= c->valid_until_ms ? "consent expired"
                                                        : NULL;
    if (miss) {
      if (rank < 2) {
        rank = 2;
        d.reason = miss;
      }
      continue;
    }
    policy_rule_t rule = policy_may_disclose(q->kind, q->role, c->purpose,
                                             c->basis, c->has_legal_reference);
    if (rule != POLICY_OK) {
      if (rank < 3) {
        rank = 3;
        d.rule = rule;
        d.reason = policy_rule_text(rule);
      }
      continue;
    }
    d.verdict = CONSENT_ALLOWED;
    d.consent = c;
    d.rule = POLICY_OK;
    d.reason = "consent";
    return d;
  }
  return d;
}
