/* config — ketend's settings. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_LINE_MAX 1024

void config_defaults(config_t *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->log_level = LOG_INFO;
  cfg->max_frame_bytes = 1048576;
  cfg->heartbeat_ivl_ms = 5000;
  cfg->heartbeat_timeout_ms = 15000;
  cfg->send_hwm = 16;
  cfg->registry_poll_ms = 1000;
  cfg->ack_timeout_ms = 30000;
  cfg->checkpoint_every = 1000;
  cfg->checkpoint_interval_ms = 60000;
  cfg->prepare_per_second = 50;
  cfg->prepare_burst = 200;
  cfg->max_consents_per_recipient = 16;
  cfg->refusal_audit_interval_ms = 10000;
  cfg->delivery_window_bytes = 4 * 1024 * 1024;
  cfg->stall_timeouts = 3;
  cfg->fetch_page_bytes = 1024 * 1024;
  cfg->max_connections = 8;
  cfg->requests_per_second = 1000;
  cfg->requests_burst = 2000;
  cfg->max_pending_per_author = 10000;
  cfg->budget_audit_interval_ms = 10000;
  cfg->max_author_bytes = 16LL * 1024 * 1024 * 1024;
  cfg->log_format = LOG_FORMAT_TEXT;
  cfg->metrics_interval_ms = 10000;
}

static int s_int(const char *value, long min, long max, long *out) {
  char *end = NULL;
  errno = 0;
  long v = strtol(value, &end, 10);
  if (errno || end == value || *end != '\0' || v < min || v > max)
    return -1;
  *out = v;
  return 0;
}

static int s_copy(char *dst, size_t cap, const char *value) {
  size_t n = strlen(value);
  if (n == 0 || n >= cap)
    return -1;
  memcpy(dst, value, n + 1);
  return 0;
}

int config_set(config_t *cfg, const char *key, const char *value, char *err,
               size_t errlen) {
  long v = 0;
  int rc = 0;
  if (strcmp(key, "endpoint") == 0) {
    if (cfg->n_endpoints >= CONFIG_MAX_ENDPOINTS) {
      snprintf(err, errlen, "at most %d endpoints", CONFIG_MAX_ENDPOINTS);
      return -1;
    }
    if (strncmp(value, "tcp://", 6) != 0 && strncmp(value, "ipc://", 6) != 0) {
      snprintf(err, errlen, "endpoint '%s' must start with tcp:// or ipc://",
               value);
      return -1;
    }
    rc = s_copy(cfg->endpoints[cfg->n_endpoints], CONFIG_ENDPOINT_MAX, value);
    if (rc == 0)
      cfg->n_endpoints++;
  } else if (strcmp(key, "key_file") == 0) {
    rc = s_copy(cfg->key_file, sizeof cfg->key_file, value);
  } else if (strcmp(key, "root_key") == 0) {
    rc = s_copy(cfg->root_key, sizeof cfg->root_key, value);
  } else if (strcmp(key, "store") == 0) {
    rc = s_copy(cfg->store, sizeof cfg->store, value);
  } else if (strcmp(key, "pid_file") == 0) {
    rc = s_copy(cfg->pid_file, sizeof cfg->pid_file, value);
  } else if (strcmp(key, "log_level") == 0) {
    rc = log_level_parse(value, &cfg->log_level);
  } else if (strcmp(key, "max_frame_bytes") == 0) {
    rc = s_int(value, 4096, 64L * 1024 * 1024, &v);
    cfg->max_frame_bytes = (uint32_t)v;
  } else if (strcmp(key, "heartbeat_ivl_ms") == 0) {
    rc = s_int(value, 100, 600000, &v);
    cfg->heartbeat_ivl_ms = (int)v;
  } else if (strcmp(key, "heartbeat_timeout_ms") == 0) {
    rc = s_int(value, 300, 3600000, &v);
    cfg->heartbeat_timeout_ms = (int)v;
  } else if (strcmp(key, "send_hwm") == 0) {
    rc = s_int(value, 4, 100000, &v);
    cfg->send_hwm = (int)v;
  } else if (strcmp(key, "registry_poll_ms") == 0) {
    rc = s_int(value, 0, 3600000, &v);
    cfg->registry_poll_ms = (int)v;
  } else if (strcmp(key, "ack_timeout_ms") == 0) {
    rc = s_int(value, 100, 3600000, &v);
    cfg->ack_timeout_ms = (int)v;
  } else if (strcmp(key, "checkpoint_every") == 0) {
    rc = s_int(value, 1, 100000000, &v);
    cfg->checkpoint_every = (int)v;
  } else if (strcmp(key, "checkpoint_interval_ms") == 0) {
    rc = s_int(value, 100, 86400000, &v);
    cfg->checkpoint_interval_ms = (int)v;
  } else if (strcmp(key, "prepare_per_second") == 0) {
    rc = s_int(value, 1, 1000000, &v);
    cfg->prepare_per_second = (int)v;
  } else if (strcmp(key, "prepare_burst") == 0) {
    rc = s_int(value, 1, 1000000, &v);
    cfg->prepare_burst = (int)v;
  } else if (strcmp(key, "max_consents_per_recipient") == 0) {
    rc = s_int(value, 1, 1024, &v);
    cfg->max_consents_per_recipient = (int)v;
  } else if (strcmp(key, "refusal_audit_interval_ms") == 0) {
    rc = s_int(value, 1000, 3600000, &v);
    cfg->refusal_audit_interval_ms = (int)v;
  } else if (strcmp(key, "delivery_window_bytes") == 0) {
    rc = s_int(value, 1024L * 1024, 256L * 1024 * 1024, &v);
    cfg->delivery_window_bytes = (int)v;
  } else if (strcmp(key, "stall_timeouts") == 0) {
    rc = s_int(value, 1, 100, &v);
    cfg->stall_timeouts = (int)v;
  } else if (strcmp(key, "fetch_page_bytes") == 0) {
    rc = s_int(value, 64L * 1024, 16L * 1024 * 1024, &v);
    cfg->fetch_page_bytes = (int)v;
  } else if (strcmp(key, "max_connections") == 0) {
    rc = s_int(value, 1, 1024, &v);
    cfg->max_connections = (int)v;
  } else if (strcmp(key, "requests_per_second") == 0) {
    rc = s_int(value, 1, 1000000, &v);
    cfg->requests_per_second = (int)v;
  } else if (strcmp(key, "requests_burst") == 0) {
    rc = s_int(value, 1, 1000000, &v);
    cfg->requests_burst = (int)v;
  } else if (strcmp(key, "max_pending_per_author") == 0) {
    rc = s_int(value, 1, 10000000, &v);
    cfg->max_pending_per_author = (int)v;
  } else if (strcmp(key, "budget_audit_interval_ms") == 0) {
    rc = s_int(value, 1000, 3600000, &v);
    cfg->budget_audit_interval_ms = (int)v;
  } else if (strcmp(key, "max_author_bytes") == 0) {
    rc = s_int(value, 1024L * 1024, 1024L * 1024 * 1024 * 1024, &v);
    cfg->max_author_bytes = v;
  } else if (strcmp(key, "log_format") == 0) {
    rc = log_format_parse(value, &cfg->log_format);
  } else if (strcmp(key, "metrics_endpoint") == 0) {
    /* HOST:PORT with a numeric IPv4 or [IPv6] host; "off" or "" disables. */
    if (strcmp(value, "off") == 0 || value[0] == '\0') {
      cfg->metrics_endpoint[0] = '\0';
    } else {
      const char *colon = strrchr(value, ':');
      long port = 0;
      rc = colon && colon > value && s_int(colon + 1, 1, 65535, &port) == 0
               ? s_copy(cfg->metrics_endpoint, sizeof cfg->metrics_endpoint, value)
               : -1;
    }
  } else if (strcmp(key, "metrics_interval_ms") == 0) {
    rc = s_int(value, 1000, 3600000, &v);
    cfg->metrics_interval_ms = (int)v;
  } else if (strcmp(key, "tree_head_file") == 0) {
    rc = s_copy(cfg->tree_head_file, sizeof cfg->tree_head_file, value);
  } else if (strcmp(key, "previous_broker_key") == 0) {
    if (cfg->n_previous_broker_keys >= CONFIG_MAX_PREVIOUS_KEYS) {
      snprintf(err, errlen, "at most %d previous_broker_key lines",
               CONFIG_MAX_PREVIOUS_KEYS);
      return -1;
    }
    rc = s_copy(cfg->previous_broker_keys[cfg->n_previous_broker_keys],
                CONFIG_PATH_MAX, value);
    if (rc == 0)
      cfg->n_previous_broker_keys++;
  } else {
    snprintf(err, errlen, "unknown setting '%s'", key);
    return -1;
  }
  if (rc != 0)
    snprintf(err, errlen, "bad value '%s' for setting '%s'", value, key);
  return rc;
}

