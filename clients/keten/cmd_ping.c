/* keten ping — HELLO, then PINGs: proves the key is registered and the
 * broker answers, and prints who the broker thinks we are. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void s_usage(FILE *out) {
  fprintf(out,
          "usage: keten ping [connection options] [--count N] [--size BYTES]\n"
          "\n"
          "Says HELLO to ketend, prints the participant id and role it knows\n"
          "you by, then sends N pings (default 1) with BYTES of payload.\n"
          "\n" CLI_CONN_HELP
          "  -c, --count N           number of pings (default 1)\n"
          "  -s, --size BYTES        payload bytes per ping (default 0)\n"
          "  -h, --help              print this help\n");
}

int cmd_ping(int argc, char **argv) {
  static const struct option opts[] = {CLI_CONN_OPTIONS,
                                       {"count", required_argument, NULL, 'c'},
                                       {"size", required_argument, NULL, 's'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  cli_conn_t conn;
  cli_conn_defaults(&conn);
  long count = 1, size = 0;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, CLI_CONN_SHORT "c:s:h", opts, NULL)) !=
         -1) {
    if (cli_conn_option(&conn, c, optarg))
      continue;
    switch (c) {
    case 'c': count = cli_number(optarg, 1000000); break;
    case 's': size = cli_number(optarg, 1000000); break;
    case 'h': s_usage(stdout); return CLI_EXIT_OK;
    default: s_usage(stderr); return CLI_EXIT_USAGE;
    }
  }
  if (optind != argc || count < 1 || count > 1000000 || size < 0 ||
      size > 1000000) {
    s_usage(stderr);
    return CLI_EXIT_USAGE;
  }
  int exit_code = CLI_EXIT_OK;
  keten_client_t *client = cli_connect(&conn, &exit_code);
  if (!client)
    return exit_code;
  keten_welcome_t w;
  keten_err_t rc = keten_client_hello(client, &w);
  if (rc != KETEN_OK) {
    fprintf(stderr, "keten ping: %s: %s\n", keten_strerror(rc),
            keten_client_error(client));
    keten_client_destroy(&client);
    return cli_exit_for(rc);
  }
  printf("connected to ketend %s (protocol %u) as %s (%s, \"%s\")\n",
         w.broker_version, w.protocol_version, w.participant_id,
         keten_role_name(w.role), w.display_name);
  unsigned char *payload = calloc(1, (size_t)size + 1);
  for (long i = 0; payload && i < count && rc == KETEN_OK; i++) {
    int64_t rtt = 0;
    rc = keten_client_ping(client, payload, (size_t)size, &rtt);
    if (rc == KETEN_OK)
      printf("pong %ld: %ld bytes, rtt %.3f ms\n", i + 1, size,
             (double)rtt / 1000.0);
  }
  if (!payload)
    rc = KETEN_ERR_NOMEM;
  if (rc != KETEN_OK)
    fprintf(stderr, "keten ping: %s: %s\n", keten_strerror(rc),
            keten_client_error(client));
  free(payload);
  keten_client_destroy(&client);
  return cli_exit_for(rc);
}
