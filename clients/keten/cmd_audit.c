/* keten audit verify|subject|prove — the audit log, read from the store.
 *
 * Like `keten admin`, verify and subject run on the broker's host (or on
 * a copy of its store): the privacy officer (FG) verifies the log and
 * answers a person's access request (inzageverzoek) without going
 * through the broker. The store is opened READ-ONLY and never migrated
 * (store_open_readonly), so verifying a backup or a copy on read-only
 * media leaves it byte-identical. verify checks the hash chain, the
 * signed checkpoints and the signed tree heads of the Merkle log — those
 * stored and those the partners witnessed (--witness) — against every
 * broker key given (key history). prove checks an inclusion proof offline
 * (docs/protocol.md 10.5, 10.6). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "canon.h"
#include "cli.h"
#include "merkle.h"
#include "store.h"

#define S_MAX_KEYS 16
#define S_MAX_WITNESS_FILES 64

static void s_usage(FILE *out) {
  fprintf(out,
          "usage: keten audit verify --store FILE [--broker-key broker.pub]...\n"
          "                          [--witness FILE...] [--max-age DURATION]\n"
          "       keten audit subject --store FILE [--chain-key FILE] [--all] SUBJECT\n"
          "       keten audit prove --broker-key broker.pub [--broker-key ...] BUNDLE\n"
          "       keten audit proof [connection options] --out FILE SEQ\n"
          "\n"
          "verify re-walks the hash chain from the first entry, recomputes the\n"
          "Merkle tree of the log, and checks every signed checkpoint and every\n"
          "signed tree head (those in the store and those witnessed by partners)\n"
          "against the broker keys given: a head's signature, and the store's\n"
          "root at its size. It names the first mismatch (exit 1) or prints what\n"
          "it checked. The store is opened read-only and never migrated.\n"
          "subject prints the person's access report as JSON lines: every\n"
          "disclosure of their sections (to whom, which section, when, under\n"
          "which consent and purpose); --all adds refusals and consent changes.\n"
          "prove checks an inclusion-proof bundle offline (no store needed).\n"
          "proof asks ketend, as a participant, for the inclusion proof of\n"
          "entry SEQ (one about your own traffic), verifies it and writes the\n"
          "bundle that prove checks (connection options as for keten ping).\n"
          "\n"
          "  -s, --store FILE        the broker's SQLite store (or a copy)\n"
          "  -b, --broker-key FILE   a broker public key file; repeat it for every\n"
          "                          key that signed (key history)\n"
          "  -w, --witness FILE...   verify: signed tree heads a partner kept (JSON\n"
          "                          lines); one or more files\n"
          "  -m, --max-age DURATION  verify: fail unless a verified tree head is\n"
          "                          newer than this (e.g. 90m, 2h, 1d, 1h30m)\n"
          "  -o, --out FILE          proof: where to write the bundle (0600)\n"
          "  -K, --chain-key FILE    chain key, to give SUBJECT as a V-nummer\n"
          "  -a, --all               every entry about the subject\n"
          "  -h, --help              print this help\n");
}

/* ---- small helpers ------------------------------------------------------ */

/* ms since the epoch as 2026-01-05T10:11:12.345Z into out (32 bytes). */
static const char *s_time(int64_t ms, char out[32]) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  if (ms < 0 || !gmtime_r(&t, &tm)) {
    snprintf(out, 32, "%lld ms", (long long)ms);
    return out;
  }
  size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
  return out;
}

static int64_t s_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A key's first 8 bytes in hex (17 bytes). */
static const char *s_short(const uint8_t *key, char out[17]) {
  sodium_bin2hex(out, 17, key, 8);
  return out;
}

/* Exactly n bytes of lower/upper-case hex into out. 0 or -1. */
static int s_hex_exact(const char *hex, uint8_t *out, size_t n) {
  size_t got = 0;
  if (!hex || strlen(hex) != 2 * n ||
      sodium_hex2bin(out, n, hex, 2 * n, NULL, &got, NULL) != 0 || got != n)
    return -1;
  return 0;
}

/* "90m", "2h", "1d", "45s", "1h30m" into ms. 0 or -1. */
static int s_duration(const char *s, int64_t *ms) {
  int64_t total = 0;
  if (!s || !*s)
    return -1;
  while (*s) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || v < 0)
      return -1;
    int64_t unit;
    switch (*end) {
    case 's': unit = 1000; break;
    case 'm': unit = 60 * 1000; break;
    case 'h': unit = 3600 * 1000; break;
    case 'd': unit = 86400 * 1000; break;
    default: return -1;
    }
    if (v > INT64_MAX / unit || total > INT64_MAX - v * unit)
      return -1;
    total += v * unit;
    s = end + 1;
  }
  *ms = total;
  return 0;
}

/* ---- broker keys (key history) ------------------------------------------- */

typedef struct {
  uint8_t pk[S_MAX_KEYS][32];
  const char *path[S_MAX_KEYS];
  int n;
} s_keys_t;

static int s_keys_load(s_keys_t *k, const char *const *paths, int n) {
  k->n = 0;
  for (int i = 0; i < n; i++) {
    keten_keys_t keys;
    keten_err_t rc = keten_keys_load(paths[i], &keys);
    if (rc != KETEN_OK) {
      fprintf(stderr, "keten audit: %s: %s\n", paths[i], keten_strerror(rc));
      return -1;
    }
    memcpy(k->pk[k->n], keys.signing_pk, 32);
    k->path[k->n] = paths[i];
    k->n++;
    keten_keys_wipe(&keys);
  }
  return 0;
}

