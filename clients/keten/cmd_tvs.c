/* keten tvs publish|list|status — the TVS feed (taakstelling-volgsysteem):
 * a TVS participant publishes signed events; a gemeente (or TVS) lists the
 * current koppelingen and a period's figures. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "entry.h"
#include "tvs.h"

/* An event file (--file) is a small JSON object; more is refused. */
#define TVS_FILE_MAX (64 * 1024)
/* The latest time accepted on the command line (2100-01-01). */
#define TIME_MS_MAX 4102444800000L

static void s_usage(FILE *out) {
  fprintf(out,
          "usage: keten tvs publish [options] KIND --gemeente ID [event options]\n"
          "       keten tvs publish [options] --file EVENT.json\n"
          "       keten tvs list [options] [--gemeente ID] [--period P] [--json]\n"
          "       keten tvs status [options] --period P [--gemeente ID] [--json]\n"
          "\n"
          "publish (a TVS participant) signs a TVS event and sends it: the broker\n"
          "appends it to the feed of each gemeente it names, and for a KOPPELING\n"
          "asks the authors whose consents name \"@gemeente\" to seal their\n"
          "sections to the linked gemeente (rewraps). It prints the event id, the\n"
          "feeds it was queued for and the rewrap requests queued, or \"duplicate\"\n"
          "when the same event was published before: to retry a publish whose\n"
          "answer was lost, give the same fields with the --event-id and\n"
          "--published-at it printed (or that you chose). KIND and what each carries:\n"
          "  KOPPELING     --subject --gemeente --period --household [--date]\n"
          "  ONTKOPPELING  --subject --gemeente --reason [--date]\n"
          "  HUISVESTING   --subject --gemeente [--date]\n"
          "  VERHUIZING    --subject --gemeente (the new one) --from (the old one) [--date]\n"
          "  TAAKSTELLING  --gemeente --period --target --realised\n"
          "--date defaults to today. --file reads the event from a JSON object\n"
          "(at most 64 KiB): {\"event\": KIND, \"v_nummer\" or \"subject\" (64 hex),\n"
          "\"gemeente\", \"from_gemeente\", \"period\", \"date\", \"household_size\",\n"
          "\"reason\", \"target\", \"realised\", \"event_id\" (32 hex), \"published_at_ms\"};\n"
          "\"gemeente_name\" and \"from_gemeente_name\" are ignored, any other key\n"
          "is refused.\n"
          "\n"
          "list prints the current koppelingen of a gemeente (default: your own;\n"
          "only TVS may ask for another's), optionally of one period, oldest\n"
          "first: subject, gemeente, period, koppeling date, household size and\n"
          "housing date. status prints a gemeente's figures for a period: the\n"
          "broker's counts of linked and housed persons and the target and\n"
          "realised figures of the latest TAAKSTELLING (TVS and OPERATOR may ask\n"
          "for any gemeente).\n"
          "\n" CLI_CONN_HELP
          "  -K, --chain-key FILE    chain key, to give a V-nummer (env KETEN_CHAIN_KEY)\n"
          "  -s, --subject S         the person: a V-nummer (with --chain-key) or 64 hex\n"
          "  -g, --gemeente ID       the gemeente (VERHUIZING: the new one)\n"
          "  -f, --from ID           VERHUIZING: the gemeente moved from\n"
          "  -p, --period P          taakstelling period YYYY-1 or YYYY-2\n"
          "  -D, --date YYYY-MM-DD   the day it took effect (default today)\n"
          "  -H, --household N       KOPPELING: household size, 1..99\n"
          "  -r, --reason R          ONTKOPPELING: HOUSING_ELSEWHERE, MOVED,\n"
          "                          PERMIT_WITHDRAWN, ERROR or OTHER\n"
          "  -t, --target N          TAAKSTELLING: the target\n"
          "  -a, --realised N        TAAKSTELLING: realised so far\n"
          "  -I, --event-id HEX      32 hex digits: the event's id (default: a new\n"
          "                          random one)\n"
          "  -A, --published-at MS   with --event-id: its publication time, ms since\n"
          "                          the epoch (default now)\n"
          "  -F, --file EVENT.json   publish the event in a JSON file\n"
          "  -j, --json              list, status: print JSON\n"
          "  -h, --help              print this help\n"
          "\n"
          "Exit status: 0 ok (also a duplicate), 1 refused by the broker, 2 usage,\n"
          "3 no connection, 4 local file, 5 the broker's answer failed a check.\n");
}

