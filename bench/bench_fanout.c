/* keten-bench-fanout — the fan-out benchmark of issue 3, item 9.
 *
 * One run measures, on this machine:
 *
 *   (a) bare    a forked child running a bare ZeroMQ CURVE ROUTER (minimal
 *               ZAP handler) that takes each 4 KiB message from a producer
 *               DEALER, forwards it to 3 consumer DEALERs, keeps it until
 *               they ack (cumulatively) and answers the producer;
 *   (b) ketend  the real ketend on an empty store (a registry of entries
 *               signed by the run's chain root): N producer partners PUT
 *               pre-sealed 4 KiB sections (wraps for 3 consented recipients
 *               and the author) over raw CURVE DEALERs with a window, and 3
 *               recipients take them with keten_client_subscribe/_poll,
 *               which opens every section and acks; durable (group commit,
 *               synchronous=FULL);
 *   (c) big     the same against a store pre-populated with 100 000
 *               subjects and 1 000 000 consents;
 *   (d) queue   ketend's peak RSS with 1 000 000 undelivered sections
 *               queued for an offline recipient, which then subscribes and
 *               takes some of them.
 *
 * (a), (b) and (c) take turns in rounds, so that the machine's other load
 * hits them alike. Sealing and opening costs are measured separately, in
 * a loop on the client side. Children and temporary files go away on
 * every exit path. See bench/README.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "bench_curve.h"
#include "bench_ketend.h"
#include "bench_measure.h"
#include "bench_proc.h"
#include "canon.h"
#include "envelope.h"
#include "evidence.h"
#include "fanout.h"
#include "keten.h"
#include "participant.h"
#include "seal.h"
#include "store.h"

#ifndef KETEN_BENCH_KETEND
#define KETEN_BENCH_KETEND "ketend"
#endif

#define BENCH_MAX_ROUNDS 20
#define BENCH_MAX_WINDOW 4096
/* How long a ketend may take to answer its first HELLO (a big store). */
#define BENCH_START_TIMEOUT_MS 60000
#define BENCH_CONNECT_TIMEOUT_MS 10000
/* The bare forwarder keeps this many unacked messages per consumer. */
#define BENCH_FWD_RING 65536
#define BENCH_MIB (1024.0 * 1024.0)

enum { SIDE_BARE = 0, SIDE_KETEND, SIDE_BIG, SIDES };
static const char *const s_side_name[SIDES] = {
    "(a) bare CURVE forwarder", "(b) ketend, empty store",
    "(c) ketend, big store"};
static const char *const s_side_key[SIDES] = {"bare", "ketend", "big"};

/* Child processes: the three servers of the rounds and phase (d)'s ketend. */
enum { SRV_BARE = 0, SRV_KETEND, SRV_BIG, SRV_QUEUE, SERVERS };
static const char *const s_srv_file[SERVERS] = {"bare", "b", "c", "d"};

typedef struct {
  int producers, window, subjects, credit, rounds;
  size_t size;
  double duration_s, warmup_s, calib_s;
  int ipc;
  const char *ketend;
  int phase[4];                   /* a b c d */
  uint64_t big_subjects, big_consents;
  uint64_t queue_sections, queue_subjects, queue_take;
  size_t queue_bytes;
  double queue_secs;
  int crypto_iters;
  int drain_ms;
  int ack_timeout_ms;             /* 0: ketend's default */
  int prep_threads;
  const char *cache_dir;
  const char *log_level;
  int keep_tmp, quiet;
  int raw_recipients;             /* ketend recipients take without opening */
} opts_t;

/* ---- clean-up, also from signal handlers --------------------------------- */

static volatile sig_atomic_t g_child[SERVERS];
/* Every file the run may create below its directory, fixed before any
 * exists so that a signal handler can remove them without allocating
 * (STORE.head: the tree head ketend signed last, broker.c). */
static const char *const s_tmp_names[] = {
    "ketend.key", "ketend.pub", "root.pub", "bare.sock", "ketend.conf",
    "b.db", "b.db-wal", "b.db-shm", "b.db-journal", "b.db.head",
    "b.log", "b.sock",
    "c.db", "c.db-wal", "c.db-shm", "c.db-journal", "c.db.head",
    "c.log", "c.sock",
    "d.db", "d.db-wal", "d.db-shm", "d.db-journal", "d.db.head",
    "d.log", "d.sock",
    "cache/seed", "cache/big.ok", "cache/queue.ok",
    "cache/big.db", "cache/big.db-wal", "cache/big.db-shm",
    "cache/big.db-journal",
    "cache/queue.db", "cache/queue.db-wal", "cache/queue.db-shm",
    "cache/queue.db-journal", "cache/"};
#define TMP_FILES (sizeof s_tmp_names / sizeof s_tmp_names[0])
static bench_tmp_t g_tmp;
static const bench_fatal_t s_fatal = {
    g_child, SERVERS, &g_tmp,
    "keten-bench-fanout: watchdog expired: "
    "servers killed, temporary files removed\n",
    "keten-bench-fanout: interrupted: servers "
    "killed, temporary files removed\n"};

static double s_thread_cpu_s(void) {
  return (double)bench_thread_cpu_ns() / 1e9;
}

static void s_cleanup(void) {
  for (int i = 0; i < SERVERS; i++)
    bench_child_stop(&g_child[i], 5000);
  if (!g_tmp.dir[0])
    return;
  if (g_tmp.keep) {
    fprintf(stderr, "keten-bench-fanout: kept %s\n", g_tmp.dir);
    return;
  }
  bench_remove_tree(g_tmp.dir, 2);
  struct stat sb;
  if (stat(g_tmp.dir, &sb) == 0)
    fprintf(stderr, "keten-bench-fanout: could not remove %s\n", g_tmp.dir);
  g_tmp.dir[0] = '\0';
}

static const char *s_tmp(const char *name) {
  return bench_tmp_path(&g_tmp, name);
}

static int g_quiet;

