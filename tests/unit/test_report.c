/* Unit tests of the access report (clients/keten/report.c): rows from
 * fixed audit entries (merging, withdrawal by keten.delivery.unsent,
 * versions, refusals and consent changes apart), the catalogs and their
 * fallback, RTL, and the HTML and text escaping of everything that comes
 * from the store. No store, no sockets. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "merkle.h"
#include "report.h"

#define SHARE KETEN_SOURCE_DIR "/share/keten/report"
#define T0 INT64_C(1790000000000) /* 2026-09-21 16:13 CEST */

static audit_entry_t s_e[64], s_unsent[8];
static size_t s_n, s_n_unsent;

static void s_add(audit_entry_t *list, size_t *n, const char *name, int ok,
                  int64_t ms, const char *actor, const char *counterparty,
                  int kind, uint8_t consent, const char *detail) {
  audit_entry_t *e = &list[(*n)++];
  memset(e, 0, sizeof *e);
  /* seqs interleave the subject's entries and the unsent ones */
  e->seq = (uint64_t)(s_n + s_n_unsent);
  snprintf(e->name, sizeof e->name, "%s", name);
  e->status = ok ? AUDIT_STATUS_OK : AUDIT_STATUS_ERROR;
  e->start_ms = e->end_ms = ms;
  snprintf(e->actor, sizeof e->actor, "%s", actor);
  snprintf(e->counterparty, sizeof e->counterparty, "%s", counterparty);
  e->kind = kind;
  if (consent) {
    memset(e->consent_id, consent, 16);
    e->purpose = consent == 0xC1 ? 3 : 4;
  }
  snprintf(e->detail, sizeof e->detail, "%s", detail);
}

#define E(...) s_add(s_e, &s_n, __VA_ARGS__)
#define U(...) s_add(s_unsent, &s_n_unsent, __VA_ARGS__)

static report_party_t s_parties[] = {
    {.id = "coa", .name = "Centraal <Orgaan> & \"opvang\" 'x'"},
    {.id = "gemeente:0716", .name = "Gemeente Tholen"},
    {.id = "ggz:zeeland", .name = "GGZ Zeeland\x1b[31m", .removed = 1},
    {.id = "vwn:zeeland", .name = "VluchtelingenWerk Zeeland"},
    {.id = "tvs", .name = "TVS <b>bold</b>"},
};

static report_consent_t s_consents[2];
static report_version_t s_versions[] = {
    {.kind = 1, .author = "coa", .version = 7},
    {.kind = 1, .author = "coa", .version = 3},
    {.kind = 10, .author = "coa", .version = 1},
};
static report_input_t s_in;

/* The fixed history:
 *  coa stores IDENTITY (v3), queues it for the gemeente, delivers it; the
 *  transport does not take the frame (unsent withdraws it); it is
 *  delivered again; the gemeente fetches it too (same version: one row);
 *  coa stores IDENTITY v7, delivered; coa stores HEALTH (v1); the care
 *  partner (since removed) fetches it under consent C2; the volunteer's
 *  fetch is refused, and coa's wrap for it is dropped; coa reads its own
 *  section (not a disclosure); consents granted and revoked; a TVS
 *  KOPPELING; a delete notice. */
