/* Erasure (AVG art. 17) and retention (issue 9, item 5) over a real ketend
 * (ipc) with the example partners, driven by real libketen clients, raw
 * CURVE sockets where a request must be wrong, and the keten CLI for the
 * operator's path:
 *
 *   - the author erases some kinds, then all: what it erased is gone from
 *     FETCH, every recipient that had it gets a broker-signed delete notice
 *     (reason ERASED) that libketen surfaces, the erasure is audited once
 *     each; reusing an erasure_id is ERROR_CONFLICT;
 *   - a non-author's ERASE is ERROR_NOT_AUTHOR, a bad signature
 *     ERROR_BAD_SIGNATURE, both audited; nothing is erased;
 *   - the raw bytes of the store (.db, -wal, -shm) hold the ciphertext
 *     before the erasure and neither it nor any 32-byte chunk of it after;
 *   - the operator's path: `keten erase --export`, then `keten admin
 *     subject erase --request`: the pending delivery is gone, the evidence
 *     references are erased (marker), ketend signs and queues the owed
 *     notice, the bytes are gone;
 *   - retention: a version 1.5 s from expiry disappears with a notice; a
 *     date in the past or beyond 30 years is ERROR_INVALID_FIELD;
 *   - the real `keten listen --dir` of a recipient deletes the file of an
 *     erased section (and of one whose retention date passed), prints
 *     "deleted FILE (reason: erased)" and records the notice with what it
 *     deleted as DIR/notice-<subject>-<id>.json; the file of the kind that
 *     was not erased stays;
 *   - every case ends with `keten audit verify` on the stopped broker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "canon.h"
#include "envelope.h"
#include "harness.h"
#include "party.h"

#define COA "coa"
#define G1 "gemeente:0716"
#define BIT(kind) (UINT64_C(1) << (kind))

enum { K_IDENTITY = 1, K_STORY = 3, K_LANGUAGE = 6 };
enum { P_INBURGERING = 2 };
enum { ERROR_NOT_AUTHOR = 10, ERROR_BAD_SIGNATURE = 9, ERROR_CONFLICT = 11,
       ERROR_INVALID_FIELD = 4, ERROR_NOT_FOUND = 12 };

static const char *const V_AMIRA = "2931847560"; /* fictional */

static int s_setup(void **state) {
  harness_t *h = harness_new(1);
  if (!h || harness_start(h) != 0) {
    harness_destroy(&h);
    return -1;
  }
  *state = h;
  return 0;
}

static int s_teardown(void **state) {
  harness_t *h = *state;
  party_cleanup();
  harness_destroy(&h);
  return 0;
}

/* ---- helpers ------------------------------------------------------------- */

/* A JSON section whose plaintext is n random hex digits (so that its
 * ciphertext is one nobody could find by chance). */
static char *s_random_json(size_t n) {
  uint8_t *raw = malloc(n / 2 + 1);
  char *hex = malloc(n + 2);
  char *json = malloc(n + 128);
  assert_non_null(raw);
  assert_non_null(hex);
  assert_non_null(json);
  randombytes_buf(raw, n / 2);
  sodium_bin2hex(hex, n + 1, raw, n / 2);
  /* the required fields of IDENTITY and of STORY (docs/sections.md 3) */
  snprintf(json, n + 128, "{\"given_name\": \"g\", \"family_name\": \"f\", "
           "\"birth_date\": \"1991\", \"language\": \"ar\", \"text\": \"t\", "
           "\"notes\": \"%s\"}", hex);
  free(raw);
  free(hex);
  return json;
}

/* The stored ciphertext of (subject, kind, author) at version into a
 * malloc'd buffer; *len its length. */
static uint8_t *s_ciphertext(harness_t *h, const uint8_t subject[32], int kind,
                             uint64_t version, size_t *len) {
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open_v2(h->store, &db, SQLITE_OPEN_READONLY, NULL),
                   SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(db,
                                      "SELECT ciphertext FROM section WHERE "
                                      "subject = ? AND kind = ? AND version = ?",
                                      -1, &st, NULL),
                   SQLITE_OK);
  sqlite3_bind_blob(st, 1, subject, 32, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, kind);
  sqlite3_bind_int64(st, 3, (sqlite3_int64)version);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  *len = (size_t)sqlite3_column_bytes(st, 0);
  uint8_t *out = malloc(*len);
  assert_non_null(out);
  memcpy(out, sqlite3_column_blob(st, 0), *len);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