/* The index of the given key equal to pk, or -1. */
static int s_keys_find(const s_keys_t *k, const uint8_t pk[32]) {
  for (int i = 0; i < k->n; i++)
    if (sodium_memcmp(k->pk[i], pk, 32) == 0)
      return i;
  return -1;
}

/* ---- signed tree heads --------------------------------------------------- */

typedef struct {
  char src[600];   /* "FILE:LINE", or "the store's tree head of size N" */
  int stored;      /* from the store's tree_head table */
  uint64_t size;
  uint8_t root[32];
  int64_t timestamp_ms;
  uint8_t broker_key[32];
  uint8_t signature[64];
} s_head_t;

typedef struct {
  s_head_t *v;
  size_t n, cap;
} s_heads_t;

static s_head_t *s_heads_add(s_heads_t *hs) {
  if (hs->n == hs->cap) {
    size_t cap = hs->cap ? hs->cap * 2 : 16;
    s_head_t *v = realloc(hs->v, cap * sizeof *v);
    if (!v)
      return NULL;
    hs->v = v;
    hs->cap = cap;
  }
  s_head_t *h = &hs->v[hs->n++];
  memset(h, 0, sizeof *h);
  return h;
}

/* A head object ({"size", "root", "timestamp_ms", "broker_key",
 * "signature"}) into h. NULL, or what is wrong with it. */
static const char *s_head_from_json(json_t *o, s_head_t *h) {
  json_t *size = json_object_get(o, "size"), *ts = json_object_get(o, "timestamp_ms");
  if (!json_is_object(o))
    return "not a JSON object";
  if (!json_is_integer(size) || json_integer_value(size) < 0)
    return "\"size\" is not a non-negative integer";
  if (!json_is_integer(ts) || json_integer_value(ts) < 0)
    return "\"timestamp_ms\" is not a non-negative integer";
  if (s_hex_exact(json_string_value(json_object_get(o, "root")), h->root, 32))
    return "\"root\" is not 64 hex digits";
  if (s_hex_exact(json_string_value(json_object_get(o, "broker_key")),
                  h->broker_key, 32))
    return "\"broker_key\" is not 64 hex digits";
  if (s_hex_exact(json_string_value(json_object_get(o, "signature")),
                  h->signature, 64))
    return "\"signature\" is not 128 hex digits";
  h->size = (uint64_t)json_integer_value(size);
  h->timestamp_ms = (int64_t)json_integer_value(ts);
  return NULL;
}

/* Reads every head of a witness file (one JSON object a line, blank lines
 * skipped). 0 or -1 (printed). */
static int s_witness_load(const char *path, s_heads_t *hs, size_t *count) {
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "keten audit: %s: %s\n", path, strerror(errno));
    return -1;
  }
  char *line = NULL;
  size_t cap = 0, lineno = 0;
  ssize_t len;
  int rc = 0;
  *count = 0;
  while ((len = getline(&line, &cap, f)) >= 0) {
    lineno++;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' ||
                       line[len - 1] == ' ' || line[len - 1] == '\t'))
      line[--len] = '\0';
    if (len == 0)
      continue;
    json_error_t jerr;
    json_t *o = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
    s_head_t *h = s_heads_add(hs);
    if (!h) {
      json_decref(o);
      fprintf(stderr, "keten audit: out of memory\n");
      rc = -1;
      break;
    }
    const char *why = o ? s_head_from_json(o, h) : jerr.text;
    json_decref(o);
    if (why) {
      fprintf(stderr, "keten audit: %s:%zu: not a signed tree head: %s\n",
              path, lineno, why);
      rc = -1;
      break;
    }
    snprintf(h->src, sizeof h->src, "%s:%zu", path, lineno);
    (*count)++;
  }
  if (rc == 0 && ferror(f)) {
    fprintf(stderr, "keten audit: %s: read error\n", path);
    rc = -1;
  }
  if (rc == 0 && *count == 0) {
    fprintf(stderr, "keten audit: %s: no tree head in it\n", path);
    rc = -1;
  }
  free(line);
  fclose(f);
  return rc;
}

static int s_stored_head(uint64_t size, const uint8_t root[32],
                         int64_t timestamp_ms, const uint8_t broker_key[32],
                         const uint8_t signature[64], void *arg) {
  s_head_t *h = s_heads_add(arg);
  if (!h)
    return -1;
  h->stored = 1;
  h->size = size;
  memcpy(h->root, root, 32);
  h->timestamp_ms = timestamp_ms;
  memcpy(h->broker_key, broker_key, 32);
  memcpy(h->signature, signature, 64);
  snprintf(h->src, sizeof h->src, "the store's tree head of size %llu",
           (unsigned long long)size);
  return 0;
}

/* 0 if h's signature verifies with its broker_key, which must be one of
 * keys (any key when keys->n is 0: then only self-consistent). Else the
 * reason in why. */
static int s_head_check_sig(const s_head_t *h, const s_keys_t *keys,
                            char *why, size_t cap) {
  char fp[17];
  if (keys->n > 0 && s_keys_find(keys, h->broker_key) < 0) {
    snprintf(why, cap,
             "it names broker key %s..., which is not one of the "
             "--broker-key given",
             s_short(h->broker_key, fp));
    return -1;
  }
  Keten__TreeHead th = KETEN__TREE_HEAD__INIT;
  th.size = h->size;
  th.root.data = (uint8_t *)h->root;
  th.root.len = 32;
  th.timestamp_ms = (uint64_t)h->timestamp_ms;
  th.broker_key.data = (uint8_t *)h->broker_key;
  th.broker_key.len = 32;
  th.signature.data = (uint8_t *)h->signature;
  th.signature.len = 64;
  if (canon_verify_tree_head(&th, h->broker_key) != 0) {
    snprintf(why, cap, "its signature does not verify with broker key %s...",
             s_short(h->broker_key, fp));
    return -1;
  }
  return 0;
}

