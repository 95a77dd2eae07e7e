/* Unit tests of budget.c (issue 8, item 1): per-participant request
 * buckets, connections counted per participant by descriptor, and the
 * refusals of every budget summed up at most once per (participant,
 * budget) per interval, settled after the batch's commit or rollback. The
 * time is injected; no sockets, no store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "budget.h"

#define IVL 10000

typedef struct {
  int calls;
  uint64_t sum, unlogged;
  char id[8][PARTICIPANT_ID_MAX + 1];
  budget_kind_t kind[8];
  uint64_t count[8], limit[8];
  int64_t span[8];
  int fail_at; /* call number that fails (1-based), 0 never */
} sink_t;

static int s_sink(const char *id, budget_kind_t kind, uint64_t count,
                  int64_t span_ms, uint64_t limit, uint64_t unlogged,
                  void *arg) {
  sink_t *k = arg;
  if (k->fail_at && k->calls + 1 == k->fail_at)
    return -1;
  if (k->calls < 8) {
    snprintf(k->id[k->calls], sizeof k->id[0], "%s", id);
    k->kind[k->calls] = kind;
    k->count[k->calls] = count;
    k->limit[k->calls] = limit;
    k->span[k->calls] = span_ms;
  }
  k->calls++;
  k->sum += count;
  k->unlogged += unlogged;
  return 0;
}

/* The burst passes, then one request per 1000/rate ms; a refusal says
 * when to come back and costs no token. */
static void test_request_bucket(void **state) {
  (void)state;
  budget_t t = {0};
  int64_t retry = 0;
  int ok = 0;
  for (int i = 0; i < 30; i++) {
    int got = budget_request(&t, "coa", 1000, 10, 20, &retry);
    if (got == 0)
      budget_refused(&t, "coa", BUDGET_REQUESTS_PER_SECOND, 10, 1000);
    ok += got == 1;
  }
  assert_int_equal(ok, 20);
  assert_true(retry > 0 && retry <= 101);
  assert_int_equal(budget_pending(&t, "coa", BUDGET_REQUESTS_PER_SECOND), 10);
  /* another participant has its own bucket */
  assert_int_equal(budget_request(&t, "gemeente:0716", 1000, 10, 20, NULL), 1);
  /* 100 ms later one token is back */
  assert_int_equal(budget_request(&t, "coa", 1100, 10, 20, NULL), 1);
  assert_int_equal(budget_request(&t, "coa", 1100, 10, 20, NULL), 0);
  /* a long pause refills only up to the burst */
  ok = 0;
  for (int i = 0; i < 50; i++)
    ok += budget_request(&t, "coa", 100000, 10, 20, NULL) == 1;
  assert_int_equal(ok, 20);
  budget_clear(&t);
}

/* At most max connections per participant; a closed one makes room; a
 * descriptor reused by another participant moves to it. */
static void test_connections(void **state) {
  (void)state;
  budget_t t = {0};
  assert_int_equal(budget_connection(&t, 7, "coa", 2, 0), 1);
  assert_int_equal(budget_connection(&t, 7, "coa", 2, 1), 1); /* same one */
  assert_int_equal(budget_connection(&t, 9, "coa", 2, 2), 1);
  assert_int_equal(budget_connections(&t, "coa"), 2);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(budget_connection(&t, 300, "coa", 2, 3 + i), 0);
    budget_refused(&t, "coa", BUDGET_MAX_CONNECTIONS, 2, 3 + i);
  }
  assert_int_equal(budget_connections(&t, "coa"), 2);
  assert_int_equal(budget_pending(&t, "coa", BUDGET_MAX_CONNECTIONS), 2);
  /* unknown descriptors (fuzz, inproc) are not counted */
  assert_int_equal(budget_connection(&t, -1, "coa", 2, 5), 1);
  budget_disconnected(&t, 9);
  assert_int_equal(budget_connections(&t, "coa"), 1);
  assert_int_equal(budget_connection(&t, 300, "coa", 2, 6), 1);
  /* fd 7 closed and reused by another participant before its event */
  assert_int_equal(budget_connection(&t, 7, "vwn:zeeland", 2, 7), 1);
  assert_int_equal(budget_connections(&t, "coa"), 1);
  assert_int_equal(budget_connections(&t, "vwn:zeeland"), 1);
  budget_disconnected(&t, 7);
  budget_disconnected(&t, 7); /* a second event changes nothing */
  budget_disconnected(&t, 100000);
  assert_int_equal(budget_connections(&t, "vwn:zeeland"), 0);
  budget_clear(&t);
}

/* A flood of refusals: one log line, one entry per (participant, budget)
 * at the first flush, then at most one per interval, summing them all. */
