/* test_event_loop — libketen in an application's event loop (issue 11,
 * item 1): keten_client_fd(), keten_client_timeout_ms(), and the
 * connection state (keten_client_on_state, keten_client_state) against a
 * real ketend.
 *
 *  - an epoll loop that receives deliveries through the descriptor only:
 *    keten_client_poll(client, 0, ...) is called only when epoll says the
 *    descriptor is readable or keten_client_timeout_ms() ran out; the
 *    descriptor is readable at once when a request took deliveries in
 *    (ZMQ_FD would not be), and does not spin when there is nothing;
 *  - the state sequence connected -> (ketend stopped) disconnected ->
 *    (restarted) connected, and the mailbox comes again after it;
 *  - a producer (never subscribed) watching the state by the descriptor
 *    does not spin while the broker is stopped and sees disconnected ->
 *    connected;
 *  - refused for a key the broker does not know (at once again within
 *    the back-off, by a new handshake after it), connected once the key
 *    is registered;
 *  - displaced by a second listener with our key, connected again after
 *    subscribing again;
 *  - log inconsistent when the witnessed head is larger than the broker's
 *    log, cleared once witnessing holds again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "harness.h"
#include "party.h"

#define COA "coa"
#define GEMEENTE "gemeente:0716"
#define BIT(kind) (UINT64_C(1) << (kind))
#define V_AMIRA "1234567890"

/* ---- what a client saw ------------------------------------------------------ */

typedef struct {
  int states[32];
  keten_err_t status[32];
  char detail[32][128];
  size_t n_states;
  uint64_t versions[32];
  char json[32][256];
  size_t n_sec;
} seen_t;

static void s_on_state(const keten_state_event_t *ev, void *arg) {
  seen_t *s = arg;
  assert_non_null(ev->detail);
  if (s->n_states < 32) {
    s->states[s->n_states] = ev->state;
    s->status[s->n_states] = ev->status;
    snprintf(s->detail[s->n_states], sizeof s->detail[0], "%s", ev->detail);
    s->n_states++;
  }
}

static int s_on_delivery(const keten_section_t *sec, uint64_t seq,
                         keten_err_t status, void *arg) {
  (void)seq;
  seen_t *s = arg;
  assert_int_equal(status, KETEN_OK);
  assert_non_null(sec);
  if (s->n_sec < 32) {
    s->versions[s->n_sec] = sec->header.version;
    snprintf(s->json[s->n_sec], sizeof s->json[0], "%s", sec->json);
    s->n_sec++;
  }
  return 0;
}

static int s_last_state(const seen_t *s) {
  return s->n_states ? s->states[s->n_states - 1] : -1;
}

/* ---- the event loop ---------------------------------------------------------- */

typedef struct {
  int ep;        /* our epoll set, holding keten_client_fd() */
  int fd;        /* what keten_client_fd() gave */
  size_t wakes;  /* epoll said readable */
  size_t idle;   /* ... and poll handed over nothing */
  size_t polls;
  keten_err_t last_rc;
} loop_t;

static void s_loop_init(loop_t *l, keten_client_t *c) {
  memset(l, 0, sizeof *l);
  l->fd = keten_client_fd(c);
  assert_true(l->fd >= 0);
  l->ep = epoll_create1(0);
  assert_true(l->ep >= 0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = l->fd};
  assert_int_equal(epoll_ctl(l->ep, EPOLL_CTL_ADD, l->fd, &ev), 0);
}

/* Runs the loop for at most ms or until done(seen) holds: waits on the
 * descriptor for at most keten_client_timeout_ms() (capped at 100 ms so
 * that the loop can look at the clock), then keten_client_poll(c, 0). */
