/* store_sqlite — the store interface on embedded SQLite.
 *
 * WAL mode with synchronous=FULL: a commit returns only after the WAL is
 * fsync'd. The schema is versioned with PRAGMA user_version; s_migrations
 * brings an older store up to date inside one transaction per step.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "audit_log.h"
#include "canon.h"
#include "policy.h"
#include "store.h"
#include "store_file.h"

/* Prepared statements, made once and reused (the hot paths run many
 * times per batch). */
enum {
  ST_BEGIN, ST_COMMIT, ST_ROLLBACK, ST_SAVEPOINT, ST_RELEASE, ST_ROLLBACK_TO,
  ST_MSG_SEEN, ST_MSG_PRUNE, ST_CONSENT_PUT, ST_CONSENT_GET, ST_CONSENT_REVOKE,
  ST_CONSENTS_LIVE, ST_CONSENTS_LIVE_BY, ST_CONSENTS_LIVE_TO,
  ST_CONSENTS_LIVE_BY_TO, ST_CONSENT_COUNT, ST_CONSENT_RECIPIENTS, ST_CONSENT_RECORD,
  ST_CONSENT_RECORDS, ST_NOTICE_PUT, ST_NOTICE_PUSH, ST_MAILBOX_ACK_NOTICES,
  ST_MAILBOX_DROP_NOTICE, ST_CONSENTS_EXPIRED,
  ST_CONSENT_EXPIRED_DONE, ST_SECTION_LATEST_VERSION, ST_SUBJECT_KNOWN,
  ST_SECTION_PUT, ST_WRAP_PUT, ST_MAILBOX_STATE, ST_MAILBOX_HEAD_BUMP, ST_MAILBOX_PUSH, ST_SECTIONS_LATEST, ST_SECTIONS_AFTER, ST_MAILBOX_READ,
  ST_MAILBOX_ACK_DELETE, ST_MAILBOX_DROP, ST_AUDIT_GET, ST_MAILBOX_ACK_STATE, ST_REVOKE_PENDING,
  ST_REVOKE_WRAPS, ST_AUDIT_HEAD, ST_AUDIT_PUT, ST_AUDIT_EACH,
  ST_AUDIT_SUBJECT, ST_CHECKPOINT_PUT, ST_CHECKPOINTS,
  ST_WRAP_MAX_VERSION, ST_SECTION_BY_ID, ST_TVS_EVENT_FIND, ST_TVS_EVENT_PUT,
  ST_TVS_EVENT_RECORD, ST_TVS_LINK_ACTIVE, ST_TVS_LINK_START, ST_TVS_LINK_END,
  ST_TVS_LINK_HOUSED, ST_TVS_LINKS_OF, ST_TVS_LINKS_OF_PERIOD, ST_TVS_COUNTS,
  ST_TVS_TARGET_PUT, ST_TVS_TARGET_GET, ST_REWRAP_ADD, ST_REWRAP_GET,
  ST_REWRAP_FINISH, ST_REWRAP_CANCEL, ST_REWRAP_CANCEL_BY, ST_REWRAP_STALE,
  ST_REWRAP_QUEUED, ST_CONSENT_START_PENDING, ST_CONSENTS_STARTED,
  ST_MAILBOX_MARK_SENT, ST_MAILBOX_CLEAR_SENT,
  ST_MAILBOX_PENDING_FROM,
  ST_AUTHOR_BYTES,
  /* the audit log's Merkle tree (issue 9, H9) */
  ST_AUDIT_NODE_PUT, ST_AUDIT_NODE_GET, ST_TREE_HEAD_PUT, ST_TREE_HEAD_GET,
  ST_TREE_HEAD_LATEST,
  ST_COUNT
};

struct store {
  sqlite3 *db;
  int schema_version;
  int erased;            /* the transaction erased: truncate the WAL after it */
  sqlite3_stmt *stmts[ST_COUNT];
  /* The audit chain's head within the current transaction (another
   * process may append between transactions; a rollback undoes appends). */
  int head_cached;
  uint64_t head_seq;
  uint8_t head_hash[AUDIT_HASH_BYTES];
  /* The Merkle tree's right border at head_seq (audit_log.h), valid with
   * head_cached; merkle_on once the store has audit_node (schema 6). */
  int merkle_on;
  merkle_frontier_t frontier;
};

static int s_migrate3(store_t *s, char *err, size_t errlen);
static int s_migrate6(store_t *s, char *err, size_t errlen);

/* Migration N (1-based) takes the schema from version N-1 to N: its SQL,
 * then (if any) a C step, then its closing SQL, in one transaction. */
typedef struct {
  const char *sql;
  int (*step)(store_t *s, char *err, size_t errlen);
  const char *sql_after;
} s_migration_t;

static const s_migration_t s_migrations[] = {
    /* 1: the participant registry */
    {"CREATE TABLE participant ("
    "  id TEXT PRIMARY KEY,"
    "  role INTEGER NOT NULL,"
    "  display_name TEXT NOT NULL,"
    "  transport_pk BLOB NOT NULL UNIQUE CHECK (length(transport_pk) = 32),"
    "  signing_pk BLOB NOT NULL CHECK (length(signing_pk) = 32),"
    "  sealing_pk BLOB NOT NULL CHECK (length(sealing_pk) = 32),"
    "  added_at_ms INTEGER NOT NULL"
    ") STRICT;", NULL, NULL},
    /* 2: consents, sealed sections, key wraps, mailboxes, replay guard,
     * and the audit chain */
    {"CREATE TABLE consent ("
    "  consent_id BLOB PRIMARY KEY CHECK (length(consent_id) = 16),"
    "  subject BLOB NOT NULL CHECK (length(subject) = 32),"
    "  recorded_by TEXT NOT NULL,"
    "  recipient TEXT NOT NULL,"
    "  sections INTEGER NOT NULL,"
    "  purpose INTEGER NOT NULL,"
    "  basis INTEGER NOT NULL,"
    "  valid_from_ms INTEGER NOT NULL,"
    "  valid_until_ms INTEGER NOT NULL,"
    "  record BLOB NOT NULL,"
    "  revoked_at_ms INTEGER,"
    "  revoked_by TEXT,"
    "  revocation BLOB,"
    "  expiry_done INTEGER NOT NULL DEFAULT 0"
    ") STRICT;"
    "CREATE INDEX consent_by_subject ON consent (subject, recipient);"
    "CREATE INDEX consent_by_expiry ON consent (valid_until_ms)"
    "  WHERE revoked_at_ms IS NULL AND expiry_done = 0;"
    "CREATE TABLE section ("
    "  id INTEGER PRIMARY KEY,"
    "  subject BLOB NOT NULL CHECK (length(subject) = 32),"
    "  kind INTEGER NOT NULL,"
    "  author TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  created_at_ms INTEGER NOT NULL,"
    "  nonce BLOB NOT NULL,"
    "  ciphertext BLOB NOT NULL,"
    "  signature BLOB NOT NULL,"
    "  UNIQUE (subject, kind, author, version)"
    ") STRICT;"
    "CREATE TABLE wrap ("
    "  section_id INTEGER NOT NULL REFERENCES section (id) ON DELETE CASCADE,"
    "  recipient TEXT NOT NULL,"
    "  wrap BLOB NOT NULL,"
    "  PRIMARY KEY (section_id, recipient)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE TABLE mailbox ("
    "  recipient TEXT NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  section_id INTEGER NOT NULL REFERENCES section (id) ON DELETE CASCADE,"
    "  PRIMARY KEY (recipient, seq)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE INDEX mailbox_by_section ON mailbox (section_id);"
    "CREATE TABLE mailbox_state ("
    "  recipient TEXT PRIMARY KEY,"
    "  head_seq INTEGER NOT NULL,"
    "  acked_seq INTEGER NOT NULL"
    ") STRICT;"
    "CREATE TABLE seen_message ("
    "  sender TEXT NOT NULL,"
    "  message_id BLOB NOT NULL,"
    "  at_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (sender, message_id)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE INDEX seen_message_by_time ON seen_message (at_ms);"
    "CREATE TABLE audit ("
    "  seq INTEGER PRIMARY KEY,"
    "  trace_id BLOB NOT NULL,"
    "  operation_id BLOB NOT NULL,"
    "  parent_operation_id BLOB NOT NULL,"
    "  name TEXT NOT NULL,"
    "  status INTEGER NOT NULL,"
    "  start_ms INTEGER NOT NULL,"
    "  end_ms INTEGER NOT NULL,"
    "  actor TEXT NOT NULL,"
    "  counterparty TEXT NOT NULL,"
    "  subject BLOB NOT NULL,"
    "  kind INTEGER NOT NULL,"
    "  consent_id BLOB NOT NULL,"
    "  purpose INTEGER NOT NULL,"
    "  foreign_trace_id BLOB NOT NULL,"
    "  foreign_operation_id BLOB NOT NULL,"
    "  detail TEXT NOT NULL,"
    "  prev_hash BLOB NOT NULL,"
    "  hash BLOB NOT NULL"
    ") STRICT;"
    /* No index on audit.subject: inserting 32-byte random keys into a
     * growing index made every append cost more as the log grew. The
     * access report (rare, offline) scans the log instead. */
    "CREATE TABLE audit_checkpoint ("
    "  seq INTEGER PRIMARY KEY,"
    "  head_hash BLOB NOT NULL,"
    "  at_ms INTEGER NOT NULL,"
    "  signature BLOB NOT NULL"
    ") STRICT;", NULL, NULL},
    /* 3: root-signed registry entries (several per participant: key
     * rotation), live-consent indexes by recorder, the author's signing key
     * of each section, notices in mailboxes; consents and access that the
     * controller-scoped rule no longer allows are closed (s_migrate3). */
    {"CREATE TABLE registry_entry ("
     "  entry_hash BLOB PRIMARY KEY CHECK (length(entry_hash) = 32),"
     "  id TEXT NOT NULL,"
     "  role INTEGER NOT NULL,"
     "  display_name TEXT NOT NULL,"
     "  transport_pk BLOB NOT NULL CHECK (length(transport_pk) = 32),"
     "  signing_pk BLOB NOT NULL CHECK (length(signing_pk) = 32),"
     "  sealing_pk BLOB NOT NULL CHECK (length(sealing_pk) = 32),"
     "  valid_from_ms INTEGER NOT NULL,"
     "  valid_until_ms INTEGER NOT NULL,"
     "  issued_at_ms INTEGER NOT NULL,"
     "  root_signature BLOB NOT NULL CHECK (length(root_signature) IN (0, 64)),"
     "  added_at_ms INTEGER NOT NULL,"
     "  removed_at_ms INTEGER"
     ") STRICT;"
     "CREATE INDEX registry_entry_by_id ON registry_entry (id);"
     "CREATE INDEX registry_entry_by_transport ON registry_entry (transport_pk);"
     "ALTER TABLE consent ADD COLUMN has_legal_reference INTEGER NOT NULL "
     "  DEFAULT 0;"
     "CREATE INDEX consent_live ON consent (subject, recorded_by, recipient)"
     "  WHERE revoked_at_ms IS NULL AND expiry_done = 0;"
     "CREATE INDEX consent_live_to ON consent (subject, recipient)"
     "  WHERE revoked_at_ms IS NULL AND expiry_done = 0;"
     "ALTER TABLE section ADD COLUMN author_signing_pk BLOB;"
     "UPDATE section SET author_signing_pk = (SELECT signing_pk FROM "
     "  participant p WHERE p.id = section.author);"
     "CREATE TABLE notice ("
     "  id INTEGER PRIMARY KEY,"
     "  kind INTEGER NOT NULL,"
     "  subject BLOB NOT NULL CHECK (length(subject) = 32),"
     "  payload BLOB NOT NULL,"
     "  created_at_ms INTEGER NOT NULL"
     ") STRICT;"
     "CREATE TABLE mailbox3 ("
     "  recipient TEXT NOT NULL,"
     "  seq INTEGER NOT NULL,"
     "  section_id INTEGER REFERENCES section (id) ON DELETE CASCADE,"
     "  notice_id INTEGER REFERENCES notice (id) ON DELETE CASCADE,"
     "  PRIMARY KEY (recipient, seq),"
     "  CHECK ((section_id IS NULL) <> (notice_id IS NULL))"
     ") STRICT, WITHOUT ROWID;"
     "INSERT INTO mailbox3 (recipient, seq, section_id) SELECT recipient, "
     "  seq, section_id FROM mailbox;"
     "DROP TABLE mailbox;"
     "ALTER TABLE mailbox3 RENAME TO mailbox;"
     "CREATE INDEX mailbox_by_section ON mailbox (section_id);"
     "CREATE INDEX mailbox_by_notice ON mailbox (notice_id);",
     s_migrate3, "DROP TABLE participant;"},
    /* 4: the TVS feed (events, links of subjects to gemeenten, taakstelling
     * figures) and rewrap requests to authors. */
    {"CREATE TABLE tvs_event ("
     "  id INTEGER PRIMARY KEY,"
     "  event_id BLOB NOT NULL UNIQUE CHECK (length(event_id) = 16),"
     "  kind INTEGER NOT NULL,"
     "  published_by TEXT NOT NULL,"
     "  record BLOB NOT NULL,"
     "  publisher_entry BLOB NOT NULL,"
     "  received_at_ms INTEGER NOT NULL"
     ") STRICT;"
     "CREATE TABLE tvs_link ("
     "  id INTEGER PRIMARY KEY,"
     "  subject BLOB NOT NULL CHECK (length(subject) = 32),"
     "  gemeente TEXT NOT NULL,"
     "  period TEXT NOT NULL,"
     "  linked_date TEXT NOT NULL,"
     "  household_size INTEGER NOT NULL,"
     "  housed_date TEXT,"
     "  koppeling_id INTEGER NOT NULL REFERENCES tvs_event (id),"
     "  linked_at_ms INTEGER NOT NULL,"
     "  ended_by INTEGER REFERENCES tvs_event (id),"
     "  ended_at_ms INTEGER"
     ") STRICT;"
     /* One active link per subject, enforced by the store itself. */
     "CREATE UNIQUE INDEX tvs_link_active ON tvs_link (subject)"
     "  WHERE ended_by IS NULL;"
     "CREATE INDEX tvs_link_by_gemeente ON tvs_link (gemeente, period);"
     "CREATE TABLE tvs_target ("
     "  gemeente TEXT NOT NULL,"
     "  period TEXT NOT NULL,"
     "  target INTEGER NOT NULL,"
     "  realised INTEGER NOT NULL,"
     "  at_ms INTEGER NOT NULL,"
     "  PRIMARY KEY (gemeente, period)"
     ") STRICT;"
     "CREATE TABLE rewrap ("
     "  id INTEGER PRIMARY KEY,"
     "  section_id INTEGER NOT NULL REFERENCES section (id) ON DELETE CASCADE,"
     "  subject BLOB NOT NULL CHECK (length(subject) = 32),"
     "  kind INTEGER NOT NULL,"
     "  author TEXT NOT NULL,"
     "  recipient TEXT NOT NULL,"
     "  state INTEGER NOT NULL DEFAULT 0,"
     "  created_at_ms INTEGER NOT NULL,"
     "  finished_at_ms INTEGER,"
     "  mailbox_seq INTEGER"
     ") STRICT;"
     "CREATE UNIQUE INDEX rewrap_pending ON rewrap (section_id, recipient)"
     "  WHERE state = 0;"
     /* Consents recorded before their validity starts: when it starts,
      * what their recorder stored before is asked to be resealed. */
     "ALTER TABLE consent ADD COLUMN start_pending INTEGER NOT NULL DEFAULT 0;"
     "CREATE INDEX consent_start_pending ON consent (valid_from_ms)"
     "  WHERE start_pending = 1;"
     /* When a mailbox entry was first handed to a connection: a resend of
      * an unacked window is not audited as another delivery. */
     "ALTER TABLE mailbox ADD COLUMN sent_at_ms INTEGER;"
     "CREATE INDEX rewrap_pending_to ON rewrap (subject, recipient)"
     "  WHERE state = 0;",
     NULL, NULL},
    /* 5: budgets (issue 8): how many entries of each author wait in each
     * mailbox, kept by triggers, so that PUT checks max_pending_per_author
     * in O(log n) whatever the mailbox holds. Each section entry carries
     * its section's author (set at push), so a delete knows whose it was,
     * cascades included. */
    {"ALTER TABLE mailbox ADD COLUMN author TEXT;"
     "UPDATE mailbox SET author = (SELECT s.author FROM section s WHERE "
     "  s.id = mailbox.section_id) WHERE section_id IS NOT NULL;"
     "CREATE TABLE mailbox_pending ("
     "  recipient TEXT NOT NULL,"
     "  author TEXT NOT NULL,"
     "  n INTEGER NOT NULL,"
     "  PRIMARY KEY (recipient, author)"
     ") STRICT, WITHOUT ROWID;"
     "INSERT INTO mailbox_pending (recipient, author, n) SELECT recipient, "
     "  author, count(*) FROM mailbox WHERE author IS NOT NULL "
     "  GROUP BY recipient, author;"
     "CREATE TRIGGER mailbox_pending_add AFTER INSERT ON mailbox"
     "  WHEN new.author IS NOT NULL BEGIN"
     "  INSERT INTO mailbox_pending (recipient, author, n) VALUES"
     "    (new.recipient, new.author, 1) ON CONFLICT (recipient, author)"
     "    DO UPDATE SET n = n + 1;"
     "  END;"
     "CREATE TRIGGER mailbox_pending_del AFTER DELETE ON mailbox"
     "  WHEN old.author IS NOT NULL BEGIN"
     "  UPDATE mailbox_pending SET n = n - 1 WHERE recipient = old.recipient"
     "    AND author = old.author;"
     "  DELETE FROM mailbox_pending WHERE recipient = old.recipient AND"
     "    author = old.author AND n <= 0;"
     "  END;"
     /* ... and how many ciphertext bytes each author has stored (every
      * version), so that PUT checks max_author_bytes in O(log n). */
     "CREATE TABLE author_bytes ("
     "  author TEXT PRIMARY KEY,"
     "  bytes INTEGER NOT NULL"
     ") STRICT, WITHOUT ROWID;"
     "INSERT INTO author_bytes (author, bytes) SELECT author, "
     "  sum(length(ciphertext)) FROM section GROUP BY author;"
     "CREATE TRIGGER author_bytes_add AFTER INSERT ON section BEGIN"
     "  INSERT INTO author_bytes (author, bytes) VALUES"
     "    (new.author, length(new.ciphertext)) ON CONFLICT (author)"
     "    DO UPDATE SET bytes = bytes + length(new.ciphertext);"
     "  END;"
     "CREATE TRIGGER author_bytes_del AFTER DELETE ON section BEGIN"
     "  UPDATE author_bytes SET bytes = bytes - length(old.ciphertext)"
     "    WHERE author = old.author;"
     "  END;",
     NULL, NULL},
    /* 6: issue 9. The audit log as a Merkle tree (RFC 9162): the nodes of
     * every complete subtree, (level, index) as in proto/merkle.h, and the
     * tree heads the broker signed. Retention and erasure: when each
     * section is to be erased, and the erasures applied. */
    {"CREATE TABLE audit_node ("
     "  level INTEGER NOT NULL,"
     "  idx INTEGER NOT NULL,"
     "  hash BLOB NOT NULL CHECK (length(hash) = 32),"
     "  PRIMARY KEY (level, idx)"
     ") STRICT, WITHOUT ROWID;"
     "CREATE TABLE tree_head ("
     "  size INTEGER PRIMARY KEY,"
     "  root BLOB NOT NULL CHECK (length(root) = 32),"
     "  timestamp_ms INTEGER NOT NULL,"
     "  broker_key BLOB NOT NULL CHECK (length(broker_key) = 32),"
     "  signature BLOB NOT NULL CHECK (length(signature) = 64)"
     ") STRICT;"
     "ALTER TABLE section ADD COLUMN retain_until_ms INTEGER;"
     "CREATE INDEX section_retention ON section (retain_until_ms)"
     "  WHERE retain_until_ms IS NOT NULL;"
     "CREATE TABLE erasure ("
     "  erasure_id BLOB PRIMARY KEY CHECK (length(erasure_id) = 16),"
     "  subject BLOB NOT NULL CHECK (length(subject) = 32),"
     "  author TEXT NOT NULL,"
     "  kinds INTEGER NOT NULL,"
     "  erase_evidence INTEGER NOT NULL,"
     "  reason TEXT NOT NULL,"
     "  requested_at_ms INTEGER NOT NULL,"
     "  signature BLOB NOT NULL,"
     "  applied_by TEXT NOT NULL,"
     "  applied_at_ms INTEGER NOT NULL"
     ") STRICT;"
     /* Delete notices an erasure applied by `keten admin` owes, until
      * ketend has signed and queued them (broker/erase.c). */
     "CREATE TABLE erasure_notice ("
     "  erasure_id BLOB NOT NULL,"
     "  subject BLOB NOT NULL CHECK (length(subject) = 32),"
     "  recipient TEXT NOT NULL,"
     "  kind INTEGER NOT NULL,"
     "  author TEXT NOT NULL,"
     "  up_to_version INTEGER NOT NULL,"
     "  PRIMARY KEY (erasure_id, recipient, kind)"
     ") STRICT, WITHOUT ROWID;",
     s_migrate6, NULL},
};
#define STORE_SCHEMA_LATEST ((int)(sizeof s_migrations / sizeof s_migrations[0]))

