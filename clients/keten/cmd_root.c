/* keten root keygen|entry|sign|show, keten fingerprint — the chain root.
 *
 * The ketensamenwerking's beheerder holds the chain root key on an offline
 * machine. A partner's registry entry is written (`entry`, from its public
 * key file), checked by a person and signed there (`sign`); the operator
 * installs only signed entries (`keten admin participant add`). Every
 * broker and client pins the root's public key. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "canon.h"
#include "cli.h"
#include "entry.h"
#include "entry_file.h"
#include "roles.h"

#define DAY_MS INT64_C(86400000)

static void s_usage(FILE *out) {
  fprintf(out,
          "usage: keten root keygen --out DIR [--force]\n"
          "       keten root entry --id ID --role ROLE --name NAME --keys FILE.pub\n"
          "                        [--from YYYY-MM-DD | --from-ms MS] [--days N] --out FILE\n"
          "       keten root sign --root-key root.key [--out FILE] ENTRY\n"
          "       keten root show [--root-key root.pub] ENTRY\n"
          "\n"
          "keygen makes the chain root key pair: DIR/root.key (secret, 0600; keep it\n"
          "offline) and DIR/root.pub (give it to every broker and partner).\n"
          "entry writes an unsigned registry entry for a participant's public keys,\n"
          "valid from now (or --from) for N days (default 730).\n"
          "sign shows the entry, signs it with the root key and writes the signed\n"
          "entry (default: ENTRY with .signed for .entry). show prints an entry and,\n"
          "with --root-key, exits 0 only when its signature verifies.\n"
          "\n"
          "  -o, --out PATH          directory (keygen) or file to write\n"
          "  -i, --id ID             participant id, e.g. gemeente:0716\n"
          "  -r, --role ROLE         GEMEENTE, COA, VOLUNTEER, CARE, TVS or OPERATOR\n"
          "  -n, --name NAME         display name\n"
          "  -k, --keys FILE         the participant's public key file (keten keygen)\n"
          "  -f, --from DATE         start of validity, YYYY-MM-DD (UTC midnight)\n"
          "  -F, --from-ms MS        start of validity, ms since the epoch\n"
          "  -d, --days N            validity in days (default 730)\n"
          "  -K, --root-key FILE     the root key file (secret to sign, public to check)\n"
          "      --force             overwrite existing files\n"
          "  -h, --help              print this help\n");
}

static int64_t s_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "YYYY-MM-DD" as ms since the epoch at 00:00 UTC, or -1. */
static int64_t s_date_ms(const char *date) {
  int y, m, d;
  char tail;
  static const int days_in[12] = {31, 29, 31, 30, 31, 30,
                                  31, 31, 30, 31, 30, 31};
  if (sscanf(date, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || y < 1970 ||
      m < 1 || m > 12 || d < 1 || d > days_in[m - 1] ||
      (m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))))
    return -1;
  /* days from civil (Howard Hinnant's algorithm), no timegm needed */
  y -= m <= 2;
  int64_t era = y / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return (era * 146097 + doe - 719468) * DAY_MS;
}

static int s_keygen(const char *dir, int force) {
  char secret[1024], public[1024], fp[CANON_FINGERPRINT_CHARS];
  snprintf(secret, sizeof secret, "%s/root.key", dir);
  snprintf(public, sizeof public, "%s/root.pub", dir);
  if (cli_refuse_symlink("keten root keygen", secret) != 0 ||
      cli_refuse_symlink("keten root keygen", public) != 0)
    return CLI_EXIT_LOCAL;
  keten_root_key_t root;
  keten_err_t rc = keten_root_key_generate(&root);
  if (rc == KETEN_OK)
    rc = keten_root_key_save(&root, secret, public, force);
  const uint8_t *keys[1] = {root.public_key};
  canon_fingerprint(keys, 1, fp);
  keten_root_key_wipe(&root);
  if (rc != KETEN_OK) {
    fprintf(stderr, "keten root keygen: cannot write %s / %s: %s%s\n", secret,
            public, keten_strerror(rc), force ? "" : " (use --force)");
    return cli_exit_for(rc);
  }
  printf("wrote %s (secret, 0600: keep it offline) and %s (public)\n"
         "root fingerprint %s\n",
         secret, public, fp);
  return CLI_EXIT_OK;
}

