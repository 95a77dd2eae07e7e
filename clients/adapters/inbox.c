/* inbox — what the mailbox brings, as one JSON file each in the inbox:
 * written atomically (a temporary file in the same directory, fsync,
 * rename, fsync of the directory), mode 0600, named only from ids that
 * were checked first. Delete notices delete the copies they name; the
 * optional command is run for each file and the item is acked only once
 * it exits 0. Also the small file helpers the other modules share. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "adapter.h"

/* ---- helpers -------------------------------------------------------------- */

int adapter_id_ok(const char *id) {
  size_t n = id ? strlen(id) : 0;
  if (n == 0 || n > KETEN_ID_MAX || id[0] == ':' || id[n - 1] == ':')
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = id[i];
    if (c == ':') {
      if (id[i + 1] == ':')
        return 0;
      continue;
    }
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
      return 0;
  }
  return 1;
}

int adapter_name_ok(const char *name) {
  size_t n = name ? strlen(name) : 0;
  if (n == 0 || n > 200 || name[0] == '.')
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return 0;
  }
  return 1;
}

void adapter_hex(char *out, const uint8_t *b, size_t n) {
  static const char d[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = d[b[i] >> 4];
    out[2 * i + 1] = d[b[i] & 15];
  }
  out[2 * n] = '\0';
}

int64_t adapter_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t adapter_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void adapter_iso8601(char *out, size_t cap, int64_t ms) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  char base[24];
  strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out, cap, "%s.%03dZ", base, (int)(ms % 1000));
}

int adapter_fsync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  int rc = fsync(fd);
  int e = errno;
  close(fd);
  errno = e;
  return rc;
}

int adapter_mkdir(const char *path) {
  if (mkdir(path, 0700) == 0)
    return 0;
  struct stat st;
  if (errno == EEXIST && lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
    return 0;
  if (errno == EEXIST)
    errno = ENOTDIR;
  return -1;
}

int adapter_open_dir(int atfd, const char *path, int create, int group_ok,
                     const char *label, char *err, size_t errlen) {
  if (create && mkdirat(atfd, path, 0700) != 0 && errno != EEXIST) {
    snprintf(err, errlen, "%s %s: cannot create it: %s", label, path,
             strerror(errno));
    return -1;
  }
  int fd = openat(atfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    struct stat st;
    if ((e == ELOOP || e == ENOTDIR) &&
        fstatat(atfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
      snprintf(err, errlen, "%s %s: a symbolic link (never followed); give the "
                            "directory itself", label, path);
    else
      snprintf(err, errlen, "%s %s: %s", label, path,
               e == ENOTDIR ? "not a directory" : strerror(e));
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    snprintf(err, errlen, "%s %s: %s", label, path, strerror(errno));
    close(fd);
    return -1;
  }
  const char *bad = NULL;
  if (st.st_uid != geteuid())
    bad = "is not owned by the user the adapter runs as";
  else if (st.st_mode & S_IWOTH)
    bad = "is writable by others";
  else if ((st.st_mode & S_IWGRP) && !group_ok)
    bad = "is writable by its group";
  if (bad) {
    snprintf(err, errlen, "%s %s %s (owner uid %lu, mode %04o; we run as uid "
                          "%lu); refused (docs/adapters.md, section 2)",
             label, path, bad, (unsigned long)st.st_uid,
             (unsigned)(st.st_mode & 07777), (unsigned long)geteuid());
    close(fd);
    return -1;
  }
  return fd;
}

int adapter_write_atomic_at(int dirfd, const char *name, const void *buf,
                            size_t len) {
  if (!adapter_name_ok(name)) {
    errno = EINVAL;
    return -1;
  }
  char tmp[256 + 8];
  snprintf(tmp, sizeof tmp, ".%s.tmp", name);
  int fd = -1;
  for (int attempt = 0; attempt < 2 && fd < 0; attempt++) {
    fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                0600);
    if (fd < 0 && errno == EEXIST && attempt == 0)
      unlinkat(dirfd, tmp, 0); /* left by a crash, or planted: the name goes */
    else if (fd < 0)
      return -1;
  }
  const char *p = buf;
  size_t left = len;
  while (left > 0) {
    ssize_t w = write(fd, p, left);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      int e = errno;
      close(fd);
      unlinkat(dirfd, tmp, 0);
      errno = e ? e : EIO;
      return -1;
    }
    p += w;
    left -= (size_t)w;
  }
  if (fsync(fd) != 0) {
    int e = errno;
    close(fd);
    unlinkat(dirfd, tmp, 0);
    errno = e;
    return -1;
  }
  if (close(fd) != 0 || renameat(dirfd, tmp, dirfd, name) != 0) {
    int e = errno;
    unlinkat(dirfd, tmp, 0);
    errno = e;
    return -1;
  }
  return fsync(dirfd);
}

int adapter_write_atomic(const char *dir, const char *name, const void *buf,
                         size_t len) {
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0)
    return -1;
  int rc = adapter_write_atomic_at(dfd, name, buf, len);
  int e = errno;
  close(dfd);
  errno = e;
  return rc;
}

