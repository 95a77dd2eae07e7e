/* keyfile — reading and writing the small secret files of libketen (key
 * files, chain key files) safely. Internal to libketen. */
#ifndef KETEN_KEYFILE_H
#define KETEN_KEYFILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "keten.h"

/* Writes text to path with mode, durably (fsync). Never follows a
 * symlink; refuses an existing file unless overwrite; sets the mode before
 * any byte is written (O_TRUNC keeps an old file's mode, O_CREAT's is
 * filtered by the umask). */
keten_err_t keyfile_write(const char *path, const char *text, mode_t mode,
                          int overwrite);

/* Reads the regular file at path, at most cap - 1 bytes, into buf (NUL-
 * terminated); *len gets its length and *mode (if not NULL) its permission bits. A file
 * longer than that is KETEN_ERR_FORMAT. With secret set, a file readable
 * by group or others is refused (KETEN_ERR_PERMISSIONS) before reading. */
keten_err_t keyfile_read(const char *path, char *buf, size_t cap, size_t *len,
                         mode_t *mode, int secret);

/* Decodes exactly len bytes from the 2 * len hex digits of value (and
 * nothing else). Returns 0, or -1. */
int keyfile_hex(const char *value, uint8_t *out, size_t len);

#endif
