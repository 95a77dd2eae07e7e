/* report — the person's access report (see report.h). */
#include "report.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "canon.h"

/* ---- building ---------------------------------------------------------------- */

static int s_zero16(const uint8_t *b) {
  for (int i = 0; i < 16; i++)
    if (b[i])
      return 0;
  return 1;
}

static const report_consent_t *s_consent(const report_input_t *in,
                                         const uint8_t id[16]) {
  if (s_zero16(id))
    return NULL;
  for (size_t i = 0; i < in->n_consents; i++)
    if (!memcmp(in->consents[i].consent_id, id, 16))
      return &in->consents[i];
  return NULL;
}

/* "delivered seq N" -> N, or 0. */
static uint64_t s_delivered_seq(const char *detail) {
  unsigned long long n = 0;
  if (sscanf(detail, "delivered seq %llu", &n) != 1)
    return 0;
  return (uint64_t)n;
}

/* The version a deliver or fetch entry names (", version V", written by
 * brokers since keten 0.4), or 0 for older entries (derived instead). */
static uint64_t s_detail_version(const char *detail) {
  const char *p = strstr(detail, ", version ");
  unsigned long long v = 0;
  if (!p || sscanf(p, ", version %llu", &v) != 1)
    return 0;
  return (uint64_t)v;
}

/* 1 if the OK deliver entry d (of this subject) was withdrawn: the first
 * later event about its mailbox entry (recipient, seq) is a
 * keten.delivery.unsent naming it rather than another sending. */
static int s_withdrawn(const report_input_t *in, size_t di) {
  const audit_entry_t *d = &in->entries[di];
  uint64_t n = s_delivered_seq(d->detail);
  if (!n)
    return 0;
  uint64_t resent = UINT64_MAX;
  for (size_t i = di + 1; i < in->n_entries; i++) {
    const audit_entry_t *e = &in->entries[i];
    if (!strcmp(e->name, "keten.section.deliver") &&
        !strcmp(e->counterparty, d->counterparty) &&
        s_delivered_seq(e->detail) == n) {
      resent = e->seq;
      break;
    }
  }
  for (size_t i = 0; i < in->n_unsent; i++) {
    const audit_entry_t *u = &in->unsent[i];
    unsigned long long a = 0, b = 0;
    if (u->seq <= d->seq || u->seq > resent ||
        strcmp(u->counterparty, d->counterparty) ||
        sscanf(u->detail, "seq %llu..%llu", &a, &b) != 2)
      continue;
    if (a <= n && n <= b)
      return 1;
  }
  return 0;
}

typedef struct {
  char author[REPORT_ID_MAX + 1];
  int kind;
  size_t puts_seen, puts_total;
} s_count_t;

typedef struct {
  char author[REPORT_ID_MAX + 1], recipient[REPORT_ID_MAX + 1];
  int kind;
  uint64_t version;
  int used;
  uint64_t mbox_seq; /* the mailbox entry that delivered it */
} s_queued_t;

typedef struct {
  const report_input_t *in;
  report_t *r;
  s_count_t *counts;
  size_t n_counts;
  s_queued_t *queue;
  size_t n_queue, cap_queue;
  s_queued_t *rewraps; /* author, recipient, kind -> the version asked */
  size_t n_rewraps, cap_rewraps;
  size_t cap_disc, cap_ev[REPORT_N_PARTS];
  int oom;
} s_build_t;

static s_count_t *s_count(s_build_t *b, const char *author, int kind) {
  for (size_t i = 0; i < b->n_counts; i++)
    if (b->counts[i].kind == kind && !strcmp(b->counts[i].author, author))
      return &b->counts[i];
  return NULL;
}

static int s_cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* The version of (author, kind) after its k-th stored PUT (k >= 1): the
 * k-th lowest stored version, when the store holds as many versions as
 * the log has PUTs; else 0 (unknown). */
static uint64_t s_version(s_build_t *b, const char *author, int kind) {
  s_count_t *c = s_count(b, author, kind);
  if (!c || c->puts_seen == 0)
    return 0;
  const report_input_t *in = b->in;
  uint64_t *v = malloc((in->n_versions + 1) * sizeof *v);
  if (!v) {
    b->oom = 1;
    return 0;
  }
  size_t n = 0;
  for (size_t i = 0; i < in->n_versions; i++)
    if (in->versions[i].kind == kind && !strcmp(in->versions[i].author, author))
      v[n++] = in->versions[i].version;
  uint64_t out = 0;
  if (n == c->puts_total) {
    qsort(v, n, sizeof *v, s_cmp_u64);
    out = v[c->puts_seen - 1];
  }
  free(v);
  return out;
}

static int s_push(s_build_t *b, s_queued_t **list, size_t *n, size_t *cap,
                  const s_queued_t *q) {
  if (*n == *cap) {
    size_t nc = *cap ? 2 * *cap : 16;
    s_queued_t *g = realloc(*list, nc * sizeof *g);
    if (!g) {
      b->oom = 1;
      return -1;
    }
    *list = g;
    *cap = nc;
  }
  (*list)[(*n)++] = *q;
  return 0;
}

static void s_copy_id(char *dst, const char *src) {
  snprintf(dst, REPORT_ID_MAX + 1, "%s", src);
}

static void s_disclose(s_build_t *b, const audit_entry_t *e,
                       const char *recipient, const char *author,
                       uint64_t version, int how) {
  report_t *r = b->r;
  report_disclosure_t *d = NULL;
  for (size_t i = 0; i < r->n_disclosures; i++) {
    report_disclosure_t *x = &r->disclosures[i];
    if (x->kind == e->kind && x->version == version &&
        !strcmp(x->recipient, recipient) && !strcmp(x->author, author)) {
      d = x;
      break;
    }
  }
  if (!d) {
    if (r->n_disclosures == b->cap_disc) {
      size_t nc = b->cap_disc ? 2 * b->cap_disc : 16;
      report_disclosure_t *g = realloc(r->disclosures, nc * sizeof *g);
      if (!g) {
        b->oom = 1;
        return;
      }
      r->disclosures = g;
      b->cap_disc = nc;
    }
    d = &r->disclosures[r->n_disclosures++];
    memset(d, 0, sizeof *d);
    s_copy_id(d->recipient, recipient);
    s_copy_id(d->author, author);
    d->kind = e->kind;
    d->version = version;
    d->first_ms = e->end_ms;
    d->first_seq = e->seq;
    d->purpose = e->purpose;
    memcpy(d->consent_id, e->consent_id, 16);
    d->consent = s_consent(b->in, e->consent_id);
  }
  d->how |= how;
  d->times++;
  d->last_ms = e->end_ms;
  if (d->n_seqs < sizeof d->seqs / sizeof d->seqs[0])
    d->seqs[d->n_seqs++] = e->seq;
}

static void s_event(s_build_t *b, int part, const char *type,
                    const audit_entry_t *e, const char *who,
                    const char *other) {
  report_t *r = b->r;
  if (r->n_events[part] == b->cap_ev[part]) {
    size_t nc = b->cap_ev[part] ? 2 * b->cap_ev[part] : 16;
    report_event_t *g = realloc(r->events[part], nc * sizeof *g);
    if (!g) {
      b->oom = 1;
      return;
    }
    r->events[part] = g;
    b->cap_ev[part] = nc;
  }
  report_event_t *v = &r->events[part][r->n_events[part]++];
  memset(v, 0, sizeof *v);
  v->type = type;
  v->seq = e->seq;
  v->ms = e->end_ms;
  s_copy_id(v->who, who);
  s_copy_id(v->other, other);
  v->kind = e->kind;
  v->purpose = e->purpose;
  memcpy(v->consent_id, e->consent_id, 16);
  v->consent = s_consent(b->in, e->consent_id);
  snprintf(v->detail, sizeof v->detail, "%s", e->detail);
}

static int s_is(const audit_entry_t *e, const char *name) {
  return !strcmp(e->name, name);
}