/* Serialises obj (then frees it) into name in dirfd. 0 or -1. */
static int s_write_json(int dirfd, const char *name, json_t *obj) {
  char *text = obj ? json_dumps(obj, JSON_INDENT(1) | JSON_SORT_KEYS) : NULL;
  json_decref(obj);
  if (!text) {
    errno = ENOMEM;
    return -1;
  }
  size_t n = strlen(text);
  char *line = realloc(text, n + 2);
  if (!line) {
    free(text);
    errno = ENOMEM;
    return -1;
  }
  line[n] = '\n';
  line[n + 1] = '\0';
  int rc = adapter_write_atomic_at(dirfd, name, line, n + 1);
  int e = errno;
  free(line);
  errno = e;
  return rc;
}

/* ---- the V-nummer index ----------------------------------------------------- */

#define INDEX_NAME "v-nummers.json"

int adapter_index_load(adapter_index_t *ix, const char *state_dir, char *err,
                       size_t errlen) {
  int dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0) {
    memset(ix, 0, sizeof *ix);
    ix->dirfd = -1;
    snprintf(err, errlen, "%s: %s", state_dir, strerror(errno));
    return -1;
  }
  int rc = adapter_index_load_at(ix, dfd, state_dir, err, errlen);
  close(dfd);
  return rc;
}

int adapter_index_load_at(adapter_index_t *ix, int state_fd, const char *label,
                          char *err, size_t errlen) {
  memset(ix, 0, sizeof *ix);
  ix->dirfd = -1;
  snprintf(ix->path_dir, sizeof ix->path_dir, "%s", label);
  char path[ADAPTER_PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/" INDEX_NAME, label);
  ix->dirfd = fcntl(state_fd, F_DUPFD_CLOEXEC, 0);
  if (ix->dirfd < 0) {
    snprintf(err, errlen, "%s: %s", label, strerror(errno));
    return -1;
  }
  int fd = openat(ix->dirfd, INDEX_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    ix->map = json_object();
    return ix->map ? 0 : -1;
  }
  if (fd < 0) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return -1;
  }
  json_error_t jerr;
  ix->map = json_loadfd(fd, JSON_REJECT_DUPLICATES, &jerr);
  close(fd);
  if (!json_is_object(ix->map)) {
    snprintf(err, errlen, "%s: not a JSON object: %s", path, jerr.text);
    json_decref(ix->map);
    ix->map = NULL;
    return -1;
  }
  return 0;
}

const char *adapter_index_get(const adapter_index_t *ix,
                              const uint8_t subject[KETEN_SUBJECT_BYTES]) {
  char hex[2 * KETEN_SUBJECT_BYTES + 1];
  adapter_hex(hex, subject, KETEN_SUBJECT_BYTES);
  return ix->map ? json_string_value(json_object_get(ix->map, hex)) : NULL;
}

int adapter_index_put(adapter_index_t *ix,
                      const uint8_t subject[KETEN_SUBJECT_BYTES],
                      const char *v_nummer) {
  const char *have = adapter_index_get(ix, subject);
  if (have && !strcmp(have, v_nummer))
    return 0;
  char hex[2 * KETEN_SUBJECT_BYTES + 1];
  adapter_hex(hex, subject, KETEN_SUBJECT_BYTES);
  if (!ix->map || json_object_set_new(ix->map, hex, json_string(v_nummer)) != 0)
    return -1;
  return s_write_json(ix->dirfd, INDEX_NAME, json_incref(ix->map));
}

void adapter_index_free(adapter_index_t *ix) {
  json_decref(ix->map);
  ix->map = NULL;
  if (ix->dirfd >= 0)
    close(ix->dirfd);
  ix->dirfd = -1;
}

/* ---- names ------------------------------------------------------------------ */

/* The author with ':' as '_' (no participant id holds '_'). */
static void s_author_part(char *out, const char *author) {
  size_t i = 0;
  for (; author[i] && i < KETEN_ID_MAX; i++)
    out[i] = author[i] == ':' ? '_' : author[i];
  out[i] = '\0';
}

static int s_kind_ok(const char *kind) {
  size_t n = kind ? strlen(kind) : 0;
  if (n == 0 || n > 32)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!((kind[i] >= 'A' && kind[i] <= 'Z') || (kind[i] >= '0' && kind[i] <= '9') ||
          kind[i] == '_'))
      return 0;
  return 1;
}

/* "section-<subject hex>-<KIND>-<author>-v" */
static int s_section_prefix(char *out, size_t cap, const uint8_t *subject,
                            int kind, const char *author) {
  const char *kname = keten_section_kind_name(kind);
  if (!s_kind_ok(kname) || !adapter_id_ok(author))
    return -1;
  char hex[2 * KETEN_SUBJECT_BYTES + 1], who[KETEN_ID_MAX + 1];
  adapter_hex(hex, subject, KETEN_SUBJECT_BYTES);
  s_author_part(who, author);
  snprintf(out, cap, "section-%s-%s-%s-v", hex, kname, who);
  return 0;
}

int adapter_section_name(char *out, size_t cap,
                         const keten_section_header_t *h) {
  char prefix[256];
  if (s_section_prefix(prefix, sizeof prefix, h->subject, h->kind, h->author) !=
      0)
    return -1;
  snprintf(out, cap, "%s%llu.json", prefix, (unsigned long long)h->version);
  return 0;
}

