/* recipient — the evidence that lets an author seal to one recipient: its
 * root-signed registry entry, the author's own signed consent records
 * that allow it, and for a consent naming "@gemeente" the TVS-signed
 * KOPPELING that links the subject to it. The same evidence goes into a
 * PREPARE reply and into a rewrap request; the author's library checks
 * all of it (docs/protocol.md, "Evidence"). */
#ifndef KETEND_RECIPIENT_H
#define KETEND_RECIPIENT_H

#include "broker_internal.h"

typedef struct {
  Keten__Recipient msg;               /* points into the members below */
  Keten__RegistryEntry entry;
  participant_t to;
  Keten__Consent **consents;
  size_t n_consents;
  Keten__TvsEventCopy koppeling;
  Keten__TvsEvent *koppeling_event;   /* unpacked from the store */
  Keten__RegistryEntry *publisher;    /* unpacked from the store */
} recipient_evidence_t;

/* Fills ev with the evidence for `to` (q: the section's subject, kind and
 * author, and the subject's linked gemeente) from the consents in list
 * (the author's; any recipients). link is the subject's active link, or
 * NULL. Returns 1 if at least one consent allows q on its own (ev
 * filled; free with recipient_evidence_free), 0 if none does, -1 on
 * error. */
int recipient_evidence(broker_t *b, recipient_evidence_t *ev,
                       const participant_t *to, const consent_t *list,
                       size_t n, const consent_query_t *q,
                       const store_tvs_link_t *link);

void recipient_evidence_free(recipient_evidence_t *ev);

/* The KOPPELING of link with its publisher's entry, unpacked into copy
 * (event and entry malloc'd by protobuf-c; free both). 0, or -1. */
int recipient_koppeling(broker_t *b, const store_tvs_link_t *link,
                        Keten__TvsEvent **event, Keten__RegistryEntry **entry);

#endif