static int s_loop(loop_t *l, keten_client_t *c, seen_t *s, int ms,
                  int (*done)(const seen_t *, const void *), const void *want) {
  int64_t end = party_mono_ms() + ms;
  while (party_mono_ms() < end) {
    if (done && done(s, want))
      return 1;
    int t = keten_client_timeout_ms(c);
    if (t < 0 || t > 100)
      t = 100;
    struct epoll_event ev;
    int n = epoll_wait(l->ep, &ev, 1, t);
    assert_true(n >= 0);
    /* the descriptor stays the same for the client's life */
    assert_int_equal(keten_client_fd(c), l->fd);
    if (n == 0 && keten_client_timeout_ms(c) != 0)
      continue; /* nothing to do: the library said so */
    size_t handled = 0;
    l->polls++;
    if (n > 0)
      l->wakes++;
    l->last_rc = keten_client_poll(c, 0, s_on_delivery, s, &handled);
    if (n > 0 && handled == 0)
      l->idle++;
  }
  return done ? done(s, want) : 1;
}

static void s_loop_close(loop_t *l) { close(l->ep); }

static int s_has_sections(const seen_t *s, const void *want) {
  return s->n_sec >= *(const size_t *)want;
}

static int s_in_state(const seen_t *s, const void *want) {
  return s_last_state(s) == *(const int *)want;
}

/* ---- setup -------------------------------------------------------------------- */

static int s_setup(void **state) {
  harness_t *h = harness_new(1);
  if (!h || harness_start(h) != 0)
    return -1;
  *state = h;
  return 0;
}

static int s_teardown(void **state) {
  harness_t *h = *state;
  party_cleanup();
  harness_destroy(&h);
  return 0;
}

static int s_kind(const char *name) {
  int k = keten_section_kind_from_name(name);
  assert_true(k > 0);
  return k;
}

static void s_identity(char *out, size_t cap, int i) {
  snprintf(out, cap,
           "{\"given_name\":\"Amira %d\",\"family_name\":\"Haddad\","
           "\"birth_date\":\"1990-04-0%d\"}",
           i, i % 9 + 1);
}

/* COA grants the gemeente IDENTITY about Amira and puts n versions. */
static void s_put_identities(harness_t *h, int first, int n) {
  uint8_t subject[32];
  party_subject(V_AMIRA, subject);
  keten_client_t *coa = party_client(h, COA);
  if (first == 1)
    party_grant(coa, subject, GEMEENTE, BIT(s_kind("IDENTITY")),
                keten_purpose_from_name("INBURGERING"), NULL);
  for (int i = first; i < first + n; i++) {
    char json[256];
    s_identity(json, sizeof json, i);
    keten_put_result_t r = party_put(coa, subject, s_kind("IDENTITY"), json);
    party_assert_queued(&r, (const char *[]){GEMEENTE, NULL});
  }
  party_untrack_close(&coa);
}

static keten_client_t *s_client(harness_t *h, const char *id, seen_t *s) {
  keten_client_t *c =
      party_track(harness_client(h, &harness_partner(h, id)->keys, 3000, 1));
  keten_client_on_state(c, s_on_state, s);
  return c;
}

/* ---- the descriptor --------------------------------------------------------------- */

