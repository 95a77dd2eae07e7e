/* Unit tests of the schema-2 store: consents, sealed sections and their
 * wraps, mailboxes, revocation of access, the replay guard, and that what
 * was committed survives a reopen while what was rolled back leaves no
 * trace. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

#define KIND_STORY 3
#define KIND_HOUSING 8
#define KIND_HEALTH 10
#define BIT(k) (UINT64_C(1) << (k))

#define COA "coa"
#define GEMEENTE "gemeente:0363"
#define GGZ "ggz:parnassia"

static const uint8_t s_x[32] = {'X', 1, 2, 3};
static const uint8_t s_y[32] = {'Y', 1, 2, 3};

typedef struct {
  char dir[64];
  char path[128];
} s_fixture_t;

static int s_setup(void **state) {
  s_fixture_t *f = calloc(1, sizeof *f);
  if (!f)
    return -1;
  snprintf(f->dir, sizeof f->dir, "/tmp/keten-sections-XXXXXX");
  if (!mkdtemp(f->dir)) {
    free(f);
    return -1;
  }
  snprintf(f->path, sizeof f->path, "%s/keten.db", f->dir);
  *state = f;
  return 0;
}

static int s_teardown(void **state) {
  s_fixture_t *f = *state;
  char p[160];
  const char *suffix[] = {"", "-wal", "-shm"};
  for (int i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s%s", f->path, suffix[i]);
    unlink(p);
  }
  rmdir(f->dir);
  free(f);
  return 0;
}

static store_t *s_open(const s_fixture_t *f) {
  char err[256] = "";
  store_t *s = store_open(f->path, err, sizeof err);
  if (!s)
    fail_msg("store_open: %s", err);
  return s;
}

/* ---- consents --------------------------------------------------------------- */

static consent_t s_consent(uint8_t id, const uint8_t subject[32],
                           const char *recipient, uint64_t sections,
                           int64_t from, int64_t until) {
  consent_t c;
  memset(&c, 0, sizeof c);
  memset(c.consent_id, id, sizeof c.consent_id);
  memcpy(c.subject, subject, 32);
  snprintf(c.recorded_by, sizeof c.recorded_by, COA);
  snprintf(c.recipient, sizeof c.recipient, "%s", recipient);
  c.sections = sections;
  c.purpose = 2;
  c.basis = 1;
  c.valid_from_ms = from;
  c.valid_until_ms = until;
  return c;
}

static void s_assert_consent(const consent_t *got, const consent_t *want) {
  assert_memory_equal(got->consent_id, want->consent_id, CONSENT_ID_BYTES);
  assert_memory_equal(got->subject, want->subject, CONSENT_SUBJECT_BYTES);
  assert_string_equal(got->recorded_by, want->recorded_by);
  assert_string_equal(got->recipient, want->recipient);
  assert_int_equal(got->sections, want->sections);
  assert_int_equal(got->purpose, want->purpose);
  assert_int_equal(got->basis, want->basis);
  assert_int_equal(got->valid_from_ms, want->valid_from_ms);
  assert_int_equal(got->valid_until_ms, want->valid_until_ms);
  assert_int_equal(got->revoked, want->revoked);
  assert_int_equal(got->revoked_at_ms, want->revoked_at_ms);
}

typedef struct {
  int n;
  uint8_t ids[8];
  char record[8][32];
  char revocation[8][32];
  char revoked_by[8][PARTICIPANT_ID_MAX + 1];
} s_records_t;

static int s_collect_record(const consent_t *c, const uint8_t *record,
                            size_t len, const uint8_t *revocation,
                            size_t revocation_len, const char *revoked_by,
                            void *arg) {
  s_records_t *r = arg;
  assert_true(r->n < 8);
  r->ids[r->n] = c->consent_id[0];
  snprintf(r->record[r->n], sizeof r->record[r->n], "%.*s", (int)len,
           (const char *)record);
  snprintf(r->revocation[r->n], sizeof r->revocation[r->n], "%.*s",
           (int)revocation_len, revocation ? (const char *)revocation : "");
  snprintf(r->revoked_by[r->n], sizeof r->revoked_by[r->n], "%s",
           revoked_by ? revoked_by : "");
  r->n++;
  return 0;
}