static int s_fail(store_t *s, char *err, size_t errlen, const char *what) {
  if (err && errlen)
    snprintf(err, errlen, "%s: %s", what, s && s->db ? sqlite3_errmsg(s->db)
                                                     : "no database");
  return -1;
}

static int s_exec(store_t *s, const char *sql, char *err, size_t errlen) {
  char *msg = NULL;
  if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) == SQLITE_OK)
    return 0;
  if (err && errlen)
    snprintf(err, errlen, "%s", msg ? msg : "sqlite error");
  sqlite3_free(msg);
  return -1;
}

static int s_pragma_int(store_t *s, const char *sql, int64_t *out) {
  sqlite3_stmt *st = NULL;
  int rc = -1;
  if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW) {
    *out = sqlite3_column_int64(st, 0);
    rc = 0;
  }
  sqlite3_finalize(st);
  return rc;
}

static int s_migrate(store_t *s, int target, char *err, size_t errlen) {
  int64_t v = 0;
  if (s_pragma_int(s, "PRAGMA user_version", &v) != 0)
    return s_fail(s, err, errlen, "reading schema version");
  if (v > STORE_SCHEMA_LATEST) {
    snprintf(err, errlen,
             "store schema version %lld is newer than this build knows (%d)",
             (long long)v, STORE_SCHEMA_LATEST);
    return -1;
  }
  for (int next = (int)v + 1; next <= target; next++) {
    char sql[64];
    char reason[256];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", next);
    const s_migration_t *m = &s_migrations[next - 1];
    if (s_exec(s, "BEGIN IMMEDIATE", reason, sizeof reason) ||
        s_exec(s, m->sql, reason, sizeof reason) ||
        (m->step && m->step(s, reason, sizeof reason)) ||
        (m->sql_after && s_exec(s, m->sql_after, reason, sizeof reason)) ||
        s_exec(s, sql, reason, sizeof reason) ||
        s_exec(s, "COMMIT", reason, sizeof reason)) {
      s->head_cached = 0;
      s_exec(s, "ROLLBACK", NULL, 0);
      snprintf(err, errlen, "migration to schema %d failed: %s", next, reason);
      return -1;
    }
    s->head_cached = 0;
  }
  s->schema_version = (int)v > target ? (int)v : target;
  return 0;
}

store_t *store_open(const char *path, char *err, size_t errlen) {
  return store_open_schema(path, STORE_SCHEMA_LATEST, err, errlen);
}

/* Opens path read-write (creating it), WAL, synchronous=FULL, without
 * migrating (store_open_schema, store_migrate_each). */
static store_t *s_open_rw(const char *path, char *err, size_t errlen) {
  /* Never through a symlink; a new store is made 0600 (store_file.h). */
  if (store_file_prepare(path, err, errlen) != 0)
    return NULL;
  store_t *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  char reason[256];
  int64_t wal_ok = 0;
  if (sqlite3_open_v2(path, &s->db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                          SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
                      NULL) != SQLITE_OK) {
    s_fail(s, err, errlen, "cannot open store");
    store_close(&s);
    return NULL;
  }
  sqlite3_busy_timeout(s->db, 5000);
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) ==
          SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    wal_ok = strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
  sqlite3_finalize(st);
  if (!wal_ok) {
    s_fail(s, err, errlen, "cannot switch the store to WAL mode");
    store_close(&s);
    return NULL;
  }
  if (s_exec(s,
             "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
             /* Savepoints keep their statement journal in memory, not in a
              * temp file written for every request. */
             "PRAGMA temp_store = MEMORY;"
             "PRAGMA secure_delete = ON;",
             reason, sizeof reason)) {
    snprintf(err, errlen, "%s: %s", path, reason);
    store_close(&s);
    return NULL;
  }
  return s;
}

store_t *store_open_schema(const char *path, int schema, char *err,
                           size_t errlen) {
  if (schema < 1 || schema > STORE_SCHEMA_LATEST) {
    snprintf(err, errlen, "no schema version %d", schema);
    return NULL;
  }
  store_t *s = s_open_rw(path, err, errlen);
  char reason[256];
  if (!s)
    return NULL;
  if (s_migrate(s, schema, reason, sizeof reason)) {
    snprintf(err, errlen, "%s: %s", path, reason);
    store_close(&s);
    return NULL;
  }
  s->merkle_on = s->schema_version >= 6;
  return s;
}

/* ---- read-only open (keten audit) ---------------------------------------- */

static void s_blob(sqlite3_stmt *st, int col, uint8_t *dst, size_t len);

/* The directory holding path ("." for a bare name, "/" at the root). */
static void s_dir_of(const char *path, char *dir, size_t cap) {
  const char *slash = strrchr(path, '/');
  if (!slash)
    snprintf(dir, cap, ".");
  else if (slash == path)
    snprintf(dir, cap, "/");
  else
    snprintf(dir, cap, "%.*s", (int)(slash - path), path);
}

/* 1 if the directory holding path may be written by us and by its mode
 * (a 0555 directory counts as read-only even to root) and is not on
 * read-only media. */
static int s_dir_writable(const char *path) {
  char dir[4096];
  s_dir_of(path, dir, sizeof dir);
  struct stat st;
  struct statvfs vfs;
  if (stat(dir, &st) != 0 || (st.st_mode & 0222) == 0 ||
      access(dir, W_OK) != 0)
    return 0;
  if (statvfs(dir, &vfs) == 0 && (vfs.f_flag & ST_RDONLY))
    return 0;
  return 1;
}

/* "file:" and path percent-encoded (RFC 3986 path characters kept), then
 * query, into out. 0, or -1 if it does not fit. */
static int s_file_uri(const char *path, const char *query, char *out,
                      size_t cap) {
  static const char hex[] = "0123456789ABCDEF";
  size_t n = 0;
  const char *pre = "file:";
  for (const char *p = pre; *p; p++) {
    if (n + 1 >= cap)
      return -1;
    out[n++] = *p;
  }
  for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
    int keep = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
               (*p >= '0' && *p <= '9') || strchr("/-._~", *p);
    if (n + (keep ? 1 : 3) >= cap)
      return -1;
    if (keep) {
      out[n++] = (char)*p;
    } else {
      out[n++] = '%';
      out[n++] = hex[*p >> 4];
      out[n++] = hex[*p & 15];
    }
  }
  int w = snprintf(out + n, cap - n, "?%s", query);
  return w < 0 || (size_t)w >= cap - n ? -1 : 0;
}

store_t *store_open_readonly(const char *path, char *err, size_t errlen) {
  struct stat st;
  if (lstat(path, &st) != 0) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return NULL;
  }
  if (!S_ISREG(st.st_mode)) {
    snprintf(err, errlen, "%s: refused: not a regular file%s", path,
             S_ISLNK(st.st_mode) ? " (a symbolic link)" : "");
    return NULL;
  }
  /* The -wal beside it holds committed transactions not yet in the file:
   * only a real read-only open reads them (it needs the -shm, or a
   * directory it can create one in); immutable=1 would skip them. */
  char wal[4096];
  struct stat wst;
  snprintf(wal, sizeof wal, "%s-wal", path);
  int wal_content = lstat(wal, &wst) == 0 && wst.st_size > 0;
  int immutable = !wal_content && !s_dir_writable(path);
  char uri[8192];
  if (s_file_uri(path, immutable ? "immutable=1" : "mode=ro", uri,
                 sizeof uri) != 0) {
    snprintf(err, errlen, "%s: path too long", path);
    return NULL;
  }
  store_t *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  if (sqlite3_open_v2(uri, &s->db,
                      SQLITE_OPEN_READONLY | SQLITE_OPEN_URI |
                          SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
                      NULL) != SQLITE_OK) {
    s_fail(s, err, errlen, "cannot open store read-only");
    store_close(&s);
    return NULL;
  }
  sqlite3_busy_timeout(s->db, 5000);
  int64_t v = 0;
  char reason[256];
  if (s_exec(s, "PRAGMA query_only = ON; PRAGMA temp_store = MEMORY;", reason,
             sizeof reason) != 0) {
    snprintf(err, errlen, "%s: %s", path, reason);
    store_close(&s);
    return NULL;
  }
  if (s_pragma_int(s, "PRAGMA user_version", &v) != 0) {
    s_fail(s, err, errlen,
           wal_content ? "cannot read the store (its -wal file has content "
                         "that a read-only open can only read with its -shm "
                         "file or a writable directory)"
                       : "cannot read the store");
    store_close(&s);
    return NULL;
  }
  if (v > STORE_SCHEMA_LATEST) {
    snprintf(err, errlen,
             "%s: store schema version %lld is newer than this build knows "
             "(%d)",
             path, (long long)v, STORE_SCHEMA_LATEST);
    store_close(&s);
    return NULL;
  }
  if (v < 2) {
    snprintf(err, errlen, "%s: store schema version %lld has no audit log",
             path, (long long)v);
    store_close(&s);
    return NULL;
  }
  s->schema_version = (int)v;
  return s;
}

int store_audit_tree_heads(store_t *s, store_tree_head_fn fn, void *arg) {
  sqlite3_stmt *st = NULL;
  int have = 0;
  if (sqlite3_prepare_v2(s->db,
                         "SELECT count(*) FROM sqlite_master WHERE type = "
                         "'table' AND name = 'tree_head'",
                         -1, &st, NULL) != SQLITE_OK ||
      sqlite3_step(st) != SQLITE_ROW) {
    sqlite3_finalize(st);
    return -1;
  }
  have = sqlite3_column_int(st, 0) > 0;
  sqlite3_finalize(st);
  if (!have)
    return 0;
  if (sqlite3_prepare_v2(s->db,
                         "SELECT size, root, timestamp_ms, broker_key, "
                         "signature FROM tree_head ORDER BY size",
                         -1, &st, NULL) != SQLITE_OK) {
    sqlite3_finalize(st);
    return -1;
  }
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    uint8_t root[32], key[32], sig[64];
    s_blob(st, 1, root, 32);
    s_blob(st, 3, key, 32);
    s_blob(st, 4, sig, 64);
    if (fn((uint64_t)sqlite3_column_int64(st, 0), root,
           sqlite3_column_int64(st, 2), key, sig, arg) != 0) {
      rc = SQLITE_DONE;
      break;
    }
  }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

void store_close(store_t **store) {
  if (!store || !*store)
    return;
  for (int i = 0; i < ST_COUNT; i++)
    sqlite3_finalize((*store)->stmts[i]);
  sqlite3_close_v2((*store)->db);
  free(*store);
  *store = NULL;
}

int store_schema_version(store_t *store) { return store->schema_version; }

int store_schema_latest(void) { return STORE_SCHEMA_LATEST; }

static int64_t s_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- shared helpers ------------------------------------------------------ */

const char *store_error(store_t *s) { return sqlite3_errmsg(s->db); }

int64_t store_changes(store_t *s) { return sqlite3_total_changes64(s->db); }

int store_error_is_full(store_t *s) {
  int code = sqlite3_extended_errcode(s->db);
  if ((code & 0xff) == SQLITE_FULL)
    return 1;
  if ((code & 0xff) != SQLITE_IOERR)
    return 0;
  int e = sqlite3_system_errno(s->db);
#ifdef EDQUOT
  if (e == EDQUOT)
    return 1;
#endif
  return e == ENOSPC;
}

/* The cached statement id, reset and unbound, prepared on first use. */
static sqlite3_stmt *s_stmt(store_t *s, int id, const char *sql) {
  sqlite3_stmt *st = s->stmts[id];
  if (st) {
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
  }
  if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                         &s->stmts[id], NULL) != SQLITE_OK)
    return NULL;
  return s->stmts[id];
}