static uint8_t *s_slurp(const char *path, size_t *len) {
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 1 << 16, n = 0;
  uint8_t *buf = malloc(cap);
  assert_non_null(buf);
  size_t got;
  while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) {
      cap *= 2;
      buf = realloc(buf, cap);
      assert_non_null(buf);
    }
  }
  fclose(f);
  *len = n;
  return buf;
}

static int s_contains(const uint8_t *hay, size_t n, const uint8_t *needle,
                      size_t m) {
  if (m == 0 || n < m)
    return 0;
  for (size_t i = 0; i + m <= n; i++)
    if (hay[i] == needle[0] && memcmp(hay + i, needle, m) == 0)
      return 1;
  return 0;
}

/* How many of the store's files (.db, -wal, -shm) hold needle. */
static int s_files_holding(harness_t *h, const uint8_t *needle, size_t m) {
  static const char *const suffix[] = {"", "-wal", "-shm"};
  int found = 0;
  for (size_t i = 0; i < 3; i++) {
    char path[400];
    snprintf(path, sizeof path, "%s%s", h->store, suffix[i]);
    size_t n = 0;
    uint8_t *buf = s_slurp(path, &n);
    if (buf && s_contains(buf, n, needle, m))
      found++;
    free(buf);
  }
  return found;
}

/* Counts the files holding all of ct, or any 32-byte chunk of it at 0,
 * the middle and the end (of a long one: at every 1 KiB too). */
static int s_bytes_found(harness_t *h, const uint8_t *ct, size_t len,
                         int whole) {
  int found = whole ? s_files_holding(h, ct, len) : 0;
  for (size_t off = 0; off + 32 <= len; off += 1024)
    found += s_files_holding(h, ct + off, 32);
  found += s_files_holding(h, ct + len / 2, 32);
  found += s_files_holding(h, ct + len - 32, 32);
  return found;
}

/* The delete notices p received with reason ERASED naming (kind, up_to). */
static int s_erased_notices(const party_t *p, int kind, uint64_t up_to) {
  int n = 0;
  for (size_t i = 0; i < p->n_ntc; i++) {
    const keten_notice_t *x = &p->ntc[i].n;
    if (p->ntc[i].null_notice || x->kind != KETEN_NOTICE_DELETE ||
        x->delete_reason != KETEN_NOTICE_REASON_ERASED)
      continue;
    for (size_t j = 0; j < x->n_items; j++)
      if (x->items[j].kind == kind && x->items[j].up_to_version == up_to &&
          strcmp(x->items[j].author, COA) == 0)
        n++;
  }
  return n;
}

/* An Erasure on the wire, signed with sk (NULL: a wrong signature). */
static int s_raw_erase(harness_t *h, const keten_keys_t *sender,
                       const uint8_t subject[32], const char *author,
                       const uint8_t *sk) {
  void *ctx = zmq_ctx_new();
  void *sock = harness_raw_socket(h, ctx, sender);
  uint8_t id[16], sig[64];
  randombytes_buf(id, sizeof id);
  Keten__Erasure e = KETEN__ERASURE__INIT;
  e.erasure_id.data = id;
  e.erasure_id.len = 16;
  e.subject.data = (uint8_t *)subject;
  e.subject.len = 32;
  e.author = (char *)author;
  e.reason = "verzoek 2026-0042";
  e.requested_at_ms = (uint64_t)party_wall_ms();
  if (sk) {
    assert_int_equal(canon_sign_erasure(&e, sk, sig), 0);
  } else {
    randombytes_buf(sig, sizeof sig);
  }
  e.signature.data = sig;
  e.signature.len = 64;
  Keten__EraseRequest req = KETEN__ERASE_REQUEST__INIT;
  req.erasure = &e;
  Keten__Envelope env = KETEN__ENVELOPE__INIT;
  env.body_case = KETEN__ENVELOPE__BODY_ERASE;
  env.erase = &req;
  int code = party_error_code(party_raw(sock, &env));
  zmq_close(sock);
  zmq_ctx_term(ctx);
  return code;
}

/* COA records a consent for G1 over IDENTITY and STORY and puts both;
 * G1 (subscribed) receives them. */
