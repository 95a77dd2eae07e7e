/* enums — names of the wire enums (Role, SectionKind, Purpose, Basis),
 * taken from the generated descriptors so the .proto stays the one source
 * of truth. Names are given without their prefix ("HEALTH" for
 * SECTION_HEALTH); value 0 (UNSPECIFIED) has no name. */
#ifndef KETEN_ENUMS_H
#define KETEN_ENUMS_H

#include <protobuf-c/protobuf-c.h>

/* The name of value v of enum d with prefix removed, or NULL. */
const char *enums_name(const ProtobufCEnumDescriptor *d, int v,
                       const char *prefix);

/* The value named name (case-insensitive, with or without prefix), or 0. */
int enums_value(const ProtobufCEnumDescriptor *d, const char *name,
                const char *prefix);

#endif