/* Steps a statement that returns no rows; leaves it reset. */
static int s_done(sqlite3_stmt *st) {
  int rc = st ? sqlite3_step(st) : SQLITE_ERROR;
  if (st)
    sqlite3_reset(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

static void s_blob(sqlite3_stmt *st, int col, uint8_t *dst, size_t len) {
  memset(dst, 0, len);
  if ((size_t)sqlite3_column_bytes(st, col) == len)
    memcpy(dst, sqlite3_column_blob(st, col), len);
}

static void s_text(sqlite3_stmt *st, int col, char *dst, size_t cap) {
  const unsigned char *t = sqlite3_column_text(st, col);
  snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

#define ENTRY_COLUMNS                                                         \
  "entry_hash, id, role, display_name, transport_pk, signing_pk, "           \
  "sealing_pk, valid_from_ms, valid_until_ms, issued_at_ms, root_signature, " \
  "added_at_ms, removed_at_ms"

static void s_entry_row(sqlite3_stmt *st, participant_t *p) {
  memset(p, 0, sizeof *p);
  s_blob(st, 0, p->entry_hash, PARTICIPANT_HASH_BYTES);
  snprintf(p->id, sizeof p->id, "%s", (const char *)sqlite3_column_text(st, 1));
  p->role = sqlite3_column_int(st, 2);
  snprintf(p->display_name, sizeof p->display_name, "%s",
           (const char *)sqlite3_column_text(st, 3));
  s_blob(st, 4, p->transport_pk, PARTICIPANT_KEY_BYTES);
  s_blob(st, 5, p->signing_pk, PARTICIPANT_KEY_BYTES);
  s_blob(st, 6, p->sealing_pk, PARTICIPANT_KEY_BYTES);
  p->valid_from_ms = sqlite3_column_int64(st, 7);
  p->valid_until_ms = sqlite3_column_int64(st, 8);
  p->issued_at_ms = sqlite3_column_int64(st, 9);
  p->signed_by_root = sqlite3_column_bytes(st, 10) == 64;
  s_blob(st, 10, p->root_signature, sizeof p->root_signature);
  p->added_at_ms = sqlite3_column_int64(st, 11);
  p->removed_at_ms = sqlite3_column_type(st, 12) == SQLITE_NULL
                         ? 0
                         : sqlite3_column_int64(st, 12);
  /* The id is what the fields hash to, never what a row claims. */
  Keten__RegistryEntry e;
  participant_to_entry(p, &e);
  if (canon_entry_hash(&e, p->entry_hash) != 0)
    memset(p->entry_hash, 0, sizeof p->entry_hash);
}

static int s_entry_insert(store_t *s, const participant_t *p, int64_t now_ms) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db,
                         "INSERT INTO registry_entry (" ENTRY_COLUMNS ") "
                         "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,NULL)",
                         -1, &st, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_blob(st, 1, p->entry_hash, PARTICIPANT_HASH_BYTES, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, p->id, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 3, p->role);
  sqlite3_bind_text(st, 4, p->display_name, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 5, p->transport_pk, PARTICIPANT_KEY_BYTES, SQLITE_STATIC);
  sqlite3_bind_blob(st, 6, p->signing_pk, PARTICIPANT_KEY_BYTES, SQLITE_STATIC);
  sqlite3_bind_blob(st, 7, p->sealing_pk, PARTICIPANT_KEY_BYTES, SQLITE_STATIC);
  sqlite3_bind_int64(st, 8, p->valid_from_ms);
  sqlite3_bind_int64(st, 9, p->valid_until_ms);
  sqlite3_bind_int64(st, 10, p->issued_at_ms);
  sqlite3_bind_blob(st, 11, p->root_signature, p->signed_by_root ? 64 : 0,
                    SQLITE_STATIC);
  sqlite3_bind_int64(st, 12, p->added_at_ms ? p->added_at_ms : now_ms);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : rc == SQLITE_CONSTRAINT ? 1 : -1;
}

int store_entry_add(store_t *s, const participant_t *p, char *err,
                    size_t errlen) {
  if (!participant_valid(p)) {
    snprintf(err, errlen, "invalid registry entry (id, role, display name or "
                          "validity window)");
    return -1;
  }
  /* A transport key identifies one participant: ZAP admits by it. */
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db,
                         "SELECT id FROM registry_entry WHERE transport_pk = ? "
                         "AND id <> ? AND removed_at_ms IS NULL LIMIT 1",
                         -1, &st, NULL) != SQLITE_OK)
    return s_fail(s, err, errlen, "preparing registry check");
  sqlite3_bind_blob(st, 1, p->transport_pk, PARTICIPANT_KEY_BYTES, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, p->id, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    snprintf(err, errlen, "this transport key is already registered for '%s'",
             (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return -1;
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE)
    return s_fail(s, err, errlen, "checking the registry");
  /* One role per participant: which entry is "the" one must not change
   * what its holder may do. A new role is a new id (or remove, then add). */
  if (sqlite3_prepare_v2(s->db,
                         "SELECT role FROM registry_entry WHERE id = ? AND "
                         "role <> ? AND removed_at_ms IS NULL LIMIT 1",
                         -1, &st, NULL) != SQLITE_OK)
    return s_fail(s, err, errlen, "preparing registry check");
  sqlite3_bind_text(st, 1, p->id, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, p->role);
  rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc == SQLITE_ROW) {
    snprintf(err, errlen, "'%s' is installed with another role: remove it "
                          "first to change its role", p->id);
    return -1;
  }
  if (rc != SQLITE_DONE)
    return s_fail(s, err, errlen, "checking the registry");
  int64_t now = s_now_ms();
  rc = s_entry_insert(s, p, now);
  if (rc == 1) {
    /* This very entry was installed before: if it was removed since,
     * installing it again brings it back (it is the same signed entry). */
    if (sqlite3_prepare_v2(s->db,
                           "UPDATE registry_entry SET removed_at_ms = NULL, "
                           "added_at_ms = ? WHERE entry_hash = ? AND "
                           "removed_at_ms IS NOT NULL",
                           -1, &st, NULL) != SQLITE_OK)
      return s_fail(s, err, errlen, "preparing registry update");
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_blob(st, 2, p->entry_hash, PARTICIPANT_HASH_BYTES,
                      SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
      return s_fail(s, err, errlen, "reinstalling the registry entry");
    if (sqlite3_changes(s->db) == 0) {
      snprintf(err, errlen, "this registry entry of '%s' is already installed",
               p->id);
      return 1;
    }
    rc = 0;
  }
  if (rc != 0)
    return s_fail(s, err, errlen, "adding the registry entry");
  /* A signed entry supersedes the unsigned ones of the same id that an
   * older keten left (see docs/operations.md, "Upgrading"). */
  if (p->signed_by_root &&
      (sqlite3_prepare_v2(s->db,
                          "UPDATE registry_entry SET removed_at_ms = ? WHERE "
                          "id = ? AND length(root_signature) = 0 AND "
                          "removed_at_ms IS NULL",
                          -1, &st, NULL) != SQLITE_OK))
    return s_fail(s, err, errlen, "preparing legacy entry update");
  if (p->signed_by_root) {
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_text(st, 2, p->id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
      return s_fail(s, err, errlen, "retiring legacy entries");
  }
  return 0;
}

int store_entry_remove(store_t *s, const char *id, char *err, size_t errlen) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db,
                         "UPDATE registry_entry SET removed_at_ms = ? WHERE "
                         "id = ? AND removed_at_ms IS NULL",
                         -1, &st, NULL) != SQLITE_OK)
    return s_fail(s, err, errlen, "preparing registry removal");
  sqlite3_bind_int64(st, 1, s_now_ms());
  sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE)
    return s_fail(s, err, errlen, "removing participant");
  return sqlite3_changes(s->db);
}

int store_entry_each(store_t *s, int include_removed, store_participant_fn fn,
                     void *arg, char *err, size_t errlen) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db,
                         include_removed
                             ? "SELECT " ENTRY_COLUMNS " FROM registry_entry "
                               "ORDER BY id, valid_from_ms, entry_hash"
                             : "SELECT " ENTRY_COLUMNS " FROM registry_entry "
                               "WHERE removed_at_ms IS NULL "
                               "ORDER BY id, valid_from_ms, entry_hash",
                         -1, &st, NULL) != SQLITE_OK)
    return s_fail(s, err, errlen, "preparing registry list");
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    participant_t p;
    s_entry_row(st, &p);
    if (fn(&p, arg) != 0) {
      rc = SQLITE_DONE;
      break;
    }
  }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : s_fail(s, err, errlen, "listing registry");
}

int64_t store_data_version(store_t *s) {
  int64_t v = -1;
  return s_pragma_int(s, "PRAGMA data_version", &v) == 0 ? v : -1;
}

/* ---- transactions --------------------------------------------------------- */

/* Transaction control runs often (every batch, every request): prepared
 * once like the rest. */
int store_begin(store_t *s) {
  s->head_cached = 0;
  /* IMMEDIATE: take the write lock first, so that another writer (keten
   * admin) can never interleave between reading the audit head and
   * appending to it. */
  return s_done(s_stmt(s, ST_BEGIN, "BEGIN IMMEDIATE"));
}
int store_commit(store_t *s) {
  if (s_done(s_stmt(s, ST_COMMIT, "COMMIT")) != 0)
    return -1;
  /* After an erasure: the WAL still holds the erased pages' old images. */
  if (s->erased && store_wal_truncate(s) == 0)
    s->erased = 0;
  return 0;
}
void store_rollback(store_t *s) {
  s->head_cached = 0;
  s->erased = 0;
  s_done(s_stmt(s, ST_ROLLBACK, "ROLLBACK"));
}
int store_savepoint(store_t *s) {
  return s_done(s_stmt(s, ST_SAVEPOINT, "SAVEPOINT req"));
}
void store_savepoint_release(store_t *s) {
  s_done(s_stmt(s, ST_RELEASE, "RELEASE req"));
}
void store_savepoint_rollback(store_t *s) {
  s->head_cached = 0;
  s_done(s_stmt(s, ST_ROLLBACK_TO, "ROLLBACK TO req"));
  store_savepoint_release(s);
}

int store_message_seen(store_t *s, const char *sender,
                       const uint8_t message_id[16], int64_t now_ms) {
  sqlite3_stmt *st = s_stmt(s, ST_MSG_SEEN,
                            "INSERT OR IGNORE INTO seen_message "
                            "(sender, message_id, at_ms) VALUES (?, ?, ?)");
  if (!st)
    return -1;
  sqlite3_bind_text(st, 1, sender, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, message_id, 16, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, now_ms);
  if (s_done(st) != 0)
    return -1;
  return sqlite3_changes(s->db) == 0 ? 1 : 0;
}

int store_message_prune(store_t *s, int64_t before_ms) {
  sqlite3_stmt *st = s_stmt(s, ST_MSG_PRUNE,
                            "DELETE FROM seen_message WHERE at_ms < ?");
  if (!st)
    return -1;
  sqlite3_bind_int64(st, 1, before_ms);
  return s_done(st);
}

/* ---- consents --------------------------------------------------------------- */

#define CONSENT_COLUMNS                                                       \
  "consent_id, subject, recorded_by, recipient, sections, purpose, basis, " \
  "valid_from_ms, valid_until_ms, revoked_at_ms, has_legal_reference"

static void s_consent_row(sqlite3_stmt *st, consent_t *c) {
  memset(c, 0, sizeof *c);
  s_blob(st, 0, c->consent_id, CONSENT_ID_BYTES);
  s_blob(st, 1, c->subject, CONSENT_SUBJECT_BYTES);
  s_text(st, 2, c->recorded_by, sizeof c->recorded_by);
  s_text(st, 3, c->recipient, sizeof c->recipient);
  c->sections = (uint64_t)sqlite3_column_int64(st, 4);
  c->purpose = sqlite3_column_int(st, 5);
  c->basis = sqlite3_column_int(st, 6);
  c->valid_from_ms = sqlite3_column_int64(st, 7);
  c->valid_until_ms = sqlite3_column_int64(st, 8);
  c->revoked = sqlite3_column_type(st, 9) != SQLITE_NULL;
  c->revoked_at_ms = c->revoked ? sqlite3_column_int64(st, 9) : 0;
  c->has_legal_reference = sqlite3_column_int(st, 10) != 0;
}

