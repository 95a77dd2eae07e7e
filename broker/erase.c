/* erase — erasure (AVG art. 17) and retention: the store side shared by
 * ERASE and `keten admin subject erase`, the notices, the sweep. */
#include "erase.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "canon.h"
#include "log.h"
#include "request.h"

int erase_check_shape(const Keten__Erasure *e, int64_t now_ms, char *why,
                      size_t whylen) {
  const char *w = NULL;
  size_t reason_len = e && e->reason ? strlen(e->reason) : 0;
  int printable = reason_len > 0;
  for (size_t i = 0; printable && i < reason_len; i++)
    printable = e->reason[i] >= 0x20 && e->reason[i] <= 0x7e;
  if (!e)
    w = "erasure is required";
  else if (!canon_exact(&e->base))
    w = "the erasure carries fields its signature does not cover";
  else if (e->erasure_id.len != 16)
    w = "erasure_id must be 16 bytes";
  else if (e->subject.len != CANON_SUBJECT_BYTES)
    w = "subject must be 32 bytes";
  else if (!e->author || !participant_valid_id(e->author))
    w = "author is not a participant id";
  else if ((uint64_t)e->kinds & ~ERASE_ALL_KINDS)
    w = "kinds names a section kind that does not exist";
  else if (!printable || reason_len > 255)
    w = "reason must be 1 to 255 printable ASCII bytes";
  else if (e->requested_at_ms == 0 || e->requested_at_ms > (uint64_t)INT64_MAX ||
           (now_ms > 0 &&
            e->requested_at_ms > (uint64_t)(now_ms + ERASE_MAX_SKEW_MS)))
    w = "requested_at_ms must be set and at most a day ahead";
  else if (now_ms > ERASE_MAX_AGE_MS &&
           (int64_t)e->requested_at_ms < now_ms - ERASE_MAX_AGE_MS)
    w = "requested_at_ms is more than 30 days ago: sign the request again";
  else if (e->signature.len != CANON_SIGNATURE_BYTES)
    w = "signature must be 64 bytes";
  if (w && why && whylen)
    snprintf(why, whylen, "%s", w);
  return w ? -1 : 0;
}

void erase_result_free(erase_result_t *res) {
  if (!res)
    return;
  free(res->targets);
  res->targets = NULL;
  res->n_targets = res->cap = 0;
}

static int s_target(const char *recipient, int kind, uint64_t up_to,
                    void *arg) {
  erase_result_t *res = arg;
  if (res->n_targets == res->cap) {
    size_t cap = res->cap ? 2 * res->cap : 16;
    erase_target_t *grown = realloc(res->targets, cap * sizeof *grown);
    if (!grown) {
      res->failed = 1;
      return 1;
    }
    res->targets = grown;
    res->cap = cap;
  }
  erase_target_t *t = &res->targets[res->n_targets++];
  snprintf(t->recipient, sizeof t->recipient, "%s", recipient);
  t->kind = kind;
  t->up_to_version = up_to;
  return 0;
}

/* Who holds what of scope, then the sections themselves. */
static int s_erase_scope(store_t *store, const store_erase_scope_t *scope,
                         erase_result_t *out) {
  size_t before = out->n_targets;
  if (store_erase_targets(store, scope, s_target, out) != 0 || out->failed)
    return -1;
  (void)before;
  store_erase_counts_t c;
  if (store_erase_sections(store, scope, &c) != 0)
    return -1;
  out->counts.sections += c.sections;
  out->counts.wraps += c.wraps;
  out->counts.deliveries += c.deliveries;
  out->counts.rewraps += c.rewraps;
  return 0;
}

/* ---- evidence references ------------------------------------------------ */

typedef struct {
  const char *author;
  uint8_t (*ids)[CONSENT_ID_BYTES];
  size_t n, cap;
  int failed;
} s_consents_t;

static int s_collect_consent(const consent_t *c, const uint8_t *record,
                             size_t len, const uint8_t *revocation,
                             size_t revocation_len, const char *revoked_by,
                             void *arg) {
  (void)record;
  (void)len;
  (void)revocation;
  (void)revocation_len;
  (void)revoked_by;
  s_consents_t *s = arg;
  if (strcmp(c->recorded_by, s->author) != 0)
    return 0;
  if (s->n == s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 16;
    uint8_t(*grown)[CONSENT_ID_BYTES] = realloc(s->ids, cap * sizeof *grown);
    if (!grown) {
      s->failed = 1;
      return 1;
    }
    s->ids = grown;
    s->cap = cap;
  }
  memcpy(s->ids[s->n++], c->consent_id, CONSENT_ID_BYTES);
  return 0;
}

