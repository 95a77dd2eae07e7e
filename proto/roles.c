/* roles — names of the keten.Role values, taken from the generated
 * descriptor so the .proto stays the one source of truth. */
#include "roles.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "keten.pb-c.h"

#define ROLE_PREFIX "ROLE_"

const char *roles_name(int role) {
  if (role == KETEN__ROLE__ROLE_UNSPECIFIED)
    return NULL;
  const ProtobufCEnumValue *v =
      protobuf_c_enum_descriptor_get_value(&keten__role__descriptor, role);
  return v ? v->name + strlen(ROLE_PREFIX) : NULL;
}

int roles_from_name(const char *name) {
  char full[32];
  size_t n = strlen(name);
  if (n == 0 || n > 20)
    return 0;
  if (strncasecmp(name, ROLE_PREFIX, strlen(ROLE_PREFIX)) == 0)
    snprintf(full, sizeof full, "%s", name);
  else
    snprintf(full, sizeof full, ROLE_PREFIX "%s", name);
  for (char *p = full; *p; p++)
    *p = (char)toupper((unsigned char)*p);
  const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value_by_name(
      &keten__role__descriptor, full);
  return (v && v->value != KETEN__ROLE__ROLE_UNSPECIFIED) ? v->value : 0;
}
