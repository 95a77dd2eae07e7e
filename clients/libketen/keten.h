/* keten.h — the keten client library (libketen).
 *
 * A partner organisation uses libketen to talk to ketend, the keten broker:
 * load its keys, connect over CurveZMQ, and send requests that each get
 * exactly one reply. docs/libketen.md is the integrator's guide;
 * examples/ has a minimal consumer and producer.
 *
 * Conventions that hold for every function below unless its comment says
 * otherwise:
 *  - Threads: the library holds no global state. A keten_client_t is used
 *    by one thread at a time (no locking inside; different clients in
 *    different threads are fine). Callbacks run in the calling thread,
 *    inside the call that triggers them, and must not call back into the
 *    same client unless their comment allows it.
 *  - Errors: functions return keten_err_t (KETEN_OK = 0);
 *    KETEN_ERR_INVALID for NULL or out-of-range arguments. A client's
 *    requests can return KETEN_ERR_TRANSPORT, _AUTH (the broker refused
 *    our key at the handshake), _TIMEOUT (after all retries), _PROTOCOL,
 *    _REMOTE (the broker's ERROR: keten_client_remote_code()) and
 *    _NOMEM besides what their comment names. keten_strerror() names a
 *    value; keten_client_error() gives the detail of the client's last
 *    call.
 *  - Ownership: what the caller passes in is only read during the call
 *    (keten_client_new() copies what it keeps). What the library hands
 *    out to keep is freed with the function its comment names. Pointers
 *    passed to a callback (a section and its plaintext, a notice, an
 *    event, a detail string) are valid only during that call: copy what
 *    you keep.
 *  - Keys: your own key file (keten keygen) is loaded with
 *    keten_keys_load(); the broker's public key file broker.pub with
 *    keten_keys_load() too (has_secret 0): its transport_pk is
 *    keten_client_config_t.broker_key and its signing_pk is
 *    broker_signing_key. The chain root's root.pub: keten_root_key_load().
 */
#ifndef KETEN_H
#define KETEN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this header. keten_version_number() gives the version of
 * the library that is loaded at run time; a program built against one
 * header works with any library of the same SOVERSION (the soname
 * libketen.so.N), and with a newer minor version of it. */
#define KETEN_VERSION_MAJOR 0
#define KETEN_VERSION_MINOR 5
#define KETEN_VERSION_PATCH 0
#define KETEN_VERSION_STRING "0.5.0"
#define KETEN_VERSION_NUMBER \
  ((KETEN_VERSION_MAJOR * 10000) + (KETEN_VERSION_MINOR * 100) + KETEN_VERSION_PATCH)

#define KETEN_KEY_BYTES 32          /* every public key, and X25519 secrets */
#define KETEN_SIGN_SECRET_BYTES 64  /* Ed25519 secret key (seed || public) */
#define KETEN_ID_MAX 64             /* participant id, without the NUL */

typedef enum {
  KETEN_OK = 0,
  KETEN_ERR_INVALID,   /* bad argument or configuration */
  KETEN_ERR_IO,        /* a file could not be read or written */
  KETEN_ERR_FORMAT,    /* a key file is malformed */
  KETEN_ERR_PERMISSIONS, /* a secret key file is readable by group or others */
  KETEN_ERR_NOMEM,     /* out of memory */
  KETEN_ERR_TRANSPORT, /* ZeroMQ failed to create or use the socket */
  KETEN_ERR_AUTH,      /* the broker refused our transport key at the handshake */
  KETEN_ERR_TIMEOUT,   /* no reply within the timeout, after all retries */
  KETEN_ERR_PROTOCOL,  /* the broker sent something this library cannot accept */
  KETEN_ERR_REMOTE,    /* the broker replied with an ERROR; see keten_client_remote_code() */
  KETEN_ERR_CRYPTO,    /* a signature, wrap or ciphertext did not verify: tampered or not for us */
  KETEN_ERR_EVIDENCE,  /* the broker's evidence does not hold: a registry entry not signed by
                          the pinned root, a consent we did not sign, or a disclosure the
                          policy forbids (keten_client_error() names which) */
  /* Added in issue 8 (appended: the values above are unchanged). */
  KETEN_ERR_PARTIAL,   /* keten_client_fetch(): some sections opened, others did not; the
                          ones that opened are handed over (keten_client_fetch_all() names
                          each failure) */
  KETEN_ERR_DISPLACED, /* the subscription was taken over by a newer SUBSCRIBE with our key
                          (another listener); libketen does not subscribe again by itself */
  KETEN_ERR_REMOVED,   /* the subscription ended because our key left the registry or its
                          entry ended; libketen does not subscribe again by itself */
  /* Added in issue 9. */
  KETEN_ERR_LOG_INCONSISTENT, /* the broker's audit log is not an extension of the one we
                          witnessed (a signed tree head that does not verify, a shorter
                          or different log, a proof that fails); the stored head is
                          kept (keten_client_error() names which) */
  /* Added in issue 11. */
  KETEN_ERR_SCHEMA     /* a section plaintext does not conform to the JSON schema of its
                          kind (docs/sections.md 3; keten_client_error() or the why
                          buffer gives the JSON pointer and the rule) */
} keten_err_t;

/* Returns a static, human-readable name for err. */
const char *keten_strerror(keten_err_t err);

/* ---- keys -------------------------------------------------------------- */

/* A participant's three key pairs (design: transport, signing, sealing). */
typedef struct {
  char id[KETEN_ID_MAX + 1];                 /* label, e.g. "coa"; may be "" */
  uint8_t transport_pk[KETEN_KEY_BYTES];     /* CurveZMQ */
  uint8_t transport_sk[KETEN_KEY_BYTES];
  uint8_t signing_pk[KETEN_KEY_BYTES];       /* Ed25519 */
  uint8_t signing_sk[KETEN_SIGN_SECRET_BYTES];
  uint8_t sealing_pk[KETEN_KEY_BYTES];       /* X25519 crypto_box */
  uint8_t sealing_sk[KETEN_KEY_BYTES];
  int has_secret;                            /* 0 when loaded from a .pub file */
} keten_keys_t;

/* Fills keys with three fresh key pairs, labelled id (may be NULL). */
keten_err_t keten_keys_generate(keten_keys_t *keys, const char *id);

/* Writes the secret key file (mode 0600, created exclusively unless
 * overwrite) and the public key file (mode 0644). Either path may be NULL. */
keten_err_t keten_keys_save(const keten_keys_t *keys, const char *secret_path,
                            const char *public_path, int overwrite);

/* Loads a key file. A secret file fills every field and has_secret = 1;
 * a public file fills the public keys and has_secret = 0. A secret file
 * readable by group or others is refused (KETEN_ERR_PERMISSIONS). */
keten_err_t keten_keys_load(const char *path, keten_keys_t *keys);

/* Overwrites the secret halves of keys with zeros. */
void keten_keys_wipe(keten_keys_t *keys);