static void s_entry(s_build_t *b, size_t idx) {
  const audit_entry_t *e = &b->in->entries[idx];
  int ok = e->status == AUDIT_STATUS_OK;
  if (s_is(e, "keten.section.put")) {
    s_count_t *c = ok ? s_count(b, e->actor, e->kind) : NULL;
    if (c)
      c->puts_seen++;
  } else if (s_is(e, "keten.rewrap.queue") && ok) {
    long long id = 0;
    unsigned long long v = 0;
    char to[REPORT_ID_MAX + 1];
    if (sscanf(e->detail, "rewrap %lld of v%llu for %64s", &id, &v, to) == 3) {
      s_queued_t q = {.kind = e->kind, .version = v};
      s_copy_id(q.author, e->counterparty);
      s_copy_id(q.recipient, to);
      s_push(b, &b->rewraps, &b->n_rewraps, &b->cap_rewraps, &q);
    }
  } else if (s_is(e, "keten.section.queue") && ok) {
    s_queued_t q = {.kind = e->kind};
    s_copy_id(q.author, e->actor);
    s_copy_id(q.recipient, e->counterparty);
    if (strstr(e->detail, "after a rewrap")) {
      for (size_t i = b->n_rewraps; i-- > 0;) {
        const s_queued_t *w = &b->rewraps[i];
        if (w->kind == e->kind && !strcmp(w->author, e->actor) &&
            !strcmp(w->recipient, e->counterparty)) {
          q.version = w->version;
          break;
        }
      }
    } else {
      q.version = s_version(b, e->actor, e->kind);
    }
    s_push(b, &b->queue, &b->n_queue, &b->cap_queue, &q);
  } else if (s_is(e, "keten.section.deliver")) {
    if (!strcmp(e->actor, "ketend"))
      return; /* an entry that held nothing */
    if (ok && s_withdrawn(b->in, idx)) {
      b->r->withdrawn++;
      return; /* not handed over: its next sending is the delivery */
    }
    /* the version its queue entry queued: the first not yet delivered,
     * unless this mailbox entry was delivered before (a sending again) */
    uint64_t version = 0, mbox = s_delivered_seq(e->detail);
    s_queued_t *hit = NULL;
    for (size_t i = 0; mbox && i < b->n_queue && !hit; i++) {
      s_queued_t *q = &b->queue[i];
      if (q->used && q->mbox_seq == mbox && q->kind == e->kind &&
          !strcmp(q->author, e->actor) && !strcmp(q->recipient, e->counterparty))
        hit = q;
    }
    for (size_t i = 0; i < b->n_queue && !hit; i++) {
      s_queued_t *q = &b->queue[i];
      if (!q->used && q->kind == e->kind && !strcmp(q->author, e->actor) &&
          !strcmp(q->recipient, e->counterparty)) {
        q->used = 1;
        q->mbox_seq = mbox;
        hit = q;
      }
    }
    if (hit)
      version = hit->version;
    if (s_detail_version(e->detail))
      version = s_detail_version(e->detail); /* recorded: no need to derive */
    if (ok)
      s_disclose(b, e, e->counterparty, e->actor, version,
                 REPORT_HOW_DELIVERED);
    else
      s_event(b, REPORT_PART_REFUSALS, "delivery_dropped", e, e->counterparty,
              e->actor);
  } else if (s_is(e, "keten.access.erase")) {
    long long pending = 0;
    const char *p = strstr(e->detail, "erased, ");
    if (p && sscanf(p, "erased, %lld pending", &pending) == 1 && pending > 0)
      for (size_t i = 0; i < b->n_queue; i++)
        if (!strcmp(b->queue[i].recipient, e->counterparty))
          b->queue[i].used = 1;
    s_event(b, REPORT_PART_ERASURES, "access_erased", e, e->actor,
            e->counterparty);
  } else if (s_is(e, "keten.section.fetch")) {
    if (!ok || !strcmp(e->actor, e->counterparty) ||
        !strncmp(e->detail, "disclosed to its author", 23))
      return;
    uint64_t fetched = s_detail_version(e->detail);
    s_disclose(b, e, e->actor, e->counterparty,
               fetched ? fetched : s_version(b, e->counterparty, e->kind),
               REPORT_HOW_FETCHED);
  } else if (s_is(e, "keten.section.fetch.deny")) {
    s_event(b, REPORT_PART_REFUSALS, "fetch_denied", e, e->actor,
            e->counterparty);
  } else if (s_is(e, "keten.section.deny")) {
    s_event(b, REPORT_PART_REFUSALS, "delivery_denied", e, e->counterparty,
            e->actor);
  } else if (s_is(e, "keten.rewrap.refused")) {
    s_event(b, REPORT_PART_REFUSALS, "rewrap_refused", e, e->counterparty,
            e->actor);
  } else if (s_is(e, "keten.consent.grant")) {
    if (ok)
      s_event(b, REPORT_PART_CONSENTS, "granted", e, e->actor,
              e->counterparty);
    else
      s_event(b, REPORT_PART_REFUSALS, "grant_refused", e, e->actor,
              e->counterparty);
  } else if (s_is(e, "keten.consent.revoke")) {
    if (ok)
      s_event(b, REPORT_PART_CONSENTS, "revoked", e, e->actor,
              e->counterparty);
    else
      s_event(b, REPORT_PART_REFUSALS, "revoke_refused", e, e->actor,
              e->counterparty);
  } else if (s_is(e, "keten.consent.expire")) {
    s_event(b, REPORT_PART_CONSENTS, "expired", e, e->actor, e->counterparty);
  } else if (s_is(e, "keten.consent.close")) {
    s_event(b, REPORT_PART_CONSENTS, "closed", e, e->actor, e->counterparty);
  } else if (s_is(e, "keten.consent.start")) {
    s_event(b, REPORT_PART_CONSENTS, "started", e, e->actor, e->counterparty);
  } else if (s_is(e, "keten.tvs.publish")) {
    const char *type = "tvs_refused";
    if (ok) {
      type = !strncmp(e->detail, "KOPPELING ", 10)      ? "linked"
             : !strncmp(e->detail, "ONTKOPPELING ", 13) ? "unlinked"
             : !strncmp(e->detail, "VERHUIZING ", 11)   ? "moved"
             : !strncmp(e->detail, "HUISVESTING ", 12)  ? "housed"
                                                        : "tvs_other";
    }
    s_event(b, REPORT_PART_TVS, type, e, e->actor, e->counterparty);
  } else if (s_is(e, "keten.tvs.deliver") && ok) {
    s_event(b, REPORT_PART_TVS, "tvs_delivered", e, e->actor, e->counterparty);
  } else if (s_is(e, "keten.notice.queue") && ok) {
    s_event(b, REPORT_PART_NOTICES,
            !strncmp(e->detail, "delete notice", 13) ? "delete_notice"
                                                     : "recorder_told",
            e, e->actor, e->counterparty);
  } else if (s_is(e, "keten.notice.deliver") && ok) {
    s_event(b, REPORT_PART_NOTICES, "notice_delivered", e, e->actor,
            e->counterparty);
  } else if (strstr(e->name, ".erase") || strstr(e->name, ".retention")) {
    /* erasures of sections (keten.section.erase, keten.subject.erase,
     * retention): whatever their name, listed with their detail */
    s_event(b, REPORT_PART_ERASURES, ok ? "erased" : "erase_refused", e,
            e->actor, e->counterparty);
  }
}

int report_build(const report_input_t *in, report_t *out) {
  memset(out, 0, sizeof *out);
  out->in = in;
  s_build_t b = {.in = in, .r = out};
  /* the PUTs of each (author, kind), to know whether every version is
   * still stored */
  for (size_t i = 0; i < in->n_entries; i++) {
    const audit_entry_t *e = &in->entries[i];
    if (!out->period_from_ms || e->end_ms < out->period_from_ms)
      out->period_from_ms = e->end_ms;
    if (e->end_ms > out->period_to_ms)
      out->period_to_ms = e->end_ms;
    if (!s_is(e, "keten.section.put") || e->status != AUDIT_STATUS_OK)
      continue;
    s_count_t *c = s_count(&b, e->actor, e->kind);
    if (!c) {
      s_count_t *g = realloc(b.counts, (b.n_counts + 1) * sizeof *g);
      if (!g) {
        report_free(out);
        return -1;
      }
      b.counts = g;
      c = &b.counts[b.n_counts++];
      memset(c, 0, sizeof *c);
      s_copy_id(c->author, e->actor);
      c->kind = e->kind;
    }
    c->puts_total++;
  }
  for (size_t i = 0; i < in->n_entries && !b.oom; i++)
    s_entry(&b, i);
  free(b.counts);
  free(b.queue);
  free(b.rewraps);
  if (b.oom) {
    report_free(out);
    return -1;
  }
  return 0;
}

