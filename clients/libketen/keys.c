/* keys — a participant's three key pairs, and their files.
 *
 * File format (text, one "name value" pair a line, values in lower-case hex):
 *
 *   keten-keys 1
 *   id coa
 *   transport-public <64 hex>
 *   signing-public <64 hex>
 *   sealing-public <64 hex>
 *   transport-secret <64 hex>      (secret file only)
 *   signing-secret <128 hex>       (secret file only)
 *   sealing-secret <64 hex>        (secret file only)
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keten.h"
#include "keyfile.h"

#define KEYFILE_MAGIC "keten-keys 1"
#define KEYFILE_MAX 4096

keten_err_t keten_keys_generate(keten_keys_t *keys, const char *id) {
  if (!keys || (id && strlen(id) > KETEN_ID_MAX))
    return KETEN_ERR_INVALID;
  if (sodium_init() < 0)
    return KETEN_ERR_INVALID;
  memset(keys, 0, sizeof *keys);
  if (id)
    snprintf(keys->id, sizeof keys->id, "%s", id);
  crypto_box_keypair(keys->transport_pk, keys->transport_sk);
  crypto_sign_keypair(keys->signing_pk, keys->signing_sk);
  crypto_box_keypair(keys->sealing_pk, keys->sealing_sk);
  keys->has_secret = 1;
  return KETEN_OK;
}

void keten_keys_wipe(keten_keys_t *keys) {
  if (!keys)
    return;
  sodium_memzero(keys->transport_sk, sizeof keys->transport_sk);
  sodium_memzero(keys->signing_sk, sizeof keys->signing_sk);
  sodium_memzero(keys->sealing_sk, sizeof keys->sealing_sk);
  keys->has_secret = 0;
}

/* Appends "name hex\n" to buf at *off. */
static void s_put_hex(char *buf, size_t cap, size_t *off, const char *name,
                      const uint8_t *bin, size_t len) {
  char hex[2 * KETEN_SIGN_SECRET_BYTES + 1];
  sodium_bin2hex(hex, sizeof hex, bin, len);
  int n = snprintf(buf + *off, cap - *off, "%s %s\n", name, hex);
  if (n > 0)
    *off += (size_t)n;
  sodium_memzero(hex, sizeof hex);
}

keten_err_t keten_keys_save(const keten_keys_t *keys, const char *secret_path,
                            const char *public_path, int overwrite) {
  if (!keys || (secret_path && !keys->has_secret))
    return KETEN_ERR_INVALID;
  char buf[KEYFILE_MAX];
  size_t off = 0;
  off += (size_t)snprintf(buf, sizeof buf, KEYFILE_MAGIC "\nid %s\n",
                          keys->id[0] ? keys->id : "-");
  s_put_hex(buf, sizeof buf, &off, "transport-public", keys->transport_pk,
            KETEN_KEY_BYTES);
  s_put_hex(buf, sizeof buf, &off, "signing-public", keys->signing_pk,
            KETEN_KEY_BYTES);
  s_put_hex(buf, sizeof buf, &off, "sealing-public", keys->sealing_pk,
            KETEN_KEY_BYTES);
  keten_err_t rc = KETEN_OK;
  /* Without overwrite, refuse before writing anything, so that a failure
   * never leaves a new public file beside an old secret one. */
  if (!overwrite && ((secret_path && access(secret_path, F_OK) == 0) ||
                     (public_path && access(public_path, F_OK) == 0)))
    rc = KETEN_ERR_IO;
  size_t public_len = off;
  if (rc == KETEN_OK && secret_path) {
    s_put_hex(buf, sizeof buf, &off, "transport-secret", keys->transport_sk,
              KETEN_KEY_BYTES);
    s_put_hex(buf, sizeof buf, &off, "signing-secret", keys->signing_sk,
              KETEN_SIGN_SECRET_BYTES);
    s_put_hex(buf, sizeof buf, &off, "sealing-secret", keys->sealing_sk,
              KETEN_KEY_BYTES);
    rc = keyfile_write(secret_path, buf, 0600, overwrite);
  }
  if (rc == KETEN_OK && public_path) {
    buf[public_len] = '\0';
    rc = keyfile_write(public_path, buf, 0644, overwrite);
  }
  sodium_memzero(buf, sizeof buf);
  return rc;
}

