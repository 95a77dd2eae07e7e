/* adapter — the loop every partner adapter runs: load the config and the
 * keys, connect (HELLO until the broker answers), subscribe, then
 * alternately work the outbox and poll the mailbox (deliveries, notices,
 * TVS events, rewraps), witness the broker's audit log at intervals, and
 * stop cleanly on SIGTERM/SIGINT. --once stops when the outbox is empty
 * and the mailbox has been quiet for once_idle_ms. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "adapter.h"

volatile sig_atomic_t adapter_stop_requested;

/* The self-pipe of a stop request: the handler writes a byte, so a stop
 * that comes between the loop's look at the flag and its poll() still
 * wakes the poll. Made before the handlers are set (adapter_main). */
static int s_stop_pipe[2] = {-1, -1};

static void s_on_signal(int sig) {
  (void)sig;
  adapter_stop_requested = 1;
  if (s_stop_pipe[1] >= 0) {
    int saved = errno;
    ssize_t w = write(s_stop_pipe[1], "", 1); /* full (EAGAIN): already woken */
    (void)w;
    errno = saved;
  }
}

static void s_stop_pipe_open(void) {
  if (pipe(s_stop_pipe) != 0) {
    s_stop_pipe[0] = s_stop_pipe[1] = -1; /* poll() still ends with EINTR */
    return;
  }
  for (int i = 0; i < 2; i++) {
    fcntl(s_stop_pipe[i], F_SETFL, fcntl(s_stop_pipe[i], F_GETFL) | O_NONBLOCK);
    fcntl(s_stop_pipe[i], F_SETFD, FD_CLOEXEC);
  }
}

/* Empties the self-pipe (a stop that was taken back: the flag is 0). It
 * stays open for the process's life: the handlers may run until exit. */
static void s_stop_pipe_drain(void) {
  char b[64];
  if (s_stop_pipe[0] >= 0)
    while (read(s_stop_pipe[0], b, sizeof b) > 0) {
    }
}

static int s_log_level = ADAPTER_LOG_INFO;
static const char *s_program = "keten-adapter";

void adapter_log(const adapter_t *a, int level, const char *fmt, ...) {
  (void)a;
  if (level > s_log_level)
    return;
  static const char *const names[] = {"error", "warning", "info", "debug"};
  static const int prio[] = {3, 4, 6, 7};
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  /* Under systemd (stderr is the journal) the priority goes as <N>; else
   * a plain line with the time. */
  if (getenv("JOURNAL_STREAM")) {
    fprintf(stderr, "<%d>%s\n", prio[level], msg);
  } else {
    char at[40];
    adapter_iso8601(at, sizeof at, adapter_wall_ms());
    fprintf(stderr, "%s %s %s: %s\n", at, s_program, names[level], msg);
  }
  fflush(stderr);
}

/* ---- the systemd watchdog ---- */

static int s_dog_on;
static uint64_t s_dog_usec;
static int64_t s_dog_last;

void adapter_watchdog_init(void) {
  s_dog_usec = 0;
  s_dog_on = sd_watchdog_enabled(0, &s_dog_usec) > 0 && s_dog_usec > 0;
  s_dog_last = adapter_mono_ms();
  if (s_dog_on)
    sd_notify(0, "WATCHDOG=1");
}

void adapter_watchdog(void) {
  if (!s_dog_on)
    return;
  int64_t now = adapter_mono_ms();
  /* at half the interval (ms * 2000 >= us) */
  if ((now - s_dog_last) * 2000 >= (int64_t)s_dog_usec) {
    sd_notify(0, "WATCHDOG=1");
    s_dog_last = now;
  }
}

/* The monotonic time of the next watchdog ping (half the interval after
 * the last one), or -1 without a watchdog. */
static int64_t s_watchdog_due(void) {
  if (!s_dog_on)
    return -1;
  return s_dog_last + (int64_t)((s_dog_usec + 1999) / 2000);
}

