/* roles — names of the keten.Role values, shared by broker and clients. */
#ifndef KETEN_ROLES_H
#define KETEN_ROLES_H

/* Returns "GEMEENTE", "COA", ... for a keten.Role number, or NULL. */
const char *roles_name(int role);

/* Returns the keten.Role number for "GEMEENTE"/"gemeente"/"ROLE_GEMEENTE",
 * or 0 (ROLE_UNSPECIFIED) when the name is not a role. */
int roles_from_name(const char *name);

#endif
