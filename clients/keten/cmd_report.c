/* keten audit report — the person's access report, from the store.
 *
 *   keten audit report SUBJECT --store DB [--format text|html|json]
 *                      [--lang nl|en|ar|...] [--tz ZONE] [--out FILE]
 *                      [--proofs DIR]
 *
 * Every disclosure carries the inclusion proof of its first audit entry
 * against the latest signed tree head in the store's tree_head table, in
 * the bundle form `keten audit prove` checks offline (JSON "proof"; with
 * --proofs also DIR/proof-SEQ.json), computed here from audit_node and
 * the entries (docs/protocol.md 10.5); none, with the reason, when no
 * head covers the entry.
 *
 * Runs where the store is (the broker host, or a copy of the store),
 * like `keten audit subject`, and opens it READ-ONLY with SQLite itself
 * (mode=ro; immutable=1 when even that needs a write, e.g. a WAL store on
 * read-only media): it never migrates nor writes the evidence. SUBJECT is
 * the 64-hex pseudonym only: the FG has a partner derive it from the
 * V-nummer on the partner's own machine (`keten subject --chain-key`,
 * docs/operations.md 14.5), so neither the V-nummer nor the chain key
 * comes to the broker host.
 *
 * The catalogs (share/keten/report/LANG.json) are found in
 * $KETEN_SHARE_DIR/report, else ../share/keten/report beside the
 * executable (the install tree), else the source tree (a build-tree
 * binary: KETEN_SOURCE_SHARE_DIR). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "keten.pb-c.h"
#include "merkle.h"
#include "report.h"

int cmd_audit_report(int argc, char **argv);

static void s_usage(FILE *out) {
  fprintf(out,
          "usage: keten audit report --store FILE [--format text|html|json]\n"
          "                          [--lang LANG] [--tz ZONE] [--out FILE]\n"
          "                          [--proofs DIR] SUBJECT\n"
          "\n"
          "The person's access report: every disclosure of their sections (to\n"
          "whom, which kinds and versions, when, how, for which purpose, under\n"
          "which consent), then refusals, consent changes, TVS events, notices\n"
          "and erasures, in the person's language. SUBJECT is the 64-hex\n"
          "pseudonym (derive it from the V-nummer on a partner's machine with\n"
          "`keten subject`; never bring the V-nummer or the chain key here).\n"
          "The store is opened read-only and never migrated.\n"
          "\n"
          "  -s, --store FILE     the broker's SQLite store, or a copy\n"
          "  -f, --format FMT     text (default), html (one static file), json\n"
          "  -l, --lang LANG      nl (default), en, ar, or any LANG.json catalog\n"
          "  -z, --tz ZONE        time zone of the times shown (default\n"
          "                       Europe/Amsterdam)\n"
          "  -o, --out FILE       write there (mode 0600) instead of stdout\n"
          "  -p, --proofs DIR     also write each disclosure's inclusion proof\n"
          "                       (its first entry, against the latest signed\n"
          "                       tree head) as DIR/proof-SEQ.json (0600), for\n"
          "                       the person; check one with `keten audit prove\n"
          "                       --broker-key broker.pub FILE`\n"
          "  -h, --help           print this help\n");
}

/* ---- the store, read-only ----------------------------------------------- */

static sqlite3 *s_open(const char *path, int immutable, char *err,
                       size_t errlen) {
  char uri[8192];
  size_t o = (size_t)snprintf(uri, sizeof uri, "file:");
  for (const char *p = path; *p && o + 4 < sizeof uri; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == '%' || c == '?' || c == '#' || c <= ' ' || c >= 0x7F)
      o += (size_t)snprintf(uri + o, sizeof uri - o, "%%%02X", c);
    else
      uri[o++] = (char)c;
  }
  uri[o] = '\0';
  snprintf(uri + o, sizeof uri - o, "?mode=ro%s", immutable ? "&immutable=1" : "");
  sqlite3 *db = NULL;
  int rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI,
                           NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
  if (rc != SQLITE_OK) {
    snprintf(err, errlen, "%s", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close(db);
    return NULL;
  }
  return db;
}

