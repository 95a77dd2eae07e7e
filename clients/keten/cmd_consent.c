/* keten consent grant|revoke|list — signed consent records. */
#include <getopt.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "entry.h"

static void s_usage(FILE *out) {
  fprintf(out,
          "usage: keten consent grant [options] SUBJECT --to ID|--linked-gemeente\n"
          "                           --sections K1,K2,...\n"
          "                           --purpose P --evidence REF [--basis B]\n"
          "                           [--legal-ref REF] [--days N] [--from-ms MS]\n"
          "       keten consent revoke [options] SUBJECT CONSENT-ID [--reason TEXT]\n"
          "                            [--evidence REF]\n"
          "       keten consent list [options] SUBJECT\n"
          "\n"
          "grant records the person's consent that participant ID may read the\n"
          "listed section kinds of SUBJECT for purpose P (HUISVESTING, INBURGERING,\n"
          "PARTICIPATIE, ZORG, BEGELEIDING), signed by you, valid for N days\n"
          "(default 365) from now. Basis CONSENT (default) or LEGAL_DUTY with\n"
          "--legal-ref. A consent covers only sections you write, and only kinds\n"
          "the policy lets go to that recipient for that purpose. It prints the\n"
          "consent id.\n"
          "--to @gemeente (or --linked-gemeente) names no participant but the\n"
          "gemeente the TVS links the person to: whichever gemeente a KOPPELING\n"
          "links SUBJECT to, while that link lasts, under the policy for a\n"
          "GEMEENTE. Grant it at intake, before any koppeling: when the KOPPELING\n"
          "comes, the broker asks you (a rewrap request, served by your running\n"
          "keten listen) to seal the sections it covers to that gemeente.\n"
          "revoke records, signed by you, that the consent ends now: nothing more\n"
          "flows, the recipient's key wraps are erased and it gets a notice,\n"
          "signed by the broker, to delete its copies. The recorder, the\n"
          "recipient (for @gemeente: the gemeente linked now), or COA at the\n"
          "person's request (--evidence) may revoke. list prints the consents you\n"
          "recorded or receive; @gemeente shows as \"@gemeente (linked gemeente)\".\n"
          "\n" CLI_CONN_HELP
          "  -K, --chain-key FILE    chain key, to give SUBJECT as a V-nummer\n"
          "  -t, --to ID             recipient participant id, or @gemeente\n"
          "  -G, --linked-gemeente   the recipient is the linked gemeente (--to @gemeente)\n"
          "  -S, --sections LIST     comma-separated section kinds\n"
          "  -p, --purpose P         purpose of processing\n"
          "  -B, --basis B           CONSENT or LEGAL_DUTY\n"
          "  -L, --legal-ref REF     legal reference (LEGAL_DUTY)\n"
          "  -E, --evidence REF      reference of the signed form or the person's request\n"
          "  -d, --days N            validity in days (default 365)\n"
          "  -F, --from-ms MS        start of validity, ms since the epoch (default now)\n"
          "  -r, --reason TEXT       reason of a revocation\n"
          "  -j, --json              list as JSON\n"
          "  -h, --help              print this help\n");
}

static uint64_t s_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t s_parse_sections(const char *list) {
  char buf[512];
  uint64_t bits = 0;
  snprintf(buf, sizeof buf, "%s", list);
  char *save = NULL;
  for (char *tok = strtok_r(buf, ",", &save); tok;
       tok = strtok_r(NULL, ",", &save)) {
    int kind = keten_section_kind_from_name(tok);
    if (!kind)
      return 0;
    bits |= UINT64_C(1) << kind;
  }
  return bits;
}

