/* consent — the rule that decides who may read which section (pure).
 *
 * Participant P may receive section S (subject X, kind K, author A) only
 * if P is A, or an active consent recorded by A itself covers X, K and P
 * (naming P, or naming "@gemeente" while P is the gemeente X is linked to),
 * and the policy table (proto/policy.h) allows kind K to P's role for
 * that consent's purpose and basis. A consent covers only sections its
 * recorder authored: two partners can exchange only what each of them
 * wrote, and nobody can open another author's section. A consent is
 * active when it is not revoked and now lies in [valid_from, valid_until).
 * No I/O here: the store hands in consents, the registry P's role, and
 * the callers audit every decision.
 */
#ifndef KETEND_CONSENT_H
#define KETEND_CONSENT_H

#include <stddef.h>
#include <stdint.h>

#include "participant.h"
#include "policy.h"

#define CONSENT_ID_BYTES 16
#define CONSENT_SUBJECT_BYTES 32

typedef struct {
  uint8_t consent_id[CONSENT_ID_BYTES];
  uint8_t subject[CONSENT_SUBJECT_BYTES];
  char recorded_by[PARTICIPANT_ID_MAX + 1];
  char recipient[PARTICIPANT_ID_MAX + 1];
  uint64_t sections;         /* bit n set: covers section kind n */
  int purpose;               /* keten.Purpose */
  int basis;                 /* keten.Basis */
  int has_legal_reference;   /* the signed record names one */
  int64_t valid_from_ms;
  int64_t valid_until_ms;    /* exclusive */
  int revoked;
  int64_t revoked_at_ms;
} consent_t;

/* What is asked: may participant (of role) receive the section of kind
 * written by author about subject, at now_ms? */
typedef struct {
  const char *participant;
  int role;                  /* the participant's keten.Role (registry) */
  const uint8_t *subject;    /* 32 bytes */
  int kind;
  const char *author;        /* NULL: only a consent can allow it */
  int64_t now_ms;
  const char *linked_gemeente; /* the gemeente subject is linked to now
                                  (TVS KOPPELING), or NULL */
} consent_query_t;

typedef enum {
  CONSENT_DENIED = 0,
  CONSENT_ALLOWED_AUTHOR,    /* P wrote the section */
  CONSENT_ALLOWED            /* an active consent of the author covers it */
} consent_verdict_t;

typedef struct {
  consent_verdict_t verdict;
  const consent_t *consent;  /* the consent that allowed it, else NULL */
  policy_rule_t rule;        /* the policy rule that refused, or POLICY_OK */
  const char *reason;        /* static text, for audit detail and errors */
} consent_decision_t;

/* 1 if c names participant as its recipient, directly or as the
 * subject's linked gemeente (linked_gemeente may be NULL). */
int consent_names(const consent_t *c, const char *participant,
                  const char *linked_gemeente);

/* Returns 1 if c is active at now_ms (not revoked, within its window). */
int consent_is_active(const consent_t *c, int64_t now_ms);

/* Decides q given the n consent records in list (any subjects, recorders
 * and recipients; the irrelevant ones are ignored, so the caller may pass
 * exactly the consents of (subject, author, participant) or more). The
 * decision's consent points into list. Linear in n. */
consent_decision_t consent_allows(const consent_t *list, size_t n,
                                  const consent_query_t *q);

#endif