/* ---- the event's fields ------------------------------------------------------ */

enum {
  F_SUBJECT = 1 << 0,
  F_GEMEENTE = 1 << 1,
  F_FROM = 1 << 2,
  F_PERIOD = 1 << 3,
  F_DATE = 1 << 4,
  F_HOUSEHOLD = 1 << 5,
  F_REASON = 1 << 6,
  F_TARGET = 1 << 7,
  F_REALISED = 1 << 8
};

/* Each field's name on the command line and in an event file. */
static const struct {
  unsigned bit;
  const char *option, *key;
} s_fields[] = {
    {F_SUBJECT, "--subject", "v_nummer/subject"},
    {F_GEMEENTE, "--gemeente", "gemeente"},
    {F_FROM, "--from", "from_gemeente"},
    {F_PERIOD, "--period", "period"},
    {F_DATE, "--date", "date"},
    {F_HOUSEHOLD, "--household", "household_size"},
    {F_REASON, "--reason", "reason"},
    {F_TARGET, "--target", "target"},
    {F_REALISED, "--realised", "realised"},
};

/* What each kind must carry and may carry (docs/protocol.md "TVS events");
 * a date left out is today's. */
static const struct {
  int kind;
  unsigned need, may;
} s_kinds[] = {
    {KETEN_TVS_KOPPELING, F_SUBJECT | F_GEMEENTE | F_PERIOD | F_HOUSEHOLD,
     F_DATE},
    {KETEN_TVS_ONTKOPPELING, F_SUBJECT | F_GEMEENTE | F_REASON, F_DATE},
    {KETEN_TVS_HUISVESTING, F_SUBJECT | F_GEMEENTE, F_DATE},
    {KETEN_TVS_VERHUIZING, F_SUBJECT | F_GEMEENTE | F_FROM, F_DATE},
    {KETEN_TVS_TAAKSTELLING, F_GEMEENTE | F_PERIOD | F_TARGET | F_REALISED, 0},
};

/* An event as given, before it is checked. */
typedef struct {
  int kind;
  unsigned given;          /* F_* */
  const char *subject, *gemeente, *from, *period, *date, *reason, *event_id;
  long household, target, realised;
  long published_at;       /* ms; 0: now */
  int from_file;           /* names fields by their JSON keys */
} s_spec_t;

static const char *s_field_name(const s_spec_t *sp, unsigned bit) {
  for (size_t i = 0; i < sizeof s_fields / sizeof s_fields[0]; i++)
    if (s_fields[i].bit == bit)
      return sp->from_file ? s_fields[i].key : s_fields[i].option;
  return "?";
}

static void s_today(char out[11]) {
  time_t t = time(NULL);
  struct tm tm;
  localtime_r(&t, &tm);
  strftime(out, 11, "%Y-%m-%d", &tm);
}

static int s_hex(const char *hex, uint8_t *out, size_t n) {
  size_t got = 0;
  return strlen(hex) == 2 * n &&
                 sodium_hex2bin(out, n, hex, strlen(hex), NULL, &got, NULL) ==
                     0 &&
                 got == n
             ? 0
             : -1;
}

/* Checks sp against the rules of its kind and fills ev. Prints why and
 * returns -1 when it does not hold. */