/* Replaces the evidence_ref of consent id's record by marker; *done 1 if
 * it changed (an empty or already erased reference stays). */
static int s_erase_evidence_of(store_t *store, const uint8_t *id,
                               const char *marker, int *done) {
  *done = 0;
  uint8_t *record = NULL;
  size_t len = 0;
  if (store_consent_record(store, id, &record, &len) != 0 || !record)
    return -1;
  Keten__Consent *k = keten__consent__unpack(NULL, len, record);
  free(record);
  if (!k)
    return -1; /* a stored record always decodes */
  int rc = 0;
  if (k->evidence_ref && k->evidence_ref[0] &&
      strncmp(k->evidence_ref, ERASE_EVIDENCE_MARKER,
              strlen(ERASE_EVIDENCE_MARKER)) != 0) {
    char *old = k->evidence_ref;
    k->evidence_ref = (char *)marker;
    size_t n = keten__consent__get_packed_size(k);
    uint8_t *packed = malloc(n ? n : 1);
    if (!packed) {
      rc = -1;
    } else {
      keten__consent__pack(k, packed);
      rc = store_consent_record_set(store, id, packed, n);
      free(packed);
      *done = rc == 0;
    }
    k->evidence_ref = old;
  }
  keten__consent__free_unpacked(k, NULL);
  return rc;
}

static int s_erase_evidence(store_t *store, const Keten__Erasure *e,
                            erase_result_t *out) {
  char marker[sizeof ERASE_EVIDENCE_MARKER + 32];
  char hex[33];
  sodium_bin2hex(hex, sizeof hex, e->erasure_id.data, 16);
  snprintf(marker, sizeof marker, "%s%s", ERASE_EVIDENCE_MARKER, hex);
  s_consents_t s = {.author = e->author};
  /* Collected first: the records are rewritten after the scan. */
  if (store_consent_records(store, e->subject.data, s_collect_consent, &s) !=
          0 ||
      s.failed) {
    free(s.ids);
    return -1;
  }
  int rc = 0;
  for (size_t i = 0; i < s.n && rc == 0; i++) {
    int done = 0;
    rc = s_erase_evidence_of(store, s.ids[i], marker, &done);
    out->consents += done;
  }
  free(s.ids);
  /* Pending rewrap requests carry the old records as evidence. */
  if (rc == 0 &&
      store_rewrap_drop_of(store, e->subject.data, e->author,
                           &out->rewraps_dropped) != 0)
    rc = -1;
  return rc;
}

/* ---- applying an erasure ------------------------------------------------- */

static void s_kinds_text(uint64_t kinds, char *out, size_t cap) {
  if (kinds == 0)
    snprintf(out, cap, "all");
  else
    snprintf(out, cap, "0x%llx", (unsigned long long)kinds);
}

int erase_apply(store_t *store, const Keten__Erasure *e, const char *applied_by,
                int64_t now_ms, audit_entry_t *audit, int owe_notices,
                erase_result_t *out) {
  memset(out, 0, sizeof *out);
  int found = store_erasure_get(store, e->erasure_id.data, NULL);
  if (found != 0)
    return found;
  store_erase_scope_t scope = {.subject = e->subject.data,
                               .author = e->author,
                               .kinds = e->kinds};
  if (s_erase_scope(store, &scope, out) != 0 ||
      (e->erase_evidence && s_erase_evidence(store, e, out) != 0))
    return -1;
  store_erasure_t row;
  memset(&row, 0, sizeof row);
  memcpy(row.erasure_id, e->erasure_id.data, 16);
  memcpy(row.subject, e->subject.data, 32);
  snprintf(row.author, sizeof row.author, "%s", e->author);
  row.kinds = e->kinds;
  row.erase_evidence = e->erase_evidence ? 1 : 0;
  snprintf(row.reason, sizeof row.reason, "%s", e->reason);
  row.requested_at_ms = (int64_t)e->requested_at_ms;
  memcpy(row.signature, e->signature.data, 64);
  snprintf(row.applied_by, sizeof row.applied_by, "%s", applied_by);
  row.applied_at_ms = now_ms;
  int put = store_erasure_put(store, &row);
  if (put != 0)
    return put == 1 ? 1 : -1;
  for (size_t i = 0; owe_notices && i < out->n_targets; i++) {
    const erase_target_t *t = &out->targets[i];
    if (store_erasure_notice_add(store, e->erasure_id.data, e->subject.data,
                                 t->recipient, t->kind, e->author,
                                 t->up_to_version) != 0)
      return -1;
  }
  char hex[33], kinds[24];
  sodium_bin2hex(hex, sizeof hex, e->erasure_id.data, 16);
  s_kinds_text(e->kinds, kinds, sizeof kinds);
  memcpy(audit->subject, e->subject.data, 32);
  snprintf(audit->counterparty, sizeof audit->counterparty, "%s", e->author);
  snprintf(audit->detail, sizeof audit->detail,
           "erasure %s: sections %lld wraps %lld pending %lld rewraps %lld "
           "kinds %s evidence %lld",
           hex, (long long)out->counts.sections, (long long)out->counts.wraps,
           (long long)out->counts.deliveries,
           (long long)(out->counts.rewraps + out->rewraps_dropped), kinds,
           (long long)out->consents);
  return store_audit_append(store, audit) == 0 ? 0 : -1;
}