/* ---- attempts: failed hand-overs per seq ----------------------------------------- */

#define ATTEMPTS_NAME "attempts.json"
#define ATTEMPTS_KEEP 256 /* entries kept at most (the oldest seq goes) */

int adapter_attempts_load(adapter_t *a) {
  json_decref(a->attempts);
  a->attempts = NULL;
  int fd = a->state_fd >= 0
               ? openat(a->state_fd, ATTEMPTS_NAME,
                        O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
               : -1;
  struct stat st;
  if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    json_error_t jerr;
    a->attempts = json_loadfd(fd, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(a->attempts)) {
      adapter_log(a, ADAPTER_LOG_WARN, "%s/" ATTEMPTS_NAME ": %s; counting afresh",
                  a->cfg.state_dir, jerr.text);
      json_decref(a->attempts);
      a->attempts = NULL;
    }
  }
  if (fd >= 0)
    close(fd);
  if (!a->attempts)
    a->attempts = json_object();
  return 0;
}

static void s_attempts_save(adapter_t *a) {
  if (a->state_fd < 0 || !a->attempts)
    return;
  if (s_write_json(a->state_fd, ATTEMPTS_NAME, json_incref(a->attempts)) != 0)
    adapter_log(a, ADAPTER_LOG_WARN, "cannot write %s/" ATTEMPTS_NAME ": %s",
                a->cfg.state_dir, strerror(errno));
}

/* Counts one more failed hand-over of seq (inbox file name, why); returns
 * the count so far. */
static int s_attempt_fail(adapter_t *a, uint64_t seq, const char *name,
                          const char *why) {
  if (!a->attempts && !(a->attempts = json_object()))
    return 1;
  char key[24];
  snprintf(key, sizeof key, "%llu", (unsigned long long)seq);
  json_t *e = json_object_get(a->attempts, key);
  const char *was = json_string_value(json_object_get(e, "file"));
  int n = (was && !strcmp(was, name))
              ? (int)json_integer_value(json_object_get(e, "n")) + 1
              : 1;
  json_object_set_new(a->attempts, key,
                      json_pack("{s:s, s:i, s:s}", "file", name, "n", n, "last",
                                why ? why : ""));
  while (json_object_size(a->attempts) > ATTEMPTS_KEEP) {
    const char *k, *oldest = NULL;
    unsigned long long lo = ~0ULL;
    json_t *v;
    json_object_foreach(a->attempts, k, v) {
      unsigned long long x = strtoull(k, NULL, 10);
      if (x < lo) {
        lo = x;
        oldest = k;
      }
    }
    if (!oldest || json_object_del(a->attempts, oldest) != 0)
      break;
  }
  s_attempts_save(a);
  return n;
}

static void s_attempt_clear(adapter_t *a, uint64_t seq) {
  char key[24];
  snprintf(key, sizeof key, "%llu", (unsigned long long)seq);
  if (a->attempts && json_object_get(a->attempts, key)) {
    json_object_del(a->attempts, key);
    s_attempts_save(a);
  }
}

/* ---- handing a file over ------------------------------------------------------ */

/* 1 if the inbox path still leads to the directory we opened (a command
 * is given a path; it must not be one an attacker swapped in). */
static int s_inbox_path_ok(const adapter_t *a) {
  struct stat p, f;
  return stat(a->cfg.inbox, &p) == 0 && fstat(a->inbox_fd, &f) == 0 &&
         p.st_dev == f.st_dev && p.st_ino == f.st_ino;
}

/* Runs the command for inbox file name, if one is configured. 0 when the
 * item may be acked; else the failure in why; -4 for a stop request. */
