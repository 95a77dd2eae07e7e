/* clock — ketend's two clocks, in milliseconds: the wall clock (what
 * entries, replies and validity checks carry) and a monotonic one (what
 * timeouts, back-offs and rate limits measure). */
#ifndef KETEND_CLOCK_H
#define KETEND_CLOCK_H

#include <stdint.h>

/* Milliseconds since the epoch (CLOCK_REALTIME): for what is recorded
 * or compared with recorded times. */
int64_t clock_wall_ms(void);

/* Milliseconds of CLOCK_MONOTONIC: for intervals, which a change of the
 * wall clock must not stretch or shrink. */
int64_t clock_mono_ms(void);

#endif
