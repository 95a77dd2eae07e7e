/* fanout_store — keys, subjects and the big pre-populated stores of
 * keten-bench-fanout (phases (c) and (d)); see fanout.h and
 * bench/README.md.
 *
 * The stores are written directly through broker/store.h, before any
 * ketend opens them, in transactions of tens of thousands of rows. Keys
 * are inserted in ascending order where the schema allows (subjects are
 * sorted first, consent ids carry a counter), which is what makes a
 * million rows take seconds rather than minutes; the rows themselves look
 * like the broker's own: registry entries signed by the run's chain root,
 * consents recorded by their sections' authors for what the policy table
 * allows, sections carrying the signing key of their author's entry. */
#include "fanout.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "bench_ketend.h"
#include "bench_measure.h"
#include "canon.h"
#include "consent.h"
#include "keten.pb-c.h"
#include "participant.h"
#include "policy.h"

/* Rows per transaction. */
#define FO_TX_ROWS 50000
/* Sections per batch handed from the signer threads to the inserter. */
#define FO_BATCH 1024
#define FO_FILLER_CT_BYTES 256

/* ---- ids, keys, subjects ------------------------------------------------- */

static char s_ids[FO_MAX_PRODUCERS + FO_RECIPIENTS + FO_FILLERS][16];
static pthread_once_t s_ids_once = PTHREAD_ONCE_INIT;

static void s_ids_init(void) {
  for (int p = 0; p < FO_MAX_PRODUCERS; p++)
    snprintf(s_ids[p], sizeof s_ids[p], "prod-%d", p);
  for (int r = 0; r < FO_RECIPIENTS; r++)
    snprintf(s_ids[FO_MAX_PRODUCERS + r], sizeof s_ids[0], "recv-%d", r);
  for (int f = 0; f < FO_FILLERS; f++)
    snprintf(s_ids[FO_MAX_PRODUCERS + FO_RECIPIENTS + f], sizeof s_ids[0],
             "fill-%d", f);
}

const char *fo_producer_id(int p) {
  pthread_once(&s_ids_once, s_ids_init);
  return p >= 0 && p < FO_MAX_PRODUCERS ? s_ids[p] : "";
}

const char *fo_recipient_id(int r) {
  pthread_once(&s_ids_once, s_ids_init);
  return r >= 0 && r < FO_RECIPIENTS ? s_ids[FO_MAX_PRODUCERS + r] : "";
}

const char *fo_filler_id(int f) {
  pthread_once(&s_ids_once, s_ids_init);
  return f >= 0 && f < FO_FILLERS
             ? s_ids[FO_MAX_PRODUCERS + FO_RECIPIENTS + f]
             : "";
}

/* BLAKE2b-256 keyed with seed over "what/id/n". */
static void s_derive(uint8_t out[32], const uint8_t seed[FO_SEED_BYTES],
                     const char *what, const char *id, uint64_t n) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, seed, FO_SEED_BYTES, 32);
  crypto_generichash_update(&st, (const uint8_t *)what, strlen(what));
  crypto_generichash_update(&st, (const uint8_t *)"/", 1);
  crypto_generichash_update(&st, (const uint8_t *)id, strlen(id));
  uint8_t be[8];
  for (int i = 7; i >= 0; i--, n >>= 8)
    be[i] = (uint8_t)n;
  crypto_generichash_update(&st, be, sizeof be);
  crypto_generichash_final(&st, out, 32);
}

static void s_keys_for(keten_keys_t *k, const uint8_t seed[FO_SEED_BYTES],
                       const char *id) {
  uint8_t t[32], s[32], e[32];
  memset(k, 0, sizeof *k);
  snprintf(k->id, sizeof k->id, "%s", id);
  s_derive(t, seed, "transport", id, 0);
  s_derive(s, seed, "signing", id, 0);
  s_derive(e, seed, "sealing", id, 0);
  crypto_box_seed_keypair(k->transport_pk, k->transport_sk, t);
  crypto_sign_seed_keypair(k->signing_pk, k->signing_sk, s);
  crypto_box_seed_keypair(k->sealing_pk, k->sealing_sk, e);
  k->has_secret = 1;
  sodium_memzero(t, sizeof t);
  sodium_memzero(s, sizeof s);
  sodium_memzero(e, sizeof e);
}