static int s_hand_over(adapter_t *a, const char *name, uint64_t seq, char *why,
                       size_t whylen) {
  if (!a->cfg.on_delivery[0])
    return 0;
  if (adapter_stop_requested) {
    snprintf(why, whylen, "stopping");
    return -4;
  }
  if (!s_inbox_path_ok(a)) {
    snprintf(why, whylen, "the inbox path %s no longer leads to the inbox "
                          "directory opened at start; command not run",
             a->cfg.inbox);
    adapter_log(a, ADAPTER_LOG_ERROR, "on_delivery %s (seq %llu): %s", name,
                (unsigned long long)seq, why);
    return 1;
  }
  char path[2 * ADAPTER_PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", a->cfg.inbox, name);
  int rc = adapter_run_command(a->cfg.on_delivery, path,
                               a->cfg.on_delivery_timeout_ms);
  if (rc == 0) {
    adapter_log(a, ADAPTER_LOG_DEBUG, "on_delivery %s: ok", name);
    return 0;
  }
  if (rc == -4) {
    snprintf(why, whylen, "stopping");
    adapter_log(a, ADAPTER_LOG_INFO,
                "on_delivery %s (seq %llu): ended for the stop; not acked, it "
                "comes again", name, (unsigned long long)seq);
    return -4;
  }
  if (rc == -2)
    snprintf(why, whylen, "timed out after %d ms", a->cfg.on_delivery_timeout_ms);
  else if (rc == -1)
    snprintf(why, whylen, "cannot run %s", a->cfg.on_delivery);
  else if (rc == -3)
    snprintf(why, whylen, "killed by a signal");
  else
    snprintf(why, whylen, "exit status %d", rc);
  adapter_log(a, ADAPTER_LOG_WARN, "on_delivery %s (seq %llu): %s; not acked", name,
              (unsigned long long)seq, why);
  return 1;
}

static void s_printable(char *out, size_t cap, const char *in) {
  size_t i = 0;
  for (; in && in[i] && i + 1 < cap; i++)
    out[i] = in[i] >= 0x20 && in[i] < 0x7f ? in[i] : '?';
  out[i] = '\0';
}

/* An item that could not be handed over (its file not written, or the
 * command failed on_delivery_attempts times): inbox/quarantine-<seq>.json
 * with the reason and the item, the command not run on it, the item's own
 * file removed; acked, so that the mailbox goes on. 0 once written. */
static int s_quarantine_item(adapter_t *a, uint64_t seq, const char *what,
                             const char *name, json_t *item, const char *reason,
                             int attempts) {
  char qname[64];
  snprintf(qname, sizeof qname, "quarantine-%llu.json", (unsigned long long)seq);
  char at[40];
  adapter_iso8601(at, sizeof at, adapter_wall_ms());
  json_t *q = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:i}", "type", "quarantine",
                        "what", what, "file", name, "reason", reason, "seq",
                        (json_int_t)seq, "received_at", at, "attempts", attempts);
  if (!q)
    return 1;
  if (strcmp(name, qname) != 0) {
    json_object_set(q, "item", item);
  } else {
    /* the quarantine file itself failed: keep what it said */
    json_object_update_missing(q, item);
    json_object_set_new(q, "reason", json_string(reason));
  }
  if (s_write_json(a->inbox_fd, qname, q) != 0) {
    adapter_log(a, ADAPTER_LOG_ERROR, "cannot write %s/%s: %s; not acked",
                a->cfg.inbox, qname, strerror(errno));
    return 1;
  }
  if (strcmp(name, qname) != 0 && unlinkat(a->inbox_fd, name, 0) == 0)
    fsync(a->inbox_fd);
  s_attempt_clear(a, seq);
  if (strcmp(name, qname) != 0)
    a->n_quarantined++;
  adapter_log(a, ADAPTER_LOG_ERROR,
              "%s %s (seq %llu) quarantined as %s: %s; acked, the mailbox goes on",
              what, name, (unsigned long long)seq, qname, reason);
  return 0;
}

/* Writes obj as inbox/name and hands it over. 0 to ack. A file that
 * cannot be written because something not ours is in its place (a
 * directory, a symlink) is quarantined at once; other write failures
 * (a full disk) and failed commands count as an attempt of seq, and
 * after on_delivery_attempts of them the item is quarantined. A notice
 * (its deletions done) is acked whatever the command says. */
static int s_deliver_file(adapter_t *a, const char *what, const char *name,
                          json_t *obj, uint64_t seq, int notice) {
  char why[512];
  int max = a->cfg.on_delivery_attempts > 0 ? a->cfg.on_delivery_attempts : 5;
  if (!obj)
    return 1;
  if (s_write_json(a->inbox_fd, name, json_incref(obj)) != 0) {
    int e = errno;
    snprintf(why, sizeof why, "cannot write %s: %s", name, strerror(e));
    int permanent = e == EISDIR || e == ENOTDIR || e == ENOTEMPTY ||
                    e == EEXIST || e == ELOOP || e == EINVAL;
    int n = permanent ? max : s_attempt_fail(a, seq, name, why);
    adapter_log(a, ADAPTER_LOG_ERROR, "%s/%s (seq %llu): %s (attempt %d of %d)",
                a->cfg.inbox, name, (unsigned long long)seq, strerror(e), n, max);
    int rc = n >= max ? s_quarantine_item(a, seq, what, name, obj, why, n) : 1;
    json_decref(obj);
    return rc;
  }
  int rc = s_hand_over(a, name, seq, why, sizeof why);
  if (rc == 0 || rc == -4) {
    if (rc == 0)
      s_attempt_clear(a, seq);
    json_decref(obj);
    return rc == 0 ? 0 : 1;
  }
  if (notice) {
    s_attempt_clear(a, seq);
    adapter_log(a, ADAPTER_LOG_ERROR,
                "on_delivery %s (seq %llu): %s; a delete notice is never held: "
                "acked, the notice file stays in the inbox for the case system",
                name, (unsigned long long)seq, why);
    json_decref(obj);
    return 0;
  }
  int n = s_attempt_fail(a, seq, name, why);
  if (n >= max) {
    char reason[640];
    snprintf(reason, sizeof reason, "on_delivery failed %d times (last: %s)", n, why);
    rc = s_quarantine_item(a, seq, what, name, obj, reason, n);
  } else {
    adapter_log(a, ADAPTER_LOG_WARN,
                "on_delivery %s (seq %llu): attempt %d of %d failed; it comes "
                "again", name, (unsigned long long)seq, n, max);
    rc = 1;
  }
  json_decref(obj);
  return rc;
}