/* ---- the chain root -------------------------------------------------------- */

#define KETEN_ROOT_SECRET_BYTES 64

/* The chain root's Ed25519 key pair. The beheerder of the
 * ketensamenwerking keeps the secret offline and signs registry entries
 * with it; every broker and client pins the public key. */
typedef struct {
  uint8_t public_key[KETEN_KEY_BYTES];
  uint8_t secret_key[KETEN_ROOT_SECRET_BYTES];
  int has_secret;                /* 0 when loaded from a public file */
} keten_root_key_t;

/* Fills root with a fresh key pair. */
keten_err_t keten_root_key_generate(keten_root_key_t *root);

/* Writes the secret file (0600, exclusive unless overwrite) and/or the
 * public file (0644); either path may be NULL. */
keten_err_t keten_root_key_save(const keten_root_key_t *root,
                                const char *secret_path,
                                const char *public_path, int overwrite);

/* Loads a root key file (public or secret); a secret file readable by
 * group or others is refused (KETEN_ERR_PERMISSIONS). */
keten_err_t keten_root_key_load(const char *path, keten_root_key_t *root);

/* Overwrites the secret half with zeros. */
void keten_root_key_wipe(keten_root_key_t *root);

/* ---- client -------------------------------------------------------------- */

typedef struct keten_client keten_client_t;

typedef struct {
  const char *endpoint;          /* e.g. "tcp://127.0.0.1:7600", "ipc:///run/keten/ketend.sock" */
  const keten_keys_t *keys;      /* the caller's keys; must hold the secrets; copied */
  const uint8_t *broker_key;     /* broker's transport public key, 32 bytes; copied.
                                    From broker.pub: keten_keys_load() then
                                    .transport_pk */
  const uint8_t *root_key;       /* the chain root's public key, 32 bytes; required; copied.
                                    Every registry entry the broker hands over is checked
                                    against it. */
  const keten_keys_t *previous_keys; /* our keys before a rotation (secrets), so that
                                    sections sealed to them still open and consents
                                    signed with them still count; may be NULL; copied */
  size_t n_previous_keys;        /* at most 8 */
  int timeout_ms;                /* per attempt; 0 means 5000 */
  int retries;                   /* further attempts after a timeout; <0 means 0, 0 means default 2 */
  int reconnect_ivl_ms;          /* first reconnect delay; 0 means 100 */
  int reconnect_ivl_max_ms;      /* back-off ceiling; 0 means 5000 */
  int heartbeat_ivl_ms;          /* ZMTP heartbeat interval; 0 means 5000 */
  const uint8_t *broker_signing_key; /* the broker's Ed25519 public key (the signing key
                                    of broker.pub), 32 bytes; copied. Verifies the
                                    broker's delete notices; NULL: every delete notice
                                    is reported as KETEN_ERR_EVIDENCE */
  /* Added in issue 9: witnessing the broker's audit log (docs/protocol.md 10.6). */
  const char *witness_file;      /* where the newest signed tree head this partner
                                    verified is kept (one JSON line, replaced
                                    atomically, 0600); NULL: no witnessing. Needs a
                                    broker signing key (above or below). Copied. */
  const uint8_t *broker_signing_keys; /* earlier signing keys of the broker (key
                                    history), n_broker_signing_keys * 32 bytes; a tree
                                    head signed by any of these or by
                                    broker_signing_key verifies. May be NULL; copied */
  size_t n_broker_signing_keys;  /* at most 8 */
} keten_client_config_t;

/* Creates a client for cfg. Connection happens in the background; the
 * first request waits for it. No HELLO is needed before any request:
 * the requests that need to know who we are (keten_client_subscribe(),
 * put, consent) ask the broker once by themselves. cfg and what it points
 * to may be freed once this returns (all of it is copied). Returns NULL
 * and writes a reason into err (errlen bytes) on failure (bad
 * configuration, no socket). Destroy with keten_client_destroy(). */
keten_client_t *keten_client_new(const keten_client_config_t *cfg, char *err,
                                 size_t errlen);

/* Closes the connection, wipes the copied secrets and frees the client;
 * sets *client to NULL. NULL and *client == NULL are ignored. */
void keten_client_destroy(keten_client_t **client);

/* The broker's answer to HELLO: who it believes we are. */
typedef struct {
  char broker_version[33];
  uint32_t protocol_version;
  char participant_id[KETEN_ID_MAX + 1];
  int role;                      /* keten.Role number, see keten_role_name() */
  char display_name[129];
  uint32_t max_frame_bytes;
  uint64_t server_time_ms;
} keten_welcome_t;

/* Sends HELLO and fills welcome from the broker's WELCOME. When the
 * client knows a broker signing key, the WELCOME's signed tree head is
 * checked too: one that verifies is remembered (keten_client_tree_head);
 * without a witness_file one that does not is only not remembered. With a
 * witness_file the head is witnessed (keten_client_witness() explains):
 * KETEN_ERR_LOG_INCONSISTENT (welcome still filled) when it does not
 * verify, when the broker's log is not an extension of the one witnessed
 * before, or when the WELCOME carries no signed head at all. */
keten_err_t keten_client_hello(keten_client_t *client, keten_welcome_t *welcome);

/* Sends PING with len bytes of payload and waits for the PONG carrying
 * the same payload; *rtt_us (may be NULL) receives the round-trip time. */
keten_err_t keten_client_ping(keten_client_t *client, const void *payload,
                              size_t len, int64_t *rtt_us);

/* The detail of the last failure of client: a reason text that is never
 * NULL (empty when the last call succeeded). */
const char *keten_client_error(const keten_client_t *client);

/* The keten.ErrorCode of the last KETEN_ERR_REMOTE, or 0. */
int keten_client_remote_code(const keten_client_t *client);

/* ---- subjects ------------------------------------------------------------ */

#define KETEN_SUBJECT_BYTES 32
#define KETEN_CHAIN_KEY_BYTES 32
#define KETEN_CONSENT_ID_BYTES 16

/* Draws a new chain key: the secret the chain's participants share (and
 * the broker never has) to derive subject pseudonyms. */
keten_err_t keten_chain_key_generate(uint8_t key[KETEN_CHAIN_KEY_BYTES]);

/* Writes the chain key file (mode 0600; "keten-chain-key 1" and hex). */
keten_err_t keten_chain_key_save(const uint8_t key[KETEN_CHAIN_KEY_BYTES],
                                 const char *path, int overwrite);

/* Reads a chain key file; refuses one readable by group or others. */
keten_err_t keten_chain_key_load(const char *path,
                                 uint8_t key[KETEN_CHAIN_KEY_BYTES]);

/* Derives the subject pseudonym of a V-nummer: keyed BLAKE2b-256 with the
 * chain key over the canonical string of the V-nummer (docs/protocol.md).
 * Spaces, dots and dashes are ignored; what remains must be 10 digits,
 * else KETEN_ERR_INVALID. The V-nummer itself never leaves the caller. */
