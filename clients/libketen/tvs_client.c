/* tvs_client — the TVS feed in libketen: publishing (a TVS participant),
 * the events in a gemeente's mailbox (checked against the publisher's
 * root-signed TVS entry before anyone sees them), and the broker's lists
 * and figures. Every field copied out of a reply is bounded by the size
 * of what it is copied into. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canon.h"
#include "client_int.h"
#include "entry.h"
#include "evidence.h"
#include "tvs.h"

/* The broker returns at most this many links (docs/protocol.md). */
#define TVS_MAX_LINKS 10000

_Static_assert(TVS_EVENT_ID_BYTES == sizeof(((keten_tvs_event_t *)0)->event_id),
               "event id size");
_Static_assert((int)KETEN_TVS_KOPPELING ==
                       (int)KETEN__TVS_EVENT_KIND__TVS_KOPPELING &&
                   (int)KETEN_TVS_TAAKSTELLING ==
                       (int)KETEN__TVS_EVENT_KIND__TVS_TAAKSTELLING,
               "TVS kinds");
_Static_assert((int)KETEN_ONTKOPPEL_OTHER ==
                   (int)KETEN__ONTKOPPEL_REASON__ONTKOPPEL_OTHER,
               "ontkoppel reasons");

/* ---- names --------------------------------------------------------------- */

const char *keten_tvs_kind_name(int kind) { return tvs_kind_name(kind); }

int keten_tvs_kind_from_name(const char *name) {
  return name ? tvs_kind_from_name(name) : 0;
}

const char *keten_tvs_reason_name(int reason) {
  return tvs_reason_name(reason);
}

int keten_tvs_reason_from_name(const char *name) {
  return name ? tvs_reason_from_name(name) : 0;
}

/* ---- helpers ------------------------------------------------------------- */

/* 1 if the fixed-size field s (size bytes) holds a NUL-terminated string. */
static int s_terminated(const char *s, size_t size) {
  return memchr(s, '\0', size) != NULL;
}

/* "" for NULL. */
static const char *s_str(const char *s) { return s ? s : ""; }

static int s_all_zero(const uint8_t *b, size_t n) {
  uint8_t acc = 0;
  for (size_t i = 0; i < n; i++)
    acc |= b[i];
  return acc == 0;
}

/* Fills out from a wire event that tvs_event_check_shape() passed. */
static void s_event_from_wire(const Keten__TvsEvent *in,
                              keten_tvs_event_t *out) {
  memset(out, 0, sizeof *out);
  if (in->event_id.len == sizeof out->event_id)
    memcpy(out->event_id, in->event_id.data, sizeof out->event_id);
  out->kind = (int)in->kind;
  if (in->subject.len == sizeof out->subject)
    memcpy(out->subject, in->subject.data, sizeof out->subject);
  snprintf(out->gemeente, sizeof out->gemeente, "%s", s_str(in->gemeente));
  snprintf(out->from_gemeente, sizeof out->from_gemeente, "%s",
           s_str(in->from_gemeente));
  snprintf(out->period, sizeof out->period, "%s", s_str(in->period));
  snprintf(out->date, sizeof out->date, "%s", s_str(in->date));
  out->household_size = in->household_size;
  out->reason = (int)in->reason;
  out->target = in->target;
  out->realised = in->realised;
  snprintf(out->published_by, sizeof out->published_by, "%s",
           s_str(in->published_by));
  out->published_at_ms = in->published_at_ms;
}

/* ---- events in our mailbox ----------------------------------------------- */

void keten_client_on_tvs_event(keten_client_t *c, keten_tvs_event_fn fn,
                               void *arg) {
  if (!c)
    return;
  c->tvs_fn = fn;
  c->tvs_arg = arg;
}

int client_tvs_event(keten_client_t *c, const Keten__Delivery *item,
                     size_t *handled) {
  char why[256] = "";
  keten_err_t rc = evidence_check_tvs_event(c->root_key, item->tvs_event,
                                            &c->verified, why, sizeof why);
  if (rc == KETEN_OK) {
    /* Our feed holds our own events: one naming another gemeente is a
     * broker handing us what is not ours to act on. */
    const char *to[2];
    size_t n = tvs_event_gemeenten(item->tvs_event->event, to);
    int ours = 0;
    for (size_t i = 0; i < n; i++)
      ours |= strcmp(to[i], c->self_id) == 0;
    if (!ours) {
      rc = KETEN_ERR_EVIDENCE;
      snprintf(why, sizeof why, "a TVS event for %s, not for us", to[0]);
    }
  }
  if (rc != KETEN_OK)
    client_error(c, "a TVS event refused: %s", why);
  if (!c->tvs_fn)
    return 0; /* documented: acked as they arrive */
  keten_tvs_event_t ev;
  if (rc == KETEN_OK)
    s_event_from_wire(item->tvs_event->event, &ev);
  if (c->tvs_fn(rc == KETEN_OK ? &ev : NULL, item->seq, rc, c->tvs_arg) != 0)
    return 1;
  if (handled)
    (*handled)++;
  return 0;
}

