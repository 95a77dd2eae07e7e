/* ketend — the keten broker daemon: options, signals, pid file. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"

static volatile sig_atomic_t s_stop, s_reload;

static void s_on_stop(int sig) {
  (void)sig;
  s_stop = 1;
}

static void s_on_hup(int sig) {
  (void)sig;
  s_reload = 1;
}

static void s_usage(FILE *out) {
  fprintf(out,
          "usage: ketend [options]\n"
          "\n"
          "The keten broker. Settings come from the config file, then from\n"
          "these options (an --endpoint option replaces the file's endpoints).\n"
          "\n"
          "  -c, --config FILE         read settings from FILE\n"
          "  -e, --endpoint URL        listen on URL (tcp://HOST:PORT or ipc://PATH); repeatable\n"
          "  -k, --key-file FILE       the broker's secret key file (keten keygen)\n"
          "  -r, --root-key FILE       the chain root's public key file (keten root keygen)\n"
          "  -s, --store FILE          the SQLite store\n"
          "  -p, --pid-file FILE       write the process id to FILE\n"
          "  -l, --log-level LEVEL     error, warn, info (default) or debug\n"
          "  -m, --max-frame-bytes N   largest accepted frame (default 1048576)\n"
          "  -a, --ack-timeout-ms N    resend unacked deliveries after N ms (default 30000)\n"
          "  -t, --check-config        check the settings and exit\n"
          "  -H, --health [HOST:PORT]  ask a running ketend's /health (default: the\n"
          "                            config's metrics_endpoint); exit 0 healthy, 1 not\n"
          "  -V, --version             print the version and exit\n"
          "  -h, --help                print this help and exit\n"
          "\n"
          "Signals: SIGTERM/SIGINT stop cleanly; SIGHUP reloads the registry and\n"
          "the settings that can change without a restart.\n"
          "Exit status: 0 clean stop, 1 runtime failure, 2 usage or configuration error.\n");
}

/* Where the settings come from, kept for SIGHUP: the config file, then
 * the command line's options (argv stays valid for the process's life). */
static struct {
  const char *config_path;
  int endpoints_given;
  char keys[64][24];
  const char *values[64];
  int n;
} s_settings;

static int s_read_settings(config_t *cfg, char *err, size_t errlen,
                           void *arg) {
  (void)arg;
  config_defaults(cfg);
  if (s_settings.config_path &&
      config_load_file(cfg, s_settings.config_path, err, errlen))
    return -1;
  if (s_settings.endpoints_given)
    cfg->n_endpoints = 0;
  for (int i = 0; i < s_settings.n; i++)
    if (config_set(cfg, s_settings.keys[i], s_settings.values[i], err, errlen))
      return -1;
  return 0;
}

