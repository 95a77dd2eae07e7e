/* cli — what the keten subcommands share: exit codes, the connection
 * options, and the entry point of each subcommand. */
#ifndef KETEN_CLI_H
#define KETEN_CLI_H

#include <stdint.h>

#include <jansson.h>

#include "keten.h"

/* Exit codes of the keten command (documented in docs/operations.md). */
enum {
  CLI_EXIT_OK = 0,
  CLI_EXIT_REFUSED = 1,   /* the broker answered with an ERROR */
  CLI_EXIT_USAGE = 2,     /* bad command line */
  CLI_EXIT_CONNECT = 3,   /* no connection: timeout, refused key, transport */
  CLI_EXIT_LOCAL = 4,     /* a local file, key or store failed */
  CLI_EXIT_UNTRUSTED = 5, /* the broker's answer failed a check (signature,
                             root-signed entry, our own consent, policy) */
  CLI_EXIT_PARTIAL = 6,   /* fetch: some sections could not be opened (those
                             that opened are printed) */
  CLI_EXIT_DISPLACED = 7  /* listen: another listener with our key took the
                             subscription */
};

/* Connection settings common to every subcommand that talks to ketend.
 * Defaults come from KETEN_ENDPOINT, KETEN_KEYS and KETEN_BROKER_KEY. */
#define CLI_MAX_PREVIOUS_KEYS 8

typedef struct {
  const char *endpoint;
  const char *keys_path;
  const char *broker_key_path;
  const char *root_key_path;
  const char *previous_keys[CLI_MAX_PREVIOUS_KEYS];
  int n_previous_keys;
  int timeout_ms;
} cli_conn_t;

/* Fills conn from the environment (KETEN_ENDPOINT, KETEN_KEYS,
 * KETEN_BROKER_KEY, KETEN_ROOT_KEY; KETEN_PREVIOUS_KEYS, ':'-separated). */
void cli_conn_defaults(cli_conn_t *conn);

/* Handles a connection option (the long options listed by
 * CLI_CONN_OPTIONS); returns 1 if c was one. */
int cli_conn_option(cli_conn_t *conn, int c, const char *arg);

/* getopt_long entries for the connection options. */
#define CLI_CONN_OPTIONS                                                    \
  {"endpoint", required_argument, NULL, 'e'},                               \
  {"keys", required_argument, NULL, 'k'},                                   \
  {"broker-key", required_argument, NULL, 'b'},                             \
  {"root-key", required_argument, NULL, 'R'},                               \
  {"previous-keys", required_argument, NULL, 'P'},                          \
  {"timeout", required_argument, NULL, 'T'}
#define CLI_CONN_SHORT "e:k:b:R:P:T:"
#define CLI_CONN_HELP                                                       \
  "  -e, --endpoint URL      broker endpoint (env KETEN_ENDPOINT)\n"        \
  "  -k, --keys FILE         your secret key file (env KETEN_KEYS)\n"       \
  "  -b, --broker-key FILE   the broker's public key file (env KETEN_BROKER_KEY)\n" \
  "  -R, --root-key FILE     the chain root's public key file (env KETEN_ROOT_KEY)\n" \
  "  -P, --previous-keys FILE  your secret key file before a rotation; repeatable\n" \
  "                          (env KETEN_PREVIOUS_KEYS, ':'-separated)\n"       \
  "  -T, --timeout MS        per-attempt reply timeout (default 5000)\n"

/* Loads the keys and opens a client. On failure prints why and returns
 * NULL with *exit_code set. */
keten_client_t *cli_connect(const cli_conn_t *conn, int *exit_code);

/* Maps a libketen error to the command's exit code. */
int cli_exit_for(keten_err_t err);

/* Reads a subject argument: 64 hex digits (a pseudonym), or a V-nummer
 * turned into its pseudonym with the chain key file at chain_key_path (or
 * KETEN_CHAIN_KEY). Prints why and returns -1 on failure. */
int cli_subject(const char *arg, const char *chain_key_path,
                uint8_t subject[KETEN_SUBJECT_BYTES]);

/* 0 if path is absent or not a symbolic link; else prints "CMD: refused:
 * PATH is a symbolic link ..." and returns -1. Called before writing any
 * file (keys, entries, the store is checked by store_open). */
int cli_refuse_symlink(const char *cmd, const char *path);

/* Parses a positive decimal number bounded by max; -1 on junk. */
long cli_number(const char *arg, long max);

/* `keten audit verify` on an open store (read-only is enough): the hash
 * chain, the Merkle tree, checkpoints and stored tree heads against the
 * broker key files given (none: matched, signatures not checked). Prints
 * what it checked or the first mismatch; returns CLI_EXIT_OK,
 * CLI_EXIT_REFUSED (the log does not verify) or CLI_EXIT_LOCAL. Used by
 * `keten admin backup` to verify the copy (cmd_audit.c). */
typedef struct store store_t;
int cli_audit_verify(store_t *store, const char *const *key_paths, int n_keys);

int cmd_keygen(int argc, char **argv);
int cmd_ping(int argc, char **argv);
int cmd_admin(int argc, char **argv);
int cmd_subject(int argc, char **argv);
int cmd_chainkey(int argc, char **argv);
int cmd_put(int argc, char **argv);
int cmd_fetch(int argc, char **argv);
int cmd_listen(int argc, char **argv);
int cmd_consent(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_root(int argc, char **argv);
int cmd_fingerprint(int argc, char **argv);
int cmd_tvs(int argc, char **argv);

/* A TVS event as a JSON object with every field (the subject as hex, ""
 * for a TAAKSTELLING); the caller owns it. NULL when out of memory. */
json_t *cli_tvs_event_json(const keten_tvs_event_t *ev);

#endif