static int s_build(const s_spec_t *sp, const char *chain, const char *who,
                   keten_tvs_event_t *ev) {
  memset(ev, 0, sizeof *ev);
  size_t k = 0;
  while (k < sizeof s_kinds / sizeof s_kinds[0] && s_kinds[k].kind != sp->kind)
    k++;
  if (k == sizeof s_kinds / sizeof s_kinds[0]) {
    fprintf(stderr, "%s: unknown event kind (KOPPELING, ONTKOPPELING, "
                    "HUISVESTING, VERHUIZING or TAAKSTELLING)\n", who);
    return -1;
  }
  const char *kind = keten_tvs_kind_name(sp->kind);
  for (size_t i = 0; i < sizeof s_fields / sizeof s_fields[0]; i++) {
    unsigned bit = s_fields[i].bit;
    if ((s_kinds[k].need & bit) && !(sp->given & bit)) {
      fprintf(stderr, "%s: %s needs %s\n", who, kind, s_field_name(sp, bit));
      return -1;
    }
    if ((sp->given & bit) && !((s_kinds[k].need | s_kinds[k].may) & bit)) {
      fprintf(stderr, "%s: %s carries no %s\n", who, kind,
              s_field_name(sp, bit));
      return -1;
    }
  }
  ev->kind = sp->kind;
  if (sp->event_id && s_hex(sp->event_id, ev->event_id, sizeof ev->event_id)) {
    fprintf(stderr, "%s: the event id must be 32 hex digits\n", who);
    return -1;
  }
  if (sp->published_at && !sp->event_id) {
    fprintf(stderr, "%s: a publication time goes with the event id of the "
                    "event it was published with\n", who);
    return -1;
  }
  ev->published_at_ms = (uint64_t)sp->published_at;
  if ((sp->given & F_SUBJECT) && cli_subject(sp->subject, chain, ev->subject))
    return -1;
  if (!entry_valid_id(sp->gemeente) ||
      strlen(sp->gemeente) >= sizeof ev->gemeente) {
    fprintf(stderr, "%s: %s '%s' is not a participant id\n", who,
            s_field_name(sp, F_GEMEENTE), sp->gemeente);
    return -1;
  }
  snprintf(ev->gemeente, sizeof ev->gemeente, "%s", sp->gemeente);
  if (sp->given & F_FROM) {
    if (!entry_valid_id(sp->from) || strlen(sp->from) >= sizeof ev->from_gemeente) {
      fprintf(stderr, "%s: %s '%s' is not a participant id\n", who,
              s_field_name(sp, F_FROM), sp->from);
      return -1;
    }
    if (strcmp(sp->from, sp->gemeente) == 0) {
      fprintf(stderr, "%s: a VERHUIZING moves from another gemeente than "
                      "%s\n", who, sp->gemeente);
      return -1;
    }
    snprintf(ev->from_gemeente, sizeof ev->from_gemeente, "%s", sp->from);
  }
  if (sp->given & F_PERIOD) {
    if (!tvs_valid_period(sp->period)) {
      fprintf(stderr, "%s: %s '%s' is not YYYY-1 or YYYY-2\n", who,
              s_field_name(sp, F_PERIOD), sp->period);
      return -1;
    }
    snprintf(ev->period, sizeof ev->period, "%s", sp->period);
  }
  if (sp->given & F_DATE) {
    if (!tvs_valid_date(sp->date)) {
      fprintf(stderr, "%s: %s '%s' is not a day YYYY-MM-DD\n", who,
              s_field_name(sp, F_DATE), sp->date);
      return -1;
    }
    snprintf(ev->date, sizeof ev->date, "%s", sp->date);
  } else if (s_kinds[k].may & F_DATE) {
    s_today(ev->date);
  }
  if (sp->given & F_HOUSEHOLD) {
    if (sp->household < 1 || sp->household > TVS_MAX_HOUSEHOLD) {
      fprintf(stderr, "%s: %s must be 1..%d\n", who,
              s_field_name(sp, F_HOUSEHOLD), TVS_MAX_HOUSEHOLD);
      return -1;
    }
    ev->household_size = (uint32_t)sp->household;
  }
  if (sp->given & F_REASON) {
    ev->reason = keten_tvs_reason_from_name(sp->reason);
    if (!ev->reason) {
      fprintf(stderr, "%s: %s '%s' is not HOUSING_ELSEWHERE, MOVED, "
                      "PERMIT_WITHDRAWN, ERROR or OTHER\n", who,
              s_field_name(sp, F_REASON), sp->reason);
      return -1;
    }
  }
  if (sp->given & (F_TARGET | F_REALISED)) {
    if (sp->target < 0 || sp->target > (long)UINT32_MAX || sp->realised < 0 ||
        sp->realised > (long)UINT32_MAX) {
      fprintf(stderr, "%s: %s and %s must be whole numbers 0..%lu\n", who,
              s_field_name(sp, F_TARGET), s_field_name(sp, F_REALISED),
              (unsigned long)UINT32_MAX);
      return -1;
    }
    ev->target = (uint32_t)sp->target;
    ev->realised = (uint32_t)sp->realised;
  }
  return 0;
}

