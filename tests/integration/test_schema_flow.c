/* test_schema_flow — the section schema end to end over a real ketend
 * (issue 11), and `keten listen --confirm`:
 *
 * - keten_client_put refuses a plaintext that does not conform to its
 *   kind's schema (KETEN_ERR_SCHEMA, the pointer in keten_client_error,
 *   nothing stored); so does `keten put` (exit 4); `keten validate`;
 * - a section that opens and verifies but does not conform (put raw,
 *   bypassing libketen, by its genuine author) is: a fetch failure with
 *   status KETEN_ERR_SCHEMA and the section handed over; `keten fetch`
 *   exit 6 naming it; a delivery with section set and status
 *   KETEN_ERR_SCHEMA; a quarantine file of `keten listen --dir`;
 * - `keten listen --confirm`: a consumer that confirms only the first two
 *   lines and closes stdin; the next listen gets the rest, and only the
 *   rest; an ack of a seq not yet written stops listen (exit 4) without
 *   acking it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "envelope.h"
#include "harness.h"
#include "party.h"
#include "seal.h"

#define COA "coa"
#define GEMEENTE "gemeente:0716"
#define BIT(kind) (UINT64_C(1) << (kind))
#define K(x) KETEN__SECTION_KIND__SECTION_##x

static const char IDENTITY_JSON[] =
    "{\"given_name\": \"Amira\", \"family_name\": \"Haddad\", \"birth_date\": "
    "\"1991-03-14\"}";
/* A STORY without its required "language": opens, does not conform. */
static const char BAD_STORY[] = "{\"text\": \"geen taal opgegeven\"}";

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

/* The CLI's files: the gemeente's secret key, the broker's public key. */
static void s_cli_files(harness_t *h, const char *id, char *keys, size_t kn,
                        char *bpub, size_t bn) {
  snprintf(keys, kn, "%s/%s.key", h->dir, id);
  snprintf(bpub, bn, "%s/broker.pub", h->dir);
  assert_int_equal(keten_keys_save(&harness_partner(h, id)->keys, keys, NULL, 1),
                   KETEN_OK);
  assert_int_equal(keten_keys_save(&h->broker, NULL, bpub, 1), KETEN_OK);
}

/* A STORY version by coa sealed to coa and the gemeente and PUT raw:
 * what a client that does not check the schema could store. */
static void s_raw_put(harness_t *h, const uint8_t subject[32], int kind,
                      uint64_t version, const char *json) {
  keten_section_header_t hd;
  memset(&hd, 0, sizeof hd);
  memcpy(hd.subject, subject, 32);
  hd.kind = kind;
  snprintf(hd.author, sizeof hd.author, "%s", COA);
  hd.version = version;
  hd.created_at_ms = (uint64_t)party_wall_ms();
  seal_recipient_t to = {GEMEENTE, harness_partner(h, GEMEENTE)->keys.sealing_pk};
  keten_err_t err = KETEN_OK;
  Keten__SealedSection *s = seal_section(&hd, json, strlen(json),
                                         &harness_partner(h, COA)->keys, &to, 1,
                                         &err);
  assert_non_null(s);
  void *ctx = zmq_ctx_new();
  void *sock = harness_raw_socket(h, ctx, &harness_partner(h, COA)->keys);
  Keten__PutRequest put = KETEN__PUT_REQUEST__INIT;
  put.section = s;
  Keten__Envelope env = KETEN__ENVELOPE__INIT;
  env.body_case = KETEN__ENVELOPE__BODY_PUT;
  env.put = &put;
  Keten__Envelope *rep = party_raw(sock, &env);
  assert_int_equal(rep->body_case, KETEN__ENVELOPE__BODY_STORED);
  envelope_free(rep);
  zmq_close(sock);
  zmq_ctx_term(ctx);
  seal_section_free(s);
}

/* coa grants the gemeente IDENTITY and STORY, puts IDENTITY (conforming)
 * and stores the non-conforming STORY v1 raw. */
