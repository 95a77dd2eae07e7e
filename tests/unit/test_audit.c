/* Unit tests of the audit chain: canonical hashing of every field, the
 * links between entries, checkpoint bytes, and the chain as the store keeps
 * it (appended in transactions, tampered with directly in SQLite, rolled
 * back). */
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

#define CHAIN_LEN 100

static const uint8_t s_zero[AUDIT_HASH_BYTES];

/* A plausible entry, different for every i. */
static audit_entry_t s_entry(unsigned i) {
  static const char *const names[] = {"keten.section.put", "keten.delivery",
                                      "keten.ack", "keten.fetch",
                                      "keten.consent.grant"};
  audit_entry_t e;
  memset(&e, 0, sizeof e);
  e.seq = i + 1;
  for (int j = 0; j < 16; j++)
    e.trace_id[j] = (uint8_t)(i * 7 + j);
  for (int j = 0; j < 8; j++) {
    e.operation_id[j] = (uint8_t)(i * 3 + j + 1);
    e.parent_operation_id[j] = (uint8_t)(i * 5 + j + 2);
    e.foreign_operation_id[j] = (uint8_t)(i * 11 + j + 3);
  }
  snprintf(e.name, sizeof e.name, "%s", names[i % 5]);
  e.status = i % 4 == 3 ? AUDIT_STATUS_ERROR : AUDIT_STATUS_OK;
  e.start_ms = 1700000000000LL + (int64_t)i * 10;
  e.end_ms = e.start_ms + 3;
  snprintf(e.actor, sizeof e.actor, "gemeente:%04u", 300 + i % 7);
  snprintf(e.counterparty, sizeof e.counterparty, "%s", i % 3 ? "coa" : "");
  for (int j = 0; j < 32; j++)
    e.subject[j] = (uint8_t)(0xa0 + i + j);
  e.kind = 1 + (int)(i % 12);
  for (int j = 0; j < 16; j++) {
    e.consent_id[j] = (uint8_t)(i + 0x40 + j);
    e.foreign_trace_id[j] = (uint8_t)(i + 0x80 + j);
  }
  e.purpose = 1 + (int)(i % 5);
  snprintf(e.detail, sizeof e.detail, "detail of entry %u", i + 1);
  return e;
}

static void s_build_chain(audit_entry_t *chain, size_t n) {
  const uint8_t *prev = s_zero;
  for (size_t i = 0; i < n; i++) {
    chain[i] = s_entry((unsigned)i);
    audit_chain(&chain[i], prev);
    prev = chain[i].hash;
  }
}

/* Walks chain like `keten audit verify`: returns the index of the first
 * entry that fails audit_check (n if none); counts failures in *bad. */
static size_t s_walk_array(const audit_entry_t *chain, size_t n, int *bad) {
  size_t first = n;
  *bad = 0;
  const uint8_t *prev = s_zero;
  for (size_t i = 0; i < n; i++) {
    if (audit_check(&chain[i], prev) != 0) {
      (*bad)++;
      if (first == n)
        first = i;
    }
    prev = chain[i].hash;
  }
  return first;
}

static void test_chain_links(void **state) {
  (void)state;
  audit_entry_t *chain = calloc(CHAIN_LEN, sizeof *chain);
  assert_non_null(chain);
  s_build_chain(chain, CHAIN_LEN);
  assert_memory_equal(chain[0].prev_hash, s_zero, AUDIT_HASH_BYTES);
  for (size_t i = 0; i < CHAIN_LEN; i++) {
    uint8_t h[AUDIT_HASH_BYTES];
    audit_entry_hash(&chain[i], h);
    assert_memory_equal(h, chain[i].hash, AUDIT_HASH_BYTES);
    assert_memory_not_equal(chain[i].hash, s_zero, AUDIT_HASH_BYTES);
    if (i > 0) {
      assert_memory_equal(chain[i].prev_hash, chain[i - 1].hash,
                          AUDIT_HASH_BYTES);
      assert_memory_not_equal(chain[i].hash, chain[i - 1].hash,
                              AUDIT_HASH_BYTES);
    }
    assert_int_equal(audit_check(&chain[i], i ? chain[i - 1].hash : s_zero), 0);
  }
  int bad;
  assert_int_equal(s_walk_array(chain, CHAIN_LEN, &bad), CHAIN_LEN);
  assert_int_equal(bad, 0);
  /* the hash is deterministic and depends on the previous hash */
  audit_entry_t again = s_entry(41);
  audit_chain(&again, chain[40].hash);
  assert_memory_equal(again.hash, chain[41].hash, AUDIT_HASH_BYTES);
  audit_chain(&again, chain[39].hash);
  assert_memory_not_equal(again.hash, chain[41].hash, AUDIT_HASH_BYTES);
  free(chain);
}

