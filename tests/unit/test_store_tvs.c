/* Unit tests of the schema-4 store (issue 7): TVS events, the links of
 * subjects to gemeenten (at most one active per subject, enforced by the
 * store's own unique partial index), the taakstelling figures, rewrap
 * requests, the highest wrapped version, sections by id, the mailbox items
 * that carry a TVS event copy or a rewrap request, and the upgrade from
 * schema 3, on a temporary SQLite store. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "store.h"

#define KIND_STORY 3
#define KIND_HOUSING 8
#define KIND_HEALTH 10
#define BIT(k) (UINT64_C(1) << (k))

/* keten.TvsEventKind, written out (the store keeps what it is given). */
enum { TVS_KOPPELING = 1, TVS_ONTKOPPELING, TVS_HUISVESTING, TVS_VERHUIZING,
       TVS_TAAKSTELLING };

#define COA "coa"
#define GEM "gemeente:0363"
#define GEM2 "gemeente:0344"
#define GGZ "ggz:parnassia"
#define VWN "vrijwilliger:vwn"
#define TVS "tvs:rijk"
#define P1 "2025-1"
#define P2 "2025-2"

static const uint8_t s_x[32] = {'X', 1, 2, 3};
static const uint8_t s_y[32] = {'Y', 1, 2, 3};

/* ---- fixture --------------------------------------------------------------- */

typedef struct {
  char dir[64];
  char path[128];
} s_fixture_t;

