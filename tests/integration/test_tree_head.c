/* Signed tree heads of the audit log, witnessed by a partner (issue 9,
 * item 1; docs/protocol.md 10.6, docs/security.md 4.46): the WELCOME's
 * head verifies; a partner with a witness file sees consistent heads as
 * the log grows, across a restart of ketend; inclusion proofs of its own
 * entries (and ERROR_FORBIDDEN for others'). Then the attacks, with
 * ketend stopped and write access to the store: a rewrite (entries naming
 * two participants deleted, the chain recomputed, checkpoints and tree
 * heads deleted, audit_node rebuilt), emptying the log, truncating the
 * tail: ketend refuses to start on its head file; with the head file
 * removed too, the partner's libketen reports KETEN_ERR_LOG_INCONSISTENT
 * and keeps its witnessed head. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit_log.h"
#include "envelope.h"
#include "harness.h"
#include "merkle.h"
#include "store.h"

typedef struct {
  harness_t *h;
  char witness[400];
  char head_file[400];
} s_fx_t;

static int s_setup(void **state) {
  s_fx_t *f = calloc(1, sizeof *f);
  f->h = harness_new(1);
  if (!f->h)
    return -1;
  snprintf(f->witness, sizeof f->witness, "%s/coa.witness", f->h->dir);
  snprintf(f->head_file, sizeof f->head_file, "%s.head", f->h->store);
  /* heads at every sweep that saw a new entry, so that the tests need
   * not wait a minute */
  if (harness_config(f->h, "checkpoint_every = 1\n"
                           "checkpoint_interval_ms = 100\n") != 0)
    return -1;
  *state = f;
  return 0;
}

static int s_teardown(void **state) {
  s_fx_t *f = *state;
  harness_destroy(&f->h);
  free(f);
  return 0;
}

static keten_client_t *s_client(s_fx_t *f, const char *id, int witness) {
  keten_client_config_t cfg;
  harness_client_config(f->h, &harness_partner(f->h, id)->keys, 3000, 1, &cfg);
  if (witness)
    cfg.witness_file = f->witness;
  char err[256];
  keten_client_t *c = keten_client_new(&cfg, err, sizeof err);
  if (!c)
    fail_msg("keten_client_new: %s", err);
  return c;
}

/* n audited requests by id: FETCHes of unknown subjects (each refusal is
 * an entry with id as actor). */
static void s_traffic(s_fx_t *f, const char *id, int n) {
  keten_client_t *c = s_client(f, id, 0);
  for (int i = 0; i < n; i++) {
    uint8_t subject[32];
    randombytes_buf(subject, sizeof subject);
    keten_section_t *secs = NULL;
    size_t m = 0;
    assert_int_equal(keten_client_fetch(c, subject, &secs, &m),
                     KETEN_ERR_REMOTE);
    keten_sections_free(secs, m);
  }
  keten_client_destroy(&c);
}

/* Waits until the broker's latest head covers at least size entries;
 * returns that head's size. */
static uint64_t s_wait_head(s_fx_t *f, uint64_t size) {
  keten_client_t *c = s_client(f, "ggz:zeeland", 0);
  keten_tree_head_t head = {0};
  for (int i = 0; i < 100; i++) {
    keten_welcome_t w;
    assert_int_equal(keten_client_hello(c, &w), KETEN_OK);
    assert_int_equal(keten_client_tree_head(c, &head), KETEN_OK);
    if (head.size >= size)
      break;
    struct timespec ts = {0, 100 * 1000000L};
    nanosleep(&ts, NULL);
  }
  keten_client_destroy(&c);
  assert_true(head.size >= size);
  return head.size;
}

static uint64_t s_audit_size(s_fx_t *f) {
  char err[256];
  store_t *s = store_open(f->h->store, err, sizeof err);
  assert_non_null(s);
  uint64_t seq;
  uint8_t hash[32];
  assert_int_equal(store_audit_head(s, &seq, hash), 0);
  store_close(&s);
  return seq;
}

