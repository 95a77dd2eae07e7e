/* link — a subject's linked gemeente and the consents that follow it. */
#include "link.h"

#include <stdlib.h>
#include <string.h>

#include "tvs.h"

int link_gemeente(broker_t *b, const uint8_t subject[32],
                  char gemeente[PARTICIPANT_ID_MAX + 1],
                  store_tvs_link_t *link) {
  store_tvs_link_t l;
  int found = store_tvs_link_active(b->store, subject, &l);
  gemeente[0] = '\0';
  if (found == 1) {
    memcpy(gemeente, l.gemeente, sizeof l.gemeente);
    if (link)
      *link = l;
  }
  return found;
}

const char *link_recipient(const consent_t *c, const char *linked) {
  return tvs_is_linked_recipient(c->recipient) ? (linked ? linked : "")
                                               : c->recipient;
}

int link_consents_for(broker_t *b, const uint8_t subject[32],
                      const char *recorder, const char *reader,
                      const char *linked, consent_t **list, size_t *n) {
  *list = NULL;
  *n = 0;
  if (store_consents_live(b->store, subject, recorder, reader, list, n) != 0)
    return -1;
  if (!linked || !linked[0] || strcmp(linked, reader) != 0)
    return 0;
  consent_t *more = NULL;
  size_t m = 0;
  if (store_consents_live(b->store, subject, recorder, TVS_LINKED_GEMEENTE,
                          &more, &m) != 0) {
    free(*list);
    *list = NULL;
    *n = 0;
    return -1;
  }
  if (m == 0) {
    free(more);
    return 0;
  }
  consent_t *all = realloc(*list, (*n + m) * sizeof *all);
  if (!all) {
    free(more);
    free(*list);
    *list = NULL;
    *n = 0;
    return -1;
  }
  memcpy(all + *n, more, m * sizeof *more);
  free(more);
  *list = all;
  *n += m;
  return 0;
}
