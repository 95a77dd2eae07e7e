/* handle_tvs — the TVS feed: signed events from a TVS participant, the
 * links of subjects to gemeenten they make and end, each gemeente's own
 * feed in its mailbox, and the figures a gemeente can ask for
 * (docs/protocol.md, "The TVS feed"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "broker_internal.h"
#include "canon.h"
#include "link.h"
#include "log.h"
#include "request.h"
#include "rewrap.h"
#include "roles.h"
#include "tvs.h"

#define TVS_LIST_MAX 10000

static int s_audit_tvs(request_t *r, int status, const Keten__TvsEvent *ev,
                       const char *counterparty, const char *detail) {
  audit_entry_t e;
  request_audit_init(&e, r, "keten.tvs.publish", status);
  if (ev && ev->subject.len == 32)
    memcpy(e.subject, ev->subject.data, 32);
  snprintf(e.counterparty, sizeof e.counterparty, "%s",
           counterparty ? counterparty : "");
  snprintf(e.detail, sizeof e.detail, "%s", detail);
  return request_audit(r->b, &e);
}

/* Refuses the publish with code, audited. */
static int s_refuse(request_t *r, const Keten__TvsEvent *ev,
                    Keten__ErrorCode code, const char *why) {
  char detail[128];
  snprintf(detail, sizeof detail, "refused: %s", why);
  if (s_audit_tvs(r, AUDIT_STATUS_ERROR, ev,
                  ev && ev->gemeente ? ev->gemeente : "", detail) != 0)
    return -1;
  request_reply_error(r, code, "%s", why);
  return 0;
}

/* Appends the event (with its publisher's entry) to gemeente's feed. */
static int s_feed(request_t *r, const Keten__TvsEvent *ev,
                  const char *gemeente) {
  Keten__TvsEventCopy copy = KETEN__TVS_EVENT_COPY__INIT;
  Keten__RegistryEntry entry;
  participant_to_entry(r->who, &entry);
  copy.event = (Keten__TvsEvent *)ev;
  copy.publisher_entry = &entry;
  size_t len = keten__tvs_event_copy__get_packed_size(&copy);
  uint8_t *payload = malloc(len ? len : 1);
  if (!payload)
    return -1;
  keten__tvs_event_copy__pack(&copy, payload);
  store_notice_t item = {.kind = STORE_ITEM_TVS_EVENT, .payload = payload,
                         .payload_len = len, .created_at_ms = r->now_ms};
  if (ev->subject.len == 32)
    memcpy(item.subject, ev->subject.data, 32);
  uint64_t seq = 0;
  int rc = store_notice_push(r->b->store, gemeente, &item, &seq);
  free(payload);
  if (rc != 0)
    return -1;
  char detail[128];
  snprintf(detail, sizeof detail, "%s %s: in its feed (seq %llu)",
           tvs_kind_name(ev->kind), ev->period[0] ? ev->period : ev->date,
           (unsigned long long)seq);
  if (s_audit_tvs(r, AUDIT_STATUS_OK, ev, gemeente, detail) != 0)
    return -1;
  delivery_wake(r->b, gemeente);
  return 0;
}

static int s_by_recorder(const void *a, const void *b) {
  return strcmp(((const consent_t *)a)->recorded_by,
                ((const consent_t *)b)->recorded_by);
}

/* The link of ev's subject to gemeente ends: the access that followed it
 * goes, the gemeente is told to delete, and rewraps for it are cancelled
 * (those it may still have through direct consents are asked again). */
