/* envelope — decode, validate and build keten Envelopes. */
#include "envelope.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canon.h"
#include "entry.h"
#include "merkle.h"

_Static_assert(CANON_MAX_NAME == ENVELOPE_MAX_DISPLAY_NAME,
               "a WELCOME's display name is a registry entry's");

static void s_fail(envelope_error_t *err, Keten__ErrorCode code,
                   const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void s_fail(envelope_error_t *err, Keten__ErrorCode code,
                   const char *fmt, ...) {
  if (!err)
    return;
  err->code = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->reason, sizeof err->reason, fmt, ap);
  va_end(ap);
}

Keten__Envelope *envelope_decode(const uint8_t *frame, size_t len,
                                 size_t max_frame, envelope_error_t *err) {
  if (len > max_frame) {
    s_fail(err, KETEN__ERROR_CODE__ERROR_TOO_LARGE,
           "frame of %zu bytes exceeds the limit of %zu bytes", len, max_frame);
    return NULL;
  }
  if (len == 0) {
    s_fail(err, KETEN__ERROR_CODE__ERROR_MALFORMED, "empty frame");
    return NULL;
  }
  Keten__Envelope *env = keten__envelope__unpack(NULL, len, frame);
  if (!env)
    s_fail(err, KETEN__ERROR_CODE__ERROR_MALFORMED,
           "frame is not a decodable Envelope");
  return env;
}

static int s_printable(const char *s, size_t max) {
  size_t n = 0;
  for (; s[n]; n++) {
    if (n >= max)
      return 0;
    unsigned char c = (unsigned char)s[n];
    if (c < 0x20 || c > 0x7e)
      return 0;
  }
  return 1;
}

static int s_check_len(const ProtobufCBinaryData *b, size_t want,
                       int optional, const char *name,
                       envelope_error_t *err) {
  if (b->len == want || (optional && b->len == 0))
    return 0;
  s_fail(err, KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
         "%s must be %s%zu bytes, got %zu", name, optional ? "empty or " : "",
         want, b->len);
  return -1;
}

/* A signed tree head's fields have their sizes (10.6; not its signature). */
static int s_check_tree_head(const Keten__TreeHead *h, envelope_error_t *err) {
  if (s_check_len(&h->root, MERKLE_HASH_BYTES, 0, "tree_head.root", err) ||
      s_check_len(&h->broker_key, 32, 0, "tree_head.broker_key", err) ||
      s_check_len(&h->signature, 64, 0, "tree_head.signature", err))
    return -1;
  if (h->size > MERKLE_MAX_SIZE) {
    s_fail(err, KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
           "tree_head.size must be at most 2^63");
    return -1;
  }
  return 0;
}

