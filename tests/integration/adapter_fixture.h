/* adapter_fixture — the file helpers the adapter tests share
 * (test_adapters.c, test_adapters_hostile.c): what a case system does to an
 * outbox, and reading what an adapter wrote. Each fails the running cmocka
 * test on an I/O error where the test cannot go on. */
#ifndef KETEN_ADAPTER_FIXTURE_H
#define KETEN_ADAPTER_FIXTURE_H

#include <stdint.h>
#include <sys/types.h>

void fx_sleep_ms(int ms);
int64_t fx_mono_ms(void);

/* 1 if path exists (a symlink is not followed). */
int fx_exists(const char *path);

/* The whole file, NUL-terminated and malloc'd; NULL if it cannot be opened. */
char *fx_read(const char *path);

/* Writes text to path (created or truncated with mode). */
void fx_write(const char *path, const char *text, mode_t mode);

/* Drops text into outbox as name, the way a case system should: a hidden
 * temporary file renamed into place. */
void fx_drop_text(const char *outbox, const char *name, const char *text);

/* The example file examples/partners/NAME (KETEN_PARTNERS_DIR), malloc'd. */
char *fx_example(const char *name);

/* How often needle occurs in text (NULL: 0). */
int fx_count(const char *text, const char *needle);

/* How often needle occurs in the file at path (missing: 0). */
int fx_file_count(const char *path, const char *needle);

#endif
