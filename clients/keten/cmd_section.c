/* keten put / fetch / listen — sections of a subject's profile; listen
 * also writes the TVS feed, serves rewraps and obeys delete notices. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "listen_name.h"

#define SECTION_OPTIONS                                                     \
  CLI_CONN_OPTIONS, {"chain-key", required_argument, NULL, 'K'},            \
      {"help", no_argument, NULL, 'h'}
#define SECTION_HELP                                                        \
  CLI_CONN_HELP                                                             \
  "  -K, --chain-key FILE    chain key, to give SUBJECT as a V-nummer (env KETEN_CHAIN_KEY)\n" \
  "  -h, --help              print this help\n"

/* One opened section as a JSON object: header fields and the data. */
static json_t *s_section_json(const keten_section_t *s) {
  char subject[2 * KETEN_SUBJECT_BYTES + 1];
  sodium_bin2hex(subject, sizeof subject, s->header.subject,
                 KETEN_SUBJECT_BYTES);
  json_error_t jerr;
  json_t *data = json_loadb(s->json, s->json_len, 0, &jerr);
  if (!data)
    data = json_stringn(s->json, s->json_len);
  return json_pack("{s:s, s:s, s:s, s:I, s:I, s:o}", "subject", subject,
                   "kind", keten_section_kind_name(s->header.kind), "author",
                   s->header.author, "version", (json_int_t)s->header.version,
                   "created_at_ms", (json_int_t)s->header.created_at_ms,
                   "data", data);
}

/* Parses the options shared by put and fetch and the subject, which must
 * be followed by exactly n_rest more arguments. Returns -1 when parsing
 * went on, else the exit code to return at once. */
/* --retain-until (put only; retain NULL for fetch): its argument into
 * *retain. Long only: -R is --root-key. */
enum { S_OPT_RETAIN = 1000 };
static int s_parse_common(int argc, char **argv, void (*usage)(FILE *),
                          cli_conn_t *conn, int n_rest,
                          uint8_t subject[KETEN_SUBJECT_BYTES],
                          const char **retain) {
  static const struct option opts[] = {
      SECTION_OPTIONS, {"retain-until", required_argument, NULL, S_OPT_RETAIN},
      {NULL, 0, NULL, 0}};
  cli_conn_defaults(conn);
  const char *chain = NULL;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, CLI_CONN_SHORT "K:h", opts, NULL)) != -1) {
    if (cli_conn_option(conn, c, optarg))
      continue;
    if (c == S_OPT_RETAIN && retain) {
      *retain = optarg;
      continue;
    }
    switch (c) {
    case 'K': chain = optarg; break;
    case 'h': usage(stdout); return CLI_EXIT_OK;
    default: usage(stderr); return CLI_EXIT_USAGE;
    }
  }
  if (optind != argc - 1 - n_rest) {
    usage(stderr);
    return CLI_EXIT_USAGE;
  }
  if (cli_subject(argv[optind], chain, subject) != 0)
    return CLI_EXIT_USAGE;
  return -1;
}

static void s_usage_put(FILE *out) {
  fprintf(out,
          "usage: keten put [options] SUBJECT KIND FILE.json\n"
          "\n"
          "Seals FILE.json as the next version of section KIND (IDENTITY, STORY,\n"
          "HEALTH, ...) of SUBJECT, to yourself and to every partner one of your\n"
          "own consents allows now (each checked: its root-signed entry, your\n"
          "signature on the consent, the policy), signs it, and stores it. Exits\n"
          "0 once the broker says it is durable, 5 if the broker's evidence does\n"
          "not hold, 4 if FILE.json does not conform to the schema of KIND\n"
          "(docs/sections.md 3; see keten validate). SUBJECT is a 64-hex pseudonym, or a V-nummer with --chain-key.\n"
          "The broker erases this version (and the older ones of SUBJECT, KIND\n"
          "and you) after the kind's default retention, or after --retain-until.\n"
          "\n"
          "      --retain-until DATE|MS  erase after DATE (YYYY-MM-DD, 00:00 UTC)\n"
          "                          or MS (ms since the epoch): after now and at\n"
          "                          most 30 years ahead (docs/sections.md)\n"
          SECTION_HELP);
}

/* --retain-until: "YYYY-MM-DD" (00:00 UTC) or digits (ms since the
 * epoch) into *ms. 0, or -1. */
static int s_retain_ms(const char *arg, uint64_t *ms) {
  size_t n = strlen(arg);
  if (n > 0 && n <= 19 && strspn(arg, "0123456789") == n) {
    errno = 0;
    unsigned long long v = strtoull(arg, NULL, 10);
    if (errno || v == 0)
      return -1;
    *ms = v;
    return 0;
  }
  static const int days_in[12] = {31, 29, 31, 30, 31, 30,
                                  31, 31, 30, 31, 30, 31};
  int y, m, d;
  char tail;
  if (sscanf(arg, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || n != 10 ||
      y < 1970 || m < 1 || m > 12 || d < 1 || d > days_in[m - 1] ||
      (m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))))
    return -1;
  /* days from civil (Howard Hinnant's algorithm), as cmd_root.c does */
  y -= m <= 2;
  int64_t era = y / 400, yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  *ms = (uint64_t)((era * 146097 + doe - 719468) * INT64_C(86400000));
  return 0;
}

