/* publish — a partner's export file mapped to libketen calls.
 *
 * A file is first mapped in full (adapter_plan): parsed, every field
 * checked, each section mapped through the adapter's table and checked
 * against its kind's schema, every consent and revocation resolved. Only
 * a file that maps completely is published, in this order: consents,
 * sections, revocations, the TVS event. So a wrong file publishes
 * nothing; what the adapter cannot check beforehand (the broker's policy
 * and registry) can still refuse a later step, and the reason then says
 * what was published before it.
 *
 * A re-run of a file that an earlier attempt may have published in part
 * (a crash, or a transient failure halfway; adapter_inflight_t.resume)
 * publishes only what is not there yet: a consent of ours with the same
 * recipient, kinds, purpose, basis and evidence that is still active, and
 * a section whose latest version by us has the same plaintext, count as
 * published; a revocation finds nothing left to revoke; a TVS event is
 * sent with the id and time drawn by the first attempt (kept in the
 * inflight file), which the broker answers as a duplicate. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "adapter.h"

#define DAY_MS (INT64_C(86400000))
#define PLAINTEXT_MAX 786432

static int s_fail(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int s_fail(char *why, size_t whylen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, whylen, fmt, ap);
  va_end(ap);
  return ADAPTER_PUB_INVALID;
}

/* 1 if s is 1..max bytes of printable ASCII (what the broker shows in
 * clear: evidence references, reasons). */
static int s_printable(const char *s, size_t max) {
  size_t n = s ? strlen(s) : 0;
  if (n == 0 || n > max)
    return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
      return 0;
  return 1;
}

/* Checks that obj has only the keys of allowed (NULL-terminated). */
static int s_only_keys(json_t *obj, const char *const *allowed,
                       const char *where, char *why, size_t whylen) {
  const char *key;
  json_t *v;
  json_object_foreach(obj, key, v) {
    int ok = 0;
    for (size_t i = 0; allowed[i] && !ok; i++)
      ok = !strcmp(key, allowed[i]);
    if (!ok) {
      s_fail(why, whylen, "%s: unknown field \"%s\"", where, key);
      return -1;
    }
  }
  return 0;
}

static const adapter_section_map_t *s_map_of(const adapter_kind_t *kind,
                                             const char *name) {
  for (const adapter_section_map_t *m = kind->sections; m->partner_name; m++)
    if (!strcmp(m->partner_name, name))
      return m;
  return NULL;
}

static int s_writes_kind(const adapter_kind_t *kind, int k) {
  for (const adapter_section_map_t *m = kind->sections; m->partner_name; m++)
    if (m->kind == k)
      return 1;
  return 0;
}

/* The recipient of a consent or revocation object into out. */
static int s_recipient(json_t *o, const char *where, const char *our_id,
                       char *out, size_t cap, char *why, size_t whylen) {
  json_t *role = json_object_get(o, "recipient_role");
  json_t *to = json_object_get(o, "recipient");
  if (!!role == !!to) {
    s_fail(why, whylen, "%s: exactly one of \"recipient\" and "
                        "\"recipient_role\" is required", where);
    return -1;
  }
  if (role) {
    if (!json_is_string(role) ||
        strcmp(json_string_value(role), "GEMEENTE_LINKED") != 0) {
      s_fail(why, whylen, "%s: recipient_role: the only role is "
                          "\"GEMEENTE_LINKED\" (the gemeente the person is "
                          "linked to)", where);
      return -1;
    }
    snprintf(out, cap, "%s", KETEN_LINKED_GEMEENTE);
    return 0;
  }
  const char *id = json_string_value(to);
  if (!adapter_id_ok(id)) {
    s_fail(why, whylen, "%s: recipient: not a participant id", where);
    return -1;
  }
  if (our_id && !strcmp(id, our_id)) {
    s_fail(why, whylen, "%s: recipient: that is ourselves", where);
    return -1;
  }
  snprintf(out, cap, "%s", id);
  return 0;
}