/* ---- publishing ---------------------------------------------------------- */

keten_err_t keten_client_tvs_publish(keten_client_t *c, keten_tvs_event_t *ev,
                                     keten_tvs_published_t *result) {
  if (!c || !ev || !tvs_kind_name(ev->kind) ||
      !s_terminated(ev->gemeente, sizeof ev->gemeente) ||
      !s_terminated(ev->from_gemeente, sizeof ev->from_gemeente) ||
      !s_terminated(ev->period, sizeof ev->period) ||
      !s_terminated(ev->date, sizeof ev->date))
    return KETEN_ERR_INVALID;
  keten_err_t rc = client_self(c);
  if (rc != KETEN_OK)
    return rc;
  /* A new event gets a fresh id and time. One already filled (a retry of
   * an event whose answer was lost) keeps both, so that its record is the
   * same bytes and the broker recognises it as a duplicate. */
  uint8_t id[TVS_EVENT_ID_BYTES];
  uint64_t at = ev->published_at_ms;
  if (s_all_zero(ev->event_id, sizeof ev->event_id)) {
    randombytes_buf(id, sizeof id);
    at = 0;
  } else {
    memcpy(id, ev->event_id, sizeof id);
  }
  if (!at)
    at = client_wall_ms();

  Keten__TvsEvent e = KETEN__TVS_EVENT__INIT;
  e.event_id.data = id;
  e.event_id.len = sizeof id;
  e.kind = (Keten__TvsEventKind)ev->kind;
  if (ev->kind != KETEN_TVS_TAAKSTELLING) { /* a figure is about nobody */
    e.subject.data = ev->subject;
    e.subject.len = sizeof ev->subject;
  }
  e.gemeente = ev->gemeente;
  e.from_gemeente = ev->from_gemeente;
  e.period = ev->period;
  e.date = ev->date;
  e.household_size = ev->household_size;
  e.reason = (Keten__OntkoppelReason)ev->reason;
  e.target = ev->target;
  e.realised = ev->realised;
  e.published_by = c->self_id;
  e.published_at_ms = at;
  uint8_t sig[CANON_SIGNATURE_BYTES];
  if (tvs_event_sign(&e, c->keys.signing_sk, sig) != 0) {
    client_error(c, "out of memory");
    return KETEN_ERR_NOMEM;
  }
  e.signature.data = sig;
  e.signature.len = sizeof sig;
  char why[200];
  if (tvs_event_check_shape(&e, why, sizeof why) != 0) {
    client_error(c, "not published: %s", why);
    return KETEN_ERR_INVALID;
  }
  memcpy(ev->event_id, id, sizeof id);
  snprintf(ev->published_by, sizeof ev->published_by, "%s", c->self_id);
  ev->published_at_ms = at;

  Keten__TvsPublish pub = KETEN__TVS_PUBLISH__INIT;
  pub.event = &e;
  Keten__Envelope *reply = NULL;
  rc = client_call_body(c, KETEN__ENVELOPE__BODY_TVS_PUBLISH, &pub,
                        KETEN__ENVELOPE__BODY_TVS_PUBLISHED, &reply);
  if (client_recovered(c, rc)) {
    /* Published by an earlier attempt; where it was queued is unknown. */
    if (result)
      memset(result, 0, sizeof *result);
    return KETEN_OK;
  }
  if (rc != KETEN_OK)
    return rc;
  const Keten__TvsPublished *p = reply->tvs_published;
  if (p->event_id.len != sizeof id ||
      memcmp(p->event_id.data, id, sizeof id) != 0) {
    client_error(c, "the broker confirmed another event than ours");
    envelope_free(reply);
    return KETEN_ERR_PROTOCOL;
  }
  if (result) {
    memset(result, 0, sizeof *result);
    size_t max = sizeof result->queued / sizeof result->queued[0];
    for (size_t i = 0; i < p->n_queued_for && result->n_queued < max; i++)
      snprintf(result->queued[result->n_queued++], sizeof result->queued[0],
               "%s", s_str(p->queued_for[i]));
    result->rewraps_queued = p->rewraps_queued;
    result->duplicate = p->duplicate ? 1 : 0;
  }
  envelope_free(reply);
  return KETEN_OK;
}

