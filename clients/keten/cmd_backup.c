/* keten admin backup | migrate — the store's backup and schema upgrades.
 *
 * backup copies the live store with SQLite's online backup API while
 * ketend keeps serving (store_backup: one read transaction, so the copy
 * is the store as of one commit), into a new 0600 file, fsync'd; then
 * opens the copy read-only and checks it as `keten audit verify` would
 * (the same code: cli_audit_verify), and records the backup in the live
 * store's audit log.
 *
 * migrate runs the schema migrations this build has and the store lacks;
 * with --dry-run it runs them on a private copy in a temporary directory
 * and reports what they did (tables, rows, the audit entries they would
 * write), then deletes the copy: the store itself is not written. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "audit.h"
#include "cli.h"
#include "entry_file.h"
#include "store.h"

#define S_MAX_KEYS 16

static void s_backup_usage(FILE *out) {
  fprintf(out,
          "usage: keten admin backup --out FILE [--store FILE | --config FILE]\n"
          "                          [--broker-key broker.pub]...\n"
          "\n"
          "Copies the broker's store while ketend runs (SQLite's online backup:\n"
          "the copy is the store as of one commit) into FILE, a new file made\n"
          "0600 (an existing file or a symbolic link is refused), fsync'd with\n"
          "its directory. The copy is then opened read-only and verified: SQLite's\n"
          "integrity check, and the audit chain, Merkle tree, checkpoints and\n"
          "tree heads as keten audit verify checks them (signatures with the\n"
          "--broker-key files given). A verified backup is recorded in the live\n"
          "store's audit log (keten.store.backup: file name, size, time). Run it\n"
          "as the user that owns the store (runuser -u keten -- keten admin ...).\n"
          "\n"
          "  -o, --out FILE         the backup file to create\n"
          "  -s, --store FILE       the broker's SQLite store\n"
          "  -c, --config FILE      ketend's config file (its store setting)\n"
          "  -b, --broker-key FILE  a broker public key file (repeatable: key history)\n"
          "  -h, --help             print this help\n");
}

static void s_migrate_usage(FILE *out) {
  fprintf(out,
          "usage: keten admin migrate [--dry-run] [--store FILE | --config FILE]\n"
          "                           [--tmpdir DIR]\n"
          "\n"
          "Brings the store's schema (PRAGMA user_version) up to the newest this\n"
          "build knows, one migration per transaction, as ketend does when it\n"
          "starts, and says what each did. --dry-run changes nothing: it copies\n"
          "the store (online backup) into a private temporary directory, runs\n"
          "the migrations on the copy, reports which ran, the tables they\n"
          "created or changed, the rows they touched and the audit entries they\n"
          "would write, and deletes the copy. Take a backup before the real run\n"
          "(keten admin backup); stop ketend first if it is an older build.\n"
          "\n"
          "  -n, --dry-run          run the migrations on a copy only\n"
          "  -s, --store FILE       the broker's SQLite store\n"
          "  -c, --config FILE      ketend's config file (its store setting)\n"
          "  -t, --tmpdir DIR       where --dry-run makes its copy (default $TMPDIR\n"
          "                         or /tmp; it needs room for the whole store)\n"
          "  -h, --help             print this help\n");
}

static int64_t s_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *s_base(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

/* ---- backup ---------------------------------------------------------------- */

