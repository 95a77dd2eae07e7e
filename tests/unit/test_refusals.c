/* Unit tests of refusals.c: refused handshakes counted per source address,
 * summed up at most once per address per interval, the table bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "refusals.h"

#define IVL 10000

typedef struct {
  int calls;
  uint64_t sum, unlogged;
  char addr[8][REFUSALS_ADDR_MAX + 1];
  uint64_t count[8];
  int64_t span[8];
  int fail_at;                /* call number that fails (1-based), 0 never */
} sink_t;

static int s_sink(const refusals_source_t *s, uint64_t count, int64_t span_ms,
                  uint64_t unlogged, void *arg) {
  sink_t *k = arg;
  if (k->fail_at && k->calls + 1 == k->fail_at)
    return -1;
  if (k->calls < 8) {
    snprintf(k->addr[k->calls], sizeof k->addr[0], "%s", s->addr);
    k->count[k->calls] = count;
    k->span[k->calls] = span_ms;
  }
  k->calls++;
  k->sum += count;
  k->unlogged += unlogged;
  return 0;
}

static refusals_t T; /* 110 KiB: not on the stack */

static void s_reset(size_t limit) {
  memset(&T, 0, sizeof T);
  T.limit = limit;
}

/* A flood from one address: one log line, one entry at the first flush,
 * then at most one entry per interval summing every refusal. */
static void test_one_address_aggregated(void **state) {
  (void)state;
  s_reset(0);
  int logged = 0;
  for (int i = 0; i < 200; i++)
    logged += refusals_note(&T, "198.51.100.7", 1000 + i);
  assert_int_equal(logged, 1);
  sink_t k = {0};
  assert_int_equal(refusals_flush(&T, 1500, IVL, 0, s_sink, &k), 0);
  assert_int_equal(k.calls, 1);
  assert_string_equal(k.addr[0], "198.51.100.7");
  assert_int_equal(k.count[0], 200);
  assert_int_equal(k.span[0], 199);
  assert_int_equal(k.unlogged, 199);
  refusals_settle(&T, 1);
  assert_int_equal(refusals_pending(&T), 0);

  /* more within the interval: logged once again, not audited yet */
  logged = 0;
  for (int i = 0; i < 50; i++)
    logged += refusals_note(&T, "198.51.100.7", 2000 + i * 100);
  assert_int_equal(logged, 1);
  memset(&k, 0, sizeof k);
  for (int64_t now = 2000; now < 1500 + IVL; now += 1000) {
    assert_int_equal(refusals_flush(&T, now, IVL, 0, s_sink, &k), 0);
    refusals_settle(&T, 1);
  }
  assert_int_equal(k.calls, 0);
  assert_int_equal(refusals_pending(&T), 50);
  assert_int_equal(refusals_flush(&T, 1500 + IVL, IVL, 0, s_sink, &k), 0);
  assert_int_equal(k.calls, 1);
  assert_int_equal(k.count[0], 50);
  assert_int_equal(k.span[0], 4900);
  refusals_settle(&T, 1);
  assert_int_equal(refusals_pending(&T), 0);
  assert_int_equal(T.total, 250);
}

/* Addresses are counted apart; a rolled-back entry is counted again and
 * its source is due at once; nothing is counted twice. */
static void test_rollback_counts_again(void **state) {
  (void)state;
  s_reset(0);
  for (int i = 0; i < 30; i++)
    refusals_note(&T, i % 3 == 0 ? "10.0.0.1" : "10.0.0.2", 100);
  refusals_note(&T, "", 100);
  refusals_note(&T, NULL, 100);
  sink_t k = {0};
  assert_int_equal(refusals_flush(&T, 200, IVL, 0, s_sink, &k), 0);
  assert_int_equal(k.calls, 3);
  assert_int_equal(k.sum, 32);
  assert_string_equal(k.addr[2], REFUSALS_NO_ADDR);
  refusals_settle(&T, 0); /* the batch failed */
  assert_int_equal(refusals_pending(&T), 32);
  refusals_note(&T, "10.0.0.1", 300);
  memset(&k, 0, sizeof k);
  assert_int_equal(refusals_flush(&T, 400, IVL, 0, s_sink, &k), 0);
  assert_int_equal(k.calls, 3);
  assert_int_equal(k.sum, 33);
  assert_int_equal(k.count[0], 11);
  refusals_settle(&T, 1);
  assert_int_equal(refusals_pending(&T), 0);

  /* a summary that fails part-way leaves the rest for the next flush */
  refusals_note(&T, "10.0.0.1", 20000);
  refusals_note(&T, "10.0.0.2", 20000);
  memset(&k, 0, sizeof k);
  k.fail_at = 2;
  assert_int_equal(refusals_flush(&T, 20000, IVL, 0, s_sink, &k), -1);
  refusals_settle(&T, 0);
  memset(&k, 0, sizeof k);
  assert_int_equal(refusals_flush(&T, 20001, IVL, 0, s_sink, &k), 0);
  assert_int_equal(k.sum, 2);
  refusals_settle(&T, 1);
}

