/* bench_ketend — the registry set-up, ketend's command line and start-up
 * both benchmark drivers share; see bench_ketend.h. */
#include "bench_ketend.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "participant.h"

int bench_entry_make(const keten_root_key_t *root, const keten_keys_t *k,
                     const char *role, const char *name, int64_t now_ms,
                     participant_t *p, char *err, size_t errlen) {
  memset(p, 0, sizeof *p);
  snprintf(p->id, sizeof p->id, "%s", k->id);
  p->role = keten_role_from_name(role);
  snprintf(p->display_name, sizeof p->display_name, "%s", name);
  memcpy(p->transport_pk, k->transport_pk, PARTICIPANT_KEY_BYTES);
  memcpy(p->signing_pk, k->signing_pk, PARTICIPANT_KEY_BYTES);
  memcpy(p->sealing_pk, k->sealing_pk, PARTICIPANT_KEY_BYTES);
  p->valid_from_ms = now_ms - BENCH_ENTRY_BEFORE_MS;
  p->valid_until_ms = now_ms + BENCH_ENTRY_AFTER_MS;
  p->issued_at_ms = now_ms;
  if (!root->has_secret) {
    snprintf(err, errlen, "%s: the root key has no secret to sign with",
             p->id);
    return -1;
  }
  if (participant_sign(p, root->secret_key) != 0) {
    snprintf(err, errlen, "%s: cannot sign the entry: out of memory", p->id);
    return -1;
  }
  return 0;
}

int bench_entry_add(store_t *store, const keten_root_key_t *root,
                    const keten_keys_t *k, const char *role, const char *name,
                    int64_t now_ms, char *err, size_t errlen) {
  participant_t p;
  if (bench_entry_make(root, k, role, name, now_ms, &p, err, errlen) != 0)
    return -1;
  char reason[300];
  if (store_entry_add(store, &p, reason, sizeof reason) < 0) {
    snprintf(err, errlen, "%s: %s", p.id, reason);
    return -1;
  }
  return 0;
}

int bench_root_save(const keten_root_key_t *root, const char *public_path,
                    char *err, size_t errlen) {
  keten_err_t rc = keten_root_key_save(root, NULL, public_path, 1);
  if (rc != KETEN_OK) {
    snprintf(err, errlen, "cannot write the root key %s: %s", public_path,
             keten_strerror(rc));
    return -1;
  }
  return 0;
}

int bench_ketend_conf_write(const char *path, const char *extra, char *err,
                            size_t errlen) {
  static const char budgets[] =
      "# keten bench: every per-participant budget at its maximum\n"
      "requests_per_second = 1000000\n"
      "requests_burst = 1000000\n"
      "max_connections = 1024\n"
      "max_pending_per_author = 10000000\n"
      "max_author_bytes = 1099511627776\n"
      "prepare_per_second = 1000000\n"
      "prepare_burst = 1000000\n";
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (!f) {
    snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
    if (fd >= 0)
      close(fd);
    return -1;
  }
  int bad = fputs(budgets, f) < 0 || (extra && fputs(extra, f) < 0);
  if (fclose(f) != 0 || bad) {
    snprintf(err, errlen, "cannot write %s", path);
    return -1;
  }
  return 0;
}

int bench_ketend_arg(bench_ketend_argv_t *a, const char *opt,
                     const char *value) {
  if (a->argc + (value ? 2 : 1) > BENCH_KETEND_MAX_ARGS)
    return -1;
  const char *add[2] = {opt, value};
  for (int i = 0; i < (value ? 2 : 1); i++) {
    snprintf(a->arg[a->argc], sizeof a->arg[a->argc], "%s", add[i]);
    a->argv[a->argc] = a->arg[a->argc];
    a->argc++;
  }
  a->argv[a->argc] = NULL;
  return 0;
}

void bench_ketend_argv(bench_ketend_argv_t *a, const char *bin,
                       const char *endpoint, const char *key_file,
                       const char *root_key, const char *store,
                       const char *log_level) {
  memset(a, 0, sizeof *a);
  bench_ketend_arg(a, bin, NULL);
  bench_ketend_arg(a, "--endpoint", endpoint);
  bench_ketend_arg(a, "--key-file", key_file);
  bench_ketend_arg(a, "--root-key", root_key);
  bench_ketend_arg(a, "--store", store);
  bench_ketend_arg(a, "--log-level", log_level);
}

void bench_client_config(keten_client_config_t *cfg, const char *endpoint,
                         const keten_keys_t *keys, const uint8_t *broker_pk,
                         const uint8_t *root_pk, int timeout_ms) {
  memset(cfg, 0, sizeof *cfg);
  cfg->endpoint = endpoint;
  cfg->keys = keys;
  cfg->broker_key = broker_pk;
  cfg->root_key = root_pk;
  cfg->timeout_ms = timeout_ms;
  cfg->retries = -1;
}

int bench_ketend_wait_hello(volatile sig_atomic_t *slot,
                            const keten_client_config_t *cfg, int64_t t0_ns,
                            int timeout_ms, keten_welcome_t *w, char *err,
                            size_t errlen) {
  char reason[300];
  keten_client_t *c = keten_client_new(cfg, reason, sizeof reason);
  if (!c) {
    snprintf(err, errlen, "keten_client_new: %s", reason);
    return -1;
  }
  int64_t deadline = t0_ns + (int64_t)timeout_ms * 1000000;
  int rc = -1;
  for (;;) {
    int status;
    pid_t pid = (pid_t)*slot;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      *slot = 0;
      snprintf(err, errlen, "ketend exited before serving (%s %d)",
               WIFEXITED(status) ? "exit status" : "signal",
               WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
      break;
    }
    keten_err_t krc = keten_client_hello(c, w);
    if (krc == KETEN_OK) {
      rc = 0;
      break;
    }
    if (krc != KETEN_ERR_TIMEOUT) {
      snprintf(err, errlen, "HELLO failed: %s: %s", keten_strerror(krc),
               keten_client_error(c));
      break;
    }
    if (bench_now_ns() >= deadline) {
      snprintf(err, errlen, "ketend did not answer HELLO within %d ms",
               timeout_ms);
      break;
    }
  }
  keten_client_destroy(&c);
  return rc;
}

void bench_ketend_summary(const char *log_path, char *out, size_t cap) {
  out[0] = '\0';
  FILE *f = fopen(log_path, "r");
  if (!f)
    return;
  char line[1024];
  while (fgets(line, sizeof line, f)) {
    const char *p = strstr(line, "stopping: ");
    if (p) {
      snprintf(out, cap, "%s", p);
      out[strcspn(out, "\n")] = '\0';
    }
  }
  fclose(f);
}
