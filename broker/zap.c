/* zap — admits registered CURVE transport keys (ZAP, RFC 27). */
#include "zap.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "log.h"
#include "roles.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_FRAMES 7
#define ZAP_FRAME_MAX 256

void *zap_open(void *ctx, char *err, size_t errlen) {
  void *sock = zmq_socket(ctx, ZMQ_REP);
  int zero = 0;
  if (!sock || zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero) ||
      zmq_bind(sock, ZAP_ENDPOINT) != 0) {
    snprintf(err, errlen, "cannot bind the ZAP handler: %s",
             zmq_strerror(zmq_errno()));
    if (sock)
      zmq_close(sock);
    return NULL;
  }
  return sock;
}

static void s_send(void *sock, const char *data, size_t len, int more) {
  zmq_send(sock, data, len, more ? ZMQ_SNDMORE : 0);
}

static void s_reply(void *sock, const uint8_t *req_id, size_t req_id_len,
                    const char *status, const char *text, const char *user) {
  s_send(sock, "1.0", 3, 1);
  s_send(sock, (const char *)req_id, req_id_len, 1);
  s_send(sock, status, strlen(status), 1);
  s_send(sock, text, strlen(text), 1);
  s_send(sock, user, strlen(user), 1);
  s_send(sock, "", 0, 0);
}

int zap_handle(void *sock, const registry_t *reg, int64_t now_ms,
               zap_stats_t *stats) {
  uint8_t frames[ZAP_FRAMES][ZAP_FRAME_MAX];
  size_t lens[ZAP_FRAMES] = {0};
  int n = 0, more = 1;
  while (more) {
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, sock, 0) < 0) {
      zmq_msg_close(&m);
      return -1;
    }
    more = zmq_msg_more(&m);
    if (n < ZAP_FRAMES) {
      size_t len = zmq_msg_size(&m);
      lens[n] = len < ZAP_FRAME_MAX ? len : ZAP_FRAME_MAX;
      memcpy(frames[n], zmq_msg_data(&m), lens[n]);
    }
    n++;
    zmq_msg_close(&m);
  }
  /* A REP socket must answer even a request it cannot parse. */
  if (n < 6 || lens[0] != 3 || memcmp(frames[0], "1.0", 3) != 0) {
    stats->malformed++;
    log_msg(LOG_ERROR, "auth", "malformed ZAP request (%d frames)", n);
    s_reply(sock, n > 1 ? frames[1] : (const uint8_t *)"", n > 1 ? lens[1] : 0,
            "500", "malformed ZAP request", "");
    return -1;
  }
  char address[64];
  snprintf(address, sizeof address, "%.*s", (int)(lens[3] < 63 ? lens[3] : 63),
           (const char *)frames[3]);
  int is_curve = lens[5] == 5 && memcmp(frames[5], "CURVE", 5) == 0;
  if (!is_curve || n != 7 || lens[6] != PARTICIPANT_KEY_BYTES) {
    stats->refused++;
    if (refusals_note(&stats->sources, address, now_ms))
      log_msg(LOG_WARN, "auth",
              "refused connection from %s: mechanism is not CURVE", address);
    s_reply(sock, frames[1], lens[1], "400", "CURVE required", "");
    return 0;
  }
  char hex[ZAP_USER_ID_HEX + 1];
  sodium_bin2hex(hex, sizeof hex, frames[6], PARTICIPANT_KEY_BYTES);
  const participant_t *p = registry_find_transport(reg, frames[6], now_ms);
  if (!p) {
    stats->refused++;
    if (refusals_note(&stats->sources, address, now_ms))
      log_msg(LOG_WARN, "auth",
              "refused connection from %s: transport key %.16s... is not in "
              "the registry, or its entry is not valid now",
              address, hex);
    s_reply(sock, frames[1], lens[1], "400", "unknown transport key", "");
    return 0;
  }
  stats->admitted++;
  log_msg(LOG_INFO, "auth", "admitted %s (%s) from %s", p->id,
          roles_name(p->role), address);
  s_reply(sock, frames[1], lens[1], "200", "OK", hex);
  return 1;
}

int zap_user_id_key(const char *user_id, uint8_t key[PARTICIPANT_KEY_BYTES]) {
  size_t got = 0;
  if (!user_id || strlen(user_id) != ZAP_USER_ID_HEX)
    return -1;
  if (sodium_hex2bin(key, PARTICIPANT_KEY_BYTES, user_id, ZAP_USER_ID_HEX,
                     NULL, &got, NULL) != 0 ||
      got != PARTICIPANT_KEY_BYTES)
    return -1;
  return 0;
}
