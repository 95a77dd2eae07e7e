/* adapter — the shared core of the keten partner adapters.
 *
 * A partner adapter (keten-adapter-coa, -gemeente, -volunteer, -care) is a
 * long-running client on libketen beside a partner's case system:
 *   - an OUTBOX directory the case system drops its own export files into
 *     (watched with inotify); each file is mapped to sections, consents,
 *     revocations or a TVS event, published, and moved to done/ or to
 *     failed/ with failed/NAME.reason;
 *   - an INBOX directory it writes every delivered section, TVS event and
 *     notice into, one JSON file each, atomically; delete notices delete;
 *   - an optional command run per delivery (the delivery is acked only
 *     after it exits 0);
 *   - rewrap requests served (libketen does that inside keten_client_poll).
 *
 * Everything but the mapping of a partner's own fields is here, one module
 * per job: adapter_config.c (the config file), outbox.c (the directory and
 * its inotify watch), inbox.c (atomic files, delete notices, the V-nummer
 * index), deliver.c (the per-delivery command), publish.c (partner files
 * to libketen calls, idempotent on a re-run), adapter.c (the loop). Each
 * program is a table (adapter_kind_t) and a main() that calls
 * adapter_main(). Only libketen's public API (keten.h) is used.
 * docs/adapters.md describes the behaviour for partners. */
#ifndef KETEN_ADAPTER_H
#define KETEN_ADAPTER_H

#include <jansson.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "keten.h"

#define ADAPTER_PATH_MAX 512
#define ADAPTER_FILE_MAX (1024 * 1024) /* largest outbox file accepted */

/* Exit statuses (docs/adapters.md; the systemd unit does not restart on
 * 2, 4 and 7). */
enum {
  ADAPTER_EXIT_OK = 0,
  ADAPTER_EXIT_FAIL = 1,        /* a runtime failure (the broker away in --once, disk) */
  ADAPTER_EXIT_CONFIG = 2,      /* bad command line or config file, a key file missing */
  ADAPTER_EXIT_LOG = 4,         /* the broker's audit log is not the one we witnessed */
  ADAPTER_EXIT_TEMPFAIL = 75,   /* --once: a file is left for a later run (transient) */
  ADAPTER_EXIT_DISPLACED = 7    /* another process with our key took the subscription */
};

/* ---- the per-partner mapping table ------------------------------------- */

struct adapter;
struct adapter_config;

/* A partner section name in an export file ("sections": {NAME: {...}}) and
 * the section kind it becomes. transform (may be NULL) may change the
 * object in place before it is validated and sealed (e.g. COA adds the
 * V-nummer to IDENTITY); it returns 0, or -1 with a reason in why. */
typedef struct {
  const char *partner_name;
  int kind;
  int (*transform)(const struct adapter_config *cfg, json_t *section,
                   const char *v_nummer, char *why, size_t whylen);
} adapter_section_map_t;

typedef struct {
  const char *name;       /* "coa": the config's instance, log prefix */
  const char *program;    /* "keten-adapter-coa" */
  int role;               /* the keten.Role number our participant must have */
  const adapter_section_map_t *sections; /* terminated by partner_name NULL */
  int consents;           /* export files may carry "consents" and "revoke" */
  int tvs;                /* TVS export files (event files) → TVS events; tvs_key */
  int identity_v_nummer;  /* the config key identity_v_nummer is known */
} adapter_kind_t;

/* The four programs' tables (coa.c, gemeente.c, volunteer.c, care.c). */
extern const adapter_kind_t adapter_kind_coa, adapter_kind_gemeente,
    adapter_kind_volunteer, adapter_kind_care;

/* ---- configuration (adapter_config.c) ----------------------------------- */

enum { ADAPTER_LOG_ERROR = 0, ADAPTER_LOG_WARN, ADAPTER_LOG_INFO, ADAPTER_LOG_DEBUG };