static void s_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void s_on_subscription(const keten_subscription_event_t *ev, void *arg) {
  adapter_t *a = arg;
  if (ev->event == KETEN_SUBSCRIPTION_STALLED)
    adapter_log(a, ADAPTER_LOG_WARN,
                "the broker ended the subscription as stalled (%s); "
                "subscribing again in %u ms", ev->detail, (unsigned)ev->delay_ms);
  else if (ev->event == KETEN_SUBSCRIPTION_RETRY)
    adapter_log(a, ADAPTER_LOG_WARN, "SUBSCRIBE failed (%s: %s); retrying in %u ms",
                keten_strerror(ev->status), ev->detail, (unsigned)ev->delay_ms);
  else if (ev->event == KETEN_SUBSCRIPTION_DISPLACED)
    adapter_log(a, ADAPTER_LOG_ERROR, "another process with our key took the "
                                      "subscription: %s", ev->detail);
  else if (ev->event == KETEN_SUBSCRIPTION_REMOVED)
    adapter_log(a, ADAPTER_LOG_ERROR, "our key left the registry: %s", ev->detail);
}

static void s_usage(FILE *out, const adapter_kind_t *kind) {
  fprintf(out,
          "usage: %s --config FILE [--once]\n"
          "       %s --config FILE --check-config\n"
          "       %s --config FILE --map EXPORT.json\n"
          "\n"
          "The keten adapter of a %s partner: publishes the export files the case\n"
          "system drops into the outbox (then moved to done/ or failed/ with\n"
          "failed/NAME.reason) and writes what the mailbox brings into the inbox\n"
          "(sections, TVS events, delete notices that delete), serving rewraps.\n"
          "See docs/adapters.md.\n"
          "\n"
          "  -c, --config FILE   the config file (e.g. /etc/keten-adapter/adapter-%s.conf)\n"
          "  -1, --once          work the outbox and the mailbox until both are idle,\n"
          "                      then exit (cron, tests); 75 if a file must wait\n"
          "      --check-config  check the config and the key files, then exit\n"
          "      --map FILE      print what FILE would publish (no broker), then exit\n"
          "  -V, --version       print the version\n"
          "  -h, --help          print this help\n"
          "\n"
          "Exit status: 0 stopped by SIGTERM/SIGINT or --once done; 1 runtime\n"
          "failure; 2 configuration; 4 the broker's audit log is not the one\n"
          "witnessed; 7 another process took the subscription; 75 --once with a\n"
          "file left for later.\n",
          kind->program, kind->program, kind->program, kind->name, kind->name);
}

/* Loads the key files of cfg into a. 0 or -1 with err. */
static int s_load_keys(adapter_t *a, char *err, size_t errlen) {
  keten_err_t rc;
  if ((rc = keten_keys_load(a->cfg.key, &a->keys)) != KETEN_OK || !a->keys.has_secret) {
    snprintf(err, errlen, "key %s: %s", a->cfg.key,
             rc != KETEN_OK ? keten_strerror(rc) : "not a secret key file");
    return -1;
  }
  if ((rc = keten_keys_load(a->cfg.broker_key, &a->broker)) != KETEN_OK) {
    snprintf(err, errlen, "broker_key %s: %s", a->cfg.broker_key, keten_strerror(rc));
    return -1;
  }
  if ((rc = keten_root_key_load(a->cfg.root_key, &a->root)) != KETEN_OK) {
    snprintf(err, errlen, "root_key %s: %s", a->cfg.root_key, keten_strerror(rc));
    return -1;
  }
  if ((rc = keten_chain_key_load(a->cfg.chain_key, a->chain_key)) != KETEN_OK) {
    snprintf(err, errlen, "chain_key %s: %s", a->cfg.chain_key, keten_strerror(rc));
    return -1;
  }
  if (a->cfg.tvs_key[0] &&
      ((rc = keten_keys_load(a->cfg.tvs_key, &a->tvs_keys)) != KETEN_OK ||
       !a->tvs_keys.has_secret)) {
    snprintf(err, errlen, "tvs_key %s: %s", a->cfg.tvs_key,
             rc != KETEN_OK ? keten_strerror(rc) : "not a secret key file");
    return -1;
  }
  return 0;
}

