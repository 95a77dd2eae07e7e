/* store — the broker's durable state behind one interface.
 *
 * store_sqlite.c implements it on SQLite (WAL, synchronous=FULL). A second
 * backend (e.g. PostgreSQL) is a second implementation of this header.
 * Every function returns 0 on success and -1 on failure with a reason in
 * err unless documented otherwise; no function prints.
 */
#ifndef KETEND_STORE_H
#define KETEND_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "audit.h"
#include "consent.h"
#include "participant.h"

typedef struct store store_t;

/* Opens (creating if needed) the store at path and brings its schema up to
 * date. A store written by a newer keten is refused. */
store_t *store_open(const char *path, char *err, size_t errlen);

/* As store_open(), but brings the schema only up to version schema (an
 * older one, for tests of migrations and for upgrade tooling). Only the
 * functions of that schema may be used on it. */
store_t *store_open_schema(const char *path, int schema, char *err,
                           size_t errlen);

/* Opens the store at path READ-ONLY, for `keten audit` on the live
 * store, a backup or a copy on read-only media: it never creates the
 * file, never migrates, never switches the journal mode and never writes
 * the file (SQLITE_OPEN_READONLY; when path's directory is not writable
 * or is on read-only media and no -wal file with content lies beside it,
 * the `file:...?immutable=1` form, which needs no -wal or -shm). In a
 * writable directory SQLite may leave empty -wal and -shm files beside a
 * store that had none. Any schema from 2 (the audit log) up to the newest
 * this build knows is accepted as it is; a newer one is refused.
 * Only reading functions may be used on it: store_audit_each,
 * store_audit_get, store_audit_head, store_audit_of_subject,
 * store_audit_checkpoints, store_audit_tree_heads, and the other reading
 * functions of its schema (store_schema_version()). */
store_t *store_open_readonly(const char *path, char *err, size_t errlen);

/* Closes the store and sets *store to NULL; NULL is ignored. */
void store_close(store_t **store);

/* The schema version the store is at after store_open(). */
int store_schema_version(store_t *store);

/* The newest schema version this build knows. */
int store_schema_latest(void);

/* Installs a registry entry (the caller has checked its root signature).
 * Fails if p is invalid, its transport key belongs to another id, or the
 * id is installed with another role; returns 1 if this very entry is
 * installed already, 0 when added (or, if it was removed, installed
 * again). A signed entry retires the unsigned (legacy) entries of its id. */
int store_entry_add(store_t *store, const participant_t *p, char *err,
                    size_t errlen);

/* Marks every installed entry of id removed (kept, for the record and the
 * audit trail, but never loaded again). Returns how many, -1 on error. */
int store_entry_remove(store_t *store, const char *id, char *err,
                       size_t errlen);

/* Calls fn for each entry (removed ones too if include_removed) in id
 * order, oldest first; stops early (returning 0) when fn returns non-zero.
 * p->entry_hash is recomputed from the fields, not read from the row. */
typedef int (*store_participant_fn)(const participant_t *p, void *arg);
int store_entry_each(store_t *store, int include_removed,
                     store_participant_fn fn, void *arg, char *err,
                     size_t errlen);

/* A number that changes whenever another connection (e.g. `keten admin`)
 * committed to the store. Returns -1 on error. */
int64_t store_data_version(store_t *store);

/* ---- transactions -------------------------------------------------------- */

/* The broker's group commit: one transaction around a batch of requests,
 * a savepoint around each request so one failure undoes only its own
 * changes. store_commit() returns 0 only once the batch is durable. */
int store_begin(store_t *store);
int store_commit(store_t *store);
void store_rollback(store_t *store);
int store_savepoint(store_t *store);
void store_savepoint_release(store_t *store);
void store_savepoint_rollback(store_t *store);

/* The number of rows changed (inserted, updated, deleted, by triggers too)
 * on this connection since it was opened: a request whose handler leaves
 * it unchanged wrote nothing and needs no commit. */
int64_t store_changes(store_t *store);

/* 1 if the store's last error means the disk (or the store's size cap) is
 * full: SQLITE_FULL, or an I/O error with errno ENOSPC or EDQUOT; else 0.
 * Ask right after the failing call, before a rollback. */
int store_error_is_full(store_t *store);

