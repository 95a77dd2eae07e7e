/* Unit tests of TVS events (proto/tvs.h) and delete notices (canon.h,
 * keten/notice/v1): the shape table per kind, periods and calendar days,
 * the names, the canonical strings (checked against an encoder written
 * here, independently of canon.c), signatures over every field, unknown
 * fields, and which gemeenten an event goes to. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canon.h"
#include "keten.pb-c.h"
#include "tvs.h"

/* The numbers of keten.proto, written out (test_enum_numbers checks them). */
enum { KOPPELING = 1, ONTKOPPELING, HUISVESTING, VERHUIZING, TAAKSTELLING };
#define FIRST_KIND KOPPELING
#define LAST_KIND TAAKSTELLING
#define KIND_BIT(k) (1u << (k))
#define ALL_KINDS 0x3eu

static const char *const s_kind_names[] = {
    NULL, "KOPPELING", "ONTKOPPELING", "HUISVESTING", "VERHUIZING",
    "TAAKSTELLING"};
static const char *const s_reason_names[] = {
    NULL, "HOUSING_ELSEWHERE", "MOVED", "PERMIT_WITHDRAWN", "ERROR", "OTHER"};

#define PUBLISHED_AT UINT64_C(1780000000000)

/* ---- fixtures -------------------------------------------------------------- */

/* An event with its buffers, so that tests can flip single bits. */
typedef struct {
  uint8_t event_id[TVS_EVENT_ID_BYTES];
  uint8_t subject[40]; /* room for a 33-byte subject */
  uint8_t sig[CANON_SIGNATURE_BYTES];
  char gemeente[80], from[80], period[16], date[16], by[80];
  Keten__TvsEvent ev;
} s_event_t;

/* A valid event of kind k: KOPPELING of subject 20..3f to gemeente:0716
 * for 2026-2, and so on; the signature is 64 bytes of zeros. */
static void s_event(s_event_t *e, int k) {
  memset(e, 0, sizeof *e);
  for (int i = 0; i < TVS_EVENT_ID_BYTES; i++)
    e->event_id[i] = (uint8_t)(0xe0 + i);
  for (int i = 0; i < 32; i++)
    e->subject[i] = (uint8_t)(0x20 + i);
  snprintf(e->gemeente, sizeof e->gemeente, "gemeente:0716");
  snprintf(e->by, sizeof e->by, "tvs");
  keten__tvs_event__init(&e->ev);
  Keten__TvsEvent *ev = &e->ev;
  ev->event_id.data = e->event_id;
  ev->event_id.len = TVS_EVENT_ID_BYTES;
  ev->kind = (Keten__TvsEventKind)k;
  ev->subject.data = e->subject;
  ev->subject.len = k == TAAKSTELLING ? 0 : 32;
  ev->gemeente = e->gemeente;
  ev->from_gemeente = e->from;
  ev->period = e->period;
  ev->date = e->date;
  ev->published_by = e->by;
  ev->published_at_ms = PUBLISHED_AT;
  ev->signature.data = e->sig;
  ev->signature.len = sizeof e->sig;
  switch (k) {
  case KOPPELING:
    snprintf(e->period, sizeof e->period, "2026-2");
    snprintf(e->date, sizeof e->date, "2026-07-01");
    ev->household_size = 3;
    break;
  case ONTKOPPELING:
    snprintf(e->date, sizeof e->date, "2026-09-15");
    ev->reason = KETEN__ONTKOPPEL_REASON__ONTKOPPEL_HOUSING_ELSEWHERE;
    break;
  case HUISVESTING:
    snprintf(e->date, sizeof e->date, "2026-08-03");
    break;
  case VERHUIZING:
    snprintf(e->from, sizeof e->from, "gemeente:0678");
    snprintf(e->date, sizeof e->date, "2026-10-01");
    break;
  case TAAKSTELLING:
    snprintf(e->period, sizeof e->period, "2026-2");
    ev->target = 120;
    ev->realised = 45;
    break;
  default:
    break;
  }
}

static int s_shape(const Keten__TvsEvent *ev, char *why, size_t whylen) {
  why[0] = '\0';
  return tvs_event_check_shape(ev, why, whylen);
}

static void s_accepts(const char *what, const s_event_t *e) {
  char why[256];
  if (s_shape(&e->ev, why, sizeof why) != 0)
    fail_msg("%s: refused (%s)", what, why);
}

/* Refused, and the reason names the rule that was broken. */
static void s_refuses(const char *what, const s_event_t *e, const char *in_why) {
  char why[256];
  if (s_shape(&e->ev, why, sizeof why) == 0)
    fail_msg("%s: accepted", what);
  if (!strstr(why, in_why))
    fail_msg("%s: refused for '%s', expected '%s'", what, why, in_why);
}

/* A fixed Ed25519 key pair from seed 71..90. */
static void s_keys(uint8_t pk[32], uint8_t sk[64]) {
  uint8_t seed[32];
  for (int i = 0; i < 32; i++)
    seed[i] = (uint8_t)(0x71 + i);
  assert_int_equal(crypto_sign_seed_keypair(pk, sk, seed), 0);
}

/* ---- an encoder of the canonical strings, independent of canon.c ---------- */

typedef struct {
  uint8_t buf[4096];
  size_t len;
} s_enc_t;

static void s_field(s_enc_t *w, const void *p, size_t n) {
  assert_true(w->len + 4 + n <= sizeof w->buf);
  w->buf[w->len++] = (uint8_t)(n >> 24);
  w->buf[w->len++] = (uint8_t)(n >> 16);
  w->buf[w->len++] = (uint8_t)(n >> 8);
  w->buf[w->len++] = (uint8_t)n;
  if (n)
    memcpy(w->buf + w->len, p, n);
  w->len += n;
}

static void s_fstr(s_enc_t *w, const char *s) { s_field(w, s, strlen(s)); }

static void s_fu64(s_enc_t *w, uint64_t v) {
  uint8_t be[8];
  for (int i = 0; i < 8; i++)
    be[i] = (uint8_t)(v >> (56 - 8 * i));
  s_field(w, be, 8);
}

/* ---- enum numbers and names ------------------------------------------------ */

static void test_enum_numbers(void **state) {
  (void)state;
  assert_int_equal(KETEN__TVS_EVENT_KIND__TVS_KOPPELING, KOPPELING);
  assert_int_equal(KETEN__TVS_EVENT_KIND__TVS_ONTKOPPELING, ONTKOPPELING);
  assert_int_equal(KETEN__TVS_EVENT_KIND__TVS_HUISVESTING, HUISVESTING);
  assert_int_equal(KETEN__TVS_EVENT_KIND__TVS_VERHUIZING, VERHUIZING);
  assert_int_equal(KETEN__TVS_EVENT_KIND__TVS_TAAKSTELLING, TAAKSTELLING);
  assert_int_equal(KETEN__ONTKOPPEL_REASON__ONTKOPPEL_OTHER, 5);
  assert_int_equal(KETEN__NOTICE_KIND__NOTICE_DELETE, 2);
  assert_int_equal(KETEN__NOTICE_REASON__NOTICE_REASON_ERASED, 4);
}

