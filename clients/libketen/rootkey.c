/* rootkey — the chain root's Ed25519 key pair and its files.
 *
 * File format (text, lower-case hex):
 *
 *   keten-root-key 1
 *   signing-public <64 hex>
 *   signing-secret <128 hex>       (secret file only, mode 0600)
 *
 * The secret file lives on the beheerder's offline machine; broker hosts
 * and partners hold only the public file.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "keten.h"
#include "keyfile.h"

#define ROOTFILE_MAGIC "keten-root-key 1"
#define ROOTFILE_MAX 1024

keten_err_t keten_root_key_generate(keten_root_key_t *root) {
  if (!root || sodium_init() < 0)
    return KETEN_ERR_INVALID;
  memset(root, 0, sizeof *root);
  crypto_sign_keypair(root->public_key, root->secret_key);
  root->has_secret = 1;
  return KETEN_OK;
}

void keten_root_key_wipe(keten_root_key_t *root) {
  if (!root)
    return;
  sodium_memzero(root->secret_key, sizeof root->secret_key);
  root->has_secret = 0;
}

keten_err_t keten_root_key_save(const keten_root_key_t *root,
                                const char *secret_path,
                                const char *public_path, int overwrite) {
  if (!root || (secret_path && !root->has_secret))
    return KETEN_ERR_INVALID;
  char pub[2 * KETEN_KEY_BYTES + 1], sec[2 * KETEN_ROOT_SECRET_BYTES + 1];
  char buf[ROOTFILE_MAX];
  sodium_bin2hex(pub, sizeof pub, root->public_key, KETEN_KEY_BYTES);
  keten_err_t rc = KETEN_OK;
  if (secret_path) {
    sodium_bin2hex(sec, sizeof sec, root->secret_key, KETEN_ROOT_SECRET_BYTES);
    snprintf(buf, sizeof buf, ROOTFILE_MAGIC "\nsigning-public %s\n"
                              "signing-secret %s\n", pub, sec);
    rc = keyfile_write(secret_path, buf, 0600, overwrite);
    sodium_memzero(sec, sizeof sec);
  }
  if (rc == KETEN_OK && public_path) {
    snprintf(buf, sizeof buf, ROOTFILE_MAGIC "\nsigning-public %s\n", pub);
    rc = keyfile_write(public_path, buf, 0644, overwrite);
  }
  sodium_memzero(buf, sizeof buf);
  return rc;
}

keten_err_t keten_root_key_load(const char *path, keten_root_key_t *root) {
  if (!path || !root || sodium_init() < 0)
    return KETEN_ERR_INVALID;
  memset(root, 0, sizeof *root);
  char buf[ROOTFILE_MAX + 1];
  size_t len = 0;
  mode_t mode = 0;
  keten_err_t rc = keyfile_read(path, buf, sizeof buf, &len, &mode, 0);
  if (rc != KETEN_OK)
    return rc;
  char *save = NULL;
  char *line = strtok_r(buf, "\n", &save);
  int have_pub = 0, have_sec = 0;
  rc = line && strcmp(line, ROOTFILE_MAGIC) == 0 ? KETEN_OK : KETEN_ERR_FORMAT;
  while (rc == KETEN_OK && (line = strtok_r(NULL, "\n", &save)) != NULL) {
    if (line[0] == '#' || line[0] == '\0')
      continue;
    char *sp = strchr(line, ' ');
    if (!sp) {
      rc = KETEN_ERR_FORMAT;
      break;
    }
    *sp = '\0';
    if (strcmp(line, "signing-public") == 0 && !have_pub &&
        keyfile_hex(sp + 1, root->public_key, KETEN_KEY_BYTES) == 0)
      have_pub = 1;
    else if (strcmp(line, "signing-secret") == 0 && !have_sec &&
             keyfile_hex(sp + 1, root->secret_key, KETEN_ROOT_SECRET_BYTES) == 0)
      have_sec = 1;
    else
      rc = KETEN_ERR_FORMAT;
  }
  if (rc == KETEN_OK && !have_pub)
    rc = KETEN_ERR_FORMAT;
  if (rc == KETEN_OK && have_sec) {
    uint8_t derived[KETEN_KEY_BYTES];
    crypto_sign_ed25519_sk_to_pk(derived, root->secret_key);
    if (sodium_memcmp(derived, root->public_key, KETEN_KEY_BYTES) != 0)
      rc = KETEN_ERR_FORMAT;
    else if (mode & 077)
      rc = KETEN_ERR_PERMISSIONS;
    root->has_secret = 1;
  }
  if (rc != KETEN_OK)
    keten_root_key_wipe(root);
  sodium_memzero(buf, sizeof buf);
  return rc;
}
