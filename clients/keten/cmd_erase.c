/* keten erase — a controller erases the sections it authored about a
 * subject (AVG art. 17): at once over the wire (ERASE), or as a signed
 * request file for the operator (--export), who applies it on the store
 * with `keten admin subject erase --request FILE` (cmd_admin.c hands over
 * to cmd_admin_subject_erase below). docs/operations.md, "Erasure (AVG
 * art. 17) and retention". */
#include <getopt.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "audit.h"
#include "canon.h"
#include "cli.h"
#include "erase.h"
#include "participant.h"
#include "store.h"

int cmd_erase(int argc, char **argv);
int cmd_admin_subject_erase(int argc, char **argv);

static void s_usage(FILE *out) {
  fprintf(out,
          "usage: keten erase SUBJECT --reason TEXT [--kinds K1,K2,...] [--evidence]\n"
          "                   [connection options] [--chain-key FILE]\n"
          "       keten erase SUBJECT --reason TEXT [--kinds ...] [--evidence]\n"
          "                   --export FILE --author ID --keys FILE [--chain-key FILE]\n"
          "\n"
          "Erases the sections you authored about SUBJECT (64 hex digits, or a\n"
          "V-nummer with the chain key): every version of them, of the kinds given\n"
          "or of all, with every key wrap, their pending deliveries and rewrap\n"
          "requests. --evidence also erases the evidence_ref of your consents on\n"
          "the subject (their records stay; they are no evidence for sealing any\n"
          "more). Every recipient that had a copy gets a delete notice.\n"
          "--export signs the request without a broker and writes it to FILE for\n"
          "the operator (keten admin subject erase --request FILE).\n"
          "\n"
          "  -r, --reason TEXT       1..255 printable ASCII bytes, e.g. the request's reference\n"
          "  -S, --kinds LIST        comma-separated section kinds (default: all)\n"
          "  -E, --evidence          also erase your consents' evidence references\n"
          "  -K, --chain-key FILE    the chain key, for a V-nummer as SUBJECT\n"
          "  -x, --export FILE       write the signed request to FILE; send nothing\n"
          "  -a, --author ID         with --export: your participant id\n"
          "  -j, --json              print the outcome as JSON\n" CLI_CONN_HELP
          "  -h, --help              print this help\n");
}

static uint64_t s_parse_kinds(const char *list) {
  char buf[512];
  snprintf(buf, sizeof buf, "%s", list);
  uint64_t bits = 0;
  char *save = NULL;
  for (char *tok = strtok_r(buf, ",", &save); tok;
       tok = strtok_r(NULL, ",", &save)) {
    int kind = keten_section_kind_from_name(tok);
    if (kind <= 0)
      return UINT64_MAX;
    bits |= UINT64_C(1) << kind;
  }
  return bits ? bits : UINT64_MAX;
}

/* ---- the request file ------------------------------------------------------ */

static json_t *s_to_json(const keten_erasure_t *e) {
  char id[33], subject[65], sig[129];
  sodium_bin2hex(id, sizeof id, e->erasure_id, 16);
  sodium_bin2hex(subject, sizeof subject, e->subject, 32);
  sodium_bin2hex(sig, sizeof sig, e->signature, 64);
  json_t *kinds = json_array();
  for (int k = 1; k < 64; k++)
    if (e->kinds & (UINT64_C(1) << k))
      json_array_append_new(kinds, json_string(keten_section_kind_name(k)));
  return json_pack("{s:s, s:i, s:s, s:s, s:s, s:o, s:b, s:s, s:I, s:s}",
                   "type", "keten-erasure", "version", 1, "erasure_id", id,
                   "subject", subject, "author", e->author, "kinds", kinds,
                   "erase_evidence", e->erase_evidence, "reason", e->reason,
                   "requested_at_ms", (json_int_t)e->requested_at_ms,
                   "signature", sig);
}

static int s_hex_field(json_t *doc, const char *name, uint8_t *out,
                       size_t len) {
  const char *hex = json_string_value(json_object_get(doc, name));
  size_t got = 0;
  return hex && strlen(hex) == 2 * len &&
                 sodium_hex2bin(out, len, hex, strlen(hex), NULL, &got,
                                NULL) == 0 &&
                 got == len
             ? 0
             : -1;
}