/* Records (sender, message_id). Returns 0 if new, 1 if already seen
 * (a replay), -1 on error. */
int store_message_seen(store_t *store, const char *sender,
                       const uint8_t message_id[16], int64_t now_ms);

/* Forgets message ids recorded before before_ms (the replay window). */
int store_message_prune(store_t *store, int64_t before_ms);

/* ---- consents --------------------------------------------------------------- */

/* Stores a verified consent and its signed record (the packed Consent).
 * Returns 0, 1 if its consent_id exists already, -1 on error. */
int store_consent_put(store_t *store, const consent_t *c,
                      const uint8_t *record, size_t record_len);

/* Loads consent id into out. Returns 1 if found, 0 if not, -1 on error. */
int store_consent_get(store_t *store, const uint8_t id[CONSENT_ID_BYTES],
                      consent_t *out);

/* Marks consent id revoked, keeping the signed revocation record. */
int store_consent_revoke(store_t *store, const uint8_t id[CONSENT_ID_BYTES],
                         int64_t revoked_at_ms, const char *revoked_by,
                         const uint8_t *record, size_t record_len);

/* The live consents (not revoked, expiry not yet processed) of subject,
 * only those recorded by recorded_by and/or naming recipient when these
 * are not NULL. Costs what it returns (partial indexes). *list is malloc'd
 * (free()), *n its length. */
int store_consents_live(store_t *store,
                        const uint8_t subject[CONSENT_SUBJECT_BYTES],
                        const char *recorded_by, const char *recipient,
                        consent_t **list, size_t *n);

/* How many live consents of subject recorded_by records for recipient
 * that have not expired by now_ms. */
int store_consent_count_live(store_t *store,
                             const uint8_t subject[CONSENT_SUBJECT_BYTES],
                             const char *recorded_by, const char *recipient,
                             int64_t now_ms, size_t *count);

/* How many distinct recipients the live, unexpired consents of subject
 * recorded by recorded_by name. */
int store_consent_recipients_live(store_t *store,
                                  const uint8_t subject[CONSENT_SUBJECT_BYTES],
                                  const char *recorded_by, int64_t now_ms,
                                  size_t *count);

/* The signed record (packed Consent) of consent id; *record malloc'd. */
int store_consent_record(store_t *store, const uint8_t id[CONSENT_ID_BYTES],
                         uint8_t **record, size_t *len);

/* Calls fn with each consent of subject and its signed records (the
 * revocation record is NULL/0 if not revoked). */
typedef int (*store_consent_record_fn)(const consent_t *c,
                                       const uint8_t *record, size_t len,
                                       const uint8_t *revocation,
                                       size_t revocation_len,
                                       const char *revoked_by, void *arg);
int store_consent_records(store_t *store,
                          const uint8_t subject[CONSENT_SUBJECT_BYTES],
                          store_consent_record_fn fn, void *arg);

/* Up to max consents whose validity ended by now_ms and whose expiry has
 * not been processed; *list malloc'd. */
int store_consents_expired(store_t *store, int64_t now_ms, size_t max,
                           consent_t **list, size_t *n);

/* Marks consent id as recorded before its validity started (pending 1),
 * or its start as processed (0). */
int store_consent_start_pending(store_t *store,
                                const uint8_t id[CONSENT_ID_BYTES], int pending);

/* Up to max consents marked start-pending whose validity started by
 * now_ms (revoked or expired ones too: the caller decides); *list malloc'd. */
int store_consents_started(store_t *store, int64_t now_ms, size_t max,
                           consent_t **list, size_t *n);

/* Marks the expiry of consent id processed. */
int store_consent_mark_expired(store_t *store,
                               const uint8_t id[CONSENT_ID_BYTES]);

/* ---- sections, wraps, mailboxes ------------------------------------------- */

typedef struct {
  int64_t id;
  uint8_t subject[32];
  int kind;
  char author[PARTICIPANT_ID_MAX + 1];
  uint64_t version;
  int64_t created_at_ms;
  const uint8_t *nonce, *ciphertext, *signature;   /* valid during a callback */
  size_t nonce_len, ciphertext_len, signature_len;
  const uint8_t *wrap;                            /* the reader's, or NULL */
  size_t wrap_len;
  uint8_t author_signing_pk[32];                  /* the key that signed it */
  int has_author_key;                             /* 0: its author was gone at upgrade */
  int64_t retain_until_ms;                        /* store_section_put: erase after this
                                                     (schema 6; 0: no date) */
} store_section_t;