static void s_progress(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void s_progress(const char *fmt, ...) {
  if (g_quiet)
    return;
  va_list ap;
  va_start(ap, fmt);
  fputs("keten-bench-fanout: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static void s_print_tail(const char *path, int lines) {
  char tail[8800];
  if (bench_log_tail(path, lines, tail, sizeof tail) >= 0)
    fputs(tail, stderr);
}

static off_t s_file_size(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 ? sb.st_size : -1;
}

/* ---- sockets ------------------------------------------------------------- */

/* Receives one message within timeout_ms into buf (cap); returns its
 * length (may exceed cap: truncated) or -1. */
static int s_recv_timeout(void *sock, void *buf, size_t cap, int timeout_ms) {
  zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
  int64_t deadline = bench_now_ns() + (int64_t)timeout_ms * 1000000;
  for (;;) {
    long left = (long)((deadline - bench_now_ns()) / 1000000);
    if (left <= 0)
      return -1;
    int rc = zmq_poll(&it, 1, left);
    if (rc < 0 && zmq_errno() == EINTR)
      continue;
    if (rc <= 0)
      return -1;
    int n = zmq_recv(sock, buf, cap, ZMQ_DONTWAIT);
    if (n >= 0)
      return n;
  }
}

/* ---- (a): the bare CURVE forwarder (forked child) ------------------------ */

typedef struct {
  uint8_t rid[256];
  size_t rid_len;
  int live;
  uint64_t seq, acked;
  zmq_msg_t *ring;               /* unacked messages, by seq % RING */
} fwd_consumer_t;

/* Releases consumer c's retained messages up to seq. */
static void s_fwd_release(fwd_consumer_t *c, uint64_t seq) {
  if (seq > c->seq)
    seq = c->seq;
  for (uint64_t s = c->acked + 1; s <= seq; s++)
    zmq_msg_close(&c->ring[s % BENCH_FWD_RING]);
  if (seq > c->acked)
    c->acked = seq;
}

static void s_fwd_send_small(void *router, const uint8_t *rid, size_t rid_len,
                             const void *body, size_t len) {
  if (zmq_send(router, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
    zmq_send(router, body, len, ZMQ_DONTWAIT);
}

/* Handles up to 256 waiting messages (ketend's batch size). */
static void s_fwd_batch(void *router, void *arg) {
  fwd_consumer_t *cons = arg;
  for (int i = 0; i < 256; i++) {
    uint8_t rid[256];
    int rid_len = zmq_recv(router, rid, sizeof rid, ZMQ_DONTWAIT);
    if (rid_len < 0)
      return;
    zmq_msg_t body;
    zmq_msg_init(&body);
    if (zmq_msg_recv(&body, router, 0) < 0) {
      zmq_msg_close(&body);
      continue;
    }
    while (zmq_msg_more(&body)) { /* one frame per message: drop extras */
      zmq_msg_t extra;
      zmq_msg_init(&extra);
      int more = zmq_msg_recv(&extra, router, 0) >= 0 && zmq_msg_more(&extra);
      zmq_msg_close(&extra);
      if (!more)
        break;
    }
    const uint8_t *d = zmq_msg_data(&body);
    size_t n = zmq_msg_size(&body);
    if (n >= 1 && d[0] == 'P' && n >= 10) {
      /* forward to every consumer, keep a reference until it acks */
      for (int c = 0; c < FO_RECIPIENTS; c++) {
        fwd_consumer_t *k = &cons[c];
        if (!k->live || k->seq - k->acked >= BENCH_FWD_RING)
          continue;
        uint64_t seq = ++k->seq;
        zmq_msg_t *keep = &k->ring[seq % BENCH_FWD_RING];
        zmq_msg_init(keep);
        zmq_msg_copy(keep, &body);
        zmq_msg_t out;
        zmq_msg_init(&out);
        zmq_msg_copy(&out, &body);
        int flags = ZMQ_SNDMORE | ZMQ_DONTWAIT;
        if (zmq_send(router, k->rid, k->rid_len, flags) < 0 ||
            zmq_send(router, &seq, sizeof seq, flags) < 0 ||
            zmq_msg_send(&out, router, ZMQ_DONTWAIT) < 0)
          zmq_msg_close(&out);
      }
      uint8_t reply[10];
      reply[0] = 'p';
      memcpy(reply + 1, d + 1, 9);
      s_fwd_send_small(router, rid, (size_t)rid_len, reply, sizeof reply);
    } else if (n == 9 && d[0] == 'A') {
      uint64_t seq;
      memcpy(&seq, d + 1, sizeof seq);
      for (int c = 0; c < FO_RECIPIENTS; c++)
        if (cons[c].live && cons[c].rid_len == (size_t)rid_len &&
            memcmp(cons[c].rid, rid, (size_t)rid_len) == 0)
          s_fwd_release(&cons[c], seq);
    } else if (n == 2 && d[0] == 'S' && d[1] < FO_RECIPIENTS) {
      fwd_consumer_t *k = &cons[d[1]];
      s_fwd_release(k, k->seq); /* a new connection: forget the old one */
      memcpy(k->rid, rid, (size_t)rid_len);
      k->rid_len = (size_t)rid_len;
      k->live = 1;
      s_fwd_send_small(router, rid, (size_t)rid_len, "s", 1);
    } else if (n == 1 && d[0] == 'H') {
      s_fwd_send_small(router, rid, (size_t)rid_len, "h", 1);
    }
    zmq_msg_close(&body);
  }
}

/* In the forwarder's child, before it binds: the consumers' rings. */
static const char *s_fwd_start(void *arg) {
  fwd_consumer_t *cons = arg;
  memset(cons, 0, FO_RECIPIENTS * sizeof *cons);
  int ok = 1;
  for (int c = 0; c < FO_RECIPIENTS; c++)
    ok &= (cons[c].ring = calloc(BENCH_FWD_RING, sizeof(zmq_msg_t))) != NULL;
  return ok ? NULL : "out of memory";
}

static void s_fwd_stop(void *arg) {
  fwd_consumer_t *cons = arg;
  for (int c = 0; c < FO_RECIPIENTS; c++)
    s_fwd_release(&cons[c], cons[c].seq);
}

static int s_start_forwarder(const opts_t *o, const fo_keys_t *k,
                             char *endpoint, size_t cap, char *err,
                             size_t errlen) {
  char bind_ep[300];
  if (o->ipc)
    snprintf(bind_ep, sizeof bind_ep, "ipc://%s", s_tmp("bare.sock"));
  else
    snprintf(bind_ep, sizeof bind_ep, "tcp://127.0.0.1:*");
  uint8_t allowed[FO_MAX_PRODUCERS + FO_RECIPIENTS][32];
  int n_allowed = 0;
  for (int p = 0; p < o->producers; p++)
    memcpy(allowed[n_allowed++], k->producer[p].transport_pk, 32);
  for (int r = 0; r < FO_RECIPIENTS; r++)
    memcpy(allowed[n_allowed++], k->recipient[r].transport_pk, 32);
  fwd_consumer_t cons[FO_RECIPIENTS]; /* the child's, set by s_fwd_start */
  bench_curve_server_t s = {.what = "the forwarder",
                            .bind_ep = bind_ep,
                            .server_sk = k->broker.transport_sk,
                            .allowed = (const uint8_t(*)[32])allowed,
                            .n_allowed = n_allowed,
                            .on_start = s_fwd_start,
                            .on_batch = s_fwd_batch,
                            .on_stop = s_fwd_stop,
                            .arg = cons};
  return bench_curve_server_start(&g_child[SRV_BARE], &s,
                                  BENCH_CONNECT_TIMEOUT_MS, endpoint, cap,
                                  err, errlen);
}

/* ---- ketend -------------------------------------------------------------- */

static const char *s_srv_path(int srv, const char *ext) {
  char name[32];
  snprintf(name, sizeof name, "%s.%s", s_srv_file[srv], ext);
  return s_tmp(name);
}

/* Starts ketend srv on its store (already in place) and waits until it
 * answers HELLO. Fills endpoint; *startup_s gets the time it took. */
static int s_start_ketend(const opts_t *o, int srv, const fo_keys_t *k,
                          char *endpoint, size_t cap, double *startup_s,
                          char *err, size_t errlen) {
  if (o->ipc) {
    snprintf(endpoint, cap, "ipc://%s", s_srv_path(srv, "sock"));
  } else {
    int port = bench_free_port();
    if (port < 0) {
      snprintf(err, errlen, "no free TCP port on 127.0.0.1");
      return -1;
    }
    snprintf(endpoint, cap, "tcp://127.0.0.1:%d", port);
  }
  const char *log_path = s_srv_path(srv, "log");
  int logfd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (logfd < 0) {
    snprintf(err, errlen, "cannot create %s: %s", log_path, strerror(errno));
    return -1;
  }
  static bench_ketend_argv_t a;
  bench_ketend_argv(&a, o->ketend, endpoint, s_tmp("ketend.key"),
                    s_tmp("root.pub"), s_srv_path(srv, "db"), o->log_level);
  if (bench_ketend_conf_write(s_tmp("ketend.conf"), NULL, err, errlen) != 0) {
    close(logfd);
    return -1;
  }
  bench_ketend_arg(&a, "--config", s_tmp("ketend.conf"));
  if (o->ack_timeout_ms > 0) {
    char ack[24];
    snprintf(ack, sizeof ack, "%d", o->ack_timeout_ms);
    bench_ketend_arg(&a, "--ack-timeout-ms", ack);
  }
  int64_t t0 = bench_now_ns();
  if (bench_spawn(&g_child[srv], a.argv, logfd,
                  "keten-bench-fanout: cannot execute ketend\n", err,
                  errlen) != 0)
    return -1;
  keten_client_config_t cfg;
  bench_client_config(&cfg, endpoint, &k->recipient[FO_RECIPIENTS - 1],
                      k->broker.transport_pk, k->root.public_key, 250);
  keten_welcome_t w;
  int rc = bench_ketend_wait_hello(&g_child[srv], &cfg, t0,
                                   BENCH_START_TIMEOUT_MS, &w, err, errlen);
  *startup_s = (double)(bench_now_ns() - t0) / 1e9;
  if (rc != 0) {
    bench_child_stop(&g_child[srv], 3000);
    s_print_tail(log_path, 20);
  }
  return rc;
}

/* The summary line ketend logs when it stops, after "stopping: ". */
static void s_ketend_summary(int srv, char *out, size_t cap) {
  char line[410];
  bench_ketend_summary(s_srv_path(srv, "log"), line, sizeof line);
  snprintf(out, cap, "%s", line[0] ? line + 10 : "");
}

/* ---- stores -------------------------------------------------------------- */

static int s_copy_file(const char *from, const char *to, char *err,
                       size_t errlen) {
  int in = open(from, O_RDONLY | O_CLOEXEC);
  int out = in >= 0 ? open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)
                    : -1;
  int rc = in >= 0 && out >= 0 ? 0 : -1;
  static char buf[1 << 20];
  while (rc == 0) {
    ssize_t n = read(in, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      rc = n < 0 ? -1 : 0;
      break;
    }
    for (ssize_t done = 0; done < n;) {
      ssize_t w = write(out, buf + done, (size_t)(n - done));
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0) {
        rc = -1;
        break;
      }
      done += w;
    }
  }
  if (rc != 0)
    snprintf(err, errlen, "copying %s to %s: %s", from, to, strerror(errno));
  if (in >= 0)
    close(in);
  if (out >= 0 && close(out) != 0 && rc == 0) {
    snprintf(err, errlen, "closing %s: %s", to, strerror(errno));
    rc = -1;
  }
  return rc;
}

/* The cache of prepared stores: the run's own temporary cache/ or the
 * directory --cache-dir names (kept; bench/run.sh removes its own). */
typedef struct {
  char dir[300];
  int private_dir;                /* inside the run's directory: use in place */
  uint8_t seed[FO_SEED_BYTES];
} cache_t;

static int s_cache_open(const opts_t *o, cache_t *c, char *err,
                        size_t errlen) {
  memset(c, 0, sizeof *c);
  if (o->cache_dir) {
    snprintf(c->dir, sizeof c->dir, "%s", o->cache_dir);
    if (mkdir(c->dir, 0700) != 0 && errno != EEXIST) {
      snprintf(err, errlen, "cannot create %s: %s", c->dir, strerror(errno));
      return -1;
    }
  } else {
    snprintf(c->dir, sizeof c->dir, "%s", s_tmp("cache"));
    c->private_dir = 1;
    if (mkdir(c->dir, 0700) != 0) {
      snprintf(err, errlen, "cannot create %s: %s", c->dir, strerror(errno));
      return -1;
    }
  }
  char path[400], hex[2 * FO_SEED_BYTES + 2];
  snprintf(path, sizeof path, "%s/seed", c->dir);
  FILE *f = fopen(path, "r");
  if (f) {
    int ok = fgets(hex, sizeof hex, f) != NULL &&
             sodium_hex2bin(c->seed, sizeof c->seed, hex, 2 * FO_SEED_BYTES,
                            NULL, NULL, NULL) == 0;
    fclose(f);
    if (ok)
      return 0;
  }
  randombytes_buf(c->seed, sizeof c->seed);
  sodium_bin2hex(hex, sizeof hex, c->seed, sizeof c->seed);
  f = fopen(path, "w");
  if (!f || fprintf(f, "%s\n", hex) < 0 || fclose(f) != 0) {
    snprintf(err, errlen, "cannot write %s", path);
    return -1;
  }
  /* A new seed means new keys: stores prepared with the old one are void. */
  static const char *const stale[] = {"big.ok", "queue.ok"};
  for (size_t i = 0; i < 2; i++) {
    snprintf(path, sizeof path, "%s/%s", c->dir, stale[i]);
    unlink(path);
  }
  return 0;
}

static int s_cache_valid(const cache_t *c, const char *name,
                         const char *params) {
  char path[400], line[400] = "";
  snprintf(path, sizeof path, "%s/%s.ok", c->dir, name);
  FILE *f = fopen(path, "r");
  if (!f)
    return 0;
  int ok = fgets(line, sizeof line, f) != NULL;
  fclose(f);
  line[strcspn(line, "\n")] = '\0';
  snprintf(path, sizeof path, "%s/%s.db", c->dir, name);
  return ok && strcmp(line, params) == 0 && s_file_size(path) > 0;
}

static int s_cache_mark(const cache_t *c, const char *name,
                        const char *params) {
  char path[400];
  snprintf(path, sizeof path, "%s/%s.ok", c->dir, name);
  FILE *f = fopen(path, "w");
  if (!f)
    return -1;
  fprintf(f, "%s\n", params);
  return fclose(f);
}

/* Puts the cached store name into place as server srv's store: a rename
 * for the run's own cache (used once), a copy for a kept one. */
static int s_cache_use(const cache_t *c, const char *name, int srv, char *err,
                       size_t errlen) {
  char from[400], okp[400];
  snprintf(from, sizeof from, "%s/%s.db", c->dir, name);
  const char *to = s_srv_path(srv, "db");
  if (c->private_dir) {
    snprintf(okp, sizeof okp, "%s/%s.ok", c->dir, name);
    unlink(okp);
    if (rename(from, to) != 0) {
      snprintf(err, errlen, "rename %s: %s", from, strerror(errno));
      return -1;
    }
    return 0;
  }
  return s_copy_file(from, to, err, errlen);
}

static void s_build_progress(const char *what, uint64_t done, uint64_t total,
                             void *arg) {
  const char *phase = arg;
  s_progress("%s: %" PRIu64 " / %" PRIu64 " %s (%.0f %%)", phase, done, total,
             what, total ? 100.0 * (double)done / (double)total : 100.0);
}

/* A store for side srv holding only the registry. */
static int s_small_store(int srv, const fo_keys_t *k, char *err,
                         size_t errlen) {
  char reason[300];
  store_t *st = store_open(s_srv_path(srv, "db"), reason, sizeof reason);
  if (!st) {
    snprintf(err, errlen, "%s", reason);
    return -1;
  }
  int rc = fo_register(st, k, 0, reason, sizeof reason);
  store_close(&st);
  if (rc != 0)
    snprintf(err, errlen, "registry: %s", reason);
  return rc;
}

/* ---- the crypto costs, client side --------------------------------------- */

typedef struct {
  int iters;
  double seal_us, open_us;        /* CPU per section */
  double wrap_us, unwrap_us, sign_us, verify_us, aead_enc_us, aead_dec_us;
  /* what libketen checks around them: the author, before sealing, the
   * evidence of PREPARE's 3 candidates (evidence_check_recipient); the
   * reader, before opening, the author's entry (evidence_check_author) */
  double evidence_us, author_entry_us;
  /* the same with libketen's cache of verified signatures warm, as a
   * client that sees the same authors and consents again pays them */
  double evidence_cached_us, author_entry_cached_us;
  int ok;
} crypto_result_t;

/* A registry entry for k as ketend hands it over (signed by root, as the
 * registry holds it). e points into p. */
static int s_signed_entry(const keten_root_key_t *root, const keten_keys_t *k,
                          const char *role, participant_t *p,
                          Keten__RegistryEntry *e) {
  char err[300];
  if (bench_entry_make(root, k, role, "bench", bench_wall_ms(), p, err,
                       sizeof err) != 0)
    return -1;
  participant_to_entry(p, e);
  return 0;
}

/* The evidence PREPARE gives for recipient r of the bench's sections on
 * subject: its entry and one consent of producer 0, signed by it. */
typedef struct {
  participant_t p;
  Keten__RegistryEntry entry;
  Keten__Consent consent, *consents[1];
  Keten__SectionKind kinds[1];
  uint8_t consent_id[16], sig[64];
  Keten__Recipient msg;
} evidence_t;

static int s_evidence(const fo_keys_t *k, int r, const uint8_t subject[32],
                      evidence_t *ev) {
  memset(ev, 0, sizeof *ev);
  if (s_signed_entry(&k->root, &k->recipient[r], fo_recipient_role(r),
                     &ev->p, &ev->entry) != 0)
    return -1;
  int64_t now = bench_wall_ms();
  randombytes_buf(ev->consent_id, sizeof ev->consent_id);
  ev->kinds[0] = (Keten__SectionKind)FO_KIND;
  Keten__Consent *c = &ev->consent;
  keten__consent__init(c);
  c->consent_id.data = ev->consent_id;
  c->consent_id.len = sizeof ev->consent_id;
  c->subject.data = (uint8_t *)subject;
  c->subject.len = 32;
  c->recorded_by = (char *)fo_producer_id(0);
  c->recipient = (char *)fo_recipient_id(r);
  c->sections = ev->kinds;
  c->n_sections = 1;
  c->purpose = (Keten__Purpose)FO_PURPOSE;
  c->basis = (Keten__Basis)FO_BASIS;
  c->legal_reference = "";
  c->evidence_ref = "keten-bench form";
  c->valid_from_ms = (uint64_t)(now - 60000);
  c->valid_until_ms = (uint64_t)(now + 7 * INT64_C(86400000));
  c->recorded_at_ms = (uint64_t)(now - 60000);
  if (canon_sign_consent(c, k->producer[0].signing_sk, ev->sig) != 0)
    return -1;
  c->signature.data = ev->sig;
  c->signature.len = sizeof ev->sig;
  ev->consents[0] = c;
  keten__recipient__init(&ev->msg);
  ev->msg.participant_id = (char *)fo_recipient_id(r);
  ev->msg.entry = &ev->entry;
  ev->msg.consents = ev->consents;
  ev->msg.n_consents = 1;
  return 0;
}

static double s_cpu_per(double t0, int n) {
  return (s_thread_cpu_s() - t0) * 1e6 / (double)(n > 0 ? n : 1);
}

static void s_crypto_bench(const opts_t *o, const fo_keys_t *k,
                           const uint8_t seed[FO_SEED_BYTES],
                           crypto_result_t *r) {
  memset(r, 0, sizeof *r);
  int n = o->crypto_iters;
  r->iters = n;
  char *pt = malloc(o->size + 1);
  Keten__SealedSection **sealed = calloc((size_t)n, sizeof *sealed);
  if (!pt || !sealed) {
    free(pt);
    free(sealed);
    return;
  }
  seal_recipient_t rec[FO_RECIPIENTS];
  for (int i = 0; i < FO_RECIPIENTS; i++) {
    rec[i].participant_id = fo_recipient_id(i);
    rec[i].sealing_key = k->recipient[i].sealing_pk;
  }
  keten_section_header_t h;
  memset(&h, 0, sizeof h);
  fo_subject(seed, 0, 0, h.subject);
  h.kind = FO_KIND;
  snprintf(h.author, sizeof h.author, "%s", fo_producer_id(0));
  h.created_at_ms = (uint64_t)bench_wall_ms();
  int ok = 1;
  double t0 = s_thread_cpu_s();
  for (int i = 0; i < n && ok; i++) {
    fo_plaintext(pt, o->size, 0, (uint64_t)i);
    h.version = (uint64_t)i + 1;
    keten_err_t err;
    sealed[i] = seal_section(&h, pt, o->size, &k->producer[0], rec,
                             FO_RECIPIENTS, &err);
    ok = sealed[i] != NULL;
  }
  r->seal_us = s_cpu_per(t0, n);
  t0 = s_thread_cpu_s();
  for (int i = 0; i < n && ok; i++) {
    keten_section_t out;
    char why[200];
    ok = seal_open(sealed[i], k->producer[0].signing_pk, fo_recipient_id(0),
                   &k->recipient[0], &out, why, sizeof why) == KETEN_OK;
    if (ok) {
      sodium_memzero(out.json, out.json_len + 1);
      free(out.json);
    }
  }
  r->open_us = s_cpu_per(t0, n);
  /* the checks around sealing and opening (evidence.h) */
  static participant_t author;
  static Keten__RegistryEntry author_entry;
  static evidence_t ev[FO_RECIPIENTS];
  ok = ok && s_signed_entry(&k->root, &k->producer[0], "COA", &author,
                            &author_entry) == 0;
  for (int i = 0; i < FO_RECIPIENTS && ok; i++)
    ok = s_evidence(k, i, h.subject, &ev[i]) == 0;
  if (ok) {
    char why[256];
    evidence_author_t ea = {.root_pk = k->root.public_key,
                            .self_id = fo_producer_id(0),
                            .own_signing_keys = {k->producer[0].signing_pk},
                            .n_own = 1,
                            .subject = h.subject,
                            .kind = FO_KIND,
                            .now_ms = (uint64_t)bench_wall_ms()};
    t0 = s_thread_cpu_s();
    for (int i = 0; i < n && ok; i++)
      for (int j = 0; j < FO_RECIPIENTS && ok; j++)
        ok = evidence_check_recipient(&ea, &ev[j].msg, why, sizeof why) ==
             KETEN_OK;
    r->evidence_us = s_cpu_per(t0, n);
    t0 = s_thread_cpu_s();
    for (int i = 0; i < n && ok; i++)
      ok = evidence_check_author(k->root.public_key, &author_entry,
                                 sealed[i]->header, NULL, why,
                                 sizeof why) == KETEN_OK;
    r->author_entry_us = s_cpu_per(t0, n);
    static evidence_cache_t cache;
    memset(&cache, 0, sizeof cache);
    ea.cache = &cache;
    t0 = s_thread_cpu_s();
    for (int i = 0; i < n && ok; i++)
      for (int j = 0; j < FO_RECIPIENTS && ok; j++)
        ok = evidence_check_recipient(&ea, &ev[j].msg, why, sizeof why) ==
             KETEN_OK;
    r->evidence_cached_us = s_cpu_per(t0, n);
    t0 = s_thread_cpu_s();
    for (int i = 0; i < n && ok; i++)
      ok = evidence_check_author(k->root.public_key, &author_entry,
                                 sealed[i]->header, &cache, why,
                                 sizeof why) == KETEN_OK;
    r->author_entry_cached_us = s_cpu_per(t0, n);
    if (!ok)
      fprintf(stderr, "keten-bench-fanout: evidence check: %s\n", why);
  }
  /* the parts: one wrap and unwrap, one signature and verification over
   * the signed string's size, one AEAD pass */
  uint8_t key[32], wrap[80], back[32], sig[64], nonce[24];
  size_t msg_len = o->size + 16 + 24 + 200;
  uint8_t *msg = malloc(msg_len), *ct = malloc(o->size + 16);
  if (!msg || !ct)
    ok = 0;
  if (ok) {
    randombytes_buf(key, sizeof key);
    randombytes_buf(msg, msg_len);
    randombytes_buf(nonce, sizeof nonce);
    int m = n < 200 ? n : 200;
    t0 = s_thread_cpu_s();
    for (int i = 0; i < m; i++)
      crypto_box_seal(wrap, key, 32, k->recipient[0].sealing_pk);
    r->wrap_us = s_cpu_per(t0, m);
    t0 = s_thread_cpu_s();
    for (int i = 0; i < m; i++)
      ok &= crypto_box_seal_open(back, wrap, 80, k->recipient[0].sealing_pk,
                                 k->recipient[0].sealing_sk) == 0;
    r->unwrap_us = s_cpu_per(t0, m);
    t0 = s_thread_cpu_s();
    for (int i = 0; i < m; i++)
      crypto_sign_detached(sig, NULL, msg, msg_len, k->producer[0].signing_sk);
    r->sign_us = s_cpu_per(t0, m);
    t0 = s_thread_cpu_s();
    for (int i = 0; i < m; i++)
      ok &= crypto_sign_verify_detached(sig, msg, msg_len,
                                        k->producer[0].signing_pk) == 0;
    r->verify_us = s_cpu_per(t0, m);
    unsigned long long clen = 0, mlen = 0;
    t0 = s_thread_cpu_s();
    for (int i = 0; i < m; i++)
      crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &clen, msg, o->size, NULL,
                                                 0, NULL, nonce, key);
    r->aead_enc_us = s_cpu_per(t0, m);
    t0 = s_thread_cpu_s();
    for (int i = 0; i < m; i++)
      ok &= crypto_aead_xchacha20poly1305_ietf_decrypt(
                msg, &mlen, NULL, ct, clen, NULL, 0, nonce, key) == 0;
    r->aead_dec_us = s_cpu_per(t0, m);
  }
  r->ok = ok;
  for (int i = 0; i < n; i++)
    seal_section_free(sealed[i]);
  free(sealed);
  free(pt);
  free(msg);
  free(ct);
  sodium_memzero(key, sizeof key);
}

/* ---- rounds: producers and recipients ------------------------------------ */

/* What one producer may send in a round: sections k0 .. k0+n-1 of its
 * sequence (k-th section: subject slot k mod S, version k div S + 1). */
typedef struct {
  uint64_t k0;
  size_t n;
  uint8_t **frame;                /* ketend: packed PUT envelopes */
  size_t *len;
  _Atomic int64_t *t_send;        /* monotonic ns when sent, 0 before */
  _Atomic unsigned char *got;     /* bit r: recipient r took it */
} pool_t;

typedef struct round round_t;

typedef struct {
  round_t *rd;
  int p;
  pthread_t thread;
  int ready_ok;
  char error[400];
  uint64_t sent, replies, errors;
  int64_t exhausted_ns;           /* ran out of pool before the end, or 0 */
  double seal_cpu_s;
  size_t sealed;
} producer_t;

typedef struct {
  round_t *rd;
  int r;
  pthread_t thread;
  int ready_ok;
  char error[400];
  bench_samples_t t_send, t_got;  /* pairs, one per delivery taken */
  uint64_t stale, dups, bad;
  double cpu_s;
  char expect[128];
} recipient_t;

struct round {
  const opts_t *o;
  int side;
  char endpoint[300];
  const fo_keys_t *keys;
  const uint8_t *seed;
  size_t pool_n;                  /* per producer, for this round */
  uint64_t *k_next;               /* per producer: the side's next section */
  pool_t pool[FO_MAX_PRODUCERS];
  int efd[FO_MAX_PRODUCERS];
  _Atomic uint64_t complete[FO_MAX_PRODUCERS]; /* taken by all recipients */
  _Atomic uint64_t failed[FO_MAX_PRODUCERS];   /* refused by the server */
  pthread_barrier_t ready, go;
  _Atomic int cancel, stop;
  int64_t warm_end_ns, measure_end_ns;
  producer_t prod[FO_MAX_PRODUCERS];
  recipient_t rec[FO_RECIPIENTS];
};

/* A delivery of producer p's section k reached recipient w at now. */
static void s_took(recipient_t *w, int p, uint64_t k, int64_t now) {
  round_t *rd = w->rd;
  if (p < 0 || p >= rd->o->producers) {
    w->bad++;
    return;
  }
  pool_t *pl = &rd->pool[p];
  if (k < pl->k0 || k >= pl->k0 + pl->n) {
    w->stale++; /* an earlier round's, redelivered */
    return;
  }
  size_t i = (size_t)(k - pl->k0);
  int64_t ts = atomic_load_explicit(&pl->t_send[i], memory_order_acquire);
  if (ts == 0) {
    w->bad++;
    return;
  }
  unsigned bit = 1u << w->r;
  unsigned old = atomic_fetch_or(&pl->got[i], (unsigned char)bit);
  if (old & bit) {
    w->dups++;
    return;
  }
  if (bench_samples_push(&w->t_send, ts) != 0 ||
      bench_samples_push(&w->t_got, now) != 0) {
    w->bad++;
    return;
  }
  if ((old | bit) == (1u << FO_RECIPIENTS) - 1) {
    atomic_fetch_add(&rd->complete[p], 1);
    uint64_t one = 1;
    ssize_t wr = write(rd->efd[p], &one, sizeof one);
    (void)wr;
  }
}

/* keten_client_poll callback: recognise the section, check its plaintext. */
static int s_on_delivery(const keten_section_t *sec, uint64_t seq,
                         keten_err_t status, void *arg) {
  (void)seq;
  recipient_t *w = arg;
  int64_t now = bench_now_ns();
  int p;
  unsigned slot;
  if (!sec || status != KETEN_OK ||
      fo_subject_slot(sec->header.subject, &p, &slot) != 0 ||
      strcmp(sec->header.author, fo_producer_id(p)) != 0 ||
      sec->header.version < 1) {
    w->bad++;
    return 0;
  }
  uint64_t k = (sec->header.version - 1) * (uint64_t)w->rd->o->subjects + slot;
  int n = snprintf(w->expect, sizeof w->expect,
                   "{\"bench\":\"keten-fanout\",\"p\":%d,\"k\":%llu,", p,
                   (unsigned long long)k);
  if (n <= 0 || sec->json_len < (size_t)n ||
      memcmp(sec->json, w->expect, (size_t)n) != 0) {
    w->bad++;
    return 0;
  }
  s_took(w, p, k, now);
  return 0;
}

/* Seals producer p's pool for the round and packs each PUT envelope. */
static int s_seal_pool(round_t *rd, producer_t *w) {
  const opts_t *o = rd->o;
  pool_t *pl = &rd->pool[w->p];
  const keten_keys_t *me = &rd->keys->producer[w->p];
  seal_recipient_t rec[FO_RECIPIENTS];
  for (int i = 0; i < FO_RECIPIENTS; i++) {
    rec[i].participant_id = fo_recipient_id(i);
    rec[i].sealing_key = rd->keys->recipient[i].sealing_pk;
  }
  char *pt = malloc(o->size + 1);
  if (!pt) {
    snprintf(w->error, sizeof w->error, "out of memory");
    return -1;
  }
  double t0 = s_thread_cpu_s();
  int rc = 0;
  for (size_t i = 0; i < pl->n && rc == 0 && !rd->cancel; i++) {
    uint64_t k = pl->k0 + i;
    keten_section_header_t h;
    memset(&h, 0, sizeof h);
    fo_subject(rd->seed, w->p, (unsigned)(k % (uint64_t)o->subjects),
               h.subject);
    h.kind = FO_KIND;
    snprintf(h.author, sizeof h.author, "%s", fo_producer_id(w->p));
    h.version = k / (uint64_t)o->subjects + 1;
    h.created_at_ms = (uint64_t)bench_wall_ms();
    fo_plaintext(pt, o->size, w->p, k);
    keten_err_t err;
    Keten__SealedSection *s =
        seal_section(&h, pt, o->size, me, rec, FO_RECIPIENTS, &err);
    if (!s) {
      snprintf(w->error, sizeof w->error, "seal_section: %s",
               keten_strerror(err));
      rc = -1;
      break;
    }
    Keten__Envelope env;
    envelope_ids_t ids;
    Keten__PutRequest put = KETEN__PUT_REQUEST__INIT;
    put.section = s;
    envelope_init(&env, &ids, NULL);
    env.body_case = KETEN__ENVELOPE__BODY_PUT;
    env.put = &put;
    pl->frame[i] = envelope_pack(&env, &pl->len[i]);
    seal_section_free(s);
    if (!pl->frame[i]) {
      snprintf(w->error, sizeof w->error, "out of memory packing a PUT");
      rc = -1;
    }
    w->sealed++;
  }
  w->seal_cpu_s += s_thread_cpu_s() - t0;
  free(pt);
  return rc;
}

/* ketend: HELLO -> WELCOME on the raw DEALER (the handshake is done). */
static int s_ketend_hello(void *sock, char *err, size_t errlen) {
  Keten__Envelope env;
  envelope_ids_t ids;
  Keten__Hello hello = KETEN__HELLO__INIT;
  envelope_init(&env, &ids, NULL);
  hello.software = "keten-bench-fanout";
  env.body_case = KETEN__ENVELOPE__BODY_HELLO;
  env.hello = &hello;
  size_t len;
  uint8_t *frame = envelope_pack(&env, &len);
  if (!frame || zmq_send(sock, frame, len, 0) != (int)len) {
    free(frame);
    snprintf(err, errlen, "cannot send HELLO");
    return -1;
  }
  free(frame);
  uint8_t buf[4096];
  int n = s_recv_timeout(sock, buf, sizeof buf, BENCH_CONNECT_TIMEOUT_MS);
  if (n < 0 || n > (int)sizeof buf) {
    snprintf(err, errlen, "no WELCOME within %d ms", BENCH_CONNECT_TIMEOUT_MS);
    return -1;
  }
  Keten__Envelope *r = envelope_decode(buf, (size_t)n, sizeof buf, NULL);
  int ok = r && r->body_case == KETEN__ENVELOPE__BODY_WELCOME;
  envelope_free(r);
  if (!ok)
    snprintf(err, errlen, "HELLO was not answered with WELCOME");
  return ok ? 0 : -1;
}

/* Reads every waiting reply; counts them and the refusals. */
static void s_drain_replies(round_t *rd, producer_t *w, void *sock) {
  int bare = rd->side == SIDE_BARE;
  for (;;) {
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&m);
      return;
    }
    w->replies++;
    const uint8_t *d = zmq_msg_data(&m);
    size_t n = zmq_msg_size(&m);
    int good = 0;
    if (bare) {
      good = n == 10 && d[0] == 'p';
    } else {
      Keten__Envelope *r = envelope_decode(d, n, BENCH_MAX_FRAME, NULL);
      if (r && r->body_case == KETEN__ENVELOPE__BODY_STORED &&
          r->stored->n_queued_for == FO_RECIPIENTS) {
        good = 1;
      } else if (!w->error[0]) {
        if (r && r->body_case == KETEN__ENVELOPE__BODY_ERROR)
          snprintf(w->error, sizeof w->error, "PUT refused: %s: %s",
                   envelope_error_name(r->error->code), r->error->reason);
        else if (r && r->body_case == KETEN__ENVELOPE__BODY_STORED)
          snprintf(w->error, sizeof w->error,
                   "PUT stored but queued for %zu recipients, not %d",
                   r->stored->n_queued_for, FO_RECIPIENTS);
        else
          snprintf(w->error, sizeof w->error, "unexpected reply to PUT");
      }
      envelope_free(r);
    }
    if (!good) {
      w->errors++;
      atomic_fetch_add(&rd->failed[w->p], 1);
    }
    zmq_msg_close(&m);
  }
}

