/* consumer — a minimal keten consumer on libketen: subscribes to its
 * mailbox, prints each section it receives and acknowledges it.
 *
 *   consumer --endpoint tcp://broker:7600 --keys me.key \
 *            --broker-key broker.pub --root-key root.pub [--count N]
 *
 * Prints, per section, one line "section KIND by AUTHOR version V of
 * SUBJECT" and the plaintext JSON on the next. With --count N it exits 0
 * after N sections (or 1 after --wait-ms, default 30000, without them);
 * without it runs until killed. Only the installed API: <keten.h>. */
#include "common.h"

typedef struct {
  long seen, want;
} state_t;

/* Called by keten_client_poll() for each delivery. The section and its
 * plaintext live only during the call: copy what you keep. Returning 0
 * says "stored": libketen then acks it (cumulatively) and the broker
 * deletes it from our mailbox; non-zero stops, and it comes again. */
static int on_delivery(const keten_section_t *s, uint64_t seq,
                       keten_err_t status, void *arg) {
  state_t *st = arg;
  if (!s) { /* it could not be opened or verified: acked and skipped */
    fprintf(stderr, "delivery %llu not opened: %s\n", (unsigned long long)seq,
            keten_strerror(status));
    return 0;
  }
  char subject[2 * KETEN_SUBJECT_BYTES + 1];
  for (int i = 0; i < KETEN_SUBJECT_BYTES; i++)
    snprintf(subject + 2 * i, 3, "%02x", s->header.subject[i]);
  printf("section %s by %s version %llu of %s\n%s\n",
         keten_section_kind_name(s->header.kind), s->header.author,
         (unsigned long long)s->header.version, subject, s->json);
  if (fflush(stdout) != 0)
    return 1; /* not stored: do not ack */
  st->seen++;
  return 0;
}

static void on_state(const keten_state_event_t *ev, void *arg) {
  (void)arg;
  static const char *names[] = {"connecting", "connected", "disconnected",
                                "refused", "displaced", "removed",
                                "log inconsistent"};
  fprintf(stderr, "state: %s (%s)\n",
          ev->state >= 0 && ev->state <= 6 ? names[ev->state] : "?",
          ev->detail);
}

int main(int argc, char **argv) {
  const char *endpoint = arg(argc, argv, "--endpoint", NULL);
  const char *keys = arg(argc, argv, "--keys", NULL);
  const char *broker = arg(argc, argv, "--broker-key", NULL);
  const char *root = arg(argc, argv, "--root-key", NULL);
  state_t st = {0, atol(arg(argc, argv, "--count", "0"))};
  long wait_ms = atol(arg(argc, argv, "--wait-ms", "30000"));
  if (!endpoint || !keys || !broker || !root) {
    fprintf(stderr, "usage: %s --endpoint EP --keys KEY --broker-key "
                    "broker.pub --root-key root.pub [--count N] "
                    "[--wait-ms MS]\n", argv[0]);
    return 2;
  }
  example_keys_t k;
  keten_client_config_t cfg;
  if (example_config(endpoint, keys, broker, root, &k, &cfg) != 0)
    return 1;
  char err[256];
  keten_client_t *c = keten_client_new(&cfg, err, sizeof err);
  keten_keys_wipe(&k.self); /* the client has its own copy */
  if (!c) {
    fprintf(stderr, "keten_client_new: %s\n", err);
    return 1;
  }
  keten_client_on_state(c, on_state, NULL);
  /* No HELLO needed first: keten_client_subscribe() learns who we are. */
  keten_err_t rc = keten_client_subscribe(c, 16);
  if (rc != KETEN_OK) {
    fprintf(stderr, "subscribe: %s: %s\n", keten_strerror(rc),
            keten_client_error(c));
    keten_client_destroy(&c);
    return 1;
  }
  int code = 0;
  for (long waited = 0; !st.want || st.seen < st.want; waited += 500) {
    if (st.want && waited >= wait_ms) {
      fprintf(stderr, "only %ld of %ld sections in %ld ms\n", st.seen,
              st.want, wait_ms);
      code = 1;
      break;
    }
    /* While disconnected this waits and returns KETEN_OK: libketen
     * reconnects and subscribes again by itself. */
    rc = keten_client_poll(c, 500, on_delivery, &st, NULL);
    if (rc != KETEN_OK && !keten_client_transient(c, rc)) {
      fprintf(stderr, "poll: %s: %s\n", keten_strerror(rc),
              keten_client_error(c));
      code = 1;
      break;
    }
  }
  keten_client_destroy(&c); /* lingers a moment for the last ack */
  return code;
}