void fo_keys_derive(fo_keys_t *k, const uint8_t seed[FO_SEED_BYTES]) {
  uint8_t root_seed[32];
  memset(&k->root, 0, sizeof k->root);
  s_derive(root_seed, seed, "root", "chain", 0);
  crypto_sign_seed_keypair(k->root.public_key, k->root.secret_key, root_seed);
  k->root.has_secret = 1;
  sodium_memzero(root_seed, sizeof root_seed);
  s_keys_for(&k->broker, seed, "ketend");
  for (int p = 0; p < FO_MAX_PRODUCERS; p++)
    s_keys_for(&k->producer[p], seed, fo_producer_id(p));
  for (int r = 0; r < FO_RECIPIENTS; r++)
    s_keys_for(&k->recipient[r], seed, fo_recipient_id(r));
  for (int f = 0; f < FO_FILLERS; f++)
    s_keys_for(&k->filler[f], seed, fo_filler_id(f));
}

void fo_keys_wipe(fo_keys_t *k) {
  keten_root_key_wipe(&k->root);
  keten_keys_wipe(&k->broker);
  for (int p = 0; p < FO_MAX_PRODUCERS; p++)
    keten_keys_wipe(&k->producer[p]);
  for (int r = 0; r < FO_RECIPIENTS; r++)
    keten_keys_wipe(&k->recipient[r]);
  for (int f = 0; f < FO_FILLERS; f++)
    keten_keys_wipe(&k->filler[f]);
}

void fo_subject(const uint8_t seed[FO_SEED_BYTES], int p, unsigned s,
                uint8_t out[32]) {
  s_derive(out, seed, "subject", fo_producer_id(p), s);
  out[28] = 0xb5; /* marks a bench subject */
  out[29] = (uint8_t)p;
  out[30] = (uint8_t)(s >> 8);
  out[31] = (uint8_t)s;
}

int fo_subject_slot(const uint8_t subject[32], int *p, unsigned *s) {
  if (subject[28] != 0xb5 || subject[29] >= FO_MAX_PRODUCERS)
    return -1;
  *p = subject[29];
  *s = (unsigned)subject[30] << 8 | subject[31];
  return 0;
}

size_t fo_plaintext(char *buf, size_t len, int p, uint64_t k) {
  /* {"bench":"keten-fanout","p":P,"k":K,"language":"nl","text":"xxxx...x"}:
   * a STORY that conforms to its schema (docs/sections.md 3) */
  int n = snprintf(buf, len, "{\"bench\":\"keten-fanout\",\"p\":%d,\"k\":%llu,",
                   p, (unsigned long long)k);
  size_t prefix = n > 0 ? (size_t)n : 0;
  size_t at = prefix;
  static const char open[] = "\"language\":\"nl\",\"text\":\"", close[] = "\"}";
  memcpy(buf + at, open, sizeof open - 1);
  at += sizeof open - 1;
  size_t fill = len - at - (sizeof close - 1);
  memset(buf + at, 'x', fill);
  at += fill;
  memcpy(buf + at, close, sizeof close - 1);
  return prefix;
}

/* ---- registry ------------------------------------------------------------ */

static const char *const s_recipient_roles[FO_RECIPIENTS] = {
    "GEMEENTE", "VOLUNTEER", "CARE"};

const char *fo_recipient_role(int r) {
  return r >= 0 && r < FO_RECIPIENTS ? s_recipient_roles[r] : "";
}

static const char *s_filler_role(int f) { return f % 2 ? "GEMEENTE" : "CARE"; }

int fo_register(store_t *store, const fo_keys_t *k, int fillers, char *err,
                size_t errlen) {
  int64_t now = bench_wall_ms();
  for (int p = 0; p < FO_MAX_PRODUCERS; p++)
    if (bench_entry_add(store, &k->root, &k->producer[p], "COA",
                        "bench producer", now, err, errlen))
      return -1;
  for (int r = 0; r < FO_RECIPIENTS; r++)
    if (bench_entry_add(store, &k->root, &k->recipient[r],
                        s_recipient_roles[r], "bench recipient", now, err,
                        errlen))
      return -1;
  for (int f = 0; fillers && f < FO_FILLERS; f++)
    if (bench_entry_add(store, &k->root, &k->filler[f], s_filler_role(f),
                        "bench filler", now, err, errlen))
      return -1;
  return 0;
}

/* ---- shared helpers ------------------------------------------------------ */

static void s_unlink_db(const char *path) {
  static const char *const ext[] = {"", "-wal", "-shm", "-journal"};
  char p[1024];
  for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
    snprintf(p, sizeof p, "%s%s", path, ext[i]);
    unlink(p);
  }
}

