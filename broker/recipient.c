/* recipient — evidence for sealing to a recipient. */
#include "recipient.h"

#include <stdlib.h>
#include <string.h>

#include "tvs.h"

int recipient_koppeling(broker_t *b, const store_tvs_link_t *link,
                        Keten__TvsEvent **event, Keten__RegistryEntry **entry) {
  uint8_t *record = NULL, *pub = NULL;
  size_t len = 0, pub_len = 0;
  *event = NULL;
  *entry = NULL;
  if (store_tvs_event_record(b->store, link->koppeling_id, &record, &len, &pub,
                             &pub_len) != 1)
    return -1;
  *event = keten__tvs_event__unpack(NULL, len, record);
  *entry = keten__registry_entry__unpack(NULL, pub_len, pub);
  free(record);
  free(pub);
  if (*event && *entry)
    return 0;
  if (*event)
    keten__tvs_event__free_unpacked(*event, NULL);
  if (*entry)
    keten__registry_entry__free_unpacked(*entry, NULL);
  *event = NULL;
  *entry = NULL;
  return -1;
}

int recipient_evidence(broker_t *b, recipient_evidence_t *ev,
                       const participant_t *to, const consent_t *list,
                       size_t n, const consent_query_t *q,
                       const store_tvs_link_t *link) {
  memset(ev, 0, sizeof *ev);
  keten__recipient__init(&ev->msg);
  ev->to = *to;
  participant_to_entry(&ev->to, &ev->entry);
  ev->consents = calloc(n ? n : 1, sizeof *ev->consents);
  if (!ev->consents)
    return -1;
  int linked = 0;
  for (size_t i = 0; i < n; i++) {
    if (consent_allows(&list[i], 1, q).verdict != CONSENT_ALLOWED)
      continue;
    uint8_t *record = NULL;
    size_t len = 0;
    if (store_consent_record(b->store, list[i].consent_id, &record, &len) != 0)
      goto fail;
    Keten__Consent *k = keten__consent__unpack(NULL, len, record);
    free(record);
    if (!k)
      goto fail;
    ev->consents[ev->n_consents++] = k;
    if (tvs_is_linked_recipient(list[i].recipient))
      linked = 1;
  }
  if (ev->n_consents == 0) {
    recipient_evidence_free(ev);
    return 0;
  }
  if (linked) {
    /* consent_allows() allowed a linked consent only for the linked
     * gemeente, so the link is there. */
    if (!link || recipient_koppeling(b, link, &ev->koppeling_event,
                                     &ev->publisher) != 0)
      goto fail;
    keten__tvs_event_copy__init(&ev->koppeling);
    ev->koppeling.event = ev->koppeling_event;
    ev->koppeling.publisher_entry = ev->publisher;
    ev->msg.koppeling = &ev->koppeling;
  }
  ev->msg.participant_id = ev->to.id;
  ev->msg.entry = &ev->entry;
  ev->msg.consents = ev->consents;
  ev->msg.n_consents = ev->n_consents;
  return 1;
fail:
  recipient_evidence_free(ev);
  return -1;
}

void recipient_evidence_free(recipient_evidence_t *ev) {
  for (size_t i = 0; i < ev->n_consents; i++)
    keten__consent__free_unpacked(ev->consents[i], NULL);
  free(ev->consents);
  if (ev->koppeling_event)
    keten__tvs_event__free_unpacked(ev->koppeling_event, NULL);
  if (ev->publisher)
    keten__registry_entry__free_unpacked(ev->publisher, NULL);
  memset(ev, 0, sizeof *ev);
}
