/* keten admin — the operator's commands, run on the broker's store.
 *
 * They open the SQLite store directly rather than talking to ketend: the
 * operator who may edit the registry is whoever may write the store file
 * (the same trust boundary as the broker's secret key). A running ketend
 * notices the change within registry_poll_ms, or at once on SIGHUP. */
#include <getopt.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "audit.h"
#include "canon.h"
#include "cli.h"
#include "config.h"
#include "entry_file.h"
#include "participant.h"
#include "roles.h"
#include "store.h"

/* Audits a registry change in the transaction that makes it. */
static int s_audit_registry(store_t *store, const char *name,
                            const char *participant) {
  audit_entry_t e;
  audit_entry_local(&e, name, "operator", "registry changed with keten admin");
  snprintf(e.counterparty, sizeof e.counterparty, "%s", participant);
  return store_audit_append(store, &e);
}

int cmd_admin_subject_erase(int argc, char **argv); /* cmd_erase.c */

int admin_paths(const char *config_path, const char **store_path,
                const char **root_path, int need_root) {
  static config_t cfg; /* the paths handed out point into it */
  if (!config_path && *store_path && (!need_root || *root_path))
    return 0;
  const char *path = config_path;
  if (!path && access(ADMIN_DEFAULT_CONFIG, F_OK) == 0)
    path = ADMIN_DEFAULT_CONFIG;
  if (path) {
    char err[600];
    config_defaults(&cfg);
    if (config_load_file(&cfg, path, err, sizeof err) != 0) {
      fprintf(stderr, "keten admin: %s\n", err);
      return CLI_EXIT_LOCAL;
    }
    if (!*store_path && cfg.store[0])
      *store_path = cfg.store;
    if (need_root && !*root_path && cfg.root_key[0])
      *root_path = cfg.root_key;
  }
  if (!*store_path) {
    fprintf(stderr, "keten admin: no store: give --store FILE, or --config "
                    "FILE (ketend.conf: store = ...)%s\n",
            path ? "" : "; there is no " ADMIN_DEFAULT_CONFIG);
    return CLI_EXIT_USAGE;
  }
  if (need_root && !*root_path) {
    fprintf(stderr, "keten admin: no root key: give --root-key FILE, or "
                    "--config FILE (ketend.conf: root_key = ...)\n");
    return CLI_EXIT_USAGE;
  }
  return 0;
}

static void s_usage(FILE *out) {
  fprintf(out,
          "usage: keten admin participant add --store FILE --root-key root.pub --entry FILE.signed\n"
          "       keten admin participant rotate ID --entry NEW.signed [--store FILE]\n"
          "                                         [--root-key root.pub]\n"
          "       keten admin participant list --store FILE [--root-key root.pub]\n"
          "                                    [--all] [--json]\n"
          "       keten admin participant remove --store FILE --id ID\n"
          "       keten admin participant export --store FILE --id ID --out FILE.entry\n"
          "                                      [--days N]\n"
          "       keten admin subject erase --store FILE --request FILE [--root-key root.pub]\n"
          "       keten admin backup --out FILE [--store FILE] [--broker-key broker.pub]...\n"
          "       keten admin migrate [--dry-run] [--store FILE] [--tmpdir DIR]\n"
          "\n"
          "participant, backup and migrate take --config FILE (ketend.conf) instead\n"
          "of --store and --root-key: they are read from its store and root_key\n"
          "settings (what is given on the command line wins); without\n"
          "--store or --config, " ADMIN_DEFAULT_CONFIG " is read when it exists.\n"
          "\n"
          "Edits the participant registry in the broker's store. add installs a\n"
          "registry entry only if the chain root signed it (keten root sign); a\n"
          "second entry for the same id is a key rotation: both are admitted while\n"
          "both are valid, and the old one stays known after it expires so that\n"
          "what was signed with its keys still verifies. remove stops admitting\n"
          "every entry of ID (they are kept for the record). export writes an\n"
          "unsigned entry from ID's newest installed entry, with the same keys and\n"
          "start and an end N days (default 730) from now, to be signed again\n"
          "(renewal, or an upgrade from an unsigned registry). rotate installs a\n"
          "new root-signed entry of ID next to the one valid now, in one\n"
          "transaction with its audit entry, only if it has the same id and role,\n"
          "is newer (issued later, ends later) and starts before the current one\n"
          "ends: both keys are admitted in the overlap, the old one until its\n"
          "entry ends; nothing is shortened. backup and migrate: keten admin\n"
          "backup --help, keten admin migrate --help. A running ketend picks\n"
          "registry changes up within a second (or at once on SIGHUP).\n"
          "\n"
          "  -c, --config FILE    ketend's config file (store, root_key)\n"
          "\n"
          "  -s, --store FILE     the broker's SQLite store\n"
          "  -R, --root-key FILE  the chain root's public key file (ketend's root_key)\n"
          "  -e, --entry FILE     a root-signed registry entry file\n"
          "  -i, --id ID          participant id\n"
          "  -o, --out FILE       where export writes the entry\n"
          "  -d, --days N         validity of an exported entry (default 730)\n"
          "  -a, --all            list removed entries too\n"
          "  -j, --json           list as JSON\n"
          "  -h, --help           print this help\n");
}

