/* entry_file — registry entry files: what `keten root entry` writes, `keten
 * root sign` signs and `keten admin participant add` installs. JSON, one
 * object; the root signature covers the entry's canonical byte string
 * (docs/protocol.md), never this JSON. */
#ifndef KETEN_ENTRY_FILE_H
#define KETEN_ENTRY_FILE_H

#include <stddef.h>
#include <stdio.h>

#include "participant.h"

/* Writes p (signed or not) to path, mode 0644, refusing to replace an
 * existing file unless overwrite. Returns 0, or -1 with why. */
int entry_file_write(const char *path, const participant_t *p, int overwrite,
                     char *why, size_t whylen);

/* Reads an entry file into p (entry_hash set; signed_by_root when it
 * carries a signature, which is not checked here). 0, or -1 with why. */
int entry_file_read(const char *path, participant_t *p, char *why,
                    size_t whylen);

/* Prints p for a person to check: id, role, name, validity (UTC), the
 * fingerprint of its keys, and whether it is signed. */
void entry_file_print(const participant_t *p, FILE *out);

/* Formats ms since the epoch as "2026-12-01 21:22 UTC". */
void entry_file_time(int64_t ms, char *buf, size_t cap);

#endif