static int s_unlink(request_t *r, const Keten__TvsEvent *ev,
                    const char *gemeente, int64_t event_row) {
  broker_t *b = r->b;
  const uint8_t *subject = ev->subject.data;
  if (store_tvs_link_end(b->store, subject, event_row, r->now_ms) != 0)
    return -1;
  /* Every recorder with a live "@gemeente" consent of this subject. */
  consent_t *list = NULL;
  size_t n = 0;
  if (store_consents_live(b->store, subject, NULL, TVS_LINKED_GEMEENTE, &list,
                          &n) != 0)
    return -1;
  access_removed_t *removed = calloc(1, sizeof *removed);
  int rc = removed ? 0 : -1;
  int64_t wraps = 0, pending = 0;
  /* A recorder at a time: sorted, then a group at a time. */
  qsort(list, n, sizeof *list, s_by_recorder);
  for (size_t i = 0, j; rc == 0 && i < n; i = j) {
    uint64_t kinds = 0;
    for (j = i; j < n && strcmp(list[j].recorded_by, list[i].recorded_by) == 0;
         j++)
      kinds |= list[j].sections;
    /* A notice holds at most 64 items, a batch 192: send before it fills. */
    if (removed->n + 64 > ACCESS_MAX_ITEMS) {
      rc = access_notify(b, r, subject, gemeente,
                         KETEN__NOTICE_REASON__NOTICE_REASON_ONTKOPPELD, NULL,
                         ev->event_id.data, removed);
      wraps += removed->wraps;
      pending += removed->pending;
      memset(removed, 0, sizeof *removed);
    }
    if (rc == 0)
      rc = access_remove(b, subject, list[i].recorded_by, gemeente, kinds,
                         NULL, "", r->now_ms, removed);
    if (rc == 0)
      rc = rewrap_requeue(b, r, subject, gemeente, list[i].recorded_by,
                          "the link ended", NULL);
  }
  if (removed) {
    wraps += removed->wraps;
    pending += removed->pending;
  }
  if (rc == 0) {
    audit_entry_t e;
    request_audit_init(&e, r, "keten.access.erase", AUDIT_STATUS_OK);
    memcpy(e.subject, subject, 32);
    snprintf(e.counterparty, sizeof e.counterparty, "%s", gemeente);
    snprintf(e.detail, sizeof e.detail,
             "link ended: %lld key wraps erased, %lld pending deliveries "
             "dropped",
             (long long)wraps, (long long)pending);
    rc = request_audit(b, &e);
  }
  if (rc == 0)
    rc = access_notify(b, r, subject, gemeente,
                       KETEN__NOTICE_REASON__NOTICE_REASON_ONTKOPPELD, NULL,
                       ev->event_id.data, removed);
  free(removed);
  free(list);
  return rc;
}

