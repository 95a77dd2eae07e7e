/* tvs — TVS events (taakstelling-volgsysteem): the rules for their fields
 * per kind, their canonical string (keten/tvs-event/v1) and signature,
 * and the reserved consent recipient that names "the gemeente the subject
 * is linked to". Pure code, shared by the broker (which admits events)
 * and libketen (which checks every event and koppeling it relies on). */
#ifndef KETEN_TVS_H
#define KETEN_TVS_H

#include <stddef.h>
#include <stdint.h>

#include "keten.pb-c.h"

#define TVS_TAG_EVENT "keten/tvs-event/v1"
#define TVS_EVENT_ID_BYTES 16
#define TVS_MAX_HOUSEHOLD 99

/* The consent recipient that means "the gemeente this subject is linked
 * to" (bound by a KOPPELING). '@' is never part of a participant id. */
#define TVS_LINKED_GEMEENTE "@gemeente"

/* 1 if recipient is TVS_LINKED_GEMEENTE. */
int tvs_is_linked_recipient(const char *recipient);

/* A taakstelling period: "YYYY-1" or "YYYY-2" (YYYY 2000..2999). */
int tvs_valid_period(const char *period);

/* A calendar date "YYYY-MM-DD" (YYYY 2000..2999, a day that exists). */
int tvs_valid_date(const char *date);

/* Name of a kind without prefix ("KOPPELING"), or NULL; and back
 * ("koppeling", "KOPPELING", "TVS_KOPPELING"), 0 if unknown. */
const char *tvs_kind_name(int kind);
int tvs_kind_from_name(const char *name);

/* Same for ontkoppel reasons ("HOUSING_ELSEWHERE", "MOVED", ...). */
const char *tvs_reason_name(int reason);
int tvs_reason_from_name(const char *name);

/* Checks ev's shape: no unknown fields, a 16-byte event_id, a known
 * kind, and per kind exactly the fields it carries (docs/protocol.md
 * "TVS events"), participant ids valid, the others empty or zero, a
 * 64-byte signature; not the signature itself. Returns 0, or -1 with a
 * reason in why. */
int tvs_event_check_shape(const Keten__TvsEvent *ev, char *why, size_t whylen);

/* The canonical string the publisher signs: every field but signature. */
int tvs_event_canon(const Keten__TvsEvent *ev, uint8_t **out, size_t *len);

/* Signs ev with sk (64-byte Ed25519 secret) into sig; 0 or -1. */
int tvs_event_sign(const Keten__TvsEvent *ev, const uint8_t sk[64],
                   uint8_t sig[64]);

/* 0 if ev->signature verifies with pk. */
int tvs_event_verify(const Keten__TvsEvent *ev, const uint8_t pk[32]);

/* Which gemeenten an event goes to: gemeente, and for VERHUIZING also
 * from_gemeente. Returns how many (1 or 2) pointers into ev it set. */
size_t tvs_event_gemeenten(const Keten__TvsEvent *ev, const char *out[2]);

#endif