/* A notice waiting in a mailbox (payload: a packed keten.Notice). */
typedef struct {
  int64_t id;
  int kind;                                       /* keten.NoticeKind */
  uint8_t subject[32];
  const uint8_t *payload;                         /* valid during a callback */
  size_t payload_len;
  int64_t created_at_ms;
} store_notice_t;

/* One mailbox entry: a section or a notice. */
typedef struct {
  uint64_t seq;
  int sent_before;                                /* handed to a connection already */
  const store_section_t *section;                 /* or NULL */
  const store_notice_t *notice;                   /* or NULL */
} store_mailbox_item_t;

/* The highest stored version of (subject, kind, author), 0 if none. */
int store_section_latest_version(store_t *store, const uint8_t subject[32],
                                 int kind, const char *author,
                                 uint64_t *version);

/* Returns 1 if any section of subject is stored, 0 if none, -1 on error. */
int store_subject_known(store_t *store, const uint8_t subject[32]);

/* Stores a section (its wraps separately); *id gets its row id. */
int store_section_put(store_t *store, const store_section_t *s, int64_t *id);

/* Stores recipient's wrap of section id. */
int store_wrap_put(store_t *store, int64_t section_id, const char *recipient,
                   const uint8_t *wrap, size_t len);

/* Appends section id to recipient's mailbox; *seq gets its sequence. */
int store_mailbox_push(store_t *store, const char *recipient,
                       int64_t section_id, uint64_t *seq);

/* The latest version of each (kind, author) of subject, with reader's wrap
 * of that version when it has one. fn returning non-zero stops. */
typedef int (*store_section_fn)(const store_section_t *s, uint64_t seq,
                                void *arg);
int store_sections_latest(store_t *store, const uint8_t subject[32],
                          const char *reader, store_section_fn fn, void *arg);

/* As store_sections_latest, but only the (kind, author) after (after_kind,
 * after_author) in that order (after_kind 0 and "": from the start): one
 * range scan of the (subject, kind, author, version) index from the
 * cursor, so a page that stops early touches only what it hands over
 * (and the older versions in between). fn returning non-zero stops. */
int store_sections_after(store_t *store, const uint8_t subject[32],
                         const char *reader, int after_kind,
                         const char *after_author, store_section_fn fn,
                         void *arg);

/* Mailbox entries of recipient after seq after_seq, at most max, in seq
 * order, sections each with recipient's wrap. fn returning non-zero stops. */
typedef int (*store_mailbox_fn)(const store_mailbox_item_t *item, void *arg);
int store_mailbox_read(store_t *store, const char *recipient,
                       uint64_t after_seq, size_t max, store_mailbox_fn fn,
                       void *arg);

/* The ciphertext bytes of every stored section (all versions) of author.
 * O(log n): a counter per author kept by triggers on section (schema 5). */
int store_author_bytes(store_t *store, const char *author, uint64_t *bytes);

/* How many section entries whose section's author is author are waiting
 * (not acked) in recipient's mailbox. O(log n): a counter per (recipient,
 * author) kept by triggers on the mailbox (schema 5). */
int store_mailbox_pending_from(store_t *store, const char *recipient,
                               const char *author, uint64_t *count);

/* Marks recipient's entries in (after_seq, up_to_seq] as handed to a
 * connection at now_ms (those not marked before). */
int store_mailbox_mark_sent(store_t *store, const char *recipient,
                            uint64_t after_seq, uint64_t up_to_seq,
                            int64_t now_ms);

/* Unmarks recipient's entries in (after_seq, up_to_seq]: the frame that
 * carried them was not taken by the transport, so their next sending is
 * their delivery (and is audited). */
int store_mailbox_clear_sent(store_t *store, const char *recipient,
                             uint64_t after_seq, uint64_t up_to_seq);

/* Stores notice (kind, subject, payload, created_at_ms) and appends it to
 * recipient's mailbox; *seq gets its sequence. */
int store_notice_push(store_t *store, const char *recipient,
                      const store_notice_t *notice, uint64_t *seq);

