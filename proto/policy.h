/* policy — the chain's disclosure policy as one table (pure).
 *
 * Which roles may author which section kinds, and which kinds may be
 * disclosed to which recipient roles for which purposes. The broker checks
 * it when a section is put, when a consent is recorded and at every
 * disclosure; every author's libketen checks it again before sealing, and
 * every reader before opening. docs/protocol.md ("The policy table") is
 * the same table in prose; tests/unit/test_policy.c has a test per row.
 *
 * Roles, kinds, purposes and bases are the numbers of keten.proto's Role,
 * SectionKind, Purpose and Basis. Nothing here does I/O or allocates.
 */
#ifndef KETEN_POLICY_H
#define KETEN_POLICY_H

#include <stdint.h>

/* The rules, each with a stable id (audit details and errors name it). */
typedef enum {
  POLICY_OK = 0,
  POLICY_R1_AUTHOR_KIND,       /* the author's role may not write this kind */
  POLICY_R2_RECORDER_ROLE,     /* OPERATOR and TVS record no consents */
  POLICY_R3_RECIPIENT_ROLE,    /* OPERATOR and TVS receive no sections */
  POLICY_R4_SELF,              /* no consent for oneself */
  POLICY_R5_RECORDER_KIND,     /* a consent covers only kinds its recorder writes */
  POLICY_R6_PURPOSE_KIND,      /* the purpose does not cover this kind */
  POLICY_R7_PURPOSE_ROLE,      /* the purpose is not one this recipient role serves */
  POLICY_R8_SPECIAL_VOLUNTEER, /* HEALTH and CARE never go to a VOLUNTEER */
  POLICY_R9_SPECIAL_BASIS,     /* HEALTH and CARE need CONSENT, or LEGAL_DUTY
                                  with a legal reference */
  POLICY_R10_UNKNOWN,          /* an unknown role, kind, purpose or basis */
} policy_rule_t;

/* "R1" .. "R10" ("" for POLICY_OK). */
const char *policy_rule_id(policy_rule_t rule);

/* "R8: HEALTH and CARE never go to a VOLUNTEER", static text. */
const char *policy_rule_text(policy_rule_t rule);

/* Bit set (bit n = kind n) of the kinds role may author; 0 for none. */
uint64_t policy_author_kinds(int role);

/* R1: may a participant of role author a section of kind? */
policy_rule_t policy_may_author(int role, int kind);

/* R3, R6..R9: may a section of kind be disclosed to a recipient of role
 * under a consent with this purpose and basis (has_legal_reference: the
 * consent names one)? */
policy_rule_t policy_may_disclose(int kind, int recipient_role, int purpose,
                                  int basis, int has_legal_reference);

/* R2..R9 for a whole consent: recorded by a participant of recorder_role,
 * naming recipient_role, over the kinds in the bit set sections. self is
 * non-zero when the recipient is the recorder. On refusal *bad_kind (may
 * be NULL) gets the first kind that fails, or 0 if none is to blame. */
policy_rule_t policy_may_record(int recorder_role, int recipient_role,
                                int self, uint64_t sections, int purpose,
                                int basis, int has_legal_reference,
                                int *bad_kind);

/* May a participant of role revoke a consent it neither recorded nor
 * receives? (The person's counter: COA.) */
int policy_is_counter(int role);

/* Retention (issue 9): how long after its PUT a section of kind is kept
 * when the author gives no date (PutRequest.retain_until_ms 0), in ms;
 * 0 for an unknown kind. docs/sections.md ("Retention") gives the table
 * and the reason for each period. */
int64_t policy_retention_ms(int kind);

/* The latest retention date a PUT may ask for: 30 years after now. */
#define POLICY_DAY_MS INT64_C(86400000)
#define POLICY_MAX_RETENTION_MS (30 * 365 * POLICY_DAY_MS + 7 * POLICY_DAY_MS)

#endif