static void s_world(harness_t *h, const uint8_t subject[32]) {
  keten_client_t *coa = party_client(h, COA);
  party_grant(coa, subject, GEMEENTE, BIT(K(IDENTITY)) | BIT(K(STORY)),
              KETEN__PURPOSE__PURPOSE_INBURGERING, NULL);
  party_put(coa, subject, K(IDENTITY), IDENTITY_JSON);
  s_raw_put(h, subject, K(STORY), 1, BAD_STORY);
  party_untrack_close(&coa);
}

/* ---- writing ------------------------------------------------------------- */

static void test_put_refused(void **state) {
  harness_t *h = *state;
  uint8_t subject[32];
  party_subject("2931847560", subject);
  keten_client_t *coa = party_client(h, COA);
  party_grant(coa, subject, GEMEENTE, BIT(K(STORY)),
              KETEN__PURPOSE__PURPOSE_INBURGERING, NULL);
  keten_put_result_t res;
  assert_int_equal(keten_client_put(coa, subject, K(STORY), BAD_STORY,
                                    strlen(BAD_STORY), &res),
                   KETEN_ERR_SCHEMA);
  const char *e = keten_client_error(coa);
  if (!strstr(e, "/language: is required but missing") || !strstr(e, "nothing was sent"))
    fail_msg("error: %s", e);
  assert_int_equal(keten_client_put_retained(coa, subject, K(STORY), "[]", 2,
                                             0, &res),
                   KETEN_ERR_SCHEMA);
  assert_non_null(strstr(keten_client_error(coa), "not an object"));
  assert_int_equal(party_sql(h, "SELECT COUNT(*) FROM section"), 0);
  assert_string_equal(keten_strerror(KETEN_ERR_SCHEMA),
                      "the section does not conform to the schema of its kind");
  /* the CLI: refused before it connects, exit 4 */
  char keys[300], bpub[300], file[300], hex[65];
  s_cli_files(h, COA, keys, sizeof keys, bpub, sizeof bpub);
  snprintf(file, sizeof file, "%s/story.json", h->dir);
  FILE *f = fopen(file, "w");
  assert_non_null(f);
  fputs(BAD_STORY, f);
  fclose(f);
  party_hex(subject, 32, hex);
  const char *put[] = {"put", "-e", h->endpoint, "-k", keys, "-b", bpub, "-R",
                       h->root_file, hex, "STORY", file, NULL};
  assert_int_equal(harness_run_cli(h, put, NULL), 4);
  assert_int_equal(harness_log_count(h, "does not conform to the STORY schema "
                                        "(docs/sections.md 3): /language: is "
                                        "required but missing"),
                   1);
  assert_int_equal(party_sql(h, "SELECT COUNT(*) FROM section"), 0);
  /* keten validate: 1 with the pointer, 0 for the same file as IDENTITY
   * would be wrong too, 0 once it conforms, 2 for an unknown kind */
  const char *val[] = {"validate", "--kind", "STORY", file, NULL};
  assert_int_equal(harness_run_cli(h, val, NULL), 1);
  assert_int_equal(harness_log_count(h, "story.json: /language: is required"), 1);
  f = fopen(file, "w");
  assert_non_null(f);
  fputs("{\"text\": \"t\", \"language\": \"ar\", \"later\": 1}", f);
  fclose(f);
  char *out = NULL;
  assert_int_equal(harness_run_cli(h, val, &out), 0);
  assert_non_null(out);
  assert_non_null(strstr(out, "ok STORY"));
  free(out);
  const char *unknown[] = {"validate", "--kind", "NOPE", file, NULL};
  assert_int_equal(harness_run_cli(h, unknown, NULL), 2);
  /* ... and now the put goes through */
  assert_int_equal(harness_run_cli(h, put, NULL), 0);
  assert_int_equal(party_sql(h, "SELECT COUNT(*) FROM section"), 1);
  party_stop_and_verify(h);
}

/* ---- reading what does not conform --------------------------------------- */

