/* config — ketend's settings: defaults, the config file, command-line
 * overrides, and the check that refuses to start on anything doubtful. */
#ifndef KETEND_CONFIG_H
#define KETEND_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"

#define CONFIG_MAX_ENDPOINTS 8
#define CONFIG_PATH_MAX 512
#define CONFIG_ENDPOINT_MAX 256
#define CONFIG_MAX_PREVIOUS_KEYS 8

typedef struct {
  char endpoints[CONFIG_MAX_ENDPOINTS][CONFIG_ENDPOINT_MAX];
  int n_endpoints;
  char key_file[CONFIG_PATH_MAX];   /* broker's secret key file (keten keygen) */
  char root_key[CONFIG_PATH_MAX];   /* the chain root's public key file (keten root keygen) */
  char store[CONFIG_PATH_MAX];      /* SQLite database path */
  char pid_file[CONFIG_PATH_MAX];   /* optional */
  log_level_t log_level;
  uint32_t max_frame_bytes;         /* larger frames get ERROR_TOO_LARGE */
  int heartbeat_ivl_ms;             /* ZMTP PING interval */
  int heartbeat_timeout_ms;         /* peer is dead after this much silence */
  int send_hwm;                     /* per-peer outbound queue, messages */
  int registry_poll_ms;             /* how often the store is checked for registry edits */
  int ack_timeout_ms;               /* unacked deliveries are resent after this */
  int checkpoint_every;             /* sign an audit checkpoint every N entries */
  int checkpoint_interval_ms;       /* ... and at least this often when the log grew */
  int prepare_per_second;           /* PREPAREs a participant may make a second, sustained */
  int prepare_burst;                /* ... and in a burst */
  int max_consents_per_recipient;   /* live consents per (subject, recorder, recipient) */
  int refusal_audit_interval_ms;    /* refused handshakes: one audit entry per address per this */
  /* Budgets per participant (docs/operations.md, "Budgets"). */
  int delivery_window_bytes;        /* unacked delivery bytes towards one subscription */
  int stall_timeouts;               /* ack timeouts without progress before a subscription ends */
  int fetch_page_bytes;             /* ciphertext bytes in one FETCH reply (at least one section) */
  int max_connections;              /* connections one participant may use at once */
  int requests_per_second;          /* requests one participant may make a second, sustained */
  int requests_burst;               /* ... and in a burst */
  int max_pending_per_author;       /* unacked mailbox entries one author may have towards one recipient */
  int budget_audit_interval_ms;     /* budget refusals: one audit entry per participant and budget per this */
  int64_t max_author_bytes;         /* ciphertext bytes of all stored sections of one author */
  char tree_head_file[CONFIG_PATH_MAX]; /* the latest signed tree head, outside the store;
                                       "" means the store's path + ".head" (issue 9) */
  /* Public key files of the broker's earlier signing keys (key history):
   * heads they signed still pass the start-up check after a rotation. */
  char previous_broker_keys[CONFIG_MAX_PREVIOUS_KEYS][CONFIG_PATH_MAX];
  int n_previous_broker_keys;
  /* Observability (issue 10, docs/operations.md "Logs", "Metrics"). */
  log_format_t log_format;          /* text (default), json or journal */
  char metrics_endpoint[CONFIG_ENDPOINT_MAX]; /* HOST:PORT of the Prometheus endpoint; "" off */
  int metrics_interval_ms;          /* per-participant mailbox gauges recomputed at most this often */
} config_t;

/* Fills cfg with the documented defaults (no endpoints, no key, no store). */
void config_defaults(config_t *cfg);

/* Sets one setting by its config-file name. Returns 0, or -1 with a reason
 * in err. "endpoint" appends; the others replace. */
int config_set(config_t *cfg, const char *key, const char *value, char *err,
               size_t errlen);

/* Reads "key = value" lines from path ('#' starts a comment). An unknown
 * key, a bad value or an unreadable file is an error naming the line. */
int config_load_file(config_t *cfg, const char *path, char *err, size_t errlen);

/* Compares the settings of old and new that SIGHUP applies without a
 * restart (log_level, log_format, budgets, rate limits, intervals) and
 * those that need one (endpoints, key and root key files, store, pid and
 * tree head files, frame size, heartbeats, send_hwm, metrics_endpoint).
 * Writes the names of the changed ones, comma-separated, to reloadable and
 * restart (either may be NULL). Returns the number of changed reloadable
 * settings. Pure. */
int config_diff(const config_t *old, const config_t *new_cfg, char *reloadable,
                size_t reloadable_len, char *restart, size_t restart_len);

/* Copies new's reloadable settings into cfg (the others stay). */
void config_apply_reloadable(config_t *cfg, const config_t *new_cfg);

/* Checks cfg is complete and consistent enough to serve. */
int config_check(const config_t *cfg, char *err, size_t errlen);

#endif
