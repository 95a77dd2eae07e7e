/* bench_curve — the bare ZeroMQ CURVE ends the benchmarks compare ketend
 * with: a ROUTER server in a forked child with a minimal ZAP handler and
 * ketend's socket options, and a DEALER set up as libketen sets up its
 * own. Not part of keten; see bench/README.md. */
#ifndef KETEN_BENCH_CURVE_H
#define KETEN_BENCH_CURVE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "keten.h"

/* Socket settings both kinds of server share (ketend's defaults). */
#define BENCH_HWM 10000
#define BENCH_HEARTBEAT_IVL_MS 5000
#define BENCH_HEARTBEAT_TIMEOUT_MS 15000
#define BENCH_MAX_FRAME 1048576

/* zmq_setsockopt of an int option. Returns zmq_setsockopt's result. */
int bench_setint(void *sock, int opt, int value);

/* A CURVE DEALER in ctx connected to endpoint as libketen sets up its own
 * (linger 0, reply size cap, heartbeats); timeout_ms > 0 also sets the
 * send and receive timeouts. Returns the socket, or NULL (zmq_errno()). */
void *bench_curve_dealer(void *ctx, const char *endpoint,
                         const keten_keys_t *me,
                         const uint8_t server_pk[KETEN_KEY_BYTES],
                         int timeout_ms);

/* A bare CURVE server: what it binds, its key, the client keys its ZAP
 * handler admits (no one else), and what it does with the messages. */
typedef struct {
  const char *what;               /* for errors: "the echo server" */
  const char *bind_ep;
  const uint8_t *server_sk;       /* KETEN_KEY_BYTES */
  const uint8_t (*allowed)[KETEN_KEY_BYTES];
  int n_allowed;
  /* in the child, before binding (may be NULL): NULL, or why the server
   * cannot start (it reports that and exits) */
  const char *(*on_start)(void *arg);
  /* called when the ROUTER has messages waiting; handles up to a batch */
  void (*on_batch)(void *router, void *arg);
  /* called once before the child exits (may be NULL) */
  void (*on_stop)(void *arg);
  void *arg;
} bench_curve_server_t;

/* Forks the server (its pid in *slot), which binds a ROUTER with ketend's
 * options (CURVE, ZAP, ROUTER_MANDATORY, HWM, heartbeats, MAXMSGSIZE),
 * serves until SIGTERM or SIGINT and exits. Returns 0 with its endpoint
 * in endpoint, or -1 with a reason in err (the child stopped). */
int bench_curve_server_start(volatile sig_atomic_t *slot,
                             const bench_curve_server_t *s, int timeout_ms,
                             char *endpoint, size_t cap, char *err,
                             size_t errlen);

#endif