static int s_map_consent(const adapter_kind_t *kind, const char *our_id,
                         json_t *c, size_t idx, const char *subject,
                         json_t *plan, char *why, size_t whylen) {
  char where[48];
  snprintf(where, sizeof where, "consents[%zu]", idx);
  static const char *const keys[] = {"recipient_role", "recipient", "sections",
                                     "purpose", "basis", "legal_reference",
                                     "valid_days", "evidence", NULL};
  if (!json_is_object(c))
    return s_fail(why, whylen, "%s: not an object", where);
  if (s_only_keys(c, keys, where, why, whylen) != 0)
    return ADAPTER_PUB_INVALID;
  char to[KETEN_ID_MAX + 1];
  if (s_recipient(c, where, our_id, to, sizeof to, why, whylen) != 0)
    return ADAPTER_PUB_INVALID;
  json_t *secs = json_object_get(c, "sections");
  if (!json_is_array(secs) || json_array_size(secs) == 0)
    return s_fail(why, whylen, "%s: sections: a non-empty array of kinds", where);
  json_t *kinds = json_array();
  size_t i;
  json_t *s;
  json_array_foreach(secs, i, s) {
    const char *name = json_string_value(s);
    int k = name ? keten_section_kind_from_name(name) : 0;
    if (k <= 0) {
      json_decref(kinds);
      return s_fail(why, whylen, "%s: sections[%zu]: not a section kind", where, i);
    }
    if (!s_writes_kind(kind, k)) {
      json_decref(kinds);
      return s_fail(why, whylen,
                    "%s: sections[%zu]: %s is not a kind %s writes (a consent "
                    "covers only its recorder's own sections)",
                    where, i, keten_section_kind_name(k), kind->name);
    }
    json_array_append_new(kinds, json_string(keten_section_kind_name(k)));
  }
  const char *purpose = json_string_value(json_object_get(c, "purpose"));
  const char *basis = json_string_value(json_object_get(c, "basis"));
  if (!purpose || keten_purpose_from_name(purpose) <= 0) {
    json_decref(kinds);
    return s_fail(why, whylen, "%s: purpose: one of HUISVESTING, INBURGERING, "
                               "PARTICIPATIE, ZORG, BEGELEIDING", where);
  }
  if (!basis || keten_basis_from_name(basis) <= 0) {
    json_decref(kinds);
    return s_fail(why, whylen, "%s: basis: CONSENT or LEGAL_DUTY", where);
  }
  json_t *legal = json_object_get(c, "legal_reference");
  int legal_duty = keten_basis_from_name(basis) == keten_basis_from_name("LEGAL_DUTY");
  if ((legal && !s_printable(json_string_value(legal), 256)) ||
      (legal_duty && !legal)) {
    json_decref(kinds);
    return s_fail(why, whylen, "%s: legal_reference: 1..256 printable ASCII "
                               "characters, required for LEGAL_DUTY", where);
  }
  json_t *days = json_object_get(c, "valid_days");
  if (!json_is_integer(days) || json_integer_value(days) < 1 ||
      json_integer_value(days) > 3660) {
    json_decref(kinds);
    return s_fail(why, whylen, "%s: valid_days: an integer 1..3660", where);
  }
  const char *evidence = json_string_value(json_object_get(c, "evidence"));
  if (!s_printable(evidence, 256)) {
    json_decref(kinds);
    return s_fail(why, whylen, "%s: evidence: the reference of the signed "
                               "form, 1..256 printable ASCII characters", where);
  }
  json_t *a = json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:I, s:s}", "action",
                        "consent", "subject", subject, "recipient", to,
                        "sections", kinds, "purpose",
                        keten_purpose_name(keten_purpose_from_name(purpose)),
                        "basis", keten_basis_name(keten_basis_from_name(basis)),
                        "valid_days", (json_int_t)json_integer_value(days),
                        "evidence_ref", evidence);
  if (a && legal)
    json_object_set(a, "legal_reference", legal);
  json_array_append_new(plan, a);
  return ADAPTER_PUB_OK;
}