int envelope_validate(const Keten__Envelope *env, envelope_error_t *err) {
  if (env->version != ENVELOPE_PROTOCOL_VERSION) {
    s_fail(err, KETEN__ERROR_CODE__ERROR_UNSUPPORTED_VERSION,
           "protocol version %u is not supported (this broker speaks %u)",
           env->version, ENVELOPE_PROTOCOL_VERSION);
    return -1;
  }
  if (s_check_len(&env->message_id, ENVELOPE_MESSAGE_ID_BYTES, 0,
                  "message_id", err) ||
      s_check_len(&env->correlation_id, ENVELOPE_MESSAGE_ID_BYTES, 1,
                  "correlation_id", err) ||
      s_check_len(&env->trace_id, ENVELOPE_TRACE_ID_BYTES, 0, "trace_id",
                  err) ||
      s_check_len(&env->operation_id, ENVELOPE_OPERATION_ID_BYTES, 0,
                  "operation_id", err) ||
      s_check_len(&env->parent_operation_id, ENVELOPE_OPERATION_ID_BYTES, 1,
                  "parent_operation_id", err))
    return -1;

  switch (env->body_case) {
  case KETEN__ENVELOPE__BODY_HELLO:
    if (!s_printable(env->hello->software, ENVELOPE_MAX_SOFTWARE)) {
      s_fail(err, KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
             "hello.software must be at most %u printable ASCII bytes",
             ENVELOPE_MAX_SOFTWARE);
      return -1;
    }
    break;
  case KETEN__ENVELOPE__BODY_ERROR:
    if (!s_printable(env->error->reason, ENVELOPE_MAX_REASON_LEN)) {
      s_fail(err, KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
             "error.reason must be at most %u printable ASCII bytes",
             ENVELOPE_MAX_REASON_LEN);
      return -1;
    }
    break;
  case KETEN__ENVELOPE__BODY_PING:
    if (env->ping->payload.len > ENVELOPE_MAX_PING_PAYLOAD) {
      s_fail(err, KETEN__ERROR_CODE__ERROR_TOO_LARGE,
             "ping.payload must be at most %u bytes", ENVELOPE_MAX_PING_PAYLOAD);
      return -1;
    }
    break;
  case KETEN__ENVELOPE__BODY_SUBSCRIPTION_ENDED:
    if (!s_printable(env->subscription_ended->detail,
                     ENVELOPE_MAX_REASON_LEN)) {
      s_fail(err, KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
             "subscription_ended.detail must be at most %u printable ASCII "
             "bytes",
             ENVELOPE_MAX_REASON_LEN);
      return -1;
    }
    break;
  case KETEN__ENVELOPE__BODY_WELCOME:
    /* display_name as a registry entry's: 1-128 bytes of UTF-8 without
     * control characters (an empty one is out of bounds too: step 10 of
     * 9.1 answers ERROR_INVALID_FIELD, not ERROR_UNKNOWN_BODY) */
    if (!s_printable(env->welcome->participant_id,
                     ENVELOPE_MAX_PARTICIPANT_ID) ||
        !entry_valid_name(env->welcome->display_name) ||
        !s_printable(env->welcome->broker_version,
                     ENVELOPE_MAX_BROKER_VERSION)) {
      s_fail(err, KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
             "welcome strings must be printable within their bounds");
      return -1;
    }
    if (env->welcome->tree_head &&
        s_check_tree_head(env->welcome->tree_head, err) != 0)
      return -1;
    break;
  case KETEN__ENVELOPE__BODY_AUDIT_PROOF: {
    /* 7.11: seq only with want_inclusion, and then from 1 */
    const Keten__AuditProofRequest *q = env->audit_proof;
    if (q->want_inclusion ? q->seq == 0 : q->seq != 0) {
      s_fail(err, KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
             "audit_proof.seq is set (from 1) exactly when want_inclusion is");
      return -1;
    }
    if (q->old_size > MERKLE_MAX_SIZE || q->at_size > MERKLE_MAX_SIZE) {
      s_fail(err, KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
             "audit_proof sizes must be at most 2^63");
      return -1;
    }
    break;
  }
  case KETEN__ENVELOPE__BODY_AUDIT_PROVED: {
    const Keten__AuditProofReply *a = env->audit_proved;
    if (!a->head) {
      s_fail(err, KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
             "audit_proved.head is required");
      return -1;
    }
    if (s_check_tree_head(a->head, err) != 0)
      return -1;
    if (a->n_consistency > MERKLE_MAX_PROOF ||
        a->n_inclusion > MERKLE_MAX_PROOF ||
        a->entry.len > ENVELOPE_MAX_AUDIT_ENTRY) {
      s_fail(err, KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
             "audit_proved: at most %u hashes per proof and %u entry bytes",
             MERKLE_MAX_PROOF, ENVELOPE_MAX_AUDIT_ENTRY);
      return -1;
    }
    for (size_t i = 0; i < a->n_consistency; i++)
      if (s_check_len(&a->consistency[i], MERKLE_HASH_BYTES, 0,
                      "audit_proved.consistency[]", err))
        return -1;
    for (size_t i = 0; i < a->n_inclusion; i++)
      if (s_check_len(&a->inclusion[i], MERKLE_HASH_BYTES, 0,
                      "audit_proved.inclusion[]", err))
        return -1;
    break;
  }
  case KETEN__ENVELOPE__BODY_ERASE: {
    /* 7.12: the wire bounds; the broker checks the rest (erase.h). */
    const Keten__Erasure *x = env->erase->erasure;
    if (!x || s_check_len(&x->erasure_id, 16, 0, "erasure.erasure_id", err) ||
        s_check_len(&x->subject, 32, 0, "erasure.subject", err) ||
        s_check_len(&x->signature, 64, 0, "erasure.signature", err))
      return x ? -1 : (s_fail(err, KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
                              "erase.erasure is required"),
                       -1);
    if (!x->reason[0] || !s_printable(x->reason, ENVELOPE_MAX_REASON_LEN) ||
        !x->author[0] ||
        !s_printable(x->author, ENVELOPE_MAX_PARTICIPANT_ID) ||
        (x->kinds & ~UINT32_C(0x1ffe))) {
      s_fail(err, KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
             "erasure.reason must be 1 to %u printable ASCII bytes, author a "
             "participant id and kinds bits of section kinds 1..12",
             ENVELOPE_MAX_REASON_LEN);
      return -1;
    }
    break;
  }
  case KETEN__ENVELOPE__BODY_ERASED:
    if (env->erased->n_notified > 4096) {
      s_fail(err, KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
             "erased.notified names more than 4096 recipients");
      return -1;
    }
    for (size_t i = 0; i < env->erased->n_notified; i++)
      if (!env->erased->notified[i][0] ||
          !s_printable(env->erased->notified[i], ENVELOPE_MAX_PARTICIPANT_ID)) {
        s_fail(err, KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
               "erased.notified must hold participant ids");
        return -1;
      }
    break;
  default:
    break; /* bodies without bounded fields, or unset: the dispatcher decides */
  }
  return 0;
}