static int s_head_cmp(const void *a, const void *b) {
  const s_head_t *x = a, *y = b;
  if (x->size != y->size)
    return x->size < y->size ? -1 : 1;
  if (x->stored != y->stored) /* witnesses first: they name a file */
    return x->stored ? 1 : -1;
  return 0;
}

/* ---- the walk: chain, tree, heads ---------------------------------------- */

typedef struct {
  uint64_t expect_seq;
  uint8_t prev[AUDIT_HASH_BYTES];
  uint64_t broken_seq;
  const char *why;
  uint64_t n;
  merkle_frontier_t tree;
  /* the heads, by size; next is the first not yet compared */
  const s_head_t *heads;
  size_t n_heads, next;
  const s_head_t *matched; /* the largest head whose root matched */
  const s_head_t *failed;  /* the first whose root differs */
  uint8_t failed_root[32]; /* the store's root at its size */
} s_walk_t;

/* Compares the heads of the current tree size with its root; 1 on a
 * mismatch (w->failed), else 0. */
static int s_heads_at_size(s_walk_t *w) {
  uint8_t root[32];
  int have_root = 0;
  while (w->next < w->n_heads && w->heads[w->next].size == w->tree.size) {
    const s_head_t *h = &w->heads[w->next];
    if (!have_root) {
      merkle_frontier_root(&w->tree, root);
      have_root = 1;
    }
    if (sodium_memcmp(root, h->root, 32) != 0) {
      w->failed = h;
      memcpy(w->failed_root, root, 32);
      return 1;
    }
    w->matched = h;
    w->next++;
  }
  return 0;
}

static int s_walk(const audit_entry_t *e, void *arg) {
  s_walk_t *w = arg;
  if (e->seq != w->expect_seq) {
    w->broken_seq = w->expect_seq;
    w->why = "entry missing (sequence gap)";
    return 1;
  }
  if (audit_check(e, w->prev) != 0) {
    w->broken_seq = e->seq;
    w->why = memcmp(e->prev_hash, w->prev, AUDIT_HASH_BYTES) != 0
                 ? "previous-hash link does not match"
                 : "entry contents do not match its hash";
    return 1;
  }
  uint8_t leaf[32];
  audit_leaf_hash(e, leaf);
  if (merkle_frontier_append(&w->tree, leaf, NULL, NULL) != 0) {
    w->broken_seq = e->seq;
    w->why = "the Merkle tree is full";
    return 1;
  }
  memcpy(w->prev, e->hash, AUDIT_HASH_BYTES);
  w->expect_seq++;
  w->n++;
  return s_heads_at_size(w);
}

typedef struct {
  store_t *store;
  const s_keys_t *keys;
  uint64_t checked, bad_seq;
  const char *why;
} s_cp_t;

static int s_checkpoint(uint64_t seq, const uint8_t head[AUDIT_HASH_BYTES],
                        int64_t at_ms, const uint8_t sig[64], void *arg) {
  s_cp_t *c = arg;
  uint8_t msg[128];
  size_t len = audit_checkpoint_bytes(seq, head, at_ms, msg, sizeof msg);
  if (c->keys->n > 0) {
    int ok = 0;
    for (int i = 0; i < c->keys->n && !ok; i++)
      ok = crypto_sign_verify_detached(sig, msg, len, c->keys->pk[i]) == 0;
    if (!ok) {
      c->bad_seq = seq;
      c->why = c->keys->n > 1 ? "checkpoint signature does not verify with "
                                "any of the broker keys given"
                              : "checkpoint signature does not verify";
      return 1;
    }
  }
  audit_entry_t e;
  int found = store_audit_get(c->store, seq, &e);
  if (found != 1 || sodium_memcmp(e.hash, head, AUDIT_HASH_BYTES) != 0) {
    c->bad_seq = seq;
    c->why = found == 1 ? "entry hash differs from the signed checkpoint"
                        : "signed checkpoint names an entry that is gone";
    return 1;
  }
  c->checked++;
  return 0;
}

/* "entries 1..L match SRC" for the report of a mismatch at size m (in a
 * log of n entries). */
static void s_print_range(const s_head_t *matched, uint64_t m, uint64_t n) {
  char t[32];
  if (matched && matched->size > 0 && matched->size == n && n < m)
    printf("  entries 1..%llu match %s (of %s); entries %llu..%llu, "
           "witnessed, are missing\n",
           (unsigned long long)matched->size, matched->src,
           s_time(matched->timestamp_ms, t), (unsigned long long)n + 1,
           (unsigned long long)m);
  else if (matched && matched->size > 0)
    printf("  entries 1..%llu match %s (of %s); the log differs from the "
           "witnessed one after entry %llu, at or before entry %llu\n",
           (unsigned long long)matched->size, matched->src,
           s_time(matched->timestamp_ms, t),
           (unsigned long long)matched->size, (unsigned long long)m);
  else
    printf("  no smaller head matches: the log may differ from entry 1 on, "
           "at or before entry %llu\n",
           (unsigned long long)m);
}