/* Reads an event file (the shared example format) into sp; the strings
 * point into *doc, which the caller frees. Prints why and returns -1 when
 * the file cannot be used. */
static int s_read_file(const char *path, s_spec_t *sp, json_t **doc) {
  const char *who = "keten tvs publish";
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "%s: %s: %s\n", who, path, strerror(errno));
    return -1;
  }
  char *buf = malloc(TVS_FILE_MAX + 1);
  size_t n = buf ? fread(buf, 1, TVS_FILE_MAX + 1, f) : 0;
  int bad = !buf || ferror(f);
  fclose(f);
  if (bad || n > TVS_FILE_MAX) {
    fprintf(stderr, "%s: %s: %s\n", who, path,
            bad ? "cannot read it" : "larger than 64 KiB");
    free(buf);
    return -1;
  }
  json_error_t jerr;
  *doc = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &jerr);
  free(buf);
  if (!*doc || !json_is_object(*doc)) {
    fprintf(stderr, "%s: %s: %s\n", who, path,
            *doc ? "not a JSON object" : jerr.text);
    return -1;
  }
  memset(sp, 0, sizeof *sp);
  sp->from_file = 1;
  const char *key;
  json_t *v;
  json_object_foreach(*doc, key, v) {
    if (json_is_null(v) || !strcmp(key, "gemeente_name") ||
        !strcmp(key, "from_gemeente_name"))
      continue;
    const char **str = NULL;
    long *num = NULL;
    unsigned bit = 0;
    if (!strcmp(key, "event")) {
      if (!json_is_string(v) ||
          !(sp->kind = keten_tvs_kind_from_name(json_string_value(v)))) {
        fprintf(stderr, "%s: %s: \"event\" must be KOPPELING, ONTKOPPELING, "
                        "HUISVESTING, VERHUIZING or TAAKSTELLING\n", who, path);
        return -1;
      }
      continue;
    }
    if (!strcmp(key, "v_nummer") || !strcmp(key, "subject")) {
      if (sp->given & F_SUBJECT) {
        fprintf(stderr, "%s: %s: give \"v_nummer\" or \"subject\", not both\n",
                who, path);
        return -1;
      }
      str = &sp->subject, bit = F_SUBJECT;
    } else if (!strcmp(key, "gemeente")) {
      str = &sp->gemeente, bit = F_GEMEENTE;
    } else if (!strcmp(key, "from_gemeente")) {
      str = &sp->from, bit = F_FROM;
    } else if (!strcmp(key, "period")) {
      str = &sp->period, bit = F_PERIOD;
    } else if (!strcmp(key, "date")) {
      str = &sp->date, bit = F_DATE;
    } else if (!strcmp(key, "reason")) {
      str = &sp->reason, bit = F_REASON;
    } else if (!strcmp(key, "event_id")) {
      str = &sp->event_id;
    } else if (!strcmp(key, "household_size")) {
      num = &sp->household, bit = F_HOUSEHOLD;
    } else if (!strcmp(key, "target")) {
      num = &sp->target, bit = F_TARGET;
    } else if (!strcmp(key, "realised")) {
      num = &sp->realised, bit = F_REALISED;
    } else if (!strcmp(key, "published_at_ms")) {
      if (!json_is_integer(v) || json_integer_value(v) < 1 ||
          json_integer_value(v) > TIME_MS_MAX) {
        fprintf(stderr, "%s: %s: \"published_at_ms\" must be ms since the "
                        "epoch\n", who, path);
        return -1;
      }
      sp->published_at = (long)json_integer_value(v);
      continue;
    } else {
      fprintf(stderr, "%s: %s: unknown key \"%s\"\n", who, path, key);
      return -1;
    }
    if (str && !json_is_string(v)) {
      fprintf(stderr, "%s: %s: \"%s\" must be a string\n", who, path, key);
      return -1;
    }
    if (num && (!json_is_integer(v) || json_integer_value(v) < 0 ||
                json_integer_value(v) > (json_int_t)UINT32_MAX)) {
      fprintf(stderr, "%s: %s: \"%s\" must be a whole number 0..%lu\n", who,
              path, key, (unsigned long)UINT32_MAX);
      return -1;
    }
    if (str)
      *str = json_string_value(v);
    else
      *num = (long)json_integer_value(v);
    sp->given |= bit;
  }
  if (!sp->kind) {
    fprintf(stderr, "%s: %s: \"event\" (the kind) is missing\n", who, path);
    return -1;
  }
  return 0;
}

