/* keten audit verify|subject — the audit chain, read from the store.
 *
 * Like `keten admin`, these run on the broker's host against its store:
 * the privacy officer (FG) verifies the chain and answers a person's
 * access request (inzageverzoek) without going through the broker. */
#include <getopt.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "canon.h"
#include "cli.h"
#include "store.h"

static void s_usage(FILE *out) {
  fprintf(out,
          "usage: keten audit verify --store FILE [--broker-key broker.pub]\n"
          "       keten audit subject --store FILE [--chain-key FILE] [--all] SUBJECT\n"
          "\n"
          "verify re-walks the hash chain from the first entry and, with the\n"
          "broker's public key, checks every signed checkpoint; it names the\n"
          "first entry that does not match (exit 1) or prints the verified head.\n"
          "subject prints the person's access report as JSON lines: every\n"
          "disclosure of their sections (to whom, which section, when, under\n"
          "which consent and purpose); --all adds refusals and consent changes.\n"
          "\n"
          "  -s, --store FILE        the broker's SQLite store\n"
          "  -b, --broker-key FILE   the broker's public key file\n"
          "  -K, --chain-key FILE    chain key, to give SUBJECT as a V-nummer\n"
          "  -a, --all               every entry about the subject\n"
          "  -h, --help              print this help\n");
}

typedef struct {
  uint64_t expect_seq;
  uint8_t prev[AUDIT_HASH_BYTES];
  uint64_t broken_seq;
  const char *why;
  uint64_t n;
} s_walk_t;

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
  memcpy(w->prev, e->hash, AUDIT_HASH_BYTES);
  w->expect_seq++;
  w->n++;
  return 0;
}

typedef struct {
  store_t *store;
  const uint8_t *broker_pk;
  uint64_t checked, bad_seq;
  const char *why;
} s_cp_t;

static int s_checkpoint(uint64_t seq, const uint8_t head[AUDIT_HASH_BYTES],
                        int64_t at_ms, const uint8_t sig[64], void *arg) {
  s_cp_t *c = arg;
  uint8_t msg[128];
  size_t len = audit_checkpoint_bytes(seq, head, at_ms, msg, sizeof msg);
  if (c->broker_pk &&
      crypto_sign_verify_detached(sig, msg, len, c->broker_pk) != 0) {
    c->bad_seq = seq;
    c->why = "checkpoint signature does not verify";
    return 1;
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

static int s_verify(store_t *store, const char *broker_key_path) {
  keten_keys_t broker;
  int have_key = 0;
  if (broker_key_path) {
    keten_err_t rc = keten_keys_load(broker_key_path, &broker);
    if (rc != KETEN_OK) {
      fprintf(stderr, "keten audit: %s: %s\n", broker_key_path,
              keten_strerror(rc));
      return CLI_EXIT_LOCAL;
    }
    have_key = 1;
  }
  s_walk_t w = {.expect_seq = 1};
  if (store_audit_each(store, s_walk, &w) != 0) {
    fprintf(stderr, "keten audit: cannot read the audit log\n");
    return CLI_EXIT_LOCAL;
  }
  if (w.why) {
    printf("audit chain BROKEN at entry %llu: %s (%llu entries before it "
           "verify)\n",
           (unsigned long long)w.broken_seq, w.why, (unsigned long long)w.n);
    return CLI_EXIT_REFUSED;
  }
  s_cp_t cp = {.store = store, .broker_pk = have_key ? broker.signing_pk : NULL};
  if (store_audit_checkpoints(store, s_checkpoint, &cp) != 0) {
    fprintf(stderr, "keten audit: cannot read the checkpoints\n");
    return CLI_EXIT_LOCAL;
  }
  if (cp.why) {
    printf("audit chain BROKEN at checkpoint %llu: %s\n",
           (unsigned long long)cp.bad_seq, cp.why);
    return CLI_EXIT_REFUSED;
  }
  char head[2 * AUDIT_HASH_BYTES + 1];
  sodium_bin2hex(head, sizeof head, w.prev, AUDIT_HASH_BYTES);
  printf("audit chain OK: %llu entries, head %s, %llu checkpoint(s) %s\n",
         (unsigned long long)w.n, head, (unsigned long long)cp.checked,
         have_key ? "signature-verified" : "matched (no --broker-key: "
                                           "signatures not checked)");
  return CLI_EXIT_OK;
}

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
  const char *verb = argv[1], *store_path = NULL, *broker_key = NULL,
             *chain = NULL;
  int all = 0, c;
  optind = 1;
  while ((c = getopt_long(argc - 1, argv + 1, "s:b:K:ah", opts, NULL)) != -1) {
    switch (c) {
    case 's': store_path = optarg; break;
    case 'b': broker_key = optarg; break;
    case 'K': chain = optarg; break;
    case 'a': all = 1; break;
    case 'h': s_usage(stdout); return CLI_EXIT_OK;
    default: s_usage(stderr); return CLI_EXIT_USAGE;
    }
  }
  int is_verify = !strcmp(verb, "verify"), is_subject = !strcmp(verb, "subject");
  int rest = argc - 1 - optind;
  if (!store_path || !(is_verify || is_subject) || rest != (is_subject ? 1 : 0)) {
    s_usage(stderr);
    return CLI_EXIT_USAGE;
  }
  uint8_t subject[KETEN_SUBJECT_BYTES];
  if (is_subject && cli_subject(argv[1 + optind], chain, subject) != 0)
    return CLI_EXIT_USAGE;
  char err[512];
  if (access(store_path, F_OK) != 0) {
    fprintf(stderr, "keten audit: no store at %s\n", store_path);
    return CLI_EXIT_LOCAL;
  }
  store_t *store = store_open(store_path, err, sizeof err);
  if (!store) {
    fprintf(stderr, "keten audit: %s\n", err);
    return CLI_EXIT_LOCAL;
  }
  int rc;
  if (is_verify) {
    rc = s_verify(store, broker_key);
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
