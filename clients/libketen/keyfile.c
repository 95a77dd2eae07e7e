/* keyfile — small secret files, written and read safely. */
#include "keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

keten_err_t keyfile_write(const char *path, const char *text, mode_t mode,
                          int overwrite) {
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
              (overwrite ? O_TRUNC : O_EXCL);
  int fd = open(path, flags, mode);
  if (fd < 0)
    return KETEN_ERR_IO;
  if (fchmod(fd, mode) != 0) {
    close(fd);
    return KETEN_ERR_IO;
  }
  size_t len = strlen(text), done = 0;
  while (done < len) {
    ssize_t n = write(fd, text + done, len - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      close(fd);
      return KETEN_ERR_IO;
    }
    done += (size_t)n;
  }
  if (fsync(fd) != 0) {
    close(fd);
    return KETEN_ERR_IO;
  }
  return close(fd) == 0 ? KETEN_OK : KETEN_ERR_IO;
}

keten_err_t keyfile_read(const char *path, char *buf, size_t cap, size_t *len,
                         mode_t *mode, int secret) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return KETEN_ERR_IO;
  struct stat st;
  keten_err_t rc = KETEN_OK;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
    rc = KETEN_ERR_IO;
  else if (secret && (st.st_mode & 077))
    rc = KETEN_ERR_PERMISSIONS; /* a secret others can read is not secret */
  else if ((size_t)st.st_size >= cap)
    rc = KETEN_ERR_FORMAT;
  size_t got = 0;
  while (rc == KETEN_OK) {
    ssize_t n = read(fd, buf + got, cap - 1 - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      rc = KETEN_ERR_IO;
    if (n <= 0)
      break;
    got += (size_t)n;
    if (got == cap - 1) {
      char extra;
      if (read(fd, &extra, 1) > 0)
        rc = KETEN_ERR_FORMAT; /* grew since fstat: too long */
      break;
    }
  }
  close(fd);
  if (rc != KETEN_OK) {
    sodium_memzero(buf, got);
    return rc;
  }
  buf[got] = '\0';
  *len = got;
  if (mode)
    *mode = st.st_mode & 07777;
  return KETEN_OK;
}

int keyfile_hex(const char *value, uint8_t *out, size_t len) {
  size_t got = 0;
  if (strlen(value) != 2 * len)
    return -1;
  if (sodium_hex2bin(out, len, value, 2 * len, NULL, &got, NULL) != 0)
    return -1;
  return got == len ? 0 : -1;
}