enum {
  F_SEQ, F_TRACE_ID, F_OPERATION_ID, F_PARENT_OPERATION_ID, F_NAME, F_STATUS,
  F_START, F_END, F_ACTOR, F_COUNTERPARTY, F_SUBJECT, F_KIND, F_CONSENT_ID,
  F_PURPOSE, F_FOREIGN_TRACE_ID, F_FOREIGN_OPERATION_ID, F_DETAIL, F_COUNT
};

static const char *const s_field_names[F_COUNT] = {
    "seq", "trace_id", "operation_id", "parent_operation_id", "name",
    "status", "start_ms", "end_ms", "actor", "counterparty", "subject",
    "kind", "consent_id", "purpose", "foreign_trace_id",
    "foreign_operation_id", "detail"};

/* Changes field f of e by a little (one bit or one character; which byte
 * depends on i). */
static void s_mutate(audit_entry_t *e, int f, unsigned i) {
  switch (f) {
  case F_SEQ: e->seq++; break;
  case F_TRACE_ID: e->trace_id[i % 16] ^= 0x01; break;
  case F_OPERATION_ID: e->operation_id[i % 8] ^= 0x80; break;
  case F_PARENT_OPERATION_ID: e->parent_operation_id[i % 8] ^= 0x04; break;
  case F_NAME: e->name[i % strlen(e->name)] ^= 0x01; break;
  case F_STATUS:
    e->status = e->status == AUDIT_STATUS_OK ? AUDIT_STATUS_ERROR
                                             : AUDIT_STATUS_OK;
    break;
  case F_START: e->start_ms--; break;
  case F_END: e->end_ms += 1000; break;
  case F_ACTOR: e->actor[i % strlen(e->actor)] ^= 0x02; break;
  case F_COUNTERPARTY:
    if (e->counterparty[0])
      e->counterparty[0] = '\0'; /* "coa" -> "" */
    else
      snprintf(e->counterparty, sizeof e->counterparty, "x");
    break;
  case F_SUBJECT: e->subject[i % 32] ^= 0x10; break;
  case F_KIND: e->kind = e->kind == 10 ? 3 : 10; break;
  case F_CONSENT_ID: e->consent_id[i % 16] ^= 0x01; break;
  case F_PURPOSE: e->purpose = e->purpose % 5 + 1; break;
  case F_FOREIGN_TRACE_ID: e->foreign_trace_id[i % 16] ^= 0x20; break;
  case F_FOREIGN_OPERATION_ID: e->foreign_operation_id[i % 8] ^= 0x40; break;
  case F_DETAIL: e->detail[i % strlen(e->detail)] ^= 0x01; break;
  default: fail();
  }
}

