/* entry — root-signed registry entries: the rules for their fields, their
 * root signature and their validity window (pure; shared by the broker,
 * which admits participants by them, and libketen, which checks every
 * entry the broker hands it against the root key it pins). */
#ifndef KETEN_ENTRY_H
#define KETEN_ENTRY_H

#include <stddef.h>
#include <stdint.h>

#include "keten.pb-c.h"

/* A participant id is 1..64 bytes of [a-z0-9-] segments joined by ':',
 * each segment non-empty and the first starting with a letter: "coa",
 * "vwn:zeeland", "gemeente:0716". Returns 1 if id is valid. */
int entry_valid_id(const char *id);

/* 1 for the names the broker and `keten admin` write as the actor of
 * their own audit entries ("ketend", "operator"): no registry entry may
 * take one, or its holder could ask for proofs of every such entry. */
int entry_reserved_id(const char *id);

/* A display name is 1..128 bytes of UTF-8 text without control
 * characters. Returns 1 if valid. */
int entry_valid_name(const char *name);

/* Checks e's shape: no unknown fields, every field (id, role, name,
 * 32-byte keys, valid_until > valid_from, a 64-byte signature), but not
 * the signature itself. Returns 0, or -1 with a reason in why. */
int entry_check_shape(const Keten__RegistryEntry *e, char *why,
                      size_t whylen);

/* Checks e completely: its shape and the root's signature with root_pk.
 * Returns 0, or -1 with a reason in why. */
int entry_check(const Keten__RegistryEntry *e, const uint8_t root_pk[32],
                char *why, size_t whylen);

/* 1 if t (ms since the epoch) lies in [valid_from_ms, valid_until_ms). */
int entry_valid_at(const Keten__RegistryEntry *e, uint64_t t);

#endif
