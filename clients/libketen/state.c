/* state — the connection state a client reports (keten_client_state,
 * keten_client_on_state; issue 11). client.c feeds it from the socket
 * monitor (handshake succeeded, disconnected, refused) and from the
 * protocol (the subscription ended DISPLACED or REMOVED); witness.c and
 * keten_client_hello() from witnessing the broker's audit log. */
#include <stdio.h>

#include "client_int.h"
#include "keten.h"

/* The state the components give: the connection first (nothing else
 * counts without one), then a log that does not hold, then the end of our
 * subscription. */
static int s_derive(const keten_client_t *c) {
  if (c->conn != KETEN_STATE_CONNECTED)
    return c->conn;
  if (c->log_bad)
    return KETEN_STATE_LOG_INCONSISTENT;
  if (c->ended == KETEN__SUBSCRIPTION_END_REASON__SUBSCRIPTION_REMOVED)
    return KETEN_STATE_REMOVED;
  if (c->ended)
    return KETEN_STATE_DISPLACED;
  return KETEN_STATE_CONNECTED;
}

static keten_err_t s_status(int state) {
  switch (state) {
  case KETEN_STATE_REFUSED: return KETEN_ERR_AUTH;
  case KETEN_STATE_DISPLACED: return KETEN_ERR_DISPLACED;
  case KETEN_STATE_REMOVED: return KETEN_ERR_REMOVED;
  case KETEN_STATE_LOG_INCONSISTENT: return KETEN_ERR_LOG_INCONSISTENT;
  default: return KETEN_OK;
  }
}

void client_state_update(keten_client_t *c, const char *detail) {
  int state = s_derive(c);
  if (state == c->state)
    return;
  c->state = state;
  if (!c->state_fn)
    return;
  keten_state_event_t ev = {.state = state,
                            .status = s_status(state),
                            .detail = detail ? detail : ""};
  c->state_fn(&ev, c->state_arg);
}

keten_err_t client_witnessed(keten_client_t *c, keten_err_t rc) {
  if (rc == KETEN_ERR_LOG_INCONSISTENT || rc == KETEN_OK) {
    /* the error text is the reason; keep it across the handler */
    c->log_bad = rc == KETEN_ERR_LOG_INCONSISTENT;
    client_state_update(c, c->log_bad ? c->error : "the broker's log holds");
  }
  return rc;
}

void keten_client_on_state(keten_client_t *client, keten_state_fn fn,
                           void *arg) {
  if (!client)
    return;
  client->state_fn = fn;
  client->state_arg = arg;
}

int keten_client_state(const keten_client_t *client) {
  return client ? client->state : KETEN_STATE_CONNECTING;
}
