/* conn_log — connections logged once at their first admitted frame and
 * once at their close. */
#include "conn_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static void s_close(conn_log_t *t, conn_log_slot_t *s, int64_t mono_ms,
                    const char *why) {
  long long secs = (long long)((mono_ms - s->opened_ms) / 1000);
  log_msg(LOG_INFO, "conn", "disconnected: %s%s%s after %lld s, %llu frames%s",
          s->id, s->peer[0] ? " from " : "", s->peer, secs,
          (unsigned long long)s->frames, why);
  s->id[0] = '\0';
  t->closed++;
  if (t->open)
    t->open--;
}

int conn_log_frame(conn_log_t *t, int fd, const uint8_t *rid, size_t rid_len,
                   const char *id, const char *peer, int64_t mono_ms) {
  if (fd < 0 || !id)
    return -1;
  if ((size_t)fd >= t->n) {
    size_t n = t->n ? t->n : 64;
    while (n <= (size_t)fd)
      n *= 2;
    conn_log_slot_t *grown = realloc(t->slots, n * sizeof *grown);
    if (!grown)
      return -1;
    memset(grown + t->n, 0, (n - t->n) * sizeof *grown);
    t->slots = grown;
    t->n = n;
  }
  conn_log_slot_t *s = &t->slots[fd];
  if (rid_len > sizeof s->rid)
    rid_len = sizeof s->rid;
  if (s->id[0]) {
    if (s->rid_len == rid_len && memcmp(s->rid, rid, rid_len) == 0 &&
        strcmp(s->id, id) == 0) {
      s->frames++;
      return 0;
    }
    /* The descriptor now carries another connection: the old one closed
     * (its monitor event is still on its way). */
    s_close(t, s, mono_ms, " (descriptor reused)");
  }
  snprintf(s->id, sizeof s->id, "%s", id);
  snprintf(s->peer, sizeof s->peer, "%s", peer ? peer : "");
  memcpy(s->rid, rid, rid_len);
  s->rid_len = rid_len;
  s->opened_ms = mono_ms;
  s->frames = 1;
  t->opened++;
  t->open++;
  log_msg(LOG_INFO, "conn", "connected: %s%s%s", id, s->peer[0] ? " from " : "",
          s->peer);
  return 1;
}

void conn_log_closed(conn_log_t *t, int fd, int64_t mono_ms) {
  if (fd < 0 || (size_t)fd >= t->n || !t->slots[fd].id[0])
    return;
  s_close(t, &t->slots[fd], mono_ms, "");
}

void conn_log_free(conn_log_t *t) {
  free(t->slots);
  memset(t, 0, sizeof *t);
}