static void s_history(void) {
  s_n = s_n_unsent = 0;
  memset(s_e, 0, sizeof s_e);
  E("keten.consent.grant", 1, T0, "coa", "gemeente:0716", 0, 0xC1, "recorded");
  E("keten.section.put", 1, T0 + 1000, "coa", "", 1, 0, "stored");
  E("keten.section.queue", 1, T0 + 1000, "coa", "gemeente:0716", 1, 0xC1,
    "queued for delivery");
  E("keten.section.deliver", 1, T0 + 2000, "coa", "gemeente:0716", 1, 0xC1,
    "delivered seq 1");
  U("keten.delivery.unsent", 0, T0 + 2500, "ketend", "gemeente:0716", 0, 0,
    "seq 1..1 not handed to the transport: peer gone");
  E("keten.section.deliver", 1, T0 + 60000, "coa", "gemeente:0716", 1, 0xC1,
    "delivered seq 1");
  E("keten.section.fetch", 1, T0 + 61000, "gemeente:0716", "coa", 1, 0xC1,
    "disclosed");
  E("keten.section.put", 1, T0 + 62000, "coa", "", 1, 0, "stored");
  E("keten.section.queue", 1, T0 + 62000, "coa", "gemeente:0716", 1, 0xC1,
    "queued for delivery");
  E("keten.section.deliver", 1, T0 + 63000, "coa", "gemeente:0716", 1, 0xC1,
    "delivered seq 2");
  E("keten.consent.grant", 1, T0 + 64000, "coa", "ggz:zeeland", 0, 0xC2,
    "recorded");
  E("keten.section.put", 1, T0 + 65000, "coa", "", 10, 0, "stored");
  E("keten.section.fetch", 1, T0 + 66000, "ggz:zeeland", "coa", 10, 0xC2,
    "disclosed");
  E("keten.section.fetch.deny", 0, T0 + 67000, "vwn:zeeland", "coa", 10, 0,
    "withheld: <i>no consent</i>");
  E("keten.section.deny", 0, T0 + 68000, "coa", "vwn:zeeland", 10, 0,
    "R8: HEALTH and CARE never go to a VOLUNTEER");
  E("keten.section.fetch", 1, T0 + 69000, "coa", "coa", 10, 0,
    "disclosed to its author");
  E("keten.consent.revoke", 1, T0 + 70000, "coa", "ggz:zeeland", 0, 0xC2,
    "revoked by its recorder");
  E("keten.notice.queue", 1, T0 + 70000, "coa", "ggz:zeeland", 0, 0xC2,
    "delete notice (revoked): 1 item(s), seq 4");
  E("keten.tvs.publish", 1, T0 + 71000, "tvs", "gemeente:0716", 0, 0,
    "KOPPELING 2026-2: in its feed (seq 3)");
  E("keten.access.erase", 1, T0 + 70000, "coa", "ggz:zeeland", 0, 0xC2,
    "access removed: 1 key wraps erased, 0 pending deliveries dropped");

  memset(s_consents, 0, sizeof s_consents);
  memset(s_consents[0].consent_id, 0xC1, 16);
  strcpy(s_consents[0].recorded_by, "coa");
  strcpy(s_consents[0].recipient, "gemeente:0716");
  s_consents[0].sections = (1u << 1) | (1u << 8);
  s_consents[0].purpose = 3;
  s_consents[0].basis = 1;
  s_consents[0].recorded_at_ms = T0 - 86400000;
  strcpy(s_consents[0].evidence_ref, "<script>alert(1)</script>");
  memset(s_consents[1].consent_id, 0xC2, 16);
  strcpy(s_consents[1].recorded_by, "coa");
  strcpy(s_consents[1].recipient, "ggz:zeeland");
  s_consents[1].sections = 1u << 10;
  s_consents[1].purpose = 4;
  s_consents[1].basis = 2;
  strcpy(s_consents[1].legal_reference, "Wet <publieke> gezondheid");
  s_consents[1].recorded_at_ms = T0 + 64000;
  strcpy(s_consents[1].evidence_ref, "FORM-2026-\"17\"");
  s_consents[1].revoked = 1;
  s_consents[1].revoked_at_ms = T0 + 70000;
  strcpy(s_consents[1].revoked_by, "coa");
  strcpy(s_consents[1].revocation_evidence, "balie & <brief>");

  memset(&s_in, 0, sizeof s_in);
  memset(s_in.subject, 0xAB, 32);
  s_in.entries = s_e;
  s_in.n_entries = s_n;
  s_in.unsent = s_unsent;
  s_in.n_unsent = s_n_unsent;
  s_in.parties = s_parties;
  s_in.n_parties = sizeof s_parties / sizeof s_parties[0];
  s_in.consents = s_consents;
  s_in.n_consents = 2;
  s_in.versions = s_versions;
  s_in.n_versions = sizeof s_versions / sizeof s_versions[0];
  s_in.audit_size = 99;
  s_in.has_head = 1;
  s_in.head_size = 98;
  s_in.head_ms = T0 + 100000;
  s_in.generated_ms = T0 + 200000;
  s_in.time_zone = "Europe/Amsterdam";
}