keten_err_t keten_subject_id(const uint8_t chain_key[KETEN_CHAIN_KEY_BYTES],
                             const char *v_nummer,
                             uint8_t subject[KETEN_SUBJECT_BYTES]);

/* ---- sections --------------------------------------------------------------- */

/* Section kinds, purposes and bases are the numbers of keten.proto's
 * SectionKind, Purpose and Basis; these name them ("HEALTH", "ZORG",
 * "LEGAL_DUTY") and back (case-insensitive; 0 if unknown). */
const char *keten_section_kind_name(int kind);
int keten_section_kind_from_name(const char *name);
const char *keten_purpose_name(int purpose);
int keten_purpose_from_name(const char *name);
const char *keten_basis_name(int basis);
int keten_basis_from_name(const char *name);

/* What a section's ciphertext is bound to. */
typedef struct {
  uint8_t subject[KETEN_SUBJECT_BYTES];
  int kind;
  char author[KETEN_ID_MAX + 1];
  uint64_t version;
  uint64_t created_at_ms;
} keten_section_header_t;

/* An opened (verified and decrypted) section. */
typedef struct {
  keten_section_header_t header;
  char *json;                    /* plaintext, NUL-terminated; owned */
  size_t json_len;
} keten_section_t;

/* Frees n sections returned by the library and their plaintexts (wiped). */
void keten_sections_free(keten_section_t *sections, size_t n);

/* The outcome of a put. */
typedef struct {
  uint64_t version;              /* the version stored */
  size_t n_queued;               /* recipients the section was queued for */
  char queued[16][KETEN_ID_MAX + 1];  /* the first 16 of them */
} keten_put_result_t;

/* Seals json (len bytes, a JSON document) as a new version of section kind
 * of subject, to ourselves and to the recipients our own consents allow,
 * and stores it (PUT). PREPARE gives the candidates with their evidence;
 * each must hold: a registry entry signed by the pinned root and valid
 * now, at least one consent signed by us that is active now and covers
 * subject, kind and that participant, and a policy that allows the kind
 * to its role for that purpose. If any candidate fails, nothing is sealed
 * and KETEN_ERR_EVIDENCE names why (a broker that lies is not trusted with
 * the rest). Returns only once the broker replied that it is durable.
 * First of all json is checked against the kind's schema
 * (keten_section_validate()): KETEN_ERR_SCHEMA, nothing sent, with the
 * JSON pointer and the rule in keten_client_error(). */
keten_err_t keten_client_put(keten_client_t *client,
                             const uint8_t subject[KETEN_SUBJECT_BYTES],
                             int kind, const char *json, size_t len,
                             keten_put_result_t *result);

/* As keten_client_put(), with the date (ms since the epoch) after which
 * the broker erases this version (retention, docs/sections.md): after now
 * and at most 30 years ahead, else the broker answers ERROR_INVALID_FIELD
 * (KETEN_ERR_REMOTE); 0 asks for the kind's default retention, which is
 * what keten_client_put() does. When the date passes, the broker erases
 * this version and the older ones of (subject, kind, us) and sends every
 * recipient a delete notice (reason KETEN_NOTICE_REASON_ERASED). */
keten_err_t keten_client_put_retained(keten_client_t *client,
                                      const uint8_t subject[KETEN_SUBJECT_BYTES],
                                      int kind, const char *json, size_t len,
                                      uint64_t retain_until_ms,
                                      keten_put_result_t *result);

/* The most sections one fetch accepts (over all its pages); a broker
 * that offers more gets KETEN_ERR_PROTOCOL. Every subject has at most one
 * latest section per (kind, author). */
#define KETEN_FETCH_MAX_SECTIONS 4096

/* One section of a fetch that could not be opened, or that opened but
 * does not conform to its kind's schema (status KETEN_ERR_SCHEMA). kind,
 * author and version are what the section's header says (unverified: the
 * failure may be that the header is not the author's); bytes of author
 * other than printable ASCII are given as '?', and 0 / "" when the copy
 * has no header. */
typedef struct {
  int kind;
  char author[KETEN_ID_MAX + 1];
  uint64_t version;
  keten_err_t status;            /* KETEN_ERR_CRYPTO: a wrap that does not open with
                                    any of our keys (sealed to a key we no longer
                                    give, or junk), a signature or ciphertext that
                                    does not verify; KETEN_ERR_EVIDENCE: the
                                    author's entry does not hold; KETEN_ERR_PROTOCOL:
                                    a malformed copy, another subject, plaintext
                                    that is not UTF-8 text; KETEN_ERR_SCHEMA
                                    (issue 11): it opened and verified, but its
                                    plaintext does not conform to the schema of
                                    its kind (docs/sections.md 3): reason gives
                                    the JSON pointer and the rule, section the
                                    opened section */
  char reason[256];              /* why, NUL-terminated, printable */
  keten_section_t *section;      /* KETEN_ERR_SCHEMA: the opened section (to take
                                    up with its author, never to use as if it
                                    conformed); else NULL. Owned by the result:
                                    keten_fetch_result_free() frees it */
} keten_fetch_failure_t;

/* Everything one fetch found, in the broker's (kind, author) order. The
 * library allocates both arrays; free them with keten_fetch_result_free(). */
typedef struct {
  keten_section_t *sections;     /* opened (verified and decrypted) */
  size_t n_sections;
  keten_fetch_failure_t *failures; /* each one that could not be opened */
  size_t n_failures;
  size_t pages;                  /* FETCH requests it took (FetchReply.more) */
} keten_fetch_result_t;

/* Fetches every section of subject the caller may read (latest version
 * per kind and author), page after page (docs/protocol.md 7.3) until the
 * broker says there is no more, and opens each one by itself: checks its
 * author's root-signed registry entry (and that its role may write that
 * kind), verifies the author's signature and opens it with our current or
 * a previous key. A section that fails is a failure in result, never the
 * end of the fetch: one bad section does not hide the others. Returns
 * KETEN_OK when every page came (result then holds what opened and what
 * did not; both may be empty), else the request's error (KETEN_ERR_REMOTE:
 * ERROR_FORBIDDEN when nothing may be disclosed, ERROR_NOT_FOUND; or
 * TIMEOUT, PROTOCOL: pages out of order or more than
 * KETEN_FETCH_MAX_SECTIONS) with result empty. result is filled on every
 * return; free it with keten_fetch_result_free() (also after an error). */
keten_err_t keten_client_fetch_all(keten_client_t *client,
                                   const uint8_t subject[KETEN_SUBJECT_BYTES],
                                   keten_fetch_result_t *result);

/* Frees what keten_client_fetch_all() put in result (plaintexts wiped)
 * and zeroes it; NULL is ignored. */
void keten_fetch_result_free(keten_fetch_result_t *result);