int handle_tvs_publish(request_t *r) {
  broker_t *b = r->b;
  const Keten__TvsEvent *ev = r->req->tvs_publish->event;
  char why[160];
  if (r->who->role != KETEN__ROLE__ROLE_TVS)
    return s_refuse(r, NULL, KETEN__ERROR_CODE__ERROR_POLICY,
                    "only a TVS participant publishes TVS events");
  if (!ev)
    return s_refuse(r, NULL, KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
                    "event is required");
  if (tvs_event_check_shape(ev, why, sizeof why) != 0)
    return s_refuse(r, NULL, KETEN__ERROR_CODE__ERROR_INVALID_FIELD, why);
  if (strcmp(ev->published_by, r->who->id) != 0) {
    snprintf(why, sizeof why, "you are %s; the event names %s as publisher",
             r->who->id, ev->published_by);
    return s_refuse(r, ev, KETEN__ERROR_CODE__ERROR_NOT_AUTHOR, why);
  }
  if (tvs_event_verify(ev, r->who->signing_pk) != 0)
    return s_refuse(r, ev, KETEN__ERROR_CODE__ERROR_BAD_SIGNATURE,
                    "the event's signature does not verify against your "
                    "registered signing key");
  const char *feeds[2];
  size_t n_feeds = tvs_event_gemeenten(ev, feeds);
  for (size_t i = 0; i < n_feeds; i++) {
    const participant_t *g = registry_find_id(b->registry, feeds[i], r->now_ms);
    if (!g || g->role != KETEN__ROLE__ROLE_GEMEENTE) {
      snprintf(why, sizeof why, "%s is not a registered gemeente", feeds[i]);
      return s_refuse(r, ev, KETEN__ERROR_CODE__ERROR_NOT_FOUND, why);
    }
  }
  size_t len = keten__tvs_event__get_packed_size(ev);
  uint8_t *record = malloc(len ? len : 1);
  Keten__RegistryEntry entry;
  participant_to_entry(r->who, &entry);
  size_t entry_len = keten__registry_entry__get_packed_size(&entry);
  uint8_t *entry_bytes = malloc(entry_len ? entry_len : 1);
  if (!record || !entry_bytes) {
    free(record);
    free(entry_bytes);
    return -1;
  }
  keten__tvs_event__pack(ev, record);
  keten__registry_entry__pack(&entry, entry_bytes);

  Keten__TvsPublished reply = KETEN__TVS_PUBLISHED__INIT;
  reply.event_id = ev->event_id;
  store_tvs_link_t link;
  const uint8_t *subject = ev->subject.len == 32 ? ev->subject.data : NULL;
  int64_t row = 0;
  int same = 0, rc = -1;
  /* A retry of an event already applied changes nothing; another event
   * under the same id is refused. */
  int seen = store_tvs_event_find(b->store, ev->event_id.data, record, len,
                                  &same);
  if (seen < 0)
    goto done;
  if (seen) {
    if (same) {
      reply.duplicate = 1;
      request_reply(r, KETEN__ENVELOPE__BODY_TVS_PUBLISHED, &reply);
      rc = 0;
    } else {
      rc = s_refuse(r, ev, KETEN__ERROR_CODE__ERROR_CONFLICT,
                    "an event with this event_id and other content exists");
    }
    goto done;
  }
  /* The state the event changes: one active link per subject. */
  int linked = subject ? store_tvs_link_active(b->store, subject, &link) : 0;
  const char *conflict = NULL;
  if (linked < 0)
    goto done;
  switch (ev->kind) {
  case KETEN__TVS_EVENT_KIND__TVS_KOPPELING:
    if (linked)
      conflict = strcmp(link.gemeente, ev->gemeente) == 0
                     ? "the subject is linked to this gemeente already"
                     : "the subject is linked to another gemeente: publish "
                       "ONTKOPPELING or VERHUIZING first";
    break;
  case KETEN__TVS_EVENT_KIND__TVS_ONTKOPPELING:
  case KETEN__TVS_EVENT_KIND__TVS_HUISVESTING:
    if (!linked || strcmp(link.gemeente, ev->gemeente) != 0)
      conflict = "the subject is not linked to this gemeente";
    break;
  case KETEN__TVS_EVENT_KIND__TVS_VERHUIZING:
    if (linked && strcmp(link.gemeente, ev->from_gemeente) != 0)
      conflict = "the subject is linked to a gemeente other than "
                 "from_gemeente";
    break;
  default:
    break;
  }
  if (conflict) {
    rc = s_refuse(r, ev, KETEN__ERROR_CODE__ERROR_CONFLICT, conflict);
    goto done;
  }
  if (store_tvs_event_put(b->store, ev->event_id.data, (int)ev->kind,
                          ev->published_by, record, len, entry_bytes,
                          entry_len, r->now_ms, &row, &same) != 0)
    goto done;
  char *queued[2] = {NULL, NULL};
  size_t rewraps = 0;
  rc = 0;
  switch (ev->kind) {
  case KETEN__TVS_EVENT_KIND__TVS_KOPPELING: {
    store_tvs_link_t l;
    memset(&l, 0, sizeof l);
    memcpy(l.subject, subject, 32);
    snprintf(l.gemeente, sizeof l.gemeente, "%s", ev->gemeente);
    snprintf(l.period, sizeof l.period, "%s", ev->period);
    snprintf(l.linked_date, sizeof l.linked_date, "%s", ev->date);
    l.household_size = ev->household_size;
    l.koppeling_id = row;
    l.linked_at_ms = r->now_ms;
    rc = store_tvs_link_start(b->store, &l);
    break;
  }
  case KETEN__TVS_EVENT_KIND__TVS_HUISVESTING:
    rc = store_tvs_link_housed(b->store, subject, ev->date);
    break;
  case KETEN__TVS_EVENT_KIND__TVS_TAAKSTELLING:
    rc = store_tvs_target_put(b->store, ev->gemeente, ev->period, ev->target,
                              ev->realised, r->now_ms);
    break;
  default:
    break;
  }
  /* The feeds first: a gemeente reads the event before its notice. */
  for (size_t i = 0; rc == 0 && i < n_feeds; i++) {
    rc = s_feed(r, ev, feeds[i]);
    queued[i] = (char *)feeds[i];
  }
  if (rc == 0 && (ev->kind == KETEN__TVS_EVENT_KIND__TVS_ONTKOPPELING ||
                  (ev->kind == KETEN__TVS_EVENT_KIND__TVS_VERHUIZING && linked)))
    rc = s_unlink(r, ev, link.gemeente, row);
  if (rc == 0 && ev->kind == KETEN__TVS_EVENT_KIND__TVS_KOPPELING)
    rc = rewrap_requeue(b, r, subject, ev->gemeente, NULL,
                        "asked again with the koppeling", &rewraps);
  if (rc != 0) {
    rc = -1;
    goto done;
  }
  log_msg(LOG_INFO, "tvs", "%s from %s for %s", tvs_kind_name(ev->kind),
          r->who->id, ev->gemeente);
  reply.queued_for = queued;
  reply.n_queued_for = n_feeds;
  reply.rewraps_queued = (uint32_t)rewraps;
  request_reply(r, KETEN__ENVELOPE__BODY_TVS_PUBLISHED, &reply);
done:
  free(record);
  free(entry_bytes);
  return rc;
}