static void test_fetch_nonconforming(void **state) {
  harness_t *h = *state;
  uint8_t subject[32];
  party_subject("2931847560", subject);
  s_world(h, subject);
  keten_client_t *gem = party_client(h, GEMEENTE);
  keten_fetch_result_t r;
  assert_int_equal(keten_client_fetch_all(gem, subject, &r), KETEN_OK);
  assert_int_equal(r.n_sections, 1);
  assert_int_equal(r.sections[0].header.kind, K(IDENTITY));
  assert_int_equal(r.n_failures, 1);
  const keten_fetch_failure_t *fl = &r.failures[0];
  assert_int_equal(fl->status, KETEN_ERR_SCHEMA);
  assert_int_equal(fl->kind, K(STORY));
  assert_string_equal(fl->author, COA);
  assert_int_equal(fl->version, 1);
  if (!strstr(fl->reason, "/language: is required but missing"))
    fail_msg("reason: %s", fl->reason);
  assert_non_null(fl->section); /* handed over, to take up with coa */
  assert_string_equal(fl->section->json, BAD_STORY);
  assert_int_equal(fl->section->header.kind, K(STORY));
  keten_fetch_result_free(&r);
  /* the older call: partial, the conforming one handed over */
  keten_section_t *secs = NULL;
  size_t n = 0;
  assert_int_equal(keten_client_fetch(gem, subject, &secs, &n), KETEN_ERR_PARTIAL);
  assert_int_equal(n, 1);
  assert_non_null(strstr(keten_client_error(gem), "/language"));
  keten_sections_free(secs, n);
  /* keten fetch: exit 6, the other printed, the reason on stderr */
  char keys[300], bpub[300], hex[65];
  s_cli_files(h, GEMEENTE, keys, sizeof keys, bpub, sizeof bpub);
  party_hex(subject, 32, hex);
  const char *argv[] = {"fetch", "-e", h->endpoint, "-k", keys, "-b", bpub,
                        "-R", h->root_file, hex, NULL};
  char *out = NULL;
  int status = harness_run_cli(h, argv, &out);
  if (status != 6)
    fail_msg("keten fetch exit %d: %s", status, out ? out : "");
  assert_non_null(strstr(out, "\"given_name\": \"Amira\""));
  assert_null(strstr(out, "geen taal"));
  free(out);
  assert_int_equal(harness_log_count(h, "skipped STORY by coa v1: /language: is "
                                        "required but missing"),
                   1);
  party_stop_and_verify(h);
}

static void test_deliver_nonconforming(void **state) {
  harness_t *h = *state;
  uint8_t subject[32];
  party_subject("2931847560", subject);
  party_t *g = party_new(h, GEMEENTE, 1);
  s_world(h, subject);
  party_wait(PARTIES(g), g, 2, 0, 0);
  const party_sec_t *id = party_got(g, K(IDENTITY), 1);
  const party_sec_t *st = party_got(g, K(STORY), 1);
  assert_non_null(id);
  assert_non_null(st);
  assert_int_equal(id->status, KETEN_OK);
  assert_int_equal(st->status, KETEN_ERR_SCHEMA); /* with the section */
  assert_string_equal(st->json, BAD_STORY);
  assert_non_null(strstr(keten_client_error(g->c), "/language: is required"));
  party_stop_and_verify(h);
}

static char *s_slurp(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f)
    return NULL;
  char *buf = calloc(1, 65536);
  if (buf)
    (void)!fread(buf, 1, 65535, f);
  fclose(f);
  return buf;
}

