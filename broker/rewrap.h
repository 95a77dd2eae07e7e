/* rewrap — late access: when a recipient becomes allowed to read a
 * section after it was stored (a later consent, a KOPPELING), the broker
 * asks the section's author, through the author's mailbox, to seal the
 * section's data key to it; the author's library checks the evidence and
 * answers with a wrap or a refusal (docs/protocol.md, "Rewrap requests"). */
#ifndef KETEND_REWRAP_H
#define KETEND_REWRAP_H

#include "broker_internal.h"

/* Queues a rewrap request for each latest section of subject, written by
 * author (any author but `to` if NULL), that `to` may read now but holds
 * no wrap of. *queued (may be NULL) counts the requests added. */
int rewrap_queue(broker_t *b, const request_t *r, const uint8_t subject[32],
                 const char *to, const char *author, size_t *queued);

/* Cancels the pending requests for `to` of author's sections of subject
 * (audited with why), then queues again, with evidence as it is now,
 * those `to` may read now: after access ended or a new consent.
 * *queued (may be NULL) counts the requests added. */
int rewrap_requeue(broker_t *b, const request_t *r, const uint8_t subject[32],
                   const char *to, const char *author, const char *why,
                   size_t *queued);

/* The delivery item of a rewrap request in author's mailbox, built from
 * its stored payload; NULL with *drop set when the request is no longer
 * pending or its section is gone (the caller drops and audits it, why
 * says why), NULL with *failed on a store failure. */
Keten__RewrapRequest *rewrap_item(broker_t *b, const char *author,
                                  const uint8_t *payload, size_t len,
                                  int *drop, const char **why, int *failed);

/* Frees what rewrap_item() returned. */
void rewrap_item_free(Keten__RewrapRequest *req);

/* REWRAP_ANSWER: the author's wrap or refusal. */
int handle_rewrap_answer(request_t *r);

#endif
