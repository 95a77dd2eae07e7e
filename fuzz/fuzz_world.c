/* fuzz_world — deterministic keys and the store of the fuzz targets. */
#define _XOPEN_SOURCE 700
#include "fuzz_world.h"

#include <fcntl.h>
#include <ftw.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "participant.h"
#include "store.h"

const struct fuzz_participant fuzz_participants[FUZZ_N_PARTICIPANTS] = {
    {"coa", "COA"},
    {"gemeente:0716", "GEMEENTE"},
    {"gemeente:0678", "GEMEENTE"},
    {"vwn:zeeland", "VOLUNTEER"},
    {"ggz:zeeland", "CARE"},
    {"tvs:coa", "TVS"},
    {"fg:keten", "OPERATOR"},
};

static void s_seed(const char *what, const char *label, uint8_t seed[32]) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, NULL, 0, 32);
  static const char tag[] = "keten-fuzz/v1/";
  crypto_generichash_update(&st, (const uint8_t *)tag, sizeof tag - 1);
  crypto_generichash_update(&st, (const uint8_t *)what, strlen(what));
  crypto_generichash_update(&st, (const uint8_t *)"/", 1);
  crypto_generichash_update(&st, (const uint8_t *)label, strlen(label));
  crypto_generichash_final(&st, seed, 32);
}

void fuzz_keys(const char *label, keten_keys_t *k) {
  uint8_t seed[32];
  if (sodium_init() < 0)
    abort();
  memset(k, 0, sizeof *k);
  snprintf(k->id, sizeof k->id, "%s", label);
  s_seed("transport", label, seed);
  crypto_box_seed_keypair(k->transport_pk, k->transport_sk, seed);
  s_seed("signing", label, seed);
  crypto_sign_seed_keypair(k->signing_pk, k->signing_sk, seed);
  s_seed("sealing", label, seed);
  crypto_box_seed_keypair(k->sealing_pk, k->sealing_sk, seed);
  k->has_secret = 1;
}

void fuzz_root(keten_root_key_t *root) {
  uint8_t seed[32];
  if (sodium_init() < 0)
    abort();
  memset(root, 0, sizeof *root);
  s_seed("root", "chain", seed);
  crypto_sign_seed_keypair(root->public_key, root->secret_key, seed);
  root->has_secret = 1;
}

int fuzz_world_create(const char *dir, char *err, size_t errlen) {
  char key[600], pub[600], root_pub[600], db[600];
  snprintf(key, sizeof key, "%s/broker.key", dir);
  snprintf(pub, sizeof pub, "%s/broker.pub", dir);
  snprintf(root_pub, sizeof root_pub, "%s/root.pub", dir);
  snprintf(db, sizeof db, "%s/keten.db", dir);
  keten_keys_t broker;
  keten_root_key_t root;
  fuzz_keys("broker", &broker);
  fuzz_root(&root);
  if (keten_keys_save(&broker, key, pub, 1) != KETEN_OK ||
      keten_root_key_save(&root, NULL, root_pub, 1) != KETEN_OK) {
    snprintf(err, errlen, "cannot write the key files in %s", dir);
    return -1;
  }
  store_t *store = store_open(db, err, errlen);
  if (!store)
    return -1;
  int rc = 0;
  for (size_t i = 0; i < FUZZ_N_PARTICIPANTS && rc == 0; i++) {
    keten_keys_t k;
    fuzz_keys(fuzz_participants[i].id, &k);
    participant_t rec;
    memset(&rec, 0, sizeof rec);
    snprintf(rec.id, sizeof rec.id, "%s", fuzz_participants[i].id);
    snprintf(rec.display_name, sizeof rec.display_name, "Fuzz %s",
             fuzz_participants[i].id);
    rec.role = keten_role_from_name(fuzz_participants[i].role);
    memcpy(rec.transport_pk, k.transport_pk, 32);
    memcpy(rec.signing_pk, k.signing_pk, 32);
    memcpy(rec.sealing_pk, k.sealing_pk, 32);
    rec.valid_from_ms = FUZZ_VALID_FROM_MS;
    rec.valid_until_ms = FUZZ_VALID_UNTIL_MS;
    rec.issued_at_ms = FUZZ_ISSUED_AT_MS;
    if (participant_sign(&rec, root.secret_key) != 0 ||
        store_entry_add(store, &rec, err, errlen) != 0)
      rc = -1;
  }
  store_close(&store);
  return rc;
}

static int s_rm(const char *path, const struct stat *st, int flag,
                struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

void fuzz_rmtree(const char *dir) {
  if (dir && dir[0] && strstr(dir, "keten-fuzz-"))
    nftw(dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
}

int fuzz_tempdir(char *dir, size_t cap) {
  const char *base = getenv("TMPDIR");
  struct stat st;
  if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
      access("/dev/shm", W_OK) == 0)
    base = "/dev/shm"; /* tmpfs: fsync costs nothing, the disk is spared */
  if (!base || !base[0])
    base = "/tmp";
  if ((size_t)snprintf(dir, cap, "%s/keten-fuzz-XXXXXX", base) >= cap)
    return -1;
  return mkdtemp(dir) ? 0 : -1;
}

int fuzz_copy_file(const char *from, const char *to) {
  int in = open(from, O_RDONLY);
  if (in < 0)
    return -1;
  unlink(to);
  int out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (out < 0) {
    close(in);
    return -1;
  }
  char buf[65536];
  ssize_t n;
  int rc = 0;
  while ((n = read(in, buf, sizeof buf)) > 0)
    if (write(out, buf, (size_t)n) != n) {
      rc = -1;
      break;
    }
  if (n < 0)
    rc = -1;
  close(in);
  if (close(out) != 0)
    rc = -1;
  return rc;
}