static int s_cmp32(const void *a, const void *b) { return memcmp(a, b, 32); }

/* n sorted pseudo-random subjects (what distinguishes the sets). */
static uint8_t (*s_subjects(const uint8_t seed[FO_SEED_BYTES], const char *what,
                            uint64_t n))[32] {
  uint8_t(*subj)[32] = malloc((size_t)(n ? n : 1) * 32);
  if (!subj)
    return NULL;
  for (uint64_t i = 0; i < n; i++)
    s_derive(subj[i], seed, what, "", i);
  qsort(subj, (size_t)n, 32, s_cmp32);
  return subj;
}

typedef struct {
  fo_progress_fn fn;
  void *arg;
  int64_t next_ms;
} s_progress_t;

static void s_progress(s_progress_t *pr, const char *what, uint64_t done,
                       uint64_t total, int force) {
  int64_t now = bench_now_ns() / 1000000;
  if (!pr->fn || (!force && now < pr->next_ms))
    return;
  pr->next_ms = now + 1000;
  pr->fn(what, done, total, pr->arg);
}

/* Commits and begins anew every FO_TX_ROWS rows. */
static int s_tx_step(store_t *st, uint64_t *rows, char *err, size_t errlen) {
  if (++*rows % FO_TX_ROWS)
    return 0;
  if (store_commit(st) != 0 || store_begin(st) != 0) {
    snprintf(err, errlen, "commit: %s", store_error(st));
    return -1;
  }
  return 0;
}

/* A packed Consent record as the broker stores it, with a dummy signature
 * (the store never re-checks it). Returns its length; buf holds 1024. */
static size_t s_consent_record(const consent_t *c, uint8_t *buf, size_t cap) {
  Keten__SectionKind kinds[64];
  size_t nk = 0;
  for (int kind = 1; kind < 64; kind++)
    if (c->sections & (UINT64_C(1) << kind))
      kinds[nk++] = (Keten__SectionKind)kind;
  uint8_t sig[64];
  memset(sig, 0xa5, sizeof sig);
  Keten__Consent k = KETEN__CONSENT__INIT;
  k.consent_id.data = (uint8_t *)c->consent_id;
  k.consent_id.len = CONSENT_ID_BYTES;
  k.subject.data = (uint8_t *)c->subject;
  k.subject.len = CONSENT_SUBJECT_BYTES;
  k.recorded_by = (char *)c->recorded_by;
  k.recipient = (char *)c->recipient;
  k.sections = kinds;
  k.n_sections = nk;
  k.purpose = (Keten__Purpose)c->purpose;
  k.basis = (Keten__Basis)c->basis;
  k.legal_reference = "";
  k.valid_from_ms = (uint64_t)c->valid_from_ms;
  k.valid_until_ms = (uint64_t)c->valid_until_ms;
  k.evidence_ref = "keten-bench filler consent form";
  k.recorded_at_ms = (uint64_t)c->valid_from_ms;
  k.signature.data = sig;
  k.signature.len = sizeof sig;
  size_t len = keten__consent__get_packed_size(&k);
  if (len > cap)
    return 0;
  keten__consent__pack(&k, buf);
  return len;
}

/* ---- phase (c): 100 000 subjects, 1 000 000 consents --------------------- */

/* The (kind, purpose) pairs a recorder of one role may grant a recipient
 * of another with basis CONSENT and no legal reference: the policy
 * table's answer (policy_may_record), one kind at a time. */
typedef struct {
  int kind, purpose;
} s_grant_t;

#define S_ROLES 8                 /* keten.Role numbers stay below */
#define S_MAX_GRANTS 64

typedef struct {
  s_grant_t g[S_MAX_GRANTS];
  size_t n;
} s_grants_t;

static void s_grants_for(int from, int to, s_grants_t *out) {
  out->n = 0;
  for (int kind = 1; kind < 64; kind++)
    for (int purpose = 1; purpose <= KETEN__PURPOSE__PURPOSE_BEGELEIDING;
         purpose++)
      if (out->n < S_MAX_GRANTS &&
          policy_may_record(from, to, 0, UINT64_C(1) << kind, purpose,
                            FO_BASIS, 0, NULL) == POLICY_OK)
        out->g[out->n++] = (s_grant_t){kind, purpose};
}

