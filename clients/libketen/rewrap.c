/* rewrap — serving the broker's rewrap requests (inside keten_client_poll).
 *
 * A rewrap request asks us, a section's author, to seal the section's data
 * key to one more recipient. The broker hands us our own section with our
 * own wrap and the evidence for the recipient; we trust none of it: the
 * section must be ours (header author), our own signature must verify and
 * our own wrap open and the ciphertext authenticate under its header (so
 * no header can be swapped in), and the evidence must hold now exactly as
 * it must for a put of that subject and kind. Then the data key is sealed
 * to the recipient's root-signed sealing key and sent back; otherwise a
 * refusal is sent, so the broker audits why. The answer is one-way: it
 * leaves before the ack of its seq, and the broker's OK or ERROR to it is
 * recorded when it comes (client_rewrap_reply).
 *
 * Secrets: the data key lives on the stack and is wiped on every path.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "canon.h"
#include "client_int.h"
#include "entry.h"
#include "envelope.h"
#include "evidence.h"
#include "seal.h"

void keten_client_on_rewrap(keten_client_t *c, keten_rewrap_fn fn, void *arg) {
  if (!c)
    return;
  c->rewrap_fn = fn;
  c->rewrap_arg = arg;
}

/* Opens our own wrap of s into key: signed with our current or a previous
 * signing key, wrapped to our current or a previous sealing key. */
static keten_err_t s_open_own(keten_client_t *c, const Keten__SealedSection *s,
                              uint8_t key[SEAL_DATA_KEY_BYTES], char *why,
                              size_t whylen) {
  const keten_keys_t *sets[1 + CLIENT_MAX_PREVIOUS_KEYS];
  size_t n = 0;
  sets[n++] = &c->keys;
  for (size_t i = 0; i < c->n_previous; i++)
    sets[n++] = &c->previous[i];
  keten_err_t rc = KETEN_ERR_CRYPTO;
  for (size_t signer = 0; signer < n; signer++) {
    for (size_t reader = 0; reader < n; reader++) {
      rc = seal_open_key(s, sets[signer]->signing_pk, c->self_id, sets[reader],
                         key, why, whylen);
      if (rc == KETEN_OK)
        return KETEN_OK;
      if (rc != KETEN_ERR_CRYPTO || !strstr(why, "does not open"))
        break; /* only another sealing key can change this */
    }
    if (rc != KETEN_ERR_CRYPTO || !strstr(why, "signature does not verify"))
      return rc; /* only another signing key can change this */
  }
  return rc;
}

/* Only printable ASCII goes back to the broker (it audits the text). */
static void s_printable(char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
      *s = '?';
}

/* Remembers the message id of an answer, to name the broker's reply. */
static void s_remember_answer(keten_client_t *c, const Keten__Envelope *env,
                              uint64_t request_id) {
  memcpy(c->answers[c->answers_next].message_id, env->message_id.data,
         ENVELOPE_MESSAGE_ID_BYTES);
  c->answers[c->answers_next].request_id = request_id;
  c->answers_next = (c->answers_next + 1) % CLIENT_ANSWERS;
}

int client_rewrap_reply(keten_client_t *c, const Keten__Envelope *reply) {
  if (reply->correlation_id.len != ENVELOPE_MESSAGE_ID_BYTES)
    return 0;
  for (size_t i = 0; i < CLIENT_ANSWERS; i++) {
    if (memcmp(c->answers[i].message_id, reply->correlation_id.data,
               ENVELOPE_MESSAGE_ID_BYTES) != 0)
      continue;
    if (reply->body_case == KETEN__ENVELOPE__BODY_ERROR && reply->error) {
      char reason[ENVELOPE_MAX_REASON + 1];
      snprintf(reason, sizeof reason, "%s",
               reply->error->reason ? reply->error->reason : "");
      s_printable(reason);
      client_error(c,
                   "the broker refused our answer to rewrap request %llu: "
                   "%s: %s",
                   (unsigned long long)c->answers[i].request_id,
                   envelope_error_name(reply->error->code), reason);
    }
    memset(c->answers[i].message_id, 0, ENVELOPE_MESSAGE_ID_BYTES);
    return 1;
  }
  return 0;
}

