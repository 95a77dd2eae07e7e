/* Integration test of `keten audit report` (issue 9, item 4): a real
 * ketend and a journey-like flow (COA records consents and sections, TVS
 * links the person to a gemeente which then receives her profile, care
 * partners fetch, a volunteer is refused, a consent is revoked, a partner
 * leaves the registry), then the report in the three formats and the
 * three languages, read from the stopped broker's store, which it leaves
 * byte-identical. The HTML is rendered by headless Chromium: printed to
 * PDF and the PDF's words with their positions read back (pdftotext
 * -bbox-layout), because that is what a person sees: the organisation
 * names and the kinds in the language, and for Arabic the table's first
 * column on the right. Screenshots of the three languages are saved in
 * the build tree and their paths printed. Without chromium (or
 * pdftotext) the browser part is skipped with a message; the rest runs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "keten.h"
#include "party.h"

#define COA "coa"
#define GEM "gemeente:0716"
#define VWN "vwn:zeeland"
#define GGZ "ggz:zeeland"
#define MEE "mee:zeeland"
#define TVS "tvs:coa"
#define MEE_NAME "MEE <Zeeland> & \"Co\""
#define EVIDENCE "coa-form <2026-17> & 'x'"
#define V_NUMMER "2931847560"
#define BIT(k) (UINT64_C(1) << (k))

static int s_setup(void **state) {
  harness_t *h = harness_new(1);
  const char *failed = !h                                          ? "harness"
                       : !harness_add_partner(h, TVS, "TVS", "TVS (COA, fictief)") ? "TVS entry"
                       : !harness_add_partner(h, MEE, "CARE", MEE_NAME) ? "MEE entry"
                       : harness_start(h) != 0                          ? "ketend start"
                                                                        : NULL;
  if (failed) {
    fprintf(stderr, "setup: %s failed\n", failed);
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

static int s_kind(const char *name) { return keten_section_kind_from_name(name); }

/* A consent of COA for `to` with our evidence reference. */
static void s_grant(keten_client_t *c, const uint8_t subject[32], const char *to,
                    uint64_t kinds, const char *purpose, keten_consent_t *out) {
  keten_consent_t k;
  memset(&k, 0, sizeof k);
  memcpy(k.subject, subject, 32);
  snprintf(k.recipient, sizeof k.recipient, "%s", to);
  k.sections = kinds;
  k.purpose = keten_purpose_from_name(purpose);
  k.basis = keten_basis_from_name("CONSENT");
  snprintf(k.evidence_ref, sizeof k.evidence_ref, "%s", EVIDENCE);
  k.valid_from_ms = (uint64_t)(party_wall_ms() - 60000);
  k.valid_until_ms = (uint64_t)(party_wall_ms() + 86400000LL * 365);
  if (keten_client_consent_grant(c, &k) != KETEN_OK)
    fail_msg("consent for %s: %s", to, keten_client_error(c));
  if (out)
    *out = k;
}

static char *s_slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  char *buf = NULL;
  size_t n = 0, cap = 0;
  for (;;) {
    if (n + 4096 + 1 > cap) {
      cap = cap ? 2 * cap : 65536;
      buf = realloc(buf, cap);
      assert_non_null(buf);
    }
    size_t got = fread(buf + n, 1, cap - n - 1, f);
    n += got;
    if (got == 0)
      break;
  }
  fclose(f);
  buf[n] = '\0';
  if (len)
    *len = n;
  return buf;
}

/* Runs argv (a program in PATH) with stdout/stderr to /dev/null; kills it
 * after timeout_s. Returns its exit status, or -1. */
static int s_run(const char *const *argv, int timeout_s) {
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    int fd = open("/dev/null", O_WRONLY);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      close(fd);
    }
    execvp(argv[0], (char *const *)argv);
    _exit(127);
  }
  for (int i = 0; i < timeout_s * 10; i++) {
    int status = 0;
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid)
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    party_sleep_ms(100);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  return -1;
}

static int s_in_path(const char *prog) {
  const char *path = getenv("PATH");
  if (!path)
    return 0;
  char *copy = strdup(path), *save = NULL;
  int found = 0;
  for (char *d = strtok_r(copy, ":", &save); d && !found;
       d = strtok_r(NULL, ":", &save)) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", d, prog);
    found = access(p, X_OK) == 0;
  }
  free(copy);
  return found;
}

