/* keten-bench — the baseline request/reply benchmark (issue 2, item 7).
 *
 * One run measures two sides, taking turns in rounds (bare, ketend, ketend,
 * bare, ...), with the same client pattern (N threads, each its own ZeroMQ
 * context and one CURVE DEALER, each a closed loop with one request
 * outstanding):
 *
 *   bare    a forked child process running a bare CURVE ROUTER that echoes
 *           every body back unchanged, with a minimal ZAP handler admitting
 *           the one client key: the ceiling of ZeroMQ + CurveZMQ here;
 *   ketend  the real ketend binary, started in a temporary directory with a
 *           fresh broker key, a fresh chain root key and a registry holding
 *           the client's root-signed entry, driven with keten_client_ping()
 *           (PING/PONG with the same body).
 *
 * It prints requests/s, p50/p99 latency, CPU per request and the throughput
 * ratio ketend/bare as a table and as one RESULT line. Children and the
 * temporary directory are removed on every exit path, a watchdog bounds
 * the run, and traffic stays on 127.0.0.1 or ipc://. See bench/README.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>
#include <arpa/inet.h>

#include "bench_curve.h"
#include "bench_ketend.h"
#include "bench_measure.h"
#include "bench_proc.h"
#include "keten.h"
#include "store.h"

#ifndef KETEN_BENCH_KETEND
#define KETEN_BENCH_KETEND "ketend"
#endif

#define BENCH_PARTICIPANT "bench"
#define BENCH_MAX_CLIENTS 256
#define BENCH_MAX_BODY (512 * 1024)
/* How long a server may take to start serving. */
#define BENCH_START_TIMEOUT_MS 10000

enum { SIDE_BARE = 0, SIDE_KETEND = 1, SIDES = 2 };
static const char *const s_side_name[SIDES] = {"bare CURVE echo",
                                               "ketend PING/PONG"};
static const char *const s_side_key[SIDES] = {"bare", "ketend"};

typedef struct {
  int clients, rounds;
  double duration_s, warmup_s;
  size_t size;
  const char *ketend;
  int ipc;
  int timeout_ms;
  int run[SIDES];
  const char *ketend_log_level;
  int keep_tmp, quiet;
  int metrics_ms; /* > 0: ketend serves metrics, scraped every metrics_ms */
  int metrics_interval_ms; /* > 0: ketend's metrics_interval_ms */
  int participants;        /* more registry entries, each with queued notices */
} opts_t;

/* ---- cleanup, also from signal handlers ---------------------------------- */

static volatile sig_atomic_t g_child[SIDES]; /* pid of each side's server, or 0 */
/* Files the run may create in its directory, fixed before any of them
 * exists so that a signal handler can unlink them without allocating. */
static const char *const s_tmp_names[] = {
    "ketend.key", "ketend.pub", "root.pub", "registry.db", "registry.db-wal",
    "registry.db-shm", "registry.db-journal", "ketend.log", "echo.sock",
    "ketend.sock", "ketend.conf", "registry.db.head"};
#define TMP_FILES (sizeof s_tmp_names / sizeof s_tmp_names[0])
static bench_tmp_t g_tmp;
static const bench_fatal_t s_fatal = {
    g_child, SIDES, &g_tmp,
    "keten-bench: watchdog expired: servers killed, temporary files removed\n",
    "keten-bench: interrupted: servers killed, temporary files removed\n"};

/* atexit: whatever path main() leaves by, no server outlives it and the
 * temporary directory goes. */
static void s_cleanup(void) {
  for (int i = 0; i < SIDES; i++)
    bench_child_stop(&g_child[i], 3000);
  if (!g_tmp.dir[0])
    return;
  if (g_tmp.keep) {
    fprintf(stderr, "keten-bench: kept %s\n", g_tmp.dir);
    return;
  }
  if (bench_remove_tree(g_tmp.dir, 0) != 0)
    fprintf(stderr, "keten-bench: could not remove %s: %s\n", g_tmp.dir,
            strerror(errno));
  g_tmp.dir[0] = '\0';
}

static const char *s_tmp_path(const char *name) {
  return bench_tmp_path(&g_tmp, name);
}

/* Prints the last lines of the file at path to stderr, indented. */
static void s_print_tail(const char *path, int lines) {
  char tail[8800];
  long n = bench_log_tail(path, lines, tail, sizeof tail);
  if (n == 0)
    fprintf(stderr, "(%s is empty)\n", path);
  else if (n > 0)
    fputs(tail, stderr);
}

/* ---- the bare CURVE echo server (forked child) ---------------------------- */

/* Echoes up to 256 waiting messages. Same batching as ketend's loop. */
static void s_echo_batch(void *router, void *arg) {
  (void)arg;
  for (int i = 0; i < 256; i++) {
    zmq_msg_t rid, body;
    zmq_msg_init(&rid);
    if (zmq_msg_recv(&rid, router, ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&rid);
      return;
    }
    zmq_msg_init(&body);
    if (!zmq_msg_more(&rid) || zmq_msg_recv(&body, router, 0) < 0 ||
        zmq_msg_more(&body)) {
      /* not a one-frame request: drain and ignore */
      while (zmq_msg_more(&body) && zmq_msg_recv(&body, router, 0) >= 0)
        ;
      zmq_msg_close(&body);
      zmq_msg_close(&rid);
      continue;
    }
    if (zmq_msg_send(&rid, router, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&rid);
      zmq_msg_close(&body);
      continue;
    }
    if (zmq_msg_send(&body, router, ZMQ_DONTWAIT) < 0)
      zmq_msg_close(&body);
  }
}