static int s_map_revoke(const char *our_id, json_t *r, size_t idx,
                        const char *subject, json_t *plan, char *why,
                        size_t whylen) {
  char where[48];
  snprintf(where, sizeof where, "revoke[%zu]", idx);
  static const char *const keys[] = {"recipient_role", "recipient", "purpose",
                                     "reason", "evidence", NULL};
  if (!json_is_object(r))
    return s_fail(why, whylen, "%s: not an object", where);
  if (s_only_keys(r, keys, where, why, whylen) != 0)
    return ADAPTER_PUB_INVALID;
  char to[KETEN_ID_MAX + 1];
  if (s_recipient(r, where, our_id, to, sizeof to, why, whylen) != 0)
    return ADAPTER_PUB_INVALID;
  json_t *purpose = json_object_get(r, "purpose");
  if (purpose && keten_purpose_from_name(json_string_value(purpose)) <= 0)
    return s_fail(why, whylen, "%s: purpose: not a purpose", where);
  const char *reason = json_string_value(json_object_get(r, "reason"));
  if (!s_printable(reason, 256))
    return s_fail(why, whylen, "%s: reason: 1..256 printable ASCII characters "
                               "(the broker sees it in clear)", where);
  json_t *evidence = json_object_get(r, "evidence");
  if (evidence && !s_printable(json_string_value(evidence), 256))
    return s_fail(why, whylen, "%s: evidence: 1..256 printable ASCII characters",
                  where);
  json_t *a = json_pack("{s:s, s:s, s:s, s:s}", "action", "revoke", "subject",
                        subject, "recipient", to, "reason", reason);
  if (a && purpose)
    json_object_set_new(
        a, "purpose",
        json_string(keten_purpose_name(keten_purpose_from_name(json_string_value(purpose)))));
  if (a && evidence)
    json_object_set(a, "evidence_ref", evidence);
  json_array_append_new(plan, a);
  return ADAPTER_PUB_OK;
}

static int s_map_section(const adapter_kind_t *kind, const adapter_config_t *cfg,
                         const char *name, json_t *obj, const char *v_nummer,
                         const char *subject, json_t *plan, char *why,
                         size_t whylen) {
  const adapter_section_map_t *m = s_map_of(kind, name);
  if (!m)
    return s_fail(why, whylen, "sections.%s: %s does not publish this section "
                               "(not in its mapping table)", name, kind->name);
  if (!json_is_object(obj))
    return s_fail(why, whylen, "sections.%s: not an object", name);
  json_t *copy = json_deep_copy(obj);
  if (!copy)
    return s_fail(why, whylen, "out of memory");
  char twhy[256] = "";
  if (m->transform && m->transform(cfg, copy, v_nummer, twhy, sizeof twhy) != 0) {
    json_decref(copy);
    return s_fail(why, whylen, "sections.%s: %s", name, twhy);
  }
  char *text = json_dumps(copy, JSON_COMPACT);
  json_decref(copy);
  if (!text)
    return s_fail(why, whylen, "sections.%s: cannot serialise", name);
  size_t len = strlen(text);
  if (len > PLAINTEXT_MAX) {
    free(text);
    return s_fail(why, whylen, "sections.%s: %zu bytes, more than %d", name, len,
                  PLAINTEXT_MAX);
  }
  /* the whole file is checked before anything is sent (all or nothing) */
  char swhy[256] = "";
  keten_err_t vrc = keten_section_validate(m->kind, text, len, swhy, sizeof swhy);
  if (vrc != KETEN_OK) {
    free(text);
    return s_fail(why, whylen, "sections.%s: does not conform to the %s "
                               "schema: %s", name,
                  keten_section_kind_name(m->kind), swhy[0] ? swhy : keten_strerror(vrc));
  }
  json_t *a = json_pack("{s:s, s:s, s:s, s:s}", "action", "section", "subject",
                        subject, "kind", keten_section_kind_name(m->kind),
                        "json", text);
  free(text);
  json_array_append_new(plan, a);
  return ADAPTER_PUB_OK;
}