/* `keten audit report` into DIR/report.LANG.EXT; returns the text. */
static char *s_report(harness_t *h, const char *subject, const char *format,
                      const char *lang, char *path, size_t cap) {
  snprintf(path, cap, "%s/report.%s.%s", h->dir, lang,
           !strcmp(format, "text") ? "txt" : format);
  const char *argv[] = {"audit", "report", "--store", h->store, "--format",
                        format, "--lang", lang, "--tz", "Europe/Amsterdam",
                        "--out", path, subject, NULL};
  int rc = harness_run_cli(h, argv, NULL);
  if (rc != 0)
    fail_msg("keten audit report --format %s --lang %s exited %d", format,
             lang, rc);
  struct stat sb;
  assert_int_equal(stat(path, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0600); /* personal data */
  char *text = s_slurp(path, NULL);
  assert_non_null(text);
  return text;
}

/* One disclosure expected in the JSON report. */
typedef struct {
  const char *to, *kind;
  int version;
  const char *how; /* "delivered", "fetched" or NULL: either */
  int seen;
} s_want_t;

static void s_check_json(const char *text, s_want_t *want, size_t n_want) {
  json_error_t je;
  json_t *j = json_loads(text, 0, &je);
  if (!j)
    fail_msg("report JSON: %s", je.text);
  json_t *ds = json_object_get(j, "disclosures");
  size_t i;
  json_t *d;
  json_array_foreach(ds, i, d) {
    const char *to = json_string_value(
        json_object_get(json_object_get(d, "recipient"), "id"));
    const char *kind = json_string_value(json_object_get(d, "kind"));
    int version = (int)json_integer_value(json_object_get(d, "version"));
    int matched = 0;
    for (size_t k = 0; k < n_want && !matched; k++) {
      if (strcmp(want[k].to, to) || strcmp(want[k].kind, kind) ||
          want[k].version != version)
        continue;
      matched = 1;
      if (want[k].seen++)
        fail_msg("disclosure %s %s v%d listed twice (not merged)", to, kind,
                 version);
      if (want[k].how) {
        json_t *how = json_object_get(d, "how");
        int has = 0;
        size_t x;
        json_t *v;
        json_array_foreach(how, x, v) has |= !strcmp(json_string_value(v), want[k].how);
        if (!has)
          fail_msg("disclosure %s %s v%d not %s", to, kind, version, want[k].how);
      }
      /* the consent it rests on, with its evidence reference */
      json_t *c = json_object_get(d, "consent");
      if (!json_is_object(c) ||
          strcmp(json_string_value(json_object_get(c, "evidence_ref")), EVIDENCE) ||
          strcmp(json_string_value(json_object_get(
                     json_object_get(c, "recorded_by"), "id")),
                 COA) ||
          json_integer_value(json_object_get(c, "recorded_at_ms")) <= 0)
        fail_msg("disclosure %s %s v%d: consent missing or wrong", to, kind,
                 version);
    }
    if (!matched)
      fail_msg("unexpected disclosure in the report: %s %s v%d", to, kind,
               version);
  }
  for (size_t k = 0; k < n_want; k++)
    if (!want[k].seen)
      fail_msg("disclosure missing from the report: %s %s v%d", want[k].to,
               want[k].kind, want[k].version);
  /* the removed partner keeps its name */
  json_array_foreach(ds, i, d) {
    json_t *r = json_object_get(d, "recipient");
    if (!strcmp(json_string_value(json_object_get(r, "id")), MEE)) {
      assert_true(json_is_true(json_object_get(r, "removed")));
      assert_non_null(strstr(json_string_value(json_object_get(r, "name")),
                             MEE_NAME));
    }
  }
  /* apart: the volunteer's refused fetch; four consents granted, one
   * revoked; the TVS link */
  json_t *refusals = json_object_get(j, "refusals");
  int fetch_denied = 0;
  json_array_foreach(refusals, i, d) {
    if (!strcmp(json_string_value(json_object_get(d, "type")), "fetch_denied") &&
        !strcmp(json_string_value(json_object_get(json_object_get(d, "by"), "id")), VWN))
      fetch_denied++;
  }
  assert_true(fetch_denied >= 1);
  int granted = 0, revoked = 0;
  json_array_foreach(json_object_get(j, "consent_changes"), i, d) {
    const char *t = json_string_value(json_object_get(d, "type"));
    granted += !strcmp(t, "granted");
    revoked += !strcmp(t, "revoked");
  }
  assert_int_equal(granted, 3);
  assert_int_equal(revoked, 1);
  int linked = 0;
  json_array_foreach(json_object_get(j, "tvs_events"), i, d)
    linked += !strcmp(json_string_value(json_object_get(d, "type")), "linked");
  assert_int_equal(linked, 1);
  json_t *audit = json_object_get(j, "audit");
  assert_true(json_integer_value(json_object_get(audit, "size")) > 20);
  json_decref(j);
}

/* ---- the browser ------------------------------------------------------ */

typedef struct {
  double x_min, x_max;
} s_box_t;

/* The words of a pdftotext -bbox-layout file equal to word: their boxes
 * (at most max); *page_w the page width. */
static size_t s_words(const char *bbox, const char *word, s_box_t *out,
                      size_t max, double *page_w) {
  const char *p = strstr(bbox, "<page width=\"");
  *page_w = p ? atof(p + 13) : 0;
  size_t n = 0;
  for (p = bbox; (p = strstr(p, "<word ")) && n < max; p++) {
    const char *gt = strchr(p, '>');
    const char *end = gt ? strstr(gt, "</word>") : NULL;
    if (!end)
      break;
    size_t len = (size_t)(end - gt - 1);
    if (len != strlen(word) || strncmp(gt + 1, word, len))
      continue;
    const char *xa = strstr(p, "xMin=\""), *xb = strstr(p, "xMax=\"");
    if (!xa || !xb || xa > gt || xb > gt)
      continue;
    out[n].x_min = atof(xa + 6);
    out[n].x_max = atof(xb + 6);
    n++;
  }
  return n;
}

static int s_has_arabic(const char *s) {
  /* U+0600..U+06FF (D8..DB lead bytes) or presentation forms
   * U+FB50..U+FDFF, U+FE70..U+FEFF (EF AD..EF BB) */
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if ((p[0] >= 0xD8 && p[0] <= 0xDB && (p[1] & 0xC0) == 0x80) ||
        (p[0] == 0xEF && p[1] >= 0xAD && p[1] <= 0xBB))
      return 1;
  return 0;
}

static void s_browser(harness_t *h, const char *const langs[3],
                      char html[3][512]) {
  const char *chromium = getenv("KETEN_CHROMIUM");
  if (!chromium || !chromium[0])
    chromium = "chromium";
  if (!s_in_path(chromium) && access(chromium, X_OK) != 0) {
    printf("SKIP (browser part): %s is not installed; scripts/install-deps.sh "
           "installs chromium and poppler-utils\n", chromium);
    return;
  }
  if (!s_in_path("pdftotext")) {
    printf("SKIP (browser part): pdftotext is not installed; "
           "scripts/install-deps.sh installs poppler-utils\n");
    return;
  }
  const char *outdir = KETEN_REPORT_SHOTS_DIR;
  mkdir(outdir, 0755);
  char profile[400];
  snprintf(profile, sizeof profile, "--user-data-dir=%s/chromium", h->dir);
  for (int i = 0; i < 3; i++) {
    char url[600], pdf[600], shot[600], pdfarg[700], shotarg[700], bbox[600];
    snprintf(url, sizeof url, "file://%s", html[i]);
    snprintf(pdf, sizeof pdf, "%s/report-%s.pdf", outdir, langs[i]);
    snprintf(shot, sizeof shot, "%s/report-%s.png", outdir, langs[i]);
    snprintf(bbox, sizeof bbox, "%s/report-%s.bbox.html", outdir, langs[i]);
    snprintf(pdfarg, sizeof pdfarg, "--print-to-pdf=%s", pdf);
    snprintf(shotarg, sizeof shotarg, "--screenshot=%s", shot);
    unlink(pdf);
    unlink(shot);
    const char *print[] = {chromium, "--headless", "--no-sandbox", "--disable-gpu",
                           profile, "--no-pdf-header-footer", pdfarg, url, NULL};
    assert_int_equal(s_run(print, 90), 0);
    const char *screenshot[] = {chromium, "--headless", "--no-sandbox",
                                "--disable-gpu", profile, "--hide-scrollbars",
                                "--window-size=1280,1800", shotarg, url, NULL};
    assert_int_equal(s_run(screenshot, 90), 0);
    struct stat sb;
    assert_int_equal(stat(shot, &sb), 0);
    assert_true(sb.st_size > 10000);
    printf("screenshot (%s): %s\n", langs[i], shot);
    printf("pdf (%s): %s\n", langs[i], pdf);
    const char *text[] = {"pdftotext", "-bbox-layout", pdf, bbox, NULL};
    assert_int_equal(s_run(text, 60), 0);
    char *words = s_slurp(bbox, NULL);
    assert_non_null(words);
    /* what a person sees on paper: the organisations by name ... */
    s_box_t boxes[64];
    double page_w = 0;
    size_t n = s_words(words, "Tholen", boxes, 64, &page_w);
    if (n == 0)
      fail_msg("%s: the printed pages do not show Gemeente Tholen", langs[i]);
    assert_true(page_w > 100);
    /* ... the kinds in the language ... */
    if (!strcmp(langs[i], "nl")) {
      assert_true(strstr(words, ">Identiteit<") != NULL);
      assert_true(strstr(words, ">Huisvesting<") != NULL);
    } else if (!strcmp(langs[i], "en")) {
      assert_true(strstr(words, ">Identity<") != NULL);
      assert_true(strstr(words, ">Housing<") != NULL);
    } else {
      if (!s_has_arabic(words))
        fail_msg("ar: the printed pages show no Arabic text");
      assert_null(strstr(words, ">Identity<"));
    }
    /* ... and the direction: the disclosures table's first column (the
     * recipient, "Gemeente Tholen") at the left margin for nl and en, at
     * the right one for Arabic */
    double left = page_w, right = 0;
    for (size_t k = 0; k < n; k++) {
      if (boxes[k].x_min < left)
        left = boxes[k].x_min;
      if (boxes[k].x_max > right)
        right = boxes[k].x_max;
    }
    if (!strcmp(langs[i], "ar")) {
      if (right < 0.75 * page_w || left < 0.15 * page_w)
        fail_msg("ar: Tholen at x %.0f..%.0f of %.0f: not right to left", left,
                 right, page_w);
    } else if (left > 0.15 * page_w) {
      fail_msg("%s: Tholen at x %.0f of %.0f: not left to right", langs[i],
               left, page_w);
    }
    free(words);
  }
}

/* Writes text to path. */
static void s_write(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_int_equal(fputs(text, f) >= 0, 1);
  assert_int_equal(fclose(f), 0);
}

/* `keten audit prove FILE --broker-key DIR/broker.pub`: its exit status;
 * "proof OK" on stdout when 0. */
static int s_prove(harness_t *h, const char *file) {
  char pub[600];
  snprintf(pub, sizeof pub, "%s/broker.pub", h->dir);
  const char *argv[] = {"audit", "prove", file, "--broker-key", pub, NULL};
  char *out = NULL;
  int rc = harness_run_cli(h, argv, &out);
  if (rc == 0 && (!out || !strstr(out, "proof OK: entry ")))
    fail_msg("keten audit prove %s: %s", file, out ? out : "");
  if (rc != 0 && (!out || !strstr(out, "proof FAILED")))
    fail_msg("keten audit prove %s exited %d: %s", file, rc, out ? out : "");
  free(out);
  return rc;
}

/* Each disclosure carries the proof of its first entry against the signed
 * head (issue 9, item 2): the bundles of the JSON and of --proofs DIR
 * check with `keten audit prove`; one hex digit changed in the entry
 * does not. */
static void s_check_proofs(harness_t *h, const char *subject) {
  char dir[400], path[512];
  snprintf(dir, sizeof dir, "%s/proofs", h->dir);
  snprintf(path, sizeof path, "%s/report.proofs.json", h->dir);
  const char *argv[] = {"audit", "report", "--store", h->store, "--format",
                        "json", "--lang", "en", "--out", path, "--proofs",
                        dir, subject, NULL};
  assert_int_equal(harness_run_cli(h, argv, NULL), 0);
  char *text = s_slurp(path, NULL);
  assert_non_null(text);
  json_t *j = json_loads(text, 0, NULL);
  assert_non_null(j);
  free(text);
  json_t *ds = json_object_get(j, "disclosures"), *d;
  size_t i, proved = 0;
  json_array_foreach(ds, i, d) {
    json_t *b = json_object_get(d, "proof");
    if (!json_is_object(b))
      fail_msg("disclosure %zu has no proof: %s", i,
               json_string_value(json_object_get(d, "proof_missing")));
    json_int_t seq = json_integer_value(json_object_get(b, "seq"));
    assert_int_equal(seq, json_integer_value(json_object_get(d, "first_seq")));
    /* the bundle of the JSON report, as the FG would cut it out */
    char file[600];
    snprintf(file, sizeof file, "%s/from-json-%lld.json", h->dir, (long long)seq);
    char *bt = json_dumps(b, JSON_COMPACT);
    s_write(file, bt);
    free(bt);
    assert_int_equal(s_prove(h, file), 0);
    /* the same bundle in DIR, 0600 */
    snprintf(file, sizeof file, "%s/proof-%lld.json", dir, (long long)seq);
    struct stat sb;
    assert_int_equal(stat(file, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(s_prove(h, file), 0);
    /* one hex digit of the entry changed: refused */
    json_t *bad = json_deep_copy(b);
    char *ehex = strdup(json_string_value(json_object_get(bad, "entry_hex")));
    size_t at = strlen(ehex) - 3; /* in the detail text */
    ehex[at] = ehex[at] == '0' ? '1' : '0';
    json_object_set_new(bad, "entry_hex", json_string(ehex));
    free(ehex);
    snprintf(file, sizeof file, "%s/tampered-%lld.json", h->dir, (long long)seq);
    bt = json_dumps(bad, JSON_COMPACT);
    s_write(file, bt);
    free(bt);
    json_decref(bad);
    assert_int_not_equal(s_prove(h, file), 0);
    proved++;
  }
  assert_true(proved >= 2);
  printf("keten audit prove: %zu disclosure proofs OK, their tampered copies "
         "refused\n", proved);
  json_decref(j);
}

static void test_report(void **state) {
  harness_t *h = *state;
  /* The FG's procedure: the partner derives the pseudonym on its own
   * machine with the chain key; only the pseudonym reaches the report. */
  uint8_t chain[KETEN_CHAIN_KEY_BYTES], subject[32];
  char chain_path[320];
  snprintf(chain_path, sizeof chain_path, "%s/chain.key", h->dir);
  assert_int_equal(keten_chain_key_generate(chain), KETEN_OK);
  assert_int_equal(keten_chain_key_save(chain, chain_path, 0), KETEN_OK);
  assert_int_equal(keten_subject_id(chain, V_NUMMER, subject), KETEN_OK);
  const char *sargv[] = {"subject", "--chain-key", chain_path, V_NUMMER, NULL};
  char *pseudonym = NULL;
  assert_int_equal(harness_run_cli(h, sargv, &pseudonym), 0);
  char hex[65];
  party_hex(subject, 32, hex);
  assert_non_null(pseudonym);
  assert_int_equal(strncmp(pseudonym, hex, 64), 0);
  free(pseudonym);

  party_t *coa = party_new(h, COA, 1); /* serves rewraps */
  party_t *gem = party_new(h, GEM, 1);
  keten_client_t *ggz = party_client(h, GGZ), *mee = party_client(h, MEE),
                 *vwn = party_client(h, VWN), *tvs = party_client(h, TVS);
  int ID = s_kind("IDENTITY"), HOUSING = s_kind("HOUSING"),
      HEALTH = s_kind("HEALTH");

  /* 1. COA records the consents and the intake */
  keten_consent_t to_ggz;
  s_grant(coa->c, subject, KETEN_LINKED_GEMEENTE, BIT(ID) | BIT(HOUSING),
          "INBURGERING", NULL);
  s_grant(coa->c, subject, GGZ, BIT(ID) | BIT(HEALTH), "ZORG", &to_ggz);
  s_grant(coa->c, subject, MEE, BIT(ID), "ZORG", NULL);
  party_put(coa->c, subject, ID, "{\"given_name\":\"Amira\",\"family_name\":\"Haddad\",\"birth_date\":\"1991\"}");
  party_put(coa->c, subject, HOUSING, "{\"household_size\":3,\"wishes\":\"Tholen\"}");
  party_put(coa->c, subject, HEALTH, "{\"notes\":\"-\"}");

  /* 2. TVS links her to the gemeente, which receives what the
   * "@gemeente" consent covers (rewraps served by COA) */
  keten_tvs_event_t k = party_koppeling(subject, GEM, "2026-2", "2026-07-01", 1);
  party_publish(tvs, &k);
  party_wait(PARTIES(coa, gem), gem, 2, 1, 0);

  /* 3. a new IDENTITY version reaches the gemeente at once */
  party_put(coa->c, subject, ID, "{\"given_name\":\"Amira B.\",\"family_name\":\"Haddad\",\"birth_date\":\"1991\"}");
  party_wait(PARTIES(coa, gem), gem, 3, 1, 0);
  party_settle(gem);

  /* 4. the care partners fetch; the volunteer is refused */
  assert_int_equal(party_fetch_kinds(ggz, subject), BIT(ID) | BIT(HEALTH));
  assert_int_equal(party_fetch_kinds(mee, subject), BIT(ID));
  assert_int_equal(party_fetch_kinds(vwn, subject), 0);

  /* 5. the care partner's consent is revoked; a later HEALTH does not
   * reach it */
  assert_int_equal(keten_client_consent_revoke(coa->c, to_ggz.consent_id,
                                               subject, "withdrawn at the counter",
                                               NULL),
                   KETEN_OK);
  party_put(coa->c, subject, HEALTH, "{\"notes\":\"2\"}");
  assert_int_equal(party_fetch_kinds(ggz, subject), 0);
  party_pump(PARTIES(coa, gem), 300);

  /* 6. MEE leaves the chain: the report still names it */
  party_stop_and_verify(h);
  const char *rargv[] = {"admin", "participant", "remove", "--store", h->store,
                         "--id", MEE, NULL};
  assert_int_equal(harness_run_cli(h, rargv, NULL), 0);

  /* the report reads the store and changes nothing */
  size_t before_len = 0, after_len = 0;
  char *before = s_slurp(h->store, &before_len);
  assert_non_null(before);

  /* a V-nummer is refused: it must not come to the broker host */
  const char *vargv[] = {"audit", "report", "--store", h->store, V_NUMMER, NULL};
  assert_int_equal(harness_run_cli(h, vargv, NULL), 2);

  static const char *const langs[3] = {"nl", "en", "ar"};
  char html[3][512];
  for (int i = 0; i < 3; i++) {
    char path[512];
    s_want_t want[] = {
        {GEM, "IDENTITY", 1, NULL, 0}, {GEM, "IDENTITY", 2, "delivered", 0},
        {GEM, "HOUSING", 1, NULL, 0},  {GGZ, "IDENTITY", 2, "fetched", 0},
        {GGZ, "HEALTH", 1, "fetched", 0}, {MEE, "IDENTITY", 2, "fetched", 0},
    };
    char *json = s_report(h, hex, "json", langs[i], path, sizeof path);
    s_check_json(json, want, sizeof want / sizeof want[0]);
    free(json);
    char *text = s_report(h, hex, "text", langs[i], path, sizeof path);
    assert_non_null(strstr(text, "Gemeente Tholen (gemeente:0716)"));
    assert_non_null(strstr(text, "GGZ Zeeland"));
    assert_non_null(strstr(text, EVIDENCE));
    if (!strcmp(langs[i], "nl")) {
      assert_non_null(strstr(text, "Identiteit, versie 2"));
      assert_non_null(strstr(text, "Gezondheid, versie 1"));
      assert_non_null(strstr(text, "niet meer in de keten"));
      assert_non_null(strstr(text, "Verzoek geweigerd"));
      assert_non_null(strstr(text, "Toestemming ingetrokken"));
    } else if (!strcmp(langs[i], "en")) {
      assert_non_null(strstr(text, "Identity, version 2"));
      assert_non_null(strstr(text, "Health, version 1"));
    } else {
      assert_non_null(strstr(text, "الهوية"));
      assert_non_null(strstr(text, "الصحة"));
    }
    if (i == 0)
      printf("---- keten audit report --format text --lang nl ----\n%s----\n",
             text);
    free(text);
    char *page = s_report(h, hex, "html", langs[i], html[i], sizeof html[i]);
    char want_html[64];
    snprintf(want_html, sizeof want_html, "<html lang=\"%s\" dir=\"%s\">",
             langs[i], i == 2 ? "rtl" : "ltr");
    assert_non_null(strstr(page, want_html));
    assert_null(strstr(page, "<script"));
    assert_null(strstr(page, "<Zeeland>"));
    assert_non_null(strstr(page, "MEE &lt;Zeeland&gt; &amp; &quot;Co&quot;"));
    assert_non_null(strstr(page, "coa-form &lt;2026-17&gt; &amp; &#39;x&#39;"));
    free(page);
  }
  s_check_proofs(h, hex);
  char *after = s_slurp(h->store, &after_len);
  assert_non_null(after);
  assert_int_equal(before_len, after_len);
  assert_memory_equal(before, after, before_len);
  free(before);
  free(after);

  s_browser(h, langs, html);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_report, s_setup, s_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