static int s_setup(void **state) {
  (void)state;
  setenv("TZ", "Europe/Amsterdam", 1);
  tzset();
  s_history();
  return 0;
}

/* The report rendered into a malloc'd string. */
static char *s_render(const report_t *r, const char *lang, int format) {
  report_catalog_t c;
  char err[256];
  if (report_catalog_load(&c, SHARE, lang, err, sizeof err) != 0)
    fail_msg("catalog %s: %s", lang, err);
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  assert_int_equal(report_render(r, &c, format, f), 0);
  fclose(f);
  report_catalog_free(&c);
  return buf;
}

static void test_rows(void **state) {
  (void)state;
  report_t r;
  assert_int_equal(report_build(&s_in, &r), 0);
  /* IDENTITY v3 to the gemeente (delivered once after the withdrawn
   * sending, and fetched: one row), IDENTITY v7, HEALTH to the care
   * partner; not coa reading its own HEALTH */
  assert_int_equal(r.n_disclosures, 3);
  assert_int_equal(r.withdrawn, 1);
  const report_disclosure_t *d = &r.disclosures[0];
  assert_string_equal(d->recipient, "gemeente:0716");
  assert_string_equal(d->author, "coa");
  assert_int_equal(d->kind, 1);
  assert_int_equal(d->version, 3);
  assert_int_equal(d->how, REPORT_HOW_DELIVERED | REPORT_HOW_FETCHED);
  assert_int_equal(d->times, 2);
  /* the first time is the delivery that was handed over, not the
   * withdrawn one */
  assert_int_equal(d->first_ms, T0 + 60000);
  assert_int_equal(d->n_seqs, 2);
  assert_ptr_equal(d->consent, &s_consents[0]);
  d = &r.disclosures[1];
  assert_int_equal(d->kind, 1);
  assert_int_equal(d->version, 7);
  assert_int_equal(d->how, REPORT_HOW_DELIVERED);
  assert_int_equal(d->times, 1);
  d = &r.disclosures[2];
  assert_string_equal(d->recipient, "ggz:zeeland");
  assert_int_equal(d->kind, 10);
  assert_int_equal(d->version, 1);
  assert_int_equal(d->how, REPORT_HOW_FETCHED);
  assert_ptr_equal(d->consent, &s_consents[1]);
  /* apart: two refusals, three consent changes, one TVS event, one
   * notice, one erasure of access */
  assert_int_equal(r.n_events[REPORT_PART_REFUSALS], 2);
  assert_string_equal(r.events[REPORT_PART_REFUSALS][0].type, "fetch_denied");
  assert_string_equal(r.events[REPORT_PART_REFUSALS][0].who, "vwn:zeeland");
  assert_string_equal(r.events[REPORT_PART_REFUSALS][1].type, "delivery_denied");
  assert_string_equal(r.events[REPORT_PART_REFUSALS][1].who, "vwn:zeeland");
  assert_int_equal(r.n_events[REPORT_PART_CONSENTS], 3);
  assert_string_equal(r.events[REPORT_PART_CONSENTS][0].type, "granted");
  assert_string_equal(r.events[REPORT_PART_CONSENTS][2].type, "revoked");
  assert_ptr_equal(r.events[REPORT_PART_CONSENTS][2].consent, &s_consents[1]);
  assert_int_equal(r.n_events[REPORT_PART_TVS], 1);
  assert_string_equal(r.events[REPORT_PART_TVS][0].type, "linked");
  assert_int_equal(r.n_events[REPORT_PART_NOTICES], 1);
  assert_string_equal(r.events[REPORT_PART_NOTICES][0].type, "delete_notice");
  assert_int_equal(r.n_events[REPORT_PART_ERASURES], 1);
  assert_int_equal(r.period_from_ms, T0);
  assert_int_equal(r.period_to_ms, T0 + 71000);
  report_free(&r);
}

/* Without the unsent entry both sendings are disclosures of one row:
 * merged, first time the first sending. */