/* keten_client_fetch_all() with only the sections that opened.
 * *sections (free with keten_sections_free, whatever is returned) gets *n
 * entries. When every section opened: KETEN_OK. When some opened and
 * some did not: KETEN_ERR_PARTIAL, with the ones that opened handed over
 * and keten_client_error() naming the first failure and the count. When
 * none opened: the first failure's status (its reason in
 * keten_client_error()) and nothing handed over. Since issue 8 it pages
 * and no longer fails all for one bad section (it returned that
 * section's error with nothing before). */
keten_err_t keten_client_fetch(keten_client_t *client,
                               const uint8_t subject[KETEN_SUBJECT_BYTES],
                               keten_section_t **sections, size_t *n);

/* ---- consent ------------------------------------------------------------------ */

typedef struct {
  uint8_t consent_id[KETEN_CONSENT_ID_BYTES];
  uint8_t subject[KETEN_SUBJECT_BYTES];
  char recorded_by[KETEN_ID_MAX + 1];
  char recipient[KETEN_ID_MAX + 1];
  uint64_t sections;             /* bit set: bit n is section kind n */
  int purpose;
  int basis;
  char legal_reference[257];     /* required for basis LEGAL_DUTY */
  char evidence_ref[257];
  uint64_t valid_from_ms;
  uint64_t valid_until_ms;
  uint64_t recorded_at_ms;
  /* filled by keten_client_consent_list() */
  int revoked;
  uint64_t revoked_at_ms;
  char revoked_by[KETEN_ID_MAX + 1];
} keten_consent_t;

/* Records consent: fills consent_id (random), recorded_by (us) and
 * recorded_at_ms (now), signs it with our signing key and sends it. */
keten_err_t keten_client_consent_grant(keten_client_t *client,
                                       keten_consent_t *consent);

/* Records the revocation of a consent, signed by us. The broker accepts it
 * from the consent's recorder, its recipient (renouncing), or a COA
 * participant (the person's counter), which must give evidence_ref (the
 * person's signed request); evidence_ref may be NULL otherwise. */
keten_err_t keten_client_consent_revoke(keten_client_t *client,
                                        const uint8_t consent_id[KETEN_CONSENT_ID_BYTES],
                                        const uint8_t subject[KETEN_SUBJECT_BYTES],
                                        const char *reason,
                                        const char *evidence_ref);

/* Lists the consents of subject that we recorded or receive.
 * *list (free with free()) gets *n entries. */
keten_err_t keten_client_consent_list(keten_client_t *client,
                                      const uint8_t subject[KETEN_SUBJECT_BYTES],
                                      keten_consent_t **list, size_t *n);

/* ---- deliveries --------------------------------------------------------------- */

/* Called for each delivery, in seq order. section is NULL when the
 * delivery could not be opened (status says why; it is acked and skipped
 * so that one bad section cannot block the mailbox). A section that opened
 * and verified but does not conform to the schema of its kind
 * (docs/sections.md 3, keten_section_validate()) comes with section set
 * and status KETEN_ERR_SCHEMA (keten_client_error() gives the JSON pointer
 * and the rule): quarantine it and take it up with its author, never use
 * it as if it conformed; returning 0 acks it. status is KETEN_OK for every
 * section that conforms. Return 0 once the
 * section is safely stored; non-zero stops: it and later ones are not
 * acked and come again. Duplicates (same subject, kind, author, version)
 * already handed over by this client are not passed again. */
typedef int (*keten_delivery_fn)(const keten_section_t *section, uint64_t seq,
                                 keten_err_t status, void *arg);

/* Notices in our mailbox. */
enum {
  KETEN_NOTICE_CONSENT_REVOKED = 1, /* a consent we recorded was revoked by someone else */
  KETEN_NOTICE_DELETE = 2           /* delete our copies of the items (signed by the broker) */
};

/* Why a KETEN_NOTICE_DELETE came (keten.NoticeReason). */
enum {
  KETEN_NOTICE_REASON_REVOKED = 1,    /* the consent that allowed it was revoked */
  KETEN_NOTICE_REASON_EXPIRED = 2,    /* the consent that allowed it expired */
  KETEN_NOTICE_REASON_ONTKOPPELD = 3, /* the subject is no longer linked to us (TVS) */
  KETEN_NOTICE_REASON_ERASED = 4      /* the author erased it */
};

#define KETEN_NOTICE_MAX_ITEMS 64

/* One thing a delete notice names: every version up to and including
 * up_to_version of (subject, kind, author). */
typedef struct {
  int kind;
  char author[KETEN_ID_MAX + 1];
  uint64_t up_to_version;
} keten_notice_item_t;

typedef struct {
  int kind;                                 /* KETEN_NOTICE_* */
  uint8_t subject[KETEN_SUBJECT_BYTES];
  uint8_t consent_id[KETEN_CONSENT_ID_BYTES]; /* zeros when has_consent_id is 0 */
  /* KETEN_NOTICE_CONSENT_REVOKED */
  char revoked_by[KETEN_ID_MAX + 1];        /* who signed the revocation */
  int revoked_by_role;                      /* its role (from its root-signed entry) */
  uint64_t revoked_at_ms;
  char reason[257];
  char evidence_ref[257];
  uint64_t created_at_ms;                   /* when the broker queued it */
  /* KETEN_NOTICE_DELETE */
  int has_consent_id;
  int delete_reason;                        /* KETEN_NOTICE_REASON_* */
  uint8_t tvs_event_id[16];                 /* the ONTKOPPELING/VERHUIZING, if has_tvs_event_id */
  int has_tvs_event_id;
  uint8_t notice_id[16];                    /* the broker's id of this notice */
  size_t n_items;
  keten_notice_item_t items[KETEN_NOTICE_MAX_ITEMS];
} keten_notice_t;

/* Called for each notice, in seq order with the deliveries. notice is
 * NULL when it did not verify (status says why; return 0 to ack and skip
 * it). Return 0 once handled; non-zero stops, and it comes again. Set
 * with keten_client_on_notice(); without a handler every notice is acked
 * as it arrives (the broker's audit log keeps the record). The notice
 * lives only during the call. */
typedef int (*keten_notice_fn)(const keten_notice_t *notice, uint64_t seq,
                               keten_err_t status, void *arg);

/* Sets (or with fn NULL clears) the notice handler of client. */
void keten_client_on_notice(keten_client_t *client, keten_notice_fn fn,
                            void *arg);

/* Starts delivery of our mailbox on this connection with a window of
 * credit deliveries (1..1024); resumes after the last acked seq. Also
 * takes a subscription back after KETEN_ERR_DISPLACED or
 * KETEN_ERR_REMOVED (the application decides; libketen never does). On a
 * transient failure (keten_client_transient() is 1: a timeout,
 * ERROR_INTERNAL, ERROR_DISK_FULL or an unknown code) the error is
 * returned, the subscription stays wanted and keten_client_poll() tries
 * again after a back-off; on any other error it is dropped. */
keten_err_t keten_client_subscribe(keten_client_t *client, uint32_t credit);

