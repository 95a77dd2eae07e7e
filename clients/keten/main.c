/* keten — the command-line client: dispatches to the subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cmd_erase(int argc, char **argv); /* cmd_erase.c */
int cmd_validate(int argc, char **argv); /* cmd_validate.c */

static void s_usage(FILE *out) {
  fprintf(out,
          "usage: keten COMMAND [options]\n"
          "\n"
          "commands:\n"
          "  keygen       make a participant's transport, signing and sealing key pairs\n"
          "  chainkey     make the chain key the partners share for subject pseudonyms\n"
          "  subject      print the pseudonym of a V-nummer\n"
          "  ping         check the connection to ketend and who it thinks you are\n"
          "  consent      grant, revoke or list consents of a subject\n"
          "  put          seal and store a section of a subject's profile\n"
          "  fetch        fetch and open the sections of a subject you may read\n"
          "  validate     check a section file against its kind's schema (offline)\n"
          "  erase        erase the sections you wrote about a subject (AVG art. 17;\n"
          "               keten erase SUBJECT --reason TEXT [--kinds ...])\n"
          "  listen       receive sections, TVS events and notices; serve rewraps\n"
          "  tvs          the TVS feed: publish events (TVS), list koppelingen, figures\n"
          "  audit        the audit log: verify (the Merkle log and tree heads, on the\n"
          "               store), subject (a subject's entries), report (the person's\n"
          "               access report), proof (an inclusion proof from ketend),\n"
          "               prove (check a proof bundle offline)\n"
          "  root         the chain root: keygen, entry, sign, show (the beheerder, offline)\n"
          "  fingerprint  print the fingerprint of a key, root key or registry entry file\n"
          "  admin        operator commands on the broker's store: participant\n"
          "               add|rotate|list|remove|export, subject erase, backup,\n"
          "               migrate [--dry-run] (--config ketend.conf for the paths)\n"
          "\n"
          "Run 'keten COMMAND --help' for the options of a command.\n"
          "Exit status: 0 ok, 1 refused by the broker, 2 usage, 3 no connection,\n"
          "4 local file, key or store failure, 5 the broker's answer failed a check.\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    s_usage(stderr);
    return CLI_EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
      strcmp(cmd, "help") == 0) {
    s_usage(stdout);
    return CLI_EXIT_OK;
  }
  if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
    printf("keten %s\n", keten_version());
    return CLI_EXIT_OK;
  }
  if (strcmp(cmd, "keygen") == 0)
    return cmd_keygen(argc - 1, argv + 1);
  if (strcmp(cmd, "ping") == 0)
    return cmd_ping(argc - 1, argv + 1);
  if (strcmp(cmd, "admin") == 0)
    return cmd_admin(argc - 1, argv + 1);
  if (strcmp(cmd, "subject") == 0)
    return cmd_subject(argc - 1, argv + 1);
  if (strcmp(cmd, "chainkey") == 0)
    return cmd_chainkey(argc - 1, argv + 1);
  if (strcmp(cmd, "validate") == 0)
    return cmd_validate(argc - 1, argv + 1);
  if (strcmp(cmd, "put") == 0)
    return cmd_put(argc - 1, argv + 1);
  if (strcmp(cmd, "fetch") == 0)
    return cmd_fetch(argc - 1, argv + 1);
  if (strcmp(cmd, "listen") == 0)
    return cmd_listen(argc - 1, argv + 1);
  if (strcmp(cmd, "consent") == 0)
    return cmd_consent(argc - 1, argv + 1);
  if (strcmp(cmd, "audit") == 0)
    return cmd_audit(argc - 1, argv + 1);
  if (strcmp(cmd, "root") == 0)
    return cmd_root(argc - 1, argv + 1);
  if (strcmp(cmd, "fingerprint") == 0)
    return cmd_fingerprint(argc - 1, argv + 1);
  if (strcmp(cmd, "tvs") == 0)
    return cmd_tvs(argc - 1, argv + 1);
  if (strcmp(cmd, "erase") == 0)
    return cmd_erase(argc - 1, argv + 1);
  fprintf(stderr, "keten: unknown command '%s'\n", cmd);
  s_usage(stderr);
  return CLI_EXIT_USAGE;
}