/* The state of an entry now, for the list. */
static const uint8_t *s_list_root; /* list --root-key: check signatures */

static const char *s_state(const participant_t *p, int64_t now) {
  char why[256];
  if (p->removed_at_ms)
    return "removed";
  if (!p->signed_by_root)
    return "UNSIGNED";
  if (s_list_root && participant_verify(p, s_list_root, why, sizeof why) != 0)
    return "BAD-SIGNATURE";
  if (now < p->valid_from_ms)
    return "not-yet-valid";
  if (now >= p->valid_until_ms)
    return "expired";
  return "valid";
}

static int64_t s_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int s_print_line(const participant_t *p, void *arg) {
  (void)arg;
  char until[40], fp[CANON_FINGERPRINT_CHARS];
  const uint8_t *keys[3] = {p->transport_pk, p->signing_pk, p->sealing_pk};
  canon_fingerprint(keys, 3, fp);
  entry_file_time(p->valid_until_ms, until, sizeof until);
  printf("%-22s %-9s %-13s until %-20s %.19s  %s\n", p->id, roles_name(p->role),
         s_state(p, s_now_ms()), until, fp, p->display_name);
  return 0;
}

static int s_add_json(const participant_t *p, void *arg) {
  char t[65], g[65], e[65], h[65], fp[CANON_FINGERPRINT_CHARS];
  sodium_bin2hex(t, sizeof t, p->transport_pk, PARTICIPANT_KEY_BYTES);
  sodium_bin2hex(g, sizeof g, p->signing_pk, PARTICIPANT_KEY_BYTES);
  sodium_bin2hex(e, sizeof e, p->sealing_pk, PARTICIPANT_KEY_BYTES);
  sodium_bin2hex(h, sizeof h, p->entry_hash, PARTICIPANT_HASH_BYTES);
  const uint8_t *keys[3] = {p->transport_pk, p->signing_pk, p->sealing_pk};
  canon_fingerprint(keys, 3, fp);
  json_array_append_new(
      (json_t *)arg,
      json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, "
                "s:I, s:I}",
                "id", p->id, "role", roles_name(p->role), "display_name",
                p->display_name, "state", s_state(p, s_now_ms()), "entry_hash",
                h, "fingerprint", fp, "transport_public", t, "signing_public",
                g, "sealing_public", e, "valid_from_ms",
                (json_int_t)p->valid_from_ms, "valid_until_ms",
                (json_int_t)p->valid_until_ms, "issued_at_ms",
                (json_int_t)p->issued_at_ms, "added_at_ms",
                (json_int_t)p->added_at_ms, "removed_at_ms",
                (json_int_t)p->removed_at_ms));
  return 0;
}

/* Keeps the newest installed entry of an id (export). */
typedef struct {
  const char *id;
  participant_t newest;
  int found;
} s_newest_t;

static int s_find_newest(const participant_t *p, void *arg) {
  s_newest_t *n = arg;
  if (strcmp(p->id, n->id) == 0 &&
      (!n->found || p->valid_from_ms >= n->newest.valid_from_ms)) {
    n->newest = *p;
    n->found = 1;
  }
  return 0;
}

/* The entry of an id that rotate replaces: installed, root-signed, valid
 * now; of several, the one that ends last. */
typedef struct {
  const char *id;
  int64_t now;
  participant_t cur;
  int found;
} s_current_t;

static int s_find_current(const participant_t *p, void *arg) {
  s_current_t *c = arg;
  if (strcmp(p->id, c->id) == 0 && p->signed_by_root &&
      participant_valid_at(p, c->now) &&
      (!c->found || p->valid_until_ms > c->cur.valid_until_ms)) {
    c->cur = *p;
    c->found = 1;
  }
  return 0;
}