/* ---- notices (ketend) ------------------------------------------------------- */

/* Sends recipient one notice of targets [from, to) (all its own). */
static int s_notify_one(broker_t *b, const request_t *r,
                        const uint8_t subject[32], const char *author,
                        const erase_target_t *targets, size_t from, size_t to,
                        access_removed_t *removed) {
  memset(removed, 0, sizeof *removed);
  for (size_t i = from; i < to && removed->n < ACCESS_MAX_ITEMS; i++) {
    removed->items[removed->n].kind = targets[i].kind;
    snprintf(removed->items[removed->n].author,
             sizeof removed->items[removed->n].author, "%s", author);
    removed->items[removed->n].up_to_version = targets[i].up_to_version;
    removed->n++;
  }
  return access_notify(b, r, subject, targets[from].recipient,
                       KETEN__NOTICE_REASON__NOTICE_REASON_ERASED, NULL, NULL,
                       removed);
}

int erase_notify(broker_t *b, const request_t *r, const uint8_t subject[32],
                 const char *author, const erase_result_t *res) {
  access_removed_t *removed = malloc(sizeof *removed);
  if (!removed)
    return -1;
  int rc = 0;
  for (size_t i = 0, j; rc == 0 && i < res->n_targets; i = j) {
    for (j = i; j < res->n_targets &&
                strcmp(res->targets[j].recipient, res->targets[i].recipient) ==
                    0;
         j++)
      ;
    rc = s_notify_one(b, r, subject, author, res->targets, i, j, removed);
  }
  free(removed);
  return rc;
}

/* ---- the sweep ------------------------------------------------------------ */

typedef struct {
  uint8_t subject[32];
  int kind;
  char author[PARTICIPANT_ID_MAX + 1];
  uint64_t up_to_version;
} s_group_t;

typedef struct {
  s_group_t items[ERASE_SWEEP_VERSIONS];
  size_t n;
} s_groups_t;

static int s_due(const uint8_t subject[32], int kind, const char *author,
                 uint64_t up_to, void *arg) {
  s_groups_t *g = arg;
  if (g->n == ERASE_SWEEP_VERSIONS)
    return 1;
  s_group_t *it = &g->items[g->n++];
  memcpy(it->subject, subject, 32);
  it->kind = kind;
  snprintf(it->author, sizeof it->author, "%s", author);
  it->up_to_version = up_to;
  return 0;
}

/* Erases one group whose retention passed: its versions up to the
 * highest expired one (an older version never outlives a newer one, so
 * that the notice's "up to" is true). */