static int s_map_tvs(json_t *doc, const uint8_t chain_key[KETEN_CHAIN_KEY_BYTES],
                     json_t *plan, char *why, size_t whylen) {
  static const char *const keys[] = {
      "event", "v_nummer", "gemeente", "gemeente_name", "from_gemeente",
      "period", "date", "household_size", "reason", "target", "realised", NULL};
  if (s_only_keys(doc, keys, "TVS export", why, whylen) != 0)
    return ADAPTER_PUB_INVALID;
  const char *ev = json_string_value(json_object_get(doc, "event"));
  int kind = ev ? keten_tvs_kind_from_name(ev) : 0;
  if (kind <= 0)
    return s_fail(why, whylen, "event: one of KOPPELING, ONTKOPPELING, "
                               "HUISVESTING, VERHUIZING, TAAKSTELLING");
  json_t *a = json_pack("{s:s, s:s}", "action", "tvs", "event",
                        keten_tvs_kind_name(kind));
  const char *v = json_string_value(json_object_get(doc, "v_nummer"));
  if (kind != KETEN_TVS_TAAKSTELLING) {
    uint8_t subject[KETEN_SUBJECT_BYTES];
    char hex[2 * KETEN_SUBJECT_BYTES + 1];
    if (!v || keten_subject_id(chain_key, v, subject) != KETEN_OK) {
      json_decref(a);
      return s_fail(why, whylen, "v_nummer: a V-nummer of 10 digits is required");
    }
    adapter_hex(hex, subject, sizeof subject);
    json_object_set_new(a, "subject", json_string(hex));
    json_object_set_new(a, "v_nummer", json_string(v));
  } else if (v) {
    json_decref(a);
    return s_fail(why, whylen, "v_nummer: a TAAKSTELLING is about nobody");
  }
  static const struct {
    const char *name;
    size_t max;
  } strs[] = {{"gemeente", KETEN_ID_MAX}, {"from_gemeente", KETEN_ID_MAX},
              {"period", 7}, {"date", 10}};
  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
    json_t *x = json_object_get(doc, strs[i].name);
    if (!x)
      continue;
    if (!s_printable(json_string_value(x), strs[i].max)) {
      json_decref(a);
      return s_fail(why, whylen, "%s: a string of at most %zu characters",
                    strs[i].name, strs[i].max);
    }
    json_object_set(a, strs[i].name, x);
  }
  static const char *const nums[] = {"household_size", "target", "realised"};
  for (size_t i = 0; i < 3; i++) {
    json_t *x = json_object_get(doc, nums[i]);
    if (!x)
      continue;
    if (!json_is_integer(x) || json_integer_value(x) < 0 ||
        json_integer_value(x) > 1000000) {
      json_decref(a);
      return s_fail(why, whylen, "%s: an integer 0..1000000", nums[i]);
    }
    json_object_set(a, nums[i], x);
  }
  json_t *reason = json_object_get(doc, "reason");
  if (reason) {
    int r = keten_tvs_reason_from_name(json_string_value(reason));
    if (r <= 0) {
      json_decref(a);
      return s_fail(why, whylen, "reason: HOUSING_ELSEWHERE, MOVED, "
                                 "PERMIT_WITHDRAWN, ERROR or OTHER");
    }
    json_object_set_new(a, "reason", json_string(keten_tvs_reason_name(r)));
  }
  json_array_append_new(plan, a);
  return ADAPTER_PUB_OK;
}