/* ---- output ------------------------------------------------------------------ */

json_t *cli_tvs_event_json(const keten_tvs_event_t *ev) {
  char id[33], subject[65] = "";
  sodium_bin2hex(id, sizeof id, ev->event_id, sizeof ev->event_id);
  if (!sodium_is_zero(ev->subject, sizeof ev->subject))
    sodium_bin2hex(subject, sizeof subject, ev->subject, sizeof ev->subject);
  const char *kind = keten_tvs_kind_name(ev->kind);
  const char *reason = ev->reason ? keten_tvs_reason_name(ev->reason) : "";
  return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:I, "
                   "s:s, s:I}",
                   "event", kind ? kind : "UNKNOWN", "event_id", id, "subject",
                   subject, "gemeente", ev->gemeente, "from_gemeente",
                   ev->from_gemeente, "period", ev->period, "date", ev->date,
                   "household_size", (json_int_t)ev->household_size, "reason",
                   reason ? reason : "UNKNOWN", "target",
                   (json_int_t)ev->target, "realised",
                   (json_int_t)ev->realised, "published_by", ev->published_by,
                   "published_at_ms", (json_int_t)ev->published_at_ms);
}

static void s_time(char out[32], uint64_t ms) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *s_link_json(const keten_tvs_link_t *k) {
  char subject[65], id[33];
  sodium_bin2hex(subject, sizeof subject, k->subject, sizeof k->subject);
  sodium_bin2hex(id, sizeof id, k->koppeling_event_id, sizeof k->koppeling_event_id);
  return json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s}", "subject", subject,
                   "gemeente", k->gemeente, "period", k->period, "linked_date",
                   k->linked_date, "household_size",
                   (json_int_t)k->household_size, "housed_date", k->housed_date,
                   "koppeling_event_id", id);
}

static void s_print_json(json_t *o) {
  if (o) {
    json_dumpf(o, stdout, JSON_COMPACT | JSON_SORT_KEYS);
    putchar('\n');
    json_decref(o);
  }
}

/* ---- the verbs ---------------------------------------------------------------- */

static int s_publish(keten_client_t *client, keten_tvs_event_t *ev) {
  keten_tvs_published_t res;
  memset(&res, 0, sizeof res);
  keten_err_t rc = keten_client_tvs_publish(client, ev, &res);
  if (rc != KETEN_OK) {
    fprintf(stderr, "keten tvs publish: %s: %s\n", keten_strerror(rc),
            keten_client_error(client));
    return cli_exit_for(rc);
  }
  char id[33];
  sodium_bin2hex(id, sizeof id, ev->event_id, sizeof ev->event_id);
  const char *kind = keten_tvs_kind_name(ev->kind);
  if (res.duplicate) {
    printf("duplicate: %s event %s was published before; nothing changed\n",
           kind, id);
    return CLI_EXIT_OK;
  }
  printf("published %s event %s (published_at_ms %llu); queued for", kind, id,
         (unsigned long long)ev->published_at_ms);
  for (size_t i = 0; i < res.n_queued && i < 2; i++)
    printf("%s %s", i ? "," : "", res.queued[i]);
  if (res.n_queued == 0)
    printf(" no feed");
  if (ev->kind == KETEN_TVS_KOPPELING)
    printf("; %u rewrap request(s) queued", res.rewraps_queued);
  printf("\n");
  return CLI_EXIT_OK;
}