static keten_client_t *s_client(adapter_t *a, const keten_keys_t *keys,
                                int witness, char *err, size_t errlen) {
  keten_client_config_t cc;
  memset(&cc, 0, sizeof cc);
  cc.endpoint = a->cfg.endpoint;
  cc.keys = keys;
  cc.broker_key = a->broker.transport_pk;
  cc.root_key = a->root.public_key;
  cc.broker_signing_key = a->broker.signing_pk;
  cc.timeout_ms = a->cfg.request_timeout_ms;
  cc.retries = 0; /* the default */
  if (witness && a->cfg.witness_file[0])
    cc.witness_file = a->cfg.witness_file;
  return keten_client_new(&cc, err, errlen);
}

/* HELLO until the broker answers (or once, with --once). Returns 0, or
 * -1 with a->exit_status set. */
static int s_hello(adapter_t *a, keten_client_t *c, int want_role,
                   keten_welcome_t *w, const char *who) {
  int delay = 500;
  for (;;) {
    keten_err_t rc = keten_client_hello(c, w);
    if (rc == KETEN_OK)
      break;
    if (rc == KETEN_ERR_LOG_INCONSISTENT) {
      adapter_log(a, ADAPTER_LOG_ERROR, "%s: the broker's audit log is not the "
                                        "one witnessed: %s", who,
                  keten_client_error(c));
      a->exit_status = ADAPTER_EXIT_LOG;
      return -1;
    }
    adapter_log(a, ADAPTER_LOG_WARN, "%s: HELLO: %s: %s", who, keten_strerror(rc),
                keten_client_error(c));
    if (a->once || adapter_stop_requested) {
      a->exit_status = adapter_stop_requested ? ADAPTER_EXIT_OK : ADAPTER_EXIT_FAIL;
      return -1;
    }
    for (int t = 0; t < delay && !adapter_stop_requested; t += 100)
      s_sleep_ms(100);
    if (delay < 30000)
      delay *= 2;
  }
  if (w->role != want_role) {
    adapter_log(a, ADAPTER_LOG_ERROR,
                "%s: the broker knows this key as %s, a %s participant; this "
                "needs a %s participant", who, w->participant_id,
                keten_role_name(w->role), keten_role_name(want_role));
    a->exit_status = ADAPTER_EXIT_CONFIG;
    return -1;
  }
  return 0;
}

static int s_map_file(adapter_t *a, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "%s: %s: %s\n", s_program, path, strerror(errno));
    return ADAPTER_EXIT_CONFIG;
  }
  char *buf = malloc(ADAPTER_FILE_MAX + 1);
  size_t n = buf ? fread(buf, 1, ADAPTER_FILE_MAX + 1, f) : 0;
  fclose(f);
  if (!buf)
    return ADAPTER_EXIT_FAIL;
  json_t *plan = NULL;
  char why[2048];
  int rc = adapter_plan(a->kind, &a->cfg, a->chain_key, NULL, buf, n, &plan, why,
                        sizeof why);
  free(buf);
  if (rc != ADAPTER_PUB_OK) {
    printf("invalid: %s\n", why);
    return ADAPTER_EXIT_FAIL;
  }
  char *text = json_dumps(plan, JSON_INDENT(2));
  printf("%s\n", text ? text : "");
  free(text);
  json_decref(plan);
  return ADAPTER_EXIT_OK;
}

static void s_close_dirs(adapter_t *a) {
  int *fds[] = {&a->outbox_fd, &a->done_fd, &a->failed_fd, &a->inbox_fd,
                &a->state_fd};
  for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++) {
    if (*fds[i] >= 0)
      close(*fds[i]);
    *fds[i] = -1;
  }
}

static void s_wipe(adapter_t *a) {
  s_close_dirs(a);
  json_decref(a->attempts);
  a->attempts = NULL;
  keten_client_destroy(&a->client);
  keten_client_destroy(&a->tvs);
  keten_keys_wipe(&a->keys);
  keten_keys_wipe(&a->tvs_keys);
  keten_root_key_wipe(&a->root);
  memset(a->chain_key, 0, sizeof a->chain_key);
  adapter_index_free(&a->index);
}