static int s_setup(void **state) {
  s_fixture_t *f = calloc(1, sizeof *f);
  if (!f)
    return -1;
  snprintf(f->dir, sizeof f->dir, "/tmp/keten-tvs-XXXXXX");
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

/* One number from the store file, through a connection of its own. */
static long long s_num(const s_fixture_t *f, const char *sql) {
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
    fail_msg("%s: %s", sql, sqlite3_errmsg(db));
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  long long v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

/* ---- helpers ---------------------------------------------------------------- */

/* An event id whose bytes say which it is. */
static void s_event_id(uint8_t id[16], uint8_t n) {
  memset(id, 0xe0, 16);
  id[0] = n;
}

/* Stores TVS event n (its record "event n <tail>"); returns its row. */
static int64_t s_event(store_t *s, uint8_t n, int kind) {
  uint8_t id[16];
  s_event_id(id, n);
  char record[32], entry[32];
  snprintf(record, sizeof record, "event %u", (unsigned)n);
  snprintf(entry, sizeof entry, "entry of %s", TVS);
  int64_t row = -1;
  int same = -1;
  assert_int_equal(store_tvs_event_put(s, id, kind, TVS,
                                       (const uint8_t *)record, strlen(record),
                                       (const uint8_t *)entry, strlen(entry),
                                       5000 + n, &row, &same),
                   0);
  assert_true(row > 0);
  return row;
}

static store_tvs_link_t s_link(const uint8_t subject[32], const char *gemeente,
                               const char *period, int64_t koppeling_id,
                               int64_t at_ms) {
  store_tvs_link_t l;
  memset(&l, 0, sizeof l);
  memcpy(l.subject, subject, 32);
  snprintf(l.gemeente, sizeof l.gemeente, "%s", gemeente);
  snprintf(l.period, sizeof l.period, "%s", period);
  snprintf(l.linked_date, sizeof l.linked_date, "2025-%02d-%02d",
           1 + (int)(at_ms % 12), 1 + (int)(at_ms % 28));
  l.household_size = 1 + (uint32_t)(at_ms % 7);
  l.koppeling_id = koppeling_id;
  l.linked_at_ms = at_ms;
  return l;
}

static void s_assert_link(const store_tvs_link_t *got,
                          const store_tvs_link_t *want,
                          const char *housed_date, uint8_t event_n) {
  assert_memory_equal(got->subject, want->subject, 32);
  assert_string_equal(got->gemeente, want->gemeente);
  assert_string_equal(got->period, want->period);
  assert_string_equal(got->linked_date, want->linked_date);
  assert_int_equal(got->household_size, want->household_size);
  assert_string_equal(got->housed_date, housed_date);
  assert_int_equal(got->koppeling_id, want->koppeling_id);
  uint8_t id[16];
  s_event_id(id, event_n);
  assert_memory_equal(got->koppeling_event_id, id, 16);
  assert_int_equal(got->linked_at_ms, want->linked_at_ms);
}

/* A subject whose first byte is n. */
static void s_subject(uint8_t out[32], uint8_t n) {
  memset(out, 0x5a, 32);
  out[0] = n;
}

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
  memset(sec.author_signing_pk, 0xa0 + kind, 32);
  int64_t id = -1;
  assert_int_equal(store_section_put(s, &sec, &id), 0);
  assert_true(id > 0);
  return id;
}

static void s_wrap(store_t *s, int64_t id, const char *recipient) {
  char w[96];
  snprintf(w, sizeof w, "wrap %lld for %s", (long long)id, recipient);
  assert_int_equal(
      store_wrap_put(s, id, recipient, (const uint8_t *)w, strlen(w)), 0);
}

/* Stores a notice-table item (kind, payload) in recipient's mailbox;
 * returns its seq. */
static uint64_t s_push_item(store_t *s, const char *recipient, int kind,
                            const uint8_t subject[32], const char *payload,
                            int64_t at_ms) {
  store_notice_t n;
  memset(&n, 0, sizeof n);
  n.kind = kind;
  if (subject)
    memcpy(n.subject, subject, 32);
  n.payload = (const uint8_t *)payload;
  n.payload_len = strlen(payload);
  n.created_at_ms = at_ms;
  uint64_t seq = 0;
  assert_int_equal(store_notice_push(s, recipient, &n, &seq), 0);
  return seq;
}

/* ---- TVS events ------------------------------------------------------------- */

static void test_schema_version(void **state) {
  store_t *s = s_open(*state);
  assert_true(store_schema_latest() >= 4);
  assert_int_equal(store_schema_version(s), store_schema_latest());
  store_close(&s);
  /* the tables and the two partial unique indexes are there */
  assert_int_equal(s_num(*state, "SELECT count(*) FROM sqlite_master WHERE "
                                 "type = 'table' AND name IN ('tvs_event', "
                                 "'tvs_link', 'tvs_target', 'rewrap')"),
                   4);
  assert_int_equal(s_num(*state, "SELECT count(*) FROM sqlite_master WHERE "
                                 "type = 'index' AND name IN "
                                 "('tvs_link_active', 'rewrap_pending') AND "
                                 "sql LIKE '%UNIQUE%WHERE%'"),
                   2);
}

static void test_tvs_event_put_find(void **state) {
  store_t *s = s_open(*state);
  uint8_t a[16], b[16], unknown[16];
  s_event_id(a, 1);
  s_event_id(b, 2);
  s_event_id(unknown, 9);
  const uint8_t rec_a[] = "record of a", rec_a2[] = "record of A",
                entry[] = "publisher entry";
  int64_t row_a = -1, row_b = -1, row = 77;
  int same = -1;

  assert_int_equal(store_begin(s), 0);
  assert_int_equal(store_tvs_event_put(s, a, TVS_KOPPELING, TVS, rec_a,
                                       sizeof rec_a, entry, sizeof entry, 1000,
                                       &row_a, &same),
                   0);
  assert_true(row_a > 0);
  assert_int_equal(same, 0);
  /* the same event again: found, identical, nothing added, *id untouched */
  same = -1;
  assert_int_equal(store_tvs_event_put(s, a, TVS_KOPPELING, TVS, rec_a,
                                       sizeof rec_a, entry, sizeof entry, 2000,
                                       &row, &same),
                   1);
  assert_int_equal(same, 1);
  assert_int_equal(row, 77);
  /* another event under the same id: found, not identical, not stored */
  same = -1;
  assert_int_equal(store_tvs_event_put(s, a, TVS_HUISVESTING, TVS, rec_a2,
                                       sizeof rec_a2, entry, sizeof entry, 3000,
                                       &row, &same),
                   1);
  assert_int_equal(same, 0);
  /* a prefix of the record is not the record, nor a longer one */
  same = -1;
  assert_int_equal(store_tvs_event_put(s, a, TVS_KOPPELING, TVS, rec_a,
                                       sizeof rec_a - 1, entry, sizeof entry,
                                       3000, &row, &same),
                   1);
  assert_int_equal(same, 0);
  assert_int_equal(row, 77);
  assert_int_equal(store_tvs_event_put(s, b, TVS_TAAKSTELLING, TVS, rec_a2,
                                       sizeof rec_a2, entry, sizeof entry, 4000,
                                       &row_b, &same),
                   0);
  assert_true(row_b > row_a);
  assert_int_equal(store_commit(s), 0);

  /* find: same bytes, other bytes, unknown id */
  same = -1;
  assert_int_equal(store_tvs_event_find(s, a, rec_a, sizeof rec_a, &same), 1);
  assert_int_equal(same, 1);
  same = -1;
  assert_int_equal(store_tvs_event_find(s, a, rec_a2, sizeof rec_a2, &same), 1);
  assert_int_equal(same, 0);
  same = -1;
  assert_int_equal(store_tvs_event_find(s, a, rec_a, 0, &same), 1);
  assert_int_equal(same, 0);
  same = -1;
  assert_int_equal(store_tvs_event_find(s, unknown, rec_a, sizeof rec_a, &same),
                   0);
  assert_int_equal(same, 0);
  /* b's record is the bytes a's second attempt had: b matches them */
  assert_int_equal(store_tvs_event_find(s, b, rec_a2, sizeof rec_a2, &same), 1);
  assert_int_equal(same, 1);
  store_close(&s);

  /* exactly two rows, the first as first put */
  assert_int_equal(s_num(*state, "SELECT count(*) FROM tvs_event"), 2);
  char sql[160];
  snprintf(sql, sizeof sql,
           "SELECT kind = %d AND published_by = '%s' AND received_at_ms = 1000 "
           "FROM tvs_event WHERE id = %lld",
           TVS_KOPPELING, TVS, (long long)row_a);
  assert_int_equal(s_num(*state, sql), 1);
}

static void test_tvs_event_record(void **state) {
  store_t *s = s_open(*state);
  uint8_t id[16];
  s_event_id(id, 3);
  /* bytes with NULs in them, and an entry that differs from the record */
  uint8_t record[300], entry[200];
  for (size_t i = 0; i < sizeof record; i++)
    record[i] = (uint8_t)(i * 7);
  for (size_t i = 0; i < sizeof entry; i++)
    entry[i] = (uint8_t)(255 - i);
  int64_t row = -1;
  int same = -1;
  assert_int_equal(store_tvs_event_put(s, id, TVS_KOPPELING, TVS, record,
                                       sizeof record, entry, sizeof entry, 1,
                                       &row, &same),
                   0);
  store_close(&s);
  s = s_open(*state); /* what was put without a transaction is durable */
  uint8_t *r = NULL, *e = NULL;
  size_t rl = 0, el = 0;
  assert_int_equal(store_tvs_event_record(s, row, &r, &rl, &e, &el), 1);
  assert_non_null(r);
  assert_non_null(e);
  assert_int_equal(rl, sizeof record);
  assert_int_equal(el, sizeof entry);
  assert_memory_equal(r, record, sizeof record);
  assert_memory_equal(e, entry, sizeof entry);
  free(r);
  free(e);
  /* an unknown row: 0, nothing allocated */
  r = e = (uint8_t *)"x";
  rl = el = 5;
  assert_int_equal(store_tvs_event_record(s, row + 100, &r, &rl, &e, &el), 0);
  assert_null(r);
  assert_null(e);
  assert_int_equal(rl, 0);
  assert_int_equal(el, 0);
  store_close(&s);
}

static void test_tvs_event_rollback(void **state) {
  store_t *s = s_open(*state);
  uint8_t id[16];
  s_event_id(id, 4);
  int64_t row = 0;
  int same = 0;
  assert_int_equal(store_begin(s), 0);
  assert_int_equal(store_savepoint(s), 0);
  assert_int_equal(store_tvs_event_put(s, id, TVS_KOPPELING, TVS,
                                       (const uint8_t *)"r", 1,
                                       (const uint8_t *)"e", 1, 1, &row, &same),
                   0);
  store_savepoint_rollback(s);
  assert_int_equal(store_tvs_event_find(s, id, (const uint8_t *)"r", 1, &same),
                   0);
  assert_int_equal(store_commit(s), 0);
  store_close(&s);
  assert_int_equal(s_num(*state, "SELECT count(*) FROM tvs_event"), 0);
}

/* ---- links ------------------------------------------------------------------ */

static void test_tvs_link_lifecycle(void **state) {
  store_t *s = s_open(*state);
  store_tvs_link_t got;
  assert_int_equal(store_tvs_link_active(s, s_x, &got), 0);

  assert_int_equal(store_begin(s), 0);
  int64_t k1 = s_event(s, 1, TVS_KOPPELING);
  store_tvs_link_t l1 = s_link(s_x, GEM, P1, k1, 10000);
  assert_int_equal(store_tvs_link_start(s, &l1), 0);
  assert_int_equal(store_commit(s), 0);
  memset(&got, 0x55, sizeof got);
  assert_int_equal(store_tvs_link_active(s, s_x, &got), 1);
  s_assert_link(&got, &l1, "", 1);
  /* another subject is not linked */
  assert_int_equal(store_tvs_link_active(s, s_y, &got), 0);

  /* a second active link of X, to anyone, is refused by the store */
  assert_int_equal(store_begin(s), 0);
  int64_t k2 = s_event(s, 2, TVS_KOPPELING);
  store_tvs_link_t l2 = s_link(s_x, GEM2, P2, k2, 11000);
  assert_int_equal(store_savepoint(s), 0);
  assert_int_equal(store_tvs_link_start(s, &l2), -1);
  store_savepoint_rollback(s);
  store_tvs_link_t again = s_link(s_x, GEM, P1, k2, 11000);
  assert_int_equal(store_savepoint(s), 0);
  assert_int_equal(store_tvs_link_start(s, &again), -1);
  store_savepoint_rollback(s);
  assert_int_equal(store_commit(s), 0);
  assert_int_equal(store_tvs_link_active(s, s_x, &got), 1);
  s_assert_link(&got, &l1, "", 1);
  assert_int_equal(s_num(*state, "SELECT count(*) FROM tvs_link"), 1);

  /* a link must name a stored KOPPELING row */
  store_tvs_link_t dangling = s_link(s_y, GEM, P1, k2 + 1000, 12000);
  assert_int_equal(store_tvs_link_start(s, &dangling), -1);
  assert_int_equal(store_tvs_link_active(s, s_y, &got), 0);

  /* housed: the date goes on the active link */
  assert_int_equal(store_tvs_link_housed(s, s_x, "2025-03-14"), 0);
  assert_int_equal(store_tvs_link_active(s, s_x, &got), 1);
  s_assert_link(&got, &l1, "2025-03-14", 1);

  /* ended by an ONTKOPPELING: no active link any more */
  assert_int_equal(store_begin(s), 0);
  int64_t o1 = s_event(s, 3, TVS_ONTKOPPELING);
  assert_int_equal(store_tvs_link_end(s, s_x, o1, 13000), 0);
  assert_int_equal(store_commit(s), 0);
  assert_int_equal(store_tvs_link_active(s, s_x, &got), 0);
  char sql[200];
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM tvs_link WHERE koppeling_id = %lld AND "
           "ended_by = %lld AND ended_at_ms = 13000 AND housed_date = "
           "'2025-03-14'",
           (long long)k1, (long long)o1);
  assert_int_equal(s_num(*state, sql), 1);

  /* with nothing active, ending and housing change nothing */
  int rc = store_tvs_link_end(s, s_x, o1, 14000);
  assert_true(rc == 0 || rc == -1);
  rc = store_tvs_link_housed(s, s_x, "2025-04-01");
  assert_true(rc == 0 || rc == -1);
  assert_int_equal(s_num(*state, sql), 1);
  assert_int_equal(s_num(*state, "SELECT count(*) FROM tvs_link WHERE "
                                 "housed_date = '2025-04-01'"),
                   0);

  /* now X may be linked again, to another gemeente */
  assert_int_equal(store_tvs_link_start(s, &l2), 0);
  assert_int_equal(store_tvs_link_active(s, s_x, &got), 1);
  s_assert_link(&got, &l2, "", 2);
  /* ending it touches only the active link, not the ended one */
  assert_int_equal(store_begin(s), 0);
  int64_t o2 = s_event(s, 4, TVS_VERHUIZING);
  assert_int_equal(store_tvs_link_end(s, s_x, o2, 15000), 0);
  assert_int_equal(store_commit(s), 0);
  assert_int_equal(s_num(*state, sql), 1);
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM tvs_link WHERE koppeling_id = %lld AND "
           "ended_by = %lld AND ended_at_ms = 15000",
           (long long)k2, (long long)o2);
  assert_int_equal(s_num(*state, sql), 1);
  assert_int_equal(s_num(*state, "SELECT count(*) FROM tvs_link WHERE "
                                 "ended_by IS NULL"),
                   0);
  store_close(&s);

  /* the unique index holds for anyone writing to the file */
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(((s_fixture_t *)*state)->path, &db), SQLITE_OK);
  char ins[300];
  snprintf(ins, sizeof ins,
           "INSERT INTO tvs_link (subject, gemeente, period, linked_date, "
           "household_size, koppeling_id, linked_at_ms) VALUES (x'%s', '%s', "
           "'%s', '2025-01-01', 1, %lld, 1)",
           "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a",
           GEM, P1, (long long)k1);
  assert_int_equal(sqlite3_exec(db, ins, NULL, NULL, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, ins, NULL, NULL, NULL), SQLITE_CONSTRAINT);
  sqlite3_close(db);
}