static json_t *s_consent_json(const keten_consent_t *k) {
  char id[33], subject[65];
  sodium_bin2hex(id, sizeof id, k->consent_id, sizeof k->consent_id);
  sodium_bin2hex(subject, sizeof subject, k->subject, sizeof k->subject);
  json_t *sections = json_array();
  for (int i = 1; i < 64; i++)
    if (k->sections & (UINT64_C(1) << i))
      json_array_append_new(sections, json_string(keten_section_kind_name(i)));
  return json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:s, s:I, s:I, "
                   "s:I, s:b, s:I, s:s}",
                   "consent_id", id, "subject", subject, "recorded_by",
                   k->recorded_by, "recipient", k->recipient, "sections",
                   sections, "purpose", keten_purpose_name(k->purpose), "basis",
                   keten_basis_name(k->basis), "legal_reference",
                   k->legal_reference, "evidence_ref", k->evidence_ref,
                   "valid_from_ms", (json_int_t)k->valid_from_ms,
                   "valid_until_ms", (json_int_t)k->valid_until_ms,
                   "recorded_at_ms", (json_int_t)k->recorded_at_ms, "revoked",
                   k->revoked, "revoked_at_ms", (json_int_t)k->revoked_at_ms,
                   "revoked_by", k->revoked_by);
}

