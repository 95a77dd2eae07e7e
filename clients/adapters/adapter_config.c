/* adapter_config — the adapter's config file, in ketend.conf's syntax:
 * one "key = value" per line, '#' starts a comment anywhere, blank lines
 * ignored, spaces around key and value ignored, values not quoted, lines
 * at most 1023 characters. An unknown key or a bad value is an error with
 * the file name and line: the adapter never guesses (exit status 2). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"

#define LINE_MAX_BYTES 1024

static char *s_trim(char *s) {
  while (*s == ' ' || *s == '\t')
    s++;
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' ||
                   s[n - 1] == '\r'))
    s[--n] = '\0';
  return s;
}

static int s_int(const char *v, long lo, long hi, int *out) {
  char *end = NULL;
  errno = 0;
  long x = strtol(v, &end, 10);
  if (errno || end == v || *end || x < lo || x > hi)
    return -1;
  *out = (int)x;
  return 0;
}

static int s_bool(const char *v, int *out) {
  if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1"))
    *out = 1;
  else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0"))
    *out = 0;
  else
    return -1;
  return 0;
}

static int s_path(char *dst, size_t cap, const char *v) {
  if (!v[0] || strlen(v) >= cap)
    return -1;
  snprintf(dst, cap, "%s", v);
  return 0;
}

/* One setting; returns 0, 1 for an unknown key, or -1 with a reason. */
static int s_set(adapter_config_t *c, const adapter_kind_t *kind,
                 const char *key, const char *v, const char **reason) {
  *reason = "bad value";
#define PATHKEY(name)                                                          \
  if (!strcmp(key, #name)) {                                                   \
    if (s_path(c->name, sizeof c->name, v) != 0) {                             \
      *reason = "expected a path of 1..511 characters";                       \
      return -1;                                                               \
    }                                                                          \
    return 0;                                                                  \
  }
#define INTKEY(name, lo, hi)                                                   \
  if (!strcmp(key, #name)) {                                                   \
    if (s_int(v, lo, hi, &c->name) != 0) {                                     \
      *reason = "expected an integer in [" #lo ", " #hi "]";                   \
      return -1;                                                               \
    }                                                                          \
    return 0;                                                                  \
  }
  if (!strcmp(key, "endpoint")) {
    if ((strncmp(v, "tcp://", 6) && strncmp(v, "ipc://", 6)) ||
        strlen(v) >= sizeof c->endpoint) {
      *reason = "expected tcp://HOST:PORT or ipc://PATH (under 256 characters)";
      return -1;
    }
    snprintf(c->endpoint, sizeof c->endpoint, "%s", v);
    return 0;
  }
  PATHKEY(key)
  PATHKEY(broker_key)
  PATHKEY(root_key)
  PATHKEY(chain_key)
  PATHKEY(witness_file)
  PATHKEY(outbox)
  PATHKEY(inbox)
  PATHKEY(state_dir)
  PATHKEY(on_delivery)
  if (kind->tvs) {
    PATHKEY(tvs_key)
  }
  /* at most 30 s: a stop waits for the command in hand at most 1 s, but
   * a run must stay well below the unit's TimeoutStopSec=40 and WatchdogSec */
  INTKEY(on_delivery_timeout_ms, 100, 30000)
  INTKEY(on_delivery_attempts, 1, 100)
  INTKEY(credit, 1, 1024)
  INTKEY(request_timeout_ms, 100, 600000)
  INTKEY(retry_max_ms, 100, 3600000)
  INTKEY(witness_interval_ms, 0, 86400000)
  INTKEY(once_idle_ms, 100, 600000)
  if (kind->identity_v_nummer && !strcmp(key, "identity_v_nummer")) {
    if (s_bool(v, &c->identity_v_nummer) != 0) {
      *reason = "expected yes or no";
      return -1;
    }
    return 0;
  }
  if (!strcmp(key, "log_level")) {
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
      if (!strcmp(v, names[i])) {
        c->log_level = i;
        return 0;
      }
    *reason = "expected error, warn, info or debug";
    return -1;
  }
#undef PATHKEY
#undef INTKEY
  return 1;
}

int adapter_config_load(adapter_config_t *cfg, const adapter_kind_t *kind,
                        const char *path, char *err, size_t errlen) {
  memset(cfg, 0, sizeof *cfg);
  cfg->on_delivery_timeout_ms = 30000;
  cfg->on_delivery_attempts = 5;
  cfg->credit = 16;
  cfg->log_level = ADAPTER_LOG_INFO;
  cfg->request_timeout_ms = 10000;
  cfg->retry_max_ms = 60000;
  cfg->witness_interval_ms = 300000;
  cfg->once_idle_ms = 2000;
  cfg->identity_v_nummer = 1;
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return -1;
  }
  char line[LINE_MAX_BYTES];
  int lineno = 0, rc = 0;
  while (rc == 0 && fgets(line, sizeof line, f)) {
    lineno++;
    if (!strchr(line, '\n') && !feof(f)) {
      snprintf(err, errlen, "%s:%d: line too long", path, lineno);
      rc = -1;
      break;
    }
    char *hash = strchr(line, '#');
    if (hash)
      *hash = '\0';
    char *text = s_trim(line);
    if (!*text)
      continue;
    char *eq = strchr(text, '=');
    if (!eq) {
      snprintf(err, errlen, "%s:%d: expected 'key = value'", path, lineno);
      rc = -1;
      break;
    }
    *eq = '\0';
    char *key = s_trim(text), *value = s_trim(eq + 1);
    if (!*key || !*value) {
      snprintf(err, errlen, "%s:%d: expected 'key = value'", path, lineno);
      rc = -1;
      break;
    }
    const char *reason = NULL;
    int r = s_set(cfg, kind, key, value, &reason);
    if (r == 1) {
      snprintf(err, errlen, "%s:%d: unknown setting '%s' for %s", path, lineno,
               key, kind->program);
      rc = -1;
    } else if (r < 0) {
      snprintf(err, errlen, "%s:%d: %s: %s", path, lineno, key, reason);
      rc = -1;
    }
  }
  if (rc == 0 && ferror(f)) {
    snprintf(err, errlen, "%s: read error", path);
    rc = -1;
  }
  fclose(f);
  if (rc != 0)
    return -1;
  static const struct {
    const char *name;
    size_t off;
  } required[] = {
      {"endpoint", offsetof(adapter_config_t, endpoint)},
      {"key", offsetof(adapter_config_t, key)},
      {"broker_key", offsetof(adapter_config_t, broker_key)},
      {"root_key", offsetof(adapter_config_t, root_key)},
      {"chain_key", offsetof(adapter_config_t, chain_key)},
      {"outbox", offsetof(adapter_config_t, outbox)},
      {"inbox", offsetof(adapter_config_t, inbox)},
  };
  for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
    if (((const char *)cfg)[required[i].off] == '\0') {
      snprintf(err, errlen, "%s: required setting '%s' is missing", path,
               required[i].name);
      return -1;
    }
  /* The default state dir is "state" beside the inbox (INBOX/../state),
   * never inside the outbox: whoever may write the outbox must not be
   * able to plant or replace the inflight file or the V-nummer index. */
  if (!cfg->state_dir[0]) {
    char parent[ADAPTER_PATH_MAX];
    snprintf(parent, sizeof parent, "%s", cfg->inbox);
    size_t n = strlen(parent);
    while (n > 1 && parent[n - 1] == '/')
      parent[--n] = '\0';
    char *slash = strrchr(parent, '/');
    if (!slash)
      snprintf(parent, sizeof parent, ".");
    else if (slash == parent)
      parent[1] = '\0';
    else
      *slash = '\0';
    if (strlen(parent) + 7 >= sizeof cfg->state_dir) {
      snprintf(err, errlen, "%s: inbox path too long", path);
      return -1;
    }
    snprintf(cfg->state_dir, sizeof cfg->state_dir, "%s%sstate", parent,
             strcmp(parent, "/") ? "/" : "");
  }
  if (!strcmp(cfg->outbox, cfg->inbox)) {
    snprintf(err, errlen, "%s: outbox and inbox must be different directories",
             path);
    return -1;
  }
  if (!strcmp(cfg->state_dir, cfg->outbox) || !strcmp(cfg->state_dir, cfg->inbox)) {
    snprintf(err, errlen, "%s: state_dir must be neither the outbox nor the inbox",
             path);
    return -1;
  }
  return 0;
}
