/* test_crash — kill -9 of ketend at random moments under load (issue 8,
 * item 9). A real ketend (ipc) on one store, restarted on it after every
 * kill; two producer processes (libketen, as coa) each record a consent
 * for the volunteer and PUT a section on a fresh subject, over and over;
 * a consumer process (libketen, as vwn:zeeland) subscribed to its
 * mailbox writes each delivery durably (write + fsync of its log) before
 * the library acks it, like `keten listen --dir`. The controller kills
 * ketend with SIGKILL after a random 100..2000 ms (seeded PRNG; the seed
 * is printed, KETEN_CRASH_SEED replays it), checks `keten audit verify`
 * on the store as the crash left it, and restarts ketend, for
 * KETEN_CRASH_CYCLES cycles (default 40, at least 20). At the end:
 *   - 0 PUTs that got STORED are missing at the consumer;
 *   - 0 undelivered: the mailbox's head is acked;
 *   - order: every new delivery has a higher seq than the ones before,
 *     and a redelivery is the same content under the same seq;
 *   - the audit chain verifies after every crash and at the end. */
#define _XOPEN_SOURCE 700
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "party.h"

#define COA "coa"
#define VWN "vwn:zeeland"
#define K_IDENTITY 1
#define P_BEGELEIDING 5
#define N_PRODUCERS 2
#define MIN_CYCLES 20

static volatile sig_atomic_t s_stop;
static void s_on_term(int sig) {
  (void)sig;
  s_stop = 1;
}

static uint64_t s_rng;
static uint64_t s_next(void) { /* xorshift64* */
  s_rng ^= s_rng >> 12;
  s_rng ^= s_rng << 25;
  s_rng ^= s_rng >> 27;
  return s_rng * UINT64_C(2685821657736338717);
}

static void s_subject(int producer, long i, uint8_t subject[32]) {
  char label[64];
  int n = snprintf(label, sizeof label, "keten-crash-test/%d/%ld", producer, i);
  crypto_generichash(subject, 32, (const uint8_t *)label, (size_t)n, NULL, 0);
}

static void s_handlers(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = s_on_term;
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
}

/* ---- the consumer: durable before ack ------------------------------------ */

typedef struct {
  int fd;
} consumer_t;

static int s_on_delivery(const keten_section_t *sec, uint64_t seq,
                         keten_err_t status, void *arg) {
  consumer_t *c = arg;
  char line[1024], hex[65];
  int n;
  if (sec) {
    sodium_bin2hex(hex, sizeof hex, sec->header.subject, 32);
    n = snprintf(line, sizeof line, "%llu %s %llu %.*s\n",
                 (unsigned long long)seq, hex,
                 (unsigned long long)sec->header.version, (int)sec->json_len,
                 sec->json);
  } else {
    n = snprintf(line, sizeof line, "%llu - 0 unreadable:%d\n",
                 (unsigned long long)seq, (int)status);
  }
  if (n <= 0 || n >= (int)sizeof line || write(c->fd, line, (size_t)n) != n ||
      fsync(c->fd) != 0)
    return 1; /* not durable: not acked, it comes again */
  return 0;
}

static void s_consumer(harness_t *h, const char *log_path) {
  s_handlers();
  consumer_t ctx;
  ctx.fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (ctx.fd < 0)
    _exit(3);
  keten_client_t *c =
      harness_client(h, &harness_partner(h, VWN)->keys, 2000, 1);
  if (!c)
    _exit(4);
  int subscribed = 0;
  while (!s_stop) {
    if (!subscribed) {
      if (keten_client_subscribe(c, 32) == KETEN_OK)
        subscribed = 1;
      else
        party_sleep_ms(50);
      continue;
    }
    if (keten_client_poll(c, 200, s_on_delivery, &ctx, NULL) != KETEN_OK)
      subscribed = 0; /* subscribe again once the broker answers */
  }
  keten_client_destroy(&c);
  close(ctx.fd);
  _exit(0);
}

/* ---- the producers ----------------------------------------------------- */

