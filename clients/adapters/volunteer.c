/* keten-adapter-volunteer — a volunteer organisation's adapter.
 *
 * Outbox: its support notes (vwn-support-*.json: SUPPORT), consents that
 * share them, revocations. Inbox: what it may read (never HEALTH or CARE:
 * the policy table, rule R8). */
#include "adapter.h"

static const adapter_section_map_t s_sections[] = {{"SUPPORT", 11, NULL},
                                                   {NULL, 0, NULL}};

/* The mapping table of this adapter (the unit test compiles this file
 * with ADAPTER_NO_MAIN to test it). */
const adapter_kind_t adapter_kind_volunteer = {.name = "volunteer",
                         .program = "keten-adapter-volunteer",
                         .role = 3 /* VOLUNTEER */,
                         .sections = s_sections,
                         .consents = 1};

#ifndef ADAPTER_NO_MAIN
int main(int argc, char **argv) {
  return adapter_main(argc, argv, &adapter_kind_volunteer);
}
#endif
