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

#include "audit.h"
#include "canon.h"
#include "cli.h"
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

static void s_usage(FILE *out) {
  fprintf(out,
          "usage: keten admin participant add --store FILE --root-key root.pub --entry FILE.signed\n"
          "       keten admin participant list --store FILE [--root-key root.pub]\n"
          "                                    [--all] [--json]\n"
          "       keten admin participant remove --store FILE --id ID\n"
          "       keten admin participant export --store FILE --id ID --out FILE.entry\n"
          "                                      [--days N]\n"
          "       keten admin subject erase --store FILE --request FILE [--root-key root.pub]\n"
          "\n"
          "Edits the participant registry in the broker's store. add installs a\n"
          "registry entry only if the chain root signed it (keten root sign); a\n"
          "second entry for the same id is a key rotation: both are admitted while\n"
          "both are valid, and the old one stays known after it expires so that\n"
          "what was signed with its keys still verifies. remove stops admitting\n"
          "every entry of ID (they are kept for the record). export writes an\n"
          "unsigned entry from ID's newest installed entry, with the same keys and\n"
          "start and an end N days (default 730) from now, to be signed again\n"
          "(renewal, or an upgrade from an unsigned registry). A running ketend picks changes up within a second\n"
          "(or at once on SIGHUP).\n"
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

int cmd_admin(int argc, char **argv) {
  static const struct option opts[] = {{"store", required_argument, NULL, 's'},
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
  /* keten admin subject erase: a controller's signed erasure (cmd_erase.c). */
  if (argc >= 3 && !strcmp(argv[1], "subject") && !strcmp(argv[2], "erase"))
    return cmd_admin_subject_erase(argc - 2, argv + 2);
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
  while ((c = getopt_long(argc - 2, argv + 2, "s:R:e:i:o:d:ajh", opts, NULL)) !=
         -1) {
    switch (c) {
    case 's': store_path = optarg; break;
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
      is_remove = !strcmp(verb, "remove"), is_export = !strcmp(verb, "export");
  if (optind != argc - 2 || !store_path ||
      !(is_add || is_list || is_remove || is_export) ||
      (is_add && (!entry_path || !root_path)) || (is_remove && !id) ||
      (is_export && (!id || !out || days < 1))) {
    s_usage(stderr);
    return CLI_EXIT_USAGE;
  }

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
  if (is_add) {
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
  if (is_add) {
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