static void s_producer(harness_t *h, int p, const char *log_path) {
  s_handlers();
  FILE *log = fopen(log_path, "w");
  keten_client_t *c =
      harness_client(h, &harness_partner(h, COA)->keys, 2000, 1);
  if (!log || !c)
    _exit(3);
  for (long i = 0; !s_stop; i++) {
    uint8_t subject[32];
    s_subject(p, i, subject);
    keten_consent_t k;
    int granted = 0;
    while (!s_stop && !granted) {
      granted = party_try_grant(c, subject, VWN, UINT64_C(1) << K_IDENTITY,
                                P_BEGELEIDING, 0, 0, &k) == KETEN_OK;
      if (!granted)
        party_sleep_ms(20);
    }
    /* an IDENTITY that conforms to its schema, the producer in given_name
     * and i in family_name; under 64 bytes (acked_t.json) */
    char json[128];
    int n = snprintf(json, sizeof json,
                     "{\"given_name\":\"%d\",\"family_name\":\"%ld\","
                     "\"birth_date\":\"1991\"}", p, i);
    keten_put_result_t res;
    while (!s_stop) {
      keten_err_t rc =
          keten_client_put(c, subject, K_IDENTITY, json, (size_t)n, &res);
      if (rc == KETEN_OK) {
        fprintf(log, "%s\n", json); /* STORED: it must reach vwn */
        fflush(log);
        break;
      }
      party_sleep_ms(20);
    }
  }
  keten_client_destroy(&c);
  fclose(log);
  _exit(0);
}

/* ---- the controller ---------------------------------------------------- */

static pid_t s_fork(void) {
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  return pid;
}

static void s_kill9(harness_t *h) {
  assert_true(h->pid > 0);
  kill(h->pid, SIGKILL);
  int status = 0;
  while (waitpid(h->pid, &status, 0) < 0 && errno == EINTR)
    ;
  h->pid = 0;
}

static void s_audit(harness_t *h, int cycle) {
  char *out = NULL;
  int rc = harness_audit_verify(h, &out);
  if (rc != 0)
    fail_msg("cycle %d: keten audit verify exited %d: %s", cycle, rc,
             out ? out : "");
  free(out);
}

typedef struct {
  char json[64];
  int found;
} acked_t;

/* Counts lines of path; fills up to cap of them into items. */
static size_t s_read_acked(const char *path, acked_t *items, size_t cap,
                           size_t n) {
  FILE *f = fopen(path, "r");
  if (!f)
    return n;
  char line[256];
  while (fgets(line, sizeof line, f) && n < cap) {
    line[strcspn(line, "\n")] = '\0';
    snprintf(items[n].json, sizeof items[n].json, "%s", line);
    items[n++].found = 0;
  }
  fclose(f);
  return n;
}

#define MAX_ITEMS 200000