/* Waits up to timeout_ms for deliveries, hands each to fn (notices, TVS
 * events and rewraps to their handlers; rewrap requests are answered
 * here), and acks cumulatively up to the last one accepted. *handled (may
 * be NULL) gets the number the application accepted. Returns KETEN_OK also
 * when none came. With timeout_ms 0 it takes what is there now and
 * returns (for an event loop: keten_client_fd()). fn must not call
 * keten_client_poll() or keten_client_destroy() of this client.
 *
 * Without keten_client_subscribe() first (a producer watching the
 * connection state, keten_client_on_state()) poll is no error and fn may
 * be NULL: it waits up to timeout_ms taking the socket monitor's events
 * (calling the state handler) and late replies, hands over nothing,
 * re-arms keten_client_fd() and returns KETEN_OK (KETEN_ERR_AUTH when
 * the broker refused our key meanwhile). Once subscribed fn is required
 * (NULL: KETEN_ERR_INVALID).
 *
 * While disconnected (the broker stopped, the network is down) poll waits
 * out its timeout and returns KETEN_OK: libzmq reconnects in the
 * background (reconnect_ivl_ms doubling to reconnect_ivl_max_ms) and,
 * once the handshake succeeds, poll subscribes again by itself and
 * deliveries resume after the last acked seq (nothing is lost: what was
 * not acked comes again). keten_client_on_state() tells of the loss and
 * the return. When the broker refuses our key at the handshake poll
 * returns KETEN_ERR_AUTH and tries again no sooner than
 * reconnect_ivl_max_ms later (waiting, then KETEN_OK, meanwhile); a
 * request in that time fails at once with KETEN_ERR_AUTH (no new
 * handshake), one after it makes a new handshake.
 *
 * (Re)subscribing: after a reconnection, and after the broker ended the
 * subscription as STALLED, it sends SUBSCRIBE again by itself. A
 * SUBSCRIBE that fails transiently is tried again with exponential
 * back-off with jitter (100 ms doubling to 30 s, at least the broker's
 * retry_after_ms; reset once one succeeds), and poll returns KETEN_OK
 * meanwhile; each retry is told to the subscription handler. A STALLED
 * subscription is taken again after a back-off of its own (100 ms doubling
 * per stall to 30 s, reset once a delivery is acked). When the broker
 * ends the subscription as DISPLACED or REMOVED, poll returns
 * KETEN_ERR_DISPLACED or KETEN_ERR_REMOVED, and keeps returning it
 * (handing over nothing more) until keten_client_subscribe() is called
 * again: two consumers of one key would otherwise take the subscription
 * from each other for ever. Meanwhile poll takes what is ready now (the
 * monitor's events, late replies; a DELIVER is dropped unacked, so it
 * comes again after subscribing), waits for nothing (timeout_ms counts as
 * 0) and re-arms the descriptor, so an event loop does not spin. */
keten_err_t keten_client_poll(keten_client_t *client, int timeout_ms,
                              keten_delivery_fn fn, void *arg,
                              size_t *handled);

/* 1 when err, the result of the client's last call, is one libketen
 * treats as transient and retries (a SUBSCRIBE): KETEN_ERR_TIMEOUT, or
 * KETEN_ERR_REMOTE with ERROR_INTERNAL, ERROR_DISK_FULL or a code this
 * library does not know; else 0. */
int keten_client_transient(const keten_client_t *client, keten_err_t err);

/* What happened to our subscription (keten_subscription_event_t.event). */
enum {
  KETEN_SUBSCRIPTION_DISPLACED = 1, /* SubscriptionEnded DISPLACED: poll returns
                                       KETEN_ERR_DISPLACED */
  KETEN_SUBSCRIPTION_REMOVED = 2,   /* SubscriptionEnded REMOVED: poll returns
                                       KETEN_ERR_REMOVED */
  KETEN_SUBSCRIPTION_STALLED = 3,   /* SubscriptionEnded STALLED: subscribed again
                                       after delay_ms */
  KETEN_SUBSCRIPTION_RETRY = 4      /* a (re)SUBSCRIBE failed transiently (status,
                                       remote_code, detail); tried again after
                                       delay_ms */
};

typedef struct {
  int event;                     /* KETEN_SUBSCRIPTION_* */
  const char *detail;            /* the broker's detail (printable) or the error
                                    text; never NULL; valid during the call */
  keten_err_t status;            /* RETRY: the failure */
  int remote_code;               /* RETRY: its keten.ErrorCode, or 0 */
  uint32_t delay_ms;             /* STALLED, RETRY: when the next SUBSCRIBE goes */
} keten_subscription_event_t;

/* Called from keten_client_poll() (and keten_client_subscribe()) for each
 * event of our subscription, once per back-off step. Must not call back
 * into the client. */
typedef void (*keten_subscription_fn)(const keten_subscription_event_t *ev,
                                      void *arg);

/* Sets (or with fn NULL clears) the subscription handler of client. */
void keten_client_on_subscription(keten_client_t *client,
                                  keten_subscription_fn fn, void *arg);

/* ---- rewraps ------------------------------------------------------------------ */

/* When a recipient becomes allowed after one of our sections was stored
 * (a later consent of ours, a KOPPELING of the subject to a gemeente that
 * a consent of ours names as "@gemeente"), the broker puts a rewrap
 * request in our mailbox. keten_client_poll() serves it by itself: it
 * opens our own wrap of the section, checks the evidence exactly as for
 * a put (root-signed entry, our own active consent, policy, and for
 * "@gemeente" the TVS-signed KOPPELING from a root-signed TVS entry),
 * seals the data key to the recipient and answers; or refuses (answered
 * too, so the broker audits it). The handler, if set, is told of each. */
typedef struct {
  uint8_t subject[KETEN_SUBJECT_BYTES];
  int kind;
  uint64_t version;
  char recipient[KETEN_ID_MAX + 1];
  int sealed;                    /* 1: sealed to recipient; 0: refused */
  char refusal[257];             /* why, when refused */
} keten_rewrap_t;

typedef void (*keten_rewrap_fn)(const keten_rewrap_t *rewrap, uint64_t seq,
                                void *arg);

/* Sets (or with fn NULL clears) the rewrap handler of client. */
void keten_client_on_rewrap(keten_client_t *client, keten_rewrap_fn fn,
                            void *arg);

/* ---- the TVS feed -------------------------------------------------------------- */

/* TVS event kinds (keten.TvsEventKind) and ontkoppel reasons. */
enum {
  KETEN_TVS_KOPPELING = 1,
  KETEN_TVS_ONTKOPPELING = 2,
  KETEN_TVS_HUISVESTING = 3,
  KETEN_TVS_VERHUIZING = 4,
  KETEN_TVS_TAAKSTELLING = 5
};
enum {
  KETEN_ONTKOPPEL_HOUSING_ELSEWHERE = 1,
  KETEN_ONTKOPPEL_MOVED = 2,
  KETEN_ONTKOPPEL_PERMIT_WITHDRAWN = 3,
  KETEN_ONTKOPPEL_ERROR = 4,
  KETEN_ONTKOPPEL_OTHER = 5
};

