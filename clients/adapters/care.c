/* keten-adapter-care — a care partner's adapter.
 *
 * Outbox: its care notes (ggz-care-*.json: CARE, the shareable summary;
 * HEALTH), consents that share them (explicit CONSENT or LEGAL_DUTY only:
 * rule R9), revocations. Inbox: what it may read (IDENTITY, STORY, HEALTH
 * under COA's ZORG consent), and the delete notices when that ends. */
#include "adapter.h"

static const adapter_section_map_t s_sections[] = {
    {"CARE", 12, NULL}, {"HEALTH", 10, NULL}, {NULL, 0, NULL}};

/* The mapping table of this adapter (the unit test compiles this file
 * with ADAPTER_NO_MAIN to test it). */
const adapter_kind_t adapter_kind_care = {.name = "care",
                         .program = "keten-adapter-care",
                         .role = 4 /* CARE */,
                         .sections = s_sections,
                         .consents = 1};

#ifndef ADAPTER_NO_MAIN
int main(int argc, char **argv) {
  return adapter_main(argc, argv, &adapter_kind_care);
}
#endif