void envelope_free(Keten__Envelope *env) {
  if (env)
    keten__envelope__free_unpacked(env, NULL);
}

void envelope_init(Keten__Envelope *env, envelope_ids_t *ids,
                   const Keten__Envelope *request) {
  keten__envelope__init(env);
  env->version = ENVELOPE_PROTOCOL_VERSION;
  /* One draw for all fresh ids: each draw is a system call. */
  uint8_t fresh[ENVELOPE_MESSAGE_ID_BYTES + ENVELOPE_OPERATION_ID_BYTES +
                ENVELOPE_TRACE_ID_BYTES];
  randombytes_buf(fresh, sizeof fresh);
  memcpy(ids->message_id, fresh, sizeof ids->message_id);
  memcpy(ids->operation_id, fresh + sizeof ids->message_id,
         sizeof ids->operation_id);
  env->message_id.data = ids->message_id;
  env->message_id.len = sizeof ids->message_id;
  env->operation_id.data = ids->operation_id;
  env->operation_id.len = sizeof ids->operation_id;
  if (request && request->trace_id.len == sizeof ids->trace_id)
    memcpy(ids->trace_id, request->trace_id.data, sizeof ids->trace_id);
  else
    memcpy(ids->trace_id,
           fresh + sizeof ids->message_id + sizeof ids->operation_id,
           sizeof ids->trace_id);
  env->trace_id.data = ids->trace_id;
  env->trace_id.len = sizeof ids->trace_id;
  if (request && envelope_has_message_id(request)) {
    memcpy(ids->correlation_id, request->message_id.data,
           sizeof ids->correlation_id);
    env->correlation_id.data = ids->correlation_id;
    env->correlation_id.len = sizeof ids->correlation_id;
    if (request->operation_id.len == ENVELOPE_OPERATION_ID_BYTES) {
      /* The request's operation is the parent of the reply's. */
      env->parent_operation_id.data = request->operation_id.data;
      env->parent_operation_id.len = request->operation_id.len;
    }
  }
}

uint8_t *envelope_pack(const Keten__Envelope *env, size_t *len) {
  size_t n = keten__envelope__get_packed_size(env);
  uint8_t *buf = malloc(n ? n : 1);
  if (!buf)
    return NULL;
  *len = keten__envelope__pack(env, buf);
  return buf;
}

int envelope_has_message_id(const Keten__Envelope *env) {
  return env && env->message_id.len == ENVELOPE_MESSAGE_ID_BYTES;
}

const char *envelope_error_name(Keten__ErrorCode code) {
  const ProtobufCEnumValue *v =
      protobuf_c_enum_descriptor_get_value(&keten__error_code__descriptor,
                                           (int)code);
  return v ? v->name : "ERROR_UNKNOWN";
}
