/* Unit tests of clients/libketen/schema.c and keten_section_validate():
 *
 * - the built-in schema (share/keten/schemas/sections-v1.json, compiled
 *   into libketen) is the file byte for byte, parses to the same JSON as
 *   the block of docs/sections.md 3, compiles, and has all 12 kinds;
 * - every section of tests/data/examples validates, and removing each
 *   required field (at every depth where the example has the object)
 *   fails with that field's JSON pointer; other mutations (pattern,
 *   minLength, minimum, minItems, enum, anyOf, const, type) fail with
 *   the right pointer and rule; unknown fields pass;
 * - the shape rules of docs/sections.md 1.1: UTF-8, unique keys, an
 *   object at the top, at most 786432 bytes;
 * - compiling fails for every keyword the validator does not implement
 *   and for patterns outside the ECMA subset (so no rule is ever skipped
 *   silently), also inside the built-in schema;
 * - the official JSON-Schema-Test-Suite (Debian json-schema-test-suite)
 *   for the keywords implemented: every case whose schema compiles must
 *   pass; cases whose schema uses another keyword are skipped and
 *   counted; at least SUITE_MIN_CASES must run.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keten.h"
#include "schema.h"

/* The Debian package json-schema-test-suite 2.0.0 (bookworm) has draft3
 * to draft7, not draft2020-12: its draft7 cases are used. For the
 * keywords implemented here draft 7 and 2020-12 agree, except items as an
 * array (tuple form; prefixItems in 2020-12), which schema_compile()
 * refuses, so those cases are counted as skipped. KETEN_SCHEMA_SUITE_DIR
 * overrides the directory (e.g. a draft2020-12 checkout). */
#define SUITE_DIR "/usr/share/json-schema-test-suite/tests/draft7"
#define SUITE_MIN_CASES 150

static char *s_read(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  if (buf) {
    buf[n] = '\0';
    if (len)
      *len = (size_t)n;
  }
  return buf;
}

static keten_err_t s_validate_json(int kind, const json_t *doc, char *why,
                                   size_t whylen) {
  char *text = json_dumps(doc, JSON_COMPACT);
  assert_non_null(text);
  keten_err_t rc = keten_section_validate(kind, text, strlen(text), why, whylen);
  free(text);
  return rc;
}

static keten_err_t s_validate_str(int kind, const char *text, char *why,
                                  size_t whylen) {
  return keten_section_validate(kind, text, strlen(text), why, whylen);
}

/* rc is SCHEMA and why starts with prefix (pointer and rule). */
static void s_expect(int kind, const char *text, const char *prefix) {
  char why[384];
  keten_err_t rc = s_validate_str(kind, text, why, sizeof why);
  if (rc != KETEN_ERR_SCHEMA || strncmp(why, prefix, strlen(prefix)) != 0)
    fail_msg("%s %s: rc %d, why \"%s\", expected \"%s...\"",
             keten_section_kind_name(kind), text, rc, why, prefix);
}

static void s_expect_ok(int kind, const char *text) {
  char why[384];
  keten_err_t rc = s_validate_str(kind, text, why, sizeof why);
  if (rc != KETEN_OK)
    fail_msg("%s %s: rc %d, why \"%s\"", keten_section_kind_name(kind), text,
             rc, why);
}

/* ---- the schema itself ------------------------------------------------------- */

static void test_builtin_is_the_file_and_the_doc(void **state) {
  (void)state;
  size_t len = 0;
  char *file = s_read(KETEN_SOURCE_DIR "/share/keten/schemas/sections-v1.json", &len);
  assert_non_null(file);
  assert_int_equal(len, schema_sections_v1_json_len);
  assert_memory_equal(file, schema_sections_v1_json, len);
  assert_int_equal(schema_sections_v1_json[len], 0);

  char *doc = s_read(KETEN_SOURCE_DIR "/docs/sections.md", NULL);
  assert_non_null(doc);
  const char *sec = strstr(doc, "## 3. Machine-readable schema");
  assert_non_null(sec);
  const char *start = strstr(sec, "```json\n");
  assert_non_null(start);
  start += strlen("```json\n");
  const char *end = strstr(start, "\n```");
  assert_non_null(end);
  json_error_t e1, e2;
  json_t *a = json_loadb(start, (size_t)(end - start), JSON_REJECT_DUPLICATES, &e1);
  json_t *b = json_loadb(file, len, JSON_REJECT_DUPLICATES, &e2);
  if (!a)
    fail_msg("docs/sections.md 3: line %d: %s", e1.line, e1.text);
  assert_non_null(b);
  assert_true(json_equal(a, b));
  json_decref(a);
  json_decref(b);
  free(doc);
  free(file);
}