static void test_redelivery_merged(void **state) {
  (void)state;
  s_in.n_unsent = 0;
  report_t r;
  assert_int_equal(report_build(&s_in, &r), 0);
  assert_int_equal(r.withdrawn, 0);
  assert_int_equal(r.n_disclosures, 3);
  assert_int_equal(r.disclosures[0].times, 3);
  assert_int_equal(r.disclosures[0].first_ms, T0 + 2000);
  /* a withdrawn-then-resent item consumed one queue entry only: v7 is
   * still the second delivery's version */
  assert_int_equal(r.disclosures[1].version, 7);
  report_free(&r);
  s_in.n_unsent = s_n_unsent;
}

/* Versions the store no longer holds all of are reported unknown, not
 * guessed. */
static void test_version_unknown(void **state) {
  (void)state;
  s_in.n_versions = 2; /* IDENTITY's two, no HEALTH row */
  s_in.versions = s_versions + 1; /* IDENTITY v3, HEALTH v1: v7 erased */
  report_t r;
  assert_int_equal(report_build(&s_in, &r), 0);
  /* both IDENTITY versions are unknown now, so they are one row (version
   * unknown); HEALTH v1 is still known */
  assert_int_equal(r.n_disclosures, 2);
  assert_int_equal(r.disclosures[0].kind, 1);
  assert_int_equal(r.disclosures[0].version, 0);
  assert_int_equal(r.disclosures[1].kind, 10);
  assert_int_equal(r.disclosures[1].version, 1);
  report_free(&r);
  s_in.versions = s_versions;
  s_in.n_versions = 3;
}

/* A broker of keten 0.4 records the version in the entry ("delivered seq
 * N, version V", "disclosed, version V"): the report takes it as
 * recorded, even where the store no longer holds every version. */
static void test_version_recorded(void **state) {
  (void)state;
  for (size_t i = 0; i < s_n; i++) {
    if (!strcmp(s_e[i].detail, "delivered seq 2"))
      strcpy(s_e[i].detail, "delivered seq 2, version 7");
    if (!strcmp(s_e[i].name, "keten.section.fetch") &&
        !strcmp(s_e[i].actor, "ggz:zeeland"))
      strcpy(s_e[i].detail, "disclosed, version 5");
  }
  s_in.n_versions = 0; /* nothing left to derive a version from */
  report_t r;
  assert_int_equal(report_build(&s_in, &r), 0);
  assert_int_equal(r.n_disclosures, 3);
  assert_int_equal(r.disclosures[0].version, 0); /* not recorded: unknown */
  assert_int_equal(r.disclosures[1].version, 7);
  assert_int_equal(r.disclosures[2].version, 5);
  report_free(&r);
  s_in.n_versions = 3;
  s_history();
}

static void test_text_languages(void **state) {
  (void)state;
  report_t r;
  assert_int_equal(report_build(&s_in, &r), 0);
  char *nl = s_render(&r, "nl", REPORT_TEXT);
  assert_non_null(strstr(nl, "Inzageoverzicht"));
  assert_non_null(strstr(nl, "Identiteit, versie 3"));
  assert_non_null(strstr(nl, "Gezondheid, versie 1"));
  assert_non_null(strstr(nl, "afgeleverd, opgehaald"));
  assert_non_null(strstr(nl, "Gemeente Tholen (gemeente:0716)"));
  assert_non_null(strstr(nl, "niet meer in de keten")); /* removed partner */
  assert_non_null(strstr(nl, "2026-09-21 16:14 CEST"));  /* local time */
  assert_non_null(strstr(nl, "Verzoek geweigerd"));
  assert_non_null(strstr(nl, "Toestemming ingetrokken"));
  assert_non_null(strstr(nl, "Gekoppeld aan een gemeente"));
  assert_non_null(strstr(nl, "een wettelijke plicht"));
  /* a terminal escape in a name never reaches the terminal */
  assert_null(strchr(nl, '\x1b'));
  /* wrapped: no line longer than 76 columns (ASCII-only lines) */
  for (char *line = nl; *line;) {
    char *end = strchr(line, '\n');
    size_t cols = 0;
    int ascii = 1;
    for (char *p = line; p < (end ? end : line + strlen(line)); p++) {
      if ((unsigned char)*p >= 0x80)
        ascii = 0;
      cols++;
    }
    if (ascii && cols > 76 && !strstr(line, "http"))
      fail_msg("line of %zu columns: %.80s", cols, line);
    if (!end)
      break;
    line = end + 1;
  }
  char *en = s_render(&r, "en", REPORT_TEXT);
  assert_non_null(strstr(en, "Identity, version 3"));
  assert_non_null(strstr(en, "delivered, fetched"));
  assert_non_null(strstr(en, "Request refused"));
  char *ar = s_render(&r, "ar", REPORT_TEXT);
  assert_non_null(strstr(ar, "الهوية")); /* IDENTITY */
  assert_non_null(strstr(ar, "الصحة"));  /* HEALTH */
  assert_non_null(strstr(ar, "Gemeente Tholen"));
  free(nl);
  free(en);
  free(ar);
  /* another zone, other local times */
  setenv("TZ", "UTC", 1);
  tzset();
  char *utc = s_render(&r, "en", REPORT_TEXT);
  assert_non_null(strstr(utc, "2026-09-21 14:14 UTC"));
  free(utc);
  setenv("TZ", "Europe/Amsterdam", 1);
  tzset();
  report_free(&r);
}