void report_free(report_t *r) {
  if (!r)
    return;
  for (size_t i = 0; i < r->n_disclosures; i++)
    json_decref(r->disclosures[i].proof);
  free(r->disclosures);
  for (int i = 0; i < REPORT_N_PARTS; i++)
    free(r->events[i]);
  memset(r, 0, sizeof *r);
}

/* ---- translations ---------------------------------------------------------- */

int report_lang_valid(const char *lang) {
  size_t n = 0;
  while (lang[n] >= 'a' && lang[n] <= 'z')
    n++;
  if (n < 2 || n > 3)
    return 0;
  if (!lang[n])
    return 1;
  if (lang[n] != '-')
    return 0;
  size_t m = 0;
  for (const char *p = lang + n + 1; *p; p++, m++)
    if (!isalnum((unsigned char)*p))
      return 0;
  return m >= 1 && m <= 8;
}

static json_t *s_load_catalog(const char *dir, const char *lang, char *err,
                              size_t errlen) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s.json", dir, lang);
  json_error_t je;
  json_t *j = json_load_file(path, 0, &je);
  if (!j) {
    snprintf(err, errlen, "%s: %s", path, je.text);
    return NULL;
  }
  if (!json_is_object(j)) {
    snprintf(err, errlen, "%s: not a JSON object", path);
    json_decref(j);
    return NULL;
  }
  return j;
}

int report_catalog_load(report_catalog_t *c, const char *dir, const char *lang,
                        char *err, size_t errlen) {
  memset(c, 0, sizeof *c);
  if (!report_lang_valid(lang)) {
    snprintf(err, errlen, "not a language code: %s", lang);
    return -1;
  }
  json_t *j = s_load_catalog(dir, lang, err, errlen);
  if (!j)
    return -1;
  json_t *en = NULL;
  if (strcmp(lang, "en") != 0) {
    char ignored[256];
    en = s_load_catalog(dir, "en", ignored, sizeof ignored);
  }
  c->lang = j;
  c->fallback = en;
  snprintf(c->code, sizeof c->code, "%s", lang);
  const char *dirv = json_string_value(json_object_get(j, "dir"));
  c->rtl = dirv && !strcmp(dirv, "rtl");
  return 0;
}

void report_catalog_free(report_catalog_t *c) {
  if (!c)
    return;
  json_decref(c->lang);
  json_decref(c->fallback);
  memset(c, 0, sizeof *c);
}

const char *report_tr(const report_catalog_t *c, const char *key) {
  const char *s = c ? json_string_value(json_object_get(c->lang, key)) : NULL;
  if (!s && c && c->fallback)
    s = json_string_value(json_object_get(c->fallback, key));
  return s ? s : key;
}

/* ---- text helpers ------------------------------------------------------------ */

/* Copies s into buf as valid UTF-8 without control characters: an
 * invalid byte becomes U+FFFD, a control character (C0, DEL, C1) a
 * space. Untrusted text (names, references) never reaches a terminal or
 * a JSON encoder as it was. */
static const char *s_clean(const char *s, char *buf, size_t cap) {
  size_t o = 0;
  const unsigned char *p = (const unsigned char *)s;
  while (*p && o + 4 < cap) {
    unsigned c = *p;
    size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3
                              : (c & 0xF8) == 0xF0 ? 4 : 0;
    int good = len > 0;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (size_t i = 1; good && i < len; i++) {
      if ((p[i] & 0xC0) != 0x80)
        good = 0;
      else
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (good && ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
                 (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
                 (cp >= 0xD800 && cp <= 0xDFFF)))
      good = 0;
    if (!good) {
      memcpy(buf + o, "\xEF\xBF\xBD", 3);
      o += 3;
      p++;
      continue;
    }
    if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0) ||
        cp == 0x2028 || cp == 0x2029 || (cp >= 0x202A && cp <= 0x202E) ||
        (cp >= 0x2066 && cp <= 0x2069)) {
      /* controls, and bidi overrides that could reorder what follows */
      buf[o++] = ' ';
      p += len;
      continue;
    }
    memcpy(buf + o, p, len);
    o += len;
    p += len;
  }
  buf[o] = '\0';
  return buf;
}

size_t report_html_escape(const char *s, char *buf, size_t cap) {
  size_t o = 0;
  for (const char *p = s; *p; p++) {
    const char *rep = NULL;
    switch (*p) {
    case '&': rep = "&amp;"; break;
    case '<': rep = "&lt;"; break;
    case '>': rep = "&gt;"; break;
    case '"': rep = "&quot;"; break;
    case '\'': rep = "&#39;"; break;
    default: break;
    }
    size_t len = rep ? strlen(rep) : 1;
    if (o + len < cap) {
      if (rep)
        memcpy(buf + o, rep, len);
      else
        buf[o] = *p;
      buf[o + len] = '\0';
    }
    o += len;
  }
  if (cap && o < cap)
    buf[o] = '\0';
  return o;
}

/* The output: a FILE and a failure flag. */
typedef struct {
  FILE *f;
  const report_t *r;
  const report_catalog_t *c;
  int failed;
} s_out_t;

static void s_put(s_out_t *o, const char *s) {
  if (fputs(s, o->f) == EOF)
    o->failed = 1;
}

static void s_printf(s_out_t *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void s_printf(s_out_t *o, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (vfprintf(o->f, fmt, ap) < 0)
    o->failed = 1;
  va_end(ap);
}

/* Untrusted text, escaped for HTML. */
static void s_html(s_out_t *o, const char *s) {
  char clean[1024], esc[6 * 1024 + 1];
  s_clean(s, clean, sizeof clean);
  report_html_escape(clean, esc, sizeof esc);
  s_put(o, esc);
}

static const char *s_tr(const s_out_t *o, const char *key) {
  return report_tr(o->c, key);
}

static const char *s_trf(const s_out_t *o, char *buf, size_t cap,
                         const char *prefix, const char *name) {
  snprintf(buf, cap, "%s%s", prefix, name ? name : "?");
  return report_tr(o->c, buf);
}

static const char *s_kind(const s_out_t *o, int kind, char *buf, size_t cap) {
  const char *n = canon_kind_name(kind);
  if (!n) {
    snprintf(buf, cap, "%d", kind);
    return buf;
  }
  return s_trf(o, buf, cap, "kind.", n);
}

static const char *s_purpose(const s_out_t *o, int purpose, char *buf,
                             size_t cap) {
  const char *n = canon_purpose_name(purpose);
  if (!n || purpose == 0)
    return s_tr(o, "purpose.none");
  return s_trf(o, buf, cap, "purpose.", n);
}

static const char *s_basis(const s_out_t *o, int basis, char *buf,
                           size_t cap) {
  const char *n = canon_basis_name(basis);
  if (!n || basis == 0)
    return s_tr(o, "basis.none");
  return s_trf(o, buf, cap, "basis.", n);
}

static const report_party_t *s_party(const report_input_t *in,
                                     const char *id) {
  for (size_t i = 0; i < in->n_parties; i++)
    if (!strcmp(in->parties[i].id, id))
      return &in->parties[i];
  return NULL;
}

/* The name by which the person knows participant id (untrusted text). */
static const char *s_name(const s_out_t *o, const char *id, char *buf,
                          size_t cap) {
  if (!id[0])
    return s_tr(o, "party.none");
  if (!strcmp(id, "ketend"))
    return s_tr(o, "party.ketend");
  if (!strcmp(id, "operator"))
    return s_tr(o, "party.operator");
  if (!strcmp(id, "@gemeente"))
    return s_tr(o, "party.@gemeente");
  const report_party_t *p = s_party(o->r->in, id);
  if (!p || !p->name[0])
    return id;
  if (p->removed)
    snprintf(buf, cap, "%s (%s)", p->name, s_tr(o, "party.removed"));
  else
    snprintf(buf, cap, "%s", p->name);
  return buf;
}

/* ms since the epoch as local date and time ("2026-05-04 14:03 CEST"). */
static const char *s_time(int64_t ms, char *buf, size_t cap) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  if (ms <= 0 || !localtime_r(&t, &tm) ||
      strftime(buf, cap, "%Y-%m-%d %H:%M %Z", &tm) == 0)
    snprintf(buf, cap, "-");
  return buf;
}

