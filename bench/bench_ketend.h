/* bench_ketend — what keten-bench (bench_rr.c) and keten-bench-fanout
 * (bench_fanout.c, fanout_store.c) share to run a real ketend: registry
 * entries signed by a chain root key, the root's public key file, its
 * ketend.conf and command line, waiting for its first HELLO and reading
 * its summary line. Not part of keten; see bench/README.md. */
#ifndef KETEN_BENCH_KETEND_H
#define KETEN_BENCH_KETEND_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "bench_measure.h"
#include "keten.h"
#include "store.h"

/* Every entry the benchmarks install is valid from an hour before it is
 * signed until a year after. */
#define BENCH_ENTRY_BEFORE_MS (3600 * INT64_C(1000))
#define BENCH_ENTRY_AFTER_MS (365 * INT64_C(86400000))

/* Fills p with the registry entry for k (id k->id) with role (a
 * keten.Role name such as "COA") and display name, valid
 * [now - BENCH_ENTRY_BEFORE_MS, now + BENCH_ENTRY_AFTER_MS), signed with
 * root's secret key. Returns 0, or -1 with a reason in err. */
int bench_entry_make(const keten_root_key_t *root, const keten_keys_t *k,
                     const char *role, const char *name, int64_t now_ms,
                     participant_t *p, char *err, size_t errlen);

/* Installs the entry bench_entry_make() makes in store. Returns 0, or -1
 * with a reason in err. */
int bench_entry_add(store_t *store, const keten_root_key_t *root,
                    const keten_keys_t *k, const char *role, const char *name,
                    int64_t now_ms, char *err, size_t errlen);

/* Writes root's public key file (ketend's --root-key), replacing one
 * that exists. Returns 0, or -1 with a reason in err. */
int bench_root_save(const keten_root_key_t *root, const char *public_path,
                    char *err, size_t errlen);

/* Writes a ketend.conf at path (mode 0600, replacing one that exists)
 * that raises the per-participant budgets of docs/security.md 4.45 to
 * their maxima: requests_per_second, requests_burst, max_connections,
 * max_pending_per_author, max_author_bytes, prepare_per_second and
 * prepare_burst. The drivers run all their clients as one or a few
 * participants, so with the shipped budgets they would measure the
 * budget (ERROR_RATE_LIMITED at 1 000 requests a second), not ketend.
 * extra (may be NULL) is appended as it is, e.g.
 * "metrics_endpoint = 127.0.0.1:PORT\n". Returns 0, or -1 with a reason
 * in err. */
int bench_ketend_conf_write(const char *path, const char *extra, char *err,
                            size_t errlen);

/* ketend's command line, built before fork() so that the child only
 * calls execv(). */
#define BENCH_KETEND_MAX_ARGS 24
typedef struct {
  char arg[BENCH_KETEND_MAX_ARGS][512];
  char *argv[BENCH_KETEND_MAX_ARGS + 1];
  int argc;
} bench_ketend_argv_t;

/* bin --endpoint endpoint --key-file key_file --root-key root_key
 *     --store store --log-level log_level */
void bench_ketend_argv(bench_ketend_argv_t *a, const char *bin,
                       const char *endpoint, const char *key_file,
                       const char *root_key, const char *store,
                       const char *log_level);

/* Appends opt and (unless NULL) value. Returns 0, or -1 when full. */
int bench_ketend_arg(bench_ketend_argv_t *a, const char *opt,
                     const char *value);

/* Fills cfg for a libketen client of keys at endpoint that pins the
 * broker's transport key and the chain root; retries -1 (a lost reply is
 * an error, not a retry). */
void bench_client_config(keten_client_config_t *cfg, const char *endpoint,
                         const keten_keys_t *keys, const uint8_t *broker_pk,
                         const uint8_t *root_pk, int timeout_ms);

/* HELLOs with a client made from cfg until ketend (pid in *slot) answers,
 * exits (then *slot is cleared) or timeout_ms have passed since t0_ns.
 * Returns 0 with its WELCOME in w, or -1 with a reason in err. */
int bench_ketend_wait_hello(volatile sig_atomic_t *slot,
                            const keten_client_config_t *cfg, int64_t t0_ns,
                            int timeout_ms, keten_welcome_t *w, char *err,
                            size_t errlen);

/* The last summary line ketend logged at log_path when it stopped, from
 * "stopping: " on, without the newline; "" when there is none. */
void bench_ketend_summary(const char *log_path, char *out, size_t cap);

#endif
