/* broker — ketend's event loop: the CURVE ROUTER socket, the ZAP handler,
 * and the dispatch of each request to its handler. */
#ifndef KETEND_BROKER_H
#define KETEND_BROKER_H

#include <signal.h>
#include <stddef.h>

#include "config.h"

typedef struct broker broker_t;

/* Loads the key file, opens the store, loads the registry, binds the ZAP
 * handler and then the endpoints. Fails closed: any missing key, empty
 * registry or bind failure returns NULL with the reason in err. */
broker_t *broker_new(const config_t *cfg, char *err, size_t errlen);

/* Serves until *stop becomes non-zero. When *reload is non-zero the
 * registry is re-read from the store and *reload reset. Returns 0 on a
 * clean stop, -1 on a fatal error (logged). */
int broker_run(broker_t *b, volatile sig_atomic_t *stop,
               volatile sig_atomic_t *reload);

/* Re-reads the registry from the store. Returns 0 or -1 (logged; the old
 * registry stays in force). */
int broker_reload_registry(broker_t *b);

/* Reads the settings anew for SIGHUP (the config file, then the command
 * line's overrides): fills *out and returns 0, or -1 with a reason in err. */
typedef int (*broker_config_fn)(config_t *out, char *err, size_t errlen,
                                void *arg);

/* On SIGHUP, after the registry, the broker calls fn and applies the
 * settings that can change without a restart (config_diff), logging which
 * changed and which would need a restart. */
void broker_on_reload(broker_t *b, broker_config_fn fn, void *arg);

/* Applies new_cfg's reloadable settings now and logs the changes.
 * Returns the number of settings changed. */
int broker_apply_settings(broker_t *b, const config_t *new_cfg);

/* Closes sockets and store, wipes keys, frees b and sets *b to NULL. */
void broker_destroy(broker_t **b);

#endif
