/* keten keygen — writes a participant's three key pairs. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "participant.h"

static void s_usage(FILE *out) {
  fprintf(out,
          "usage: keten keygen --id ID [--out DIR] [--force]\n"
          "\n"
          "Makes the transport (CurveZMQ), signing (Ed25519) and sealing (X25519)\n"
          "key pairs of one participant and writes DIR/NAME.key (secret, mode 0600)\n"
          "and DIR/NAME.pub (public, for the operator's registry), where NAME is ID\n"
          "with ':' replaced by '_'. Existing files are never half-replaced.\n"
          "\n"
          "  -i, --id ID       participant id, e.g. coa, gemeente:0716, vwn:zeeland\n"
          "  -o, --out DIR     directory to write to (default .)\n"
          "  -f, --force       overwrite existing files\n"
          "  -h, --help        print this help\n");
}

int cmd_keygen(int argc, char **argv) {
  static const struct option opts[] = {{"id", required_argument, NULL, 'i'},
                                       {"out", required_argument, NULL, 'o'},
                                       {"force", no_argument, NULL, 'f'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *id = NULL, *dir = ".";
  int force = 0, c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "i:o:fh", opts, NULL)) != -1) {
    switch (c) {
    case 'i': id = optarg; break;
    case 'o': dir = optarg; break;
    case 'f': force = 1; break;
    case 'h': s_usage(stdout); return CLI_EXIT_OK;
    default: s_usage(stderr); return CLI_EXIT_USAGE;
    }
  }
  if (!id || optind != argc) {
    s_usage(stderr);
    return CLI_EXIT_USAGE;
  }
  if (!participant_valid_id(id)) {
    fprintf(stderr, "keten keygen: invalid participant id '%s' (lower-case "
                    "[a-z0-9-] segments joined by ':', at most 64 bytes)\n",
            id);
    return CLI_EXIT_USAGE;
  }
  char name[KETEN_ID_MAX + 1];
  snprintf(name, sizeof name, "%s", id);
  for (char *p = name; *p; p++)
    if (*p == ':' || *p == '/')
      *p = '_';
  char secret[1024], public[1024];
  snprintf(secret, sizeof secret, "%s/%s.key", dir, name);
  snprintf(public, sizeof public, "%s/%s.pub", dir, name);
  if (cli_refuse_symlink("keten keygen", secret) != 0 ||
      cli_refuse_symlink("keten keygen", public) != 0)
    return CLI_EXIT_LOCAL;
  keten_keys_t keys;
  keten_err_t rc = keten_keys_generate(&keys, id);
  if (rc == KETEN_OK)
    rc = keten_keys_save(&keys, secret, public, force);
  keten_keys_wipe(&keys);
  if (rc != KETEN_OK) {
    fprintf(stderr, "keten keygen: cannot write %s / %s: %s%s\n", secret,
            public, keten_strerror(rc),
            force ? "" : " (use --force to overwrite)");
    return cli_exit_for(rc);
  }
  printf("wrote %s (secret, 0600) and %s (public)\n", secret, public);
  return CLI_EXIT_OK;
}