/* Names of kinds ("KOPPELING") and reasons ("MOVED"), NULL if unknown;
 * and back (case-insensitive, with or without the "TVS_"/"ONTKOPPEL_"
 * prefix; 0 if unknown). */
const char *keten_tvs_kind_name(int kind);
int keten_tvs_kind_from_name(const char *name);
const char *keten_tvs_reason_name(int reason);
int keten_tvs_reason_from_name(const char *name);

/* The consent recipient that names "the gemeente the subject is linked
 * to" (keten_consent_t.recipient). */
#define KETEN_LINKED_GEMEENTE "@gemeente"

/* A TVS event. Which fields each kind carries: docs/protocol.md. */
typedef struct {
  uint8_t event_id[16];          /* publish: filled (random) */
  int kind;                      /* KETEN_TVS_* */
  uint8_t subject[KETEN_SUBJECT_BYTES]; /* all but TAAKSTELLING */
  char gemeente[KETEN_ID_MAX + 1];      /* VERHUIZING: the new gemeente */
  char from_gemeente[KETEN_ID_MAX + 1]; /* VERHUIZING */
  char period[8];                /* "2026-2": KOPPELING, TAAKSTELLING */
  char date[11];                 /* "YYYY-MM-DD": all but TAAKSTELLING */
  uint32_t household_size;       /* KOPPELING */
  int reason;                    /* ONTKOPPELING: KETEN_ONTKOPPEL_* */
  uint32_t target, realised;     /* TAAKSTELLING */
  char published_by[KETEN_ID_MAX + 1]; /* publish: filled (us) */
  uint64_t published_at_ms;      /* publish: filled (now) */
} keten_tvs_event_t;

/* What the broker did with a published event. */
typedef struct {
  size_t n_queued;                              /* feeds it was appended to */
  char queued[2][KETEN_ID_MAX + 1];
  uint32_t rewraps_queued;                      /* KOPPELING: rewrap requests */
  int duplicate;                                /* published before: nothing new */
} keten_tvs_published_t;

/* A TVS participant publishes ev: fills published_by (us), and for a new
 * event (event_id all zeros) a random event_id and published_at_ms (now);
 * signs it (keten/tvs-event/v1) and sends it. An ev whose event_id is
 * already set keeps its event_id and published_at_ms (now only if that is
 * 0): passing the same ev again after a lost reply sends the same record,
 * which the broker answers as a duplicate. Fields the kind does not carry
 * must be empty or zero (the subject of a TAAKSTELLING is not sent); a
 * shape the broker would refuse is refused here (KETEN_ERR_INVALID, see
 * keten_client_error()). result may be NULL. */
keten_err_t keten_client_tvs_publish(keten_client_t *client,
                                     keten_tvs_event_t *ev,
                                     keten_tvs_published_t *result);

/* Called for each TVS event in our (gemeente) mailbox, in seq order with
 * the deliveries, after its signature was checked against the
 * publisher's root-signed TVS entry. ev is NULL when it did not verify
 * (status says why; return 0 to ack and skip it). Return 0 once handled;
 * non-zero stops, and it comes again. Without a handler events are acked
 * as they arrive. */
typedef int (*keten_tvs_event_fn)(const keten_tvs_event_t *ev, uint64_t seq,
                                  keten_err_t status, void *arg);
void keten_client_on_tvs_event(keten_client_t *client, keten_tvs_event_fn fn,
                               void *arg);

/* A subject's current link to a gemeente. */
typedef struct {
  uint8_t subject[KETEN_SUBJECT_BYTES];
  char gemeente[KETEN_ID_MAX + 1];
  char period[8];
  char linked_date[11];
  uint32_t household_size;
  char housed_date[11];          /* "" if not housed */
  uint8_t koppeling_event_id[16];
} keten_tvs_link_t;

/* The current koppelingen of gemeente (NULL or "": our own; only TVS may
 * ask for another's), of period (NULL or "": all). *links (free()) gets
 * *n entries; *truncated (may be NULL) is set when the broker cut the list. */
keten_err_t keten_client_tvs_list(keten_client_t *client, const char *gemeente,
                                  const char *period, keten_tvs_link_t **links,
                                  size_t *n, int *truncated);

/* A gemeente's figures for a period. */
typedef struct {
  char gemeente[KETEN_ID_MAX + 1];
  char period[8];
  int has_target;                /* a TAAKSTELLING for the period was published */
  uint32_t target, realised;     /* from the latest TAAKSTELLING */
  uint32_t linked, housed;       /* the broker's own counts */
  uint64_t updated_at_ms;
} keten_tvs_status_t;

/* The figures of gemeente (NULL or "": ours; TVS and OPERATOR may ask for
 * any) for period (required). */
keten_err_t keten_client_tvs_status(keten_client_t *client,
                                    const char *gemeente, const char *period,
                                    keten_tvs_status_t *status);

/* ---- the audit log's signed tree heads (issue 9) ---------------------------- */

#define KETEN_HASH_BYTES 32
#define KETEN_SIGNATURE_BYTES 64
#define KETEN_PROOF_MAX 64         /* hashes in an inclusion or consistency proof */
#define KETEN_AUDIT_ENTRY_MAX 4096 /* bytes of an audit entry's canonical string */
#define KETEN_TREE_HEAD_LINE_MAX 512 /* a head's JSON line, with its NUL */

/* A signed tree head of the broker's audit log (docs/protocol.md 10.6):
 * the audit entries 1..size are the leaves of an RFC 9162 Merkle tree
 * with root; the broker signed keten/tree-head/v1 with broker_key. */
typedef struct {
  uint64_t size;
  uint8_t root[KETEN_HASH_BYTES];
  uint64_t timestamp_ms;                  /* when the broker signed it */
  uint8_t broker_key[KETEN_KEY_BYTES];    /* the Ed25519 key that signed */
  uint8_t signature[KETEN_SIGNATURE_BYTES];
} keten_tree_head_t;

/* KETEN_OK when head->broker_key is one of the n_keys 32-byte keys at keys
 * (n_keys * 32 bytes) and head->signature verifies with it over
 * keten/tree-head/v1; else KETEN_ERR_CRYPTO (KETEN_ERR_INVALID for NULL
 * arguments or no key). */
keten_err_t keten_tree_head_verify(const keten_tree_head_t *head,
                                   const uint8_t *keys, size_t n_keys);

/* Writes head as one JSON object without a newline into out (cap bytes;
 * KETEN_TREE_HEAD_LINE_MAX suffice): {"size":N,"root":"<64 hex>",
 * "timestamp_ms":T,"broker_key":"<64 hex>","signature":"<128 hex>"}.
 * KETEN_OK, or KETEN_ERR_INVALID when it does not fit. */