/* Forks the echo server, admitting client's key and no other. */
static int s_start_echo(const opts_t *o, const keten_keys_t *server,
                        const keten_keys_t *client, char *endpoint,
                        size_t cap, char *err, size_t errlen) {
  char bind_ep[300];
  if (o->ipc)
    snprintf(bind_ep, sizeof bind_ep, "ipc://%s", s_tmp_path("echo.sock"));
  else
    snprintf(bind_ep, sizeof bind_ep, "tcp://127.0.0.1:*");
  bench_curve_server_t s = {
      .what = "the echo server",
      .bind_ep = bind_ep,
      .server_sk = server->transport_sk,
      .allowed = (const uint8_t(*)[KETEN_KEY_BYTES]) & client->transport_pk,
      .n_allowed = 1,
      .on_batch = s_echo_batch};
  return bench_curve_server_start(&g_child[SIDE_BARE], &s,
                                  BENCH_START_TIMEOUT_MS, endpoint, cap, err,
                                  errlen);
}

/* ---- ketend ------------------------------------------------------------- */

/* Notices queued for each of --participants' registry entries, so that
 * the mailbox gauges (depth and oldest-unacked age) have work. */
#define BENCH_EXTRA_NOTICES 3

/* Registers n more participants (VOLUNTEER, ids vwn:bench-I), signed by
 * root, each with BENCH_EXTRA_NOTICES notices in its mailbox. 0, or -1
 * with a reason in err. */
static int s_add_participants(store_t *store, const keten_root_key_t *root,
                              int n, char *err, size_t errlen) {
  static const uint8_t payload[16] = {1};
  for (int i = 0; i < n; i++) {
    keten_keys_t k;
    char id[40];
    snprintf(id, sizeof id, "vwn:bench-%d", i);
    if (keten_keys_generate(&k, id) != KETEN_OK) {
      snprintf(err, errlen, "cannot generate the keys of %s", id);
      return -1;
    }
    int rc = bench_entry_add(store, root, &k, "VOLUNTEER", "keten-bench extra",
                             bench_wall_ms(), err, errlen);
    keten_keys_wipe(&k);
    if (rc != 0)
      return -1;
    for (int j = 0; j < BENCH_EXTRA_NOTICES; j++) {
      store_notice_t notice;
      memset(&notice, 0, sizeof notice);
      notice.kind = 1;
      memset(notice.subject, 0x42, sizeof notice.subject);
      notice.payload = payload;
      notice.payload_len = sizeof payload;
      notice.created_at_ms = bench_wall_ms();
      uint64_t seq = 0;
      if (store_notice_push(store, id, &notice, &seq) != 0) {
        snprintf(err, errlen, "cannot queue a notice for %s", id);
        return -1;
      }
    }
  }
  return 0;
}

/* Writes the broker's key files, the root's public key and a registry
 * holding the client's entry (and o->participants more), signed by the
 * root. */
static int s_prepare_ketend(const opts_t *o, const keten_keys_t *server,
                            const keten_keys_t *client,
                            const keten_root_key_t *root, char *err,
                            size_t errlen) {
  keten_err_t krc = keten_keys_save(server, s_tmp_path("ketend.key"),
                                    s_tmp_path("ketend.pub"), 0);
  if (krc != KETEN_OK) {
    snprintf(err, errlen, "cannot write the broker's key files: %s",
             keten_strerror(krc));
    return -1;
  }
  if (bench_root_save(root, s_tmp_path("root.pub"), err, errlen) != 0)
    return -1;
  char reason[300];
  store_t *store = store_open(s_tmp_path("registry.db"), reason, sizeof reason);
  if (!store) {
    snprintf(err, errlen, "cannot create the registry: %s", reason);
    return -1;
  }
  int rc = bench_entry_add(store, root, client, "VOLUNTEER",
                           "keten-bench client", bench_wall_ms(), reason,
                           sizeof reason);
  if (rc == 0 && o->participants > 0)
    rc = s_add_participants(store, root, o->participants, reason,
                            sizeof reason);
  store_close(&store);
  if (rc != 0) {
    snprintf(err, errlen, "cannot register the client: %s", reason);
    return -1;
  }
  return 0;
}

/* ---- the metrics scraper (--metrics-scrape-ms) ------------------------------ */

/* What a Prometheus server would do to ketend during the run: GET /metrics
 * every o->metrics_ms on its own thread, for the whole run (both sides'
 * rounds; the ketend not being measured is idle then anyway). */
typedef struct {
  int port, every_ms;
  volatile int stop;
  pthread_t thread;
  int started;
  uint64_t scrapes, failures, bytes;
  int64_t max_ns;
} scraper_t;

static scraper_t g_scraper;

/* One GET /metrics over a plain socket; the body's size, or -1. */
static long s_scrape_once(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  struct timeval tv = {.tv_sec = 2, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  long total = -1;
  static const char req[] =
      "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1)) {
    char buf[16384];
    int ok = 0;
    total = 0;
    for (;;) {
      ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) {
        if (n < 0)
          total = -1;
        break;
      }
      if (total == 0)
        ok = n >= 12 && memcmp(buf, "HTTP/1.1 200", 12) == 0;
      total += n;
    }
    if (!ok)
      total = -1;
  }
  close(fd);
  return total;
}

static void *s_scraper(void *arg) {
  scraper_t *sc = arg;
  while (!sc->stop) {
    int64_t t0 = bench_now_ns();
    long n = s_scrape_once(sc->port);
    int64_t dt = bench_now_ns() - t0;
    if (n < 0) {
      sc->failures++;
    } else {
      sc->scrapes++;
      sc->bytes += (uint64_t)n;
      if (dt > sc->max_ns)
        sc->max_ns = dt;
    }
    bench_sleep_until(t0 + (int64_t)sc->every_ms * 1000000);
  }
  return NULL;
}