static int s_list(keten_client_t *client, const char *gemeente,
                  const char *period, int json) {
  keten_tvs_link_t *links = NULL;
  size_t n = 0;
  int truncated = 0;
  keten_err_t rc =
      keten_client_tvs_list(client, gemeente, period, &links, &n, &truncated);
  if (rc != KETEN_OK) {
    fprintf(stderr, "keten tvs list: %s: %s\n", keten_strerror(rc),
            keten_client_error(client));
    return cli_exit_for(rc);
  }
  for (size_t i = 0; i < n; i++) {
    if (json) {
      s_print_json(s_link_json(&links[i]));
      continue;
    }
    char subject[65];
    sodium_bin2hex(subject, sizeof subject, links[i].subject, KETEN_SUBJECT_BYTES);
    printf("%s %s %s linked %s household %u %s%s\n", subject,
           links[i].gemeente, links[i].period, links[i].linked_date,
           links[i].household_size,
           links[i].housed_date[0] ? "housed " : "not housed",
           links[i].housed_date);
  }
  if (truncated)
    fprintf(stderr, "keten tvs list: the broker cut the list at %zu "
                    "koppelingen; ask per period\n", n);
  free(links);
  return CLI_EXIT_OK;
}

static int s_status(keten_client_t *client, const char *gemeente,
                    const char *period, int json) {
  keten_tvs_status_t st;
  memset(&st, 0, sizeof st);
  keten_err_t rc = keten_client_tvs_status(client, gemeente, period, &st);
  if (rc != KETEN_OK) {
    fprintf(stderr, "keten tvs status: %s: %s\n", keten_strerror(rc),
            keten_client_error(client));
    return cli_exit_for(rc);
  }
  if (json) {
    s_print_json(json_pack("{s:s, s:s, s:I, s:I, s:b, s:I, s:I, s:I}",
                           "gemeente", st.gemeente, "period", st.period,
                           "linked", (json_int_t)st.linked, "housed",
                           (json_int_t)st.housed, "has_target", st.has_target,
                           "target", (json_int_t)st.target, "realised",
                           (json_int_t)st.realised, "updated_at_ms",
                           (json_int_t)st.updated_at_ms));
    return CLI_EXIT_OK;
  }
  printf("%s %s: linked %u, housed %u (the broker's count)\n", st.gemeente,
         st.period, st.linked, st.housed);
  if (st.has_target) {
    char when[32];
    s_time(when, st.updated_at_ms);
    printf("%s %s: taakstelling %u, realised %u (TVS, published %s)\n",
           st.gemeente, st.period, st.target, st.realised, when);
  } else {
    printf("%s %s: no TAAKSTELLING published for this period\n", st.gemeente,
           st.period);
  }
  return CLI_EXIT_OK;
}