static char *s_read(const char *path) {
  FILE *fp = fopen(path, "r");
  if (!fp)
    return NULL;
  char *buf = calloc(1, 4096);
  size_t n = fread(buf, 1, 4095, fp);
  buf[n] = '\0';
  fclose(fp);
  return buf;
}

/* ---- the rewriting attacker (ketend stopped) ------------------------------ */

typedef struct {
  audit_entry_t *e;
  size_t n, cap;
  const char *drop_a, *drop_b; /* drop entries naming both (NULL: none) */
  uint64_t keep_upto;          /* keep seq <= this (0: all) */
} s_keep_t;

static int s_collect(const audit_entry_t *e, void *arg) {
  s_keep_t *k = arg;
  if (k->keep_upto && e->seq > k->keep_upto)
    return 0;
  if (k->drop_a &&
      ((strcmp(e->actor, k->drop_a) == 0 &&
        strcmp(e->counterparty, k->drop_b) == 0) ||
       (strcmp(e->actor, k->drop_b) == 0 &&
        strcmp(e->counterparty, k->drop_a) == 0)))
    return 0;
  if (k->n == k->cap) {
    k->cap = k->cap ? 2 * k->cap : 64;
    k->e = realloc(k->e, k->cap * sizeof *k->e);
  }
  k->e[k->n++] = *e;
  return 0;
}

/* Rewrites the log: keeps what k selects, renumbers, recomputes the chain
 * (store_audit_append = audit_chain) and audit_node, and deletes every
 * checkpoint and tree head. Returns how many entries were dropped. */