keten_err_t keten_tree_head_format(const keten_tree_head_t *head, char *out,
                                   size_t cap);

/* Parses one such JSON object (whitespace allowed, keys in any order,
 * each exactly once, no others; hex of either case) into head. Checks the
 * form only, not the signature. KETEN_OK or KETEN_ERR_FORMAT. */
keten_err_t keten_tree_head_parse(const char *line, keten_tree_head_t *head);

/* Reads a head file (a witness file, or ketend's tree_head_file): exactly
 * one head on one line (a final newline optional). KETEN_OK;
 * KETEN_ERR_IO with errno set (ENOENT: there is none); KETEN_ERR_FORMAT
 * for anything else. The signature is not checked. */
keten_err_t keten_tree_head_load(const char *path, keten_tree_head_t *head);

/* Replaces the head file at path with head, atomically: a temporary file
 * beside it (mode 0600), written, fsync'd, renamed over path, and the
 * directory fsync'd. KETEN_OK or KETEN_ERR_IO (path unchanged). */
keten_err_t keten_tree_head_save(const char *path,
                                 const keten_tree_head_t *head);

/* Witnesses the broker's log now: asks for the latest signed head and a
 * consistency proof from the head in the witness file (AUDIT_PROOF),
 * verifies the head's signature with a known broker signing key, then
 *  - no head stored yet: stores this one (trust on first use);
 *  - a stored head of the same size: the roots must be equal;
 *  - a stored head of a smaller size: the consistency proof must prove
 *    the stored tree a prefix of the new one (RFC 9162 2.1.4.2);
 *  - a stored head of a LARGER size: refused (the broker shows a log
 *    shorter than one it signed before: truncated or rolled back);
 * and on success stores the new head (keten_tree_head_save) and remembers
 * it (keten_client_tree_head). Any failure returns
 * KETEN_ERR_LOG_INCONSISTENT (or KETEN_ERR_IO/KETEN_ERR_FORMAT for our own
 * witness file, a transport or remote error as usual) and never replaces
 * the stored head. Without a witness_file only the signature is checked.
 * KETEN_ERR_INVALID when the client knows no broker signing key. */
keten_err_t keten_client_witness(keten_client_t *client);

/* The newest signed tree head this client verified since it was created
 * (by a WELCOME, keten_client_witness() or keten_client_audit_proof()).
 * KETEN_OK, or KETEN_ERR_INVALID when there is none yet. */
keten_err_t keten_client_tree_head(const keten_client_t *client,
                                   keten_tree_head_t *head);

/* An inclusion proof of one audit entry (docs/protocol.md 7.11). */
typedef struct {
  keten_tree_head_t head;        /* the signed head it is proved against */
  uint64_t seq;                  /* the entry; leaf seq - 1 of the tree */
  uint8_t *entry;                /* the entry's canonical string keten/audit/v1 (malloc'd) */
  size_t entry_len;
  uint8_t inclusion[KETEN_PROOF_MAX][KETEN_HASH_BYTES]; /* lowest level first */
  size_t n_inclusion;
} keten_audit_proof_t;

/* Asks the broker for the inclusion proof of audit entry seq, which must
 * be about our own traffic (its actor or counterparty is us; else
 * KETEN_ERR_REMOTE with ERROR_FORBIDDEN), against its latest signed head.
 * Verifies it before handing it over (keten_audit_proof_verify with the
 * known broker keys, and that the entry string carries seq); with a
 * witness_file the head is witnessed as by keten_client_witness() too.
 * On KETEN_OK *proof is filled (free with keten_audit_proof_free); on
 * failure it is empty. A proof that does not verify:
 * KETEN_ERR_LOG_INCONSISTENT. */
keten_err_t keten_client_audit_proof(keten_client_t *client, uint64_t seq,
                                     keten_audit_proof_t *proof);

/* Offline check of a proof: its head verifies (keten_tree_head_verify with
 * keys, n_keys), the entry string is of entry seq, and its leaf hash
 * SHA-256(0x00 || entry) with the inclusion hashes gives head.root at
 * index seq - 1 of head.size leaves (RFC 9162 2.1.3.2). KETEN_OK,
 * KETEN_ERR_CRYPTO (the head's signature) or KETEN_ERR_LOG_INCONSISTENT. */
keten_err_t keten_audit_proof_verify(const keten_audit_proof_t *proof,
                                     const uint8_t *keys, size_t n_keys);

/* Frees proof's entry and clears it; NULL is ignored. */
void keten_audit_proof_free(keten_audit_proof_t *proof);

/* ---- erasure (AVG art. 17) ----------------------------------------------------- */

/* A controller's request to erase the sections it authored about a
 * subject (docs/protocol.md 7.12): every version of them, of the kinds in
 * kinds or all, with every key wrap, their pending deliveries and rewrap
 * requests; with erase_evidence also the evidence_ref of its consent
 * records on the subject (those records then no longer verify and are
 * never evidence for sealing again: record a new consent to go on). */
typedef struct {
  uint8_t erasure_id[16];        /* unique per erasure; all zeros: drawn when signed */
  uint8_t subject[KETEN_SUBJECT_BYTES];
  char author[KETEN_ID_MAX + 1]; /* whose sections; keten_client_erase(): us */
  uint64_t kinds;                /* bit n: section kind n (1..12); 0: every kind */
  int erase_evidence;
  char reason[256];              /* 1..255 printable ASCII bytes, e.g. the request's reference */
  uint64_t requested_at_ms;      /* 0: now, when signed */
  uint8_t signature[64];         /* Ed25519 by author over keten/erasure/v1 */
} keten_erasure_t;

/* What the broker erased. */
typedef struct {
  uint32_t sections;             /* section versions */
  uint32_t wraps;                /* key wraps (the author's own included) */
  uint32_t deliveries;           /* pending mailbox entries */
  size_t n_notified;             /* recipients sent a delete notice */
  char notified[16][KETEN_ID_MAX + 1]; /* the first 16 of them */
} keten_erase_result_t;

/* Signs erasure with the signing key of keys (offline: no broker), after
 * drawing its erasure_id if all zeros and setting requested_at_ms if 0.
 * author must be set (the id the registry knows keys by). KETEN_ERR_INVALID
 * when a field is out of bounds. Used by `keten erase --export` to hand
 * the request to the operator (keten admin subject erase). */
keten_err_t keten_erasure_sign(keten_erasure_t *erasure,
                               const keten_keys_t *keys);

/* 0 (KETEN_OK) if erasure's signature verifies with signing_pk (32
 * bytes), else KETEN_ERR_CRYPTO (KETEN_ERR_INVALID: out of bounds). */
keten_err_t keten_erasure_verify(const keten_erasure_t *erasure,
                                 const uint8_t signing_pk[32]);