/* Acked and newest seq of recipient's mailbox (0, 0 when empty). */
int store_mailbox_state(store_t *store, const char *recipient,
                        uint64_t *acked_seq, uint64_t *head_seq);

/* Drops one entry that can no longer be delivered (its consent or author
 * is gone), and its notice if it is one. */
int store_mailbox_drop(store_t *store, const char *recipient, uint64_t seq);

/* Reads audit entry seq into out. Returns 1 if found, 0 if not, -1 on error. */
int store_audit_get(store_t *store, uint64_t seq, audit_entry_t *out);

/* Drops recipient's entries up to seq (and their notices) and records
 * seq as acked. */
int store_mailbox_ack(store_t *store, const char *recipient, uint64_t seq);

/* Removes recipient's wraps of subject's sections of kind written by
 * author (never the author's own), and its pending deliveries of them.
 * Counts what it removed. */
int store_revoke_access(store_t *store, const char *recipient,
                        const uint8_t subject[32], int kind, const char *author,
                        int64_t *wraps_removed, int64_t *pending_removed);

/* The highest version of subject's (kind, author) sections of which
 * recipient holds a wrap, 0 if none. */
int store_wrap_max_version(store_t *store, const char *recipient,
                           const uint8_t subject[32], int kind,
                           const char *author, uint64_t *version);

/* Calls fn once with section id (with reader's wrap, if any); returns 1
 * if found, 0 if not, -1 on error. */
int store_section_by_id(store_t *store, int64_t id, const char *reader,
                        store_section_fn fn, void *arg);

/* Mailbox entries that are not sections carry a payload in the notice
 * table; its kind says what it is: a keten.NoticeKind (payload: Notice),
 * or one of these. */
#define STORE_ITEM_TVS_EVENT 1001 /* payload: a packed keten.TvsEventCopy */
#define STORE_ITEM_REWRAP 1002    /* payload: a packed keten.RewrapRequest */

/* ---- TVS events and links ----------------------------------------------- */

#define STORE_PERIOD_MAX 7        /* "YYYY-H" */
#define STORE_DATE_MAX 10         /* "YYYY-MM-DD" */

/* Stores a verified TVS event (record: its packed keten.TvsEvent; entry:
 * the packed keten.RegistryEntry of the publisher that signed it).
 * Returns 0 (and *id its row), 1 if event_id is stored already (then
 * *same is 1 if record is byte-identical), -1. */
int store_tvs_event_put(store_t *store, const uint8_t event_id[16], int kind,
                        const char *published_by, const uint8_t *record,
                        size_t record_len, const uint8_t *entry,
                        size_t entry_len, int64_t received_at_ms, int64_t *id,
                        int *same);

/* Whether event_id is stored: 1 (and *same = 1 if its record is
 * byte-identical to record), 0 if not, -1 on error. */
int store_tvs_event_find(store_t *store, const uint8_t event_id[16],
                         const uint8_t *record, size_t record_len, int *same);

/* The packed event and publisher entry of row id (both malloc'd).
 * 1 found, 0 not, -1 on error. */
int store_tvs_event_record(store_t *store, int64_t id, uint8_t **record,
                           size_t *len, uint8_t **entry, size_t *entry_len);

typedef struct {
  uint8_t subject[32];
  char gemeente[PARTICIPANT_ID_MAX + 1];
  char period[STORE_PERIOD_MAX + 1];
  char linked_date[STORE_DATE_MAX + 1];
  uint32_t household_size;
  char housed_date[STORE_DATE_MAX + 1];   /* "" if not housed */
  int64_t koppeling_id;                   /* tvs_event row of the KOPPELING */
  uint8_t koppeling_event_id[16];
  int64_t linked_at_ms;
} store_tvs_link_t;

/* The subject's active link: 1 (into out), 0 if none, -1. */
int store_tvs_link_active(store_t *store, const uint8_t subject[32],
                          store_tvs_link_t *out);

/* Starts a link (the subject must have no active one). */
int store_tvs_link_start(store_t *store, const store_tvs_link_t *link);

/* Ends the subject's active link, by TVS event row ended_by. */
int store_tvs_link_end(store_t *store, const uint8_t subject[32],
                       int64_t ended_by, int64_t at_ms);