/* Who consents go to: the fillers and the bench's own recipients. */
typedef struct {
  const char *id;
  int role;
  const uint8_t *signing_pk;
} s_party_t;

int fo_build_big(const char *path, const fo_keys_t *k,
                 const uint8_t seed[FO_SEED_BYTES], uint64_t n_subjects,
                 uint64_t n_consents, fo_progress_fn progress, void *arg,
                 char *err, size_t errlen) {
  s_unlink_db(path);
  char reason[300];
  store_t *st = store_open(path, reason, sizeof reason);
  if (!st) {
    snprintf(err, errlen, "%s", reason);
    return -1;
  }
  uint8_t(*subj)[32] = NULL;
  int rc = -1;
  if (fo_register(st, k, 1, reason, sizeof reason) != 0) {
    snprintf(err, errlen, "registry: %s", reason);
    goto done;
  }
  if (n_subjects == 0)
    n_subjects = 1;
  subj = s_subjects(seed, "big-subject", n_subjects);
  if (!subj) {
    snprintf(err, errlen, "out of memory");
    goto done;
  }
  /* Who consents go to: the fillers and the bench's own recipients (so
   * that their rows are mixed in with everyone else's). Recorders are the
   * fillers, which also author their subjects' sections. */
  s_party_t pool[FO_FILLERS + FO_RECIPIENTS];
  for (int f = 0; f < FO_FILLERS; f++)
    pool[f] = (s_party_t){fo_filler_id(f),
                          keten_role_from_name(s_filler_role(f)),
                          k->filler[f].signing_pk};
  for (int r = 0; r < FO_RECIPIENTS; r++)
    pool[FO_FILLERS + r] =
        (s_party_t){fo_recipient_id(r),
                    keten_role_from_name(s_recipient_roles[r]),
                    k->recipient[r].signing_pk};
  const int n_pool = FO_FILLERS + FO_RECIPIENTS;
  static s_grants_t grants[S_ROLES][S_ROLES];
  for (int a = 0; a < S_ROLES; a++)
    for (int b = 0; b < S_ROLES; b++)
      s_grants_for(a, b, &grants[a][b]);
  int64_t now = bench_wall_ms();
  uint8_t record[1024], ct[FO_FILLER_CT_BYTES], nonce[24], sig[64], wrap[80];
  randombytes_buf(ct, sizeof ct);
  randombytes_buf(wrap, sizeof wrap);
  memset(sig, 0x5a, sizeof sig);
  s_progress_t pr = {progress, arg, 0};
  uint64_t rows = 0, made = 0;
  if (store_begin(st) != 0) {
    snprintf(err, errlen, "begin: %s", store_error(st));
    goto done;
  }
  for (uint64_t j = 0; j < n_subjects; j++) {
    uint64_t per = n_consents / n_subjects + (j < n_consents % n_subjects);
    const s_party_t *rec_party = &pool[j % FO_FILLERS];
    const char *recorder = rec_party->id;
    const char *first_recipient = NULL;
    /* the subject's section: a kind its recorder writes, the first
     * consent's when there is one */
    int section_kind = 0;
    for (int kind = 1; kind < 64 && !section_kind; kind++)
      if (policy_author_kinds(rec_party->role) & (UINT64_C(1) << kind))
        section_kind = kind;
    for (uint64_t c = 0; c < per; c++) {
      consent_t cs;
      memset(&cs, 0, sizeof cs);
      /* ascending ids: an 8-byte counter, then 8 pseudo-random bytes */
      uint64_t id = made;
      for (int b = 7; b >= 0; b--, id >>= 8)
        cs.consent_id[b] = (uint8_t)id;
      randombytes_buf(cs.consent_id + 8, 8);
      memcpy(cs.subject, subj[j], 32);
      snprintf(cs.recorded_by, sizeof cs.recorded_by, "%s", recorder);
      /* a recipient the policy lets this recorder grant anything to */
      const s_party_t *to_party = NULL;
      const s_grants_t *gs = NULL;
      for (int t = 0; t < n_pool && !to_party; t++) {
        const s_party_t *cand = &pool[(j * 13 + c * 7 + 1 + (uint64_t)t) %
                                      (uint64_t)n_pool];
        gs = &grants[rec_party->role][cand->role];
        if (strcmp(cand->id, recorder) != 0 && gs->n)
          to_party = cand;
      }
      if (!to_party) {
        snprintf(err, errlen, "the policy lets %s grant nothing", recorder);
        goto rollback;
      }
      const char *to = to_party->id;
      /* one or two kinds under one purpose, varied over the rows */
      const s_grant_t *g1 = &gs->g[(j + c) % gs->n];
      const s_grant_t *g2 = &gs->g[(j * 3 + c * 5 + 1) % gs->n];
      cs.sections = UINT64_C(1) << g1->kind;
      if (g2->purpose == g1->purpose)
        cs.sections |= UINT64_C(1) << g2->kind;
      cs.purpose = g1->purpose;
      cs.basis = FO_BASIS;
      cs.has_legal_reference = 0;
      if (policy_may_record(rec_party->role, to_party->role, 0, cs.sections,
                            cs.purpose, cs.basis, 0, NULL) != POLICY_OK) {
        snprintf(err, errlen, "bench bug: a consent the policy refuses");
        goto rollback;
      }
      if (!first_recipient) {
        first_recipient = to;
        section_kind = g1->kind;
      }
      snprintf(cs.recipient, sizeof cs.recipient, "%s", to);
      /* recorded after the recorder's entry became valid (an hour ago) */
      cs.valid_from_ms = now - 1800LL * 1000;
      cs.valid_until_ms = now + 365LL * 86400 * 1000;
      size_t len = s_consent_record(&cs, record, sizeof record);
      if (len == 0 || store_consent_put(st, &cs, record, len) != 0) {
        snprintf(err, errlen, "consent: %s", store_error(st));
        goto rollback;
      }
      audit_entry_t e;
      memset(&e, 0, sizeof e);
      snprintf(e.name, sizeof e.name, "keten.consent.grant");
      e.status = AUDIT_STATUS_OK;
      randombytes_buf(e.trace_id, sizeof e.trace_id);
      randombytes_buf(e.operation_id, sizeof e.operation_id);
      memcpy(e.foreign_trace_id, e.trace_id, sizeof e.trace_id);
      e.start_ms = e.end_ms = cs.valid_from_ms;
      snprintf(e.actor, sizeof e.actor, "%s", recorder);
      snprintf(e.counterparty, sizeof e.counterparty, "%s", to);
      memcpy(e.subject, cs.subject, 32);
      memcpy(e.consent_id, cs.consent_id, CONSENT_ID_BYTES);
      e.purpose = cs.purpose;
      snprintf(e.detail, sizeof e.detail, "consent recorded");
      if (store_audit_append(st, &e) != 0) {
        snprintf(err, errlen, "audit: %s", store_error(st));
        goto rollback;
      }
      made++;
      if (s_tx_step(st, &rows, err, errlen) != 0)
        goto rollback;
    }
    /* one small section per subject, by the recorder, with two wraps */
    store_section_t sec;
    memset(&sec, 0, sizeof sec);
    memcpy(sec.subject, subj[j], 32);
    sec.kind = section_kind;
    snprintf(sec.author, sizeof sec.author, "%s", recorder);
    sec.version = 1;
    sec.created_at_ms = now - 60 * 1000;
    memcpy(sec.author_signing_pk, rec_party->signing_pk, 32);
    sec.has_author_key = 1;
    randombytes_buf(nonce, sizeof nonce);
    sec.nonce = nonce;
    sec.nonce_len = sizeof nonce;
    sec.ciphertext = ct;
    sec.ciphertext_len = sizeof ct;
    sec.signature = sig;
    sec.signature_len = sizeof sig;
    int64_t sid = 0;
    if (store_section_put(st, &sec, &sid) != 0 ||
        store_wrap_put(st, sid, recorder, wrap, sizeof wrap) != 0 ||
        (first_recipient &&
         store_wrap_put(st, sid, first_recipient, wrap, sizeof wrap) != 0)) {
      snprintf(err, errlen, "section: %s", store_error(st));
      goto rollback;
    }
    if (s_tx_step(st, &rows, err, errlen) != 0)
      goto rollback;
    s_progress(&pr, "consents", made, n_consents, 0);
  }
  if (store_commit(st) != 0) {
    snprintf(err, errlen, "commit: %s", store_error(st));
    goto rollback;
  }
  s_progress(&pr, "consents", made, n_consents, 1);
  rc = 0;
  goto done;
rollback:
  store_rollback(st);
done:
  free(subj);
  store_close(&st); /* checkpoints the WAL into the file */
  if (rc != 0)
    s_unlink_db(path);
  return rc;
}

