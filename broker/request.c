/* request — the request being answered: its replies and pushes, queued
 * in the outbox until the batch's commit, its audit entries, and the
 * budget refusals it counts. */
#include "request.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker_internal.h"
#include "clock.h"
#include "log.h"

/* Log lines about bad frames allowed per second before suppression. */
#define REQUEST_BAD_LOG_PER_SEC 10

/* ---- outbox ------------------------------------------------------------- */

static outbox_item_t *s_outbox_add(broker_t *b, const uint8_t *rid,
                                   size_t rid_len, const Keten__Envelope *env) {
  if (rid_len > BROKER_RID_MAX)
    return NULL;
  if (b->n_out == b->cap_out) {
    size_t cap = b->cap_out ? 2 * b->cap_out : 64;
    outbox_item_t *grown = realloc(b->outbox, cap * sizeof *grown);
    if (!grown)
      return NULL;
    b->outbox = grown;
    b->cap_out = cap;
  }
  size_t len = 0;
  uint8_t *frame = envelope_pack(env, &len);
  if (!frame)
    return NULL;
  outbox_item_t *o = &b->outbox[b->n_out++];
  memset(o, 0, sizeof *o);
  memcpy(o->rid, rid, rid_len);
  o->rid_len = rid_len;
  o->frame = frame;
  o->len = len;
  return o;
}

outbox_item_t *outbox_push(broker_t *b, const uint8_t *rid, size_t rid_len,
                           const Keten__Envelope *env) {
  return s_outbox_add(b, rid, rid_len, env);
}

void request_reply(request_t *r, Keten__Envelope__BodyCase body_case,
                   void *body) {
  Keten__Envelope reply;
  envelope_ids_t ids;
  envelope_init(&reply, &ids, r->req);
  reply.body_case = body_case;
  switch (body_case) {
  case KETEN__ENVELOPE__BODY_WELCOME: reply.welcome = body; break;
  case KETEN__ENVELOPE__BODY_PONG: reply.pong = body; break;
  case KETEN__ENVELOPE__BODY_ERROR: reply.error = body; break;
  case KETEN__ENVELOPE__BODY_PREPARED: reply.prepared = body; break;
  case KETEN__ENVELOPE__BODY_STORED: reply.stored = body; break;
  case KETEN__ENVELOPE__BODY_FETCHED: reply.fetched = body; break;
  case KETEN__ENVELOPE__BODY_CONSENTS: reply.consents = body; break;
  case KETEN__ENVELOPE__BODY_OK: reply.ok = body; break;
  case KETEN__ENVELOPE__BODY_SUBSCRIBED: reply.subscribed = body; break;
  case KETEN__ENVELOPE__BODY_TVS_PUBLISHED: reply.tvs_published = body; break;
  case KETEN__ENVELOPE__BODY_TVS_LINKS: reply.tvs_links = body; break;
  case KETEN__ENVELOPE__BODY_TVS_FIGURES: reply.tvs_figures = body; break;
  case KETEN__ENVELOPE__BODY_AUDIT_PROVED: reply.audit_proved = body; break;
  case KETEN__ENVELOPE__BODY_ERASED: reply.erased = body; break;
  default:
    log_msg(LOG_ERROR, "request", "reply of unexpected body %d", body_case);
    return;
  }
  outbox_item_t *o = s_outbox_add(r->b, r->rid, r->rid_len, &reply);
  if (!o) {
    r->b->dropped_replies++;
    log_msg(LOG_ERROR, "request", "out of memory queueing a reply");
    return;
  }
  o->is_reply = 1;
  if (r->req && envelope_has_message_id(r->req) &&
      r->req->trace_id.len == ENVELOPE_TRACE_ID_BYTES) {
    memcpy(o->message_id, r->req->message_id.data, ENVELOPE_MESSAGE_ID_BYTES);
    memcpy(o->trace_id, r->req->trace_id.data, ENVELOPE_TRACE_ID_BYTES);
    o->has_request_ids = 1;
  }
}

/* Logs a rejected frame, at most REQUEST_BAD_LOG_PER_SEC lines a second, so
 * a flood of garbage cannot flood the log. */
static void s_log_rejected(broker_t *b, const char *who, Keten__ErrorCode code,
                           const char *reason) {
  int64_t second = clock_mono_ms() / 1000;
  if (second != b->bad_log_second) {
    if (b->bad_log_suppressed)
      log_msg(LOG_WARN, "request", "%u more rejected frames not logged",
              b->bad_log_suppressed);
    b->bad_log_second = second;
    b->bad_log_count = 0;
    b->bad_log_suppressed = 0;
  }
  if (b->bad_log_count++ < REQUEST_BAD_LOG_PER_SEC)
    log_msg(LOG_INFO, "request", "rejected frame from %s: %s: %s", who,
            envelope_error_name(code), reason);
  else
    b->bad_log_suppressed++;
}