/* Records the housing date on the subject's active link. */
int store_tvs_link_housed(store_t *store, const uint8_t subject[32],
                          const char *date);

/* Active links of gemeente (of period, unless NULL), oldest first, at most
 * max; fn returning non-zero stops. */
typedef int (*store_tvs_link_fn)(const store_tvs_link_t *link, void *arg);
int store_tvs_links_of(store_t *store, const char *gemeente,
                       const char *period, size_t max, store_tvs_link_fn fn,
                       void *arg);

/* Links of (gemeente, period): active ones, and housed ones (ended or not). */
int store_tvs_counts(store_t *store, const char *gemeente, const char *period,
                     uint32_t *linked, uint32_t *housed);

/* The latest TAAKSTELLING of (gemeente, period). */
int store_tvs_target_put(store_t *store, const char *gemeente,
                         const char *period, uint32_t target, uint32_t realised,
                         int64_t at_ms);
/* 1 (filled), 0 if none, -1. */
int store_tvs_target_get(store_t *store, const char *gemeente,
                         const char *period, uint32_t *target,
                         uint32_t *realised, int64_t *at_ms);

/* ---- rewrap requests ------------------------------------------------------ */

enum {
  STORE_REWRAP_PENDING = 0,
  STORE_REWRAP_DONE = 1,
  STORE_REWRAP_REFUSED = 2,     /* by the author */
  STORE_REWRAP_CANCELLED = 3,   /* the access ended before it was answered */
  STORE_REWRAP_DENIED = 4       /* answered, but the broker no longer allows it */
};

typedef struct {
  int64_t id;
  int64_t section_id;
  uint8_t subject[32];
  int kind;
  char author[PARTICIPANT_ID_MAX + 1];
  char recipient[PARTICIPANT_ID_MAX + 1];
  int state;
  int64_t created_at_ms;
} store_rewrap_t;

/* Adds a pending request for recipient to get a wrap of section
 * section_id (of subject, kind, author). Returns 0 (*id set), 1 if one is
 * pending already (nothing added), -1. A pending request whose mailbox
 * entry was acked without an answer is cancelled to make room. */
int store_rewrap_add(store_t *store, const store_rewrap_t *r, int64_t *id);

/* Records the seq of request id's entry in its author's mailbox. */
int store_rewrap_queued(store_t *store, int64_t id, uint64_t seq);

/* 1 (into out), 0 if no such request, -1. */
int store_rewrap_get(store_t *store, int64_t id, store_rewrap_t *out);

/* Sets the state of a pending request (-1 if it is not pending). */
int store_rewrap_finish(store_t *store, int64_t id, int state,
                        int64_t at_ms);

/* Cancels the pending requests for recipient of subject's sections
 * (written by author, unless NULL); *n gets how many. */
int store_rewrap_cancel(store_t *store, const uint8_t subject[32],
                        const char *recipient, const char *author,
                        int64_t at_ms, int64_t *n);

/* ---- audit ----------------------------------------------------------------- */

/* Appends e to the chain: sets e->seq, e->prev_hash and e->hash. */
int store_audit_append(store_t *store, audit_entry_t *e);

/* The newest entry's seq and hash (0 and zeros for an empty log). */
int store_audit_head(store_t *store, uint64_t *seq,
                     uint8_t hash[AUDIT_HASH_BYTES]);

/* Calls fn for each entry in seq order; fn returning non-zero stops. */
typedef int (*store_audit_fn)(const audit_entry_t *e, void *arg);
int store_audit_each(store_t *store, store_audit_fn fn, void *arg);

/* Entries about subject in seq order. */
int store_audit_of_subject(store_t *store, const uint8_t subject[32],
                           store_audit_fn fn, void *arg);

/* Stores a signed checkpoint of the chain. */
int store_audit_checkpoint_put(store_t *store, uint64_t seq,
                               const uint8_t head[AUDIT_HASH_BYTES],
                               int64_t at_ms, const uint8_t signature[64]);

typedef int (*store_checkpoint_fn)(uint64_t seq,
                                   const uint8_t head[AUDIT_HASH_BYTES],
                                   int64_t at_ms, const uint8_t signature[64],
                                   void *arg);
int store_audit_checkpoints(store_t *store, store_checkpoint_fn fn, void *arg);