static void s_two_sections(harness_t *h, party_t *g, keten_client_t *coa,
                           const uint8_t subject[32], const char *identity,
                           const char *story) {
  party_grant(coa, subject, G1, BIT(K_IDENTITY) | BIT(K_STORY), P_INBURGERING,
              NULL);
  party_put(coa, subject, K_IDENTITY, identity);
  party_put(coa, subject, K_STORY, story);
  party_wait(PARTIES(g), g, 2, 0, 0);
  (void)h;
}

/* ---- keten listen --dir -------------------------------------------------- */

/* A file's text, NUL-terminated (malloc'd), or NULL if it cannot be read. */
static char *s_slurp_text(const char *path) {
  size_t n = 0;
  uint8_t *buf = s_slurp(path, &n);
  if (!buf)
    return NULL;
  char *text = realloc(buf, n + 1);
  assert_non_null(text);
  text[n] = '\0';
  return text;
}

typedef struct {
  pid_t pid;
  char inbox[320], out[320], err[320];
  char hex16[17];             /* the subject's first 8 bytes in hex */
} s_listener_t;

/* Starts the real `keten listen --dir DIR/inbox` as id in the background,
 * stdout and stderr into files of DIR (--idle: it ends by itself should
 * the test fail before s_listen_stop). */
static void s_listen_start(harness_t *h, const char *id,
                           const uint8_t subject[32], s_listener_t *l) {
  char keys[320], bpub[320];
  snprintf(keys, sizeof keys, "%s/listener.key", h->dir);
  snprintf(bpub, sizeof bpub, "%s/broker.pub", h->dir);
  snprintf(l->inbox, sizeof l->inbox, "%s/inbox", h->dir);
  snprintf(l->out, sizeof l->out, "%s/listen.out", h->dir);
  snprintf(l->err, sizeof l->err, "%s/listen.err", h->dir);
  party_hex(subject, 8, l->hex16);
  assert_int_equal(keten_keys_save(&harness_partner(h, id)->keys, keys, NULL, 1),
                   KETEN_OK);
  assert_int_equal(keten_keys_save(&h->broker, NULL, bpub, 1), KETEN_OK);
  assert_int_equal(mkdir(l->inbox, 0700), 0);
  const char *argv[] = {KETEN_CLI_PATH, "listen", "--dir", l->inbox,
                        "--idle", "30000", "-e", h->endpoint, "-k", keys,
                        "-b", bpub, "-R", h->root_file, "-T", "3000", NULL};
  l->pid = fork();
  assert_true(l->pid >= 0);
  if (l->pid == 0) {
    if (!freopen(l->out, "w", stdout) || !freopen(l->err, "w", stderr))
      _exit(126);
    execv(KETEN_CLI_PATH, (char *const *)argv);
    _exit(127);
  }
}

/* Stops listen (SIGTERM) and returns its exit status; *out and *err
 * (malloc'd) get what it printed. */
static int s_listen_stop(s_listener_t *l, char **out, char **err) {
  int status = 0;
  if (l->pid > 0) {
    kill(l->pid, SIGTERM);
    while (waitpid(l->pid, &status, 0) < 0 && errno == EINTR)
      ;
    l->pid = 0;
  }
  *out = s_slurp_text(l->out);
  *err = s_slurp_text(l->err);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* DIR/<hex16>-<KIND>-coa-v<v>.json, the name listen gives a section. */
static void s_section_file(const s_listener_t *l, const char *kind, int v,
                           char *path, size_t cap) {
  snprintf(path, cap, "%s/%s-%s-coa-v%d.json", l->inbox, l->hex16, kind, v);
}

/* Waits up to timeout_ms until path exists (present) or not. 1 if so. */
static int s_wait_file(const char *path, int present, int timeout_ms) {
  for (int64_t end = party_mono_ms() + timeout_ms;; party_sleep_ms(20)) {
    if ((access(path, F_OK) == 0) == (present != 0))
      return 1;
    if (party_mono_ms() >= end)
      return 0;
  }
}

/* The DIR/notice-<hex16>-*.json files: how many, and the text of the
 * last one found into *text (malloc'd, NUL-terminated; NULL if none). */
static int s_notice_files(const s_listener_t *l, char **text) {
  char prefix[64];
  snprintf(prefix, sizeof prefix, "notice-%s-", l->hex16);
  *text = NULL;
  int n = 0;
  DIR *d = opendir(l->inbox);
  assert_non_null(d);
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
      continue;
    char path[700];
    snprintf(path, sizeof path, "%s/%s", l->inbox, de->d_name);
    char *buf = s_slurp_text(path);
    if (!buf)
      continue;
    n++;
    free(*text);
    *text = buf;
  }
  closedir(d);
  return n;
}