/* Every field that comes from the store, escaped in the HTML; the file
 * has no script and nothing to load; lang and dir are set. */
static void test_html(void **state) {
  (void)state;
  report_t r;
  assert_int_equal(report_build(&s_in, &r), 0);
  char *nl = s_render(&r, "nl", REPORT_HTML);
  assert_non_null(strstr(nl, "<html lang=\"nl\" dir=\"ltr\">"));
  assert_null(strstr(nl, "<script"));
  assert_null(strstr(nl, "<b>"));
  assert_null(strstr(nl, "<i>"));
  assert_null(strstr(nl, "<Orgaan>"));
  assert_null(strstr(nl, "<publieke>"));
  assert_null(strstr(nl, "<brief>"));
  assert_null(strchr(nl, '\x1b'));
  assert_non_null(strstr(nl, "&lt;script&gt;alert(1)&lt;/script&gt;"));
  assert_non_null(strstr(nl, "Centraal &lt;Orgaan&gt; &amp; &quot;opvang&quot; &#39;x&#39;"));
  assert_non_null(strstr(nl, "TVS &lt;b&gt;bold&lt;/b&gt;"));
  assert_non_null(strstr(nl, "withheld: &lt;i&gt;no consent&lt;/i&gt;"));
  assert_non_null(strstr(nl, "Wet &lt;publieke&gt; gezondheid"));
  assert_non_null(strstr(nl, "balie &amp; &lt;brief&gt;"));
  assert_non_null(strstr(nl, "FORM-2026-&quot;17&quot;"));
  assert_non_null(strstr(nl, "@media print"));
  assert_non_null(strstr(nl, "Content-Security-Policy"));
  /* one table per part that has rows */
  assert_non_null(strstr(nl, "<table class=\"disclosures\">"));
  assert_non_null(strstr(nl, "<table class=\"refusals\">"));
  assert_non_null(strstr(nl, "<table class=\"consents\">"));
  assert_non_null(strstr(nl, "<table class=\"tvs\">"));
  assert_non_null(strstr(nl, "Identiteit"));
  char *ar = s_render(&r, "ar", REPORT_HTML);
  assert_non_null(strstr(ar, "<html lang=\"ar\" dir=\"rtl\">"));
  assert_non_null(strstr(ar, "الهوية"));
  assert_null(strstr(ar, "<script"));
  free(nl);
  free(ar);
  report_free(&r);
}

static void test_html_escape(void **state) {
  (void)state;
  char buf[64];
  assert_int_equal(report_html_escape("a<b>&\"'", buf, sizeof buf), 26);
  assert_string_equal(buf, "a&lt;b&gt;&amp;&quot;&#39;");
  /* never overflows; says what it needs */
  char small[8];
  size_t need = report_html_escape("<<<<", small, sizeof small);
  assert_int_equal(need, 16);
  assert_true(strlen(small) < sizeof small);
}