static void test_epoll_loop_gets_deliveries_by_the_fd(void **state) {
  harness_t *h = *state;
  s_put_identities(h, 1, 3);
  seen_t s = {0};
  keten_client_t *c = s_client(h, GEMEENTE, &s);
  assert_int_equal(keten_client_state(c), KETEN_STATE_CONNECTING);
  /* not subscribed: nothing for poll to do by itself */
  assert_int_equal(keten_client_timeout_ms(c), -1);
  loop_t l;
  s_loop_init(&l, c);
  assert_int_equal(keten_client_subscribe(c, 8), KETEN_OK);
  assert_int_equal(keten_client_state(c), KETEN_STATE_CONNECTED);
  /* Let the three deliveries arrive, then make a request: it takes them
   * in while it waits for its reply. ZMQ_FD has signalled already and
   * would not again; the descriptor must be readable now all the same. */
  party_sleep_ms(300);
  int64_t rtt = 0;
  assert_int_equal(keten_client_ping(c, "x", 1, &rtt), KETEN_OK);
  struct epoll_event ev;
  assert_int_equal(epoll_wait(l.ep, &ev, 1, 0), 1);
  assert_int_equal(keten_client_timeout_ms(c), 0);
  size_t want = 3;
  assert_true(s_loop(&l, c, &s, 10000, s_has_sections, &want));
  assert_int_equal(s.n_sec, 3);
  for (size_t i = 0; i < 3; i++) {
    char json[256];
    s_identity(json, sizeof json, (int)i + 1);
    assert_int_equal(s.versions[i], i + 1);
    assert_string_equal(s.json[i], json);
  }
  /* More, while the loop runs: each arrives by the descriptor. */
  s_put_identities(h, 4, 2);
  want = 5;
  assert_true(s_loop(&l, c, &s, 10000, s_has_sections, &want));
  assert_int_equal(s.versions[3], 4);
  assert_int_equal(s.versions[4], 5);
  /* With nothing to do the descriptor does not spin: a second of the
   * loop wakes it a few times at most (acks' replies, heartbeats). */
  size_t wakes = l.wakes;
  s_loop(&l, c, &s, 1000, NULL, NULL);
  assert_true(l.wakes - wakes < 10);
  assert_int_equal(epoll_wait(l.ep, &ev, 1, 0), 0);
  assert_int_equal(keten_client_timeout_ms(c), -1);
  assert_int_equal(s.n_sec, 5);
  /* Nothing came twice, and the broker has every one acked: a new
   * client of the key gets nothing. */
  party_untrack_close(&c);
  seen_t s2 = {0};
  keten_client_t *again = s_client(h, GEMEENTE, &s2);
  assert_int_equal(keten_client_subscribe(again, 8), KETEN_OK);
  for (int i = 0; i < 5; i++)
    assert_int_equal(keten_client_poll(again, 100, s_on_delivery, &s2, NULL),
                     KETEN_OK);
  assert_int_equal(s2.n_sec, 0);
  s_loop_close(&l);
}

/* Thirty deliveries in a window of 64: many frames ready at once, each
 * poll(0) takes what is there; none is left behind by an edge that was
 * consumed. */
static void test_fd_level_for_many(void **state) {
  harness_t *h = *state;
  s_put_identities(h, 1, 30);
  seen_t s = {0};
  keten_client_t *c = s_client(h, GEMEENTE, &s);
  loop_t l;
  s_loop_init(&l, c);
  assert_int_equal(keten_client_subscribe(c, 64), KETEN_OK);
  size_t want = 30;
  assert_true(s_loop(&l, c, &s, 15000, s_has_sections, &want));
  for (size_t i = 0; i < 30; i++)
    assert_int_equal(s.versions[i], i + 1);
  s_loop_close(&l);
}

/* ---- connection state -------------------------------------------------------------- */

static void test_state_connected_disconnected_connected(void **state) {
  harness_t *h = *state;
  seen_t s = {0};
  keten_client_t *c = s_client(h, GEMEENTE, &s);
  loop_t l;
  s_loop_init(&l, c);
  assert_int_equal(keten_client_subscribe(c, 8), KETEN_OK);
  assert_int_equal(s.n_states, 1);
  assert_int_equal(s.states[0], KETEN_STATE_CONNECTED);
  assert_int_equal(s.status[0], KETEN_OK);

  assert_int_equal(harness_stop(h), 0);
  int want = KETEN_STATE_DISCONNECTED;
  assert_true(s_loop(&l, c, &s, 10000, s_in_state, &want));
  assert_int_equal(keten_client_state(c), KETEN_STATE_DISCONNECTED);
  /* while disconnected poll returns KETEN_OK and hands over nothing */
  assert_int_equal(keten_client_poll(c, 200, s_on_delivery, &s, NULL),
                   KETEN_OK);

  assert_int_equal(harness_start(h), 0);
  want = KETEN_STATE_CONNECTED;
  assert_true(s_loop(&l, c, &s, 10000, s_in_state, &want));
  assert_int_equal(s.n_states, 3);
  assert_int_equal(s.states[0], KETEN_STATE_CONNECTED);
  assert_int_equal(s.states[1], KETEN_STATE_DISCONNECTED);
  assert_int_equal(s.states[2], KETEN_STATE_CONNECTED);
  assert_int_equal(keten_client_state(c), KETEN_STATE_CONNECTED);
  /* subscribed again by itself: what is put now arrives by the loop */
  s_put_identities(h, 1, 1);
  size_t n = 1;
  assert_true(s_loop(&l, c, &s, 10000, s_has_sections, &n));
  assert_int_equal(s.versions[0], 1);
  assert_int_equal(s.n_states, 3);
  s_loop_close(&l);
}