typedef struct {
  size_t n, stop_after;
  store_tvs_link_t rows[16];
} s_links_t;

static int s_collect_link(const store_tvs_link_t *l, void *arg) {
  s_links_t *c = arg;
  assert_true(c->n < 16);
  c->rows[c->n++] = *l;
  return c->stop_after && c->n >= c->stop_after;
}

static s_links_t s_links_of(store_t *s, const char *gemeente,
                            const char *period, size_t max) {
  s_links_t c;
  memset(&c, 0, sizeof c);
  assert_int_equal(store_tvs_links_of(s, gemeente, period, max, s_collect_link,
                                      &c),
                   0);
  return c;
}

static void test_tvs_links_of(void **state) {
  store_t *s = s_open(*state);
  /* subjects 1..8: 1-5 to GEM (1, 2, 4 in P1; 3, 5 in P2), 6-7 to GEM2
   * (P1), 8 to GEM in P1 but ended; 2 is relinked after 5 */
  uint8_t sub[9][32];
  store_tvs_link_t l[10];
  const char *gem[9] = {NULL, GEM, GEM, GEM, GEM, GEM, GEM2, GEM2, GEM};
  const char *per[9] = {NULL, P1, P1, P2, P1, P2, P1, P1, P1};
  assert_int_equal(store_begin(s), 0);
  for (uint8_t i = 1; i <= 8; i++) {
    s_subject(sub[i], i);
    int64_t k = s_event(s, i, TVS_KOPPELING);
    l[i] = s_link(sub[i], gem[i], per[i], k, 1000 * i);
    assert_int_equal(store_tvs_link_start(s, &l[i]), 0);
  }
  int64_t end8 = s_event(s, 20, TVS_ONTKOPPELING);
  assert_int_equal(store_tvs_link_end(s, sub[8], end8, 9000), 0);
  int64_t end2 = s_event(s, 21, TVS_ONTKOPPELING);
  assert_int_equal(store_tvs_link_end(s, sub[2], end2, 9100), 0);
  int64_t k2 = s_event(s, 22, TVS_KOPPELING);
  l[9] = s_link(sub[2], GEM, P1, k2, 9200);
  assert_int_equal(store_tvs_link_start(s, &l[9]), 0);
  assert_int_equal(store_commit(s), 0);

  /* all of GEM's active links, oldest first; 8 ended, 2 at its new place */
  s_links_t c = s_links_of(s, GEM, NULL, 100);
  assert_int_equal(c.n, 5);
  s_assert_link(&c.rows[0], &l[1], "", 1);
  s_assert_link(&c.rows[1], &l[3], "", 3);
  s_assert_link(&c.rows[2], &l[4], "", 4);
  s_assert_link(&c.rows[3], &l[5], "", 5);
  s_assert_link(&c.rows[4], &l[9], "", 22);
  /* of one period */
  c = s_links_of(s, GEM, P1, 100);
  assert_int_equal(c.n, 3);
  s_assert_link(&c.rows[0], &l[1], "", 1);
  s_assert_link(&c.rows[1], &l[4], "", 4);
  s_assert_link(&c.rows[2], &l[9], "", 22);
  c = s_links_of(s, GEM, P2, 100);
  assert_int_equal(c.n, 2);
  s_assert_link(&c.rows[0], &l[3], "", 3);
  s_assert_link(&c.rows[1], &l[5], "", 5);
  c = s_links_of(s, GEM2, NULL, 100);
  assert_int_equal(c.n, 2);
  s_assert_link(&c.rows[0], &l[6], "", 6);
  s_assert_link(&c.rows[1], &l[7], "", 7);
  c = s_links_of(s, GEM2, P2, 100);
  assert_int_equal(c.n, 0);
  /* nobody else's, no prefix match */
  assert_int_equal(s_links_of(s, "gemeente:036", NULL, 100).n, 0);
  assert_int_equal(s_links_of(s, GGZ, P1, 100).n, 0);
  assert_int_equal(s_links_of(s, GEM, "2025", 100).n, 0);
  /* at most max: the oldest ones */
  c = s_links_of(s, GEM, NULL, 2);
  assert_int_equal(c.n, 2);
  s_assert_link(&c.rows[0], &l[1], "", 1);
  s_assert_link(&c.rows[1], &l[3], "", 3);
  c = s_links_of(s, GEM, P1, 1);
  assert_int_equal(c.n, 1);
  s_assert_link(&c.rows[0], &l[1], "", 1);
  assert_int_equal(s_links_of(s, GEM, NULL, 0).n, 0);
  /* fn returning non-zero stops */
  memset(&c, 0, sizeof c);
  c.stop_after = 3;
  assert_int_equal(store_tvs_links_of(s, GEM, NULL, 100, s_collect_link, &c), 0);
  assert_int_equal(c.n, 3);
  /* a housed link lists with its date */
  assert_int_equal(store_tvs_link_housed(s, sub[4], "2025-06-30"), 0);
  c = s_links_of(s, GEM, P1, 100);
  assert_int_equal(c.n, 3);
  s_assert_link(&c.rows[1], &l[4], "2025-06-30", 4);
  store_close(&s);
}

static void s_assert_counts(store_t *s, const char *gemeente,
                            const char *period, uint32_t linked,
                            uint32_t housed) {
  uint32_t l = 999, h = 999;
  assert_int_equal(store_tvs_counts(s, gemeente, period, &l, &h), 0);
  assert_int_equal(l, linked);
  assert_int_equal(h, housed);
}

