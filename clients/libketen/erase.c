/* erase — a controller's signed erasure (AVG art. 17), signed here and
 * sent (ERASE) or exported for the operator (docs/protocol.md 7.12). */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "canon.h"
#include "client_int.h"

/* The wire form of e (pointing into e). */
static void s_to_wire(const keten_erasure_t *e, Keten__Erasure *w) {
  keten__erasure__init(w);
  w->erasure_id.data = (uint8_t *)e->erasure_id;
  w->erasure_id.len = sizeof e->erasure_id;
  w->subject.data = (uint8_t *)e->subject;
  w->subject.len = KETEN_SUBJECT_BYTES;
  w->author = (char *)e->author;
  w->kinds = (uint32_t)e->kinds;
  w->erase_evidence = e->erase_evidence ? 1 : 0;
  w->reason = (char *)e->reason;
  w->requested_at_ms = e->requested_at_ms;
  w->signature.data = (uint8_t *)e->signature;
  w->signature.len = sizeof e->signature;
}

/* The bounds the broker checks (erase.h), before anything is signed. */
static int s_in_bounds(const keten_erasure_t *e) {
  size_t n = strnlen(e->reason, sizeof e->reason);
  if (n == 0 || n > 255 || (e->kinds & ~UINT64_C(0x1ffe)) ||
      strnlen(e->author, sizeof e->author) == 0 ||
      strnlen(e->author, sizeof e->author) > KETEN_ID_MAX)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (e->reason[i] < 0x20 || e->reason[i] > 0x7e)
      return 0;
  return 1;
}

keten_err_t keten_erasure_sign(keten_erasure_t *e, const keten_keys_t *keys) {
  if (!e || !keys || !s_in_bounds(e))
    return KETEN_ERR_INVALID;
  static const uint8_t zero[16];
  if (memcmp(e->erasure_id, zero, sizeof zero) == 0)
    randombytes_buf(e->erasure_id, sizeof e->erasure_id);
  if (e->requested_at_ms == 0)
    e->requested_at_ms = client_wall_ms();
  Keten__Erasure w;
  s_to_wire(e, &w);
  uint8_t sig[64];
  if (canon_sign_erasure(&w, keys->signing_sk, sig) != 0)
    return KETEN_ERR_NOMEM;
  memcpy(e->signature, sig, sizeof sig);
  return KETEN_OK;
}

keten_err_t keten_erasure_verify(const keten_erasure_t *e,
                                 const uint8_t signing_pk[32]) {
  if (!e || !signing_pk || !s_in_bounds(e))
    return KETEN_ERR_INVALID;
  Keten__Erasure w;
  s_to_wire(e, &w);
  return canon_verify_erasure(&w, signing_pk) == 0 ? KETEN_OK
                                                   : KETEN_ERR_CRYPTO;
}

keten_err_t keten_client_erase(keten_client_t *c, keten_erasure_t *e,
                               keten_erase_result_t *result) {
  if (!c || !e)
    return KETEN_ERR_INVALID;
  if (result)
    memset(result, 0, sizeof *result);
  keten_err_t rc = client_self(c);
  if (rc != KETEN_OK)
    return rc;
  snprintf(e->author, sizeof e->author, "%s", c->self_id);
  if ((rc = keten_erasure_sign(e, &c->keys)) != KETEN_OK) {
    client_error(c, "the erasure is out of bounds (reason 1..255 printable "
                    "ASCII bytes, kinds 1..12); nothing was sent");
    return rc;
  }
  Keten__Erasure w;
  s_to_wire(e, &w);
  Keten__EraseRequest req = KETEN__ERASE_REQUEST__INIT;
  req.erasure = &w;
  Keten__Envelope *reply = NULL;
  rc = client_call_body(c, KETEN__ENVELOPE__BODY_ERASE, &req,
                        KETEN__ENVELOPE__BODY_ERASED, &reply);
  if (client_recovered(c, rc))
    return KETEN_OK; /* an earlier attempt was processed; counts unknown */
  if (rc != KETEN_OK)
    return rc;
  if (result) {
    const Keten__EraseReply *r = reply->erased;
    result->sections = r->sections;
    result->wraps = r->wraps;
    result->deliveries = r->deliveries;
    result->n_notified = r->n_notified;
    for (size_t i = 0; i < r->n_notified && i < 16; i++)
      snprintf(result->notified[i], sizeof result->notified[i], "%s",
               r->notified[i]);
  }
  envelope_free(reply);
  return KETEN_OK;
}