/* A producer (it never subscribes) that watches the connection state by
 * the descriptor: poll without a subscription (and without a delivery
 * handler) takes the monitor's events, tells the state handler and
 * re-arms the descriptor, so the loop sleeps while nothing happens. Runs
 * the loop for ms or until the state is want (-1: for ms); returns the
 * wake-ups (the descriptor readable, or keten_client_timeout_ms() 0). */
static size_t s_watch(loop_t *l, keten_client_t *c, int ms, int want) {
  int64_t end = party_mono_ms() + ms;
  size_t wakes = 0;
  while (party_mono_ms() < end && keten_client_state(c) != want) {
    int t = keten_client_timeout_ms(c);
    if (t < 0 || t > 100)
      t = 100;
    struct epoll_event ev;
    int n = epoll_wait(l->ep, &ev, 1, t);
    assert_true(n >= 0);
    if (n == 0 && keten_client_timeout_ms(c) != 0)
      continue;
    wakes++;
    assert_int_equal(keten_client_poll(c, 0, NULL, NULL, NULL), KETEN_OK);
  }
  return wakes;
}

static void test_producer_loop_watches_state_without_spinning(void **state) {
  harness_t *h = *state;
  seen_t s = {0};
  keten_client_t *c = s_client(h, COA, &s);
  keten_welcome_t w;
  assert_int_equal(keten_client_hello(c, &w), KETEN_OK);
  assert_int_equal(keten_client_state(c), KETEN_STATE_CONNECTED);
  loop_t l;
  s_loop_init(&l, c);
  /* no subscription: poll is no error, and needs no delivery handler */
  assert_int_equal(keten_client_poll(c, 0, NULL, NULL, NULL), KETEN_OK);
  assert_int_equal(keten_client_poll(c, 0, s_on_delivery, &s, NULL),
                   KETEN_OK);
  assert_true(s_watch(&l, c, 1000, -1) < 10);

  assert_int_equal(harness_stop(h), 0);
  assert_true(s_watch(&l, c, 10000, KETEN_STATE_DISCONNECTED) < 10);
  assert_int_equal(keten_client_state(c), KETEN_STATE_DISCONNECTED);
  /* the broker stays away: a second of the loop wakes it a few times at
   * most (it spun before: the monitor's event was never taken) */
  size_t wakes = s_watch(&l, c, 1000, -1);
  if (wakes >= 10)
    fail_msg("%zu wake-ups in 1 s while the broker was stopped", wakes);
  struct epoll_event ev;
  assert_int_equal(epoll_wait(l.ep, &ev, 1, 0), 0);
  /* (a poll that waits, waits: no subscription, nothing to hand over) */
  int64_t t0 = party_mono_ms();
  assert_int_equal(keten_client_poll(c, 300, NULL, NULL, NULL), KETEN_OK);
  assert_true(party_mono_ms() - t0 >= 250);

  assert_int_equal(harness_start(h), 0);
  assert_true(s_watch(&l, c, 10000, KETEN_STATE_CONNECTED) < 10);
  assert_int_equal(keten_client_state(c), KETEN_STATE_CONNECTED);
  wakes = s_watch(&l, c, 1000, -1);
  if (wakes >= 10)
    fail_msg("%zu wake-ups in 1 s while connected and idle", wakes);
  assert_int_equal(s.n_states, 3);
  assert_int_equal(s.states[0], KETEN_STATE_CONNECTED);
  assert_int_equal(s.states[1], KETEN_STATE_DISCONNECTED);
  assert_int_equal(s.status[1], KETEN_OK);
  assert_int_equal(s.states[2], KETEN_STATE_CONNECTED);
  /* and it produces as before */
  int64_t rtt = 0;
  assert_int_equal(keten_client_ping(c, "x", 1, &rtt), KETEN_OK);
  assert_int_equal(keten_client_timeout_ms(c), -1);
  s_loop_close(&l);
}