static void test_tvs_counts(void **state) {
  store_t *s = s_open(*state);
  s_assert_counts(s, GEM, P1, 0, 0);
  /* GEM, P1: A active, B active and housed, C housed then ended, D ended
   * unhoused; GEM, P2: E housed; GEM2, P1: F active */
  uint8_t sub[7][32];
  const char *gem[7] = {NULL, GEM, GEM, GEM, GEM, GEM, GEM2};
  const char *per[7] = {NULL, P1, P1, P1, P1, P2, P1};
  assert_int_equal(store_begin(s), 0);
  for (uint8_t i = 1; i <= 6; i++) {
    s_subject(sub[i], i);
    store_tvs_link_t l = s_link(sub[i], gem[i], per[i],
                                s_event(s, i, TVS_KOPPELING), 100 * i);
    assert_int_equal(store_tvs_link_start(s, &l), 0);
  }
  assert_int_equal(store_tvs_link_housed(s, sub[2], "2025-02-01"), 0);
  assert_int_equal(store_tvs_link_housed(s, sub[3], "2025-02-02"), 0);
  assert_int_equal(store_tvs_link_housed(s, sub[5], "2025-08-01"), 0);
  assert_int_equal(store_tvs_link_end(s, sub[3], s_event(s, 30, TVS_VERHUIZING),
                                      5000),
                   0);
  assert_int_equal(store_tvs_link_end(s, sub[4],
                                      s_event(s, 31, TVS_ONTKOPPELING), 5000),
                   0);
  assert_int_equal(store_commit(s), 0);
  s_assert_counts(s, GEM, P1, 2, 2);
  s_assert_counts(s, GEM, P2, 1, 1);
  s_assert_counts(s, GEM2, P1, 1, 0);
  s_assert_counts(s, GEM2, P2, 0, 0);
  s_assert_counts(s, GEM, "2024-2", 0, 0);
  s_assert_counts(s, "gemeente:036", P1, 0, 0);
  /* C linked again to GEM in P1: one more active; its old housing still
   * counts, the new link is not housed yet */
  store_tvs_link_t again =
      s_link(sub[3], GEM, P1, s_event(s, 32, TVS_KOPPELING), 6000);
  assert_int_equal(store_tvs_link_start(s, &again), 0);
  s_assert_counts(s, GEM, P1, 3, 2);
  assert_int_equal(store_tvs_link_housed(s, sub[3], "2025-09-09"), 0);
  s_assert_counts(s, GEM, P1, 3, 3);
  store_close(&s);
}

static void test_tvs_target(void **state) {
  store_t *s = s_open(*state);
  uint32_t t = 7, r = 7;
  int64_t at = 7;
  assert_int_equal(store_tvs_target_get(s, GEM, P1, &t, &r, &at), 0);
  assert_int_equal(t, 0);
  assert_int_equal(r, 0);
  assert_int_equal(at, 0);
  assert_int_equal(store_tvs_target_put(s, GEM, P1, 120, 15, 1000), 0);
  assert_int_equal(store_tvs_target_get(s, GEM, P1, &t, &r, &at), 1);
  assert_int_equal(t, 120);
  assert_int_equal(r, 15);
  assert_int_equal(at, 1000);
  /* the latest replaces it */
  assert_int_equal(store_tvs_target_put(s, GEM, P1, 130, 40, 2000), 0);
  assert_int_equal(store_tvs_target_get(s, GEM, P1, &t, &r, &at), 1);
  assert_int_equal(t, 130);
  assert_int_equal(r, 40);
  assert_int_equal(at, 2000);
  /* other (gemeente, period) pairs are their own; zero and the largest
   * values round-trip */
  assert_int_equal(store_tvs_target_put(s, GEM, P2, 0, 0, 3000), 0);
  assert_int_equal(store_tvs_target_put(s, GEM2, P1, UINT32_MAX,
                                        UINT32_MAX - 1, 4000),
                   0);
  assert_int_equal(store_tvs_target_get(s, GEM, P2, &t, &r, &at), 1);
  assert_int_equal(t, 0);
  assert_int_equal(r, 0);
  assert_int_equal(at, 3000);
  assert_int_equal(store_tvs_target_get(s, GEM2, P1, &t, &r, &at), 1);
  assert_int_equal(t, UINT32_MAX);
  assert_int_equal(r, UINT32_MAX - 1);
  assert_int_equal(at, 4000);
  assert_int_equal(store_tvs_target_get(s, GEM, P1, &t, &r, &at), 1);
  assert_int_equal(t, 130);
  assert_int_equal(store_tvs_target_get(s, GEM2, P2, &t, &r, &at), 0);
  store_close(&s);
  assert_int_equal(s_num(*state, "SELECT count(*) FROM tvs_target"), 3);
}

/* ---- rewrap requests --------------------------------------------------------- */

static store_rewrap_t s_rewrap(int64_t section_id, const uint8_t subject[32],
                               int kind, const char *author,
                               const char *recipient, int64_t at_ms) {
  store_rewrap_t r;
  memset(&r, 0, sizeof r);
  r.section_id = section_id;
  memcpy(r.subject, subject, 32);
  r.kind = kind;
  snprintf(r.author, sizeof r.author, "%s", author);
  snprintf(r.recipient, sizeof r.recipient, "%s", recipient);
  r.state = 99; /* ignored: a new request is pending */
  r.created_at_ms = at_ms;
  return r;
}

static void s_assert_rewrap(store_t *s, int64_t id, const store_rewrap_t *want,
                            int state) {
  store_rewrap_t got;
  memset(&got, 0x33, sizeof got);
  assert_int_equal(store_rewrap_get(s, id, &got), 1);
  assert_int_equal(got.id, id);
  assert_int_equal(got.section_id, want->section_id);
  assert_memory_equal(got.subject, want->subject, 32);
  assert_int_equal(got.kind, want->kind);
  assert_string_equal(got.author, want->author);
  assert_string_equal(got.recipient, want->recipient);
  assert_int_equal(got.state, state);
  assert_int_equal(got.created_at_ms, want->created_at_ms);
}

/* Adds request r as the broker does: stored, put in its author's mailbox,
 * the seq of that entry recorded. Returns its id; *seq the entry's. */
static int64_t s_queue(store_t *s, const store_rewrap_t *r, uint64_t *seq) {
  int64_t id = 0;
  assert_int_equal(store_rewrap_add(s, r, &id), 0);
  assert_true(id > 0);
  char payload[32];
  snprintf(payload, sizeof payload, "rewrap %lld", (long long)id);
  uint64_t q = s_push_item(s, r->author, STORE_ITEM_REWRAP, r->subject,
                           payload, r->created_at_ms);
  assert_int_equal(store_rewrap_queued(s, id, q), 0);
  if (seq)
    *seq = q;
  return id;
}