/* ---- phase (d): 1 000 000 sections queued for an offline recipient ------- */

typedef struct {
  uint64_t first;                 /* index of the first section */
  size_t n;
  int64_t created_at_ms[FO_BATCH];
  uint8_t nonce[FO_BATCH][24];
  uint8_t sig[FO_BATCH][64];
  uint8_t *ct;                    /* n * (pt_bytes + 16) */
} s_batch_t;

typedef struct {
  /* read-only after start */
  const fo_keys_t *k;
  uint8_t (*subj)[32];
  uint64_t n_sections, n_subjects;
  size_t pt_bytes;
  int n_producers;
  uint8_t key[32];                /* one data key for all: the wraps repeat */
  int n_slots;
  s_batch_t *slots;
  /* shared, under mu */
  pthread_mutex_t mu;
  pthread_cond_t ready_cv, free_cv;
  uint64_t next_batch;            /* the next batch a signer takes */
  uint64_t consumed;              /* batches the inserter is done with */
  uint64_t *ready;                /* per slot: batch number + 1 when filled */
  int abort;
} s_queue_t;

static uint64_t s_n_batches(const s_queue_t *q) {
  return (q->n_sections + FO_BATCH - 1) / FO_BATCH;
}

/* Header of section i: subject i mod n_subjects, version i / n_subjects + 1. */
static void s_queue_header(const s_queue_t *q, uint64_t i, int64_t created,
                           Keten__SectionHeader *h, uint64_t *subject_index) {
  uint64_t j = i % q->n_subjects;
  keten__section_header__init(h);
  h->subject.data = q->subj[j];
  h->subject.len = 32;
  h->kind = (Keten__SectionKind)FO_KIND;
  h->author = (char *)fo_producer_id((int)(j % (uint64_t)q->n_producers));
  h->version = i / q->n_subjects + 1;
  h->created_at_ms = (uint64_t)created;
  *subject_index = j;
}