static int s_spawn_ketend(const opts_t *o, const char *endpoint, char *err,
                          size_t errlen) {
  int logfd = open(s_tmp_path("ketend.log"),
                   O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (logfd < 0) {
    snprintf(err, errlen, "cannot create ketend.log: %s", strerror(errno));
    return -1;
  }
  static bench_ketend_argv_t a;
  bench_ketend_argv(&a, o->ketend, endpoint, s_tmp_path("ketend.key"),
                    s_tmp_path("root.pub"), s_tmp_path("registry.db"),
                    o->ketend_log_level);
  char extra[160] = "";
  if (o->metrics_ms > 0) {
    g_scraper.port = bench_free_port();
    g_scraper.every_ms = o->metrics_ms;
    if (g_scraper.port <= 0) {
      snprintf(err, errlen, "no free TCP port for the metrics endpoint");
      close(logfd);
      return -1;
    }
    int w = snprintf(extra, sizeof extra, "metrics_endpoint = 127.0.0.1:%d\n",
                     g_scraper.port);
    if (o->metrics_interval_ms > 0 && w > 0 && (size_t)w < sizeof extra)
      snprintf(extra + w, sizeof extra - (size_t)w,
               "metrics_interval_ms = %d\n", o->metrics_interval_ms);
  }
  if (bench_ketend_conf_write(s_tmp_path("ketend.conf"), extra, err,
                              errlen) != 0) {
    close(logfd);
    return -1;
  }
  bench_ketend_arg(&a, "--config", s_tmp_path("ketend.conf"));
  return bench_spawn(&g_child[SIDE_KETEND], a.argv, logfd,
                     "keten-bench: cannot execute ketend\n", err, errlen);
}

/* Waits until ketend answers HELLO for the bench participant. */
static int s_wait_ketend(const char *endpoint, const keten_keys_t *client,
                         const keten_keys_t *server,
                         const keten_root_key_t *root, char *err,
                         size_t errlen) {
  keten_client_config_t cfg;
  bench_client_config(&cfg, endpoint, client, server->transport_pk,
                      root->public_key, 250);
  keten_welcome_t w;
  if (bench_ketend_wait_hello(&g_child[SIDE_KETEND], &cfg, bench_now_ns(),
                              BENCH_START_TIMEOUT_MS, &w, err, errlen) != 0)
    return -1;
  if (strcmp(w.participant_id, BENCH_PARTICIPANT) != 0) {
    snprintf(err, errlen, "ketend welcomed us as '%s', not '%s'",
             w.participant_id, BENCH_PARTICIPANT);
    return -1;
  }
  return 0;
}

/* ---- the clients -------------------------------------------------------- */

typedef struct {
  const opts_t *o;
  int side;
  char endpoint[300];
  const keten_keys_t *client;
  const uint8_t *server_pk;
  const uint8_t *root_pk;            /* the chain root (libketen pins it) */
  pthread_barrier_t ready, go;
  int cancel;                        /* written before `go`, read after */
  int64_t warm_end_ns, measure_end_ns;
} bench_t;

typedef struct {
  bench_t *b;
  pthread_t thread;
  int ready_ok;
  bench_samples_t lat;               /* ns, requests inside the window */
  uint64_t errors;
  char error[400];
} worker_t;

typedef struct {
  void *ctx, *sock;                  /* bare */
  keten_client_t *client;            /* ketend */
  uint8_t *payload, *reply;
  size_t size;
} conn_t;

/* A DEALER set up as libketen sets up its own (CURVE client, heartbeats,
 * reply size cap, linger 0), in a context of its own like each
 * keten_client_t, so both sides have one I/O thread per client. */
static int s_bare_open(bench_t *b, conn_t *c, char *err, size_t errlen) {
  c->ctx = zmq_ctx_new();
  c->sock = c->ctx ? bench_curve_dealer(c->ctx, b->endpoint, b->client,
                                        b->server_pk, b->o->timeout_ms)
                   : NULL;
  if (!c->sock) {
    snprintf(err, errlen, "cannot open a DEALER to %s: %s", b->endpoint,
             zmq_strerror(zmq_errno()));
    return -1;
  }
  return 0;
}

static int s_bare_request(bench_t *b, conn_t *c, char *err, size_t errlen) {
  if (zmq_send(c->sock, c->payload, c->size, 0) != (int)c->size) {
    snprintf(err, errlen, "send failed: %s", zmq_strerror(zmq_errno()));
    return -1;
  }
  int n = zmq_recv(c->sock, c->reply, c->size + 1, 0);
  if (n < 0) {
    snprintf(err, errlen, "no echo within %d ms: %s", b->o->timeout_ms,
             zmq_strerror(zmq_errno()));
    return -1;
  }
  if ((size_t)n != c->size || memcmp(c->reply, c->payload, c->size) != 0) {
    snprintf(err, errlen, "the echo differs from the request");
    return -1;
  }
  return 0;
}

static int s_ketend_open(bench_t *b, conn_t *c, char *err, size_t errlen) {
  keten_client_config_t cfg;
  bench_client_config(&cfg, b->endpoint, b->client, b->server_pk, b->root_pk,
                      b->o->timeout_ms);
  char reason[300];
  c->client = keten_client_new(&cfg, reason, sizeof reason);
  if (!c->client) {
    snprintf(err, errlen, "keten_client_new: %s", reason);
    return -1;
  }
  keten_welcome_t w;
  keten_err_t rc = keten_client_hello(c->client, &w);
  if (rc != KETEN_OK) {
    snprintf(err, errlen, "HELLO: %s: %s", keten_strerror(rc),
             keten_client_error(c->client));
    return -1;
  }
  return 0;
}

static int s_ketend_request(bench_t *b, conn_t *c, char *err, size_t errlen) {
  (void)b;
  keten_err_t rc = keten_client_ping(c->client, c->payload, c->size, NULL);
  if (rc != KETEN_OK) {
    snprintf(err, errlen, "PING: %s: %s", keten_strerror(rc),
             keten_client_error(c->client));
    return -1;
  }
  return 0;
}

static void s_conn_close(conn_t *c) {
  if (c->sock)
    zmq_close(c->sock);
  if (c->ctx)
    zmq_ctx_term(c->ctx);
  keten_client_destroy(&c->client);
  free(c->payload);
  free(c->reply);
  memset(c, 0, sizeof *c);
}

static void *s_worker(void *arg) {
  worker_t *w = arg;
  bench_t *b = w->b;
  int bare = b->side == SIDE_BARE;
  conn_t c;
  memset(&c, 0, sizeof c);
  c.size = b->o->size;
  c.payload = malloc(c.size);
  c.reply = malloc(c.size + 1);
  int ok = c.payload && c.reply;
  if (!ok) {
    snprintf(w->error, sizeof w->error, "out of memory");
  } else {
    randombytes_buf(c.payload, c.size);
    /* Connect and complete one request before the clock starts. */
    ok = (bare ? s_bare_open(b, &c, w->error, sizeof w->error)
               : s_ketend_open(b, &c, w->error, sizeof w->error)) == 0 &&
         (bare ? s_bare_request(b, &c, w->error, sizeof w->error)
               : s_ketend_request(b, &c, w->error, sizeof w->error)) == 0;
  }
  w->ready_ok = ok;
  pthread_barrier_wait(&b->ready);
  pthread_barrier_wait(&b->go);
  while (ok && !b->cancel) {
    int64_t t0 = bench_now_ns();
    if (t0 >= b->measure_end_ns)
      break;
    int rc = bare ? s_bare_request(b, &c, w->error, sizeof w->error)
                  : s_ketend_request(b, &c, w->error, sizeof w->error);
    int64_t t1 = bench_now_ns();
    if (rc != 0) {
      w->errors++;
      break; /* the run is invalid; stop rather than wait out timeouts */
    }
    if (t0 >= b->warm_end_ns && t1 <= b->measure_end_ns &&
        bench_samples_push(&w->lat, t1 - t0) != 0) {
      snprintf(w->error, sizeof w->error, "out of memory for samples");
      w->errors++;
      break;
    }
  }
  s_conn_close(&c);
  return NULL;
}

#define BENCH_MAX_ROUNDS 20

/* One side's measurements, accumulated over its rounds. */
typedef struct {
  int ran, failed;
  bench_samples_t lat;                 /* ns, every round */
  double window_s;                     /* measured seconds, every round */
  bench_cpu_t cpu;                     /* CPU seconds inside the windows */
  int rounds;
  double round_rps[BENCH_MAX_ROUNDS];
  /* the figures, filled by s_finish() */
  int ok;
  uint64_t requests;
  double rps, p50_us, p99_us, mean_us, max_us;
  double server_cpu_us, client_cpu_us; /* per request; < 0 when unknown */
  double other_load;                   /* cores used by other processes; < 0 unknown */
  char error[480];
  char note[480];
} result_t;

/* Runs one round of one side: connect every client, warm up, measure
 * slice_s seconds, disconnect. Adds to r; returns -1 (reason in r->error)
 * when a client failed. */
static int s_run_slice(bench_t *b, pid_t server, double slice_s, result_t *r) {
  const opts_t *o = b->o;
  int n = o->clients;
  worker_t *w = calloc((size_t)n, sizeof *w);
  if (!w || pthread_barrier_init(&b->ready, NULL, (unsigned)n + 1) ||
      pthread_barrier_init(&b->go, NULL, (unsigned)n + 1)) {
    snprintf(r->error, sizeof r->error, "out of memory");
    free(w);
    return -1;
  }
  for (int i = 0; i < n; i++) {
    w[i].b = b;
    if (pthread_create(&w[i].thread, NULL, s_worker, &w[i]) != 0) {
      /* The threads already started wait at the barrier for ever: end the
       * process (atexit stops the servers and removes the files). */
      fprintf(stderr, "keten-bench: cannot start client thread %d\n", i);
      exit(1);
    }
  }
  pthread_barrier_wait(&b->ready);
  for (int i = 0; i < n && !b->cancel; i++)
    if (!w[i].ready_ok) {
      b->cancel = 1;
      snprintf(r->error, sizeof r->error, "client %d could not connect: %s", i,
               w[i].error);
    }
  b->warm_end_ns = bench_now_ns() + (int64_t)(o->warmup_s * 1e9);
  b->measure_end_ns = b->warm_end_ns + (int64_t)(slice_s * 1e9);
  pthread_barrier_wait(&b->go);
  bench_cpu_sample_t c0 = {0}, c1 = {0};
  if (!b->cancel)
    bench_window(server, b->warm_end_ns, b->measure_end_ns, &c0, &c1);
  size_t total = 0;
  uint64_t errors = 0;
  for (int i = 0; i < n; i++) {
    pthread_join(w[i].thread, NULL);
    total += w[i].lat.n;
    errors += w[i].errors;
    if (w[i].errors && !r->error[0])
      snprintf(r->error, sizeof r->error, "client %d: %s", i, w[i].error);
  }
  pthread_barrier_destroy(&b->ready);
  pthread_barrier_destroy(&b->go);
  int rc = 0;
  for (int i = 0; i < n; i++) {
    for (size_t k = 0; k < w[i].lat.n && rc == 0; k++)
      if (bench_samples_push(&r->lat, w[i].lat.v[k]) != 0) {
        snprintf(r->error, sizeof r->error, "out of memory for samples");
        rc = -1;
      }
    free(w[i].lat.v);
  }
  free(w);
  if (rc == 0 && (b->cancel || errors || total == 0)) {
    if (!r->error[0])
      snprintf(r->error, sizeof r->error, "no request completed");
    rc = -1;
  }
  if (rc != 0)
    return -1;
  r->window_s += slice_s;
  if (r->rounds < BENCH_MAX_ROUNDS)
    r->round_rps[r->rounds] = (double)total / slice_s;
  r->rounds++;
  bench_cpu_add(&r->cpu, &c0, &c1, r->rounds == 1);
  return 0;
}

/* Turns the accumulated samples into the figures. */
static void s_finish(result_t *r) {
  size_t n = r->lat.n;
  if (!r->ran || r->failed || n == 0 || r->window_s <= 0) {
    if (r->ran && !r->error[0])
      snprintf(r->error, sizeof r->error, "no request completed");
    return;
  }
  bench_summary_t lat;
  bench_samples_summary(&r->lat, 1000.0, &lat);
  r->requests = n;
  r->rps = (double)n / r->window_s;
  r->p50_us = lat.p50;
  r->p99_us = lat.p99;
  r->mean_us = lat.mean;
  r->max_us = lat.max;
  r->server_cpu_us = r->client_cpu_us = r->other_load = -1;
  if (r->cpu.ok) {
    r->server_cpu_us = r->cpu.server_s * 1e6 / (double)n;
    r->client_cpu_us = r->cpu.client_s * 1e6 / (double)n;
    r->other_load = bench_cpu_other_load(&r->cpu, r->window_s);
  }
  r->ok = 1;
}

/* ---- main ---------------------------------------------------------------- */

static void s_usage(FILE *out) {
  fprintf(out,
          "usage: keten-bench [options]\n"
          "\n"
          "Measures request/reply over CurveZMQ on this machine, in one run:\n"
          "  bare    a bare ZeroMQ CURVE DEALER->ROUTER echo server (forked child,\n"
          "          minimal ZAP handler admitting one key): the ceiling;\n"
          "  ketend  the real ketend, with a fresh key, chain root and root-signed\n"
          "          registry in a temporary directory, driven with\n"
          "          keten_client_ping().\n"
          "Both use the same clients: N threads, each with its own connection and\n"
          "one request outstanding. The sides take turns in rounds (bare, ketend,\n"
          "ketend, bare, ...) so that a change in the machine's other load hits\n"
          "both alike. Prints requests/s, p50/p99 latency and the throughput ratio\n"
          "ketend/bare (issue target: >= 0.7), then one RESULT line.\n"
          "\n"
          "  -c, --clients N          concurrent clients (default 4)\n"
          "  -d, --duration SEC       measured seconds per side, over all rounds (default 3)\n"
          "  -r, --rounds N           rounds per side (default 3)\n"
          "  -w, --warmup SEC         unmeasured warm-up before each round (default 0.5)\n"
          "  -s, --size BYTES         request body size (default 1024)\n"
          "  -t, --transport KIND     tcp (127.0.0.1, default) or ipc\n"
          "  -k, --ketend PATH        the ketend binary (default %s)\n"
          "  -o, --only SIDE          run only bare or only ketend\n"
          "  -T, --timeout-ms MS      a request without a reply this long fails the run\n"
          "                           (default 2000)\n"
          "  -l, --ketend-log-level L ketend's --log-level (default info)\n"
          "  -M, --metrics-scrape-ms MS  ketend serves its Prometheus endpoint on\n"
          "                           127.0.0.1 and a thread GETs /metrics every MS ms\n"
          "                           for the whole run (default: no endpoint)\n"
          "      --metrics-interval-ms MS  with -M: ketend's metrics_interval_ms, how\n"
          "                           often it refreshes the mailbox gauges (default 10000)\n"
          "      --participants N     N more participants in the registry, each with %d\n"
          "                           notices queued (the mailbox gauges' work; default 0)\n"
          "      --keep-tmp           keep the temporary directory (keys, registry, log)\n"
          "  -q, --quiet              no progress lines on stderr\n"
          "  -h, --help               print this help\n"
          "\n"
          "Exit status: 0 every side asked for was measured, 1 a side failed,\n"
          "2 usage error. The ratio never affects the exit status.\n",
          KETEN_BENCH_KETEND, BENCH_EXTRA_NOTICES);
}

static int s_parse_double(const char *s, double min, double max, double *out) {
  char *end = NULL;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !(v >= min && v <= max))
    return -1;
  *out = v;
  return 0;
}