static void test_state_refused_for_unknown_key(void **state) {
  harness_t *h = *state;
  keten_keys_t stranger;
  assert_int_equal(keten_keys_generate(&stranger, "stranger"), KETEN_OK);
  seen_t s = {0};
  keten_client_t *c = party_track(harness_client(h, &stranger, 2000, 0));
  keten_client_on_state(c, s_on_state, &s);
  keten_welcome_t w;
  assert_int_equal(keten_client_hello(c, &w), KETEN_ERR_AUTH);
  assert_int_equal(s.n_states, 1);
  assert_int_equal(s.states[0], KETEN_STATE_REFUSED);
  assert_int_equal(s.status[0], KETEN_ERR_AUTH);
  assert_non_null(strstr(s.detail[0], "refused"));
  assert_int_equal(keten_client_state(c), KETEN_STATE_REFUSED);
  /* asking again is refused again, and told once (the state is the same):
   * within the back-off (reconnect_ivl_max_ms, 500 ms here) at once,
   * without a new handshake */
  assert_int_equal(keten_client_hello(c, &w), KETEN_ERR_AUTH);
  assert_int_equal(s.n_states, 1);
  /* after it by a new handshake: refused again (not a timeout: closing
   * the refused socket must leave libzmq's I/O thread free for the next) */
  party_sleep_ms(600);
  assert_int_equal(keten_client_hello(c, &w), KETEN_ERR_AUTH);
  assert_int_equal(keten_client_hello(c, &w), KETEN_ERR_AUTH);
  assert_int_equal(s.n_states, 1);
  assert_int_equal(keten_client_state(c), KETEN_STATE_REFUSED);
  /* registered now (ketend reloads its registry within a second) */
  assert_int_equal(harness_install_entry(h, "stranger",
                                         keten_role_from_name("CARE"),
                                         &stranger, party_wall_ms() - 60000,
                                         party_wall_ms() + 86400000, NULL),
                   0);
  keten_err_t rc = KETEN_ERR_AUTH;
  for (int i = 0; i < 50 && rc == KETEN_ERR_AUTH; i++) {
    party_sleep_ms(100);
    rc = keten_client_hello(c, &w);
  }
  assert_int_equal(rc, KETEN_OK);
  assert_string_equal(w.participant_id, "stranger");
  assert_int_equal(s_last_state(&s), KETEN_STATE_CONNECTED);
  assert_int_equal(keten_client_state(c), KETEN_STATE_CONNECTED);
  keten_keys_wipe(&stranger);
}

