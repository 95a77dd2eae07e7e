/* The four partner adapters (issue 11) as real processes against a real
 * ketend, playing the journey by dropping the partners' own export files
 * (examples/partners, KETEN_PARTNERS_DIR) into their outboxes and looking
 * only at files: the outboxes' done/ and failed/, and the inboxes.
 *
 *   intake + consents (COA) → TVS koppeling (COA's TVS role) → the
 *   gemeente's inbox has exactly its consented sections → the gemeente's
 *   consent and participation file → the volunteer's inbox has what it
 *   may, never HEALTH or STORY → the care partner's inbox has IDENTITY,
 *   STORY and HEALTH → COA's revocation file: the care partner's copies
 *   are deleted by the notice, later updates (COA's update file) reach the
 *   gemeente and not the care partner → invalid files land in failed/ with
 *   a reason → the volunteer's on_delivery command fails once and the
 *   delivery comes again → a re-run of a file an earlier attempt published
 *   (the inflight file of a crash) publishes nothing twice → --once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "adapter_fixture.h"
#include "harness.h"

#ifndef KETEN_PARTNERS_DIR
#error "KETEN_PARTNERS_DIR must name examples/partners"
#endif
#ifndef KETEN_ADAPTER_DIR
#error "KETEN_ADAPTER_DIR must name the directory of the adapter programs"
#endif

#define V_NUMMER "2931847560"
#define WAIT_MS 20000
#define QUIET_MS 1500

typedef struct {
  const char *kind;         /* coa, gemeente, volunteer, care */
  const char *id;           /* its participant */
  char dir[320], conf[400], outbox[400], inbox[400], log[400], state[400];
  pid_t pid;
} s_adapter_t;

static harness_t *g_h;
static s_adapter_t g_a[4] = {{.kind = "coa", .id = "coa"},
                             {.kind = "gemeente", .id = "gemeente:0716"},
                             {.kind = "volunteer", .id = "vwn:zeeland"},
                             {.kind = "care", .id = "ggz:zeeland"}};
#define COA (&g_a[0])
#define GEM (&g_a[1])
#define VWN (&g_a[2])
#define GGZ (&g_a[3])

/* ---- small helpers -------------------------------------------------------- */

/* Drops text into a's outbox as name (adapter_fixture.h). */
static void s_drop_text(s_adapter_t *a, const char *name, const char *text) {
  fx_drop_text(a->outbox, name, text);
}

static void s_drop(s_adapter_t *a, const char *example) {
  char *t = fx_example(example);
  s_drop_text(a, example, t);
  free(t);
}

static int s_log_has(const s_adapter_t *a, const char *needle) {
  return fx_file_count(a->log, needle);
}

/* Waits until a's outbox has sub/name (done or failed); fails naming the
 * adapter's log otherwise. */
static void s_wait_moved(s_adapter_t *a, const char *sub, const char *name) {
  char path[700];
  snprintf(path, sizeof path, "%s/%s/%s", a->outbox, sub, name);
  int64_t t0 = fx_mono_ms();
  while (!fx_exists(path)) {
    if (fx_mono_ms() - t0 > WAIT_MS) {
      char *log = fx_read(a->log);
      fail_msg("%s: no %s/%s after %d ms; log:\n%s", a->kind, sub, name, WAIT_MS,
               log ? log : "");
    }
    fx_sleep_ms(50);
  }
  /* nothing left in the outbox under that name */
  snprintf(path, sizeof path, "%s/%s", a->outbox, name);
  assert_false(fx_exists(path));
}

/* The section copies in a's inbox. */
typedef struct {
  char name[300];
  char kind[32];
  char author[65];
  long long version;
  json_t *doc;
} s_copy_t;

typedef struct {
  s_copy_t c[64];
  size_t n;
  size_t notices, tvs, quarantined;
} s_inbox_t;

static void s_inbox_free(s_inbox_t *ib) {
  for (size_t i = 0; i < ib->n; i++)
    json_decref(ib->c[i].doc);
  memset(ib, 0, sizeof *ib);
}