static void s_hex(const uint8_t *b, size_t n, char *out) {
  static const char d[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = d[b[i] >> 4];
    out[2 * i + 1] = d[b[i] & 15];
  }
  out[2 * n] = '\0';
}

void *report_proof_bundle(const report_input_t *in, const audit_entry_t *e,
                          const uint8_t *proof, size_t n) {
  if (!in->has_head || !e)
    return NULL;
  size_t len = 0;
  uint8_t *str = audit_entry_string(e, &len);
  char *ehex = str ? malloc(2 * len + 1) : NULL;
  json_t *b = NULL, *inc = json_array();
  if (ehex && inc) {
    char root[65], key[65], sig[129], x[65];
    s_hex(str, len, ehex);
    s_hex(in->head_root, 32, root);
    s_hex(in->head_key, 32, key);
    s_hex(in->head_signature, 64, sig);
    int ok = 1;
    for (size_t i = 0; ok && i < n; i++) {
      s_hex(proof + 32 * i, 32, x);
      ok = json_array_append_new(inc, json_string(x)) == 0;
    }
    if (ok)
      b = json_pack("{s:{s:I, s:s, s:I, s:s, s:s}, s:I, s:s, s:O}", "head",
                    "size", (json_int_t)in->head_size, "root", root,
                    "timestamp_ms", (json_int_t)in->head_ms, "broker_key", key,
                    "signature", sig, "seq", (json_int_t)e->seq, "entry_hex",
                    ehex, "inclusion", inc);
  }
  json_decref(inc);
  free(ehex);
  free(str);
  return b;
}

static const char *s_proof_missing_key(int why) {
  return why == REPORT_PROOF_NO_HEAD   ? "proof.missing.no_head"
         : why == REPORT_PROOF_NEWER   ? "proof.missing.newer"
                                       : "proof.missing.unavailable";
}

static const char *s_how(const s_out_t *o, int how, char *buf, size_t cap) {
  if (how == (REPORT_HOW_DELIVERED | REPORT_HOW_FETCHED))
    snprintf(buf, cap, "%s, %s", s_tr(o, "how.delivered"),
             s_tr(o, "how.fetched"));
  else
    snprintf(buf, cap, "%s",
             s_tr(o, how & REPORT_HOW_FETCHED ? "how.fetched" : "how.delivered"));
  return buf;
}

/* The kinds of a consent, in words ("Identity, Housing"). */
static const char *s_kinds(const s_out_t *o, uint64_t bits, char *buf,
                           size_t cap) {
  size_t n = 0;
  buf[0] = '\0';
  for (int k = 1; k < 64; k++) {
    if (!(bits & (UINT64_C(1) << k)))
      continue;
    char kb[64];
    const char *w = s_kind(o, k, kb, sizeof kb);
    int m = snprintf(buf + n, cap - n, "%s%s", n ? ", " : "", w);
    if (m < 0 || (size_t)m >= cap - n)
      break;
    n += (size_t)m;
  }
  return buf;
}

static const char *s_vtext(const s_out_t *o, uint64_t v, char *buf,
                             size_t cap) {
  if (v)
    snprintf(buf, cap, "%s %" PRIu64, s_tr(o, "label.version"), v);
  else
    snprintf(buf, cap, "%s", s_tr(o, "version.unknown"));
  return buf;
}

static const char *s_part_key(int part) {
  static const char *const k[REPORT_N_PARTS] = {"refusals", "consents", "tvs",
                                                "notices", "erasures"};
  return k[part];
}

/* ---- text ---------------------------------------------------------------- */

#define S_WIDTH 76

/* Writes s wrapped at S_WIDTH columns (a column per code point), the
 * first line after first_indent spaces, the others after indent. */
static void s_wrap(s_out_t *o, const char *s, int first_indent, int indent) {
  char clean[4096];
  s_clean(s, clean, sizeof clean);
  const char *p = clean;
  int col = 0, line_start = 1;
  for (int i = 0; i < first_indent; i++)
    s_put(o, " ");
  col = first_indent;
  while (*p) {
    while (*p == ' ')
      p++;
    if (!*p)
      break;
    const char *w = p;
    int wcols = 0;
    while (*p && *p != ' ') {
      if (((unsigned char)*p & 0xC0) != 0x80)
        wcols++;
      p++;
    }
    if (!line_start && col + 1 + wcols > S_WIDTH) {
      s_put(o, "\n");
      for (int i = 0; i < indent; i++)
        s_put(o, " ");
      col = indent;
      line_start = 1;
    }
    if (!line_start) {
      s_put(o, " ");
      col++;
    }
    s_printf(o, "%.*s", (int)(p - w), w);
    col += wcols;
    line_start = 0;
  }
  s_put(o, "\n");
}

/* "Label: value" wrapped with a hanging indent. */
static void s_field(s_out_t *o, int indent, const char *label,
                    const char *value) {
  char line[4096];
  snprintf(line, sizeof line, "%s: %s", label, value);
  s_wrap(o, line, indent, indent + 2);
}

static void s_underline(s_out_t *o, const char *title, char ch) {
  s_wrap(o, title, 0, 0);
  size_t cols = 0;
  for (const char *p = title; *p; p++)
    if (((unsigned char)*p & 0xC0) != 0x80)
      cols++;
  for (size_t i = 0; i < cols && i < S_WIDTH; i++)
    s_printf(o, "%c", ch);
  s_put(o, "\n");
}

/* "Name (id)" for text. */
static const char *s_who(const s_out_t *o, const char *id, char *buf,
                         size_t cap) {
  char nb[512];
  const char *n = s_name(o, id, nb, sizeof nb);
  if (n == id || !strcmp(id, "ketend") || !strcmp(id, "@gemeente") || !id[0])
    snprintf(buf, cap, "%s", n);
  else
    snprintf(buf, cap, "%s (%s)", n, id);
  return buf;
}

/* What a consent says, in one line: "recorded T by X; evidence: E". */
static const char *s_consent_text(const s_out_t *o, const report_consent_t *k,
                                  const uint8_t id[16], char *buf, size_t cap) {
  char hex[33], t[64], who[600], ev[600];
  if (!k) {
    if (s_zero16(id)) {
      snprintf(buf, cap, "%s", s_tr(o, "consent.none"));
    } else {
      s_hex(id, 16, hex);
      snprintf(buf, cap, "%s %s", s_tr(o, "consent.unknown"), hex);
    }
    return buf;
  }
  s_hex(k->consent_id, 16, hex);
  snprintf(ev, sizeof ev, "%s", k->evidence_ref[0] ? k->evidence_ref : "-");
  snprintf(buf, cap, "%s %s %s %s; %s: %s (%s %s)", s_tr(o, "consent.recorded"),
           s_time(k->recorded_at_ms, t, sizeof t), s_tr(o, "consent.by"),
           s_who(o, k->recorded_by, who, sizeof who),
           s_tr(o, "consent.evidence"), ev, s_tr(o, "consent.id"), hex);
  return buf;
}

