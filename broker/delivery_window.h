/* delivery_window — the pure decisions of a subscription's byte budget
 * (docs/protocol.md 8.3.1 and 8.5): whether the next item fits in the
 * window, whether an ack timeout may resend, and what an ack timeout does.
 * No state of its own; tests/unit/test_delivery_window.c. */
#ifndef KETEND_DELIVERY_WINDOW_H
#define KETEND_DELIVERY_WINDOW_H

#include <stdint.h>

/* What an ack timeout without progress does to a subscription. */
typedef enum {
  DELIVERY_TIMEOUT_RESEND, /* rewind to the acked seq and send again */
  DELIVERY_TIMEOUT_WAIT,   /* enough copies are out: only wait */
  DELIVERY_TIMEOUT_STALL   /* end the subscription (SUBSCRIPTION_STALLED) */
} delivery_timeout_t;

/* Whether an item of item_bytes may join a frame: unacked holds the bytes
 * in flight on the subscription (sent, not acked), framed the bytes
 * already in the frame being built, window the limit
 * (delivery_window_bytes). An item that would go beyond the window still
 * goes when nothing is in flight and the frame is empty, so that an item
 * larger than the window is not stuck for ever. */
static inline int delivery_fits(uint64_t unacked, uint64_t framed,
                                uint64_t item_bytes, uint64_t window) {
  if (unacked == 0 && framed == 0)
    return 1;
  return unacked + framed + item_bytes <= window;
}

/* Whether an ack timeout may resend the unacked window (of unacked bytes)
 * when handed bytes were handed to the transport since the last ack
 * progress (first copies and resends). A resend is allowed only while
 * what was handed is at most one window (or the unacked bytes, when a
 * single item larger than the window is in flight), so that since its
 * last progress a subscription is never handed more than twice that:
 * the first copies and at most one more copy of the window. */
static inline int delivery_may_resend(uint64_t handed, uint64_t unacked,
                                      uint64_t window) {
  uint64_t limit = unacked > window ? unacked : window;
  return handed <= limit;
}

/* What the timeouts-th consecutive ack timeout without progress does (1
 * for the first), given stall_timeouts and delivery_may_resend(). */
static inline delivery_timeout_t delivery_on_timeout(int timeouts,
                                                     int stall_timeouts,
                                                     int may_resend) {
  if (timeouts >= stall_timeouts)
    return DELIVERY_TIMEOUT_STALL;
  return may_resend ? DELIVERY_TIMEOUT_RESEND : DELIVERY_TIMEOUT_WAIT;
}

#endif