/* Decides the answer to rq: 1 with wrap filled, or 0 with a refusal. */
static int s_decide(keten_client_t *c, const Keten__RewrapRequest *rq,
                    uint8_t wrap[CANON_WRAP_BYTES], char *refusal,
                    size_t refusal_len) {
  char why[256] = "";
  const Keten__SectionCopy *copy = rq->section;
  const Keten__SealedSection *s = copy ? copy->section : NULL;
  const Keten__SectionHeader *h = s ? s->header : NULL;
  keten_section_header_t hdr;
  if (!h) {
    snprintf(refusal, refusal_len, "the rewrap request carries no section");
    return 0;
  }
  if (!canon_exact(&copy->base)) {
    snprintf(refusal, refusal_len, "the section carries unknown fields");
    return 0;
  }
  if (seal_header_from_wire(h, &hdr) != 0) {
    snprintf(refusal, refusal_len, "the section's header is malformed");
    return 0;
  }
  if (strcmp(hdr.author, c->self_id) != 0) {
    snprintf(refusal, refusal_len, "the section is not ours: its author is %s",
             entry_valid_id(hdr.author) ? hdr.author : "?");
    return 0;
  }
  /* Our own signature, our own wrap, the ciphertext under its header. */
  uint8_t key[SEAL_DATA_KEY_BYTES];
  if (s_open_own(c, s, key, why, sizeof why) != KETEN_OK) {
    sodium_memzero(key, sizeof key);
    snprintf(refusal, refusal_len, "our own section does not open: %s", why);
    return 0;
  }
  /* The evidence, now, exactly as for a put of this subject and kind. */
  evidence_author_t ev = {.root_pk = c->root_key,
                          .self_id = c->self_id,
                          .subject = hdr.subject,
                          .kind = hdr.kind,
                          .now_ms = client_wall_ms(),
                          .cache = &c->verified};
  client_own_signing_keys(c, &ev);
  int sealed = 0;
  if (evidence_check_recipient(&ev, rq->recipient, why, sizeof why) != KETEN_OK)
    snprintf(refusal, refusal_len, "the evidence does not hold: %s", why);
  else if (crypto_box_seal(wrap, key, SEAL_DATA_KEY_BYTES,
                           rq->recipient->entry->sealing_key.data) != 0)
    snprintf(refusal, refusal_len, "the recipient's sealing key is unusable");
  else
    sealed = 1;
  sodium_memzero(key, sizeof key);
  return sealed;
}

int client_serve_rewrap(keten_client_t *c, const Keten__Delivery *item,
                        size_t *handled) {
  const Keten__RewrapRequest *rq = item->rewrap;
  uint8_t wrap[CANON_WRAP_BYTES];
  char refusal[CANON_MAX_TEXT + 1] = "";
  int sealed = s_decide(c, rq, wrap, refusal, sizeof refusal);
  if (!sealed) {
    s_printable(refusal);
    if (!refusal[0])
      snprintf(refusal, sizeof refusal, "refused");
  }

  Keten__RewrapAnswer a = KETEN__REWRAP_ANSWER__INIT;
  a.request_id = rq->request_id;
  if (sealed) {
    a.wrap.data = wrap;
    a.wrap.len = sizeof wrap;
  } else {
    a.refusal = refusal;
  }
  Keten__Envelope env;
  envelope_ids_t ids;
  envelope_init(&env, &ids, NULL);
  env.body_case = KETEN__ENVELOPE__BODY_REWRAP_ANSWER;
  env.rewrap_answer = &a;
  if (client_send_oneway(c, &env) != 0) {
    char sent[sizeof c->error];
    snprintf(sent, sizeof sent, "%s", c->error);
    client_error(c, "the answer to rewrap request %llu did not leave: %s",
                 (unsigned long long)rq->request_id, sent);
    return -1; /* not acked: the request comes again */
  }
  s_remember_answer(c, &env, rq->request_id);
  if (!sealed)
    client_error(c, "rewrap request %llu refused: %s",
                 (unsigned long long)rq->request_id, refusal);

  if (c->rewrap_fn) {
    keten_rewrap_t r;
    memset(&r, 0, sizeof r);
    const Keten__SectionHeader *h = rq->section && rq->section->section
                                        ? rq->section->section->header
                                        : NULL;
    keten_section_header_t hdr;
    if (h && seal_header_from_wire(h, &hdr) == 0) {
      memcpy(r.subject, hdr.subject, KETEN_SUBJECT_BYTES);
      r.kind = hdr.kind;
      r.version = hdr.version;
    }
    const Keten__Recipient *to = rq->recipient;
    if (to && entry_valid_id(to->participant_id))
      snprintf(r.recipient, sizeof r.recipient, "%s", to->participant_id);
    r.sealed = sealed;
    if (!sealed)
      snprintf(r.refusal, sizeof r.refusal, "%s", refusal);
    c->rewrap_fn(&r, item->seq, c->rewrap_arg);
    if (handled)
      (*handled)++;
  }
  sodium_memzero(wrap, sizeof wrap);
  return 0;
}