static char *s_trim(char *s) {
  while (isspace((unsigned char)*s))
    s++;
  char *end = s + strlen(s);
  while (end > s && isspace((unsigned char)end[-1]))
    *--end = '\0';
  return s;
}

int config_load_file(config_t *cfg, const char *path, char *err,
                     size_t errlen) {
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, errlen, "cannot read config file %s: %s", path,
             strerror(errno));
    return -1;
  }
  char line[CONFIG_LINE_MAX];
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
    if (*text == '\0')
      continue;
    char *eq = strchr(text, '=');
    if (!eq) {
      snprintf(err, errlen, "%s:%d: expected 'key = value'", path, lineno);
      rc = -1;
      break;
    }
    *eq = '\0';
    char reason[256];
    if (config_set(cfg, s_trim(text), s_trim(eq + 1), reason, sizeof reason)) {
      snprintf(err, errlen, "%s:%d: %s", path, lineno, reason);
      rc = -1;
    }
  }
  fclose(f);
  return rc;
}

int config_check(const config_t *cfg, char *err, size_t errlen) {
  if (cfg->n_endpoints == 0)
    snprintf(err, errlen, "no endpoint configured (endpoint = tcp://...)");
  else if (!cfg->key_file[0])
    snprintf(err, errlen, "no key_file configured: ketend never serves "
                          "without its CURVE key");
  else if (!cfg->root_key[0])
    snprintf(err, errlen, "no root_key configured: ketend admits only "
                          "registry entries signed by the chain root");
  else if (!cfg->store[0])
    snprintf(err, errlen, "no store configured");
  else if (cfg->heartbeat_timeout_ms < 2 * cfg->heartbeat_ivl_ms)
    snprintf(err, errlen,
             "heartbeat_timeout_ms must be at least twice heartbeat_ivl_ms");
  else if (cfg->requests_burst < cfg->requests_per_second)
    snprintf(err, errlen,
             "requests_burst must be at least requests_per_second");
  else if (cfg->metrics_endpoint[0] &&
           strncmp(cfg->metrics_endpoint, "127.", 4) != 0 &&
           strncmp(cfg->metrics_endpoint, "[::1]:", 6) != 0 &&
           strncmp(cfg->metrics_endpoint, "localhost:", 10) != 0)
    snprintf(err, errlen,
             "metrics_endpoint must be a loopback address (127.0.0.1:PORT, "
             "[::1]:PORT or localhost:PORT): the metrics name participants "
             "(docs/security.md)");
  else
    return 0;
  return -1;
}