static int s_run(adapter_t *a) {
  char err[1024];
  /* the outbox, done/, failed/, the inbox and the state dir: opened once
   * (never through a symlink), owner and mode checked, kept open */
  adapter_outbox_t ob;
  if (adapter_outbox_open(a, &ob, err, sizeof err) != 0) {
    adapter_log(a, ADAPTER_LOG_ERROR, "%s", err);
    adapter_outbox_close(&ob);
    return ADAPTER_EXIT_CONFIG;
  }
  adapter_attempts_load(a);
  if (adapter_index_load_at(&a->index, a->state_fd, a->cfg.state_dir, err,
                            sizeof err) != 0) {
    adapter_log(a, ADAPTER_LOG_ERROR, "%s", err);
    adapter_outbox_close(&ob);
    return ADAPTER_EXIT_CONFIG;
  }
  a->client = s_client(a, &a->keys, 1, err, sizeof err);
  if (!a->client) {
    adapter_log(a, ADAPTER_LOG_ERROR, "client: %s", err);
    adapter_outbox_close(&ob);
    return ADAPTER_EXIT_CONFIG;
  }
  keten_client_on_notice(a->client, adapter_on_notice, a);
  keten_client_on_tvs_event(a->client, adapter_on_tvs_event, a);
  keten_client_on_rewrap(a->client, adapter_on_rewrap, a);
  keten_client_on_subscription(a->client, s_on_subscription, a);
  keten_welcome_t w;
  memset(&w, 0, sizeof w);
  a->exit_status = ADAPTER_EXIT_OK;
  if (s_hello(a, a->client, a->kind->role, &w, "our key") != 0) {
    adapter_outbox_close(&ob);
    return a->exit_status;
  }
  snprintf(a->id, sizeof a->id, "%s", w.participant_id);
  if (a->cfg.tvs_key[0]) {
    a->tvs = s_client(a, &a->tvs_keys, 0, err, sizeof err);
    keten_welcome_t tw;
    memset(&tw, 0, sizeof tw);
    if (!a->tvs) {
      adapter_log(a, ADAPTER_LOG_ERROR, "TVS client: %s", err);
      adapter_outbox_close(&ob);
      return ADAPTER_EXIT_CONFIG;
    }
    if (s_hello(a, a->tvs, keten_role_from_name("TVS"), &tw, "tvs_key") != 0) {
      adapter_outbox_close(&ob);
      return a->exit_status;
    }
    adapter_log(a, ADAPTER_LOG_INFO, "TVS events published as %s", tw.participant_id);
  }
  keten_err_t rc = keten_client_subscribe(a->client, (uint32_t)a->cfg.credit);
  if (rc != KETEN_OK && !keten_client_transient(a->client, rc)) {
    adapter_log(a, ADAPTER_LOG_ERROR, "SUBSCRIBE: %s: %s", keten_strerror(rc),
                keten_client_error(a->client));
    adapter_outbox_close(&ob);
    return ADAPTER_EXIT_FAIL;
  }
  adapter_log(a, ADAPTER_LOG_INFO,
              "%s (%s) connected to %s (broker %s); outbox %s, inbox %s", a->id,
              w.display_name, a->cfg.endpoint, w.broker_version, a->cfg.outbox,
              a->cfg.inbox);
  sd_notifyf(0, "READY=1\nSTATUS=%s: outbox %s, inbox %s", a->id, a->cfg.outbox,
             a->cfg.inbox);
  adapter_watchdog_init();
  int64_t now = adapter_mono_ms(), last_witness = now;
  a->last_activity_ms = now;
  int transient_left = 0;
  /* One poll() over the client's event-loop descriptor, the outbox's
   * inotify descriptor and the stop self-pipe; it sleeps until one is
   * readable or the nearest deadline: the client's own
   * (keten_client_timeout_ms()), the outbox's back-off, the next
   * witnessing, the next watchdog ping, the end of --once's quiet time. */
  int kfd = keten_client_fd(a->client);
  if (kfd < 0) {
    adapter_log(a, ADAPTER_LOG_ERROR, "client: %s", keten_client_error(a->client));
    adapter_outbox_close(&ob);
    return ADAPTER_EXIT_FAIL;
  }
  while (!adapter_stop_requested && !a->stopping) {
    adapter_outbox_events(a, &ob);
    adapter_outbox_run(a, &ob);
    if (a->stopping || adapter_stop_requested)
      break;
    transient_left = ob.n_pending > 0 && ob.next_try_ms > 0;
    now = adapter_mono_ms();
    /* the nearest deadline, as a monotonic time (-1: none) */
    int64_t due = -1;
#define ADAPTER_DUE(t)                                                          \
  do {                                                                         \
    int64_t t_ = (t);                                                          \
    if (due < 0 || t_ < due)                                                   \
      due = t_;                                                                \
  } while (0)
    int kt = keten_client_timeout_ms(a->client); /* after every call into it */
    if (kt >= 0)
      ADAPTER_DUE(now + kt);
    if (transient_left)
      ADAPTER_DUE(ob.next_try_ms);
    if (a->cfg.witness_file[0] && a->cfg.witness_interval_ms > 0)
      ADAPTER_DUE(last_witness + a->cfg.witness_interval_ms);
    if (s_watchdog_due() >= 0)
      ADAPTER_DUE(s_watchdog_due());
    if (a->once && ob.n_pending == 0)
      ADAPTER_DUE(a->last_activity_ms + a->cfg.once_idle_ms);
#undef ADAPTER_DUE
    int wait = -1;
    if (due >= 0)
      wait = due <= now ? 0 : due - now > INT_MAX ? INT_MAX : (int)(due - now);
    struct pollfd pfd[3] = {{.fd = kfd, .events = POLLIN},
                            {.fd = ob.inotify_fd, .events = POLLIN},
                            {.fd = s_stop_pipe[0], .events = POLLIN}};
    if (!adapter_stop_requested && poll(pfd, 3, wait) < 0 && errno != EINTR) {
      adapter_log(a, ADAPTER_LOG_ERROR, "poll: %s", strerror(errno));
      a->exit_status = ADAPTER_EXIT_FAIL;
      break;
    }
    if (adapter_stop_requested)
      break;
    if (pfd[2].revents & POLLIN)
      s_stop_pipe_drain();
    /* the inotify descriptor is read at the top of the loop; the
     * client's is never read: its poll takes what is ready */
    size_t handled = 0;
    rc = keten_client_poll(a->client, 0, adapter_on_delivery, a, &handled);
    if (handled)
      a->last_activity_ms = adapter_mono_ms();
    if (rc == KETEN_ERR_DISPLACED) {
      a->exit_status = ADAPTER_EXIT_DISPLACED;
      break;
    }
    if (rc == KETEN_ERR_REMOVED) {
      a->exit_status = ADAPTER_EXIT_FAIL;
      break;
    }
    if (rc == KETEN_ERR_LOG_INCONSISTENT) {
      adapter_log(a, ADAPTER_LOG_ERROR, "the broker's audit log is not the one "
                                        "witnessed: %s", keten_client_error(a->client));
      a->exit_status = ADAPTER_EXIT_LOG;
      break;
    }
    if (rc != KETEN_OK && !adapter_stop_requested) {
      adapter_log(a, ADAPTER_LOG_WARN, "poll: %s: %s", keten_strerror(rc),
                  keten_client_error(a->client));
      s_sleep_ms(200);
    }
    now = adapter_mono_ms();
    if (a->cfg.witness_file[0] && a->cfg.witness_interval_ms > 0 &&
        now - last_witness >= a->cfg.witness_interval_ms) {
      last_witness = now;
      keten_err_t wr = keten_client_witness(a->client);
      if (wr == KETEN_ERR_LOG_INCONSISTENT) {
        adapter_log(a, ADAPTER_LOG_ERROR, "the broker's audit log is not the "
                                          "one witnessed: %s",
                    keten_client_error(a->client));
        a->exit_status = ADAPTER_EXIT_LOG;
        break;
      }
      if (wr != KETEN_OK)
        adapter_log(a, ADAPTER_LOG_WARN, "witnessing: %s: %s", keten_strerror(wr),
                    keten_client_error(a->client));
    }
    adapter_watchdog();
    if (a->once && ob.n_pending == 0 &&
        now - a->last_activity_ms >= a->cfg.once_idle_ms)
      break;
    if (a->once && transient_left) {
      a->exit_status = ADAPTER_EXIT_TEMPFAIL;
      break;
    }
  }
  sd_notify(0, "STOPPING=1");
  /* Let the last ack leave before the socket closes. */
  if (!a->stopping)
    keten_client_poll(a->client, 50, adapter_on_delivery, a, NULL);
  adapter_log(a, ADAPTER_LOG_INFO,
              "stopping: %ld published, %ld failed file(s); %ld section(s), %ld "
              "TVS event(s), %ld notice(s) received, %ld file(s) deleted, %ld "
              "rewrap(s) sealed, %ld refused, %ld quarantined",
              a->n_published, a->n_failed, a->n_sections, a->n_events,
              a->n_notices, a->n_deleted, a->n_rewraps, a->n_refused_rewraps,
              a->n_quarantined);
  adapter_outbox_close(&ob);
  return a->exit_status;
}