int adapter_plan(const adapter_kind_t *kind, const adapter_config_t *cfg,
                 const uint8_t chain_key[KETEN_CHAIN_KEY_BYTES],
                 const char *our_id, const char *buf, size_t len,
                 json_t **out, char *why, size_t whylen) {
  if (out)
    *out = NULL;
  why[0] = '\0';
  if (len > ADAPTER_FILE_MAX)
    return s_fail(why, whylen, "larger than %d bytes", ADAPTER_FILE_MAX);
  json_error_t jerr;
  json_t *doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!doc)
    return s_fail(why, whylen, "not JSON: line %d column %d: %s", jerr.line,
                  jerr.column, jerr.text);
  int rc = ADAPTER_PUB_OK;
  json_t *plan = json_array();
  if (!json_is_object(doc)) {
    rc = s_fail(why, whylen, "the top level is not an object");
    goto done;
  }
  if (json_object_get(doc, "event")) {
    if (!kind->tvs) {
      rc = s_fail(why, whylen, "a TVS export file: only the COA adapter "
                               "publishes TVS events");
      goto done;
    }
    rc = s_map_tvs(doc, chain_key, plan, why, whylen);
    goto done;
  }
  static const char *const with_consents[] = {"v_nummer", "recorded_by",
                                              "sections", "consents", "revoke",
                                              NULL};
  static const char *const without[] = {"v_nummer", "recorded_by", "sections",
                                        NULL};
  if (s_only_keys(doc, kind->consents ? with_consents : without, "file", why,
                  whylen) != 0) {
    rc = ADAPTER_PUB_INVALID;
    goto done;
  }
  const char *v = json_string_value(json_object_get(doc, "v_nummer"));
  uint8_t subject[KETEN_SUBJECT_BYTES];
  char hex[2 * KETEN_SUBJECT_BYTES + 1];
  if (!v || keten_subject_id(chain_key, v, subject) != KETEN_OK) {
    rc = s_fail(why, whylen, "v_nummer: a V-nummer of 10 digits is required");
    goto done;
  }
  adapter_hex(hex, subject, sizeof subject);
  json_t *by = json_object_get(doc, "recorded_by");
  if (by && (!json_is_string(by) ||
             (our_id && strcmp(json_string_value(by), our_id) != 0))) {
    rc = s_fail(why, whylen, "recorded_by: this adapter publishes as \"%s\"",
                our_id ? our_id : "?");
    goto done;
  }
  json_t *secs = json_object_get(doc, "sections");
  json_t *consents = json_object_get(doc, "consents");
  json_t *revoke = json_object_get(doc, "revoke");
  if (!secs && !consents && !revoke) {
    rc = s_fail(why, whylen, "nothing to publish: no \"sections\"%s",
                kind->consents ? ", \"consents\" or \"revoke\"" : "");
    goto done;
  }
  if (secs && (!json_is_object(secs) || json_object_size(secs) == 0)) {
    rc = s_fail(why, whylen, "sections: a non-empty object of KIND: {...}");
    goto done;
  }
  if (consents && (!json_is_array(consents) || json_array_size(consents) == 0)) {
    rc = s_fail(why, whylen, "consents: a non-empty array");
    goto done;
  }
  if (revoke && json_is_object(revoke)) {
    json_t *arr = json_array();
    json_array_append(arr, revoke);
    json_object_set_new(doc, "revoke", arr);
    revoke = arr;
  }
  if (revoke && (!json_is_array(revoke) || json_array_size(revoke) == 0)) {
    rc = s_fail(why, whylen, "revoke: an object or a non-empty array");
    goto done;
  }
  json_array_append_new(plan, json_pack("{s:s, s:s, s:s}", "action", "index",
                                        "subject", hex, "v_nummer", v));
  size_t i;
  json_t *x;
  if (consents)
    json_array_foreach(consents, i, x) {
      if ((rc = s_map_consent(kind, our_id, x, i, hex, plan, why, whylen)) != 0)
        goto done;
    }
  const char *name;
  if (secs)
    json_object_foreach(secs, name, x) {
      if ((rc = s_map_section(kind, cfg, name, x, v, hex, plan, why, whylen)) != 0)
        goto done;
    }
  if (revoke)
    json_array_foreach(revoke, i, x) {
      if ((rc = s_map_revoke(our_id, x, i, hex, plan, why, whylen)) != 0)
        goto done;
    }
done:
  json_decref(doc);
  if (rc == ADAPTER_PUB_OK && out)
    *out = plan;
  else
    json_decref(plan);
  return rc;
}

/* ---- publishing ------------------------------------------------------------- */