/* Something that cannot be taken as it came: inbox/quarantine-<seq>.json
 * with the reason, acked (one bad item must not block the mailbox). */
static int s_quarantine(adapter_t *a, uint64_t seq, const char *what,
                        keten_err_t status, const char *reason, json_t *obj) {
  char r[320];
  s_printable(r, sizeof r, reason);
  adapter_log(a, ADAPTER_LOG_WARN, "%s seq %llu quarantined: %s", what,
              (unsigned long long)seq, r);
  if (!obj)
    obj = json_object();
  json_object_set_new(obj, "type", json_string("quarantine"));
  json_object_set_new(obj, "what", json_string(what));
  json_object_set_new(obj, "status", json_string(keten_strerror(status)));
  json_object_set_new(obj, "reason", json_string(r));
  json_object_set_new(obj, "seq", json_integer((json_int_t)seq));
  char at[40];
  adapter_iso8601(at, sizeof at, adapter_wall_ms());
  json_object_set_new(obj, "received_at", json_string(at));
  char name[64];
  snprintf(name, sizeof name, "quarantine-%llu.json", (unsigned long long)seq);
  int rc = s_deliver_file(a, what, name, obj, seq, 0);
  if (rc == 0)
    a->n_quarantined++;
  return rc;
}

static void s_set_v_nummer(adapter_t *a, json_t *obj, const uint8_t *subject) {
  const char *v = adapter_index_get(&a->index, subject);
  if (v)
    json_object_set_new(obj, "v_nummer", json_string(v));
}

/* ---- sections ------------------------------------------------------------------- */

int adapter_on_delivery(const keten_section_t *s, uint64_t seq,
                        keten_err_t status, void *arg) {
  adapter_t *a = arg;
  a->last_activity_ms = adapter_mono_ms();
  if (!s)
    return s_quarantine(a, seq, "section", status, keten_client_error(a->client),
                        NULL);
  char subject[2 * KETEN_SUBJECT_BYTES + 1];
  adapter_hex(subject, s->header.subject, KETEN_SUBJECT_BYTES);
  const char *kname = keten_section_kind_name(s->header.kind);
  json_t *head = json_pack("{s:s, s:I, s:I}", "subject", subject, "version",
                           (json_int_t)s->header.version, "created_at_ms",
                           (json_int_t)s->header.created_at_ms);
  if (head && s_kind_ok(kname))
    json_object_set_new(head, "kind", json_string(kname));
  if (head && adapter_id_ok(s->header.author))
    json_object_set_new(head, "author", json_string(s->header.author));
  char name[320];
  if (adapter_section_name(name, sizeof name, &s->header) != 0)
    return s_quarantine(a, seq, "section", KETEN_ERR_PROTOCOL,
                        "its kind or author is not fit for a file name", head);
  json_error_t jerr;
  json_t *data = json_loadb(s->json, s->json_len, JSON_REJECT_DUPLICATES, &jerr);
  if (status != KETEN_OK || !json_is_object(data)) {
    /* opened and verified, but not a conforming plaintext (libketen says
     * KETEN_ERR_SCHEMA once it checks the schema; until then: not a JSON
     * object at all). The author is told by the partners, not guessed. */
    if (data)
      json_object_set_new(head, "data", data);
    else if (head)
      json_object_set_new(head, "data_raw",
                          json_stringn(s->json ? s->json : "", s->json ? s->json_len : 0));
    const char *why = status != KETEN_OK ? keten_client_error(a->client)
                                         : "the plaintext is not a JSON object";
    return s_quarantine(a, seq, "section",
                        status != KETEN_OK ? status : KETEN_ERR_PROTOCOL, why,
                        head);
  }
  /* An IDENTITY that carries the V-nummer teaches it, when it is the one
   * the subject was derived from (the chain key says so). */
  const char *v = json_string_value(json_object_get(data, "v_nummer"));
  uint8_t check[KETEN_SUBJECT_BYTES];
  if (s->header.kind == keten_section_kind_from_name("IDENTITY") && v &&
      keten_subject_id(a->chain_key, v, check) == KETEN_OK &&
      memcmp(check, s->header.subject, KETEN_SUBJECT_BYTES) == 0 &&
      adapter_index_put(&a->index, s->header.subject, v) != 0)
    adapter_log(a, ADAPTER_LOG_WARN, "cannot update the V-nummer index: %s",
                strerror(errno));
  char at[40], now[40];
  adapter_iso8601(at, sizeof at, (int64_t)s->header.created_at_ms);
  adapter_iso8601(now, sizeof now, adapter_wall_ms());
  json_object_set_new(head, "type", json_string("section"));
  json_object_set_new(head, "written_at", json_string(at));
  json_object_set_new(head, "received_at", json_string(now));
  json_object_set_new(head, "seq", json_integer((json_int_t)seq));
  json_object_set_new(head, "data", data);
  s_set_v_nummer(a, head, s->header.subject);
  int rc = s_deliver_file(a, "section", name, head, seq, 0);
  if (rc == 0) {
    a->n_sections++;
    adapter_log(a, ADAPTER_LOG_INFO, "received %s v%llu by %s (seq %llu): %s",
                kname, (unsigned long long)s->header.version, s->header.author,
                (unsigned long long)seq, name);
  }
  return rc;
}

