/* envelope — decode, validate and build keten Envelopes.
 *
 * Pure code: no sockets. Every frame from the network goes through
 * envelope_decode() and envelope_validate() before anything looks at it.
 */
#ifndef KETEN_ENVELOPE_H
#define KETEN_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "keten.pb-c.h"

/* 2: keten 0.2 (signed registry, evidence in PREPARED, revocation v2);
 * version 1 (keten 0.1) is refused with ERROR_UNSUPPORTED_VERSION. */
#define ENVELOPE_PROTOCOL_VERSION 2u
#define ENVELOPE_MESSAGE_ID_BYTES 16u
#define ENVELOPE_TRACE_ID_BYTES 16u
#define ENVELOPE_OPERATION_ID_BYTES 8u
/* Largest frame either side will send or accept unless configured lower. */
#define ENVELOPE_DEFAULT_MAX_FRAME 1048576u
#define ENVELOPE_MAX_SOFTWARE 64u
/* Error.reason and SubscriptionEnded.detail: 0 to ENVELOPE_MAX_REASON_LEN
 * printable ASCII bytes (protocol.md 5.5, 8.12); ENVELOPE_MAX_REASON is a
 * buffer that holds one with its NUL. */
#define ENVELOPE_MAX_REASON_LEN 255u
#define ENVELOPE_MAX_REASON (ENVELOPE_MAX_REASON_LEN + 1u)
/* Welcome.display_name: 1 to 128 bytes of UTF-8 without control characters
 * (5.2, as a registry entry's, 2.5.2); participant_id at most 64 printable
 * ASCII bytes; broker_version 0 to 32. */
#define ENVELOPE_MAX_DISPLAY_NAME 128u
#define ENVELOPE_MAX_PARTICIPANT_ID 64u
#define ENVELOPE_MAX_BROKER_VERSION 32u
/* Largest PING payload (it is echoed back: a PING must not make the
 * broker queue more than this towards a connection). */
#define ENVELOPE_MAX_PING_PAYLOAD 65536u
/* AuditProofReply.entry: an audit entry's canonical string (7.11). */
#define ENVELOPE_MAX_AUDIT_ENTRY 4096u

typedef struct {
  Keten__ErrorCode code;
  char reason[ENVELOPE_MAX_REASON];
} envelope_error_t;

/* Ids the sender of an envelope owns; the envelope points into them, so
 * they must live as long as the envelope is used. */
typedef struct {
  uint8_t message_id[ENVELOPE_MESSAGE_ID_BYTES];
  uint8_t correlation_id[ENVELOPE_MESSAGE_ID_BYTES];
  uint8_t trace_id[ENVELOPE_TRACE_ID_BYTES];
  uint8_t operation_id[ENVELOPE_OPERATION_ID_BYTES];
} envelope_ids_t;

/* Decodes one frame of len bytes. Returns a new envelope owned by the
 * caller (free with envelope_free), or NULL with err filled when the frame
 * is larger than max_frame (ERROR_TOO_LARGE) or undecodable (ERROR_MALFORMED). */
Keten__Envelope *envelope_decode(const uint8_t *frame, size_t len,
                                 size_t max_frame, envelope_error_t *err);

/* Checks the header fields of a decoded envelope: version, id lengths,
 * and the bounds of the body's fields. Returns 0, or -1 with err filled. */
int envelope_validate(const Keten__Envelope *env, envelope_error_t *err);

/* Frees an envelope returned by envelope_decode(); NULL is ignored. */
void envelope_free(Keten__Envelope *env);

/* Initialises env as a new message with fresh random ids stored in ids.
 * When request is given, env becomes its reply: correlation_id is the
 * request's message_id and the request's trace_id is carried over. */
void envelope_init(Keten__Envelope *env, envelope_ids_t *ids,
                   const Keten__Envelope *request);

/* Packs env into a new buffer of *len bytes (caller frees), or NULL. */
uint8_t *envelope_pack(const Keten__Envelope *env, size_t *len);

/* Returns the name of an error code, e.g. "ERROR_MALFORMED". */
const char *envelope_error_name(Keten__ErrorCode code);

/* Returns 1 when the message_id of env can be used to correlate a reply. */
int envelope_has_message_id(const Keten__Envelope *env);

#endif