/* ---- queries ------------------------------------------------------------- */

/* Checks the (gemeente, period) of a query: gemeente NULL/"" or an id,
 * period NULL/"" (unless required) or YYYY-1/2. */
static int s_query_ok(const char *gemeente, const char *period,
                      int period_required) {
  if (gemeente && gemeente[0] && !entry_valid_id(gemeente))
    return 0;
  if (!period || !period[0])
    return !period_required;
  return tvs_valid_period(period);
}

keten_err_t keten_client_tvs_list(keten_client_t *c, const char *gemeente,
                                  const char *period, keten_tvs_link_t **links,
                                  size_t *n, int *truncated) {
  if (!c || !links || !n)
    return KETEN_ERR_INVALID;
  *links = NULL;
  *n = 0;
  if (truncated)
    *truncated = 0;
  if (!s_query_ok(gemeente, period, 0))
    return KETEN_ERR_INVALID;
  Keten__TvsListRequest q = KETEN__TVS_LIST_REQUEST__INIT;
  q.gemeente = (char *)(gemeente ? gemeente : "");
  q.period = (char *)(period ? period : "");
  Keten__Envelope *reply = NULL;
  keten_err_t rc = client_call_body(c, KETEN__ENVELOPE__BODY_TVS_LIST, &q,
                                    KETEN__ENVELOPE__BODY_TVS_LINKS, &reply);
  if (rc != KETEN_OK)
    return rc;
  const Keten__TvsListReply *r = reply->tvs_links;
  size_t count = r->n_links;
  if (count > TVS_MAX_LINKS) {
    client_error(c, "the broker sent %zu links (at most %d)", count,
                 TVS_MAX_LINKS);
    envelope_free(reply);
    return KETEN_ERR_PROTOCOL;
  }
  keten_tvs_link_t *out = calloc(count ? count : 1, sizeof *out);
  if (!out) {
    envelope_free(reply);
    return KETEN_ERR_NOMEM;
  }
  size_t kept = 0;
  for (size_t i = 0; i < count; i++) {
    const Keten__TvsLink *l = r->links[i];
    if (!l || l->subject.len != KETEN_SUBJECT_BYTES)
      continue; /* not a link of anyone */
    keten_tvs_link_t *o = &out[kept++];
    memcpy(o->subject, l->subject.data, KETEN_SUBJECT_BYTES);
    snprintf(o->gemeente, sizeof o->gemeente, "%s", s_str(l->gemeente));
    snprintf(o->period, sizeof o->period, "%s", s_str(l->period));
    snprintf(o->linked_date, sizeof o->linked_date, "%s",
             s_str(l->linked_date));
    o->household_size = l->household_size;
    snprintf(o->housed_date, sizeof o->housed_date, "%s",
             s_str(l->housed_date));
    if (l->koppeling_event_id.len == sizeof o->koppeling_event_id)
      memcpy(o->koppeling_event_id, l->koppeling_event_id.data,
             sizeof o->koppeling_event_id);
  }
  if (truncated)
    *truncated = r->truncated ? 1 : 0;
  envelope_free(reply);
  *links = out;
  *n = kept;
  return KETEN_OK;
}

keten_err_t keten_client_tvs_status(keten_client_t *c, const char *gemeente,
                                    const char *period,
                                    keten_tvs_status_t *status) {
  if (!c || !status || !s_query_ok(gemeente, period, 1))
    return KETEN_ERR_INVALID;
  memset(status, 0, sizeof *status);
  Keten__TvsStatusRequest q = KETEN__TVS_STATUS_REQUEST__INIT;
  q.gemeente = (char *)(gemeente ? gemeente : "");
  q.period = (char *)period;
  Keten__Envelope *reply = NULL;
  keten_err_t rc = client_call_body(c, KETEN__ENVELOPE__BODY_TVS_STATUS, &q,
                                    KETEN__ENVELOPE__BODY_TVS_FIGURES, &reply);
  if (rc != KETEN_OK)
    return rc;
  const Keten__TvsStatusReply *r = reply->tvs_figures;
  snprintf(status->gemeente, sizeof status->gemeente, "%s", s_str(r->gemeente));
  snprintf(status->period, sizeof status->period, "%s", s_str(r->period));
  status->has_target = r->has_target ? 1 : 0;
  status->target = r->target;
  status->realised = r->realised;
  status->linked = r->linked;
  status->housed = r->housed;
  status->updated_at_ms = r->updated_at_ms;
  envelope_free(reply);
  return KETEN_OK;
}
