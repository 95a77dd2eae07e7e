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
#include "cli.h"
#include "participant.h"
#include "roles.h"
#include "store.h"

/* Audits a registry change in the transaction that makes it. */
static int s_audit_registry(store_t *store, const char *name,
                            const char *participant) {
  audit_entry_t e;
  memset(&e, 0, sizeof e);
  snprintf(e.name, sizeof e.name, "%s", name);
  e.status = AUDIT_STATUS_OK;
  randombytes_buf(e.trace_id, sizeof e.trace_id);
  randombytes_buf(e.operation_id, sizeof e.operation_id);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  e.start_ms = e.end_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  snprintf(e.actor, sizeof e.actor, "operator");
  snprintf(e.counterparty, sizeof e.counterparty, "%s", participant);
  snprintf(e.detail, sizeof e.detail, "registry changed with keten admin");
  return store_audit_append(store, &e);
}

static void s_usage(FILE *out) {
  fprintf(out,
          "usage: keten admin participant add --store FILE --id ID --role ROLE --name NAME --keys FILE.pub\n"
          "       keten admin participant list --store FILE [--json]\n"
          "       keten admin participant remove --store FILE --id ID\n"
          "\n"
          "Edits the participant registry in the broker's store. A running ketend\n"
          "picks the change up within a second (or at once on SIGHUP).\n"
          "\n"
          "  -s, --store FILE    the broker's SQLite store\n"
          "  -i, --id ID         participant id (coa, gemeente:0716, vwn:zeeland, ...)\n"
          "  -r, --role ROLE     GEMEENTE, COA, VOLUNTEER, CARE, TVS or OPERATOR\n"
          "  -n, --name NAME     display name\n"
          "  -k, --keys FILE     the participant's public key file (from keten keygen)\n"
          "  -j, --json          list as JSON\n"
          "  -h, --help          print this help\n");
}

static int s_print_line(const participant_t *p, void *arg) {
  (void)arg;
  char hex[2 * PARTICIPANT_KEY_BYTES + 1];
  sodium_bin2hex(hex, sizeof hex, p->transport_pk, PARTICIPANT_KEY_BYTES);
  printf("%-24s %-10s %.16s...  %s\n", p->id, roles_name(p->role), hex,
         p->display_name);
  return 0;
}

static int s_add_json(const participant_t *p, void *arg) {
  char t[65], s[65], e[65];
  sodium_bin2hex(t, sizeof t, p->transport_pk, PARTICIPANT_KEY_BYTES);
  sodium_bin2hex(s, sizeof s, p->signing_pk, PARTICIPANT_KEY_BYTES);
  sodium_bin2hex(e, sizeof e, p->sealing_pk, PARTICIPANT_KEY_BYTES);
  json_array_append_new(
      (json_t *)arg,
      json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "id", p->id, "role",
                roles_name(p->role), "display_name", p->display_name,
                "transport_public", t, "signing_public", s, "sealing_public", e,
                "added_at_ms", (json_int_t)p->added_at_ms));
  return 0;
}

