/* store_file — refuses symlinked or shared store files; creates the store
 * 0600 (see store_file.h). */
#include "store_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const s_suffixes[] = {"", "-wal", "-shm", "-journal"};
enum { SUFFIXES = sizeof s_suffixes / sizeof s_suffixes[0] };

static int s_special(const char *path) {
  return !path || !path[0] || strcmp(path, ":memory:") == 0;
}

/* lstat of path+suffix into st: 1 if present, 0 if absent, -1 with err set
 * on a symlink, a non-regular file, an over-long name or an lstat error. */
static int s_look(const char *path, const char *suffix, char *name,
                  size_t namelen, struct stat *st, char *err, size_t errlen) {
  if ((size_t)snprintf(name, namelen, "%s%s", path, suffix) >= namelen) {
    snprintf(err, errlen, "store path %s is too long", path);
    return -1;
  }
  if (lstat(name, st) != 0) {
    if (errno == ENOENT)
      return 0;
    snprintf(err, errlen, "cannot inspect the store file %s: %s", name,
             strerror(errno));
    return -1;
  }
  if (S_ISLNK(st->st_mode)) {
    snprintf(err, errlen,
             "the store file %s is a symbolic link: configure the real path "
             "(a store is never opened through a symlink)",
             name);
    return -1;
  }
  if (!S_ISREG(st->st_mode)) {
    snprintf(err, errlen, "the store file %s is not a regular file", name);
    return -1;
  }
  return 1;
}

int store_file_prepare(const char *path, char *err, size_t errlen) {
  if (s_special(path))
    return 0;
  char name[4096];
  struct stat st;
  int present = 0;
  for (int i = 0; i < SUFFIXES; i++) {
    int r = s_look(path, s_suffixes[i], name, sizeof name, &st, err, errlen);
    if (r < 0)
      return -1;
    if (i == 0)
      present = r;
  }
  if (present)
    return 0;
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                0600);
  if (fd < 0 && errno == EEXIST) /* made meanwhile: look again */
    return s_look(path, "", name, sizeof name, &st, err, errlen) < 0 ? -1 : 0;
  if (fd < 0) {
    snprintf(err, errlen, "cannot create the store %s: %s", path,
             strerror(errno));
    return -1;
  }
  close(fd);
  return 0;
}

int store_file_check_private(const char *path, char *err, size_t errlen) {
  if (s_special(path))
    return 0;
  char name[4096], bad[4096] = "", fix[4 * 4096 + 16] = "chmod 600";
  unsigned bad_mode = 0;
  struct stat st;
  for (int i = 0; i < SUFFIXES; i++) {
    int r = s_look(path, s_suffixes[i], name, sizeof name, &st, err, errlen);
    if (r < 0)
      return -1;
    if (r == 0)
      continue;
    size_t used = strlen(fix);
    snprintf(fix + used, sizeof fix - used, " %s", name);
    if ((st.st_mode & 077) && !bad[0]) {
      snprintf(bad, sizeof bad, "%s", name);
      bad_mode = (unsigned)(st.st_mode & 07777);
    }
  }
  if (!bad[0])
    return 0;
  snprintf(err, errlen,
           "the store file %s has mode %04o: its group or others may read "
           "or write it (sealed sections, wraps, the audit chain); run `%s` "
           "as its owner",
           bad, bad_mode, fix);
  return -1;
}
