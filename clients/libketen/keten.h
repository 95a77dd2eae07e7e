/* keten.h — the keten client library (libketen).
 *
 * A partner organisation uses libketen to talk to ketend, the keten broker:
 * load its keys, connect over CurveZMQ, and send requests that each get
 * exactly one reply. The library holds no global state; every function is
 * safe to call from one thread per keten_client_t.
 *
 * Errors are keten_err_t values; keten_strerror() names them and
 * keten_client_error() gives the last detailed message of a client.
 */
#ifndef KETEN_H
#define KETEN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

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
  KETEN_ERR_REMOTE     /* the broker replied with an ERROR; see keten_client_remote_code() */
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

/* ---- client -------------------------------------------------------------- */

typedef struct keten_client keten_client_t;

typedef struct {
  const char *endpoint;          /* e.g. "tcp://127.0.0.1:7600", "ipc:///run/keten/ketend.sock" */
  const keten_keys_t *keys;      /* the caller's keys; must hold the secrets; copied */
  const uint8_t *broker_key;     /* broker's transport public key, 32 bytes; copied */
  int timeout_ms;                /* per attempt; 0 means 5000 */
  int retries;                   /* further attempts after a timeout; <0 means 0, 0 means default 2 */
  int reconnect_ivl_ms;          /* first reconnect delay; 0 means 100 */
  int reconnect_ivl_max_ms;      /* back-off ceiling; 0 means 5000 */
  int heartbeat_ivl_ms;          /* ZMTP heartbeat interval; 0 means 5000 */
} keten_client_config_t;

/* Creates a client for cfg. Connection happens in the background; the
 * first request waits for it. Returns NULL and writes a reason into
 * err (errlen bytes) on failure. Destroy with keten_client_destroy(). */
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

/* Sends HELLO and fills welcome from the broker's WELCOME. */
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

/* Returns the name of a keten.Role number ("GEMEENTE", ...) or "UNKNOWN". */
const char *keten_role_name(int role);

/* Returns the keten.Role number for a name ("gemeente" or "GEMEENTE"), or 0. */
int keten_role_from_name(const char *name);

/* Returns the name of a keten.ErrorCode number ("ERROR_MALFORMED", ...). */
const char *keten_error_code_name(int code);

/* Library version string, e.g. "0.1.0". */
const char *keten_version(void);

#ifdef __cplusplus
}
#endif
#endif
