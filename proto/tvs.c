/* tvs — TVS events: shapes per kind, canonical string, signature. */
#include "tvs.h"

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "canon.h"
#include "entry.h"
#include "enums.h"

int tvs_is_linked_recipient(const char *recipient) {
  return recipient && strcmp(recipient, TVS_LINKED_GEMEENTE) == 0;
}

/* The value of n decimal digits at s, or -1 if one is not a digit. */
static int s_digits(const char *s, size_t n) {
  int v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

/* A year of four digits, 2000..2999. */
static int s_year(const char *s) {
  int y = s_digits(s, 4);
  return y >= 2000 && y <= 2999 ? y : -1;
}

int tvs_valid_period(const char *period) {
  if (!period || strlen(period) != 6 || s_year(period) < 0)
    return 0;
  return period[4] == '-' && (period[5] == '1' || period[5] == '2');
}

static int s_days_in_month(int year, int month) {
  static const int days[12] = {31, 28, 31, 30, 31, 30,
                               31, 31, 30, 31, 30, 31};
  int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : days[month - 1];
}

int tvs_valid_date(const char *date) {
  if (!date || strlen(date) != 10 || date[4] != '-' || date[7] != '-')
    return 0;
  int year = s_year(date);
  int month = s_digits(date + 5, 2);
  int day = s_digits(date + 8, 2);
  if (year < 0 || month < 1 || month > 12)
    return 0;
  return day >= 1 && day <= s_days_in_month(year, month);
}

const char *tvs_kind_name(int kind) {
  return enums_name(&keten__tvs_event_kind__descriptor, kind, "TVS_");
}
int tvs_kind_from_name(const char *name) {
  return enums_value(&keten__tvs_event_kind__descriptor, name, "TVS_");
}
const char *tvs_reason_name(int reason) {
  return enums_name(&keten__ontkoppel_reason__descriptor, reason,
                    "ONTKOPPEL_");
}
int tvs_reason_from_name(const char *name) {
  return enums_value(&keten__ontkoppel_reason__descriptor, name,
                     "ONTKOPPEL_");
}

static int s_empty(const char *s) { return !s || !s[0]; }

/* The per-kind rules of the shape table (docs/protocol.md "TVS events"):
 * what kind k must carry, and that the rest is empty or zero. */
static const char *s_kind_rules(const Keten__TvsEvent *ev) {
  int k = (int)ev->kind;
  int taak = k == KETEN__TVS_EVENT_KIND__TVS_TAAKSTELLING;
  int kop = k == KETEN__TVS_EVENT_KIND__TVS_KOPPELING;
  int verh = k == KETEN__TVS_EVENT_KIND__TVS_VERHUIZING;
  int ontk = k == KETEN__TVS_EVENT_KIND__TVS_ONTKOPPELING;

  if (taak ? ev->subject.len != 0 : ev->subject.len != CANON_SUBJECT_BYTES)
    return taak ? "subject must be empty" : "subject must be 32 bytes";
  if (!entry_valid_id(ev->gemeente))
    return "gemeente is not a valid participant id";
  if (verh) {
    if (!entry_valid_id(ev->from_gemeente))
      return "from_gemeente is not a valid participant id";
    if (strcmp(ev->from_gemeente, ev->gemeente) == 0)
      return "from_gemeente must differ from gemeente";
  } else if (!s_empty(ev->from_gemeente)) {
    return "from_gemeente must be empty";
  }
  if (kop || taak) {
    if (!tvs_valid_period(ev->period))
      return "period must be YYYY-1 or YYYY-2";
  } else if (!s_empty(ev->period)) {
    return "period must be empty";
  }
  if (taak) {
    if (!s_empty(ev->date))
      return "date must be empty";
  } else if (!tvs_valid_date(ev->date)) {
    return "date must be a calendar day YYYY-MM-DD";
  }
  if (kop) {
    if (ev->household_size < 1 || ev->household_size > TVS_MAX_HOUSEHOLD)
      return "household_size must be 1..99";
  } else if (ev->household_size != 0) {
    return "household_size must be 0";
  }
  if (ontk) {
    if (!tvs_reason_name((int)ev->reason))
      return "reason must be a known ontkoppel reason";
  } else if (ev->reason != 0) {
    return "reason must be unspecified";
  }
  if (!taak && ev->target != 0)
    return "target must be 0";
  if (!taak && ev->realised != 0)
    return "realised must be 0";
  return NULL;
}

int tvs_event_check_shape(const Keten__TvsEvent *ev, char *why,
                          size_t whylen) {
  const char *reason = NULL, *rule = NULL;
  const char *kind = ev ? tvs_kind_name((int)ev->kind) : NULL;
  if (!ev)
    reason = "no TVS event";
  else if (!canon_exact(&ev->base))
    reason = "TVS event carries fields its signature does not cover";
  else if (ev->event_id.len != TVS_EVENT_ID_BYTES)
    reason = "TVS event_id must be 16 bytes";
  else if (!kind)
    reason = "TVS event has an unknown kind";
  else if (!entry_valid_id(ev->published_by))
    reason = "TVS event published_by is not a valid participant id";
  else if (ev->published_at_ms == 0 ||
           ev->published_at_ms > (uint64_t)INT64_MAX)
    reason = "TVS event published_at_ms must be 1..2^63-1";
  else if (ev->signature.len != CANON_SIGNATURE_BYTES)
    reason = "TVS event signature must be 64 bytes";
  else
    rule = s_kind_rules(ev);
  if (rule && why && whylen)
    snprintf(why, whylen, "TVS %s: %s", kind, rule);
  else if (reason && why && whylen)
    snprintf(why, whylen, "%s", reason);
  return reason || rule ? -1 : 0;
}

/* keten/tvs-event/v1: every field but signature, in field order. */
static int s_canon(canon_t *c, const Keten__TvsEvent *ev) {
  canon_str(c, TVS_TAG_EVENT);
  canon_bytes(c, ev->event_id.data, ev->event_id.len);
  canon_u64(c, (uint64_t)ev->kind);
  canon_bytes(c, ev->subject.data, ev->subject.len);
  canon_str(c, ev->gemeente);
  canon_str(c, ev->from_gemeente);
  canon_str(c, ev->period);
  canon_str(c, ev->date);
  canon_u64(c, ev->household_size);
  canon_u64(c, (uint64_t)ev->reason);
  canon_u64(c, ev->target);
  canon_u64(c, ev->realised);
  canon_str(c, ev->published_by);
  canon_u64(c, ev->published_at_ms);
  return c->oom ? -1 : 0;
}

int tvs_event_canon(const Keten__TvsEvent *ev, uint8_t **out, size_t *len) {
  *out = NULL;
  *len = 0;
  if (!ev)
    return -1;
  canon_t c;
  canon_init(&c);
  if (s_canon(&c, ev) != 0) {
    canon_free(&c);
    return -1;
  }
  *out = c.data; /* the caller frees it (free) */
  *len = c.len;
  return 0;
}

int tvs_event_sign(const Keten__TvsEvent *ev, const uint8_t sk[64],
                   uint8_t sig[64]) {
  if (!ev)
    return -1;
  canon_t c;
  canon_init(&c);
  int rc = s_canon(&c, ev);
  if (rc == 0)
    rc = crypto_sign_detached(sig, NULL, c.data, c.len, sk);
  canon_free(&c);
  return rc == 0 ? 0 : -1;
}

int tvs_event_verify(const Keten__TvsEvent *ev, const uint8_t pk[32]) {
  if (!ev || ev->signature.len != CANON_SIGNATURE_BYTES)
    return -1;
  canon_t c;
  canon_init(&c);
  int rc = s_canon(&c, ev);
  if (rc == 0)
    rc = crypto_sign_verify_detached(ev->signature.data, c.data, c.len, pk);
  canon_free(&c);
  return rc == 0 ? 0 : -1;
}

size_t tvs_event_gemeenten(const Keten__TvsEvent *ev, const char *out[2]) {
  if (!ev || s_empty(ev->gemeente))
    return 0;
  out[0] = ev->gemeente;
  /* the old gemeente of a move too, never the same one twice */
  if (ev->kind == KETEN__TVS_EVENT_KIND__TVS_VERHUIZING &&
      !s_empty(ev->from_gemeente) &&
      strcmp(ev->from_gemeente, ev->gemeente) != 0) {
    out[1] = ev->from_gemeente;
    return 2;
  }
  return 1;
}
