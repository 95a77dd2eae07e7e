/* policy — the chain's disclosure policy table. */
#include "policy.h"

#include <stddef.h>

#include "keten.pb-c.h"

#define K(name) (UINT64_C(1) << KETEN__SECTION_KIND__SECTION_##name)
#define R(name) (UINT32_C(1) << KETEN__ROLE__ROLE_##name)

/* Every kind there is (bits 1..12). */
#define ALL_KINDS                                                              \
  (K(IDENTITY) | K(HOUSEHOLD) | K(STORY) | K(EDUCATION) | K(WORK) |            \
   K(LANGUAGE) | K(INBURGERING) | K(HOUSING) | K(PARTICIPATION) | K(HEALTH) |  \
   K(SUPPORT) | K(CARE))
/* Special categories of personal data (AVG art. 9). */
#define SPECIAL_KINDS (K(HEALTH) | K(CARE))

/* Table 1 (R1, R5): who writes what. */
static const struct {
  int role;
  uint64_t kinds;
} s_authors[] = {
    {KETEN__ROLE__ROLE_COA,
     K(IDENTITY) | K(HOUSEHOLD) | K(STORY) | K(EDUCATION) | K(WORK) |
         K(LANGUAGE) | K(HOUSING) | K(HEALTH)},
    {KETEN__ROLE__ROLE_GEMEENTE,
     K(HOUSEHOLD) | K(EDUCATION) | K(WORK) | K(LANGUAGE) | K(INBURGERING) |
         K(HOUSING) | K(PARTICIPATION)},
    {KETEN__ROLE__ROLE_VOLUNTEER, K(SUPPORT)},
    {KETEN__ROLE__ROLE_CARE, K(HEALTH) | K(CARE)},
    {KETEN__ROLE__ROLE_TVS, 0},
    {KETEN__ROLE__ROLE_OPERATOR, 0},
};

/* Table 2 (R6, R7): per purpose, the kinds it covers and the recipient
 * roles that serve it. */
static const struct {
  int purpose;
  uint64_t kinds;
  uint32_t roles;
} s_purposes[] = {
    {KETEN__PURPOSE__PURPOSE_HUISVESTING, K(IDENTITY) | K(HOUSEHOLD) | K(HOUSING),
     R(GEMEENTE) | R(COA)},
    {KETEN__PURPOSE__PURPOSE_INBURGERING,
     K(IDENTITY) | K(HOUSEHOLD) | K(STORY) | K(EDUCATION) | K(WORK) |
         K(LANGUAGE) | K(INBURGERING) | K(HOUSING) | K(PARTICIPATION),
     R(GEMEENTE) | R(COA) | R(VOLUNTEER)},
    {KETEN__PURPOSE__PURPOSE_PARTICIPATIE,
     K(IDENTITY) | K(HOUSEHOLD) | K(EDUCATION) | K(WORK) | K(LANGUAGE) |
         K(INBURGERING) | K(PARTICIPATION) | K(SUPPORT) | K(CARE),
     R(GEMEENTE) | R(VOLUNTEER) | R(CARE)},
    {KETEN__PURPOSE__PURPOSE_ZORG,
     K(IDENTITY) | K(HOUSEHOLD) | K(STORY) | K(LANGUAGE) | K(HEALTH) |
         K(CARE) | K(SUPPORT),
     R(CARE) | R(GEMEENTE) | R(COA)},
    {KETEN__PURPOSE__PURPOSE_BEGELEIDING,
     K(IDENTITY) | K(HOUSEHOLD) | K(STORY) | K(EDUCATION) | K(WORK) |
         K(LANGUAGE) | K(INBURGERING) | K(HOUSING) | K(PARTICIPATION) |
         K(SUPPORT),
     R(VOLUNTEER) | R(GEMEENTE) | R(COA) | R(CARE)},
};

