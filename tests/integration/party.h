/* party — a test party: a libketen client of one of the harness's
 * participants with everything its mailbox brought (sections, TVS events,
 * delete notices) and the rewraps its library served; and what the
 * integration tests do around their parties: clients remembered for
 * teardown, consents, PUTs and TVS events that must succeed, fetches,
 * counts from the broker's store, raw requests.
 *
 * Every helper fails the running cmocka test (fail_msg, assert_*) when
 * what it must do does not happen. A test's teardown calls party_cleanup()
 * before harness_destroy(). */
#ifndef KETEN_TEST_PARTY_H
#define KETEN_TEST_PARTY_H

#include <stddef.h>
#include <stdint.h>

#include "envelope.h"
#include "harness.h"
#include "keten.h"

/* A client's timeout per attempt; how long party_wait() waits. */
#define PARTY_CLIENT_TIMEOUT_MS 10000
#define PARTY_WAIT_MS 10000

/* ---- time ---------------------------------------------------------------- */

int64_t party_wall_ms(void); /* CLOCK_REALTIME, ms */
int64_t party_mono_ms(void); /* CLOCK_MONOTONIC, ms */
void party_sleep_ms(int64_t ms);

/* ---- clients ------------------------------------------------------------- */

/* Remembers c (must not be NULL) for party_cleanup(); returns it. */
keten_client_t *party_track(keten_client_t *c);

/* Forgets *c and destroys it; *c = NULL. */
void party_untrack_close(keten_client_t **c);

/* A tracked client of participant id of h. */
keten_client_t *party_client(harness_t *h, const char *id);

/* Closes and frees every party, then destroys every tracked client (a
 * failed test leaves them open). */
void party_cleanup(void);

/* ---- parties: a client with everything its mailbox brought --------------- */

typedef struct {
  int kind;
  char author[KETEN_ID_MAX + 1];
  uint64_t version, seq;
  keten_err_t status;
  char json[1024];
} party_sec_t;

typedef struct {
  keten_tvs_event_t ev;
  uint64_t seq;
  keten_err_t status;
  int null_ev;
} party_evt_t;

typedef struct {
  keten_notice_t n;
  uint64_t seq;
  keten_err_t status;
  int null_notice;
} party_ntc_t;

typedef struct {
  harness_t *h;
  char id[KETEN_ID_MAX + 1];
  keten_client_t *c;
  party_sec_t sec[64];
  size_t n_sec;
  party_evt_t ev[64];
  size_t n_ev, ev_calls;
  party_ntc_t ntc[8];
  size_t n_ntc, ntc_calls;
  keten_rewrap_t rw[64];
  size_t n_rw;
  int events_must_verify; /* fail at once on an event that does not verify */
  int refuse_event_kind;  /* refuse (once) the first event of this kind */
  int refused_events;
  uint64_t refused_seq;
  int refuse_notices; /* refuse every notice (recorded all the same) */
} party_t;

/* A party for participant id of h, not connected yet (see
 * party_connect_with()). Freed by party_cleanup(). */
party_t *party_alloc(harness_t *h, const char *id);

/* party_alloc(), connected with the harness's config; its mailbox started
 * if subscribe. */
party_t *party_new(harness_t *h, const char *id, int subscribe);

/* (Re)connects p (its client must be closed) with cfg (NULL: the
 * harness's), sets the handlers and, if subscribe, starts its mailbox. */
void party_connect_with(party_t *p, const keten_client_config_t *cfg,
                        int subscribe);
void party_connect(party_t *p); /* with the harness's config, subscribed */

/* Closes p's client (if open); what it received stays. */
void party_close(party_t *p);

/* A round trip: the broker has processed every frame (acks, rewrap
 * answers) p sent before. */
void party_settle(party_t *p);

/* Polls every party of ps for ms. */
void party_pump(party_t *const *ps, size_t n, int ms);

/* Polls every party of ps until p holds at least sec sections, ev events
 * and ntc notice calls, or PARTY_WAIT_MS (then fails, naming the rewraps
 * the parties of ps served). */
void party_wait(party_t *const *ps, size_t n, party_t *p, size_t sec, size_t ev,
                size_t ntc);

/* The parties, and how many: for party_pump() and party_wait(). */
#define PARTIES(...)                                                           \
  (party_t *[]){__VA_ARGS__},                                                  \
      sizeof((party_t *[]){__VA_ARGS__}) / sizeof(party_t *)

/* The section of kind and version p received, or NULL. */
const party_sec_t *party_got(const party_t *p, int kind, uint64_t version);