enum { F_TPK = 1, F_SPK = 2, F_EPK = 4, F_TSK = 8, F_SSK = 16, F_ESK = 32 };

static keten_err_t s_parse(char *text, keten_keys_t *keys) {
  char *save = NULL;
  char *line = strtok_r(text, "\n", &save);
  if (!line || strcmp(line, KEYFILE_MAGIC) != 0)
    return KETEN_ERR_FORMAT;
  unsigned seen = 0;
  while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
    if (line[0] == '#' || line[0] == '\0')
      continue;
    char *sp = strchr(line, ' ');
    if (!sp)
      return KETEN_ERR_FORMAT;
    *sp = '\0';
    const char *name = line, *value = sp + 1;
    struct {
      const char *name;
      uint8_t *dst;
      size_t len;
      unsigned flag;
    } fields[] = {
        {"transport-public", keys->transport_pk, KETEN_KEY_BYTES, F_TPK},
        {"signing-public", keys->signing_pk, KETEN_KEY_BYTES, F_SPK},
        {"sealing-public", keys->sealing_pk, KETEN_KEY_BYTES, F_EPK},
        {"transport-secret", keys->transport_sk, KETEN_KEY_BYTES, F_TSK},
        {"signing-secret", keys->signing_sk, KETEN_SIGN_SECRET_BYTES, F_SSK},
        {"sealing-secret", keys->sealing_sk, KETEN_KEY_BYTES, F_ESK},
    };
    if (strcmp(name, "id") == 0) {
      if (strlen(value) > KETEN_ID_MAX)
        return KETEN_ERR_FORMAT;
      snprintf(keys->id, sizeof keys->id, "%s",
               strcmp(value, "-") == 0 ? "" : value);
      continue;
    }
    size_t i;
    for (i = 0; i < sizeof fields / sizeof fields[0]; i++)
      if (strcmp(name, fields[i].name) == 0)
        break;
    if (i == sizeof fields / sizeof fields[0] || (seen & fields[i].flag) ||
        keyfile_hex(value, fields[i].dst, fields[i].len) != 0)
      return KETEN_ERR_FORMAT;
    seen |= fields[i].flag;
  }
  unsigned pub = F_TPK | F_SPK | F_EPK, sec = F_TSK | F_SSK | F_ESK;
  if ((seen & pub) != pub)
    return KETEN_ERR_FORMAT;
  if ((seen & sec) == 0) {
    keys->has_secret = 0;
    return KETEN_OK;
  }
  if ((seen & sec) != sec)
    return KETEN_ERR_FORMAT;
  /* The secrets must belong to the publics written beside them. */
  uint8_t derived[crypto_sign_PUBLICKEYBYTES];
  crypto_scalarmult_base(derived, keys->transport_sk);
  if (sodium_memcmp(derived, keys->transport_pk, KETEN_KEY_BYTES) != 0)
    return KETEN_ERR_FORMAT;
  crypto_scalarmult_base(derived, keys->sealing_sk);
  if (sodium_memcmp(derived, keys->sealing_pk, KETEN_KEY_BYTES) != 0)
    return KETEN_ERR_FORMAT;
  crypto_sign_ed25519_sk_to_pk(derived, keys->signing_sk);
  if (sodium_memcmp(derived, keys->signing_pk, KETEN_KEY_BYTES) != 0)
    return KETEN_ERR_FORMAT;
  keys->has_secret = 1;
  return KETEN_OK;
}

keten_err_t keten_keys_load(const char *path, keten_keys_t *keys) {
  if (!path || !keys)
    return KETEN_ERR_INVALID;
  if (sodium_init() < 0)
    return KETEN_ERR_INVALID;
  memset(keys, 0, sizeof *keys);
  char buf[KEYFILE_MAX + 1];
  size_t len = 0;
  mode_t mode = 0;
  keten_err_t rc = keyfile_read(path, buf, sizeof buf, &len, &mode, 0);
  if (rc != KETEN_OK)
    return rc;
  rc = s_parse(buf, keys);
  if (rc == KETEN_OK && keys->has_secret && (mode & 077)) {
    rc = KETEN_ERR_PERMISSIONS; /* a secret key file others can read is not secret */
  }
  if (rc != KETEN_OK)
    keten_keys_wipe(keys);
  sodium_memzero(buf, sizeof buf);
  return rc;
}
