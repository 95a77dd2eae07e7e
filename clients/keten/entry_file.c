/* entry_file — registry entry files (JSON). */
#include "entry_file.h"

#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "canon.h"
#include "roles.h"

#define ENTRY_FILE_MAGIC "keten_registry_entry"
#define ENTRY_FILE_MAX 8192

static void s_hex(char *out, size_t cap, const uint8_t *bin, size_t len) {
  sodium_bin2hex(out, cap, bin, len);
}

int entry_file_write(const char *path, const participant_t *p, int overwrite,
                     char *why, size_t whylen) {
  char t[65], g[65], e[65], sig[129];
  s_hex(t, sizeof t, p->transport_pk, 32);
  s_hex(g, sizeof g, p->signing_pk, 32);
  s_hex(e, sizeof e, p->sealing_pk, 32);
  json_t *o = json_pack(
      "{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I}", ENTRY_FILE_MAGIC, 1,
      "participant_id", p->id, "role", roles_name(p->role), "display_name",
      p->display_name, "transport_key", t, "signing_key", g, "sealing_key", e,
      "valid_from_ms", (json_int_t)p->valid_from_ms, "valid_until_ms",
      (json_int_t)p->valid_until_ms, "issued_at_ms",
      (json_int_t)p->issued_at_ms);
  if (o && p->signed_by_root) {
    s_hex(sig, sizeof sig, p->root_signature, 64);
    json_object_set_new(o, "root_signature", json_string(sig));
  }
  char *text = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
  json_decref(o);
  if (!text) {
    snprintf(why, whylen, "out of memory");
    return -1;
  }
  int flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC |
              (overwrite ? O_TRUNC : O_EXCL);
  int fd = open(path, flags, 0644);
  int rc = -1;
  struct stat st;
  if (fd < 0 && lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
    snprintf(why, whylen,
             "refused: %s is a symbolic link; keten does not write through "
             "one (remove it, or give the real path)",
             path);
  } else if (fd < 0) {
    snprintf(why, whylen, "cannot create %s%s", path,
             overwrite ? "" : " (does it exist already?)");
  } else {
    size_t len = strlen(text);
    if (write(fd, text, len) == (ssize_t)len && write(fd, "\n", 1) == 1 &&
        fsync(fd) == 0)
      rc = 0;
    else
      snprintf(why, whylen, "cannot write %s", path);
    close(fd);
  }
  free(text);
  return rc;
}

static int s_key(json_t *o, const char *name, uint8_t *out, size_t len) {
  const char *hex = json_string_value(json_object_get(o, name));
  size_t got = 0;
  return hex && strlen(hex) == 2 * len &&
                 sodium_hex2bin(out, len, hex, 2 * len, NULL, &got, NULL) ==
                     0 &&
                 got == len
             ? 0
             : -1;
}

static int s_int(json_t *o, const char *name, int64_t *out) {
  json_t *v = json_object_get(o, name);
  if (!json_is_integer(v) || json_integer_value(v) < 0)
    return -1;
  *out = (int64_t)json_integer_value(v);
  return 0;
}

int entry_file_read(const char *path, participant_t *p, char *why,
                    size_t whylen) {
  memset(p, 0, sizeof *p);
  /* An entry is a few hundred bytes: read at most ENTRY_FILE_MAX. */
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(why, whylen, "%s: cannot read it", path);
    return -1;
  }
  char buf[ENTRY_FILE_MAX + 1];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  if (n > ENTRY_FILE_MAX) {
    snprintf(why, whylen, "%s: larger than %d bytes: not an entry file", path,
             ENTRY_FILE_MAX);
    return -1;
  }
  json_error_t jerr;
  json_t *o = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &jerr);
  if (!o) {
    snprintf(why, whylen, "%s: not an entry file: %s (line %d)", path,
             jerr.text, jerr.line);
    return -1;
  }
  const char *id = json_string_value(json_object_get(o, "participant_id"));
  const char *role = json_string_value(json_object_get(o, "role"));
  const char *name = json_string_value(json_object_get(o, "display_name"));
  const char *reason = NULL;
  if (json_integer_value(json_object_get(o, ENTRY_FILE_MAGIC)) != 1)
    reason = "not a version 1 registry entry file";
  else if (!id || !participant_valid_id(id))
    reason = "participant_id is missing or invalid";
  else if (!role || !roles_from_name(role))
    reason = "role is missing or unknown";
  else if (!name || !participant_valid_name(name))
    reason = "display_name is missing or invalid";
  else if (s_key(o, "transport_key", p->transport_pk, 32) ||
           s_key(o, "signing_key", p->signing_pk, 32) ||
           s_key(o, "sealing_key", p->sealing_pk, 32))
    reason = "the keys must be 64 hex digits each";
  else if (s_int(o, "valid_from_ms", &p->valid_from_ms) ||
           s_int(o, "valid_until_ms", &p->valid_until_ms) ||
           s_int(o, "issued_at_ms", &p->issued_at_ms) ||
           p->valid_until_ms <= p->valid_from_ms)
    reason = "the validity window is missing or empty";
  else if (json_object_get(o, "root_signature") &&
           s_key(o, "root_signature", p->root_signature, 64))
    reason = "root_signature must be 128 hex digits";
  if (!reason) {
    snprintf(p->id, sizeof p->id, "%s", id);
    p->role = roles_from_name(role);
    snprintf(p->display_name, sizeof p->display_name, "%s", name);
    p->signed_by_root = json_object_get(o, "root_signature") != NULL;
    Keten__RegistryEntry e;
    participant_to_entry(p, &e);
    if (canon_entry_hash(&e, p->entry_hash) != 0)
      reason = "out of memory";
  }
  json_decref(o);
  if (reason) {
    snprintf(why, whylen, "%s: %s", path, reason);
    return -1;
  }
  return 0;
}

void entry_file_time(int64_t ms, char *buf, size_t cap) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  if (ms >= INT64_C(253402300800000) || !gmtime_r(&t, &tm) ||
      strftime(buf, cap, "%Y-%m-%d %H:%M UTC", &tm) == 0)
    snprintf(buf, cap, "(no end)");
}

void entry_file_print(const participant_t *p, FILE *out) {
  char from[40], until[40], fp[CANON_FINGERPRINT_CHARS];
  const uint8_t *keys[3] = {p->transport_pk, p->signing_pk, p->sealing_pk};
  canon_fingerprint(keys, 3, fp);
  entry_file_time(p->valid_from_ms, from, sizeof from);
  entry_file_time(p->valid_until_ms, until, sizeof until);
  fprintf(out,
          "  participant  %s\n"
          "  role         %s\n"
          "  name         %s\n"
          "  valid        %s .. %s\n"
          "  fingerprint  %s\n"
          "  signed       %s\n",
          p->id, roles_name(p->role), p->display_name, from, until, fp,
          p->signed_by_root ? "yes (by a chain root)" : "no");
}
