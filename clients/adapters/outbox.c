/* outbox — the directory the case system drops its export files into.
 *
 * Watched with inotify (IN_CLOSE_WRITE, IN_MOVED_TO): a file counts once
 * it is closed after writing or moved in, so a writer should write
 * .NAME.tmp (ignored: names starting with '.') and rename it to NAME.json.
 * Only regular files named *.json are taken; a symlink is never followed
 * (it goes to failed/). Files already there at start are queued first;
 * the queue is worked in name order, one file at a time; a file that
 * fails transiently (the broker away or busy) stays at the head and is
 * tried again after a back-off (1 s doubling to retry_max_ms), so that a
 * later file never overtakes it (an intake's consents before its TVS
 * koppeling). Each file ends in done/NAME, or in failed/NAME beside
 * failed/NAME.reason (JSON: the reason, when, the file's hash). A *.json
 * name with other characters than [A-Za-z0-9._-] goes to failed/ under a
 * sanitised name (the original in the reason), never ignored.
 *
 * The outbox, done/, failed/ and the state dir are opened once at start
 * (O_DIRECTORY|O_NOFOLLOW, owner and mode checked) and every operation is
 * relative to those descriptors (openat, renameat, unlinkat, fstatat with
 * AT_SYMLINK_NOFOLLOW): whoever may write the outbox can swap done/ or
 * failed/ for a symlink, but a file still lands in the directory the
 * adapter opened. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adapter.h"

#define INFLIGHT_NAME "inflight.json"

/* Names up to 179 bytes: with "-<ms>" and ".reason" a failed/ name stays
 * within adapter_name_ok()'s 200. */
#define OUTBOX_NAME_MAX 179
#define OUTBOX_SANE_MAX 150

int adapter_outbox_name_ok(const char *name) {
  size_t n = name ? strlen(name) : 0;
  return n > 5 && n <= OUTBOX_NAME_MAX && name[0] != '.' &&
         !strcmp(name + n - 5, ".json") && adapter_name_ok(name);
}

int adapter_outbox_name_odd(const char *name) {
  size_t n = name ? strlen(name) : 0;
  return n > 5 && n < 256 && name[0] != '.' && !strcmp(name + n - 5, ".json") &&
         !adapter_outbox_name_ok(name);
}