int cmd_admin_backup(int argc, char **argv) {
  static const struct option opts[] = {
      {"out", required_argument, NULL, 'o'},
      {"store", required_argument, NULL, 's'},
      {"config", required_argument, NULL, 'c'},
      {"broker-key", required_argument, NULL, 'b'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *out = NULL, *store_path = NULL, *config_path = NULL,
             *root = NULL;
  const char *keys[S_MAX_KEYS];
  int n_keys = 0, c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "o:s:c:b:h", opts, NULL)) != -1) {
    switch (c) {
    case 'o': out = optarg; break;
    case 's': store_path = optarg; break;
    case 'c': config_path = optarg; break;
    case 'b':
      if (n_keys == S_MAX_KEYS) {
        fprintf(stderr, "keten admin: at most %d --broker-key\n", S_MAX_KEYS);
        return CLI_EXIT_USAGE;
      }
      keys[n_keys++] = optarg;
      break;
    case 'h': s_backup_usage(stdout); return CLI_EXIT_OK;
    default: s_backup_usage(stderr); return CLI_EXIT_USAGE;
    }
  }
  if (optind != argc || !out) {
    s_backup_usage(stderr);
    return CLI_EXIT_USAGE;
  }
  int rc = admin_paths(config_path, &store_path, &root, 0);
  if (rc != 0)
    return rc;
  if (access(store_path, F_OK) != 0) {
    fprintf(stderr, "keten admin: no store at %s\n", store_path);
    return CLI_EXIT_LOCAL;
  }
  char err[600];
  /* The source is opened read-only: a backup never migrates the store. */
  store_t *src = store_open_readonly(store_path, err, sizeof err);
  if (!src) {
    fprintf(stderr, "keten admin: %s\n", err);
    return CLI_EXIT_LOCAL;
  }
  int schema = store_schema_version(src);
  int64_t bytes = 0, at = s_now_ms();
  if (store_backup(src, out, &bytes, err, sizeof err) != 0) {
    store_close(&src);
    fprintf(stderr, "keten admin: %s\n", err);
    return strstr(err, "refused") ? CLI_EXIT_REFUSED : CLI_EXIT_LOCAL;
  }
  store_close(&src);
  printf("wrote %s: %lld bytes, schema %d (mode 0600)\n", out,
         (long long)bytes, schema);

  /* Verify the copy as it will be restored: read-only, never migrated. */
  store_t *copy = store_open_readonly(out, err, sizeof err);
  if (!copy) {
    fprintf(stderr, "keten admin: the backup does not open: %s\n", err);
    return CLI_EXIT_LOCAL;
  }
  uint64_t entries = 0;
  uint8_t head[AUDIT_HASH_BYTES];
  if (store_integrity_check(copy, err, sizeof err) != 0) {
    printf("backup %s FAILED the integrity check: %s\n", out, err);
    rc = CLI_EXIT_REFUSED;
  } else {
    printf("integrity check OK\n");
    rc = cli_audit_verify(copy, keys, n_keys);
    if (rc == CLI_EXIT_OK && store_audit_head(copy, &entries, head) != 0)
      rc = CLI_EXIT_LOCAL;
  }
  store_close(&copy);
  if (rc != CLI_EXIT_OK) {
    fprintf(stderr, "keten admin: the backup %s does NOT verify: do not rely "
                    "on it (kept for inspection; not recorded)\n", out);
    return rc;
  }

  /* Recorded in the live store, at the schema it has (never migrated). */
  store_t *live = store_open_schema(store_path, schema, err, sizeof err);
  if (!live) {
    fprintf(stderr, "keten admin: cannot record the backup: %s\n", err);
    return CLI_EXIT_LOCAL;
  }
  char when[40], detail[128];
  entry_file_time(at, when, sizeof when);
  snprintf(detail, sizeof detail, "backup %.40s: %lld bytes, %llu entries, %s",
           s_base(out), (long long)bytes, (unsigned long long)entries, when);
  audit_entry_t e;
  audit_entry_local(&e, "keten.store.backup", "operator", detail);
  if (store_begin(live) != 0 || store_audit_append(live, &e) != 0 ||
      store_commit(live) != 0) {
    fprintf(stderr, "keten admin: cannot record the backup in the audit "
                    "log: %s\n", store_error(live));
    store_rollback(live);
    store_close(&live);
    return CLI_EXIT_LOCAL;
  }
  store_close(&live);
  printf("backup verified and recorded (audit entry %llu: %s)\n",
         (unsigned long long)e.seq, detail);
  return CLI_EXIT_OK;
}

/* ---- migrate --------------------------------------------------------------- */

typedef struct {
  int dry_run;
  int n;
} s_report_t;

/* Prints what migration r did; the audit entries it appended, grouped by
 * name, with the first few in full. */
static int s_print_migration(const store_migration_report_t *r, store_t *s,
                             void *arg) {
  s_report_t *rep = arg;
  rep->n++;
  printf("migration %d (schema %d -> %d): %s\n", r->version, r->version - 1,
         r->version, r->summary);
  printf("  rows %s: %lld\n", rep->dry_run ? "it would touch" : "touched",
         (long long)r->rows_changed);
  for (size_t i = 0; i < r->n_tables; i++) {
    int64_t b = r->tables[i].before, a = r->tables[i].after;
    if (b < 0 && a >= 0)
      printf("  table %s: created (%lld rows)\n", r->tables[i].name,
             (long long)a);
    else if (b >= 0 && a < 0)
      printf("  table %s: dropped (had %lld rows)\n", r->tables[i].name,
             (long long)b);
    else if (a != b)
      printf("  table %s: %lld -> %lld rows\n", r->tables[i].name,
             (long long)b, (long long)a);
  }
  uint64_t n = r->audit_after - r->audit_before;
  printf("  audit entries %s: %llu\n", rep->dry_run ? "it would write" : "written",
         (unsigned long long)n);
  struct {
    char name[64];
    unsigned long long n;
  } names[16];
  size_t k = 0;
  for (uint64_t seq = r->audit_before + 1; seq <= r->audit_after; seq++) {
    audit_entry_t e;
    if (store_audit_get(s, seq, &e) != 1)
      continue;
    if (seq <= r->audit_before + 5)
      printf("    %llu %s %s -> %s: %s\n", (unsigned long long)seq, e.name,
             e.actor, e.counterparty, e.detail);
    size_t i = 0;
    while (i < k && strcmp(names[i].name, e.name) != 0)
      i++;
    if (i == k && k < 16) {
      snprintf(names[k].name, sizeof names[k].name, "%s", e.name);
      names[k++].n = 0;
    }
    if (i < k)
      names[i].n++;
  }
  if (n > 5)
    for (size_t i = 0; i < k; i++)
      printf("    %s: %llu in all\n", names[i].name, names[i].n);
  return 0;
}