int store_consent_put(store_t *s, const consent_t *c, const uint8_t *record,
                      size_t record_len) {
  sqlite3_stmt *st = s_stmt(
      s, ST_CONSENT_PUT,
      "INSERT OR IGNORE INTO consent (consent_id, subject, recorded_by, "
      "recipient, sections, purpose, basis, valid_from_ms, valid_until_ms, "
      "record, has_legal_reference) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!st)
    return -1;
  sqlite3_bind_blob(st, 1, c->consent_id, CONSENT_ID_BYTES, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, c->subject, CONSENT_SUBJECT_BYTES, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, c->recorded_by, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, c->recipient, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 5, (sqlite3_int64)c->sections);
  sqlite3_bind_int(st, 6, c->purpose);
  sqlite3_bind_int(st, 7, c->basis);
  sqlite3_bind_int64(st, 8, c->valid_from_ms);
  sqlite3_bind_int64(st, 9, c->valid_until_ms);
  sqlite3_bind_blob(st, 10, record, (int)record_len, SQLITE_STATIC);
  sqlite3_bind_int(st, 11, c->has_legal_reference ? 1 : 0);
  if (s_done(st) != 0)
    return -1;
  return sqlite3_changes(s->db) == 0 ? 1 : 0;
}

int store_consent_get(store_t *s, const uint8_t id[CONSENT_ID_BYTES],
                      consent_t *out) {
  sqlite3_stmt *st =
      s_stmt(s, ST_CONSENT_GET,
             "SELECT " CONSENT_COLUMNS " FROM consent WHERE consent_id = ?");
  if (!st)
    return -1;
  sqlite3_bind_blob(st, 1, id, CONSENT_ID_BYTES, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    s_consent_row(st, out);
  sqlite3_reset(st);
  return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_consent_revoke(store_t *s, const uint8_t id[CONSENT_ID_BYTES],
                         int64_t revoked_at_ms, const char *revoked_by,
                         const uint8_t *record, size_t record_len) {
  sqlite3_stmt *st = s_stmt(s, ST_CONSENT_REVOKE,
                            "UPDATE consent SET revoked_at_ms = ?, "
                            "revoked_by = ?, revocation = ? "
                            "WHERE consent_id = ? AND revoked_at_ms IS NULL");
  if (!st)
    return -1;
  sqlite3_bind_int64(st, 1, revoked_at_ms);
  sqlite3_bind_text(st, 2, revoked_by, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 3, record, (int)record_len, SQLITE_STATIC);
  sqlite3_bind_blob(st, 4, id, CONSENT_ID_BYTES, SQLITE_STATIC);
  if (s_done(st) != 0)
    return -1;
  return sqlite3_changes(s->db) == 1 ? 0 : -1;
}

/* Collects the rows of st into a malloc'd consent array. */
static int s_consent_list(sqlite3_stmt *st, consent_t **list, size_t *n) {
  size_t cap = 8, count = 0;
  consent_t *out = malloc(cap * sizeof *out);
  int rc;
  while (out && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (count == cap) {
      consent_t *grown = realloc(out, 2 * cap * sizeof *out);
      if (!grown) {
        free(out);
        out = NULL;
        break;
      }
      out = grown;
      cap *= 2;
    }
    s_consent_row(st, &out[count++]);
  }
  sqlite3_reset(st);
  if (!out || rc != SQLITE_DONE) {
    free(out);
    return -1;
  }
  *list = out;
  *n = count;
  return 0;
}

int store_consents_live(store_t *s, const uint8_t subject[CONSENT_SUBJECT_BYTES],
                        const char *recorded_by, const char *recipient,
                        consent_t **list, size_t *n) {
  /* Only live consents (not revoked, expiry not yet processed), through
   * the partial indexes: a request costs what the consents it can use
   * cost, never the subject's history. */
  static const char *const sql[4] = {
      "SELECT " CONSENT_COLUMNS " FROM consent WHERE subject = ?1 AND "
      "revoked_at_ms IS NULL AND expiry_done = 0",
      "SELECT " CONSENT_COLUMNS " FROM consent INDEXED BY consent_live WHERE "
      "subject = ?1 AND recorded_by = ?2 AND revoked_at_ms IS NULL AND "
      "expiry_done = 0",
      "SELECT " CONSENT_COLUMNS " FROM consent INDEXED BY consent_live_to "
      "WHERE subject = ?1 AND recipient = ?3 AND revoked_at_ms IS NULL AND "
      "expiry_done = 0",
      "SELECT " CONSENT_COLUMNS " FROM consent INDEXED BY consent_live WHERE "
      "subject = ?1 AND recorded_by = ?2 AND recipient = ?3 AND "
      "revoked_at_ms IS NULL AND expiry_done = 0"};
  int which = (recorded_by ? 1 : 0) | (recipient ? 2 : 0);
  sqlite3_stmt *st = s_stmt(s, ST_CONSENTS_LIVE + which, sql[which]);
  if (!st)
    return -1;
  sqlite3_bind_blob(st, 1, subject, CONSENT_SUBJECT_BYTES, SQLITE_STATIC);
  if (recorded_by)
    sqlite3_bind_text(st, 2, recorded_by, -1, SQLITE_STATIC);
  if (recipient)
    sqlite3_bind_text(st, 3, recipient, -1, SQLITE_STATIC);
  return s_consent_list(st, list, n);
}

/* Steps st, a SELECT count(...), into *count; leaves it reset. */
static int s_count_row(sqlite3_stmt *st, size_t *count) {
  int rc = sqlite3_step(st);
  *count = rc == SQLITE_ROW ? (size_t)sqlite3_column_int64(st, 0) : 0;
  sqlite3_reset(st);
  return rc == SQLITE_ROW ? 0 : -1;
}

int store_consent_count_live(store_t *s,
                             const uint8_t subject[CONSENT_SUBJECT_BYTES],
                             const char *recorded_by, const char *recipient,
                             int64_t now_ms, size_t *count) {
  sqlite3_stmt *st = s_stmt(
      s, ST_CONSENT_COUNT,
      "SELECT count(*) FROM consent INDEXED BY consent_live WHERE subject = ? "
      "AND recorded_by = ? AND recipient = ? AND revoked_at_ms IS NULL AND "
      "expiry_done = 0 AND valid_until_ms > ?");
  if (!st)
    return -1;
  sqlite3_bind_blob(st, 1, subject, CONSENT_SUBJECT_BYTES, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, recorded_by, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, recipient, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, now_ms);
  return s_count_row(st, count);
}

int store_consent_recipients_live(store_t *s,
                                  const uint8_t subject[CONSENT_SUBJECT_BYTES],
                                  const char *recorded_by, int64_t now_ms,
                                  size_t *count) {
  sqlite3_stmt *st = s_stmt(
      s, ST_CONSENT_RECIPIENTS,
      "SELECT count(DISTINCT recipient) FROM consent INDEXED BY consent_live "
      "WHERE subject = ? AND recorded_by = ? AND revoked_at_ms IS NULL AND "
      "expiry_done = 0 AND valid_until_ms > ?");
  if (!st)
    return -1;
  sqlite3_bind_blob(st, 1, subject, CONSENT_SUBJECT_BYTES, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, recorded_by, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, now_ms);
  return s_count_row(st, count);
}

int store_consent_record(store_t *s, const uint8_t id[CONSENT_ID_BYTES],
                         uint8_t **record, size_t *len) {
  sqlite3_stmt *st = s_stmt(s, ST_CONSENT_RECORD,
                            "SELECT record FROM consent WHERE consent_id = ?");
  if (!st)
    return -1;
  sqlite3_bind_blob(st, 1, id, CONSENT_ID_BYTES, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  *record = NULL;
  *len = 0;
  if (rc == SQLITE_ROW) {
    size_t n = (size_t)sqlite3_column_bytes(st, 0);
    *record = malloc(n ? n : 1);
    if (*record) {
      if (n)
        memcpy(*record, sqlite3_column_blob(st, 0), n);
      *len = n;
    }
  }
  sqlite3_reset(st);
  return rc == SQLITE_ROW && *record ? 0 : -1;
}

int store_consent_records(store_t *s,
                          const uint8_t subject[CONSENT_SUBJECT_BYTES],
                          store_consent_record_fn fn, void *arg) {
  sqlite3_stmt *st = s_stmt(s, ST_CONSENT_RECORDS,
                            "SELECT " CONSENT_COLUMNS ", record, revocation, "
                            "revoked_by FROM consent WHERE subject = ? "
                            "ORDER BY valid_from_ms, consent_id");
  if (!st)
    return -1;
  sqlite3_bind_blob(st, 1, subject, CONSENT_SUBJECT_BYTES, SQLITE_STATIC);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    consent_t c;
    s_consent_row(st, &c);
    char by[PARTICIPANT_ID_MAX + 1];
    /* after the CONSENT_COLUMNS (11): record, revocation, revoked_by */
    s_text(st, 13, by, sizeof by);
    if (fn(&c, sqlite3_column_blob(st, 11),
           (size_t)sqlite3_column_bytes(st, 11), sqlite3_column_blob(st, 12),
           (size_t)sqlite3_column_bytes(st, 12), by, arg) != 0) {
      rc = SQLITE_DONE;
      break;
    }
  }
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

int store_consents_expired(store_t *s, int64_t now_ms, size_t max,
                           consent_t **list, size_t *n) {
  sqlite3_stmt *st = s_stmt(
      s, ST_CONSENTS_EXPIRED,
      "SELECT " CONSENT_COLUMNS " FROM consent WHERE valid_until_ms <= ? "
      "AND revoked_at_ms IS NULL AND expiry_done = 0 "
      "ORDER BY valid_until_ms LIMIT ?");
  if (!st)
    return -1;
  sqlite3_bind_int64(st, 1, now_ms);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
  return s_consent_list(st, list, n);
}

int store_consent_start_pending(store_t *s, const uint8_t id[CONSENT_ID_BYTES],
                                int pending) {
  sqlite3_stmt *st =
      s_stmt(s, ST_CONSENT_START_PENDING,
             "UPDATE consent SET start_pending = ? WHERE consent_id = ?");
  if (!st)
    return -1;
  sqlite3_bind_int(st, 1, pending ? 1 : 0);
  sqlite3_bind_blob(st, 2, id, CONSENT_ID_BYTES, SQLITE_STATIC);
  return s_done(st);
}

int store_consents_started(store_t *s, int64_t now_ms, size_t max,
                           consent_t **list, size_t *n) {
  sqlite3_stmt *st = s_stmt(
      s, ST_CONSENTS_STARTED,
      "SELECT " CONSENT_COLUMNS " FROM consent WHERE start_pending = 1 AND "
      "valid_from_ms <= ? ORDER BY valid_from_ms LIMIT ?");
  if (!st)
    return -1;
  sqlite3_bind_int64(st, 1, now_ms);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
  return s_consent_list(st, list, n);
}

int store_consent_mark_expired(store_t *s, const uint8_t id[CONSENT_ID_BYTES]) {
  sqlite3_stmt *st =
      s_stmt(s, ST_CONSENT_EXPIRED_DONE,
             "UPDATE consent SET expiry_done = 1 WHERE consent_id = ?");
  if (!st)
    return -1;
  sqlite3_bind_blob(st, 1, id, CONSENT_ID_BYTES, SQLITE_STATIC);
  return s_done(st);
}

/* ---- sections, wraps, mailboxes ------------------------------------------- */

int store_section_latest_version(store_t *s, const uint8_t subject[32],
                                 int kind, const char *author,
                                 uint64_t *version) {
  sqlite3_stmt *st = s_stmt(s, ST_SECTION_LATEST_VERSION,
                            "SELECT max(version) FROM section WHERE subject = ? "
                            "AND kind = ? AND author = ?");
  if (!st)
    return -1;
  sqlite3_bind_blob(st, 1, subject, 32, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, kind);
  sqlite3_bind_text(st, 3, author, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  *version = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
  sqlite3_reset(st);
  return rc == SQLITE_ROW ? 0 : -1;
}

int store_subject_known(store_t *s, const uint8_t subject[32]) {
  sqlite3_stmt *st = s_stmt(s, ST_SUBJECT_KNOWN,
                            "SELECT 1 FROM section WHERE subject = ? LIMIT 1");
  if (!st)
    return -1;
  sqlite3_bind_blob(st, 1, subject, 32, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_section_put(store_t *s, const store_section_t *sec, int64_t *id) {
  /* From schema 6 each version carries its retention date. */
  sqlite3_stmt *st =
      s->schema_version >= 6
          ? s_stmt(s, ST_SECTION_PUT,
                   "INSERT INTO section (subject, kind, author, version, "
                   "created_at_ms, nonce, ciphertext, signature, "
                   "author_signing_pk, retain_until_ms) VALUES (?, ?, ?, ?, "
                   "?, ?, ?, ?, ?, ?)")
          : s_stmt(s, ST_SECTION_PUT,
                   "INSERT INTO section (subject, kind, author, version, "
                   "created_at_ms, nonce, ciphertext, signature, "
                   "author_signing_pk) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!st)
    return -1;
  if (s->schema_version >= 6) {
    if (sec->retain_until_ms > 0)
      sqlite3_bind_int64(st, 10, sec->retain_until_ms);
    else
      sqlite3_bind_null(st, 10);
  }
  sqlite3_bind_blob(st, 1, sec->subject, 32, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, sec->kind);
  sqlite3_bind_text(st, 3, sec->author, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, (sqlite3_int64)sec->version);
  sqlite3_bind_int64(st, 5, sec->created_at_ms);
  sqlite3_bind_blob(st, 6, sec->nonce, (int)sec->nonce_len, SQLITE_STATIC);
  sqlite3_bind_blob(st, 7, sec->ciphertext, (int)sec->ciphertext_len,
                    SQLITE_STATIC);
  sqlite3_bind_blob(st, 8, sec->signature, (int)sec->signature_len,
                    SQLITE_STATIC);
  sqlite3_bind_blob(st, 9, sec->author_signing_pk, PARTICIPANT_KEY_BYTES,
                    SQLITE_STATIC);
  if (s_done(st) != 0)
    return -1;
  *id = sqlite3_last_insert_rowid(s->db);
  return 0;
}

int store_wrap_put(store_t *s, int64_t section_id, const char *recipient,
                   const uint8_t *wrap, size_t len) {
  sqlite3_stmt *st = s_stmt(s, ST_WRAP_PUT,
                            "INSERT OR REPLACE INTO wrap (section_id, "
                            "recipient, wrap) VALUES (?, ?, ?)");
  if (!st)
    return -1;
  sqlite3_bind_int64(st, 1, section_id);
  sqlite3_bind_text(st, 2, recipient, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 3, wrap, (int)len, SQLITE_STATIC);
  return s_done(st);
}

int store_mailbox_state(store_t *s, const char *recipient, uint64_t *acked_seq,
                        uint64_t *head_seq) {
  sqlite3_stmt *st = s_stmt(s, ST_MAILBOX_STATE,
                            "SELECT acked_seq, head_seq FROM mailbox_state "
                            "WHERE recipient = ?");
  if (!st)
    return -1;
  sqlite3_bind_text(st, 1, recipient, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  *acked_seq = *head_seq = 0;
  if (rc == SQLITE_ROW) {
    *acked_seq = (uint64_t)sqlite3_column_int64(st, 0);
    *head_seq = (uint64_t)sqlite3_column_int64(st, 1);
  }
  sqlite3_reset(st);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* Takes the next seq of recipient's mailbox. */
static int s_mailbox_next(store_t *s, const char *recipient, uint64_t *seq) {
  sqlite3_stmt *bump = s_stmt(
      s, ST_MAILBOX_HEAD_BUMP,
      "INSERT INTO mailbox_state (recipient, head_seq, acked_seq) "
      "VALUES (?, 1, 0) ON CONFLICT (recipient) DO UPDATE SET "
      "head_seq = head_seq + 1 RETURNING head_seq");
  if (!bump)
    return -1;
  sqlite3_bind_text(bump, 1, recipient, -1, SQLITE_STATIC);
  int rc = sqlite3_step(bump);
  if (rc == SQLITE_ROW)
    *seq = (uint64_t)sqlite3_column_int64(bump, 0);
  while (rc == SQLITE_ROW)
    rc = sqlite3_step(bump);
  sqlite3_reset(bump);
  return rc == SQLITE_DONE ? 0 : -1;
}

int store_mailbox_push(store_t *s, const char *recipient, int64_t section_id,
                       uint64_t *seq) {
  if (s_mailbox_next(s, recipient, seq) != 0)
    return -1;
  /* From schema 5 the entry carries its section's author (the counter of
   * store_mailbox_pending_from). */
  sqlite3_stmt *st =
      s->schema_version >= 5
          ? s_stmt(s, ST_MAILBOX_PUSH,
                   "INSERT INTO mailbox (recipient, seq, section_id, author) "
                   "VALUES (?1, ?2, ?3, (SELECT author FROM section WHERE "
                   "id = ?3))")
          : s_stmt(s, ST_MAILBOX_PUSH,
                   "INSERT INTO mailbox (recipient, seq, section_id) "
                   "VALUES (?, ?, ?)");
  if (!st)
    return -1;
  sqlite3_bind_text(st, 1, recipient, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)*seq);
  sqlite3_bind_int64(st, 3, section_id);
  return s_done(st);
}

int store_author_bytes(store_t *s, const char *author, uint64_t *bytes) {
  sqlite3_stmt *st = s_stmt(s, ST_AUTHOR_BYTES,
                            "SELECT bytes FROM author_bytes WHERE author = ?");
  *bytes = 0;
  if (!st)
    return -1;
  sqlite3_bind_text(st, 1, author, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0)
    *bytes = (uint64_t)sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int store_mailbox_pending_from(store_t *s, const char *recipient,
                               const char *author, uint64_t *count) {
  sqlite3_stmt *st = s_stmt(s, ST_MAILBOX_PENDING_FROM,
                            "SELECT n FROM mailbox_pending WHERE "
                            "recipient = ? AND author = ?");
  *count = 0;
  if (!st)
    return -1;
  sqlite3_bind_text(st, 1, recipient, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, author, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0)
    *count = (uint64_t)sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

#define SECTION_COLUMNS                                                       \
  "s.id, s.subject, s.kind, s.author, s.version, s.created_at_ms, s.nonce, " \
  "s.ciphertext, s.signature, w.wrap, s.author_signing_pk"

/* Reads the section columns (SECTION_COLUMNS) of the current row. */
static void s_section_row(sqlite3_stmt *st, store_section_t *sec) {
  memset(sec, 0, sizeof *sec);
  sec->id = sqlite3_column_int64(st, 0);
  s_blob(st, 1, sec->subject, 32);
  sec->kind = sqlite3_column_int(st, 2);
  s_text(st, 3, sec->author, sizeof sec->author);
  sec->version = (uint64_t)sqlite3_column_int64(st, 4);
  sec->created_at_ms = sqlite3_column_int64(st, 5);
  sec->nonce = sqlite3_column_blob(st, 6);
  sec->nonce_len = (size_t)sqlite3_column_bytes(st, 6);
  sec->ciphertext = sqlite3_column_blob(st, 7);
  sec->ciphertext_len = (size_t)sqlite3_column_bytes(st, 7);
  sec->signature = sqlite3_column_blob(st, 8);
  sec->signature_len = (size_t)sqlite3_column_bytes(st, 8);
  if (sqlite3_column_type(st, 9) != SQLITE_NULL) {
    sec->wrap = sqlite3_column_blob(st, 9);
    sec->wrap_len = (size_t)sqlite3_column_bytes(st, 9);
  }
    sec->has_author_key = sqlite3_column_bytes(st, 10) == PARTICIPANT_KEY_BYTES;
    s_blob(st, 10, sec->author_signing_pk, PARTICIPANT_KEY_BYTES);
}

static int s_section_rows(sqlite3_stmt *st, int seq_col, store_section_fn fn,
                          void *arg) {
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    store_section_t sec;
    s_section_row(st, &sec);
    uint64_t seq = seq_col >= 0 ? (uint64_t)sqlite3_column_int64(st, seq_col) : 0;
    if (fn(&sec, seq, arg) != 0) {
      rc = SQLITE_DONE;
      break;
    }
  }
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

int store_sections_latest(store_t *s, const uint8_t subject[32],
                          const char *reader, store_section_fn fn, void *arg) {
  sqlite3_stmt *st = s_stmt(
      s, ST_SECTIONS_LATEST,
      "SELECT " SECTION_COLUMNS " FROM section s "
      "LEFT JOIN wrap w ON w.section_id = s.id AND w.recipient = ?2 "
      "WHERE s.subject = ?1 AND s.version = (SELECT max(version) FROM "
      "section l WHERE l.subject = s.subject AND l.kind = s.kind AND "
      "l.author = s.author) ORDER BY s.kind, s.author");
  if (!st)
    return -1;
  sqlite3_bind_blob(st, 1, subject, 32, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, reader, -1, SQLITE_STATIC);
  return s_section_rows(st, -1, fn, arg);
}

int store_sections_after(store_t *s, const uint8_t subject[32],
                         const char *reader, int after_kind,
                         const char *after_author, store_section_fn fn,
                         void *arg) {
  sqlite3_stmt *st = s_stmt(
      s, ST_SECTIONS_AFTER,
      "SELECT " SECTION_COLUMNS " FROM section s "
      "LEFT JOIN wrap w ON w.section_id = s.id AND w.recipient = ?2 "
      "WHERE s.subject = ?1 AND (s.kind, s.author) > (?3, ?4) AND "
      "s.version = (SELECT max(version) FROM section l WHERE l.subject = "
      "s.subject AND l.kind = s.kind AND l.author = s.author) "
      "ORDER BY s.kind, s.author");
  if (!st)
    return -1;
  sqlite3_bind_blob(st, 1, subject, 32, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, reader, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 3, after_kind);
  sqlite3_bind_text(st, 4, after_author ? after_author : "", -1,
                    SQLITE_STATIC);
  return s_section_rows(st, -1, fn, arg);
}

int store_mailbox_read(store_t *s, const char *recipient, uint64_t after_seq,
                       size_t max, store_mailbox_fn fn, void *arg) {
  sqlite3_stmt *st = s_stmt(
      s, ST_MAILBOX_READ,
      "SELECT " SECTION_COLUMNS ", m.seq, n.id, n.kind, n.subject, n.payload, "
      "n.created_at_ms, m.sent_at_ms FROM mailbox m "
      "LEFT JOIN section s ON s.id = m.section_id "
      "LEFT JOIN wrap w ON w.section_id = s.id AND w.recipient = m.recipient "
      "LEFT JOIN notice n ON n.id = m.notice_id "
      "WHERE m.recipient = ?1 AND m.seq > ?2 ORDER BY m.seq LIMIT ?3");
  if (!st)
    return -1;
  sqlite3_bind_text(st, 1, recipient, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)after_seq);
  sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    store_mailbox_item_t item;
    store_section_t sec;
    store_notice_t notice;
    memset(&item, 0, sizeof item);
    item.seq = (uint64_t)sqlite3_column_int64(st, 11);
    item.sent_before = sqlite3_column_type(st, 17) != SQLITE_NULL;
    if (sqlite3_column_type(st, 0) != SQLITE_NULL) {
      s_section_row(st, &sec);
      item.section = &sec;
    } else if (sqlite3_column_type(st, 12) != SQLITE_NULL) {
      memset(&notice, 0, sizeof notice);
      notice.id = sqlite3_column_int64(st, 12);
      notice.kind = sqlite3_column_int(st, 13);
      s_blob(st, 14, notice.subject, 32);
      notice.payload = sqlite3_column_blob(st, 15);
      notice.payload_len = (size_t)sqlite3_column_bytes(st, 15);
      notice.created_at_ms = sqlite3_column_int64(st, 16);
      item.notice = &notice;
    }
    if (fn(&item, arg) != 0) {
      rc = SQLITE_DONE;
      break;
    }
  }
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

int store_mailbox_mark_sent(store_t *s, const char *recipient,
                            uint64_t after_seq, uint64_t up_to_seq,
                            int64_t now_ms) {
  sqlite3_stmt *st = s_stmt(s, ST_MAILBOX_MARK_SENT,
                            "UPDATE mailbox SET sent_at_ms = ?4 WHERE "
                            "recipient = ?1 AND seq > ?2 AND seq <= ?3 AND "
                            "sent_at_ms IS NULL");
  if (!st)
    return -1;
  sqlite3_bind_text(st, 1, recipient, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)after_seq);
  sqlite3_bind_int64(st, 3, (sqlite3_int64)up_to_seq);
  sqlite3_bind_int64(st, 4, now_ms);
  return s_done(st);
}

int store_mailbox_clear_sent(store_t *s, const char *recipient,
                             uint64_t after_seq, uint64_t up_to_seq) {
  sqlite3_stmt *st = s_stmt(s, ST_MAILBOX_CLEAR_SENT,
                            "UPDATE mailbox SET sent_at_ms = NULL WHERE "
                            "recipient = ?1 AND seq > ?2 AND seq <= ?3");
  if (!st)
    return -1;
  sqlite3_bind_text(st, 1, recipient, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)after_seq);
  sqlite3_bind_int64(st, 3, (sqlite3_int64)up_to_seq);
  return s_done(st);
}

int store_notice_push(store_t *s, const char *recipient,
                      const store_notice_t *notice, uint64_t *seq) {
  sqlite3_stmt *st = s_stmt(s, ST_NOTICE_PUT,
                            "INSERT INTO notice (kind, subject, payload, "
                            "created_at_ms) VALUES (?, ?, ?, ?)");
  if (!st)
    return -1;
  sqlite3_bind_int(st, 1, notice->kind);
  sqlite3_bind_blob(st, 2, notice->subject, 32, SQLITE_STATIC);
  sqlite3_bind_blob(st, 3, notice->payload, (int)notice->payload_len,
                    SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, notice->created_at_ms);
  if (s_done(st) != 0)
    return -1;
  int64_t notice_id = sqlite3_last_insert_rowid(s->db);
  if (s_mailbox_next(s, recipient, seq) != 0)
    return -1;
  st = s_stmt(s, ST_NOTICE_PUSH,
              "INSERT INTO mailbox (recipient, seq, notice_id) VALUES (?, ?, ?)");
  if (!st)
    return -1;
  sqlite3_bind_text(st, 1, recipient, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)*seq);
  sqlite3_bind_int64(st, 3, notice_id);
  return s_done(st);
}

/* Runs statement id (sql, parameters: recipient, seq) that returns no rows. */
static int s_done_rs(store_t *s, int id, const char *sql,
                     const char *recipient, uint64_t seq) {
  sqlite3_stmt *st = s_stmt(s, id, sql);
  if (!st)
    return -1;
  sqlite3_bind_text(st, 1, recipient, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
  return s_done(st);
}

int store_mailbox_drop(store_t *s, const char *recipient, uint64_t seq) {
  return s_done_rs(s, ST_MAILBOX_DROP_NOTICE,
                   "DELETE FROM notice WHERE id = (SELECT notice_id FROM "
                   "mailbox WHERE recipient = ? AND seq = ?)",
                   recipient, seq) ||
                 s_done_rs(s, ST_MAILBOX_DROP,
                           "DELETE FROM mailbox WHERE recipient = ? AND seq = ?",
                           recipient, seq)
             ? -1
             : 0;
}

int store_mailbox_ack(store_t *s, const char *recipient, uint64_t seq) {
  /* A notice is one recipient's: it goes with its mailbox entry. */
  if (s_done_rs(s, ST_MAILBOX_ACK_NOTICES,
                "DELETE FROM notice WHERE id IN (SELECT notice_id FROM "
                "mailbox WHERE recipient = ? AND seq <= ? AND notice_id IS "
                "NOT NULL)",
                recipient, seq) ||
      s_done_rs(s, ST_MAILBOX_ACK_DELETE,
                "DELETE FROM mailbox WHERE recipient = ? AND seq <= ?",
                recipient, seq))
    return -1;
  sqlite3_stmt *st = s_stmt(s, ST_MAILBOX_ACK_STATE,
                            "UPDATE mailbox_state SET acked_seq = max(acked_seq, ?) "
                            "WHERE recipient = ?");
  if (!st)
    return -1;
  sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
  sqlite3_bind_text(st, 2, recipient, -1, SQLITE_STATIC);
  return s_done(st);
}

int store_revoke_access(store_t *s, const char *recipient,
                        const uint8_t subject[32], int kind, const char *author,
                        int64_t *wraps_removed, int64_t *pending_removed) {
  if (strcmp(recipient, author) == 0) {
    *wraps_removed = *pending_removed = 0;
    return 0; /* an author's own copies are not access someone gave */
  }
  sqlite3_stmt *pend = s_stmt(
      s, ST_REVOKE_PENDING,
      "DELETE FROM mailbox WHERE recipient = ?1 AND section_id IN (SELECT id "
      "FROM section WHERE subject = ?2 AND kind = ?3 AND author = ?4)");
  if (!pend)
    return -1;
  sqlite3_bind_text(pend, 1, recipient, -1, SQLITE_STATIC);
  sqlite3_bind_blob(pend, 2, subject, 32, SQLITE_STATIC);
  sqlite3_bind_int(pend, 3, kind);
  sqlite3_bind_text(pend, 4, author, -1, SQLITE_STATIC);
  if (s_done(pend) != 0)
    return -1;
  *pending_removed = sqlite3_changes(s->db);
  sqlite3_stmt *wr = s_stmt(
      s, ST_REVOKE_WRAPS,
      "DELETE FROM wrap WHERE recipient = ?1 AND section_id IN (SELECT id "
      "FROM section WHERE subject = ?2 AND kind = ?3 AND author = ?4)");
  if (!wr)
    return -1;
  sqlite3_bind_text(wr, 1, recipient, -1, SQLITE_STATIC);
  sqlite3_bind_blob(wr, 2, subject, 32, SQLITE_STATIC);
  sqlite3_bind_int(wr, 3, kind);
  sqlite3_bind_text(wr, 4, author, -1, SQLITE_STATIC);
  if (s_done(wr) != 0)
    return -1;
  *wraps_removed = sqlite3_changes(s->db);
  return 0;
}

/* ---- audit ----------------------------------------------------------------- */

int store_audit_head(store_t *s, uint64_t *seq, uint8_t hash[AUDIT_HASH_BYTES]) {
  sqlite3_stmt *st = s_stmt(s, ST_AUDIT_HEAD,
                            "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1");
  if (!st)
    return -1;
  int rc = sqlite3_step(st);
  *seq = 0;
  memset(hash, 0, AUDIT_HASH_BYTES);
  if (rc == SQLITE_ROW) {
    *seq = (uint64_t)sqlite3_column_int64(st, 0);
    s_blob(st, 1, hash, AUDIT_HASH_BYTES);
  }
  sqlite3_reset(st);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int s_audit_append(store_t *s, audit_entry_t *e);

/* Outside a transaction the entry and its tree nodes are written in a
 * savepoint of their own, so that they land together or not at all. */
int store_audit_append(store_t *s, audit_entry_t *e) {
  if (!s->merkle_on || !sqlite3_get_autocommit(s->db))
    return s_audit_append(s, e);
  s->head_cached = 0; /* another process may have appended meanwhile */
  if (s_exec(s, "SAVEPOINT audit_append", NULL, 0) != 0)
    return -1;
  if (s_audit_append(s, e) != 0) {
    s_exec(s, "ROLLBACK TO audit_append; RELEASE audit_append", NULL, 0);
    s->head_cached = 0;
    return -1;
  }
  s->head_cached = 0;
  return s_exec(s, "RELEASE audit_append", NULL, 0);
}

static int s_audit_append(store_t *s, audit_entry_t *e) {
  if (!s->head_cached || sqlite3_get_autocommit(s->db)) {
    if (store_audit_head(s, &s->head_seq, s->head_hash) != 0)
      return -1;
    /* The tree's border at that size, from the stored nodes: after a
     * rollback or another writer's commit it is read afresh too. */
    if (s->merkle_on &&
        audit_log_frontier_load(s, s->head_seq, &s->frontier) != 0)
      return -1;
    /* Only inside a transaction can nobody else append meanwhile. */
    s->head_cached = !sqlite3_get_autocommit(s->db);
  }
  e->seq = s->head_seq + 1;
  audit_chain(e, s->head_hash);
  sqlite3_stmt *st = s_stmt(
      s, ST_AUDIT_PUT,
      "INSERT INTO audit (seq, trace_id, operation_id, parent_operation_id, "
      "name, status, start_ms, end_ms, actor, counterparty, subject, kind, "
      "consent_id, purpose, foreign_trace_id, foreign_operation_id, detail, "
      "prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  if (!st)
    return -1;
  sqlite3_bind_int64(st, 1, (sqlite3_int64)e->seq);
  sqlite3_bind_blob(st, 2, e->trace_id, 16, SQLITE_STATIC);
  sqlite3_bind_blob(st, 3, e->operation_id, 8, SQLITE_STATIC);
  sqlite3_bind_blob(st, 4, e->parent_operation_id, 8, SQLITE_STATIC);
  sqlite3_bind_text(st, 5, e->name, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 6, e->status);
  sqlite3_bind_int64(st, 7, e->start_ms);
  sqlite3_bind_int64(st, 8, e->end_ms);
  sqlite3_bind_text(st, 9, e->actor, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 10, e->counterparty, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 11, e->subject, 32, SQLITE_STATIC);
  sqlite3_bind_int(st, 12, e->kind);
  sqlite3_bind_blob(st, 13, e->consent_id, 16, SQLITE_STATIC);
  sqlite3_bind_int(st, 14, e->purpose);
  sqlite3_bind_blob(st, 15, e->foreign_trace_id, 16, SQLITE_STATIC);
  sqlite3_bind_blob(st, 16, e->foreign_operation_id, 8, SQLITE_STATIC);
  sqlite3_bind_text(st, 17, e->detail, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 18, e->prev_hash, AUDIT_HASH_BYTES, SQLITE_STATIC);
  sqlite3_bind_blob(st, 19, e->hash, AUDIT_HASH_BYTES, SQLITE_STATIC);
  if (s_done(st) != 0) {
    s->head_cached = 0;
    return -1;
  }
  /* Its leaf, and every node it completes, in the same transaction. */
  if (s->merkle_on && audit_log_append(s, &s->frontier, e) != 0) {
    s->head_cached = 0;
    return -1;
  }
  s->head_seq = e->seq;
  memcpy(s->head_hash, e->hash, AUDIT_HASH_BYTES);
  return 0;
}

/* Reads a blob column that must be exactly len bytes; counts a mismatch. */
static void s_blob_exact(sqlite3_stmt *st, int col, uint8_t *dst, size_t len,
                         int *damaged) {
  if ((size_t)sqlite3_column_bytes(st, col) != len ||
      sqlite3_column_type(st, col) != SQLITE_BLOB)
    *damaged = 1;
  s_blob(st, col, dst, len);
}

/* Reads a text column that must fit cap - 1 bytes; counts a mismatch. */
static void s_text_exact(sqlite3_stmt *st, int col, char *dst, size_t cap,
                         int *damaged) {
  const unsigned char *t = sqlite3_column_text(st, col);
  if (!t || (size_t)sqlite3_column_bytes(st, col) >= cap ||
      strlen((const char *)t) != (size_t)sqlite3_column_bytes(st, col))
    *damaged = 1;
  s_text(st, col, dst, cap);
}

/* Audit rows are read back exactly: a value that no entry could hold
 * (wrong length, too long, embedded NUL) marks the entry damaged rather
 * than being silently normalised into something that verifies. */
static int s_audit_rows(sqlite3_stmt *st, store_audit_fn fn, void *arg) {
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    audit_entry_t e;
    memset(&e, 0, sizeof e);
    int *d = &e.damaged;
    e.seq = (uint64_t)sqlite3_column_int64(st, 0);
    s_blob_exact(st, 1, e.trace_id, 16, d);
    s_blob_exact(st, 2, e.operation_id, 8, d);
    s_blob_exact(st, 3, e.parent_operation_id, 8, d);
    s_text_exact(st, 4, e.name, sizeof e.name, d);
    e.status = sqlite3_column_int(st, 5);
    e.start_ms = sqlite3_column_int64(st, 6);
    e.end_ms = sqlite3_column_int64(st, 7);
    s_text_exact(st, 8, e.actor, sizeof e.actor, d);
    s_text_exact(st, 9, e.counterparty, sizeof e.counterparty, d);
    s_blob_exact(st, 10, e.subject, 32, d);
    e.kind = sqlite3_column_int(st, 11);
    s_blob_exact(st, 12, e.consent_id, 16, d);
    e.purpose = sqlite3_column_int(st, 13);
    s_blob_exact(st, 14, e.foreign_trace_id, 16, d);
    s_blob_exact(st, 15, e.foreign_operation_id, 8, d);
    s_text_exact(st, 16, e.detail, sizeof e.detail, d);
    s_blob_exact(st, 17, e.prev_hash, AUDIT_HASH_BYTES, d);
    s_blob_exact(st, 18, e.hash, AUDIT_HASH_BYTES, d);
    for (int col = 5; col <= 13; col += (col == 7 ? 4 : col == 11 ? 2 : 1))
      if (sqlite3_column_type(st, col) != SQLITE_INTEGER)
        *d = 1;
    if (fn(&e, arg) != 0) {
      rc = SQLITE_DONE;
      break;
    }
  }
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

#define AUDIT_COLUMNS                                                         \
  "seq, trace_id, operation_id, parent_operation_id, name, status, "        \
  "start_ms, end_ms, actor, counterparty, subject, kind, consent_id, "      \
  "purpose, foreign_trace_id, foreign_operation_id, detail, prev_hash, hash"

int store_audit_each(store_t *s, store_audit_fn fn, void *arg) {
  sqlite3_stmt *st = s_stmt(s, ST_AUDIT_EACH,
                            "SELECT " AUDIT_COLUMNS " FROM audit ORDER BY seq");
  return st ? s_audit_rows(st, fn, arg) : -1;
}

static int s_audit_copy(const audit_entry_t *e, void *arg) {
  *(audit_entry_t *)arg = *e;
  return 1;
}

int store_audit_get(store_t *s, uint64_t seq, audit_entry_t *out) {
  sqlite3_stmt *st = s_stmt(s, ST_AUDIT_GET,
                            "SELECT " AUDIT_COLUMNS " FROM audit WHERE seq = ?");
  if (!st)
    return -1;
  sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
  memset(out, 0, sizeof *out);
  if (s_audit_rows(st, s_audit_copy, out) != 0)
    return -1;
  return out->seq == seq && seq != 0 ? 1 : 0;
}

int store_audit_of_subject(store_t *s, const uint8_t subject[32],
                           store_audit_fn fn, void *arg) {
  sqlite3_stmt *st = s_stmt(s, ST_AUDIT_SUBJECT,
                            "SELECT " AUDIT_COLUMNS " FROM audit "
                            "WHERE subject = ? ORDER BY seq");
  if (!st)
    return -1;
  sqlite3_bind_blob(st, 1, subject, 32, SQLITE_STATIC);
  return s_audit_rows(st, fn, arg);
}

int store_audit_checkpoint_put(store_t *s, uint64_t seq,
                               const uint8_t head[AUDIT_HASH_BYTES],
                               int64_t at_ms, const uint8_t signature[64]) {
  sqlite3_stmt *st = s_stmt(s, ST_CHECKPOINT_PUT,
                            "INSERT OR REPLACE INTO audit_checkpoint "
                            "(seq, head_hash, at_ms, signature) VALUES (?, ?, ?, ?)");
  if (!st)
    return -1;
  sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
  sqlite3_bind_blob(st, 2, head, AUDIT_HASH_BYTES, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, at_ms);
  sqlite3_bind_blob(st, 4, signature, 64, SQLITE_STATIC);
  return s_done(st);
}

int store_audit_checkpoints(store_t *s, store_checkpoint_fn fn, void *arg) {
  sqlite3_stmt *st = s_stmt(s, ST_CHECKPOINTS,
                            "SELECT seq, head_hash, at_ms, signature FROM "
                            "audit_checkpoint ORDER BY seq");
  if (!st)
    return -1;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    uint8_t head[AUDIT_HASH_BYTES], sig[64];
    s_blob(st, 1, head, AUDIT_HASH_BYTES);
    s_blob(st, 3, sig, 64);
    if (fn((uint64_t)sqlite3_column_int64(st, 0), head,
           sqlite3_column_int64(st, 2), sig, arg) != 0) {
      rc = SQLITE_DONE;
      break;
    }
  }
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- the audit log's Merkle tree (issue 9) ---------------------------------- */

int store_audit_node_put(store_t *s, unsigned level, uint64_t idx,
                         const uint8_t hash[32]) {
  sqlite3_stmt *st = s_stmt(s, ST_AUDIT_NODE_PUT,
                            "INSERT OR REPLACE INTO audit_node (level, idx, "
                            "hash) VALUES (?, ?, ?)");
  if (!st || idx > (uint64_t)INT64_MAX)
    return -1;
  sqlite3_bind_int(st, 1, (int)level);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)idx);
  sqlite3_bind_blob(st, 3, hash, 32, SQLITE_STATIC);
  return s_done(st);
}

int store_audit_node_get(store_t *s, unsigned level, uint64_t idx,
                         uint8_t hash[32]) {
  sqlite3_stmt *st = s_stmt(s, ST_AUDIT_NODE_GET,
                            "SELECT hash FROM audit_node WHERE level = ? AND "
                            "idx = ?");
  if (!st || idx > (uint64_t)INT64_MAX)
    return -1;
  sqlite3_bind_int(st, 1, (int)level);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)idx);
  int rc = sqlite3_step(st);
  int found = rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 32;
  if (found)
    memcpy(hash, sqlite3_column_blob(st, 0), 32);
  sqlite3_reset(st);
  return found ? 1 : rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int store_audit_nodes_clear(store_t *s) {
  return s_exec(s, "DELETE FROM audit_node", NULL, 0);
}

int store_tree_head_put(store_t *s, const store_tree_head_t *h) {
  sqlite3_stmt *st = s_stmt(s, ST_TREE_HEAD_PUT,
                            "INSERT OR REPLACE INTO tree_head (size, root, "
                            "timestamp_ms, broker_key, signature) VALUES "
                            "(?, ?, ?, ?, ?)");
  if (!st || h->size > (uint64_t)INT64_MAX)
    return -1;
  sqlite3_bind_int64(st, 1, (sqlite3_int64)h->size);
  sqlite3_bind_blob(st, 2, h->root, 32, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, h->timestamp_ms);
  sqlite3_bind_blob(st, 4, h->broker_key, 32, SQLITE_STATIC);
  sqlite3_bind_blob(st, 5, h->signature, 64, SQLITE_STATIC);
  return s_done(st);
}

static int s_tree_head_row(sqlite3_stmt *st, store_tree_head_t *out) {
  int rc = sqlite3_step(st);
  memset(out, 0, sizeof *out);
  if (rc == SQLITE_ROW) {
    out->size = (uint64_t)sqlite3_column_int64(st, 0);
    s_blob(st, 1, out->root, 32);
    out->timestamp_ms = sqlite3_column_int64(st, 2);
    s_blob(st, 3, out->broker_key, 32);
    s_blob(st, 4, out->signature, 64);
  }
  sqlite3_reset(st);
  return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_tree_head_get(store_t *s, uint64_t size, store_tree_head_t *out) {
  sqlite3_stmt *st = s_stmt(s, ST_TREE_HEAD_GET,
                            "SELECT size, root, timestamp_ms, broker_key, "
                            "signature FROM tree_head WHERE size = ?");
  if (!st || size > (uint64_t)INT64_MAX)
    return -1;
  sqlite3_bind_int64(st, 1, (sqlite3_int64)size);
  return s_tree_head_row(st, out);
}

int store_tree_head_latest(store_t *s, store_tree_head_t *out) {
  sqlite3_stmt *st = s_stmt(s, ST_TREE_HEAD_LATEST,
                            "SELECT size, root, timestamp_ms, broker_key, "
                            "signature FROM tree_head ORDER BY size DESC "
                            "LIMIT 1");
  return st ? s_tree_head_row(st, out) : -1;
}

/* Migration 6's step: the tree's nodes for the entries already logged. */
static int s_migrate6(store_t *s, char *err, size_t errlen) {
  if (audit_log_rebuild(s) != 0)
    return s_fail(s, err, errlen, "schema 6: the audit log's Merkle tree");
  s->merkle_on = 1;
  s->head_cached = 0;
  return 0;
}

/* ---- migration 3 ------------------------------------------------------------ */

/* A far-future end for entries an older keten installed without one. */
#define S_LEGACY_UNTIL INT64_C(253402300800000) /* 10000-01-01 */

/* Appends an entry by ketend itself (no request), in the migration. */
static int s_audit_upgrade(store_t *s, const char *name,
                           const uint8_t subject[32], const char *actor,
                           const char *counterparty, int kind,
                           const uint8_t *consent_id, int purpose,
                           const char *detail) {
  audit_entry_t e;
  audit_entry_local(&e, name, actor, detail);
  snprintf(e.counterparty, sizeof e.counterparty, "%s", counterparty);
  if (subject)
    memcpy(e.subject, subject, 32);
  e.kind = kind;
  if (consent_id)
    memcpy(e.consent_id, consent_id, 16);
  e.purpose = purpose;
  return store_audit_append(s, &e);
}

/* The role of id in the (migrated) registry, or 0. */
static int s_role_of(store_t *s, const char *id) {
  sqlite3_stmt *st = NULL;
  int role = 0;
  if (sqlite3_prepare_v2(s->db,
                         "SELECT role FROM registry_entry WHERE id = ? LIMIT 1",
                         -1, &st, NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
      role = sqlite3_column_int(st, 0);
  }
  sqlite3_finalize(st);
  return role;
}

/* 3a: the unsigned participants become legacy entries (ketend refuses
 * them until the chain root has signed them; docs/operations.md). */
static int s_migrate3_registry(store_t *s) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db,
                         "SELECT id, role, display_name, transport_pk, "
                         "signing_pk, sealing_pk, added_at_ms FROM participant",
                         -1, &st, NULL) != SQLITE_OK)
    return -1;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    participant_t p;
    memset(&p, 0, sizeof p);
    s_text(st, 0, p.id, sizeof p.id);
    p.role = sqlite3_column_int(st, 1);
    s_text(st, 2, p.display_name, sizeof p.display_name);
    s_blob(st, 3, p.transport_pk, 32);
    s_blob(st, 4, p.signing_pk, 32);
    s_blob(st, 5, p.sealing_pk, 32);
    p.added_at_ms = sqlite3_column_int64(st, 6);
    p.valid_from_ms = p.added_at_ms;
    p.valid_until_ms = S_LEGACY_UNTIL;
    Keten__RegistryEntry e;
    participant_to_entry(&p, &e);
    if (canon_entry_hash(&e, p.entry_hash) != 0 ||
        s_entry_insert(s, &p, p.added_at_ms) != 0) {
      rc = SQLITE_ERROR;
      break;
    }
  }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

/* 3b: whether each consent names a legal reference (from its record). */
static int s_migrate3_legal_refs(store_t *s) {
  sqlite3_stmt *st = NULL, *up = NULL;
  if (sqlite3_prepare_v2(s->db, "SELECT consent_id, record FROM consent", -1,
                         &st, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(s->db,
                         "UPDATE consent SET has_legal_reference = ? WHERE "
                         "consent_id = ?",
                         -1, &up, NULL) != SQLITE_OK) {
    sqlite3_finalize(st);
    return -1;
  }
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    Keten__Consent *k = keten__consent__unpack(
        NULL, (size_t)sqlite3_column_bytes(st, 1), sqlite3_column_blob(st, 1));
    int has = k && k->legal_reference && k->legal_reference[0];
    if (k)
      keten__consent__free_unpacked(k, NULL);
    sqlite3_reset(up);
    sqlite3_bind_int(up, 1, has);
    sqlite3_bind_blob(up, 2, sqlite3_column_blob(st, 0),
                      sqlite3_column_bytes(st, 0), SQLITE_TRANSIENT);
    if (sqlite3_step(up) != SQLITE_DONE) {
      rc = SQLITE_ERROR;
      break;
    }
  }
  sqlite3_finalize(up);
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

/* 3c: consents a new grant would refuse are closed, each with an audit
 * entry naming the rule. */
static int s_migrate3_close_consents(store_t *s) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db,
                         "SELECT " CONSENT_COLUMNS " FROM consent WHERE "
                         "revoked_at_ms IS NULL",
                         -1, &st, NULL) != SQLITE_OK)
    return -1;
  consent_t *list = NULL;
  size_t n = 0;
  int rc = s_consent_list(st, &list, &n);
  sqlite3_finalize(st);
  if (rc != 0)
    return -1;
  int64_t now = s_now_ms();
  for (size_t i = 0; rc == 0 && i < n; i++) {
    const consent_t *c = &list[i];
    int bad_kind = 0;
    int from = s_role_of(s, c->recorded_by), to = s_role_of(s, c->recipient);
    policy_rule_t rule = policy_may_record(
        from, to, strcmp(c->recorded_by, c->recipient) == 0, c->sections,
        c->purpose, c->basis, c->has_legal_reference, &bad_kind);
    if (rule == POLICY_OK)
      continue;
    char detail[128];
    snprintf(detail, sizeof detail, "closed by the upgrade to schema 3: %s",
             policy_rule_text(rule));
    sqlite3_stmt *up = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "UPDATE consent SET revoked_at_ms = ?, revoked_by = "
                           "'ketend' WHERE consent_id = ?",
                           -1, &up, NULL) != SQLITE_OK) {
      rc = -1;
      break;
    }
    sqlite3_bind_int64(up, 1, now);
    sqlite3_bind_blob(up, 2, c->consent_id, CONSENT_ID_BYTES, SQLITE_STATIC);
    rc = sqlite3_step(up) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(up);
    if (rc == 0)
      rc = s_audit_upgrade(s, "keten.consent.close", c->subject, "ketend",
                           c->recipient, bad_kind, c->consent_id, c->purpose,
                           detail);
  }
  free(list);
  return rc;
}

/* Wraps (and pending deliveries) that no live consent of the section's own
 * author allows. */
#define S_UNCOVERED                                                           \
  "FROM wrap w JOIN section s ON s.id = w.section_id WHERE w.recipient <> "  \
  "s.author AND NOT EXISTS (SELECT 1 FROM consent c WHERE c.subject = "      \
  "s.subject AND c.recorded_by = s.author AND c.recipient = w.recipient AND " \
  "c.revoked_at_ms IS NULL AND c.expiry_done = 0 AND c.valid_until_ms > "    \
  "CAST(strftime('%s', 'now') AS INTEGER) * 1000 AND (c.sections >> s.kind) & 1)"

/* 3d: access the controller-scoped rule no longer gives is removed, with
 * an audit entry per (subject, recipient, author, kind). */
static int s_migrate3_access(store_t *s) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db,
                         "SELECT s.subject, w.recipient, s.author, s.kind, "
                         "count(*) " S_UNCOVERED " GROUP BY s.subject, "
                         "w.recipient, s.author, s.kind",
                         -1, &st, NULL) != SQLITE_OK)
    return -1;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    uint8_t subject[32];
    char to[PARTICIPANT_ID_MAX + 1], by[PARTICIPANT_ID_MAX + 1], detail[128];
    s_blob(st, 0, subject, 32);
    s_text(st, 1, to, sizeof to);
    s_text(st, 2, by, sizeof by);
    snprintf(detail, sizeof detail,
             "upgrade to schema 3: %lld key wraps erased: no consent of "
             "their author covers them",
             (long long)sqlite3_column_int64(st, 4));
    if (s_audit_upgrade(s, "keten.access.erase", subject, by, to,
                        sqlite3_column_int(st, 3), NULL, 0, detail) != 0) {
      rc = SQLITE_ERROR;
      break;
    }
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE)
    return -1;
  char reason[128];
  return s_exec(s,
                "DELETE FROM mailbox WHERE section_id IS NOT NULL AND "
                "(section_id, recipient) IN (SELECT w.section_id, "
                "w.recipient " S_UNCOVERED ");"
                "DELETE FROM wrap WHERE (section_id, recipient) IN (SELECT "
                "w.section_id, w.recipient " S_UNCOVERED ");",
                reason, sizeof reason);
}

