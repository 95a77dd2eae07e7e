/* test_examples — examples/consumer.c and examples/producer.c as an
 * integrator builds them (issue 11, item 1): libketen installed into a
 * temporary prefix (cmake --install), the examples copied out of the tree
 * and compiled there with nothing but `cc $(pkg-config --cflags --libs
 * libketen)` (PKG_CONFIG_PATH at the prefix), then run against a real
 * ketend: the producer grants the gemeente consent and puts an IDENTITY
 * section, and the consumer (under valgrind when there is one) prints
 * exactly that section and exits after acking it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "party.h"

#define COA "coa"
#define GEMEENTE "gemeente:0716"
#define V_AMIRA "1234567890"
#define IDENTITY                                                               \
  "{\"given_name\":\"Amira\",\"family_name\":\"Haddad\","                      \
  "\"birth_date\":\"1994-03-12\",\"nationality\":\"SYR\"}"

static char s_cmd[8192];

static void s_write(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_true(fputs(text, f) >= 0);
  assert_int_equal(fclose(f), 0);
}

/* The whole file (free()), or NULL. */
static char *s_read(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f)
    return NULL;
  char *buf = calloc(1, 65536);
  assert_non_null(buf);
  size_t n = fread(buf, 1, 65535, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

/* Runs cmd with sh; its output into DIR/name.log. Returns the exit
 * status (or -1), printing the log when it is not 0. */
static int s_sh(const char *dir, const char *name, const char *cmd) {
  char log[512];
  snprintf(log, sizeof log, "%s/%s.log", dir, name);
  snprintf(s_cmd, sizeof s_cmd, "( %s ) >'%s' 2>&1", cmd, log);
  int st = system(s_cmd);
  int rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  if (rc != 0) {
    char *out = s_read(log);
    fprintf(stderr, "%s: exit %d\n%s\n--- %s\n", name, rc, cmd,
            out ? out : "(no log)");
    free(out);
  }
  return rc;
}

static int s_setup(void **state) {
  harness_t *h = harness_new(0);
  if (!h || harness_start(h) != 0)
    return -1;
  *state = h;
  return 0;
}

static int s_teardown(void **state) {
  harness_t *h = *state;
  party_cleanup();
  harness_destroy(&h);
  return 0;
}

static void test_examples_out_of_tree(void **state) {
  harness_t *h = *state;
  char prefix[400], src[400], path[512], chain[400];
  snprintf(prefix, sizeof prefix, "%s/prefix", h->dir);
  snprintf(src, sizeof src, "%s/examples", h->dir);
  /* 1. install libketen (and the rest of the build) into a prefix */
  snprintf(s_cmd, sizeof s_cmd, "'%s' --install '%s' --prefix '%s'",
           KETEN_CMAKE_COMMAND, KETEN_BINARY_DIR, prefix);
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "%s", s_cmd);
  assert_int_equal(s_sh(h->dir, "install", cmd), 0);
  /* 2. the examples, copied out of the source tree, compiled with only
   * what pkg-config says about the installed libketen */
  snprintf(cmd, sizeof cmd,
           "mkdir -p '%s' && cp '%s/examples/consumer.c' "
           "'%s/examples/producer.c' '%s/examples/common.h' '%s/'",
           src, KETEN_SOURCE_DIR, KETEN_SOURCE_DIR, KETEN_SOURCE_DIR, src);
  assert_int_equal(s_sh(h->dir, "copy", cmd), 0);
  snprintf(cmd, sizeof cmd,
           "pc=$(find '%s' -name libketen.pc) && test -n \"$pc\" && "
           "export PKG_CONFIG_PATH=$(dirname \"$pc\") && "
           "cd '%s' && for p in consumer producer; do "
           "'%s' -std=c11 -Wall -Wextra -Werror " KETEN_EXAMPLE_CFLAGS
           " $(pkg-config --cflags libketen) "
           "-o $p $p.c $(pkg-config --libs libketen) "
           "-Wl,-rpath,$(pkg-config --variable=libdir libketen) || exit 1; done"
           " && pkg-config --cflags libketen | grep -q -- '-I%s' "
           " && ldd ./consumer | grep 'libketen.so.4 => %s/'",
           prefix, src, KETEN_C_COMPILER, prefix, prefix);
  assert_int_equal(s_sh(h->dir, "compile", cmd), 0);

  /* 3. key files as a partner has them */
  char coa_key[400], gem_key[400], broker_pub[400], root_pub[400];
  snprintf(coa_key, sizeof coa_key, "%s/coa.key", h->dir);
  snprintf(gem_key, sizeof gem_key, "%s/gemeente.key", h->dir);
  snprintf(broker_pub, sizeof broker_pub, "%s/broker-copy.pub", h->dir);
  snprintf(root_pub, sizeof root_pub, "%s/root-copy.pub", h->dir);
  snprintf(chain, sizeof chain, "%s/chain.key", h->dir);
  assert_int_equal(keten_keys_save(&harness_partner(h, COA)->keys, coa_key,
                                   NULL, 1), KETEN_OK);
  assert_int_equal(keten_keys_save(&harness_partner(h, GEMEENTE)->keys,
                                   gem_key, NULL, 1), KETEN_OK);
  assert_int_equal(keten_keys_save(&h->broker, NULL, broker_pub, 1), KETEN_OK);
  assert_int_equal(keten_root_key_save(&h->root, NULL, root_pub, 1), KETEN_OK);
  uint8_t ck[KETEN_CHAIN_KEY_BYTES], subject[KETEN_SUBJECT_BYTES];
  assert_int_equal(keten_chain_key_generate(ck), KETEN_OK);
  assert_int_equal(keten_chain_key_save(ck, chain, 1), KETEN_OK);
  assert_int_equal(keten_subject_id(ck, V_AMIRA, subject), KETEN_OK);
  char subject_hex[65];
  party_hex(subject, 32, subject_hex);
  snprintf(path, sizeof path, "%s/identity.json", h->dir);
  s_write(path, IDENTITY);

  /* 4. the consumer waits for one section (under valgrind if there is
   * one: libketen as an integrator's program uses it) */
  char out[512], err[512];
  snprintf(out, sizeof out, "%s/consumer.out", h->dir);
  snprintf(err, sizeof err, "%s/consumer.err", h->dir);
  int valgrind = KETEN_VALGRIND[0] && access(KETEN_VALGRIND, X_OK) == 0;
  snprintf(cmd, sizeof cmd,
           "exec %s%s '%s/consumer' --endpoint '%s' --keys '%s' "
           "--broker-key '%s' --root-key '%s' --count 1 --wait-ms 40000 "
           ">'%s' 2>'%s'",
           valgrind ? KETEN_VALGRIND : "",
           valgrind ? " -q --error-exitcode=99 --leak-check=full "
                      "--errors-for-leak-kinds=definite,indirect"
                    : "",
           src, h->endpoint, gem_key, broker_pub, root_pub, out, err);
  pid_t consumer = fork();
  assert_true(consumer >= 0);
  if (consumer == 0) {
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
  }
  /* 5. the producer: consent for the gemeente, one IDENTITY */
  snprintf(cmd, sizeof cmd,
           "'%s/producer' --endpoint '%s' --keys '%s' --broker-key '%s' "
           "--root-key '%s' --chain-key '%s' --v-nummer %s --kind IDENTITY "
           "--file '%s' --to %s --purpose INBURGERING --evidence form-17",
           src, h->endpoint, coa_key, broker_pub, root_pub, chain, V_AMIRA,
           path, GEMEENTE);
  int prc = s_sh(h->dir, "producer", cmd);
  if (prc != 0)
    kill(consumer, SIGTERM);
  assert_int_equal(prc, 0);
  snprintf(path, sizeof path, "%s/producer.log", h->dir);
  char *said = s_read(path);
  assert_non_null(said);
  assert_string_equal(said, "put IDENTITY version 1 queued for 1 recipient(s)\n");
  free(said);
  /* a section that does not conform is refused before anything is sent */
  snprintf(path, sizeof path, "%s/bad.json", h->dir);
  s_write(path, "{\"given_name\":\"Amira\"}");
  snprintf(cmd, sizeof cmd,
           "'%s/producer' --endpoint '%s' --keys '%s' --broker-key '%s' "
           "--root-key '%s' --chain-key '%s' --v-nummer %s --kind IDENTITY "
           "--file '%s' --to %s --purpose INBURGERING",
           src, h->endpoint, coa_key, broker_pub, root_pub, chain, V_AMIRA,
           path, GEMEENTE);
  assert_int_equal(s_sh(h->dir, "producer-bad", cmd), 1);

  /* 6. the consumer printed the producer's section and exited 0 */
  int st = 0;
  pid_t got = 0;
  for (int i = 0; i < 600 && (got = waitpid(consumer, &st, WNOHANG)) == 0; i++)
    party_sleep_ms(100);
  if (got == 0) {
    kill(consumer, SIGKILL);
    waitpid(consumer, &st, 0);
    fail_msg("the consumer did not finish within 60 s");
  }
  char *printed = s_read(out), *errors = s_read(err);
  assert_non_null(printed);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    fail_msg("consumer: status %d\nstdout: %s\nstderr: %s", st, printed,
             errors ? errors : "");
  char want[1024];
  snprintf(want, sizeof want, "section IDENTITY by coa version 1 of %s\n%s\n",
           subject_hex, IDENTITY);
  assert_string_equal(printed, want);
  assert_non_null(errors);
  assert_non_null(strstr(errors, "state: connected"));
  free(printed);
  free(errors);
  /* acked: a second run of the consumer gets nothing within 2 s */
  snprintf(cmd, sizeof cmd,
           "'%s/consumer' --endpoint '%s' --keys '%s' --broker-key '%s' "
           "--root-key '%s' --count 1 --wait-ms 2000",
           src, h->endpoint, gem_key, broker_pub, root_pub);
  assert_int_equal(s_sh(h->dir, "consumer-again", cmd), 1);
  if (!valgrind)
    fprintf(stderr, "(no valgrind at %s: the consumer ran without it)\n",
            KETEN_VALGRIND);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_examples_out_of_tree, s_setup,
                                      s_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
