/* roles — names of the keten.Role values. */
#include "roles.h"

#include "enums.h"
#include "keten.pb-c.h"

const char *roles_name(int role) {
  return enums_name(&keten__role__descriptor, role, "ROLE_");
}

int roles_from_name(const char *name) {
  return enums_value(&keten__role__descriptor, name, "ROLE_");
}