typedef struct {
  const char *const *key_paths;
  int n_keys;
  const char *const *witness;
  int n_witness;
  int64_t max_age_ms; /* -1: no --max-age */
  const char *max_age;
} s_verify_opts_t;

static int s_verify(store_t *store, const s_verify_opts_t *o) {
  s_keys_t keys;
  if (s_keys_load(&keys, o->key_paths, o->n_keys) != 0)
    return CLI_EXIT_LOCAL;
  s_heads_t hs = {0};
  int rc = CLI_EXIT_LOCAL;
  size_t n_stored = 0, n_witnessed = 0;
  char t[32], fp[17], why[256];

  if (store_audit_tree_heads(store, s_stored_head, &hs) != 0) {
    fprintf(stderr, "keten audit: cannot read the tree heads: %s\n",
            store_error(store));
    goto out;
  }
  n_stored = hs.n;
  for (int i = 0; i < o->n_witness; i++) {
    size_t c = 0;
    if (s_witness_load(o->witness[i], &hs, &c) != 0)
      goto out;
    n_witnessed += c;
  }

  /* Every head's signature first: a head no known key signed proves
   * nothing, and one that does not verify is itself a finding. */
  for (size_t i = 0; i < hs.n; i++) {
    if (s_head_check_sig(&hs.v[i], &keys, why, sizeof why) != 0) {
      printf("audit log UNVERIFIED tree head: %s (size %llu, %s): %s\n",
             hs.v[i].src, (unsigned long long)hs.v[i].size,
             s_time(hs.v[i].timestamp_ms, t), why);
      rc = CLI_EXIT_REFUSED;
      goto out;
    }
  }
  if (hs.n > 1)
    qsort(hs.v, hs.n, sizeof *hs.v, s_head_cmp);

  s_walk_t w = {.expect_seq = 1, .heads = hs.v, .n_heads = hs.n};
  merkle_frontier_init(&w.tree);
  if (s_heads_at_size(&w) == 0 && /* heads of size 0 */
      store_audit_each(store, s_walk, &w) != 0) {
    fprintf(stderr, "keten audit: cannot read the audit log: %s\n",
            store_error(store));
    goto out;
  }
  if (w.why) {
    printf("audit chain BROKEN at entry %llu: %s (%llu entries before it "
           "verify)\n",
           (unsigned long long)w.broken_seq, w.why, (unsigned long long)w.n);
    rc = CLI_EXIT_REFUSED;
    goto out;
  }
  if (w.failed) {
    char want[65], got[65];
    sodium_bin2hex(want, sizeof want, w.failed->root, 32);
    sodium_bin2hex(got, sizeof got, w.failed_root, 32);
    printf("audit log DIFFERS from a signed tree head: %s (size %llu, %s) "
           "has root %s, the store's first %llu entries have root %s\n",
           w.failed->src, (unsigned long long)w.failed->size,
           s_time(w.failed->timestamp_ms, t), want,
           (unsigned long long)w.failed->size, got);
    s_print_range(w.matched, w.failed->size, w.n);
    rc = CLI_EXIT_REFUSED;
    goto out;
  }
  if (w.next < w.n_heads) { /* heads larger than the log */
    const s_head_t *h = &w.heads[w.next];
    printf("audit log TRUNCATED: the log holds %llu entries; %s witnessed "
           "%llu (%s)\n",
           (unsigned long long)w.n, h->src, (unsigned long long)h->size,
           s_time(h->timestamp_ms, t));
    s_print_range(w.matched, h->size, w.n);
    rc = CLI_EXIT_REFUSED;
    goto out;
  }

  s_cp_t cp = {.store = store, .keys = &keys};
  if (store_audit_checkpoints(store, s_checkpoint, &cp) != 0) {
    fprintf(stderr, "keten audit: cannot read the checkpoints: %s\n",
            store_error(store));
    goto out;
  }
  if (cp.why) {
    printf("audit chain BROKEN at checkpoint %llu: %s\n",
           (unsigned long long)cp.bad_seq, cp.why);
    rc = CLI_EXIT_REFUSED;
    goto out;
  }

  const s_head_t *newest = NULL;
  for (size_t i = 0; i < hs.n; i++)
    if (!newest || hs.v[i].timestamp_ms > newest->timestamp_ms ||
        (hs.v[i].timestamp_ms == newest->timestamp_ms &&
         hs.v[i].size > newest->size))
      newest = &hs.v[i];
  if (o->max_age_ms >= 0) {
    int64_t since = s_now_ms() - o->max_age_ms;
    if (!newest || newest->timestamp_ms < since) {
      printf("audit log STALE: no verified tree head is newer than %s "
             "(--max-age %s)",
             s_time(since, t), o->max_age);
      if (newest)
        printf("; the newest is %s (size %llu, %s)\n", newest->src,
               (unsigned long long)newest->size,
               s_time(newest->timestamp_ms, t));
      else
        printf("; there is none\n");
      rc = CLI_EXIT_REFUSED;
      goto out;
    }
  }

  char head[2 * AUDIT_HASH_BYTES + 1], root[65];
  uint8_t r[32];
  sodium_bin2hex(head, sizeof head, w.prev, AUDIT_HASH_BYTES);
  merkle_frontier_root(&w.tree, r);
  sodium_bin2hex(root, sizeof root, r, 32);
  printf("audit chain OK: %llu entries, head %s, %llu checkpoint(s) %s\n",
         (unsigned long long)w.n, head, (unsigned long long)cp.checked,
         keys.n ? "signature-verified"
                : "matched (no --broker-key: signatures not checked)");
  printf("merkle root of %llu entries: %s\n", (unsigned long long)w.n, root);
  if (hs.n == 0) {
    printf("tree heads: none (%s, no --witness): a truncation or rewrite "
           "after the last checkpoint would go unnoticed\n",
           store_schema_version(store) < 6 ? "schema older than 6"
                                           : "none in the store");
  } else {
    printf("tree heads OK: %zu %s (%zu stored, %zu from %d witness file(s)); "
           "the newest %s (size %llu, %s)\n",
           hs.n,
           keys.n ? "signature-verified and matched"
                  : "matched (no --broker-key: signed by the key they name)",
           n_stored, n_witnessed, o->n_witness, newest->src,
           (unsigned long long)newest->size, s_time(newest->timestamp_ms, t));
  }
  if (keys.n) {
    printf("broker keys: %d:", keys.n);
    for (int i = 0; i < keys.n; i++)
      printf(" %s... (%s)", s_short(keys.pk[i], fp), keys.path[i]);
    printf("\n");
  }
  if (o->max_age_ms >= 0)
    printf("max-age %s: the newest verified tree head is within it\n",
           o->max_age);
  rc = CLI_EXIT_OK;
out:
  free(hs.v);
  return rc;
}