/* ---- TVS_LIST, TVS_STATUS ------------------------------------------------------ */

/* Whose figures the caller may see: its own (a gemeente), any (TVS, and
 * for the counts alone the operator). Returns 0 with the gemeente in
 * *out, 1 after replying FORBIDDEN (audited), -1 on failure. */
static int s_whose(request_t *r, const char *asked, int operator_ok,
                   const char *name, const char **out) {
  const char *g = asked && asked[0] ? asked : r->who->id;
  *out = g;
  int role_may = r->who->role == KETEN__ROLE__ROLE_GEMEENTE ||
                 r->who->role == KETEN__ROLE__ROLE_TVS ||
                 (operator_ok && r->who->role == KETEN__ROLE__ROLE_OPERATOR);
  if (role_may && r->who->role != KETEN__ROLE__ROLE_GEMEENTE &&
      !(asked && asked[0])) {
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
                        "name the gemeente (only a gemeente may leave it "
                        "empty, for itself)");
    return 1;
  }
  /* A gemeente only for itself; TVS (and the operator) named one above. */
  int ok = role_may && (r->who->role != KETEN__ROLE__ROLE_GEMEENTE ||
                        strcmp(g, r->who->id) == 0);
  if (ok && participant_valid_id(g))
    return 0;
  audit_entry_t e;
  request_audit_init(&e, r, name, AUDIT_STATUS_ERROR);
  snprintf(e.counterparty, sizeof e.counterparty, "%s",
           participant_valid_id(g) ? g : "");
  snprintf(e.detail, sizeof e.detail, "refused: %s",
           ok ? "not a participant id"
           : operator_ok
               ? "only TVS and the operator, or a gemeente for itself, may "
                 "see TVS figures"
               : "only TVS, or a gemeente for itself, may see TVS links");
  if (request_audit(r->b, &e) != 0)
    return -1;
  if (ok)
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
                        "gemeente must be a participant id");
  else
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_FORBIDDEN,
                        "%s may not see the TVS data of %s: only TVS%s, or a "
                        "gemeente for itself, may",
                        r->who->id, g, operator_ok ? " and the operator" : "");
  return 1;
}

/* The links read from the store, grown as they come (a gemeente has few,
 * the cap is TVS_LIST_MAX + 1). */
typedef struct {
  store_tvs_link_t *rows;
  size_t n, cap;
  int failed;
} s_links_t;

static int s_link_one(const store_tvs_link_t *l, void *arg) {
  s_links_t *s = arg;
  if (s->n == s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 16;
    store_tvs_link_t *grown = realloc(s->rows, cap * sizeof *grown);
    if (!grown) {
      s->failed = 1;
      return 1;
    }
    s->rows = grown;
    s->cap = cap;
  }
  s->rows[s->n++] = *l;
  return 0;
}