typedef struct {
  int kind;
  uint64_t version;
  const char *json;
} party_want_t;

/* Asserts p received exactly these sections by author (any order, each
 * once, every one opened). */
void party_expect_sections(const party_t *p, const char *author,
                           const party_want_t *want, size_t n);

/* ---- requests that must succeed ------------------------------------------ */

/* The subject id of v_nummer under a fixed test chain key. */
void party_subject(const char *v_nummer, uint8_t subject[32]);

/* b[0..n) in lower-case hex into out (2n + 1 bytes); returns out. */
char *party_hex(const uint8_t *b, size_t n, char *out);

/* Fails unless rc is a remote error with code; what names the request. */
void party_expect_remote(keten_client_t *c, keten_err_t rc, int code,
                         const char *what);

/* Records a consent of c valid in [from, until) (0: a minute ago, a year
 * ahead); *out (may be NULL) gets it. Returns the library's status. */
keten_err_t party_try_grant(keten_client_t *c, const uint8_t subject[32],
                            const char *to, uint64_t sections, int purpose,
                            int64_t from, int64_t until, keten_consent_t *out);

/* party_try_grant(), which must succeed. */
void party_grant_window(keten_client_t *c, const uint8_t subject[32],
                        const char *to, uint64_t sections, int purpose,
                        int64_t from, int64_t until, keten_consent_t *out);

/* A consent valid from a minute ago for a year, which must succeed. */
void party_grant(keten_client_t *c, const uint8_t subject[32], const char *to,
                 uint64_t sections, int purpose, keten_consent_t *out);

keten_put_result_t party_put(keten_client_t *c, const uint8_t subject[32],
                             int kind, const char *json);

/* Asserts that res was queued for exactly ids (NULL-terminated). */
void party_assert_queued(const keten_put_result_t *res, const char *const *ids);

/* What c can fetch of subject: a bit set of kinds; 0 when the broker
 * refuses (FORBIDDEN: nothing may be disclosed; NOT_FOUND: nothing stored). */
uint64_t party_fetch_kinds(keten_client_t *c, const uint8_t subject[32]);

/* Fetches and asserts (kind, version, json) of one kind. */
void party_expect_fetched(keten_client_t *c, const uint8_t subject[32],
                          int kind, uint64_t version, const char *json);

/* ---- TVS events ---------------------------------------------------------- */

/* An event of kind about subject (NULL: none) for gemeente. */
keten_tvs_event_t party_event(int kind, const uint8_t *subject,
                              const char *gemeente);

keten_tvs_event_t party_koppeling(const uint8_t subject[32],
                                  const char *gemeente, const char *period,
                                  const char *date, uint32_t household);

/* An ONTKOPPELING dated 2026-09-01. */
keten_tvs_event_t party_ontkoppeling(const uint8_t subject[32],
                                     const char *gemeente, int reason);

/* Publishes ev with c (fills its id and time), which must succeed and be
 * no duplicate; returns the broker's answer. */
keten_tvs_published_t party_publish(keten_client_t *c, keten_tvs_event_t *ev);

/* ---- the store ----------------------------------------------------------- */

/* One number from the store (ketend may be running: WAL readers are fine). */
long long party_sql(harness_t *h, const char *sql);

/* party_sql() of the formatted query (at most 1023 bytes). */
long long party_sqlf(harness_t *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Audit entries named name (status 1 OK, 2 ERROR, 0 any) whose detail
 * holds needle (NULL: any). */
long long party_audited(harness_t *h, const char *name, int status,
                        const char *needle);

/* Wraps recipient holds of author's sections of kind (0: any) of subject,
 * of version (0: any). */
long long party_wraps_v(harness_t *h, const char *recipient,
                        const uint8_t subject[32], const char *author, int kind,
                        uint64_t version);
long long party_wraps(harness_t *h, const char *recipient,
                      const uint8_t subject[32], const char *author, int kind);

/* Stops ketend (it must exit 0) and checks `keten audit verify`. */
void party_stop_and_verify(harness_t *h);

/* ---- raw requests -------------------------------------------------------- */

/* Sends env's body (with fresh ids) on sock; *ids gets them. */
void party_raw_send(void *sock, Keten__Envelope *env, envelope_ids_t *ids);

/* Sends env's body on sock, returns the decoded reply (envelope_free());
 * deliveries that come meanwhile are dropped. */
Keten__Envelope *party_raw(void *sock, Keten__Envelope *env);

/* The code of reply if it is an ERROR, else 0; frees reply. */
int party_error_code(Keten__Envelope *reply);

#endif