int cli_audit_verify(store_t *store, const char *const *key_paths,
                     int n_keys) {
  s_verify_opts_t o = {.key_paths = key_paths, .n_keys = n_keys,
                       .max_age_ms = -1};
  return s_verify(store, &o);
}

/* ---- prove: an inclusion-proof bundle, offline --------------------------- */

typedef struct {
  const uint8_t *p;
  size_t len, off;
  int bad;
} s_reader_t;

/* One canon_bytes() field: u32 big-endian length, then the bytes. */
static const uint8_t *s_field(s_reader_t *r, size_t *n) {
  if (r->bad || r->len - r->off < 4) {
    r->bad = 1;
    return NULL;
  }
  const uint8_t *b = r->p + r->off;
  size_t l = (size_t)b[0] << 24 | (size_t)b[1] << 16 | (size_t)b[2] << 8 | b[3];
  if (r->len - r->off - 4 < l) {
    r->bad = 1;
    return NULL;
  }
  r->off += 4 + l;
  *n = l;
  return b + 4;
}

static void s_get_bytes(s_reader_t *r, uint8_t *out, size_t want) {
  size_t n = 0;
  const uint8_t *b = s_field(r, &n);
  if (!b || n != want) {
    r->bad = 1;
    memset(out, 0, want);
    return;
  }
  memcpy(out, b, want);
}

static void s_get_str(s_reader_t *r, char *out, size_t cap) {
  size_t n = 0;
  const uint8_t *b = s_field(r, &n);
  if (!b || n >= cap || memchr(b, 0, n)) {
    r->bad = 1;
    out[0] = '\0';
    return;
  }
  memcpy(out, b, n);
  out[n] = '\0';
}

static uint64_t s_get_u64(s_reader_t *r) {
  uint8_t be[8];
  s_get_bytes(r, be, 8);
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | be[i];
  return v;
}

/* Decodes an entry string keten/audit/v1 (docs/protocol.md 10.3) into e;
 * 0 if it is one, read to its end, and encodes back to the same bytes. */
static int s_entry_decode(const uint8_t *p, size_t len, audit_entry_t *e) {
  s_reader_t r = {.p = p, .len = len};
  char tag[32];
  memset(e, 0, sizeof *e);
  s_get_str(&r, tag, sizeof tag);
  if (r.bad || strcmp(tag, AUDIT_TAG) != 0)
    return -1;
  e->seq = s_get_u64(&r);
  s_get_bytes(&r, e->prev_hash, sizeof e->prev_hash);
  s_get_bytes(&r, e->trace_id, sizeof e->trace_id);
  s_get_bytes(&r, e->operation_id, sizeof e->operation_id);
  s_get_bytes(&r, e->parent_operation_id, sizeof e->parent_operation_id);
  s_get_str(&r, e->name, sizeof e->name);
  e->status = (int)s_get_u64(&r);
  e->start_ms = (int64_t)s_get_u64(&r);
  e->end_ms = (int64_t)s_get_u64(&r);
  s_get_str(&r, e->actor, sizeof e->actor);
  s_get_str(&r, e->counterparty, sizeof e->counterparty);
  s_get_bytes(&r, e->subject, sizeof e->subject);
  e->kind = (int)s_get_u64(&r);
  s_get_bytes(&r, e->consent_id, sizeof e->consent_id);
  e->purpose = (int)s_get_u64(&r);
  s_get_bytes(&r, e->foreign_trace_id, sizeof e->foreign_trace_id);
  s_get_bytes(&r, e->foreign_operation_id, sizeof e->foreign_operation_id);
  s_get_str(&r, e->detail, sizeof e->detail);
  if (r.bad || r.off != r.len)
    return -1;
  size_t n = 0;
  uint8_t *again = audit_entry_string(e, &n);
  int same = again && n == len && memcmp(again, p, len) == 0;
  free(again);
  return same ? 0 : -1;
}

static int s_prove_fail(const char *bundle, const char *why) {
  printf("proof FAILED: %s: %s\n", bundle, why);
  return CLI_EXIT_REFUSED;
}

