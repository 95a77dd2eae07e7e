/* The adapters' shared core without a broker: the config file, the
 * mapping of partner export files (examples/partners) to what would be
 * published, file names, atomic inbox files and the delivery command. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "adapter.h"

static char g_dir[64];
static uint8_t g_chain[KETEN_CHAIN_KEY_BYTES];

static adapter_kind_t s_coa(void) { return adapter_kind_coa; }
static adapter_kind_t s_vwn(void) { return adapter_kind_volunteer; }

static void s_write(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static char *s_read(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  char *b = calloc(1, ADAPTER_FILE_MAX + 1);
  size_t n = fread(b, 1, ADAPTER_FILE_MAX, f);
  b[n] = '\0';
  fclose(f);
  return b;
}

static int s_setup(void **state) {
  (void)state;
  snprintf(g_dir, sizeof g_dir, "/tmp/keten-adapter-unit-XXXXXX");
  if (!mkdtemp(g_dir))
    return -1;
  memset(g_chain, 0x5a, sizeof g_chain);
  return 0;
}

static int s_teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  return system(cmd) == 0 ? 0 : -1;
}

/* ---- config ------------------------------------------------------------- */

static int s_load(const adapter_kind_t *k, const char *text, adapter_config_t *c,
                  char *err, size_t errlen) {
  char path[128];
  snprintf(path, sizeof path, "%s/a.conf", g_dir);
  s_write(path, text);
  return adapter_config_load(c, k, path, err, errlen);
}

static const char BASE[] =
    "endpoint = tcp://127.0.0.1:7600   # the broker\n"
    "key = /etc/keten/coa.key\n"
    "broker_key = /etc/keten/broker.pub\n"
    "\n"
    "root_key = /etc/keten/root.pub\n"
    "chain_key = /etc/keten/chain.key\n"
    "outbox = /var/lib/keten-adapter/coa/outbox\n"
    "inbox = /var/lib/keten-adapter/coa/inbox\n";

static void test_config_ok(void **state) {
  (void)state;
  adapter_kind_t k = s_coa();
  adapter_config_t c;
  char err[256] = "";
  char text[2048];
  snprintf(text, sizeof text, "%scredit = 32\nlog_level = debug\n"
                              "on_delivery = /usr/local/bin/take\n"
                              "identity_v_nummer = no\ntvs_key = /etc/keten/tvs.key\n",
           BASE);
  assert_int_equal(s_load(&k, text, &c, err, sizeof err), 0);
  assert_string_equal(c.endpoint, "tcp://127.0.0.1:7600");
  assert_string_equal(c.inbox, "/var/lib/keten-adapter/coa/inbox");
  /* the default state dir is beside the inbox, never inside the outbox */
  assert_string_equal(c.state_dir, "/var/lib/keten-adapter/coa/state");
  assert_int_equal(c.on_delivery_attempts, 5);
  assert_int_equal(c.credit, 32);
  assert_int_equal(c.log_level, ADAPTER_LOG_DEBUG);
  assert_int_equal(c.identity_v_nummer, 0);
  assert_int_equal(c.on_delivery_timeout_ms, 30000);
  assert_string_equal(c.tvs_key, "/etc/keten/tvs.key");
  assert_string_equal(c.on_delivery, "/usr/local/bin/take");
}