static void *s_producer(void *arg) {
  producer_t *w = arg;
  round_t *rd = w->rd;
  const opts_t *o = rd->o;
  int bare = rd->side == SIDE_BARE;
  pool_t *pl = &rd->pool[w->p];
  void *ctx = zmq_ctx_new();
  void *sock = NULL;
  uint8_t *msg = malloc(o->size);
  int ok = ctx && msg;
  if (!ok)
    snprintf(w->error, sizeof w->error, "out of memory");
  if (ok && !bare)
    ok = s_seal_pool(rd, w) == 0;
  if (ok) {
    sock = bench_curve_dealer(ctx, rd->endpoint, &rd->keys->producer[w->p],
                              rd->keys->broker.transport_pk, 0);
    ok = sock != NULL;
    if (!ok)
      snprintf(w->error, sizeof w->error, "cannot open a DEALER to %s: %s",
               rd->endpoint, zmq_strerror(zmq_errno()));
  }
  if (ok && bare) {
    char buf[8];
    ok = zmq_send(sock, "H", 1, 0) == 1 &&
         s_recv_timeout(sock, buf, sizeof buf, BENCH_CONNECT_TIMEOUT_MS) == 1 &&
         buf[0] == 'h';
    if (!ok)
      snprintf(w->error, sizeof w->error, "the forwarder did not answer");
    randombytes_buf(msg, o->size);
    msg[0] = 'P';
    msg[1] = (uint8_t)w->p;
  } else if (ok) {
    ok = s_ketend_hello(sock, w->error, sizeof w->error) == 0;
  }
  w->ready_ok = ok;
  pthread_barrier_wait(&rd->ready);
  pthread_barrier_wait(&rd->go);
  size_t next = 0;
  uint64_t window = (uint64_t)o->window;
  while (ok && !rd->cancel) {
    int64_t now = bench_now_ns();
    if (now >= rd->measure_end_ns)
      break;
    uint64_t settled = atomic_load(&rd->complete[w->p]) +
                       atomic_load(&rd->failed[w->p]);
    if (w->sent - settled < window) {
      if (next >= pl->n) {
        w->exhausted_ns = now;
        break;
      }
      atomic_store_explicit(&pl->t_send[next], bench_now_ns(),
                            memory_order_release);
      int rc;
      if (bare) {
        uint64_t k = pl->k0 + next;
        memcpy(msg + 2, &k, sizeof k);
        rc = zmq_send(sock, msg, o->size, 0);
      } else {
        rc = zmq_send(sock, pl->frame[next], pl->len[next], 0);
      }
      if (rc < 0) {
        snprintf(w->error, sizeof w->error, "send: %s",
                 zmq_strerror(zmq_errno()));
        ok = 0;
        break;
      }
      next++;
      w->sent++;
      continue;
    }
    zmq_pollitem_t items[] = {{sock, 0, ZMQ_POLLIN, 0},
                              {NULL, rd->efd[w->p], ZMQ_POLLIN, 0}};
    long left = (long)((rd->measure_end_ns - now) / 1000000) + 1;
    int prc = zmq_poll(items, 2, left < 100 ? left : 100);
    if (prc < 0 && zmq_errno() != EINTR) {
      snprintf(w->error, sizeof w->error, "poll: %s",
               zmq_strerror(zmq_errno()));
      ok = 0;
      break;
    }
    if (prc > 0 && (items[1].revents & ZMQ_POLLIN)) {
      uint64_t v;
      ssize_t rr = read(rd->efd[w->p], &v, sizeof v);
      (void)rr;
    }
    if (prc > 0 && (items[0].revents & ZMQ_POLLIN))
      s_drain_replies(rd, w, sock);
  }
  /* every reply, then done */
  int64_t deadline = bench_now_ns() + (int64_t)o->drain_ms * 1000000;
  while (ok && w->replies < w->sent && bench_now_ns() < deadline) {
    zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, 50) > 0)
      s_drain_replies(rd, w, sock);
  }
  if (ok && w->replies < w->sent)
    snprintf(w->error, sizeof w->error, "%" PRIu64 " of %" PRIu64
             " replies missing after %d ms", w->sent - w->replies, w->sent,
             o->drain_ms);
  if (sock)
    zmq_close(sock);
  if (ctx)
    zmq_ctx_term(ctx);
  free(msg);
  return NULL;
}