static int s_prove(const char *path, const char *const *key_paths, int n_keys) {
  s_keys_t keys;
  if (s_keys_load(&keys, key_paths, n_keys) != 0)
    return CLI_EXIT_LOCAL;
  json_error_t jerr;
  json_t *b = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
  if (!b) {
    fprintf(stderr, "keten audit: %s: %s (line %d)\n", path, jerr.text,
            jerr.line);
    return CLI_EXIT_LOCAL;
  }
  int rc = CLI_EXIT_REFUSED;
  uint8_t *entry = NULL;
  char why[256], t[32], fp[17];
  s_head_t h;
  memset(&h, 0, sizeof h);
  json_t *seq = json_object_get(b, "seq"), *inc = json_object_get(b, "inclusion");
  const char *ehex = json_string_value(json_object_get(b, "entry_hex"));
  const char *bad = s_head_from_json(json_object_get(b, "head"), &h);
  if (bad) {
    snprintf(why, sizeof why, "\"head\": %s", bad);
    rc = s_prove_fail(path, why);
    goto out;
  }
  if (!json_is_integer(seq) || json_integer_value(seq) < 1) {
    rc = s_prove_fail(path, "\"seq\" is not a positive integer");
    goto out;
  }
  size_t n_inc = json_array_size(inc);
  if (!json_is_array(inc) || n_inc > MERKLE_MAX_PROOF) {
    rc = s_prove_fail(path, "\"inclusion\" is not an array of at most 64 hashes");
    goto out;
  }
  uint8_t proof[MERKLE_PROOF_BYTES];
  for (size_t i = 0; i < n_inc; i++)
    if (s_hex_exact(json_string_value(json_array_get(inc, i)),
                    proof + i * MERKLE_HASH_BYTES, MERKLE_HASH_BYTES)) {
      snprintf(why, sizeof why, "\"inclusion\"[%zu] is not 64 hex digits", i);
      rc = s_prove_fail(path, why);
      goto out;
    }
  size_t elen = ehex ? strlen(ehex) / 2 : 0;
  entry = malloc(elen ? elen : 1);
  if (!entry || !ehex || strlen(ehex) % 2 || elen == 0 ||
      s_hex_exact(ehex, entry, elen)) {
    rc = s_prove_fail(path, "\"entry_hex\" is not hex");
    goto out;
  }
  audit_entry_t e;
  uint64_t want_seq = (uint64_t)json_integer_value(seq);
  if (s_entry_decode(entry, elen, &e) != 0) {
    rc = s_prove_fail(path, "\"entry_hex\" is not an audit entry string "
                            "(keten/audit/v1)");
    goto out;
  }
  if (e.seq != want_seq) {
    snprintf(why, sizeof why, "the entry is seq %llu, the bundle says %llu",
             (unsigned long long)e.seq, (unsigned long long)want_seq);
    rc = s_prove_fail(path, why);
    goto out;
  }
  snprintf(h.src, sizeof h.src, "%s: head", path);
  if (s_head_check_sig(&h, &keys, why, sizeof why) != 0) {
    char msg[320];
    snprintf(msg, sizeof msg, "the tree head (size %llu, %s): %s",
             (unsigned long long)h.size, s_time(h.timestamp_ms, t), why);
    rc = s_prove_fail(path, msg);
    goto out;
  }
  if (want_seq > h.size) {
    snprintf(why, sizeof why, "entry %llu is beyond the head's size %llu",
             (unsigned long long)want_seq, (unsigned long long)h.size);
    rc = s_prove_fail(path, why);
    goto out;
  }
  uint8_t leaf[32];
  merkle_leaf_hash(entry, elen, leaf);
  if (merkle_verify_inclusion(want_seq - 1, h.size, leaf, proof, n_inc,
                              h.root) != 0) {
    snprintf(why, sizeof why,
             "the inclusion proof (%zu hashes) does not lead from entry %llu "
             "to the head's root at size %llu",
             n_inc, (unsigned long long)want_seq, (unsigned long long)h.size);
    rc = s_prove_fail(path, why);
    goto out;
  }
  char subject[65], consent[33], trace[33];
  sodium_bin2hex(subject, sizeof subject, e.subject, 32);
  sodium_bin2hex(consent, sizeof consent, e.consent_id, 16);
  sodium_bin2hex(trace, sizeof trace, e.trace_id, 16);
  const char *kind = canon_kind_name(e.kind);
  const char *purpose = canon_purpose_name(e.purpose);
  printf("entry %llu\n", (unsigned long long)e.seq);
  printf("  name          %s\n", e.name);
  printf("  status        %s\n", e.status == AUDIT_STATUS_OK ? "OK" : "ERROR");
  printf("  time          %s\n", s_time(e.end_ms, t));
  printf("  actor         %s\n", e.actor);
  printf("  counterparty  %s\n", e.counterparty);
  printf("  subject       %s\n", subject);
  printf("  kind          %s\n", e.kind ? (kind ? kind : "?") : "-");
  printf("  purpose       %s\n", e.purpose ? (purpose ? purpose : "?") : "-");
  printf("  consent_id    %s\n", consent);
  printf("  trace_id      %s\n", trace);
  printf("  detail        %s\n", e.detail);
  printf("proof OK: entry %llu is in the log of %llu entries signed at %s by "
         "broker key %s...\n",
         (unsigned long long)e.seq, (unsigned long long)h.size,
         s_time(h.timestamp_ms, t), s_short(h.broker_key, fp));
  rc = CLI_EXIT_OK;
out:
  free(entry);
  json_decref(b);
  return rc;
}

/* ---- proof: a bundle from the broker (as a participant) ----------------- */