/* ---- TVS events ------------------------------------------------------------------ */

int adapter_on_tvs_event(const keten_tvs_event_t *ev, uint64_t seq,
                         keten_err_t status, void *arg) {
  adapter_t *a = arg;
  a->last_activity_ms = adapter_mono_ms();
  if (!ev)
    return s_quarantine(a, seq, "tvs_event", status,
                        keten_client_error(a->client), NULL);
  const char *kind = keten_tvs_kind_name(ev->kind);
  if (!s_kind_ok(kind) || (ev->gemeente[0] && !adapter_id_ok(ev->gemeente)) ||
      (ev->from_gemeente[0] && !adapter_id_ok(ev->from_gemeente)) ||
      !adapter_id_ok(ev->published_by))
    return s_quarantine(a, seq, "tvs_event", KETEN_ERR_PROTOCOL,
                        "its kind or an id is not well-formed", NULL);
  char id[33], subject[2 * KETEN_SUBJECT_BYTES + 1], at[40], now[40];
  adapter_hex(id, ev->event_id, sizeof ev->event_id);
  adapter_iso8601(at, sizeof at, (int64_t)ev->published_at_ms);
  adapter_iso8601(now, sizeof now, adapter_wall_ms());
  json_t *obj = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "type", "tvs_event",
                          "event", kind, "event_id", id, "published_by",
                          ev->published_by, "published_at", at, "seq",
                          (json_int_t)seq);
  if (!obj)
    return 1;
  json_object_set_new(obj, "received_at", json_string(now));
  if (ev->kind != KETEN_TVS_TAAKSTELLING) {
    adapter_hex(subject, ev->subject, KETEN_SUBJECT_BYTES);
    json_object_set_new(obj, "subject", json_string(subject));
    s_set_v_nummer(a, obj, ev->subject);
  }
  /* json_string() is NULL for bytes that are not UTF-8: then left out */
#define STR(f)                                                                 \
  if (ev->f[0])                                                                \
  json_object_set_new(obj, #f, json_string(ev->f))
  STR(gemeente);
  STR(from_gemeente);
  STR(period);
  STR(date);
#undef STR
  if (ev->kind == KETEN_TVS_KOPPELING)
    json_object_set_new(obj, "household_size",
                        json_integer((json_int_t)ev->household_size));
  if (ev->kind == KETEN_TVS_ONTKOPPELING && keten_tvs_reason_name(ev->reason))
    json_object_set_new(obj, "reason",
                        json_string(keten_tvs_reason_name(ev->reason)));
  if (ev->kind == KETEN_TVS_TAAKSTELLING) {
    json_object_set_new(obj, "target", json_integer((json_int_t)ev->target));
    json_object_set_new(obj, "realised", json_integer((json_int_t)ev->realised));
  }
  char name[96];
  snprintf(name, sizeof name, "tvs-%s-%s.json", id, kind);
  int rc = s_deliver_file(a, "tvs_event", name, obj, seq, 0);
  if (rc == 0) {
    a->n_events++;
    adapter_log(a, ADAPTER_LOG_INFO, "TVS %s from %s (seq %llu): %s", kind,
                ev->published_by, (unsigned long long)seq, name);
  }
  return rc;
}

/* ---- notices ------------------------------------------------------------------------ */

static const char *s_reason_name(int r) {
  switch (r) {
  case KETEN_NOTICE_REASON_REVOKED: return "revoked";
  case KETEN_NOTICE_REASON_EXPIRED: return "expired";
  case KETEN_NOTICE_REASON_ONTKOPPELD: return "ontkoppeld";
  case KETEN_NOTICE_REASON_ERASED: return "erased";
  default: return "unknown";
  }
}

/* If name is prefix, a version (decimal, no leading zero) and ".json",
 * stores it and returns 1. */
static int s_match_version(const char *name, const char *prefix,
                           uint64_t *version) {
  size_t n = strlen(prefix);
  if (strncmp(name, prefix, n) != 0 || name[n] < '1' || name[n] > '9')
    return 0;
  uint64_t v = 0;
  const char *p = name + n;
  for (; *p >= '0' && *p <= '9'; p++) {
    if (v > (UINT64_MAX - 9) / 10)
      return 0;
    v = v * 10 + (uint64_t)(*p - '0');
  }
  if (strcmp(p, ".json") != 0)
    return 0;
  *version = v;
  return 1;
}