static void test_config_refused(void **state) {
  (void)state;
  adapter_kind_t coa = s_coa(), vwn = s_vwn();
  static const struct {
    int coa;
    const char *extra, *needle;
  } cases[] = {
      {1, "colour = blue\n", "a.conf:9: unknown setting 'colour'"},
      {0, "tvs_key = /x\n", "a.conf:9: unknown setting 'tvs_key'"},
      {0, "identity_v_nummer = yes\n", "unknown setting 'identity_v_nummer'"},
      {1, "credit = 2000\n", "a.conf:9: credit: expected an integer"},
      {1, "credit = 12x\n", "a.conf:9: credit"},
      {1, "identity_v_nummer = maybe\n", "expected yes or no"},
      {1, "log_level = loud\n", "log_level"},
      {1, "endpoint = http://x\n", "a.conf:9: endpoint"},
      {1, "just words\n", "a.conf:9: expected 'key = value'"},
      {1, "inbox = /var/lib/keten-adapter/coa/outbox\n", "must be different"},
      /* above the unit's stop and watchdog budget */
      {1, "on_delivery_timeout_ms = 30001\n", "a.conf:9: on_delivery_timeout_ms"},
      {1, "on_delivery_attempts = 0\n", "a.conf:9: on_delivery_attempts"},
      {1, "state_dir = /var/lib/keten-adapter/coa/inbox\n", "state_dir must be"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char text[2048], err[256] = "";
    snprintf(text, sizeof text, "%s%s", BASE, cases[i].extra);
    adapter_config_t c;
    assert_int_equal(s_load(cases[i].coa ? &coa : &vwn, text, &c, err, sizeof err),
                     -1);
    if (!strstr(err, cases[i].needle))
      fail_msg("case %zu: \"%s\" not in \"%s\"", i, cases[i].needle, err);
  }
  char err[256] = "";
  adapter_config_t c;
  assert_int_equal(s_load(&coa, "endpoint = ipc:///run/k.sock\n", &c, err, sizeof err),
                   -1);
  assert_non_null(strstr(err, "required setting 'key' is missing"));
}

/* The shipped example configs (etc/adapter-KIND.conf.example) load. */
static void test_config_examples(void **state) {
  (void)state;
  const adapter_kind_t *kinds[] = {&adapter_kind_coa, &adapter_kind_gemeente,
                                   &adapter_kind_volunteer, &adapter_kind_care};
  for (size_t i = 0; i < 4; i++) {
    char path[512], err[512] = "";
    snprintf(path, sizeof path, "%s/etc/adapter-%s.conf.example", KETEN_SOURCE_DIR,
             kinds[i]->name);
    adapter_config_t c;
    if (adapter_config_load(&c, kinds[i], path, err, sizeof err) != 0)
      fail_msg("%s: %s", path, err);
    assert_string_equal(c.endpoint, "tcp://broker.keten.example:7600");
    assert_int_equal(c.log_level, ADAPTER_LOG_INFO);
    if (kinds[i]->tvs)
      assert_true(c.tvs_key[0] != '\0');
  }
}

/* ---- mapping -------------------------------------------------------------- */

static json_t *s_plan_file(const adapter_kind_t *k, const char *file,
                           const char *our_id) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", KETEN_PARTNERS_DIR, file);
  char *buf = s_read(path);
  assert_non_null(buf);
  adapter_config_t cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.identity_v_nummer = 1;
  json_t *plan = NULL;
  char why[512] = "";
  int rc = adapter_plan(k, &cfg, g_chain, our_id, buf, strlen(buf), &plan, why,
                        sizeof why);
  free(buf);
  if (rc != ADAPTER_PUB_OK)
    fail_msg("%s: %s", file, why);
  return plan;
}

static json_t *s_action(json_t *plan, const char *action, size_t nth) {
  size_t i, seen = 0;
  json_t *a;
  json_array_foreach(plan, i, a) {
    if (!strcmp(json_string_value(json_object_get(a, "action")), action) &&
        seen++ == nth)
      return a;
  }
  return NULL;
}