static void s_text_header(s_out_t *o) {
  const report_t *r = o->r;
  const report_input_t *in = r->in;
  char hex[65], a[64], b[64], line[1024];
  s_underline(o, s_tr(o, "title"), '=');
  s_put(o, "\n");
  s_wrap(o, s_tr(o, "intro"), 0, 0);
  s_put(o, "\n");
  s_hex(in->subject, 32, hex);
  snprintf(line, sizeof line, "%.16s… (%s)", hex, s_tr(o, "header.pseudonym_note"));
  s_field(o, 0, s_tr(o, "header.subject"), line);
  if (r->period_from_ms)
    snprintf(line, sizeof line, "%s – %s", s_time(r->period_from_ms, a, sizeof a),
             s_time(r->period_to_ms, b, sizeof b));
  else
    snprintf(line, sizeof line, "%s", s_tr(o, "header.no_entries"));
  s_field(o, 0, s_tr(o, "header.period"), line);
  s_field(o, 0, s_tr(o, "header.generated"), s_time(in->generated_ms, a, sizeof a));
  s_field(o, 0, s_tr(o, "header.time_zone"), in->time_zone ? in->time_zone : "-");
  snprintf(line, sizeof line, "%" PRIu64 " %s", in->audit_size,
           s_tr(o, "header.entries"));
  s_field(o, 0, s_tr(o, "header.audit_size"), line);
  if (in->has_head) {
    char root[65];
    s_hex(in->head_root, 32, root);
    snprintf(line, sizeof line, "%s %" PRIu64 ", %s, %s %.16s…",
             s_tr(o, "header.head_size"), in->head_size,
             s_time(in->head_ms, a, sizeof a), s_tr(o, "header.head_root"), root);
  } else {
    snprintf(line, sizeof line, "%s", s_tr(o, "header.no_head"));
  }
  s_field(o, 0, s_tr(o, "header.tree_head"), line);
  s_field(o, 0, s_tr(o, "header.proofs"),
          s_tr(o, in->has_head ? "header.proofs_how" : "proof.missing.no_head"));
  s_put(o, "\n");
}

/* "entry N" (its proof is in the bundle), or why there is none. */
static const char *s_proof_text(const s_out_t *o, const report_disclosure_t *d,
                                char *buf, size_t cap) {
  if (d->proof)
    snprintf(buf, cap, "%s %" PRIu64 " (proof-%" PRIu64 ".json)",
             s_tr(o, "label.entry"), d->first_seq, d->first_seq);
  else
    snprintf(buf, cap, "%s %" PRIu64 ": %s", s_tr(o, "label.entry"),
             d->first_seq, s_tr(o, s_proof_missing_key(d->proof_missing)));
  return buf;
}

static void s_text_disclosures(s_out_t *o) {
  const report_t *r = o->r;
  char title[512], buf[2048], kb[64], vb[64], who[600], t[64], hb[128], pb[128],
      bb[128];
  snprintf(title, sizeof title, "1. %s (%zu)", s_tr(o, "part.disclosures"),
           r->n_disclosures);
  s_underline(o, title, '-');
  s_wrap(o, s_tr(o, "intro.disclosures"), 0, 0);
  if (!r->n_disclosures)
    s_wrap(o, s_tr(o, "none"), 2, 2);
  for (size_t i = 0; i < r->n_disclosures; i++) {
    const report_disclosure_t *d = &r->disclosures[i];
    s_put(o, "\n");
    s_wrap(o, s_who(o, d->recipient, who, sizeof who), 0, 2);
    snprintf(buf, sizeof buf, "%s, %s (%s %s)", s_kind(o, d->kind, kb, sizeof kb),
             s_vtext(o, d->version, vb, sizeof vb), s_tr(o, "label.from"),
             s_who(o, d->author, who, sizeof who));
    s_field(o, 2, s_tr(o, "col.what"), buf);
    snprintf(buf, sizeof buf, "%s (%s; %u×)", s_time(d->first_ms, t, sizeof t),
             s_how(o, d->how, hb, sizeof hb), d->times);
    s_field(o, 2, s_tr(o, "col.when"), buf);
    const report_consent_t *k = d->consent;
    snprintf(buf, sizeof buf, "%s; %s: %s%s%s",
             s_purpose(o, k ? k->purpose : d->purpose, pb, sizeof pb),
             s_tr(o, "col.basis"), k ? s_basis(o, k->basis, bb, sizeof bb) : "-",
             k && k->legal_reference[0] ? " — " : "",
             k && k->legal_reference[0] ? k->legal_reference : "");
    s_field(o, 2, s_tr(o, "col.purpose"), buf);
    s_field(o, 2, s_tr(o, "col.consent"),
            s_consent_text(o, k, d->consent_id, buf, sizeof buf));
    size_t n = 0;
    buf[0] = '\0';
    for (size_t j = 0; j < d->n_seqs; j++)
      n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%" PRIu64, j ? ", " : "",
                            d->seqs[j]);
    s_field(o, 2, s_tr(o, "col.entries"), buf);
    s_field(o, 2, s_tr(o, "col.proof"), s_proof_text(o, d, buf, sizeof buf));
  }
  s_put(o, "\n");
}

/* One event in one line of words (its parts separated by "; "). */
static const char *s_event_text(const s_out_t *o, int part,
                                const report_event_t *v, char *buf,
                                size_t cap) {
  char w1[600], w2[600], kb[64], pb[128], kinds[512], type[64];
  size_t n = 0;
  n += (size_t)snprintf(buf + n, cap - n, "%s: %s",
                        s_trf(o, type, sizeof type, "event.", v->type),
                        s_who(o, v->who, w1, sizeof w1));
  if (v->other[0] && n < cap)
    n += (size_t)snprintf(buf + n, cap - n, " → %s",
                          s_who(o, v->other, w2, sizeof w2));
  if (v->kind && n < cap)
    n += (size_t)snprintf(buf + n, cap - n, "; %s", s_kind(o, v->kind, kb, sizeof kb));
  if (part == REPORT_PART_CONSENTS && n < cap) {
    const report_consent_t *k = v->consent;
    n += (size_t)snprintf(buf + n, cap - n, "; %s: %s",
                          s_tr(o, "col.purpose"),
                          s_purpose(o, k ? k->purpose : v->purpose, pb, sizeof pb));
    if (k && n < cap)
      n += (size_t)snprintf(buf + n, cap - n, "; %s: %s; %s: %s",
                            s_tr(o, "col.kinds"),
                            s_kinds(o, k->sections, kinds, sizeof kinds),
                            s_tr(o, "consent.evidence"),
                            !strcmp(v->type, "revoked") && k->revocation_evidence[0]
                                ? k->revocation_evidence
                            : k->evidence_ref[0] ? k->evidence_ref : "-");
  }
  if (n >= cap)
    buf[cap - 1] = '\0';
  return buf;
}

static void s_text_part(s_out_t *o, int part, int number) {
  const report_t *r = o->r;
  char title[512], key[64], t[64], buf[2048];
  snprintf(key, sizeof key, "part.%s", s_part_key(part));
  snprintf(title, sizeof title, "%d. %s (%zu)", number, s_tr(o, key),
           r->n_events[part]);
  s_underline(o, title, '-');
  snprintf(key, sizeof key, "intro.%s", s_part_key(part));
  s_wrap(o, s_tr(o, key), 0, 0);
  if (!r->n_events[part])
    s_wrap(o, s_tr(o, "none"), 2, 2);
  for (size_t i = 0; i < r->n_events[part]; i++) {
    const report_event_t *v = &r->events[part][i];
    char line[2600];
    snprintf(line, sizeof line, "- %s — %s", s_time(v->ms, t, sizeof t),
             s_event_text(o, part, v, buf, sizeof buf));
    s_wrap(o, line, 0, 2);
    if (v->detail[0]) {
      snprintf(line, sizeof line, "%s (%s %" PRIu64 ")", v->detail,
               s_tr(o, "label.entry"), v->seq);
      s_field(o, 2, s_tr(o, "col.detail"), line);
    }
  }
  s_put(o, "\n");
}

