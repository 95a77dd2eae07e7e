/* schema — the JSON Schema subset that validates section plaintexts
 * (docs/sections.md 3, share/keten/schemas/sections-v1.json, built into
 * libketen). Internal to libketen and its tests; the public entry is
 * keten_section_validate() in keten.h. */
#ifndef KETEN_SCHEMA_H
#define KETEN_SCHEMA_H

#include <jansson.h>
#include <stddef.h>

/* A compiled schema (one JSON Schema object or boolean, its subschemas
 * and $defs). Immutable once compiled: safe to use from many threads. */
typedef struct schema schema_t;

/* The most bytes of plaintext a section may have (docs/sections.md 1.1,
 * docs/protocol.md 12.1). */
#define SCHEMA_MAX_PLAINTEXT 786432u

/* Compiles doc (a JSON Schema, draft 2020-12 semantics). Every keyword
 * must be one this validator implements (schema.c lists them), with a
 * value of the right shape, and every pattern must be in the ECMA-262
 * subset that schema.c translates to POSIX; else NULL, with the reason
 * (its JSON pointer in the schema and what is wrong) in err. */
schema_t *schema_compile(const json_t *doc, char *err, size_t errlen);

/* Frees s and its subschemas; NULL is ignored. */
void schema_free(schema_t *s);

/* The subschema at $defs/name of s, or NULL. */
const schema_t *schema_def(const schema_t *s, const char *name);

/* 1 if instance conforms to s; else 0 with the first violation in why
 * (whylen bytes, may be NULL): "JSON-POINTER: RULE". */
int schema_check(const schema_t *s, const json_t *instance, char *why,
                 size_t whylen);

/* The compiled built-in sections schema (parsed once, pthread_once), or
 * NULL when it does not compile (err then says why; a test proves it
 * does). */
const schema_t *schema_sections(const char **err);

/* The built-in schema's JSON text (NUL-terminated) and its length. */
extern const unsigned char schema_sections_v1_json[];
extern const size_t schema_sections_v1_json_len;

#endif