/* --recipients raw: a bare DEALER that SUBSCRIBEs, takes DELIVER frames and
 * acks them without opening anything (what ketend costs when the partners'
 * crypto runs on their own machines). Sends one envelope; 0 or -1. */
static int s_raw_send(void *sock, Keten__Envelope *env) {
  size_t len;
  uint8_t *frame = envelope_pack(env, &len);
  int rc = frame && zmq_send(sock, frame, len, ZMQ_DONTWAIT) == (int)len ? 0
                                                                          : -1;
  free(frame);
  return rc;
}

static int s_raw_subscribe(void *sock, uint32_t credit, char *err,
                           size_t errlen) {
  Keten__Envelope env;
  envelope_ids_t ids;
  Keten__Subscribe sub = KETEN__SUBSCRIBE__INIT;
  sub.credit = credit;
  envelope_init(&env, &ids, NULL);
  env.body_case = KETEN__ENVELOPE__BODY_SUBSCRIBE;
  env.subscribe = &sub;
  if (s_raw_send(sock, &env) != 0) {
    snprintf(err, errlen, "cannot send SUBSCRIBE");
    return -1;
  }
  int64_t deadline =
      bench_now_ns() + (int64_t)BENCH_CONNECT_TIMEOUT_MS * 1000000;
  while (bench_now_ns() < deadline) {
    zmq_msg_t m;
    zmq_msg_init(&m);
    zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, 100) <= 0 ||
        zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&m);
      continue;
    }
    Keten__Envelope *r = envelope_decode(zmq_msg_data(&m), zmq_msg_size(&m),
                                         4 * BENCH_MAX_FRAME, NULL);
    zmq_msg_close(&m);
    int done = r && r->body_case == KETEN__ENVELOPE__BODY_SUBSCRIBED;
    int bad = r && r->body_case == KETEN__ENVELOPE__BODY_ERROR;
    envelope_free(r);
    if (done)
      return 0;
    if (bad)
      break;
  }
  snprintf(err, errlen, "SUBSCRIBE was not answered with SUBSCRIBED");
  return -1;
}

/* Takes the deliveries waiting on sock; acks the last one. */
static void s_raw_take(recipient_t *w, void *sock) {
  const opts_t *o = w->rd->o;
  for (int f = 0; f < 16; f++) {
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&m);
      return;
    }
    int64_t now = bench_now_ns();
    Keten__Envelope *r = envelope_decode(zmq_msg_data(&m), zmq_msg_size(&m),
                                         4 * BENCH_MAX_FRAME, NULL);
    zmq_msg_close(&m);
    uint64_t last = 0;
    if (r && r->body_case == KETEN__ENVELOPE__BODY_DELIVER) {
      for (size_t i = 0; i < r->deliver->n_items; i++) {
        const Keten__Delivery *d = r->deliver->items[i];
        const Keten__SectionHeader *h =
            d->section && d->section->section ? d->section->section->header
                                              : NULL;
        int p;
        unsigned slot;
        if (d->notice && !d->section) {
          /* a notice (a consent revoked): acked, not counted */
        } else if (!h || h->subject.len != 32 || h->version < 1 ||
            fo_subject_slot(h->subject.data, &p, &slot) != 0)
          w->bad++;
        else
          s_took(w, p, (h->version - 1) * (uint64_t)o->subjects + slot, now);
        last = d->seq;
      }
    } else if (r && r->body_case == KETEN__ENVELOPE__BODY_ERROR &&
               !w->error[0]) {
      snprintf(w->error, sizeof w->error, "%s: %s",
               envelope_error_name(r->error->code), r->error->reason);
    }
    envelope_free(r);
    if (last) {
      Keten__Envelope env;
      envelope_ids_t ids;
      Keten__Ack ack = KETEN__ACK__INIT;
      ack.seq = last;
      envelope_init(&env, &ids, NULL);
      env.body_case = KETEN__ENVELOPE__BODY_ACK;
      env.ack = &ack;
      s_raw_send(sock, &env);
    }
  }
}

static void *s_recipient(void *arg) {
  recipient_t *w = arg;
  round_t *rd = w->rd;
  const opts_t *o = rd->o;
  const keten_keys_t *me = &rd->keys->recipient[w->r];
  int bare = rd->side == SIDE_BARE;
  keten_client_t *c = NULL;
  void *ctx = NULL, *sock = NULL;
  int ok;
  int raw = !bare && o->raw_recipients;
  if (raw) {
    ctx = zmq_ctx_new();
    sock = ctx ? bench_curve_dealer(ctx, rd->endpoint, me,
                                    rd->keys->broker.transport_pk, 0)
               : NULL;
    ok = sock && s_raw_subscribe(sock, (uint32_t)o->credit, w->error,
                                 sizeof w->error) == 0;
    if (!sock)
      snprintf(w->error, sizeof w->error, "cannot open a DEALER");
  } else if (bare) {
    ctx = zmq_ctx_new();
    sock = ctx ? bench_curve_dealer(ctx, rd->endpoint, me,
                                    rd->keys->broker.transport_pk, 0)
               : NULL;
    uint8_t sub[2] = {'S', (uint8_t)w->r};
    char buf[8];
    ok = sock && zmq_send(sock, sub, 2, 0) == 2 &&
         s_recv_timeout(sock, buf, sizeof buf, BENCH_CONNECT_TIMEOUT_MS) == 1 &&
         buf[0] == 's';
    if (!ok)
      snprintf(w->error, sizeof w->error, "cannot subscribe at the forwarder");
  } else {
    keten_client_config_t cfg;
    bench_client_config(&cfg, rd->endpoint, me, rd->keys->broker.transport_pk,
                        rd->keys->root.public_key, BENCH_CONNECT_TIMEOUT_MS);
    char reason[300];
    c = keten_client_new(&cfg, reason, sizeof reason);
    keten_err_t krc = c ? keten_client_subscribe(c, (uint32_t)o->credit)
                        : KETEN_ERR_TRANSPORT;
    ok = krc == KETEN_OK;
    if (!ok)
      snprintf(w->error, sizeof w->error, "subscribe: %s: %s",
               keten_strerror(krc), c ? keten_client_error(c) : reason);
  }
  w->ready_ok = ok;
  pthread_barrier_wait(&rd->ready);
  pthread_barrier_wait(&rd->go);
  double t0 = s_thread_cpu_s();
  while (ok && !rd->cancel && !rd->stop) {
    if (raw) {
      zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
      if (zmq_poll(&it, 1, 20) > 0)
        s_raw_take(w, sock);
      ok = !w->error[0];
      continue;
    }
    if (!bare) {
      keten_err_t krc = keten_client_poll(c, 20, s_on_delivery, w, NULL);
      if (krc != KETEN_OK) {
        snprintf(w->error, sizeof w->error, "poll: %s: %s",
                 keten_strerror(krc), keten_client_error(c));
        ok = 0;
      }
      continue;
    }
    zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, 20) <= 0)
      continue;
    uint64_t last = 0;
    for (int i = 0; i < 64; i++) {
      uint64_t seq;
      zmq_msg_t m;
      if (zmq_recv(sock, &seq, sizeof seq, ZMQ_DONTWAIT) != (int)sizeof seq)
        break;
      zmq_msg_init(&m);
      if (zmq_msg_recv(&m, sock, 0) < 0) {
        zmq_msg_close(&m);
        break;
      }
      int64_t now = bench_now_ns();
      const uint8_t *d = zmq_msg_data(&m);
      if (zmq_msg_size(&m) >= 10 && d[0] == 'P') {
        uint64_t k;
        memcpy(&k, d + 2, sizeof k);
        s_took(w, d[1], k, now);
      } else {
        w->bad++;
      }
      zmq_msg_close(&m);
      last = seq;
    }
    if (last) {
      uint8_t ack[9] = {'A'};
      memcpy(ack + 1, &last, sizeof last);
      zmq_send(sock, ack, sizeof ack, ZMQ_DONTWAIT);
    }
  }
  w->cpu_s = s_thread_cpu_s() - t0;
  keten_client_destroy(&c);
  if (sock)
    zmq_close(sock);
  if (ctx)
    zmq_ctx_term(ctx);
  return NULL;
}

/* ---- rounds: the driver -------------------------------------------------- */

/* One side's figures, accumulated over its rounds. */
typedef struct {
  int ran, failed;
  char error[480], note[600];
  bench_samples_t latency;        /* ns, publish to delivery */
  uint64_t deliveries;            /* inside the measured windows */
  double window_s;
  bench_cpu_t cpu;                /* CPU inside the full windows */
  uint64_t cpu_deliveries;        /* deliveries inside the full windows */
  double cpu_window_s;
  int rounds;
  double round_dps[BENCH_MAX_ROUNDS];
  double seal_cpu_s;
  uint64_t sealed;
  double recipient_cpu_s;
  uint64_t recipient_deliveries;
  uint64_t stale, dups, bad;
  int short_rounds;               /* a pool ran out before the window ended */
  double calib_sps;               /* sections/s in the unmeasured first round */
  double startup_s;
  long hwm_kib, rss_kib;
  /* filled by s_finish */
  int ok;
  double dps, sps, p50_ms, p99_ms, mean_ms, max_ms;
  double server_cpu_us, client_cpu_us, other_load;
  double seal_us, recipient_us;
} result_t;