static void test_json(void **state) {
  (void)state;
  report_t r;
  assert_int_equal(report_build(&s_in, &r), 0);
  char *text = s_render(&r, "en", REPORT_JSON);
  json_error_t je;
  json_t *j = json_loads(text, 0, &je);
  if (!j)
    fail_msg("JSON: %s", je.text);
  assert_string_equal(json_string_value(json_object_get(j, "format")),
                      "keten-access-report/1");
  assert_string_equal(json_string_value(json_object_get(j, "subject")),
                      "abababababababababababababababababababababababababababababababab");
  json_t *ds = json_object_get(j, "disclosures");
  assert_int_equal(json_array_size(ds), 3);
  json_t *d0 = json_array_get(ds, 0);
  assert_string_equal(json_string_value(json_object_get(d0, "kind")), "IDENTITY");
  assert_string_equal(json_string_value(json_object_get(d0, "kind_text")), "Identity");
  assert_int_equal(json_integer_value(json_object_get(d0, "version")), 3);
  assert_int_equal(json_array_size(json_object_get(d0, "how")), 2);
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(d0, "recipient"), "name")),
                      "Gemeente Tholen");
  json_t *k = json_object_get(d0, "consent");
  assert_string_equal(json_string_value(json_object_get(k, "evidence_ref")),
                      "<script>alert(1)</script>");
  json_t *d2 = json_array_get(ds, 2);
  assert_true(json_is_true(json_object_get(json_object_get(d2, "recipient"), "removed")));
  /* the escape character is gone from the name, the rest is kept */
  assert_string_equal(json_string_value(json_object_get(json_object_get(d2, "recipient"), "name")),
                      "GGZ Zeeland [31m (no longer in the chain)");
  assert_int_equal(json_array_size(json_object_get(j, "refusals")), 2);
  assert_int_equal(json_array_size(json_object_get(j, "consent_changes")), 3);
  assert_int_equal(json_array_size(json_object_get(j, "tvs_events")), 1);
  json_t *audit = json_object_get(j, "audit");
  assert_int_equal(json_integer_value(json_object_get(audit, "size")), 99);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(audit, "tree_head"), "size")), 98);
  json_decref(j);
  free(text);
  report_free(&r);
}

/* A language is a file; a key it lacks comes from English; a key no
 * catalog has shows as itself; a code that is not one names no file. */
static void test_catalogs(void **state) {
  (void)state;
  char dir[] = "/tmp/keten-report-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[256], cmd[512];
  snprintf(cmd, sizeof cmd, "cp %s/en.json %s/en.json", SHARE, dir);
  assert_int_equal(system(cmd), 0);
  snprintf(path, sizeof path, "%s/xx.json", dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("{\"dir\":\"rtl\",\"kind.IDENTITY\":\"XX-ID\"}", f);
  fclose(f);
  report_catalog_t c;
  char err[256];
  assert_int_equal(report_catalog_load(&c, dir, "xx", err, sizeof err), 0);
  assert_true(c.rtl);
  assert_string_equal(report_tr(&c, "kind.IDENTITY"), "XX-ID");
  assert_string_equal(report_tr(&c, "kind.HEALTH"), "Health");
  assert_string_equal(report_tr(&c, "no.such.key"), "no.such.key");
  report_catalog_free(&c);
  assert_int_equal(report_catalog_load(&c, dir, "zz", err, sizeof err), -1);
  assert_int_equal(report_catalog_load(&c, dir, "../etc/passwd", err, sizeof err), -1);
  assert_false(report_lang_valid("../x"));
  assert_false(report_lang_valid("EN"));
  assert_false(report_lang_valid("e"));
  assert_true(report_lang_valid("pt-BR"));
  assert_true(report_lang_valid("ti"));
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
  /* the shipped languages translate every English key */
  report_catalog_t en;
  assert_int_equal(report_catalog_load(&en, SHARE, "en", err, sizeof err), 0);
  assert_false(en.rtl);
  const char *langs[] = {"nl", "ar"};
  for (size_t i = 0; i < 2; i++) {
    assert_int_equal(report_catalog_load(&c, SHARE, langs[i], err, sizeof err), 0);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)en.lang, key, v) {
      if (!json_object_get((json_t *)c.lang, key))
        fail_msg("%s.json lacks %s", langs[i], key);
    }
    assert_int_equal(c.rtl, !strcmp(langs[i], "ar"));
    report_catalog_free(&c);
  }
  report_catalog_free(&en);
}