static int s_entry(const char *id, const char *role, const char *name,
                   const char *keys_path, int64_t from, long days,
                   const char *out, int force) {
  participant_t p;
  memset(&p, 0, sizeof p);
  if (!participant_valid_id(id) || !(p.role = roles_from_name(role)) ||
      !participant_valid_name(name) || days < 1) {
    fprintf(stderr, "keten root entry: invalid --id, --role, --name or "
                    "--days\n");
    return CLI_EXIT_USAGE;
  }
  keten_keys_t keys;
  keten_err_t rc = keten_keys_load(keys_path, &keys);
  if (rc != KETEN_OK) {
    fprintf(stderr, "keten root entry: %s: %s\n", keys_path,
            keten_strerror(rc));
    return cli_exit_for(rc);
  }
  snprintf(p.id, sizeof p.id, "%s", id);
  snprintf(p.display_name, sizeof p.display_name, "%s", name);
  memcpy(p.transport_pk, keys.transport_pk, 32);
  memcpy(p.signing_pk, keys.signing_pk, 32);
  memcpy(p.sealing_pk, keys.sealing_pk, 32);
  keten_keys_wipe(&keys);
  p.valid_from_ms = from >= 0 ? from : s_now_ms();
  p.valid_until_ms = p.valid_from_ms + (int64_t)days * DAY_MS;
  char why[300];
  if (entry_file_write(out, &p, force, why, sizeof why) != 0) {
    fprintf(stderr, "keten root entry: %s\n", why);
    return CLI_EXIT_LOCAL;
  }
  printf("wrote the unsigned entry %s:\n", out);
  entry_file_print(&p, stdout);
  return CLI_EXIT_OK;
}

static int s_sign(const char *root_path, const char *in, const char *out,
                  int force) {
  keten_root_key_t root;
  keten_err_t krc = keten_root_key_load(root_path, &root);
  if (krc != KETEN_OK || !root.has_secret) {
    fprintf(stderr, "keten root sign: %s: %s\n", root_path,
            krc != KETEN_OK ? keten_strerror(krc) : "holds no secret key");
    keten_root_key_wipe(&root);
    return krc != KETEN_OK ? cli_exit_for(krc) : CLI_EXIT_LOCAL;
  }
  participant_t p;
  char why[300], path[1024];
  int rc = CLI_EXIT_OK;
  if (entry_file_read(in, &p, why, sizeof why) != 0) {
    fprintf(stderr, "keten root sign: %s\n", why);
    rc = CLI_EXIT_LOCAL;
  } else {
    if (!out) {
      size_t n = strlen(in);
      if (n > 6 && strcmp(in + n - 6, ".entry") == 0)
        snprintf(path, sizeof path, "%.*s.signed", (int)(n - 6), in);
      else
        snprintf(path, sizeof path, "%s.signed", in);
      out = path;
    }
    p.issued_at_ms = s_now_ms();
    if (participant_sign(&p, root.secret_key) != 0) {
      fprintf(stderr, "keten root sign: out of memory\n");
      rc = CLI_EXIT_LOCAL;
    } else {
      if (entry_file_write(out, &p, force, why, sizeof why) != 0) {
        fprintf(stderr, "keten root sign: %s\n", why);
        rc = CLI_EXIT_LOCAL;
      } else {
        char fp[CANON_FINGERPRINT_CHARS];
        const uint8_t *keys[1] = {root.public_key};
        canon_fingerprint(keys, 1, fp);
        printf("signed with the root key %s:\n", fp);
        entry_file_print(&p, stdout);
        printf("wrote %s\n", out);
      }
    }
  }
  keten_root_key_wipe(&root);
  return rc;
}

static int s_show(const char *root_path, const char *in) {
  participant_t p;
  char why[300];
  if (entry_file_read(in, &p, why, sizeof why) != 0) {
    fprintf(stderr, "keten root show: %s\n", why);
    return CLI_EXIT_LOCAL;
  }
  printf("%s:\n", in);
  entry_file_print(&p, stdout);
  if (!root_path)
    return CLI_EXIT_OK;
  keten_root_key_t root;
  keten_err_t krc = keten_root_key_load(root_path, &root);
  keten_root_key_wipe(&root);
  if (krc != KETEN_OK) {
    fprintf(stderr, "keten root show: %s: %s\n", root_path,
            keten_strerror(krc));
    return cli_exit_for(krc);
  }
  if (participant_verify(&p, root.public_key, why, sizeof why) != 0) {
    printf("  verified     NO: %s\n", why);
    return CLI_EXIT_REFUSED;
  }
  printf("  verified     yes, with the root key %s\n", root_path);
  return CLI_EXIT_OK;
}

