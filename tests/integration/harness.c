/* harness — a real ketend in a temporary directory for integration tests. */
#define _XOPEN_SOURCE 700
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "canon.h"
#include "store.h"

static void s_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

int harness_free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = -1;
  if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0)
    close(fd);
  return port;
}

static const struct {
  const char *id;
  const char *role;
  const char *name;
} s_partners[] = {
    {"coa", "COA", "Centraal Orgaan opvang asielzoekers"},
    {"gemeente:0716", "GEMEENTE", "Gemeente Tholen"},
    {"vwn:zeeland", "VOLUNTEER", "VluchtelingenWerk Zeeland"},
    {"ggz:zeeland", "CARE", "GGZ Zeeland (fictief)"},
};

static int64_t s_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int s_install(harness_t *h, const char *id, int role, const char *name,
                     const keten_keys_t *keys, int64_t from, int64_t until,
                     const keten_root_key_t *root) {
  participant_t rec;
  memset(&rec, 0, sizeof rec);
  snprintf(rec.id, sizeof rec.id, "%s", id);
  snprintf(rec.display_name, sizeof rec.display_name, "%s", name);
  rec.role = role;
  memcpy(rec.transport_pk, keys->transport_pk, 32);
  memcpy(rec.signing_pk, keys->signing_pk, 32);
  memcpy(rec.sealing_pk, keys->sealing_pk, 32);
  rec.valid_from_ms = from;
  rec.valid_until_ms = until;
  rec.issued_at_ms = s_wall_ms();
  if (participant_sign(&rec, (root ? root : &h->root)->secret_key) != 0)
    return -1;
  char err[256];
  store_t *store = store_open(h->store, err, sizeof err);
  if (!store)
    return -1;
  int rc = store_entry_add(store, &rec, err, sizeof err);
  store_close(&store);
  return rc == 0 ? 0 : -1;
}

int harness_install_entry(harness_t *h, const char *id, int role,
                          const keten_keys_t *keys, int64_t from,
                          int64_t until, const keten_root_key_t *root) {
  return s_install(h, id, role, id, keys, from, until, root);
}

harness_partner_t *harness_add_partner(harness_t *h, const char *id,
                                       const char *role, const char *name) {
  if (h->n_partners >= HARNESS_MAX_PARTNERS)
    return NULL;
  harness_partner_t *p = &h->partners[h->n_partners];
  snprintf(p->id, sizeof p->id, "%s", id);
  p->role = keten_role_from_name(role);
  keten_keys_generate(&p->keys, p->id);
  int64_t now = s_wall_ms();
  if (s_install(h, id, p->role, name, &p->keys, now - 3600000,
                now + 365 * INT64_C(86400000), NULL) != 0)
    return NULL;
  h->n_partners++;
  return p;
}

harness_t *harness_new(int use_ipc) {
  harness_t *h = calloc(1, sizeof *h);
  if (!h)
    return NULL;
  snprintf(h->dir, sizeof h->dir, "/tmp/keten-test-XXXXXX");
  if (!mkdtemp(h->dir)) {
    free(h);
    return NULL;
  }
  snprintf(h->store, sizeof h->store, "%s/keten.db", h->dir);
  snprintf(h->key_file, sizeof h->key_file, "%s/broker.key", h->dir);
  snprintf(h->root_file, sizeof h->root_file, "%s/root.pub", h->dir);
  snprintf(h->log_file, sizeof h->log_file, "%s/ketend.log", h->dir);
  if (use_ipc)
    snprintf(h->endpoint, sizeof h->endpoint, "ipc://%s/ketend.sock", h->dir);
  else
    snprintf(h->endpoint, sizeof h->endpoint, "tcp://127.0.0.1:%d",
             harness_free_port());
  keten_keys_generate(&h->broker, "broker");
  if (keten_keys_save(&h->broker, h->key_file, NULL, 0) != KETEN_OK ||
      keten_root_key_generate(&h->root) != KETEN_OK ||
      keten_root_key_save(&h->root, NULL, h->root_file, 0) != KETEN_OK)
    goto fail;
  for (size_t i = 0; i < sizeof s_partners / sizeof s_partners[0]; i++)
    if (!harness_add_partner(h, s_partners[i].id, s_partners[i].role,
                             s_partners[i].name))
      goto fail;
  return h;
fail:
  harness_destroy(&h);
  return NULL;
}