static void test_builtin_compiles(void **state) {
  (void)state;
  const char *err = "";
  const schema_t *s = schema_sections(&err);
  if (!s)
    fail_msg("the built-in schema does not compile: %s", err);
  for (int k = 1; k <= 12; k++)
    assert_non_null(schema_def(s, keten_section_kind_name(k)));
  assert_null(schema_def(s, "NOPE"));
  /* Same object on every call: compiled once. */
  assert_ptr_equal(schema_sections(NULL), s);

  /* What a per-call parse would cost, for the record (the library parses
   * once: pthread_once). */
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < 100; i++) {
    json_t *doc = json_loadb((const char *)schema_sections_v1_json,
                             schema_sections_v1_json_len, 0, NULL);
    schema_t *c = schema_compile(doc, NULL, 0);
    assert_non_null(c);
    schema_free(c);
    json_decref(doc);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 +
               (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) / 100;
  printf("parse + compile of the built-in schema: %.0f us\n", us);
}

/* The built-in schema with one unimplemented keyword added no longer
 * compiles: a rule is never skipped. */
static void test_builtin_with_unknown_keyword_fails(void **state) {
  (void)state;
  const char *added[] = {"maxLength", "format", "additionalProperties",
                         "$ref", "uniqueItems", "maximum", "oneOf"};
  for (size_t i = 0; i < sizeof added / sizeof *added; i++) {
    json_t *doc = json_loadb((const char *)schema_sections_v1_json,
                             schema_sections_v1_json_len, 0, NULL);
    assert_non_null(doc);
    json_t *gn = json_object_get(
        json_object_get(json_object_get(json_object_get(doc, "$defs"), "IDENTITY"),
                        "properties"),
        "given_name");
    assert_non_null(gn);
    json_object_set_new(gn, added[i], json_integer(1));
    char err[256];
    schema_t *s = schema_compile(doc, err, sizeof err);
    if (s)
      fail_msg("%s was accepted", added[i]);
    char want[160];
    snprintf(want, sizeof want, "schema /$defs/IDENTITY/properties/given_name/%s: "
                                "keyword not implemented", added[i]);
    if (strncmp(err, want, strlen(want)) != 0)
      fail_msg("err \"%s\", expected \"%s\"", err, want);
    json_decref(doc);
  }
}

static void s_compile_fails(const char *schema, const char *substr) {
  json_error_t jerr;
  json_t *doc = json_loads(schema, JSON_DECODE_ANY, &jerr);
  assert_non_null(doc);
  char err[256];
  schema_t *s = schema_compile(doc, err, sizeof err);
  if (s || !strstr(err, substr))
    fail_msg("%s: compiled=%d err \"%s\" (expected \"%s\")", schema, s != NULL,
             err, substr);
  json_decref(doc);
}

static void test_unimplemented_refused(void **state) {
  (void)state;
  s_compile_fails("{\"additionalProperties\": false}", "not implemented");
  s_compile_fails("{\"properties\": {\"a\": {\"format\": \"date\"}}}",
                  "schema /properties/a/format: keyword not implemented");
  s_compile_fails("{\"anyOf\": [{\"type\": \"string\"}, {\"not\": {}}]}",
                  "schema /anyOf/1/not:");
  s_compile_fails("{\"items\": [{\"type\": \"string\"}]}", "prefixItems");
  s_compile_fails("{\"$defs\": {\"a\": {\"$ref\": \"#\"}}}", "/$defs/a/$ref");
  s_compile_fails("{\"type\": \"float\"}", "unknown or repeated type");
  s_compile_fails("{\"minLength\": -1}", "non-negative");
  s_compile_fails("{\"required\": [\"a\", \"a\"]}", "twice");
  s_compile_fails("{\"$schema\": \"http://json-schema.org/draft-04/schema#\"}",
                  "2020-12");
  s_compile_fails("{\"properties\": {\"a\": {\"$id\": \"x\"}}}", "$id");
  s_compile_fails("3", "not a schema");
  /* patterns outside the subset */
  const char *bad[] = {"a.b", "\\s", "(?=a)", "(?:a)", "[^a]", "a*?", "a{2}?",
                       "\\1", "\\b", "caf\xc3\xa9", "a{", "a{2,1}", "]",
                       "[a", "(a", "a)", "*a", "\\p{L}", "[\\s]", "[]",
                       "a{1000}", "^*"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    json_t *doc = json_pack("{s:s}", "pattern", bad[i]);
    assert_non_null(doc);
    char err[256];
    schema_t *s = schema_compile(doc, err, sizeof err);
    if (s || !strstr(err, "schema /pattern:"))
      fail_msg("pattern %s: compiled=%d err \"%s\"", bad[i], s != NULL, err);
    json_decref(doc);
  }
}