static void test_listen_quarantines_nonconforming(void **state) {
  harness_t *h = *state;
  uint8_t subject[32];
  party_subject("2931847560", subject);
  s_world(h, subject);
  char keys[300], bpub[300], inbox[300];
  s_cli_files(h, GEMEENTE, keys, sizeof keys, bpub, sizeof bpub);
  snprintf(inbox, sizeof inbox, "%s/inbox", h->dir);
  assert_int_equal(mkdir(inbox, 0700), 0);
  const char *argv[] = {"listen", "-e", h->endpoint, "-k", keys, "-b", bpub,
                        "-R", h->root_file, "--dir", inbox, "--idle", "1500",
                        NULL};
  assert_int_equal(harness_run_cli(h, argv, NULL), 0);
  char hex[65], path[600];
  party_hex(subject, 32, hex);
  snprintf(path, sizeof path, "%s/%.16s-IDENTITY-coa-v1.json", inbox, hex);
  char *good = s_slurp(path);
  snprintf(path, sizeof path, "%s/quarantine-section-2.json", inbox);
  char *q = s_slurp(path);
  snprintf(path, sizeof path, "%s/%.16s-STORY-coa-v1.json", inbox, hex);
  assert_int_equal(access(path, F_OK), -1); /* never as a section file */
  assert_non_null(good);
  if (!q || !strstr(q, "/language: is required but missing") ||
      !strstr(q, "\"data_raw\":\"{\\\"text\\\": \\\"geen taal opgegeven\\\"}\"") ||
      !strstr(q, "\"kind\":\"STORY\"") || !strstr(q, "\"seq\":2"))
    fail_msg("quarantine file: %s", q ? q : "(none)");
  free(good);
  free(q);
  assert_int_equal(harness_log_count(h, "section 2 quarantined"), 1);
  /* acked: nothing comes again */
  party_t *g = party_new(h, GEMEENTE, 1);
  party_pump(PARTIES(g), 1000);
  assert_int_equal(g->n_sec, 0);
  party_stop_and_verify(h);
}

/* ---- keten listen --confirm ------------------------------------------------- */

typedef struct {
  pid_t pid;
  int in;  /* listen's stdin (we write) */
  int out; /* listen's stdout (we read) */
  char buf[65536];
  size_t len;
} s_proc_t;