/* No entries: an empty report that says so, in every format. */
static void test_empty(void **state) {
  (void)state;
  report_input_t in = {.time_zone = "Europe/Amsterdam", .generated_ms = T0};
  report_t r;
  assert_int_equal(report_build(&in, &r), 0);
  assert_int_equal(r.n_disclosures, 0);
  char *t = s_render(&r, "en", REPORT_TEXT);
  assert_non_null(strstr(t, "nothing recorded"));
  assert_non_null(strstr(t, "Nothing."));
  char *h = s_render(&r, "en", REPORT_HTML);
  assert_non_null(strstr(h, "</html>"));
  char *j = s_render(&r, "en", REPORT_JSON);
  json_t *o = json_loads(j, 0, NULL);
  assert_non_null(o);
  assert_int_equal(json_array_size(json_object_get(o, "disclosures")), 0);
  assert_true(json_is_null(json_object_get(json_object_get(o, "audit"), "tree_head")));
  json_decref(o);
  free(t);
  free(h);
  free(j);
  report_free(&r);
}

/* ---- proofs -------------------------------------------------------------- */

static uint8_t s_leaves[16][MERKLE_HASH_BYTES];

static int s_leaf_get(void *arg, unsigned level, uint64_t idx,
                      uint8_t out[MERKLE_HASH_BYTES]) {
  (void)arg;
  return merkle_root(s_leaves[idx << level], UINT64_C(1) << level, out);
}

static int s_unhex(const char *hex, uint8_t *out, size_t n) {
  if (!hex || strlen(hex) != 2 * n)
    return -1;
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    if (sscanf(hex + 2 * i, "%2x", &v) != 1)
      return -1;
    out[i] = (uint8_t)v;
  }
  return 0;
}

/* A disclosure's "proof" is the bundle keten audit prove reads: the head
 * (size, root, timestamp_ms, broker_key, signature), seq, entry_hex (its
 * entry string, whose leaf the inclusion hashes lead to the head's root);
 * one without a proof is null with the reason, in words too. */