/* participant rotate: checks np (root-signed already) against the current
 * entry of id and installs it; inside the caller's transaction. Returns
 * the exit code. */
static int s_rotate(store_t *store, const char *id, const participant_t *np) {
  char err[512], a[40], b[40];
  if (strcmp(np->id, id) != 0) {
    fprintf(stderr, "keten admin: refused: the entry is of '%s', not of "
                    "'%s'\n", np->id, id);
    return CLI_EXIT_REFUSED;
  }
  s_current_t c = {.id = id, .now = s_now_ms()};
  if (store_entry_each(store, 0, s_find_current, &c, err, sizeof err) != 0) {
    fprintf(stderr, "keten admin: %s\n", err);
    return CLI_EXIT_LOCAL;
  }
  if (!c.found) {
    fprintf(stderr, "keten admin: refused: '%s' has no root-signed entry "
                    "valid now, so there is nothing to overlap (install the "
                    "entry with participant add)\n", id);
    return CLI_EXIT_REFUSED;
  }
  const participant_t *cur = &c.cur;
  if (np->role != cur->role) {
    fprintf(stderr, "keten admin: refused: the entry has role %s, '%s' has "
                    "role %s (a new role is a new id)\n",
            roles_name(np->role), id, roles_name(cur->role));
    return CLI_EXIT_REFUSED;
  }
  if (memcmp(np->entry_hash, cur->entry_hash, PARTICIPANT_HASH_BYTES) == 0) {
    fprintf(stderr, "keten admin: refused: this entry of '%s' is the one "
                    "installed\n", id);
    return CLI_EXIT_REFUSED;
  }
  if (np->issued_at_ms <= cur->issued_at_ms ||
      np->valid_until_ms <= cur->valid_until_ms) {
    entry_file_time(cur->valid_until_ms, a, sizeof a);
    entry_file_time(np->valid_until_ms, b, sizeof b);
    fprintf(stderr, "keten admin: refused: the entry is not newer than the "
                    "current one (it must be signed later and end later: it "
                    "ends %s, the current one %s)\n", b, a);
    return CLI_EXIT_REFUSED;
  }
  if (np->valid_from_ms >= cur->valid_until_ms) {
    entry_file_time(np->valid_from_ms, b, sizeof b);
    entry_file_time(cur->valid_until_ms, a, sizeof a);
    fprintf(stderr, "keten admin: refused: the entry does not overlap the "
                    "current one: it starts %s, the current one ends %s; "
                    "'%s' would be locked out in between\n", b, a, id);
    return CLI_EXIT_REFUSED;
  }
  int r = store_entry_add(store, np, err, sizeof err);
  if (r != 0) {
    fprintf(stderr, "keten admin: %s\n", err);
    return r == 1 || strstr(err, "already registered") ? CLI_EXIT_REFUSED
                                                       : CLI_EXIT_LOCAL;
  }
  /* Both entries stay: the old one is admitted until it ends. */
  char oh[17], nh[17], detail[128];
  sodium_bin2hex(oh, sizeof oh, cur->entry_hash, 8);
  sodium_bin2hex(nh, sizeof nh, np->entry_hash, 8);
  int64_t from = np->valid_from_ms > cur->valid_from_ms ? np->valid_from_ms
                                                          : cur->valid_from_ms;
  snprintf(detail, sizeof detail, "rotated with keten admin: entry %s after "
           "%s; overlap %lld..%lld ms", nh, oh, (long long)from,
           (long long)cur->valid_until_ms);
  audit_entry_t e;
  audit_entry_local(&e, "keten.registry.rotate", "operator", detail);
  snprintf(e.counterparty, sizeof e.counterparty, "%s", id);
  if (store_audit_append(store, &e) != 0) {
    fprintf(stderr, "keten admin: cannot audit the change\n");
    return CLI_EXIT_LOCAL;
  }
  entry_file_time(from, a, sizeof a);
  entry_file_time(cur->valid_until_ms, b, sizeof b);
  printf("rotated %s: installed the new entry next to the current one:\n",
         id);
  entry_file_print(np, stdout);
  printf("both are admitted from %s until %s, when the current entry "
         "ends (it is not shortened)\n", a, b);
  return CLI_EXIT_OK;
}