int cmd_consent(int argc, char **argv) {
  static const struct option opts[] = {CLI_CONN_OPTIONS,
                                       {"chain-key", required_argument, NULL, 'K'},
                                       {"to", required_argument, NULL, 't'},
                                       {"linked-gemeente", no_argument, NULL, 'G'},
                                       {"sections", required_argument, NULL, 'S'},
                                       {"purpose", required_argument, NULL, 'p'},
                                       {"basis", required_argument, NULL, 'B'},
                                       {"legal-ref", required_argument, NULL, 'L'},
                                       {"evidence", required_argument, NULL, 'E'},
                                       {"days", required_argument, NULL, 'd'},
                                       {"from-ms", required_argument, NULL, 'F'},
                                       {"reason", required_argument, NULL, 'r'},
                                       {"json", no_argument, NULL, 'j'},
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
  const char *verb = argv[1];
  cli_conn_t conn;
  cli_conn_defaults(&conn);
  const char *chain = NULL, *to = NULL, *sections = NULL, *purpose = NULL,
             *basis = "CONSENT", *legal = "", *evidence = NULL, *reason = "";
  /* evidence: required for grant, optional for revoke */
  long days = 365, from_ms = -1;
  int json = 0, c;
  optind = 1;
  while ((c = getopt_long(argc - 1, argv + 1, CLI_CONN_SHORT "K:t:GS:p:B:L:E:d:F:r:jh",
                          opts, NULL)) != -1) {
    if (cli_conn_option(&conn, c, optarg))
      continue;
    switch (c) {
    case 'K': chain = optarg; break;
    case 't':
    case 'G': {
      const char *r = c == 'G' ? KETEN_LINKED_GEMEENTE : optarg;
      if (to && strcmp(to, r) != 0) {
        fprintf(stderr, "keten consent: one recipient: --to %s or --to %s\n",
                to, r);
        return CLI_EXIT_USAGE;
      }
      to = r;
      break;
    }
    case 'S': sections = optarg; break;
    case 'p': purpose = optarg; break;
    case 'B': basis = optarg; break;
    case 'L': legal = optarg; break;
    case 'E': evidence = optarg; break;
    case 'd': days = cli_number(optarg, 36500); break;
    case 'F': from_ms = cli_number(optarg, 4102444800000L); break;
    case 'r': reason = optarg; break;
    case 'j': json = 1; break;
    case 'h': s_usage(stdout); return CLI_EXIT_OK;
    default: s_usage(stderr); return CLI_EXIT_USAGE;
    }
  }
  int is_grant = !strcmp(verb, "grant"), is_revoke = !strcmp(verb, "revoke"),
      is_list = !strcmp(verb, "list");
  int want_args = is_revoke ? 2 : 1;
  if (!(is_grant || is_revoke || is_list) || optind + 1 + want_args != argc ||
      days < 1) {
    s_usage(stderr);
    return CLI_EXIT_USAGE;
  }
  char **args = argv + 1 + optind;
  uint8_t subject[KETEN_SUBJECT_BYTES];
  if (cli_subject(args[0], chain, subject) != 0)
    return CLI_EXIT_USAGE;

  keten_consent_t k;
  memset(&k, 0, sizeof k);
  uint8_t consent_id[KETEN_CONSENT_ID_BYTES];
  if (is_grant) {
    memcpy(k.subject, subject, sizeof subject);
    if (!to || !sections || !purpose || !evidence) {
      fprintf(stderr, "keten consent grant: --to (or --linked-gemeente), "
                      "--sections, --purpose and --evidence are required\n");
      return CLI_EXIT_USAGE;
    }
    if (strcmp(to, KETEN_LINKED_GEMEENTE) != 0 && !entry_valid_id(to)) {
      fprintf(stderr, "keten consent grant: --to '%s' is neither a participant "
                      "id (like gemeente:0716) nor %s\n", to,
              KETEN_LINKED_GEMEENTE);
      return CLI_EXIT_USAGE;
    }
    snprintf(k.recipient, sizeof k.recipient, "%s", to);
    k.sections = s_parse_sections(sections);
    k.purpose = keten_purpose_from_name(purpose);
    k.basis = keten_basis_from_name(basis);
    if (!k.sections || !k.purpose || !k.basis) {
      fprintf(stderr, "keten consent grant: unknown section kind, purpose or "
                      "basis\n");
      return CLI_EXIT_USAGE;
    }
    snprintf(k.legal_reference, sizeof k.legal_reference, "%s", legal);
    snprintf(k.evidence_ref, sizeof k.evidence_ref, "%s", evidence);
    k.valid_from_ms = from_ms >= 0 ? (uint64_t)from_ms : s_now_ms();
    k.valid_until_ms = k.valid_from_ms + (uint64_t)days * 86400000ULL;
  } else if (is_revoke) {
    size_t got = 0;
    if (strlen(args[1]) != 2 * KETEN_CONSENT_ID_BYTES ||
        sodium_hex2bin(consent_id, sizeof consent_id, args[1], strlen(args[1]),
                       NULL, &got, NULL) != 0 ||
        got != sizeof consent_id) {
      fprintf(stderr, "keten consent revoke: CONSENT-ID must be 32 hex digits\n");
      return CLI_EXIT_USAGE;
    }
  }

  int exit_code = CLI_EXIT_OK;
  keten_client_t *client = cli_connect(&conn, &exit_code);
  if (!client)
    return exit_code;
  keten_err_t rc;
  if (is_grant) {
    rc = keten_client_consent_grant(client, &k);
    if (rc == KETEN_OK) {
      char id[33];
      sodium_bin2hex(id, sizeof id, k.consent_id, sizeof k.consent_id);
      printf("%s\n", id);
    }
  } else if (is_revoke) {
    rc = keten_client_consent_revoke(client, consent_id, subject, reason,
                                     evidence);
    if (rc == KETEN_OK)
      printf("revoked\n");
  } else {
    keten_consent_t *list = NULL;
    size_t n = 0;
    rc = keten_client_consent_list(client, subject, &list, &n);
    for (size_t i = 0; rc == KETEN_OK && i < n; i++) {
      json_t *o = s_consent_json(&list[i]);
      if (json) {
        json_dumpf(o, stdout, JSON_COMPACT);
        putchar('\n');
      } else {
        uint64_t now = s_now_ms();
        const char *state = list[i].revoked                    ? "revoked"
                            : now >= list[i].valid_until_ms    ? "expired"
                            : now < list[i].valid_from_ms      ? "not-yet-valid"
                                                               : "active";
        int linked = strcmp(list[i].recipient, KETEN_LINKED_GEMEENTE) == 0;
        printf("%s %-14s %s -> %s%s %s\n",
               json_string_value(json_object_get(o, "consent_id")), state,
               list[i].recorded_by, list[i].recipient,
               linked ? " (linked gemeente)" : "",
               keten_purpose_name(list[i].purpose));
      }
      json_decref(o);
    }
    free(list);
  }
  if (rc != KETEN_OK)
    fprintf(stderr, "keten consent %s: %s: %s\n", verb, keten_strerror(rc),
            keten_client_error(client));
  keten_client_destroy(&client);
  return cli_exit_for(rc);
}