int cmd_tvs(int argc, char **argv) {
  static const struct option opts[] = {CLI_CONN_OPTIONS,
                                       {"chain-key", required_argument, NULL, 'K'},
                                       {"subject", required_argument, NULL, 's'},
                                       {"gemeente", required_argument, NULL, 'g'},
                                       {"from", required_argument, NULL, 'f'},
                                       {"period", required_argument, NULL, 'p'},
                                       {"date", required_argument, NULL, 'D'},
                                       {"household", required_argument, NULL, 'H'},
                                       {"reason", required_argument, NULL, 'r'},
                                       {"target", required_argument, NULL, 't'},
                                       {"realised", required_argument, NULL, 'a'},
                                       {"event-id", required_argument, NULL, 'I'},
                                       {"published-at", required_argument, NULL, 'A'},
                                       {"file", required_argument, NULL, 'F'},
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
  int is_publish = !strcmp(verb, "publish"), is_list = !strcmp(verb, "list"),
      is_status = !strcmp(verb, "status");
  if (!is_publish && !is_list && !is_status) {
    fprintf(stderr, "keten tvs: unknown verb '%s'\n", verb);
    s_usage(stderr);
    return CLI_EXIT_USAGE;
  }
  cli_conn_t conn;
  cli_conn_defaults(&conn);
  s_spec_t sp;
  memset(&sp, 0, sizeof sp);
  const char *chain = NULL, *file = NULL;
  int json = 0, c, bad_number = 0;
  optind = 1;
  while ((c = getopt_long(argc - 1, argv + 1,
                          CLI_CONN_SHORT "K:s:g:f:p:D:H:r:t:a:I:A:F:jh", opts,
                          NULL)) != -1) {
    if (cli_conn_option(&conn, c, optarg))
      continue;
    switch (c) {
    case 'K': chain = optarg; break;
    case 's': sp.subject = optarg, sp.given |= F_SUBJECT; break;
    case 'g': sp.gemeente = optarg, sp.given |= F_GEMEENTE; break;
    case 'f': sp.from = optarg, sp.given |= F_FROM; break;
    case 'p': sp.period = optarg, sp.given |= F_PERIOD; break;
    case 'D': sp.date = optarg, sp.given |= F_DATE; break;
    case 'H':
      sp.household = cli_number(optarg, TVS_MAX_HOUSEHOLD);
      sp.given |= F_HOUSEHOLD;
      bad_number |= sp.household < 1;
      break;
    case 'r': sp.reason = optarg, sp.given |= F_REASON; break;
    case 't':
      sp.target = cli_number(optarg, (long)UINT32_MAX);
      sp.given |= F_TARGET;
      bad_number |= sp.target < 0;
      break;
    case 'a':
      sp.realised = cli_number(optarg, (long)UINT32_MAX);
      sp.given |= F_REALISED;
      bad_number |= sp.realised < 0;
      break;
    case 'I': sp.event_id = optarg; break;
    case 'A':
      sp.published_at = cli_number(optarg, TIME_MS_MAX);
      bad_number |= sp.published_at < 1;
      break;
    case 'F': file = optarg; break;
    case 'j': json = 1; break;
    case 'h': s_usage(stdout); return CLI_EXIT_OK;
    default: s_usage(stderr); return CLI_EXIT_USAGE;
    }
  }
  char **args = argv + 1 + optind;
  int n_args = argc - 1 - optind;
  const char *who = is_publish ? "keten tvs publish"
                    : is_list  ? "keten tvs list"
                               : "keten tvs status";
  if (bad_number) {
    fprintf(stderr, "%s: --household must be 1..%d, --target and --realised "
                    "whole numbers, --published-at ms since the epoch\n", who,
            TVS_MAX_HOUSEHOLD);
    return CLI_EXIT_USAGE;
  }

  keten_tvs_event_t ev;
  json_t *doc = NULL;
  if (is_publish) {
    if (json) {
      fprintf(stderr, "%s: --json is for list and status\n", who);
      return CLI_EXIT_USAGE;
    }
    if (file) {
      if (n_args != 0 || sp.given || sp.event_id || sp.published_at) {
        fprintf(stderr, "%s: --file takes the event from the file: no KIND "
                        "nor event options beside it\n", who);
        return CLI_EXIT_USAGE;
      }
      int rc = s_read_file(file, &sp, &doc) != 0 ||
               s_build(&sp, chain, who, &ev) != 0;
      json_decref(doc);
      if (rc)
        return CLI_EXIT_LOCAL;
    } else {
      if (n_args != 1) {
        s_usage(stderr);
        return CLI_EXIT_USAGE;
      }
      sp.kind = keten_tvs_kind_from_name(args[0]);
      if (s_build(&sp, chain, who, &ev) != 0)
        return CLI_EXIT_USAGE;
    }
  } else {
    if (n_args != 0 || file || sp.event_id || sp.published_at ||
        (sp.given & ~(unsigned)(F_GEMEENTE | F_PERIOD))) {
      fprintf(stderr, "%s: takes only --gemeente, --period and --json\n", who);
      return CLI_EXIT_USAGE;
    }
    if (is_status && !(sp.given & F_PERIOD)) {
      fprintf(stderr, "%s: --period is required\n", who);
      return CLI_EXIT_USAGE;
    }
    if ((sp.given & F_PERIOD) && !tvs_valid_period(sp.period)) {
      fprintf(stderr, "%s: --period '%s' is not YYYY-1 or YYYY-2\n", who,
              sp.period);
      return CLI_EXIT_USAGE;
    }
    if ((sp.given & F_GEMEENTE) && !entry_valid_id(sp.gemeente)) {
      fprintf(stderr, "%s: --gemeente '%s' is not a participant id\n", who,
              sp.gemeente);
      return CLI_EXIT_USAGE;
    }
  }

  int exit_code = CLI_EXIT_OK;
  keten_client_t *client = cli_connect(&conn, &exit_code);
  if (!client)
    return exit_code;
  if (is_publish)
    exit_code = s_publish(client, &ev);
  else if (is_list)
    exit_code = s_list(client, sp.gemeente, sp.period, json);
  else
    exit_code = s_status(client, sp.gemeente, sp.period, json);
  keten_client_destroy(&client);
  return exit_code;
}
