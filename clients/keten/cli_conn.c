/* cli_conn — the connection options and client set-up of the subcommands. */
#include <errno.h>
#include <getopt.h>
#include <sodium.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

void cli_conn_defaults(cli_conn_t *conn) {
  memset(conn, 0, sizeof *conn);
  conn->endpoint = getenv("KETEN_ENDPOINT");
  conn->keys_path = getenv("KETEN_KEYS");
  conn->broker_key_path = getenv("KETEN_BROKER_KEY");
  conn->root_key_path = getenv("KETEN_ROOT_KEY");
  conn->timeout_ms = 5000;
  /* KETEN_PREVIOUS_KEYS=a.key:b.key (kept for the life of the process) */
  static char previous[4096];
  const char *env = getenv("KETEN_PREVIOUS_KEYS");
  if (env && strlen(env) < sizeof previous) {
    snprintf(previous, sizeof previous, "%s", env);
    char *save = NULL;
    for (char *p = strtok_r(previous, ":", &save);
         p && conn->n_previous_keys < CLI_MAX_PREVIOUS_KEYS;
         p = strtok_r(NULL, ":", &save))
      conn->previous_keys[conn->n_previous_keys++] = p;
  }
}

int cli_conn_option(cli_conn_t *conn, int c, const char *arg) {
  switch (c) {
  case 'e': conn->endpoint = arg; return 1;
  case 'k': conn->keys_path = arg; return 1;
  case 'b': conn->broker_key_path = arg; return 1;
  case 'R': conn->root_key_path = arg; return 1;
  case 'P':
    if (conn->n_previous_keys < CLI_MAX_PREVIOUS_KEYS)
      conn->previous_keys[conn->n_previous_keys++] = arg;
    return 1;
  case 'T': conn->timeout_ms = (int)cli_number(arg, 3600000); return 1;
  default: return 0;
  }
}

int cli_exit_for(keten_err_t err) {
  switch (err) {
  case KETEN_OK: return CLI_EXIT_OK;
  case KETEN_ERR_REMOTE:
  case KETEN_ERR_REMOVED: return CLI_EXIT_REFUSED;
  case KETEN_ERR_PARTIAL: return CLI_EXIT_PARTIAL;
  case KETEN_ERR_DISPLACED: return CLI_EXIT_DISPLACED;
  case KETEN_ERR_EVIDENCE:
  case KETEN_ERR_CRYPTO: return CLI_EXIT_UNTRUSTED;
  case KETEN_ERR_INVALID: return CLI_EXIT_USAGE;
  case KETEN_ERR_IO:
  case KETEN_ERR_FORMAT:
  case KETEN_ERR_PERMISSIONS:
  case KETEN_ERR_NOMEM: return CLI_EXIT_LOCAL;
  default: return CLI_EXIT_CONNECT;
  }
}

keten_client_t *cli_connect(const cli_conn_t *conn, int *exit_code) {
  if (!conn->endpoint || !conn->keys_path || !conn->broker_key_path ||
      !conn->root_key_path) {
    fprintf(stderr, "keten: --endpoint, --keys, --broker-key and --root-key "
                    "are required (or KETEN_ENDPOINT, KETEN_KEYS, "
                    "KETEN_BROKER_KEY, KETEN_ROOT_KEY)\n");
    *exit_code = CLI_EXIT_USAGE;
    return NULL;
  }
  if (conn->timeout_ms <= 0) {
    fprintf(stderr, "keten: --timeout must be a positive number of ms\n");
    *exit_code = CLI_EXIT_USAGE;
    return NULL;
  }
  keten_keys_t keys, broker, previous[CLI_MAX_PREVIOUS_KEYS];
  keten_root_key_t root;
  int n_prev = 0;
  const char *failed = conn->keys_path;
  keten_err_t rc = keten_keys_load(conn->keys_path, &keys);
  if (rc == KETEN_OK && !keys.has_secret)
    rc = KETEN_ERR_FORMAT;
  if (rc == KETEN_OK) {
    failed = conn->broker_key_path;
    rc = keten_keys_load(conn->broker_key_path, &broker);
  }
  if (rc == KETEN_OK) {
    failed = conn->root_key_path;
    rc = keten_root_key_load(conn->root_key_path, &root);
    keten_root_key_wipe(&root); /* only the public key is used */
  }
  for (; rc == KETEN_OK && n_prev < conn->n_previous_keys; n_prev++) {
    failed = conn->previous_keys[n_prev];
    rc = keten_keys_load(failed, &previous[n_prev]);
    if (rc == KETEN_OK && !previous[n_prev].has_secret)
      rc = KETEN_ERR_FORMAT;
  }
  keten_client_t *client = NULL;
  if (rc != KETEN_OK) {
    fprintf(stderr, "keten: %s: %s\n", failed, keten_strerror(rc));
    *exit_code = cli_exit_for(rc);
  } else {
    keten_client_config_t cfg = {.endpoint = conn->endpoint,
                                 .keys = &keys,
                                 .broker_key = broker.transport_pk,
                                 .root_key = root.public_key,
                                 .previous_keys = previous,
                                 .n_previous_keys = (size_t)n_prev,
                                 .timeout_ms = conn->timeout_ms,
                                 /* verifies the broker's delete notices */
                                 .broker_signing_key = broker.signing_pk};
    char err[256];
    client = keten_client_new(&cfg, err, sizeof err);
    if (!client) {
      fprintf(stderr, "keten: %s\n", err);
      *exit_code = CLI_EXIT_CONNECT;
    }
  }
  keten_keys_wipe(&keys);
  keten_keys_wipe(&broker);
  for (int i = 0; i < n_prev; i++)
    keten_keys_wipe(&previous[i]);
  return client;
}

long cli_number(const char *arg, long max) {
  char *end = NULL;
  errno = 0;
  long v = strtol(arg, &end, 10);
  if (errno || end == arg || *end != '\0' || v < 0 || v > max)
    return -1;
  return v;
}

int cli_subject(const char *arg, const char *chain_key_path,
                uint8_t subject[KETEN_SUBJECT_BYTES]) {
  size_t got = 0;
  if (strlen(arg) == 2 * KETEN_SUBJECT_BYTES &&
      sodium_hex2bin(subject, KETEN_SUBJECT_BYTES, arg, strlen(arg), NULL,
                     &got, NULL) == 0 &&
      got == KETEN_SUBJECT_BYTES)
    return 0;
  if (!chain_key_path)
    chain_key_path = getenv("KETEN_CHAIN_KEY");
  if (!chain_key_path) {
    fprintf(stderr, "keten: '%s' is not a 64-hex subject; to use a V-nummer "
                    "give --chain-key FILE (or KETEN_CHAIN_KEY)\n", arg);
    return -1;
  }
  uint8_t key[KETEN_CHAIN_KEY_BYTES];
  keten_err_t rc = keten_chain_key_load(chain_key_path, key);
  if (rc != KETEN_OK) {
    fprintf(stderr, "keten: %s: %s\n", chain_key_path, keten_strerror(rc));
    return -1;
  }
  rc = keten_subject_id(key, arg, subject);
  sodium_memzero(key, sizeof key);
  if (rc != KETEN_OK) {
    fprintf(stderr, "keten: not a V-nummer (10 digits) nor a 64-hex subject\n");
    return -1;
  }
  return 0;
}
