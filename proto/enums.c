/* enums — names of the wire enums from the generated descriptors. */
#include "enums.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *enums_name(const ProtobufCEnumDescriptor *d, int v,
                       const char *prefix) {
  if (v == 0)
    return NULL;
  const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);
  return ev ? ev->name + strlen(prefix) : NULL;
}

int enums_value(const ProtobufCEnumDescriptor *d, const char *name,
                const char *prefix) {
  char full[48];
  size_t plen = strlen(prefix);
  if (!name || !name[0] || strlen(name) + plen >= sizeof full)
    return 0;
  if (strncasecmp(name, prefix, plen) == 0)
    snprintf(full, sizeof full, "%s", name);
  else
    snprintf(full, sizeof full, "%s%s", prefix, name);
  for (char *p = full; *p; p++)
    *p = (char)toupper((unsigned char)*p);
  const ProtobufCEnumValue *ev =
      protobuf_c_enum_descriptor_get_value_by_name(d, full);
  return ev ? ev->value : 0;
}