/* Removes the dry run's copy and its directory. */
static void s_remove_copy(const char *dir, const char *copy) {
  const char *suffix[] = {"", "-wal", "-shm", "-journal"};
  char p[4200];
  for (int i = 0; i < 4; i++) {
    snprintf(p, sizeof p, "%s%s", copy, suffix[i]);
    unlink(p);
  }
  rmdir(dir);
}

int cmd_admin_migrate(int argc, char **argv) {
  static const struct option opts[] = {
      {"dry-run", no_argument, NULL, 'n'},
      {"store", required_argument, NULL, 's'},
      {"config", required_argument, NULL, 'c'},
      {"tmpdir", required_argument, NULL, 't'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *store_path = NULL, *config_path = NULL, *root = NULL,
             *tmpdir = getenv("TMPDIR");
  int dry_run = 0, c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "ns:c:t:h", opts, NULL)) != -1) {
    switch (c) {
    case 'n': dry_run = 1; break;
    case 's': store_path = optarg; break;
    case 'c': config_path = optarg; break;
    case 't': tmpdir = optarg; break;
    case 'h': s_migrate_usage(stdout); return CLI_EXIT_OK;
    default: s_migrate_usage(stderr); return CLI_EXIT_USAGE;
    }
  }
  if (optind != argc) {
    s_migrate_usage(stderr);
    return CLI_EXIT_USAGE;
  }
  int rc = admin_paths(config_path, &store_path, &root, 0);
  if (rc != 0)
    return rc;
  if (access(store_path, F_OK) != 0) {
    fprintf(stderr, "keten admin: no store at %s\n", store_path);
    return CLI_EXIT_LOCAL;
  }
  char err[600];
  s_report_t rep = {.dry_run = dry_run};
  int from = 0;
  if (!dry_run) {
    if (store_migrate_each(store_path, &from, s_print_migration, &rep, err,
                           sizeof err) != 0) {
      fprintf(stderr, "keten admin: %s (the migrations before it are "
                      "committed)\n", err);
      return CLI_EXIT_LOCAL;
    }
    if (rep.n == 0)
      printf("%s is at schema %d, the newest: nothing to do\n", store_path,
             from);
    else
      printf("%s: ran %d migration(s), schema %d -> %d\n", store_path, rep.n,
             from, store_schema_latest());
    return CLI_EXIT_OK;
  }

  /* --dry-run: read the live store only (read-only open, online backup). */
  store_t *src = store_open_readonly(store_path, err, sizeof err);
  if (!src) {
    fprintf(stderr, "keten admin: %s\n", err);
    return CLI_EXIT_LOCAL;
  }
  from = store_schema_version(src);
  if (from >= store_schema_latest()) {
    store_close(&src);
    printf("%s is at schema %d, the newest: no migration would run\n",
           store_path, from);
    return CLI_EXIT_OK;
  }
  char dir[4096], copy[4200];
  snprintf(dir, sizeof dir, "%s/keten-migrate-XXXXXX",
           tmpdir && *tmpdir ? tmpdir : "/tmp");
  if (!mkdtemp(dir)) { /* 0700: the copy is the whole store */
    store_close(&src);
    fprintf(stderr, "keten admin: cannot make a temporary directory in %s: "
                    "%s\n", tmpdir && *tmpdir ? tmpdir : "/tmp",
            strerror(errno));
    return CLI_EXIT_LOCAL;
  }
  snprintf(copy, sizeof copy, "%s/copy.db", dir);
  rc = store_backup(src, copy, NULL, err, sizeof err);
  store_close(&src);
  if (rc != 0) {
    s_remove_copy(dir, copy);
    fprintf(stderr, "keten admin: cannot copy the store: %s\n", err);
    return CLI_EXIT_LOCAL;
  }
  printf("%s is at schema %d; this build's newest is %d. On a copy (%s):\n",
         store_path, from, store_schema_latest(), copy);
  rc = store_migrate_each(copy, NULL, s_print_migration, &rep, err,
                          sizeof err);
  s_remove_copy(dir, copy);
  if (rc != 0) {
    fprintf(stderr, "keten admin: on the copy: %s\n", err);
    printf("dry run: migration to schema %d FAILS (the store is unchanged)\n",
           from + rep.n + 1);
    return CLI_EXIT_REFUSED;
  }
  printf("dry run: %d migration(s) would run (schema %d -> %d); the store is "
         "unchanged and the copy deleted\n",
         rep.n, from, store_schema_latest());
  return CLI_EXIT_OK;
}