int cmd_root(int argc, char **argv) {
  static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
                                       {"id", required_argument, NULL, 'i'},
                                       {"role", required_argument, NULL, 'r'},
                                       {"name", required_argument, NULL, 'n'},
                                       {"keys", required_argument, NULL, 'k'},
                                       {"from", required_argument, NULL, 'f'},
                                       {"from-ms", required_argument, NULL, 'F'},
                                       {"days", required_argument, NULL, 'd'},
                                       {"root-key", required_argument, NULL, 'K'},
                                       {"force", no_argument, NULL, 'x'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    s_usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
  }
  const char *verb = argv[1];
  const char *out = NULL, *id = NULL, *role = NULL, *name = NULL,
             *keys = NULL, *root = NULL;
  int64_t from = -1;
  long days = 730;
  int force = 0, c;
  optind = 1;
  while ((c = getopt_long(argc - 1, argv + 1, "o:i:r:n:k:f:F:d:K:h", opts,
                          NULL)) != -1) {
    switch (c) {
    case 'o': out = optarg; break;
    case 'i': id = optarg; break;
    case 'r': role = optarg; break;
    case 'n': name = optarg; break;
    case 'k': keys = optarg; break;
    case 'f':
      if ((from = s_date_ms(optarg)) < 0) {
        fprintf(stderr, "keten root: --from wants YYYY-MM-DD\n");
        return CLI_EXIT_USAGE;
      }
      break;
    case 'F':
      if ((from = cli_number(optarg, 4102444800000L)) < 0) {
        fprintf(stderr, "keten root: --from-ms wants ms since the epoch\n");
        return CLI_EXIT_USAGE;
      }
      break;
    case 'd': days = cli_number(optarg, 36500); break;
    case 'K': root = optarg; break;
    case 'x': force = 1; break;
    case 'h': s_usage(stdout); return CLI_EXIT_OK;
    default: s_usage(stderr); return CLI_EXIT_USAGE;
    }
  }
  char **rest = argv + 1 + optind;
  int n_rest = argc - 1 - optind;
  if (!strcmp(verb, "keygen") && out && n_rest == 0)
    return s_keygen(out, force);
  if (!strcmp(verb, "entry") && id && role && name && keys && out &&
      n_rest == 0)
    return s_entry(id, role, name, keys, from, days, out, force);
  if (!strcmp(verb, "sign") && root && n_rest == 1)
    return s_sign(root, rest[0], out, force);
  if (!strcmp(verb, "show") && n_rest == 1)
    return s_show(root, rest[0]);
  s_usage(stderr);
  return CLI_EXIT_USAGE;
}

/* keten fingerprint FILE... */
int cmd_fingerprint(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    fprintf(argc < 2 ? stderr : stdout,
            "usage: keten fingerprint FILE...\n"
            "\n"
            "Prints the fingerprint of each key file (.key or .pub: the three\n"
            "public keys), root key file or registry entry file, to be read to\n"
            "each other on the phone: an entry and the key file it was made from\n"
            "have the same fingerprint.\n");
    return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
  }
  int rc = CLI_EXIT_OK;
  for (int i = 1; i < argc; i++) {
    char fp[CANON_FINGERPRINT_CHARS], why[300];
    keten_keys_t keys;
    keten_root_key_t root;
    participant_t p;
    if (keten_keys_load(argv[i], &keys) == KETEN_OK) {
      const uint8_t *k[3] = {keys.transport_pk, keys.signing_pk,
                             keys.sealing_pk};
      canon_fingerprint(k, 3, fp);
      printf("%s  %s (keys of %s)\n", fp, argv[i], keys.id[0] ? keys.id : "-");
      keten_keys_wipe(&keys);
    } else if (keten_root_key_load(argv[i], &root) == KETEN_OK) {
      const uint8_t *k[1] = {root.public_key};
      canon_fingerprint(k, 1, fp);
      printf("%s  %s (chain root)\n", fp, argv[i]);
      keten_root_key_wipe(&root);
    } else if (entry_file_read(argv[i], &p, why, sizeof why) == 0) {
      const uint8_t *k[3] = {p.transport_pk, p.signing_pk, p.sealing_pk};
      canon_fingerprint(k, 3, fp);
      printf("%s  %s (registry entry of %s)\n", fp, argv[i], p.id);
    } else {
      fprintf(stderr, "keten fingerprint: %s: not a key, root key or entry "
                      "file\n", argv[i]);
      rc = CLI_EXIT_LOCAL;
    }
  }
  return rc;
}