static int s_proof(int argc, char **argv) {
  static const struct option opts[] = {CLI_CONN_OPTIONS,
                                       {"out", required_argument, NULL, 'o'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  cli_conn_t conn;
  cli_conn_defaults(&conn);
  const char *out_path = NULL;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, CLI_CONN_SHORT "o:h", opts, NULL)) != -1) {
    if (cli_conn_option(&conn, c, optarg))
      continue;
    switch (c) {
    case 'o': out_path = optarg; break;
    case 'h':
      s_usage(stdout);
      printf("\n" CLI_CONN_HELP);
      return CLI_EXIT_OK;
    default: s_usage(stderr); return CLI_EXIT_USAGE;
    }
  }
  long seq = optind == argc - 1 ? cli_number(argv[optind], LONG_MAX) : -1;
  if (seq < 1 || !out_path) {
    s_usage(stderr);
    return CLI_EXIT_USAGE;
  }
  if (cli_refuse_symlink("keten audit proof", out_path) != 0)
    return CLI_EXIT_LOCAL;
  int exit_code = CLI_EXIT_OK;
  keten_client_t *client = cli_connect(&conn, &exit_code);
  if (!client)
    return exit_code;
  keten_audit_proof_t p;
  memset(&p, 0, sizeof p);
  keten_err_t rc = keten_client_audit_proof(client, (uint64_t)seq, &p);
  if (rc != KETEN_OK) {
    fprintf(stderr, "keten audit proof: entry %ld: %s: %s\n", seq,
            keten_strerror(rc), keten_client_error(client));
    keten_client_destroy(&client);
    return rc == KETEN_ERR_LOG_INCONSISTENT ? CLI_EXIT_UNTRUSTED
                                            : cli_exit_for(rc);
  }
  keten_client_destroy(&client);
  char head[KETEN_TREE_HEAD_LINE_MAX], t[32];
  char *hex = malloc(2 * p.entry_len + 1);
  json_error_t jerr;
  json_t *h = NULL, *inc = json_array(), *b = NULL;
  int ok = hex && inc &&
           keten_tree_head_format(&p.head, head, sizeof head) == KETEN_OK &&
           (h = json_loads(head, 0, &jerr)) != NULL;
  if (ok)
    sodium_bin2hex(hex, 2 * p.entry_len + 1, p.entry, p.entry_len);
  for (size_t i = 0; ok && i < p.n_inclusion; i++) {
    char x[2 * KETEN_HASH_BYTES + 1];
    sodium_bin2hex(x, sizeof x, p.inclusion[i], KETEN_HASH_BYTES);
    ok = json_array_append_new(inc, json_string(x)) == 0;
  }
  if (ok)
    b = json_pack("{s:O, s:I, s:s, s:O}", "head", h, "seq", (json_int_t)p.seq,
                  "entry_hex", hex, "inclusion", inc);
  char *text = b ? json_dumps(b, JSON_COMPACT) : NULL;
  int fd = text ? open(out_path,
                       O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                       0600)
                : -1;
  size_t len = text ? strlen(text) : 0;
  int written = fd >= 0 && write(fd, text, len) == (ssize_t)len &&
                write(fd, "\n", 1) == 1 && fsync(fd) == 0;
  if (fd >= 0 && close(fd) != 0)
    written = 0;
  if (!written)
    fprintf(stderr, "keten audit proof: %s: %s\n", out_path,
            text ? strerror(errno) : "out of memory");
  else
    printf("wrote %s: inclusion proof of entry %llu against the tree head of "
           "size %llu signed at %s (check it with keten audit prove)\n",
           out_path, (unsigned long long)p.seq, (unsigned long long)p.head.size,
           s_time((int64_t)p.head.timestamp_ms, t));
  free(text);
  json_decref(b);
  json_decref(h);
  json_decref(inc);
  free(hex);
  keten_audit_proof_free(&p);
  return written ? CLI_EXIT_OK : CLI_EXIT_LOCAL;
}

/* ---- subject ------------------------------------------------------------- */

typedef struct {
  int all;
  uint64_t n;
} s_report_t;

static int s_is_disclosure(const audit_entry_t *e) {
  return e->status == AUDIT_STATUS_OK &&
         (!strcmp(e->name, "keten.section.fetch") ||
          !strcmp(e->name, "keten.section.deliver"));
}

static int s_report(const audit_entry_t *e, void *arg) {
  s_report_t *r = arg;
  if (!r->all && !s_is_disclosure(e))
    return 0;
  /* A disclosure: the section was the actor's (author) and went to the
   * counterparty (deliver), or the actor read the counterparty's (fetch). */
  int fetch = !strcmp(e->name, "keten.section.fetch") ||
              !strcmp(e->name, "keten.section.fetch.deny");
  const char *to = fetch ? e->actor : e->counterparty;
  const char *author = fetch ? e->counterparty : e->actor;
  char consent[33], trace[33];
  sodium_bin2hex(consent, sizeof consent, e->consent_id, 16);
  sodium_bin2hex(trace, sizeof trace, e->trace_id, 16);
  const char *kind = canon_kind_name(e->kind);
  const char *purpose = canon_purpose_name(e->purpose);
  json_t *o = json_pack(
      "{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s}", "seq",
      (json_int_t)e->seq, "event", e->name, "status",
      e->status == AUDIT_STATUS_OK ? "OK" : "ERROR", "to", to,
      "by", author, "section", kind ? kind : "",
      "purpose", purpose ? purpose : "", "consent_id", consent, "time_ms",
      (json_int_t)e->end_ms, "trace_id", trace, "detail", e->detail);
  if (o) {
    json_dumpf(o, stdout, JSON_COMPACT);
    putchar('\n');
    json_decref(o);
  }
  r->n++;
  return 0;
}

