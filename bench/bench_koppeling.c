/* keten-bench-koppeling: what a KOPPELING costs (issue 7).
 *
 * One run per N, each on a fresh ketend (ipc, started by the
 * integration-test harness), with COA, gemeente:0716, a TVS participant
 * and a pinger (vwn:zeeland), each a libketen client on its own thread of
 * this one process:
 *
 *   (a) direct: for N subjects COA holds a consent naming gemeente:0716
 *       (7 kinds, INBURGERING); then it PUTs 7 sections per subject
 *       (keten_client_put: PREPARE, seal to itself and the gemeente, PUT),
 *       one after another. Timed from the first PUT until the gemeente's
 *       client, subscribed and polling on its own thread, has opened all
 *       7N sections.
 *   (b) koppeling: N other subjects, each with COA's consent naming
 *       "@gemeente" and the same 7 sections stored while no gemeente is
 *       linked (queued for nobody; not timed). COA subscribes and polls on
 *       its own thread (serving the rewrap requests), then the TVS
 *       publishes one KOPPELING per subject to gemeente:0716, back to
 *       back. Timed from the first publish until the gemeente has opened
 *       all 7N sections.
 *   (d) the author comes back: N more such subjects; COA's client closed,
 *       the TVS publishes their N KOPPELINGs (the rewrap requests wait in
 *       COA's mailbox), then COA connects, subscribes and polls. Timed
 *       from its connecting until the gemeente has opened all 7N: the
 *       rewrap path alone, not paced by the publisher.
 *   (c) the TVS client's publish round trips in (b) and (d) (each
 *       KOPPELING queues 7 rewrap requests) and for N KOPPELINGs of
 *       subjects with nothing stored (0 rewraps), each against the PINGs
 *       the pinger (one every 2 ms, all run long) made in the same
 *       interval; and those PINGs in the 1 s before (a), the broker idle.
 *
 * Afterwards it checks the store: every rewrap request done, none
 * pending, refused, cancelled or denied; nothing left in the gemeente's
 * mailbox; and `keten audit verify` on the stopped broker. A run that
 * fails a check keeps its directory and ketend's log.
 *
 *   keten-bench-koppeling [N ...]        (default: 100 500)
 */
#define _POSIX_C_SOURCE 200809L
#include "bench_measure.h"
#include "harness.h"
#include "store.h"

#include <pthread.h>
#include <sys/resource.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define GEMEENTE "gemeente:0716"
#define COA "coa"
#define TVS "tvs:coa"
#define N_KINDS 7
#define CREDIT 64
#define WAIT_US (INT64_C(180) * 1000000)
#define DAY_MS (INT64_C(86400000))

/* COA's kinds that purpose INBURGERING gives a GEMEENTE (proto/policy.c). */
static const int KINDS[N_KINDS] = {1, 2, 3, 4, 5, 6, 8};
static const char *const FILES[N_KINDS] = {
    "coa-identity.json", "coa-household.json", "coa-story.json",
    "coa-education.json", "coa-work.json", "coa-language.json",
    "coa-housing.json"};
static char *s_json[N_KINDS];
static size_t s_json_len[N_KINDS];

static int64_t thread_cpu_us(void) { return bench_thread_cpu_ns() / 1000; }

/* ketend's CPU (user + system) so far, µs. */
static int64_t ketend_cpu_us(pid_t pid) {
  long long ticks = bench_proc_ticks(pid);
  if (ticks < 0)
    return -1;
  return (int64_t)((unsigned long long)ticks * 1000000ULL /
                   (unsigned long long)sysconf(_SC_CLK_TCK));
}

/* What the rest of the machine did: CPU busy on all cores and ours (this
 * process and ketend), to tell how much others used while we measured. */
typedef struct {
  int64_t wall, busy, mine;
} mach_t;

