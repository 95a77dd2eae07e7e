/* report — the person's access report (AVG art. 15), pure: audit entries
 * and what the store says about them in, report rows out, rendered as
 * text, JSON or one static HTML file in the person's language.
 *
 * No store and no I/O here but the FILE the caller hands in (and
 * report_catalog_load(), which reads one catalog file): cmd_report.c
 * reads the store read-only and fills a report_input_t; the unit test
 * (tests/unit/test_report.c) fills one from fixed entries.
 *
 * What is a disclosure (docs/protocol.md 10.1): a keten.section.deliver
 * entry with status OK (the author's section put in the recipient's
 * delivery frame) that no later keten.delivery.unsent entry withdraws,
 * and a keten.section.fetch entry with status OK whose reader is not the
 * author. Disclosures of the same (recipient, author, kind, version) are
 * one row, with the first time, how (delivered and/or fetched) and how
 * many times. Refusals, consent changes, TVS events, notices and
 * erasures are listed apart.
 *
 * Section versions are not in the audit entries; they are derived from
 * them and the store's section rows: the k-th stored PUT of (author,
 * kind) is the k-th lowest stored version (exact when the store still
 * holds every version; else the version is unknown, 0); a delivery is of
 * the version its keten.section.queue entry queued (first in, first out
 * per author, recipient and kind, as mailboxes are); a fetch is of the
 * latest version stored at that moment.
 */
#ifndef KETEN_REPORT_H
#define KETEN_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "audit.h"
#include "participant.h"

#define REPORT_ID_MAX PARTICIPANT_ID_MAX
#define REPORT_NAME_MAX PARTICIPANT_NAME_MAX
#define REPORT_TEXT_MAX 256 /* evidence references, legal references */

/* A participant as the registry knows (or knew) it. */
typedef struct {
  char id[REPORT_ID_MAX + 1];
  char name[REPORT_NAME_MAX + 1]; /* display name of its newest entry */
  int removed;                    /* no entry of it is installed now */
} report_party_t;

/* A consent of the person, from the consent table and its signed record. */
typedef struct {
  uint8_t consent_id[16];
  char recorded_by[REPORT_ID_MAX + 1];
  char recipient[REPORT_ID_MAX + 1]; /* or "@gemeente" */
  uint64_t sections;                 /* bit n: kind n */
  int purpose, basis;
  int64_t recorded_at_ms, valid_from_ms, valid_until_ms;
  char evidence_ref[REPORT_TEXT_MAX + 1];
  char legal_reference[REPORT_TEXT_MAX + 1];
  int revoked;
  int64_t revoked_at_ms;
  char revoked_by[REPORT_ID_MAX + 1];
  char revocation_evidence[REPORT_TEXT_MAX + 1];
  char revocation_reason[REPORT_TEXT_MAX + 1];
} report_consent_t;

/* One stored section version of the person (any order). */
typedef struct {
  int kind;
  char author[REPORT_ID_MAX + 1];
  uint64_t version;
} report_version_t;

typedef struct {
  uint8_t subject[32];
  const audit_entry_t *entries; /* the subject's entries, in seq order */
  size_t n_entries;
  const audit_entry_t *unsent; /* every keten.delivery.unsent entry (they
                                  carry no subject), in seq order */
  size_t n_unsent;
  const report_party_t *parties;
  size_t n_parties;
  const report_consent_t *consents;
  size_t n_consents;
  const report_version_t *versions;
  size_t n_versions;
  uint64_t audit_size; /* entries in the whole log */
  int has_head;        /* a signed tree head is stored */
  uint64_t head_size;
  int64_t head_ms;
  uint8_t head_root[32];
  uint8_t head_key[32];       /* the broker key that signed the head */
  uint8_t head_signature[64];
  int64_t generated_ms;
  const char *time_zone; /* for the header only: localtime_r uses TZ */
} report_input_t;

enum { REPORT_HOW_DELIVERED = 1, REPORT_HOW_FETCHED = 2 };

/* One disclosure row: (recipient, author, kind, version) merged. */
typedef struct {
  char recipient[REPORT_ID_MAX + 1];
  char author[REPORT_ID_MAX + 1];
  int kind;
  uint64_t version; /* 0: unknown */
  int64_t first_ms, last_ms;
  int how; /* REPORT_HOW_* bits */
  unsigned times;
  int purpose;
  uint8_t consent_id[16];
  const report_consent_t *consent; /* into the input, or NULL */
  uint64_t first_seq;              /* audit entry of the first disclosure */
  uint64_t seqs[8];                /* the first few entries, for proofs */
  size_t n_seqs;
  /* The inclusion proof of first_seq against the input's head (the
   * caller sets it after report_build(), see report_proof_bundle();
   * report_free() releases it): a json_t * bundle, or NULL with
   * proof_missing one of the REPORT_PROOF_* reasons. */
  void *proof;
  int proof_missing;
} report_disclosure_t;