static size_t s_rewrite(s_fx_t *f, s_keep_t *k) {
  char err[256];
  store_t *s = store_open(f->h->store, err, sizeof err);
  assert_non_null(s);
  uint64_t before;
  uint8_t hash[32];
  assert_int_equal(store_audit_head(s, &before, hash), 0);
  assert_int_equal(store_audit_each(s, s_collect, k), 0);
  store_close(&s);
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(f->h->store, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db,
                                "DELETE FROM audit; DELETE FROM audit_node; "
                                "DELETE FROM audit_checkpoint; "
                                "DELETE FROM tree_head;",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(db);
  s = store_open(f->h->store, err, sizeof err);
  assert_non_null(s);
  assert_int_equal(store_begin(s), 0);
  for (size_t i = 0; i < k->n; i++)
    assert_int_equal(store_audit_append(s, &k->e[i]), 0); /* new seq, chain, nodes */
  assert_int_equal(store_commit(s), 0);
  store_close(&s);
  free(k->e);
  k->e = NULL;
  return (size_t)before - k->n;
}

/* ketend refuses to start (exit status 2) on its head file. */
static void s_refuses(s_fx_t *f, const char *why) {
  const char *argv[] = {"--endpoint", f->h->endpoint, "--key-file",
                        f->h->key_file, "--root-key", f->h->root_file,
                        "--store", f->h->store, NULL};
  int before = harness_log_count(f->h, why);
  int refusals = harness_log_count(f->h, "is not the log this broker signed");
  assert_int_equal(harness_run_ketend(f->h, argv), 2);
  assert_int_equal(harness_log_count(f->h, "is not the log this broker signed"),
                   refusals + 1);
  assert_int_equal(harness_log_count(f->h, why), before + 1);
}

/* The partner's next WELCOME: KETEN_ERR_LOG_INCONSISTENT, and its witness
 * file unchanged. */
static void s_partner_detects(s_fx_t *f, const char *why) {
  char *kept = s_read(f->witness);
  assert_non_null(kept);
  keten_client_t *c = s_client(f, "coa", 1);
  keten_welcome_t w;
  assert_int_equal(keten_client_hello(c, &w), KETEN_ERR_LOG_INCONSISTENT);
  assert_string_equal(w.participant_id, "coa"); /* the WELCOME was filled */
  if (!strstr(keten_client_error(c), why))
    fail_msg("error '%s' does not say '%s'", keten_client_error(c), why);
  assert_int_equal(keten_client_witness(c), KETEN_ERR_LOG_INCONSISTENT);
  keten_client_destroy(&c);
  char *now = s_read(f->witness);
  assert_string_equal(kept, now);
  free(kept);
  free(now);
}

/* ---- tests ------------------------------------------------------------- */

static void test_welcome_head_verifies(void **state) {
  s_fx_t *f = *state;
  assert_int_equal(harness_start(f->h), 0);
  keten_client_t *c = s_client(f, "coa", 0);
  keten_welcome_t w;
  assert_int_equal(keten_client_hello(c, &w), KETEN_OK);
  keten_tree_head_t head;
  assert_int_equal(keten_client_tree_head(c, &head), KETEN_OK);
  assert_int_equal(keten_tree_head_verify(&head, f->h->broker.signing_pk, 1),
                   KETEN_OK);
  assert_memory_equal(head.broker_key, f->h->broker.signing_pk, 32);
  /* the head file holds the same head (0600) */
  keten_tree_head_t filed;
  assert_int_equal(keten_tree_head_load(f->head_file, &filed), KETEN_OK);
  assert_memory_equal(&filed, &head, sizeof head);
  keten_client_destroy(&c);
  /* a client that pins another broker signing key does not take the head
   * (without a witness file the WELCOME stands; asked, it says so) */
  keten_client_config_t cfg;
  harness_client_config(f->h, &harness_partner(f->h, "coa")->keys, 3000, 1,
                        &cfg);
  uint8_t wrong[32];
  randombytes_buf(wrong, sizeof wrong);
  cfg.broker_signing_key = wrong;
  char err[256];
  c = keten_client_new(&cfg, err, sizeof err);
  assert_non_null(c);
  assert_int_equal(keten_client_hello(c, &w), KETEN_OK);
  assert_int_equal(keten_client_tree_head(c, &head), KETEN_ERR_INVALID);
  assert_int_equal(keten_client_witness(c), KETEN_ERR_LOG_INCONSISTENT);
  keten_client_destroy(&c);
  /* with a witness file it refuses the WELCOME, and writes nothing */
  cfg.witness_file = f->witness;
  c = keten_client_new(&cfg, err, sizeof err);
  assert_non_null(c);
  assert_int_equal(keten_client_hello(c, &w), KETEN_ERR_LOG_INCONSISTENT);
  assert_int_equal(access(f->witness, F_OK), -1);
  keten_client_destroy(&c);
  cfg.witness_file = NULL;
  /* ... unless its key history has the broker's key */
  cfg.broker_signing_keys = f->h->broker.signing_pk;
  cfg.n_broker_signing_keys = 1;
  c = keten_client_new(&cfg, err, sizeof err);
  assert_non_null(c);
  assert_int_equal(keten_client_hello(c, &w), KETEN_OK);
  keten_client_destroy(&c);
  /* a witness file needs a key */
  cfg.broker_signing_key = NULL;
  cfg.broker_signing_keys = NULL;
  cfg.n_broker_signing_keys = 0;
  cfg.witness_file = f->witness;
  assert_null(keten_client_new(&cfg, err, sizeof err));
  assert_int_equal(harness_stop(f->h), 0);
}

static void test_witness_follows_a_growing_log(void **state) {
  s_fx_t *f = *state;
  assert_int_equal(harness_start(f->h), 0);
  keten_client_t *c = s_client(f, "coa", 1);
  keten_welcome_t w;
  assert_int_equal(keten_client_hello(c, &w), KETEN_OK); /* first use */
  keten_tree_head_t first, next;
  assert_int_equal(keten_tree_head_load(f->witness, &first), KETEN_OK);
  s_traffic(f, "coa", 5);
  uint64_t size = s_wait_head(f, first.size + 5);
  assert_int_equal(keten_client_witness(c), KETEN_OK); /* consistency proof */
  assert_int_equal(keten_tree_head_load(f->witness, &next), KETEN_OK);
  assert_true(next.size >= size && next.size > first.size);
  keten_client_destroy(&c);
  /* across a restart: the head signed at stop, the fresh one at start */
  assert_int_equal(harness_stop(f->h), 0);
  assert_int_equal(harness_start(f->h), 0);
  s_traffic(f, "gemeente:0716", 3);
  s_wait_head(f, next.size + 3);
  c = s_client(f, "coa", 1);
  assert_int_equal(keten_client_hello(c, &w), KETEN_OK); /* WELCOME + proof */
  keten_tree_head_t third;
  assert_int_equal(keten_tree_head_load(f->witness, &third), KETEN_OK);
  assert_true(third.size >= next.size + 3);
  /* an inclusion proof of one of our own entries, checked offline too */
  uint64_t own = 0, other = 0;
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_open_v2(f->h->store, &db, SQLITE_OPEN_READONLY, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db,
                                      "SELECT max(seq) FROM audit WHERE actor = "
                                      "'coa'",
                                      -1, &st, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  own = (uint64_t)sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  assert_int_equal(sqlite3_prepare_v2(db,
                                      "SELECT min(seq) FROM audit WHERE actor "
                                      "<> 'coa' AND counterparty <> 'coa'",
                                      -1, &st, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  other = (uint64_t)sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  assert_true(own > 0 && other > 0 && own <= third.size);
  keten_audit_proof_t p;
  assert_int_equal(keten_client_audit_proof(c, own, &p), KETEN_OK);
  assert_int_equal(p.seq, own);
  assert_int_equal(keten_audit_proof_verify(&p, f->h->broker.signing_pk, 1),
                   KETEN_OK);
  p.entry[p.entry_len - 1] ^= 1; /* one changed byte of the entry */
  assert_int_equal(keten_audit_proof_verify(&p, f->h->broker.signing_pk, 1),
                   KETEN_ERR_LOG_INCONSISTENT);
  keten_audit_proof_free(&p);
  assert_int_equal(keten_client_audit_proof(c, other, &p), KETEN_ERR_REMOTE);
  assert_int_equal(keten_client_remote_code(c),
                   KETEN__ERROR_CODE__ERROR_FORBIDDEN);
  assert_null(p.entry);
  assert_int_equal(keten_client_audit_proof(c, third.size + 1000, &p),
                   KETEN_ERR_REMOTE);
  assert_int_equal(keten_client_remote_code(c),
                   KETEN__ERROR_CODE__ERROR_INVALID_FIELD);
  keten_client_destroy(&c);
  assert_int_equal(harness_stop(f->h), 0);
  /* the refusal was audited */
  assert_int_equal(harness_log_count(f->h, "not about your own traffic"), 1);
}

/* A log with entries of coa and of gemeente:0716, witnessed by coa;
 * ketend stopped. */
static void s_witnessed_log(s_fx_t *f) {
  assert_int_equal(harness_start(f->h), 0);
  s_traffic(f, "coa", 4);
  s_traffic(f, "gemeente:0716", 4);
  uint64_t size = s_wait_head(f, 8);
  keten_client_t *c = s_client(f, "coa", 1);
  keten_welcome_t w;
  assert_int_equal(keten_client_hello(c, &w), KETEN_OK);
  keten_tree_head_t held;
  assert_int_equal(keten_tree_head_load(f->witness, &held), KETEN_OK);
  assert_true(held.size >= size);
  keten_client_destroy(&c);
  assert_int_equal(harness_stop(f->h), 0);
}

static void test_rewrite_is_caught(void **state) {
  s_fx_t *f = *state;
  s_witnessed_log(f);
  uint64_t size = s_audit_size(f);
  /* every entry of gemeente:0716 deleted (actor gemeente, no counterparty:
   * its refused FETCHes), the rest renumbered and re-chained */
  s_keep_t k = {.drop_a = "gemeente:0716", .drop_b = ""};
  size_t dropped = s_rewrite(f, &k);
  assert_true(dropped >= 4);
  /* the head file still holds the broker's last head: it refuses */
  s_refuses(f, "fewer than the");
  /* the attacker rewrites the head file too (removes it): ketend starts,
   * but the partner who witnessed the old log finds out */
  assert_int_equal(unlink(f->head_file), 0);
  assert_int_equal(harness_start(f->h), 0);
  s_partner_detects(f, "");
  /* even once the rewritten log is longer than the witnessed one */
  s_traffic(f, "ggz:zeeland", (int)dropped + 3);
  s_wait_head(f, size + 1);
  s_partner_detects(f, "not an extension");
  assert_int_equal(harness_stop(f->h), 0);
  /* the same rewrite with a head file re-signed by another key is refused
   * too (the attacker has no broker key) */
  keten_tree_head_t forged;
  assert_int_equal(keten_tree_head_load(f->head_file, &forged), KETEN_OK);
  forged.size += 1;
  assert_int_equal(keten_tree_head_save(f->head_file, &forged), KETEN_OK);
  s_refuses(f, "not signed by the broker's signing key");
}

static void test_emptying_is_caught(void **state) {
  s_fx_t *f = *state;
  s_witnessed_log(f);
  {
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->h->store, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "DELETE FROM audit; DELETE FROM audit_node; "
                                  "DELETE FROM audit_checkpoint; "
                                  "DELETE FROM tree_head;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
  }
  assert_int_equal(s_audit_size(f), 0);
  s_refuses(f, "fewer than the");
  assert_int_equal(unlink(f->head_file), 0);
  assert_int_equal(harness_start(f->h), 0);
  s_partner_detects(f, "fewer than the");
  assert_int_equal(harness_stop(f->h), 0);
}

static void test_truncating_the_tail_is_caught(void **state) {
  s_fx_t *f = *state;
  s_witnessed_log(f);
  uint64_t size = s_audit_size(f);
  s_keep_t k = {.keep_upto = size - 3};
  assert_int_equal(s_rewrite(f, &k), 3);
  s_refuses(f, "fewer than the");
  assert_int_equal(unlink(f->head_file), 0);
  assert_int_equal(harness_start(f->h), 0);
  s_partner_detects(f, "truncated");
  /* grown past the witnessed size again: the consistency proof fails */
  s_traffic(f, "ggz:zeeland", 6);
  s_wait_head(f, size + 2);
  s_partner_detects(f, "not an extension");
  assert_int_equal(harness_stop(f->h), 0);
}

/* A rotation of the broker's signing key: the head file and the stored
 * heads were signed by the old key, so ketend refuses to start with only
 * the new one, and starts (and signs a head with the new key) once the
 * old public key is given as previous_broker_key (found in review). */
static void test_broker_key_rotation(void **state) {
  s_fx_t *f = *state;
  assert_int_equal(harness_start(f->h), 0);
  assert_int_equal(harness_stop(f->h), 0);
  char old_pub[400];
  snprintf(old_pub, sizeof old_pub, "%s/broker-old.pub", f->h->dir);
  assert_int_equal(keten_keys_save(&f->h->broker, NULL, old_pub, 1), KETEN_OK);
  uint8_t old_pk[32];
  memcpy(old_pk, f->h->broker.signing_pk, 32);
  assert_int_equal(unlink(f->h->key_file), 0);
  keten_keys_generate(&f->h->broker, "broker");
  assert_int_equal(keten_keys_save(&f->h->broker, f->h->key_file, NULL, 0),
                   KETEN_OK);
  s_refuses(f, "not signed by the broker's signing key");
  char conf[512];
  snprintf(conf, sizeof conf, "previous_broker_key = %s\n", old_pub);
  assert_int_equal(harness_config(f->h, conf), 0);
  assert_int_equal(harness_start(f->h), 0);
  assert_int_equal(harness_stop(f->h), 0);
  keten_tree_head_t filed;
  assert_int_equal(keten_tree_head_load(f->head_file, &filed), KETEN_OK);
  assert_memory_equal(filed.broker_key, f->h->broker.signing_pk, 32);
  assert_memory_not_equal(filed.broker_key, old_pk, 32);
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_broker_key_rotation, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_welcome_head_verifies, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_witness_follows_a_growing_log,
                                      s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_rewrite_is_caught, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_emptying_is_caught, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_truncating_the_tail_is_caught,
                                      s_setup, s_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