int cmd_admin(int argc, char **argv) {
  static const struct option opts[] = {{"store", required_argument, NULL, 's'},
                                       {"id", required_argument, NULL, 'i'},
                                       {"role", required_argument, NULL, 'r'},
                                       {"name", required_argument, NULL, 'n'},
                                       {"keys", required_argument, NULL, 'k'},
                                       {"json", no_argument, NULL, 'j'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
    s_usage(stdout);
    return CLI_EXIT_OK;
  }
  if (argc < 3 || strcmp(argv[1], "participant") != 0) {
    s_usage(stderr);
    return CLI_EXIT_USAGE;
  }
  const char *verb = argv[2];
  const char *store_path = NULL, *id = NULL, *role = NULL, *name = NULL,
             *keys_path = NULL;
  int json = 0, c;
  optind = 1;
  while ((c = getopt_long(argc - 2, argv + 2, "s:i:r:n:k:jh", opts, NULL)) !=
         -1) {
    switch (c) {
    case 's': store_path = optarg; break;
    case 'i': id = optarg; break;
    case 'r': role = optarg; break;
    case 'n': name = optarg; break;
    case 'k': keys_path = optarg; break;
    case 'j': json = 1; break;
    case 'h': s_usage(stdout); return CLI_EXIT_OK;
    default: s_usage(stderr); return CLI_EXIT_USAGE;
    }
  }
  int is_add = !strcmp(verb, "add"), is_list = !strcmp(verb, "list"),
      is_remove = !strcmp(verb, "remove");
  if (optind != argc - 2 || !store_path || !(is_add || is_list || is_remove) ||
      (is_add && (!id || !role || !name || !keys_path)) ||
      (is_remove && !id)) {
    s_usage(stderr);
    return CLI_EXIT_USAGE;
  }

  participant_t p;
  memset(&p, 0, sizeof p);
  if (is_add) {
    if (!participant_valid_id(id)) {
      fprintf(stderr, "keten admin: invalid participant id '%s' (lower-case "
                      "[a-z0-9-] segments joined by ':', at most 64 bytes)\n",
              id);
      return CLI_EXIT_USAGE;
    }
    if (!(p.role = roles_from_name(role))) {
      fprintf(stderr, "keten admin: unknown role '%s'\n", role);
      return CLI_EXIT_USAGE;
    }
    if (!participant_valid_name(name)) {
      fprintf(stderr, "keten admin: display name must be 1..128 bytes "
                      "without control characters\n");
      return CLI_EXIT_USAGE;
    }
    keten_keys_t keys;
    keten_err_t krc = keten_keys_load(keys_path, &keys);
    if (krc != KETEN_OK) {
      fprintf(stderr, "keten admin: %s: %s\n", keys_path, keten_strerror(krc));
      return CLI_EXIT_LOCAL;
    }
    snprintf(p.id, sizeof p.id, "%s", id);
    snprintf(p.display_name, sizeof p.display_name, "%s", name);
    memcpy(p.transport_pk, keys.transport_pk, PARTICIPANT_KEY_BYTES);
    memcpy(p.signing_pk, keys.signing_pk, PARTICIPANT_KEY_BYTES);
    memcpy(p.sealing_pk, keys.sealing_pk, PARTICIPANT_KEY_BYTES);
    keten_keys_wipe(&keys);
  }

  char err[512];
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
    if (store_participant_add(store, &p, err, sizeof err) != 0) {
      fprintf(stderr, "keten admin: %s\n", err);
      rc = strstr(err, "already registered") ? CLI_EXIT_REFUSED : CLI_EXIT_LOCAL;
    } else if (s_audit_registry(store, "keten.registry.add", p.id) != 0) {
      fprintf(stderr, "keten admin: cannot audit the change\n");
      rc = CLI_EXIT_LOCAL;
    } else {
      printf("added %s (%s)\n", p.id, roles_name(p.role));
    }
  } else if (is_remove) {
    int r = store_participant_remove(store, id, err, sizeof err);
    if (r < 0) {
      fprintf(stderr, "keten admin: %s\n", err);
      rc = CLI_EXIT_LOCAL;
    } else if (r == 0) {
      fprintf(stderr, "keten admin: no participant '%s'\n", id);
      rc = CLI_EXIT_REFUSED;
    } else if (s_audit_registry(store, "keten.registry.remove", id) != 0) {
      fprintf(stderr, "keten admin: cannot audit the change\n");
      rc = CLI_EXIT_LOCAL;
    } else {
      printf("removed %s\n", id);
    }
  } else if (json) {
    json_t *list = json_array();
    if (store_participant_each(store, s_add_json, list, err, sizeof err)) {
      fprintf(stderr, "keten admin: %s\n", err);
      rc = CLI_EXIT_LOCAL;
    } else {
      json_dumpf(list, stdout, JSON_INDENT(2));
      putchar('\n');
    }
    json_decref(list);
  } else if (store_participant_each(store, s_print_line, NULL, err,
                                    sizeof err)) {
    fprintf(stderr, "keten admin: %s\n", err);
    rc = CLI_EXIT_LOCAL;
  }
  if (rc != CLI_EXIT_OK) {
    store_rollback(store);
  } else if (store_commit(store) != 0) {
    fprintf(stderr, "keten admin: commit failed: %s\n", store_error(store));
    rc = CLI_EXIT_LOCAL;
  }
  store_close(&store);
  return rc;
}