/* Waits up to timeout_ms for n notice files. 1 if so. */
static int s_wait_notices(const s_listener_t *l, int n, int timeout_ms) {
  for (int64_t end = party_mono_ms() + timeout_ms;; party_sleep_ms(20)) {
    char *text = NULL;
    int got = s_notice_files(l, &text);
    free(text);
    if (got >= n)
      return 1;
    if (party_mono_ms() >= end)
      return 0;
  }
}

/* ---- the author erases --------------------------------------------------- */

static void test_author_erases(void **state) {
  harness_t *h = *state;
  uint8_t subject[32];
  party_subject(V_AMIRA, subject);
  party_t *g = party_new(h, G1, 1);
  keten_client_t *coa = party_client(h, COA);
  char *identity = s_random_json(16000); /* overflow pages */
  char *story = s_random_json(600);      /* one cell */
  s_two_sections(h, g, coa, subject, identity, story);
  size_t id_len = 0, st_len = 0;
  uint8_t *id_ct = s_ciphertext(h, subject, K_IDENTITY, 1, &id_len);
  uint8_t *st_ct = s_ciphertext(h, subject, K_STORY, 1, &st_len);
  /* Before: the bytes are there (so the check below can fail). */
  assert_true(s_files_holding(h, st_ct, st_len) >= 1);
  assert_true(s_bytes_found(h, id_ct, id_len, 0) >= 3);

  /* STORY only. */
  keten_erasure_t e;
  memset(&e, 0, sizeof e);
  memcpy(e.subject, subject, 32);
  e.kinds = BIT(K_STORY);
  snprintf(e.reason, sizeof e.reason, "AVG-verzoek 2026-0042");
  keten_erase_result_t res;
  assert_int_equal(keten_client_erase(coa, &e, &res), KETEN_OK);
  assert_int_equal(res.sections, 1);
  assert_int_equal(res.wraps, 2); /* the author's own and G1's */
  assert_int_equal(res.n_notified, 1);
  assert_string_equal(res.notified[0], G1);
  party_wait(PARTIES(g), g, 2, 0, 1);
  assert_int_equal(s_erased_notices(g, K_STORY, 1), 1);
  assert_int_equal(party_fetch_kinds(party_client(h, G1), subject),
                   BIT(K_IDENTITY));
  assert_int_equal(party_fetch_kinds(coa, subject), BIT(K_IDENTITY));

  /* The same erasure_id again: a conflict, audited; nothing more. */
  keten_erasure_t again = e;
  memset(again.signature, 0, sizeof again.signature);
  party_expect_remote(coa, keten_client_erase(coa, &again, NULL),
                      ERROR_CONFLICT, "a reused erasure_id");

  /* Everything else. */
  keten_erasure_t all;
  memset(&all, 0, sizeof all);
  memcpy(all.subject, subject, 32);
  snprintf(all.reason, sizeof all.reason, "AVG-verzoek 2026-0042 (rest)");
  assert_int_equal(keten_client_erase(coa, &all, &res), KETEN_OK);
  assert_int_equal(res.sections, 1);
  party_wait(PARTIES(g), g, 2, 0, 2);
  assert_int_equal(s_erased_notices(g, K_IDENTITY, 1), 1);
  party_expect_remote(coa, keten_client_erase(coa, &all, NULL),
                      ERROR_CONFLICT, "the second erasure again");
  assert_int_equal(party_fetch_kinds(coa, subject), 0); /* NOT_FOUND */
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM section"), 0);
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM wrap"), 0);
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM erasure"), 2);
  assert_int_equal(party_audited(h, "keten.section.erase", 1, "erasure "), 2);
  assert_int_equal(
      party_audited(h, "keten.section.erase", 1, "kinds 0x8 evidence 0"), 1);
  assert_int_equal(party_audited(h, "keten.section.erase", 2,
                                 "applied before"),
                   2);
  assert_int_equal(party_audited(h, "keten.notice.queue", 1, "erased"), 2);

  /* While ketend runs: the erasure's commit truncated the WAL. */
  assert_int_equal(s_bytes_found(h, st_ct, st_len, 1), 0);
  assert_int_equal(s_bytes_found(h, id_ct, id_len, 1), 0);
  party_cleanup();
  party_stop_and_verify(h);
  /* After: neither ciphertext nor any 32-byte chunk of it. */
  assert_int_equal(s_files_holding(h, st_ct, st_len), 0);
  assert_int_equal(s_bytes_found(h, st_ct, st_len, 1), 0);
  assert_int_equal(s_bytes_found(h, id_ct, id_len, 1), 0);
  free(id_ct);
  free(st_ct);
  free(identity);
  free(story);
}