static void test_rewrap(void **state) {
  store_t *s = s_open(*state);
  assert_int_equal(store_begin(s), 0);
  int64_t story = s_section(s, s_x, KIND_STORY, COA, 1);
  int64_t housing = s_section(s, s_x, KIND_HOUSING, COA, 1);
  int64_t support = s_section(s, s_x, 11, VWN, 1);
  int64_t other = s_section(s, s_y, KIND_STORY, COA, 1);
  assert_int_equal(store_commit(s), 0);

  store_rewrap_t a = s_rewrap(story, s_x, KIND_STORY, COA, GEM, 100);
  store_rewrap_t b = s_rewrap(housing, s_x, KIND_HOUSING, COA, GEM, 101);
  store_rewrap_t c = s_rewrap(support, s_x, 11, VWN, GEM, 102);
  store_rewrap_t d = s_rewrap(story, s_x, KIND_STORY, COA, GEM2, 103);
  store_rewrap_t e = s_rewrap(other, s_y, KIND_STORY, COA, GEM, 104);
  int64_t ia = s_queue(s, &a, NULL), ib = s_queue(s, &b, NULL),
          ic = s_queue(s, &c, NULL), id = s_queue(s, &d, NULL),
          ie = s_queue(s, &e, NULL);
  assert_true(ia > 0 && ib > ia && ic > ib && id > ic && ie > id);
  s_assert_rewrap(s, ia, &a, STORE_REWRAP_PENDING);
  s_assert_rewrap(s, id, &d, STORE_REWRAP_PENDING);
  s_assert_rewrap(s, ie, &e, STORE_REWRAP_PENDING);
  /* one pending request per (section, recipient): a second is refused
   * with 1, adds nothing and leaves *id alone */
  int64_t dup = 4242;
  store_rewrap_t a2 = s_rewrap(story, s_x, KIND_STORY, COA, GEM, 999);
  assert_int_equal(store_rewrap_add(s, &a2, &dup), 1);
  assert_int_equal(dup, 4242);
  s_assert_rewrap(s, ia, &a, STORE_REWRAP_PENDING); /* the first, unchanged */
  /* a request for a section that does not exist */
  store_rewrap_t gone = s_rewrap(other + 1000, s_x, KIND_STORY, COA, GEM, 1);
  assert_int_equal(store_rewrap_add(s, &gone, &dup), -1);
  store_rewrap_t got;
  assert_int_equal(store_rewrap_get(s, ie + 1000, &got), 0);

  /* finish: only from pending */
  assert_int_equal(store_rewrap_finish(s, ia, STORE_REWRAP_DONE, 200), 0);
  s_assert_rewrap(s, ia, &a, STORE_REWRAP_DONE);
  assert_int_equal(store_rewrap_finish(s, ia, STORE_REWRAP_REFUSED, 201), -1);
  assert_int_equal(store_rewrap_finish(s, ia, STORE_REWRAP_DONE, 201), -1);
  s_assert_rewrap(s, ia, &a, STORE_REWRAP_DONE);
  assert_int_equal(store_rewrap_finish(s, ie + 1000, STORE_REWRAP_DONE, 201),
                   -1);
  assert_int_equal(store_rewrap_finish(s, ib, STORE_REWRAP_REFUSED, 202), 0);
  s_assert_rewrap(s, ib, &b, STORE_REWRAP_REFUSED);
  /* once answered, the same (section, recipient) may be asked again */
  int64_t ia2 = s_queue(s, &a2, NULL);
  assert_true(ia2 > ie);
  s_assert_rewrap(s, ia2, &a2, STORE_REWRAP_PENDING);

  /* cancel GEM's pending ones of X by COA: a2 only (c is VWN's, d is
   * GEM2's, e is Y's, a and b are answered) */
  int64_t n = -1;
  assert_int_equal(store_rewrap_cancel(s, s_x, GEM, COA, 300, &n), 0);
  assert_int_equal(n, 1);
  s_assert_rewrap(s, ia2, &a2, STORE_REWRAP_CANCELLED);
  s_assert_rewrap(s, ic, &c, STORE_REWRAP_PENDING);
  s_assert_rewrap(s, id, &d, STORE_REWRAP_PENDING);
  s_assert_rewrap(s, ie, &e, STORE_REWRAP_PENDING);
  s_assert_rewrap(s, ia, &a, STORE_REWRAP_DONE);
  s_assert_rewrap(s, ib, &b, STORE_REWRAP_REFUSED);
  /* a cancelled request cannot be answered */
  assert_int_equal(store_rewrap_finish(s, ia2, STORE_REWRAP_DONE, 301), -1);
  /* again: nothing left of COA's */
  n = -1;
  assert_int_equal(store_rewrap_cancel(s, s_x, GEM, COA, 302, &n), 0);
  assert_int_equal(n, 0);
  /* every author's: c goes; d (GEM2) and e (Y) stay */
  n = -1;
  assert_int_equal(store_rewrap_cancel(s, s_x, GEM, NULL, 303, &n), 0);
  assert_int_equal(n, 1);
  s_assert_rewrap(s, ic, &c, STORE_REWRAP_CANCELLED);
  s_assert_rewrap(s, id, &d, STORE_REWRAP_PENDING);
  s_assert_rewrap(s, ie, &e, STORE_REWRAP_PENDING);
  /* no prefix matches */
  n = -1;
  assert_int_equal(store_rewrap_cancel(s, s_x, "gemeente:034", NULL, 304, &n),
                   0);
  assert_int_equal(n, 0);
  s_assert_rewrap(s, id, &d, STORE_REWRAP_PENDING);
  /* DENIED (the broker no longer allows it) is a final state too */
  assert_int_equal(store_rewrap_finish(s, id, STORE_REWRAP_DENIED, 305), 0);
  s_assert_rewrap(s, id, &d, STORE_REWRAP_DENIED);
  n = -1;
  assert_int_equal(store_rewrap_cancel(s, s_x, GEM2, NULL, 306, &n), 0);
  assert_int_equal(n, 0);
  s_assert_rewrap(s, id, &d, STORE_REWRAP_DENIED);
  store_close(&s);

  /* finished_at_ms is recorded for each finished request, not for e */
  char sql[400];
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM rewrap WHERE (id = %lld AND finished_at_ms = "
           "200) OR (id = %lld AND finished_at_ms = 202) OR (id = %lld AND "
           "finished_at_ms = 300) OR (id = %lld AND finished_at_ms = 303) OR "
           "(id = %lld AND finished_at_ms = 305) OR (id = %lld AND "
           "finished_at_ms IS NULL)",
           (long long)ia, (long long)ib, (long long)ia2, (long long)ic,
           (long long)id, (long long)ie);
  assert_int_equal(s_num(*state, sql), 6);
  assert_int_equal(s_num(*state, "SELECT count(*) FROM rewrap"), 6);
}

static void test_rewrap_rollback(void **state) {
  store_t *s = s_open(*state);
  assert_int_equal(store_begin(s), 0);
  int64_t story = s_section(s, s_x, KIND_STORY, COA, 1);
  assert_int_equal(store_commit(s), 0);
  store_rewrap_t a = s_rewrap(story, s_x, KIND_STORY, COA, GEM, 100);
  int64_t ia = 0, ib = 0;
  /* a request added in a request that failed leaves nothing pending: the
   * next one is added */
  assert_int_equal(store_begin(s), 0);
  assert_int_equal(store_savepoint(s), 0);
  s_queue(s, &a, NULL);
  store_savepoint_rollback(s);
  assert_int_equal(store_savepoint(s), 0);
  ib = s_queue(s, &a, NULL);
  store_savepoint_release(s);
  assert_int_equal(store_commit(s), 0);
  s_assert_rewrap(s, ib, &a, STORE_REWRAP_PENDING);
  store_close(&s);
  assert_int_equal(s_num(*state, "SELECT count(*) FROM rewrap"), 1);
  /* durable */
  s = s_open(*state);
  s_assert_rewrap(s, ib, &a, STORE_REWRAP_PENDING);
  assert_int_equal(store_rewrap_add(s, &a, &ia), 1);
  store_close(&s);
}