static void test_aggregated_per_interval(void **state) {
  (void)state;
  budget_t t = {0};
  int logged = 0;
  for (int i = 0; i < 500; i++)
    logged += budget_refused(&t, "coa", BUDGET_MAX_PENDING_PER_AUTHOR, 10000,
                             1000 + i);
  assert_int_equal(logged, 1);
  assert_int_equal(budget_refused(&t, "coa", BUDGET_MAX_CONSENTS_PER_RECIPIENT,
                                  8, 1200),
                   1);
  sink_t k = {0};
  assert_int_equal(budget_flush(&t, 2000, IVL, 0, s_sink, &k), 0);
  assert_int_equal(k.calls, 2);
  assert_string_equal(k.id[0], "coa");
  assert_int_equal(k.kind[0], BUDGET_MAX_PENDING_PER_AUTHOR);
  assert_int_equal(k.count[0], 500);
  assert_int_equal(k.limit[0], 10000);
  assert_int_equal(k.span[0], 499);
  assert_int_equal(k.unlogged, 499);
  assert_int_equal(k.kind[1], BUDGET_MAX_CONSENTS_PER_RECIPIENT);
  budget_settle(&t, 1);
  assert_int_equal(budget_pending(&t, NULL, BUDGET_MAX_PENDING_PER_AUTHOR), 0);
  /* more inside the interval: counted, not yet written */
  for (int i = 0; i < 30; i++)
    budget_refused(&t, "coa", BUDGET_MAX_PENDING_PER_AUTHOR, 10000, 3000 + i);
  memset(&k, 0, sizeof k);
  assert_int_equal(budget_flush(&t, 5000, IVL, 0, s_sink, &k), 0);
  assert_int_equal(k.calls, 0);
  budget_settle(&t, 1);
  assert_int_equal(budget_flush(&t, 12000, IVL, 0, s_sink, &k), 0);
  assert_int_equal(k.calls, 1);
  assert_int_equal(k.count[0], 30);
  budget_settle(&t, 1);
  /* force (at stop) writes what is pending at once */
  budget_refused(&t, "coa", BUDGET_STALL_TIMEOUTS, 3, 12001);
  memset(&k, 0, sizeof k);
  assert_int_equal(budget_flush(&t, 12002, IVL, 1, s_sink, &k), 0);
  assert_int_equal(k.calls, 1);
  assert_string_equal(budget_name(k.kind[0]), "stall_timeouts");
  budget_settle(&t, 1);
  assert_int_equal(budget_pending(&t, NULL, BUDGET_STALL_TIMEOUTS), 0);
  budget_clear(&t);
}

/* A rollback (a failed commit, a failed sweep) leaves the refusals
 * pending and due at once; the next flush counts them again, once. */
static void test_rollback_keeps_them(void **state) {
  (void)state;
  budget_t t = {0};
  for (int i = 0; i < 5; i++)
    if (budget_request(&t, "ggz:zeeland", 0, 1, 1, NULL) != 1)
      budget_refused(&t, "ggz:zeeland", BUDGET_REQUESTS_PER_SECOND, 1, 0);
  sink_t k = {0};
  assert_int_equal(budget_flush(&t, 10, IVL, 0, s_sink, &k), 0);
  assert_int_equal(k.sum, 4);
  budget_settle(&t, 0);
  assert_int_equal(budget_pending(&t, "ggz:zeeland", BUDGET_REQUESTS_PER_SECOND),
                   4);
  memset(&k, 0, sizeof k);
  assert_int_equal(budget_flush(&t, 20, IVL, 0, s_sink, &k), 0);
  assert_int_equal(k.calls, 1);
  assert_int_equal(k.sum, 4);
  budget_settle(&t, 1);
  assert_int_equal(budget_pending(&t, NULL, BUDGET_REQUESTS_PER_SECOND), 0);
  /* a failing writer stops the flush; what it marked is undone by settle */
  budget_refused(&t, "a", BUDGET_MAX_CONNECTIONS, 8, 30000);
  budget_refused(&t, "b", BUDGET_MAX_CONNECTIONS, 8, 30000);
  memset(&k, 0, sizeof k);
  k.fail_at = 2;
  assert_int_equal(budget_flush(&t, 30001, IVL, 0, s_sink, &k), -1);
  budget_settle(&t, 0);
  assert_int_equal(budget_pending(&t, NULL, BUDGET_MAX_CONNECTIONS), 2);
  memset(&k, 0, sizeof k);
  assert_int_equal(budget_flush(&t, 30002, IVL, 0, s_sink, &k), 0);
  assert_int_equal(k.sum, 2);
  budget_settle(&t, 1);
  assert_int_equal(budget_pending(&t, NULL, BUDGET_MAX_CONNECTIONS), 0);
  budget_clear(&t);
}

/* Many participants: every one found again (the index grows), and a
 * settle after a flush of nothing is free. */
static void test_many_participants(void **state) {
  (void)state;
  budget_t t = {0};
  char id[32];
  for (int i = 0; i < 1000; i++) {
    snprintf(id, sizeof id, "p:%d", i);
    assert_int_equal(budget_connection(&t, i, id, 1, 0), 1);
  }
  for (int i = 0; i < 1000; i++) {
    snprintf(id, sizeof id, "p:%d", i);
    assert_int_equal(budget_connections(&t, id), 1);
    assert_int_equal(budget_connection(&t, i + 2000, id, 1, 0), 0);
    assert_int_equal(budget_refused(&t, id, BUDGET_MAX_CONNECTIONS, 1, 0), 1);
  }
  assert_int_equal(t.n, 1000);
  sink_t k = {0};
  assert_int_equal(budget_flush(&t, 1, IVL, 0, s_sink, &k), 0);
  assert_int_equal(k.calls, 1000);
  budget_settle(&t, 1);
  assert_int_equal(budget_pending(&t, NULL, BUDGET_MAX_CONNECTIONS), 0);
  budget_settle(&t, 1);
  budget_clear(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_request_bucket),
      cmocka_unit_test(test_connections),
      cmocka_unit_test(test_aggregated_per_interval),
      cmocka_unit_test(test_rollback_keeps_them),
      cmocka_unit_test(test_many_participants),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