/* ---- refusals ------------------------------------------------------------ */

static void test_refusals(void **state) {
  harness_t *h = *state;
  uint8_t subject[32];
  party_subject(V_AMIRA, subject);
  party_t *g = party_new(h, G1, 1);
  keten_client_t *coa = party_client(h, COA);
  s_two_sections(h, g, coa, subject, "{\"given_name\": \"Amira\", \"family_name\": \"Haddad\", \"birth_date\": \"1991\"}",
                 "{\"text\": \"kwam via Ter Apel\", \"language\": \"nl\"}");
  harness_partner_t *gp = harness_partner(h, G1);
  harness_partner_t *cp = harness_partner(h, COA);
  /* G1 asks to erase COA's sections, even signed with its own key. */
  assert_int_equal(s_raw_erase(h, &gp->keys, subject, COA, gp->keys.signing_sk),
                   ERROR_NOT_AUTHOR);
  /* COA itself, with a signature that is not its own. */
  assert_int_equal(s_raw_erase(h, &cp->keys, subject, COA, gp->keys.signing_sk),
                   ERROR_BAD_SIGNATURE);
  assert_int_equal(s_raw_erase(h, &cp->keys, subject, COA, NULL),
                   ERROR_BAD_SIGNATURE);
  assert_int_equal(party_audited(h, "keten.section.erase", 2,
                                 "sender is not the erasure"),
                   1);
  assert_int_equal(party_audited(h, "keten.section.erase", 2,
                                 "signature does not verify"),
                   2);
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM section"), 2);
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM erasure"), 0);
  /* Out of bounds: an empty reason and a kind that does not exist. */
  keten_erasure_t e;
  memset(&e, 0, sizeof e);
  memcpy(e.subject, subject, 32);
  assert_int_equal(keten_client_erase(coa, &e, NULL), KETEN_ERR_INVALID);
  snprintf(e.reason, sizeof e.reason, "x");
  e.kinds = BIT(13);
  assert_int_equal(keten_client_erase(coa, &e, NULL), KETEN_ERR_INVALID);
  party_cleanup();
  party_stop_and_verify(h);
}

/* ---- the operator applies the controller's signed request ----------------- */