static void test_rewrap_stale(void **state) {
  store_t *s = s_open(*state);
  assert_int_equal(store_begin(s), 0);
  int64_t story = s_section(s, s_x, KIND_STORY, COA, 1);
  /* the gemeente's own mailbox has entries 1 and 2 too: they are not the
   * author's */
  s_wrap(s, story, GEM);
  uint64_t gseq = 0;
  assert_int_equal(store_mailbox_push(s, GEM, story, &gseq), 0);
  assert_int_equal(store_mailbox_push(s, GEM, story, &gseq), 0);
  assert_int_equal(store_commit(s), 0);

  store_rewrap_t a = s_rewrap(story, s_x, KIND_STORY, COA, GEM, 100);
  store_rewrap_t d = s_rewrap(story, s_x, KIND_STORY, COA, GEM2, 101);
  uint64_t sa = 0, sd = 0;
  int64_t ia = s_queue(s, &a, &sa), id = s_queue(s, &d, &sd);
  assert_int_equal(sa, 1);
  assert_int_equal(sd, 2);
  int64_t dup = 4242;
  assert_int_equal(store_rewrap_add(s, &a, &dup), 1);
  assert_int_equal(store_rewrap_add(s, &d, &dup), 1);
  assert_int_equal(dup, 4242);

  /* the author acked a's entry without answering (an older library): a
   * will never be answered, so a new request replaces it; d's entry is
   * still there, so d stays the pending one */
  assert_int_equal(store_mailbox_ack(s, COA, sa), 0);
  store_rewrap_t a2 = s_rewrap(story, s_x, KIND_STORY, COA, GEM, 200);
  int64_t ia2 = s_queue(s, &a2, NULL);
  assert_true(ia2 > id);
  s_assert_rewrap(s, ia, &a, STORE_REWRAP_CANCELLED);
  s_assert_rewrap(s, ia2, &a2, STORE_REWRAP_PENDING);
  assert_int_equal(store_rewrap_add(s, &d, &dup), 1);
  s_assert_rewrap(s, id, &d, STORE_REWRAP_PENDING);
  /* an entry dropped from the author's mailbox: the same; but only a new
   * request for the same (section, recipient) makes room, a request for
   * another recipient leaves it alone */
  assert_int_equal(store_mailbox_drop(s, COA, sd), 0);
  assert_int_equal(store_rewrap_add(s, &a2, &dup), 1);
  s_assert_rewrap(s, id, &d, STORE_REWRAP_PENDING);
  store_rewrap_t d2 = s_rewrap(story, s_x, KIND_STORY, COA, GEM2, 300);
  int64_t id2 = s_queue(s, &d2, NULL);
  s_assert_rewrap(s, id, &d, STORE_REWRAP_CANCELLED);
  s_assert_rewrap(s, id2, &d2, STORE_REWRAP_PENDING);
  /* a2's entry is there: it stays */
  assert_int_equal(store_rewrap_add(s, &a2, &dup), 1);
  assert_int_equal(dup, 4242);
  s_assert_rewrap(s, ia2, &a2, STORE_REWRAP_PENDING);
  /* an answered request is never made stale */
  assert_int_equal(store_rewrap_finish(s, ia2, STORE_REWRAP_DONE, 400), 0);
  uint64_t acked = 0, head = 0;
  assert_int_equal(store_mailbox_state(s, COA, &acked, &head), 0);
  assert_int_equal(head, 4);
  assert_int_equal(store_mailbox_ack(s, COA, head), 0);
  store_rewrap_t a3 = s_rewrap(story, s_x, KIND_STORY, COA, GEM, 500);
  int64_t ia3 = s_queue(s, &a3, NULL);
  s_assert_rewrap(s, ia2, &a2, STORE_REWRAP_DONE);
  s_assert_rewrap(s, ia3, &a3, STORE_REWRAP_PENDING);
  store_close(&s);
  /* the stale ones were cancelled at the time of the request that
   * replaced them; the answered one kept its time */
  char sql[300];
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM rewrap WHERE (id = %lld AND finished_at_ms = "
           "200) OR (id = %lld AND finished_at_ms = 300) OR (id = %lld AND "
           "finished_at_ms = 400)",
           (long long)ia, (long long)id, (long long)ia2);
  assert_int_equal(s_num(*state, sql), 3);
  /* one pending request per (section, recipient) at any time */
  assert_int_equal(s_num(*state, "SELECT count(*) FROM (SELECT section_id, "
                                 "recipient FROM rewrap WHERE state = 0 "
                                 "GROUP BY section_id, recipient HAVING "
                                 "count(*) > 1)"),
                   0);
}

/* ---- wraps, sections by id ------------------------------------------------- */

static uint64_t s_max(store_t *s, const char *recipient,
                      const uint8_t subject[32], int kind, const char *author) {
  uint64_t v = 999;
  assert_int_equal(store_wrap_max_version(s, recipient, subject, kind, author,
                                          &v),
                   0);
  return v;
}

static void test_wrap_max_version(void **state) {
  store_t *s = s_open(*state);
  assert_int_equal(s_max(s, GEM, s_x, KIND_STORY, COA), 0);
  assert_int_equal(store_begin(s), 0);
  int64_t v1 = s_section(s, s_x, KIND_STORY, COA, 1);
  int64_t v2 = s_section(s, s_x, KIND_STORY, COA, 2);
  int64_t v3 = s_section(s, s_x, KIND_STORY, COA, 3);
  int64_t h1 = s_section(s, s_x, KIND_HEALTH, COA, 7);
  int64_t y1 = s_section(s, s_y, KIND_STORY, COA, 5);
  int64_t g1 = s_section(s, s_x, KIND_STORY, GEM2, 9);
  s_wrap(s, v1, GEM);
  s_wrap(s, v2, GEM);
  s_wrap(s, v3, GGZ);
  s_wrap(s, h1, GGZ);
  s_wrap(s, y1, GEM);
  s_wrap(s, g1, GEM);
  for (int64_t id = v1; id <= v3; id++)
    s_wrap(s, id, COA);
  assert_int_equal(store_commit(s), 0);

  assert_int_equal(s_max(s, GEM, s_x, KIND_STORY, COA), 2);
  assert_int_equal(s_max(s, GGZ, s_x, KIND_STORY, COA), 3);
  assert_int_equal(s_max(s, COA, s_x, KIND_STORY, COA), 3);
  assert_int_equal(s_max(s, VWN, s_x, KIND_STORY, COA), 0);
  assert_int_equal(s_max(s, GGZ, s_x, KIND_HEALTH, COA), 7);
  assert_int_equal(s_max(s, GEM, s_x, KIND_HEALTH, COA), 0);
  assert_int_equal(s_max(s, GEM, s_y, KIND_STORY, COA), 5);
  assert_int_equal(s_max(s, GEM, s_x, KIND_STORY, GEM2), 9);
  assert_int_equal(s_max(s, GEM, s_x, KIND_STORY, "co"), 0);
  /* after the access is revoked: nothing left, for this author only */
  int64_t wraps = 0, pending = 0;
  assert_int_equal(store_revoke_access(s, GEM, s_x, KIND_STORY, COA, &wraps,
                                       &pending),
                   0);
  assert_int_equal(wraps, 2);
  assert_int_equal(s_max(s, GEM, s_x, KIND_STORY, COA), 0);
  assert_int_equal(s_max(s, GEM, s_x, KIND_STORY, GEM2), 9);
  assert_int_equal(s_max(s, GEM, s_y, KIND_STORY, COA), 5);
  store_close(&s);
}

typedef struct {
  int calls;
  store_section_t sec;
  int has_wrap;
  char wrap[96];
  char ct[96];
} s_one_t;

static int s_one(const store_section_t *sec, uint64_t seq, void *arg) {
  s_one_t *o = arg;
  assert_int_equal(seq, 0);
  o->calls++;
  o->sec = *sec;
  snprintf(o->ct, sizeof o->ct, "%.*s", (int)sec->ciphertext_len,
           (const char *)sec->ciphertext);
  o->has_wrap = sec->wrap != NULL;
  if (sec->wrap)
    snprintf(o->wrap, sizeof o->wrap, "%.*s", (int)sec->wrap_len,
             (const char *)sec->wrap);
  /* the pointers are the callback's only */
  o->sec.nonce = o->sec.ciphertext = o->sec.signature = o->sec.wrap = NULL;
  return 1;
}