/* Roles that may receive sections at all (R3), and the person's counter. */
#define RECEIVING_ROLES (R(GEMEENTE) | R(COA) | R(VOLUNTEER) | R(CARE))
#define RECORDING_ROLES RECEIVING_ROLES

static const struct {
  const char *id, *text;
} s_rules[] = {
    [POLICY_OK] = {"", "allowed"},
    [POLICY_R1_AUTHOR_KIND] = {"R1", "R1: the author's role may not write "
                                     "this section kind"},
    [POLICY_R2_RECORDER_ROLE] = {"R2", "R2: OPERATOR and TVS participants "
                                       "record no consents"},
    [POLICY_R3_RECIPIENT_ROLE] = {"R3", "R3: OPERATOR and TVS participants "
                                        "receive no sections"},
    [POLICY_R4_SELF] = {"R4", "R4: a participant cannot record consent for "
                              "itself"},
    [POLICY_R5_RECORDER_KIND] = {"R5", "R5: a consent covers only kinds its "
                                       "recorder's role writes"},
    [POLICY_R6_PURPOSE_KIND] = {"R6", "R6: the purpose does not cover this "
                                      "section kind"},
    [POLICY_R7_PURPOSE_ROLE] = {"R7", "R7: the purpose is not one the "
                                      "recipient's role serves"},
    [POLICY_R8_SPECIAL_VOLUNTEER] = {"R8", "R8: HEALTH and CARE never go to "
                                           "a VOLUNTEER"},
    [POLICY_R9_SPECIAL_BASIS] = {"R9", "R9: HEALTH and CARE need basis "
                                       "CONSENT, or LEGAL_DUTY with a legal "
                                       "reference"},
    [POLICY_R10_UNKNOWN] = {"R10", "R10: unknown role, section kind, purpose "
                                   "or basis"},
};

const char *policy_rule_id(policy_rule_t rule) {
  return (unsigned)rule < sizeof s_rules / sizeof s_rules[0]
             ? s_rules[rule].id
             : "R?";
}

const char *policy_rule_text(policy_rule_t rule) {
  return (unsigned)rule < sizeof s_rules / sizeof s_rules[0]
             ? s_rules[rule].text
             : "unknown policy rule";
}

static int s_kind_known(int kind) {
  return kind > 0 && kind < 64 && (ALL_KINDS & (UINT64_C(1) << kind));
}

static int s_role_known(int role) {
  return role > 0 && role < 32 &&
         ((RECEIVING_ROLES | R(TVS) | R(OPERATOR)) & (UINT32_C(1) << role));
}

uint64_t policy_author_kinds(int role) {
  for (size_t i = 0; i < sizeof s_authors / sizeof s_authors[0]; i++)
    if (s_authors[i].role == role)
      return s_authors[i].kinds;
  return 0;
}

policy_rule_t policy_may_author(int role, int kind) {
  if (!s_role_known(role) || !s_kind_known(kind))
    return POLICY_R10_UNKNOWN;
  return (policy_author_kinds(role) & (UINT64_C(1) << kind))
             ? POLICY_OK
             : POLICY_R1_AUTHOR_KIND;
}

policy_rule_t policy_may_disclose(int kind, int recipient_role, int purpose,
                                  int basis, int has_legal_reference) {
  if (!s_kind_known(kind) || !s_role_known(recipient_role) ||
      (basis != KETEN__BASIS__BASIS_CONSENT &&
       basis != KETEN__BASIS__BASIS_LEGAL_DUTY))
    return POLICY_R10_UNKNOWN;
  if (!(RECEIVING_ROLES & (UINT32_C(1) << recipient_role)))
    return POLICY_R3_RECIPIENT_ROLE;
  size_t i;
  for (i = 0; i < sizeof s_purposes / sizeof s_purposes[0]; i++)
    if (s_purposes[i].purpose == purpose)
      break;
  if (i == sizeof s_purposes / sizeof s_purposes[0])
    return POLICY_R10_UNKNOWN;
  uint64_t bit = UINT64_C(1) << kind;
  if (bit & SPECIAL_KINDS) {
    if (recipient_role == KETEN__ROLE__ROLE_VOLUNTEER)
      return POLICY_R8_SPECIAL_VOLUNTEER;
    if (!(basis == KETEN__BASIS__BASIS_CONSENT ||
          (basis == KETEN__BASIS__BASIS_LEGAL_DUTY && has_legal_reference)))
      return POLICY_R9_SPECIAL_BASIS;
  }
  if (!(s_purposes[i].kinds & bit))
    return POLICY_R6_PURPOSE_KIND;
  if (!(s_purposes[i].roles & (UINT32_C(1) << recipient_role)))
    return POLICY_R7_PURPOSE_ROLE;
  return POLICY_OK;
}