static void test_operator_erases(void **state) {
  harness_t *h = *state;
  uint8_t subject[32];
  party_subject(V_AMIRA, subject);
  keten_client_t *coa = party_client(h, COA);
  keten_consent_t consent;
  memset(&consent, 0, sizeof consent);
  party_grant(coa, subject, G1, BIT(K_STORY), P_INBURGERING, &consent);
  char *story = s_random_json(600);
  party_put(coa, subject, K_STORY, story);
  /* G1 never subscribed: its delivery is pending. */
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM mailbox WHERE "
                                 "recipient = '%s' AND section_id IS NOT NULL",
                              G1),
                   1);
  size_t ct_len = 0;
  uint8_t *ct = s_ciphertext(h, subject, K_STORY, 1, &ct_len);
  assert_true(s_files_holding(h, ct, ct_len) >= 1);

  /* The controller exports its signed request. */
  char keys[320], request[320], subject_hex[65];
  snprintf(keys, sizeof keys, "%s/coa.key", h->dir);
  snprintf(request, sizeof request, "%s/erasure.json", h->dir);
  assert_int_equal(keten_keys_save(&harness_partner(h, COA)->keys, keys, NULL, 1),
                   KETEN_OK);
  party_hex(subject, 32, subject_hex);
  const char *exp[] = {"erase",  subject_hex, "--reason", "AVG-verzoek 2026-0043",
                       "--evidence", "--export", request, "--author", COA,
                       "--keys", keys, NULL};
  char *out = NULL;
  assert_int_equal(harness_run_cli(h, exp, &out), 0);
  free(out);
  /* A request someone changed does not verify. */
  char forged[320];
  snprintf(forged, sizeof forged, "%s/forged.json", h->dir);
  {
    size_t n = 0;
    uint8_t *doc = s_slurp(request, &n);
    char *at = strstr((char *)doc, "2026-0043");
    assert_non_null(at);
    at[8] = '4';
    FILE *f = fopen(forged, "wb");
    fwrite(doc, 1, n, f);
    fclose(f);
    free(doc);
  }
  const char *bad[] = {"admin", "subject", "erase", "--store", h->store,
                       "--request", forged, NULL};
  assert_int_equal(harness_run_cli(h, bad, NULL), 1);
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM section"), 1);

  /* Applied with the store and root key read from ketend.conf (--config),
   * as the operator does it on a packaged host. */
  char conf[320];
  snprintf(conf, sizeof conf, "%s/admin.conf", h->dir);
  {
    FILE *f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(f, "endpoint = %s\nkey_file = %s\nroot_key = %s\nstore = %s\n",
            h->endpoint, h->key_file, h->root_file, h->store);
    fclose(f);
  }
  const char *apply[] = {"admin", "subject", "erase", "--config", conf,
                         "--request", request, "--json", NULL};
  out = NULL;
  assert_int_equal(harness_run_cli(h, apply, &out), 0);
  assert_non_null(strstr(out, "\"sections\":1"));
  assert_non_null(strstr(out, "\"deliveries\":1"));
  assert_non_null(strstr(out, "\"evidence_refs\":1"));
  assert_non_null(strstr(out, "\"notices_owed\":1"));
  free(out);
  /* Applied once only. */
  assert_int_equal(harness_run_cli(h, apply, NULL), 1);
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM section"), 0);
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM mailbox WHERE "
                                 "section_id IS NOT NULL"),
                   0);
  assert_int_equal(party_audited(h, "keten.section.erase", 1, "evidence 1"), 1);
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM audit WHERE name = "
                                 "'keten.section.erase' AND actor = 'operator'"),
                   1);
  /* The consent record stays, its evidence reference replaced. */
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM consent"), 1);
  assert_int_equal(party_sqlf(h, "SELECT instr(record, CAST('erased:' AS "
                                 "BLOB)) > 0 FROM consent"),
                   1);
  /* ketend signs and queues the owed notice: G1 gets it. */
  party_t *g = party_new(h, G1, 1);
  party_wait(PARTIES(g), g, 0, 0, 1);
  assert_int_equal(s_erased_notices(g, K_STORY, 1), 1);
  assert_int_equal(g->n_sec, 0); /* the pending delivery never came */
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM erasure_notice"), 0);
  party_cleanup();
  party_stop_and_verify(h);
  assert_int_equal(s_bytes_found(h, ct, ct_len, 1), 0);
  free(ct);
  free(story);
}

/* ---- retention ----------------------------------------------------------- */

static void test_retention(void **state) {
  harness_t *h = *state;
  uint8_t subject[32];
  party_subject(V_AMIRA, subject);
  party_t *g = party_new(h, G1, 1);
  keten_client_t *coa = party_client(h, COA);
  party_grant(coa, subject, G1, BIT(K_IDENTITY) | BIT(K_STORY), P_INBURGERING,
              NULL);
  int64_t now = party_wall_ms();
  party_expect_remote(
      coa,
      keten_client_put_retained(coa, subject, K_STORY, "{\"text\":\"x\",\"language\":\"ar\"}", 28,
                                (uint64_t)(now - 1000), NULL),
      ERROR_INVALID_FIELD, "a retention date in the past");
  party_expect_remote(
      coa,
      keten_client_put_retained(coa, subject, K_STORY, "{\"text\":\"x\",\"language\":\"ar\"}", 28,
                                (uint64_t)(now + INT64_C(31) * 365 * 86400000),
                                NULL),
      ERROR_INVALID_FIELD, "a retention date beyond 30 years");
  /* IDENTITY with the default (a year), STORY 1.5 s. */
  party_put(coa, subject, K_IDENTITY, "{\"given_name\": \"Amira\", \"family_name\": \"Haddad\", \"birth_date\": \"1991\"}");
  keten_put_result_t res;
  assert_int_equal(keten_client_put_retained(coa, subject, K_STORY,
                                             "{\"text\": \"kort\", \"language\": \"nl\"}", 34,
                                             (uint64_t)(party_wall_ms() + 1500),
                                             &res),
                   KETEN_OK);
  party_wait(PARTIES(g), g, 2, 0, 0);
  long long year = party_sqlf(h, "SELECT retain_until_ms - created_at_ms FROM "
                                 "section WHERE kind = %d", K_IDENTITY);
  assert_true(year > 364LL * 86400000 && year < 366LL * 86400000);
  party_wait(PARTIES(g), g, 2, 0, 1);
  assert_int_equal(s_erased_notices(g, K_STORY, 1), 1);
  assert_true(party_wall_ms() >= now + 1500);
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM section"), 1);
  assert_int_equal(party_fetch_kinds(party_client(h, G1), subject),
                   BIT(K_IDENTITY));
  assert_int_equal(party_audited(h, "keten.section.erase", 1,
                                 "retention passed: sections 1 up to v1"),
                   1);
  party_cleanup();
  party_stop_and_verify(h);
}