static int s_write_pid(const char *path) {
  FILE *f = fopen(path, "w");
  if (!f)
    return -1;
  fprintf(f, "%ld\n", (long)getpid());
  return fclose(f);
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"config", required_argument, NULL, 'c'},
      {"endpoint", required_argument, NULL, 'e'},
      {"key-file", required_argument, NULL, 'k'},
      {"root-key", required_argument, NULL, 'r'},
      {"store", required_argument, NULL, 's'},
      {"pid-file", required_argument, NULL, 'p'},
      {"log-level", required_argument, NULL, 'l'},
      {"max-frame-bytes", required_argument, NULL, 'm'},
      {"ack-timeout-ms", required_argument, NULL, 'a'},
      {"check-config", no_argument, NULL, 't'},
      {"health", optional_argument, NULL, 'H'},
      {"version", no_argument, NULL, 'V'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  /* Options are applied after the config file, whatever their order. */
  struct {
    char key[24];
    const char *value;
  } overrides[64];
  int n_overrides = 0, check_only = 0, endpoints_given = 0, health = 0;
  const char *config_path = NULL, *health_ep = NULL;
  int c;
  while ((c = getopt_long(argc, argv, "c:e:k:r:s:p:l:m:a:tH::Vh", opts, NULL)) != -1) {
    const char *key = NULL;
    switch (c) {
    case 'c': config_path = optarg; break;
    case 'e': key = "endpoint"; endpoints_given = 1; break;
    case 'k': key = "key_file"; break;
    case 'r': key = "root_key"; break;
    case 's': key = "store"; break;
    case 'p': key = "pid_file"; break;
    case 'l': key = "log_level"; break;
    case 'm': key = "max_frame_bytes"; break;
    case 'a': key = "ack_timeout_ms"; break;
    case 't': check_only = 1; break;
    case 'H': health = 1; health_ep = optarg; break;
    case 'V': printf("ketend %s\n", KETEN_VERSION); return 0;
    case 'h': s_usage(stdout); return 0;
    default: s_usage(stderr); return 2;
    }
    if (key) {
      if (n_overrides == (int)(sizeof overrides / sizeof overrides[0])) {
        fprintf(stderr, "ketend: too many options\n");
        return 2;
      }
      snprintf(overrides[n_overrides].key, sizeof overrides[0].key, "%s", key);
      overrides[n_overrides++].value = optarg;
    }
  }
  if (health && !health_ep && optind < argc)
    health_ep = argv[optind++]; /* --health HOST:PORT */
  if (optind < argc) {
    fprintf(stderr, "ketend: unexpected argument '%s'\n", argv[optind]);
    s_usage(stderr);
    return 2;
  }

  config_t cfg;
  char err[512];
  s_settings.config_path = config_path;
  s_settings.endpoints_given = endpoints_given;
  s_settings.n = n_overrides;
  for (int i = 0; i < n_overrides; i++) {
    snprintf(s_settings.keys[i], sizeof s_settings.keys[i], "%s", overrides[i].key);
    s_settings.values[i] = overrides[i].value;
  }
  if (s_read_settings(&cfg, err, sizeof err, NULL) != 0) {
    fprintf(stderr, "ketend: %s\n", err);
    return 2;
  }
  if (health) {
    /* Needs no participant key: the HTTP endpoint on a local address. */
    const char *ep = health_ep ? health_ep : cfg.metrics_endpoint;
    if (!ep[0]) {
      fprintf(stderr, "ketend: --health needs HOST:PORT or a config with "
                      "metrics_endpoint\n");
      return 2;
    }
    char body[256];
    int status = metrics_health_get(ep, 3000, body, sizeof body, err, sizeof err);
    if (status < 0) {
      fprintf(stderr, "ketend: health: %s\n", err);
      return 1;
    }
    body[strcspn(body, "\n")] = '\0';
    printf("ketend at %s: %s (HTTP %d)\n", ep, body[0] ? body : "-", status);
    return status == 200 ? 0 : 1;
  }
  if (config_check(&cfg, err, sizeof err)) {
    fprintf(stderr, "ketend: configuration: %s\n", err);
    return 2;
  }
  log_set_level(cfg.log_level);
  log_set_format(cfg.log_format);
  if (check_only) {
    printf("ketend: configuration ok\n");
    return 0;
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = s_on_stop; /* no SA_RESTART: zmq_poll returns EINTR */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sa.sa_handler = s_on_hup;
  sigaction(SIGHUP, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  broker_t *b = broker_new(&cfg, err, sizeof err);
  if (!b) {
    log_msg(LOG_ERROR, "broker", "not starting: %s", err);
    return 2;
  }
  if (cfg.pid_file[0] && s_write_pid(cfg.pid_file) != 0) {
    log_msg(LOG_ERROR, "broker", "cannot write pid file %s: %s", cfg.pid_file,
            strerror(errno));
    broker_destroy(&b);
    return 2;
  }
  log_msg(LOG_INFO, "broker", "ready");
  /* Every endpoint is bound (broker_new): connections are accepted now. */
  {
    char status[300];
    snprintf(status, sizeof status, "serving on %s%s", cfg.endpoints[0],
             cfg.n_endpoints > 1 ? " and more" : "");
    notify_ready(status);
  }
  broker_on_reload(b, s_read_settings, NULL);
  int rc = broker_run(b, &s_stop, &s_reload);
  broker_destroy(&b);
  if (cfg.pid_file[0])
    unlink(cfg.pid_file);
  log_msg(LOG_INFO, "broker", "stopped");
  return rc == 0 ? 0 : 1;
}