static pid_t s_spawn(harness_t *h, const char *const *argv, int n) {
  pid_t pid = fork();
  if (pid != 0)
    return pid;
  int fd = open(h->log_file, O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd >= 0) {
    dup2(fd, STDERR_FILENO);
    dup2(fd, STDOUT_FILENO);
    close(fd);
  }
  const char *args[32];
  int k = 0;
  args[k++] = KETEND_PATH;
  for (int i = 0; i < n && k < 31; i++)
    args[k++] = argv[i];
  args[k] = NULL;
  execv(KETEND_PATH, (char *const *)args);
  _exit(127);
}

int harness_config(harness_t *h, const char *conf) {
  char path[320];
  snprintf(path, sizeof path, "%s/ketend.conf", h->dir);
  FILE *f = fopen(path, "w");
  if (!f)
    return -1;
  int ok = fputs(conf, f) >= 0;
  ok = fclose(f) == 0 && ok;
  if (!ok || strlen(path) >= sizeof h->extra_args[0] || h->n_extra + 2 > 4)
    return -1;
  snprintf(h->extra_args[h->n_extra++], sizeof h->extra_args[0], "--config");
  snprintf(h->extra_args[h->n_extra++], sizeof h->extra_args[0], "%s", path);
  return 0;
}

int harness_start(harness_t *h) {
  const char *argv[24];
  int n = 0;
  argv[n++] = "--endpoint";
  argv[n++] = h->endpoint;
  argv[n++] = "--key-file";
  argv[n++] = h->key_file;
  argv[n++] = "--root-key";
  argv[n++] = h->root_file;
  argv[n++] = "--store";
  argv[n++] = h->store;
  argv[n++] = "--log-level";
  argv[n++] = "info";
  for (int i = 0; i < h->n_extra; i++)
    argv[n++] = h->extra_args[i];
  int ready_before = harness_log_count(h, "broker: ready");
  h->pid = s_spawn(h, argv, n);
  if (h->pid < 0)
    return -1;
  if (harness_wait_log(h, "broker: ready", ready_before + 1, 10000) != 0) {
    harness_stop(h);
    return -1;
  }
  return 0;
}