static int s_has_table(sqlite3 *db, const char *name) {
  sqlite3_stmt *st = NULL;
  int found = 0;
  if (sqlite3_prepare_v2(db,
                         "SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                         "name = ?1",
                         -1, &st, NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    found = sqlite3_step(st) == SQLITE_ROW;
  }
  sqlite3_finalize(st);
  return found;
}

static void s_text(char *dst, size_t cap, sqlite3_stmt *st, int col) {
  const unsigned char *t = sqlite3_column_text(st, col);
  int n = sqlite3_column_bytes(st, col);
  if (!t || n < 0)
    n = 0;
  if ((size_t)n >= cap)
    n = (int)cap - 1;
  if (n)
    memcpy(dst, t, (size_t)n);
  dst[n] = '\0';
}

static void s_blob(uint8_t *dst, size_t len, sqlite3_stmt *st, int col) {
  const void *b = sqlite3_column_blob(st, col);
  if (b && (size_t)sqlite3_column_bytes(st, col) == len)
    memcpy(dst, b, len);
  else
    memset(dst, 0, len);
}

typedef struct {
  void *items;
  size_t n, cap, size;
} s_vec_t;

static void *s_grow(s_vec_t *v) {
  if (v->n == v->cap) {
    size_t nc = v->cap ? 2 * v->cap : 32;
    void *g = realloc(v->items, nc * v->size);
    if (!g)
      return NULL;
    v->items = g;
    v->cap = nc;
  }
  void *p = (char *)v->items + v->n++ * v->size;
  memset(p, 0, v->size);
  return p;
}

#define S_AUDIT_COLS                                                            \
  "SELECT seq, name, status, start_ms, end_ms, actor, counterparty, subject, " \
  "kind, consent_id, purpose, detail FROM audit "

static int s_audit(sqlite3 *db, const char *where, const uint8_t *subject,
                   s_vec_t *out) {
  char sql[512];
  snprintf(sql, sizeof sql, "%s%s ORDER BY seq", S_AUDIT_COLS, where);
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
    return -1;
  if (subject)
    sqlite3_bind_blob(st, 1, subject, 32, SQLITE_STATIC);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    audit_entry_t *e = s_grow(out);
    if (!e) {
      sqlite3_finalize(st);
      return -1;
    }
    e->seq = (uint64_t)sqlite3_column_int64(st, 0);
    s_text(e->name, sizeof e->name, st, 1);
    e->status = sqlite3_column_int(st, 2);
    e->start_ms = sqlite3_column_int64(st, 3);
    e->end_ms = sqlite3_column_int64(st, 4);
    s_text(e->actor, sizeof e->actor, st, 5);
    s_text(e->counterparty, sizeof e->counterparty, st, 6);
    s_blob(e->subject, 32, st, 7);
    e->kind = sqlite3_column_int(st, 8);
    s_blob(e->consent_id, 16, st, 9);
    e->purpose = sqlite3_column_int(st, 10);
    s_text(e->detail, sizeof e->detail, st, 11);
  }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

/* Every participant the registry knows or knew: the name of its newest
 * entry that is still installed, else of its newest entry. */
static int s_parties(sqlite3 *db, s_vec_t *out) {
  int registry = s_has_table(db, "registry_entry");
  const char *sql =
      registry ? "SELECT id, display_name, removed_at_ms IS NOT NULL FROM "
                 "registry_entry ORDER BY id, removed_at_ms IS NULL, "
                 "issued_at_ms, added_at_ms"
               : "SELECT id, display_name, 0 FROM participant ORDER BY id";
  if (!registry && !s_has_table(db, "participant"))
    return 0;
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
    return -1;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    char id[REPORT_ID_MAX + 1];
    s_text(id, sizeof id, st, 0);
    report_party_t *p = out->n ? (report_party_t *)out->items + out->n - 1 : NULL;
    if (!p || strcmp(p->id, id)) {
      p = s_grow(out);
      if (!p) {
        sqlite3_finalize(st);
        return -1;
      }
      snprintf(p->id, sizeof p->id, "%s", id);
      p->removed = 1;
    }
    /* rows of an id come removed ones first, then installed ones */
    s_text(p->name, sizeof p->name, st, 1);
    if (!sqlite3_column_int(st, 2))
      p->removed = 0;
  }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

static void s_str(char *dst, size_t cap, const char *src) {
  snprintf(dst, cap, "%s", src ? src : "");
}

static int s_consents(sqlite3 *db, const uint8_t subject[32], s_vec_t *out) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(
          db,
          "SELECT consent_id, recorded_by, recipient, sections, purpose, basis, "
          "valid_from_ms, valid_until_ms, record, revoked_at_ms, revoked_by, "
          "revocation FROM consent WHERE subject = ?1 ORDER BY rowid",
          -1, &st, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_blob(st, 1, subject, 32, SQLITE_STATIC);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    report_consent_t *k = s_grow(out);
    if (!k) {
      sqlite3_finalize(st);
      return -1;
    }
    s_blob(k->consent_id, 16, st, 0);
    s_text(k->recorded_by, sizeof k->recorded_by, st, 1);
    s_text(k->recipient, sizeof k->recipient, st, 2);
    k->sections = (uint64_t)sqlite3_column_int64(st, 3);
    k->purpose = sqlite3_column_int(st, 4);
    k->basis = sqlite3_column_int(st, 5);
    k->valid_from_ms = sqlite3_column_int64(st, 6);
    k->valid_until_ms = sqlite3_column_int64(st, 7);
    Keten__Consent *c = keten__consent__unpack(
        NULL, (size_t)sqlite3_column_bytes(st, 8), sqlite3_column_blob(st, 8));
    if (c) {
      s_str(k->evidence_ref, sizeof k->evidence_ref, c->evidence_ref);
      s_str(k->legal_reference, sizeof k->legal_reference, c->legal_reference);
      k->recorded_at_ms = (int64_t)c->recorded_at_ms;
      keten__consent__free_unpacked(c, NULL);
    }
    if (sqlite3_column_type(st, 9) != SQLITE_NULL) {
      k->revoked = 1;
      k->revoked_at_ms = sqlite3_column_int64(st, 9);
      s_text(k->revoked_by, sizeof k->revoked_by, st, 10);
      if (sqlite3_column_type(st, 11) == SQLITE_BLOB) {
        Keten__Revocation *v = keten__revocation__unpack(
            NULL, (size_t)sqlite3_column_bytes(st, 11),
            sqlite3_column_blob(st, 11));
        if (v) {
          s_str(k->revocation_evidence, sizeof k->revocation_evidence,
                v->evidence_ref);
          s_str(k->revocation_reason, sizeof k->revocation_reason, v->reason);
          keten__revocation__free_unpacked(v, NULL);
        }
      }
    }
  }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

static int s_versions(sqlite3 *db, const uint8_t subject[32], s_vec_t *out) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db,
                         "SELECT kind, author, version FROM section WHERE "
                         "subject = ?1 ORDER BY kind, author, version",
                         -1, &st, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_blob(st, 1, subject, 32, SQLITE_STATIC);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    report_version_t *v = s_grow(out);
    if (!v) {
      sqlite3_finalize(st);
      return -1;
    }
    v->kind = sqlite3_column_int(st, 0);
    s_text(v->author, sizeof v->author, st, 1);
    v->version = (uint64_t)sqlite3_column_int64(st, 2);
  }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