static void test_map_intake(void **state) {
  (void)state;
  adapter_kind_t k = s_coa();
  json_t *plan = s_plan_file(&k, "coa-intake-amira.json", "coa");
  /* the V-nummer index, three consents, then eight sections, in order */
  assert_int_equal(json_array_size(plan), 1 + 3 + 8);
  assert_string_equal(json_string_value(json_object_get(json_array_get(plan, 0), "action")),
                      "index");
  static const char *const kinds[] = {"IDENTITY", "HOUSEHOLD", "STORY", "EDUCATION",
                                      "WORK", "LANGUAGE", "HOUSING", "HEALTH"};
  for (size_t i = 0; i < 8; i++) {
    json_t *s = s_action(plan, "section", i);
    assert_non_null(s);
    assert_string_equal(json_string_value(json_object_get(s, "kind")), kinds[i]);
    json_error_t jerr;
    json_t *data = json_loads(json_string_value(json_object_get(s, "json")), 0, &jerr);
    assert_true(json_is_object(data));
    if (i == 0) /* IDENTITY gets the V-nummer */
      assert_string_equal(json_string_value(json_object_get(data, "v_nummer")),
                          "2931847560");
    else
      assert_null(json_object_get(data, "v_nummer"));
    json_decref(data);
  }
  uint8_t subject[32];
  char hex[65];
  assert_int_equal(keten_subject_id(g_chain, "2931847560", subject), KETEN_OK);
  adapter_hex(hex, subject, 32);
  json_t *c0 = s_action(plan, "consent", 0), *c1 = s_action(plan, "consent", 1);
  assert_string_equal(json_string_value(json_object_get(c0, "subject")), hex);
  assert_string_equal(json_string_value(json_object_get(c0, "recipient")), "@gemeente");
  assert_int_equal(json_array_size(json_object_get(c0, "sections")), 7);
  assert_string_equal(json_string_value(json_object_get(c0, "purpose")), "INBURGERING");
  assert_string_equal(json_string_value(json_object_get(c0, "basis")), "CONSENT");
  assert_int_equal(json_integer_value(json_object_get(c0, "valid_days")), 730);
  assert_string_equal(json_string_value(json_object_get(c0, "evidence_ref")),
                      "coa-form-2026-0611-17");
  assert_string_equal(json_string_value(json_object_get(c1, "recipient")), "vwn:zeeland");
  assert_string_equal(json_string_value(json_object_get(c1, "purpose")), "BEGELEIDING");
  json_decref(plan);

  plan = s_plan_file(&k, "tvs-koppeling-amira.json", "coa");
  json_t *t = s_action(plan, "tvs", 0);
  assert_non_null(t);
  assert_string_equal(json_string_value(json_object_get(t, "event")), "KOPPELING");
  assert_string_equal(json_string_value(json_object_get(t, "subject")), hex);
  assert_string_equal(json_string_value(json_object_get(t, "gemeente")), "gemeente:0716");
  assert_int_equal(json_integer_value(json_object_get(t, "household_size")), 3);
  json_decref(plan);

  plan = s_plan_file(&k, "coa-revoke-ggz-amira.json", "coa");
  t = s_action(plan, "revoke", 0);
  assert_string_equal(json_string_value(json_object_get(t, "recipient")), "ggz:zeeland");
  assert_string_equal(json_string_value(json_object_get(t, "purpose")), "ZORG");
  json_decref(plan);
}