static int s_hexbin(const char *hex, uint8_t *out, size_t n) {
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

static const char *s_str(json_t *a, const char *k) {
  const char *v = json_string_value(json_object_get(a, k));
  return v ? v : "";
}

static uint64_t s_kinds(json_t *a) {
  uint64_t bits = 0;
  size_t i;
  json_t *k;
  json_array_foreach(json_object_get(a, "sections"), i, k)
      bits |= UINT64_C(1) << keten_section_kind_from_name(json_string_value(k));
  return bits;
}

/* What a failed call means for the file. */
static int s_outcome(keten_client_t *c, keten_err_t rc) {
  if (rc == KETEN_ERR_TIMEOUT || rc == KETEN_ERR_TRANSPORT ||
      rc == KETEN_ERR_AUTH || rc == KETEN_ERR_NOMEM || rc == KETEN_ERR_IO ||
      rc == KETEN_ERR_LOG_INCONSISTENT || keten_client_transient(c, rc))
    return ADAPTER_PUB_TRANSIENT;
  return ADAPTER_PUB_INVALID;
}

/* Appends to the progress text what was published. */
static void s_done(char *progress, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void s_done(char *progress, size_t cap, const char *fmt, ...) {
  size_t n = strlen(progress);
  if (n + 4 >= cap)
    return;
  if (n)
    progress[n++] = ',', progress[n++] = ' ', progress[n] = '\0';
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(progress + n, cap - n, fmt, ap);
  va_end(ap);
}

static int s_call_failed(adapter_t *a, keten_client_t *c, keten_err_t rc,
                         const char *step, const char *progress, char *why,
                         size_t whylen) {
  snprintf(why, whylen, "%s: %s: %s%s%s%s", step, keten_strerror(rc),
           keten_client_error(c), progress[0] ? " (published before it: " : "",
           progress, progress[0] ? ")" : "");
  int out = s_outcome(c, rc);
  if (rc == KETEN_ERR_LOG_INCONSISTENT) {
    a->stopping = 1;
    a->exit_status = ADAPTER_EXIT_LOG;
  }
  return out;
}

int adapter_publish(adapter_t *a, const char *buf, size_t len,
                    adapter_inflight_t *inflight, char *why, size_t whylen) {
  json_t *plan = NULL;
  int rc = adapter_plan(a->kind, &a->cfg, a->chain_key, a->id, buf, len, &plan,
                        why, whylen);
  if (rc != ADAPTER_PUB_OK)
    return rc;
  char progress[1024] = "";
  keten_consent_t *list = NULL;
  size_t n_list = 0;
  int have_list = 0;
  keten_fetch_result_t fetched;
  memset(&fetched, 0, sizeof fetched);
  int have_fetch = 0;
  uint8_t subject[KETEN_SUBJECT_BYTES];
  size_t i;
  json_t *act;
  json_array_foreach(plan, i, act) {
    const char *what = s_str(act, "action");
    if (s_hexbin(s_str(act, "subject"), subject, sizeof subject) != 0 &&
        strcmp(s_str(act, "event"), "TAAKSTELLING") != 0) {
      rc = s_fail(why, whylen, "internal: plan without subject");
      break;
    }
    if (!strcmp(what, "index")) {
      if (adapter_index_put(&a->index, subject, s_str(act, "v_nummer")) != 0) {
        snprintf(why, whylen, "cannot write the V-nummer index in %s: %s",
                 a->cfg.state_dir, strerror(errno));
        rc = ADAPTER_PUB_TRANSIENT;
        break;
      }
    } else if (!strcmp(what, "consent")) {
      keten_consent_t k;
      memset(&k, 0, sizeof k);
      memcpy(k.subject, subject, sizeof subject);
      snprintf(k.recipient, sizeof k.recipient, "%s", s_str(act, "recipient"));
      k.sections = s_kinds(act);
      k.purpose = keten_purpose_from_name(s_str(act, "purpose"));
      k.basis = keten_basis_from_name(s_str(act, "basis"));
      snprintf(k.legal_reference, sizeof k.legal_reference, "%s",
               s_str(act, "legal_reference"));
      snprintf(k.evidence_ref, sizeof k.evidence_ref, "%s",
               s_str(act, "evidence_ref"));
      int64_t now = adapter_wall_ms();
      k.valid_from_ms = (uint64_t)(now - 60000); /* a minute of clock skew */
      k.valid_until_ms =
          (uint64_t)(now + json_integer_value(json_object_get(act, "valid_days")) * DAY_MS);
      int exists = 0;
      if (inflight->resume) {
        if (!have_list) {
          keten_err_t lr = keten_client_consent_list(a->client, subject, &list, &n_list);
          if (lr != KETEN_OK) {
            rc = s_call_failed(a, a->client, lr, "listing consents", progress,
                               why, whylen);
            break;
          }
          have_list = 1;
        }
        for (size_t j = 0; j < n_list && !exists; j++)
          exists = !list[j].revoked && !strcmp(list[j].recorded_by, a->id) &&
                   !strcmp(list[j].recipient, k.recipient) &&
                   list[j].sections == k.sections && list[j].purpose == k.purpose &&
                   list[j].basis == k.basis &&
                   !strcmp(list[j].evidence_ref, k.evidence_ref) &&
                   list[j].valid_until_ms > (uint64_t)now;
      }
      if (exists) {
        s_done(progress, sizeof progress, "consent for %s (before)", k.recipient);
        continue;
      }
      keten_err_t r = keten_client_consent_grant(a->client, &k);
      if (r != KETEN_OK) {
        char step[128];
        snprintf(step, sizeof step, "consent for %s", k.recipient);
        rc = s_call_failed(a, a->client, r, step, progress, why, whylen);
        break;
      }
      a->n_published++;
      s_done(progress, sizeof progress, "consent for %s", k.recipient);
      adapter_log(a, ADAPTER_LOG_INFO, "consent for %s recorded (%s, %s)",
                  k.recipient, s_str(act, "purpose"), s_str(act, "evidence_ref"));
    } else if (!strcmp(what, "section")) {
      int kind = keten_section_kind_from_name(s_str(act, "kind"));
      const char *json = s_str(act, "json");
      size_t jlen = strlen(json);
      int exists = 0;
      if (inflight->resume) {
        if (!have_fetch) {
          keten_err_t fr = keten_client_fetch_all(a->client, subject, &fetched);
          if (fr == KETEN_ERR_REMOTE) {
            /* ERROR_NOT_FOUND / ERROR_FORBIDDEN: nothing of ours there */
            keten_fetch_result_free(&fetched);
          } else if (fr != KETEN_OK) {
            rc = s_call_failed(a, a->client, fr, "fetching what is published",
                               progress, why, whylen);
            break;
          }
          have_fetch = 1;
        }
        for (size_t j = 0; j < fetched.n_sections && !exists; j++) {
          const keten_section_t *s = &fetched.sections[j];
          exists = s->header.kind == kind && !strcmp(s->header.author, a->id) &&
                   s->json_len == jlen && memcmp(s->json, json, jlen) == 0;
        }
      }
      if (exists) {
        s_done(progress, sizeof progress, "%s (before)", s_str(act, "kind"));
        continue;
      }
      keten_put_result_t res;
      memset(&res, 0, sizeof res);
      keten_err_t r = keten_client_put(a->client, subject, kind, json, jlen, &res);
      if (r != KETEN_OK) {
        char step[128];
        snprintf(step, sizeof step, "section %s", s_str(act, "kind"));
        rc = s_call_failed(a, a->client, r, step, progress, why, whylen);
        break;
      }
      a->n_published++;
      s_done(progress, sizeof progress, "%s v%llu", s_str(act, "kind"),
             (unsigned long long)res.version);
      adapter_log(a, ADAPTER_LOG_INFO, "put %s v%llu, queued for %zu recipient(s)",
                  s_str(act, "kind"), (unsigned long long)res.version, res.n_queued);
    } else if (!strcmp(what, "revoke")) {
      keten_consent_t *l = NULL;
      size_t n = 0;
      keten_err_t lr = keten_client_consent_list(a->client, subject, &l, &n);
      if (lr != KETEN_OK) {
        rc = s_call_failed(a, a->client, lr, "listing consents", progress, why,
                           whylen);
        break;
      }
      const char *to = s_str(act, "recipient");
      int purpose = json_object_get(act, "purpose")
                        ? keten_purpose_from_name(s_str(act, "purpose"))
                        : 0;
      size_t revoked = 0;
      keten_err_t r = KETEN_OK;
      for (size_t j = 0; j < n && r == KETEN_OK; j++) {
        if (l[j].revoked || strcmp(l[j].recorded_by, a->id) != 0 ||
            strcmp(l[j].recipient, to) != 0 || (purpose && l[j].purpose != purpose))
          continue;
        const char *ev = s_str(act, "evidence_ref");
        r = keten_client_consent_revoke(a->client, l[j].consent_id, subject,
                                        s_str(act, "reason"), ev[0] ? ev : NULL);
        if (r == KETEN_OK) {
          revoked++;
          a->n_published++;
        }
      }
      free(l);
      if (r != KETEN_OK) {
        char step[128];
        snprintf(step, sizeof step, "revoking the consent for %s", to);
        rc = s_call_failed(a, a->client, r, step, progress, why, whylen);
        break;
      }
      if (revoked == 0 && !inflight->resume) {
        rc = s_fail(why, whylen, "revoke: no active consent of ours for %s%s%s",
                    to, purpose ? " for " : "", purpose ? s_str(act, "purpose") : "");
        if (progress[0]) {
          size_t w = strlen(why);
          snprintf(why + w, whylen - w, " (published before it: %s)", progress);
        }
        break;
      }
      s_done(progress, sizeof progress, "%zu consent(s) for %s revoked", revoked, to);
      adapter_log(a, ADAPTER_LOG_INFO, "revoked %zu consent(s) for %s", revoked, to);
    } else if (!strcmp(what, "tvs")) {
      if (!a->tvs) {
        rc = s_fail(why, whylen, "a TVS export file, but no tvs_key is "
                                 "configured");
        break;
      }
      keten_tvs_event_t ev;
      memset(&ev, 0, sizeof ev);
      ev.kind = keten_tvs_kind_from_name(s_str(act, "event"));
      memcpy(ev.subject, subject, sizeof subject);
      snprintf(ev.gemeente, sizeof ev.gemeente, "%s", s_str(act, "gemeente"));
      snprintf(ev.from_gemeente, sizeof ev.from_gemeente, "%s",
               s_str(act, "from_gemeente"));
      snprintf(ev.period, sizeof ev.period, "%s", s_str(act, "period"));
      snprintf(ev.date, sizeof ev.date, "%s", s_str(act, "date"));
      ev.household_size =
          (uint32_t)json_integer_value(json_object_get(act, "household_size"));
      ev.target = (uint32_t)json_integer_value(json_object_get(act, "target"));
      ev.realised = (uint32_t)json_integer_value(json_object_get(act, "realised"));
      if (json_object_get(act, "reason"))
        ev.reason = keten_tvs_reason_from_name(s_str(act, "reason"));
      if (!inflight->has_tvs) {
        /* Drawn here and kept before the first attempt: a re-run sends the
         * same record, which the broker answers as a duplicate. */
        if (getrandom(inflight->tvs_event_id, sizeof inflight->tvs_event_id, 0) !=
            (ssize_t)sizeof inflight->tvs_event_id) {
          snprintf(why, whylen, "getrandom: %s", strerror(errno));
          rc = ADAPTER_PUB_TRANSIENT;
          break;
        }
        inflight->tvs_event_id[0] |= 1; /* never all zeros */
        inflight->tvs_published_at_ms = (uint64_t)adapter_wall_ms();
        inflight->has_tvs = 1;
        if (adapter_inflight_save(a, inflight) != 0) {
          inflight->has_tvs = 0;
          snprintf(why, whylen, "cannot write the inflight file in %s: %s",
                   a->cfg.state_dir, strerror(errno));
          rc = ADAPTER_PUB_TRANSIENT;
          break;
        }
      }
      memcpy(ev.event_id, inflight->tvs_event_id, sizeof ev.event_id);
      ev.published_at_ms = inflight->tvs_published_at_ms;
      keten_tvs_published_t pub;
      memset(&pub, 0, sizeof pub);
      keten_err_t r = keten_client_tvs_publish(a->tvs, &ev, &pub);
      if (r != KETEN_OK) {
        char step[128];
        snprintf(step, sizeof step, "TVS %s", s_str(act, "event"));
        rc = s_call_failed(a, a->tvs, r, step, progress, why, whylen);
        break;
      }
      a->n_published++;
      s_done(progress, sizeof progress, "TVS %s%s", s_str(act, "event"),
             pub.duplicate ? " (before)" : "");
      adapter_log(a, ADAPTER_LOG_INFO,
                  "TVS %s published%s: queued for %zu feed(s), %u rewrap(s)",
                  s_str(act, "event"), pub.duplicate ? " (a duplicate)" : "",
                  pub.n_queued, pub.rewraps_queued);
    }
  }
  free(list);
  keten_fetch_result_free(&fetched);
  json_decref(plan);
  if (rc == ADAPTER_PUB_OK)
    snprintf(why, whylen, "%s", progress);
  return rc;
}