/* Runs one round of side: pool_n sections per producer (sealed first, for
 * ketend), warm_s unmeasured, then slice_s measured (added to res when
 * measured; a calibration round only reports *sections_per_s). Returns 0,
 * or -1 with res->error. */
static int s_round(const opts_t *o, int side, const char *endpoint,
                   pid_t server, const fo_keys_t *keys, const uint8_t *seed,
                   uint64_t *k_next, size_t pool_n, double warm_s,
                   double slice_s, int measured, result_t *res,
                   double *sections_per_s) {
  round_t *rd = calloc(1, sizeof *rd);
  if (!rd) {
    snprintf(res->error, sizeof res->error, "out of memory");
    return -1;
  }
  rd->o = o;
  rd->side = side;
  snprintf(rd->endpoint, sizeof rd->endpoint, "%s", endpoint);
  rd->keys = keys;
  rd->seed = seed;
  rd->pool_n = pool_n;
  rd->k_next = k_next;
  int n = o->producers, rc = 0, threads = 0;
  for (int p = 0; p < n; p++)
    rd->efd[p] = -1;
  for (int p = 0; p < n && rc == 0; p++) {
    pool_t *pl = &rd->pool[p];
    pl->k0 = k_next[p];
    pl->n = pool_n;
    pl->t_send = calloc(pool_n, sizeof *pl->t_send);
    pl->got = calloc(pool_n, sizeof *pl->got);
    if (side != SIDE_BARE) {
      pl->frame = calloc(pool_n, sizeof *pl->frame);
      pl->len = calloc(pool_n, sizeof *pl->len);
    }
    rd->efd[p] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!pl->t_send || !pl->got ||
        (side != SIDE_BARE && (!pl->frame || !pl->len)) || rd->efd[p] < 0) {
      snprintf(res->error, sizeof res->error, "out of memory");
      rc = -1;
    }
  }
  if (rc == 0 && (pthread_barrier_init(&rd->ready, NULL,
                                       (unsigned)(n + FO_RECIPIENTS + 1)) ||
                  pthread_barrier_init(&rd->go, NULL,
                                       (unsigned)(n + FO_RECIPIENTS + 1)))) {
    snprintf(res->error, sizeof res->error, "pthread_barrier_init failed");
    rc = -1;
  }
  if (rc == 0) {
    for (int p = 0; p < n; p++) {
      rd->prod[p].rd = rd;
      rd->prod[p].p = p;
      if (pthread_create(&rd->prod[p].thread, NULL, s_producer, &rd->prod[p])) {
        fprintf(stderr, "keten-bench-fanout: cannot start a thread\n");
        exit(1); /* the others wait at the barrier: atexit cleans up */
      }
      threads++;
    }
    for (int r = 0; r < FO_RECIPIENTS; r++) {
      rd->rec[r].rd = rd;
      rd->rec[r].r = r;
      if (pthread_create(&rd->rec[r].thread, NULL, s_recipient, &rd->rec[r])) {
        fprintf(stderr, "keten-bench-fanout: cannot start a thread\n");
        exit(1);
      }
      threads++;
    }
    pthread_barrier_wait(&rd->ready);
    for (int p = 0; p < n && !rd->cancel; p++)
      if (!rd->prod[p].ready_ok) {
        rd->cancel = 1;
        snprintf(res->error, sizeof res->error, "producer %d: %s", p,
                 rd->prod[p].error);
      }
    for (int r = 0; r < FO_RECIPIENTS && !rd->cancel; r++)
      if (!rd->rec[r].ready_ok) {
        rd->cancel = 1;
        snprintf(res->error, sizeof res->error, "recipient %d: %s", r,
                 rd->rec[r].error);
      }
    rd->warm_end_ns = bench_now_ns() + (int64_t)(warm_s * 1e9);
    rd->measure_end_ns = rd->warm_end_ns + (int64_t)(slice_s * 1e9);
    pthread_barrier_wait(&rd->go);
    if (!rd->cancel)
      s_progress("  %s: sealed and connected; traffic for %.2f s",
                 s_side_key[side], warm_s + slice_s);
    bench_cpu_sample_t c0 = {0}, c1 = {0};
    if (!rd->cancel)
      bench_window(server, rd->warm_end_ns, rd->measure_end_ns, &c0, &c1);
    for (int p = 0; p < n; p++)
      pthread_join(rd->prod[p].thread, NULL);
    /* wait until every section sent was taken by all three */
    uint64_t sent = 0;
    for (int p = 0; p < n; p++)
      sent += rd->prod[p].sent;
    int64_t deadline = bench_now_ns() + (int64_t)o->drain_ms * 1000000;
    for (;;) {
      uint64_t settled = 0;
      for (int p = 0; p < n; p++)
        settled += atomic_load(&rd->complete[p]) + atomic_load(&rd->failed[p]);
      int rec_failed = 0;
      for (int r = 0; r < FO_RECIPIENTS; r++)
        rec_failed |= rd->rec[r].error[0] != '\0';
      if (settled >= sent || rec_failed || rd->cancel)
        break;
      if (bench_now_ns() >= deadline) {
        snprintf(res->error, sizeof res->error,
                 "%" PRIu64 " of %" PRIu64 " sections not delivered to all "
                 "recipients within %d ms", sent - settled, sent, o->drain_ms);
        rc = -1;
        break;
      }
      bench_sleep_ms(5);
    }
    rd->stop = 1;
    for (int r = 0; r < FO_RECIPIENTS; r++)
      pthread_join(rd->rec[r].thread, NULL);
    pthread_barrier_destroy(&rd->ready);
    pthread_barrier_destroy(&rd->go);

    for (int p = 0; p < n && !res->error[0]; p++)
      if (rd->prod[p].error[0])
        snprintf(res->error, sizeof res->error, "producer %d: %s", p,
                 rd->prod[p].error);
    for (int r = 0; r < FO_RECIPIENTS && !res->error[0]; r++)
      if (rd->rec[r].error[0])
        snprintf(res->error, sizeof res->error, "recipient %d: %s", r,
                 rd->rec[r].error);
    uint64_t bad = 0;
    for (int r = 0; r < FO_RECIPIENTS; r++)
      bad += rd->rec[r].bad;
    if (bad && !res->error[0])
      snprintf(res->error, sizeof res->error,
               "%" PRIu64 " deliveries did not open or were not ours", bad);
    if (res->error[0] || rd->cancel)
      rc = -1;

    /* the window: up to the first producer that ran out of sections */
    int64_t eff_end = rd->measure_end_ns;
    for (int p = 0; p < n; p++)
      if (rd->prod[p].exhausted_ns && rd->prod[p].exhausted_ns < eff_end)
        eff_end = rd->prod[p].exhausted_ns;
    if (eff_end < rd->warm_end_ns + (int64_t)(0.1e9))
      eff_end = rd->warm_end_ns + (int64_t)(0.1e9);
    double win_s = (double)(eff_end - rd->warm_end_ns) / 1e9;
    uint64_t in_window = 0, in_slice = 0;
    for (int r = 0; r < FO_RECIPIENTS && rc == 0; r++) {
      recipient_t *w = &rd->rec[r];
      for (size_t i = 0; i < w->t_got.n; i++) {
        int64_t ts = w->t_send.v[i], tg = w->t_got.v[i];
        if (tg >= rd->warm_end_ns && tg <= eff_end)
          in_window++;
        if (tg >= rd->warm_end_ns && tg <= rd->measure_end_ns)
          in_slice++;
        if (measured && ts >= rd->warm_end_ns && ts <= eff_end &&
            bench_samples_push(&res->latency, tg - ts) != 0)
          rc = -1;
      }
    }
    double dps = (double)in_window / win_s;
    if (sections_per_s)
      *sections_per_s = dps / FO_RECIPIENTS;
    if (rc == 0 && measured) {
      if (eff_end < rd->measure_end_ns)
        res->short_rounds++;
      res->deliveries += in_window;
      res->window_s += win_s;
      if (res->rounds < BENCH_MAX_ROUNDS)
        res->round_dps[res->rounds] = dps;
      res->rounds++;
      /* CPU: the whole window (a short round's tail is idle anyway). */
      if (bench_cpu_add(&res->cpu, &c0, &c1, res->rounds == 1)) {
        res->cpu_deliveries += in_slice;
        res->cpu_window_s += slice_s;
      }
      for (int r = 0; r < FO_RECIPIENTS; r++) {
        res->recipient_cpu_s += rd->rec[r].cpu_s;
        res->recipient_deliveries += rd->rec[r].t_got.n;
        res->stale += rd->rec[r].stale;
        res->dups += rd->rec[r].dups;
      }
    }
    for (int p = 0; p < n; p++) {
      res->seal_cpu_s += rd->prod[p].seal_cpu_s;
      res->sealed += rd->prod[p].sealed;
      k_next[p] += rd->prod[p].sent; /* unsent sections are sealed anew */
    }
  }
  for (int r = 0; r < FO_RECIPIENTS; r++) {
    free(rd->rec[r].t_send.v);
    free(rd->rec[r].t_got.v);
  }
  for (int p = 0; p < n; p++) {
    pool_t *pl = &rd->pool[p];
    if (pl->frame)
      for (size_t i = 0; i < pl->n; i++)
        free(pl->frame[i]);
    free(pl->frame);
    free(pl->len);
    free((void *)pl->t_send);
    free((void *)pl->got);
    if (rd->efd[p] >= 0)
      close(rd->efd[p]);
  }
  (void)threads;
  free(rd);
  return rc;
}

static void s_finish(result_t *r) {
  size_t n = r->latency.n;
  if (!r->ran || r->failed || r->window_s <= 0 || r->deliveries == 0) {
    if (r->ran && !r->error[0])
      snprintf(r->error, sizeof r->error, "nothing was delivered");
    return;
  }
  r->dps = (double)r->deliveries / r->window_s;
  r->sps = r->dps / FO_RECIPIENTS;
  r->p50_ms = r->p99_ms = r->mean_ms = r->max_ms = -1;
  if (n) {
    bench_summary_t lat;
    bench_samples_summary(&r->latency, 1e6, &lat);
    r->p50_ms = lat.p50;
    r->p99_ms = lat.p99;
    r->mean_ms = lat.mean;
    r->max_ms = lat.max;
  }
  r->server_cpu_us = r->client_cpu_us = r->other_load = -1;
  if (r->cpu.ok && r->cpu_deliveries) {
    r->server_cpu_us = r->cpu.server_s * 1e6 / (double)r->cpu_deliveries;
    r->client_cpu_us = r->cpu.client_s * 1e6 / (double)r->cpu_deliveries;
    r->other_load = bench_cpu_other_load(&r->cpu, r->cpu_window_s);
  }
  r->seal_us = r->sealed ? r->seal_cpu_s * 1e6 / (double)r->sealed : -1;
  r->recipient_us = r->recipient_deliveries
                        ? r->recipient_cpu_s * 1e6 /
                              (double)r->recipient_deliveries
                        : -1;
  r->ok = 1;
}

/* ---- consent grants ------------------------------------------------------ */

typedef struct {
  const opts_t *o;
  const fo_keys_t *k;
  const uint8_t *seed;
  const char *endpoint;
  int p;
  pthread_t thread;
  int granted;
  char error[400];
} grant_t;

/* Producer p records consent for each recipient on each of its subjects,
 * through the library (keten_client_consent_grant). */
static void *s_grant_thread(void *arg) {
  grant_t *g = arg;
  keten_client_config_t cfg;
  bench_client_config(&cfg, g->endpoint, &g->k->producer[g->p],
                      g->k->broker.transport_pk, g->k->root.public_key,
                      BENCH_CONNECT_TIMEOUT_MS);
  char reason[300];
  keten_client_t *c = keten_client_new(&cfg, reason, sizeof reason);
  if (!c) {
    snprintf(g->error, sizeof g->error, "keten_client_new: %s", reason);
    return NULL;
  }
  uint64_t now = (uint64_t)bench_wall_ms();
  for (int s = 0; s < g->o->subjects; s++)
    for (int r = 0; r < FO_RECIPIENTS; r++) {
      keten_consent_t kc;
      memset(&kc, 0, sizeof kc);
      fo_subject(g->seed, g->p, (unsigned)s, kc.subject);
      snprintf(kc.recipient, sizeof kc.recipient, "%s", fo_recipient_id(r));
      kc.sections = UINT64_C(1) << FO_KIND;
      kc.purpose = FO_PURPOSE;
      kc.basis = FO_BASIS;
      snprintf(kc.evidence_ref, sizeof kc.evidence_ref, "keten-bench form");
      kc.valid_from_ms = now - 60000;
      kc.valid_until_ms = now + 7ULL * 86400 * 1000;
      keten_err_t rc = keten_client_consent_grant(c, &kc);
      if (rc != KETEN_OK) {
        snprintf(g->error, sizeof g->error, "consent grant: %s: %s",
                 keten_strerror(rc), keten_client_error(c));
        keten_client_destroy(&c);
        return NULL;
      }
      g->granted++;
    }
  keten_client_destroy(&c);
  return NULL;
}