/* ---- keten listen --dir obeys the notices --------------------------------- */

/* What listen did with one delete notice for STORY v1 (reason erased): the
 * STORY file gone, the IDENTITY file still there, one notice file naming
 * what it deleted, the "deleted" line and the summary. got_both, gone and
 * noticed are what the test saw while listen ran. */
static void s_expect_story_deleted(const s_listener_t *l, int got_both,
                                   int gone, int noticed, int status,
                                   const char *out, const char *err) {
  char identity[400], story[400], line[600], deleted[120], summary[200];
  s_section_file(l, "IDENTITY", 1, identity, sizeof identity);
  s_section_file(l, "STORY", 1, story, sizeof story);
  snprintf(line, sizeof line, "deleted %s (reason: erased)\n", story);
  snprintf(deleted, sizeof deleted, "\"deleted\":[\"%s-STORY-coa-v1.json\"]",
           l->hex16);
  snprintf(summary, sizeof summary,
           "keten listen: 2 section(s) and 1 notice(s) received; 0 TVS "
           "event(s), 1 file(s) deleted");
  char *notice = NULL;
  int n_notices = s_notice_files(l, &notice);
  int identity_stays = access(identity, F_OK) == 0;
  if (!got_both || !gone || !noticed || status != 0 || n_notices != 1 ||
      !identity_stays || !strstr(out, line) || !strstr(err, summary))
    print_error("listen: both files %d, STORY gone %d, noticed %d, exit %d, "
                "notice files %d, IDENTITY stays %d\nstdout: %s\nstderr: %s\n"
                "notice: %s\n", got_both, gone, noticed, status, n_notices,
                identity_stays, out, err, notice ? notice : "(none)");
  assert_true(got_both);
  assert_true(gone);
  assert_true(noticed);
  assert_int_equal(status, 0);
  assert_int_equal(n_notices, 1);
  assert_true(identity_stays); /* the kind nobody erased */
  assert_non_null(strstr(out, line));
  assert_null(strstr(out, "IDENTITY-coa-v1.json (reason"));
  assert_non_null(strstr(err, summary));
  assert_non_null(notice);
  assert_non_null(strstr(notice, "\"notice\":\"DELETE\""));
  assert_non_null(strstr(notice, "\"reason\":\"erased\""));
  assert_non_null(strstr(notice, deleted)); /* STORY, and only STORY */
  assert_non_null(strstr(notice, "\"items\":[{\"author\":\"coa\",\"kind\":"
                                 "\"STORY\",\"up_to_version\":1}]"));
  free(notice);
}

/* A recipient runs the real `keten listen --dir`; the author erases STORY
 * with `keten erase`: listen deletes the STORY file, keeps the IDENTITY
 * one, and records the notice. */
