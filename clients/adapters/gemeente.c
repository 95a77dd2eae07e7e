/* keten-adapter-gemeente — a gemeente's adapter.
 *
 * Inbox: the TVS feed (koppelingen of its statushouders), the sections
 * partners share with it (COA's intake through the "@gemeente" consent
 * once TVS links the person), delete notices (an ONTKOPPELING, a revoked
 * consent). Outbox: its own exports after the brede intake and the PIP
 * (gemeente-participation-*.json: INBURGERING, PARTICIPATION, and what it
 * may also write: HOUSEHOLD, EDUCATION, WORK, LANGUAGE, HOUSING), its
 * consents in the same shape as COA's, and revocations. */
#include "adapter.h"

static const adapter_section_map_t s_sections[] = {
    {"INBURGERING", 7, NULL}, {"PARTICIPATION", 9, NULL}, {"HOUSEHOLD", 2, NULL},
    {"EDUCATION", 4, NULL},   {"WORK", 5, NULL},          {"LANGUAGE", 6, NULL},
    {"HOUSING", 8, NULL},     {NULL, 0, NULL}};

/* The mapping table of this adapter (the unit test compiles this file
 * with ADAPTER_NO_MAIN to test it). */
const adapter_kind_t adapter_kind_gemeente = {.name = "gemeente",
                         .program = "keten-adapter-gemeente",
                         .role = 1 /* GEMEENTE */,
                         .sections = s_sections,
                         .consents = 1};

#ifndef ADAPTER_NO_MAIN
int main(int argc, char **argv) {
  return adapter_main(argc, argv, &adapter_kind_gemeente);
}
#endif