static int s_grant_all(const opts_t *o, const fo_keys_t *k, const uint8_t *seed,
                       const char *endpoint, double *secs, char *err,
                       size_t errlen) {
  grant_t g[FO_MAX_PRODUCERS];
  memset(g, 0, sizeof g);
  int64_t t0 = bench_now_ns();
  int started = 0;
  for (int p = 0; p < o->producers; p++) {
    g[p].o = o;
    g[p].k = k;
    g[p].seed = seed;
    g[p].endpoint = endpoint;
    g[p].p = p;
    if (pthread_create(&g[p].thread, NULL, s_grant_thread, &g[p]) != 0)
      break;
    started++;
  }
  for (int p = 0; p < started; p++)
    pthread_join(g[p].thread, NULL);
  *secs = (double)(bench_now_ns() - t0) / 1e9;
  if (started < o->producers) {
    snprintf(err, errlen, "cannot start a thread");
    return -1;
  }
  for (int p = 0; p < o->producers; p++)
    if (g[p].error[0]) {
      snprintf(err, errlen, "producer %d: %s", p, g[p].error);
      return -1;
    }
  return 0;
}

/* ---- (d): an offline recipient's million queued sections ----------------- */

typedef struct {
  int ran, ok;
  char error[480], note[480];
  uint64_t sections, subjects, taken, bad, acked, head;
  size_t bytes;
  int cached;
  double build_s, startup_s, take_s;
  long hwm_start, rss_start, hwm_end, rss_end;
  off_t db_bytes;
} queue_result_t;

static int s_queue_take(const keten_section_t *sec, uint64_t seq,
                        keten_err_t status, void *arg) {
  (void)seq;
  queue_result_t *q = arg;
  if (!sec || status != KETEN_OK ||
      strncmp(sec->json, "{\"bench\":\"keten-fanout\",", 24) != 0)
    q->bad++;
  else
    q->taken++;
  return 0;
}

static void s_phase_queue(const opts_t *o, const cache_t *cache,
                          const fo_keys_t *k, queue_result_t *q) {
  char err[600] = "", params[200], endpoint[300];
  q->ran = 1;
  q->sections = o->queue_sections;
  q->subjects = o->queue_subjects;
  q->bytes = o->queue_bytes;
  snprintf(params, sizeof params,
           "queue sections=%" PRIu64 " subjects=%" PRIu64
           " bytes=%zu producers=%d schema=%d registry=root-signed",
           o->queue_sections, o->queue_subjects, o->queue_bytes, o->producers,
           store_schema_latest());
  q->cached = s_cache_valid(cache, "queue", params);
  if (!q->cached) {
    char path[400];
    snprintf(path, sizeof path, "%s/queue.db", cache->dir);
    s_progress("(d) preparing %" PRIu64 " queued sections (%zu-byte "
               "plaintext) in %s",
               o->queue_sections, o->queue_bytes, path);
    alarm(900);
    int64_t t0 = bench_now_ns();
    if (fo_build_queue(path, k, cache->seed, o->queue_sections,
                       o->queue_subjects, o->queue_bytes, o->producers,
                       o->prep_threads, s_build_progress, (void *)"(d)", err,
                       sizeof err) != 0 ||
        s_cache_mark(cache, "queue", params) != 0) {
      snprintf(q->error, sizeof q->error, "preparing the store: %s", err);
      return;
    }
    q->build_s = (double)(bench_now_ns() - t0) / 1e9;
  }
  alarm(600);
  if (s_cache_use(cache, "queue", SRV_QUEUE, err, sizeof err) != 0) {
    snprintf(q->error, sizeof q->error, "%s", err);
    return;
  }
  q->db_bytes = s_file_size(s_srv_path(SRV_QUEUE, "db"));
  s_progress("(d) starting ketend on the queued store (%.0f MiB)",
             (double)q->db_bytes / BENCH_MIB);
  if (s_start_ketend(o, SRV_QUEUE, k, endpoint, sizeof endpoint, &q->startup_s,
                     err, sizeof err) != 0) {
    snprintf(q->error, sizeof q->error, "ketend: %s", err);
    return;
  }
  pid_t pid = (pid_t)g_child[SRV_QUEUE];
  bench_sleep_ms(200);
  bench_proc_mem(pid, &q->hwm_start, &q->rss_start);
  keten_client_config_t cfg;
  bench_client_config(&cfg, endpoint, &k->recipient[0], k->broker.transport_pk,
                      k->root.public_key, BENCH_START_TIMEOUT_MS);
  char reason[300];
  keten_client_t *c = keten_client_new(&cfg, reason, sizeof reason);
  keten_err_t krc =
      c ? keten_client_subscribe(c, (uint32_t)o->credit) : KETEN_ERR_TRANSPORT;
  if (krc != KETEN_OK) {
    snprintf(q->error, sizeof q->error, "subscribe: %s: %s",
             keten_strerror(krc), c ? keten_client_error(c) : reason);
    keten_client_destroy(&c);
    bench_child_stop(&g_child[SRV_QUEUE], 5000);
    return;
  }
  s_progress("(d) %s subscribed; taking up to %" PRIu64 " deliveries",
             fo_recipient_id(0), o->queue_take);
  int64_t t0 = bench_now_ns();
  int64_t end = t0 + (int64_t)(o->queue_secs * 1e9);
  while (q->taken + q->bad < o->queue_take && bench_now_ns() < end) {
    krc = keten_client_poll(c, 100, s_queue_take, q, NULL);
    if (krc != KETEN_OK) {
      snprintf(q->error, sizeof q->error, "poll: %s: %s", keten_strerror(krc),
               keten_client_error(c));
      break;
    }
  }
  q->take_s = (double)(bench_now_ns() - t0) / 1e9;
  keten_client_destroy(&c); /* lingers for the last ack */
  bench_sleep_ms(300);
  bench_proc_mem(pid, &q->hwm_end, &q->rss_end);
  int st = bench_child_stop(&g_child[SRV_QUEUE], 10000);
  char summary[400];
  s_ketend_summary(SRV_QUEUE, summary, sizeof summary);
  if (!(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0))
    snprintf(q->note, sizeof q->note, "ketend did not stop cleanly; %s",
             summary);
  else
    snprintf(q->note, sizeof q->note, "%s", summary);
  store_t *s = store_open(s_srv_path(SRV_QUEUE, "db"), reason, sizeof reason);
  if (s) {
    store_mailbox_state(s, fo_recipient_id(0), &q->acked, &q->head);
    store_close(&s);
  }
  if (!q->error[0] && q->bad)
    snprintf(q->error, sizeof q->error,
             "%" PRIu64 " deliveries did not open", q->bad);
  q->ok = !q->error[0] && q->taken > 0;
}

/* ---- options ------------------------------------------------------------- */

static void s_usage(FILE *out) {
  fprintf(out,
          "usage: keten-bench-fanout [options]\n"
          "\n"
          "The fan-out benchmark (issue 3, item 9). In one run:\n"
          "  (a) a bare ZeroMQ CURVE forwarder (forked ROUTER, minimal ZAP) that\n"
          "      forwards each message to 3 consumers, which ack: the ceiling;\n"
          "  (b) ketend on an empty store: producers PUT pre-sealed sections for\n"
          "      3 consented recipients, which subscribe, open and ack;\n"
          "  (c) the same on a store pre-populated with many subjects/consents;\n"
          "  (d) ketend's peak RSS with a million sections queued for an offline\n"
          "      recipient that then subscribes and takes some.\n"
          "(a), (b), (c) take turns in rounds. Sealing and opening costs are\n"
          "measured in a loop on the client side. Prints a table, the targets\n"
          "and one RESULT line.\n"
          "\n"
          "  -p, --producers N         producer partners, threads (default 3)\n"
          "  -W, --window N            sections in flight per producer, from send\n"
          "                            to the last recipient's ack (default 32)\n"
          "  -S, --subjects N          subjects per producer (default 64)\n"
          "  -C, --credit N            recipients' delivery window (default 256)\n"
          "  -s, --size BYTES          section plaintext / message size (default 4096)\n"
          "  -d, --duration SEC        measured seconds per side, over all rounds\n"
          "                            (default 6)\n"
          "  -r, --rounds N            rounds per side (default 3)\n"
          "  -w, --warmup SEC          unmeasured start of every round (default 0.5)\n"
          "      --calibrate SEC       unmeasured first round per side (default 1)\n"
          "  -t, --transport KIND      tcp (127.0.0.1, default) or ipc\n"
          "  -k, --ketend PATH         the ketend binary (default %s)\n"
          "  -P, --phases LIST         any of a, b, c, d (default abcd)\n"
          "      --big-subjects N      (c) subjects in the store (default 100000)\n"
          "      --big-consents N      (c) consents in the store (default 1000000)\n"
          "      --queue-sections N    (d) sections queued (default 1000000)\n"
          "      --queue-subjects N    (d) subjects they belong to (default 100000)\n"
          "      --queue-bytes N       (d) plaintext bytes each (default 4096)\n"
          "      --queue-take N        (d) deliveries to take (default 50000)\n"
          "      --queue-seconds SEC   (d) at most this long (default 20)\n"
          "      --crypto-iters N      sections sealed and opened in the cost loop\n"
          "                            (default 1000)\n"
          "      --drain-ms MS         a round's sections must all arrive this soon\n"
          "                            after it ends (default 30000)\n"
          "      --ack-timeout-ms MS   passed to ketend (default: ketend's own)\n"
          "      --prep-threads N      signer threads for (d)'s store (default 2)\n"
          "      --cache-dir DIR       keep prepared stores (and the key seed) in DIR\n"
          "                            and reuse them; default: the run's temporary\n"
          "                            directory, removed at the end\n"
          "      --recipients KIND     libketen (default): keten_client_subscribe and\n"
          "                            _poll, which open every section; raw: a DEALER\n"
          "                            that takes and acks DELIVER frames unopened\n"
          "                            (a diagnostic: partners' crypto elsewhere)\n"
          "  -l, --ketend-log-level L  ketend's --log-level (default info)\n"
          "      --keep-tmp            keep the temporary directory\n"
          "  -q, --quiet               no progress lines on stderr\n"
          "  -h, --help                this help\n"
          "\n"
          "Exit status: 0 every phase asked for was measured, 1 one failed, 2 usage.\n"
          "Targets never affect the exit status.\n",
          KETEN_BENCH_KETEND);
}

static int s_num(const char *s, double min, double max, double *out) {
  char *end = NULL;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !(v >= min && v <= max))
    return -1;
  *out = v;
  return 0;
}

enum {
  OPT_CALIB = 256, OPT_BIG_SUBJ, OPT_BIG_CONS, OPT_Q_SECT, OPT_Q_SUBJ,
  OPT_Q_BYTES, OPT_Q_TAKE, OPT_Q_SECS, OPT_CRYPTO, OPT_DRAIN, OPT_ACK,
  OPT_PREP, OPT_CACHE, OPT_KEEP, OPT_RECIP
};