static void s_spawn_listen(harness_t *h, const char *keys, const char *bpub,
                           s_proc_t *p) {
  int in[2], out[2];
  assert_int_equal(pipe(in), 0);
  assert_int_equal(pipe(out), 0);
  memset(p, 0, sizeof *p);
  p->pid = fork();
  assert_true(p->pid >= 0);
  if (p->pid == 0) {
    int fd = open(h->log_file, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, STDERR_FILENO);
      close(fd);
    }
    dup2(in[0], STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    close(in[0]);
    close(in[1]);
    close(out[0]);
    close(out[1]);
    execl(KETEN_CLI_PATH, KETEN_CLI_PATH, "listen", "--confirm", "-e",
          h->endpoint, "-k", keys, "-b", bpub, "-R", h->root_file, (char *)NULL);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  p->in = in[1];
  p->out = out[0];
}

/* The next line listen wrote, as JSON (NULL after timeout_ms or EOF). */
static json_t *s_line(s_proc_t *p, int timeout_ms) {
  int64_t end = party_mono_ms() + timeout_ms;
  for (;;) {
    char *nl = memchr(p->buf, '\n', p->len);
    if (nl) {
      *nl = '\0';
      json_t *j = json_loads(p->buf, 0, NULL);
      size_t used = (size_t)(nl - p->buf) + 1;
      memmove(p->buf, nl + 1, p->len - used);
      p->len -= used;
      return j;
    }
    int left = (int)(end - party_mono_ms());
    if (left <= 0)
      return NULL;
    struct pollfd pfd = {.fd = p->out, .events = POLLIN};
    if (poll(&pfd, 1, left) <= 0)
      continue;
    ssize_t n = read(p->out, p->buf + p->len, sizeof p->buf - 1 - p->len);
    if (n <= 0)
      return NULL;
    p->len += (size_t)n;
  }
}

static void s_ack(s_proc_t *p, long long seq) {
  char line[64];
  int n = snprintf(line, sizeof line, "ack %lld\n", seq);
  assert_int_equal(write(p->in, line, (size_t)n), n);
}

/* Closes listen's stdin and waits for it; returns its exit status. */
static int s_finish(s_proc_t *p) {
  if (p->in >= 0)
    close(p->in);
  p->in = -1;
  int status = 0;
  int64_t end = party_mono_ms() + 15000;
  pid_t r;
  while ((r = waitpid(p->pid, &status, WNOHANG)) == 0 && party_mono_ms() < end)
    party_sleep_ms(20);
  if (r == 0) {
    kill(p->pid, SIGKILL);
    waitpid(p->pid, &status, 0);
    close(p->out);
    return -1;
  }
  close(p->out);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static long long s_version(const json_t *j) {
  return json_integer_value(json_object_get(j, "version"));
}

static void test_listen_confirm(void **state) {
  harness_t *h = *state;
  uint8_t subject[32];
  party_subject("2931847560", subject);
  keten_client_t *coa = party_client(h, COA);
  party_grant(coa, subject, GEMEENTE, BIT(K(STORY)),
              KETEN__PURPOSE__PURPOSE_INBURGERING, NULL);
  enum { N = 4 };
  for (int i = 1; i <= N; i++) {
    char json[96];
    snprintf(json, sizeof json, "{\"text\": \"versie %d\", \"language\": \"nl\"}", i);
    party_put(coa, subject, K(STORY), json);
  }
  char keys[300], bpub[300];
  s_cli_files(h, GEMEENTE, keys, sizeof keys, bpub, sizeof bpub);

  /* 1. The consumer confirms the first two and goes away after reading
   *    the third. listen writes nothing past an unconfirmed line. */
  s_proc_t p;
  s_spawn_listen(h, keys, bpub, &p);
  long long seqs[N] = {0};
  for (int i = 0; i < 3; i++) {
    json_t *j = s_line(&p, 10000);
    if (!j)
      fail_msg("listen wrote no line %d", i + 1);
    assert_int_equal(s_version(j), i + 1);
    seqs[i] = json_integer_value(json_object_get(j, "seq"));
    assert_true(seqs[i] > 0);
    json_decref(j);
    if (i < 2)
      s_ack(&p, seqs[i]);
  }
  json_t *more = s_line(&p, 700); /* the 4th waits for the 3rd's ack */
  assert_null(more);
  assert_int_equal(s_finish(&p), 0);
  assert_true(harness_log_count(h, "written but not confirmed (the consumer "
                                   "closed stdin)") == 1);

  /* 2. The next listen hands over the 3rd and the 4th, not the first two;
   *    one cumulative ack (of the 4th) after reading both would be too late
   *    for a line-by-line listen, so each is confirmed. */
  s_spawn_listen(h, keys, bpub, &p);
  for (int i = 2; i < N; i++) {
    json_t *j = s_line(&p, 10000);
    if (!j)
      fail_msg("the second listen wrote no line for version %d", i + 1);
    assert_int_equal(s_version(j), i + 1);
    seqs[i] = json_integer_value(json_object_get(j, "seq"));
    json_decref(j);
    s_ack(&p, seqs[i]);
  }
  assert_null(s_line(&p, 700));
  assert_int_equal(s_finish(&p), 0);

  /* 3. An ack of a seq not yet written stops listen: exit 4, not acked. */
  party_put(coa, subject, K(STORY), "{\"text\": \"versie 5\", \"language\": \"nl\"}");
  s_spawn_listen(h, keys, bpub, &p);
  json_t *j = s_line(&p, 10000);
  assert_non_null(j); /* nothing of 1 to 4 again: version 5 is first */
  assert_int_equal(s_version(j), 5);
  long long s5 = json_integer_value(json_object_get(j, "seq"));
  json_decref(j);
  s_ack(&p, s5 + 1000);
  assert_int_equal(s_finish(&p), 4);
  assert_int_equal(harness_log_count(h, "which was not written yet"), 1);

  /* 4. So it comes again; confirmed now. */
  s_spawn_listen(h, keys, bpub, &p);
  j = s_line(&p, 10000);
  assert_non_null(j);
  assert_int_equal(s_version(j), 5);
  json_decref(j);
  s_ack(&p, s5);
  assert_null(s_line(&p, 700));
  assert_int_equal(s_finish(&p), 0);

  /* 5. Everything was acked: a party gets nothing. */
  party_untrack_close(&coa);
  party_t *g = party_new(h, GEMEENTE, 1);
  party_pump(PARTIES(g), 1000);
  assert_int_equal(g->n_sec, 0);
  party_stop_and_verify(h);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_put_refused, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_fetch_nonconforming, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_deliver_nonconforming, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_listen_quarantines_nonconforming,
                                      s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_listen_confirm, s_setup, s_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
