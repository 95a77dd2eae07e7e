/* bench_ketend — the registry set-up and ketend command line both
 * benchmark drivers share; see bench_ketend.h. */
#include "bench_ketend.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "participant.h"

int64_t bench_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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
