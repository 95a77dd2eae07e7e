/* Unit tests of delivery_window.h: the byte window of a subscription, the
 * bound on resends after ack timeouts, and when a subscription stalls
 * (docs/protocol.md 8.3.1, 8.5). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "delivery_window.h"

#define W (1024u * 1024u)

/* Items join while the window has room; the one that would exceed it
 * waits, unless nothing at all is in flight or framed. */
static void test_fits(void **state) {
  (void)state;
  assert_true(delivery_fits(0, 0, 100, W));
  assert_true(delivery_fits(W - 100, 0, 100, W));   /* exactly full */
  assert_false(delivery_fits(W - 100, 0, 101, W));
  assert_true(delivery_fits(0, W - 100, 100, W));
  assert_false(delivery_fits(0, W - 100, 101, W));
  assert_false(delivery_fits(100, 100, W - 199, W));
  /* larger than the window: goes alone, never beside anything */
  assert_true(delivery_fits(0, 0, 4ull * W, W));
  assert_false(delivery_fits(1, 0, 4ull * W, W));
  assert_false(delivery_fits(0, 1, 4ull * W, W));
  /* an empty item fits whenever the window is not over */
  assert_true(delivery_fits(W, 0, 0, W));
}

/* A resend only while what was handed since the last progress is at most
 * one window: so at most twice the window is handed in all. */
static void test_may_resend(void **state) {
  (void)state;
  assert_true(delivery_may_resend(0, 0, W));
  assert_true(delivery_may_resend(W, W, W));        /* the first copies */
  assert_false(delivery_may_resend(W + 1, W, W));
  assert_false(delivery_may_resend(2ull * W, W, W)); /* one resend is out */
  /* a small window may be resent until a window's worth is handed */
  assert_true(delivery_may_resend(3000, 1000, W));
  /* an item larger than the window: its own size is the limit */
  assert_true(delivery_may_resend(3ull * W, 3ull * W, W));
  assert_false(delivery_may_resend(6ull * W, 3ull * W, W));
}

/* Simulates a reader that never acks: the bytes handed stay within twice
 * the window whatever the number of timeouts, and the subscription ends at
 * the stall_timeouts-th timeout. */
static void test_never_acking_reader(void **state) {
  (void)state;
  for (int stall = 1; stall <= 5; stall++) {
    uint64_t handed = W, unacked = W; /* the window filled once */
    int timeouts = 0, stalled = 0, resends = 0;
    while (!stalled && timeouts < 100) {
      timeouts++;
      switch (delivery_on_timeout(timeouts, stall,
                                  delivery_may_resend(handed, unacked, W))) {
      case DELIVERY_TIMEOUT_STALL: stalled = 1; break;
      case DELIVERY_TIMEOUT_RESEND: handed += unacked; resends++; break;
      case DELIVERY_TIMEOUT_WAIT: break;
      }
      assert_true(handed <= 2ull * W);
    }
    assert_true(stalled);
    assert_int_equal(timeouts, stall);
    assert_int_equal(resends, stall > 1 ? 1 : 0);
  }
}

static void test_on_timeout(void **state) {
  (void)state;
  assert_int_equal(delivery_on_timeout(1, 3, 1), DELIVERY_TIMEOUT_RESEND);
  assert_int_equal(delivery_on_timeout(2, 3, 0), DELIVERY_TIMEOUT_WAIT);
  assert_int_equal(delivery_on_timeout(3, 3, 1), DELIVERY_TIMEOUT_STALL);
  assert_int_equal(delivery_on_timeout(1, 1, 1), DELIVERY_TIMEOUT_STALL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fits),
      cmocka_unit_test(test_may_resend),
      cmocka_unit_test(test_never_acking_reader),
      cmocka_unit_test(test_on_timeout),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
