/* keten listen --dir: safe file names and symlink-proof file I/O. */
#include "listen_name.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "entry.h"

int listen_id_ok(const char *id) { return entry_valid_id(id); }

int listen_kind_ok(const char *kind) {
  size_t n = kind ? strlen(kind) : 0;
  if (n == 0 || n > 32)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = kind[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
      return 0;
  }
  return 1;
}

int listen_name_ok(const char *name) {
  size_t n = name ? strlen(name) : 0;
  if (n == 0 || n > LISTEN_NAME_MAX || name[0] == '.')
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return 0;
  }
  return 1;
}

int listen_section_prefix(char *out, size_t outlen, const uint8_t subject[8],
                          const char *kind, const char *author,
                          const char **why) {
  static const char hexd[] = "0123456789abcdef";
  const char *reason = NULL;
  if (outlen > 0)
    out[0] = '\0';
  if (!listen_kind_ok(kind))
    reason = "section kind is not a known kind name";
  else if (!listen_id_ok(author))
    reason = "author is not a valid participant id";
  if (reason) {
    if (why)
      *why = reason;
    return -1;
  }
  char hex[17], who[65];
  for (int i = 0; i < 8; i++) {
    hex[2 * i] = hexd[subject[i] >> 4];
    hex[2 * i + 1] = hexd[subject[i] & 15];
  }
  hex[16] = '\0';
  snprintf(who, sizeof who, "%s", author);
  for (char *p = who; *p; p++)
    if (*p == ':')
      *p = '_';
  int w = snprintf(out, outlen, "%s-%s-%s-v", hex, kind, who);
  if (w < 0 || (size_t)w >= outlen) {
    if (outlen > 0)
      out[0] = '\0';
    if (why)
      *why = "file name too long";
    return -1;
  }
  return 0;
}

int listen_fsync_dir(const char *dir) {
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return -1;
  int rc = fsync(dfd);
  int saved = errno;
  close(dfd);
  errno = saved;
  return rc;
}

int listen_write_durable(const char *dir, const char *name, const char *text,
                         size_t len) {
  char tmp[1024], path[1024];
  if (!dir || !listen_name_ok(name)) {
    errno = EINVAL;
    return -1;
  }
  int a = snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
  int b = snprintf(path, sizeof path, "%s/%s", dir, name);
  if (a < 0 || (size_t)a >= sizeof tmp || b < 0 || (size_t)b >= sizeof path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  int fd = open(tmp, flags, 0600);
  if (fd < 0 && errno == EEXIST) {
    /* Left by a crash, or planted: remove the entry itself (unlink does
     * not follow a link) and try once more; O_EXCL refuses a new one. */
    if (unlink(tmp) != 0 && errno != ENOENT)
      return -1;
    fd = open(tmp, flags, 0600);
  }
  if (fd < 0)
    return -1;
  size_t done = 0;
  while (done < len) {
    ssize_t w = write(fd, text + done, len - done);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      int saved = w < 0 ? errno : EIO;
      close(fd);
      unlink(tmp);
      errno = saved;
      return -1;
    }
    done += (size_t)w;
  }
  if (fsync(fd) != 0) {
    int saved = errno;
    close(fd);
    unlink(tmp);
    errno = saved;
    return -1;
  }
  if (close(fd) != 0 || rename(tmp, path) != 0) {
    int saved = errno;
    unlink(tmp);
    errno = saved;
    return -1;
  }
  return listen_fsync_dir(dir);
}

int listen_open_regular(const char *path, long long max_size) {
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return -1;
  struct stat st;
  int err = 0;
  if (fstat(fd, &st) != 0)
    err = errno;
  else if (!S_ISREG(st.st_mode))
    err = EINVAL;
  else if ((long long)st.st_size > max_size)
    err = EFBIG;
  if (err) {
    close(fd);
    errno = err;
    return -1;
  }
  return fd;
}