static void s_inbox(const s_adapter_t *a, s_inbox_t *ib) {
  memset(ib, 0, sizeof *ib);
  DIR *d = opendir(a->inbox);
  assert_non_null(d);
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (!strncmp(de->d_name, "notice-", 7))
      ib->notices++;
    else if (!strncmp(de->d_name, "tvs-", 4))
      ib->tvs++;
    else if (!strncmp(de->d_name, "quarantine-", 11))
      ib->quarantined++;
    if (strncmp(de->d_name, "section-", 8) != 0)
      continue;
    assert_true(ib->n < 64);
    s_copy_t *c = &ib->c[ib->n++];
    snprintf(c->name, sizeof c->name, "%s", de->d_name);
    char path[800];
    snprintf(path, sizeof path, "%s/%s", a->inbox, de->d_name);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    json_error_t jerr;
    c->doc = json_load_file(path, 0, &jerr);
    if (!c->doc)
      fail_msg("%s: not JSON: %s", path, jerr.text);
    assert_string_equal(json_string_value(json_object_get(c->doc, "type")),
                        "section");
    snprintf(c->kind, sizeof c->kind, "%s",
             json_string_value(json_object_get(c->doc, "kind")));
    snprintf(c->author, sizeof c->author, "%s",
             json_string_value(json_object_get(c->doc, "author")));
    c->version = json_integer_value(json_object_get(c->doc, "version"));
    assert_true(json_is_object(json_object_get(c->doc, "data")));
    assert_non_null(json_string_value(json_object_get(c->doc, "written_at")));
  }
  closedir(d);
}

static size_t s_n_sections(const s_adapter_t *a) {
  s_inbox_t ib;
  s_inbox(a, &ib);
  size_t n = ib.n;
  s_inbox_free(&ib);
  return n;
}

static void s_wait_sections(const s_adapter_t *a, size_t n) {
  int64_t t0 = fx_mono_ms();
  size_t have;
  while ((have = s_n_sections(a)) < n) {
    if (fx_mono_ms() - t0 > WAIT_MS)
      fail_msg("%s: %zu of %zu sections in the inbox after %d ms", a->kind, have,
               n, WAIT_MS);
    fx_sleep_ms(50);
  }
}

static const s_copy_t *s_find(const s_inbox_t *ib, const char *kind,
                              const char *author, long long version) {
  for (size_t i = 0; i < ib->n; i++)
    if (!strcmp(ib->c[i].kind, kind) && !strcmp(ib->c[i].author, author) &&
        (version == 0 || ib->c[i].version == version))
      return &ib->c[i];
  return NULL;
}

/* Asserts that a's inbox holds exactly these (kind, author) pairs, version
 * 1 each, with the plaintext of the example file (want_json: the data as
 * the partner's file has it, compared as JSON). */
typedef struct {
  const char *kind, *author;
  long long version;
} s_want_t;

static void s_expect_exactly(const s_adapter_t *a, const s_want_t *want,
                             size_t n) {
  s_inbox_t ib;
  s_inbox(a, &ib);
  for (size_t i = 0; i < n; i++)
    if (!s_find(&ib, want[i].kind, want[i].author, want[i].version))
      fail_msg("%s: no %s v%lld by %s in the inbox", a->kind, want[i].kind,
               want[i].version, want[i].author);
  if (ib.n != n) {
    for (size_t i = 0; i < ib.n; i++)
      fprintf(stderr, "  %s has %s\n", a->kind, ib.c[i].name);
    fail_msg("%s: %zu sections in the inbox, expected %zu", a->kind, ib.n, n);
  }
  s_inbox_free(&ib);
}

/* The data of kind in an example file's "sections". */
static json_t *s_example_section(const char *file, const char *kind) {
  char *t = fx_example(file);
  json_error_t jerr;
  json_t *doc = json_loads(t, 0, &jerr);
  free(t);
  assert_non_null(doc);
  json_t *s = json_incref(json_object_get(json_object_get(doc, "sections"), kind));
  json_decref(doc);
  assert_non_null(s);
  return s;
}

/* ---- the adapters as processes -------------------------------------------- */