static int s_expire(broker_t *b, const s_group_t *g) {
  store_erase_scope_t scope = {.subject = g->subject,
                               .author = g->author,
                               .kinds = UINT64_C(1) << g->kind,
                               .up_to_version = g->up_to_version};
  erase_result_t res;
  memset(&res, 0, sizeof res);
  int rc = s_erase_scope(b->store, &scope, &res);
  if (rc == 0) {
    audit_entry_t e;
    request_audit_init(&e, NULL, "keten.section.erase", AUDIT_STATUS_OK);
    memcpy(e.subject, g->subject, 32);
    e.kind = g->kind;
    snprintf(e.counterparty, sizeof e.counterparty, "%s", g->author);
    snprintf(e.detail, sizeof e.detail,
             "retention passed: sections %lld up to v%llu wraps %lld pending "
             "%lld rewraps %lld",
             (long long)res.counts.sections,
             (unsigned long long)g->up_to_version, (long long)res.counts.wraps,
             (long long)res.counts.deliveries, (long long)res.counts.rewraps);
    rc = request_audit(b, &e);
  }
  if (rc == 0)
    rc = erase_notify(b, NULL, g->subject, g->author, &res);
  if (rc == 0 && res.counts.sections > 0)
    log_msg(LOG_INFO, "erase",
            "retention passed: %lld version(s) of %s by %s erased, %zu "
            "notice item(s)",
            (long long)res.counts.sections, canon_kind_name(g->kind),
            g->author, res.n_targets);
  erase_result_free(&res);
  return rc;
}

/* Owed notices of keten admin's erasures, grouped by (erasure, recipient). */
typedef struct {
  uint8_t erasure_id[16];
  uint8_t subject[32];
  char author[PARTICIPANT_ID_MAX + 1];
  erase_target_t t;
} s_owed_t;

typedef struct {
  s_owed_t *rows;
  size_t n, cap;
  int failed;
} s_owed_list_t;

static int s_owed(const uint8_t erasure_id[16], const uint8_t subject[32],
                  const char *recipient, int kind, const char *author,
                  uint64_t up_to, void *arg) {
  s_owed_list_t *l = arg;
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 32;
    s_owed_t *grown = realloc(l->rows, cap * sizeof *grown);
    if (!grown) {
      l->failed = 1;
      return 1;
    }
    l->rows = grown;
    l->cap = cap;
  }
  s_owed_t *o = &l->rows[l->n++];
  memcpy(o->erasure_id, erasure_id, 16);
  memcpy(o->subject, subject, 32);
  snprintf(o->author, sizeof o->author, "%s", author);
  snprintf(o->t.recipient, sizeof o->t.recipient, "%s", recipient);
  o->t.kind = kind;
  o->t.up_to_version = up_to;
  return 0;
}

static int s_same_group(const s_owed_t *a, const s_owed_t *b) {
  return memcmp(a->erasure_id, b->erasure_id, 16) == 0 &&
         strcmp(a->t.recipient, b->t.recipient) == 0;
}

static int s_send_owed(broker_t *b) {
  s_owed_list_t l = {0};
  if (store_erasure_notices(b->store, ERASE_SWEEP_NOTICES, s_owed, &l) != 0 ||
      l.failed) {
    free(l.rows);
    return -1;
  }
  /* A full page may end inside a group: that group waits for the next. */
  size_t end = l.n;
  if (l.n == ERASE_SWEEP_NOTICES)
    while (end > 0 && s_same_group(&l.rows[end - 1], &l.rows[l.n - 1]))
      end--;
  int rc = 0;
  erase_result_t res;
  memset(&res, 0, sizeof res);
  for (size_t i = 0, j; rc == 0 && i < end; i = j) {
    for (j = i; j < end && s_same_group(&l.rows[j], &l.rows[i]); j++)
      ;
    res.n_targets = 0;
    for (size_t k = i; k < j && rc == 0; k++)
      if (s_target(l.rows[k].t.recipient, l.rows[k].t.kind,
                   l.rows[k].t.up_to_version, &res) != 0)
        rc = -1;
    if (rc == 0)
      rc = erase_notify(b, NULL, l.rows[i].subject, l.rows[i].author, &res);
    if (rc == 0)
      rc = store_erasure_notice_done(b->store, l.rows[i].erasure_id,
                                     l.rows[i].t.recipient);
  }
  erase_result_free(&res);
  free(l.rows);
  return rc;
}

int erase_sweep(broker_t *b, int64_t now_ms) {
  s_groups_t *g = malloc(sizeof *g);
  if (!g)
    return -1;
  g->n = 0;
  int rc = store_retention_due(b->store, now_ms, ERASE_SWEEP_VERSIONS, s_due, g);
  for (size_t i = 0; rc == 0 && i < g->n; i++)
    rc = s_expire(b, &g->items[i]);
  free(g);
  if (rc == 0)
    rc = s_send_owed(b);
  return rc;
}