/* ---- the audit log's Merkle tree (schema 6, audit_log.h) ---------------- */

/* Stores (or replaces) the complete node (level, idx) of the tree. On a
 * store of schema 6 and later store_audit_append() does this itself for
 * every node its entry completes, in the same transaction. */
int store_audit_node_put(store_t *store, unsigned level, uint64_t idx,
                         const uint8_t hash[32]);

/* Reads node (level, idx): 1 (into hash), 0 if not stored, -1. */
int store_audit_node_get(store_t *store, unsigned level, uint64_t idx,
                         uint8_t hash[32]);

/* Deletes every stored node (audit_log_rebuild() starts with it). */
int store_audit_nodes_clear(store_t *store);

/* A signed tree head as the table tree_head keeps it (one per size). */
typedef struct {
  uint64_t size;
  uint8_t root[32];
  int64_t timestamp_ms;
  uint8_t broker_key[32];
  uint8_t signature[64];
} store_tree_head_t;

/* Stores h, replacing an older head of the same size. */
int store_tree_head_put(store_t *store, const store_tree_head_t *h);

/* The head of size: 1 (into out), 0 if none, -1. */
int store_tree_head_get(store_t *store, uint64_t size, store_tree_head_t *out);

/* The head of the largest size: 1 (into out), 0 if none, -1. */
int store_tree_head_latest(store_t *store, store_tree_head_t *out);

/* Calls fn for each signed tree head in the table tree_head (schema 6,
 * docs/protocol.md 10.6) in size order; calls nothing on a store without
 * that table. fn returning non-zero stops (0 is returned). */
typedef int (*store_tree_head_fn)(uint64_t size, const uint8_t root[32],
                                  int64_t timestamp_ms,
                                  const uint8_t broker_key[32],
                                  const uint8_t signature[64], void *arg);
int store_audit_tree_heads(store_t *store, store_tree_head_fn fn, void *arg);

/* ---- erasure and retention (schema 6, issue 9; broker/erase.h) ---------- */

/* The sections an erasure touches: subject's sections written by author,
 * of the kinds in the bit set kinds (bit n: kind n; 0 every kind), of
 * version <= up_to_version (0: every version). */
typedef struct {
  const uint8_t *subject;                         /* 32 bytes */
  const char *author;
  uint64_t kinds;
  uint64_t up_to_version;
} store_erase_scope_t;

/* What store_erase_sections() removed (row counts). */
typedef struct {
  int64_t sections, wraps, deliveries, rewraps;
} store_erase_counts_t;

/* Calls fn once per (recipient other than the author, kind) that holds a
 * wrap of a section in scope, with the highest such version, ordered by
 * recipient then kind. fn returning non-zero stops. */
typedef int (*store_erase_target_fn)(const char *recipient, int kind,
                                     uint64_t up_to_version, void *arg);
int store_erase_targets(store_t *store, const store_erase_scope_t *scope,
                        store_erase_target_fn fn, void *arg);

/* Deletes the sections in scope with every wrap of them, their pending
 * mailbox entries and their pending rewrap requests (with the requests'
 * entries in the author's mailbox). The commit that follows truncates the
 * WAL (store_wal_truncate) so that the erased bytes leave the files. */
int store_erase_sections(store_t *store, const store_erase_scope_t *scope,
                         store_erase_counts_t *out);

/* Cancels every pending rewrap request of subject's sections by author
 * (their evidence holds consent records) and drops their mailbox
 * entries; *n gets how many. */
int store_rewrap_drop_of(store_t *store, const uint8_t subject[32],
                         const char *author, int64_t *n);

/* Replaces the signed record of consent id (evidence erased). */
int store_consent_record_set(store_t *store, const uint8_t id[CONSENT_ID_BYTES],
                             const uint8_t *record, size_t len);

/* One applied erasure (the erasure table). */
typedef struct {
  uint8_t erasure_id[16];
  uint8_t subject[32];
  char author[PARTICIPANT_ID_MAX + 1];
  uint64_t kinds;
  int erase_evidence;
  char reason[256];
  int64_t requested_at_ms;
  uint8_t signature[64];
  char applied_by[PARTICIPANT_ID_MAX + 1];
  int64_t applied_at_ms;
} store_erasure_t;