/* A pattern of the subset matches as ECMA-262 would (searching). */
static void test_patterns(void **state) {
  (void)state;
  static const struct {
    const char *pattern, *subject;
    int match;
  } cases[] = {
      {"^[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?$", "1991", 1},
      {"^[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?$", "1991-03", 1},
      {"^[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?$", "1991-03-14", 1},
      {"^[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?$", "1991-3-14", 0},
      {"^[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?$", "1991-03-14\n", 0},
      {"^[A-Z]{3}$", "SYR", 1},
      {"^[A-Z]{3}$", "syr", 0},
      {"^[A-Z]{3}$", "S\xc3\x9dR", 0},
      {"^[a-z]{2}$", "ar", 1},
      {"^[a-z]{2}$", "\xc3\xa9\xc3\xa9", 0},
      {"a+", "xxaxx", 1},          /* not anchored */
      {"^a*$", "aaa", 1},
      {"^a*$", "aab", 0},
      {"^\\d{2}\\.\\d$", "12.5", 1},
      {"^\\d{2}\\.\\d$", "12x5", 0},
      {"^[\\w-]+$", "a_b-9", 1},
      {"^[\\w-]+$", "a b", 0},
      {"^(ab|cd){2,}$", "abcdab", 1},
      {"^(ab|cd){2,}$", "ab", 0},
      {"^x{1,3}$", "xxxx", 0},
      {"^\\^\\$\\[\\]\\{\\}\\(\\)\\|\\*\\+\\?\\/\\\\$", "^$[]{}()|*+?/\\", 1},
      {"^[-^a]+$", "^-a", 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    json_t *doc = json_pack("{s:s}", "pattern", cases[i].pattern);
    char err[256];
    schema_t *s = schema_compile(doc, err, sizeof err);
    if (!s)
      fail_msg("pattern %s: %s", cases[i].pattern, err);
    json_t *v = json_string(cases[i].subject);
    assert_non_null(v);
    char why[256];
    if (schema_check(s, v, why, sizeof why) != cases[i].match)
      fail_msg("pattern %s on \"%s\": expected %d (%s)", cases[i].pattern,
               cases[i].subject, cases[i].match, why);
    json_decref(v);
    schema_free(s);
    json_decref(doc);
  }
}

static void test_min_length_code_points(void **state) {
  (void)state;
  json_t *doc = json_pack("{s:i}", "minLength", 2);
  schema_t *s = schema_compile(doc, NULL, 0);
  assert_non_null(s);
  json_t *one = json_string("\xc3\xa9"); /* é: 1 code point, 2 bytes */
  json_t *two = json_string("\xc3\xa9\xf0\x9f\x98\x80"); /* é😀: 2 */
  char why[256];
  assert_int_equal(schema_check(s, one, why, sizeof why), 0);
  assert_string_equal(why, "(root): is 1 characters long, shorter than minLength 2");
  assert_int_equal(schema_check(s, two, why, sizeof why), 1);
  json_decref(one);
  json_decref(two);
  schema_free(s);
  json_decref(doc);
}

/* ---- the example data ---------------------------------------------------------- */

static const char *s_examples[] = {
    "coa-intake-amira.json", "gemeente-participation-amira.json",
    "vwn-support-amira.json", "ggz-care-amira.json"};

/* Walks schema (JSON) and instance together; for every object schema with
 * "required" whose instance is an object, removes each required member in
 * turn and checks that the section fails with "<pointer>/<name>: is
 * required". Returns how many mutations were checked. */
static int s_mutate_required(int kind, json_t *root, const json_t *schema,
                             json_t *inst, const char *ptr) {
  int n = 0;
  if (!json_is_object(schema))
    return 0;
  if (json_is_object(inst)) {
    const json_t *req = json_object_get(schema, "required");
    for (size_t i = 0; i < json_array_size(req); i++) {
      const char *name = json_string_value(json_array_get(req, i));
      json_t *saved = json_object_get(inst, name);
      if (!saved)
        fail_msg("example lacks required %s%s/%s", keten_section_kind_name(kind),
                 ptr, name);
      json_incref(saved);
      json_object_del(inst, name);
      char why[384], want[256];
      keten_err_t rc = s_validate_json(kind, root, why, sizeof why);
      snprintf(want, sizeof want, "%s/%s: is required but missing", ptr, name);
      if (rc != KETEN_ERR_SCHEMA || strcmp(why, strcat(want, " (required)")) != 0)
        fail_msg("%s without %s/%s: rc %d why \"%s\"",
                 keten_section_kind_name(kind), ptr, name, rc, why);
      json_object_set_new(inst, name, saved);
      n++;
    }
    const char *k;
    json_t *sub;
    json_object_foreach(json_object_get(schema, "properties"), k, sub) {
      json_t *m = json_object_get(inst, k);
      if (!m)
        continue;
      char p[256];
      snprintf(p, sizeof p, "%s/%s", ptr, k);
      n += s_mutate_required(kind, root, sub, m, p);
    }
  }
  if (json_is_array(inst)) {
    for (size_t i = 0; i < json_array_size(inst); i++) {
      char p[256];
      snprintf(p, sizeof p, "%s/%zu", ptr, i);
      n += s_mutate_required(kind, root, json_object_get(schema, "items"),
                             json_array_get(inst, i), p);
    }
  }
  return n;
}

static void test_examples_validate(void **state) {
  (void)state;
  json_t *schema = json_loadb((const char *)schema_sections_v1_json,
                              schema_sections_v1_json_len, 0, NULL);
  assert_non_null(schema);
  int kinds_seen = 0, mutations = 0;
  for (size_t f = 0; f < sizeof s_examples / sizeof *s_examples; f++) {
    char path[512];
    snprintf(path, sizeof path, "%s/tests/data/examples/%s", KETEN_SOURCE_DIR,
             s_examples[f]);
    json_error_t jerr;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
      fail_msg("%s: %s", path, jerr.text);
    const char *kname;
    json_t *sec;
    json_object_foreach(json_object_get(doc, "sections"), kname, sec) {
      int kind = keten_section_kind_from_name(kname);
      assert_true(kind > 0);
      char why[384];
      keten_err_t rc = s_validate_json(kind, sec, why, sizeof why);
      if (rc != KETEN_OK)
        fail_msg("%s %s: %s", s_examples[f], kname, why);
      kinds_seen++;
      json_t *copy = json_deep_copy(sec);
      mutations += s_mutate_required(
          kind, copy,
          json_object_get(json_object_get(schema, "$defs"), kname), copy, "");
      /* unchanged after the mutations were undone */
      assert_int_equal(s_validate_json(kind, copy, why, sizeof why), KETEN_OK);
      /* an unknown field is allowed (docs/sections.md 1.4) */
      json_object_set_new(copy, "later_optional_field", json_string("x"));
      assert_int_equal(s_validate_json(kind, copy, why, sizeof why), KETEN_OK);
      json_decref(copy);
    }
    json_decref(doc);
  }
  json_decref(schema);
  assert_int_equal(kinds_seen, 12); /* every kind has an example */
  printf("examples: %d sections validate, %d required-field mutations fail "
         "with their pointer\n", kinds_seen, mutations);
  assert_true(mutations >= 20);
}

static void test_mutations(void **state) {
  (void)state;
  const int ID = keten_section_kind_from_name("IDENTITY");
  s_expect(ID, "{\"given_name\":\"A\",\"family_name\":\"H\",\"birth_date\":\"1991\","
               "\"permit\":{\"type\":\"x\",\"valid_from\":\"02-06-2026\"}}",
           "/permit/valid_from: does not match pattern ^[0-9]{4}-[0-9]{2}-[0-9]{2}$");
  s_expect(ID, "{\"given_name\":\"\",\"family_name\":\"H\",\"birth_date\":\"1991\"}",
           "/given_name: is 0 characters long, shorter than minLength 1");
  s_expect(ID, "{\"given_name\":\"A\",\"family_name\":\"H\",\"birth_date\":\"1991\","
               "\"gender\":\"Q\"}",
           "/gender: is not one of [\"F\",\"M\",\"X\"] (enum)");
  s_expect(ID, "{\"given_name\":1,\"family_name\":\"H\",\"birth_date\":\"1991\"}",
           "/given_name: is of type integer, not string");
  s_expect(ID, "{\"given_name\":\"A\",\"family_name\":\"H\",\"birth_date\":\"1991\","
               "\"bsn\":\"12345678\"}",
           "/bsn: does not match pattern ^[0-9]{9}$");
  const int LANG = keten_section_kind_from_name("LANGUAGE");
  s_expect(LANG, "{\"languages\":[]}", "/languages: has 0 items, fewer than minItems 1");
  s_expect(LANG, "{\"languages\":[{\"code\":\"ar\",\"level\":\"native\"},"
                 "{\"code\":\"en\",\"level\":\"B3\"}]}",
           "/languages/1/level: matches none of the 2 schemas of anyOf");
  s_expect_ok(LANG, "{\"languages\":[{\"code\":\"ar\",\"level\":\"native\"},"
                    "{\"code\":\"en\",\"level\":\"B2\"}]}");
  const int HOUSING = keten_section_kind_from_name("HOUSING");
  s_expect(HOUSING, "{\"household_size\":0}", "/household_size: is 0, less than minimum 1");
  s_expect(HOUSING, "{\"household_size\":2.5}", "/household_size: is of type number, not integer");
  s_expect_ok(HOUSING, "{\"household_size\":3.0}"); /* an integer in JSON Schema */
  s_expect(HOUSING, "{\"household_size\":\"3\"}", "/household_size: is of type string");
  const int WORK = keten_section_kind_from_name("WORK");
  s_expect(WORK, "{\"experience\":[{\"role\":\"x\",\"years\":-0.5}]}",
           "/experience/0/years: is -0.5, less than minimum 0");
  s_expect_ok(WORK, "{\"experience\":[{\"role\":\"x\",\"years\":0.5}]}");
  const int CARE = keten_section_kind_from_name("CARE");
  s_expect(CARE, "{\"intake\":\"2026-08-20\",\"shareable_summary\":false}",
           "/shareable_summary: is not the constant true (const)");
  s_expect(CARE, "{\"intake\":\"2026-08-20\",\"shareable_summary\":1}",
           "/shareable_summary: is not the constant true (const)");
  const int SUPPORT = keten_section_kind_from_name("SUPPORT");
  s_expect(SUPPORT, "{\"volunteer_team\":\"T\",\"helped_with\":[\"a\",\"\"]}",
           "/helped_with/1: is 0 characters long");
  s_expect(SUPPORT, "{\"volunteer_team\":\"T\",\"helped_with\":\"a\"}",
           "/helped_with: is of type string, not array");
  /* a key with / and ~ is escaped in the pointer (RFC 6901) */
  const int HOUSEHOLD = keten_section_kind_from_name("HOUSEHOLD");
  s_expect(HOUSEHOLD, "{\"members\":[{\"relation\":\"child\",\"birth_year\":1899}]}",
           "/members/0/birth_year: is 1899, less than minimum 1900");
}

static void test_shape_rules(void **state) {
  (void)state;
  const int H = keten_section_kind_from_name("HEALTH");
  s_expect_ok(H, "{\"notes\":\"x\"}");
  s_expect(H, "{\"notes\":\"x\",\"notes\":\"y\"}", "(root): a key repeated within an object");
  s_expect(H, "{\"notes\":\"\xff\"}", "(root): not UTF-8");
  s_expect(H, "[{\"notes\":\"x\"}]", "(root): the top level is a JSON array, not an object");
  s_expect(H, "\"notes\"", "(root): the top level is a JSON string");
  s_expect(H, "{\"notes\":", "(root): not a complete JSON text");
  s_expect(H, "not json", "(root): not a JSON text");
  s_expect(H, "{\"notes\":\"a\\u0000b\"}", "(root): a U+0000 character");
  s_expect(H, "{}", "/notes: is required but missing (required)");
  char why[384];
  /* the reason never quotes the plaintext */
  assert_int_equal(s_validate_str(H, "{\"notes\": secretword}", why, sizeof why),
                   KETEN_ERR_SCHEMA);
  assert_null(strstr(why, "secretword"));
  /* size: 786432 bytes is the most */
  size_t big = SCHEMA_MAX_PLAINTEXT;
  char *text = malloc(big + 2);
  assert_non_null(text);
  const char *head = "{\"notes\":\"";
  memcpy(text, head, strlen(head));
  memset(text + strlen(head), 'a', big - strlen(head) - 2);
  memcpy(text + big - 2, "\"}", 2);
  assert_int_equal(keten_section_validate(H, text, big, why, sizeof why), KETEN_OK);
  memmove(text + big - 1, "\"}", 2);
  text[big - 2] = 'a';
  assert_int_equal(keten_section_validate(H, text, big + 1, why, sizeof why),
                   KETEN_ERR_SCHEMA);
  assert_non_null(strstr(why, "more than 786432"));
  free(text);
  /* kinds */
  assert_int_equal(keten_section_validate(0, "{}", 2, why, sizeof why), KETEN_ERR_INVALID);
  assert_int_equal(keten_section_validate(13, "{}", 2, why, sizeof why), KETEN_ERR_INVALID);
  assert_int_equal(keten_section_validate(H, NULL, 2, NULL, 0), KETEN_ERR_INVALID);
  assert_int_equal(keten_section_validate(H, "{}", 2, NULL, 0), KETEN_ERR_SCHEMA);
  /* a tiny why buffer is cut, never overrun */
  char small[8];
  memset(small, 'x', sizeof small);
  assert_int_equal(keten_section_validate(H, "{}", 2, small, 5), KETEN_ERR_SCHEMA);
  assert_int_equal(strlen(small), 4);
  assert_int_equal(small[5], 'x');
}

/* ---- the official test suite ------------------------------------------------------ */

static void test_suite(void **state) {
  (void)state;
  static const char *files[] = {"type", "required", "properties", "items",
                                "minItems", "minLength", "minimum", "pattern",
                                "enum", "const", "anyOf", "boolean_schema"};
  const char *dir = getenv("KETEN_SCHEMA_SUITE_DIR");
  if (!dir || !*dir)
    dir = SUITE_DIR;
  int ran = 0, skipped = 0, groups_skipped = 0, failed = 0;
  for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.json", dir, files[f]);
    json_error_t jerr;
    json_t *groups = json_load_file(path, 0, &jerr);
    if (!groups)
      fail_msg("%s: %s (install json-schema-test-suite: scripts/install-deps.sh)",
               path, jerr.text);
    size_t gi;
    json_t *g;
    json_array_foreach(groups, gi, g) {
      json_t *tests = json_object_get(g, "tests");
      char err[256];
      schema_t *s = schema_compile(json_object_get(g, "schema"), err, sizeof err);
      if (!s) {
        /* Only a keyword we do not implement may be the reason. */
        if (!strstr(err, "not implemented") && !strstr(err, "prefixItems") &&
            !strstr(err, "ECMA-262 subset"))
          fail_msg("%s \"%s\": %s", files[f],
                   json_string_value(json_object_get(g, "description")), err);
        skipped += (int)json_array_size(tests);
        groups_skipped++;
        continue;
      }
      size_t ti;
      json_t *t;
      json_array_foreach(tests, ti, t) {
        int want = json_is_true(json_object_get(t, "valid"));
        char why[256];
        int got = schema_check(s, json_object_get(t, "data"), why, sizeof why);
        if (got != want) {
          failed++;
          print_error("FAIL %s \"%s\" / \"%s\": expected %s (%s)\n", files[f],
                      json_string_value(json_object_get(g, "description")),
                      json_string_value(json_object_get(t, "description")),
                      want ? "valid" : "invalid", why);
        }
        ran++;
      }
      schema_free(s);
    }
    json_decref(groups);
  }
  printf("JSON-Schema-Test-Suite (%s): %d cases ran, %d failed; %d cases in "
         "%d groups skipped (a keyword not implemented); at least %d must run\n",
         dir, ran, failed, skipped, groups_skipped, SUITE_MIN_CASES);
  assert_int_equal(failed, 0);
  assert_true(ran >= SUITE_MIN_CASES);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_builtin_is_the_file_and_the_doc),
      cmocka_unit_test(test_builtin_compiles),
      cmocka_unit_test(test_builtin_with_unknown_keyword_fails),
      cmocka_unit_test(test_unimplemented_refused),
      cmocka_unit_test(test_patterns),
      cmocka_unit_test(test_min_length_code_points),
      cmocka_unit_test(test_examples_validate),
      cmocka_unit_test(test_mutations),
      cmocka_unit_test(test_shape_rules),
      cmocka_unit_test(test_suite),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