static int s_migrate3(store_t *s, char *err, size_t errlen) {
  if (s_migrate3_registry(s) != 0 || s_migrate3_legal_refs(s) != 0 ||
      s_migrate3_close_consents(s) != 0 || s_migrate3_access(s) != 0)
    return s_fail(s, err, errlen, "schema 3 data migration");
  return 0;
}

/* ---- wraps, sections by id ------------------------------------------------- */

int store_wrap_max_version(store_t *s, const char *recipient,
                           const uint8_t subject[32], int kind,
                           const char *author, uint64_t *version) {
  sqlite3_stmt *st = s_stmt(
      s, ST_WRAP_MAX_VERSION,
      "SELECT max(s.version) FROM wrap w JOIN section s ON s.id = "
      "w.section_id WHERE w.recipient = ?1 AND s.subject = ?2 AND s.kind = "
      "?3 AND s.author = ?4");
  if (!st)
    return -1;
  sqlite3_bind_text(st, 1, recipient, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, subject, 32, SQLITE_STATIC);
  sqlite3_bind_int(st, 3, kind);
  sqlite3_bind_text(st, 4, author, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  *version = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
  sqlite3_reset(st);
  return rc == SQLITE_ROW ? 0 : -1;
}

int store_section_by_id(store_t *s, int64_t id, const char *reader,
                        store_section_fn fn, void *arg) {
  sqlite3_stmt *st = s_stmt(
      s, ST_SECTION_BY_ID,
      "SELECT " SECTION_COLUMNS " FROM section s "
      "LEFT JOIN wrap w ON w.section_id = s.id AND w.recipient = ?2 "
      "WHERE s.id = ?1");
  if (!st)
    return -1;
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_text(st, 2, reader, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  int found = 0;
  if (rc == SQLITE_ROW) {
    store_section_t sec;
    s_section_row(st, &sec);
    found = 1;
    fn(&sec, 0, arg);
  }
  sqlite3_reset(st);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? found : -1;
}

/* ---- TVS ------------------------------------------------------------------- */

int store_tvs_event_find(store_t *s, const uint8_t event_id[16],
                         const uint8_t *record, size_t record_len, int *same) {
  *same = 0;
  sqlite3_stmt *st = s_stmt(s, ST_TVS_EVENT_FIND,
                            "SELECT id, record FROM tvs_event WHERE "
                            "event_id = ?");
  if (!st)
    return -1;
  sqlite3_bind_blob(st, 1, event_id, 16, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    *same = (size_t)sqlite3_column_bytes(st, 1) == record_len &&
            memcmp(sqlite3_column_blob(st, 1), record, record_len) == 0;
  sqlite3_reset(st);
  return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_tvs_event_put(store_t *s, const uint8_t event_id[16], int kind,
                        const char *published_by, const uint8_t *record,
                        size_t record_len, const uint8_t *entry,
                        size_t entry_len, int64_t received_at_ms, int64_t *id,
                        int *same) {
  int found = store_tvs_event_find(s, event_id, record, record_len, same);
  if (found != 0)
    return found;
  sqlite3_stmt *st;
  st = s_stmt(s, ST_TVS_EVENT_PUT,
              "INSERT INTO tvs_event (event_id, kind, published_by, record, "
              "publisher_entry, received_at_ms) VALUES (?, ?, ?, ?, ?, ?)");
  if (!st)
    return -1;
  sqlite3_bind_blob(st, 1, event_id, 16, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, kind);
  sqlite3_bind_text(st, 3, published_by, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 4, record, (int)record_len, SQLITE_STATIC);
  sqlite3_bind_blob(st, 5, entry, (int)entry_len, SQLITE_STATIC);
  sqlite3_bind_int64(st, 6, received_at_ms);
  if (s_done(st) != 0)
    return -1;
  *id = sqlite3_last_insert_rowid(s->db);
  return 0;
}

/* A malloc'd copy of column col (at least 1 byte allocated), or NULL. */
static uint8_t *s_blob_dup(sqlite3_stmt *st, int col, size_t *len) {
  size_t n = (size_t)sqlite3_column_bytes(st, col);
  uint8_t *p = malloc(n ? n : 1);
  if (p && n)
    memcpy(p, sqlite3_column_blob(st, col), n);
  *len = p ? n : 0;
  return p;
}

int store_tvs_event_record(store_t *s, int64_t id, uint8_t **record,
                           size_t *len, uint8_t **entry, size_t *entry_len) {
  *record = *entry = NULL;
  *len = *entry_len = 0;
  sqlite3_stmt *st = s_stmt(s, ST_TVS_EVENT_RECORD,
                            "SELECT record, publisher_entry FROM tvs_event "
                            "WHERE id = ?");
  if (!st)
    return -1;
  sqlite3_bind_int64(st, 1, id);
  int rc = sqlite3_step(st);
  int found = 0;
  if (rc == SQLITE_ROW) {
    *record = s_blob_dup(st, 0, len);
    *entry = s_blob_dup(st, 1, entry_len);
    found = 1;
    if (!*record || !*entry) {
      free(*record);
      free(*entry);
      *record = *entry = NULL;
      rc = SQLITE_ERROR;
    }
  }
  sqlite3_reset(st);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? found : -1;
}

#define LINK_COLUMNS                                                        \
  "l.subject, l.gemeente, l.period, l.linked_date, l.household_size, "      \
  "l.housed_date, l.koppeling_id, e.event_id, l.linked_at_ms"

static void s_link_row(sqlite3_stmt *st, store_tvs_link_t *l) {
  memset(l, 0, sizeof *l);
  s_blob(st, 0, l->subject, 32);
  s_text(st, 1, l->gemeente, sizeof l->gemeente);
  s_text(st, 2, l->period, sizeof l->period);
  s_text(st, 3, l->linked_date, sizeof l->linked_date);
  l->household_size = (uint32_t)sqlite3_column_int64(st, 4);
  s_text(st, 5, l->housed_date, sizeof l->housed_date);
  l->koppeling_id = sqlite3_column_int64(st, 6);
  s_blob(st, 7, l->koppeling_event_id, 16);
  l->linked_at_ms = sqlite3_column_int64(st, 8);
}

int store_tvs_link_active(store_t *s, const uint8_t subject[32],
                          store_tvs_link_t *out) {
  sqlite3_stmt *st = s_stmt(
      s, ST_TVS_LINK_ACTIVE,
      "SELECT " LINK_COLUMNS " FROM tvs_link l JOIN tvs_event e ON e.id = "
      "l.koppeling_id WHERE l.subject = ? AND l.ended_by IS NULL");
  if (!st)
    return -1;
  sqlite3_bind_blob(st, 1, subject, 32, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    s_link_row(st, out);
  sqlite3_reset(st);
  return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_tvs_link_start(store_t *s, const store_tvs_link_t *l) {
  sqlite3_stmt *st = s_stmt(
      s, ST_TVS_LINK_START,
      "INSERT INTO tvs_link (subject, gemeente, period, linked_date, "
      "household_size, koppeling_id, linked_at_ms) VALUES (?,?,?,?,?,?,?)");
  if (!st)
    return -1;
  sqlite3_bind_blob(st, 1, l->subject, 32, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, l->gemeente, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, l->period, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, l->linked_date, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 5, l->household_size);
  sqlite3_bind_int64(st, 6, l->koppeling_id);
  sqlite3_bind_int64(st, 7, l->linked_at_ms);
  return s_done(st);
}

int store_tvs_link_end(store_t *s, const uint8_t subject[32], int64_t ended_by,
                       int64_t at_ms) {
  sqlite3_stmt *st = s_stmt(s, ST_TVS_LINK_END,
                            "UPDATE tvs_link SET ended_by = ?, ended_at_ms = ? "
                            "WHERE subject = ? AND ended_by IS NULL");
  if (!st)
    return -1;
  sqlite3_bind_int64(st, 1, ended_by);
  sqlite3_bind_int64(st, 2, at_ms);
  sqlite3_bind_blob(st, 3, subject, 32, SQLITE_STATIC);
  return s_done(st);
}

int store_tvs_link_housed(store_t *s, const uint8_t subject[32],
                          const char *date) {
  sqlite3_stmt *st = s_stmt(s, ST_TVS_LINK_HOUSED,
                            "UPDATE tvs_link SET housed_date = ? WHERE "
                            "subject = ? AND ended_by IS NULL");
  if (!st)
    return -1;
  sqlite3_bind_text(st, 1, date, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, subject, 32, SQLITE_STATIC);
  return s_done(st);
}

int store_tvs_links_of(store_t *s, const char *gemeente, const char *period,
                       size_t max, store_tvs_link_fn fn, void *arg) {
  sqlite3_stmt *st =
      period ? s_stmt(s, ST_TVS_LINKS_OF_PERIOD,
                      "SELECT " LINK_COLUMNS " FROM tvs_link l JOIN tvs_event "
                      "e ON e.id = l.koppeling_id WHERE l.gemeente = ?1 AND "
                      "l.period = ?2 AND l.ended_by IS NULL ORDER BY l.id "
                      "LIMIT ?3")
             : s_stmt(s, ST_TVS_LINKS_OF,
                      "SELECT " LINK_COLUMNS " FROM tvs_link l JOIN tvs_event "
                      "e ON e.id = l.koppeling_id WHERE l.gemeente = ?1 AND "
                      "l.ended_by IS NULL ORDER BY l.id LIMIT ?3");
  if (!st)
    return -1;
  sqlite3_bind_text(st, 1, gemeente, -1, SQLITE_STATIC);
  if (period)
    sqlite3_bind_text(st, 2, period, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    store_tvs_link_t l;
    s_link_row(st, &l);
    if (fn(&l, arg) != 0) {
      rc = SQLITE_DONE;
      break;
    }
  }
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

int store_tvs_counts(store_t *s, const char *gemeente, const char *period,
                     uint32_t *linked, uint32_t *housed) {
  sqlite3_stmt *st = s_stmt(
      s, ST_TVS_COUNTS,
      "SELECT count(*) FILTER (WHERE ended_by IS NULL), count(*) FILTER "
      "(WHERE housed_date IS NOT NULL) FROM tvs_link WHERE gemeente = ? AND "
      "period = ?");
  if (!st)
    return -1;
  sqlite3_bind_text(st, 1, gemeente, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, period, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    *linked = (uint32_t)sqlite3_column_int64(st, 0);
    *housed = (uint32_t)sqlite3_column_int64(st, 1);
  }
  sqlite3_reset(st);
  return rc == SQLITE_ROW ? 0 : -1;
}

int store_tvs_target_put(store_t *s, const char *gemeente, const char *period,
                         uint32_t target, uint32_t realised, int64_t at_ms) {
  sqlite3_stmt *st = s_stmt(
      s, ST_TVS_TARGET_PUT,
      "INSERT INTO tvs_target (gemeente, period, target, realised, at_ms) "
      "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (gemeente, period) DO UPDATE "
      "SET target = ?3, realised = ?4, at_ms = ?5");
  if (!st)
    return -1;
  sqlite3_bind_text(st, 1, gemeente, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, period, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, target);
  sqlite3_bind_int64(st, 4, realised);
  sqlite3_bind_int64(st, 5, at_ms);
  return s_done(st);
}

int store_tvs_target_get(store_t *s, const char *gemeente, const char *period,
                         uint32_t *target, uint32_t *realised, int64_t *at_ms) {
  sqlite3_stmt *st = s_stmt(s, ST_TVS_TARGET_GET,
                            "SELECT target, realised, at_ms FROM tvs_target "
                            "WHERE gemeente = ? AND period = ?");
  if (!st)
    return -1;
  sqlite3_bind_text(st, 1, gemeente, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, period, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  *target = *realised = 0;
  *at_ms = 0;
  if (rc == SQLITE_ROW) {
    *target = (uint32_t)sqlite3_column_int64(st, 0);
    *realised = (uint32_t)sqlite3_column_int64(st, 1);
    *at_ms = sqlite3_column_int64(st, 2);
  }
  sqlite3_reset(st);
  return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* ---- rewrap requests --------------------------------------------------------- */

int store_rewrap_add(store_t *s, const store_rewrap_t *r, int64_t *id) {
  /* A pending request whose mailbox entry is gone was acked without an
   * answer (an older library): it will never be answered, so it makes
   * room for a new one. */
  sqlite3_stmt *stale = s_stmt(
      s, ST_REWRAP_STALE,
      "UPDATE rewrap SET state = 3, finished_at_ms = ?3 WHERE section_id = "
      "?1 AND recipient = ?2 AND state = 0 AND NOT EXISTS (SELECT 1 FROM "
      "mailbox m WHERE m.recipient = rewrap.author AND m.seq = "
      "rewrap.mailbox_seq)");
  if (!stale)
    return -1;
  sqlite3_bind_int64(stale, 1, r->section_id);
  sqlite3_bind_text(stale, 2, r->recipient, -1, SQLITE_STATIC);
  sqlite3_bind_int64(stale, 3, r->created_at_ms);
  if (s_done(stale) != 0)
    return -1;
  sqlite3_stmt *st = s_stmt(
      s, ST_REWRAP_ADD,
      "INSERT INTO rewrap (section_id, subject, kind, author, recipient, "
      "state, created_at_ms) VALUES (?, ?, ?, ?, ?, 0, ?) ON CONFLICT DO "
      "NOTHING");
  if (!st)
    return -1;
  sqlite3_bind_int64(st, 1, r->section_id);
  sqlite3_bind_blob(st, 2, r->subject, 32, SQLITE_STATIC);
  sqlite3_bind_int(st, 3, r->kind);
  sqlite3_bind_text(st, 4, r->author, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 5, r->recipient, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 6, r->created_at_ms);
  if (s_done(st) != 0)
    return -1;
  if (sqlite3_changes(s->db) == 0)
    return 1;
  *id = sqlite3_last_insert_rowid(s->db);
  return 0;
}

int store_rewrap_queued(store_t *s, int64_t id, uint64_t seq) {
  sqlite3_stmt *st = s_stmt(s, ST_REWRAP_QUEUED,
                            "UPDATE rewrap SET mailbox_seq = ? WHERE id = ?");
  if (!st)
    return -1;
  sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
  sqlite3_bind_int64(st, 2, id);
  return s_done(st);
}

int store_rewrap_get(store_t *s, int64_t id, store_rewrap_t *out) {
  sqlite3_stmt *st = s_stmt(s, ST_REWRAP_GET,
                            "SELECT id, section_id, subject, kind, author, "
                            "recipient, state, created_at_ms FROM rewrap "
                            "WHERE id = ?");
  if (!st)
    return -1;
  sqlite3_bind_int64(st, 1, id);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    memset(out, 0, sizeof *out);
    out->id = sqlite3_column_int64(st, 0);
    out->section_id = sqlite3_column_int64(st, 1);
    s_blob(st, 2, out->subject, 32);
    out->kind = sqlite3_column_int(st, 3);
    s_text(st, 4, out->author, sizeof out->author);
    s_text(st, 5, out->recipient, sizeof out->recipient);
    out->state = sqlite3_column_int(st, 6);
    out->created_at_ms = sqlite3_column_int64(st, 7);
  }
  sqlite3_reset(st);
  return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_rewrap_finish(store_t *s, int64_t id, int state, int64_t at_ms) {
  sqlite3_stmt *st = s_stmt(s, ST_REWRAP_FINISH,
                            "UPDATE rewrap SET state = ?, finished_at_ms = ? "
                            "WHERE id = ? AND state = 0");
  if (!st)
    return -1;
  sqlite3_bind_int(st, 1, state);
  sqlite3_bind_int64(st, 2, at_ms);
  sqlite3_bind_int64(st, 3, id);
  if (s_done(st) != 0)
    return -1;
  return sqlite3_changes(s->db) == 1 ? 0 : -1;
}

int store_rewrap_cancel(store_t *s, const uint8_t subject[32],
                        const char *recipient, const char *author,
                        int64_t at_ms, int64_t *n) {
  sqlite3_stmt *st =
      author ? s_stmt(s, ST_REWRAP_CANCEL_BY,
                      "UPDATE rewrap SET state = 3, finished_at_ms = ?1 WHERE "
                      "subject = ?2 AND recipient = ?3 AND author = ?4 AND "
                      "state = 0")
             : s_stmt(s, ST_REWRAP_CANCEL,
                      "UPDATE rewrap SET state = 3, finished_at_ms = ?1 WHERE "
                      "subject = ?2 AND recipient = ?3 AND state = 0");
  if (!st)
    return -1;
  sqlite3_bind_int64(st, 1, at_ms);
  sqlite3_bind_blob(st, 2, subject, 32, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, recipient, -1, SQLITE_STATIC);
  if (author)
    sqlite3_bind_text(st, 4, author, -1, SQLITE_STATIC);
  if (s_done(st) != 0)
    return -1;
  *n = sqlite3_changes(s->db);
  return 0;
}

/* ---- erasure and retention (issue 9) ---------------------------------------- */

/* Erasures are rare: their statements are prepared per call. The scope's
 * sections: ?1 subject, ?2 author, ?3 kinds (0: all), ?4 up_to_version
 * (0: all). */
#define ERASE_SCOPE                                                          \
  "SELECT id FROM section WHERE subject = ?1 AND author = ?2 AND "          \
  "(?3 = 0 OR ((1 << kind) & ?3) != 0) AND (?4 = 0 OR version <= ?4)"

static sqlite3_stmt *s_scope_stmt(store_t *s, const char *sql,
                                  const store_erase_scope_t *scope) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
    return NULL;
  sqlite3_bind_blob(st, 1, scope->subject, 32, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, scope->author, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, (sqlite3_int64)scope->kinds);
  sqlite3_bind_int64(st, 4, (sqlite3_int64)scope->up_to_version);
  return st;
}

/* Runs a scope statement that returns no rows; *changed its row count. */
static int s_scope_exec(store_t *s, const char *sql,
                        const store_erase_scope_t *scope, int64_t *changed) {
  sqlite3_stmt *st = s_scope_stmt(s, sql, scope);
  int rc = st ? sqlite3_step(st) : SQLITE_ERROR;
  sqlite3_finalize(st);
  if (changed)
    *changed = rc == SQLITE_DONE ? sqlite3_changes64(s->db) : 0;
  return rc == SQLITE_DONE ? 0 : -1;
}

int store_erase_targets(store_t *s, const store_erase_scope_t *scope,
                        store_erase_target_fn fn, void *arg) {
  sqlite3_stmt *st = s_scope_stmt(
      s,
      "SELECT w.recipient, s.kind, max(s.version) FROM wrap w JOIN section s "
      "ON s.id = w.section_id WHERE s.id IN (" ERASE_SCOPE ") AND "
      "w.recipient <> s.author GROUP BY w.recipient, s.kind "
      "ORDER BY w.recipient, s.kind",
      scope);
  if (!st)
    return -1;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    char to[PARTICIPANT_ID_MAX + 1];
    s_text(st, 0, to, sizeof to);
    if (fn(to, sqlite3_column_int(st, 1),
           (uint64_t)sqlite3_column_int64(st, 2), arg) != 0) {
      rc = SQLITE_DONE;
      break;
    }
  }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

int store_erase_sections(store_t *s, const store_erase_scope_t *scope,
                         store_erase_counts_t *out) {
  memset(out, 0, sizeof *out);
  sqlite3_stmt *st = s_scope_stmt(
      s, "SELECT count(*) FROM wrap WHERE section_id IN (" ERASE_SCOPE ")",
      scope);
  int rc = st ? sqlite3_step(st) : SQLITE_ERROR;
  if (rc == SQLITE_ROW)
    out->wraps = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW)
    return -1;
  /* The pending rewrap requests' entries in the author's mailbox (their
   * notice rows; the entries go with them), then the requests, the
   * sections' own mailbox entries, and the sections with their wraps. */
  if (s_scope_exec(s,
                   "DELETE FROM notice WHERE id IN (SELECT m.notice_id FROM "
                   "rewrap r JOIN mailbox m ON m.recipient = r.author AND "
                   "m.seq = r.mailbox_seq WHERE r.state = 0 AND "
                   "m.notice_id IS NOT NULL AND r.section_id IN (" ERASE_SCOPE
                   "))",
                   scope, NULL) ||
      s_scope_exec(s,
                   "DELETE FROM rewrap WHERE state = 0 AND section_id IN "
                   "(" ERASE_SCOPE ")",
                   scope, &out->rewraps) ||
      s_scope_exec(s,
                   "DELETE FROM mailbox WHERE section_id IN (" ERASE_SCOPE ")",
                   scope, &out->deliveries) ||
      s_scope_exec(s, "DELETE FROM section WHERE id IN (" ERASE_SCOPE ")",
                   scope, &out->sections))
    return -1;
  if (out->sections > 0)
    s->erased = 1;
  return 0;
}

int store_rewrap_drop_of(store_t *s, const uint8_t subject[32],
                         const char *author, int64_t *n) {
  static const char *const sql[2] = {
      "DELETE FROM notice WHERE id IN (SELECT m.notice_id FROM rewrap r "
      "JOIN mailbox m ON m.recipient = r.author AND m.seq = r.mailbox_seq "
      "WHERE r.state = 0 AND m.notice_id IS NOT NULL AND r.subject = ?1 AND "
      "r.author = ?2 AND ?3 = ?3)",
      "UPDATE rewrap SET state = 3, finished_at_ms = ?3 WHERE state = 0 AND "
      "subject = ?1 AND author = ?2"};
  *n = 0;
  for (int i = 0; i < 2; i++) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql[i], -1, &st, NULL) != SQLITE_OK)
      return -1;
    sqlite3_bind_blob(st, 1, subject, 32, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, author, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, s_now_ms());
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
      return -1;
    if (i == 1)
      *n = sqlite3_changes64(s->db);
  }
  s->erased = 1;
  return 0;
}

int store_consent_record_set(store_t *s, const uint8_t id[CONSENT_ID_BYTES],
                             const uint8_t *record, size_t len) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db,
                         "UPDATE consent SET record = ? WHERE consent_id = ?",
                         -1, &st, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_blob(st, 1, record, (int)len, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, id, CONSENT_ID_BYTES, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE || sqlite3_changes(s->db) != 1)
    return -1;
  s->erased = 1;
  return 0;
}

int store_erasure_get(store_t *s, const uint8_t erasure_id[16],
                      store_erasure_t *out) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db,
                         "SELECT subject, author, kinds, erase_evidence, "
                         "reason, requested_at_ms, signature, applied_by, "
                         "applied_at_ms FROM erasure WHERE erasure_id = ?",
                         -1, &st, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_blob(st, 1, erasure_id, 16, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW && out) {
    memset(out, 0, sizeof *out);
    memcpy(out->erasure_id, erasure_id, 16);
    s_blob(st, 0, out->subject, 32);
    s_text(st, 1, out->author, sizeof out->author);
    out->kinds = (uint64_t)sqlite3_column_int64(st, 2);
    out->erase_evidence = sqlite3_column_int(st, 3);
    s_text(st, 4, out->reason, sizeof out->reason);
    out->requested_at_ms = sqlite3_column_int64(st, 5);
    s_blob(st, 6, out->signature, 64);
    s_text(st, 7, out->applied_by, sizeof out->applied_by);
    out->applied_at_ms = sqlite3_column_int64(st, 8);
  }
  sqlite3_finalize(st);
  return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_erasure_put(store_t *s, const store_erasure_t *e) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db,
                         "INSERT INTO erasure (erasure_id, subject, author, "
                         "kinds, erase_evidence, reason, requested_at_ms, "
                         "signature, applied_by, applied_at_ms) VALUES "
                         "(?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                         -1, &st, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_blob(st, 1, e->erasure_id, 16, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, e->subject, 32, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, e->author, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, (sqlite3_int64)e->kinds);
  sqlite3_bind_int(st, 5, e->erase_evidence ? 1 : 0);
  sqlite3_bind_text(st, 6, e->reason, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 7, e->requested_at_ms);
  sqlite3_bind_blob(st, 8, e->signature, 64, SQLITE_STATIC);
  sqlite3_bind_text(st, 9, e->applied_by, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 10, e->applied_at_ms);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE)
    return -1;
  return sqlite3_changes(s->db) == 0 ? 1 : 0;
}

int store_erasure_notice_add(store_t *s, const uint8_t erasure_id[16],
                             const uint8_t subject[32], const char *recipient,
                             int kind, const char *author,
                             uint64_t up_to_version) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db,
                         "INSERT INTO erasure_notice (erasure_id, subject, "
                         "recipient, kind, author, up_to_version) VALUES "
                         "(?,?,?,?,?,?)",
                         -1, &st, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_blob(st, 1, erasure_id, 16, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, subject, 32, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, recipient, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 4, kind);
  sqlite3_bind_text(st, 5, author, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 6, (sqlite3_int64)up_to_version);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

int store_erasure_notices(store_t *s, size_t max, store_erasure_notice_fn fn,
                          void *arg) {
  if (s->schema_version < 6)
    return 0;
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db,
                         "SELECT erasure_id, subject, recipient, kind, "
                         "author, up_to_version FROM erasure_notice ORDER BY "
                         "erasure_id, recipient, kind LIMIT ?",
                         -1, &st, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    uint8_t id[16], subject[32];
    char to[PARTICIPANT_ID_MAX + 1], author[PARTICIPANT_ID_MAX + 1];
    s_blob(st, 0, id, 16);
    s_blob(st, 1, subject, 32);
    s_text(st, 2, to, sizeof to);
    s_text(st, 4, author, sizeof author);
    if (fn(id, subject, to, sqlite3_column_int(st, 3), author,
           (uint64_t)sqlite3_column_int64(st, 5), arg) != 0) {
      rc = SQLITE_DONE;
      break;
    }
  }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

int store_erasure_notice_done(store_t *s, const uint8_t erasure_id[16],
                              const char *recipient) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db,
                         "DELETE FROM erasure_notice WHERE erasure_id = ? AND "
                         "recipient = ?",
                         -1, &st, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_blob(st, 1, erasure_id, 16, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, recipient, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

int store_retention_due(store_t *s, int64_t now_ms, size_t max,
                        store_retention_fn fn, void *arg) {
  if (s->schema_version < 6)
    return 0;
  /* A range scan of the partial index section_retention, bounded by max
   * versions, then grouped. */
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(
          s->db,
          "SELECT subject, kind, author, max(version) FROM (SELECT subject, "
          "kind, author, version, retain_until_ms FROM section INDEXED BY "
          "section_retention WHERE retain_until_ms IS NOT NULL AND "
          "retain_until_ms <= ?1 ORDER BY retain_until_ms LIMIT ?2) GROUP BY "
          "subject, kind, author ORDER BY min(retain_until_ms)",
          -1, &st, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_int64(st, 1, now_ms);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    uint8_t subject[32];
    char author[PARTICIPANT_ID_MAX + 1];
    s_blob(st, 0, subject, 32);
    s_text(st, 2, author, sizeof author);
    if (fn(subject, sqlite3_column_int(st, 1), author,
           (uint64_t)sqlite3_column_int64(st, 3), arg) != 0) {
      rc = SQLITE_DONE;
      break;
    }
  }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

int store_wal_truncate(store_t *s) {
  int log = 0, done = 0;
  int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
                                     &log, &done);
  return rc == SQLITE_OK && log <= 0 ? 0 : -1;
}

/* ---- operations: backup, integrity, migration reports (issue 10) -------- */

/* fsync of the directory holding path (a new file's name is durable). */
static int s_fsync_dir(const char *path) {
  char dir[4096];
  s_dir_of(path, dir, sizeof dir);
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  int rc = fsync(fd);
  close(fd);
  return rc;
}

int store_backup(store_t *s, const char *out, int64_t *bytes, char *err,
                 size_t errlen) {
  struct stat st;
  if (lstat(out, &st) == 0) {
    snprintf(err, errlen, "refused: %s %s (a backup never replaces a file)",
             out, S_ISLNK(st.st_mode) ? "is a symbolic link" : "exists");
    return -1;
  }
  /* Created by us, 0600, never through a symlink: what lands here is the
   * whole store, as private as the store itself. */
  int fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                0600);
  if (fd < 0) {
    snprintf(err, errlen, "cannot create %s: %s", out, strerror(errno));
    return -1;
  }
  int ok = fchmod(fd, 0600) == 0;
  /* Closed before SQLite opens it: closing another descriptor of a file
   * SQLite has open would drop its POSIX locks. */
  close(fd);
  char journal[4096];
  snprintf(journal, sizeof journal, "%s-journal", out);
  sqlite3 *dst = NULL;
  const char *what = "cannot open the backup";
  if (!ok) {
    snprintf(err, errlen, "cannot make %s 0600: %s", out, strerror(errno));
    goto fail;
  }
  if (sqlite3_open_v2(out, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW,
                      NULL) != SQLITE_OK)
    goto fail_db;
  what = "preparing the backup";
  if (sqlite3_exec(dst, "PRAGMA synchronous = FULL", NULL, NULL, NULL) !=
      SQLITE_OK)
    goto fail_db;
  /* One step (-1): the whole copy under one read transaction of the
   * source, i.e. the store as of one commit; in WAL mode ketend goes on
   * writing meanwhile. */
  int rc = SQLITE_BUSY;
  for (int attempt = 0; attempt < 50 && (rc == SQLITE_BUSY ||
                                         rc == SQLITE_LOCKED);
       attempt++) {
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", s->db, "main");
    if (!b) {
      what = "starting the backup";
      goto fail_db;
    }
    rc = sqlite3_backup_step(b, -1);
    int frc = sqlite3_backup_finish(b);
    if (rc == SQLITE_DONE)
      rc = frc;
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
      sqlite3_sleep(100);
  }
  if (rc != SQLITE_OK && rc != SQLITE_DONE) {
    snprintf(err, errlen, "backup of the store failed: %s",
             sqlite3_errstr(rc));
    goto fail;
  }
  /* The copy is one self-contained file: rollback-journal mode, so that
   * it never needs a -wal or -shm beside it (read-only media, a tape). */
  what = "switching the backup out of WAL mode";
  sqlite3_stmt *q = NULL;
  int mode_ok = 0;
  if (sqlite3_prepare_v2(dst, "PRAGMA journal_mode = DELETE", -1, &q,
                         NULL) == SQLITE_OK &&
      sqlite3_step(q) == SQLITE_ROW)
    mode_ok = strcmp((const char *)sqlite3_column_text(q, 0), "delete") == 0;
  sqlite3_finalize(q);
  if (!mode_ok)
    goto fail_db;
  if (sqlite3_close(dst) != SQLITE_OK) {
    what = "closing the backup";
    goto fail_db;
  }
  dst = NULL;
  fd = open(out, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 || fstat(fd, &st) != 0 || fsync(fd) != 0) {
    snprintf(err, errlen, "cannot fsync %s: %s", out, strerror(errno));
    if (fd >= 0)
      close(fd);
    goto fail;
  }
  close(fd);
  if (s_fsync_dir(out) != 0) {
    snprintf(err, errlen, "cannot fsync the directory of %s: %s", out,
             strerror(errno));
    goto fail;
  }
  if (bytes)
    *bytes = (int64_t)st.st_size;
  return 0;
fail_db:
  snprintf(err, errlen, "%s: %s", what,
           dst ? sqlite3_errmsg(dst) : "out of memory");
fail:
  if (dst)
    sqlite3_close(dst);
  unlink(out);
  unlink(journal);
  return -1;
}

int store_integrity_check(store_t *s, char *err, size_t errlen) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db, "PRAGMA integrity_check", -1, &st, NULL) !=
      SQLITE_OK)
    return s_fail(s, err, errlen, "integrity check");
  int rc = sqlite3_step(st);
  int ok = rc == SQLITE_ROW &&
           strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
  if (!ok)
    snprintf(err, errlen, "integrity check: %s",
             rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0)
                              : sqlite3_errmsg(s->db));
  sqlite3_finalize(st);
  return ok ? 0 : -1;
}