void adapter_outbox_sanitise(char *out, size_t cap, const char *name) {
  size_t n = strlen(name);
  size_t base = n >= 5 ? n - 5 : n;
  if (base > OUTBOX_SANE_MAX)
    base = OUTBOX_SANE_MAX;
  size_t j = 0;
  for (size_t i = 0; i < base && j + 6 < cap; i++) {
    char c = name[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    out[j] = ok && !(j == 0 && c == '.') ? c : '_';
    j++;
  }
  if (j == 0 && cap > 7)
    out[j++] = '_';
  snprintf(out + j, cap - j, ".json");
}

static void s_queue(adapter_outbox_t *ob, const char *name) {
  if (!adapter_outbox_name_ok(name) && !adapter_outbox_name_odd(name))
    return;
  size_t lo = 0, hi = ob->n_pending;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = strcmp(ob->pending[mid], name);
    if (c == 0)
      return;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (ob->n_pending == ob->cap_pending) {
    size_t cap = ob->cap_pending ? 2 * ob->cap_pending : 64;
    void *p = realloc(ob->pending, cap * sizeof *ob->pending);
    if (!p)
      return; /* found again by the next scan */
    ob->pending = p;
    ob->cap_pending = cap;
  }
  memmove(ob->pending[lo + 1], ob->pending[lo],
          (ob->n_pending - lo) * sizeof *ob->pending);
  snprintf(ob->pending[lo], sizeof ob->pending[lo], "%s", name);
  ob->n_pending++;
}

static void s_pop(adapter_outbox_t *ob) {
  if (!ob->n_pending)
    return;
  memmove(ob->pending[0], ob->pending[1],
          (ob->n_pending - 1) * sizeof *ob->pending);
  ob->n_pending--;
  ob->backoff_ms = 0;
  ob->next_try_ms = 0;
}

static int s_scan(adapter_t *a, adapter_outbox_t *ob) {
  int fd = openat(a->outbox_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
  if (!d) {
    int e = errno;
    if (fd >= 0)
      close(fd);
    errno = e;
    return -1;
  }
  struct dirent *de;
  while ((de = readdir(d)) != NULL)
    s_queue(ob, de->d_name);
  closedir(d);
  return 0;
}

/* The directory path is in (the whole path when it has no '/' but ".").
 * 0, or -1 when it does not fit. */
static int s_parent_of(const char *path, char *out, size_t cap) {
  const char *slash = strrchr(path, '/');
  size_t n = slash ? (size_t)(slash - path) : 0;
  if (slash && n == 0)
    n = 1; /* "/x": the root */
  if (!slash)
    return snprintf(out, cap, ".") >= (int)cap ? -1 : 0;
  if (n >= cap)
    return -1;
  memcpy(out, path, n);
  out[n] = '\0';
  return 0;
}

/* One directory of adapter_check_files(): *exists and its identity, or
 * (missing) a parent we may create it in, or one that will be created
 * itself (parent_pending). */
static int s_check_dir(const char *path, int group_ok, const char *label,
                       int parent_pending, int *exists, struct stat *id,
                       FILE *out, char *err, size_t errlen) {
  struct stat st;
  *exists = 0;
  if (fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno != ENOENT) {
      snprintf(err, errlen, "%s %s: %s", label, path, strerror(errno));
      return -1;
    }
    char parent[ADAPTER_PATH_MAX];
    if (!parent_pending) {
      struct stat ps;
      if (s_parent_of(path, parent, sizeof parent) != 0 ||
          stat(parent, &ps) != 0 || !S_ISDIR(ps.st_mode)) {
        snprintf(err, errlen, "%s %s does not exist, nor does the directory "
                              "it would be created in", label, path);
        return -1;
      }
      if (access(parent, W_OK | X_OK) != 0) {
        snprintf(err, errlen, "%s %s does not exist and cannot be created in "
                              "%s: %s", label, path, parent, strerror(errno));
        return -1;
      }
    }
    if (out)
      fprintf(out, "%s %s: does not exist yet; created (0700) at start\n",
              label, path);
    return 0;
  }
  int fd = adapter_open_dir(AT_FDCWD, path, 0, group_ok, label, err, errlen);
  if (fd < 0)
    return -1;
  int rc = fstat(fd, id);
  close(fd);
  if (rc != 0) {
    snprintf(err, errlen, "%s %s: %s", label, path, strerror(errno));
    return -1;
  }
  *exists = 1;
  return 0;
}

int adapter_check_files(const adapter_config_t *cfg, FILE *out, char *err,
                        size_t errlen) {
  char done[ADAPTER_PATH_MAX + 8], failed[ADAPTER_PATH_MAX + 8];
  snprintf(done, sizeof done, "%s/done", cfg->outbox);
  snprintf(failed, sizeof failed, "%s/failed", cfg->outbox);
  struct {
    const char *path, *label;
    int group_ok, under_outbox, exists;
    struct stat id;
  } d[5] = {{cfg->outbox, "outbox", 1, 0, 0, {0}},
            {done, "outbox dir", 0, 1, 0, {0}},
            {failed, "outbox dir", 0, 1, 0, {0}},
            {cfg->inbox, "inbox", 0, 0, 0, {0}},
            {cfg->state_dir, "state_dir", 0, 0, 0, {0}}};
  for (int i = 0; i < 5; i++)
    if (s_check_dir(d[i].path, d[i].group_ok, d[i].label,
                    d[i].under_outbox && !d[0].exists, &d[i].exists, &d[i].id,
                    out, err, errlen) != 0)
      return -1;
  static const int pairs[3][2] = {{0, 3}, {0, 4}, {3, 4}};
  for (int i = 0; i < 3; i++) {
    int x = pairs[i][0], y = pairs[i][1];
    int same = d[x].exists && d[y].exists
                   ? d[x].id.st_dev == d[y].id.st_dev &&
                         d[x].id.st_ino == d[y].id.st_ino
                   : strcmp(d[x].path, d[y].path) == 0;
    if (same) {
      snprintf(err, errlen, "outbox, inbox and state_dir must be three "
                            "different directories");
      return -1;
    }
  }
  if (cfg->on_delivery[0]) {
    struct stat st;
    if (stat(cfg->on_delivery, &st) != 0 || !S_ISREG(st.st_mode) ||
        access(cfg->on_delivery, X_OK) != 0) {
      snprintf(err, errlen, "on_delivery %s: not an executable file we may "
                            "run", cfg->on_delivery);
      return -1;
    }
  }
  if (cfg->witness_file[0]) {
    char parent[ADAPTER_PATH_MAX];
    struct stat st;
    if (s_parent_of(cfg->witness_file, parent, sizeof parent) != 0 ||
        stat(parent, &st) != 0 || !S_ISDIR(st.st_mode)) {
      snprintf(err, errlen, "witness_file %s: its directory does not exist",
               cfg->witness_file);
      return -1;
    }
  }
  return 0;
}

int adapter_outbox_open(adapter_t *a, adapter_outbox_t *ob, char *err,
                        size_t errlen) {
  memset(ob, 0, sizeof *ob);
  ob->inotify_fd = -1;
  /* the outbox may be writable by the case system's group (never by
   * others); everything else only by us */
  if ((a->outbox_fd = adapter_open_dir(AT_FDCWD, a->cfg.outbox, 1, 1, "outbox",
                                       err, errlen)) < 0 ||
      (a->done_fd = adapter_open_dir(a->outbox_fd, "done", 1, 0, "outbox dir",
                                     err, errlen)) < 0 ||
      (a->failed_fd = adapter_open_dir(a->outbox_fd, "failed", 1, 0,
                                       "outbox dir", err, errlen)) < 0 ||
      (a->inbox_fd = adapter_open_dir(AT_FDCWD, a->cfg.inbox, 1, 0, "inbox", err,
                                      errlen)) < 0 ||
      (a->state_fd = adapter_open_dir(AT_FDCWD, a->cfg.state_dir, 1, 0,
                                      "state_dir", err, errlen)) < 0)
    return -1;
  struct stat so, si, ss;
  if (fstat(a->outbox_fd, &so) != 0 || fstat(a->inbox_fd, &si) != 0 ||
      fstat(a->state_fd, &ss) != 0) {
    snprintf(err, errlen, "fstat: %s", strerror(errno));
    return -1;
  }
  if ((so.st_dev == si.st_dev && so.st_ino == si.st_ino) ||
      (ss.st_dev == si.st_dev && ss.st_ino == si.st_ino) ||
      (ss.st_dev == so.st_dev && ss.st_ino == so.st_ino)) {
    snprintf(err, errlen, "outbox, inbox and state_dir must be three different "
                          "directories");
    return -1;
  }
  ob->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (ob->inotify_fd < 0 ||
      inotify_add_watch(ob->inotify_fd, a->cfg.outbox,
                        IN_CLOSE_WRITE | IN_MOVED_TO | IN_ONLYDIR |
                            IN_DONT_FOLLOW) < 0) {
    snprintf(err, errlen, "inotify on %s: %s", a->cfg.outbox, strerror(errno));
    if (ob->inotify_fd >= 0)
      close(ob->inotify_fd);
    ob->inotify_fd = -1;
    return -1;
  }
  /* the watch is by path: it must be the directory opened above */
  struct stat sw;
  if (fstatat(AT_FDCWD, a->cfg.outbox, &sw, AT_SYMLINK_NOFOLLOW) != 0 ||
      sw.st_dev != so.st_dev || sw.st_ino != so.st_ino) {
    snprintf(err, errlen, "outbox %s was replaced while the adapter started",
             a->cfg.outbox);
    return -1;
  }
  /* After the watch: a file dropped meanwhile is seen by one or both. */
  if (s_scan(a, ob) != 0) {
    snprintf(err, errlen, "outbox %s: %s", a->cfg.outbox, strerror(errno));
    return -1;
  }
  return 0;
}

void adapter_outbox_events(adapter_t *a, adapter_outbox_t *ob) {
  char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
  for (;;) {
    ssize_t n = read(ob->inotify_fd, buf, sizeof buf);
    if (n <= 0)
      break;
    for (char *p = buf; p < buf + n;) {
      const struct inotify_event *ev = (const struct inotify_event *)p;
      if (ev->mask & IN_Q_OVERFLOW)
        ob->rescan = 1;
      else if (ev->len > 0)
        s_queue(ob, ev->name);
      p += sizeof *ev + ev->len;
    }
  }
  if (ob->rescan) {
    ob->rescan = 0;
    if (s_scan(a, ob) != 0)
      adapter_log(a, ADAPTER_LOG_ERROR, "cannot read outbox %s: %s",
                  a->cfg.outbox, strerror(errno));
  }
}

void adapter_outbox_close(adapter_outbox_t *ob) {
  if (ob->inotify_fd >= 0)
    close(ob->inotify_fd);
  free(ob->pending);
  memset(ob, 0, sizeof *ob);
  ob->inotify_fd = -1;
}

/* ---- the inflight file -------------------------------------------------------- */

int adapter_inflight_save(const adapter_t *a, const adapter_inflight_t *in) {
  char id[33] = "";
  json_t *o = json_pack("{s:s, s:s}", "name", in->name, "hash", in->hash);
  if (!o)
    return -1;
  if (in->has_tvs) {
    adapter_hex(id, in->tvs_event_id, sizeof in->tvs_event_id);
    json_object_set_new(o, "tvs_event_id", json_string(id));
    json_object_set_new(o, "tvs_published_at_ms",
                        json_integer((json_int_t)in->tvs_published_at_ms));
  }
  char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(o);
  if (!text)
    return -1;
  int rc = adapter_write_atomic_at(a->state_fd, INFLIGHT_NAME, text, strlen(text));
  free(text);
  return rc;
}

/* Fills in from the inflight file when it names this file (name, hash):
 * a previous attempt may have published part of it. */
static void s_inflight_load(const adapter_t *a, adapter_inflight_t *in) {
  int fd = openat(a->state_fd, INFLIGHT_NAME,
                  O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return;
  struct stat st;
  json_error_t jerr;
  json_t *o = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size < 65536
                  ? json_loadfd(fd, JSON_REJECT_DUPLICATES, &jerr)
                  : NULL;
  close(fd);
  if (!o)
    return;
  const char *name = json_string_value(json_object_get(o, "name"));
  const char *hash = json_string_value(json_object_get(o, "hash"));
  const char *id = json_string_value(json_object_get(o, "tvs_event_id"));
  if (name && hash && !strcmp(name, in->name) && !strcmp(hash, in->hash)) {
    in->resume = 1;
    if (id && strlen(id) == 32) {
      size_t bin_len = 0;
      if (sodium_hex2bin(in->tvs_event_id, sizeof in->tvs_event_id, id, 32, NULL,
                         &bin_len, NULL) == 0 &&
          bin_len == sizeof in->tvs_event_id) {
        in->has_tvs = 1;
        in->tvs_published_at_ms =
            (uint64_t)json_integer_value(json_object_get(o, "tvs_published_at_ms"));
      }
    }
  }
  json_decref(o);
}

static void s_inflight_clear(const adapter_t *a) {
  if (unlinkat(a->state_fd, INFLIGHT_NAME, 0) == 0)
    fsync(a->state_fd);
}

/* ---- one file ------------------------------------------------------------------- */

/* A name in the directory subfd that is free: NAME, else NAME-<ms>.json. */
static void s_free_name(int subfd, const char *name, char *out, size_t cap) {
  struct stat st;
  if (fstatat(subfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    snprintf(out, cap, "%s", name);
    return;
  }
  size_t n = strlen(name) - 5; /* without ".json" */
  snprintf(out, cap, "%.*s-%lld.json", (int)n, name, (long long)adapter_wall_ms());
}

/* outbox/name → sub/to, relative to the descriptors opened at start. */
static int s_move(adapter_t *a, const char *name, int subfd, const char *to) {
  if (renameat(a->outbox_fd, name, subfd, to) != 0)
    return -1;
  fsync(subfd);
  fsync(a->outbox_fd);
  return 0;
}

/* outbox/name → failed/NAME (base: the name it gets there, before a
 * "-<ms>" when taken) beside failed/NAME.reason. */
static int s_fail_file(adapter_t *a, const char *name, const char *base,
                       const char *hash, const char *reason) {
  char to[256], rname[272], shown[256];
  s_free_name(a->failed_fd, base, to, sizeof to);
  snprintf(rname, sizeof rname, "%s.reason", to);
  char at[40];
  adapter_iso8601(at, sizeof at, adapter_wall_ms());
  /* the name as it was (json_string refuses bytes that are not UTF-8:
   * then the printable part) */
  size_t i = 0;
  for (; name[i] && i + 1 < sizeof shown; i++)
    shown[i] = (unsigned char)name[i] >= 0x20 && name[i] != 0x7f ? name[i] : '?';
  shown[i] = '\0';
  json_t *jn = json_string(name);
  if (!jn)
    jn = json_string(shown);
  json_t *o = json_pack("{s:o, s:s, s:s, s:s}", "file", jn, "reason", reason,
                        "failed_at", at, "blake2b", hash);
  char *text = o ? json_dumps(o, JSON_INDENT(1) | JSON_SORT_KEYS) : NULL;
  json_decref(o);
  int rc = text ? adapter_write_atomic_at(a->failed_fd, rname, text, strlen(text))
                : -1;
  free(text);
  if (rc != 0 || s_move(a, name, a->failed_fd, to) != 0) {
    adapter_log(a, ADAPTER_LOG_ERROR, "cannot move %s to failed/: %s", shown,
                strerror(errno));
    return -1;
  }
  a->n_failed++;
  adapter_log(a, ADAPTER_LOG_WARN, "%s failed: %s (failed/%s)", shown, reason, to);
  return 0;
}

/* Reads outbox/name into *buf. 0; 1 when it is gone; -1 with why when it
 * is not a file the outbox takes. */
static int s_read(const adapter_t *a, const char *name, char **buf, size_t *len,
                  char *why, size_t whylen) {
  int fd = openat(a->outbox_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT)
    return 1;
  if (fd < 0) {
    snprintf(why, whylen, "cannot open: %s",
             errno == ELOOP ? "a symbolic link (never followed)" : strerror(errno));
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    snprintf(why, whylen, "not a regular file");
    return -1;
  }
  if (st.st_size > ADAPTER_FILE_MAX) {
    close(fd);
    snprintf(why, whylen, "larger than %d bytes", ADAPTER_FILE_MAX);
    return -1;
  }
  char *b = malloc((size_t)st.st_size + 1);
  size_t got = 0;
  while (b && got < (size_t)st.st_size) {
    ssize_t r = read(fd, b + got, (size_t)st.st_size - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    got += (size_t)r;
  }
  close(fd);
  if (!b || got != (size_t)st.st_size) {
    free(b);
    snprintf(why, whylen, "cannot read it");
    return -1;
  }
  b[got] = '\0';
  *buf = b;
  *len = got;
  return 0;
}

int adapter_outbox_run(adapter_t *a, adapter_outbox_t *ob) {
  int moved = 0;
  while (ob->n_pending > 0 && !a->stopping && !adapter_stop_requested) {
    if (ob->next_try_ms && adapter_mono_ms() < ob->next_try_ms)
      break;
    char name[256];
    snprintf(name, sizeof name, "%s", ob->pending[0]);
    a->last_activity_ms = adapter_mono_ms();
    char *buf = NULL, why[2048] = "";
    size_t len = 0;
    int r = s_read(a, name, &buf, &len, why, sizeof why);
    if (r == 1) { /* gone (taken back by the case system) */
      s_pop(ob);
      continue;
    }
    uint8_t h[32];
    char hash[65] = "";
    if (r == 0) {
      crypto_generichash(h, sizeof h, (const unsigned char *)buf, len, NULL, 0);
      adapter_hex(hash, h, sizeof h);
    }
    if (!adapter_outbox_name_ok(name)) {
      /* a *.json name the outbox cannot take as it is: never ignored */
      char sane[200], reason[2400];
      adapter_outbox_sanitise(sane, sizeof sane, name);
      snprintf(reason, sizeof reason,
               "file name: only the characters A-Z a-z 0-9 . _ - and at most %d "
               "bytes are taken; not published (the original name is \"file\"; "
               "rename it and drop it again)%s%s",
               OUTBOX_NAME_MAX, r < 0 ? "; also: " : "", r < 0 ? why : "");
      free(buf);
      if (s_fail_file(a, name, sane, hash, reason) == 0)
        moved++;
      s_pop(ob);
      adapter_watchdog();
      continue;
    }
    if (r < 0) {
      if (s_fail_file(a, name, name, hash, why) == 0)
        moved++;
      s_pop(ob);
      adapter_watchdog();
      continue;
    }
    adapter_inflight_t in;
    memset(&in, 0, sizeof in);
    snprintf(in.name, sizeof in.name, "%s", name);
    snprintf(in.hash, sizeof in.hash, "%s", hash);
    s_inflight_load(a, &in);
    if (!in.resume && adapter_inflight_save(a, &in) != 0) {
      free(buf);
      adapter_log(a, ADAPTER_LOG_ERROR, "cannot write %s/" INFLIGHT_NAME ": %s",
                  a->cfg.state_dir, strerror(errno));
      r = ADAPTER_PUB_TRANSIENT;
    } else {
      if (in.resume)
        adapter_log(a, ADAPTER_LOG_INFO,
                    "%s: an earlier attempt may have published part of it; "
                    "publishing only what is not there", name);
      r = adapter_publish(a, buf, len, &in, why, sizeof why);
      free(buf);
    }
    if (r == ADAPTER_PUB_TRANSIENT) {
      ob->backoff_ms = ob->backoff_ms ? 2 * ob->backoff_ms : 1000;
      if (ob->backoff_ms > a->cfg.retry_max_ms)
        ob->backoff_ms = a->cfg.retry_max_ms;
      ob->next_try_ms = adapter_mono_ms() + ob->backoff_ms;
      adapter_log(a, ADAPTER_LOG_WARN, "%s: %s; trying again in %d ms", name,
                  why, ob->backoff_ms);
      break;
    }
    if (r == ADAPTER_PUB_OK) {
      char to[256];
      s_free_name(a->done_fd, name, to, sizeof to);
      if (s_move(a, name, a->done_fd, to) != 0) {
        adapter_log(a, ADAPTER_LOG_ERROR, "cannot move %s to done/: %s", name,
                    strerror(errno));
        ob->next_try_ms = adapter_mono_ms() + 1000;
        break; /* the inflight file stays: the re-run publishes nothing twice */
      }
      adapter_log(a, ADAPTER_LOG_INFO, "%s published: %s (done/%s)", name, why, to);
    } else if (s_fail_file(a, name, name, hash, why) != 0) {
      ob->next_try_ms = adapter_mono_ms() + 1000;
      break;
    }
    s_inflight_clear(a);
    moved++;
    s_pop(ob);
    adapter_watchdog();
  }
  return moved;
}