static void s_fill_batch(s_queue_t *q, s_batch_t *b, uint64_t batch,
                         char *pt) {
  b->first = batch * FO_BATCH;
  b->n = FO_BATCH;
  if (b->first + b->n > q->n_sections)
    b->n = (size_t)(q->n_sections - b->first);
  size_t ct_len = q->pt_bytes + 16;
  int64_t created = bench_wall_ms();
  for (size_t r = 0; r < b->n; r++) {
    uint64_t i = b->first + r, j;
    Keten__SectionHeader h;
    s_queue_header(q, i, created, &h, &j);
    int p = (int)(j % (uint64_t)q->n_producers);
    b->created_at_ms[r] = created;
    randombytes_buf(b->nonce[r], 24);
    fo_plaintext(pt, q->pt_bytes, p, i);
    canon_t ad;
    canon_init(&ad);
    canon_section_header(&ad, &h);
    unsigned long long clen = 0;
    uint8_t *ct = b->ct + r * ct_len;
    crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &clen, (const uint8_t *)pt,
                                               q->pt_bytes, ad.data, ad.len,
                                               NULL, b->nonce[r], q->key);
    canon_free(&ad);
    Keten__SealedSection s = KETEN__SEALED_SECTION__INIT;
    s.header = &h;
    s.nonce.data = b->nonce[r];
    s.nonce.len = 24;
    s.ciphertext.data = ct;
    s.ciphertext.len = ct_len;
    canon_sign_section(&s, q->k->producer[p].signing_sk, b->sig[r]);
  }
}

static void *s_signer(void *arg) {
  s_queue_t *q = arg;
  char *pt = malloc(q->pt_bytes + 1);
  uint64_t total = s_n_batches(q);
  for (;;) {
    pthread_mutex_lock(&q->mu);
    uint64_t batch = q->next_batch;
    if (batch < total)
      q->next_batch++;
    while (!q->abort && batch < total &&
           batch >= q->consumed + (uint64_t)q->n_slots)
      pthread_cond_wait(&q->free_cv, &q->mu);
    int stop = q->abort || batch >= total || !pt;
    if (!pt)
      q->abort = 1;
    pthread_mutex_unlock(&q->mu);
    if (stop)
      break;
    int slot = (int)(batch % (uint64_t)q->n_slots);
    s_fill_batch(q, &q->slots[slot], batch, pt);
    pthread_mutex_lock(&q->mu);
    q->ready[slot] = batch + 1;
    pthread_cond_broadcast(&q->ready_cv);
    pthread_mutex_unlock(&q->mu);
  }
  free(pt);
  pthread_mutex_lock(&q->mu);
  pthread_cond_broadcast(&q->ready_cv);
  pthread_mutex_unlock(&q->mu);
  return NULL;
}

