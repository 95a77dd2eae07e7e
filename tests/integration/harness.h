/* harness — starts a real ketend in a temporary directory with a registry
 * of example partners, and gives tests clients and raw CURVE sockets. */
#ifndef KETEN_TEST_HARNESS_H
#define KETEN_TEST_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "keten.h"

#define HARNESS_MAX_PARTNERS 16

typedef struct {
  char id[KETEN_ID_MAX + 1];
  int role;
  keten_keys_t keys;
} harness_partner_t;

typedef struct {
  char dir[256];             /* temp dir, removed by harness_destroy */
  char store[300];
  char key_file[300];
  char root_file[300];       /* the chain root's public key file */
  char log_file[300];
  char endpoint[300];        /* tcp://127.0.0.1:PORT or ipc://DIR/ketend.sock */
  char extra_args[4][64];    /* extra ketend options, e.g. --max-frame-bytes */
  int n_extra;
  keten_keys_t broker;
  keten_root_key_t root;     /* the chain root (secret: the tests sign entries) */
  harness_partner_t partners[HARNESS_MAX_PARTNERS];
  int n_partners;
  pid_t pid;
} harness_t;

/* Creates the temp dir, broker keys, a chain root key and a store with
 * root-signed entries of the four example partners: coa (COA),
 * gemeente:0716 (GEMEENTE), vwn:zeeland (VOLUNTEER), ggz:zeeland (CARE).
 * use_ipc picks an ipc:// endpoint, else tcp loopback. */
harness_t *harness_new(int use_ipc);

/* Adds a partner with fresh keys and a root-signed entry valid for a year
 * (ketend reloads the registry within a second when it runs). Returns it,
 * or NULL. */
harness_partner_t *harness_add_partner(harness_t *h, const char *id,
                                       const char *role, const char *name);

/* Installs a root-signed entry for id with keys, valid in [from, until)
 * (ms since the epoch), signed by root (h->root when NULL). 0 or -1. */
int harness_install_entry(harness_t *h, const char *id, int role,
                          const keten_keys_t *keys, int64_t from,
                          int64_t until, const keten_root_key_t *root);

/* Starts ketend and waits until its log says "ready". Returns 0 or -1. */
int harness_start(harness_t *h);

/* Writes conf (ketend.conf lines) to DIR/ketend.conf and makes the next
 * harness_start() use it (--config). Returns 0 or -1. */
int harness_config(harness_t *h, const char *conf);

/* Stops ketend with SIGTERM (SIGKILL after 5 s). Returns its exit status. */
int harness_stop(harness_t *h);

/* Stops ketend if running, removes the temp dir, frees h; *h = NULL. */
void harness_destroy(harness_t **h);

/* The partner with this id (must exist). */
harness_partner_t *harness_partner(harness_t *h, const char *id);

/* A libketen client for keys against this broker (timeout_ms per attempt,
 * retries as in keten_client_config_t), pinning the broker's transport key,
 * the chain root and the broker's signing key (delete notices). */
keten_client_t *harness_client(harness_t *h, const keten_keys_t *keys,
                               int timeout_ms, int retries);

/* The configuration harness_client() uses, for a test to change before
 * keten_client_new() (e.g. a wrong broker signing key). */
void harness_client_config(harness_t *h, const keten_keys_t *keys,
                           int timeout_ms, int retries,
                           keten_client_config_t *cfg);

/* A raw CURVE DEALER socket for keys, connected; for sending bad frames.
 * ctx is created by the caller. */
void *harness_raw_socket(harness_t *h, void *ctx, const keten_keys_t *keys);

/* Receives one frame on sock within timeout_ms; returns its length or -1.
 * buf gets at most cap bytes. */
int harness_recv(void *sock, uint8_t *buf, size_t cap, int timeout_ms);

/* Counts the lines of the broker's log containing needle. */
int harness_log_count(harness_t *h, const char *needle);

/* Waits up to timeout_ms until the log has at least n lines with needle. */
int harness_wait_log(harness_t *h, const char *needle, int n, int timeout_ms);

/* Writes DIR/broker.pub and runs `keten audit verify --store STORE
 * --broker-key DIR/broker.pub` (ketend should be stopped). Its stdout goes
 * to *out (may be NULL; free()). Returns its exit status, or -1. */
int harness_audit_verify(harness_t *h, char **out);

/* Runs ketend in the foreground with argv (NULL-terminated, without the
 * program name), stderr into the log; returns its exit status. */
int harness_run_ketend(harness_t *h, const char *const *argv);

/* A loopback tcp port that was free a moment ago (bound and released), or
 * -1. */
int harness_free_port(void);

/* Runs the keten CLI (KETEN_CLI_PATH) with argv (NULL-terminated, without
 * the program name), its stderr into the broker's log. *out (may be NULL)
 * gets its stdout as a NUL-terminated malloc'd string (free()). Returns
 * its exit status, or -1 if it could not be run. */
int harness_run_cli(harness_t *h, const char *const *argv, char **out);

#endif