static void test_every_field_is_covered(void **state) {
  (void)state;
  audit_entry_t *chain = calloc(CHAIN_LEN, sizeof *chain);
  assert_non_null(chain);
  s_build_chain(chain, CHAIN_LEN);
  for (int f = 0; f < F_COUNT; f++) {
    for (unsigned i = 0; i < CHAIN_LEN; i++) {
      audit_entry_t saved = chain[i];
      s_mutate(&chain[i], f, i);
      assert_memory_not_equal(&saved, &chain[i], sizeof saved);
      uint8_t h[AUDIT_HASH_BYTES];
      audit_entry_hash(&chain[i], h);
      if (memcmp(h, saved.hash, AUDIT_HASH_BYTES) == 0)
        fail_msg("changing %s of entry %u does not change its hash",
                 s_field_names[f], i + 1);
      int bad;
      size_t first = s_walk_array(chain, CHAIN_LEN, &bad);
      if (first != i || bad != 1)
        fail_msg("changing %s of entry %u: first failure at %zu, %d failures",
                 s_field_names[f], i + 1, first + 1, bad);
      chain[i] = saved;
    }
  }
  int bad;
  assert_int_equal(s_walk_array(chain, CHAIN_LEN, &bad), CHAIN_LEN);
  free(chain);
}

static void test_wrong_prev_hash(void **state) {
  (void)state;
  audit_entry_t chain[3];
  s_build_chain(chain, 3);
  /* checked against the wrong predecessor */
  assert_int_equal(audit_check(&chain[2], chain[0].hash), -1);
  assert_int_equal(audit_check(&chain[0], chain[1].hash), -1);
  /* an entry whose stored prev_hash was changed (contents still hashed) */
  audit_entry_t e = chain[1];
  e.prev_hash[5] ^= 1;
  assert_int_equal(audit_check(&e, chain[0].hash), -1);
  /* ... even if its hash is recomputed to match: the link is broken */
  audit_entry_hash(&e, e.hash);
  assert_int_equal(audit_check(&e, chain[0].hash), -1);
  /* a changed stored hash */
  e = chain[1];
  e.hash[31] ^= 1;
  assert_int_equal(audit_check(&e, chain[0].hash), -1);
  /* an entry dropped from the middle */
  assert_int_equal(audit_check(&chain[2], chain[0].hash), -1);
}

static void test_fields_are_delimited(void **state) {
  (void)state;
  /* moving characters between adjacent text fields changes the hash */
  audit_entry_t a = s_entry(0), b = s_entry(0);
  snprintf(a.actor, sizeof a.actor, "coa");
  snprintf(a.counterparty, sizeof a.counterparty, "x");
  snprintf(b.actor, sizeof b.actor, "co");
  snprintf(b.counterparty, sizeof b.counterparty, "ax");
  audit_chain(&a, s_zero);
  audit_chain(&b, s_zero);
  assert_memory_not_equal(a.hash, b.hash, AUDIT_HASH_BYTES);
}