static void test_listen_deletes_erased(void **state) {
  harness_t *h = *state;
  uint8_t subject[32];
  party_subject(V_AMIRA, subject);
  keten_client_t *coa = party_client(h, COA);
  party_grant(coa, subject, G1, BIT(K_IDENTITY) | BIT(K_STORY), P_INBURGERING,
              NULL);
  s_listener_t l;
  s_listen_start(h, G1, subject, &l);
  party_put(coa, subject, K_IDENTITY, "{\"given_name\": \"Amira\", \"family_name\": \"Haddad\", \"birth_date\": \"1991\"}");
  party_put(coa, subject, K_STORY, "{\"text\": \"kwam via Ter Apel\", \"language\": \"nl\"}");
  char identity[400], story[400];
  s_section_file(&l, "IDENTITY", 1, identity, sizeof identity);
  s_section_file(&l, "STORY", 1, story, sizeof story);
  int got_both = s_wait_file(identity, 1, 15000) && s_wait_file(story, 1, 15000);

  char keys[320], bpub[320], subject_hex[65];
  snprintf(keys, sizeof keys, "%s/coa.key", h->dir);
  snprintf(bpub, sizeof bpub, "%s/broker.pub", h->dir);
  assert_int_equal(keten_keys_save(&harness_partner(h, COA)->keys, keys, NULL, 1),
                   KETEN_OK);
  party_hex(subject, 32, subject_hex);
  const char *erase[] = {"erase",  subject_hex,  "--reason", "AVG-verzoek 2026-0044",
                         "--kinds", "STORY",      "--json",   "-e",
                         h->endpoint, "-k",       keys,       "-b",
                         bpub,     "-R",         h->root_file, NULL};
  char *erased = NULL;
  int erase_rc = got_both ? harness_run_cli(h, erase, &erased) : -1;
  int gone = erase_rc == 0 && s_wait_file(story, 0, 15000);
  /* The notice file is written after the deletions. */
  int noticed = gone && s_wait_notices(&l, 1, 5000);
  char *out = NULL, *err = NULL;
  int status = s_listen_stop(&l, &out, &err);
  if (erase_rc != 0)
    print_error("keten erase exit %d: %s\n", erase_rc, erased ? erased : "");
  assert_int_equal(erase_rc, 0);
  assert_non_null(strstr(erased, "\"sections\":1"));
  assert_non_null(strstr(erased, "\"notified\":[\"" G1 "\"]"));
  s_expect_story_deleted(&l, got_both, gone, noticed, status, out, err);
  free(erased);
  free(out);
  free(err);
  party_cleanup();
  party_stop_and_verify(h);
}

/* The same when STORY's retention date passes (2 s ahead): the broker's
 * sweep erases it, and listen deletes its file. */
static void test_listen_deletes_expired(void **state) {
  harness_t *h = *state;
  uint8_t subject[32];
  party_subject(V_AMIRA, subject);
  keten_client_t *coa = party_client(h, COA);
  party_grant(coa, subject, G1, BIT(K_IDENTITY) | BIT(K_STORY), P_INBURGERING,
              NULL);
  s_listener_t l;
  s_listen_start(h, G1, subject, &l);
  party_put(coa, subject, K_IDENTITY, "{\"given_name\": \"Amira\", \"family_name\": \"Haddad\", \"birth_date\": \"1991\"}");
  static const char kort[] = "{\"text\": \"kort\", \"language\": \"nl\"}";
  int64_t until = party_wall_ms() + 2000;
  assert_int_equal(keten_client_put_retained(coa, subject, K_STORY, kort,
                                             strlen(kort), (uint64_t)until,
                                             NULL),
                   KETEN_OK);
  char identity[400], story[400];
  s_section_file(&l, "IDENTITY", 1, identity, sizeof identity);
  s_section_file(&l, "STORY", 1, story, sizeof story);
  int got_both = s_wait_file(identity, 1, 15000) && s_wait_file(story, 1, 15000);
  int gone = got_both && s_wait_file(story, 0, 15000);
  int64_t gone_at = party_wall_ms();
  int noticed = gone && s_wait_notices(&l, 1, 5000);
  char *out = NULL, *err = NULL;
  int status = s_listen_stop(&l, &out, &err);
  s_expect_story_deleted(&l, got_both, gone, noticed, status, out, err);
  assert_true(gone_at >= until); /* not before its date */
  assert_int_equal(party_audited(h, "keten.section.erase", 1,
                                 "retention passed: sections 1 up to v1"),
                   1);
  free(out);
  free(err);
  party_cleanup();
  party_stop_and_verify(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_author_erases, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_refusals, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_operator_erases, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_retention, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_listen_deletes_erased, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_listen_deletes_expired, s_setup,
                                      s_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