static void test_crash(void **state) {
  harness_t *h = *state;
  const char *env_seed = getenv("KETEN_CRASH_SEED");
  const char *env_cycles = getenv("KETEN_CRASH_CYCLES");
  uint64_t seed = env_seed ? strtoull(env_seed, NULL, 0)
                           : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
  int cycles = env_cycles ? atoi(env_cycles) : 40;
  if (cycles < MIN_CYCLES)
    cycles = MIN_CYCLES;
  s_rng = seed ? seed : 1;
  printf("test_crash: seed %llu (KETEN_CRASH_SEED=%llu replays it), %d cycles\n",
         (unsigned long long)seed, (unsigned long long)seed, cycles);
  fflush(stdout);

  char consumer_log[400], producer_log[N_PRODUCERS][400];
  snprintf(consumer_log, sizeof consumer_log, "%s/consumer.log", h->dir);
  pid_t consumer = s_fork();
  if (consumer == 0)
    s_consumer(h, consumer_log);
  pid_t producers[N_PRODUCERS];
  for (int p = 0; p < N_PRODUCERS; p++) {
    snprintf(producer_log[p], sizeof producer_log[p], "%s/producer-%d.log",
             h->dir, p);
    producers[p] = s_fork();
    if (producers[p] == 0)
      s_producer(h, p, producer_log[p]);
  }

  int64_t t0 = party_mono_ms(), down_ms = 0;
  for (int cycle = 1; cycle <= cycles; cycle++) {
    party_sleep_ms(100 + (int64_t)(s_next() % 1900));
    int64_t t = party_mono_ms();
    s_kill9(h);
    s_audit(h, cycle);
    if (harness_start(h) != 0)
      fail_msg("cycle %d: ketend did not restart on its store", cycle);
    down_ms += party_mono_ms() - t;
  }
  int64_t t_crashes = party_mono_ms() - t0;
  party_sleep_ms(500);
  for (int p = 0; p < N_PRODUCERS; p++)
    kill(producers[p], SIGTERM);
  for (int p = 0; p < N_PRODUCERS; p++) {
    int status = 0;
    waitpid(producers[p], &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }

  static acked_t acked[MAX_ITEMS];
  size_t n_acked = 0;
  for (int p = 0; p < N_PRODUCERS; p++)
    n_acked = s_read_acked(producer_log[p], acked, MAX_ITEMS, n_acked);
  assert_true(n_acked > 0);

  /* drain: every STORED section reaches the consumer (at most 30 s) */
  size_t missing = n_acked;
  int64_t deadline = party_mono_ms() + 30000;
  uint64_t n_deliveries = 0, n_redelivered = 0, n_unreadable = 0,
           out_of_order = 0;
  for (;;) {
    for (size_t i = 0; i < n_acked; i++)
      acked[i].found = 0;
    FILE *f = fopen(consumer_log, "r");
    char line[1024];
    uint64_t max_seq = 0;
    static struct {
      uint64_t seq;
      char json[64];
    } seen[MAX_ITEMS];
    size_t n_seen = 0;
    n_deliveries = n_redelivered = n_unreadable = out_of_order = 0;
    while (f && fgets(line, sizeof line, f)) {
      unsigned long long seq = 0, version = 0;
      char subject[80], json[256];
      json[0] = '\0';
      if (sscanf(line, "%llu %79s %llu %255[^\n]", &seq, subject, &version,
                 json) < 3)
        continue;
      n_deliveries++;
      if (strncmp(json, "unreadable", 10) == 0)
        n_unreadable++;
      if (seq <= max_seq) {
        /* a redelivery must repeat what that seq carried */
        int same = 0;
        for (size_t j = n_seen; j-- > 0;)
          if (seen[j].seq == seq) {
            same = strcmp(seen[j].json, json) == 0;
            break;
          }
        if (same)
          n_redelivered++;
        else
          out_of_order++;
      } else {
        max_seq = seq;
        if (n_seen < MAX_ITEMS) {
          seen[n_seen].seq = seq;
          snprintf(seen[n_seen].json, sizeof seen[n_seen].json, "%s", json);
          n_seen++;
        }
      }
      for (size_t i = 0; i < n_acked; i++)
        if (!acked[i].found && strcmp(acked[i].json, json) == 0) {
          acked[i].found = 1;
          break;
        }
    }
    if (f)
      fclose(f);
    missing = 0;
    for (size_t i = 0; i < n_acked; i++)
      missing += !acked[i].found;
    if (missing == 0 || party_mono_ms() > deadline)
      break;
    party_sleep_ms(200);
  }
  /* let the last ack land, then stop the consumer and the broker */
  party_sleep_ms(500);
  kill(consumer, SIGTERM);
  int status = 0;
  waitpid(consumer, &status, 0);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  long long undelivered = party_sql(
      h, "SELECT coalesce(sum(head_seq - acked_seq), 0) FROM mailbox_state "
         "WHERE recipient = 'vwn:zeeland'");
  int stop_rc = harness_stop(h);
  s_audit(h, cycles + 1);

  printf("test_crash: %d kill -9 cycles in %.1f s (down and restarting %.1f s "
         "in all, %.0f ms a cycle); %zu PUTs STORED, %llu deliveries "
         "(%llu redelivered, %llu unreadable), %zu missing, %llu out of "
         "order, %lld undelivered; audit verified %d times\n",
         cycles, (double)t_crashes / 1000, (double)down_ms / 1000,
         (double)down_ms / cycles, n_acked, (unsigned long long)n_deliveries,
         (unsigned long long)n_redelivered, (unsigned long long)n_unreadable,
         missing, (unsigned long long)out_of_order, undelivered, cycles + 1);
  for (size_t i = 0, shown = 0; i < n_acked && shown < 5; i++)
    if (!acked[i].found) {
      printf("test_crash: STORED but never delivered: %s\n", acked[i].json);
      shown++;
    }
  assert_int_equal(stop_rc, 0);
  assert_int_equal(missing, 0);
  assert_int_equal(out_of_order, 0);
  assert_int_equal(n_unreadable, 0);
  assert_int_equal(undelivered, 0);
}

static int s_setup(void **state) {
  harness_t *h = harness_new(1);
  if (!h || harness_start(h) != 0) {
    harness_destroy(&h);
    return -1;
  }
  *state = h;
  return 0;
}

static int s_teardown(void **state) {
  harness_t *h = *state;
  party_cleanup();
  harness_destroy(&h);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_crash, s_setup, s_teardown)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