static void test_map_refused(void **state) {
  (void)state;
  adapter_kind_t coa = s_coa(), vwn = s_vwn();
  adapter_config_t cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.identity_v_nummer = 1;
  static const struct {
    int coa;
    const char *text, *needle;
  } cases[] = {
      {1, "{\"v_nummer\": ", "not JSON"},
      {1, "[1]", "top level is not an object"},
      {1, "{\"v_nummer\": \"2931847560\", \"v_nummer\": \"2931847560\"}", "not JSON"},
      {1, "{\"v_nummer\": \"29318\", \"sections\": {\"HOUSING\": {}}}", "v_nummer"},
      {1, "{\"v_nummer\": \"2931847560\", \"extra\": 1, \"sections\": {}}",
       "unknown field \"extra\""},
      {1, "{\"v_nummer\": \"2931847560\", \"recorded_by\": \"gemeente:0716\", "
          "\"sections\": {\"HOUSING\": {\"household_size\": 3}}}",
       "recorded_by"},
      {1, "{\"v_nummer\": \"2931847560\", \"sections\": {\"SUPPORT\": {}}}",
       "does not publish"},
      {1, "{\"v_nummer\": \"2931847560\", \"sections\": {\"HOUSING\": 3}}",
       "not an object"},
      {1, "{\"v_nummer\": \"2931847560\"}", "nothing to publish"},
      {1, "{\"v_nummer\": \"2931847560\", \"consents\": [{\"recipient\": "
          "\"vwn:zeeland\", \"sections\": [\"SUPPORT\"], \"purpose\": \"BEGELEIDING\", "
          "\"basis\": \"CONSENT\", \"valid_days\": 365, \"evidence\": \"x\"}]}",
       "not a kind coa writes"},
      {1, "{\"v_nummer\": \"2931847560\", \"consents\": [{\"recipient\": "
          "\"vwn:zeeland\", \"recipient_role\": \"GEMEENTE_LINKED\", \"sections\": "
          "[\"HOUSING\"], \"purpose\": \"BEGELEIDING\", \"basis\": \"CONSENT\", "
          "\"valid_days\": 365, \"evidence\": \"x\"}]}",
       "exactly one of"},
      {1, "{\"v_nummer\": \"2931847560\", \"consents\": [{\"recipient\": "
          "\"vwn:zeeland\", \"sections\": [\"HOUSING\"], \"purpose\": \"FUN\", "
          "\"basis\": \"CONSENT\", \"valid_days\": 365, \"evidence\": \"x\"}]}",
       "purpose"},
      {1, "{\"v_nummer\": \"2931847560\", \"consents\": [{\"recipient\": "
          "\"vwn:zeeland\", \"sections\": [\"HOUSING\"], \"purpose\": \"ZORG\", "
          "\"basis\": \"LEGAL_DUTY\", \"valid_days\": 365, \"evidence\": \"x\"}]}",
       "legal_reference"},
      {1, "{\"v_nummer\": \"2931847560\", \"consents\": [{\"recipient\": "
          "\"vwn:zeeland\", \"sections\": [\"HOUSING\"], \"purpose\": \"ZORG\", "
          "\"basis\": \"CONSENT\", \"valid_days\": 0, \"evidence\": \"x\"}]}",
       "valid_days"},
      {1, "{\"v_nummer\": \"2931847560\", \"revoke\": {\"recipient\": \"Bad Id\", "
          "\"reason\": \"x\"}}",
       "not a participant id"},
      {1, "{\"v_nummer\": \"2931847560\", \"revoke\": {\"recipient\": \"ggz:zeeland\"}}",
       "reason"},
      {1, "{\"event\": \"KOPPELING\", \"v_nummer\": \"2931847560\", \"colour\": 1}",
       "unknown field \"colour\""},
      {1, "{\"event\": \"PARTY\", \"v_nummer\": \"2931847560\"}", "event"},
      {0, "{\"event\": \"KOPPELING\", \"v_nummer\": \"2931847560\"}",
       "only the COA adapter"},
      {0, "{\"v_nummer\": \"2931847560\", \"sections\": {\"HEALTH\": {\"notes\": \"x\"}}}",
       "volunteer does not publish"},
      {0, "{\"v_nummer\": \"2931847560\", \"consents\": []}", "consents: a non-empty array"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char why[512] = "";
    json_t *plan = NULL;
    int rc = adapter_plan(cases[i].coa ? &coa : &vwn, &cfg, g_chain, "coa",
                          cases[i].text, strlen(cases[i].text), &plan, why,
                          sizeof why);
    if (rc != ADAPTER_PUB_INVALID || plan || !strstr(why, cases[i].needle))
      fail_msg("case %zu: rc %d, \"%s\" not in \"%s\"", i, rc, cases[i].needle, why);
  }
}

/* A section that does not conform to its kind's schema fails the file
 * before anything is published. */
static void test_map_schema(void **state) {
  (void)state;
  adapter_kind_t coa = s_coa();
  adapter_config_t cfg;
  memset(&cfg, 0, sizeof cfg);
  static const char *const bad[] = {
      "{\"v_nummer\": \"2931847560\", \"sections\": {\"HOUSING\": {\"household_size\": 0}}}",
      "{\"v_nummer\": \"2931847560\", \"sections\": {\"STORY\": {\"text\": \"x\"}}}",
      "{\"v_nummer\": \"2931847560\", \"sections\": {\"IDENTITY\": {\"given_name\": "
      "\"A\", \"family_name\": \"H\", \"birth_date\": \"14-03-1991\"}}}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char why[512] = "";
    json_t *plan = NULL;
    int rc = adapter_plan(&coa, &cfg, g_chain, "coa", bad[i], strlen(bad[i]), &plan,
                          why, sizeof why);
    if (rc != ADAPTER_PUB_INVALID || plan || !strstr(why, "does not conform"))
      fail_msg("case %zu: rc %d: %s", i, rc, why);
  }
}

/* ---- names and files ------------------------------------------------------ */

static void test_names(void **state) {
  (void)state;
  assert_true(adapter_id_ok("gemeente:0716"));
  assert_true(adapter_id_ok("coa"));
  assert_false(adapter_id_ok("Coa"));
  assert_false(adapter_id_ok("a::b"));
  assert_false(adapter_id_ok(":a"));
  assert_false(adapter_id_ok("../x"));
  assert_false(adapter_id_ok(""));
  assert_true(adapter_outbox_name_ok("coa-intake-amira.json"));
  assert_false(adapter_outbox_name_ok(".coa-intake-amira.json.tmp"));
  assert_false(adapter_outbox_name_ok(".x.json"));
  assert_false(adapter_outbox_name_ok("notes.txt"));
  assert_false(adapter_outbox_name_ok("a b.json"));
  assert_false(adapter_outbox_name_ok(".json"));
  /* odd *.json names are not ignored: failed/ under a sanitised name */
  assert_true(adapter_outbox_name_odd("a b.json"));
  assert_true(adapter_outbox_name_odd("inschrijving-\xc3\xa9.json"));
  assert_false(adapter_outbox_name_odd("a.json"));
  assert_false(adapter_outbox_name_odd(".a b.json"));
  assert_false(adapter_outbox_name_odd("a b.txt"));
  char sane[200];
  adapter_outbox_sanitise(sane, sizeof sane, "care amira.json");
  assert_string_equal(sane, "care_amira.json");
  adapter_outbox_sanitise(sane, sizeof sane, "inschrijving-\xc3\xa9.json");
  assert_string_equal(sane, "inschrijving-__.json");
  char longname[260];
  memset(longname, 'x', 240);
  snprintf(longname + 240, sizeof longname - 240, ".json");
  assert_true(adapter_outbox_name_odd(longname));
  adapter_outbox_sanitise(sane, sizeof sane, longname);
  assert_true(adapter_outbox_name_ok(sane));
  keten_section_header_t h;
  memset(&h, 0, sizeof h);
  memset(h.subject, 0xab, sizeof h.subject);
  h.kind = 1;
  h.version = 12;
  snprintf(h.author, sizeof h.author, "gemeente:0716");
  char name[320];
  assert_int_equal(adapter_section_name(name, sizeof name, &h), 0);
  char want[320];
  snprintf(want, sizeof want, "section-%s-IDENTITY-gemeente_0716-v12.json",
           "abababababababababababababababababababababababababababababababab");
  assert_string_equal(name, want);
  snprintf(h.author, sizeof h.author, "../../etc");
  assert_int_equal(adapter_section_name(name, sizeof name, &h), -1);
  snprintf(h.author, sizeof h.author, "coa");
  h.kind = 99;
  assert_int_equal(adapter_section_name(name, sizeof name, &h), -1);
}

static void test_write_atomic(void **state) {
  (void)state;
  char path[256], tmp[256];
  snprintf(path, sizeof path, "%s/x.json", g_dir);
  snprintf(tmp, sizeof tmp, "%s/.x.json.tmp", g_dir);
  /* a stale temporary file (a crash) is replaced */
  s_write(tmp, "stale");
  assert_int_equal(adapter_write_atomic(g_dir, "x.json", "{}\n", 3), 0);
  char *t = s_read(path);
  assert_string_equal(t, "{}\n");
  free(t);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_int_equal(access(tmp, F_OK), -1);
  assert_int_equal(adapter_write_atomic(g_dir, "../x.json", "{}", 2), -1);
  assert_int_equal(adapter_write_atomic(g_dir, ".hidden", "{}", 2), -1);
  /* relative to a descriptor: a directory swapped for a symlink after it
   * was opened is not followed */
  char sub[256], moved[256], elsewhere[256], link[256];
  snprintf(sub, sizeof sub, "%s/sub", g_dir);
  snprintf(moved, sizeof moved, "%s/sub.orig", g_dir);
  snprintf(elsewhere, sizeof elsewhere, "%s/elsewhere", g_dir);
  assert_int_equal(mkdir(sub, 0700), 0);
  assert_int_equal(mkdir(elsewhere, 0700), 0);
  char err[512] = "";
  int fd = adapter_open_dir(AT_FDCWD, sub, 0, 0, "test", err, sizeof err);
  assert_true(fd >= 0);
  assert_int_equal(rename(sub, moved), 0);
  assert_int_equal(symlink(elsewhere, sub), 0);
  assert_int_equal(adapter_write_atomic_at(fd, "y.json", "{}\n", 3), 0);
  close(fd);
  snprintf(link, sizeof link, "%s/y.json", moved);
  assert_int_equal(access(link, F_OK), 0);
  snprintf(link, sizeof link, "%s/y.json", elsewhere);
  assert_int_equal(access(link, F_OK), -1);
  /* a symlink, a group- or other-writable directory are refused */
  assert_int_equal(adapter_open_dir(AT_FDCWD, sub, 0, 0, "test", err, sizeof err),
                   -1);
  assert_non_null(strstr(err, "symbolic link"));
  assert_int_equal(chmod(elsewhere, 0770), 0);
  assert_int_equal(
      adapter_open_dir(AT_FDCWD, elsewhere, 0, 0, "test", err, sizeof err), -1);
  assert_non_null(strstr(err, "writable by its group"));
  fd = adapter_open_dir(AT_FDCWD, elsewhere, 0, 1, "outbox", err, sizeof err);
  assert_true(fd >= 0); /* the outbox may be group-writable */
  close(fd);
  assert_int_equal(chmod(elsewhere, 0702), 0);
  assert_int_equal(
      adapter_open_dir(AT_FDCWD, elsewhere, 0, 1, "outbox", err, sizeof err), -1);
  assert_non_null(strstr(err, "writable by others"));
}

static void s_on_alarm(int sig) {
  (void)sig;
  adapter_stop_requested = 1;
}

static void test_run_command(void **state) {
  (void)state;
  char script[256], out[256];
  snprintf(script, sizeof script, "%s/cmd.sh", g_dir);
  snprintf(out, sizeof out, "%s/cmd.out", g_dir);
  char text[512];
  snprintf(text, sizeof text,
           "#!/bin/sh\nprintf '%%s' \"$1\" > %s\ncase \"$1\" in *sleep*) sleep 5;; "
           "*fail*) exit 9;; esac\nexit 0\n", out);
  s_write(script, text);
  assert_int_equal(chmod(script, 0700), 0);
  /* argv[1] arrives as one word, no shell in between */
  assert_int_equal(adapter_run_command(script, "/in box/$(id) ; x.json", 5000), 0);
  char *t = s_read(out);
  assert_string_equal(t, "/in box/$(id) ; x.json");
  free(t);
  assert_int_equal(adapter_run_command(script, "fail", 5000), 9);
  int64_t t0 = adapter_mono_ms();
  assert_int_equal(adapter_run_command(script, "sleep", 300), -2);
  assert_true(adapter_mono_ms() - t0 < 3000);
  assert_int_equal(adapter_run_command("/nonexistent/cmd", "x", 1000), -1);
  /* a stop request: not started (-4); the adapter exits */
  adapter_stop_requested = 1;
  t0 = adapter_mono_ms();
  assert_int_equal(adapter_run_command(script, "sleep", 5000), -4);
  assert_true(adapter_mono_ms() - t0 < 1000);
  adapter_stop_requested = 0;
  /* a stop request while it runs (SIGTERM's handler, here from SIGALRM):
   * the command's group is ended within the 1 s grace, -4 */
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = s_on_alarm;
  sigemptyset(&sa.sa_mask);
  assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
  struct itimerval it = {{0, 0}, {0, 300000}};
  assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
  t0 = adapter_mono_ms();
  assert_int_equal(adapter_run_command(script, "sleep", 20000), -4);
  assert_true(adapter_mono_ms() - t0 < 2500);
  sigaction(SIGALRM, &old, NULL);
  adapter_stop_requested = 0;
}

static void test_index(void **state) {
  (void)state;
  adapter_index_t ix;
  char err[256];
  assert_int_equal(adapter_index_load(&ix, g_dir, err, sizeof err), 0);
  uint8_t subject[32];
  assert_int_equal(keten_subject_id(g_chain, "2931847560", subject), KETEN_OK);
  assert_null(adapter_index_get(&ix, subject));
  assert_int_equal(adapter_index_put(&ix, subject, "2931847560"), 0);
  adapter_index_free(&ix);
  assert_int_equal(adapter_index_load(&ix, g_dir, err, sizeof err), 0);
  assert_string_equal(adapter_index_get(&ix, subject), "2931847560");
  adapter_index_free(&ix);
}

/* --check-config's look at the directories and files (adapter_check_files):
 * nothing is created, and each way the start would refuse is named. */
static void test_check_files(void **state) {
  (void)state;
  adapter_config_t c;
  memset(&c, 0, sizeof c);
  char base[160], err[512] = "";
  snprintf(base, sizeof base, "%s/check", g_dir);
  assert_int_equal(mkdir(base, 0700), 0);
  snprintf(c.outbox, sizeof c.outbox, "%s/outbox", base);
  snprintf(c.inbox, sizeof c.inbox, "%s/inbox", base);
  snprintf(c.state_dir, sizeof c.state_dir, "%s/state", base);
  /* none exists yet: fine, each would be created, and none is */
  char *lines = NULL;
  size_t n = 0;
  FILE *out = open_memstream(&lines, &n);
  assert_int_equal(adapter_check_files(&c, out, err, sizeof err), 0);
  fclose(out);
  assert_non_null(strstr(lines, "outbox dir"));
  assert_non_null(strstr(lines, "/outbox/done: does not exist yet"));
  assert_non_null(strstr(lines, "/state: does not exist yet"));
  free(lines);
  struct stat st;
  assert_int_not_equal(stat(c.outbox, &st), 0);
  /* the directory it would be created in does not exist */
  adapter_config_t m = c;
  snprintf(m.inbox, sizeof m.inbox, "%s/no/such/inbox", base);
  assert_int_equal(adapter_check_files(&m, NULL, err, sizeof err), -1);
  assert_non_null(strstr(err, "nor does the directory"));
  /* a symlinked outbox, as adapter_outbox_open refuses it */
  char real[200];
  snprintf(real, sizeof real, "%s/real", base);
  assert_int_equal(mkdir(real, 0700), 0);
  assert_int_equal(symlink(real, c.outbox), 0);
  assert_int_equal(adapter_check_files(&c, NULL, err, sizeof err), -1);
  assert_non_null(strstr(err, "symbolic link"));
  assert_int_equal(unlink(c.outbox), 0);
  /* done/ group-writable: only the outbox itself may be */
  assert_int_equal(mkdir(c.outbox, 0770), 0);
  assert_int_equal(chmod(c.outbox, 0770), 0);
  char done[200];
  snprintf(done, sizeof done, "%s/done", c.outbox);
  assert_int_equal(mkdir(done, 0700), 0);
  assert_int_equal(chmod(done, 0770), 0);
  assert_int_equal(adapter_check_files(&c, NULL, err, sizeof err), -1);
  assert_non_null(strstr(err, "writable by its group"));
  assert_int_equal(chmod(done, 0700), 0);
  assert_int_equal(adapter_check_files(&c, NULL, err, sizeof err), 0);
  /* the inbox and the state dir one directory (also through a link) */
  assert_int_equal(mkdir(c.inbox, 0700), 0);
  m = c;
  snprintf(m.state_dir, sizeof m.state_dir, "%s", c.inbox);
  assert_int_equal(adapter_check_files(&m, NULL, err, sizeof err), -1);
  assert_non_null(strstr(err, "three different directories"));
  snprintf(m.state_dir, sizeof m.state_dir, "%s/inbox/.", base);
  assert_int_equal(adapter_check_files(&m, NULL, err, sizeof err), -1);
  assert_non_null(strstr(err, "three different directories"));
  /* on_delivery: not executable, then executable */
  m = c;
  snprintf(m.on_delivery, sizeof m.on_delivery, "%s/take", base);
  s_write(m.on_delivery, "#!/bin/sh\n");
  assert_int_equal(chmod(m.on_delivery, 0600), 0);
  assert_int_equal(adapter_check_files(&m, NULL, err, sizeof err), -1);
  assert_non_null(strstr(err, "not an executable file"));
  assert_int_equal(chmod(m.on_delivery, 0700), 0);
  assert_int_equal(adapter_check_files(&m, NULL, err, sizeof err), 0);
  /* witness_file in a directory that is not there */
  snprintf(m.witness_file, sizeof m.witness_file, "%s/gone/witness", base);
  assert_int_equal(adapter_check_files(&m, NULL, err, sizeof err), -1);
  assert_non_null(strstr(err, "witness_file"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_config_ok),     cmocka_unit_test(test_config_refused),
      cmocka_unit_test(test_config_examples),
      cmocka_unit_test(test_map_intake),    cmocka_unit_test(test_map_refused),
      cmocka_unit_test(test_map_schema),
      cmocka_unit_test(test_names),         cmocka_unit_test(test_write_atomic),
      cmocka_unit_test(test_run_command),   cmocka_unit_test(test_index),
      cmocka_unit_test(test_check_files),
  };
  return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