static void test_consents(void **state) {
  store_t *s = s_open(*state);
  consent_t c1 = s_consent(1, s_x, GEMEENTE, BIT(KIND_STORY), 1000, 5000);
  consent_t c2 = s_consent(2, s_x, GGZ, BIT(KIND_HEALTH), 1000, 3000);
  consent_t c3 = s_consent(3, s_y, GEMEENTE, BIT(KIND_HOUSING), 500, 2000);
  consent_t c4 = s_consent(4, s_x, GEMEENTE, BIT(KIND_HOUSING), 0, 2000);
  assert_int_equal(store_begin(s), 0);
  assert_int_equal(store_consent_put(s, &c1, (const uint8_t *)"rec-1", 5), 0);
  assert_int_equal(store_consent_put(s, &c2, (const uint8_t *)"rec-2", 5), 0);
  assert_int_equal(store_consent_put(s, &c3, (const uint8_t *)"rec-3", 5), 0);
  assert_int_equal(store_consent_put(s, &c4, (const uint8_t *)"rec-4", 5), 0);
  /* a duplicate id is reported and changes nothing */
  consent_t dup = s_consent(1, s_y, GGZ, BIT(KIND_HEALTH), 0, 99);
  assert_int_equal(store_consent_put(s, &dup, (const uint8_t *)"other", 5), 1);
  assert_int_equal(store_consent_put(s, &c1, (const uint8_t *)"rec-1", 5), 1);
  assert_int_equal(store_commit(s), 0);

  consent_t got;
  assert_int_equal(store_consent_get(s, c1.consent_id, &got), 1);
  s_assert_consent(&got, &c1);
  assert_int_equal(store_consent_get(s, c3.consent_id, &got), 1);
  s_assert_consent(&got, &c3);
  uint8_t unknown[CONSENT_ID_BYTES];
  memset(unknown, 9, sizeof unknown);
  assert_int_equal(store_consent_get(s, unknown, &got), 0);

  /* revoke once; a second revocation of the same consent fails */
  assert_int_equal(store_consent_revoke(s, c1.consent_id, 2500, GGZ,
                                        (const uint8_t *)"revocation-1", 12),
                   0);
  assert_int_equal(store_consent_revoke(s, c1.consent_id, 2600, COA,
                                        (const uint8_t *)"revocation-2", 12),
                   -1);
  assert_int_equal(store_consent_revoke(s, unknown, 2600, COA,
                                        (const uint8_t *)"revocation-3", 12),
                   -1);
  assert_int_equal(store_consent_get(s, c1.consent_id, &got), 1);
  c1.revoked = 1;
  c1.revoked_at_ms = 2500; /* the first revocation's time, not the second */
  s_assert_consent(&got, &c1);

  /* the signed records are kept, with the first revocation */
  s_records_t rec;
  memset(&rec, 0, sizeof rec);
  assert_int_equal(store_consent_records(s, s_x, s_collect_record, &rec), 0);
  assert_int_equal(rec.n, 3);
  for (int i = 0; i < rec.n; i++) {
    char want[16];
    snprintf(want, sizeof want, "rec-%d", rec.ids[i]);
    assert_string_equal(rec.record[i], want);
    if (rec.ids[i] == 1) {
      assert_string_equal(rec.revocation[i], "revocation-1");
      assert_string_equal(rec.revoked_by[i], GGZ);
    } else {
      assert_string_equal(rec.revocation[i], "");
    }
  }

  /* the live consents of a subject: not the revoked c1 */
  consent_t *list = NULL;
  size_t n = 0;
  assert_int_equal(store_consents_live(s, s_x, NULL, NULL, &list, &n), 0);
  assert_int_equal(n, 2);
  int seen = 0;
  for (size_t i = 0; i < n; i++) {
    assert_memory_equal(list[i].subject, s_x, 32);
    seen |= 1 << list[i].consent_id[0];
    if (list[i].consent_id[0] == 2)
      s_assert_consent(&list[i], &c2);
    if (list[i].consent_id[0] == 4)
      s_assert_consent(&list[i], &c4);
  }
  assert_int_equal(seen, (1 << 2) | (1 << 4));
  free(list);
  list = NULL;
  /* scoped to a recorder, a recipient, or both */
  assert_int_equal(store_consents_live(s, s_x, COA, NULL, &list, &n), 0);
  assert_int_equal(n, 2);
  free(list);
  list = NULL;
  assert_int_equal(store_consents_live(s, s_x, GGZ, NULL, &list, &n), 0);
  assert_int_equal(n, 0);
  free(list);
  list = NULL;
  assert_int_equal(store_consents_live(s, s_x, NULL, GEMEENTE, &list, &n), 0);
  assert_int_equal(n, 1);
  s_assert_consent(&list[0], &c4);
  free(list);
  list = NULL;
  assert_int_equal(store_consents_live(s, s_x, COA, GGZ, &list, &n), 0);
  assert_int_equal(n, 1);
  s_assert_consent(&list[0], &c2);
  free(list);
  list = NULL;
  size_t count = 99;
  assert_int_equal(store_consent_recipients_live(s, s_x, COA, 0, &count), 0);
  assert_int_equal(count, 2); /* GGZ and GEMEENTE (c4) */
  assert_int_equal(store_consent_recipients_live(s, s_x, COA, 2000, &count), 0);
  assert_int_equal(count, 1); /* c4 ended at 2000 */
  assert_int_equal(store_consent_recipients_live(s, s_x, GGZ, 0, &count), 0);
  assert_int_equal(count, 0);
  assert_int_equal(store_consent_count_live(s, s_x, COA, GGZ, 2999, &count), 0);
  assert_int_equal(count, 1);
  assert_int_equal(store_consent_count_live(s, s_x, COA, GGZ, 3000, &count), 0);
  assert_int_equal(count, 0); /* ended at 3000 */
  assert_int_equal(
      store_consent_count_live(s, s_x, COA, GEMEENTE, 0, &count), 0);
  assert_int_equal(count, 1); /* c4; the revoked c1 does not count */
  uint8_t *record = NULL;
  size_t record_len = 0;
  assert_int_equal(store_consent_record(s, c2.consent_id, &record, &record_len),
                   0);
  assert_int_equal(record_len, 5);
  assert_memory_equal(record, "rec-2", 5);
  free(record);
  assert_int_equal(store_consents_live(s, s_y, NULL, NULL, &list, &n), 0);
  assert_int_equal(n, 1);
  s_assert_consent(&list[0], &c3);
  free(list);
  list = NULL;
  uint8_t nobody[32] = {0};
  assert_int_equal(store_consents_live(s, nobody, NULL, NULL, &list, &n), 0);
  assert_int_equal(n, 0);
  free(list);
  list = NULL;

  /* expiry: valid_until is exclusive, revoked ones are not "expired",
   * the earliest end comes first, max is respected */
  assert_int_equal(store_consents_expired(s, 1999, 10, &list, &n), 0);
  assert_int_equal(n, 0);
  free(list);
  list = NULL;
  assert_int_equal(store_consents_expired(s, 2000, 10, &list, &n), 0);
  assert_int_equal(n, 2); /* c3 and c4 end at 2000 */
  for (size_t i = 0; i < n; i++)
    assert_true(list[i].consent_id[0] == 3 || list[i].consent_id[0] == 4);
  free(list);
  list = NULL;
  assert_int_equal(store_consents_expired(s, 10000, 10, &list, &n), 0);
  assert_int_equal(n, 3); /* c3, c4, then c2; never the revoked c1 */
  assert_int_equal(list[2].consent_id[0], 2);
  free(list);
  list = NULL;
  assert_int_equal(store_consents_expired(s, 10000, 1, &list, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(list[0].valid_until_ms, 2000);
  free(list);
  list = NULL;
  assert_int_equal(store_consent_mark_expired(s, c3.consent_id), 0);
  assert_int_equal(store_consent_mark_expired(s, c4.consent_id), 0);
  assert_int_equal(store_consents_expired(s, 10000, 10, &list, &n), 0);
  assert_int_equal(n, 1);
  s_assert_consent(&list[0], &c2);
  free(list);
  list = NULL;
  /* once its expiry is processed a consent is no longer live */
  assert_int_equal(store_consents_live(s, s_y, NULL, NULL, &list, &n), 0);
  assert_int_equal(n, 0);
  free(list);
  store_close(&s);
}

/* ---- sections, wraps, mailboxes ------------------------------------------- */

/* Stores a section whose bytes tell what it is; returns its row id. */
static int64_t s_section(store_t *s, const uint8_t subject[32], int kind,
                         const char *author, uint64_t version) {
  store_section_t sec;
  memset(&sec, 0, sizeof sec);
  memcpy(sec.subject, subject, 32);
  sec.kind = kind;
  snprintf(sec.author, sizeof sec.author, "%s", author);
  sec.version = version;
  sec.created_at_ms = 1000 + (int64_t)version;
  uint8_t nonce[24], sig[64];
  char ct[96];
  memset(nonce, (int)version, sizeof nonce);
  memset(sig, kind, sizeof sig);
  snprintf(ct, sizeof ct, "ct %c %d %s v%llu", subject[0], kind, author,
           (unsigned long long)version);
  sec.nonce = nonce;
  sec.nonce_len = sizeof nonce;
  sec.ciphertext = (const uint8_t *)ct;
  sec.ciphertext_len = strlen(ct);
  sec.signature = sig;
  sec.signature_len = sizeof sig;
  int64_t id = -1;
  assert_int_equal(store_section_put(s, &sec, &id), 0);
  assert_true(id > 0);
  return id;
}

/* The wrap of section id for recipient, as text. */
static void s_wrap_text(char *out, size_t cap, int64_t id,
                        const char *recipient) {
  snprintf(out, cap, "wrap %lld for %s", (long long)id, recipient);
}

static void s_wrap(store_t *s, int64_t id, const char *recipient) {
  char w[96];
  s_wrap_text(w, sizeof w, id, recipient);
  assert_int_equal(
      store_wrap_put(s, id, recipient, (const uint8_t *)w, strlen(w)), 0);
}

static uint64_t s_push(store_t *s, const char *recipient, int64_t id) {
  uint64_t seq = 0;
  assert_int_equal(store_mailbox_push(s, recipient, id, &seq), 0);
  return seq;
}

/* What a section callback saw. */
typedef struct {
  int64_t id;
  int kind;
  char author[PARTICIPANT_ID_MAX + 1];
  uint64_t version, seq;
  int has_wrap;
  char wrap[96];
  char ct[96];
  uint8_t subject0;
  size_t nonce_len, signature_len;
} s_row_t;

typedef struct {
  int n;
  s_row_t rows[32];
} s_rows_t;

static int s_collect(const store_section_t *sec, uint64_t seq, void *arg) {
  s_rows_t *r = arg;
  assert_true(r->n < 32);
  s_row_t *row = &r->rows[r->n++];
  memset(row, 0, sizeof *row);
  row->id = sec->id;
  row->kind = sec->kind;
  snprintf(row->author, sizeof row->author, "%s", sec->author);
  row->version = sec->version;
  row->seq = seq;
  row->subject0 = sec->subject[0];
  row->nonce_len = sec->nonce_len;
  row->signature_len = sec->signature_len;
  snprintf(row->ct, sizeof row->ct, "%.*s", (int)sec->ciphertext_len,
           (const char *)sec->ciphertext);
  if (sec->wrap) {
    row->has_wrap = 1;
    snprintf(row->wrap, sizeof row->wrap, "%.*s", (int)sec->wrap_len,
             (const char *)sec->wrap);
  }
  return 0;
}

static int s_collect_item(const store_mailbox_item_t *item, void *arg) {
  assert_non_null(item->section);
  assert_null(item->notice);
  return s_collect(item->section, item->seq, arg);
}

static s_rows_t s_read(store_t *s, const char *recipient, uint64_t after,
                       size_t max) {
  s_rows_t r;
  memset(&r, 0, sizeof r);
  assert_int_equal(
      store_mailbox_read(s, recipient, after, max, s_collect_item, &r), 0);
  return r;
}

static s_rows_t s_latest(store_t *s, const uint8_t subject[32],
                         const char *reader) {
  s_rows_t r;
  memset(&r, 0, sizeof r);
  assert_int_equal(store_sections_latest(s, subject, reader, s_collect, &r), 0);
  return r;
}

static void s_assert_wrap(const s_row_t *row, const char *recipient) {
  char want[96];
  s_wrap_text(want, sizeof want, row->id, recipient);
  assert_true(row->has_wrap);
  assert_string_equal(row->wrap, want);
}

static void s_assert_state(store_t *s, const char *recipient, uint64_t acked,
                           uint64_t head) {
  uint64_t a = 99, h = 99;
  assert_int_equal(store_mailbox_state(s, recipient, &a, &h), 0);
  assert_int_equal(a, acked);
  assert_int_equal(h, head);
}

static void test_sections_and_versions(void **state) {
  store_t *s = s_open(*state);
  uint64_t v = 99;
  assert_int_equal(store_section_latest_version(s, s_x, KIND_STORY, COA, &v), 0);
  assert_int_equal(v, 0);
  assert_int_equal(store_subject_known(s, s_x), 0);
  assert_int_equal(store_begin(s), 0);
  int64_t a1 = s_section(s, s_x, KIND_STORY, COA, 1);
  int64_t a2 = s_section(s, s_x, KIND_STORY, COA, 2);
  s_section(s, s_x, KIND_STORY, GEMEENTE, 7);
  s_section(s, s_x, KIND_HEALTH, COA, 4);
  s_section(s, s_y, KIND_STORY, COA, 9);
  assert_int_equal(store_commit(s), 0);
  assert_true(a2 != a1);
  assert_int_equal(store_section_latest_version(s, s_x, KIND_STORY, COA, &v), 0);
  assert_int_equal(v, 2);
  assert_int_equal(
      store_section_latest_version(s, s_x, KIND_STORY, GEMEENTE, &v), 0);
  assert_int_equal(v, 7);
  assert_int_equal(store_section_latest_version(s, s_x, KIND_HEALTH, COA, &v),
                   0);
  assert_int_equal(v, 4);
  assert_int_equal(store_section_latest_version(s, s_y, KIND_STORY, COA, &v), 0);
  assert_int_equal(v, 9);
  assert_int_equal(store_section_latest_version(s, s_y, KIND_HEALTH, COA, &v),
                   0);
  assert_int_equal(v, 0);
  assert_int_equal(store_subject_known(s, s_x), 1);
  assert_int_equal(store_subject_known(s, s_y), 1);
  uint8_t nobody[32] = {0};
  assert_int_equal(store_subject_known(s, nobody), 0);

  /* a version is stored once */
  store_section_t sec;
  memset(&sec, 0, sizeof sec);
  memcpy(sec.subject, s_x, 32);
  sec.kind = KIND_STORY;
  snprintf(sec.author, sizeof sec.author, COA);
  sec.version = 2;
  sec.nonce = sec.ciphertext = sec.signature = (const uint8_t *)"z";
  sec.nonce_len = sec.ciphertext_len = sec.signature_len = 1;
  int64_t id = 0;
  assert_int_equal(store_section_put(s, &sec, &id), -1);
  /* and the store keeps working after the refusal */
  assert_int_equal(store_section_latest_version(s, s_x, KIND_STORY, COA, &v), 0);
  assert_int_equal(v, 2);
  store_close(&s);
}

static void test_wraps(void **state) {
  store_t *s = s_open(*state);
  int64_t id = s_section(s, s_x, KIND_STORY, COA, 1);
  s_rows_t r = s_latest(s, s_x, GEMEENTE);
  assert_int_equal(r.n, 1);
  assert_false(r.rows[0].has_wrap);
  s_wrap(s, id, GEMEENTE);
  s_wrap(s, id, GGZ);
  r = s_latest(s, s_x, GEMEENTE);
  assert_int_equal(r.n, 1);
  s_assert_wrap(&r.rows[0], GEMEENTE);
  r = s_latest(s, s_x, GGZ);
  s_assert_wrap(&r.rows[0], GGZ);
  r = s_latest(s, s_x, COA);
  assert_false(r.rows[0].has_wrap);
  /* a second wrap for the same recipient replaces the first */
  assert_int_equal(
      store_wrap_put(s, id, GEMEENTE, (const uint8_t *)"rewrapped", 9), 0);
  r = s_latest(s, s_x, GEMEENTE);
  assert_int_equal(r.n, 1);
  assert_string_equal(r.rows[0].wrap, "rewrapped");
  /* a wrap of a section that does not exist is refused */
  assert_int_equal(
      store_wrap_put(s, id + 1000, GEMEENTE, (const uint8_t *)"x", 1), -1);
  store_close(&s);
}

static void test_mailboxes(void **state) {
  store_t *s = s_open(*state);
  s_assert_state(s, GEMEENTE, 0, 0);
  assert_int_equal(store_begin(s), 0);
  int64_t ids[4];
  for (int i = 0; i < 4; i++) {
    ids[i] = s_section(s, s_x, KIND_STORY, COA, (uint64_t)i + 1);
    s_wrap(s, ids[i], GEMEENTE);
    s_wrap(s, ids[i], GGZ);
  }
  /* each recipient counts on its own, interleaved or not */
  assert_int_equal(s_push(s, GEMEENTE, ids[0]), 1);
  assert_int_equal(s_push(s, GGZ, ids[2]), 1);
  assert_int_equal(s_push(s, GEMEENTE, ids[1]), 2);
  assert_int_equal(s_push(s, GGZ, ids[0]), 2);
  assert_int_equal(s_push(s, GEMEENTE, ids[2]), 3);
  assert_int_equal(store_commit(s), 0);
  s_assert_state(s, GEMEENTE, 0, 3);
  s_assert_state(s, GGZ, 0, 2);
  s_assert_state(s, COA, 0, 0);

  /* everything, in seq order, each with the recipient's own wrap */
  s_rows_t r = s_read(s, GEMEENTE, 0, 100);
  assert_int_equal(r.n, 3);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(r.rows[i].seq, (uint64_t)i + 1);
    assert_int_equal(r.rows[i].id, ids[i]);
    assert_int_equal(r.rows[i].version, (uint64_t)i + 1);
    assert_int_equal(r.rows[i].kind, KIND_STORY);
    assert_string_equal(r.rows[i].author, COA);
    assert_int_equal(r.rows[i].subject0, 'X');
    assert_int_equal(r.rows[i].nonce_len, 24);
    assert_int_equal(r.rows[i].signature_len, 64);
    char ct[96];
    snprintf(ct, sizeof ct, "ct X %d %s v%d", KIND_STORY, COA, i + 1);
    assert_string_equal(r.rows[i].ct, ct);
    s_assert_wrap(&r.rows[i], GEMEENTE);
  }
  r = s_read(s, GGZ, 0, 100);
  assert_int_equal(r.n, 2);
  assert_int_equal(r.rows[0].id, ids[2]);
  assert_int_equal(r.rows[1].id, ids[0]);
  s_assert_wrap(&r.rows[0], GGZ);
  s_assert_wrap(&r.rows[1], GGZ);
  /* after a seq, with a limit */
  r = s_read(s, GEMEENTE, 1, 1);
  assert_int_equal(r.n, 1);
  assert_int_equal(r.rows[0].seq, 2);
  assert_int_equal(r.rows[0].id, ids[1]);
  r = s_read(s, GEMEENTE, 1, 100);
  assert_int_equal(r.n, 2);
  assert_int_equal(r.rows[0].seq, 2);
  assert_int_equal(r.rows[1].seq, 3);
  r = s_read(s, GEMEENTE, 3, 100);
  assert_int_equal(r.n, 0);
  r = s_read(s, COA, 0, 100);
  assert_int_equal(r.n, 0);

  /* a cumulative ack drops everything up to it, only for that recipient */
  assert_int_equal(store_mailbox_ack(s, GEMEENTE, 2), 0);
  s_assert_state(s, GEMEENTE, 2, 3);
  s_assert_state(s, GGZ, 0, 2);
  r = s_read(s, GEMEENTE, 0, 100);
  assert_int_equal(r.n, 1);
  assert_int_equal(r.rows[0].seq, 3);
  assert_int_equal(s_read(s, GGZ, 0, 100).n, 2);
  /* an older ack does not move acked back */
  assert_int_equal(store_mailbox_ack(s, GEMEENTE, 1), 0);
  s_assert_state(s, GEMEENTE, 2, 3);
  /* seqs are never reused, also after everything was acked */
  assert_int_equal(store_mailbox_ack(s, GEMEENTE, 3), 0);
  s_assert_state(s, GEMEENTE, 3, 3);
  assert_int_equal(s_read(s, GEMEENTE, 0, 100).n, 0);
  assert_int_equal(s_push(s, GEMEENTE, ids[3]), 4);
  s_assert_state(s, GEMEENTE, 3, 4);
  r = s_read(s, GEMEENTE, 3, 100);
  assert_int_equal(r.n, 1);
  assert_int_equal(r.rows[0].seq, 4);
  assert_int_equal(r.rows[0].id, ids[3]);
  store_close(&s);
}

static void test_mailbox_without_wrap(void **state) {
  /* a mailbox entry whose wrap is gone comes back with wrap NULL */
  store_t *s = s_open(*state);
  int64_t id = s_section(s, s_x, KIND_STORY, COA, 1);
  assert_int_equal(s_push(s, GEMEENTE, id), 1);
  s_rows_t r = s_read(s, GEMEENTE, 0, 10);
  assert_int_equal(r.n, 1);
  assert_false(r.rows[0].has_wrap);
  store_close(&s);
}

/* Mailbox items of a recipient, sections and notices in seq order. */
typedef struct {
  uint64_t seqs[16];
  int is_notice[16];
  char payload[16][32];
  size_t n;
} s_items_t;

static int s_collect_any(const store_mailbox_item_t *item, void *arg) {
  s_items_t *it = arg;
  assert_true(it->n < 16);
  assert_true((item->section != NULL) != (item->notice != NULL));
  it->seqs[it->n] = item->seq;
  it->is_notice[it->n] = item->notice != NULL;
  if (item->notice)
    snprintf(it->payload[it->n], sizeof it->payload[0], "%.*s",
             (int)item->notice->payload_len,
             (const char *)item->notice->payload);
  it->n++;
  return 0;
}

static void test_notices(void **state) {
  store_t *s = s_open(*state);
  assert_int_equal(store_begin(s), 0);
  int64_t story = s_section(s, s_x, KIND_STORY, GEMEENTE, 1);
  s_wrap(s, story, COA);
  assert_int_equal(s_push(s, COA, story), 1);
  store_notice_t n = {.kind = 1, .payload = (const uint8_t *)"revoked-1",
                      .payload_len = 9, .created_at_ms = 1234};
  memcpy(n.subject, s_x, 32);
  uint64_t seq = 0;
  assert_int_equal(store_notice_push(s, COA, &n, &seq), 0);
  assert_int_equal(seq, 2);
  n.payload = (const uint8_t *)"revoked-2";
  assert_int_equal(store_notice_push(s, COA, &n, &seq), 0);
  assert_int_equal(seq, 3);
  assert_int_equal(store_commit(s), 0);

  s_items_t it;
  memset(&it, 0, sizeof it);
  assert_int_equal(store_mailbox_read(s, COA, 0, 10, s_collect_any, &it), 0);
  assert_int_equal(it.n, 3);
  assert_false(it.is_notice[0]);
  assert_true(it.is_notice[1]);
  assert_string_equal(it.payload[1], "revoked-1");
  assert_string_equal(it.payload[2], "revoked-2");
  /* a dropped notice and an acked one are gone, rows and all */
  assert_int_equal(store_begin(s), 0);
  assert_int_equal(store_mailbox_drop(s, COA, 3), 0);
  assert_int_equal(store_mailbox_ack(s, COA, 2), 0);
  assert_int_equal(store_commit(s), 0);
  memset(&it, 0, sizeof it);
  assert_int_equal(store_mailbox_read(s, COA, 0, 10, s_collect_any, &it), 0);
  assert_int_equal(it.n, 0);
  store_close(&s);
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(((s_fixture_t *)*state)->path, &db), SQLITE_OK);
  sqlite3_stmt *st = NULL;
  sqlite3_prepare_v2(db, "SELECT count(*) FROM notice", -1, &st, NULL);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(st, 0), 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

static void test_revoke_access(void **state) {
  store_t *s = s_open(*state);
  assert_int_equal(store_begin(s), 0);
  int64_t story1 = s_section(s, s_x, KIND_STORY, COA, 1);
  int64_t story2 = s_section(s, s_x, KIND_STORY, COA, 2);
  int64_t health = s_section(s, s_x, KIND_HEALTH, COA, 1);
  int64_t own = s_section(s, s_x, KIND_STORY, GEMEENTE, 1);
  int64_t other = s_section(s, s_y, KIND_STORY, COA, 1);
  const int64_t all[] = {story1, story2, health, own, other};
  for (int i = 0; i < 5; i++) {
    s_wrap(s, all[i], GEMEENTE);
    s_wrap(s, all[i], GGZ);
    s_push(s, GEMEENTE, all[i]);
    s_push(s, GGZ, all[i]);
  }
  /* the author with its own wrap and a delivery of its own section */
  s_wrap(s, story2, COA);
  s_push(s, COA, story2);
  assert_int_equal(store_commit(s), 0);

  int64_t wraps = -1, pending = -1;
  assert_int_equal(store_begin(s), 0);
  assert_int_equal(
      store_revoke_access(s, GEMEENTE, s_x, KIND_STORY, GGZ, &wraps, &pending),
      0);
  /* another author's consent never takes away coa's access */
  assert_int_equal(wraps, 0);
  assert_int_equal(pending, 0);
  assert_int_equal(
      store_revoke_access(s, GEMEENTE, s_x, KIND_STORY, COA, &wraps, &pending),
      0);
  assert_int_equal(store_commit(s), 0);
  /* STORY of X by coa, both versions; not its own STORY, not HEALTH, not Y */
  assert_int_equal(wraps, 2);
  assert_int_equal(pending, 2);
  s_rows_t r = s_read(s, GEMEENTE, 0, 100);
  assert_int_equal(r.n, 3);
  assert_int_equal(r.rows[0].id, health);
  assert_int_equal(r.rows[0].seq, 3);
  assert_int_equal(r.rows[1].id, own);
  assert_int_equal(r.rows[2].id, other);
  for (int i = 0; i < 3; i++)
    s_assert_wrap(&r.rows[i], GEMEENTE);
  r = s_latest(s, s_x, GEMEENTE);
  assert_int_equal(r.n, 3); /* STORY/coa v2, STORY/gemeente, HEALTH/coa */
  for (int i = 0; i < r.n; i++) {
    if (r.rows[i].id == story2)
      assert_false(r.rows[i].has_wrap);
    else
      s_assert_wrap(&r.rows[i], GEMEENTE);
  }
  r = s_latest(s, s_y, GEMEENTE);
  assert_int_equal(r.n, 1);
  s_assert_wrap(&r.rows[0], GEMEENTE);
  /* the mailbox head stays where it was: new entries get new seqs */
  s_assert_state(s, GEMEENTE, 0, 5);
  /* another recipient keeps everything */
  r = s_read(s, GGZ, 0, 100);
  assert_int_equal(r.n, 5);
  for (int i = 0; i < 5; i++) {
    assert_int_equal(r.rows[i].id, all[i]);
    s_assert_wrap(&r.rows[i], GGZ);
  }
  /* revoking again finds nothing more */
  assert_int_equal(
      store_revoke_access(s, GEMEENTE, s_x, KIND_STORY, COA, &wraps, &pending),
      0);
  assert_int_equal(wraps, 0);
  assert_int_equal(pending, 0);
  /* the author's own access is never revoked, even if asked */
  assert_int_equal(
      store_revoke_access(s, COA, s_x, KIND_STORY, COA, &wraps, &pending), 0);
  assert_int_equal(wraps, 0);
  assert_int_equal(pending, 0);
  r = s_read(s, COA, 0, 100);
  assert_int_equal(r.n, 1);
  assert_int_equal(r.rows[0].id, story2);
  s_assert_wrap(&r.rows[0], COA);
  store_close(&s);
}

static void test_sections_latest(void **state) {
  store_t *s = s_open(*state);
  assert_int_equal(store_begin(s), 0);
  int64_t v1 = s_section(s, s_x, KIND_STORY, COA, 1);
  int64_t v2 = s_section(s, s_x, KIND_STORY, COA, 2);
  /* versions need not be stored in order */
  int64_t v5 = s_section(s, s_x, KIND_STORY, COA, 5);
  int64_t v3 = s_section(s, s_x, KIND_STORY, COA, 3);
  int64_t g1 = s_section(s, s_x, KIND_STORY, GEMEENTE, 1);
  int64_t h1 = s_section(s, s_x, KIND_HEALTH, COA, 1);
  int64_t h2 = s_section(s, s_x, KIND_HEALTH, COA, 2);
  s_section(s, s_y, KIND_HOUSING, COA, 1);
  s_wrap(s, v1, GEMEENTE);
  s_wrap(s, v2, GEMEENTE);
  s_wrap(s, v5, GEMEENTE);
  s_wrap(s, v3, GEMEENTE);
  s_wrap(s, g1, GEMEENTE);
  s_wrap(s, h1, GEMEENTE); /* only the old HEALTH version */
  s_wrap(s, h2, GGZ);
  assert_int_equal(store_commit(s), 0);

  s_rows_t r = s_latest(s, s_x, GEMEENTE);
  assert_int_equal(r.n, 3);
  /* ordered by kind, then author */
  assert_int_equal(r.rows[0].id, v5);
  assert_int_equal(r.rows[0].version, 5);
  s_assert_wrap(&r.rows[0], GEMEENTE);
  assert_int_equal(r.rows[1].id, g1);
  assert_string_equal(r.rows[1].author, GEMEENTE);
  s_assert_wrap(&r.rows[1], GEMEENTE);
  assert_int_equal(r.rows[2].id, h2);
  assert_int_equal(r.rows[2].kind, KIND_HEALTH);
  assert_false(r.rows[2].has_wrap); /* it has a wrap of h1 only */
  for (int i = 0; i < r.n; i++) {
    assert_int_equal(r.rows[i].subject0, 'X');
    assert_int_equal(r.rows[i].seq, 0);
  }
  r = s_latest(s, s_x, GGZ);
  assert_int_equal(r.n, 3);
  assert_false(r.rows[0].has_wrap);
  assert_false(r.rows[1].has_wrap);
  s_assert_wrap(&r.rows[2], GGZ);
  r = s_latest(s, s_y, GEMEENTE);
  assert_int_equal(r.n, 1);
  assert_int_equal(r.rows[0].kind, KIND_HOUSING);
  uint8_t nobody[32] = {0};
  assert_int_equal(s_latest(s, nobody, GEMEENTE).n, 0);
  store_close(&s);
}

static void test_message_seen(void **state) {
  store_t *s = s_open(*state);
  uint8_t id[16], id2[16];
  memset(id, 0xab, sizeof id);
  memset(id2, 0xab, sizeof id2);
  id2[15] = 0xac;
  assert_int_equal(store_message_seen(s, COA, id, 1000), 0);
  assert_int_equal(store_message_seen(s, COA, id, 1001), 1);
  assert_int_equal(store_message_seen(s, COA, id, 5000), 1);
  /* the same id from another sender, another id from the same sender */
  assert_int_equal(store_message_seen(s, GEMEENTE, id, 1002), 0);
  assert_int_equal(store_message_seen(s, COA, id2, 1003), 0);
  assert_int_equal(store_message_seen(s, GEMEENTE, id, 1004), 1);
  store_close(&s);
}

/* ---- durability and rollback ------------------------------------------------- */

typedef struct {
  int64_t story, health;
} s_ids_t;

/* The committed state of test_durability_and_rollback, checked after
 * reopening and after rolled back transactions. */
static void s_check_committed(store_t *s, const s_ids_t *ids,
                              const consent_t *c1, const consent_t *c2) {
  consent_t got;
  assert_int_equal(store_consent_get(s, c1->consent_id, &got), 1);
  s_assert_consent(&got, c1);
  assert_int_equal(store_consent_get(s, c2->consent_id, &got), 1);
  s_assert_consent(&got, c2);
  uint8_t id3[CONSENT_ID_BYTES];
  memset(id3, 3, sizeof id3);
  assert_int_equal(store_consent_get(s, id3, &got), 0);
  consent_t *list = NULL;
  size_t n = 0;
  assert_int_equal(store_consents_live(s, s_x, NULL, NULL, &list, &n), 0);
  assert_int_equal(n, 2);
  free(list);
  uint64_t v;
  assert_int_equal(store_section_latest_version(s, s_x, KIND_STORY, COA, &v), 0);
  assert_int_equal(v, 1);
  assert_int_equal(store_subject_known(s, s_y), 0);
  s_assert_state(s, GEMEENTE, 1, 2);
  s_assert_state(s, GGZ, 0, 1);
  s_rows_t r = s_read(s, GEMEENTE, 0, 10);
  assert_int_equal(r.n, 1);
  assert_int_equal(r.rows[0].seq, 2);
  assert_int_equal(r.rows[0].id, ids->health);
  s_assert_wrap(&r.rows[0], GEMEENTE);
  r = s_read(s, GGZ, 0, 10);
  assert_int_equal(r.n, 1);
  assert_int_equal(r.rows[0].id, ids->story);
  s_assert_wrap(&r.rows[0], GGZ);
  r = s_latest(s, s_x, GEMEENTE);
  assert_int_equal(r.n, 2);
  s_assert_wrap(&r.rows[0], GEMEENTE);
  s_assert_wrap(&r.rows[1], GEMEENTE);
  uint8_t mid[16];
  memset(mid, 0x11, sizeof mid);
  assert_int_equal(store_message_seen(s, COA, mid, 2000), 1);
}

static void test_durability_and_rollback(void **state) {
  s_fixture_t *f = *state;
  store_t *s = s_open(f);
  consent_t c1 = s_consent(1, s_x, GEMEENTE, BIT(KIND_STORY) | BIT(KIND_HEALTH),
                           1000, 5000);
  consent_t c2 = s_consent(2, s_x, GGZ, BIT(KIND_STORY), 1000, 5000);
  s_ids_t ids;
  uint8_t mid[16];
  memset(mid, 0x11, sizeof mid);

  /* one committed batch, savepoints inside like the broker's requests */
  assert_int_equal(store_begin(s), 0);
  assert_int_equal(store_savepoint(s), 0);
  assert_int_equal(store_message_seen(s, COA, mid, 1000), 0);
  assert_int_equal(store_consent_put(s, &c1, (const uint8_t *)"r1", 2), 0);
  assert_int_equal(store_consent_put(s, &c2, (const uint8_t *)"r2", 2), 0);
  store_savepoint_release(s);
  assert_int_equal(store_savepoint(s), 0);
  ids.story = s_section(s, s_x, KIND_STORY, COA, 1);
  ids.health = s_section(s, s_x, KIND_HEALTH, COA, 1);
  s_wrap(s, ids.story, GEMEENTE);
  s_wrap(s, ids.health, GEMEENTE);
  s_wrap(s, ids.story, GGZ);
  assert_int_equal(s_push(s, GEMEENTE, ids.story), 1);
  assert_int_equal(s_push(s, GGZ, ids.story), 1);
  store_savepoint_release(s);
  /* a request that failed half way: its savepoint is rolled back */
  assert_int_equal(store_savepoint(s), 0);
  int64_t lost = s_section(s, s_y, KIND_STORY, COA, 1);
  s_wrap(s, lost, GEMEENTE);
  assert_int_equal(s_push(s, GEMEENTE, lost), 2);
  store_savepoint_rollback(s);
  /* the next one reuses the seq the rolled back one had taken */
  assert_int_equal(store_savepoint(s), 0);
  assert_int_equal(s_push(s, GEMEENTE, ids.health), 2);
  assert_int_equal(store_mailbox_ack(s, GEMEENTE, 1), 0);
  store_savepoint_release(s);
  assert_int_equal(store_commit(s), 0);
  s_check_committed(s, &ids, &c1, &c2);

  /* committed means durable: all of it is there after reopening */
  store_close(&s);
  assert_null(s);
  s = s_open(f);
  s_check_committed(s, &ids, &c1, &c2);

  /* a batch rolled back leaves nothing behind */
  consent_t c3 = s_consent(3, s_y, GEMEENTE, BIT(KIND_STORY), 0, 9000);
  uint8_t mid2[16];
  memset(mid2, 0x22, sizeof mid2);
  int64_t wraps, pending;
  assert_int_equal(store_begin(s), 0);
  assert_int_equal(store_message_seen(s, COA, mid2, 3000), 0);
  assert_int_equal(store_consent_put(s, &c3, (const uint8_t *)"r3", 2), 0);
  assert_int_equal(store_consent_revoke(s, c1.consent_id, 3000, COA,
                                        (const uint8_t *)"rv", 2),
                   0);
  assert_int_equal(store_consent_mark_expired(s, c2.consent_id), 0);
  int64_t v2 = s_section(s, s_x, KIND_STORY, COA, 2);
  s_section(s, s_y, KIND_STORY, COA, 1);
  s_wrap(s, v2, GEMEENTE);
  assert_int_equal(s_push(s, GEMEENTE, v2), 3);
  assert_int_equal(s_push(s, COA, v2), 1);
  assert_int_equal(store_mailbox_ack(s, GEMEENTE, 3), 0);
  assert_int_equal(
      store_revoke_access(s, GGZ, s_x, KIND_STORY, COA, &wraps, &pending), 0);
  assert_int_equal(wraps, 1);
  assert_int_equal(pending, 1);
  store_rollback(s);
  s_check_committed(s, &ids, &c1, &c2);
  s_assert_state(s, COA, 0, 0);
  consent_t *list = NULL;
  size_t n = 0;
  assert_int_equal(store_consents_expired(s, 10000, 10, &list, &n), 0);
  assert_int_equal(n, 2); /* c2's expiry mark was rolled back too */
  free(list);
  assert_int_equal(store_message_seen(s, COA, mid2, 3001), 0);

  /* and after reopening, still only the committed state */
  store_close(&s);
  s = s_open(f);
  s_check_committed(s, &ids, &c1, &c2);
  s_assert_state(s, COA, 0, 0);
  store_close(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_consents, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_sections_and_versions, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_wraps, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_mailboxes, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_mailbox_without_wrap, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_notices, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_revoke_access, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_sections_latest, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_message_seen, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_durability_and_rollback, s_setup,
                                      s_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