/* 1 if name is a regular file in the directory dirfd (never followed). */
static int s_file_exists(int dirfd, const char *name) {
  struct stat st;
  return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

/* A delete notice (its signature checked by libketen with the broker's
 * signing key): every inbox copy of (subject, kind, author) up to the
 * item's version goes; then the notice file says what went. */
static int s_on_delete(adapter_t *a, const keten_notice_t *n, uint64_t seq) {
  char subject[2 * KETEN_SUBJECT_BYTES + 1], nid[33], name[160];
  adapter_hex(subject, n->subject, KETEN_SUBJECT_BYTES);
  adapter_hex(nid, n->notice_id, sizeof n->notice_id);
  snprintf(name, sizeof name, "notice-%s-%s.json", subject, nid);
  if (s_file_exists(a->inbox_fd, name)) {
    /* carried out before (a redelivery): the first record stands; a
     * notice is never held by its command */
    char why[512];
    int r = s_hand_over(a, name, seq, why, sizeof why);
    if (r == -4)
      return 1;
    if (r != 0)
      adapter_log(a, ADAPTER_LOG_ERROR,
                  "on_delivery %s (seq %llu): %s; a delete notice is never "
                  "held: acked", name, (unsigned long long)seq, why);
    return 0;
  }
  size_t n_items = n->n_items < KETEN_NOTICE_MAX_ITEMS ? n->n_items
                                                        : KETEN_NOTICE_MAX_ITEMS;
  char prefixes[KETEN_NOTICE_MAX_ITEMS][256];
  json_t *items = json_array(), *deleted = json_array();
  for (size_t i = 0; i < n_items; i++) {
    const keten_notice_item_t *it = &n->items[i];
    int ok = s_section_prefix(prefixes[i], sizeof prefixes[i], n->subject,
                              it->kind, it->author) == 0;
    if (!ok)
      prefixes[i][0] = '\0';
    json_t *o = json_pack("{s:I}", "up_to_version", (json_int_t)it->up_to_version);
    if (ok) {
      json_object_set_new(o, "kind", json_string(keten_section_kind_name(it->kind)));
      json_object_set_new(o, "author", json_string(it->author));
    } else {
      json_object_set_new(o, "kind", json_integer(it->kind));
      json_object_set_new(o, "refused", json_string("kind or author not well-formed"));
    }
    json_array_append_new(items, o);
  }
  int dfd = openat(a->inbox_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
  if (!d) {
    /* nothing can be deleted now: it comes again, at most
     * on_delivery_attempts times, then it is quarantined */
    char why[300];
    snprintf(why, sizeof why, "cannot read the inbox: %s", strerror(errno));
    if (dfd >= 0)
      close(dfd);
    int max = a->cfg.on_delivery_attempts > 0 ? a->cfg.on_delivery_attempts : 5;
    int k = s_attempt_fail(a, seq, name, why);
    adapter_log(a, ADAPTER_LOG_ERROR, "delete notice seq %llu: %s (attempt %d of %d)",
                (unsigned long long)seq, why, k, max);
    json_t *q = json_pack("{s:s, s:s, s:o}", "notice", "DELETE", "notice_id", nid,
                          "items", items);
    json_decref(deleted);
    int r = k >= max ? s_quarantine_item(a, seq, "notice", name, q, why, k) : 1;
    json_decref(q);
    return r;
  }
  /* What could not be deleted: a directory or other non-file in a copy's
   * name (never ours: logged, left, recorded), or an unlink that failed
   * (retried by not acking, at most on_delivery_attempts times; then
   * recorded in "not_deleted" and acked, so that the mailbox goes on). */
  json_t *not_deleted = json_array();
  int hard = 0;
  char hard_why[300] = "";
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    for (size_t i = 0; i < n_items; i++) {
      uint64_t v = 0;
      if (!prefixes[i][0] || !s_match_version(de->d_name, prefixes[i], &v) ||
          v > n->items[i].up_to_version)
        continue;
      struct stat st;
      if (fstatat(a->inbox_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        break; /* gone meanwhile */
      if (S_ISDIR(st.st_mode)) {
        adapter_log(a, ADAPTER_LOG_WARN, "delete notice seq %llu: %s/%s is a "
                    "directory, not a copy the adapter wrote; left",
                    (unsigned long long)seq, a->cfg.inbox, de->d_name);
        json_array_append_new(not_deleted,
                              json_pack("{s:s, s:s}", "file", de->d_name, "error",
                                        "a directory, not a copy the adapter wrote"));
        break;
      }
      if (unlinkat(a->inbox_fd, de->d_name, 0) != 0 && errno != ENOENT) {
        int e = errno;
        adapter_log(a, ADAPTER_LOG_ERROR, "cannot delete %s/%s: %s", a->cfg.inbox,
                    de->d_name, strerror(e));
        json_array_append_new(not_deleted,
                              json_pack("{s:s, s:s}", "file", de->d_name, "error",
                                        strerror(e)));
        snprintf(hard_why, sizeof hard_why, "cannot delete %s: %s", de->d_name,
                 strerror(e));
        hard = 1;
        break;
      }
      json_array_append_new(deleted, json_string(de->d_name));
      a->n_deleted++;
      adapter_log(a, ADAPTER_LOG_INFO, "deleted %s (reason: %s)", de->d_name,
                  s_reason_name(n->delete_reason));
      break;
    }
  }
  closedir(d);
  if (fsync(a->inbox_fd) != 0)
    adapter_log(a, ADAPTER_LOG_WARN, "fsync of %s: %s", a->cfg.inbox,
                strerror(errno));
  if (hard) {
    int max = a->cfg.on_delivery_attempts > 0 ? a->cfg.on_delivery_attempts : 5;
    int k = s_attempt_fail(a, seq, name, hard_why);
    if (k < max) {
      adapter_log(a, ADAPTER_LOG_ERROR,
                  "delete notice seq %llu: %s (attempt %d of %d); not acked, it "
                  "comes again", (unsigned long long)seq, hard_why, k, max);
      json_decref(items);
      json_decref(deleted);
      json_decref(not_deleted);
      return 1;
    }
    adapter_log(a, ADAPTER_LOG_ERROR,
                "delete notice seq %llu: %s after %d attempts; recorded in the "
                "notice file (not_deleted) and acked: a person must delete it",
                (unsigned long long)seq, hard_why, k);
  }
  char consent[33] = "", event[33] = "", at[40], now[40];
  if (n->has_consent_id)
    adapter_hex(consent, n->consent_id, KETEN_CONSENT_ID_BYTES);
  if (n->has_tvs_event_id)
    adapter_hex(event, n->tvs_event_id, sizeof n->tvs_event_id);
  adapter_iso8601(at, sizeof at, (int64_t)n->created_at_ms);
  adapter_iso8601(now, sizeof now, adapter_wall_ms());
  json_t *obj = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:I, s:s}", "type",
                          "notice", "notice", "DELETE", "notice_id", nid,
                          "reason", s_reason_name(n->delete_reason), "subject",
                          subject, "items", items, "deleted", deleted, "seq",
                          (json_int_t)seq, "created_at", at);
  if (!obj) {
    json_decref(not_deleted);
    return 1;
  }
  json_object_set_new(obj, "received_at", json_string(now));
  if (consent[0])
    json_object_set_new(obj, "consent_id", json_string(consent));
  if (event[0])
    json_object_set_new(obj, "tvs_event_id", json_string(event));
  if (json_array_size(not_deleted))
    json_object_set_new(obj, "not_deleted", not_deleted);
  else
    json_decref(not_deleted);
  s_set_v_nummer(a, obj, n->subject);
  int r = s_deliver_file(a, "notice", name, obj, seq, 1);
  if (r == 0)
    a->n_notices++;
  return r;
}

int adapter_on_notice(const keten_notice_t *n, uint64_t seq, keten_err_t status,
                      void *arg) {
  adapter_t *a = arg;
  a->last_activity_ms = adapter_mono_ms();
  if (!n) {
    char r[320];
    s_printable(r, sizeof r, keten_client_error(a->client));
    adapter_log(a, ADAPTER_LOG_WARN,
                "notice seq %llu did not verify (%s: %s); nothing deleted",
                (unsigned long long)seq, keten_strerror(status), r);
    return 0;
  }
  if (n->kind == KETEN_NOTICE_DELETE)
    return s_on_delete(a, n, seq);
  char subject[2 * KETEN_SUBJECT_BYTES + 1], cid[33], name[160], at[40];
  adapter_hex(subject, n->subject, KETEN_SUBJECT_BYTES);
  adapter_hex(cid, n->consent_id, KETEN_CONSENT_ID_BYTES);
  adapter_iso8601(at, sizeof at, (int64_t)n->revoked_at_ms);
  char reason[300], evidence[300];
  s_printable(reason, sizeof reason, n->reason);
  s_printable(evidence, sizeof evidence, n->evidence_ref);
  json_t *obj = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I}",
                          "type", "notice", "notice", "CONSENT_REVOKED",
                          "subject", subject, "consent_id", cid, "revoked_by_role",
                          keten_role_name(n->revoked_by_role), "revoked_at", at,
                          "reason", reason, "evidence_ref", evidence, "seq",
                          (json_int_t)seq);
  if (!obj)
    return 1;
  if (adapter_id_ok(n->revoked_by))
    json_object_set_new(obj, "revoked_by", json_string(n->revoked_by));
  s_set_v_nummer(a, obj, n->subject);
  snprintf(name, sizeof name, "notice-%s-%s-revoked.json", subject, cid);
  int rc = s_deliver_file(a, "notice", name, obj, seq, 1);
  if (rc == 0)
    a->n_notices++;
  return rc;
}

void adapter_on_rewrap(const keten_rewrap_t *r, uint64_t seq, void *arg) {
  adapter_t *a = arg;
  a->last_activity_ms = adapter_mono_ms();
  char subject[17];
  adapter_hex(subject, r->subject, 8);
  char who[KETEN_ID_MAX + 1];
  s_printable(who, sizeof who, r->recipient);
  if (r->sealed) {
    a->n_rewraps++;
    adapter_log(a, ADAPTER_LOG_INFO, "rewrap (seq %llu): sealed %s v%llu of %s to %s",
                (unsigned long long)seq, keten_section_kind_name(r->kind),
                (unsigned long long)r->version, subject, who);
  } else {
    char why[300];
    s_printable(why, sizeof why, r->refusal);
    a->n_refused_rewraps++;
    adapter_log(a, ADAPTER_LOG_WARN,
                "rewrap (seq %llu) refused: %s v%llu of %s to %s: %s",
                (unsigned long long)seq, keten_section_kind_name(r->kind),
                (unsigned long long)r->version, subject, who, why);
  }
}