static int s_head(sqlite3 *db, report_input_t *in) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db, "SELECT count(*) FROM audit", -1, &st, NULL) !=
          SQLITE_OK ||
      sqlite3_step(st) != SQLITE_ROW) {
    sqlite3_finalize(st);
    return -1;
  }
  in->audit_size = (uint64_t)sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  if (!s_has_table(db, "tree_head"))
    return 0;
  st = NULL;
  if (sqlite3_prepare_v2(db,
                         "SELECT size, timestamp_ms, root, broker_key, "
                         "signature FROM tree_head ORDER BY size DESC, "
                         "timestamp_ms DESC LIMIT 1",
                         -1, &st, NULL) != SQLITE_OK)
    return -1;
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    in->has_head = 1;
    in->head_size = (uint64_t)sqlite3_column_int64(st, 0);
    in->head_ms = sqlite3_column_int64(st, 1);
    s_blob(in->head_root, 32, st, 2);
    s_blob(in->head_key, 32, st, 3);
    s_blob(in->head_signature, 64, st, 4);
  }
  sqlite3_finalize(st);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* ---- proofs (docs/protocol.md 10.5) ------------------------------------------ */

/* The whole entry seq (every field its canonical string hashes): 1, 0 if
 * there is none, -1. */
static int s_entry_full(sqlite3 *db, uint64_t seq, audit_entry_t *e) {
  sqlite3_stmt *st = NULL;
  memset(e, 0, sizeof *e);
  if (sqlite3_prepare_v2(
          db,
          "SELECT seq, trace_id, operation_id, parent_operation_id, name, "
          "status, start_ms, end_ms, actor, counterparty, subject, kind, "
          "consent_id, purpose, foreign_trace_id, foreign_operation_id, "
          "detail, prev_hash FROM audit WHERE seq = ?1",
          -1, &st, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    e->seq = (uint64_t)sqlite3_column_int64(st, 0);
    s_blob(e->trace_id, 16, st, 1);
    s_blob(e->operation_id, 8, st, 2);
    s_blob(e->parent_operation_id, 8, st, 3);
    s_text(e->name, sizeof e->name, st, 4);
    e->status = sqlite3_column_int(st, 5);
    e->start_ms = sqlite3_column_int64(st, 6);
    e->end_ms = sqlite3_column_int64(st, 7);
    s_text(e->actor, sizeof e->actor, st, 8);
    s_text(e->counterparty, sizeof e->counterparty, st, 9);
    s_blob(e->subject, 32, st, 10);
    e->kind = sqlite3_column_int(st, 11);
    s_blob(e->consent_id, 16, st, 12);
    e->purpose = sqlite3_column_int(st, 13);
    s_blob(e->foreign_trace_id, 16, st, 14);
    s_blob(e->foreign_operation_id, 8, st, 15);
    s_text(e->detail, sizeof e->detail, st, 16);
    s_blob(e->prev_hash, AUDIT_HASH_BYTES, st, 17);
  }
  sqlite3_finalize(st);
  return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

typedef struct {
  sqlite3 *db;
  sqlite3_stmt *node; /* SELECT hash FROM audit_node, or NULL */
} s_tree_t;

/* merkle_get_fn: the node from audit_node (schema 6 keeps every complete
 * one), else computed from the leaves of its entries. */
static int s_tree_get(void *arg, unsigned level, uint64_t idx,
                      uint8_t out[MERKLE_HASH_BYTES]) {
  s_tree_t *t = arg;
  if (t->node) {
    sqlite3_reset(t->node);
    sqlite3_bind_int64(t->node, 1, (sqlite3_int64)level);
    sqlite3_bind_int64(t->node, 2, (sqlite3_int64)idx);
    if (sqlite3_step(t->node) == SQLITE_ROW &&
        sqlite3_column_bytes(t->node, 0) == MERKLE_HASH_BYTES) {
      memcpy(out, sqlite3_column_blob(t->node, 0), MERKLE_HASH_BYTES);
      sqlite3_reset(t->node);
      return 0;
    }
    sqlite3_reset(t->node);
  }
  if (level > 24) /* 2^24 leaves in memory: not from a report */
    return -1;
  uint64_t n = UINT64_C(1) << level, first = idx << level;
  uint8_t *leaves = malloc((size_t)n * MERKLE_HASH_BYTES);
  if (!leaves)
    return -1;
  for (uint64_t i = 0; i < n; i++) {
    audit_entry_t e;
    if (s_entry_full(t->db, first + i + 1, &e) != 1) {
      free(leaves);
      return -1;
    }
    audit_leaf_hash(&e, leaves + i * MERKLE_HASH_BYTES);
  }
  int rc = merkle_root(leaves, n, out);
  free(leaves);
  return rc;
}

/* Sets each disclosure's proof of its first entry against in's head (the
 * latest stored), or why there is none. It checks every proof it makes
 * (merkle_verify_inclusion) so that none handed out fails for a reason of
 * the store's. 0, or -1 (no memory). */
static int s_proofs(sqlite3 *db, const report_input_t *in, report_t *r) {
  s_tree_t t = {.db = db};
  if (in->has_head && s_has_table(db, "audit_node") &&
      sqlite3_prepare_v2(db,
                         "SELECT hash FROM audit_node WHERE level = ?1 AND "
                         "idx = ?2",
                         -1, &t.node, NULL) != SQLITE_OK)
    t.node = NULL;
  int rc = 0;
  for (size_t i = 0; i < r->n_disclosures && rc == 0; i++) {
    report_disclosure_t *d = &r->disclosures[i];
    uint64_t seq = d->first_seq;
    if (!in->has_head) {
      d->proof_missing = REPORT_PROOF_NO_HEAD;
      continue;
    }
    if (seq == 0 || seq > in->head_size) {
      d->proof_missing = REPORT_PROOF_NEWER;
      continue;
    }
    d->proof_missing = REPORT_PROOF_UNAVAILABLE;
    audit_entry_t e;
    uint8_t proof[MERKLE_PROOF_BYTES], leaf[MERKLE_HASH_BYTES];
    size_t n = 0;
    if (s_entry_full(db, seq, &e) != 1 ||
        merkle_inclusion_proof(seq - 1, in->head_size, s_tree_get, &t, proof,
                               &n) != 0)
      continue;
    audit_leaf_hash(&e, leaf);
    if (merkle_verify_inclusion(seq - 1, in->head_size, leaf, proof, n,
                                in->head_root) != 0)
      continue;
    d->proof = report_proof_bundle(in, &e, proof, n);
    if (d->proof)
      d->proof_missing = 0;
    else
      rc = -1;
  }
  sqlite3_finalize(t.node);
  return rc;
}

/* Writes each disclosure's bundle to dir/proof-SEQ.json (0600, never
 * through a symlink; dir is made 0700 if missing). Returns how many, or -1. */
static int s_write_proofs(const report_t *r, const char *dir) {
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
    fprintf(stderr, "keten audit report: %s: %s\n", dir, strerror(errno));
    return -1;
  }
  int n = 0;
  for (size_t i = 0; i < r->n_disclosures; i++) {
    const report_disclosure_t *d = &r->disclosures[i];
    if (!d->proof)
      continue;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/proof-%llu.json", dir,
             (unsigned long long)d->first_seq);
    char *text = json_dumps(d->proof, JSON_COMPACT | JSON_PRESERVE_ORDER);
    int fd = text ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
                                   O_CLOEXEC,
                         0600)
                  : -1;
    size_t len = text ? strlen(text) : 0;
    int ok = fd >= 0 && fchmod(fd, 0600) == 0 &&
             write(fd, text, len) == (ssize_t)len && write(fd, "\n", 1) == 1;
    if (fd >= 0 && close(fd) != 0)
      ok = 0;
    int oom = !text;
    free(text);
    if (!ok) {
      fprintf(stderr, "keten audit report: %s: %s\n", path,
              oom ? "out of memory" : strerror(errno));
      return -1;
    }
    n++;
  }
  return n;
}