static void test_kind_names(void **state) {
  (void)state;
  for (int k = FIRST_KIND; k <= LAST_KIND; k++) {
    assert_string_equal(tvs_kind_name(k), s_kind_names[k]);
    char lower[32], prefixed[40];
    size_t n = strlen(s_kind_names[k]);
    for (size_t i = 0; i <= n; i++)
      lower[i] = (char)(s_kind_names[k][i] | (s_kind_names[k][i] ? 0x20 : 0));
    snprintf(prefixed, sizeof prefixed, "TVS_%s", s_kind_names[k]);
    assert_int_equal(tvs_kind_from_name(s_kind_names[k]), k);
    assert_int_equal(tvs_kind_from_name(lower), k);
    assert_int_equal(tvs_kind_from_name(prefixed), k);
  }
  assert_int_equal(tvs_kind_from_name("tvs_verhuizing"), VERHUIZING);
  assert_int_equal(tvs_kind_from_name("Koppeling"), KOPPELING);
  const char *bad[] = {"", "EVENT_UNSPECIFIED", "TVS_EVENT_UNSPECIFIED",
                       "KOPPELINGEN", "TVS_", "TVS", "koppeling ", "MOVED",
                       "ONTKOPPEL_KOPPELING"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (tvs_kind_from_name(bad[i]) != 0)
      fail_msg("kind name '%s' accepted", bad[i]);
  assert_int_equal(tvs_kind_from_name(NULL), 0);
  assert_null(tvs_kind_name(0));
  assert_null(tvs_kind_name(6));
  assert_null(tvs_kind_name(-1));
}

static void test_reason_names(void **state) {
  (void)state;
  for (int r = 1; r <= 5; r++) {
    assert_string_equal(tvs_reason_name(r), s_reason_names[r]);
    char prefixed[48];
    snprintf(prefixed, sizeof prefixed, "ONTKOPPEL_%s", s_reason_names[r]);
    assert_int_equal(tvs_reason_from_name(s_reason_names[r]), r);
    assert_int_equal(tvs_reason_from_name(prefixed), r);
  }
  assert_int_equal(tvs_reason_from_name("housing_elsewhere"), 1);
  assert_int_equal(tvs_reason_from_name("ontkoppel_moved"), 2);
  assert_int_equal(tvs_reason_from_name("Permit_Withdrawn"), 3);
  assert_int_equal(tvs_reason_from_name("error"), 4);
  assert_int_equal(tvs_reason_from_name("other"), 5);
  const char *bad[] = {"", "REASON_UNSPECIFIED", "ONTKOPPEL_REASON_UNSPECIFIED",
                       "HOUSING", "KOPPELING", "TVS_MOVED"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (tvs_reason_from_name(bad[i]) != 0)
      fail_msg("reason name '%s' accepted", bad[i]);
  assert_int_equal(tvs_reason_from_name(NULL), 0);
  assert_null(tvs_reason_name(0));
  assert_null(tvs_reason_name(6));
}

static void test_linked_recipient(void **state) {
  (void)state;
  assert_string_equal(TVS_LINKED_GEMEENTE, "@gemeente");
  assert_int_equal(tvs_is_linked_recipient("@gemeente"), 1);
  assert_int_equal(tvs_is_linked_recipient("gemeente"), 0);
  assert_int_equal(tvs_is_linked_recipient("@gemeente "), 0);
  assert_int_equal(tvs_is_linked_recipient("@Gemeente"), 0);
  assert_int_equal(tvs_is_linked_recipient("gemeente:0716"), 0);
  assert_int_equal(tvs_is_linked_recipient(""), 0);
  assert_int_equal(tvs_is_linked_recipient(NULL), 0);
}

/* ---- periods and dates ------------------------------------------------------- */

static void test_periods(void **state) {
  (void)state;
  const char *good[] = {"2026-1", "2026-2", "2000-1", "2999-2"};
  const char *bad[] = {"2026-3", "2026-0",  "2026-12", "1999-2", "3000-1",
                       "26-1",   "2026-",   "2026",    "2026/1", "2026-1 ",
                       " 2026-1", "202a-1", "2026--1", "",       "2026-01"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
    if (!tvs_valid_period(good[i]))
      fail_msg("period '%s' refused", good[i]);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (tvs_valid_period(bad[i]))
      fail_msg("period '%s' accepted", bad[i]);
  assert_int_equal(tvs_valid_period(NULL), 0);
}

static void test_dates(void **state) {
  (void)state;
  const char *good[] = {"2026-07-01", "2028-02-29", "2000-02-29", "2026-01-31",
                        "2026-02-28", "2026-04-30", "2026-12-31", "2000-01-01",
                        "2999-12-31", "2024-02-29"};
  const char *bad[] = {
      "2027-02-29", "2100-02-29", "2026-02-30", "2026-13-01", "2026-00-10",
      "2026-01-00", "2026-01-32", "2026-04-31", "2026-06-31", "2026-09-31",
      "2026-11-31", "2026-1-01",  "2026-01-1",  "26-01-01",   "1999-12-31",
      "3000-01-01", "2026-07-01x", " 2026-07-01", "2026/07/01", "2026-07-0a",
      "+026-07-01", "2026-7-001", "20260701",   "",           "2026-07-01 ",
      "2026-0701-", "2026--7-01"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
    if (!tvs_valid_date(good[i]))
      fail_msg("date '%s' refused", good[i]);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (tvs_valid_date(bad[i]))
      fail_msg("date '%s' accepted", bad[i]);
  assert_int_equal(tvs_valid_date(NULL), 0);

  /* and inside an event */
  s_event_t e;
  s_event(&e, KOPPELING);
  snprintf(e.date, sizeof e.date, "2028-02-29");
  s_accepts("KOPPELING on 2028-02-29", &e);
  snprintf(e.date, sizeof e.date, "2027-02-29");
  s_refuses("KOPPELING on 2027-02-29", &e, "date");
  s_event(&e, TAAKSTELLING);
  snprintf(e.period, sizeof e.period, "2026-1");
  s_accepts("TAAKSTELLING for 2026-1", &e);
  snprintf(e.period, sizeof e.period, "2026-3");
  s_refuses("TAAKSTELLING for 2026-3", &e, "period");
}

/* ---- shapes ------------------------------------------------------------------ */

static void test_valid_shapes(void **state) {
  (void)state;
  s_event_t e;
  for (int k = FIRST_KIND; k <= LAST_KIND; k++) {
    s_event(&e, k);
    s_accepts(s_kind_names[k], &e);
  }
  /* the bounds that are allowed */
  s_event(&e, KOPPELING);
  e.ev.household_size = 1;
  s_accepts("household of 1", &e);
  e.ev.household_size = TVS_MAX_HOUSEHOLD;
  s_accepts("household of 99", &e);
  s_event(&e, ONTKOPPELING);
  for (int r = 1; r <= 5; r++) {
    e.ev.reason = (Keten__OntkoppelReason)r;
    s_accepts(s_reason_names[r], &e);
  }
  s_event(&e, TAAKSTELLING);
  e.ev.target = 0;
  e.ev.realised = 0;
  s_accepts("TAAKSTELLING of 0 and 0", &e);
  e.ev.target = UINT32_MAX;
  e.ev.realised = UINT32_MAX;
  s_accepts("TAAKSTELLING of UINT32_MAX", &e);
  /* a NULL string is an empty one */
  s_event(&e, HUISVESTING);
  e.ev.from_gemeente = NULL;
  e.ev.period = NULL;
  s_accepts("HUISVESTING with NULL strings", &e);
}

/* The shape table's columns: which kinds carry each field (the others
 * must leave it empty or zero), and how to set and take it away. */
static void s_set_subject(s_event_t *e) { e->ev.subject.len = 32; }
static void s_clear_subject(s_event_t *e) { e->ev.subject.len = 0; }
static void s_set_from(s_event_t *e) {
  snprintf(e->from, sizeof e->from, "gemeente:0678");
}
static void s_clear_from(s_event_t *e) { e->from[0] = '\0'; }
static void s_set_period(s_event_t *e) {
  snprintf(e->period, sizeof e->period, "2026-1");
}
static void s_clear_period(s_event_t *e) { e->period[0] = '\0'; }
static void s_set_date(s_event_t *e) {
  snprintf(e->date, sizeof e->date, "2026-07-01");
}
static void s_clear_date(s_event_t *e) { e->date[0] = '\0'; }
static void s_set_household(s_event_t *e) { e->ev.household_size = 1; }
static void s_clear_household(s_event_t *e) { e->ev.household_size = 0; }
static void s_set_reason(s_event_t *e) {
  e->ev.reason = KETEN__ONTKOPPEL_REASON__ONTKOPPEL_MOVED;
}
static void s_clear_reason(s_event_t *e) {
  e->ev.reason = KETEN__ONTKOPPEL_REASON__ONTKOPPEL_REASON_UNSPECIFIED;
}
static void s_set_target(s_event_t *e) { e->ev.target = 1; }
static void s_set_realised(s_event_t *e) { e->ev.realised = 1; }
static void s_clear_gemeente(s_event_t *e) { e->gemeente[0] = '\0'; }

static const struct {
  const char *name; /* as in the reason */
  unsigned kinds;   /* KIND_BIT(k): kind k carries it */
  int required;     /* a kind that carries it must have it */
  void (*set)(s_event_t *);
  void (*clear)(s_event_t *);
} s_columns[] = {
    {"subject", ALL_KINDS & ~KIND_BIT(TAAKSTELLING), 1, s_set_subject,
     s_clear_subject},
    {"gemeente", ALL_KINDS, 1, NULL, s_clear_gemeente},
    {"from_gemeente", KIND_BIT(VERHUIZING), 1, s_set_from, s_clear_from},
    {"period", KIND_BIT(KOPPELING) | KIND_BIT(TAAKSTELLING), 1, s_set_period,
     s_clear_period},
    {"date", ALL_KINDS & ~KIND_BIT(TAAKSTELLING), 1, s_set_date, s_clear_date},
    {"household_size", KIND_BIT(KOPPELING), 1, s_set_household,
     s_clear_household},
    {"reason", KIND_BIT(ONTKOPPELING), 1, s_set_reason, s_clear_reason},
    {"target", KIND_BIT(TAAKSTELLING), 0, s_set_target, NULL},
    {"realised", KIND_BIT(TAAKSTELLING), 0, s_set_realised, NULL},
};
#define N_COLUMNS (sizeof s_columns / sizeof s_columns[0])

/* How a reason names a field: "TVS KOPPELING: period must ...". */
static const char *s_rule(const char *field, char *buf, size_t len) {
  snprintf(buf, len, ": %s ", field);
  return buf;
}

static void test_fields_must_be_empty(void **state) {
  (void)state;
  int checked = 0;
  for (int k = FIRST_KIND; k <= LAST_KIND; k++) {
    for (size_t f = 0; f < N_COLUMNS; f++) {
      if (s_columns[f].kinds & KIND_BIT(k))
        continue;
      s_event_t e;
      s_event(&e, k);
      s_columns[f].set(&e);
      char what[96], rule[48];
      snprintf(what, sizeof what, "%s with %s set", s_kind_names[k],
               s_columns[f].name);
      s_refuses(what, &e, s_rule(s_columns[f].name, rule, sizeof rule));
      checked++;
    }
  }
  /* subject 1 + from 4 + period 3 + date 1 + household 4 + reason 4 +
   * target 4 + realised 4 */
  assert_int_equal(checked, 25);
}

static void test_fields_required(void **state) {
  (void)state;
  int checked = 0;
  for (int k = FIRST_KIND; k <= LAST_KIND; k++) {
    for (size_t f = 0; f < N_COLUMNS; f++) {
      if (!(s_columns[f].kinds & KIND_BIT(k)) || !s_columns[f].required)
        continue;
      s_event_t e;
      s_event(&e, k);
      s_columns[f].clear(&e);
      char what[96], rule[48];
      snprintf(what, sizeof what, "%s without %s", s_kind_names[k],
               s_columns[f].name);
      s_refuses(what, &e, s_rule(s_columns[f].name, rule, sizeof rule));
      checked++;
    }
  }
  /* subject 4 + gemeente 5 + from 1 + period 2 + date 4 + household 1 +
   * reason 1 */
  assert_int_equal(checked, 18);
}

/* Values of a carried field that are there but wrong. */
static void test_fields_bad(void **state) {
  (void)state;
  s_event_t e;
  for (int k = FIRST_KIND; k <= LAST_KIND; k++) {
    const char *name = s_kind_names[k];
    if (k != TAAKSTELLING) {
      s_event(&e, k);
      e.ev.subject.len = 31;
      s_refuses(name, &e, "subject");
      e.ev.subject.len = 33;
      s_refuses(name, &e, "subject");
      s_event(&e, k);
      snprintf(e.date, sizeof e.date, "2026-02-30");
      s_refuses(name, &e, "date");
      snprintf(e.date, sizeof e.date, "2026-7-01");
      s_refuses(name, &e, "date");
    }
    const char *bad_ids[] = {"Gemeente:0716", "gemeente::0716", "0716",
                             "gemeente:0716:", "@gemeente", "gemeente 0716"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
      s_event(&e, k);
      snprintf(e.gemeente, sizeof e.gemeente, "%s", bad_ids[i]);
      s_refuses(name, &e, "gemeente");
    }
    s_event(&e, k);
    memset(e.gemeente, 'g', 65);
    e.gemeente[65] = '\0';
    s_refuses("gemeente of 65 bytes", &e, "gemeente");
    e.gemeente[64] = '\0';
    s_accepts("gemeente of 64 bytes", &e);
  }
  s_event(&e, KOPPELING);
  e.ev.household_size = TVS_MAX_HOUSEHOLD + 1;
  s_refuses("household of 100", &e, "household_size");
  e.ev.household_size = UINT32_MAX;
  s_refuses("household of UINT32_MAX", &e, "household_size");
  s_event(&e, KOPPELING);
  snprintf(e.period, sizeof e.period, "2026-3");
  s_refuses("KOPPELING for 2026-3", &e, "period");
  s_event(&e, ONTKOPPELING);
  e.ev.reason = (Keten__OntkoppelReason)6;
  s_refuses("reason 6", &e, "reason");
  e.ev.reason = (Keten__OntkoppelReason)-1;
  s_refuses("reason -1", &e, "reason");
  s_event(&e, VERHUIZING);
  snprintf(e.from, sizeof e.from, "%s", e.gemeente);
  s_refuses("move to the same gemeente", &e, "from_gemeente");
  snprintf(e.from, sizeof e.from, "Gemeente:0678");
  s_refuses("move from an invalid id", &e, "from_gemeente");
  s_event(&e, TAAKSTELLING);
  s_set_subject(&e);
  s_refuses("TAAKSTELLING with a subject", &e, "subject");
}

/* What every kind must carry: event_id, kind, published_by,
 * published_at_ms and a 64-byte signature. */
static void test_common_fields(void **state) {
  (void)state;
  s_event_t e;
  for (int k = FIRST_KIND; k <= LAST_KIND; k++) {
    const char *name = s_kind_names[k];
    s_event(&e, k);
    e.ev.event_id.len = 0;
    s_refuses(name, &e, "event_id");
    e.ev.event_id.len = 15;
    s_refuses(name, &e, "event_id");
    e.ev.event_id.len = 17;
    s_refuses(name, &e, "event_id");
    s_event(&e, k);
    e.by[0] = '\0';
    s_refuses(name, &e, "published_by");
    snprintf(e.by, sizeof e.by, "TVS");
    s_refuses(name, &e, "published_by");
    s_event(&e, k);
    e.ev.published_by = NULL;
    s_refuses(name, &e, "published_by");
    s_event(&e, k);
    e.ev.published_at_ms = 0;
    s_refuses(name, &e, "published_at_ms");
    e.ev.published_at_ms = (uint64_t)INT64_MAX + 1;
    s_refuses(name, &e, "published_at_ms");
    e.ev.published_at_ms = (uint64_t)INT64_MAX;
    s_accepts(name, &e);
    s_event(&e, k);
    e.ev.signature.len = 0;
    s_refuses(name, &e, "signature");
    e.ev.signature.len = 63;
    s_refuses(name, &e, "signature");
  }
  const int bad_kinds[] = {0, 6, 7, -1, 1000};
  for (size_t i = 0; i < sizeof bad_kinds / sizeof bad_kinds[0]; i++) {
    s_event(&e, KOPPELING);
    e.ev.kind = (Keten__TvsEventKind)bad_kinds[i];
    s_refuses("an unknown kind", &e, "kind");
  }
  char why[64];
  assert_int_equal(tvs_event_check_shape(NULL, why, sizeof why), -1);
  assert_int_equal(tvs_event_check_shape(NULL, NULL, 0), -1);
  /* the reason names the kind whose rule was broken */
  s_event(&e, VERHUIZING);
  e.from[0] = '\0';
  s_refuses("VERHUIZING without from", &e, "VERHUIZING");
}

/* Packs m, appends an unknown varint field 99 and unpacks it again. */
static ProtobufCMessage *s_with_unknown(const ProtobufCMessage *m) {
  size_t n = protobuf_c_message_get_packed_size(m);
  uint8_t *buf = malloc(n + 3);
  assert_non_null(buf);
  assert_int_equal(protobuf_c_message_pack(m, buf), n);
  buf[n] = 0x98; /* field 99, wire type 0 */
  buf[n + 1] = 0x06;
  buf[n + 2] = 0x01;
  ProtobufCMessage *back =
      protobuf_c_message_unpack(m->descriptor, NULL, n + 3, buf);
  free(buf);
  assert_non_null(back);
  assert_int_equal(back->n_unknown_fields, 1);
  return back;
}

static void test_unknown_fields(void **state) {
  (void)state;
  for (int k = FIRST_KIND; k <= LAST_KIND; k++) {
    s_event_t e;
    s_event(&e, k);
    Keten__TvsEvent *back = (Keten__TvsEvent *)s_with_unknown(&e.ev.base);
    char why[256];
    assert_int_equal(s_shape(back, why, sizeof why), -1);
    assert_non_null(strstr(why, "does not cover"));
    /* without the extra field the same bytes pass */
    back->base.n_unknown_fields = 0;
    assert_int_equal(s_shape(back, why, sizeof why), 0);
    back->base.n_unknown_fields = 1;
    keten__tvs_event__free_unpacked(back, NULL);
  }
}

/* ---- the canonical string and the signature ---------------------------------- */

/* keten/tvs-event/v1 as issue 7's spec lists it, encoded here. */
static void s_expected_canon(const Keten__TvsEvent *ev, s_enc_t *w) {
  w->len = 0;
  s_fstr(w, "keten/tvs-event/v1");
  s_field(w, ev->event_id.data, ev->event_id.len);
  s_fu64(w, (uint64_t)ev->kind);
  s_field(w, ev->subject.data, ev->subject.len);
  s_fstr(w, ev->gemeente);
  s_fstr(w, ev->from_gemeente);
  s_fstr(w, ev->period);
  s_fstr(w, ev->date);
  s_fu64(w, ev->household_size);
  s_fu64(w, (uint64_t)ev->reason);
  s_fu64(w, ev->target);
  s_fu64(w, ev->realised);
  s_fstr(w, ev->published_by);
  s_fu64(w, ev->published_at_ms);
}

/* An event with every field set (no valid kind has them all): the
 * canonical string and the signature must cover each. */
static void s_full_event(s_event_t *e) {
  s_event(e, VERHUIZING);
  snprintf(e->period, sizeof e->period, "2026-2");
  e->ev.household_size = 4;
  e->ev.reason = KETEN__ONTKOPPEL_REASON__ONTKOPPEL_MOVED;
  e->ev.target = 120;
  e->ev.realised = 45;
}

static void s_canon_is(const s_event_t *e) {
  s_enc_t want;
  s_expected_canon(&e->ev, &want);
  uint8_t *got = NULL;
  size_t len = 0;
  assert_int_equal(tvs_event_canon(&e->ev, &got, &len), 0);
  assert_non_null(got);
  assert_int_equal(len, want.len);
  assert_memory_equal(got, want.buf, len);
  free(got);
}

static void test_canon(void **state) {
  (void)state;
  s_event_t e;
  for (int k = FIRST_KIND; k <= LAST_KIND; k++) {
    s_event(&e, k);
    s_canon_is(&e);
  }
  s_full_event(&e);
  s_canon_is(&e);
  /* the signature is not part of it */
  uint8_t *a, *b;
  size_t alen, blen;
  assert_int_equal(tvs_event_canon(&e.ev, &a, &alen), 0);
  memset(e.sig, 0xff, sizeof e.sig);
  assert_int_equal(tvs_event_canon(&e.ev, &b, &blen), 0);
  assert_int_equal(alen, blen);
  assert_memory_equal(a, b, alen);
  free(a);
  free(b);
  /* moving a byte from one field to the next changes the string */
  s_event(&e, VERHUIZING);
  assert_int_equal(tvs_event_canon(&e.ev, &a, &alen), 0);
  snprintf(e.gemeente, sizeof e.gemeente, "gemeente:071");
  snprintf(e.from, sizeof e.from, "6gemeente:0678");
  assert_int_equal(tvs_event_canon(&e.ev, &b, &blen), 0);
  assert_int_equal(alen, blen);
  assert_memory_not_equal(a, b, alen);
  free(a);
  free(b);
  assert_int_equal(tvs_event_canon(NULL, &a, &alen), -1);
  assert_null(a);
  assert_int_equal(alen, 0);
}

static void s_sign(s_event_t *e, const uint8_t sk[64]) {
  assert_int_equal(tvs_event_sign(&e->ev, sk, e->sig), 0);
}

static void test_sign_verify(void **state) {
  (void)state;
  uint8_t pk[32], sk[64], other_pk[32], other_sk[64];
  s_keys(pk, sk);
  crypto_sign_keypair(other_pk, other_sk);
  s_event_t e;
  for (int k = FIRST_KIND; k <= LAST_KIND; k++) {
    s_event(&e, k);
    s_sign(&e, sk);
    s_accepts(s_kind_names[k], &e);
    assert_int_equal(tvs_event_verify(&e.ev, pk), 0);
    assert_int_equal(tvs_event_verify(&e.ev, other_pk), -1);
    /* it is Ed25519 over the canonical string */
    uint8_t *c;
    size_t len;
    assert_int_equal(tvs_event_canon(&e.ev, &c, &len), 0);
    assert_int_equal(crypto_sign_verify_detached(e.sig, c, len, pk), 0);
    free(c);
    /* deterministic */
    uint8_t again[64];
    assert_int_equal(tvs_event_sign(&e.ev, sk, again), 0);
    assert_memory_equal(again, e.sig, 64);
  }
  /* every bit of the signature counts; a short one never verifies */
  s_event(&e, KOPPELING);
  s_sign(&e, sk);
  for (size_t i = 0; i < 64 * 8; i += 7) {
    e.sig[i / 8] ^= (uint8_t)(1u << (i % 8));
    assert_int_equal(tvs_event_verify(&e.ev, pk), -1);
    e.sig[i / 8] ^= (uint8_t)(1u << (i % 8));
  }
  assert_int_equal(tvs_event_verify(&e.ev, pk), 0);
  e.ev.signature.len = 63;
  assert_int_equal(tvs_event_verify(&e.ev, pk), -1);
  e.ev.signature.len = 0;
  assert_int_equal(tvs_event_verify(&e.ev, pk), -1);
  assert_int_equal(tvs_event_verify(NULL, pk), -1);
  uint8_t sig[64];
  assert_int_equal(tvs_event_sign(NULL, sk, sig), -1);
  sodium_memzero(sk, sizeof sk);
  sodium_memzero(other_sk, sizeof other_sk);
}

/* One bit of each signed field, flipped: the signature fails; flipped
 * back: it verifies again. */
static void s_flip(uint8_t *p) { *p ^= 0x01; }

static void test_signed_fields(void **state) {
  (void)state;
  uint8_t pk[32], sk[64];
  s_keys(pk, sk);
  s_event_t e;
  s_full_event(&e);
  s_sign(&e, sk);
  assert_int_equal(tvs_event_verify(&e.ev, pk), 0);
  struct {
    const char *name;
    uint8_t *p;
  } bytes[] = {
      {"event_id[0]", &e.event_id[0]},
      {"event_id[15]", &e.event_id[15]},
      {"subject[0]", &e.subject[0]},
      {"subject[31]", &e.subject[31]},
      {"gemeente", (uint8_t *)&e.gemeente[9]},
      {"from_gemeente", (uint8_t *)&e.from[12]},
      {"period", (uint8_t *)&e.period[5]},
      {"date", (uint8_t *)&e.date[9]},
      {"published_by", (uint8_t *)&e.by[0]},
  };
  for (size_t i = 0; i < sizeof bytes / sizeof bytes[0]; i++) {
    s_flip(bytes[i].p);
    if (tvs_event_verify(&e.ev, pk) == 0)
      fail_msg("%s flipped: still verifies", bytes[i].name);
    s_flip(bytes[i].p);
    assert_int_equal(tvs_event_verify(&e.ev, pk), 0);
  }
  /* the integers, low bit and high bit */
  uint32_t *u32[] = {&e.ev.household_size, &e.ev.target, &e.ev.realised};
  for (size_t i = 0; i < 3; i++) {
    *u32[i] ^= 1u;
    assert_int_equal(tvs_event_verify(&e.ev, pk), -1);
    *u32[i] ^= 1u;
    *u32[i] ^= 0x80000000u;
    assert_int_equal(tvs_event_verify(&e.ev, pk), -1);
    *u32[i] ^= 0x80000000u;
  }
  e.ev.kind ^= 1;
  assert_int_equal(tvs_event_verify(&e.ev, pk), -1);
  e.ev.kind ^= 1;
  e.ev.reason ^= 1;
  assert_int_equal(tvs_event_verify(&e.ev, pk), -1);
  e.ev.reason ^= 1;
  e.ev.published_at_ms ^= 1;
  assert_int_equal(tvs_event_verify(&e.ev, pk), -1);
  e.ev.published_at_ms ^= 1;
  e.ev.published_at_ms ^= UINT64_C(1) << 63;
  assert_int_equal(tvs_event_verify(&e.ev, pk), -1);
  e.ev.published_at_ms ^= UINT64_C(1) << 63;
  /* lengths count: a field that grows or goes away */
  e.ev.subject.len = 31;
  assert_int_equal(tvs_event_verify(&e.ev, pk), -1);
  e.ev.subject.len = 32;
  e.ev.event_id.len = 15;
  assert_int_equal(tvs_event_verify(&e.ev, pk), -1);
  e.ev.event_id.len = 16;
  e.date[9] = '\0';
  assert_int_equal(tvs_event_verify(&e.ev, pk), -1);
  e.date[9] = '1';
  assert_int_equal(tvs_event_verify(&e.ev, pk), 0);

  /* an empty field that gets a value: a TAAKSTELLING given a subject */
  s_event(&e, TAAKSTELLING);
  s_sign(&e, sk);
  assert_int_equal(tvs_event_verify(&e.ev, pk), 0);
  e.ev.subject.len = 32;
  assert_int_equal(tvs_event_verify(&e.ev, pk), -1);
  sodium_memzero(sk, sizeof sk);
}

static void test_gemeenten(void **state) {
  (void)state;
  s_event_t e;
  const char *out[2] = {NULL, NULL};
  for (int k = FIRST_KIND; k <= LAST_KIND; k++) {
    s_event(&e, k);
    out[0] = out[1] = NULL;
    size_t n = tvs_event_gemeenten(&e.ev, out);
    assert_int_equal(n, k == VERHUIZING ? 2 : 1);
    assert_ptr_equal(out[0], e.ev.gemeente);
    assert_string_equal(out[0], "gemeente:0716");
    if (k == VERHUIZING) {
      assert_ptr_equal(out[1], e.ev.from_gemeente);
      assert_string_equal(out[1], "gemeente:0678");
    } else {
      assert_null(out[1]);
    }
  }
  /* a move within one gemeente (refused by the shape) goes there once */
  s_event(&e, VERHUIZING);
  snprintf(e.from, sizeof e.from, "%s", e.gemeente);
  out[0] = out[1] = NULL;
  assert_int_equal(tvs_event_gemeenten(&e.ev, out), 1);
  assert_null(out[1]);
  /* from_gemeente of another kind is not a destination */
  s_event(&e, KOPPELING);
  s_set_from(&e);
  out[0] = out[1] = NULL;
  assert_int_equal(tvs_event_gemeenten(&e.ev, out), 1);
  assert_null(out[1]);
  s_event(&e, HUISVESTING);
  e.gemeente[0] = '\0';
  assert_int_equal(tvs_event_gemeenten(&e.ev, out), 0);
  assert_int_equal(tvs_event_gemeenten(NULL, out), 0);
}

/* ---- delete notices ---------------------------------------------------------- */

typedef struct {
  uint8_t notice_id[CANON_NOTICE_ID_BYTES];
  uint8_t subject[40];
  uint8_t consent_id[20];
  uint8_t tvs_event_id[20];
  uint8_t sig[CANON_SIGNATURE_BYTES];
  char authors[CANON_MAX_NOTICE_ITEMS + 1][80];
  Keten__NoticeItem item[CANON_MAX_NOTICE_ITEMS + 1];
  Keten__NoticeItem *items[CANON_MAX_NOTICE_ITEMS + 1];
  Keten__Notice n;
} s_notice_t;

/* A NOTICE_DELETE for a revoked consent: STORY by coa up to v3, HEALTH
 * by ggz:emergis up to v1. */
static void s_notice(s_notice_t *t) {
  memset(t, 0, sizeof *t);
  for (int i = 0; i < 16; i++) {
    t->notice_id[i] = (uint8_t)(0xa0 + i);
    t->consent_id[i] = (uint8_t)(0x10 + i);
    t->tvs_event_id[i] = (uint8_t)(0xe0 + i);
  }
  for (int i = 0; i < 32; i++)
    t->subject[i] = (uint8_t)(0x20 + i);
  for (size_t i = 0; i <= CANON_MAX_NOTICE_ITEMS; i++) {
    keten__notice_item__init(&t->item[i]);
    snprintf(t->authors[i], sizeof t->authors[i], "vwn:%zu", i);
    t->item[i].kind = KETEN__SECTION_KIND__SECTION_SUPPORT;
    t->item[i].author = t->authors[i];
    t->item[i].up_to_version = i + 1;
    t->items[i] = &t->item[i];
  }
  snprintf(t->authors[0], sizeof t->authors[0], "coa");
  t->item[0].kind = KETEN__SECTION_KIND__SECTION_STORY;
  t->item[0].up_to_version = 3;
  snprintf(t->authors[1], sizeof t->authors[1], "ggz:emergis");
  t->item[1].kind = KETEN__SECTION_KIND__SECTION_HEALTH;
  t->item[1].up_to_version = 1;
  keten__notice__init(&t->n);
  Keten__Notice *n = &t->n;
  n->kind = KETEN__NOTICE_KIND__NOTICE_DELETE;
  n->reason = KETEN__NOTICE_REASON__NOTICE_REASON_REVOKED;
  n->notice_id.data = t->notice_id;
  n->notice_id.len = 16;
  n->subject.data = t->subject;
  n->subject.len = 32;
  n->consent_id.data = t->consent_id;
  n->consent_id.len = 16;
  n->tvs_event_id.data = t->tvs_event_id;
  n->tvs_event_id.len = 0;
  n->created_at_ms = PUBLISHED_AT;
  n->items = t->items;
  n->n_items = 2;
  n->broker_signature.data = t->sig;
  n->broker_signature.len = 64;
}

static void s_notice_accepts(const char *what, const s_notice_t *t) {
  char why[256] = "";
  if (canon_notice_check_shape(&t->n, why, sizeof why) != 0)
    fail_msg("%s: refused (%s)", what, why);
}

static void s_notice_refuses(const char *what, const s_notice_t *t,
                             const char *in_why) {
  char why[256] = "";
  if (canon_notice_check_shape(&t->n, why, sizeof why) == 0)
    fail_msg("%s: accepted", what);
  if (!strstr(why, in_why))
    fail_msg("%s: refused for '%s', expected '%s'", what, why, in_why);
}

static void test_notice_shape(void **state) {
  (void)state;
  s_notice_t *t = malloc(sizeof *t);
  assert_non_null(t);
  s_notice(t);
  s_notice_accepts("revoked", t);
  t->n.reason = KETEN__NOTICE_REASON__NOTICE_REASON_EXPIRED;
  s_notice_accepts("expired", t);
  /* the id must fit the reason: a consent for REVOKED and EXPIRED, a TVS
   * event for ONTKOPPELD */
  t->n.tvs_event_id.len = 16;
  s_notice_refuses("expired with a TVS event", t, "no TVS event");
  t->n.consent_id.len = 0;
  s_notice_refuses("expired without consent", t, "names that consent");
  t->n.reason = KETEN__NOTICE_REASON__NOTICE_REASON_REVOKED;
  s_notice_refuses("revoked without consent", t, "names that consent");
  s_notice(t);
  t->n.reason = KETEN__NOTICE_REASON__NOTICE_REASON_ONTKOPPELD;
  s_notice_refuses("ontkoppeld with a consent", t, "names its TVS event");
  t->n.consent_id.len = 0;
  t->n.tvs_event_id.len = 16;
  s_notice_accepts("ontkoppeld", t);
  t->n.tvs_event_id.len = 0;
  s_notice_refuses("ontkoppeld without event", t, "names its TVS event");
  t->n.reason = KETEN__NOTICE_REASON__NOTICE_REASON_ERASED;
  s_notice_accepts("erased, neither id", t);
  s_notice(t);
  t->n.n_items = 1;
  s_notice_accepts("one item", t);
  t->n.n_items = CANON_MAX_NOTICE_ITEMS;
  s_notice_accepts("64 items", t);

  s_notice(t);
  t->n.kind = KETEN__NOTICE_KIND__NOTICE_CONSENT_REVOKED;
  s_notice_refuses("a revocation notice", t, "not a delete notice");
  t->n.kind = KETEN__NOTICE_KIND__NOTICE_UNSPECIFIED;
  s_notice_refuses("kind 0", t, "not a delete notice");
  t->n.kind = (Keten__NoticeKind)3;
  s_notice_refuses("kind 3", t, "not a delete notice");
  s_notice(t);
  t->n.reason = KETEN__NOTICE_REASON__NOTICE_REASON_UNSPECIFIED;
  s_notice_refuses("reason 0", t, "reason");
  t->n.reason = (Keten__NoticeReason)5;
  s_notice_refuses("reason 5", t, "reason");
  s_notice(t);
  t->n.notice_id.len = 15;
  s_notice_refuses("notice_id of 15", t, "notice_id");
  t->n.notice_id.len = 0;
  s_notice_refuses("no notice_id", t, "notice_id");
  s_notice(t);
  t->n.subject.len = 31;
  s_notice_refuses("subject of 31", t, "subject");
  t->n.subject.len = 33;
  s_notice_refuses("subject of 33", t, "subject");
  t->n.subject.len = 0;
  s_notice_refuses("no subject", t, "subject");
  s_notice(t);
  t->n.consent_id.len = 15;
  s_notice_refuses("consent_id of 15", t, "consent_id");
  t->n.consent_id.len = 17;
  s_notice_refuses("consent_id of 17", t, "consent_id");
  s_notice(t);
  t->n.tvs_event_id.len = 15;
  s_notice_refuses("tvs_event_id of 15", t, "tvs_event_id");
  t->n.tvs_event_id.len = 17;
  s_notice_refuses("tvs_event_id of 17", t, "tvs_event_id");
  s_notice(t);
  t->n.n_items = 0;
  s_notice_refuses("no items", t, "items");
  t->n.n_items = CANON_MAX_NOTICE_ITEMS + 1;
  s_notice_refuses("65 items", t, "items");
  s_notice(t);
  t->items[1] = NULL;
  s_notice_refuses("a NULL item", t, "item");
  s_notice(t);
  t->item[1].kind = KETEN__SECTION_KIND__SECTION_UNSPECIFIED;
  s_notice_refuses("item kind 0", t, "kind");
  t->item[1].kind = (Keten__SectionKind)13;
  s_notice_refuses("item kind 13", t, "kind");
  s_notice(t);
  snprintf(t->authors[1], sizeof t->authors[1], "GGZ");
  s_notice_refuses("an invalid author", t, "author");
  t->item[1].author = NULL;
  s_notice_refuses("no author", t, "author");
  s_notice(t);
  t->item[1].up_to_version = 0;
  s_notice_refuses("version 0", t, "up_to_version");
  s_notice(t);
  Keten__Revocation rev = KETEN__REVOCATION__INIT;
  t->n.revocation = &rev;
  s_notice_refuses("with a revocation", t, "revocation");
  t->n.revocation = NULL;
  Keten__RegistryEntry entry = KETEN__REGISTRY_ENTRY__INIT;
  t->n.revoker_entry = &entry;
  s_notice_refuses("with a revoker entry", t, "revocation");
  s_notice(t);
  t->n.broker_signature.len = 63;
  s_notice_refuses("signature of 63", t, "broker_signature");
  t->n.broker_signature.len = 0;
  s_notice_refuses("no signature", t, "broker_signature");
  char why[64];
  assert_int_equal(canon_notice_check_shape(NULL, why, sizeof why), -1);
  assert_int_equal(canon_notice_check_shape(NULL, NULL, 0), -1);
  free(t);
}

static void test_notice_unknown_fields(void **state) {
  (void)state;
  s_notice_t *t = malloc(sizeof *t);
  assert_non_null(t);
  s_notice(t);
  char why[256];
  Keten__Notice *back = (Keten__Notice *)s_with_unknown(&t->n.base);
  assert_int_equal(canon_notice_check_shape(back, why, sizeof why), -1);
  assert_non_null(strstr(why, "does not cover"));
  back->base.n_unknown_fields = 0;
  assert_int_equal(canon_notice_check_shape(back, why, sizeof why), 0);
  back->base.n_unknown_fields = 1;
  keten__notice__free_unpacked(back, NULL);

  /* inside an item: the notice without items, then field 8 (items) with
   * an item that carries field 99 */
  t->n.n_items = 0;
  size_t n = keten__notice__get_packed_size(&t->n);
  size_t item_len = keten__notice_item__get_packed_size(&t->item[0]);
  assert_true(item_len + 3 < 128);
  uint8_t *buf = malloc(n + 2 + item_len + 3);
  assert_non_null(buf);
  keten__notice__pack(&t->n, buf);
  buf[n] = 0x42; /* field 8, length-delimited */
  buf[n + 1] = (uint8_t)(item_len + 3);
  keten__notice_item__pack(&t->item[0], buf + n + 2);
  memcpy(buf + n + 2 + item_len, "\x98\x06\x01", 3);
  back = keten__notice__unpack(NULL, n + 2 + item_len + 3, buf);
  free(buf);
  assert_non_null(back);
  assert_int_equal(back->n_items, 1);
  assert_int_equal(back->base.n_unknown_fields, 0);
  assert_int_equal(back->items[0]->base.n_unknown_fields, 1);
  assert_int_equal(canon_notice_check_shape(back, why, sizeof why), -1);
  assert_non_null(strstr(why, "does not cover"));
  back->items[0]->base.n_unknown_fields = 0;
  assert_int_equal(canon_notice_check_shape(back, why, sizeof why), 0);
  back->items[0]->base.n_unknown_fields = 1;
  keten__notice__free_unpacked(back, NULL);
  free(t);
}

/* keten/notice/v1 as issue 7's spec lists it, encoded here. */
static void s_expected_notice(const Keten__Notice *n, s_enc_t *w) {
  w->len = 0;
  s_fstr(w, "keten/notice/v1");
  s_field(w, n->notice_id.data, n->notice_id.len);
  s_fu64(w, (uint64_t)n->kind);
  s_fu64(w, (uint64_t)n->reason);
  s_field(w, n->subject.data, n->subject.len);
  s_field(w, n->consent_id.data, n->consent_id.len);
  s_field(w, n->tvs_event_id.data, n->tvs_event_id.len);
  s_fu64(w, n->created_at_ms);
  s_fu64(w, n->n_items);
  for (size_t i = 0; i < n->n_items; i++) {
    s_fu64(w, (uint64_t)n->items[i]->kind);
    s_fstr(w, n->items[i]->author);
    s_fu64(w, n->items[i]->up_to_version);
  }
}

static void s_notice_canon_is(const s_notice_t *t) {
  s_enc_t want;
  s_expected_notice(&t->n, &want);
  canon_t c;
  canon_init(&c);
  assert_int_equal(canon_notice(&c, &t->n), 0);
  assert_int_equal(c.len, want.len);
  assert_memory_equal(c.data, want.buf, c.len);
  canon_free(&c);
}

static void test_notice_canon(void **state) {
  (void)state;
  s_notice_t *t = malloc(sizeof *t);
  assert_non_null(t);
  s_notice(t);
  s_notice_canon_is(t);
  t->n.consent_id.len = 0;
  t->n.tvs_event_id.len = 16;
  t->n.reason = KETEN__NOTICE_REASON__NOTICE_REASON_ONTKOPPELD;
  s_notice_canon_is(t);
  t->n.n_items = CANON_MAX_NOTICE_ITEMS;
  s_notice_canon_is(t);
  /* items in their order: swapping two changes the string */
  s_notice(t);
  canon_t a, b;
  canon_init(&a);
  canon_init(&b);
  assert_int_equal(canon_notice(&a, &t->n), 0);
  t->items[0] = &t->item[1];
  t->items[1] = &t->item[0];
  assert_int_equal(canon_notice(&b, &t->n), 0);
  assert_int_equal(a.len, b.len);
  assert_memory_not_equal(a.data, b.data, a.len);
  canon_free(&a);
  canon_free(&b);
  /* a revocation notice is not built here; nor one with a NULL item */
  s_notice(t);
  Keten__Revocation rev = KETEN__REVOCATION__INIT;
  t->n.revocation = &rev;
  canon_init(&a);
  assert_int_equal(canon_notice(&a, &t->n), -1);
  canon_free(&a);
  t->n.revocation = NULL;
  Keten__RegistryEntry entry = KETEN__REGISTRY_ENTRY__INIT;
  t->n.revoker_entry = &entry;
  canon_init(&a);
  assert_int_equal(canon_notice(&a, &t->n), -1);
  canon_free(&a);
  uint8_t sk[64], pk[32], sig[64];
  s_keys(pk, sk);
  assert_int_equal(canon_sign_notice(&t->n, sk, sig), -1);
  t->n.revoker_entry = NULL;
  t->items[1] = NULL;
  canon_init(&a);
  assert_int_equal(canon_notice(&a, &t->n), -1);
  canon_free(&a);
  sodium_memzero(sk, sizeof sk);
  free(t);
}

static void test_notice_sign_verify(void **state) {
  (void)state;
  uint8_t pk[32], sk[64], other_pk[32], other_sk[64];
  s_keys(pk, sk);
  crypto_sign_keypair(other_pk, other_sk);
  s_notice_t *t = malloc(sizeof *t);
  assert_non_null(t);
  s_notice(t);
  t->n.reason = KETEN__NOTICE_REASON__NOTICE_REASON_ERASED;
  t->n.tvs_event_id.len = 16; /* every field set */
  assert_int_equal(canon_sign_notice(&t->n, sk, t->sig), 0);
  s_notice_accepts("signed", t);
  assert_int_equal(canon_verify_notice(&t->n, pk), 0);
  assert_int_equal(canon_verify_notice(&t->n, other_pk), -1);
  canon_t c;
  canon_init(&c);
  assert_int_equal(canon_notice(&c, &t->n), 0);
  assert_int_equal(crypto_sign_verify_detached(t->sig, c.data, c.len, pk), 0);
  canon_free(&c);

  struct {
    const char *name;
    uint8_t *p;
  } bytes[] = {
      {"notice_id", &t->notice_id[7]},
      {"subject", &t->subject[31]},
      {"consent_id", &t->consent_id[0]},
      {"tvs_event_id", &t->tvs_event_id[15]},
      {"first author", (uint8_t *)&t->authors[0][2]},
      {"second author", (uint8_t *)&t->authors[1][4]},
      {"signature", &t->sig[0]},
      {"signature end", &t->sig[63]},
  };
  for (size_t i = 0; i < sizeof bytes / sizeof bytes[0]; i++) {
    s_flip(bytes[i].p);
    if (canon_verify_notice(&t->n, pk) == 0)
      fail_msg("%s flipped: still verifies", bytes[i].name);
    s_flip(bytes[i].p);
    assert_int_equal(canon_verify_notice(&t->n, pk), 0);
  }
  t->n.kind ^= 1;
  assert_int_equal(canon_verify_notice(&t->n, pk), -1);
  t->n.kind ^= 1;
  t->n.reason ^= 1;
  assert_int_equal(canon_verify_notice(&t->n, pk), -1);
  t->n.reason ^= 1;
  t->n.created_at_ms ^= 1;
  assert_int_equal(canon_verify_notice(&t->n, pk), -1);
  t->n.created_at_ms ^= 1;
  for (size_t i = 0; i < 2; i++) {
    t->item[i].kind ^= 1;
    assert_int_equal(canon_verify_notice(&t->n, pk), -1);
    t->item[i].kind ^= 1;
    t->item[i].up_to_version ^= 1;
    assert_int_equal(canon_verify_notice(&t->n, pk), -1);
    t->item[i].up_to_version ^= 1;
    t->item[i].up_to_version ^= UINT64_C(1) << 63;
    assert_int_equal(canon_verify_notice(&t->n, pk), -1);
    t->item[i].up_to_version ^= UINT64_C(1) << 63;
  }
  /* an item dropped, an item added, the ids taken away */
  t->n.n_items = 1;
  assert_int_equal(canon_verify_notice(&t->n, pk), -1);
  t->n.n_items = 3;
  assert_int_equal(canon_verify_notice(&t->n, pk), -1);
  t->n.n_items = 2;
  t->n.consent_id.len = 0;
  assert_int_equal(canon_verify_notice(&t->n, pk), -1);
  t->n.consent_id.len = 16;
  t->n.tvs_event_id.len = 0;
  assert_int_equal(canon_verify_notice(&t->n, pk), -1);
  t->n.tvs_event_id.len = 16;
  assert_int_equal(canon_verify_notice(&t->n, pk), 0);
  t->n.broker_signature.len = 63;
  assert_int_equal(canon_verify_notice(&t->n, pk), -1);
  t->n.broker_signature.len = 0;
  assert_int_equal(canon_verify_notice(&t->n, pk), -1);
  sodium_memzero(sk, sizeof sk);
  sodium_memzero(other_sk, sizeof other_sk);
  free(t);
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_enum_numbers),
      cmocka_unit_test(test_kind_names),
      cmocka_unit_test(test_reason_names),
      cmocka_unit_test(test_linked_recipient),
      cmocka_unit_test(test_periods),
      cmocka_unit_test(test_dates),
      cmocka_unit_test(test_valid_shapes),
      cmocka_unit_test(test_fields_must_be_empty),
      cmocka_unit_test(test_fields_required),
      cmocka_unit_test(test_fields_bad),
      cmocka_unit_test(test_common_fields),
      cmocka_unit_test(test_unknown_fields),
      cmocka_unit_test(test_canon),
      cmocka_unit_test(test_sign_verify),
      cmocka_unit_test(test_signed_fields),
      cmocka_unit_test(test_gemeenten),
      cmocka_unit_test(test_notice_shape),
      cmocka_unit_test(test_notice_unknown_fields),
      cmocka_unit_test(test_notice_canon),
      cmocka_unit_test(test_notice_sign_verify),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