/* Reads a request file; prints why and returns -1 on failure. */
static int s_read_request(const char *path, keten_erasure_t *e) {
  memset(e, 0, sizeof *e);
  json_error_t jerr;
  json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
  if (!doc) {
    fprintf(stderr, "keten admin: %s: %s\n", path, jerr.text);
    return -1;
  }
  const char *type = json_string_value(json_object_get(doc, "type"));
  const char *author = json_string_value(json_object_get(doc, "author"));
  const char *reason = json_string_value(json_object_get(doc, "reason"));
  json_t *kinds = json_object_get(doc, "kinds");
  json_t *at = json_object_get(doc, "requested_at_ms");
  json_t *ev = json_object_get(doc, "erase_evidence");
  int ok = type && strcmp(type, "keten-erasure") == 0 &&
           json_integer_value(json_object_get(doc, "version")) == 1 &&
           author && strlen(author) <= KETEN_ID_MAX && reason &&
           strlen(reason) < sizeof e->reason && json_is_array(kinds) &&
           json_is_integer(at) && json_integer_value(at) > 0 &&
           json_is_boolean(ev) &&
           s_hex_field(doc, "erasure_id", e->erasure_id, 16) == 0 &&
           s_hex_field(doc, "subject", e->subject, 32) == 0 &&
           s_hex_field(doc, "signature", e->signature, 64) == 0;
  if (ok) {
    snprintf(e->author, sizeof e->author, "%s", author);
    snprintf(e->reason, sizeof e->reason, "%s", reason);
    e->requested_at_ms = (uint64_t)json_integer_value(at);
    e->erase_evidence = json_is_true(ev);
    size_t i;
    json_t *k;
    json_array_foreach(kinds, i, k) {
      int kind = json_is_string(k) ? keten_section_kind_from_name(
                                         json_string_value(k))
                                   : 0;
      if (kind <= 0)
        ok = 0;
      else
        e->kinds |= UINT64_C(1) << kind;
    }
  }
  json_decref(doc);
  if (!ok)
    fprintf(stderr, "keten admin: %s is not a keten erasure request\n", path);
  return ok ? 0 : -1;
}

static int s_print_result(const keten_erase_result_t *r, int json) {
  if (json) {
    json_t *to = json_array();
    for (size_t i = 0; i < r->n_notified && i < 16; i++)
      json_array_append_new(to, json_string(r->notified[i]));
    json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:o}", "sections",
                          (json_int_t)r->sections, "wraps",
                          (json_int_t)r->wraps, "deliveries",
                          (json_int_t)r->deliveries, "n_notified",
                          (json_int_t)r->n_notified, "notified", to);
    json_dumpf(o, stdout, JSON_COMPACT);
    putchar('\n');
    json_decref(o);
    return CLI_EXIT_OK;
  }
  printf("erased %u section version(s), %u key wrap(s), %u pending "
         "deliver%s; delete notice to %zu recipient(s)",
         r->sections, r->wraps, r->deliveries,
         r->deliveries == 1 ? "y" : "ies", r->n_notified);
  for (size_t i = 0; i < r->n_notified && i < 16; i++)
    printf("%s%s", i ? ", " : ": ", r->notified[i]);
  putchar('\n');
  return CLI_EXIT_OK;
}