int harness_stop(harness_t *h) {
  if (h->pid <= 0)
    return -1;
  kill(h->pid, SIGTERM);
  int status = 0;
  for (int i = 0; i < 500; i++) {
    if (waitpid(h->pid, &status, WNOHANG) == h->pid) {
      h->pid = 0;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    s_sleep_ms(10);
  }
  kill(h->pid, SIGKILL);
  waitpid(h->pid, &status, 0);
  h->pid = 0;
  return 137;
}

int harness_run_ketend(harness_t *h, const char *const *argv) {
  int n = 0;
  while (argv[n])
    n++;
  pid_t pid = s_spawn(h, argv, n);
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid)
    return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int harness_run_cli(harness_t *h, const char *const *argv, char **out) {
  if (out)
    *out = NULL;
  int fds[2];
  if (pipe(fds) != 0)
    return -1;
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return -1;
  }
  if (pid == 0) {
    int fd = open(h->log_file, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, STDERR_FILENO);
      close(fd);
    }
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    const char *args[32];
    int k = 0;
    args[k++] = KETEN_CLI_PATH;
    for (int i = 0; argv[i] && k < 31; i++)
      args[k++] = argv[i];
    args[k] = NULL;
    execv(KETEN_CLI_PATH, (char *const *)args);
    _exit(127);
  }
  close(fds[1]);
  size_t len = 0, cap = 4096;
  char *buf = malloc(cap);
  for (;;) {
    if (buf && len + 1 == cap) {
      char *grown = realloc(buf, 2 * cap);
      if (!grown) {
        free(buf);
        buf = NULL;
      } else {
        buf = grown;
        cap *= 2;
      }
    }
    char sink[512];
    ssize_t n = buf ? read(fds[0], buf + len, cap - 1 - len)
                    : read(fds[0], sink, sizeof sink);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    if (buf)
      len += (size_t)n;
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  if (buf)
    buf[len] = '\0';
  if (out)
    *out = buf;
  else
    free(buf);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int s_rm(const char *path, const struct stat *st, int flag,
                struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

void harness_destroy(harness_t **hp) {
  if (!hp || !*hp)
    return;
  harness_t *h = *hp;
  if (h->pid > 0)
    harness_stop(h);
  if (h->dir[0] && strncmp(h->dir, "/tmp/keten-test-", 16) == 0)
    nftw(h->dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
  keten_keys_wipe(&h->broker);
  keten_root_key_wipe(&h->root);
  for (int i = 0; i < h->n_partners; i++)
    keten_keys_wipe(&h->partners[i].keys);
  free(h);
  *hp = NULL;
}

harness_partner_t *harness_partner(harness_t *h, const char *id) {
  for (int i = 0; i < h->n_partners; i++)
    if (strcmp(h->partners[i].id, id) == 0)
      return &h->partners[i];
  abort();
}

void harness_client_config(harness_t *h, const keten_keys_t *keys,
                           int timeout_ms, int retries,
                           keten_client_config_t *cfg) {
  keten_client_config_t c = {.endpoint = h->endpoint,
                             .keys = keys,
                             .broker_key = h->broker.transport_pk,
                             .root_key = h->root.public_key,
                             .broker_signing_key = h->broker.signing_pk,
                             .timeout_ms = timeout_ms,
                             .retries = retries,
                             .reconnect_ivl_ms = 50,
                             .reconnect_ivl_max_ms = 500};
  *cfg = c;
}

keten_client_t *harness_client(harness_t *h, const keten_keys_t *keys,
                               int timeout_ms, int retries) {
  keten_client_config_t cfg;
  harness_client_config(h, keys, timeout_ms, retries, &cfg);
  char err[256];
  return keten_client_new(&cfg, err, sizeof err);
}

void *harness_raw_socket(harness_t *h, void *ctx, const keten_keys_t *keys) {
  void *s = zmq_socket(ctx, ZMQ_DEALER);
  int zero = 0;
  zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
  zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, h->broker.transport_pk, 32);
  zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, keys->transport_pk, 32);
  zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, keys->transport_sk, 32);
  if (zmq_connect(s, h->endpoint) != 0) {
    zmq_close(s);
    return NULL;
  }
  return s;
}

int harness_recv(void *sock, uint8_t *buf, size_t cap, int timeout_ms) {
  zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
  if (zmq_poll(&item, 1, timeout_ms) <= 0)
    return -1;
  int n = zmq_recv(sock, buf, cap, 0);
  return n < 0 ? -1 : (n > (int)cap ? (int)cap : n);
}

int harness_log_count(harness_t *h, const char *needle) {
  FILE *f = fopen(h->log_file, "r");
  if (!f)
    return 0;
  char line[2048];
  int n = 0;
  while (fgets(line, sizeof line, f))
    if (strstr(line, needle))
      n++;
  fclose(f);
  return n;
}

int harness_audit_verify(harness_t *h, char **out) {
  if (out)
    *out = NULL;
  char pub[320];
  snprintf(pub, sizeof pub, "%s/broker.pub", h->dir);
  if (keten_keys_save(&h->broker, NULL, pub, 1) != KETEN_OK)
    return -1;
  const char *argv[] = {"audit",        "verify", "--store", h->store,
                        "--broker-key", pub,      NULL};
  return harness_run_cli(h, argv, out);
}

int harness_wait_log(harness_t *h, const char *needle, int n, int timeout_ms) {
  for (int waited = 0; waited <= timeout_ms; waited += 10) {
    if (harness_log_count(h, needle) >= n)
      return 0;
    s_sleep_ms(10);
  }
  return -1;
}