static void s_text(s_out_t *o) {
  s_text_header(o);
  s_text_disclosures(o);
  for (int p = 0; p < REPORT_N_PARTS; p++)
    s_text_part(o, p, p + 2);
  s_wrap(o, s_tr(o, "footer"), 0, 0);
}

/* ---- HTML ---------------------------------------------------------------- */

static const char s_css[] =
    "body{font-family:'DejaVu Sans','Noto Sans','Noto Sans Arabic',Arial,"
    "sans-serif;margin:2em auto;max-width:60em;padding:0 1em;color:#111;"
    "line-height:1.4}"
    "h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.6em;"
    "border-bottom:2px solid #333}"
    "table{border-collapse:collapse;width:100%;margin:.5em 0 1em}"
    "th,td{border:1px solid #999;padding:.3em .5em;vertical-align:top;"
    "text-align:start}"
    "th{background:#eee}"
    "dl.head{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}"
    "dl.head dt{font-weight:bold}dl.head dd{margin:0}"
    ".id{color:#555;font-size:.85em}.none{font-style:italic}"
    ".mono{font-family:'DejaVu Sans Mono',monospace;font-size:.85em;"
    "unicode-bidi:isolate;direction:ltr;overflow-wrap:anywhere}"
    "@media print{body{margin:0;max-width:none;font-size:10pt}"
    "h2{page-break-after:avoid}tr{page-break-inside:avoid}"
    "th{background:#eee !important;-webkit-print-color-adjust:exact;"
    "print-color-adjust:exact}}";

/* A participant: name, and its id small (bidi-isolated). */
static void s_html_party(s_out_t *o, const char *id) {
  char nb[512];
  const char *n = s_name(o, id, nb, sizeof nb);
  const report_party_t *p = s_party(o->r->in, id);
  s_put(o, "<bdi>");
  /* the name isolated from the words around it (bidi) */
  s_html(o, n == nb && p ? p->name : n);
  s_put(o, "</bdi>");
  if (n == nb && p && p->removed) {
    s_put(o, " (");
    s_html(o, s_tr(o, "party.removed"));
    s_put(o, ")");
  }
  if (n != id && id[0] && strcmp(id, "ketend") && strcmp(id, "@gemeente") &&
      strcmp(id, "operator")) {
    s_put(o, " <span class=\"id mono\">");
    s_html(o, id);
    s_put(o, "</span>");
  }
}

static void s_html_consent(s_out_t *o, const report_consent_t *k,
                           const uint8_t id[16]) {
  char hex[33], t[64];
  if (!k) {
    if (s_zero16(id)) {
      s_html(o, s_tr(o, "consent.none"));
    } else {
      s_hex(id, 16, hex);
      s_html(o, s_tr(o, "consent.unknown"));
      s_printf(o, " <span class=\"mono\">%s</span>", hex);
    }
    return;
  }
  s_hex(k->consent_id, 16, hex);
  s_html(o, s_tr(o, "consent.recorded"));
  s_put(o, " <bdi>");
  s_html(o, s_time(k->recorded_at_ms, t, sizeof t));
  s_put(o, "</bdi> ");
  s_html(o, s_tr(o, "consent.by"));
  s_put(o, " ");
  s_html_party(o, k->recorded_by);
  s_put(o, "<br>");
  s_html(o, s_tr(o, "consent.evidence"));
  s_put(o, ": <bdi class=\"evidence\">");
  s_html(o, k->evidence_ref[0] ? k->evidence_ref : "-");
  s_put(o, "</bdi><br><span class=\"mono\">");
  s_printf(o, "%s", hex);
  s_put(o, "</span>");
}

static void s_html_th(s_out_t *o, const char *const *keys, size_t n) {
  s_put(o, "<thead><tr>");
  for (size_t i = 0; i < n; i++) {
    s_put(o, "<th scope=\"col\">");
    s_html(o, s_tr(o, keys[i]));
    s_put(o, "</th>");
  }
  s_put(o, "</tr></thead>\n");
}

static void s_html_disclosures(s_out_t *o) {
  const report_t *r = o->r;
  char kb[64], vb[64], t[64], hb[128], pb[128], bb[128], buf[512];
  s_printf(o, "<section id=\"disclosures\"><h2>1. ");
  s_html(o, s_tr(o, "part.disclosures"));
  s_printf(o, " (%zu)</h2>\n<p>", r->n_disclosures);
  s_html(o, s_tr(o, "intro.disclosures"));
  s_put(o, "</p>\n");
  if (!r->n_disclosures) {
    s_put(o, "<p class=\"none\">");
    s_html(o, s_tr(o, "none"));
    s_put(o, "</p></section>\n");
    return;
  }
  static const char *const cols[] = {"col.recipient", "col.what", "col.author",
                                     "col.when", "col.how", "col.purpose",
                                     "col.consent", "col.entries"};
  s_put(o, "<table class=\"disclosures\">\n");
  s_html_th(o, cols, sizeof cols / sizeof cols[0]);
  s_put(o, "<tbody>\n");
  for (size_t i = 0; i < r->n_disclosures; i++) {
    const report_disclosure_t *d = &r->disclosures[i];
    const report_consent_t *k = d->consent;
    s_put(o, "<tr><td>");
    s_html_party(o, d->recipient);
    s_put(o, "</td><td>");
    s_html(o, s_kind(o, d->kind, kb, sizeof kb));
    s_put(o, "<br><span class=\"id\">");
    s_html(o, s_vtext(o, d->version, vb, sizeof vb));
    s_put(o, "</span></td><td>");
    s_html_party(o, d->author);
    s_put(o, "</td><td><bdi>");
    s_html(o, s_time(d->first_ms, t, sizeof t));
    s_put(o, "</bdi></td><td>");
    s_html(o, s_how(o, d->how, hb, sizeof hb));
    s_printf(o, " (%u×)", d->times);
    s_put(o, "</td><td>");
    s_html(o, s_purpose(o, k ? k->purpose : d->purpose, pb, sizeof pb));
    s_put(o, "<br>");
    s_html(o, s_tr(o, "col.basis"));
    s_put(o, ": ");
    s_html(o, k ? s_basis(o, k->basis, bb, sizeof bb) : "-");
    if (k && k->legal_reference[0]) {
      s_put(o, " — <bdi>");
      s_html(o, k->legal_reference);
      s_put(o, "</bdi>");
    }
    s_put(o, "</td><td>");
    s_html_consent(o, k, d->consent_id);
    s_put(o, "</td><td class=\"mono\">");
    for (size_t j = 0; j < d->n_seqs; j++)
      s_printf(o, "%s%" PRIu64, j ? ", " : "", d->seqs[j]);
    s_put(o, "<br><span class=\"proof\">");
    s_html(o, s_tr(o, "col.proof"));
    s_put(o, ": ");
    s_html(o, s_proof_text(o, d, buf, sizeof buf));
    s_put(o, "</span></td></tr>\n");
  }
  s_put(o, "</tbody></table></section>\n");
}