/* force writes whatever is pending (at stop), regardless of the interval. */
static void test_force(void **state) {
  (void)state;
  s_reset(0);
  refusals_note(&T, "10.0.0.1", 0);
  sink_t k = {0};
  assert_int_equal(refusals_flush(&T, 0, IVL, 0, s_sink, &k), 0);
  refusals_settle(&T, 1);
  refusals_note(&T, "10.0.0.1", 10);
  memset(&k, 0, sizeof k);
  assert_int_equal(refusals_flush(&T, 20, IVL, 0, s_sink, &k), 0);
  assert_int_equal(k.calls, 0);
  assert_int_equal(refusals_flush(&T, 20, IVL, 1, s_sink, &k), 0);
  assert_int_equal(k.calls, 1);
  refusals_settle(&T, 1);
  assert_int_equal(refusals_pending(&T), 0);
}

/* A stranger cycling addresses fills the table to its limit; the rest go
 * to one "other addresses" bucket, and audited idle addresses leave. */
static void test_table_bounded(void **state) {
  (void)state;
  s_reset(4);
  char addr[32];
  int logged = 0;
  for (int i = 0; i < 1000; i++) {
    snprintf(addr, sizeof addr, "203.0.113.%d", i % 250);
    logged += refusals_note(&T, addr, 0);
  }
  assert_int_equal(T.n, 4);
  assert_int_equal(logged, 5); /* one per tracked address, one for the rest */
  sink_t k = {0};
  assert_int_equal(refusals_flush(&T, 0, IVL, 0, s_sink, &k), 0);
  assert_int_equal(k.calls, 5);
  assert_int_equal(k.sum, 1000);
  assert_string_equal(k.addr[4], REFUSALS_OTHER);
  assert_int_equal(k.count[4], 1000 - 4 * 4);
  refusals_settle(&T, 1);
  /* an interval later the audited addresses are forgotten */
  assert_int_equal(refusals_flush(&T, IVL, IVL, 0, s_sink, &k), 0);
  assert_int_equal(T.n, 0);
  refusals_note(&T, "192.0.2.1", IVL + 1);
  assert_int_equal(T.n, 1);
  assert_string_equal(T.sources[0].addr, "192.0.2.1");

  /* the full-size table: 5000 addresses, memory stays the table's */
  s_reset(0);
  for (int i = 0; i < 5000; i++) {
    snprintf(addr, sizeof addr, "2001:db8::%x", i);
    refusals_note(&T, addr, i);
  }
  assert_int_equal(T.n, REFUSALS_MAX_SOURCES);
  assert_int_equal(T.other.pending, 5000 - REFUSALS_MAX_SOURCES);
  /* each tracked address is still found (the index is consistent) */
  for (int i = 0; i < REFUSALS_MAX_SOURCES; i++) {
    snprintf(addr, sizeof addr, "2001:db8::%x", i);
    assert_int_equal(refusals_note(&T, addr, 6000), 0);
  }
  assert_int_equal(T.n, REFUSALS_MAX_SOURCES);
  assert_int_equal(T.other.pending, 5000 - REFUSALS_MAX_SOURCES);
  memset(&k, 0, sizeof k);
  assert_int_equal(refusals_flush(&T, 6000, IVL, 0, s_sink, &k), 0);
  assert_int_equal(k.calls, REFUSALS_MAX_SOURCES + 1);
  assert_int_equal(k.sum, 5000 + REFUSALS_MAX_SOURCES);
  refusals_settle(&T, 1);
  /* half of them again, then the others leave and the index still works */
  for (int i = 0; i < REFUSALS_MAX_SOURCES; i += 2) {
    snprintf(addr, sizeof addr, "2001:db8::%x", i);
    refusals_note(&T, addr, 6000 + IVL - 1);
  }
  assert_int_equal(refusals_flush(&T, 6000 + IVL, IVL, 0, NULL, NULL), 0);
  refusals_settle(&T, 1);
  assert_int_equal(T.n, REFUSALS_MAX_SOURCES / 2);
  uint64_t total = T.total;
  for (int i = 0; i < REFUSALS_MAX_SOURCES; i += 2) {
    snprintf(addr, sizeof addr, "2001:db8::%x", i);
    refusals_note(&T, addr, 6000 + IVL + 1);
  }
  assert_int_equal(T.n, REFUSALS_MAX_SOURCES / 2);
  assert_int_equal(T.total, total + REFUSALS_MAX_SOURCES / 2);
}

/* An over-long address is cut, not overflowed. */
static void test_long_address(void **state) {
  (void)state;
  s_reset(0);
  char addr[200];
  memset(addr, 'a', sizeof addr - 1);
  addr[sizeof addr - 1] = '\0';
  refusals_note(&T, addr, 0);
  assert_int_equal(strlen(T.sources[0].addr), REFUSALS_ADDR_MAX);
  assert_int_equal(refusals_note(&T, addr, 1), 0); /* the same source */
  assert_int_equal(T.n, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_one_address_aggregated),
      cmocka_unit_test(test_rollback_counts_again),
      cmocka_unit_test(test_force),
      cmocka_unit_test(test_table_bounded),
      cmocka_unit_test(test_long_address),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