policy_rule_t policy_may_record(int recorder_role, int recipient_role,
                                int self, uint64_t sections, int purpose,
                                int basis, int has_legal_reference,
                                int *bad_kind) {
  if (bad_kind)
    *bad_kind = 0;
  if (!s_role_known(recorder_role) || !s_role_known(recipient_role) ||
      sections == 0 || (sections & ~ALL_KINDS))
    return POLICY_R10_UNKNOWN;
  if (!(RECORDING_ROLES & (UINT32_C(1) << recorder_role)))
    return POLICY_R2_RECORDER_ROLE;
  if (self)
    return POLICY_R4_SELF;
  if (!(RECEIVING_ROLES & (UINT32_C(1) << recipient_role)))
    return POLICY_R3_RECIPIENT_ROLE;
  uint64_t writes = policy_author_kinds(recorder_role);
  for (int kind = 1; kind < 64; kind++) {
    if (!(sections & (UINT64_C(1) << kind)))
      continue;
    policy_rule_t r = (writes & (UINT64_C(1) << kind))
                          ? policy_may_disclose(kind, recipient_role, purpose,
                                                basis, has_legal_reference)
                          : POLICY_R5_RECORDER_KIND;
    if (r != POLICY_OK) {
      if (bad_kind)
        *bad_kind = kind;
      return r;
    }
  }
  return POLICY_OK;
}

int policy_is_counter(int role) { return role == KETEN__ROLE__ROLE_COA; }

/* Table 3: default retention per kind (docs/sections.md, "Retention"). The
 * broker is a conduit for a warm handover, not the partners' file: each
 * period is what the handover and its follow-up need, shortest for what
 * is most sensitive. */
#define MONTHS(n) ((int64_t)(n) * 30 * POLICY_DAY_MS)
#define YEARS(n) ((int64_t)(n) * 365 * POLICY_DAY_MS)
static const int64_t s_retention[] = {
    [KETEN__SECTION_KIND__SECTION_IDENTITY] = YEARS(1),
    [KETEN__SECTION_KIND__SECTION_HOUSEHOLD] = YEARS(1),
    [KETEN__SECTION_KIND__SECTION_STORY] = MONTHS(6),
    [KETEN__SECTION_KIND__SECTION_EDUCATION] = YEARS(2),
    [KETEN__SECTION_KIND__SECTION_WORK] = YEARS(2),
    [KETEN__SECTION_KIND__SECTION_LANGUAGE] = YEARS(2),
    [KETEN__SECTION_KIND__SECTION_INBURGERING] = YEARS(5),
    [KETEN__SECTION_KIND__SECTION_HOUSING] = YEARS(1),
    [KETEN__SECTION_KIND__SECTION_PARTICIPATION] = YEARS(3),
    [KETEN__SECTION_KIND__SECTION_HEALTH] = MONTHS(6),
    [KETEN__SECTION_KIND__SECTION_SUPPORT] = YEARS(1),
    [KETEN__SECTION_KIND__SECTION_CARE] = MONTHS(6),
};

int64_t policy_retention_ms(int kind) {
  if (!s_kind_known(kind) ||
      (size_t)kind >= sizeof s_retention / sizeof s_retention[0])
    return 0;
  return s_retention[kind];
}