static void s_config(s_adapter_t *a, const char *extra) {
  char text[4096];
  snprintf(text, sizeof text,
           "# test config of the %s adapter\n"
           "endpoint = %s\n"
           "key = %s/partner.key\n"
           "broker_key = %s/broker.pub\n"
           "root_key = %s   # the chain root\n"
           "chain_key = %s/chain.key\n"
           "outbox = %s\n"
           "inbox = %s\n"
           "state_dir = %s\n"
           "log_level = debug\n"
           "request_timeout_ms = 5000\n"
           "retry_max_ms = 2000\n"
           "once_idle_ms = 1500\n"
           "%s",
           a->kind, g_h->endpoint, a->dir, g_h->dir, g_h->root_file, g_h->dir,
           a->outbox, a->inbox, a->state, extra ? extra : "");
  fx_write(a->conf, text, 0600);
}

static void s_prepare(s_adapter_t *a) {
  snprintf(a->dir, sizeof a->dir, "%s/%s", g_h->dir, a->kind);
  snprintf(a->conf, sizeof a->conf, "%s/adapter.conf", a->dir);
  snprintf(a->outbox, sizeof a->outbox, "%s/outbox", a->dir);
  snprintf(a->inbox, sizeof a->inbox, "%s/inbox", a->dir);
  snprintf(a->state, sizeof a->state, "%s/state", a->dir);
  snprintf(a->log, sizeof a->log, "%s/adapter.log", a->dir);
  assert_int_equal(mkdir(a->dir, 0700), 0);
  assert_int_equal(mkdir(a->outbox, 0700), 0);
  assert_int_equal(mkdir(a->inbox, 0700), 0);
  char key[400];
  snprintf(key, sizeof key, "%s/partner.key", a->dir);
  assert_int_equal(
      keten_keys_save(&harness_partner(g_h, a->id)->keys, key, NULL, 0), KETEN_OK);
  a->pid = -1;
}

static pid_t s_spawn(s_adapter_t *a, int once) {
  char prog[400];
  snprintf(prog, sizeof prog, "%s/keten-adapter-%s", KETEN_ADAPTER_DIR, a->kind);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int fd = open(a->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      dup2(fd, STDERR_FILENO);
      dup2(fd, STDOUT_FILENO);
      close(fd);
    }
    unsetenv("JOURNAL_STREAM");
    char *argv[] = {prog, "--config", a->conf, once ? "--once" : NULL, NULL};
    execv(prog, argv);
    _exit(127);
  }
  return pid;
}

static void s_start(s_adapter_t *a) {
  int before = s_log_has(a, " connected to ");
  a->pid = s_spawn(a, 0);
  int64_t t0 = fx_mono_ms();
  while (s_log_has(a, " connected to ") <= before) {
    int status;
    if (waitpid(a->pid, &status, WNOHANG) == a->pid) {
      a->pid = -1;
      char *log = fx_read(a->log);
      fail_msg("%s exited (status %d); log:\n%s", a->kind,
               WIFEXITED(status) ? WEXITSTATUS(status) : -1, log ? log : "");
    }
    if (fx_mono_ms() - t0 > WAIT_MS)
      fail_msg("%s did not connect", a->kind);
    fx_sleep_ms(50);
  }
}