/* The settings SIGHUP applies: one table of name and offset and size. */
#define RELOADABLE(f) {#f, offsetof(config_t, f), sizeof(((config_t *)0)->f)}
static const struct {
  const char *name;
  size_t off, size;
} s_reloadable[] = {
    RELOADABLE(log_level),
    RELOADABLE(log_format),
    RELOADABLE(registry_poll_ms),
    RELOADABLE(ack_timeout_ms),
    RELOADABLE(checkpoint_every),
    RELOADABLE(checkpoint_interval_ms),
    RELOADABLE(prepare_per_second),
    RELOADABLE(prepare_burst),
    RELOADABLE(max_consents_per_recipient),
    RELOADABLE(refusal_audit_interval_ms),
    RELOADABLE(delivery_window_bytes),
    RELOADABLE(stall_timeouts),
    RELOADABLE(fetch_page_bytes),
    RELOADABLE(max_connections),
    RELOADABLE(requests_per_second),
    RELOADABLE(requests_burst),
    RELOADABLE(max_pending_per_author),
    RELOADABLE(budget_audit_interval_ms),
    RELOADABLE(max_author_bytes),
    RELOADABLE(metrics_interval_ms),
}, s_restart[] = {
    RELOADABLE(endpoints),
    RELOADABLE(n_endpoints),
    RELOADABLE(key_file),
    RELOADABLE(root_key),
    RELOADABLE(store),
    RELOADABLE(pid_file),
    RELOADABLE(max_frame_bytes),
    RELOADABLE(heartbeat_ivl_ms),
    RELOADABLE(heartbeat_timeout_ms),
    RELOADABLE(send_hwm),
    RELOADABLE(tree_head_file),
    RELOADABLE(previous_broker_keys),
    RELOADABLE(n_previous_broker_keys),
    RELOADABLE(metrics_endpoint),
};