static void test_state_displaced(void **state) {
  harness_t *h = *state;
  s_put_identities(h, 1, 1);
  seen_t a = {0}, b = {0};
  keten_client_t *first = s_client(h, GEMEENTE, &a);
  loop_t l;
  s_loop_init(&l, first);
  assert_int_equal(keten_client_subscribe(first, 8), KETEN_OK);
  size_t one = 1;
  assert_true(s_loop(&l, first, &a, 10000, s_has_sections, &one));
  /* a second listener with our key takes the subscription */
  keten_client_t *second = s_client(h, GEMEENTE, &b);
  assert_int_equal(keten_client_subscribe(second, 8), KETEN_OK);
  int want = KETEN_STATE_DISPLACED;
  assert_true(s_loop(&l, first, &a, 10000, s_in_state, &want));
  assert_int_equal(l.last_rc, KETEN_ERR_DISPLACED);
  assert_int_equal(a.status[a.n_states - 1], KETEN_ERR_DISPLACED);
  assert_int_equal(keten_client_state(first), KETEN_STATE_DISPLACED);
  assert_int_equal(a.n_states, 2);
  assert_int_equal(a.states[0], KETEN_STATE_CONNECTED);
  /* displaced stays: no SUBSCRIBE by itself, nothing to wait for */
  assert_int_equal(keten_client_timeout_ms(first), -1);
  assert_int_equal(keten_client_poll(first, 0, s_on_delivery, &a, NULL),
                   KETEN_ERR_DISPLACED);
  assert_int_equal(keten_client_state(first), KETEN_STATE_DISPLACED);
  /* the application takes it back: connected again, the other displaced */
  assert_int_equal(keten_client_subscribe(first, 8), KETEN_OK);
  assert_int_equal(keten_client_state(first), KETEN_STATE_CONNECTED);
  assert_int_equal(a.n_states, 3);
  want = KETEN_STATE_DISPLACED;
  int64_t end = party_mono_ms() + 10000;
  while (keten_client_state(second) != KETEN_STATE_DISPLACED &&
         party_mono_ms() < end)
    keten_client_poll(second, 100, s_on_delivery, &b, NULL);
  assert_int_equal(keten_client_state(second), KETEN_STATE_DISPLACED);
  s_loop_close(&l);
}

static void test_state_log_inconsistent(void **state) {
  harness_t *h = *state;
  char witness[400];
  snprintf(witness, sizeof witness, "%s/gemeente.witness", h->dir);
  /* A head we "witnessed" of far more entries than the broker's log:
   * the broker now shows a shorter log (truncated or rolled back). */
  keten_tree_head_t big;
  memset(&big, 0, sizeof big);
  big.size = 1000000;
  big.timestamp_ms = 1;
  assert_int_equal(keten_tree_head_save(witness, &big), KETEN_OK);
  keten_client_config_t cfg;
  harness_client_config(h, &harness_partner(h, GEMEENTE)->keys, 3000, 1, &cfg);
  cfg.witness_file = witness;
  char err[256];
  keten_client_t *c = party_track(keten_client_new(&cfg, err, sizeof err));
  seen_t s = {0};
  keten_client_on_state(c, s_on_state, &s);
  keten_welcome_t w;
  assert_int_equal(keten_client_hello(c, &w), KETEN_ERR_LOG_INCONSISTENT);
  assert_int_equal(keten_client_state(c), KETEN_STATE_LOG_INCONSISTENT);
  assert_int_equal(s.n_states, 2);
  assert_int_equal(s.states[0], KETEN_STATE_CONNECTED);
  assert_int_equal(s.states[1], KETEN_STATE_LOG_INCONSISTENT);
  assert_int_equal(s.status[1], KETEN_ERR_LOG_INCONSISTENT);
  assert_non_null(strstr(s.detail[1], "audit log"));
  /* the stored head is kept, and so is the state, on asking again */
  assert_int_equal(keten_client_witness(c), KETEN_ERR_LOG_INCONSISTENT);
  assert_int_equal(s.n_states, 2);
  /* (the operator's decision: start witnessing afresh) */
  assert_int_equal(unlink(witness), 0);
  assert_int_equal(keten_client_witness(c), KETEN_OK);
  assert_int_equal(keten_client_state(c), KETEN_STATE_CONNECTED);
  assert_int_equal(s.n_states, 3);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_epoll_loop_gets_deliveries_by_the_fd,
                                      s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_fd_level_for_many, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(
          test_state_connected_disconnected_connected, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(
          test_producer_loop_watches_state_without_spinning, s_setup,
          s_teardown),
      cmocka_unit_test_setup_teardown(test_state_refused_for_unknown_key,
                                      s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_state_displaced, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_state_log_inconsistent, s_setup,
                                      s_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