static void test_proof_json(void **state) {
  (void)state;
  report_t r;
  assert_int_equal(report_build(&s_in, &r), 0);
  assert_true(r.n_disclosures >= 2);
  report_disclosure_t *d = &r.disclosures[0];
  assert_true(d->first_seq >= 1 && d->first_seq <= 16);
  const audit_entry_t *e = NULL;
  for (size_t i = 0; i < s_n; i++)
    if (s_e[i].seq == d->first_seq)
      e = &s_e[i];
  assert_non_null(e);
  for (uint8_t i = 0; i < 16; i++)
    merkle_leaf_hash(&i, 1, s_leaves[i]);
  audit_leaf_hash(e, s_leaves[d->first_seq - 1]);
  report_input_t in = s_in;
  in.head_size = 16;
  assert_int_equal(merkle_root(s_leaves[0], 16, in.head_root), 0);
  memset(in.head_key, 0x4b, 32);
  memset(in.head_signature, 0x5e, 64);
  r.in = &in;
  uint8_t proof[MERKLE_PROOF_BYTES];
  size_t n = 0;
  assert_int_equal(merkle_inclusion_proof(d->first_seq - 1, 16, s_leaf_get,
                                          NULL, proof, &n), 0);
  assert_int_equal(n, 4);
  d->proof = report_proof_bundle(&in, e, proof, n);
  assert_non_null(d->proof);
  r.disclosures[1].proof_missing = REPORT_PROOF_NEWER;

  char *text = s_render(&r, "en", REPORT_JSON);
  json_t *j = json_loads(text, 0, NULL);
  assert_non_null(j);
  json_t *ds = json_object_get(j, "disclosures");
  json_t *b = json_object_get(json_array_get(ds, 0), "proof");
  assert_true(json_is_object(b));
  assert_int_equal(json_object_size(b), 4);
  json_t *h = json_object_get(b, "head");
  assert_int_equal(json_object_size(h), 5);
  assert_int_equal(json_integer_value(json_object_get(h, "size")), 16);
  assert_int_equal(json_integer_value(json_object_get(h, "timestamp_ms")), in.head_ms);
  uint8_t root[32], key[32], sig[64];
  assert_int_equal(s_unhex(json_string_value(json_object_get(h, "root")), root, 32), 0);
  assert_memory_equal(root, in.head_root, 32);
  assert_int_equal(s_unhex(json_string_value(json_object_get(h, "broker_key")), key, 32), 0);
  assert_memory_equal(key, in.head_key, 32);
  assert_int_equal(s_unhex(json_string_value(json_object_get(h, "signature")), sig, 64), 0);
  assert_memory_equal(sig, in.head_signature, 64);
  assert_int_equal(json_integer_value(json_object_get(b, "seq")), (json_int_t)d->first_seq);
  size_t elen = 0;
  uint8_t *want = audit_entry_string(e, &elen);
  assert_non_null(want);
  const char *ehex = json_string_value(json_object_get(b, "entry_hex"));
  uint8_t *got = malloc(elen);
  assert_int_equal(s_unhex(ehex, got, elen), 0);
  assert_memory_equal(got, want, elen);
  json_t *inc = json_object_get(b, "inclusion");
  assert_int_equal(json_array_size(inc), n);
  uint8_t path[MERKLE_PROOF_BYTES], leaf[32];
  for (size_t i = 0; i < n; i++)
    assert_int_equal(s_unhex(json_string_value(json_array_get(inc, i)),
                             path + 32 * i, 32), 0);
  merkle_leaf_hash(got, elen, leaf);
  assert_int_equal(merkle_verify_inclusion(d->first_seq - 1, 16, leaf, path, n, root), 0);
  got[elen / 2] ^= 1; /* one changed byte of the entry: no longer proved */
  merkle_leaf_hash(got, elen, leaf);
  assert_int_not_equal(merkle_verify_inclusion(d->first_seq - 1, 16, leaf, path, n, root), 0);
  free(got);
  free(want);
  json_t *d1 = json_array_get(ds, 1);
  assert_true(json_is_null(json_object_get(d1, "proof")));
  assert_string_equal(json_string_value(json_object_get(d1, "proof_missing")), "newer");
  assert_non_null(strstr(json_string_value(json_object_get(d1, "proof_missing_text")),
                         "newer than the latest signed state"));
  json_decref(j);
  free(text);

  /* text and HTML: the entry of each proof, and how to check one */
  char *t = s_render(&r, "en", REPORT_TEXT);
  char want_line[64];
  snprintf(want_line, sizeof want_line, "entry %llu (proof-%llu.json)",
           (unsigned long long)d->first_seq, (unsigned long long)d->first_seq);
  assert_non_null(strstr(t, want_line));
  assert_non_null(strstr(t, "Proofs"));
  assert_non_null(strstr(t, "keten audit prove"));
  free(t);
  char *html = s_render(&r, "nl", REPORT_HTML);
  assert_non_null(strstr(html, "Controlebewijzen"));
  assert_non_null(strstr(html, "keten audit prove"));
  free(html);
  report_free(&r); /* releases the bundle */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_rows, s_setup),
      cmocka_unit_test_setup(test_redelivery_merged, s_setup),
      cmocka_unit_test_setup(test_version_unknown, s_setup),
      cmocka_unit_test_setup(test_version_recorded, s_setup),
      cmocka_unit_test_setup(test_text_languages, s_setup),
      cmocka_unit_test_setup(test_html, s_setup),
      cmocka_unit_test(test_html_escape),
      cmocka_unit_test_setup(test_json, s_setup),
      cmocka_unit_test(test_catalogs),
      cmocka_unit_test(test_empty),
      cmocka_unit_test_setup(test_proof_json, s_setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