void request_reply_error_retry(request_t *r, Keten__ErrorCode code,
                               uint32_t retry_after_ms, const char *reason) {
  /* Within the bounds of 5.5 whatever a handler wrote: 0-255 printable
   * ASCII bytes (a client refuses anything else as ERROR_INVALID_FIELD). */
  char text[ENVELOPE_MAX_REASON];
  snprintf(text, sizeof text, "%s", reason ? reason : "");
  for (char *c = text; *c; c++)
    if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
      *c = '?';
  Keten__Error error = KETEN__ERROR__INIT;
  error.code = code;
  error.reason = text;
  error.retry_after_ms = retry_after_ms;
  r->b->error_replies++;
  metrics_error(&r->b->metrics, (int)code);
  s_log_rejected(r->b, r->who ? r->who->id : "a peer", code, text);
  request_reply(r, KETEN__ENVELOPE__BODY_ERROR, &error);
}

void request_reply_error(request_t *r, Keten__ErrorCode code, const char *fmt,
                         ...) {
  char reason[ENVELOPE_MAX_REASON];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(reason, sizeof reason, fmt, ap);
  va_end(ap);
  request_reply_error_retry(r, code, 0, reason);
}

void request_reply_rate_limited(request_t *r, int64_t retry_after_ms,
                                const char *reason) {
  request_reply_error_retry(r, KETEN__ERROR_CODE__ERROR_RATE_LIMITED,
                            retry_after_ms > 0 && retry_after_ms < 3600000
                                ? (uint32_t)retry_after_ms
                                : 1000,
                            reason);
}

/* ---- audit ----------------------------------------------------------------- */

/* Operation and trace ids are not secrets but must not repeat: draw them
 * from a pool refilled 4 KiB at a time rather than with a system call per
 * entry (several entries per request). The broker is single-threaded. */
static void s_id_bytes(uint8_t *out, size_t n) {
  static uint8_t pool[4096];
  static size_t left;
  if (n > left) {
    randombytes_buf(pool, sizeof pool);
    left = sizeof pool;
  }
  memcpy(out, pool + sizeof pool - left, n);
  sodium_memzero(pool + sizeof pool - left, n);
  left -= n;
}

void request_audit_init(audit_entry_t *e, const request_t *r, const char *name,
                        int status) {
  memset(e, 0, sizeof *e);
  snprintf(e->name, sizeof e->name, "%s", name);
  e->status = status;
  s_id_bytes(e->operation_id, sizeof e->operation_id);
  e->end_ms = clock_wall_ms();
  e->start_ms = r ? r->now_ms : e->end_ms;
  snprintf(e->actor, sizeof e->actor, "%s", r && r->who ? r->who->id : "ketend");
  const Keten__Envelope *q = r ? r->req : NULL;
  if (q && q->trace_id.len == ENVELOPE_TRACE_ID_BYTES) {
    memcpy(e->trace_id, q->trace_id.data, 16);
    memcpy(e->foreign_trace_id, q->trace_id.data, 16);
  } else {
    s_id_bytes(e->trace_id, sizeof e->trace_id);
  }
  if (q && q->operation_id.len == ENVELOPE_OPERATION_ID_BYTES) {
    memcpy(e->parent_operation_id, q->operation_id.data, 8);
    memcpy(e->foreign_operation_id, q->operation_id.data, 8);
  }
}

int request_audit(broker_t *b, audit_entry_t *e) {
  if (store_audit_append(b->store, e) != 0) {
    log_msg(LOG_ERROR, "audit", "cannot append audit entry: %s",
            store_error(b->store));
    return -1;
  }
  return 0;
}

/* ---- budgets --------------------------------------------------------------- */

void request_budget_refused(broker_t *b, const char *id, budget_kind_t kind,
                            uint64_t limit) {
  if ((unsigned)kind < BUDGET_KINDS)
    b->metrics.budget_refusals[kind]++;
  if (budget_refused(&b->budgets, id, kind, limit, clock_mono_ms()) == 1)
    log_msg(LOG_WARN, "budget",
            "%s: refused by the budget %s (limit %llu); further refusals "
            "are counted in its audit summary",
            id, budget_name(kind), (unsigned long long)limit);
}