static void test_checkpoint_bytes(void **state) {
  (void)state;
  uint8_t head[AUDIT_HASH_BYTES], out[256];
  for (int i = 0; i < AUDIT_HASH_BYTES; i++)
    head[i] = (uint8_t)(0xe0 + i);
  const char tag[] = AUDIT_CHECKPOINT_TAG;
  assert_string_equal(tag, "keten/audit-checkpoint/v1");
  const size_t tag_len = sizeof tag - 1;
  const size_t expect_len = 4 + tag_len + (4 + 8) + (4 + 32) + (4 + 8);
  assert_int_equal(expect_len, 89);

  uint64_t seq = UINT64_C(0x0102030405060708);
  int64_t at = INT64_C(0x1112131415161718);
  memset(out, 0xee, sizeof out);
  size_t len = audit_checkpoint_bytes(seq, head, at, out, sizeof out);
  assert_int_equal(len, expect_len);
  assert_int_equal(out[len], 0xee); /* nothing written past it */
  const uint8_t *p = out;
  /* tag, 4-byte big-endian length prefix */
  const uint8_t tag_hdr[4] = {0, 0, 0, (uint8_t)tag_len};
  assert_memory_equal(p, tag_hdr, 4);
  assert_memory_equal(p + 4, tag, tag_len);
  p += 4 + tag_len;
  /* seq: an 8-byte big-endian field */
  const uint8_t seq_field[12] = {0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
  assert_memory_equal(p, seq_field, 12);
  p += 12;
  /* head hash: a 32-byte field */
  const uint8_t head_hdr[4] = {0, 0, 0, 32};
  assert_memory_equal(p, head_hdr, 4);
  assert_memory_equal(p + 4, head, 32);
  p += 36;
  /* time: an 8-byte big-endian field */
  const uint8_t at_field[12] = {0,    0,    0,    8,    0x11, 0x12,
                                0x13, 0x14, 0x15, 0x16, 0x17, 0x18};
  assert_memory_equal(p, at_field, 12);
  p += 12;
  assert_int_equal((size_t)(p - out), len);

  /* it differs when seq, head or time differ */
  uint8_t other[256];
  assert_int_equal(audit_checkpoint_bytes(seq + 1, head, at, other, sizeof other),
                   len);
  assert_memory_not_equal(out, other, len);
  head[0] ^= 1;
  assert_int_equal(audit_checkpoint_bytes(seq, head, at, other, sizeof other),
                   len);
  assert_memory_not_equal(out, other, len);
  head[0] ^= 1;
  assert_int_equal(audit_checkpoint_bytes(seq, head, at + 1, other, sizeof other),
                   len);
  assert_memory_not_equal(out, other, len);
  assert_int_equal(audit_checkpoint_bytes(seq, head, at, other, sizeof other),
                   len);
  assert_memory_equal(out, other, len);

  /* too small a buffer: the length is returned, nothing is written */
  memset(other, 0x5a, sizeof other);
  assert_int_equal(audit_checkpoint_bytes(seq, head, at, other, len - 1), len);
  for (size_t i = 0; i < sizeof other; i++)
    assert_int_equal(other[i], 0x5a);
  assert_int_equal(audit_checkpoint_bytes(seq, head, at, other, len), len);
  assert_memory_equal(out, other, len);
}

/* ---- the chain in the store ----------------------------------------------- */

typedef struct {
  char dir[64];
  char path[128];
} s_fixture_t;

static int s_setup(void **state) {
  s_fixture_t *f = calloc(1, sizeof *f);
  if (!f)
    return -1;
  snprintf(f->dir, sizeof f->dir, "/tmp/keten-audit-XXXXXX");
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

/* The walk of `keten audit verify` (clients/keten/cmd_audit.c): sequence
 * continuity from 1, then audit_check against the previous entry's hash. */
typedef struct {
  uint64_t expect_seq;
  uint8_t prev[AUDIT_HASH_BYTES];
  uint64_t broken_seq; /* 0 while intact */
  int link_broken;     /* the prev_hash link, not the contents */
  uint64_t n;
  audit_entry_t *copy; /* when set, entries are copied here */
} s_walk_t;

static int s_walk(const audit_entry_t *e, void *arg) {
  s_walk_t *w = arg;
  if (e->seq != w->expect_seq) {
    w->broken_seq = w->expect_seq;
    return 1;
  }
  if (audit_check(e, w->prev) != 0) {
    w->broken_seq = e->seq;
    w->link_broken = memcmp(e->prev_hash, w->prev, AUDIT_HASH_BYTES) != 0;
    return 1;
  }
  if (w->copy)
    w->copy[w->n] = *e;
  memcpy(w->prev, e->hash, AUDIT_HASH_BYTES);
  w->expect_seq++;
  w->n++;
  return 0;
}

static s_walk_t s_verify(store_t *s, audit_entry_t *copy) {
  s_walk_t w;
  memset(&w, 0, sizeof w);
  w.expect_seq = 1;
  w.copy = copy;
  assert_int_equal(store_audit_each(s, s_walk, &w), 0);
  return w;
}

/* Field by field: struct padding is not part of an entry. */
static void s_assert_same_entry(const audit_entry_t *a, const audit_entry_t *b) {
  assert_int_equal(a->seq, b->seq);
  assert_memory_equal(a->trace_id, b->trace_id, sizeof a->trace_id);
  assert_memory_equal(a->operation_id, b->operation_id, sizeof a->operation_id);
  assert_memory_equal(a->parent_operation_id, b->parent_operation_id,
                      sizeof a->parent_operation_id);
  assert_string_equal(a->name, b->name);
  assert_int_equal(a->status, b->status);
  assert_int_equal(a->start_ms, b->start_ms);
  assert_int_equal(a->end_ms, b->end_ms);
  assert_string_equal(a->actor, b->actor);
  assert_string_equal(a->counterparty, b->counterparty);
  assert_memory_equal(a->subject, b->subject, sizeof a->subject);
  assert_int_equal(a->kind, b->kind);
  assert_memory_equal(a->consent_id, b->consent_id, sizeof a->consent_id);
  assert_int_equal(a->purpose, b->purpose);
  assert_memory_equal(a->foreign_trace_id, b->foreign_trace_id,
                      sizeof a->foreign_trace_id);
  assert_memory_equal(a->foreign_operation_id, b->foreign_operation_id,
                      sizeof a->foreign_operation_id);
  assert_string_equal(a->detail, b->detail);
  assert_memory_equal(a->prev_hash, b->prev_hash, AUDIT_HASH_BYTES);
  assert_memory_equal(a->hash, b->hash, AUDIT_HASH_BYTES);
}

/* Appends n entries in one transaction; entries[i] get their seq and hash. */
static void s_append(store_t *s, audit_entry_t *entries, unsigned first,
                     unsigned n) {
  assert_int_equal(store_begin(s), 0);
  for (unsigned i = 0; i < n; i++) {
    entries[i] = s_entry(first + i);
    entries[i].seq = 0; /* the store assigns it */
    assert_int_equal(store_audit_append(s, &entries[i]), 0);
    assert_int_equal(entries[i].seq, first + i + 1);
  }
  assert_int_equal(store_commit(s), 0);
}

/* Replaces one byte of a text column of audit entry seq, behind the
 * store's back. */
static void s_tamper_text(const char *path, const char *column, uint64_t seq,
                          size_t at) {
  sqlite3 *db;
  char sql[128];
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_stmt *st;
  snprintf(sql, sizeof sql, "SELECT %s FROM audit WHERE seq = ?", column);
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
  sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  char value[256];
  snprintf(value, sizeof value, "%s", (const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  assert_true(at < strlen(value));
  value[at] ^= 0x01; /* 'e' <-> 'd', still plain ASCII */
  snprintf(sql, sizeof sql, "UPDATE audit SET %s = ? WHERE seq = ?", column);
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
  sqlite3_bind_text(st, 1, value, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
  assert_int_equal(sqlite3_step(st), SQLITE_DONE);
  assert_int_equal(sqlite3_changes(db), 1);
  sqlite3_finalize(st);
  assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void test_store_chain_and_tamper(void **state) {
  s_fixture_t *f = *state;
  char err[256];
  store_t *s = store_open(f->path, err, sizeof err);
  assert_non_null(s);

  uint64_t seq;
  uint8_t head[AUDIT_HASH_BYTES];
  assert_int_equal(store_audit_head(s, &seq, head), 0);
  assert_int_equal(seq, 0);
  assert_memory_equal(head, s_zero, AUDIT_HASH_BYTES);

  audit_entry_t appended[12], read_back[12];
  s_append(s, appended, 0, 5);
  s_append(s, appended + 5, 5, 7);
  assert_int_equal(store_audit_head(s, &seq, head), 0);
  assert_int_equal(seq, 12);
  assert_memory_equal(head, appended[11].hash, AUDIT_HASH_BYTES);

  /* read back: the same entries, linked, and the walk passes */
  s_walk_t w = s_verify(s, read_back);
  assert_int_equal(w.broken_seq, 0);
  assert_int_equal(w.n, 12);
  for (int i = 0; i < 12; i++) {
    s_assert_same_entry(&read_back[i], &appended[i]);
    assert_memory_equal(read_back[i].prev_hash,
                        i ? appended[i - 1].hash : s_zero, AUDIT_HASH_BYTES);
  }
  store_close(&s);

  /* one byte of entry 7's detail, edited in the database */
  s_tamper_text(f->path, "detail", 7, 3);
  s = store_open(f->path, err, sizeof err);
  assert_non_null(s);
  w = s_verify(s, NULL);
  assert_int_equal(w.broken_seq, 7);
  assert_false(w.link_broken); /* its contents, not its link */
  assert_int_equal(w.n, 6);
  store_close(&s);

  /* undone, the chain verifies again; then the actor column */
  s_tamper_text(f->path, "detail", 7, 3);
  s = store_open(f->path, err, sizeof err);
  assert_non_null(s);
  w = s_verify(s, NULL);
  assert_int_equal(w.broken_seq, 0);
  assert_int_equal(w.n, 12);
  store_close(&s);
  s_tamper_text(f->path, "actor", 7, 0);
  s = store_open(f->path, err, sizeof err);
  assert_non_null(s);
  w = s_verify(s, NULL);
  assert_int_equal(w.broken_seq, 7);
  assert_int_equal(w.n, 6);
  store_close(&s);

  /* a deleted entry is a gap at its seq */
  s_tamper_text(f->path, "actor", 7, 0);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "DELETE FROM audit WHERE seq = 4", NULL,
                                NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(db);
  s = store_open(f->path, err, sizeof err);
  assert_non_null(s);
  w = s_verify(s, NULL);
  assert_int_equal(w.broken_seq, 4);
  assert_int_equal(w.n, 3);
  store_close(&s);
}

/* One column value of an audit row, whatever its type. */
typedef struct {
  int type;
  sqlite3_int64 i;
  uint8_t bytes[256];
  int len;
} s_value_t;

static s_value_t s_get(sqlite3 *db, const char *column, uint64_t seq) {
  char sql[128];
  sqlite3_stmt *st;
  snprintf(sql, sizeof sql, "SELECT %s FROM audit WHERE seq = ?", column);
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
  sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  s_value_t v;
  memset(&v, 0, sizeof v);
  v.type = sqlite3_column_type(st, 0);
  if (v.type == SQLITE_INTEGER) {
    v.i = sqlite3_column_int64(st, 0);
  } else {
    const void *p = v.type == SQLITE_TEXT ? (const void *)sqlite3_column_text(st, 0)
                                          : sqlite3_column_blob(st, 0);
    v.len = sqlite3_column_bytes(st, 0);
    assert_true(v.len >= 0 && (size_t)v.len <= sizeof v.bytes);
    if (v.len)
      memcpy(v.bytes, p, (size_t)v.len);
  }
  sqlite3_finalize(st);
  return v;
}

static void s_set(sqlite3 *db, const char *column, uint64_t seq,
                  const s_value_t *v) {
  char sql[128];
  sqlite3_stmt *st;
  snprintf(sql, sizeof sql, "UPDATE audit SET %s = ? WHERE seq = ?", column);
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
  if (v->type == SQLITE_INTEGER)
    sqlite3_bind_int64(st, 1, v->i);
  else if (v->type == SQLITE_TEXT)
    sqlite3_bind_text(st, 1, (const char *)v->bytes, v->len, SQLITE_TRANSIENT);
  else
    sqlite3_bind_blob(st, 1, v->bytes, v->len, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
  assert_int_equal(sqlite3_step(st), SQLITE_DONE);
  assert_int_equal(sqlite3_changes(db), 1);
  sqlite3_finalize(st);
}

static void test_store_tamper_every_column(void **state) {
  s_fixture_t *f = *state;
  static const char *const columns[] = {
      "seq", "trace_id", "operation_id", "parent_operation_id", "name",
      "status", "start_ms", "end_ms", "actor", "counterparty", "subject",
      "kind", "consent_id", "purpose", "foreign_trace_id",
      "foreign_operation_id", "detail", "prev_hash", "hash"};
  char err[256];
  store_t *s = store_open(f->path, err, sizeof err);
  assert_non_null(s);
  audit_entry_t e[10];
  s_append(s, e, 0, 10);
  store_close(&s);

  for (size_t c = 0; c < sizeof columns / sizeof columns[0]; c++) {
    /* change one byte (or one integer) of entry 7, behind the store */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    s_value_t orig = s_get(db, columns[c], 7), changed = orig;
    uint64_t seq_after = 7;
    if (orig.type == SQLITE_INTEGER) {
      changed.i += strcmp(columns[c], "seq") == 0 ? 1000 : 1;
      if (strcmp(columns[c], "seq") == 0)
        seq_after = (uint64_t)changed.i;
    } else if (orig.len == 0) {
      changed.bytes[0] = 'x'; /* an empty text gets one character */
      changed.len = 1;
    } else {
      changed.bytes[orig.len / 2] ^= 0x01;
    }
    s_set(db, columns[c], 7, &changed);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);

    s = store_open(f->path, err, sizeof err);
    assert_non_null(s);
    s_walk_t w = s_verify(s, NULL);
    if (w.broken_seq != 7 || w.n != 6)
      fail_msg("column %s of entry 7 edited: verify broke at %llu after %llu",
               columns[c], (unsigned long long)w.broken_seq,
               (unsigned long long)w.n);
    store_close(&s);

    /* put it back: the chain verifies again */
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    s_set(db, columns[c], seq_after, &orig);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    s = store_open(f->path, err, sizeof err);
    assert_non_null(s);
    w = s_verify(s, NULL);
    assert_int_equal(w.broken_seq, 0);
    assert_int_equal(w.n, 10);
    store_close(&s);
  }
}

/* Rewrites that change a column's length (hidden bytes after a NUL, a
 * short or empty blob) must fail verification at that entry: the store
 * marks a row of a shape no entry has as damaged. */
static void test_store_tamper_hidden_bytes(void **state) {
  s_fixture_t *f = *state;
  char err[256];
  store_t *s = store_open(f->path, err, sizeof err);
  assert_non_null(s);
  audit_entry_t e[3];
  s_append(s, e, 0, 3);
  /* an entry about no subject and no consent, as the broker writes for
   * e.g. an authentication failure */
  assert_int_equal(store_begin(s), 0);
  audit_entry_t plain;
  memset(&plain, 0, sizeof plain);
  snprintf(plain.name, sizeof plain.name, "keten.auth.failure");
  plain.status = AUDIT_STATUS_ERROR;
  snprintf(plain.actor, sizeof plain.actor, "ketend");
  snprintf(plain.detail, sizeof plain.detail, "unknown transport key");
  assert_int_equal(store_audit_append(s, &plain), 0);
  assert_int_equal(plain.seq, 4);
  assert_int_equal(store_commit(s), 0);
  store_close(&s);

  static const char hidden[] = "unknown transport key\0 V-nummer 1234567890";
  struct {
    const char *column;
    s_value_t value;
  } edits[3];
  memset(edits, 0, sizeof edits);
  edits[0].column = "detail"; /* text with bytes after a NUL */
  edits[0].value.type = SQLITE_TEXT;
  memcpy(edits[0].value.bytes, hidden, sizeof hidden - 1);
  edits[0].value.len = (int)sizeof hidden - 1;
  edits[1].column = "subject"; /* 32 zero bytes -> an empty blob */
  edits[1].value.type = SQLITE_BLOB;
  edits[2].column = "consent_id"; /* 16 zero bytes -> one zero byte */
  edits[2].value.type = SQLITE_BLOB;
  edits[2].value.len = 1;

  int undetected = 0;
  for (size_t i = 0; i < 3; i++) {
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    s_value_t orig = s_get(db, edits[i].column, 4);
    s_set(db, edits[i].column, 4, &edits[i].value);
    s_value_t now = s_get(db, edits[i].column, 4);
    assert_true(now.len != orig.len); /* the row really changed */
    assert_int_equal(sqlite3_close(db), SQLITE_OK);

    s = store_open(f->path, err, sizeof err);
    assert_non_null(s);
    s_walk_t w = s_verify(s, NULL);
    store_close(&s);
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    s_set(db, edits[i].column, 4, &orig);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    if (w.broken_seq != 4) {
      print_error("column %s of entry 4 rewritten (%d -> %d "
                  "bytes) and the chain still verifies (%llu entries)\n",
                  edits[i].column, orig.len, now.len,
                  (unsigned long long)w.n);
      undetected++;
    }
  }
  assert_int_equal(undetected, 0);
}

static void test_store_chain_rollback(void **state) {
  s_fixture_t *f = *state;
  char err[256];
  store_t *s = store_open(f->path, err, sizeof err);
  assert_non_null(s);
  audit_entry_t e[8];
  s_append(s, e, 0, 3);
  uint64_t seq, seq2;
  uint8_t head[AUDIT_HASH_BYTES], head2[AUDIT_HASH_BYTES];
  assert_int_equal(store_audit_head(s, &seq, head), 0);
  assert_int_equal(seq, 3);

  /* a request's savepoint rolled back: its entries vanish, the batch's
   * other requests keep theirs, and the chain continues from the head */
  assert_int_equal(store_begin(s), 0);
  assert_int_equal(store_savepoint(s), 0);
  e[3] = s_entry(3);
  assert_int_equal(store_audit_append(s, &e[3]), 0);
  e[4] = s_entry(4);
  assert_int_equal(store_audit_append(s, &e[4]), 0);
  assert_int_equal(e[4].seq, 5);
  store_savepoint_rollback(s);
  assert_int_equal(store_audit_head(s, &seq2, head2), 0);
  assert_int_equal(seq2, 3);
  assert_memory_equal(head2, head, AUDIT_HASH_BYTES);
  assert_int_equal(store_savepoint(s), 0);
  e[5] = s_entry(5);
  assert_int_equal(store_audit_append(s, &e[5]), 0);
  assert_int_equal(e[5].seq, 4);
  assert_memory_equal(e[5].prev_hash, head, AUDIT_HASH_BYTES);
  store_savepoint_release(s);
  assert_int_equal(store_commit(s), 0);

  s_walk_t w = s_verify(s, NULL);
  assert_int_equal(w.broken_seq, 0);
  assert_int_equal(w.n, 4);
  assert_memory_equal(w.prev, e[5].hash, AUDIT_HASH_BYTES);

  /* a whole batch rolled back */
  assert_int_equal(store_audit_head(s, &seq, head), 0);
  assert_int_equal(store_begin(s), 0);
  e[6] = s_entry(6);
  assert_int_equal(store_audit_append(s, &e[6]), 0);
  store_rollback(s);
  assert_int_equal(store_audit_head(s, &seq2, head2), 0);
  assert_int_equal(seq2, seq);
  assert_memory_equal(head2, head, AUDIT_HASH_BYTES);
  store_close(&s);

  /* and none of it comes back after reopening */
  s = store_open(f->path, err, sizeof err);
  assert_non_null(s);
  w = s_verify(s, NULL);
  assert_int_equal(w.broken_seq, 0);
  assert_int_equal(w.n, 4);
  assert_int_equal(store_audit_head(s, &seq2, head2), 0);
  assert_int_equal(seq2, 4);
  assert_memory_equal(head2, e[5].hash, AUDIT_HASH_BYTES);
  store_close(&s);
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_chain_links),
      cmocka_unit_test(test_every_field_is_covered),
      cmocka_unit_test(test_wrong_prev_hash),
      cmocka_unit_test(test_fields_are_delimited),
      cmocka_unit_test(test_checkpoint_bytes),
      cmocka_unit_test_setup_teardown(test_store_chain_and_tamper, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_store_tamper_every_column, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_store_tamper_hidden_bytes,
                                      s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_store_chain_rollback, s_setup,
                                      s_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