typedef struct adapter_config {
  char endpoint[256];
  char key[ADAPTER_PATH_MAX];          /* our secret key file */
  char broker_key[ADAPTER_PATH_MAX];   /* broker.pub */
  char root_key[ADAPTER_PATH_MAX];     /* root.pub */
  char chain_key[ADAPTER_PATH_MAX];    /* the chain key file */
  char witness_file[ADAPTER_PATH_MAX]; /* "" : no witnessing */
  char outbox[ADAPTER_PATH_MAX];
  char inbox[ADAPTER_PATH_MAX];
  char state_dir[ADAPTER_PATH_MAX];    /* default: "state" beside the inbox */
  char on_delivery[ADAPTER_PATH_MAX];  /* "" : none */
  char tvs_key[ADAPTER_PATH_MAX];      /* COA: the TVS participant's secret key */
  int on_delivery_timeout_ms;          /* default 30000, at most 30000 */
  int on_delivery_attempts;            /* failed runs before quarantine, default 5 */
  int credit;                          /* default 16 */
  int log_level;                       /* ADAPTER_LOG_*, default info */
  int request_timeout_ms;              /* per attempt, default 10000 */
  int retry_max_ms;                    /* outbox back-off ceiling, default 60000 */
  int witness_interval_ms;             /* default 300000; 0: only at start */
  int once_idle_ms;                    /* --once: quiet time that ends it, default 2000 */
  int identity_v_nummer;               /* COA: put the V-nummer into IDENTITY, default 1 */
} adapter_config_t;

/* Fills cfg with the defaults, then reads path (ketend.conf syntax: "key =
 * value", '#' comments, blank lines). An unknown key, a key the kind does
 * not have (tvs_key for a non-TVS adapter), a bad value or a missing
 * required key: -1 with "path:line: reason" (or "path: reason") in err. */
int adapter_config_load(adapter_config_t *cfg, const adapter_kind_t *kind,
                        const char *path, char *err, size_t errlen);

/* ---- logging (adapter.c) ------------------------------------------------- */

