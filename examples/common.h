/* common.h — what both examples do before they talk to the broker: read
 * "--name value" arguments and load the key files into a client
 * configuration. Uses only the installed API (<keten.h>). */
#ifndef KETEN_EXAMPLE_COMMON_H
#define KETEN_EXAMPLE_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <keten.h>

/* The value of "--name value" in argv, or fallback. */
static const char *arg(int argc, char **argv, const char *name,
                       const char *fallback) {
  for (int i = 1; i + 1 < argc; i++)
    if (strcmp(argv[i], name) == 0)
      return argv[i + 1];
  return fallback;
}

/* The keys a client needs, loaded from their files:
 *  - our own secret key file (keten keygen): all three key pairs;
 *  - broker.pub, the broker's public key file: keten_keys_load() reads it
 *    like any public key file; its transport key is the CURVE server key
 *    (broker_key) and its signing key checks the broker's delete notices
 *    and signed tree heads (broker_signing_key);
 *  - root.pub, the chain root's public key (keten_root_key_load). */
typedef struct {
  keten_keys_t self, broker;
  keten_root_key_t root;
} example_keys_t;

/* Loads the three files and fills cfg; 0, or 1 with a message. */
static int example_config(const char *endpoint, const char *keys,
                          const char *broker_pub, const char *root_pub,
                          example_keys_t *k, keten_client_config_t *cfg) {
  keten_err_t rc;
  const char *failed = keys;
  if ((rc = keten_keys_load(keys, &k->self)) == KETEN_OK &&
      (failed = broker_pub, rc = keten_keys_load(broker_pub, &k->broker)) ==
          KETEN_OK)
    failed = root_pub, rc = keten_root_key_load(root_pub, &k->root);
  if (rc != KETEN_OK) {
    fprintf(stderr, "%s: %s\n", failed, keten_strerror(rc));
    return 1;
  }
  memset(cfg, 0, sizeof *cfg);
  cfg->endpoint = endpoint;
  cfg->keys = &k->self;                      /* copied by keten_client_new */
  cfg->broker_key = k->broker.transport_pk;  /* copied */
  cfg->broker_signing_key = k->broker.signing_pk;
  cfg->root_key = k->root.public_key;
  return 0;
}

#endif
