/* status — names for libketen's error values, roles and wire error codes. */
#include "envelope.h"
#include "keten.h"
#include "roles.h"

const char *keten_strerror(keten_err_t err) {
  switch (err) {
  case KETEN_OK: return "ok";
  case KETEN_ERR_INVALID: return "invalid argument";
  case KETEN_ERR_IO: return "file input/output failed";
  case KETEN_ERR_FORMAT: return "malformed key file";
  case KETEN_ERR_PERMISSIONS: return "secret key file is readable by others";
  case KETEN_ERR_NOMEM: return "out of memory";
  case KETEN_ERR_TRANSPORT: return "transport failure";
  case KETEN_ERR_AUTH: return "refused by the broker at the handshake";
  case KETEN_ERR_TIMEOUT: return "timed out";
  case KETEN_ERR_PROTOCOL: return "protocol violation";
  case KETEN_ERR_REMOTE: return "the broker replied with an error";
  case KETEN_ERR_CRYPTO: return "cryptographic check failed";
  case KETEN_ERR_EVIDENCE: return "the broker's evidence does not hold";
  case KETEN_ERR_PARTIAL: return "some sections could not be opened";
  case KETEN_ERR_DISPLACED:
    return "the subscription was taken over by another listener with our key";
  case KETEN_ERR_REMOVED:
    return "the subscription ended: our key left the registry";
  case KETEN_ERR_LOG_INCONSISTENT:
    return "the broker's audit log is not consistent with the head we witnessed";
  case KETEN_ERR_SCHEMA:
    return "the section does not conform to the schema of its kind";
  }
  return "unknown error";
}

const char *keten_role_name(int role) {
  const char *name = roles_name(role);
  return name ? name : "UNKNOWN";
}

int keten_role_from_name(const char *name) {
  return name ? roles_from_name(name) : 0;
}

const char *keten_error_code_name(int code) {
  return envelope_error_name((Keten__ErrorCode)code);
}

/* The version of the build (CMake's project(VERSION), passed by
 * clients/CMakeLists.txt): keten.h's KETEN_VERSION_* must say the same, or
 * the library does not build. */
_Static_assert(KETEN_VERSION_MAJOR == KETEN_BUILD_VERSION_MAJOR &&
                   KETEN_VERSION_MINOR == KETEN_BUILD_VERSION_MINOR &&
                   KETEN_VERSION_PATCH == KETEN_BUILD_VERSION_PATCH,
               "keten.h's KETEN_VERSION_* differ from CMake's PROJECT_VERSION");

const char *keten_version(void) { return KETEN_VERSION; }

int keten_version_number(void) {
  return KETEN_BUILD_VERSION_MAJOR * 10000 + KETEN_BUILD_VERSION_MINOR * 100 +
         KETEN_BUILD_VERSION_PATCH;
}
