/* keten — the command-line client: dispatches to the subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void s_usage(FILE *out) {
  fprintf(out,
          "usage: keten COMMAND [options]\n"
          "\n"
          "commands:\n"
          "  keygen       make a participant's transport, signing and sealing key pairs\n"
          "  ping         check the connection to ketend and who it thinks you are\n"
          "  admin        operator commands on the broker's store (participant add|list|remove)\n"
          "\n"
          "Run 'keten COMMAND --help' for the options of a command.\n"
          "Exit status: 0 ok, 1 refused by the broker, 2 usage, 3 no connection,\n"
          "4 local file, key or store failure.\n");
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
  fprintf(stderr, "keten: unknown command '%s'\n", cmd);
  s_usage(stderr);
  return CLI_EXIT_USAGE;
}