/* What each migration is for, in the words of s_migrations' comments. */
static const char *const s_migration_summary[] = {
    "the participant registry",
    "consents, sealed sections, key wraps, mailboxes, the replay guard and "
    "the audit chain",
    "root-signed registry entries (key rotation), notices in mailboxes, the "
    "author's signing key of each section; consents and access the "
    "controller-scoped rule no longer allows are closed, audited",
    "the TVS feed (events, links, taakstelling) and rewrap requests",
    "budgets: pending entries per (recipient, author) and bytes per author, "
    "kept by triggers",
    "the audit log as a Merkle tree (nodes, signed tree heads), retention "
    "dates and erasures",
};

/* Row counts of every table into t (names sorted). */
static int s_table_counts(store_t *s, store_migration_report_t *r, int after) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db,
                         "SELECT name FROM sqlite_master WHERE type = 'table' "
                         "AND name NOT LIKE 'sqlite_%' ORDER BY name",
                         -1, &st, NULL) != SQLITE_OK)
    return -1;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(st, 0);
    size_t i = 0;
    while (i < r->n_tables && strcmp(r->tables[i].name, name) != 0)
      i++;
    if (i == r->n_tables) {
      if (r->n_tables == STORE_MIGRATION_MAX_TABLES)
        continue;
      snprintf(r->tables[i].name, sizeof r->tables[i].name, "%s", name);
      r->tables[i].before = r->tables[i].after = -1;
      r->n_tables++;
    }
    char sql[128];
    int64_t n = 0;
    snprintf(sql, sizeof sql, "SELECT count(*) FROM \"%s\"", name);
    if (s_pragma_int(s, sql, &n) != 0) {
      rc = SQLITE_ERROR;
      break;
    }
    if (after)
      r->tables[i].after = n;
    else
      r->tables[i].before = n;
  }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