int adapter_main(int argc, char **argv, const adapter_kind_t *kind) {
  static const struct option opts[] = {
      {"config", required_argument, NULL, 'c'},
      {"once", no_argument, NULL, '1'},
      {"check-config", no_argument, NULL, 'C'},
      {"map", required_argument, NULL, 'M'},
      {"version", no_argument, NULL, 'V'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  s_program = kind->program;
  const char *config = NULL, *map = NULL;
  int once = 0, check = 0, c;
  while ((c = getopt_long(argc, argv, "c:1Vh", opts, NULL)) != -1) {
    switch (c) {
    case 'c': config = optarg; break;
    case '1': once = 1; break;
    case 'C': check = 1; break;
    case 'M': map = optarg; break;
    case 'V': printf("%s %s (libketen %s)\n", kind->program, KETEN_VERSION_STRING,
                     keten_version()); return ADAPTER_EXIT_OK;
    case 'h': s_usage(stdout, kind); return ADAPTER_EXIT_OK;
    default: s_usage(stderr, kind); return ADAPTER_EXIT_CONFIG;
    }
  }
  if (optind != argc || !config) {
    s_usage(stderr, kind);
    return ADAPTER_EXIT_CONFIG;
  }
  static adapter_t a; /* holds secrets: static, wiped at the end */
  memset(&a, 0, sizeof a);
  a.outbox_fd = a.done_fd = a.failed_fd = a.inbox_fd = a.state_fd = -1;
  a.index.dirfd = -1;
  a.kind = kind;
  a.once = once;
  char err[1024];
  if (adapter_config_load(&a.cfg, kind, config, err, sizeof err) != 0) {
    fprintf(stderr, "%s: %s\n", kind->program, err);
    return ADAPTER_EXIT_CONFIG;
  }
  s_log_level = a.cfg.log_level;
  if (s_load_keys(&a, err, sizeof err) != 0) {
    fprintf(stderr, "%s: %s\n", kind->program, err);
    s_wipe(&a);
    return ADAPTER_EXIT_CONFIG;
  }
  if (check) {
    if (adapter_check_files(&a.cfg, stdout, err, sizeof err) != 0) {
      fprintf(stderr, "%s: %s\n", kind->program, err);
      s_wipe(&a);
      return ADAPTER_EXIT_CONFIG;
    }
    printf("%s: configuration OK\n", config);
    s_wipe(&a);
    return ADAPTER_EXIT_OK;
  }
  if (map) {
    int rc = s_map_file(&a, map);
    s_wipe(&a);
    return rc;
  }
  umask(077);
  if (s_stop_pipe[0] < 0)
    s_stop_pipe_open();
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = s_on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  int rc = s_run(&a);
  s_wipe(&a);
  return rc;
}
