/* keten validate — checks a section plaintext against the JSON schema of
 * its kind (docs/sections.md 3), offline, with libketen's validator: the
 * same check keten put and every delivery make. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_validate(int argc, char **argv); /* called by main.c */

static void s_usage(FILE *out) {
  fprintf(out,
          "usage: keten validate --kind KIND FILE.json\n"
          "\n"
          "Checks FILE.json (\"-\": standard input) against the JSON schema of\n"
          "section kind KIND (IDENTITY, STORY, HEALTH, ...; docs/sections.md 3)\n"
          "and the shape rules of docs/sections.md 1.1 (UTF-8, one JSON object,\n"
          "no key twice, at most 786432 bytes), as keten put and libketen do\n"
          "before sealing. Needs no broker and no keys. Prints \"ok KIND FILE\"\n"
          "and exits 0 when it conforms; else prints FILE: the JSON pointer and\n"
          "the rule it breaks on stderr and exits 1. Exit 2: bad usage or\n"
          "unknown kind; 4: the file cannot be read.\n"
          "\n"
          "  -k, --kind KIND         the section kind\n"
          "  -q, --quiet             print nothing when it conforms\n"
          "  -h, --help              print this help\n");
}

/* Reads all of f (at most max + 1 bytes, so that too large is seen). */
static char *s_slurp(FILE *f, size_t max, size_t *len) {
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    if (n == cap) {
      if (cap > max) /* read max + 1 bytes at least: enough to refuse */
        break;
      char *g = realloc(buf, cap * 2);
      if (!g) {
        free(buf);
        return NULL;
      }
      buf = g;
      cap *= 2;
    }
    size_t r = fread(buf + n, 1, cap - n, f);
    n += r;
    if (r == 0) {
      if (ferror(f)) {
        free(buf);
        return NULL;
      }
      break;
    }
  }
  if (buf)
    *len = n;
  return buf;
}

int cmd_validate(int argc, char **argv) {
  static const struct option opts[] = {{"kind", required_argument, NULL, 'k'},
                                       {"quiet", no_argument, NULL, 'q'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *kind_name = NULL;
  int quiet = 0, c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "k:qh", opts, NULL)) != -1) {
    switch (c) {
    case 'k': kind_name = optarg; break;
    case 'q': quiet = 1; break;
    case 'h': s_usage(stdout); return CLI_EXIT_OK;
    default: s_usage(stderr); return CLI_EXIT_USAGE;
    }
  }
  if (!kind_name || optind != argc - 1) {
    s_usage(stderr);
    return CLI_EXIT_USAGE;
  }
  int kind = keten_section_kind_from_name(kind_name);
  if (!kind) {
    fprintf(stderr, "keten validate: unknown section kind '%s'\n", kind_name);
    return CLI_EXIT_USAGE;
  }
  const char *path = argv[optind];
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "keten validate: %s: %s\n", path, strerror(errno));
    return CLI_EXIT_LOCAL;
  }
  size_t len = 0;
  char *text = s_slurp(f, 786432, &len);
  int read_errno = errno;
  if (f != stdin)
    fclose(f);
  if (!text) {
    fprintf(stderr, "keten validate: %s: %s\n", path, strerror(read_errno));
    return CLI_EXIT_LOCAL;
  }
  char why[384];
  keten_err_t rc = keten_section_validate(kind, text, len, why, sizeof why);
  free(text);
  if (rc == KETEN_OK) {
    if (!quiet)
      printf("ok %s %s\n", keten_section_kind_name(kind), path);
    return CLI_EXIT_OK;
  }
  fprintf(stderr, "%s: %s\n", path, why);
  return rc == KETEN_ERR_SCHEMA ? CLI_EXIT_REFUSED : CLI_EXIT_USAGE;
}