static int s_parse_opts(int argc, char **argv, opts_t *o) {
  static const struct option opts[] = {
      {"clients", required_argument, NULL, 'c'},
      {"duration", required_argument, NULL, 'd'},
      {"rounds", required_argument, NULL, 'r'},
      {"warmup", required_argument, NULL, 'w'},
      {"size", required_argument, NULL, 's'},
      {"transport", required_argument, NULL, 't'},
      {"ketend", required_argument, NULL, 'k'},
      {"only", required_argument, NULL, 'o'},
      {"timeout-ms", required_argument, NULL, 'T'},
      {"ketend-log-level", required_argument, NULL, 'l'},
      {"metrics-scrape-ms", required_argument, NULL, 'M'},
      {"metrics-interval-ms", required_argument, NULL, 'I'},
      {"participants", required_argument, NULL, 'P'},
      {"keep-tmp", no_argument, NULL, 'K'},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  memset(o, 0, sizeof *o);
  o->clients = 4;
  o->duration_s = 3;
  o->rounds = 3;
  o->warmup_s = 0.5;
  o->size = 1024;
  o->ketend = KETEN_BENCH_KETEND;
  o->timeout_ms = 2000;
  o->run[SIDE_BARE] = o->run[SIDE_KETEND] = 1;
  o->ketend_log_level = "info";
  int c;
  double v;
  while ((c = getopt_long(argc, argv, "c:d:r:w:s:t:k:o:T:l:M:qh", opts,
                          NULL)) != -1) {
    switch (c) {
    case 'c':
      if (s_parse_double(optarg, 1, BENCH_MAX_CLIENTS, &v) || v != (int)v) {
        fprintf(stderr, "keten-bench: --clients must be 1..%d\n",
                BENCH_MAX_CLIENTS);
        return 2;
      }
      o->clients = (int)v;
      break;
    case 'd':
      if (s_parse_double(optarg, 0.1, 600, &o->duration_s)) {
        fprintf(stderr, "keten-bench: --duration must be 0.1..600 seconds\n");
        return 2;
      }
      break;
    case 'r':
      if (s_parse_double(optarg, 1, BENCH_MAX_ROUNDS, &v) || v != (int)v) {
        fprintf(stderr, "keten-bench: --rounds must be 1..%d\n",
                BENCH_MAX_ROUNDS);
        return 2;
      }
      o->rounds = (int)v;
      break;
    case 'w':
      if (s_parse_double(optarg, 0, 60, &o->warmup_s)) {
        fprintf(stderr, "keten-bench: --warmup must be 0..60 seconds\n");
        return 2;
      }
      break;
    case 's':
      if (s_parse_double(optarg, 1, BENCH_MAX_BODY, &v) || v != (size_t)v) {
        fprintf(stderr, "keten-bench: --size must be 1..%d bytes\n",
                BENCH_MAX_BODY);
        return 2;
      }
      o->size = (size_t)v;
      break;
    case 't':
      if (strcmp(optarg, "tcp") && strcmp(optarg, "ipc")) {
        fprintf(stderr, "keten-bench: --transport is tcp or ipc\n");
        return 2;
      }
      o->ipc = !strcmp(optarg, "ipc");
      break;
    case 'k': o->ketend = optarg; break;
    case 'o':
      if (strcmp(optarg, "bare") && strcmp(optarg, "ketend")) {
        fprintf(stderr, "keten-bench: --only is bare or ketend\n");
        return 2;
      }
      o->run[SIDE_BARE] = !strcmp(optarg, "bare");
      o->run[SIDE_KETEND] = !o->run[SIDE_BARE];
      break;
    case 'T':
      if (s_parse_double(optarg, 100, 60000, &v) || v != (int)v) {
        fprintf(stderr, "keten-bench: --timeout-ms must be 100..60000\n");
        return 2;
      }
      o->timeout_ms = (int)v;
      break;
    case 'l': o->ketend_log_level = optarg; break;
    case 'M':
      if (s_parse_double(optarg, 10, 60000, &v) || v != (int)v) {
        fprintf(stderr, "keten-bench: --metrics-scrape-ms must be 10..60000\n");
        return 2;
      }
      o->metrics_ms = (int)v;
      break;
    case 'I':
      if (s_parse_double(optarg, 1000, 3600000, &v) || v != (int)v) {
        fprintf(stderr, "keten-bench: --metrics-interval-ms must be "
                        "1000..3600000\n");
        return 2;
      }
      o->metrics_interval_ms = (int)v;
      break;
    case 'P':
      if (s_parse_double(optarg, 0, 100000, &v) || v != (int)v) {
        fprintf(stderr, "keten-bench: --participants must be 0..100000\n");
        return 2;
      }
      o->participants = (int)v;
      break;
    case 'K': o->keep_tmp = 1; break;
    case 'q': o->quiet = 1; break;
    case 'h': s_usage(stdout); return 1;
    default: s_usage(stderr); return 2;
    }
  }
  if (o->metrics_interval_ms > 0 && o->metrics_ms == 0) {
    fprintf(stderr, "keten-bench: --metrics-interval-ms needs --metrics-scrape-ms\n");
    return 2;
  }
  if (optind < argc) {
    fprintf(stderr, "keten-bench: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  if (o->duration_s / o->rounds < 0.1) {
    fprintf(stderr, "keten-bench: each round must measure at least 0.1 s "
                    "(--duration / --rounds)\n");
    return 2;
  }
  return 0;
}

static void s_progress(const opts_t *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void s_progress(const opts_t *o, const char *fmt, ...) {
  if (o->quiet)
    return;
  va_list ap;
  va_start(ap, fmt);
  fputs("keten-bench: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static const char *s_exit_text(int status, char *buf, size_t cap) {
  if (status == -2)
    snprintf(buf, cap, "did not stop on SIGTERM; killed");
  else if (status < 0)
    snprintf(buf, cap, "already gone");
  else if (WIFEXITED(status))
    snprintf(buf, cap, "exit status %d", WEXITSTATUS(status));
  else
    snprintf(buf, cap, "killed by signal %d", WTERMSIG(status));
  return buf;
}

static void s_print_num(double v, int width, int prec) {
  if (v < 0)
    printf(" %*s", width, "-");
  else
    printf(" %*.*f", width, prec, v);
}

static void s_print_report(const opts_t *o, const result_t r[SIDES]) {
  double slice = o->duration_s / o->rounds;
  printf("\nketen-bench %s: request/reply, %d clients x 1 outstanding, "
         "%zu-byte bodies, %s\n",
         KETEN_VERSION, o->clients, o->size,
         o->ipc ? "ipc" : "tcp 127.0.0.1");
  printf("%d rounds per side, taking turns; each round %.2f s warm-up + "
         "%.2f s measured\n\n",
         o->rounds, o->warmup_s, slice);
  printf("%-18s %9s %10s %8s %8s %8s %8s %9s %9s %7s\n", "side", "requests",
         "req/s", "p50 us", "p99 us", "mean us", "max us", "srvCPU/r",
         "cliCPU/r", "other");
  for (int s = 0; s < SIDES; s++) {
    if (!r[s].ran)
      continue;
    printf("%-18s", s_side_name[s]);
    if (!r[s].ok) {
      printf(" FAILED: %s\n", r[s].error);
      continue;
    }
    printf(" %9" PRIu64, r[s].requests);
    s_print_num(r[s].rps, 10, 1);
    s_print_num(r[s].p50_us, 8, 1);
    s_print_num(r[s].p99_us, 8, 1);
    s_print_num(r[s].mean_us, 8, 1);
    s_print_num(r[s].max_us, 8, 0);
    s_print_num(r[s].server_cpu_us, 9, 1);
    s_print_num(r[s].client_cpu_us, 9, 1);
    s_print_num(r[s].other_load, 7, 2);
    printf("\n");
  }
  printf("\nsrvCPU/r, cliCPU/r: CPU microseconds per request in the server "
         "process and in the\nclient process; other: cores kept busy by other "
         "processes during the windows.\n");
  for (int s = 0; s < SIDES; s++) {
    if (!r[s].ok)
      continue;
    printf("%s req/s per round:", s_side_key[s]);
    for (int i = 0; i < r[s].rounds && i < BENCH_MAX_ROUNDS; i++)
      printf(" %.0f", r[s].round_rps[i]);
    printf("\n");
  }
  for (int s = 0; s < SIDES; s++)
    if (r[s].note[0])
      printf("%s: %s\n", s_side_key[s], r[s].note);
  if (o->metrics_ms > 0)
    printf("metrics: GET /metrics every %d ms during the run: %" PRIu64
           " answered (%.0f bytes each on average, slowest %.1f ms), %" PRIu64
           " failed\n",
           o->metrics_ms, g_scraper.scrapes,
           g_scraper.scrapes ? (double)g_scraper.bytes / (double)g_scraper.scrapes
                             : 0.0,
           (double)g_scraper.max_ns / 1e6, g_scraper.failures);
  int both = r[SIDE_BARE].ok && r[SIDE_KETEND].ok;
  double ratio = both ? r[SIDE_KETEND].rps / r[SIDE_BARE].rps : -1;
  if (both)
    printf("\nthroughput ratio ketend/bare: %.3f (issue target >= 0.70: %s)\n",
           ratio, ratio >= 0.70 ? "met" : "not met");

  printf("\nRESULT transport=%s clients=%d size=%zu rounds=%d warmup_s=%.2f "
         "duration_s=%.2f",
         o->ipc ? "ipc" : "tcp", o->clients, o->size, o->rounds, o->warmup_s,
         o->duration_s);
  for (int s = 0; s < SIDES; s++) {
    if (!r[s].ran)
      continue;
    const char *k = s_side_key[s];
    if (!r[s].ok) {
      printf(" %s_ok=0", k);
      continue;
    }
    printf(" %s_ok=1 %s_requests=%" PRIu64 " %s_rps=%.1f %s_p50_us=%.1f "
           "%s_p99_us=%.1f %s_mean_us=%.1f %s_max_us=%.0f %s_server_cpu_us=%.1f "
           "%s_client_cpu_us=%.1f %s_other_load=%.2f %s_rps_rounds=",
           k, k, r[s].requests, k, r[s].rps, k, r[s].p50_us, k, r[s].p99_us, k,
           r[s].mean_us, k, r[s].max_us, k, r[s].server_cpu_us, k,
           r[s].client_cpu_us, k, r[s].other_load, k);
    for (int i = 0; i < r[s].rounds && i < BENCH_MAX_ROUNDS; i++)
      printf("%s%.0f", i ? "," : "", r[s].round_rps[i]);
  }
  if (o->metrics_ms > 0)
    printf(" metrics_interval_ms=%d", o->metrics_interval_ms > 0
                                           ? o->metrics_interval_ms : 10000);
  if (o->participants > 0)
    printf(" participants=%d", o->participants);
  if (o->metrics_ms > 0)
    printf(" metrics_ms=%d metrics_scrapes=%" PRIu64 " metrics_failures=%" PRIu64
           " metrics_max_ms=%.1f",
           o->metrics_ms, g_scraper.scrapes, g_scraper.failures,
           (double)g_scraper.max_ns / 1e6);
  if (both)
    printf(" ratio=%.3f", ratio);
  else
    printf(" ratio=na");
  printf("\n");
  fflush(stdout);
}

int main(int argc, char **argv) {
  opts_t o;
  int prc = s_parse_opts(argc, argv, &o);
  if (prc)
    return prc == 1 ? 0 : 2;
  g_tmp.keep = o.keep_tmp;
  if (o.run[SIDE_KETEND] && access(o.ketend, X_OK) != 0) {
    fprintf(stderr,
            "keten-bench: cannot execute ketend at %s: %s (build it, or pass "
            "--ketend PATH)\n",
            o.ketend, strerror(errno));
    return 2;
  }
  if (sodium_init() < 0) {
    fprintf(stderr, "keten-bench: libsodium failed to initialise\n");
    return 1;
  }

  bench_fatal_signals(&s_fatal);
  /* Watchdog: whatever hangs, the run ends. Servers start and stop within
   * BENCH_START_TIMEOUT_MS each; a round connects (one request, timeout),
   * warms up, measures, and waits out at most one more request. */
  double slice = o.duration_s / o.rounds;
  double budget = 4 * BENCH_START_TIMEOUT_MS / 1000.0 +
                  2.0 * o.rounds *
                      (o.warmup_s + slice + 2.0 * o.timeout_ms / 1000.0 + 2) +
                  30;
  alarm((unsigned)budget);

  char err[600];
  if (bench_tmp_make(&g_tmp, "keten-bench", s_tmp_names, TMP_FILES, err,
                     sizeof err) != 0) {
    fprintf(stderr, "keten-bench: %s\n", err);
    return 1;
  }
  atexit(s_cleanup);

  keten_keys_t server, client;
  keten_root_key_t root;
  if (keten_keys_generate(&server, "ketend") != KETEN_OK ||
      keten_keys_generate(&client, BENCH_PARTICIPANT) != KETEN_OK ||
      keten_root_key_generate(&root) != KETEN_OK) {
    fprintf(stderr, "keten-bench: cannot generate keys\n");
    return 1;
  }

  result_t r[SIDES];
  memset(r, 0, sizeof r);
  char endpoint[SIDES][300];
  memset(endpoint, 0, sizeof endpoint);

  /* Both servers start before any client thread exists (fork in a
   * single-threaded process) and stay up for every round; the one not
   * being measured sits idle in zmq_poll. */
  if (o.run[SIDE_BARE]) {
    r[SIDE_BARE].ran = 1;
    if (s_start_echo(&o, &server, &client, endpoint[SIDE_BARE],
                     sizeof endpoint[SIDE_BARE], err, sizeof err) != 0) {
      r[SIDE_BARE].failed = 1;
      snprintf(r[SIDE_BARE].error, sizeof r[SIDE_BARE].error, "%s", err);
    }
  }
  if (o.run[SIDE_KETEND]) {
    result_t *rk = &r[SIDE_KETEND];
    rk->ran = 1;
    int port = o.ipc ? 0 : bench_free_port();
    if (o.ipc)
      snprintf(endpoint[SIDE_KETEND], sizeof endpoint[SIDE_KETEND], "ipc://%s",
               s_tmp_path("ketend.sock"));
    else
      snprintf(endpoint[SIDE_KETEND], sizeof endpoint[SIDE_KETEND],
               "tcp://127.0.0.1:%d", port);
    if (port < 0) {
      rk->failed = 1;
      snprintf(rk->error, sizeof rk->error, "no free TCP port on 127.0.0.1");
    } else if (s_prepare_ketend(&o, &server, &client, &root, err, sizeof err) !=
                   0 ||
               s_spawn_ketend(&o, endpoint[SIDE_KETEND], err, sizeof err) !=
                   0 ||
               s_wait_ketend(endpoint[SIDE_KETEND], &client, &server, &root,
                             err, sizeof err) != 0) {
      rk->failed = 1;
      snprintf(rk->error, sizeof rk->error, "%s", err);
      bench_child_stop(&g_child[SIDE_KETEND], 3000);
      s_print_tail(s_tmp_path("ketend.log"), 20);
    }
  }
  for (int s = 0; s < SIDES; s++)
    if (r[s].ran && !r[s].failed)
      s_progress(&o, "%s on %s", s_side_name[s], endpoint[s]);
  if (o.metrics_ms > 0 && r[SIDE_KETEND].ran && !r[SIDE_KETEND].failed) {
    if (s_scrape_once(g_scraper.port) < 0) {
      r[SIDE_KETEND].failed = 1;
      snprintf(r[SIDE_KETEND].error, sizeof r[SIDE_KETEND].error,
               "ketend's metrics endpoint 127.0.0.1:%d does not answer",
               g_scraper.port);
    } else if (pthread_create(&g_scraper.thread, NULL, s_scraper,
                              &g_scraper) == 0) {
      g_scraper.started = 1;
      s_progress(&o, "metrics scraped every %d ms on 127.0.0.1:%d",
                 o.metrics_ms, g_scraper.port);
    }
  }

  /* Rounds: bare, ketend, ketend, bare, bare, ketend, ... */
  for (int round = 0; round < o.rounds; round++) {
    for (int turn = 0; turn < SIDES; turn++) {
      int side = (round % 2 == 0) ? turn : SIDES - 1 - turn;
      result_t *rs = &r[side];
      if (!rs->ran || rs->failed)
        continue;
      bench_t b;
      memset(&b, 0, sizeof b);
      b.o = &o;
      b.side = side;
      b.client = &client;
      b.server_pk = server.transport_pk;
      b.root_pk = root.public_key;
      snprintf(b.endpoint, sizeof b.endpoint, "%s", endpoint[side]);
      s_progress(&o, "round %d/%d: %s, %d clients, %.2f s + %.2f s", round + 1,
                 o.rounds, s_side_key[side], o.clients, o.warmup_s, slice);
      if (s_run_slice(&b, (pid_t)g_child[side], slice, rs) != 0)
        rs->failed = 1;
    }
  }
  keten_keys_wipe(&server);
  keten_keys_wipe(&client);
  keten_root_key_wipe(&root);
  if (g_scraper.started) {
    g_scraper.stop = 1;
    pthread_join(g_scraper.thread, NULL);
  }

  if (r[SIDE_BARE].ran && g_child[SIDE_BARE]) {
    int st = bench_child_stop(&g_child[SIDE_BARE], 3000);
    if (!(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
      char why[80];
      snprintf(r[SIDE_BARE].note, sizeof r[SIDE_BARE].note, "echo server %s",
               s_exit_text(st, why, sizeof why));
    }
  }
  if (r[SIDE_KETEND].ran && g_child[SIDE_KETEND]) {
    result_t *rk = &r[SIDE_KETEND];
    int st = bench_child_stop(&g_child[SIDE_KETEND], 5000);
    char summary[400], why[80];
    bench_ketend_summary(s_tmp_path("ketend.log"), summary, sizeof summary);
    int clean = st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    if (!clean)
      snprintf(rk->note, sizeof rk->note, "ketend %s%s%s",
               s_exit_text(st, why, sizeof why), summary[0] ? "; " : "",
               summary);
    else if (summary[0])
      snprintf(rk->note, sizeof rk->note, "ketend log: %s", summary);
    if (rk->failed || !clean)
      s_print_tail(s_tmp_path("ketend.log"), 20);
  }

  if (g_scraper.failures && r[SIDE_KETEND].ran && !r[SIDE_KETEND].failed) {
    r[SIDE_KETEND].failed = 1;
    snprintf(r[SIDE_KETEND].error, sizeof r[SIDE_KETEND].error,
             "%" PRIu64 " of the GETs of /metrics failed", g_scraper.failures);
  }
  int ok = 1;
  for (int s = 0; s < SIDES; s++) {
    s_finish(&r[s]);
    if (o.run[s] && !r[s].ok)
      ok = 0;
  }
  s_print_report(&o, r);
  for (int s = 0; s < SIDES; s++)
    free(r[s].lat.v);
  return ok ? 0 : 1;
}