int handle_tvs_list(request_t *r) {
  const Keten__TvsListRequest *q = r->req->tvs_list;
  if (q->period[0] && !tvs_valid_period(q->period)) {
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
                        "period must be YYYY-1 or YYYY-2");
    return 0;
  }
  const char *g = NULL;
  int whose = s_whose(r, q->gemeente, 0, "keten.tvs.list", &g);
  if (whose != 0)
    return whose < 0 ? -1 : 0;
  /* One more than fits tells whether the list was cut. */
  s_links_t s = {0};
  if (store_tvs_links_of(r->b->store, g, q->period[0] ? q->period : NULL,
                         TVS_LIST_MAX + 1, s_link_one, &s) != 0 ||
      s.failed) {
    free(s.rows);
    return -1;
  }
  size_t n = s.n > TVS_LIST_MAX ? TVS_LIST_MAX : s.n;
  Keten__TvsLink *links = calloc(n ? n : 1, sizeof *links);
  Keten__TvsLink **ptrs = calloc(n ? n : 1, sizeof *ptrs);
  int rc = -1;
  if (links && ptrs) {
    for (size_t i = 0; i < n; i++) {
      store_tvs_link_t *row = &s.rows[i];
      Keten__TvsLink *m = &links[i];
      keten__tvs_link__init(m);
      m->subject.data = row->subject;
      m->subject.len = 32;
      m->gemeente = row->gemeente;
      m->period = row->period;
      m->linked_date = row->linked_date;
      m->household_size = row->household_size;
      m->housed_date = row->housed_date;
      m->koppeling_event_id.data = row->koppeling_event_id;
      m->koppeling_event_id.len = 16;
      ptrs[i] = m;
    }
    Keten__TvsListReply reply = KETEN__TVS_LIST_REPLY__INIT;
    reply.truncated = s.n > TVS_LIST_MAX;
    reply.links = ptrs;
    reply.n_links = n;
    audit_entry_t e;
    request_audit_init(&e, r, "keten.tvs.list", AUDIT_STATUS_OK);
    snprintf(e.counterparty, sizeof e.counterparty, "%s", g);
    snprintf(e.detail, sizeof e.detail, "%zu active link(s) listed", n);
    if (request_audit(r->b, &e) == 0) {
      request_reply(r, KETEN__ENVELOPE__BODY_TVS_LINKS, &reply);
      rc = 0;
    }
  }
  free(links);
  free(ptrs);
  free(s.rows);
  return rc;
}

int handle_tvs_status(request_t *r) {
  const Keten__TvsStatusRequest *q = r->req->tvs_status;
  if (!tvs_valid_period(q->period)) {
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
                        "period is required: YYYY-1 or YYYY-2");
    return 0;
  }
  const char *g = NULL;
  int whose = s_whose(r, q->gemeente, 1, "keten.tvs.status", &g);
  if (whose != 0)
    return whose < 0 ? -1 : 0;
  Keten__TvsStatusReply reply = KETEN__TVS_STATUS_REPLY__INIT;
  uint32_t target = 0, realised = 0, linked = 0, housed = 0;
  int64_t at = 0;
  int has = store_tvs_target_get(r->b->store, g, q->period, &target, &realised,
                                 &at);
  if (has < 0 ||
      store_tvs_counts(r->b->store, g, q->period, &linked, &housed) != 0)
    return -1;
  reply.gemeente = (char *)g;
  reply.period = q->period;
  reply.has_target = has == 1;
  reply.target = target;
  reply.realised = realised;
  reply.linked = linked;
  reply.housed = housed;
  reply.updated_at_ms = (uint64_t)at;
  audit_entry_t e;
  request_audit_init(&e, r, "keten.tvs.status", AUDIT_STATUS_OK);
  snprintf(e.counterparty, sizeof e.counterparty, "%s", g);
  snprintf(e.detail, sizeof e.detail, "figures of %s", q->period);
  if (request_audit(r->b, &e) != 0)
    return -1;
  request_reply(r, KETEN__ENVELOPE__BODY_TVS_FIGURES, &reply);
  return 0;
}
