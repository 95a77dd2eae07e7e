/* keten subject / keten chainkey — pseudonyms of subjects. */
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void s_usage_subject(FILE *out) {
  fprintf(out,
          "usage: keten subject --chain-key FILE V-NUMMER\n"
          "\n"
          "Prints the 64-hex pseudonym of a V-nummer under the chain key: the\n"
          "id keten uses for the person. The V-nummer never leaves this machine.\n"
          "\n"
          "  -K, --chain-key FILE   the chain key file (env KETEN_CHAIN_KEY)\n"
          "  -h, --help             print this help\n");
}

int cmd_subject(int argc, char **argv) {
  static const struct option opts[] = {{"chain-key", required_argument, NULL, 'K'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *chain = NULL;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "K:h", opts, NULL)) != -1) {
    switch (c) {
    case 'K': chain = optarg; break;
    case 'h': s_usage_subject(stdout); return CLI_EXIT_OK;
    default: s_usage_subject(stderr); return CLI_EXIT_USAGE;
    }
  }
  if (optind != argc - 1) {
    s_usage_subject(stderr);
    return CLI_EXIT_USAGE;
  }
  if (!chain && !getenv("KETEN_CHAIN_KEY")) {
    fprintf(stderr, "keten subject: --chain-key is required\n");
    return CLI_EXIT_USAGE;
  }
  uint8_t subject[KETEN_SUBJECT_BYTES];
  if (cli_subject(argv[optind], chain, subject) != 0)
    return CLI_EXIT_USAGE;
  char hex[2 * KETEN_SUBJECT_BYTES + 1];
  sodium_bin2hex(hex, sizeof hex, subject, sizeof subject);
  printf("%s\n", hex);
  return CLI_EXIT_OK;
}

static void s_usage_chainkey(FILE *out) {
  fprintf(out,
          "usage: keten chainkey --out FILE [--force]\n"
          "\n"
          "Makes a new chain key (mode 0600). The partners of one chain share it\n"
          "out of band; the broker must never have it.\n"
          "\n"
          "  -o, --out FILE   where to write it\n"
          "  -f, --force      overwrite an existing file\n"
          "  -h, --help       print this help\n");
}

int cmd_chainkey(int argc, char **argv) {
  static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
                                       {"force", no_argument, NULL, 'f'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *out = NULL;
  int force = 0, c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "o:fh", opts, NULL)) != -1) {
    switch (c) {
    case 'o': out = optarg; break;
    case 'f': force = 1; break;
    case 'h': s_usage_chainkey(stdout); return CLI_EXIT_OK;
    default: s_usage_chainkey(stderr); return CLI_EXIT_USAGE;
    }
  }
  if (!out || optind != argc) {
    s_usage_chainkey(stderr);
    return CLI_EXIT_USAGE;
  }
  if (cli_refuse_symlink("keten chainkey", out) != 0)
    return CLI_EXIT_LOCAL;
  uint8_t key[KETEN_CHAIN_KEY_BYTES];
  keten_err_t rc = keten_chain_key_generate(key);
  if (rc == KETEN_OK)
    rc = keten_chain_key_save(key, out, force);
  sodium_memzero(key, sizeof key);
  if (rc != KETEN_OK) {
    fprintf(stderr, "keten chainkey: %s: %s\n", out, keten_strerror(rc));
    return cli_exit_for(rc);
  }
  printf("wrote %s (secret, 0600)\n", out);
  return CLI_EXIT_OK;
}