/* 1 (into out, may be NULL) if erasure_id was applied, 0 if not, -1. */
int store_erasure_get(store_t *store, const uint8_t erasure_id[16],
                      store_erasure_t *out);

/* Records an applied erasure; 1 if its id exists already. */
int store_erasure_put(store_t *store, const store_erasure_t *e);

/* A delete notice an erasure applied outside ketend (keten admin) owes:
 * ketend signs and queues it (erase_sweep). */
int store_erasure_notice_add(store_t *store, const uint8_t erasure_id[16],
                             const uint8_t subject[32], const char *recipient,
                             int kind, const char *author,
                             uint64_t up_to_version);

/* Up to max owed notice rows, ordered by (erasure_id, recipient, kind). */
typedef int (*store_erasure_notice_fn)(const uint8_t erasure_id[16],
                                       const uint8_t subject[32],
                                       const char *recipient, int kind,
                                       const char *author,
                                       uint64_t up_to_version, void *arg);
int store_erasure_notices(store_t *store, size_t max,
                          store_erasure_notice_fn fn, void *arg);

/* Forgets the owed notice rows of (erasure_id, recipient): sent. */
int store_erasure_notice_done(store_t *store, const uint8_t erasure_id[16],
                              const char *recipient);

/* Up to max (subject, kind, author) groups with a section version whose
 * retain_until_ms is <= now_ms, each with its highest such version (the
 * oldest dates first). fn returning non-zero stops. */
typedef int (*store_retention_fn)(const uint8_t subject[32], int kind,
                                  const char *author, uint64_t up_to_version,
                                  void *arg);
int store_retention_due(store_t *store, int64_t now_ms, size_t max,
                        store_retention_fn fn, void *arg);

/* Checkpoints the WAL into the database and truncates it to zero bytes
 * (PRAGMA wal_checkpoint(TRUNCATE)); store_commit() does it by itself
 * after a transaction that erased. 0, or -1 when a reader kept it from
 * completing (the next commit after an erasure tries again). */
int store_wal_truncate(store_t *store);

/* ---- operations (keten admin backup and migrate; issue 10) -------------- */

/* Copies store as of one commit into a new file at out: sqlite3_backup in
 * a single step, under one read transaction of the source, so the copy is
 * consistent while ketend keeps writing (WAL). out is created 0600 with
 * O_EXCL|O_NOFOLLOW (an existing file or a symbolic link is refused),
 * left in rollback-journal mode (one self-contained file, no -wal), and
 * fsync'd with its directory. *bytes (may be NULL) gets its size. On
 * failure nothing is left at out. store may be read-only
 * (store_open_readonly). */
int store_backup(store_t *store, const char *out, int64_t *bytes, char *err,
                 size_t errlen);

/* PRAGMA integrity_check: 0 if the file is sound, else -1 with the first
 * problem in err. Works on a read-only store. */
int store_integrity_check(store_t *store, char *err, size_t errlen);

#define STORE_MIGRATION_MAX_TABLES 48

/* What one migration did (store_migrate_each). */
typedef struct {
  int version;              /* the schema it brought the store to */
  const char *summary;      /* what it is for */
  int64_t rows_changed;     /* rows inserted, updated or deleted, triggers too */
  uint64_t audit_before;    /* audit entries before it (0: no audit table) */
  uint64_t audit_after;     /* ... and after: it appended seqs
                               audit_before+1..audit_after */
  size_t n_tables;
  struct {
    char name[64];
    int64_t before, after;  /* rows; -1: the table did not exist */
  } tables[STORE_MIGRATION_MAX_TABLES];
} store_migration_report_t;

/* Called after each migration with the store at r->version (for reading
 * the audit entries it appended with store_audit_get); non-zero stops. */
typedef int (*store_migration_fn)(const store_migration_report_t *r,
                                  store_t *store, void *arg);

/* Brings the existing store at path up to the newest schema one migration
 * at a time (each in its own transaction, as store_open does), calling fn
 * after each. *from (may be NULL) gets the version it was at. A store
 * newer than this build is refused. */
int store_migrate_each(const char *path, int *from, store_migration_fn fn,
                       void *arg, char *err, size_t errlen);

/* The last error message of the store (for logs). */
const char *store_error(store_t *store);

#endif