static mach_t s_mach(pid_t ketend) {
  mach_t m = {bench_now_us(), 0, 0};
  long long busy = bench_machine_busy_ticks();
  if (busy < 0)
    busy = 0;
  m.busy = (int64_t)((unsigned long long)busy * 1000000ULL /
                     (unsigned long long)sysconf(_SC_CLK_TCK));
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  m.mine = (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec +
           (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec +
           ketend_cpu_us(ketend);
  return m;
}

/* The share of the machine's cores others kept busy between m0 and now. */
static double s_other(const mach_t *m0, pid_t ketend) {
  mach_t m1 = s_mach(ketend);
  double cores = (double)sysconf(_SC_NPROCESSORS_ONLN);
  double w = (double)(m1.wall - m0->wall);
  double o = (double)((m1.busy - m0->busy) - (m1.mine - m0->mine));
  return w > 0 && o > 0 ? o / (w * cores) : 0.0;
}

static double s_pct(int64_t *v, size_t n, int pct) {
  if (n == 0)
    return 0;
  bench_sort_i64(v, n);
  size_t i = (n * (size_t)pct) / 100;
  if (i >= n)
    i = n - 1;
  return (double)v[i];
}

/* ---- subjects: which sections the gemeente got ------------------------- */

typedef struct {
  uint8_t (*subj)[32];
  size_t n;
  uint32_t *slot; /* open addressing: index + 1, 0 empty */
  size_t cap;
  _Atomic uint8_t *got; /* bit i: KINDS[i] opened */
  _Atomic int64_t *done; /* when the last of its 7 was opened (mono µs) */
} subjects_t;

static void subjects_init(subjects_t *s, size_t n) {
  s->n = n;
  s->subj = calloc(n, 32);
  s->cap = 4;
  while (s->cap < 2 * n)
    s->cap *= 2;
  s->slot = calloc(s->cap, sizeof *s->slot);
  s->got = calloc(n, sizeof *s->got);
  s->done = calloc(n, sizeof *s->done);
  if (!s->subj || !s->slot || !s->got || !s->done)
    abort();
  for (size_t i = 0; i < n; i++) {
    randombytes_buf(s->subj[i], 32);
    uint64_t h;
    memcpy(&h, s->subj[i], 8);
    size_t j = (size_t)h & (s->cap - 1);
    while (s->slot[j])
      j = (j + 1) & (s->cap - 1);
    s->slot[j] = (uint32_t)i + 1;
  }
}

static long subjects_find(const subjects_t *s, const uint8_t subj[32]) {
  uint64_t h;
  memcpy(&h, subj, 8);
  for (size_t j = (size_t)h & (s->cap - 1); s->slot[j];
       j = (j + 1) & (s->cap - 1))
    if (memcmp(s->subj[s->slot[j] - 1], subj, 32) == 0)
      return (long)s->slot[j] - 1;
  return -1;
}

static void subjects_free(subjects_t *s) {
  free(s->subj);
  free(s->slot);
  free((void *)s->got);
  free((void *)s->done);
}

/* ---- parties on their own threads ---------------------------------------- */

typedef struct {
  const char *id;
  keten_client_t *c;
  const subjects_t *subjects;
  pthread_t thread;
  atomic_int stop;
  atomic_long opened, bad, dup, unknown, events;
  atomic_long target;            /* opened count to time */
  _Atomic int64_t reached_us;    /* when opened reached target */
  atomic_long sealed, refused;   /* rewraps served (COA) */
  _Atomic int64_t cpu_us;        /* its polling threads' CPU so far */
  int64_t cpu_base, cpu_start;   /* the current thread's, for cpu_us */
  atomic_int poll_failed;
  char error[512];
} party_t;

static int s_kind_index(int kind) {
  for (int i = 0; i < N_KINDS; i++)
    if (KINDS[i] == kind)
      return i;
  return -1;
}

/* On the polling thread: its CPU into p->cpu_us. */
static void s_cpu(party_t *p) {
  atomic_store(&p->cpu_us, p->cpu_base + thread_cpu_us() - p->cpu_start);
}

static int s_on_section(const keten_section_t *s, uint64_t seq,
                        keten_err_t status, void *arg) {
  (void)seq;
  party_t *p = arg;
  s_cpu(p);
  if (!s || status != KETEN_OK) {
    atomic_fetch_add(&p->bad, 1);
    return 0;
  }
  long i = subjects_find(p->subjects, s->header.subject);
  int k = s_kind_index(s->header.kind);
  if (i < 0 || k < 0 || strcmp(s->header.author, COA) != 0) {
    atomic_fetch_add(&p->unknown, 1);
    return 0;
  }
  uint8_t bit = (uint8_t)(1u << k);
  uint8_t had = atomic_fetch_or(&p->subjects->got[i], bit);
  if (had & bit) {
    atomic_fetch_add(&p->dup, 1);
    return 0;
  }
  if ((had | bit) == (1u << N_KINDS) - 1)
    atomic_store(&p->subjects->done[i], bench_now_us());
  long n = atomic_fetch_add(&p->opened, 1) + 1;
  if (n == atomic_load(&p->target))
    atomic_store(&p->reached_us, bench_now_us());
  return 0;
}

static int s_on_event(const keten_tvs_event_t *ev, uint64_t seq,
                      keten_err_t status, void *arg) {
  (void)seq;
  party_t *p = arg;
  s_cpu(p);
  if (!ev || status != KETEN_OK)
    atomic_fetch_add(&p->bad, 1);
  else
    atomic_fetch_add(&p->events, 1);
  return 0;
}

static void s_on_rewrap(const keten_rewrap_t *r, uint64_t seq, void *arg) {
  (void)seq;
  party_t *p = arg;
  s_cpu(p);
  if (r->sealed)
    atomic_fetch_add(&p->sealed, 1);
  else {
    if (atomic_fetch_add(&p->refused, 1) == 0)
      fprintf(stderr, "koppeling: COA refused a rewrap: %s\n", r->refusal);
  }
}

static void *s_poll_thread(void *arg) {
  party_t *p = arg;
  p->cpu_base = atomic_load(&p->cpu_us);
  p->cpu_start = thread_cpu_us();
  while (!atomic_load(&p->stop)) {
    keten_err_t rc = keten_client_poll(p->c, 50, s_on_section, p, NULL);
    s_cpu(p);
    if (rc != KETEN_OK) {
      if (atomic_fetch_add(&p->poll_failed, 1) == 0)
        snprintf(p->error, sizeof p->error, "%s: %s", keten_strerror(rc),
                 keten_client_error(p->c));
      struct timespec ts = {0, 50000000};
      nanosleep(&ts, NULL);
    }
  }
  return NULL;
}

static int s_start(party_t *p) {
  atomic_store(&p->stop, 0);
  keten_client_on_tvs_event(p->c, s_on_event, p);
  keten_client_on_rewrap(p->c, s_on_rewrap, p);
  keten_err_t rc = keten_client_subscribe(p->c, CREDIT);
  if (rc != KETEN_OK) {
    fprintf(stderr, "koppeling: subscribe %s: %s: %s\n", p->id,
            keten_strerror(rc), keten_client_error(p->c));
    return -1;
  }
  return pthread_create(&p->thread, NULL, s_poll_thread, p) == 0 ? 0 : -1;
}

static void s_join(party_t *p) {
  atomic_store(&p->stop, 1);
  pthread_join(p->thread, NULL);
}

/* Waits until p has opened target sections; the time it took, or -1. */
static int64_t s_wait_opened(party_t *p, long target, int64_t t0) {
  while (atomic_load(&p->opened) < target) {
    if (bench_now_us() - t0 > WAIT_US)
      return -1;
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  return atomic_load(&p->reached_us) - t0;
}

/* ---- requests --------------------------------------------------------------- */

static int s_fail(keten_client_t *c, keten_err_t rc, const char *what) {
  fprintf(stderr, "koppeling: %s: %s%s%s: %s\n", what, keten_strerror(rc),
          rc == KETEN_ERR_REMOTE ? " / " : "",
          rc == KETEN_ERR_REMOTE
              ? keten_error_code_name(keten_client_remote_code(c))
              : "",
          keten_client_error(c));
  return -1;
}

static int s_grant(keten_client_t *c, const uint8_t subj[32], const char *to) {
  keten_consent_t k;
  memset(&k, 0, sizeof k);
  memcpy(k.subject, subj, 32);
  snprintf(k.recipient, sizeof k.recipient, "%s", to);
  for (int i = 0; i < N_KINDS; i++)
    k.sections |= UINT64_C(1) << KINDS[i];
  k.purpose = keten_purpose_from_name("INBURGERING");
  k.basis = keten_basis_from_name("CONSENT");
  snprintf(k.evidence_ref, sizeof k.evidence_ref, "bench-form-17");
  k.valid_from_ms = (uint64_t)(bench_wall_ms() - 60000);
  k.valid_until_ms = (uint64_t)(bench_wall_ms() + 365 * DAY_MS);
  keten_err_t rc = keten_client_consent_grant(c, &k);
  return rc == KETEN_OK ? 0 : s_fail(c, rc, "consent grant");
}

/* PUTs the 7 sections of subj; each must be queued for `queued` others. */
static int s_put7(keten_client_t *c, const uint8_t subj[32], size_t queued) {
  for (int i = 0; i < N_KINDS; i++) {
    keten_put_result_t r;
    keten_err_t rc =
        keten_client_put(c, subj, KINDS[i], s_json[i], s_json_len[i], &r);
    if (rc != KETEN_OK)
      return s_fail(c, rc, "put");
    if (r.n_queued != queued) {
      fprintf(stderr, "koppeling: put queued for %zu, expected %zu\n",
              r.n_queued, queued);
      return -1;
    }
  }
  return 0;
}

static keten_tvs_event_t s_koppeling(const uint8_t subj[32]) {
  keten_tvs_event_t ev;
  memset(&ev, 0, sizeof ev);
  ev.kind = KETEN_TVS_KOPPELING;
  memcpy(ev.subject, subj, 32);
  snprintf(ev.gemeente, sizeof ev.gemeente, GEMEENTE);
  snprintf(ev.period, sizeof ev.period, "2026-2");
  snprintf(ev.date, sizeof ev.date, "2026-07-01");
  ev.household_size = 3;
  return ev;
}

/* N KOPPELINGs of subj, back to back; round trips into pub[] (µs), and
 * when each reply came into at[] (mono µs; may be NULL). */
static int s_publish_all(keten_client_t *tvs, uint8_t (*subj)[32], size_t n,
                         uint32_t rewraps_each, int64_t *pub, int64_t *at) {
  for (size_t i = 0; i < n; i++) {
    keten_tvs_event_t ev = s_koppeling(subj[i]);
    keten_tvs_published_t res;
    int64_t t = bench_now_us();
    keten_err_t rc = keten_client_tvs_publish(tvs, &ev, &res);
    int64_t back = bench_now_us();
    pub[i] = back - t;
    if (at)
      at[i] = back;
    if (rc != KETEN_OK)
      return s_fail(tvs, rc, "publish KOPPELING");
    if (res.duplicate || res.n_queued != 1 ||
        res.rewraps_queued != rewraps_each) {
      fprintf(stderr,
              "koppeling: KOPPELING %zu: duplicate %d, %zu feeds, %u "
              "rewraps (expected %u)\n",
              i, res.duplicate, res.n_queued, res.rewraps_queued,
              rewraps_each);
      return -1;
    }
  }
  return 0;
}

/* ---- a pinger: another partner's PING every PING_GAP_US, all run long ---- */

#define PING_GAP_US 2000
#define PING_MAX 200000

typedef struct {
  keten_client_t *c;
  pthread_t thread;
  atomic_int stop, failed;
  int64_t *at, *rtt; /* start (mono µs) and round trip of each */
  atomic_long n;
} pinger_t;

static void *s_ping_thread(void *arg) {
  pinger_t *p = arg;
  while (!atomic_load(&p->stop)) {
    long i = atomic_load(&p->n);
    if (i == PING_MAX)
      break;
    int64_t t = bench_now_us(), rtt = 0;
    if (keten_client_ping(p->c, "bench", 5, &rtt) != KETEN_OK) {
      atomic_fetch_add(&p->failed, 1);
    } else {
      p->at[i] = t;
      p->rtt[i] = bench_now_us() - t;
      atomic_store(&p->n, i + 1);
    }
    int64_t left = t + PING_GAP_US - bench_now_us();
    if (left > 0)
      nanosleep(&(struct timespec){0, (long)left * 1000}, NULL);
  }
  return NULL;
}

/* The pings that started in [t0, t1): p50 and p99 in µs; how many. */
static size_t s_pings_in(pinger_t *p, int64_t t0, int64_t t1, double *p50,
                         double *p99) {
  long n = atomic_load(&p->n);
  int64_t *v = malloc(((size_t)n + 1) * sizeof *v);
  size_t k = 0;
  for (long i = 0; v && i < n; i++)
    if (p->at[i] >= t0 && p->at[i] < t1)
      v[k++] = p->rtt[i];
  *p50 = s_pct(v, k, 50);
  *p99 = s_pct(v, k, 99);
  free(v);
  return k;
}

/* ---- the store afterwards ------------------------------------------------------- */

static long long s_sql(sqlite3 *db, const char *sql) {
  sqlite3_stmt *st = NULL;
  long long v = -1;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    v = sqlite3_column_int64(st, 0);
  else
    fprintf(stderr, "koppeling: %s: %s\n", sql, sqlite3_errmsg(db));
  sqlite3_finalize(st);
  return v;
}

/* ---- one run ---------------------------------------------------------------------- */

typedef struct {
  double wall_us;              /* the timed interval */
  int64_t ketend_cpu, coa_cpu, gem_cpu, tvs_cpu;
  double other;                /* share of the cores others used meanwhile */
} phase_t;

static void s_phase_print(const char *name, const phase_t *ph, size_t secs) {
  printf("%s %.3f s, %.0f us/section; CPU per section: ketend %.0f, COA "
         "%.0f, gemeente %.0f, TVS %.0f us; other %.2f\n",
         name, ph->wall_us / 1e6, ph->wall_us / (double)secs,
         (double)ph->ketend_cpu / (double)secs,
         (double)ph->coa_cpu / (double)secs,
         (double)ph->gem_cpu / (double)secs,
         (double)ph->tvs_cpu / (double)secs, ph->other);
}

static void s_sleep_us(int64_t us) {
  for (int64_t t0 = bench_now_us(); bench_now_us() - t0 < us;)
    nanosleep(&(struct timespec){0, 1000000}, NULL);
}

static int s_run(size_t n) {
  int ok = 0;
  harness_t *h = harness_new(1);
  if (!h)
    return -1;
  if (!harness_add_partner(h, TVS, "TVS", "TVS (COA, fictief)")) {
    harness_destroy(&h);
    return -1;
  }
  /* keten_client_put PREPAREs before each PUT: 21N PREPAREs here, far
   * above the shipped limit of 50 a second per participant; and COA's
   * requests go beyond 1 000 a second. */
  char conf[300];
  snprintf(conf, sizeof conf, "%s/ketend.conf", h->dir);
  FILE *f = fopen(conf, "w");
  if (!f || fprintf(f, "prepare_per_second = 1000000\n"
                       "prepare_burst = 1000000\n"
                       "requests_per_second = 1000000\n"
                       "requests_burst = 1000000\n"
                       "max_pending_per_author = 10000000\n") < 0 ||
      fclose(f) != 0) {
    harness_destroy(&h);
    return -1;
  }
  snprintf(h->extra_args[h->n_extra++], 64, "--config");
  snprintf(h->extra_args[h->n_extra++], 64, "%s", conf);
  if (harness_start(h) != 0) {
    fprintf(stderr, "koppeling: ketend did not start\n");
    harness_destroy(&h);
    return -1;
  }

  /* the gemeente's subjects: 0..n-1 for (a), n..2n-1 for (b), 2n..3n-1
   * for (d); and n subjects with nothing stored for (c0) */
  const size_t secs = N_KINDS * n;
  subjects_t all, sc;
  subjects_init(&all, 3 * n);
  subjects_init(&sc, n);
  uint8_t(*sa)[32] = all.subj, (*sb)[32] = all.subj + n,
                  (*sd)[32] = all.subj + 2 * n;
  int64_t *pub_b = calloc(n, sizeof(int64_t)),
          *pub_d = calloc(n, sizeof(int64_t)),
          *pub_0 = calloc(n, sizeof(int64_t)),
          *at_b = calloc(n, sizeof(int64_t));
  pinger_t pg;
  memset(&pg, 0, sizeof pg);
  pg.at = calloc(PING_MAX, sizeof(int64_t));
  pg.rtt = calloc(PING_MAX, sizeof(int64_t));
  party_t gem, coa;
  memset(&gem, 0, sizeof gem);
  memset(&coa, 0, sizeof coa);
  gem.id = GEMEENTE;
  gem.subjects = &all;
  coa.id = COA;
  coa.subjects = &all;
  keten_client_t *tvs =
      harness_client(h, &harness_partner(h, TVS)->keys, 30000, -1);
  coa.c = harness_client(h, &harness_partner(h, COA)->keys, 30000, -1);
  gem.c = harness_client(h, &harness_partner(h, GEMEENTE)->keys, 30000, -1);
  pg.c = harness_client(h, &harness_partner(h, "vwn:zeeland")->keys, 30000,
                        -1);
  int coa_on = 0, gem_on = 0, pg_on = 0;
  phase_t a, b, d;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  memset(&d, 0, sizeof d);
  if (!tvs || !coa.c || !gem.c || !pg.c || !pub_b || !pub_d || !pub_0 || !at_b ||
      !pg.at || !pg.rtt)
    goto out;
  if (keten_client_ping(tvs, "hello", 5, NULL) != KETEN_OK ||
      keten_client_ping(coa.c, "hello", 5, NULL) != KETEN_OK)
    goto out;

  /* the pinger runs throughout; first 1 s with the broker idle */
  if (pthread_create(&pg.thread, NULL, s_ping_thread, &pg) != 0)
    goto out;
  pg_on = 1;
  int64_t idle0 = bench_now_us(), idle_k0 = ketend_cpu_us(h->pid);
  s_sleep_us(1000000);
  int64_t idle1 = bench_now_us(), idle_cpu_k = ketend_cpu_us(h->pid) - idle_k0;

  if (s_start(&gem) != 0)
    goto out;
  gem_on = 1;

  /* (a) direct consents, then the PUTs, timed */
  for (size_t i = 0; i < n; i++)
    if (s_grant(coa.c, sa[i], GEMEENTE) != 0)
      goto out;
  atomic_store(&gem.target, (long)secs);
  mach_t m0 = s_mach(h->pid);
  int64_t k0 = ketend_cpu_us(h->pid), g0 = atomic_load(&gem.cpu_us);
  int64_t c0 = thread_cpu_us();
  int64_t t0 = bench_now_us();
  for (size_t i = 0; i < n; i++)
    if (s_put7(coa.c, sa[i], 1) != 0)
      goto out;
  int64_t a_puts = bench_now_us() - t0;
  a.coa_cpu = thread_cpu_us() - c0;
  int64_t w = s_wait_opened(&gem, (long)secs, t0);
  a.ketend_cpu = ketend_cpu_us(h->pid) - k0;
  a.other = s_other(&m0, h->pid);
  a.gem_cpu = atomic_load(&gem.cpu_us) - g0;
  if (w < 0) {
    fprintf(stderr, "koppeling: (a) the gemeente opened %ld of %zu sections "
                    "in %lld s\n",
            atomic_load(&gem.opened), secs, (long long)(WAIT_US / 1000000));
    goto out;
  }
  a.wall_us = (double)w;

  /* "@gemeente" consents and the sections of (b) and (d) (sb[0..2n-1]
   * runs on into sd), no link: queued for nobody; not timed */
  int64_t s0 = bench_now_us();
  for (size_t i = 0; i < 2 * n; i++)
    if (s_grant(coa.c, sb[i], KETEN_LINKED_GEMEENTE) != 0 ||
        s_put7(coa.c, sb[i], 0) != 0)
      goto out;
  int64_t setup_us = bench_now_us() - s0;

  /* (b) COA online (subscribed, polling: serving rewraps); the KOPPELINGs */
  if (s_start(&coa) != 0)
    goto out;
  coa_on = 1;
  atomic_store(&gem.target, (long)(2 * secs));
  m0 = s_mach(h->pid);
  k0 = ketend_cpu_us(h->pid);
  g0 = atomic_load(&gem.cpu_us);
  int64_t co0 = atomic_load(&coa.cpu_us);
  c0 = thread_cpu_us();
  t0 = bench_now_us();
  const int64_t b_start = t0;
  if (s_publish_all(tvs, sb, n, N_KINDS, pub_b, at_b) != 0)
    goto out;
  int64_t b_pubs = bench_now_us() - t0;
  b.tvs_cpu = thread_cpu_us() - c0;
  w = s_wait_opened(&gem, (long)(2 * secs), t0);
  b.ketend_cpu = ketend_cpu_us(h->pid) - k0;
  b.other = s_other(&m0, h->pid);
  b.gem_cpu = atomic_load(&gem.cpu_us) - g0;
  b.coa_cpu = atomic_load(&coa.cpu_us) - co0;
  int64_t b_end = bench_now_us();
  if (w < 0) {
    fprintf(stderr,
            "koppeling: (b) the gemeente opened %ld of %zu sections of the "
            "KOPPELINGs in %lld s; COA sealed %ld, refused %ld rewraps\n",
            atomic_load(&gem.opened) - (long)secs, secs,
            (long long)(WAIT_US / 1000000), atomic_load(&coa.sealed),
            atomic_load(&coa.refused));
    goto out;
  }
  b.wall_us = (double)w;

  /* (d) COA offline: its client closed after its last acks */
  s_join(&coa);
  coa_on = 0;
  keten_client_ping(coa.c, "settle", 6, NULL);
  keten_client_destroy(&coa.c);
  s_sleep_us(200000);
  k0 = ketend_cpu_us(h->pid);
  c0 = thread_cpu_us();
  int64_t d_pub0 = bench_now_us();
  if (s_publish_all(tvs, sd, n, N_KINDS, pub_d, NULL) != 0)
    goto out;
  int64_t d_pub1 = bench_now_us();
  int64_t d_pubs_cpu_k = ketend_cpu_us(h->pid) - k0;
  d.tvs_cpu = thread_cpu_us() - c0;
  s_sleep_us(200000);
  /* COA comes back: a new client, subscribed, polling */
  atomic_store(&gem.target, (long)(3 * secs));
  m0 = s_mach(h->pid);
  k0 = ketend_cpu_us(h->pid);
  g0 = atomic_load(&gem.cpu_us);
  t0 = bench_now_us();
  coa.c = harness_client(h, &harness_partner(h, COA)->keys, 30000, -1);
  co0 = atomic_load(&coa.cpu_us);
  if (!coa.c || s_start(&coa) != 0)
    goto out;
  coa_on = 1;
  w = s_wait_opened(&gem, (long)(3 * secs), t0);
  d.ketend_cpu = ketend_cpu_us(h->pid) - k0;
  d.other = s_other(&m0, h->pid);
  d.gem_cpu = atomic_load(&gem.cpu_us) - g0;
  d.coa_cpu = atomic_load(&coa.cpu_us) - co0;
  if (w < 0) {
    fprintf(stderr,
            "koppeling: (d) the gemeente opened %ld of %zu sections after "
            "COA came back, in %lld s; COA sealed %ld, refused %ld rewraps\n",
            atomic_load(&gem.opened) - (long)(2 * secs), secs,
            (long long)(WAIT_US / 1000000), atomic_load(&coa.sealed),
            atomic_load(&coa.refused));
    goto out;
  }
  d.wall_us = (double)w;
  /* the KOPPELINGs themselves in the gemeente's feed */
  for (int64_t w0 = bench_now_us();
       atomic_load(&gem.events) < (long)(2 * n) &&
       bench_now_us() - w0 < 10000000;)
    nanosleep(&(struct timespec){0, 1000000}, NULL);

  /* (c0) KOPPELINGs of subjects with nothing stored: 0 rewraps */
  s_sleep_us(200000);
  k0 = ketend_cpu_us(h->pid);
  int64_t z0 = bench_now_us();
  if (s_publish_all(tvs, sc.subj, n, 0, pub_0, NULL) != 0)
    goto out;
  int64_t z1 = bench_now_us();
  int64_t z_cpu_k = ketend_cpu_us(h->pid) - k0;
  for (int64_t w0 = bench_now_us();
       atomic_load(&gem.events) < (long)(3 * n) &&
       bench_now_us() - w0 < 10000000;)
    nanosleep(&(struct timespec){0, 1000000}, NULL);

  /* let the last acks and answers reach the broker */
  atomic_store(&pg.stop, 1);
  pthread_join(pg.thread, NULL);
  pg_on = 0;
  s_join(&gem);
  s_join(&coa);
  gem_on = coa_on = 0;
  keten_client_ping(gem.c, "settle", 6, NULL);
  keten_client_ping(coa.c, "settle", 6, NULL);

  sqlite3 *db = NULL;
  long long rw_done = -1, rw_other = -1, rw_all = -1, gem_left = -1,
            stored = -1;
  if (sqlite3_open_v2(h->store, &db, SQLITE_OPEN_READONLY, NULL) ==
      SQLITE_OK) {
    sqlite3_busy_timeout(db, 5000);
    char q[128];
    rw_all = s_sql(db, "SELECT count(*) FROM rewrap");
    snprintf(q, sizeof q, "SELECT count(*) FROM rewrap WHERE state = %d",
             STORE_REWRAP_DONE);
    rw_done = s_sql(db, q);
    snprintf(q, sizeof q, "SELECT count(*) FROM rewrap WHERE state <> %d",
             STORE_REWRAP_DONE);
    rw_other = s_sql(db, q);
    gem_left = s_sql(db, "SELECT count(*) FROM mailbox WHERE recipient = '"
                         GEMEENTE "'");
    stored = s_sql(db, "SELECT count(*) FROM audit WHERE name = "
                       "'keten.rewrap.stored' AND status = 1");
  }
  sqlite3_close(db);
  harness_stop(h);
  char *verify = NULL;
  int vrc = harness_audit_verify(h, &verify);
  int audit_ok =
      vrc == 0 && verify && strncmp(verify, "audit chain OK", 14) == 0;
  free(verify);

  /* (b): from each KOPPELING's reply until its subject's 7 were opened */
  for (size_t i = 0; i < n; i++)
    at_b[i] = atomic_load(&all.done[n + i]) - at_b[i];
  double lat50 = s_pct(at_b, n, 50), lat99 = s_pct(at_b, n, 99);
  double pb50 = s_pct(pub_b, n, 50), pb99 = s_pct(pub_b, n, 99);
  double pd50 = s_pct(pub_d, n, 50), pd99 = s_pct(pub_d, n, 99);
  double p050 = s_pct(pub_0, n, 50), p099 = s_pct(pub_0, n, 99);
  double gb50, gb99, gd50, gd99, g050, g099, gi50, gi99;
  size_t nb = s_pings_in(&pg, b_start, b_end, &gb50, &gb99);
  size_t nd = s_pings_in(&pg, d_pub0, d_pub1, &gd50, &gd99);
  size_t n0 = s_pings_in(&pg, z0, z1, &g050, &g099);
  size_t ni = s_pings_in(&pg, idle0, idle1, &gi50, &gi99);

  printf("N=%zu subjects x %d sections = %zu sections per path\n", n, N_KINDS,
         secs);
  s_phase_print("(a) direct, first PUT to all opened:        ", &a, secs);
  printf("    of which the PUTs (PREPARE + seal + PUT, one at a time): "
         "%.3f s\n",
         a_puts / 1e6);
  s_phase_print("(b) KOPPELINGs, COA online, to all opened:  ", &b, secs);
  printf("    of which the publishes: %.3f s; (b)/(a) per section %.2f; "
         "KOPPELING reply to its 7 sections opened: p50 %.2f ms, p99 %.2f "
         "ms\n",
         b_pubs / 1e6, b.wall_us / a.wall_us, lat50 / 1e3, lat99 / 1e3);
  s_phase_print("(d) COA back online, to all opened:         ", &d, secs);
  printf("    (d)/(a) per section %.2f; the %zu KOPPELINGs before it: "
         "%.3f s, ketend CPU %.0f us each\n",
         d.wall_us / a.wall_us, n, (d_pub1 - d_pub0) / 1e6,
         (double)d_pubs_cpu_k / (double)n);
  printf("    setup of (b) and (d), not timed: %.3f s for %zu consents and "
         "%zu PUTs\n",
         setup_us / 1e6, 2 * n, 2 * secs);
  printf("(c) TVS publish round trip and a PING (another partner, every %d "
         "ms) in the same interval, p50 / p99 ms:\n",
         PING_GAP_US / 1000);
  printf("    KOPPELING, 7 rewraps, COA serving (b):   %.2f / %.2f;  PING "
         "%.2f / %.2f (%zu);  ratio %.1f / %.1f\n",
         pb50 / 1e3, pb99 / 1e3, gb50 / 1e3, gb99 / 1e3, nb, pb50 / gb50,
         pb99 / gb99);
  printf("    KOPPELING, 7 rewraps, COA offline (d):   %.2f / %.2f;  PING "
         "%.2f / %.2f (%zu);  ratio %.1f / %.1f\n",
         pd50 / 1e3, pd99 / 1e3, gd50 / 1e3, gd99 / 1e3, nd, pd50 / gd50,
         pd99 / gd99);
  printf("    KOPPELING, nothing stored, 0 rewraps:    %.2f / %.2f;  PING "
         "%.2f / %.2f (%zu);  ratio %.1f / %.1f; ketend CPU %.0f us each\n",
         p050 / 1e3, p099 / 1e3, g050 / 1e3, g099 / 1e3, n0, p050 / g050,
         p099 / g099, (double)z_cpu_k / (double)n);
  printf("    PING, broker idle (1 s before (a)):                     PING "
         "%.2f / %.2f (%zu); ketend CPU %.0f us each\n",
         gi50 / 1e3, gi99 / 1e3, ni, ni ? (double)idle_cpu_k / (double)ni : 0);
  printf("checks: gemeente opened %ld (expected %zu), unopenable %ld, "
         "duplicates %ld, unknown %ld, TVS events %ld (expected %zu); COA "
         "sealed %ld (expected %zu), refused %ld; poll errors gemeente %d, "
         "COA %d; ping failures %d; rewrap rows %lld, done %lld, other "
         "states %lld; keten.rewrap.stored %lld; gemeente mailbox left %lld; "
         "audit verify %s\n",
         atomic_load(&gem.opened), 3 * secs, atomic_load(&gem.bad),
         atomic_load(&gem.dup), atomic_load(&gem.unknown),
         atomic_load(&gem.events), 3 * n, atomic_load(&coa.sealed), 2 * secs,
         atomic_load(&coa.refused), atomic_load(&gem.poll_failed),
         atomic_load(&coa.poll_failed), atomic_load(&pg.failed), rw_all,
         rw_done, rw_other, stored, gem_left, audit_ok ? "OK" : "FAILED");
  if (gem.poll_failed)
    printf("  gemeente poll: %s\n", gem.error);
  if (coa.poll_failed)
    printf("  COA poll: %s\n", coa.error);
  int clean = atomic_load(&gem.opened) == (long)(3 * secs) &&
              !atomic_load(&gem.bad) && !atomic_load(&gem.dup) &&
              !atomic_load(&gem.unknown) &&
              atomic_load(&gem.events) == (long)(3 * n) &&
              atomic_load(&coa.sealed) == (long)(2 * secs) &&
              !atomic_load(&coa.refused) && !gem.poll_failed &&
              !coa.poll_failed && !pg.failed &&
              rw_all == (long long)(2 * secs) &&
              rw_done == (long long)(2 * secs) && rw_other == 0 &&
              stored == (long long)(2 * secs) && gem_left == 0 && audit_ok;
  printf("RESULT n=%zu a_s=%.3f b_s=%.3f d_s=%.3f ratio_b_a=%.3f "
         "ratio_d_a=%.3f pub_b_p50_ms=%.3f pub_b_p99_ms=%.3f "
         "ping_b_p50_ms=%.3f ping_b_p99_ms=%.3f ratio_pub_ping_b_p50=%.2f "
         "ratio_pub_ping_b_p99=%.2f pub_d_p50_ms=%.3f ping_d_p50_ms=%.3f "
         "ratio_pub_ping_d_p50=%.2f pub_0_p50_ms=%.3f ping_0_p50_ms=%.3f "
         "ping_idle_p50_ms=%.3f lat_b_p50_ms=%.3f lat_b_p99_ms=%.3f ketend_cpu_us_a=%.0f ketend_cpu_us_b=%.0f "
         "ketend_cpu_us_d=%.0f clean=%d\n",
         n, a.wall_us / 1e6, b.wall_us / 1e6, d.wall_us / 1e6,
         b.wall_us / a.wall_us, d.wall_us / a.wall_us, pb50 / 1e3,
         pb99 / 1e3, gb50 / 1e3, gb99 / 1e3, pb50 / gb50, pb99 / gb99,
         pd50 / 1e3, gd50 / 1e3, pd50 / gd50, p050 / 1e3, g050 / 1e3,
         gi50 / 1e3, lat50 / 1e3, lat99 / 1e3, (double)a.ketend_cpu / (double)secs,
         (double)b.ketend_cpu / (double)secs,
         (double)d.ketend_cpu / (double)secs, clean);
  fflush(stdout);
  ok = clean;

out:
  if (pg_on) {
    atomic_store(&pg.stop, 1);
    pthread_join(pg.thread, NULL);
  }
  if (gem_on)
    s_join(&gem);
  if (coa_on)
    s_join(&coa);
  if (!ok) {
    fprintf(stderr, "koppeling: N=%zu failed; ketend's log is kept: %s\n", n,
            h->log_file);
    if (gem.poll_failed)
      fprintf(stderr, "  gemeente poll: %s\n", gem.error);
    if (coa.poll_failed)
      fprintf(stderr, "  COA poll: %s\n", coa.error);
  }
  keten_client_destroy(&tvs);
  keten_client_destroy(&coa.c);
  keten_client_destroy(&gem.c);
  keten_client_destroy(&pg.c);
  free(pub_b);
  free(pub_d);
  free(pub_0);
  free(at_b);
  free(pg.at);
  free(pg.rtt);
  subjects_free(&sc);
  subjects_free(&all);
  if (ok) {
    harness_destroy(&h);
  } else {
    harness_stop(h); /* the directory and its log stay */
    free(h);
  }
  return ok ? 0 : -1;
}

static int s_load_json(void) {
  for (int i = 0; i < N_KINDS; i++) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", KETEN_DEMO_DATA, FILES[i]);
    FILE *f = fopen(path, "rb");
    if (!f) {
      fprintf(stderr, "koppeling: cannot read %s\n", path);
      return -1;
    }
    char buf[8192];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    s_json[i] = malloc(len + 1);
    if (!s_json[i])
      return -1;
    memcpy(s_json[i], buf, len);
    s_json[i][len] = '\0';
    s_json_len[i] = len;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (sodium_init() < 0 || s_load_json() != 0)
    return 1;
  size_t ns[16] = {100, 500};
  int k = 2;
  if (argc > 1) {
    k = 0;
    for (int i = 1; i < argc && k < 16; i++) {
      long v = strtol(argv[i], NULL, 10);
      if (v < 1 || v > 100000) {
        fprintf(stderr, "usage: keten-bench-koppeling [N ...] (1..100000)\n");
        return 2;
      }
      ns[k++] = (size_t)v;
    }
  }
  int rc = 0;
  for (int i = 0; i < k; i++)
    if (s_run(ns[i]) != 0)
      rc = 1;
  for (int i = 0; i < N_KINDS; i++)
    free(s_json[i]);
  return rc;
}