/* ---- options --------------------------------------------------------------- */

/* 1 if tz names a zone of the system's database (TZDIR or
 * /usr/share/zoneinfo), or is UTC. */
static int s_tz_valid(const char *tz) {
  if (!strcmp(tz, "UTC"))
    return 1;
  if (!tz[0] || tz[0] == '/' || tz[0] == ':' || strstr(tz, ".."))
    return 0;
  for (const char *p = tz; *p; p++)
    if (!(*p == '/' || *p == '_' || *p == '-' || *p == '+' ||
          (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
          (*p >= '0' && *p <= '9')))
      return 0;
  const char *dir = getenv("TZDIR");
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", dir && dir[0] ? dir : "/usr/share/zoneinfo",
           tz);
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int s_dir_has(const char *dir, const char *lang) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s.json", dir, lang);
  return access(path, R_OK) == 0;
}

/* The directory of the catalogs, into dir (PATH_MAX). */
static int s_catalog_dir(const char *lang, char *dir) {
  const char *env = getenv("KETEN_SHARE_DIR");
  if (env && env[0]) {
    snprintf(dir, PATH_MAX, "%s/report", env);
    return 0; /* an explicit choice: used (and its errors reported) as it is */
  }
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    snprintf(dir, PATH_MAX, "%s/../share/keten/report", dirname(exe));
    if (s_dir_has(dir, lang))
      return 0;
  }
