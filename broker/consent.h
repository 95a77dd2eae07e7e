/* consent — the rule that decides who may read which section (pure).
 *
 * Participant P may receive section kind S of subject X written by author A
 * only if P is A, or an active consent covers X, S and P. A consent is
 * active when it is not revoked and now lies in [valid_from, valid_until).
 * No I/O here: the store hands in the consents of X, and the callers audit
 * every decision.
 */
#ifndef KETEND_CONSENT_H
#define KETEND_CONSENT_H

#include <stddef.h>
#include <stdint.h>

#include "participant.h"

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
  int64_t valid_from_ms;
  int64_t valid_until_ms;    /* exclusive */
  int revoked;
  int64_t revoked_at_ms;
} consent_t;

typedef enum {
  CONSENT_DENIED = 0,
  CONSENT_ALLOWED_AUTHOR,    /* P wrote the section */
  CONSENT_ALLOWED            /* an active consent covers it */
} consent_verdict_t;

typedef struct {
  consent_verdict_t verdict;
  const consent_t *consent;  /* the consent that allowed it, else NULL */
  const char *reason;        /* static text, for audit detail and errors */
} consent_decision_t;

/* Returns 1 if c is active at now_ms (not revoked, within its window). */
int consent_is_active(const consent_t *c, int64_t now_ms);

/* Decides whether participant may receive section kind of subject written
 * by author, given the n consent records in list (any subjects and
 * recipients; the irrelevant ones are ignored). The decision's consent
 * points into list. */
consent_decision_t consent_allows(const consent_t *list, size_t n,
                                  const char *participant,
                                  const uint8_t subject[CONSENT_SUBJECT_BYTES],
                                  int kind, const char *author,
                                  int64_t now_ms);

#endif