int cmd_put(int argc, char **argv) {
  cli_conn_t conn;
  uint8_t subject[KETEN_SUBJECT_BYTES];
  const char *retain = NULL;
  int early = s_parse_common(argc, argv, s_usage_put, &conn, 2, subject,
                             &retain);
  if (early >= 0)
    return early;
  uint64_t retain_ms = 0; /* 0: the kind's default */
  if (retain && s_retain_ms(retain, &retain_ms) != 0) {
    fprintf(stderr, "keten put: --retain-until %s: not a date (YYYY-MM-DD) "
                    "nor ms since the epoch\n", retain);
    return CLI_EXIT_USAGE;
  }
  int kind = keten_section_kind_from_name(argv[optind + 1]);
  if (!kind) {
    fprintf(stderr, "keten put: unknown section kind '%s'\n", argv[optind + 1]);
    return CLI_EXIT_USAGE;
  }
  json_error_t jerr;
  json_t *doc = json_load_file(argv[optind + 2], JSON_REJECT_DUPLICATES, &jerr);
  if (!doc) {
    fprintf(stderr, "keten put: %s: line %d: %s\n", argv[optind + 2], jerr.line,
            jerr.text);
    return CLI_EXIT_LOCAL;
  }
  char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(doc);
  if (!text)
    return CLI_EXIT_LOCAL;
  /* The kind's schema before connecting (libketen checks again). */
  char why[384];
  if (keten_section_validate(kind, text, strlen(text), why, sizeof why) !=
      KETEN_OK) {
    fprintf(stderr, "keten put: %s: does not conform to the %s schema "
                    "(docs/sections.md 3): %s; nothing was sent\n",
            argv[optind + 2], keten_section_kind_name(kind), why);
    sodium_memzero(text, strlen(text));
    free(text);
    return CLI_EXIT_LOCAL;
  }
  int exit_code = CLI_EXIT_OK;
  keten_client_t *client = cli_connect(&conn, &exit_code);
  if (!client) {
    free(text);
    return exit_code;
  }
  keten_put_result_t res;
  keten_err_t rc = keten_client_put_retained(client, subject, kind, text,
                                             strlen(text), retain_ms, &res);
  sodium_memzero(text, strlen(text));
  free(text);
  if (rc != KETEN_OK) {
    fprintf(stderr, "keten put: %s: %s\n", keten_strerror(rc),
            keten_client_error(client));
  } else {
    printf("stored %s version %llu, queued for %zu recipient(s):",
           keten_section_kind_name(kind), (unsigned long long)res.version,
           res.n_queued);
    for (size_t i = 0; i < res.n_queued && i < 16; i++)
      printf(" %s", res.queued[i]);
    printf("\n");
  }
  keten_client_destroy(&client);
  return rc == KETEN_ERR_SCHEMA ? CLI_EXIT_LOCAL : cli_exit_for(rc);
}

static void s_usage_fetch(FILE *out) {
  fprintf(out,
          "usage: keten fetch [options] SUBJECT\n"
          "\n"
          "Fetches every section of SUBJECT you may read (the latest version per\n"
          "kind and author, page after page), checks each author's root-signed\n"
          "registry entry, verifies the author's signature, opens it, and prints\n"
          "those that opened as a JSON array. Each one that does not open is left\n"
          "out and named on stderr as \"skipped KIND by AUTHOR vVERSION: WHY\";\n"
          "then the exit status is 6 (the others are still printed). So is one\n"
          "that opens but does not conform to its kind's schema\n"
          "(docs/sections.md 3; WHY gives the JSON pointer and the rule). Refused\n"
          "(exit 1) when no section may be disclosed to you; the broker audits\n"
          "every disclosure and refusal.\n"
          "\n" SECTION_HELP);
}

/* Prints s with every byte that is not printable ASCII as '?'. */
static void s_put_printable(FILE *out, const char *s) {
  for (; s && *s; s++)
    fputc(*s >= 0x20 && *s < 0x7f ? *s : '?', out);
}

int cmd_fetch(int argc, char **argv) {
  cli_conn_t conn;
  uint8_t subject[KETEN_SUBJECT_BYTES];
  int early = s_parse_common(argc, argv, s_usage_fetch, &conn, 0, subject, NULL);
  if (early >= 0)
    return early;
  int exit_code = CLI_EXIT_OK;
  keten_client_t *client = cli_connect(&conn, &exit_code);
  if (!client)
    return exit_code;
  keten_fetch_result_t res;
  keten_err_t rc = keten_client_fetch_all(client, subject, &res);
  if (rc != KETEN_OK) {
    fprintf(stderr, "keten fetch: %s: %s\n", keten_strerror(rc),
            keten_client_error(client));
  } else {
    json_t *arr = json_array();
    size_t printed = 0;
    for (size_t i = 0; arr && i < res.n_sections; i++) {
      json_t *one = s_section_json(&res.sections[i]);
      if (one && json_array_append_new(arr, one) == 0)
        printed++;
    }
    if (!arr || json_dumpf(arr, stdout, JSON_INDENT(2)) != 0 ||
        putchar('\n') == EOF || fflush(stdout) != 0 ||
        printed != res.n_sections) {
      fprintf(stderr, "keten fetch: cannot print the sections\n");
      exit_code = CLI_EXIT_LOCAL;
    }
    json_decref(arr);
    /* One line per section that did not open: the others are not hidden
     * by it, and it is not hidden by them. */
    for (size_t i = 0; i < res.n_failures; i++) {
      const keten_fetch_failure_t *f = &res.failures[i];
      const char *kind = keten_section_kind_name(f->kind);
      fputs("skipped ", stderr);
      if (kind)
        fputs(kind, stderr);
      else
        fprintf(stderr, "kind %d", f->kind);
      fputs(" by ", stderr);
      s_put_printable(stderr, f->author[0] ? f->author : "?");
      fprintf(stderr, " v%llu: ", (unsigned long long)f->version);
      s_put_printable(stderr, f->reason);
      fputc('\n', stderr);
    }
    if (res.n_failures > 0 && exit_code == CLI_EXIT_OK)
      exit_code = CLI_EXIT_PARTIAL;
  }
  keten_fetch_result_free(&res);
  keten_client_destroy(&client);
  return rc != KETEN_OK ? cli_exit_for(rc) : exit_code;
}

/* ---- listen --------------------------------------------------------------- */