/* Why a disclosure has no proof (catalog key "proof.missing.NAME"). */
enum {
  REPORT_PROOF_NO_HEAD = 1, /* "no_head": no signed tree head is stored */
  REPORT_PROOF_NEWER,       /* "newer": the entry is newer than the latest
                               head; a later report (after the broker signs
                               again) carries it */
  REPORT_PROOF_UNAVAILABLE  /* "unavailable": the stored log does not
                               give a proof that checks against the head
                               (run keten audit verify) */
};

/* Parts listed apart from the disclosures. */
enum {
  REPORT_PART_REFUSALS = 0,
  REPORT_PART_CONSENTS,
  REPORT_PART_TVS,
  REPORT_PART_NOTICES,
  REPORT_PART_ERASURES,
  REPORT_N_PARTS
};

/* One event of a part. type is a catalog key suffix ("fetch_denied",
 * "granted", "linked", ...): the catalog's "event.TYPE". */
typedef struct {
  const char *type;
  uint64_t seq;
  int64_t ms;
  char who[REPORT_ID_MAX + 1];   /* who acted (asked, recorded, revoked) */
  char other[REPORT_ID_MAX + 1]; /* whom it concerned */
  int kind;                      /* 0: none */
  int purpose;
  uint8_t consent_id[16];
  const report_consent_t *consent; /* or NULL */
  char detail[128];                /* the broker's fixed English text */
} report_event_t;

typedef struct {
  const report_input_t *in;
  report_disclosure_t *disclosures;
  size_t n_disclosures;
  report_event_t *events[REPORT_N_PARTS];
  size_t n_events[REPORT_N_PARTS];
  int64_t period_from_ms, period_to_ms; /* the subject's first and last
                                           entry; 0 when none */
  size_t withdrawn;                     /* deliveries withdrawn (unsent) */
} report_t;

/* Builds the rows of in (which must outlive out). 0, or -1 (no memory). */
int report_build(const report_input_t *in, report_t *out);
void report_free(report_t *r);

/* The inclusion-proof bundle `keten audit prove` checks (docs/protocol.md
 * 10.5, docs/operations.md 12.11), as a new json_t *:
 *   {"head":{"size","root","timestamp_ms","broker_key","signature"},
 *    "seq":N,"entry_hex":"<entry string keten/audit/v1>",
 *    "inclusion":["<64 hex>",...]}
 * for entry e against in's head, with the n hashes at proof (lowest level
 * first). NULL when in has no head or out of memory. */
void *report_proof_bundle(const report_input_t *in, const audit_entry_t *e,
                          const uint8_t *proof, size_t n);

/* ---- translations ---------------------------------------------------------- */

/* A language: share/keten/report/LANG.json, one flat JSON object of
 * strings; a key missing there is taken from en.json, and a key missing
 * there too is shown as the key itself. */
typedef struct {
  void *lang;     /* json_t * */
  void *fallback; /* json_t * (en), may be NULL */
  char code[16];
  int rtl; /* the catalog's "dir" is "rtl" */
} report_catalog_t;

/* 1 if lang is a language code keten accepts ([a-z]{2,3}, optionally
 * "-" and up to 8 letters or digits): it names a file. */
int report_lang_valid(const char *lang);

/* Loads DIR/LANG.json and DIR/en.json. 0, or -1 with a reason in err. */
int report_catalog_load(report_catalog_t *c, const char *dir, const char *lang,
                        char *err, size_t errlen);
void report_catalog_free(report_catalog_t *c);

/* The text of key in c's language (never NULL). */
const char *report_tr(const report_catalog_t *c, const char *key);

/* ---- rendering ------------------------------------------------------------- */

enum { REPORT_TEXT = 1, REPORT_HTML, REPORT_JSON };

/* Writes r in format to out. Times are local (localtime_r: the caller
 * sets TZ). 0, or -1 on a write error or no memory. */
int report_render(const report_t *r, const report_catalog_t *c, int format,
                  FILE *out);

/* Appends s to buf (of cap bytes, NUL-terminated) with &, <, >, " and '
 * escaped for HTML; returns how many bytes the escaped text needs. */
size_t report_html_escape(const char *s, char *buf, size_t cap);

#endif