static void s_html_part(s_out_t *o, int part, int number) {
  const report_t *r = o->r;
  char key[64], t[64], kb[64], pb[128], kinds[512], type[64];
  s_printf(o, "<section id=\"%s\"><h2>%d. ", s_part_key(part), number);
  snprintf(key, sizeof key, "part.%s", s_part_key(part));
  s_html(o, s_tr(o, key));
  s_printf(o, " (%zu)</h2>\n<p>", r->n_events[part]);
  snprintf(key, sizeof key, "intro.%s", s_part_key(part));
  s_html(o, s_tr(o, key));
  s_put(o, "</p>\n");
  if (!r->n_events[part]) {
    s_put(o, "<p class=\"none\">");
    s_html(o, s_tr(o, "none"));
    s_put(o, "</p></section>\n");
    return;
  }
  static const char *const cols[] = {"col.when", "col.event", "col.who",
                                     "col.concerning", "col.what",
                                     "col.detail"};
  s_printf(o, "<table class=\"%s\">\n", s_part_key(part));
  s_html_th(o, cols, sizeof cols / sizeof cols[0]);
  s_put(o, "<tbody>\n");
  for (size_t i = 0; i < r->n_events[part]; i++) {
    const report_event_t *v = &r->events[part][i];
    s_put(o, "<tr><td><bdi>");
    s_html(o, s_time(v->ms, t, sizeof t));
    s_put(o, "</bdi></td><td>");
    s_html(o, s_trf(o, type, sizeof type, "event.", v->type));
    s_put(o, "</td><td>");
    s_html_party(o, v->who);
    s_put(o, "</td><td>");
    if (v->other[0])
      s_html_party(o, v->other);
    s_put(o, "</td><td>");
    if (v->kind)
      s_html(o, s_kind(o, v->kind, kb, sizeof kb));
    if (part == REPORT_PART_CONSENTS) {
      const report_consent_t *k = v->consent;
      if (v->kind)
        s_put(o, "<br>");
      s_html(o, s_purpose(o, k ? k->purpose : v->purpose, pb, sizeof pb));
      if (k) {
        s_put(o, "<br>");
        s_html(o, s_kinds(o, k->sections, kinds, sizeof kinds));
        s_put(o, "<br>");
        s_html(o, s_tr(o, "consent.evidence"));
        s_put(o, ": <bdi class=\"evidence\">");
        const char *ev = !strcmp(v->type, "revoked") && k->revocation_evidence[0]
                             ? k->revocation_evidence
                             : k->evidence_ref;
        s_html(o, ev[0] ? ev : "-");
        s_put(o, "</bdi>");
      }
    }
    s_put(o, "</td><td><span class=\"mono\">");
    s_html(o, v->detail);
    s_printf(o, " (%s %" PRIu64 ")</span></td></tr>\n",
             s_tr(o, "label.entry"), v->seq);
  }
  s_put(o, "</tbody></table></section>\n");
}

