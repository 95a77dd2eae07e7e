/* cli_file — the files the keten command writes are never written through
 * a symbolic link. The opens themselves carry O_NOFOLLOW (keyfile.c,
 * entry_file.c, listen_name.c); this check runs first so that the refusal
 * says why, instead of "i/o error". */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

int cli_refuse_symlink(const char *cmd, const char *path) {
  struct stat st;
  if (!path || lstat(path, &st) != 0 || !S_ISLNK(st.st_mode))
    return 0; /* absent or not a link: the open decides */
  fprintf(stderr,
          "%s: refused: %s is a symbolic link; keten does not write through "
          "one (remove it, or give the real path)\n",
          cmd, path);
  return -1;
}