int cmd_erase(int argc, char **argv) {
  static const struct option opts[] = {CLI_CONN_OPTIONS,
                                       {"chain-key", required_argument, NULL, 'K'},
                                       {"reason", required_argument, NULL, 'r'},
                                       {"kinds", required_argument, NULL, 'S'},
                                       {"evidence", no_argument, NULL, 'E'},
                                       {"export", required_argument, NULL, 'x'},
                                       {"author", required_argument, NULL, 'a'},
                                       {"json", no_argument, NULL, 'j'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  cli_conn_t conn;
  cli_conn_defaults(&conn);
  const char *chain = NULL, *reason = NULL, *kinds = NULL, *export = NULL,
             *author = NULL;
  int evidence = 0, json = 0, c;
  optind = 1;
  while ((c = getopt_long(argc, argv, CLI_CONN_SHORT "K:r:S:Ex:a:jh", opts,
                          NULL)) != -1) {
    if (cli_conn_option(&conn, c, optarg))
      continue;
    switch (c) {
    case 'K': chain = optarg; break;
    case 'r': reason = optarg; break;
    case 'S': kinds = optarg; break;
    case 'E': evidence = 1; break;
    case 'x': export = optarg; break;
    case 'a': author = optarg; break;
    case 'j': json = 1; break;
    case 'h': s_usage(stdout); return CLI_EXIT_OK;
    default: s_usage(stderr); return CLI_EXIT_USAGE;
    }
  }
  if (optind + 1 != argc || !reason || (export && !author) ||
      (!export && author)) {
    s_usage(stderr);
    return CLI_EXIT_USAGE;
  }
  keten_erasure_t e;
  memset(&e, 0, sizeof e);
  if (cli_subject(argv[optind], chain, e.subject) != 0)
    return CLI_EXIT_USAGE;
  if (kinds && (e.kinds = s_parse_kinds(kinds)) == UINT64_MAX) {
    fprintf(stderr, "keten erase: --kinds: unknown section kind in '%s'\n",
            kinds);
    return CLI_EXIT_USAGE;
  }
  if (strlen(reason) > 255) {
    fprintf(stderr, "keten erase: --reason is longer than 255 bytes\n");
    return CLI_EXIT_USAGE;
  }
  snprintf(e.reason, sizeof e.reason, "%s", reason);
  e.erase_evidence = evidence;
  if (export) {
    keten_keys_t keys;
    if (!conn.keys_path) {
      fprintf(stderr, "keten erase: --export needs --keys (or KETEN_KEYS)\n");
      return CLI_EXIT_USAGE;
    }
    keten_err_t krc = keten_keys_load(conn.keys_path, &keys);
    if (krc != KETEN_OK) {
      fprintf(stderr, "keten erase: %s: %s\n", conn.keys_path,
              keten_strerror(krc));
      return CLI_EXIT_LOCAL;
    }
    snprintf(e.author, sizeof e.author, "%s", author);
    krc = keten_erasure_sign(&e, &keys);
    keten_keys_wipe(&keys);
    if (krc != KETEN_OK) {
      fprintf(stderr, "keten erase: cannot sign: %s (reason: 1..255 "
                      "printable ASCII bytes)\n", keten_strerror(krc));
      return CLI_EXIT_USAGE;
    }
    if (cli_refuse_symlink("keten erase", export) != 0)
      return CLI_EXIT_LOCAL;
    json_t *doc = s_to_json(&e);
    int rc = doc && json_dump_file(doc, export, JSON_INDENT(2)) == 0
                 ? CLI_EXIT_OK
                 : CLI_EXIT_LOCAL;
    json_decref(doc);
    if (rc != CLI_EXIT_OK) {
      fprintf(stderr, "keten erase: cannot write %s\n", export);
      return rc;
    }
    char id[33];
    sodium_bin2hex(id, sizeof id, e.erasure_id, 16);
    printf("wrote the signed erasure %s to %s (for the operator: keten admin "
           "subject erase --request %s)\n", id, export, export);
    return CLI_EXIT_OK;
  }
  int exit_code = CLI_EXIT_OK;
  keten_client_t *client = cli_connect(&conn, &exit_code);
  if (!client)
    return exit_code;
  keten_erase_result_t res;
  keten_err_t rc = keten_client_erase(client, &e, &res);
  if (rc != KETEN_OK) {
    fprintf(stderr, "keten erase: %s: %s\n", keten_strerror(rc),
            keten_client_error(client));
    keten_client_destroy(&client);
    return cli_exit_for(rc);
  }
  keten_client_destroy(&client);
  return s_print_result(&res, json);
}

/* ---- keten admin subject erase --------------------------------------------- */

typedef struct {
  const keten_erasure_t *e;
  const uint8_t *root_pk; /* NULL: entries are trusted as installed */
  int64_t now_ms;
  int verified, entries;
  char entry_hash[65];
} s_author_t;

static int s_check_entry(const participant_t *p, void *arg) {
  s_author_t *a = arg;
  if (a->verified || strcmp(p->id, a->e->author) != 0)
    return 0;
  a->entries++;
  char why[256];
  /* Only a root-signed entry whose window holds the request's time and
   * that is valid now: a key retired since (perhaps leaked) cannot sign
   * a back-dated erasure of the controller's current sections. */
  if (!p->signed_by_root ||
      (a->root_pk && participant_verify(p, a->root_pk, why, sizeof why) != 0) ||
      (int64_t)a->e->requested_at_ms < p->valid_from_ms ||
      (int64_t)a->e->requested_at_ms >= p->valid_until_ms ||
      a->now_ms < p->valid_from_ms || a->now_ms >= p->valid_until_ms)
    return 0;
  if (keten_erasure_verify(a->e, p->signing_pk) == KETEN_OK) {
    a->verified = 1;
    sodium_bin2hex(a->entry_hash, sizeof a->entry_hash, p->entry_hash, 32);
  }
  return 0;
}

static int64_t s_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cmd_admin_subject_erase(int argc, char **argv) {
  static const struct option opts[] = {{"store", required_argument, NULL, 's'},
                                       {"config", required_argument, NULL, 'c'},
                                       {"request", required_argument, NULL, 'q'},
                                       {"root-key", required_argument, NULL, 'R'},
                                       {"json", no_argument, NULL, 'j'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *store_path = NULL, *request = NULL, *root_path = NULL;
  const char *config_path = NULL;
  int json = 0, c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "s:c:q:R:jh", opts, NULL)) != -1) {
    switch (c) {
    case 's': store_path = optarg; break;
    case 'c': config_path = optarg; break;
    case 'q': request = optarg; break;
    case 'R': root_path = optarg; break;
    case 'j': json = 1; break;
    case 'h':
    default:
      fprintf(c == 'h' ? stdout : stderr,
              "usage: keten admin subject erase --store FILE --request FILE "
              "[--root-key root.pub] [--json]\n"
              "       keten admin subject erase --config ketend.conf --request FILE "
              "[--json]\n"
              "\n"
              "Applies a controller's signed erasure (written by `keten erase "
              "--export`)\n"
              "to the store: its signature must verify with the author's "
              "root-signed\n"
              "registry entry of the request's time. The erasure and its audit "
              "entry are\n"
              "one transaction; the delete notices it owes are signed and "
              "queued by\n"
              "ketend within a second (or when it next starts).\n");
      return c == 'h' ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
  }
  if (optind != argc || !request) {
    fprintf(stderr, "usage: keten admin subject erase --store FILE --request "
                    "FILE [--root-key root.pub]\n");
    return CLI_EXIT_USAGE;
  }
  /* the store and root key from ketend.conf (--config, or the default
   * one when it exists), as the other admin commands; a config given
   * must name the root key too */
  int prc = admin_paths(config_path, &store_path, &root_path, config_path != NULL);
  if (prc != 0)
    return prc;
  keten_erasure_t e;
  if (s_read_request(request, &e) != 0)
    return CLI_EXIT_LOCAL;
  keten_root_key_t root;
  memset(&root, 0, sizeof root);
  if (root_path) {
    keten_err_t krc = keten_root_key_load(root_path, &root);
    keten_root_key_wipe(&root);
    if (krc != KETEN_OK) {
      fprintf(stderr, "keten admin: %s: %s\n", root_path, keten_strerror(krc));
      return CLI_EXIT_LOCAL;
    }
  }
  Keten__Erasure w = KETEN__ERASURE__INIT;
  w.erasure_id.data = e.erasure_id;
  w.erasure_id.len = 16;
  w.subject.data = e.subject;
  w.subject.len = 32;
  w.author = e.author;
  w.kinds = (uint32_t)e.kinds;
  w.erase_evidence = e.erase_evidence;
  w.reason = e.reason;
  w.requested_at_ms = e.requested_at_ms;
  w.signature.data = e.signature;
  w.signature.len = 64;
  char why[256];
  if (erase_check_shape(&w, s_now_ms(), why, sizeof why) != 0) {
    fprintf(stderr, "keten admin: refused: %s\n", why);
    return CLI_EXIT_REFUSED;
  }
  if (access(store_path, F_OK) != 0) {
    fprintf(stderr, "keten admin: no store at %s\n", store_path);
    return CLI_EXIT_LOCAL;
  }
  char err[512];
  store_t *store = store_open(store_path, err, sizeof err);
  if (!store) {
    fprintf(stderr, "keten admin: %s\n", err);
    return CLI_EXIT_LOCAL;
  }
  if (store_begin(store) != 0) {
    fprintf(stderr, "keten admin: the store is busy or unwritable: %s\n",
            store_error(store));
    store_close(&store);
    return CLI_EXIT_LOCAL;
  }
  s_author_t a = {.e = &e, .root_pk = root_path ? root.public_key : NULL,
                  .now_ms = s_now_ms()};
  int rc = CLI_EXIT_OK;
  erase_result_t res;
  memset(&res, 0, sizeof res);
  if (store_entry_each(store, 0, s_check_entry, &a, err, sizeof err) != 0) {
    fprintf(stderr, "keten admin: %s\n", err);
    rc = CLI_EXIT_LOCAL;
  } else if (!a.verified) {
    fprintf(stderr,
            "keten admin: refused: the erasure's signature does not verify "
            "with a root-signed registry entry of %s valid at its time and "
            "now (%d "
            "entr%s looked at)\n",
            e.author, a.entries, a.entries == 1 ? "y" : "ies");
    rc = CLI_EXIT_REFUSED;
  } else {
    audit_entry_t entry;
    audit_entry_local(&entry, "keten.section.erase", "operator", "");
    int applied = erase_apply(store, &w, "operator", s_now_ms(), &entry, 1,
                              &res);
    if (applied == 1) {
      fprintf(stderr, "keten admin: refused: this erasure was applied "
                      "before\n");
      rc = CLI_EXIT_REFUSED;
    } else if (applied != 0) {
      fprintf(stderr, "keten admin: cannot apply the erasure: %s\n",
              store_error(store));
      rc = CLI_EXIT_LOCAL;
    }
  }
  if (rc != CLI_EXIT_OK) {
    store_rollback(store);
  } else if (store_commit(store) != 0) {
    fprintf(stderr, "keten admin: commit failed: %s\n", store_error(store));
    rc = CLI_EXIT_LOCAL;
  } else if (store_wal_truncate(store) != 0) {
    /* store_commit tried once; say so if a reader kept it from finishing. */
    fprintf(stderr, "keten admin: warning: the WAL could not be truncated "
                    "now (a reader holds it); the next erasure's commit "
                    "retries, or run ketend's stop\n");
  }
  store_close(&store);
  if (rc == CLI_EXIT_OK) {
    size_t owed = 0;
    for (size_t i = 0; i < res.n_targets; i++)
      if (i == 0 ||
          strcmp(res.targets[i].recipient, res.targets[i - 1].recipient) != 0)
        owed++;
    if (json) {
      json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "sections",
                            (json_int_t)res.counts.sections, "wraps",
                            (json_int_t)res.counts.wraps, "deliveries",
                            (json_int_t)res.counts.deliveries, "rewraps",
                            (json_int_t)(res.counts.rewraps +
                                         res.rewraps_dropped),
                            "evidence_refs", (json_int_t)res.consents,
                            "notices_owed", (json_int_t)owed);
      json_dumpf(o, stdout, JSON_COMPACT);
      putchar('\n');
      json_decref(o);
    } else {
      printf("erased for %s (entry %.16s): %lld section version(s), %lld key "
             "wrap(s), %lld pending deliver%s, %lld rewrap request(s), %lld "
             "evidence reference(s); %zu delete notice(s) owed: ketend signs "
             "and queues them\n",
             e.author, a.entry_hash, (long long)res.counts.sections,
             (long long)res.counts.wraps, (long long)res.counts.deliveries,
             res.counts.deliveries == 1 ? "y" : "ies",
             (long long)(res.counts.rewraps + res.rewraps_dropped),
             (long long)res.consents, owed);
    }
  }
  erase_result_free(&res);
  return rc;
}
