/* keten-adapter-coa — COA's adapter.
 *
 * Outbox: the intake export (coa-intake-*.json: "sections" of the intake
 * form and the "consents" given there), revocations ("revoke"), and the
 * TVS export of the tvs-koppeling (an "event" file), published as a TVS
 * event with the TVS participant's key (tvs_key). Inbox: what partners
 * share with COA. The mapping table: each intake section is the section
 * kind of the same name (the export already uses docs/sections.md's
 * fields); IDENTITY gets the V-nummer of the file (identity_v_nummer =
 * yes, the default), so that the gemeente can find the person in its own
 * systems (docs/sections.md 2.1). */
#include <string.h>

#include "adapter.h"

static int s_identity(const adapter_config_t *cfg, json_t *section,
                      const char *v_nummer, char *why, size_t whylen) {
  json_t *have = json_object_get(section, "v_nummer");
  if (have) {
    if (!json_is_string(have) || strcmp(json_string_value(have), v_nummer) != 0) {
      snprintf(why, whylen, "v_nummer differs from the file's v_nummer");
      return -1;
    }
    return 0;
  }
  if (cfg->identity_v_nummer)
    json_object_set_new(section, "v_nummer", json_string(v_nummer));
  return 0;
}

static const adapter_section_map_t s_sections[] = {
    {"IDENTITY", 1, s_identity}, {"HOUSEHOLD", 2, NULL}, {"STORY", 3, NULL},
    {"EDUCATION", 4, NULL},      {"WORK", 5, NULL},      {"LANGUAGE", 6, NULL},
    {"HOUSING", 8, NULL},        {"HEALTH", 10, NULL},   {NULL, 0, NULL}};

/* The mapping table of this adapter (the unit test compiles this file
 * with ADAPTER_NO_MAIN to test it). */
const adapter_kind_t adapter_kind_coa = {.name = "coa",
                         .program = "keten-adapter-coa",
                         .role = 2 /* COA */,
                         .sections = s_sections,
                         .consents = 1,
                         .tvs = 1,
                         .identity_v_nummer = 1};

#ifndef ADAPTER_NO_MAIN
int main(int argc, char **argv) {
  return adapter_main(argc, argv, &adapter_kind_coa);
}
#endif