/* Erases our sections about erasure->subject (ERASE): sets author to us,
 * signs (keten_erasure_sign) and sends it; result (may be NULL) gets the
 * counts. A reused erasure_id is refused (KETEN_ERR_REMOTE with
 * ERROR_CONFLICT); a retry after a lost reply that the broker processed
 * counts as done (result then zero). Recipients of what was erased get a
 * delete notice (KETEN_NOTICE_REASON_ERASED). */
keten_err_t keten_client_erase(keten_client_t *client, keten_erasure_t *erasure,
                               keten_erase_result_t *result);

/* Returns the name of a keten.Role number ("GEMEENTE", ...) or "UNKNOWN". */
const char *keten_role_name(int role);

/* Returns the keten.Role number for a name ("gemeente" or "GEMEENTE"), or 0. */
int keten_role_from_name(const char *name);

/* Returns the name of a keten.ErrorCode number ("ERROR_MALFORMED", ...). */
const char *keten_error_code_name(int code);

/* Library version string, e.g. "0.5.0": the version of the library
 * loaded at run time (KETEN_VERSION_STRING is the header's). */
const char *keten_version(void);

/* The loaded library's version as KETEN_VERSION_NUMBER computes it
 * (major * 10000 + minor * 100 + patch). */
int keten_version_number(void);

/* ---- section schemas (issue 11; owner: schema helper) --------------------- */

/* Checks plaintext (len bytes) against the JSON schema of section kind
 * `kind` (docs/sections.md 3; share/keten/schemas/sections-v1.json, built
 * into the library) and the shape rules of docs/sections.md 1.1: one JSON
 * text in UTF-8 (U+0000 refused), an object at the top, no key twice in
 * an object, at most 786432 bytes. Returns KETEN_OK, KETEN_ERR_SCHEMA with
 * the reason in why (whylen bytes; may be NULL; 384 is always enough
 * room): "JSON-POINTER: RULE", e.g. "/permit/valid_from: does not match
 * pattern ^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "(root)" for the top level; the
 * reason never quotes the plaintext's values. KETEN_ERR_INVALID for an
 * unknown kind, or plaintext NULL with len > 0. Unknown fields are
 * allowed (docs/sections.md 1.4). Thread-safe; the schema is compiled
 * once per process. keten_client_put() and keten_client_put_retained()
 * call it and refuse what does not conform (KETEN_ERR_SCHEMA, nothing
 * sent); deliveries and fetches check what they open (keten_delivery_fn,
 * keten_fetch_failure_t). */
keten_err_t keten_section_validate(int kind, const void *plaintext, size_t len,
                                   char *why, size_t whylen);

/* ---- event loops and connection state (issue 11; owner: integrator helper) */

/* Connection states (keten_state_event_t.state, keten_client_state()).
 * The state is derived: the connection first (CONNECTING, CONNECTED,
 * DISCONNECTED, REFUSED from the socket monitor: the CURVE handshake
 * succeeded, the connection was lost, the handshake refused our key);
 * while connected, LOG_INCONSISTENT when the last witnessing of the
 * broker's log failed (until one holds again), else DISPLACED or REMOVED
 * when the broker ended our subscription (until keten_client_subscribe()
 * again), else CONNECTED. */
enum {
  KETEN_STATE_CONNECTING = 0,       /* no CURVE session yet (a new client) */
  KETEN_STATE_CONNECTED = 1,        /* the CURVE handshake succeeded */
  KETEN_STATE_DISCONNECTED = 2,     /* the connection was lost (or we closed it after
                                       a timeout); libzmq reconnects */
  KETEN_STATE_REFUSED = 3,          /* the broker refused our key at the handshake
                                       (status KETEN_ERR_AUTH): not registered, or
                                       its entry ended */
  KETEN_STATE_DISPLACED = 4,        /* our subscription was taken by another listener
                                       with our key (status KETEN_ERR_DISPLACED) */
  KETEN_STATE_REMOVED = 5,          /* our key left the registry (KETEN_ERR_REMOVED) */
  KETEN_STATE_LOG_INCONSISTENT = 6  /* the broker's audit log is not the one we
                                       witnessed (KETEN_ERR_LOG_INCONSISTENT) */
};

typedef struct {
  int state;                     /* KETEN_STATE_* */
  keten_err_t status;            /* the error that goes with it, or KETEN_OK */
  const char *detail;            /* printable; never NULL; valid during the call */
} keten_state_event_t;

/* Called when the state changes (once per change, not per event: a second
 * refusal in a row is not told again), from inside the call that noticed
 * it: keten_client_poll(), a request, keten_client_subscribe(),
 * keten_client_witness(). Must not call back into the client. */
typedef void (*keten_state_fn)(const keten_state_event_t *ev, void *arg);

/* Sets (or with fn NULL clears) the state handler of client. */
void keten_client_on_state(keten_client_t *client, keten_state_fn fn, void *arg);

/* The current KETEN_STATE_* of client (KETEN_STATE_CONNECTING for NULL). */
int keten_client_state(const keten_client_t *client);

/* A file descriptor for an event loop (poll/epoll/libuv/...), for a
 * subscribed client or one that only watches its connection state (see
 * keten_client_poll() without a subscription). Linux: an epoll descriptor holding the ZMQ_FDs of the
 * client's sockets and an eventfd of its own; it is the same descriptor
 * for the client's life (sockets made again after a timeout are added to
 * it) and is closed by keten_client_destroy(). Never read, write or close
 * it; watch it for readability only.
 *
 * The loop: wait until it is readable or keten_client_timeout_ms() ran
 * out, then call keten_client_poll(client, 0, ...); repeat. ZMQ_FD alone
 * is edge-triggered (it signals a change once, not "there is a message"):
 * libketen makes this descriptor readable whenever there is work now —
 * frames or monitor events waiting, deliveries that a request took in
 * while it waited for its reply — at the end of every poll and request.
 * So a loop that calls keten_client_poll(client, 0, ...) whenever it is
 * readable misses nothing; keten_client_timeout_ms() returning 0 says the
 * same. A poll with timeout 0 takes everything ready, up to a bound, and
 * the descriptor stays readable for the rest. Subscribed or not, the
 * descriptor is not readable while there is nothing to take: a loop sleeps
 * while the broker is away (ZeroMQ reconnects in the background) and
 * wakes for the loss and the return of the connection.
 * Returns -1 on failure (keten_client_error()). */
int keten_client_fd(keten_client_t *client);

/* How long an event loop may wait on keten_client_fd() before calling
 * keten_client_poll() even when the descriptor is not readable, in ms:
 * 0 when work is pending now, the time to the next SUBSCRIBE (a
 * reconnection, a back-off after a transient failure or a stall) or to
 * the next handshake after a refusal's back-off (subscribed or not), or
 * -1 when there is no such deadline (also when not subscribed, or
 * displaced or removed, and connected or reconnecting: poll would do
 * nothing by itself until the descriptor is readable). Ask again after
 * every call into the client. */
int keten_client_timeout_ms(keten_client_t *client);

#ifdef __cplusplus
}
#endif
#endif