#ifdef KETEN_SOURCE_SHARE_DIR
  snprintf(dir, PATH_MAX, "%s/report", KETEN_SOURCE_SHARE_DIR);
  if (s_dir_has(dir, lang))
    return 0;
#endif
  return -1;
}

static int s_hex32(const char *s, uint8_t out[32]) {
  if (strlen(s) != 64)
    return -1;
  for (int i = 0; i < 32; i++) {
    unsigned v = 0;
    for (int j = 0; j < 2; j++) {
      char c = s[2 * i + j];
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= (unsigned)(c - '0');
      else if (c >= 'a' && c <= 'f')
        v |= (unsigned)(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        v |= (unsigned)(c - 'A' + 10);
      else
        return -1;
    }
    out[i] = (uint8_t)v;
  }
  return 0;
}

static int64_t s_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cmd_audit_report(int argc, char **argv) {
  static const struct option opts[] = {{"store", required_argument, NULL, 's'},
                                       {"format", required_argument, NULL, 'f'},
                                       {"lang", required_argument, NULL, 'l'},
                                       {"tz", required_argument, NULL, 'z'},
                                       {"out", required_argument, NULL, 'o'},
                                       {"proofs", required_argument, NULL, 'p'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *store_path = NULL, *format_s = "text", *lang = "nl",
             *tz = "Europe/Amsterdam", *out_path = NULL, *proofs_dir = NULL;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "s:f:l:z:o:p:h", opts, NULL)) != -1) {
    switch (c) {
    case 's': store_path = optarg; break;
    case 'f': format_s = optarg; break;
    case 'l': lang = optarg; break;
    case 'z': tz = optarg; break;
    case 'o': out_path = optarg; break;
    case 'p': proofs_dir = optarg; break;
    case 'h': s_usage(stdout); return CLI_EXIT_OK;
    default: s_usage(stderr); return CLI_EXIT_USAGE;
    }
  }
  if (!store_path || argc - optind != 1) {
    s_usage(stderr);
    return CLI_EXIT_USAGE;
  }
  int format = !strcmp(format_s, "text")   ? REPORT_TEXT
               : !strcmp(format_s, "html") ? REPORT_HTML
               : !strcmp(format_s, "json") ? REPORT_JSON
                                           : 0;
  if (!format) {
    fprintf(stderr, "keten audit report: --format is text, html or json\n");
    return CLI_EXIT_USAGE;
  }
  report_input_t in = {.time_zone = tz};
  if (s_hex32(argv[optind], in.subject) != 0) {
    fprintf(stderr,
            "keten audit report: SUBJECT must be the 64-hex pseudonym; derive "
            "it from the V-nummer on a partner's machine (`keten subject "
            "--chain-key FILE V-NUMMER`), not here\n");
    return CLI_EXIT_USAGE;
  }
  if (!report_lang_valid(lang)) {
    fprintf(stderr, "keten audit report: not a language code: %s\n", lang);
    return CLI_EXIT_USAGE;
  }
  if (!s_tz_valid(tz)) {
    fprintf(stderr, "keten audit report: unknown time zone %s\n", tz);
    return CLI_EXIT_USAGE;
  }
  char dir[PATH_MAX], err[512];
  if (s_catalog_dir(lang, dir) != 0) {
    fprintf(stderr,
            "keten audit report: no catalog %s.json (set KETEN_SHARE_DIR to "
            "the directory holding report/)\n",
            lang);
    return CLI_EXIT_LOCAL;
  }
  report_catalog_t cat;
  if (report_catalog_load(&cat, dir, lang, err, sizeof err) != 0) {
    fprintf(stderr, "keten audit report: %s\n", err);
    return CLI_EXIT_LOCAL;
  }
  if (access(store_path, R_OK) != 0) {
    fprintf(stderr, "keten audit report: no store at %s\n", store_path);
    report_catalog_free(&cat);
    return CLI_EXIT_LOCAL;
  }
  sqlite3 *db = s_open(store_path, 0, err, sizeof err);
  if (!db) /* e.g. a WAL store on read-only media: no -shm can be made */
    db = s_open(store_path, 1, err, sizeof err);
  if (!db) {
    fprintf(stderr, "keten audit report: %s: %s\n", store_path, err);
    report_catalog_free(&cat);
    return CLI_EXIT_LOCAL;
  }
  s_vec_t entries = {.size = sizeof(audit_entry_t)},
          unsent = {.size = sizeof(audit_entry_t)},
          parties = {.size = sizeof(report_party_t)},
          consents = {.size = sizeof(report_consent_t)},
          versions = {.size = sizeof(report_version_t)};
  int rc = CLI_EXIT_LOCAL;
  if (s_audit(db, "WHERE subject = ?1", in.subject, &entries) != 0 ||
      s_audit(db, "WHERE name = 'keten.delivery.unsent'", NULL, &unsent) != 0 ||
      s_parties(db, &parties) != 0 ||
      s_consents(db, in.subject, &consents) != 0 ||
      s_versions(db, in.subject, &versions) != 0 || s_head(db, &in) != 0) {
    fprintf(stderr, "keten audit report: cannot read the store: %s\n",
            sqlite3_errmsg(db));
    goto done;
  }
  in.entries = entries.items;
  in.n_entries = entries.n;
  in.unsent = unsent.items;
  in.n_unsent = unsent.n;
  in.parties = parties.items;
  in.n_parties = parties.n;
  in.consents = consents.items;
  in.n_consents = consents.n;
  in.versions = versions.items;
  in.n_versions = versions.n;
  in.generated_ms = s_now_ms();
  if (setenv("TZ", tz, 1) != 0) {
    fprintf(stderr, "keten audit report: cannot set the time zone\n");
    goto done;
  }
  tzset();
  report_t r;
  if (report_build(&in, &r) != 0) {
    fprintf(stderr, "keten audit report: out of memory\n");
    goto done;
  }
  if (s_proofs(db, &in, &r) != 0) {
    fprintf(stderr, "keten audit report: out of memory\n");
    report_free(&r);
    goto done;
  }
  int n_proofs = proofs_dir ? s_write_proofs(&r, proofs_dir) : 0;
  if (n_proofs < 0) {
    report_free(&r);
    goto done;
  }
  FILE *out = stdout;
  if (out_path) {
    /* personal data of the person: 0600, never through a symlink */
    int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                  0600);
    out = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!out) {
      fprintf(stderr, "keten audit report: %s: %s\n", out_path, strerror(errno));
      if (fd >= 0)
        close(fd);
      report_free(&r);
      goto done;
    }
  }
  int wrc = report_render(&r, &cat, format, out);
  if (out != stdout && fclose(out) != 0)
    wrc = -1;
  if (wrc != 0)
    fprintf(stderr, "keten audit report: cannot write the report\n");
  else
    fprintf(stderr,
            "keten audit report: %zu disclosure(s), %zu refusal(s), %zu "
            "consent change(s) from %zu entries\n",
            r.n_disclosures, r.n_events[REPORT_PART_REFUSALS],
            r.n_events[REPORT_PART_CONSENTS], entries.n);
  if (wrc == 0 && proofs_dir)
    fprintf(stderr,
            "keten audit report: %d proof(s) in %s (check one with keten "
            "audit prove --broker-key broker.pub FILE)\n",
            n_proofs, proofs_dir);
  rc = wrc == 0 ? CLI_EXIT_OK : CLI_EXIT_LOCAL;
  report_free(&r);
done:
  sqlite3_close(db);
  free(entries.items);
  free(unsent.items);
  free(parties.items);
  free(consents.items);
  free(versions.items);
  report_catalog_free(&cat);
  return rc;
}