static void test_section_by_id(void **state) {
  store_t *s = s_open(*state);
  assert_int_equal(store_begin(s), 0);
  int64_t id = s_section(s, s_x, KIND_HEALTH, COA, 4);
  int64_t other = s_section(s, s_x, KIND_HEALTH, COA, 5);
  s_wrap(s, id, GGZ);
  s_wrap(s, other, GEM);
  assert_int_equal(store_commit(s), 0);

  s_one_t o;
  memset(&o, 0, sizeof o);
  assert_int_equal(store_section_by_id(s, id, GGZ, s_one, &o), 1);
  assert_int_equal(o.calls, 1);
  assert_int_equal(o.sec.id, id);
  assert_memory_equal(o.sec.subject, s_x, 32);
  assert_int_equal(o.sec.kind, KIND_HEALTH);
  assert_string_equal(o.sec.author, COA);
  assert_int_equal(o.sec.version, 4);
  assert_int_equal(o.sec.created_at_ms, 1004);
  assert_int_equal(o.sec.nonce_len, 24);
  assert_int_equal(o.sec.signature_len, 64);
  assert_string_equal(o.ct, "ct X 10 coa v4");
  assert_true(o.sec.has_author_key);
  uint8_t pk[32];
  memset(pk, 0xa0 + KIND_HEALTH, 32);
  assert_memory_equal(o.sec.author_signing_pk, pk, 32);
  assert_true(o.has_wrap);
  char want[96];
  snprintf(want, sizeof want, "wrap %lld for %s", (long long)id, GGZ);
  assert_string_equal(o.wrap, want);

  /* a reader without a wrap of it gets the section without one (GEM's
   * wrap is of the other version) */
  memset(&o, 0, sizeof o);
  assert_int_equal(store_section_by_id(s, id, GEM, s_one, &o), 1);
  assert_int_equal(o.calls, 1);
  assert_int_equal(o.sec.version, 4);
  assert_false(o.has_wrap);
  memset(&o, 0, sizeof o);
  assert_int_equal(store_section_by_id(s, id, VWN, s_one, &o), 1);
  assert_false(o.has_wrap);
  memset(&o, 0, sizeof o);
  assert_int_equal(store_section_by_id(s, other, GEM, s_one, &o), 1);
  assert_int_equal(o.sec.version, 5);
  assert_true(o.has_wrap);
  /* no such section: 0, fn not called */
  memset(&o, 0, sizeof o);
  assert_int_equal(store_section_by_id(s, other + 100, GGZ, s_one, &o), 0);
  assert_int_equal(o.calls, 0);
  assert_int_equal(store_section_by_id(s, 0, GGZ, s_one, &o), 0);
  assert_int_equal(o.calls, 0);
  store_close(&s);
}

/* ---- mailbox items: TVS event copies and rewrap requests ---------------------- */

typedef struct {
  size_t n;
  uint64_t seq[16];
  int is_section[16];
  int kind[16];
  uint8_t subject0[16];
  int64_t created[16];
  char payload[16][32];
} s_items_t;

static int s_collect_item(const store_mailbox_item_t *item, void *arg) {
  s_items_t *it = arg;
  assert_true(it->n < 16);
  assert_true((item->section != NULL) != (item->notice != NULL));
  size_t i = it->n++;
  it->seq[i] = item->seq;
  it->is_section[i] = item->section != NULL;
  if (item->notice) {
    it->kind[i] = item->notice->kind;
    it->subject0[i] = item->notice->subject[0];
    it->created[i] = item->notice->created_at_ms;
    snprintf(it->payload[i], sizeof it->payload[i], "%.*s",
             (int)item->notice->payload_len,
             (const char *)item->notice->payload);
  } else {
    it->kind[i] = item->section->kind;
    it->subject0[i] = item->section->subject[0];
  }
  return 0;
}

static s_items_t s_items(store_t *s, const char *recipient, uint64_t after) {
  s_items_t it;
  memset(&it, 0, sizeof it);
  assert_int_equal(store_mailbox_read(s, recipient, after, 16, s_collect_item,
                                      &it),
                   0);
  return it;
}

static void test_mailbox_tvs_items(void **state) {
  store_t *s = s_open(*state);
  assert_int_equal(store_begin(s), 0);
  int64_t story = s_section(s, s_x, KIND_STORY, COA, 1);
  s_wrap(s, story, GEM);
  uint64_t seq = 0;
  assert_int_equal(store_mailbox_push(s, GEM, story, &seq), 0);
  assert_int_equal(seq, 1);
  /* a KOPPELING copy for X, a TAAKSTELLING copy (no subject), a delete
   * notice, for the gemeente; a rewrap request for COA */
  assert_int_equal(s_push_item(s, GEM, STORE_ITEM_TVS_EVENT, s_x, "copy-1",
                               2001),
                   2);
  assert_int_equal(s_push_item(s, GEM, STORE_ITEM_TVS_EVENT, NULL, "copy-2",
                               2002),
                   3);
  assert_int_equal(s_push_item(s, GEM, 5, s_x, "notice-1", 2003), 4);
  assert_int_equal(s_push_item(s, COA, STORE_ITEM_REWRAP, s_x, "rewrap-1",
                               2004),
                   1);
  assert_int_equal(s_push_item(s, COA, STORE_ITEM_REWRAP, s_y, "rewrap-2",
                               2005),
                   2);
  assert_int_equal(store_commit(s), 0);

  s_items_t it = s_items(s, GEM, 0);
  assert_int_equal(it.n, 4);
  assert_true(it.is_section[0]);
  assert_int_equal(it.seq[0], 1);
  assert_int_equal(it.kind[0], KIND_STORY);
  for (size_t i = 1; i < 4; i++) {
    assert_false(it.is_section[i]);
    assert_int_equal(it.seq[i], i + 1);
    assert_int_equal(it.created[i], 2000 + (int64_t)i);
  }
  assert_int_equal(it.kind[1], STORE_ITEM_TVS_EVENT);
  assert_string_equal(it.payload[1], "copy-1");
  assert_int_equal(it.subject0[1], 'X');
  assert_int_equal(it.kind[2], STORE_ITEM_TVS_EVENT);
  assert_string_equal(it.payload[2], "copy-2");
  assert_int_equal(it.subject0[2], 0);
  assert_int_equal(it.kind[3], 5);
  assert_string_equal(it.payload[3], "notice-1");
  it = s_items(s, COA, 0);
  assert_int_equal(it.n, 2);
  assert_int_equal(it.kind[0], STORE_ITEM_REWRAP);
  assert_string_equal(it.payload[0], "rewrap-1");
  assert_int_equal(it.subject0[0], 'X');
  assert_int_equal(it.kind[1], STORE_ITEM_REWRAP);
  assert_string_equal(it.payload[1], "rewrap-2");
  assert_int_equal(it.subject0[1], 'Y');
  /* reading after a seq */
  it = s_items(s, GEM, 2);
  assert_int_equal(it.n, 2);
  assert_int_equal(it.seq[0], 3);
  store_close(&s);
  assert_int_equal(s_num(*state, "SELECT count(*) FROM notice"), 5);

  /* acked up to 3: the section's entry and both copies go, rows and all;
   * the delete notice and COA's requests stay */
  s = s_open(*state);
  assert_int_equal(store_begin(s), 0);
  assert_int_equal(store_mailbox_ack(s, GEM, 3), 0);
  assert_int_equal(store_commit(s), 0);
  it = s_items(s, GEM, 0);
  assert_int_equal(it.n, 1);
  assert_int_equal(it.seq[0], 4);
  assert_int_equal(it.kind[0], 5);
  uint64_t acked = 0, head = 0;
  assert_int_equal(store_mailbox_state(s, GEM, &acked, &head), 0);
  assert_int_equal(acked, 3);
  assert_int_equal(head, 4);
  assert_int_equal(s_items(s, COA, 0).n, 2);
  store_close(&s);
  char sql[120];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM notice WHERE kind = %d",
           STORE_ITEM_TVS_EVENT);
  assert_int_equal(s_num(*state, sql), 0);
  snprintf(sql, sizeof sql, "SELECT count(*) FROM notice WHERE kind = %d",
           STORE_ITEM_REWRAP);
  assert_int_equal(s_num(*state, sql), 2);
  assert_int_equal(s_num(*state, "SELECT count(*) FROM notice"), 3);
  /* the section itself and the gemeente's wrap stay */
  assert_int_equal(s_num(*state, "SELECT count(*) FROM wrap"), 1);

  /* a request dropped (cancelled meanwhile) and one acked: gone */
  s = s_open(*state);
  assert_int_equal(store_begin(s), 0);
  assert_int_equal(store_mailbox_drop(s, COA, 2), 0);
  assert_int_equal(store_commit(s), 0);
  it = s_items(s, COA, 0);
  assert_int_equal(it.n, 1);
  assert_string_equal(it.payload[0], "rewrap-1");
  assert_int_equal(store_mailbox_ack(s, COA, 1), 0);
  assert_int_equal(s_items(s, COA, 0).n, 0);
  /* new items continue the sequence */
  assert_int_equal(s_push_item(s, COA, STORE_ITEM_REWRAP, s_x, "rewrap-3", 1),
                   3);
  store_close(&s);
  snprintf(sql, sizeof sql, "SELECT count(*) FROM notice WHERE kind = %d",
           STORE_ITEM_REWRAP);
  assert_int_equal(s_num(*state, sql), 1);
  assert_int_equal(s_num(*state, "SELECT count(*) FROM mailbox"), 2);
}