int cmd_admin(int argc, char **argv) {
  static const struct option opts[] = {{"store", required_argument, NULL, 's'},
                                       {"config", required_argument, NULL, 'c'},
                                       {"root-key", required_argument, NULL, 'R'},
                                       {"entry", required_argument, NULL, 'e'},
                                       {"id", required_argument, NULL, 'i'},
                                       {"out", required_argument, NULL, 'o'},
                                       {"days", required_argument, NULL, 'd'},
                                       {"all", no_argument, NULL, 'a'},
                                       {"json", no_argument, NULL, 'j'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
    s_usage(stdout);
    return CLI_EXIT_OK;
  }
  /* keten admin --config FILE VERB ...: the option may come first. */
  const char *config_path = NULL;
  if (argc >= 3 && (!strcmp(argv[1], "--config") || !strcmp(argv[1], "-c"))) {
    config_path = argv[2];
    argv[2] = argv[0];
    argc -= 2;
    argv += 2;
  }
  /* keten admin subject erase: a controller's signed erasure (cmd_erase.c). */
  if (argc >= 3 && !strcmp(argv[1], "subject") && !strcmp(argv[2], "erase"))
    return cmd_admin_subject_erase(argc - 2, argv + 2);
  /* backup and migrate (cmd_backup.c) read --config themselves. */
  if (argc >= 2 && !strcmp(argv[1], "backup"))
    return cmd_admin_backup(argc - 1, argv + 1);
  if (argc >= 2 && !strcmp(argv[1], "migrate"))
    return cmd_admin_migrate(argc - 1, argv + 1);
  if (argc < 3 || strcmp(argv[1], "participant") != 0) {
    s_usage(stderr);
    return CLI_EXIT_USAGE;
  }
  const char *verb = argv[2];
  const char *store_path = NULL, *root_path = NULL, *entry_path = NULL,
             *id = NULL, *out = NULL;
  long days = 730;
  int json = 0, all = 0, c;
  optind = 1;
  while ((c = getopt_long(argc - 2, argv + 2, "s:c:R:e:i:o:d:ajh", opts,
                          NULL)) != -1) {
    switch (c) {
    case 's': store_path = optarg; break;
    case 'c': config_path = optarg; break;
    case 'R': root_path = optarg; break;
    case 'e': entry_path = optarg; break;
    case 'i': id = optarg; break;
    case 'o': out = optarg; break;
    case 'd': days = cli_number(optarg, 36500); break;
    case 'a': all = 1; break;
    case 'j': json = 1; break;
    case 'h': s_usage(stdout); return CLI_EXIT_OK;
    default: s_usage(stderr); return CLI_EXIT_USAGE;
    }
  }
  int is_add = !strcmp(verb, "add"), is_list = !strcmp(verb, "list"),
      is_remove = !strcmp(verb, "remove"), is_export = !strcmp(verb, "export"),
      is_rotate = !strcmp(verb, "rotate");
  /* rotate ID: the id may also be given as --id. */
  if (is_rotate && !id && optind == argc - 3)
    id = argv[2 + optind++];
  if (optind != argc - 2 ||
      !(is_add || is_list || is_remove || is_export || is_rotate) ||
      ((is_add || is_rotate) && !entry_path) || (is_remove && !id) ||
      (is_rotate && !id) || (is_export && (!id || !out || days < 1))) {
    s_usage(stderr);
    return CLI_EXIT_USAGE;
  }
  /* --store and --root-key, or ketend.conf's store and root_key. */
  int prc = admin_paths(config_path, &store_path, &root_path,
                        is_add || is_rotate);
  if (prc != 0)
    return prc;

  char err[512];
  participant_t p;
  memset(&p, 0, sizeof p);
  keten_root_key_t root;
  memset(&root, 0, sizeof root);
  if (is_list && root_path) {
    keten_err_t krc = keten_root_key_load(root_path, &root);
    keten_root_key_wipe(&root);
    if (krc != KETEN_OK) {
      fprintf(stderr, "keten admin: %s: %s\n", root_path, keten_strerror(krc));
      return CLI_EXIT_LOCAL;
    }
    s_list_root = root.public_key;
  }
  if (is_add || is_rotate) {
    /* Only what the chain root signed goes in. */
    keten_err_t krc = keten_root_key_load(root_path, &root);
    keten_root_key_wipe(&root);
    if (krc != KETEN_OK) {
      fprintf(stderr, "keten admin: %s: %s\n", root_path, keten_strerror(krc));
      return CLI_EXIT_LOCAL;
    }
    if (entry_file_read(entry_path, &p, err, sizeof err) != 0) {
      fprintf(stderr, "keten admin: %s\n", err);
      return CLI_EXIT_LOCAL;
    }
    if (participant_verify(&p, root.public_key, err, sizeof err) != 0) {
      fprintf(stderr, "keten admin: refused: %s\n", err);
      return CLI_EXIT_REFUSED;
    }
  }

  /* Only `add` may create a store: a mistyped path must not silently
   * become a new, empty registry. */
  if (!is_add && access(store_path, F_OK) != 0) {
    fprintf(stderr, "keten admin: no store at %s\n", store_path);
    return CLI_EXIT_LOCAL;
  }
  store_t *store = store_open(store_path, err, sizeof err);
  if (!store) {
    fprintf(stderr, "keten admin: %s\n", err);
    return CLI_EXIT_LOCAL;
  }
  int rc = CLI_EXIT_OK;
  if (store_begin(store) != 0) {
    fprintf(stderr, "keten admin: the store is busy or unwritable: %s\n",
            store_error(store));
    store_close(&store);
    return CLI_EXIT_LOCAL;
  }
  if (is_rotate) {
    rc = s_rotate(store, id, &p);
  } else if (is_add) {
    int r = store_entry_add(store, &p, err, sizeof err);
    if (r != 0) {
      fprintf(stderr, "keten admin: %s\n", err);
      rc = r == 1 || strstr(err, "already registered") ? CLI_EXIT_REFUSED
                                                       : CLI_EXIT_LOCAL;
    } else if (s_audit_registry(store, "keten.registry.add", p.id) != 0) {
      fprintf(stderr, "keten admin: cannot audit the change\n");
      rc = CLI_EXIT_LOCAL;
    } else {
      printf("installed the registry entry of %s:\n", p.id);
      entry_file_print(&p, stdout);
    }
  } else if (is_remove) {
    int r = store_entry_remove(store, id, err, sizeof err);
    if (r < 0) {
      fprintf(stderr, "keten admin: %s\n", err);
      rc = CLI_EXIT_LOCAL;
    } else if (r == 0) {
      fprintf(stderr, "keten admin: no installed entry of '%s'\n", id);
      rc = CLI_EXIT_REFUSED;
    } else if (s_audit_registry(store, "keten.registry.remove", id) != 0) {
      fprintf(stderr, "keten admin: cannot audit the change\n");
      rc = CLI_EXIT_LOCAL;
    } else {
      printf("removed %s (%d entr%s)\n", id, r, r == 1 ? "y" : "ies");
    }
  } else if (is_export) {
    s_newest_t n = {.id = id};
    if (store_entry_each(store, 0, s_find_newest, &n, err, sizeof err) != 0) {
      fprintf(stderr, "keten admin: %s\n", err);
      rc = CLI_EXIT_LOCAL;
    } else if (!n.found) {
      fprintf(stderr, "keten admin: no installed entry of '%s'\n", id);
      rc = CLI_EXIT_REFUSED;
    } else {
      p = n.newest;
      p.signed_by_root = 0;
      p.issued_at_ms = 0;
      /* From the source entry's start, so that what its keys signed (a
       * legacy entry's sections, too) stays inside the new window. */
      p.valid_until_ms = s_now_ms() + days * INT64_C(86400000);
      if (entry_file_write(out, &p, 0, err, sizeof err) != 0) {
        fprintf(stderr, "keten admin: %s\n", err);
        rc = CLI_EXIT_LOCAL;
      } else {
        printf("wrote the unsigned entry %s (have it signed: keten root "
               "sign):\n", out);
        entry_file_print(&p, stdout);
      }
    }
  } else if (json) {
    json_t *list = json_array();
    if (store_entry_each(store, all, s_add_json, list, err, sizeof err)) {
      fprintf(stderr, "keten admin: %s\n", err);
      rc = CLI_EXIT_LOCAL;
    } else {
      json_dumpf(list, stdout, JSON_INDENT(2));
      putchar('\n');
    }
    json_decref(list);
  } else if (store_entry_each(store, all, s_print_line, NULL, err,
                              sizeof err)) {
    fprintf(stderr, "keten admin: %s\n", err);
    rc = CLI_EXIT_LOCAL;
  }
  if (rc != CLI_EXIT_OK || is_list || is_export) {
    store_rollback(store);
  } else if (store_commit(store) != 0) {
    fprintf(stderr, "keten admin: commit failed: %s\n", store_error(store));
    rc = CLI_EXIT_LOCAL;
  }
  store_close(&store);
  return rc;
}