int fo_build_queue(const char *path, const fo_keys_t *k,
                   const uint8_t seed[FO_SEED_BYTES], uint64_t n_sections,
                   uint64_t n_subjects, size_t pt_bytes, int n_producers,
                   int threads, fo_progress_fn progress, void *arg, char *err,
                   size_t errlen) {
  if (n_producers < 1 || n_producers > FO_MAX_PRODUCERS || pt_bytes < 64 ||
      n_subjects == 0 || threads < 1 || threads > 16) {
    snprintf(err, errlen, "bad queue parameters");
    return -1;
  }
  if (n_subjects > n_sections)
    n_subjects = n_sections ? n_sections : 1;
  s_unlink_db(path);
  char reason[300];
  store_t *st = store_open(path, reason, sizeof reason);
  if (!st) {
    snprintf(err, errlen, "%s", reason);
    return -1;
  }
  s_queue_t q;
  memset(&q, 0, sizeof q);
  q.k = k;
  q.n_sections = n_sections;
  q.n_subjects = n_subjects;
  q.pt_bytes = pt_bytes;
  q.n_producers = n_producers;
  q.n_slots = 2 * threads + 2;
  crypto_aead_xchacha20poly1305_ietf_keygen(q.key);
  pthread_mutex_init(&q.mu, NULL);
  pthread_cond_init(&q.ready_cv, NULL);
  pthread_cond_init(&q.free_cv, NULL);
  pthread_t tid[16];
  int started = 0, rc = -1;
  const char *recipient = fo_recipient_id(0);
  uint8_t wrap_author[FO_MAX_PRODUCERS][80], wrap_recipient[80];
  for (int p = 0; p < n_producers; p++)
    crypto_box_seal(wrap_author[p], q.key, 32, k->producer[p].sealing_pk);
  crypto_box_seal(wrap_recipient, q.key, 32, k->recipient[0].sealing_pk);
  s_progress_t pr = {progress, arg, 0};
  uint64_t rows = 0;

  q.subj = s_subjects(seed, "queue-subject", n_subjects);
  q.slots = calloc((size_t)q.n_slots, sizeof *q.slots);
  q.ready = calloc((size_t)q.n_slots, sizeof *q.ready);
  int ok = q.subj && q.slots && q.ready;
  for (int i = 0; ok && i < q.n_slots; i++)
    ok = (q.slots[i].ct = malloc(FO_BATCH * (pt_bytes + 16))) != NULL;
  if (!ok) {
    snprintf(err, errlen, "out of memory");
    goto done;
  }
  if (fo_register(st, k, 0, reason, sizeof reason) != 0) {
    snprintf(err, errlen, "registry: %s", reason);
    goto done;
  }
  int64_t now = bench_wall_ms();
  uint8_t record[1024];
  if (store_begin(st) != 0) {
    snprintf(err, errlen, "begin: %s", store_error(st));
    goto done;
  }
  /* the consents: recipient 0 may read every subject's sections, each
   * recorded by the producer that authors that subject's sections (COA
   * may send STORY to a GEMEENTE for BEGELEIDING: policy-checked here) */
  if (policy_may_record(KETEN__ROLE__ROLE_COA,
                        keten_role_from_name(s_recipient_roles[0]), 0,
                        UINT64_C(1) << FO_KIND, FO_PURPOSE, FO_BASIS, 0,
                        NULL) != POLICY_OK) {
    snprintf(err, errlen, "the policy refuses the bench's consents");
    goto rollback;
  }
  for (uint64_t j = 0; j < n_subjects; j++) {
    consent_t cs;
    memset(&cs, 0, sizeof cs);
    uint64_t id = j;
    for (int b = 7; b >= 0; b--, id >>= 8)
      cs.consent_id[b] = (uint8_t)id;
    randombytes_buf(cs.consent_id + 8, 8);
    memcpy(cs.subject, q.subj[j], 32);
    snprintf(cs.recorded_by, sizeof cs.recorded_by, "%s",
             fo_producer_id((int)(j % (uint64_t)n_producers)));
    snprintf(cs.recipient, sizeof cs.recipient, "%s", recipient);
    cs.sections = UINT64_C(1) << FO_KIND;
    cs.purpose = FO_PURPOSE;
    cs.basis = FO_BASIS;
    cs.has_legal_reference = 0;
    /* recorded after the recorder's entry became valid (an hour ago) */
    cs.valid_from_ms = now - 1800LL * 1000;
    cs.valid_until_ms = now + 365LL * 86400 * 1000;
    size_t len = s_consent_record(&cs, record, sizeof record);
    if (len == 0 || store_consent_put(st, &cs, record, len) != 0) {
      snprintf(err, errlen, "consent: %s", store_error(st));
      goto rollback;
    }
    if (s_tx_step(st, &rows, err, errlen) != 0)
      goto rollback;
  }
  for (; started < threads; started++)
    if (pthread_create(&tid[started], NULL, s_signer, &q) != 0)
      break;
  if (started == 0) {
    snprintf(err, errlen, "cannot start a signer thread");
    goto rollback;
  }
  /* the sections, wraps and mailbox entries, in seq order */
  size_t ct_len = pt_bytes + 16;
  uint64_t total = s_n_batches(&q);
  for (uint64_t batch = 0; batch < total; batch++) {
    int slot = (int)(batch % (uint64_t)q.n_slots);
    pthread_mutex_lock(&q.mu);
    while (!q.abort && q.ready[slot] != batch + 1)
      pthread_cond_wait(&q.ready_cv, &q.mu);
    int aborted = q.abort;
    pthread_mutex_unlock(&q.mu);
    if (aborted) {
      snprintf(err, errlen, "a signer thread failed");
      goto rollback;
    }
    s_batch_t *b = &q.slots[slot];
    for (size_t r = 0; r < b->n; r++) {
      uint64_t i = b->first + r, j;
      Keten__SectionHeader h;
      s_queue_header(&q, i, b->created_at_ms[r], &h, &j);
      store_section_t sec;
      memset(&sec, 0, sizeof sec);
      memcpy(sec.subject, q.subj[j], 32);
      sec.kind = FO_KIND;
      snprintf(sec.author, sizeof sec.author, "%s", h.author);
      sec.version = h.version;
      sec.created_at_ms = b->created_at_ms[r];
      sec.nonce = b->nonce[r];
      sec.nonce_len = 24;
      sec.ciphertext = b->ct + r * ct_len;
      sec.ciphertext_len = ct_len;
      sec.signature = b->sig[r];
      sec.signature_len = 64;
      int p = (int)(j % (uint64_t)n_producers);
      memcpy(sec.author_signing_pk, k->producer[p].signing_pk, 32);
      sec.has_author_key = 1;
      int64_t sid = 0;
      uint64_t seq = 0;
      if (store_section_put(st, &sec, &sid) != 0 ||
          store_wrap_put(st, sid, h.author, wrap_author[p], 80) != 0 ||
          store_wrap_put(st, sid, recipient, wrap_recipient, 80) != 0 ||
          store_mailbox_push(st, recipient, sid, &seq) != 0) {
        snprintf(err, errlen, "section %llu: %s", (unsigned long long)i,
                 store_error(st));
        goto rollback;
      }
      if (s_tx_step(st, &rows, err, errlen) != 0)
        goto rollback;
    }
    pthread_mutex_lock(&q.mu);
    q.consumed = batch + 1;
    pthread_cond_broadcast(&q.free_cv);
    pthread_mutex_unlock(&q.mu);
    s_progress(&pr, "queued sections", b->first + b->n, n_sections, 0);
  }
  if (store_commit(st) != 0) {
    snprintf(err, errlen, "commit: %s", store_error(st));
    goto rollback;
  }
  s_progress(&pr, "queued sections", n_sections, n_sections, 1);
  rc = 0;
  goto done;
rollback:
  store_rollback(st);
done:
  pthread_mutex_lock(&q.mu);
  q.abort = 1;
  pthread_cond_broadcast(&q.free_cv);
  pthread_cond_broadcast(&q.ready_cv);
  pthread_mutex_unlock(&q.mu);
  for (int i = 0; i < started; i++)
    pthread_join(tid[i], NULL);
  for (int i = 0; q.slots && i < q.n_slots; i++)
    free(q.slots[i].ct);
  free(q.slots);
  free(q.ready);
  free(q.subj);
  sodium_memzero(q.key, sizeof q.key);
  pthread_mutex_destroy(&q.mu);
  pthread_cond_destroy(&q.ready_cv);
  pthread_cond_destroy(&q.free_cv);
  store_close(&st);
  if (rc != 0)
    s_unlink_db(path);
  return rc;
}
