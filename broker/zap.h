/* zap — the ZeroMQ Authentication Protocol handler (RFC 27) that admits
 * only CURVE clients whose transport key is in the registry.
 *
 * The handler answers on inproc://zeromq.zap.01 in the broker's own
 * thread. An admitted connection gets User-Id = the hex of its transport
 * key; the broker resolves that to a participant for every frame, so a
 * key removed from the registry stops working at once. */
#ifndef KETEND_ZAP_H
#define KETEND_ZAP_H

#include <stddef.h>
#include <stdint.h>

#include "refusals.h"
#include "registry.h"

#define ZAP_USER_ID_HEX 64

/* Binds the ZAP handler socket in ctx. Must happen before any CURVE server
 * socket binds, so no connection is ever accepted without it. */
void *zap_open(void *ctx, char *err, size_t errlen);

/* Counters of ZAP decisions; refusals also per source address (the
 * broker audits and logs them as aggregates, see refusals.h). */
typedef struct {
  uint64_t admitted, refused, malformed;
  refusals_t sources;
} zap_stats_t;

/* Answers one pending ZAP request on sock against reg and counts the
 * decision in stats; an entry admits only within its validity window
 * (now_ms). A refusal is always answered 400 (fail closed); it is logged
 * at WARN only when it is the first of its source address since that
 * address's last summary, the others are counted in stats->sources.
 * Returns 1 if a client was admitted, 0 if refused, -1 if the request
 * was malformed. */
int zap_handle(void *sock, const registry_t *reg, int64_t now_ms,
               zap_stats_t *stats);

/* Decodes a User-Id written by zap_handle() back into a transport key.
 * Returns 0, or -1 if user_id is not one. */
int zap_user_id_key(const char *user_id, uint8_t key[PARTICIPANT_KEY_BYTES]);

#endif