int cmd_audit(int argc, char **argv) {
  static const struct option opts[] = {{"store", required_argument, NULL, 's'},
                                       {"broker-key", required_argument, NULL, 'b'},
                                       {"witness", required_argument, NULL, 'w'},
                                       {"max-age", required_argument, NULL, 'm'},
                                       {"chain-key", required_argument, NULL, 'K'},
                                       {"all", no_argument, NULL, 'a'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
    s_usage(stdout);
    return CLI_EXIT_OK;
  }
  if (argc < 2) {
    s_usage(stderr);
    return CLI_EXIT_USAGE;
  }
  /* Subcommands with their own command lines (keten audit report: H11). */
  if (!strcmp(argv[1], "proof"))
    return s_proof(argc - 1, argv + 1);
  if (!strcmp(argv[1], "report")) { extern int cmd_audit_report(int, char **); return cmd_audit_report(argc - 1, argv + 1); }

  const char *verb = argv[1], *store_path = NULL, *chain = NULL,
             *max_age = NULL;
  const char *keys[S_MAX_KEYS], *witness[S_MAX_WITNESS_FILES];
  int n_keys = 0, n_witness = 0, all = 0, c;
  optind = 1;
  while ((c = getopt_long(argc - 1, argv + 1, "s:b:w:m:K:ah", opts, NULL)) != -1) {
    switch (c) {
    case 's': store_path = optarg; break;
    case 'b':
      if (n_keys == S_MAX_KEYS) {
        fprintf(stderr, "keten audit: at most %d --broker-key\n", S_MAX_KEYS);
        return CLI_EXIT_USAGE;
      }
      keys[n_keys++] = optarg;
      break;
    case 'w':
      if (n_witness == S_MAX_WITNESS_FILES) {
        fprintf(stderr, "keten audit: at most %d witness files\n",
                S_MAX_WITNESS_FILES);
        return CLI_EXIT_USAGE;
      }
      witness[n_witness++] = optarg;
      break;
    case 'm': max_age = optarg; break;
    case 'K': chain = optarg; break;
    case 'a': all = 1; break;
    case 'h': s_usage(stdout); return CLI_EXIT_OK;
    default: s_usage(stderr); return CLI_EXIT_USAGE;
    }
  }
  int is_verify = !strcmp(verb, "verify"), is_subject = !strcmp(verb, "subject"),
      is_prove = !strcmp(verb, "prove");
  int first = 1 + optind, rest = argc - first;
  if (is_prove) {
    if (rest != 1 || store_path || n_witness || max_age) {
      s_usage(stderr);
      return CLI_EXIT_USAGE;
    }
    if (n_keys == 0) {
      fprintf(stderr, "keten audit prove: give the broker's key "
                      "(--broker-key broker.pub, once per key)\n");
      return CLI_EXIT_USAGE;
    }
    return s_prove(argv[first], keys, n_keys);
  }
  /* verify --witness a b c: the files after the first --witness */
  if (is_verify && n_witness > 0) {
    for (; rest > 0; rest--, first++) {
      if (n_witness == S_MAX_WITNESS_FILES) {
        fprintf(stderr, "keten audit: at most %d witness files\n",
                S_MAX_WITNESS_FILES);
        return CLI_EXIT_USAGE;
      }
      witness[n_witness++] = argv[first];
    }
  }
  if (!store_path || !(is_verify || is_subject) ||
      rest != (is_subject ? 1 : 0) ||
      (!is_verify && (n_witness || max_age))) {
    s_usage(stderr);
    return CLI_EXIT_USAGE;
  }
  int64_t max_age_ms = -1;
  if (max_age && s_duration(max_age, &max_age_ms) != 0) {
    fprintf(stderr, "keten audit: --max-age %s: not a duration (e.g. 90m, "
                    "2h, 1d)\n", max_age);
    return CLI_EXIT_USAGE;
  }
  if (n_witness > 0 && n_keys == 0) {
    fprintf(stderr, "keten audit: --witness needs the broker's key "
                    "(--broker-key broker.pub, once per key that signed)\n");
    return CLI_EXIT_USAGE;
  }
  uint8_t subject[KETEN_SUBJECT_BYTES];
  if (is_subject && cli_subject(argv[first], chain, subject) != 0)
    return CLI_EXIT_USAGE;
  char err[512];
  if (access(store_path, F_OK) != 0) {
    fprintf(stderr, "keten audit: no store at %s\n", store_path);
    return CLI_EXIT_LOCAL;
  }
  /* Read-only, never migrated: verifying must not change the evidence. */
  store_t *store = store_open_readonly(store_path, err, sizeof err);
  if (!store) {
    fprintf(stderr, "keten audit: %s\n", err);
    return CLI_EXIT_LOCAL;
  }
  int rc;
  if (is_verify) {
    s_verify_opts_t o = {.key_paths = keys, .n_keys = n_keys,
                         .witness = witness, .n_witness = n_witness,
                         .max_age_ms = max_age_ms, .max_age = max_age};
    rc = s_verify(store, &o);
  } else {
    s_report_t r = {.all = all};
    rc = store_audit_of_subject(store, subject, s_report, &r) == 0
             ? CLI_EXIT_OK
             : CLI_EXIT_LOCAL;
    fprintf(stderr, "keten audit: %llu entr%s\n", (unsigned long long)r.n,
            r.n == 1 ? "y" : "ies");
  }
  store_close(&store);
  return rc;
}
