/* link — the gemeente a subject is linked to (a TVS KOPPELING binds it),
 * and the consents that count for one reader given that link: those that
 * name the reader, and those that name "@gemeente" when the reader is the
 * subject's linked gemeente. */
#ifndef KETEND_LINK_H
#define KETEND_LINK_H

#include "broker_internal.h"

/* The subject's active link: 1 with its gemeente in gemeente (and the
 * link in link, if not NULL), 0 if it is not linked (gemeente ""), -1. */
int link_gemeente(broker_t *b, const uint8_t subject[32],
                  char gemeente[PARTICIPANT_ID_MAX + 1],
                  store_tvs_link_t *link);

/* The participant consent c stands for now: its recipient, or for
 * "@gemeente" the subject's linked gemeente (linked; "" when it is not
 * linked, so the consent stands for nobody). */
const char *link_recipient(const consent_t *c, const char *linked);

/* The live consents of subject recorded by recorder (any, if NULL) that
 * can allow reader: naming it, or naming "@gemeente" when reader is
 * linked (the subject's linked gemeente, "" or NULL if none). *list is
 * malloc'd (free()), *n its length. */
int link_consents_for(broker_t *b, const uint8_t subject[32],
                      const char *recorder, const char *reader,
                      const char *linked, consent_t **list, size_t *n);

#endif
