/* keten listen --dir: file names built from what came over the network,
 * and writing and reading files in DIR without following symlinks.
 *
 * Every id that becomes part of a file name is checked first: a
 * participant id by the registry's rule (entry_valid_id: lower-case
 * letters, digits, '-', ':'-separated segments, 1..64 bytes), a kind name
 * as 1..32 of [A-Z0-9_]. The ':' of an id becomes '_' in the name (no id
 * contains '_', so two ids never give one name). */
#ifndef KETEN_LISTEN_NAME_H
#define KETEN_LISTEN_NAME_H

#include <stddef.h>
#include <stdint.h>

/* Longest name listen builds or accepts, without the NUL. */
#define LISTEN_NAME_MAX 200

/* 1 if id is a valid participant id (the rule of entry_valid_id). */
int listen_id_ok(const char *id);

/* 1 if kind is a section or TVS kind name fit for a file name. */
int listen_kind_ok(const char *kind);

/* 1 if name is a plain file name listen may create in DIR: 1..
 * LISTEN_NAME_MAX bytes of [A-Za-z0-9._-], not starting with '.' (so
 * never ".", ".." or a temporary name), no '/'. */
int listen_name_ok(const char *name);

/* The prefix of a section copy's name, up to the version:
 *   <subject, first 8 bytes as 16 hex>-<KIND>-<author, ':' as '_'>-v
 * Returns 0, or -1 (out untouched but for a NUL) with a reason in why
 * when the kind or the author is not fit for a file name. */
int listen_section_prefix(char *out, size_t outlen, const uint8_t subject[8],
                          const char *kind, const char *author,
                          const char **why);

/* fsyncs the directory dir. Returns 0, or -1 with errno set. */
int listen_fsync_dir(const char *dir);

/* Writes len bytes of text to dir/name atomically and durably: a
 * temporary dir/.name.tmp opened O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW|
 * O_CLOEXEC with mode 0600 (a stale one left by a crash, or a link
 * planted there, is unlinked — the link itself — and the open tried once
 * more), written, fsynced, renamed over dir/name (rename replaces a link
 * at name, never what it points to), and dir fsynced. Refuses (EINVAL) a
 * name listen_name_ok rejects. Returns 0, or -1 with errno set. */
int listen_write_durable(const char *dir, const char *name, const char *text,
                         size_t len);

/* Opens path for reading without following a symlink, and without
 * blocking on a FIFO; returns the descriptor only if it is a regular file
 * of at most max_size bytes, else -1 (errno ELOOP for a link, EINVAL for
 * something else than a regular file, EFBIG when too big). */
int listen_open_regular(const char *path, long long max_size);

#endif