static void s_html_doc(s_out_t *o) {
  const report_t *r = o->r;
  const report_input_t *in = r->in;
  char hex[65], a[64], b[64];
  s_put(o, "<!DOCTYPE html>\n<html lang=\"");
  s_html(o, o->c->code);
  s_printf(o, "\" dir=\"%s\">\n<head>\n<meta charset=\"utf-8\">\n",
           o->c->rtl ? "rtl" : "ltr");
  /* nothing may load or run, whatever the text holds */
  s_put(o, "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src "
           "'none'; style-src 'unsafe-inline'; img-src 'none'\">\n"
           "<meta name=\"viewport\" content=\"width=device-width\">\n<title>");
  s_html(o, s_tr(o, "title"));
  s_printf(o, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>", s_css);
  s_html(o, s_tr(o, "title"));
  s_put(o, "</h1>\n<p>");
  s_html(o, s_tr(o, "intro"));
  s_put(o, "</p>\n<dl class=\"head\">\n<dt>");
  s_hex(in->subject, 32, hex);
  s_html(o, s_tr(o, "header.subject"));
  s_printf(o, "</dt><dd><span class=\"mono\" title=\"%s\">%.16s…</span> ", hex,
           hex);
  s_html(o, s_tr(o, "header.pseudonym_note"));
  s_put(o, "</dd>\n<dt>");
  s_html(o, s_tr(o, "header.period"));
  s_put(o, "</dt><dd>");
  if (r->period_from_ms) {
    s_put(o, "<bdi>");
    s_html(o, s_time(r->period_from_ms, a, sizeof a));
    s_put(o, "</bdi> – <bdi>");
    s_html(o, s_time(r->period_to_ms, b, sizeof b));
    s_put(o, "</bdi>");
  } else {
    s_html(o, s_tr(o, "header.no_entries"));
  }
  s_put(o, "</dd>\n<dt>");
  s_html(o, s_tr(o, "header.generated"));
  s_put(o, "</dt><dd><bdi>");
  s_html(o, s_time(in->generated_ms, a, sizeof a));
  s_put(o, "</bdi></dd>\n<dt>");
  s_html(o, s_tr(o, "header.time_zone"));
  s_put(o, "</dt><dd><bdi>");
  s_html(o, in->time_zone ? in->time_zone : "-");
  s_put(o, "</bdi></dd>\n<dt>");
  s_html(o, s_tr(o, "header.audit_size"));
  s_printf(o, "</dt><dd>%" PRIu64 " ", in->audit_size);
  s_html(o, s_tr(o, "header.entries"));
  s_put(o, "</dd>\n<dt>");
  s_html(o, s_tr(o, "header.tree_head"));
  s_put(o, "</dt><dd>");
  if (in->has_head) {
    char root[65];
    s_hex(in->head_root, 32, root);
    s_html(o, s_tr(o, "header.head_size"));
    s_printf(o, " %" PRIu64 ", <bdi>", in->head_size);
    s_html(o, s_time(in->head_ms, a, sizeof a));
    s_put(o, "</bdi>, ");
    s_html(o, s_tr(o, "header.head_root"));
    s_printf(o, " <span class=\"mono\">%s</span>", root);
  } else {
    s_html(o, s_tr(o, "header.no_head"));
  }
  s_put(o, "</dd>\n<dt>");
  s_html(o, s_tr(o, "header.proofs"));
  s_put(o, "</dt><dd>");
  s_html(o, s_tr(o, in->has_head ? "header.proofs_how" : "proof.missing.no_head"));
  s_put(o, "</dd>\n</dl>\n");
  s_html_disclosures(o);
  for (int p = 0; p < REPORT_N_PARTS; p++)
    s_html_part(o, p, p + 2);
  s_put(o, "<footer><p>");
  s_html(o, s_tr(o, "footer"));
  s_put(o, "</p></footer>\n</body>\n</html>\n");
}

/* ---- JSON ---------------------------------------------------------------- */

static json_t *s_jstr(const char *s) {
  char clean[2048];
  return json_string(s_clean(s, clean, sizeof clean));
}

static json_t *s_jparty(const s_out_t *o, const char *id) {
  char nb[512];
  const report_party_t *p = s_party(o->r->in, id);
  json_t *j = json_object();
  json_object_set_new(j, "id", s_jstr(id));
  json_object_set_new(j, "name", s_jstr(s_name(o, id, nb, sizeof nb)));
  json_object_set_new(j, "removed", json_boolean(p && p->removed));
  return j;
}

static json_t *s_jtime(int64_t ms) {
  char t[64];
  s_time(ms, t, sizeof t);
  return json_string(t);
}

static json_t *s_jconsent(const s_out_t *o, const report_consent_t *k,
                          const uint8_t id[16]) {
  char hex[33], pb[128], bb[128], kinds[512];
  if (s_zero16(id))
    return json_null();
  s_hex(id, 16, hex);
  json_t *j = json_object();
  json_object_set_new(j, "id", json_string(hex));
  json_object_set_new(j, "known", json_boolean(k != NULL));
  if (!k)
    return j;
  json_object_set_new(j, "recorded_at_ms", json_integer(k->recorded_at_ms));
  json_object_set_new(j, "recorded_at", s_jtime(k->recorded_at_ms));
  json_object_set_new(j, "recorded_by", s_jparty(o, k->recorded_by));
  json_object_set_new(j, "recipient", s_jparty(o, k->recipient));
  json_object_set_new(j, "evidence_ref", s_jstr(k->evidence_ref));
  json_object_set_new(j, "purpose", json_string(canon_purpose_name(k->purpose)
                                                    ? canon_purpose_name(k->purpose)
                                                    : ""));
  json_object_set_new(j, "purpose_text", s_jstr(s_purpose(o, k->purpose, pb, sizeof pb)));
  json_object_set_new(j, "basis", json_string(canon_basis_name(k->basis)
                                                  ? canon_basis_name(k->basis)
                                                  : ""));
  json_object_set_new(j, "basis_text", s_jstr(s_basis(o, k->basis, bb, sizeof bb)));
  json_object_set_new(j, "legal_reference", s_jstr(k->legal_reference));
  json_object_set_new(j, "kinds_text", s_jstr(s_kinds(o, k->sections, kinds, sizeof kinds)));
  json_object_set_new(j, "valid_from_ms", json_integer(k->valid_from_ms));
  json_object_set_new(j, "valid_until_ms", json_integer(k->valid_until_ms));
  json_object_set_new(j, "revoked", json_boolean(k->revoked));
  if (k->revoked) {
    json_object_set_new(j, "revoked_at_ms", json_integer(k->revoked_at_ms));
    json_object_set_new(j, "revoked_at", s_jtime(k->revoked_at_ms));
    json_object_set_new(j, "revoked_by", s_jparty(o, k->revoked_by));
    json_object_set_new(j, "revocation_evidence_ref", s_jstr(k->revocation_evidence));
  }
  return j;
}

static json_t *s_jkind(int kind) {
  const char *n = canon_kind_name(kind);
  return kind && n ? json_string(n) : json_null();
}

static json_t *s_json_doc(const s_out_t *o) {
  const report_t *r = o->r;
  const report_input_t *in = r->in;
  char hex[65], kb[64], vb[64], hb[128], pb[128], type[64];
  json_t *doc = json_object();
  json_object_set_new(doc, "format", json_string("keten-access-report/1"));
  json_object_set_new(doc, "lang", s_jstr(o->c->code));
  json_object_set_new(doc, "dir", json_string(o->c->rtl ? "rtl" : "ltr"));
  s_hex(in->subject, 32, hex);
  json_object_set_new(doc, "subject", json_string(hex));
  json_object_set_new(doc, "time_zone", s_jstr(in->time_zone ? in->time_zone : ""));
  json_object_set_new(doc, "generated_at_ms", json_integer(in->generated_ms));
  json_object_set_new(doc, "generated_at", s_jtime(in->generated_ms));
  json_t *period = json_object();
  json_object_set_new(period, "from_ms", json_integer(r->period_from_ms));
  json_object_set_new(period, "to_ms", json_integer(r->period_to_ms));
  json_object_set_new(period, "from", s_jtime(r->period_from_ms));
  json_object_set_new(period, "to", s_jtime(r->period_to_ms));
  json_object_set_new(doc, "period", period);
  json_t *audit = json_object();
  json_object_set_new(audit, "size", json_integer((json_int_t)in->audit_size));
  if (in->has_head) {
    json_t *h = json_object();
    char root[65];
    s_hex(in->head_root, 32, root);
    json_object_set_new(h, "size", json_integer((json_int_t)in->head_size));
    json_object_set_new(h, "timestamp_ms", json_integer(in->head_ms));
    json_object_set_new(h, "time", s_jtime(in->head_ms));
    json_object_set_new(h, "root", json_string(root));
    s_hex(in->head_key, 32, root);
    json_object_set_new(h, "broker_key", json_string(root));
    json_object_set_new(audit, "tree_head", h);
  } else {
    json_object_set_new(audit, "tree_head", json_null());
  }
  json_object_set_new(doc, "audit", audit);
  json_object_set_new(doc, "withdrawn_deliveries", json_integer((json_int_t)r->withdrawn));

  json_t *ds = json_array();
  for (size_t i = 0; i < r->n_disclosures; i++) {
    const report_disclosure_t *d = &r->disclosures[i];
    json_t *j = json_object();
    json_object_set_new(j, "recipient", s_jparty(o, d->recipient));
    json_object_set_new(j, "author", s_jparty(o, d->author));
    json_object_set_new(j, "kind", s_jkind(d->kind));
    json_object_set_new(j, "kind_text", s_jstr(s_kind(o, d->kind, kb, sizeof kb)));
    json_object_set_new(j, "version", d->version ? json_integer((json_int_t)d->version)
                                                 : json_null());
    json_object_set_new(j, "version_text", s_jstr(s_vtext(o, d->version, vb, sizeof vb)));
    json_object_set_new(j, "first_ms", json_integer(d->first_ms));
    json_object_set_new(j, "first", s_jtime(d->first_ms));
    json_object_set_new(j, "last_ms", json_integer(d->last_ms));
    json_t *how = json_array();
    if (d->how & REPORT_HOW_DELIVERED)
      json_array_append_new(how, json_string("delivered"));
    if (d->how & REPORT_HOW_FETCHED)
      json_array_append_new(how, json_string("fetched"));
    json_object_set_new(j, "how", how);
    json_object_set_new(j, "how_text", s_jstr(s_how(o, d->how, hb, sizeof hb)));
    json_object_set_new(j, "times", json_integer(d->times));
    int purpose = d->consent ? d->consent->purpose : d->purpose;
    json_object_set_new(j, "purpose", purpose && canon_purpose_name(purpose)
                                          ? json_string(canon_purpose_name(purpose))
                                          : json_null());
    json_object_set_new(j, "purpose_text", s_jstr(s_purpose(o, purpose, pb, sizeof pb)));
    json_object_set_new(j, "consent", s_jconsent(o, d->consent, d->consent_id));
    json_t *seqs = json_array();
    for (size_t k = 0; k < d->n_seqs; k++)
      json_array_append_new(seqs, json_integer((json_int_t)d->seqs[k]));
    json_object_set_new(j, "audit_seqs", seqs);
    json_object_set_new(j, "first_seq", json_integer((json_int_t)d->first_seq));
    /* the bundle `keten audit prove` checks, of first_seq */
    json_object_set_new(j, "proof", d->proof ? json_incref(d->proof) : json_null());
    if (!d->proof) {
      static const char *const why[] = {"", "no_head", "newer", "unavailable"};
      int w = d->proof_missing >= REPORT_PROOF_NO_HEAD &&
                      d->proof_missing <= REPORT_PROOF_UNAVAILABLE
                  ? d->proof_missing
                  : REPORT_PROOF_UNAVAILABLE;
      json_object_set_new(j, "proof_missing", json_string(why[w]));
      json_object_set_new(j, "proof_missing_text",
                          s_jstr(s_tr(o, s_proof_missing_key(w))));
    }
    json_array_append_new(ds, j);
  }
  json_object_set_new(doc, "disclosures", ds);

  static const char *const names[REPORT_N_PARTS] = {
      "refusals", "consent_changes", "tvs_events", "notices", "erasures"};
  for (int p = 0; p < REPORT_N_PARTS; p++) {
    json_t *a = json_array();
    for (size_t i = 0; i < r->n_events[p]; i++) {
      const report_event_t *v = &r->events[p][i];
      json_t *j = json_object();
      json_object_set_new(j, "type", json_string(v->type));
      json_object_set_new(j, "type_text", s_jstr(s_trf(o, type, sizeof type, "event.", v->type)));
      json_object_set_new(j, "time_ms", json_integer(v->ms));
      json_object_set_new(j, "time", s_jtime(v->ms));
      json_object_set_new(j, "by", s_jparty(o, v->who));
      json_object_set_new(j, "concerning", v->other[0] ? s_jparty(o, v->other) : json_null());
      json_object_set_new(j, "kind", s_jkind(v->kind));
      json_object_set_new(j, "kind_text", v->kind ? s_jstr(s_kind(o, v->kind, kb, sizeof kb))
                                                  : json_null());
      json_object_set_new(j, "consent", s_jconsent(o, v->consent, v->consent_id));
      json_object_set_new(j, "detail", s_jstr(v->detail));
      json_object_set_new(j, "audit_seq", json_integer((json_int_t)v->seq));
      json_array_append_new(a, j);
    }
    json_object_set_new(doc, names[p], a);
  }
  return doc;
}

int report_render(const report_t *r, const report_catalog_t *c, int format,
                  FILE *out) {
  s_out_t o = {.f = out, .r = r, .c = c};
  if (format == REPORT_TEXT) {
    s_text(&o);
  } else if (format == REPORT_HTML) {
    s_html_doc(&o);
  } else if (format == REPORT_JSON) {
    json_t *doc = s_json_doc(&o);
    if (!doc || json_dumpf(doc, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
      o.failed = 1;
    else
      s_put(&o, "\n");
    json_decref(doc);
  } else {
    return -1;
  }
  if (fflush(out) != 0 || ferror(out))
    o.failed = 1;
  return o.failed ? -1 : 0;
}