void adapter_log(const struct adapter *a, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- small helpers (inbox.c) --------------------------------------------- */

/* 1 if id follows the registry's participant id rule: 1..64 bytes of
 * ':'-separated non-empty segments of [a-z0-9-]. */
int adapter_id_ok(const char *id);

/* 1 if name is a plain file name: 1..200 bytes of [A-Za-z0-9._-] not
 * starting with '.'. */
int adapter_name_ok(const char *name);

/* Lower-case hex of n bytes into out (2n + 1 bytes). */
void adapter_hex(char *out, const uint8_t *b, size_t n);

/* ms since the epoch (CLOCK_REALTIME) and a monotonic clock. */
int64_t adapter_wall_ms(void);
int64_t adapter_mono_ms(void);

/* "2026-07-01T10:00:00.123Z" of ms since the epoch into out (32 bytes). */
void adapter_iso8601(char *out, size_t cap, int64_t ms);

/* Writes len bytes to name in the directory dirfd atomically and
 * durably: .name.tmp (O_EXCL|O_NOFOLLOW, 0600; a stale one is removed
 * first), written, fsync'd, renamed over name, the directory fsync'd. All
 * relative to dirfd (openat, renameat): a directory swapped for a symlink
 * after dirfd was opened is not followed. 0, or -1 with errno. */
int adapter_write_atomic_at(int dirfd, const char *name, const void *buf,
                            size_t len);

/* The same for a directory given by path (opened O_DIRECTORY|O_NOFOLLOW
 * for the call). */
int adapter_write_atomic(const char *dir, const char *name, const void *buf,
                         size_t len);

/* fsyncs a directory. 0 or -1. */
int adapter_fsync_dir(const char *dir);

/* mkdir -p of one level (mode 0700 when created); 0 if it is a directory. */
int adapter_mkdir(const char *path);

/* Opens the directory path (relative to atfd, or AT_FDCWD) with
 * O_DIRECTORY|O_NOFOLLOW, creating it first (0700) when create is set,
 * and checks that it is owned by our effective uid and not writable by
 * others, nor by its group unless group_ok. The descriptor, or -1 with
 * "LABEL PATH: reason" in err. */
int adapter_open_dir(int atfd, const char *path, int create, int group_ok,
                     const char *label, char *err, size_t errlen);

/* Pings the systemd watchdog (WATCHDOG=1) when it is enabled and half of
 * its interval has passed since the last ping; cheap otherwise. Called
 * from the loop, between outbox files and while on_delivery runs. */
void adapter_watchdog_init(void);
void adapter_watchdog(void);

/* ---- the inbox (inbox.c) -------------------------------------------------- */

/* The V-nummer of a subject, when the adapter knows it (from its own
 * outbox files, or from a delivered IDENTITY carrying v_nummer that hashes
 * to the subject): STATE_DIR/v-nummers.json, a JSON object subject hex →
 * V-nummer, 0600, replaced atomically. */
typedef struct {
  json_t *map;          /* object: hex → string */
  int dirfd;            /* the state dir (its own descriptor), -1 when none */
  char path_dir[ADAPTER_PATH_MAX];
} adapter_index_t;

int adapter_index_load(adapter_index_t *ix, const char *state_dir, char *err,
                       size_t errlen);
/* The same relative to the state dir's descriptor (duplicated). */
int adapter_index_load_at(adapter_index_t *ix, int state_fd, const char *label,
                          char *err, size_t errlen);
const char *adapter_index_get(const adapter_index_t *ix,
                              const uint8_t subject[KETEN_SUBJECT_BYTES]);
/* Remembers subject → v_nummer (written at once when new). 0 or -1. */
int adapter_index_put(adapter_index_t *ix,
                      const uint8_t subject[KETEN_SUBJECT_BYTES],
                      const char *v_nummer);
void adapter_index_free(adapter_index_t *ix);

/* The inbox file name of a section copy:
 *   section-<subject hex>-<KIND>-<author, ':' as '_'>-v<version>.json
 * 0, or -1 when the kind or author is not fit for a name. */
int adapter_section_name(char *out, size_t cap,
                         const keten_section_header_t *h);

/* ---- the delivery command (deliver.c) ----------------------------------- */

/* Runs cmd with path as argv[1] (no shell; stdin /dev/null, stdout and
 * stderr inherited), waits at most timeout_ms, then kills it (SIGTERM,
 * SIGKILL 2 s later). A stop request (adapter_stop_requested) ends the
 * wait too: its process group gets SIGTERM, SIGKILL 1 s later. Pings the
 * watchdog while it waits. Returns its exit status (0..255), -1 when it
 * could not be run, -2 on timeout, -3 killed by a signal, -4 ended (or
 * not started) because of a stop request. */
int adapter_run_command(const char *cmd, const char *path, int timeout_ms);

/* ---- the adapter (adapter.c) --------------------------------------------- */

typedef struct adapter {
  const adapter_kind_t *kind;
  adapter_config_t cfg;
  keten_keys_t keys;
  keten_keys_t broker;          /* broker.pub: transport and signing key */
  keten_root_key_t root;
  uint8_t chain_key[KETEN_CHAIN_KEY_BYTES];
  keten_client_t *client;
  keten_client_t *tvs;          /* COA with tvs_key: the TVS participant */
  keten_keys_t tvs_keys;
  char id[KETEN_ID_MAX + 1];    /* our participant id (HELLO) */
  adapter_index_t index;
  /* The directories, opened once at start (O_DIRECTORY|O_NOFOLLOW, owner
   * and mode checked); every file operation is relative to them. */
  int outbox_fd, done_fd, failed_fd, inbox_fd, state_fd;
  json_t *attempts;             /* seq → {"file", "n", "last"}: failed hand-overs */
  int once;
  int stopping;                 /* a fatal condition: the exit status is set */
  int exit_status;
  int64_t last_activity_ms;     /* monotonic */
  /* counters, for the log and the tests' eyes */
  long n_sections, n_events, n_notices, n_deleted, n_rewraps, n_refused_rewraps,
      n_quarantined, n_published, n_failed;
} adapter_t;

/* Set by SIGTERM and SIGINT: the loop stops after the item in hand. */
extern volatile sig_atomic_t adapter_stop_requested;

/* main() of every adapter program: options --config FILE, --once,
 * --check-config, --help, --version. */
int adapter_main(int argc, char **argv, const adapter_kind_t *kind);

/* ---- publishing a partner file (publish.c) ------------------------------- */

enum {
  ADAPTER_PUB_OK = 0,       /* published (or found published before): done/ */
  ADAPTER_PUB_INVALID = 1,  /* the file is wrong: failed/ with the reason */
  ADAPTER_PUB_TRANSIENT = 2 /* the broker is away or busy: left, retried */
};

/* The state a file's publication keeps across attempts and crashes:
 * STATE_DIR/inflight.json names the file (name and BLAKE2b of its bytes),
 * and the TVS event's id and time once drawn, so that a re-run sends the
 * same event (a duplicate for the broker) and checks what is already
 * published instead of publishing it twice. */
typedef struct {
  char name[256];
  char hash[65];
  int resume;                   /* a previous attempt may have published part */
  uint8_t tvs_event_id[16];
  uint64_t tvs_published_at_ms;
  int has_tvs;
} adapter_inflight_t;

/* Writes inflight as STATE_DIR/inflight.json (atomically); 0 or -1. */
int adapter_inflight_save(const struct adapter *a, const adapter_inflight_t *in);

/* Maps and publishes one partner file (buf, len bytes). On INVALID the
 * reason is in why; on TRANSIENT too (for the log). */
int adapter_publish(adapter_t *a, const char *buf, size_t len,
                    adapter_inflight_t *inflight, char *why, size_t whylen);

/* Parses and maps buf without publishing (for --check FILE and the unit
 * tests): ADAPTER_PUB_OK or ADAPTER_PUB_INVALID with why. *plan (may be
 * NULL) gets a JSON description of what would be published (json_decref). */
int adapter_plan(const adapter_kind_t *kind, const adapter_config_t *cfg,
                 const uint8_t chain_key[KETEN_CHAIN_KEY_BYTES],
                 const char *our_id, const char *buf, size_t len,
                 json_t **plan, char *why, size_t whylen);

/* ---- the outbox (outbox.c) ----------------------------------------------- */

typedef struct {
  int inotify_fd;
  char (*pending)[256];         /* names waiting, sorted */
  size_t n_pending, cap_pending;
  int64_t next_try_ms;          /* monotonic: the head's back-off */
  int backoff_ms;
  int rescan;                   /* the watch overflowed: scan the directory */
} adapter_outbox_t;

/* Opens (and creates when missing) the outbox, OUTBOX/done, OUTBOX/failed,
 * the inbox and the state dir into a->*_fd, checking each (owner, mode:
 * adapter_open_dir; only the outbox may be group-writable), starts the
 * inotify watch, and queues the files already there (name order). 0 or
 * -1 with err (the adapter then exits 2). */
int adapter_outbox_open(adapter_t *a, adapter_outbox_t *ob, char *err,
                        size_t errlen);

/* --check-config's look at the files the config names, without creating
 * or changing anything: each directory adapter_outbox_open() would open
 * passes its checks when it exists, or its parent is a directory we may
 * create it in; the three are different directories; on_delivery is an
 * executable file; witness_file's directory exists. Writes one line per
 * directory that would be created to out (may be NULL). 0, or -1 with
 * the first problem in err. */
int adapter_check_files(const adapter_config_t *cfg, FILE *out, char *err,
                        size_t errlen);
/* Reads the watch's events (non-blocking) into the queue. */
void adapter_outbox_events(adapter_t *a, adapter_outbox_t *ob);
/* Processes queued files in name order until the queue is empty or a
 * transient failure (then the head waits for its back-off). Returns the
 * number of files moved to done/ or failed/. */
int adapter_outbox_run(adapter_t *a, adapter_outbox_t *ob);
void adapter_outbox_close(adapter_outbox_t *ob);

/* 1 if name is a file the outbox takes: *.json, not starting with '.'. */
int adapter_outbox_name_ok(const char *name);

/* 1 if name is one the outbox must not ignore although it cannot take it
 * under that name: it ends in .json, does not start with '.', but has
 * characters outside [A-Za-z0-9._-] or is too long. It goes to failed/
 * under adapter_outbox_sanitise()'s name. */
int adapter_outbox_name_odd(const char *name);
/* name with every byte outside [A-Za-z0-9._-] as '_', at most 180 bytes
 * before ".json". */
void adapter_outbox_sanitise(char *out, size_t cap, const char *name);

/* ---- deliveries (inbox.c) ------------------------------------------------- */

/* The libketen handlers: write the inbox files, run the command. */
int adapter_on_delivery(const keten_section_t *s, uint64_t seq,
                        keten_err_t status, void *arg);
int adapter_on_tvs_event(const keten_tvs_event_t *ev, uint64_t seq,
                         keten_err_t status, void *arg);
int adapter_on_notice(const keten_notice_t *n, uint64_t seq, keten_err_t status,
                      void *arg);
void adapter_on_rewrap(const keten_rewrap_t *r, uint64_t seq, void *arg);

/* Loads STATE_DIR/attempts.json (failed hand-overs per seq) into
 * a->attempts. 0 (a missing or unreadable file starts afresh). */
int adapter_attempts_load(adapter_t *a);

#endif
