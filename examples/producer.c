/* producer — a minimal keten producer on libketen: grants a recipient
 * consent for one section kind of a subject, then puts one section of
 * that kind from a file.
 *
 *   producer --endpoint tcp://broker:7600 --keys me.key \
 *            --broker-key broker.pub --root-key root.pub \
 *            --chain-key chain.key --v-nummer 1234567890 \
 *            --kind IDENTITY --file identity.json \
 *            --to gemeente:0716 --purpose INBURGERING \
 *            [--evidence REF] [--valid-days N]
 *
 * Prints "put KIND version V queued for N recipient(s)". Exit 0, or 1
 * with the library's reason. Only the installed API: <keten.h>. */
#include <time.h>

#include "common.h"

/* The whole file into a malloc'd buffer (*len bytes, NUL-terminated). */
static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  for (size_t got; buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
    n += got;
    if (n + 1 == cap) {
      char *grown = realloc(buf, cap *= 2);
      if (!grown) {
        free(buf);
        buf = NULL;
      }
      buf = grown;
    }
  }
  fclose(f);
  if (buf) {
    buf[n] = '\0';
    *len = n;
  }
  return buf;
}

int main(int argc, char **argv) {
  const char *endpoint = arg(argc, argv, "--endpoint", NULL);
  const char *keys = arg(argc, argv, "--keys", NULL);
  const char *broker = arg(argc, argv, "--broker-key", NULL);
  const char *root = arg(argc, argv, "--root-key", NULL);
  const char *chain = arg(argc, argv, "--chain-key", NULL);
  const char *v_nummer = arg(argc, argv, "--v-nummer", NULL);
  const char *kind_name = arg(argc, argv, "--kind", NULL);
  const char *file = arg(argc, argv, "--file", NULL);
  const char *to = arg(argc, argv, "--to", NULL);
  const char *purpose_name = arg(argc, argv, "--purpose", NULL);
  const char *evidence = arg(argc, argv, "--evidence", "example producer");
  long valid_days = atol(arg(argc, argv, "--valid-days", "365"));
  if (!endpoint || !keys || !broker || !root || !chain || !v_nummer ||
      !kind_name || !file || !to || !purpose_name) {
    fprintf(stderr, "usage: %s --endpoint EP --keys KEY --broker-key "
                    "broker.pub --root-key root.pub --chain-key FILE "
                    "--v-nummer N --kind KIND --file JSON --to RECIPIENT "
                    "--purpose PURPOSE [--evidence REF] [--valid-days N]\n", argv[0]);
    return 2;
  }
  int kind = keten_section_kind_from_name(kind_name);
  int purpose = keten_purpose_from_name(purpose_name);
  if (!kind || !purpose || valid_days < 1) {
    fprintf(stderr, "unknown %s\n", !kind ? "kind" : !purpose ? "purpose"
                                                   : "--valid-days");
    return 2;
  }
  /* The subject pseudonym: the V-nummer never leaves this process. */
  uint8_t chain_key[KETEN_CHAIN_KEY_BYTES], subject[KETEN_SUBJECT_BYTES];
  keten_err_t rc = keten_chain_key_load(chain, chain_key);
  if (rc == KETEN_OK)
    rc = keten_subject_id(chain_key, v_nummer, subject);
  if (rc != KETEN_OK) {
    fprintf(stderr, "subject: %s\n", keten_strerror(rc));
    return 1;
  }
  size_t len = 0;
  char *json = slurp(file, &len);
  if (!json) {
    perror(file);
    return 1;
  }
  /* Checked before anything is sent (keten_client_put does it too). */
  char why[256];
  if (keten_section_validate(kind, json, len, why, sizeof why) != KETEN_OK) {
    fprintf(stderr, "%s: %s\n", file, why);
    free(json);
    return 1;
  }
  example_keys_t k;
  keten_client_config_t cfg;
  if (example_config(endpoint, keys, broker, root, &k, &cfg) != 0) {
    free(json);
    return 1;
  }
  char err[256];
  keten_client_t *c = keten_client_new(&cfg, err, sizeof err);
  keten_keys_wipe(&k.self);
  if (!c) {
    fprintf(stderr, "keten_client_new: %s\n", err);
    free(json);
    return 1;
  }
  /* The consent: signed by us, it is what lets the put seal to `to`. */
  keten_consent_t consent;
  memset(&consent, 0, sizeof consent);
  memcpy(consent.subject, subject, sizeof subject);
  snprintf(consent.recipient, sizeof consent.recipient, "%s", to);
  consent.sections = UINT64_C(1) << kind;
  consent.purpose = purpose;
  consent.basis = keten_basis_from_name("CONSENT");
  snprintf(consent.evidence_ref, sizeof consent.evidence_ref, "%s", evidence);
  uint64_t now_ms = (uint64_t)time(NULL) * 1000;
  consent.valid_from_ms = now_ms - 60000; /* a minute ago: clocks differ */
  consent.valid_until_ms = now_ms + (uint64_t)valid_days * 86400000;
  keten_put_result_t res;
  rc = keten_client_consent_grant(c, &consent);
  if (rc == KETEN_OK)
    rc = keten_client_put(c, subject, kind, json, len, &res);
  free(json);
  int code = 0;
  if (rc != KETEN_OK) {
    fprintf(stderr, "%s: %s\n", keten_strerror(rc), keten_client_error(c));
    code = 1;
  } else {
    printf("put %s version %llu queued for %zu recipient(s)\n",
           keten_section_kind_name(kind), (unsigned long long)res.version,
           res.n_queued);
  }
  keten_client_destroy(&c);
  return code;
}
