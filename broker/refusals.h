/* refusals — refused handshakes counted per source address, so that a
 * stranger holding the broker's public key costs one audit entry and one
 * log line per address per interval rather than one each (pure: the caller
 * gives the time; no allocation).
 *
 * The table holds at most REFUSALS_MAX_SOURCES addresses (fewer if limit
 * is set); refusals from further addresses are counted together under
 * REFUSALS_OTHER, so a stranger cycling addresses cannot grow memory. An
 * address whose refusals are all audited leaves the table an interval after
 * its last entry. Counting one refusal is O(1) (a hash of the address into
 * a fixed open-addressing index); refusals_flush() is O(table). */
#ifndef KETEND_REFUSALS_H
#define KETEND_REFUSALS_H

#include <stddef.h>
#include <stdint.h>

#define REFUSALS_MAX_SOURCES 1024
#define REFUSALS_ADDR_MAX 47        /* an IPv6 address is at most 45 */
#define REFUSALS_OTHER "other addresses"
#define REFUSALS_NO_ADDR "(no address)"

typedef struct {
  char addr[REFUSALS_ADDR_MAX + 1];
  uint64_t pending;      /* refusals not yet in a committed audit entry */
  uint64_t flushed;      /* of those, counted in an entry of the open batch */
  uint64_t unlogged;     /* refusals whose log line was suppressed */
  int64_t first_ms;      /* first pending refusal */
  int64_t unflushed_ms;  /* first refusal not counted in the open batch */
  int64_t last_ms;       /* latest refusal */
  int64_t audited_ms;    /* when its last entry was written (if audited) */
  int64_t prev_audited_ms;
  int audited;           /* an entry was written (audited_ms is set) */
  int prev_audited;
  int logged;            /* a refusal of this period has been logged */
} refusals_source_t;

typedef struct {
  size_t limit;          /* addresses tracked apart; 0 = REFUSALS_MAX_SOURCES */
  refusals_source_t sources[REFUSALS_MAX_SOURCES];
  uint16_t index[2 * REFUSALS_MAX_SOURCES]; /* slot + 1, 0 = empty */
  size_t n;
  refusals_source_t other;  /* every address beyond the limit */
  uint64_t total;           /* refusals ever counted */
  int flushing;             /* some source is counted in the open batch */
} refusals_t;

/* Counts one refused handshake from addr (the ZAP Address; NULL or "" is
 * REFUSALS_NO_ADDR) at now_ms. Returns 1 when this refusal should be
 * logged (the first of its source since the source's last summary), 0 when
 * its line is suppressed and counted in the next summary. */
int refusals_note(refusals_t *t, const char *addr, int64_t now_ms);

/* One summary: count refusals from s->addr over span_ms, of which
 * unlogged had no log line of their own. fn returns 0, or -1 to stop. */
typedef int (*refusals_fn)(const refusals_source_t *s, uint64_t count,
                           int64_t span_ms, uint64_t unlogged, void *arg);

/* Calls fn for each source with refusals not yet in an entry whose last
 * entry is at least interval_ms old (or that has none; every one with
 * force), and marks them as counted in the open batch. Forgets first the
 * sources with nothing pending whose last entry is an interval old.
 * Returns 0, or -1 if fn did (the sources before it stay marked). */
int refusals_flush(refusals_t *t, int64_t now_ms, int64_t interval_ms,
                   int force, refusals_fn fn, void *arg);

/* After the batch's commit (committed) the refusals the flushed entries
 * counted are settled; after a rollback they are pending again and their
 * sources are due at the next flush. */
void refusals_settle(refusals_t *t, int committed);

/* Refusals counted but not yet in a committed entry, over all sources. */
uint64_t refusals_pending(const refusals_t *t);

#endif