static int s_parse_opts(int argc, char **argv, opts_t *o) {
  static const struct option opts[] = {
      {"producers", required_argument, NULL, 'p'},
      {"window", required_argument, NULL, 'W'},
      {"subjects", required_argument, NULL, 'S'},
      {"credit", required_argument, NULL, 'C'},
      {"size", required_argument, NULL, 's'},
      {"duration", required_argument, NULL, 'd'},
      {"rounds", required_argument, NULL, 'r'},
      {"warmup", required_argument, NULL, 'w'},
      {"calibrate", required_argument, NULL, OPT_CALIB},
      {"transport", required_argument, NULL, 't'},
      {"ketend", required_argument, NULL, 'k'},
      {"phases", required_argument, NULL, 'P'},
      {"big-subjects", required_argument, NULL, OPT_BIG_SUBJ},
      {"big-consents", required_argument, NULL, OPT_BIG_CONS},
      {"queue-sections", required_argument, NULL, OPT_Q_SECT},
      {"queue-subjects", required_argument, NULL, OPT_Q_SUBJ},
      {"queue-bytes", required_argument, NULL, OPT_Q_BYTES},
      {"queue-take", required_argument, NULL, OPT_Q_TAKE},
      {"queue-seconds", required_argument, NULL, OPT_Q_SECS},
      {"crypto-iters", required_argument, NULL, OPT_CRYPTO},
      {"drain-ms", required_argument, NULL, OPT_DRAIN},
      {"ack-timeout-ms", required_argument, NULL, OPT_ACK},
      {"prep-threads", required_argument, NULL, OPT_PREP},
      {"cache-dir", required_argument, NULL, OPT_CACHE},
      {"ketend-log-level", required_argument, NULL, 'l'},
      {"keep-tmp", no_argument, NULL, OPT_KEEP},
      {"recipients", required_argument, NULL, OPT_RECIP},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  memset(o, 0, sizeof *o);
  o->producers = 3;
  o->window = 32;
  o->subjects = 64;
  o->credit = 256;
  o->size = 4096;
  o->duration_s = 6;
  o->rounds = 3;
  o->warmup_s = 0.5;
  o->calib_s = 1;
  o->ketend = KETEN_BENCH_KETEND;
  o->phase[0] = o->phase[1] = o->phase[2] = o->phase[3] = 1;
  o->big_subjects = 100000;
  o->big_consents = 1000000;
  o->queue_sections = 1000000;
  o->queue_subjects = 100000;
  o->queue_bytes = 4096;
  o->queue_take = 50000;
  o->queue_secs = 20;
  o->crypto_iters = 1000;
  o->drain_ms = 30000;
  o->prep_threads = 2;
  o->log_level = "info";
  int c;
  double v;
#define NUM(min, max, what)                                                \
  do {                                                                     \
    if (s_num(optarg, (min), (max), &v) != 0) {                           \
      fprintf(stderr, "keten-bench-fanout: %s must be %g..%g\n", (what),  \
              (double)(min), (double)(max));                              \
      return 2;                                                            \
    }                                                                      \
  } while (0)
  while ((c = getopt_long(argc, argv, "p:W:S:C:s:d:r:w:t:k:P:l:qh", opts,
                          NULL)) != -1) {
    switch (c) {
    case 'p':
      NUM(1, FO_MAX_PRODUCERS, "--producers");
      o->producers = (int)v;
      break;
    case 'W': NUM(1, BENCH_MAX_WINDOW, "--window"); o->window = (int)v; break;
    case 'S': NUM(1, FO_MAX_SLOTS, "--subjects"); o->subjects = (int)v; break;
    case 'C': NUM(1, 1024, "--credit"); o->credit = (int)v; break;
    case 's': NUM(96, 512 * 1024, "--size"); o->size = (size_t)v; break; /* 96: a STORY that conforms */
    case 'd': NUM(0.3, 600, "--duration"); o->duration_s = v; break;
    case 'r': NUM(1, BENCH_MAX_ROUNDS, "--rounds"); o->rounds = (int)v; break;
    case 'w': NUM(0, 60, "--warmup"); o->warmup_s = v; break;
    case OPT_CALIB: NUM(0.2, 60, "--calibrate"); o->calib_s = v; break;
    case 't':
      if (strcmp(optarg, "tcp") && strcmp(optarg, "ipc")) {
        fprintf(stderr, "keten-bench-fanout: --transport is tcp or ipc\n");
        return 2;
      }
      o->ipc = !strcmp(optarg, "ipc");
      break;
    case 'k': o->ketend = optarg; break;
    case 'P':
      memset(o->phase, 0, sizeof o->phase);
      for (const char *q = optarg; *q; q++) {
        if (*q < 'a' || *q > 'd') {
          fprintf(stderr, "keten-bench-fanout: --phases takes letters a-d\n");
          return 2;
        }
        o->phase[*q - 'a'] = 1;
      }
      break;
    case OPT_BIG_SUBJ:
      NUM(1, 1e8, "--big-subjects");
      o->big_subjects = (uint64_t)v;
      break;
    case OPT_BIG_CONS:
      NUM(0, 1e9, "--big-consents");
      o->big_consents = (uint64_t)v;
      break;
    case OPT_Q_SECT:
      NUM(1, 1e9, "--queue-sections");
      o->queue_sections = (uint64_t)v;
      break;
    case OPT_Q_SUBJ:
      NUM(1, 1e8, "--queue-subjects");
      o->queue_subjects = (uint64_t)v;
      break;
    case OPT_Q_BYTES:
      NUM(64, 512 * 1024, "--queue-bytes");
      o->queue_bytes = (size_t)v;
      break;
    case OPT_Q_TAKE:
      NUM(1, 1e9, "--queue-take");
      o->queue_take = (uint64_t)v;
      break;
    case OPT_Q_SECS: NUM(1, 3600, "--queue-seconds"); o->queue_secs = v; break;
    case OPT_CRYPTO:
      NUM(10, 1e6, "--crypto-iters");
      o->crypto_iters = (int)v;
      break;
    case OPT_DRAIN: NUM(100, 600000, "--drain-ms"); o->drain_ms = (int)v; break;
    case OPT_ACK:
      NUM(100, 3600000, "--ack-timeout-ms");
      o->ack_timeout_ms = (int)v;
      break;
    case OPT_PREP:
      NUM(1, 16, "--prep-threads");
      o->prep_threads = (int)v;
      break;
    case OPT_CACHE: o->cache_dir = optarg; break;
    case 'l': o->log_level = optarg; break;
    case OPT_KEEP: o->keep_tmp = 1; break;
    case OPT_RECIP:
      if (strcmp(optarg, "libketen") && strcmp(optarg, "raw")) {
        fprintf(stderr,
                "keten-bench-fanout: --recipients is libketen or raw\n");
        return 2;
      }
      o->raw_recipients = !strcmp(optarg, "raw");
      break;
    case 'q': o->quiet = 1; break;
    case 'h': s_usage(stdout); return 1;
    default: s_usage(stderr); return 2;
    }
  }
#undef NUM
  if (optind < argc) {
    fprintf(stderr, "keten-bench-fanout: unexpected argument '%s'\n",
            argv[optind]);
    return 2;
  }
  if (o->duration_s / o->rounds < 0.1) {
    fprintf(stderr, "keten-bench-fanout: each round must measure at least "
                    "0.1 s (--duration / --rounds)\n");
    return 2;
  }
  if ((uint64_t)o->producers * (uint64_t)o->window >= BENCH_FWD_RING) {
    fprintf(stderr, "keten-bench-fanout: --producers x --window must stay "
                    "below %d\n", BENCH_FWD_RING);
    return 2;
  }
  if (o->cache_dir && strlen(o->cache_dir) > 250) {
    fprintf(stderr, "keten-bench-fanout: --cache-dir path too long\n");
    return 2;
  }
  if (!o->phase[0] && !o->phase[1] && !o->phase[2] && !o->phase[3]) {
    fprintf(stderr, "keten-bench-fanout: --phases names no phase\n");
    return 2;
  }
  return 0;
}

/* ---- report -------------------------------------------------------------- */

static void s_num_out(double v, int width, int prec) {
  if (v < 0)
    printf(" %*s", width, "-");
  else
    printf(" %*.*f", width, prec, v);
}

static const char *s_met(int met) { return met ? "met" : "NOT met"; }

typedef struct {
  double grant_s[SIDES];
  double big_build_s, big_startup_s;
  int big_cached;
  off_t big_db_bytes;
} prep_info_t;

static void s_report(const opts_t *o, const result_t *r,
                     const crypto_result_t *cr, const queue_result_t *q,
                     const prep_info_t *pi) {
  double slice = o->duration_s / o->rounds;
  int any_side = r[0].ran || r[1].ran || r[2].ran;
  printf("\nketen-bench-fanout %s (%s)\n", KETEN_VERSION,
         o->ipc ? "ipc" : "tcp 127.0.0.1");
  if (any_side) {
    printf("%d producers x window %d, %zu-byte sections to %d recipients "
           "each\n",
           o->producers, o->window, o->size, FO_RECIPIENTS);
    printf("%d subjects per producer; ketend recipients: %s, credit %d\n"
           "%d rounds per side, taking turns; each %.2f s warm-up + %.2f s "
           "measured\n\n",
           o->subjects,
           o->raw_recipients ? "raw DEALERs acking unopened (diagnostic)"
                             : "libketen subscribe/poll (open + ack)",
           o->credit, o->rounds, o->warmup_s, slice);
    printf("%-26s %9s %8s %8s %8s %8s %9s %9s %6s\n", "side", "deliv/s",
           "sect/s", "p50 ms", "p99 ms", "max ms", "srvCPU/d", "cliCPU/d",
           "other");
    for (int s = 0; s < SIDES; s++) {
      if (!r[s].ran)
        continue;
      printf("%-26s", s_side_name[s]);
      if (!r[s].ok) {
        printf(" FAILED: %s\n", r[s].error);
        continue;
      }
      s_num_out(r[s].dps, 9, 1);
      s_num_out(r[s].sps, 8, 1);
      s_num_out(r[s].p50_ms, 8, 2);
      s_num_out(r[s].p99_ms, 8, 2);
      s_num_out(r[s].max_ms, 8, 1);
      s_num_out(r[s].server_cpu_us, 9, 1);
      s_num_out(r[s].client_cpu_us, 9, 1);
      s_num_out(r[s].other_load, 6, 2);
      printf("\n");
    }
    printf("\ndeliv/s: deliveries taken and acked per second (each "
           "recipient's copy counts);\nsect/s = deliv/s / %d. Latency: "
           "publish (send of the PUT) to the recipient's\ncallback. "
           "srvCPU/d, cliCPU/d: CPU us per delivery in the server process "
           "and in\nthis process (producers + recipients); other: cores used "
           "by other processes.\n",
           FO_RECIPIENTS);
    for (int s = 0; s < SIDES; s++) {
      if (!r[s].ok)
        continue;
      printf("%s deliv/s per round:", s_side_key[s]);
      for (int i = 0; i < r[s].rounds && i < BENCH_MAX_ROUNDS; i++)
        printf(" %.0f", r[s].round_dps[i]);
      printf(" (calibration %.0f sect/s%s)", r[s].calib_sps,
             r[s].short_rounds ? "; some rounds ran out of sealed sections"
                               : "");
      if (r[s].stale || r[s].dups)
        printf(" [%" PRIu64 " redeliveries of earlier rounds, %" PRIu64
               " duplicates ignored]",
               r[s].stale, r[s].dups);
      printf("\n");
    }
  }
  if (cr->iters) {
    printf("\nclient-side crypto, CPU per %zu-byte section (%d sealed, "
           "%d opened in a loop):\n",
           o->size, cr->iters, cr->iters);
    printf("  seal  %7.1f us  (4 wraps x %.1f, Ed25519 sign %.1f, AEAD %.1f)\n",
           cr->seal_us, cr->wrap_us, cr->sign_us, cr->aead_enc_us);
    printf("  open  %7.1f us  (Ed25519 verify %.1f, unwrap %.1f, AEAD %.1f)\n",
           cr->open_us, cr->verify_us, cr->unwrap_us, cr->aead_dec_us);
    printf("  and the checks libketen makes around them, CPU per section:\n"
           "  author, before sealing: PREPARE's evidence for %d recipients "
           "%7.1f us\n    (each: its root-signed entry, our consent's "
           "signature, the policy)\n"
           "  reader, before opening: the author's root-signed entry "
           "%7.1f us\n"
           "  per section in all: author %.1f us, each reader %.1f us\n"
           "  with the cache of verified signatures warm (the same authors\n"
           "  and consents again): evidence %.1f us, author's entry %.1f us\n",
           FO_RECIPIENTS, cr->evidence_us, cr->author_entry_us,
           cr->seal_us + cr->evidence_us, cr->open_us + cr->author_entry_us,
           cr->evidence_cached_us, cr->author_entry_cached_us);
  }
  for (int s = SIDE_KETEND; s < SIDES; s++) {
    if (!r[s].ok)
      continue;
    printf("%s: producers sealed %" PRIu64 " sections before the rounds at "
           "%.1f us CPU each; recipients spent %.1f us thread CPU per delivery "
           "(%s)\n",
           s_side_key[s], r[s].sealed, r[s].seal_us, r[s].recipient_us,
           o->raw_recipients ? "decode + ack, unopened"
                             : "open + decode + ack");
  }
  if (r[SIDE_BARE].ok)
    printf("bare: consumers spent %.1f us thread CPU per delivery\n",
           r[SIDE_BARE].recipient_us);
  printf("\n");
  for (int s = SIDE_KETEND; s < SIDES; s++)
    if (r[s].ran && r[s].hwm_kib >= 0)
      printf("%s: ketend peak RSS (VmHWM) %.1f MiB, VmRSS at the end %.1f MiB; "
             "started in %.2f s; consents granted in %.2f s\n",
             s_side_key[s], (double)r[s].hwm_kib / 1024.0,
             (double)r[s].rss_kib / 1024.0, r[s].startup_s, pi->grant_s[s]);
  if (r[SIDE_BIG].ran) {
    printf("big: store of %" PRIu64 " subjects, %" PRIu64 " consents "
           "(%.0f MiB), ",
           o->big_subjects, o->big_consents,
           (double)pi->big_db_bytes / BENCH_MIB);
    if (pi->big_cached)
      printf("taken from the cache\n");
    else
      printf("built in %.1f s\n", pi->big_build_s);
  }
  for (int s = 0; s < SIDES; s++)
    if (r[s].note[0])
      printf("%s: %s\n", s_side_key[s], r[s].note);
  if (q->ran) {
    printf("\n(d) %" PRIu64 " undelivered sections (%zu-byte plaintext, "
           "%" PRIu64 " subjects) queued for %s\n",
           q->sections, q->bytes, q->subjects, fo_recipient_id(0));
    if (!q->ok) {
      printf("    FAILED: %s\n", q->error);
    } else {
      printf("    store %.0f MiB, ", (double)q->db_bytes / BENCH_MIB);
      if (q->cached)
        printf("taken from the cache");
      else
        printf("built in %.1f s", q->build_s);
      printf("; ketend started in %.2f s\n", q->startup_s);
      printf("    ketend VmHWM %.1f MiB after start (VmRSS %.1f); after "
             "taking %" PRIu64 " deliveries in %.1f s (%.0f/s): VmHWM %.1f "
             "MiB, VmRSS %.1f MiB\n",
             (double)q->hwm_start / 1024.0, (double)q->rss_start / 1024.0,
             q->taken, q->take_s, (double)q->taken / q->take_s,
             (double)q->hwm_end / 1024.0, (double)q->rss_end / 1024.0);
      printf("    mailbox afterwards: acked seq %" PRIu64 ", head seq %" PRIu64
             "\n", q->acked, q->head);
    }
    if (q->note[0])
      printf("    ketend: %s\n", q->note);
  }

  int ab = r[SIDE_BARE].ok && r[SIDE_KETEND].ok;
  int bc = r[SIDE_KETEND].ok && r[SIDE_BIG].ok;
  double ratio = ab ? r[SIDE_KETEND].dps / r[SIDE_BARE].dps : -1;
  double cpu_ratio =
      ab && r[SIDE_BARE].server_cpu_us > 0 && r[SIDE_KETEND].server_cpu_us > 0
          ? r[SIDE_BARE].server_cpu_us / r[SIDE_KETEND].server_cpu_us
          : -1;
  double big_vs = bc ? r[SIDE_BIG].dps / r[SIDE_KETEND].dps - 1.0 : 0;
  printf("\ntargets:\n");
  if (ab)
    printf("  throughput ratio ketend/bare: %.3f (target >= 0.25: %s); "
           "server CPU per delivery bare/ketend: %.3f\n",
           ratio, s_met(ratio >= 0.25), cpu_ratio);
  if (bc)
    printf("  big store vs empty store: %+.1f %% (target within 15 %%: %s)\n",
           100 * big_vs, s_met(big_vs >= -0.15 && big_vs <= 0.15));
  if (q->ok)
    printf("  ketend VmHWM with %" PRIu64 " sections queued: %.1f MiB "
           "(target < 64 MiB: %s)\n",
           q->sections, (double)q->hwm_end / 1024.0,
           s_met(q->hwm_end < 64 * 1024));

  printf("\nRESULT transport=%s producers=%d window=%d subjects=%d credit=%d "
         "size=%zu recipients=%s rounds=%d warmup_s=%.2f duration_s=%.2f",
         o->ipc ? "ipc" : "tcp", o->producers, o->window, o->subjects,
         o->credit, o->size, o->raw_recipients ? "raw" : "libketen",
         o->rounds, o->warmup_s, o->duration_s);
  for (int s = 0; s < SIDES; s++) {
    if (!r[s].ran)
      continue;
    const char *k = s_side_key[s];
    if (!r[s].ok) {
      printf(" %s_ok=0", k);
      continue;
    }
    printf(" %s_ok=1 %s_dps=%.1f %s_sps=%.1f %s_p50_ms=%.3f %s_p99_ms=%.3f "
           "%s_server_cpu_us=%.1f %s_client_cpu_us=%.1f %s_other_load=%.2f "
           "%s_dps_rounds=",
           k, k, r[s].dps, k, r[s].sps, k, r[s].p50_ms, k, r[s].p99_ms, k,
           r[s].server_cpu_us, k, r[s].client_cpu_us, k, r[s].other_load, k);
    for (int i = 0; i < r[s].rounds && i < BENCH_MAX_ROUNDS; i++)
      printf("%s%.0f", i ? "," : "", r[s].round_dps[i]);
    if (s != SIDE_BARE)
      printf(" %s_vmhwm_kib=%ld %s_seal_us=%.1f %s_recipient_us=%.1f", k,
             r[s].hwm_kib, k, r[s].seal_us, k, r[s].recipient_us);
  }
  if (cr->iters)
    printf(" seal_us=%.1f open_us=%.1f evidence_us=%.1f author_entry_us=%.1f"
           " evidence_cached_us=%.1f author_entry_cached_us=%.1f",
           cr->seal_us, cr->open_us, cr->evidence_us, cr->author_entry_us,
           cr->evidence_cached_us, cr->author_entry_cached_us);
  printf(" ratio=");
  if (ab)
    printf("%.3f", ratio);
  else
    printf("na");
  printf(" big_vs_empty=");
  if (bc)
    printf("%.3f", big_vs);
  else
    printf("na");
  if (q->ran) {
    printf(" queue_ok=%d", q->ok);
    if (q->ok)
      printf(" queue_sections=%" PRIu64 " queue_bytes=%zu queue_taken=%" PRIu64
             " queue_vmhwm_start_kib=%ld queue_vmhwm_kib=%ld",
             q->sections, q->bytes, q->taken, q->hwm_start, q->hwm_end);
  }
  printf("\n");
  fflush(stdout);
}

/* ---- main ---------------------------------------------------------------- */

int main(int argc, char **argv) {
  opts_t o;
  int prc = s_parse_opts(argc, argv, &o);
  if (prc)
    return prc == 1 ? 0 : 2;
  g_tmp.keep = o.keep_tmp;
  g_quiet = o.quiet;
  int need_ketend = o.phase[1] || o.phase[2] || o.phase[3];
  if (need_ketend && access(o.ketend, X_OK) != 0) {
    fprintf(stderr, "keten-bench-fanout: cannot execute ketend at %s: %s\n",
            o.ketend, strerror(errno));
    return 2;
  }
  if (sodium_init() < 0) {
    fprintf(stderr, "keten-bench-fanout: libsodium failed to initialise\n");
    return 1;
  }
  bench_fatal_signals(&s_fatal);
  alarm(300);

  char err[600];
  if (bench_tmp_make(&g_tmp, "keten-fanout", s_tmp_names, TMP_FILES, err,
                     sizeof err) != 0) {
    fprintf(stderr, "keten-bench-fanout: %s\n", err);
    return 1;
  }
  atexit(s_cleanup);
  cache_t cache;
  if (s_cache_open(&o, &cache, err, sizeof err) != 0) {
    fprintf(stderr, "keten-bench-fanout: %s\n", err);
    return 1;
  }
  static fo_keys_t keys;
  fo_keys_derive(&keys, cache.seed);
  if (keten_keys_save(&keys.broker, s_tmp("ketend.key"), s_tmp("ketend.pub"),
                      1) != KETEN_OK) {
    fprintf(stderr, "keten-bench-fanout: cannot write the broker's keys\n");
    return 1;
  }
  if (bench_root_save(&keys.root, s_tmp("root.pub"), err, sizeof err) != 0) {
    fprintf(stderr, "keten-bench-fanout: %s\n", err);
    return 1;
  }

  static result_t r[SIDES];
  static crypto_result_t cr;
  static queue_result_t q;
  static prep_info_t pi;
  char endpoint[SIDES][300];
  memset(endpoint, 0, sizeof endpoint);
  for (int s = 0; s < SIDES; s++)
    r[s].ran = o.phase[s];
  static const int side_srv[SIDES] = {SRV_BARE, SRV_KETEND, SRV_BIG};

  /* client-side crypto costs, on a quiet machine (no server runs yet) */
  if (o.phase[1] || o.phase[2]) {
    s_progress("sealing and opening %d sections of %zu bytes", o.crypto_iters,
               o.size);
    s_crypto_bench(&o, &keys, cache.seed, &cr);
    if (!cr.ok)
      fprintf(stderr, "keten-bench-fanout: the crypto loop failed\n");
  }

  /* stores */
  if (o.phase[1] && s_small_store(SRV_KETEND, &keys, err, sizeof err) != 0) {
    r[SIDE_KETEND].failed = 1;
    snprintf(r[SIDE_KETEND].error, sizeof r[SIDE_KETEND].error, "%s", err);
  }
  if (o.phase[2]) {
    char params[200];
    snprintf(params, sizeof params,
             "big subjects=%" PRIu64 " consents=%" PRIu64
             " schema=%d registry=root-signed",
             o.big_subjects, o.big_consents, store_schema_latest());
    pi.big_cached = s_cache_valid(&cache, "big", params);
    if (!pi.big_cached) {
      char path[400];
      snprintf(path, sizeof path, "%s/big.db", cache.dir);
      s_progress("(c) preparing a store of %" PRIu64 " subjects and %" PRIu64
                 " consents in %s",
                 o.big_subjects, o.big_consents, path);
      alarm(900);
      int64_t t0 = bench_now_ns();
      if (fo_build_big(path, &keys, cache.seed, o.big_subjects, o.big_consents,
                       s_build_progress, (void *)"(c)", err, sizeof err) != 0 ||
          s_cache_mark(&cache, "big", params) != 0) {
        r[SIDE_BIG].failed = 1;
        snprintf(r[SIDE_BIG].error, sizeof r[SIDE_BIG].error,
                 "preparing the store: %s", err);
      }
      pi.big_build_s = (double)(bench_now_ns() - t0) / 1e9;
      s_progress("(c) store prepared in %.1f s", pi.big_build_s);
    }
    alarm(600);
    if (!r[SIDE_BIG].failed &&
        s_cache_use(&cache, "big", SRV_BIG, err, sizeof err) != 0) {
      r[SIDE_BIG].failed = 1;
      snprintf(r[SIDE_BIG].error, sizeof r[SIDE_BIG].error, "%s", err);
    }
    pi.big_db_bytes = s_file_size(s_srv_path(SRV_BIG, "db"));
  }

  /* servers, all up before the rounds (forks in a single-threaded process) */
  alarm(600);
  if (o.phase[0] && s_start_forwarder(&o, &keys, endpoint[SIDE_BARE],
                                      sizeof endpoint[SIDE_BARE], err,
                                      sizeof err) != 0) {
    r[SIDE_BARE].failed = 1;
    snprintf(r[SIDE_BARE].error, sizeof r[SIDE_BARE].error, "%s", err);
  }
  for (int s = SIDE_KETEND; s < SIDES; s++) {
    if (!r[s].ran || r[s].failed)
      continue;
    if (s_start_ketend(&o, side_srv[s], &keys, endpoint[s], sizeof endpoint[s],
                       &r[s].startup_s, err, sizeof err) != 0) {
      r[s].failed = 1;
      snprintf(r[s].error, sizeof r[s].error, "ketend: %s", err);
    }
  }
  for (int s = 0; s < SIDES; s++)
    if (r[s].ran && !r[s].failed)
      s_progress("%s on %s", s_side_name[s], endpoint[s]);

  /* consents for the bench's subjects, through the library */
  for (int s = SIDE_KETEND; s < SIDES; s++) {
    if (!r[s].ran || r[s].failed)
      continue;
    if (s_grant_all(&o, &keys, cache.seed, endpoint[s], &pi.grant_s[s], err,
                    sizeof err) != 0) {
      r[s].failed = 1;
      snprintf(r[s].error, sizeof r[s].error, "%s", err);
    } else {
      s_progress("%s: %d consents granted in %.2f s", s_side_key[s],
                 o.producers * o.subjects * FO_RECIPIENTS, pi.grant_s[s]);
    }
  }

  /* a calibration round per side sizes the pools of sealed sections */
  static uint64_t k_next[SIDES][FO_MAX_PRODUCERS];
  double rate[SIDES] = {20000, 3000, 3000}; /* sections/s, first guess */
  double slice = o.duration_s / o.rounds;
  double seal_guess_s = 2.0 * (o.warmup_s + slice) * 4000 * 400e-6;
  alarm((unsigned)(SIDES * (o.rounds + 1) *
                       (o.warmup_s + slice + o.calib_s + seal_guess_s +
                        o.drain_ms / 1000.0 +
                        2 * BENCH_CONNECT_TIMEOUT_MS / 1000.0) +
                   120));
  for (int s = 0; s < SIDES; s++) {
    if (!r[s].ran || r[s].failed)
      continue;
    size_t pool_n = (size_t)(rate[s] * (o.calib_s + 0.2) * 1.2 / o.producers) +
                    2 * (size_t)o.window + 16;
    s_progress("calibrating %s (%zu sections per producer)", s_side_key[s],
               pool_n);
    double sps = 0;
    if (s_round(&o, s, endpoint[s], (pid_t)g_child[side_srv[s]], &keys,
                cache.seed, k_next[s], pool_n, 0.2, o.calib_s, 0, &r[s],
                &sps) != 0) {
      r[s].failed = 1;
      continue;
    }
    r[s].calib_sps = sps;
    rate[s] = sps > 10 ? sps : 10;
  }
  /* the measured rounds: a b c, c b a, a b c, ... */
  for (int round = 0; round < o.rounds; round++) {
    for (int turn = 0; turn < SIDES; turn++) {
      int s = round % 2 == 0 ? turn : SIDES - 1 - turn;
      if (!r[s].ran || r[s].failed)
        continue;
      size_t pool_n =
          (size_t)(rate[s] * (o.warmup_s + slice) * 1.5 / o.producers) +
          2 * (size_t)o.window + 64;
      s_progress("round %d/%d: %s, %zu sections per producer, %.2f s + %.2f s",
                 round + 1, o.rounds, s_side_key[s], pool_n, o.warmup_s, slice);
      double sps = 0;
      if (s_round(&o, s, endpoint[s], (pid_t)g_child[side_srv[s]], &keys,
                  cache.seed, k_next[s], pool_n, o.warmup_s, slice, 1, &r[s],
                  &sps) != 0) {
        r[s].failed = 1;
        continue;
      }
      if (sps > rate[s])
        rate[s] = sps;
    }
  }

  /* peak RSS, then stop the servers */
  for (int s = SIDE_KETEND; s < SIDES; s++)
    if (r[s].ran && g_child[side_srv[s]])
      bench_proc_mem((pid_t)g_child[side_srv[s]], &r[s].hwm_kib, &r[s].rss_kib);
    else
      r[s].hwm_kib = r[s].rss_kib = -1;
  alarm(120);
  if (g_child[SRV_BARE]) {
    int st = bench_child_stop(&g_child[SRV_BARE], 3000);
    if (!(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0))
      snprintf(r[SIDE_BARE].note, sizeof r[SIDE_BARE].note,
               "the forwarder did not stop cleanly");
  }
  for (int s = SIDE_KETEND; s < SIDES; s++) {
    if (!g_child[side_srv[s]])
      continue;
    int st = bench_child_stop(&g_child[side_srv[s]], 10000);
    char summary[400];
    s_ketend_summary(side_srv[s], summary, sizeof summary);
    int clean = st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    snprintf(r[s].note, sizeof r[s].note, "%s: %s",
             clean ? "ketend stopped" : "ketend did not stop cleanly",
             summary);
    if (r[s].failed || !clean)
      s_print_tail(s_srv_path(side_srv[s], "log"), 20);
  }

  if (o.phase[3]) {
    s_phase_queue(&o, &cache, &keys, &q);
    if (!q.ok && q.ran)
      s_print_tail(s_srv_path(SRV_QUEUE, "log"), 20);
  }

  int ok = 1;
  for (int s = 0; s < SIDES; s++) {
    s_finish(&r[s]);
    if (r[s].ran && !r[s].ok)
      ok = 0;
  }
  if (q.ran && !q.ok)
    ok = 0;
  alarm(0);
  s_report(&o, r, &cr, &q, &pi);
  for (int s = 0; s < SIDES; s++)
    free(r[s].latency.v);
  fo_keys_wipe(&keys);
  return ok ? 0 : 1;
}