/* ---- the upgrade from schema 3 ------------------------------------------------ */

typedef struct {
  int n;
  uint8_t prev[AUDIT_HASH_BYTES];
} s_chain_t;

static int s_walk(const audit_entry_t *e, void *arg) {
  s_chain_t *c = arg;
  if (audit_check(e, c->prev) != 0)
    fail_msg("audit entry %llu does not chain", (unsigned long long)e->seq);
  memcpy(c->prev, e->hash, AUDIT_HASH_BYTES);
  c->n++;
  return 0;
}

static void test_migrate_from_schema_3(void **state) {
  s_fixture_t *f = *state;
  char err[256] = "";
  store_t *s = store_open_schema(f->path, 3, err, sizeof err);
  if (!s)
    fail_msg("store_open_schema 3: %s", err);
  assert_int_equal(store_schema_version(s), 3);
  /* what an issue-6 broker keeps: a consent, sections, wraps, a mailbox
   * with a section and a notice, the audit chain */
  consent_t c;
  memset(&c, 0, sizeof c);
  memset(c.consent_id, 0xc1, sizeof c.consent_id);
  memcpy(c.subject, s_x, 32);
  snprintf(c.recorded_by, sizeof c.recorded_by, "%s", COA);
  snprintf(c.recipient, sizeof c.recipient, "%s", GEM);
  c.sections = BIT(KIND_STORY);
  c.purpose = 2;
  c.basis = 1;
  c.valid_from_ms = 1000;
  c.valid_until_ms = INT64_C(9000000000000);
  assert_int_equal(store_begin(s), 0);
  assert_int_equal(store_consent_put(s, &c, (const uint8_t *)"record", 6), 0);
  int64_t v1 = s_section(s, s_x, KIND_STORY, COA, 1);
  int64_t v2 = s_section(s, s_x, KIND_STORY, COA, 2);
  s_wrap(s, v1, GEM);
  s_wrap(s, v2, GEM);
  uint64_t seq = 0;
  assert_int_equal(store_mailbox_push(s, GEM, v2, &seq), 0);
  assert_int_equal(s_push_item(s, COA, 2, s_x, "revoked", 3000), 1);
  for (int i = 0; i < 3; i++) {
    audit_entry_t e;
    audit_entry_local(&e, "keten.test", COA, "before the upgrade");
    memcpy(e.subject, s_x, 32);
    assert_int_equal(store_audit_append(s, &e), 0);
  }
  assert_int_equal(store_commit(s), 0);
  uint64_t head_seq = 0;
  uint8_t head[AUDIT_HASH_BYTES];
  assert_int_equal(store_audit_head(s, &head_seq, head), 0);
  assert_int_equal(head_seq, 3);
  store_close(&s);
  assert_int_equal(s_num(f, "PRAGMA user_version"), 3);
  assert_int_equal(s_num(f, "SELECT count(*) FROM sqlite_master WHERE name IN "
                            "('tvs_event', 'tvs_link', 'tvs_target', "
                            "'rewrap')"),
                   0);

  /* the upgrade */
  s = s_open(f);
  assert_int_equal(store_schema_version(s), store_schema_latest());
  store_close(&s);
  assert_int_equal(s_num(f, "PRAGMA user_version"), store_schema_latest());
  assert_int_equal(s_num(f, "SELECT count(*) FROM sqlite_master WHERE name IN "
                            "('tvs_event', 'tvs_link', 'tvs_target', "
                            "'rewrap', 'tvs_link_active', 'rewrap_pending', "
                            "'rewrap_pending_to', 'tvs_link_by_gemeente')"),
                   8);

  /* everything is as it was */
  s = s_open(f);
  consent_t got;
  assert_int_equal(store_consent_get(s, c.consent_id, &got), 1);
  assert_string_equal(got.recipient, GEM);
  assert_int_equal(got.sections, BIT(KIND_STORY));
  assert_false(got.revoked);
  uint64_t v = 0;
  assert_int_equal(store_section_latest_version(s, s_x, KIND_STORY, COA, &v), 0);
  assert_int_equal(v, 2);
  assert_int_equal(s_max(s, GEM, s_x, KIND_STORY, COA), 2);
  s_items_t it = s_items(s, GEM, 0);
  assert_int_equal(it.n, 1);
  assert_true(it.is_section[0]);
  it = s_items(s, COA, 0);
  assert_int_equal(it.n, 1);
  assert_string_equal(it.payload[0], "revoked");
  s_chain_t chain;
  memset(&chain, 0, sizeof chain);
  assert_int_equal(store_audit_each(s, s_walk, &chain), 0);
  assert_int_equal(chain.n, 3); /* the upgrade to 4 audits nothing */
  assert_memory_equal(chain.prev, head, AUDIT_HASH_BYTES);
  s_one_t o;
  memset(&o, 0, sizeof o);
  assert_int_equal(store_section_by_id(s, v1, GEM, s_one, &o), 1);
  assert_true(o.has_wrap);
  assert_true(o.sec.has_author_key);

  /* and the new tables work on it */
  assert_int_equal(store_begin(s), 0);
  int64_t k = s_event(s, 1, TVS_KOPPELING);
  store_tvs_link_t l = s_link(s_x, GEM, P1, k, 7000);
  assert_int_equal(store_tvs_link_start(s, &l), 0);
  store_rewrap_t r = s_rewrap(v2, s_x, KIND_STORY, COA, GEM2, 7001);
  int64_t rid = s_queue(s, &r, NULL);
  assert_int_equal(store_commit(s), 0);
  store_tvs_link_t active;
  assert_int_equal(store_tvs_link_active(s, s_x, &active), 1);
  s_assert_link(&active, &l, "", 1);
  s_assert_rewrap(s, rid, &r, STORE_REWRAP_PENDING);
  store_close(&s);

  /* opening it again migrates nothing and keeps it all */
  s = s_open(f);
  assert_int_equal(store_schema_version(s), store_schema_latest());
  assert_int_equal(store_tvs_link_active(s, s_x, &active), 1);
  memset(&chain, 0, sizeof chain);
  assert_int_equal(store_audit_each(s, s_walk, &chain), 0);
  assert_int_equal(chain.n, 3);
  store_close(&s);
  /* a store of schema 5 opened "at schema 3" stays at 5 */
  s = store_open_schema(f->path, 3, err, sizeof err);
  assert_non_null(s);
  assert_int_equal(store_schema_version(s), store_schema_latest());
  store_close(&s);
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_schema_version, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_tvs_event_put_find, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_tvs_event_record, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_tvs_event_rollback, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_tvs_link_lifecycle, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_tvs_links_of, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_tvs_counts, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_tvs_target, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_rewrap, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_rewrap_rollback, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_rewrap_stale, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_wrap_max_version, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_section_by_id, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_mailbox_tvs_items, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_migrate_from_schema_3, s_setup,
                                      s_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
