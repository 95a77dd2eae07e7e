/* store_sqlite — the store interface on embedded SQLite.
 *
 * WAL mode with synchronous=FULL: a commit returns only after the WAL is
 * fsync'd. The schema is versioned with PRAGMA user_version; s_migrations
 * brings an older store up to date inside one transaction per step.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"

struct store {
  sqlite3 *db;
  int schema_version;
};

/* Migration N (1-based) takes the schema from version N-1 to N. */
static const char *const s_migrations[] = {
    /* 1: the participant registry */
    "CREATE TABLE participant ("
    "  id TEXT PRIMARY KEY,"
    "  role INTEGER NOT NULL,"
    "  display_name TEXT NOT NULL,"
    "  transport_pk BLOB NOT NULL UNIQUE CHECK (length(transport_pk) = 32),"
    "  signing_pk BLOB NOT NULL CHECK (length(signing_pk) = 32),"
    "  sealing_pk BLOB NOT NULL CHECK (length(sealing_pk) = 32),"
    "  added_at_ms INTEGER NOT NULL"
    ") STRICT;",
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

static int s_migrate(store_t *s, char *err, size_t errlen) {
  int64_t v = 0;
  if (s_pragma_int(s, "PRAGMA user_version", &v) != 0)
    return s_fail(s, err, errlen, "reading schema version");
  if (v > STORE_SCHEMA_LATEST) {
    snprintf(err, errlen,
             "store schema version %lld is newer than this build knows (%d)",
             (long long)v, STORE_SCHEMA_LATEST);
    return -1;
  }
  for (int next = (int)v + 1; next <= STORE_SCHEMA_LATEST; next++) {
    char sql[64];
    char reason[256];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", next);
    if (s_exec(s, "BEGIN IMMEDIATE", reason, sizeof reason) ||
        s_exec(s, s_migrations[next - 1], reason, sizeof reason) ||
        s_exec(s, sql, reason, sizeof reason) ||
        s_exec(s, "COMMIT", reason, sizeof reason)) {
      s_exec(s, "ROLLBACK", NULL, 0);
      snprintf(err, errlen, "migration to schema %d failed: %s", next, reason);
      return -1;
    }
  }
  s->schema_version = STORE_SCHEMA_LATEST;
  return 0;
}

store_t *store_open(const char *path, char *err, size_t errlen) {
  store_t *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  char reason[256];
  int64_t wal_ok = 0;
  if (sqlite3_open_v2(path, &s->db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                          SQLITE_OPEN_NOMUTEX,
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
             "PRAGMA secure_delete = ON;",
             reason, sizeof reason) ||
      s_migrate(s, reason, sizeof reason)) {
    snprintf(err, errlen, "%s: %s", path, reason);
    store_close(&s);
    return NULL;
  }
  return s;
}

void store_close(store_t **store) {
  if (!store || !*store)
    return;
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

int store_participant_add(store_t *s, const participant_t *p, char *err,
                          size_t errlen) {
  if (!participant_valid(p)) {
    snprintf(err, errlen, "invalid participant (id, role or display name)");
    return -1;
  }
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db,
                         "INSERT INTO participant (id, role, display_name, "
                         "transport_pk, signing_pk, sealing_pk, added_at_ms) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)",
                         -1, &st, NULL) != SQLITE_OK)
    return s_fail(s, err, errlen, "preparing participant insert");
  sqlite3_bind_text(st, 1, p->id, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, p->role);
  sqlite3_bind_text(st, 3, p->display_name, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 4, p->transport_pk, PARTICIPANT_KEY_BYTES,
                    SQLITE_STATIC);
  sqlite3_bind_blob(st, 5, p->signing_pk, PARTICIPANT_KEY_BYTES, SQLITE_STATIC);
  sqlite3_bind_blob(st, 6, p->sealing_pk, PARTICIPANT_KEY_BYTES, SQLITE_STATIC);
  sqlite3_bind_int64(st, 7, p->added_at_ms ? p->added_at_ms : s_now_ms());
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc == SQLITE_CONSTRAINT) {
    snprintf(err, errlen,
             "participant '%s' or its transport key is already registered",
             p->id);
    return -1;
  }
  return rc == SQLITE_DONE ? 0 : s_fail(s, err, errlen, "adding participant");
}

int store_participant_remove(store_t *s, const char *id, char *err,
                             size_t errlen) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db, "DELETE FROM participant WHERE id = ?", -1,
                         &st, NULL) != SQLITE_OK)
    return s_fail(s, err, errlen, "preparing participant delete");
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE)
    return s_fail(s, err, errlen, "removing participant");
  return sqlite3_changes(s->db) > 0 ? 1 : 0;
}

static void s_copy_blob(uint8_t *dst, sqlite3_stmt *st, int col) {
  memset(dst, 0, PARTICIPANT_KEY_BYTES);
  if (sqlite3_column_bytes(st, col) == PARTICIPANT_KEY_BYTES)
    memcpy(dst, sqlite3_column_blob(st, col), PARTICIPANT_KEY_BYTES);
}

int store_participant_each(store_t *s, store_participant_fn fn, void *arg,
                           char *err, size_t errlen) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db,
                         "SELECT id, role, display_name, transport_pk, "
                         "signing_pk, sealing_pk, added_at_ms "
                         "FROM participant ORDER BY id",
                         -1, &st, NULL) != SQLITE_OK)
    return s_fail(s, err, errlen, "preparing participant list");
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    participant_t p;
    memset(&p, 0, sizeof p);
    snprintf(p.id, sizeof p.id, "%s", (const char *)sqlite3_column_text(st, 0));
    p.role = sqlite3_column_int(st, 1);
    snprintf(p.display_name, sizeof p.display_name, "%s",
             (const char *)sqlite3_column_text(st, 2));
    s_copy_blob(p.transport_pk, st, 3);
    s_copy_blob(p.signing_pk, st, 4);
    s_copy_blob(p.sealing_pk, st, 5);
    p.added_at_ms = sqlite3_column_int64(st, 6);
    if (fn(&p, arg) != 0) {
      rc = SQLITE_DONE;
      break;
    }
  }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : s_fail(s, err, errlen, "listing participants");
}

int64_t store_data_version(store_t *s) {
  int64_t v = -1;
  return s_pragma_int(s, "PRAGMA data_version", &v) == 0 ? v : -1;
}
