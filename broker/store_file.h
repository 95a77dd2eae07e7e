/* store_file — the store's files on disk, before SQLite opens them.
 *
 * The store (and the -wal and -shm files SQLite keeps beside it) holds
 * sealed sections, wraps, consents and the audit chain: it is as private
 * as the broker's key. store_file_prepare() is what every opener of a
 * store does (ketend, `keten admin`, `keten audit`, through store_open):
 * it refuses a store path, or its -wal, -shm or -journal, that is a
 * symbolic link or not a regular file, and creates a missing store empty
 * with mode 0600 (O_CREAT|O_EXCL|O_NOFOLLOW), so that SQLite, which gives
 * the -wal and -shm files the mode of the database file, makes them 0600
 * too whatever the umask. store_file_check_private() is ketend's start-up
 * rule on top: an existing store, -wal or -shm that its group or others
 * may read or write is refused, with a message naming the file and the
 * chmod that fixes it. Both leave a missing -wal/-shm alone, and skip
 * SQLite's special names (":memory:", ""). 0, or -1 with err set. */
#ifndef KETEND_STORE_FILE_H
#define KETEND_STORE_FILE_H

#include <stddef.h>

int store_file_prepare(const char *path, char *err, size_t errlen);

int store_file_check_private(const char *path, char *err, size_t errlen);

#endif