int store_migrate_each(const char *path, int *from, store_migration_fn fn,
                       void *arg, char *err, size_t errlen) {
  if (access(path, F_OK) != 0) {
    snprintf(err, errlen, "no store at %s", path);
    return -1;
  }
  store_t *s = s_open_rw(path, err, errlen);
  if (!s)
    return -1;
  int64_t v = 0;
  int rc = 0;
  char reason[256];
  if (s_pragma_int(s, "PRAGMA user_version", &v) != 0) {
    s_fail(s, err, errlen, "reading schema version");
    store_close(&s);
    return -1;
  }
  if (from)
    *from = (int)v;
  for (int next = (int)v + 1; rc == 0 && next <= STORE_SCHEMA_LATEST; next++) {
    store_migration_report_t r;
    memset(&r, 0, sizeof r);
    r.version = next;
    r.summary = s_migration_summary[next - 1];
    int64_t changes = sqlite3_total_changes64(s->db);
    if (s_table_counts(s, &r, 0) != 0) {
      rc = s_fail(s, err, errlen, "counting rows");
      break;
    }
    if (s_migrate(s, next, reason, sizeof reason) != 0) {
      snprintf(err, errlen, "%s: %s", path, reason);
      rc = -1;
      break;
    }
    s->merkle_on = s->schema_version >= 6;
    r.rows_changed = sqlite3_total_changes64(s->db) - changes;
    if (s_table_counts(s, &r, 1) != 0) {
      rc = s_fail(s, err, errlen, "counting rows");
      break;
    }
    for (size_t i = 0; i < r.n_tables; i++)
      if (strcmp(r.tables[i].name, "audit") == 0) {
        r.audit_before = r.tables[i].before > 0 ? (uint64_t)r.tables[i].before
                                                : 0;
        r.audit_after = r.tables[i].after > 0 ? (uint64_t)r.tables[i].after : 0;
      }
    if (fn && fn(&r, s, arg) != 0)
      break;
  }
  store_close(&s);
  return rc;
}