/* SIGTERM; returns the exit status (it must stop within 5 s). */
static int s_stop(s_adapter_t *a) {
  if (a->pid <= 0)
    return -1;
  kill(a->pid, SIGTERM);
  int status = 0;
  int64_t t0 = fx_mono_ms();
  while (waitpid(a->pid, &status, WNOHANG) != a->pid) {
    if (fx_mono_ms() - t0 > 5000) {
      kill(a->pid, SIGKILL);
      waitpid(a->pid, &status, 0);
      a->pid = -1;
      return -1;
    }
    fx_sleep_ms(20);
  }
  a->pid = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---- setup ------------------------------------------------------------------ */

static int s_setup(void **state) {
  (void)state;
  g_h = harness_new(1);
  if (!g_h || !harness_add_partner(g_h, "tvs:coa", "TVS", "TVS (COA, fictief)"))
    return -1;
  /* a refused delivery comes again after a second; signed tree heads at
   * once, for the witness file */
  if (harness_config(g_h, "ack_timeout_ms = 1000\n"
                          "checkpoint_every = 1\n"
                          "checkpoint_interval_ms = 100\n") != 0 ||
      harness_start(g_h) != 0)
    return -1;
  char path[400];
  snprintf(path, sizeof path, "%s/broker.pub", g_h->dir);
  if (keten_keys_save(&g_h->broker, NULL, path, 1) != KETEN_OK)
    return -1;
  uint8_t chain[KETEN_CHAIN_KEY_BYTES];
  snprintf(path, sizeof path, "%s/chain.key", g_h->dir);
  if (keten_chain_key_generate(chain) != KETEN_OK ||
      keten_chain_key_save(chain, path, 0) != KETEN_OK)
    return -1;
  return 0;
}

static int s_teardown(void **state) {
  (void)state;
  for (int i = 0; i < 4; i++)
    if (g_a[i].pid > 0)
      s_stop(&g_a[i]);
  harness_destroy(&g_h);
  return 0;
}

/* Until the broker has signed a head (a witness file needs one). */
static void s_wait_tree_head(void) {
  keten_client_t *c =
      harness_client(g_h, &harness_partner(g_h, "ggz:zeeland")->keys, 3000, 1);
  assert_non_null(c);
  uint8_t subject[32];
  randombytes_buf(subject, sizeof subject);
  keten_section_t *secs = NULL;
  size_t m = 0;
  keten_client_fetch(c, subject, &secs, &m); /* an audited refusal */
  keten_sections_free(secs, m);
  keten_tree_head_t head;
  int ok = 0;
  for (int i = 0; i < 100 && !ok; i++) {
    keten_welcome_t w;
    ok = keten_client_hello(c, &w) == KETEN_OK &&
         keten_client_tree_head(c, &head) == KETEN_OK && head.size > 0;
    if (!ok)
      fx_sleep_ms(100);
  }
  keten_client_destroy(&c);
  assert_true(ok);
}

/* ---- the journey ---------------------------------------------------------- */

static void test_adapters_journey(void **state) {
  (void)state;
  for (int i = 0; i < 4; i++)
    s_prepare(&g_a[i]);
  char tvs_key[400], extra[1200], script[400];
  snprintf(tvs_key, sizeof tvs_key, "%s/tvs.key", COA->dir);
  assert_int_equal(keten_keys_save(&harness_partner(g_h, "tvs:coa")->keys,
                                   tvs_key, NULL, 0),
                   KETEN_OK);
  s_wait_tree_head();
  snprintf(extra, sizeof extra, "tvs_key = %s\nwitness_file = %s/witness.json\n"
                                "witness_interval_ms = 1000\n",
           tvs_key, COA->dir);
  s_config(COA, extra);
  s_config(GEM, NULL);
  s_config(GGZ, NULL);
  /* The volunteer's case system takes each file by a command that fails
   * the first time it runs: that delivery must come again. */
  snprintf(script, sizeof script, "%s/take.sh", VWN->dir);
  char text[2048];
  snprintf(text, sizeof text,
           "#!/bin/sh\n"
           "echo \"$1\" >> %s/calls\n"
           "if [ ! -e %s/failed-once ]; then : > %s/failed-once; exit 3; fi\n"
           "test -f \"$1\" || exit 4\n"
           "echo \"$1\" >> %s/taken\n",
           VWN->dir, VWN->dir, VWN->dir, VWN->dir);
  fx_write(script, text, 0700);
  snprintf(extra, sizeof extra, "on_delivery = %s\non_delivery_timeout_ms = 5000\n",
           script);
  s_config(VWN, extra);
  for (int i = 0; i < 4; i++)
    s_start(&g_a[i]);

  /* 1. COA's intake: eight sections and three consents. Not linked to a
   * gemeente yet: the gemeente gets nothing. */
  s_drop(COA, "coa-intake-amira.json");
  s_wait_moved(COA, "done", "coa-intake-amira.json");
  static const s_want_t GGZ_WANT[] = {
      {"IDENTITY", "coa", 1}, {"STORY", "coa", 1}, {"HEALTH", "coa", 1}};
  s_wait_sections(GGZ, 3);
  fx_sleep_ms(QUIET_MS);
  s_expect_exactly(GGZ, GGZ_WANT, 3);
  assert_int_equal(s_n_sections(GEM), 0);
  /* the inbox copy is the partner's data, IDENTITY with the V-nummer */
  s_inbox_t ib;
  s_inbox(GGZ, &ib);
  json_t *want = s_example_section("coa-intake-amira.json", "STORY");
  assert_true(json_equal(json_object_get(s_find(&ib, "STORY", "coa", 1)->doc, "data"),
                         want));
  json_decref(want);
  const s_copy_t *idc = s_find(&ib, "IDENTITY", "coa", 1);
  json_t *idd = json_object_get(idc->doc, "data");
  assert_string_equal(json_string_value(json_object_get(idd, "v_nummer")), V_NUMMER);
  assert_string_equal(json_string_value(json_object_get(idd, "given_name")), "Amira");
  assert_string_equal(json_string_value(json_object_get(idc->doc, "v_nummer")),
                      V_NUMMER);
  s_inbox_free(&ib);

  /* 2. The TVS export (COA's TVS role): the gemeente gets the koppeling
   * and exactly its consented sections, through rewraps COA's adapter
   * serves; never HEALTH. */
  s_drop(COA, "tvs-koppeling-amira.json");
  s_wait_moved(COA, "done", "tvs-koppeling-amira.json");
  static const s_want_t GEM_WANT[] = {
      {"IDENTITY", "coa", 1}, {"HOUSEHOLD", "coa", 1}, {"STORY", "coa", 1},
      {"EDUCATION", "coa", 1}, {"WORK", "coa", 1},     {"LANGUAGE", "coa", 1},
      {"HOUSING", "coa", 1}};
  s_wait_sections(GEM, 7);
  fx_sleep_ms(QUIET_MS);
  s_expect_exactly(GEM, GEM_WANT, 7);
  assert_true(s_log_has(COA, "rewrap (seq") >= 7);
  assert_int_equal(s_log_has(COA, "refused"), 0);
  s_inbox(GEM, &ib);
  assert_int_equal(ib.tvs, 1);
  s_inbox_free(&ib);
  {
    DIR *d = opendir(GEM->inbox);
    struct dirent *de;
    int found = 0;
    while ((de = readdir(d)) != NULL) {
      size_t n = strlen(de->d_name);
      if (strncmp(de->d_name, "tvs-", 4) || n < 15 ||
          strcmp(de->d_name + n - 15, "-KOPPELING.json"))
        continue;
      char path[800];
      snprintf(path, sizeof path, "%s/%s", GEM->inbox, de->d_name);
      json_error_t jerr;
      json_t *ev = json_load_file(path, 0, &jerr);
      assert_non_null(ev);
      assert_string_equal(json_string_value(json_object_get(ev, "event")), "KOPPELING");
      assert_string_equal(json_string_value(json_object_get(ev, "gemeente")),
                          "gemeente:0716");
      assert_string_equal(json_string_value(json_object_get(ev, "period")), "2026-2");
      assert_string_equal(json_string_value(json_object_get(ev, "date")), "2026-07-01");
      assert_int_equal(json_integer_value(json_object_get(ev, "household_size")), 3);
      assert_string_equal(json_string_value(json_object_get(ev, "published_by")),
                          "tvs:coa");
      json_decref(ev);
      found++;
    }
    closedir(d);
    assert_int_equal(found, 1);
  }
  /* the gemeente learnt the V-nummer from IDENTITY: its copies carry it */
  s_inbox(GEM, &ib);
  assert_string_equal(
      json_string_value(json_object_get(s_find(&ib, "HOUSING", "coa", 1)->doc, "v_nummer")),
      V_NUMMER);
  s_inbox_free(&ib);

  /* 3. The gemeente: its consent for the volunteer, then its own
   * sections. */
  s_drop(GEM, "gemeente-consent-vwn-amira.json");
  s_wait_moved(GEM, "done", "gemeente-consent-vwn-amira.json");
  s_drop(GEM, "gemeente-participation-amira.json");
  s_wait_moved(GEM, "done", "gemeente-participation-amira.json");

  /* 4. The volunteer reads what it may: never HEALTH, never STORY. */
  static const s_want_t VWN_WANT[] = {
      {"IDENTITY", "coa", 1}, {"HOUSEHOLD", "coa", 1}, {"LANGUAGE", "coa", 1},
      {"HOUSING", "coa", 1},  {"PARTICIPATION", "gemeente:0716", 1}};
  s_wait_sections(VWN, 5);
  s_drop(VWN, "vwn-support-amira.json");
  s_wait_moved(VWN, "done", "vwn-support-amira.json");
  /* ... and every copy was taken by its case system's command, the one
   * that failed once included: it came again. */
  char taken[400], calls[400];
  snprintf(taken, sizeof taken, "%s/taken", VWN->dir);
  snprintf(calls, sizeof calls, "%s/calls", VWN->dir);
  int64_t t0 = fx_mono_ms();
  for (;;) {
    char *t = fx_read(taken);
    int lines = 0;
    for (const char *p = t; p && *p; p++)
      lines += *p == '\n';
    free(t);
    if (lines >= 5)
      break;
    if (fx_mono_ms() - t0 > WAIT_MS)
      fail_msg("the volunteer's command took %d of 5 copies", lines);
    fx_sleep_ms(50);
  }
  fx_sleep_ms(QUIET_MS);
  s_expect_exactly(VWN, VWN_WANT, 5);
  {
    char *c = fx_read(calls), *t = fx_read(taken);
    assert_non_null(c);
    assert_non_null(t);
    /* the first call failed; the same file was taken later */
    char first[600];
    size_t n = strcspn(c, "\n");
    assert_true(n < sizeof first);
    memcpy(first, c, n);
    first[n] = '\0';
    assert_non_null(strstr(t, first));
    int n_calls = 0, n_taken = 0;
    for (const char *p = c; *p; p++)
      n_calls += *p == '\n';
    for (const char *p = t; *p; p++)
      n_taken += *p == '\n';
    assert_true(n_calls > n_taken);
    assert_true(n_taken >= 5);
    /* every section copy in the inbox was taken */
    s_inbox(VWN, &ib);
    for (size_t i = 0; i < ib.n; i++)
      if (!strstr(t, ib.c[i].name))
        fail_msg("%s was never taken", ib.c[i].name);
    s_inbox_free(&ib);
    free(c);
    free(t);
  }
  assert_true(s_log_has(VWN, "exit status 3; not acked") >= 1);

  /* 5. The care partner reads IDENTITY, STORY and HEALTH (unchanged) and
   * writes its own note. */
  s_expect_exactly(GGZ, GGZ_WANT, 3);
  s_drop(GGZ, "ggz-care-amira.json");
  s_wait_moved(GGZ, "done", "ggz-care-amira.json");

  /* 6. Amira revokes the care partner's consent (COA's revocation file):
   * the notice deletes its copies and says so. */
  s_drop(COA, "coa-revoke-ggz-amira.json");
  s_wait_moved(COA, "done", "coa-revoke-ggz-amira.json");
  t0 = fx_mono_ms();
  for (;;) {
    s_inbox(GGZ, &ib);
    size_t n = ib.n, notices = ib.notices;
    s_inbox_free(&ib);
    if (n == 0 && notices >= 1)
      break;
    if (fx_mono_ms() - t0 > WAIT_MS)
      fail_msg("care: %zu copies and %zu notices after the revocation", n, notices);
    fx_sleep_ms(50);
  }
  {
    DIR *d = opendir(GGZ->inbox);
    struct dirent *de;
    int found = 0;
    while ((de = readdir(d)) != NULL) {
      if (strncmp(de->d_name, "notice-", 7))
        continue;
      char path[800];
      snprintf(path, sizeof path, "%s/%s", GGZ->inbox, de->d_name);
      json_error_t jerr;
      json_t *nt = json_load_file(path, 0, &jerr);
      assert_non_null(nt);
      assert_string_equal(json_string_value(json_object_get(nt, "notice")), "DELETE");
      assert_string_equal(json_string_value(json_object_get(nt, "reason")), "revoked");
      assert_int_equal(json_array_size(json_object_get(nt, "deleted")), 3);
      assert_string_equal(json_string_value(json_object_get(nt, "v_nummer")), V_NUMMER);
      json_decref(nt);
      found++;
    }
    closedir(d);
    assert_int_equal(found, 1);
  }

  /* 7. Later updates reach the gemeente, not the care partner. */
  s_drop(COA, "coa-update-amira.json");
  s_wait_moved(COA, "done", "coa-update-amira.json");
  s_wait_sections(GEM, 8);
  fx_sleep_ms(QUIET_MS);
  s_inbox(GEM, &ib);
  assert_int_equal(ib.n, 8);
  assert_non_null(s_find(&ib, "STORY", "coa", 2));
  assert_null(s_find(&ib, "HEALTH", "coa", 0));
  s_inbox_free(&ib);
  assert_int_equal(s_n_sections(GGZ), 0);

  /* 8. Invalid files: not JSON, an unknown field, a section this adapter
   * does not publish, a revocation with nothing to revoke: failed/ with a
   * reason, nothing published. */
  s_drop_text(COA, "coa-broken.json", "{\"v_nummer\": \"2931847560\", ");
  s_wait_moved(COA, "failed", "coa-broken.json");
  s_drop_text(COA, "coa-extra-field.json",
              "{\"v_nummer\": \"2931847560\", \"recorded_by\": \"coa\", "
              "\"remarks\": \"x\", \"sections\": {\"HOUSING\": "
              "{\"household_size\": 3}}}");
  s_wait_moved(COA, "failed", "coa-extra-field.json");
  s_drop_text(VWN, "vwn-health.json",
              "{\"v_nummer\": \"2931847560\", \"sections\": {\"HEALTH\": "
              "{\"notes\": \"moe\"}}}");
  s_wait_moved(VWN, "failed", "vwn-health.json");
  s_drop_text(GGZ, "ggz-revoke-nothing.json",
              "{\"v_nummer\": \"2931847560\", \"revoke\": {\"recipient\": "
              "\"gemeente:0716\", \"reason\": \"test\"}}");
  s_wait_moved(GGZ, "failed", "ggz-revoke-nothing.json");
  const int schema = 1; /* libketen checks every section against its schema */
  if (schema) {
    s_drop_text(COA, "coa-bad-schema.json",
                "{\"v_nummer\": \"2931847560\", \"sections\": {\"HOUSING\": "
                "{\"household_size\": 0}}}");
    s_wait_moved(COA, "failed", "coa-bad-schema.json");
  }
  static const struct {
    s_adapter_t *a;
    const char *name, *needle;
  } reasons[] = {
      {&g_a[0], "coa-broken.json", "not JSON"},
      {&g_a[0], "coa-extra-field.json", "unknown field \\\"remarks\\\""},
      {&g_a[2], "vwn-health.json", "does not publish"},
      {&g_a[3], "ggz-revoke-nothing.json", "no active consent"},
      {&g_a[0], "coa-bad-schema.json", "does not conform to the HOUSING schema"},
  };
  for (size_t i = 0; i < sizeof reasons / sizeof reasons[0] - !schema; i++) {
    char path[800];
    snprintf(path, sizeof path, "%s/failed/%s.reason", reasons[i].a->outbox,
             reasons[i].name);
    char *r = fx_read(path);
    if (!r || !strstr(r, reasons[i].needle))
      fail_msg("%s: reason %s lacks \"%s\"", path, r ? r : "(none)",
               reasons[i].needle);
    json_error_t jerr;
    json_t *rj = json_loads(r, 0, &jerr);
    assert_non_null(rj);
    assert_string_equal(json_string_value(json_object_get(rj, "file")),
                        reasons[i].name);
    json_decref(rj);
    free(r);
  }
  /* HOUSING was not published again by the file that failed */
  fx_sleep_ms(QUIET_MS);
  s_inbox(GEM, &ib);
  assert_null(s_find(&ib, "HOUSING", "coa", 2));
  s_inbox_free(&ib);

  /* 9. A crash after publishing, before the move: the inflight file names
   * the file; its re-run publishes nothing twice (no STORY v3). */
  {
    char *t = fx_example("coa-update-amira.json");
    uint8_t h[32];
    char hex[65];
    crypto_generichash(h, sizeof h, (const unsigned char *)t, strlen(t), NULL, 0);
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    assert_int_equal(s_stop(COA), 0);
    char path[600], in[800];
    snprintf(path, sizeof path, "%s/inflight.json", COA->state);
    snprintf(in, sizeof in, "{\"name\":\"coa-update-amira.json\",\"hash\":\"%s\"}", hex);
    fx_write(path, in, 0600);
    s_drop_text(COA, "coa-update-amira.json", t);
    free(t);
    s_start(COA);
    /* the earlier copy is in done/ already: the re-run gets a name of its own */
    int64_t t1 = fx_mono_ms();
    while (s_log_has(COA, "coa-update-amira.json published: STORY (before), "
                          "HEALTH (before)") < 1) {
      if (fx_mono_ms() - t1 > WAIT_MS) {
        char *log = fx_read(COA->log);
        fail_msg("no re-run of coa-update-amira.json; log:\n%s", log);
      }
      fx_sleep_ms(50);
    }
    assert_false(fx_exists(path));
    fx_sleep_ms(QUIET_MS);
    s_inbox(GEM, &ib);
    assert_null(s_find(&ib, "STORY", "coa", 3));
    s_inbox_free(&ib);
  }

  /* 10. --once: the care partner's adapter, stopped, then run once on a
   * new note: published, then it exits 0 by itself. */
  assert_int_equal(s_stop(GGZ), 0);
  s_drop_text(GGZ, "ggz-care-2.json",
              "{\"v_nummer\": \"2931847560\", \"recorded_by\": \"ggz:zeeland\", "
              "\"sections\": {\"CARE\": {\"intake\": \"2026-08-20\", "
              "\"shareable_summary\": true}}}");
  pid_t once = s_spawn(GGZ, 1);
  int status = 0;
  t0 = fx_mono_ms();
  while (waitpid(once, &status, WNOHANG) != once) {
    if (fx_mono_ms() - t0 > WAIT_MS) {
      kill(once, SIGKILL);
      waitpid(once, &status, 0);
      fail_msg("--once did not end");
    }
    fx_sleep_ms(50);
  }
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  s_wait_moved(GGZ, "done", "ggz-care-2.json");

  /* Every adapter stops cleanly on SIGTERM. */
  for (int i = 0; i < 4; i++)
    if (g_a[i].pid > 0)
      assert_int_equal(s_stop(&g_a[i]), 0);
  for (int i = 0; i < 4; i++)
    assert_int_equal(s_log_has(&g_a[i], " error: "), 0);
}

/* A config with an unknown key or a bad value: exit 2 naming file:line. */
static void test_adapters_bad_config(void **state) {
  (void)state;
  char path[400], log[400];
  snprintf(path, sizeof path, "%s/bad.conf", g_h->dir);
  snprintf(log, sizeof log, "%s/bad.log", g_h->dir);
  static const struct {
    const char *kind, *text, *needle;
  } cases[] = {
      {"gemeente", "endpoint = ipc:///x\ncolour = blue\n", "bad.conf:2: unknown setting 'colour'"},
      {"gemeente", "endpoint = ipc:///x\ntvs_key = /x\n", "bad.conf:2: unknown setting 'tvs_key'"},
      {"coa", "credit = 0\n", "bad.conf:1: credit"},
      {"care", "endpoint = ipc:///x\n", "required setting 'key' is missing"},
      {"volunteer", "endpoint ipc:///x\n", "bad.conf:1: expected 'key = value'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    fx_write(path, cases[i].text, 0600);
    char prog[400];
    snprintf(prog, sizeof prog, "%s/keten-adapter-%s", KETEN_ADAPTER_DIR,
             cases[i].kind);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
      dup2(fd, STDERR_FILENO);
      close(fd);
      execl(prog, prog, "--config", path, "--check-config", (char *)NULL);
      _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 2);
    char *t = fx_read(log);
    if (!t || !strstr(t, cases[i].needle))
      fail_msg("case %zu: \"%s\" not in: %s", i, cases[i].needle, t ? t : "");
    free(t);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_adapters_bad_config),
      cmocka_unit_test(test_adapters_journey),
  };
  return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
