/* keten put / fetch / listen — sections of a subject's profile. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

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
static int s_parse_common(int argc, char **argv, void (*usage)(FILE *),
                          cli_conn_t *conn, int n_rest,
                          uint8_t subject[KETEN_SUBJECT_BYTES]) {
  static const struct option opts[] = {SECTION_OPTIONS, {NULL, 0, NULL, 0}};
  cli_conn_defaults(conn);
  const char *chain = NULL;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, CLI_CONN_SHORT "K:h", opts, NULL)) != -1) {
    if (cli_conn_option(conn, c, optarg))
      continue;
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
          "not hold. SUBJECT is a 64-hex pseudonym, or a V-nummer with --chain-key.\n"
          "\n" SECTION_HELP);
}

int cmd_put(int argc, char **argv) {
  cli_conn_t conn;
  uint8_t subject[KETEN_SUBJECT_BYTES];
  int early = s_parse_common(argc, argv, s_usage_put, &conn, 2, subject);
  if (early >= 0)
    return early;
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
  int exit_code = CLI_EXIT_OK;
  keten_client_t *client = cli_connect(&conn, &exit_code);
  if (!client) {
    free(text);
    return exit_code;
  }
  keten_put_result_t res;
  keten_err_t rc = keten_client_put(client, subject, kind, text, strlen(text),
                                    &res);
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
  return cli_exit_for(rc);
}

static void s_usage_fetch(FILE *out) {
  fprintf(out,
          "usage: keten fetch [options] SUBJECT\n"
          "\n"
          "Fetches every section of SUBJECT you may read (the latest version per\n"
          "kind and author), checks each author's root-signed registry entry,\n"
          "verifies the author's signature, opens it, and\n"
          "prints them as a JSON array. Refused (exit 1) when no section may be\n"
          "disclosed to you; the broker audits every disclosure and refusal.\n"
          "\n" SECTION_HELP);
}

int cmd_fetch(int argc, char **argv) {
  cli_conn_t conn;
  uint8_t subject[KETEN_SUBJECT_BYTES];
  int early = s_parse_common(argc, argv, s_usage_fetch, &conn, 0, subject);
  if (early >= 0)
    return early;
  int exit_code = CLI_EXIT_OK;
  keten_client_t *client = cli_connect(&conn, &exit_code);
  if (!client)
    return exit_code;
  keten_section_t *sections = NULL;
  size_t n = 0;
  keten_err_t rc = keten_client_fetch(client, subject, &sections, &n);
  if (rc != KETEN_OK) {
    fprintf(stderr, "keten fetch: %s: %s\n", keten_strerror(rc),
            keten_client_error(client));
  } else {
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
      json_array_append_new(arr, s_section_json(&sections[i]));
    json_dumpf(arr, stdout, JSON_INDENT(2));
    putchar('\n');
    json_decref(arr);
  }
  keten_sections_free(sections, n);
  keten_client_destroy(&client);
  return cli_exit_for(rc);
}

/* ---- listen --------------------------------------------------------------- */

typedef struct {
  const char *dir;      /* NULL: JSON lines on stdout */
  long count, max;      /* sections */
  long notices;
  int failed;
} s_listen_t;

/* Writes text to dir/name atomically and durably: temp file, fsync,
 * rename, fsync of the directory. */
static int s_write_durable(const char *dir, const char *name, const char *text) {
  char tmp[1024], path[1024];
  snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return -1;
  size_t len = strlen(text), done = 0;
  while (done < len) {
    ssize_t w = write(fd, text + done, len - done);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      close(fd);
      unlink(tmp);
      return -1;
    }
    done += (size_t)w;
  }
  if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
    unlink(tmp);
    return -1;
  }
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return -1;
  int rc = fsync(dfd);
  close(dfd);
  return rc;
}

/* Writes text (then frees it) as DIR/name, durably, or as a line on
 * stdout without --dir. Returns 0, or -1 (a failed file stops listen). */
static int s_emit(s_listen_t *l, const char *name, char *text) {
  int rc;
  if (l->dir) {
    rc = s_write_durable(l->dir, name, text);
    if (rc != 0) {
      fprintf(stderr, "keten listen: cannot write %s/%s: %s\n", l->dir, name,
              strerror(errno));
      l->failed = 1;
    }
  } else {
    rc = (printf("%s\n", text) < 0 || fflush(stdout) != 0) ? -1 : 0;
  }
  free(text);
  return rc;
}