/* Files of a section copy are at most this big when a delete notice checks
 * whose they are. */
#define LISTEN_FILE_MAX (16 * 1024 * 1024)

typedef struct {
  const char *dir;      /* NULL: JSON lines on stdout */
  long count, max;      /* sections */
  long notices, tvs_events, rewraps, refused, deleted, quarantined;
  long activity;        /* anything that came (for --idle) */
  int failed;
  keten_client_t *client; /* for the reason of what did not open */
  /* --confirm (stdout mode): each line is acked to the broker only once
   * the consumer wrote "ack SEQ" (cumulative) on listen's stdin. */
  int confirm;
  uint64_t seq;         /* the item in hand */
  uint64_t confirmed;   /* the highest seq the consumer confirmed */
  uint64_t unconfirmed; /* the seq of a line written but not confirmed */
  int halt;             /* stdin ended or failed: hand over and ack nothing more */
  int consumer_error;   /* the consumer wrote something that is not an ack */
  char in[128];         /* a partial line from stdin */
  size_t in_len;
} s_listen_t;

static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig) {
  (void)sig;
  s_stop = 1;
}

/* A status line: on stdout when the files go to --dir, else on stderr
 * (stdout then carries the JSON lines). */
static void s_say(const s_listen_t *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void s_say(const s_listen_t *l, const char *fmt, ...) {
  FILE *out = l->dir ? stdout : stderr;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(out, fmt, ap);
  va_end(ap);
  fflush(out);
}

/* One line the consumer wrote on stdin: "ack SEQ". 0, or -1 (and
 * l->consumer_error) for anything else or an ack of a seq not yet written. */
static int s_confirm_line(s_listen_t *l, const char *line) {
  const char *p = line;
  if (strncmp(p, "ack ", 4) == 0 && p[4] >= '0' && p[4] <= '9') {
    uint64_t v = 0;
    for (p += 4; *p >= '0' && *p <= '9'; p++) {
      if (v > (UINT64_MAX - 9) / 10)
        break;
      v = v * 10 + (uint64_t)(*p - '0');
    }
    if (*p == '\0' && v <= l->seq) {
      if (v > l->confirmed)
        l->confirmed = v;
      return 0;
    }
    if (*p == '\0') {
      fprintf(stderr, "keten listen: the consumer acked %llu, which was not "
                      "written yet (the last line is %llu)\n",
              (unsigned long long)v, (unsigned long long)l->seq);
      l->consumer_error = 1;
      return -1;
    }
  }
  fprintf(stderr, "keten listen: the consumer wrote a line on stdin that is "
                  "not \"ack SEQ\"\n");
  l->consumer_error = 1;
  return -1;
}

/* --confirm: reads what the consumer wrote on stdin, waiting up to
 * timeout_ms for it. 0, or -1 when stdin ended or failed or the consumer
 * wrote something else: then nothing more is acked (l->halt). */
static int s_read_stdin(s_listen_t *l, int timeout_ms) {
  struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
  int pr = poll(&pfd, 1, timeout_ms);
  if (pr < 0 && errno == EINTR)
    return 0;
  if (pr < 0) {
    fprintf(stderr, "keten listen: stdin: %s\n", strerror(errno));
    l->halt = 1;
    return -1;
  }
  if (pr == 0)
    return 0;
  ssize_t n = read(STDIN_FILENO, l->in + l->in_len, sizeof l->in - 1 - l->in_len);
  if (n < 0 && errno == EINTR)
    return 0;
  if (n <= 0) {
    if (n < 0)
      fprintf(stderr, "keten listen: stdin: %s\n", strerror(errno));
    l->halt = 1; /* EOF: the consumer is gone; what it did not confirm comes again */
    return -1;
  }
  l->in_len += (size_t)n;
  char *nl;
  while ((nl = memchr(l->in, '\n', l->in_len)) != NULL) {
    *nl = '\0';
    if (s_confirm_line(l, l->in) != 0) {
      l->halt = 1;
      return -1;
    }
    size_t used = (size_t)(nl - l->in) + 1;
    memmove(l->in, nl + 1, l->in_len - used);
    l->in_len -= used;
  }
  if (l->in_len == sizeof l->in - 1) {
    fprintf(stderr, "keten listen: the consumer wrote a line on stdin that "
                    "is too long\n");
    l->consumer_error = 1;
    l->halt = 1;
    return -1;
  }
  return 0;
}

/* --confirm: waits until the consumer confirmed seq (or a later one).
 * 0, or -1 when stdin ended or failed, the consumer wrote something else,
 * or a signal came: then nothing more is acked (l->halt). */
static int s_wait_confirm(s_listen_t *l, uint64_t seq) {
  l->unconfirmed = seq;
  while (l->confirmed < seq) {
    if (s_stop) {
      l->halt = 1;
      return -1;
    }
    if (s_read_stdin(l, 200) != 0)
      return -1;
  }
  l->unconfirmed = 0;
  return 0;
}

/* Writes text (then frees it) as DIR/name, durably, or as a line on
 * stdout without --dir (with --confirm: and waits for the consumer's
 * ack of it). Returns 0, or -1 (a failed file stops listen). */
static int s_emit(s_listen_t *l, const char *name, char *text) {
  int rc;
  if (l->dir) {
    rc = listen_write_durable(l->dir, name, text, strlen(text));
    if (rc != 0) {
      fprintf(stderr, "keten listen: cannot write %s/%s: %s\n", l->dir, name,
              strerror(errno));
      l->failed = 1;
    }
  } else {
    rc = (printf("%s\n", text) < 0 || fflush(stdout) != 0) ? -1 : 0;
    if (rc != 0 && l->confirm)
      l->halt = 1; /* the consumer's end of the pipe is gone */
  }
  free(text);
  if (rc == 0 && l->confirm && !l->dir)
    rc = s_wait_confirm(l, l->seq);
  return rc;
}

/* Serialises obj (then frees it) and emits it as name. */
static int s_emit_json(s_listen_t *l, const char *name, json_t *obj) {
  char *text = obj ? json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
  json_decref(obj);
  if (!text) {
    fprintf(stderr, "keten listen: out of memory\n");
    l->failed = 1;
    return -1;
  }
  return s_emit(l, name, text);
}

/* An id as JSON: the string when it is valid UTF-8 (json escapes the
 * rest), else null and "<field>_hex" with its bytes. */
static void s_set_id(json_t *obj, const char *field, const char *id) {
  json_t *v = json_string(id);
  if (v) {
    json_object_set_new(obj, field, v);
    return;
  }
  size_t n = strnlen(id, KETEN_ID_MAX + 1);
  char hex[2 * (KETEN_ID_MAX + 1) + 1], key[64];
  sodium_bin2hex(hex, sizeof hex, (const unsigned char *)id, n);
  snprintf(key, sizeof key, "%s_hex", field);
  json_object_set_new(obj, field, json_null());
  json_object_set_new(obj, key, json_string(hex));
}

/* A delivery or event that cannot be rendered (it did not open or verify,
 * its ids are not fit for a file name, its data is not UTF-8): written as
 * DIR/quarantine-<what>-<seq>.json (a JSON line without --dir) with the
 * reason and what came, never under a name derived from it; listen goes
 * on (it is acked). */
static int s_quarantine(s_listen_t *l, const char *what, uint64_t seq,
                        const char *reason, json_t *obj) {
  fprintf(stderr, "keten listen: %s %llu quarantined: %s\n", what,
          (unsigned long long)seq, reason);
  if (obj) {
    json_object_set_new(obj, "quarantined", json_string(reason));
    json_object_set_new(obj, "seq", json_integer((json_int_t)seq));
  }
  char name[96];
  snprintf(name, sizeof name, "quarantine-%s-%llu.json", what,
           (unsigned long long)seq);
  int rc = s_emit_json(l, name, obj);
  if (rc == 0)
    l->quarantined++;
  return rc == 0 ? 0 : 1;
}

/* A delivery or TVS event libketen could not open or verify: it hands
 * over no bytes of it, so the quarantine file holds libketen's reason
 * (printable ASCII only) and the status. */
static int s_quarantine_failed(s_listen_t *l, const char *what, uint64_t seq,
                               keten_err_t status) {
  char reason[320];
  const char *e = l->client ? keten_client_error(l->client) : "";
  size_t i = 0;
  for (; e[i] && i + 1 < sizeof reason; i++)
    reason[i] = e[i] >= 0x20 && e[i] < 0x7f ? e[i] : '?';
  reason[i] = '\0';
  if (!reason[0])
    snprintf(reason, sizeof reason, "%s", keten_strerror(status));
  return s_quarantine(l, what, seq, reason,
                      json_pack("{s:s}", "status", keten_strerror(status)));
}

/* A section that opened and verified but does not conform to its kind's
 * schema (KETEN_ERR_SCHEMA), its data UTF-8: quarantined with libketen's
 * reason (the JSON pointer and the rule) and what came, the data as
 * "data_raw", never under a name derived from it. */
static int s_quarantine_schema(s_listen_t *l, const keten_section_t *s,
                               uint64_t seq) {
  char reason[320];
  const char *e = l->client ? keten_client_error(l->client) : "";
  size_t i = 0;
  for (; e[i] && i + 1 < sizeof reason; i++)
    reason[i] = e[i] >= 0x20 && e[i] < 0x7f ? e[i] : '?';
  reason[i] = '\0';
  if (!reason[0])
    snprintf(reason, sizeof reason, "%s", keten_strerror(KETEN_ERR_SCHEMA));
  char subject[2 * KETEN_SUBJECT_BYTES + 1];
  sodium_bin2hex(subject, sizeof subject, s->header.subject,
                 KETEN_SUBJECT_BYTES);
  const char *kname = keten_section_kind_name(s->header.kind);
  json_t *q = json_pack("{s:s, s:s, s:I, s:I}", "status",
                        keten_strerror(KETEN_ERR_SCHEMA), "subject", subject,
                        "version", (json_int_t)s->header.version,
                        "created_at_ms", (json_int_t)s->header.created_at_ms);
  if (q) {
    json_object_set_new(q, "kind", kname ? json_string(kname)
                                         : json_integer((json_int_t)s->header.kind));
    s_set_id(q, "author", s->header.author);
    /* UTF-8 (the caller checked): the text as it came, not parsed */
    json_object_set_new(q, "data_raw", json_stringn(s->json, s->json_len));
  }
  return s_quarantine(l, "section", seq, reason, q);
}

static int s_on_delivery(const keten_section_t *s, uint64_t seq,
                         keten_err_t status, void *arg) {
  s_listen_t *l = arg;
  if (l->halt)
    return 1; /* --confirm: the consumer is gone; nothing more is acked */
  l->seq = seq;
  l->activity++;
  if (!s) /* did not open or verify: quarantined, and acked */
    return s_quarantine_failed(l, "section", seq, status);
  /* libketen has checked the author against its root-signed entry, but
   * no id reaches a file name unchecked. */
  char prefix[256], name[300];
  const char *why = NULL;
  if (listen_section_prefix(prefix, sizeof prefix, s->header.subject,
                            keten_section_kind_name(s->header.kind),
                            s->header.author, &why) != 0) {
    char subject[2 * KETEN_SUBJECT_BYTES + 1];
    sodium_bin2hex(subject, sizeof subject, s->header.subject,
                   KETEN_SUBJECT_BYTES);
    json_t *q = json_pack("{s:s, s:I, s:I, s:I, s:s%}", "subject", subject,
                          "kind", (json_int_t)s->header.kind, "version",
                          (json_int_t)s->header.version, "created_at_ms",
                          (json_int_t)s->header.created_at_ms, "data_raw",
                          s->json ? s->json : "", s->json ? s->json_len : 0);
    if (!q) /* not UTF-8: the bytes in hex */
      q = json_pack("{s:s, s:I, s:I}", "subject", subject, "kind",
                    (json_int_t)s->header.kind, "version",
                    (json_int_t)s->header.version);
    if (q)
      s_set_id(q, "author", s->header.author);
    return s_quarantine(l, "section", seq, why, q);
  }
  /* Opened, but not what its kind's schema says: quarantined with the
   * reason (data that is not even UTF-8 is quarantined below, as before). */
  json_t *utf8 = status == KETEN_ERR_SCHEMA && s->json
                     ? json_stringn(s->json, s->json_len)
                     : NULL;
  if (utf8) {
    json_decref(utf8);
    return s_quarantine_schema(l, s, seq);
  }
  json_t *obj = s_section_json(s);
  if (!obj) { /* data that is neither JSON nor UTF-8 text: kept in hex */
    char *hex = malloc(2 * s->json_len + 1);
    char subject[2 * KETEN_SUBJECT_BYTES + 1];
    sodium_bin2hex(subject, sizeof subject, s->header.subject,
                   KETEN_SUBJECT_BYTES);
    json_t *q = hex ? json_pack("{s:s, s:s, s:s, s:I}", "subject", subject,
                                "kind", keten_section_kind_name(s->header.kind),
                                "author", s->header.author, "version",
                                (json_int_t)s->header.version)
                    : NULL;
    if (q) {
      sodium_bin2hex(hex, 2 * s->json_len + 1, (const unsigned char *)s->json,
                     s->json_len);
      json_object_set_new(q, "data_hex", json_string(hex));
    }
    free(hex);
    return s_quarantine(l, "section", seq, "section data is not UTF-8", q);
  }
  json_object_set_new(obj, "seq", json_integer((json_int_t)seq));
  snprintf(name, sizeof name, "%s%llu.json", prefix,
           (unsigned long long)s->header.version);
  int rc = s_emit_json(l, name, obj);
  if (rc == 0)
    l->count++;
  return rc == 0 ? 0 : 1;
}

static int s_on_tvs_event(const keten_tvs_event_t *ev, uint64_t seq,
                          keten_err_t status, void *arg) {
  s_listen_t *l = arg;
  if (l->halt)
    return 1;
  l->seq = seq;
  l->activity++;
  if (!ev) /* did not verify: quarantined, and acked */
    return s_quarantine_failed(l, "tvs", seq, status);
  const char *kind = keten_tvs_kind_name(ev->kind);
  if (!listen_kind_ok(kind))
    return s_quarantine(l, "tvs", seq, "TVS event kind is not a known kind name",
                        json_pack("{s:I}", "kind", (json_int_t)ev->kind));
  json_t *obj = cli_tvs_event_json(ev);
  if (obj)
    json_object_set_new(obj, "seq", json_integer((json_int_t)seq));
  char id[33], name[128];
  sodium_bin2hex(id, sizeof id, ev->event_id, sizeof ev->event_id);
  snprintf(name, sizeof name, "tvs-%s-%s.json", id, kind);
  int rc = s_emit_json(l, name, obj);
  if (rc == 0)
    l->tvs_events++;
  return rc == 0 ? 0 : 1;
}

static void s_on_rewrap(const keten_rewrap_t *r, uint64_t seq, void *arg) {
  s_listen_t *l = arg;
  (void)seq;
  l->activity++;
  char subject[17];
  sodium_bin2hex(subject, sizeof subject, r->subject, 8);
  if (r->sealed) {
    l->rewraps++;
    s_say(l, "rewrap: sealed %s v%llu of %s to %s\n",
          keten_section_kind_name(r->kind), (unsigned long long)r->version,
          subject, r->recipient);
  } else {
    l->refused++;
    s_say(l, "rewrap refused: %s v%llu of %s to %s: %s\n",
          keten_section_kind_name(r->kind), (unsigned long long)r->version,
          subject, r->recipient, r->refusal);
  }
}

/* If name is prefix followed by a version (decimal, no leading zero) and
 * ".json", stores the version and returns 1. */
static int s_match_version(const char *name, const char *prefix,
                           uint64_t *version) {
  size_t n = strlen(prefix);
  if (strncmp(name, prefix, n) != 0 || name[n] < '1' || name[n] > '9')
    return 0;
  uint64_t v = 0;
  const char *p = name + n;
  for (; *p >= '0' && *p <= '9'; p++) {
    if (v > (UINT64_MAX - 9) / 10)
      return 0;
    v = v * 10 + (uint64_t)(*p - '0');
  }
  if (strcmp(p, ".json") != 0)
    return 0;
  *version = v;
  return 1;
}

/* 0 if the file at path holds a copy of another subject than subject_hex
 * (the names carry only 16 hex of the subject); 1 if it is ours or
 * cannot be read (then the name is what counts). */
static int s_file_is_subject(const char *path, const char *subject_hex) {
  int fd = listen_open_regular(path, LISTEN_FILE_MAX);
  if (fd < 0)
    return 1; /* a link or no regular file: never followed or read */
  json_error_t jerr;
  json_t *doc = json_loadfd(fd, 0, &jerr);
  close(fd);
  if (!doc)
    return 1;
  const char *s = json_string_value(json_object_get(doc, "subject"));
  int ours = !s || strcmp(s, subject_hex) == 0;
  json_decref(doc);
  return ours;
}

static const char *s_delete_reason(int reason) {
  switch (reason) {
  case KETEN_NOTICE_REASON_REVOKED: return "revoked";
  case KETEN_NOTICE_REASON_EXPIRED: return "expired";
  case KETEN_NOTICE_REASON_ONTKOPPELD: return "ontkoppeld";
  case KETEN_NOTICE_REASON_ERASED: return "erased";
  default: return "unknown";
  }
}

/* A delete notice (checked by libketen against the broker's signing key):
 * deletes DIR/<subject>-<KIND>-<author>-v<N>.json for every N up to each
 * item's version, found by scanning DIR, then records the notice and
 * what it deleted as DIR/notice-<subject>-<id>.json. */
static int s_on_delete(s_listen_t *l, const keten_notice_t *n, uint64_t seq) {
  char subject[2 * KETEN_SUBJECT_BYTES + 1], consent[33] = "", event[33] = "";
  sodium_bin2hex(subject, sizeof subject, n->subject, KETEN_SUBJECT_BYTES);
  if (n->has_consent_id)
    sodium_bin2hex(consent, sizeof consent, n->consent_id,
                   KETEN_CONSENT_ID_BYTES);
  if (n->has_tvs_event_id)
    sodium_bin2hex(event, sizeof event, n->tvs_event_id,
                   sizeof n->tvs_event_id);
  const char *reason = s_delete_reason(n->delete_reason);
  json_t *items = json_array(), *deleted = json_array();
  size_t n_items = n->n_items < KETEN_NOTICE_MAX_ITEMS ? n->n_items
                                                        : KETEN_NOTICE_MAX_ITEMS;
  /* An item whose kind or author is not fit for a file name matches no
   * file (listen never wrote one under such a name): it deletes nothing,
   * and is recorded with "refused" and the reason. */
  char prefixes[KETEN_NOTICE_MAX_ITEMS][256];
  for (size_t i = 0; i < n_items; i++) {
    const char *kname = keten_section_kind_name(n->items[i].kind);
    const char *why = NULL;
    int ok = listen_section_prefix(prefixes[i], sizeof prefixes[i], n->subject,
                                   kname, n->items[i].author, &why) == 0;
    json_t *it = json_pack("{s:I}", "up_to_version",
                           (json_int_t)n->items[i].up_to_version);
    if (!it)
      continue;
    if (ok)
      json_object_set_new(it, "kind", json_string(kname));
    else
      json_object_set_new(it, "kind",
                          listen_kind_ok(kname)
                              ? json_string(kname)
                              : json_integer((json_int_t)n->items[i].kind));
    s_set_id(it, "author", n->items[i].author);
    if (!ok) {
      json_object_set_new(it, "refused", json_string(why));
      fprintf(stderr, "keten listen: delete notice %llu item %zu refused: %s; "
                      "nothing deleted for it\n", (unsigned long long)seq, i,
              why);
    }
    json_array_append_new(items, it);
  }
  int rc = 0;
  if (l->dir) {
    DIR *d = opendir(l->dir);
    if (!d) {
      fprintf(stderr, "keten listen: cannot read %s: %s\n", l->dir,
              strerror(errno));
      rc = -1;
    }
    struct dirent *de;
    while (rc == 0 && d && (errno = 0, de = readdir(d)) != NULL) {
      for (size_t i = 0; i < n_items; i++) {
        uint64_t v = 0;
        if (prefixes[i][0] == '\0' || !s_match_version(de->d_name, prefixes[i], &v) ||
            v > n->items[i].up_to_version)
          continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", l->dir, de->d_name);
        if (!s_file_is_subject(path, subject))
          break;
        if (unlink(path) != 0 && errno != ENOENT) {
          fprintf(stderr, "keten listen: cannot delete %s: %s\n", path,
                  strerror(errno));
          rc = -1;
          break;
        }
        json_array_append_new(deleted, json_string(de->d_name));
        l->deleted++;
        s_say(l, "deleted %s (reason: %s)\n", path, reason);
        break;
      }
    }
    if (rc == 0 && d && errno != 0) {
      fprintf(stderr, "keten listen: cannot read %s: %s\n", l->dir,
              strerror(errno));
      rc = -1;
    }
    if (d)
      closedir(d);
    if (rc == 0 && json_array_size(deleted) > 0 && listen_fsync_dir(l->dir) != 0) {
      fprintf(stderr, "keten listen: cannot sync %s: %s\n", l->dir,
              strerror(errno));
      rc = -1;
    }
    if (rc == 0 && json_array_size(deleted) == 0)
      s_say(l, "delete notice (reason: %s) for %.16s: no copy in %s\n", reason,
            subject, l->dir);
  }
  if (rc != 0) {
    l->failed = 1;
    json_decref(items);
    json_decref(deleted);
    return 1;
  }
  char notice_id[33];
  sodium_bin2hex(notice_id, sizeof notice_id, n->notice_id,
                 sizeof n->notice_id);
  json_t *obj = json_pack(
      "{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:I, s:I}", "notice", "DELETE",
      "notice_id", notice_id, "reason", reason, "subject", subject,
      "consent_id", consent, "tvs_event_id", event, "items", items, "deleted",
      deleted, "created_at_ms", (json_int_t)n->created_at_ms, "seq",
      (json_int_t)seq);
  /* Named by the broker's notice id: one file per notice, even when one
   * revocation needs several notices. */
  char name[128];
  snprintf(name, sizeof name, "notice-%.16s-%s.json", subject, notice_id);
  int erc = s_emit_json(l, name, obj);
  if (erc == 0)
    l->notices++;
  return erc == 0 ? 0 : 1;
}

static int s_on_notice(const keten_notice_t *n, uint64_t seq,
                       keten_err_t status, void *arg) {
  s_listen_t *l = arg;
  if (l->halt)
    return 1;
  l->seq = seq;
  l->activity++;
  if (!n) {
    fprintf(stderr, "keten listen: notice %llu did not verify (%s); "
                    "skipped, nothing deleted\n", (unsigned long long)seq,
            keten_strerror(status));
    return 0;
  }
  if (n->kind == KETEN_NOTICE_DELETE)
    return s_on_delete(l, n, seq);
  char subject[2 * KETEN_SUBJECT_BYTES + 1], id[2 * KETEN_CONSENT_ID_BYTES + 1];
  sodium_bin2hex(subject, sizeof subject, n->subject, KETEN_SUBJECT_BYTES);
  sodium_bin2hex(id, sizeof id, n->consent_id, KETEN_CONSENT_ID_BYTES);
  json_t *obj = json_pack(
      "{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:I, s:I}", "notice",
      "CONSENT_REVOKED", "subject", subject, "consent_id", id, "revoked_by",
      n->revoked_by, "revoked_by_role", keten_role_name(n->revoked_by_role),
      "revoked_at_ms", (json_int_t)n->revoked_at_ms, "reason", n->reason,
      "evidence_ref", n->evidence_ref, "created_at_ms",
      (json_int_t)n->created_at_ms, "seq", (json_int_t)seq);
  char name[128];
  snprintf(name, sizeof name, "notice-%.16s-%s.json", subject, id);
  int rc = s_emit_json(l, name, obj);
  if (rc == 0)
    l->notices++;
  return rc == 0 ? 0 : 1;
}

/* What happened to the subscription: a stall (subscribed again by
 * libketen) or a failed SUBSCRIBE it tries again, once per back-off step.
 * DISPLACED and REMOVED end the poll loop and are reported there. */
static void s_on_subscription(const keten_subscription_event_t *ev,
                              void *arg) {
  (void)arg;
  if (ev->event == KETEN_SUBSCRIPTION_STALLED)
    fprintf(stderr, "keten listen: the broker ended the subscription as "
                    "stalled (%s); subscribing again in %u ms\n",
            ev->detail[0] ? ev->detail : "no detail", (unsigned)ev->delay_ms);
  else if (ev->event == KETEN_SUBSCRIPTION_RETRY)
    fprintf(stderr, "keten listen: SUBSCRIBE failed (%s: %s); retrying in "
                    "%u ms\n",
            keten_strerror(ev->status), ev->detail, (unsigned)ev->delay_ms);
}

static void s_usage_listen(FILE *out) {
  fprintf(out,
          "usage: keten listen [options] [--dir DIR]\n"
          "\n"
          "Receives what your mailbox holds, in order, and acks each only once it\n"
          "is handled (a file fsynced); unacked ones come again after reconnecting.\n"
          "With --dir DIR (else each is a JSON line on stdout):\n"
          "  a section, verified and opened, is written atomically as\n"
          "    DIR/<subject>-<KIND>-<author>-v<version>.json\n"
          "    (<subject>: its first 16 hex digits; ':' in the author as '_');\n"
          "  a TVS event of your gemeente's feed, its signature checked against\n"
          "    the publisher's root-signed TVS entry, as\n"
          "    DIR/tvs-<event-id>-<KIND>.json (every field; the subject in hex);\n"
          "  a delete notice, signed by the broker (checked with the signing key\n"
          "    of --broker-key), deletes DIR/<subject>-<KIND>-<author>-v<N>.json\n"
          "    for every version N up to the one it names, prints \"deleted FILE\n"
          "    (reason: revoked|expired|ontkoppeld|erased)\" for each, and is\n"
          "    recorded as DIR/notice-<subject>-<notice-id>.json (with the consent\n"
          "    that ended or the ONTKOPPELING/VERHUIZING, and what was deleted);\n"
          "    a notice that does not verify deletes nothing and is reported;\n"
          "  a notice that a consent you recorded was revoked by someone else is\n"
          "    written as DIR/notice-<subject>-<consent>.json.\n"
          "Every id that becomes part of a file name is checked first (an author\n"
          "by the registry's participant id rule, a kind against the known kinds).\n"
          "A section or TVS event that does not open or verify, fails that check,\n"
          "or whose data is not UTF-8, is quarantined: written, with\n"
          "\"quarantined\": REASON, as\n"
          "DIR/quarantine-section-<seq>.json or DIR/quarantine-tvs-<seq>.json (a\n"
          "JSON line without --dir), reported on stderr, and acked; a delete\n"
          "notice item that fails deletes nothing and is recorded as \"refused\".\n"
          "Files are created 0600 through a temporary DIR/.<name>.tmp opened\n"
          "O_EXCL|O_NOFOLLOW and renamed; a symlink in DIR is never followed.\n"
          "Rewrap requests (a partner became allowed after you stored a section:\n"
          "a later consent of yours, a KOPPELING for a consent naming @gemeente)\n"
          "are served by themselves: each is checked like a put and sealed or\n"
          "refused, and printed as \"rewrap: sealed KIND vN of SUBJECT to ID\" or\n"
          "\"rewrap refused: ...\". Status lines go to stdout with --dir, else to\n"
          "stderr. SIGINT or SIGTERM stops listen after the item in hand.\n"
          "A SUBSCRIBE that fails on ERROR_INTERNAL, ERROR_DISK_FULL or a timeout\n"
          "is tried again with back-off (100 ms doubling to 30 s, a line on stderr\n"
          "for each); a subscription the broker ended as stalled is taken again.\n"
          "If another listener with your key takes the subscription, listen says\n"
          "so on stderr and exits 7; if your key left the registry, exit 1.\n"
          "\n"
          "Without --dir, an item is acked once its line is written to stdout:\n"
          "what the consumer loses before storing it does not come again. With\n"
          "--confirm (recommended for a consumer that stores what it reads) each\n"
          "line carries its \"seq\", and listen waits after writing it until the\n"
          "consumer writes \"ack SEQ\" (SEQ of that line or a later one written;\n"
          "cumulative) on listen's stdin; only then is it acked to the broker and\n"
          "the next line written. When stdin ends (the consumer exits) listen\n"
          "stops without acking the unconfirmed line, which comes again on the\n"
          "next listen; any other line on stdin stops it too (exit 4).\n"
          "\n" CLI_CONN_HELP
          "  -d, --dir DIR           write files into DIR\n"
          "  -c, --credit N          deliveries in flight before acking (default 64)\n"
          "  -n, --count N           stop after N sections\n"
          "  -i, --idle MS           stop after MS in which nothing came\n"
          "      --confirm           stdout mode: ack only what the consumer confirms\n"
          "                          with \"ack SEQ\" lines on stdin\n"
          "  -h, --help              print this help\n");
}

static uint64_t s_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int cmd_listen(int argc, char **argv) {
  static const struct option opts[] = {CLI_CONN_OPTIONS,
                                       {"dir", required_argument, NULL, 'd'},
                                       {"credit", required_argument, NULL, 'c'},
                                       {"count", required_argument, NULL, 'n'},
                                       {"idle", required_argument, NULL, 'i'},
                                       {"confirm", no_argument, NULL, 'C'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  cli_conn_t conn;
  cli_conn_defaults(&conn);
  s_listen_t l = {0};
  long credit = 64, idle = -1;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, CLI_CONN_SHORT "d:c:n:i:h", opts,
                          NULL)) != -1) {
    if (cli_conn_option(&conn, c, optarg))
      continue;
    switch (c) {
    case 'd': l.dir = optarg; break;
    case 'c': credit = cli_number(optarg, 1024); break;
    case 'n': l.max = cli_number(optarg, 1000000000); break;
    case 'i': idle = cli_number(optarg, 86400000); break;
    case 'C': l.confirm = 1; break;
    case 'h': s_usage_listen(stdout); return CLI_EXIT_OK;
    default: s_usage_listen(stderr); return CLI_EXIT_USAGE;
    }
  }
  if (optind != argc || credit < 1 || l.max < 0 || (idle < 0 && idle != -1)) {
    s_usage_listen(stderr);
    return CLI_EXIT_USAGE;
  }
  if (l.confirm && l.dir) {
    fprintf(stderr, "keten listen: --confirm is for stdout mode; with --dir a "
                    "file is acked once it is fsynced\n");
    return CLI_EXIT_USAGE;
  }
  if (l.dir && strlen(l.dir) > 512) {
    fprintf(stderr, "keten listen: --dir path too long\n");
    return CLI_EXIT_USAGE;
  }
  struct stat st;
  if (l.dir && stat(l.dir, &st) != 0) {
    fprintf(stderr, "keten listen: %s: %s\n", l.dir, strerror(errno));
    return CLI_EXIT_LOCAL;
  }
  if (l.dir && !S_ISDIR(st.st_mode)) {
    fprintf(stderr, "keten listen: %s: not a directory\n", l.dir);
    return CLI_EXIT_LOCAL;
  }
  int exit_code = CLI_EXIT_OK;
  keten_client_t *client = cli_connect(&conn, &exit_code);
  if (!client)
    return exit_code;
  l.client = client;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = s_on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  keten_client_on_notice(client, s_on_notice, &l);
  keten_client_on_tvs_event(client, s_on_tvs_event, &l);
  keten_client_on_rewrap(client, s_on_rewrap, &l);
  keten_client_on_subscription(client, s_on_subscription, &l);
  keten_err_t rc = keten_client_subscribe(client, (uint32_t)credit);
  if (rc != KETEN_OK && keten_client_transient(client, rc))
    rc = KETEN_OK; /* said on stderr; keten_client_poll tries again */
  uint64_t last = s_mono_ms();
  while (rc == KETEN_OK && !l.failed && !s_stop && !l.halt &&
         (l.max == 0 || l.count < l.max)) {
    long before = l.activity;
    size_t handled = 0;
    rc = keten_client_poll(client, 200, s_on_delivery, &l, &handled);
    /* --confirm: the consumer's end of stdin stops listen also when
     * nothing waits for its confirmation */
    if (rc == KETEN_OK && l.confirm && !l.halt)
      s_read_stdin(&l, 0);
    uint64_t now = s_mono_ms();
    if (handled > 0 || l.activity != before)
      last = now;
    else if (idle > 0 && now - last >= (uint64_t)idle)
      break;
  }
  if (rc != KETEN_OK && (s_stop || l.halt))
    rc = KETEN_OK; /* the signal or the consumer's end interrupted the poll */
  if (rc == KETEN_ERR_DISPLACED || rc == KETEN_ERR_REMOVED)
    fprintf(stderr, "keten listen: stopped: %s\n", keten_client_error(client));
  else if (rc != KETEN_OK)
    fprintf(stderr, "keten listen: %s: %s\n", keten_strerror(rc),
            keten_client_error(client));
  /* Let the last ack leave before the socket closes (nothing more is
   * handed over once a file failed or a signal came; after the consumer's
   * end, l.halt, the handlers refuse all, so nothing more is acked). */
  if (!l.failed && !s_stop)
    keten_client_poll(client, 50, s_on_delivery, &l, NULL);
  if (l.confirm && l.unconfirmed)
    fprintf(stderr, "keten listen: stopped with seq %llu written but not "
                    "confirmed (the consumer %s): it and what follows are not "
                    "acked and come again\n",
            (unsigned long long)l.unconfirmed,
            l.consumer_error ? "wrote something else" : "closed stdin");
  keten_client_destroy(&client);
  l.client = NULL;
  fprintf(stderr, "keten listen: %ld section(s) and %ld notice(s) received; "
                  "%ld TVS event(s), %ld file(s) deleted, %ld rewrap(s) "
                  "sealed, %ld refused\n", l.count, l.notices, l.tvs_events,
          l.deleted, l.rewraps, l.refused);
  if (l.quarantined > 0)
    fprintf(stderr, "keten listen: %ld item(s) quarantined\n", l.quarantined);
  if (l.failed || l.consumer_error)
    return CLI_EXIT_LOCAL;
  return cli_exit_for(rc);
}