static void s_add_name(char *out, size_t cap, const char *name) {
  if (!out || cap == 0)
    return;
  size_t n = strlen(out);
  snprintf(out + n, cap - n, "%s%s", n ? ", " : "", name);
}

int config_diff(const config_t *old, const config_t *new_cfg, char *reloadable,
                size_t reloadable_len, char *restart, size_t restart_len) {
  const char *a = (const char *)old, *b = (const char *)new_cfg;
  int changed = 0;
  if (reloadable && reloadable_len)
    reloadable[0] = '\0';
  if (restart && restart_len)
    restart[0] = '\0';
  for (size_t i = 0; i < sizeof s_reloadable / sizeof s_reloadable[0]; i++)
    if (memcmp(a + s_reloadable[i].off, b + s_reloadable[i].off,
               s_reloadable[i].size) != 0) {
      s_add_name(reloadable, reloadable_len, s_reloadable[i].name);
      changed++;
    }
  for (size_t i = 0; i < sizeof s_restart / sizeof s_restart[0]; i++) {
    int differs;
    if (s_restart[i].off == offsetof(config_t, endpoints)) {
      differs = old->n_endpoints != new_cfg->n_endpoints;
      for (int e = 0; !differs && e < old->n_endpoints; e++)
        differs = strcmp(old->endpoints[e], new_cfg->endpoints[e]) != 0;
    } else if (s_restart[i].off == offsetof(config_t, n_endpoints)) {
      continue; /* with endpoints */
    } else if (s_restart[i].size == CONFIG_PATH_MAX ||
               s_restart[i].size == CONFIG_ENDPOINT_MAX) {
      differs = strcmp(a + s_restart[i].off, b + s_restart[i].off) != 0;
    } else {
      differs = memcmp(a + s_restart[i].off, b + s_restart[i].off,
                       s_restart[i].size) != 0;
    }
    if (differs)
      s_add_name(restart, restart_len, s_restart[i].name);
  }
  return changed;
}

void config_apply_reloadable(config_t *cfg, const config_t *new_cfg) {
  for (size_t i = 0; i < sizeof s_reloadable / sizeof s_reloadable[0]; i++)
    memcpy((char *)cfg + s_reloadable[i].off,
           (const char *)new_cfg + s_reloadable[i].off, s_reloadable[i].size);
}