static int s_on_delivery(const keten_section_t *s, uint64_t seq,
                         keten_err_t status, void *arg) {
  s_listen_t *l = arg;
  if (!s) {
    fprintf(stderr, "keten listen: delivery %llu could not be opened (%s); "
                    "skipped\n", (unsigned long long)seq, keten_strerror(status));
    return 0;
  }
  json_t *obj = s_section_json(s);
  json_object_set_new(obj, "seq", json_integer((json_int_t)seq));
  char *text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(obj);
  if (!text)
    return 1;
  char hex[17], name[256], author[KETEN_ID_MAX + 1];
  sodium_bin2hex(hex, sizeof hex, s->header.subject, 8);
  snprintf(author, sizeof author, "%s", s->header.author);
  for (char *p = author; *p; p++)
    if (*p == ':')
      *p = '_';
  snprintf(name, sizeof name, "%s-%s-%s-v%llu.json", hex,
           keten_section_kind_name(s->header.kind), author,
           (unsigned long long)s->header.version);
  int rc = s_emit(l, name, text);
  if (rc == 0)
    l->count++;
  return rc == 0 ? 0 : 1;
}

static int s_on_notice(const keten_notice_t *n, uint64_t seq,
                       keten_err_t status, void *arg) {
  s_listen_t *l = arg;
  if (!n) {
    fprintf(stderr, "keten listen: notice %llu did not verify (%s); "
                    "skipped\n", (unsigned long long)seq, keten_strerror(status));
    return 0;
  }
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
  char *text = obj ? json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
  json_decref(obj);
  if (!text)
    return 1;
  char name[128];
  snprintf(name, sizeof name, "notice-%.16s-%s.json", subject, id);
  int rc = s_emit(l, name, text);
  if (rc == 0)
    l->notices++;
  return rc == 0 ? 0 : 1;
}

static void s_usage_listen(FILE *out) {
  fprintf(out,
          "usage: keten listen [options] [--dir DIR]\n"
          "\n"
          "Receives the sections delivered to you, verifies and opens each, and\n"
          "writes it atomically as DIR/<subject>-<KIND>-<author>-v<version>.json\n"
          "(or as a JSON line on stdout without --dir). A delivery is acked only\n"
          "after its file is fsynced; unacked ones come again after reconnecting.\n"
          "A notice (a consent you recorded was revoked by its recipient or at\n"
          "the person's counter) is written as DIR/notice-<subject>-<consent>.json.\n"
          "\n" CLI_CONN_HELP
          "  -d, --dir DIR           write files into DIR\n"
          "  -c, --credit N          deliveries in flight before acking (default 64)\n"
          "  -n, --count N           stop after N sections\n"
          "  -i, --idle MS           stop after MS without a delivery\n"
          "  -h, --help              print this help\n");
}

int cmd_listen(int argc, char **argv) {
  static const struct option opts[] = {CLI_CONN_OPTIONS,
                                       {"dir", required_argument, NULL, 'd'},
                                       {"credit", required_argument, NULL, 'c'},
                                       {"count", required_argument, NULL, 'n'},
                                       {"idle", required_argument, NULL, 'i'},
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
    case 'h': s_usage_listen(stdout); return CLI_EXIT_OK;
    default: s_usage_listen(stderr); return CLI_EXIT_USAGE;
    }
  }
  if (optind != argc || credit < 1 || l.max < 0 || (idle < 0 && idle != -1)) {
    s_usage_listen(stderr);
    return CLI_EXIT_USAGE;
  }
  int exit_code = CLI_EXIT_OK;
  keten_client_t *client = cli_connect(&conn, &exit_code);
  if (!client)
    return exit_code;
  keten_client_on_notice(client, s_on_notice, &l);
  keten_err_t rc = keten_client_subscribe(client, (uint32_t)credit);
  while (rc == KETEN_OK && !l.failed && (l.max == 0 || l.count < l.max)) {
    size_t handled = 0;
    rc = keten_client_poll(client, idle > 0 ? (int)idle : 1000, s_on_delivery,
                           &l, &handled);
    if (rc == KETEN_OK && handled == 0 && idle > 0)
      break;
  }
  if (rc != KETEN_OK)
    fprintf(stderr, "keten listen: %s: %s\n", keten_strerror(rc),
            keten_client_error(client));
  /* Let the last ack leave before the socket closes. */
  keten_client_poll(client, 50, s_on_delivery, &l, NULL);
  keten_client_destroy(&client);
  fprintf(stderr, "keten listen: %ld section(s) and %ld notice(s) received\n",
          l.count, l.notices);
  if (l.failed)
    return CLI_EXIT_LOCAL;
  return cli_exit_for(rc);
}
