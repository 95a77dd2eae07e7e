/* witness — the partner's side of the audit log's signed tree heads
 * (docs/protocol.md 10.6): the head file format, signature checks, the
 * witness file and its consistency checks, and inclusion proofs. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "canon.h"
#include "client_int.h"
#include "merkle.h"

_Static_assert(KETEN_PROOF_MAX == MERKLE_MAX_PROOF, "proof bounds agree");
_Static_assert(KETEN_HASH_BYTES == MERKLE_HASH_BYTES, "hash sizes agree");

/* ---- the head as text -------------------------------------------------- */

keten_err_t keten_tree_head_format(const keten_tree_head_t *h, char *out,
                                   size_t cap) {
  if (!h || !out)
    return KETEN_ERR_INVALID;
  char root[65], key[65], sig[129];
  sodium_bin2hex(root, sizeof root, h->root, 32);
  sodium_bin2hex(key, sizeof key, h->broker_key, 32);
  sodium_bin2hex(sig, sizeof sig, h->signature, 64);
  int n = snprintf(out, cap,
                   "{\"size\":%llu,\"root\":\"%s\",\"timestamp_ms\":%llu,"
                   "\"broker_key\":\"%s\",\"signature\":\"%s\"}",
                   (unsigned long long)h->size, root,
                   (unsigned long long)h->timestamp_ms, key, sig);
  return n < 0 || (size_t)n >= cap ? KETEN_ERR_INVALID : KETEN_OK;
}

static const char *s_ws(const char *p) {
  while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
    p++;
  return p;
}

/* An unsigned decimal without sign or leading zeros into *v. */
static const char *s_u64(const char *p, uint64_t *v) {
  if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9'))
    return NULL;
  uint64_t x = 0;
  for (; *p >= '0' && *p <= '9'; p++) {
    unsigned d = (unsigned)(*p - '0');
    if (x > (UINT64_MAX - d) / 10)
      return NULL;
    x = x * 10 + d;
  }
  *v = x;
  return p;
}

/* A quoted string of exactly 2 * len hex digits into out. */
static const char *s_hex(const char *p, uint8_t *out, size_t len) {
  if (*p++ != '"')
    return NULL;
  const char *end = strchr(p, '"');
  size_t bin = 0;
  if (!end || (size_t)(end - p) != 2 * len ||
      sodium_hex2bin(out, len, p, (size_t)(end - p), NULL, &bin, NULL) != 0 ||
      bin != len)
    return NULL;
  return end + 1;
}

keten_err_t keten_tree_head_parse(const char *line, keten_tree_head_t *h) {
  if (!line || !h)
    return KETEN_ERR_INVALID;
  static const char *const keys[] = {"size", "root", "timestamp_ms",
                                     "broker_key", "signature"};
  keten_tree_head_t out;
  memset(&out, 0, sizeof out);
  unsigned seen = 0;
  const char *p = s_ws(line);
  if (*p++ != '{')
    return KETEN_ERR_FORMAT;
  for (int i = 0; i < 5; i++) {
    p = s_ws(p);
    if (*p++ != '"')
      return KETEN_ERR_FORMAT;
    int k = -1;
    for (int j = 0; j < 5; j++) {
      size_t n = strlen(keys[j]);
      if (strncmp(p, keys[j], n) == 0 && p[n] == '"') {
        k = j;
        p += n + 1;
        break;
      }
    }
    if (k < 0 || (seen & (1u << k)))
      return KETEN_ERR_FORMAT;
    seen |= 1u << k;
    p = s_ws(p);
    if (*p++ != ':')
      return KETEN_ERR_FORMAT;
    p = s_ws(p);
    switch (k) {
    case 0: p = s_u64(p, &out.size); break;
    case 1: p = s_hex(p, out.root, 32); break;
    case 2: p = s_u64(p, &out.timestamp_ms); break;
    case 3: p = s_hex(p, out.broker_key, 32); break;
    default: p = s_hex(p, out.signature, 64); break;
    }
    if (!p)
      return KETEN_ERR_FORMAT;
    p = s_ws(p);
    if (*p != (i < 4 ? ',' : '}'))
      return KETEN_ERR_FORMAT;
    p++;
  }
  if (*s_ws(p) != '\0' || out.size > MERKLE_MAX_SIZE)
    return KETEN_ERR_FORMAT;
  *h = out;
  return KETEN_OK;
}

keten_err_t keten_tree_head_load(const char *path, keten_tree_head_t *h) {
  if (!path || !h)
    return KETEN_ERR_INVALID;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return KETEN_ERR_IO; /* errno says why (ENOENT: no head yet) */
  char buf[2 * KETEN_TREE_HEAD_LINE_MAX];
  size_t len = 0;
  ssize_t r;
  while (len < sizeof buf - 1 &&
         (r = read(fd, buf + len, sizeof buf - 1 - len)) != 0) {
    if (r < 0) {
      if (errno == EINTR)
        continue;
      int e = errno;
      close(fd);
      errno = e;
      return KETEN_ERR_IO;
    }
    len += (size_t)r;
  }
  close(fd);
  buf[len] = '\0';
  if (len == sizeof buf - 1 || strlen(buf) != len)
    return KETEN_ERR_FORMAT; /* too long, or a NUL inside */
  /* One line: a newline only at the very end. */
  char *nl = strchr(buf, '\n');
  if (nl && nl[1] != '\0')
    return KETEN_ERR_FORMAT;
  return keten_tree_head_parse(buf, h);
}

keten_err_t keten_tree_head_save(const char *path, const keten_tree_head_t *h) {
  char line[KETEN_TREE_HEAD_LINE_MAX + 1];
  if (!path || !h || keten_tree_head_format(h, line, sizeof line - 1) != KETEN_OK)
    return KETEN_ERR_INVALID;
  strcat(line, "\n");
  size_t plen = strlen(path);
  char *tmp = malloc(plen + 16);
  char *dircopy = strdup(path);
  if (!tmp || !dircopy) {
    free(tmp);
    free(dircopy);
    return KETEN_ERR_NOMEM;
  }
  snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
  int fd = mkstemp(tmp);
  keten_err_t rc = KETEN_ERR_IO;
  if (fd >= 0) {
    size_t len = strlen(line), off = 0;
    int ok = fchmod(fd, 0600) == 0;
    while (ok && off < len) {
      ssize_t w = write(fd, line + off, len - off);
      if (w < 0 && errno == EINTR)
        continue;
      ok = w > 0;
      off += ok ? (size_t)w : 0;
    }
    ok = ok && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (ok && rename(tmp, path) == 0) {
      int dfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dfd >= 0) {
        if (fsync(dfd) == 0)
          rc = KETEN_OK;
        close(dfd);
      }
    } else {
      int e = errno;
      unlink(tmp);
      errno = e;
    }
  }
  free(tmp);
  free(dircopy);
  return rc;
}

/* ---- signatures ---------------------------------------------------------- */

/* h as the wire message (pointing into h). */
static void s_wire(const keten_tree_head_t *h, Keten__TreeHead *w) {
  keten__tree_head__init(w);
  w->size = h->size;
  w->root.data = (uint8_t *)h->root;
  w->root.len = 32;
  w->timestamp_ms = h->timestamp_ms;
  w->broker_key.data = (uint8_t *)h->broker_key;
  w->broker_key.len = 32;
  w->signature.data = (uint8_t *)h->signature;
  w->signature.len = 64;
}

keten_err_t keten_tree_head_verify(const keten_tree_head_t *h,
                                   const uint8_t *keys, size_t n_keys) {
  if (!h || !keys || !n_keys)
    return KETEN_ERR_INVALID;
  Keten__TreeHead w;
  s_wire(h, &w);
  for (size_t i = 0; i < n_keys; i++)
    if (canon_verify_tree_head(&w, keys + 32 * i) == 0)
      return KETEN_OK;
  return KETEN_ERR_CRYPTO;
}

/* The wire head in into out, if its fields have their sizes. */
static int s_from_wire(const Keten__TreeHead *in, keten_tree_head_t *out) {
  if (!in || in->root.len != 32 || in->broker_key.len != 32 ||
      in->signature.len != 64 || in->size > MERKLE_MAX_SIZE)
    return -1;
  memset(out, 0, sizeof *out);
  out->size = in->size;
  memcpy(out->root, in->root.data, 32);
  out->timestamp_ms = in->timestamp_ms;
  memcpy(out->broker_key, in->broker_key.data, 32);
  memcpy(out->signature, in->signature.data, 64);
  return 0;
}

/* ---- witnessing ---------------------------------------------------------- */

static keten_err_t s_inconsistent(keten_client_t *c, const char *what) {
  client_error(c, "the broker's audit log: %s", what);
  return KETEN_ERR_LOG_INCONSISTENT;
}

/* Checks a head the broker sent: its form and its signature by a known
 * broker key. */
static keten_err_t s_check(keten_client_t *c, const Keten__TreeHead *in,
                           keten_tree_head_t *out) {
  if (s_from_wire(in, out) != 0)
    return s_inconsistent(c, "the signed tree head is malformed");
  if (keten_tree_head_verify(out, c->broker_keys[0], c->n_broker_keys) !=
      KETEN_OK)
    return s_inconsistent(c, "the tree head is not signed by a broker "
                             "signing key we know");
  return KETEN_OK;
}

/* The witness file's head: 1 (into s), 0 if there is none yet, or an
 * error code (negated) for a file we cannot read. */
static int s_stored(keten_client_t *c, keten_tree_head_t *s, keten_err_t *rc) {
  errno = 0;
  *rc = keten_tree_head_load(c->witness_file, s);
  if (*rc == KETEN_OK)
    return 1;
  if (*rc == KETEN_ERR_IO && errno == ENOENT) {
    *rc = KETEN_OK;
    return 0;
  }
  client_error(c, "cannot read the witness file %s: %s", c->witness_file,
               *rc == KETEN_ERR_IO ? strerror(errno) : keten_strerror(*rc));
  return -1;
}

/* Accepts n (checked) after the stored head s (has_s) given the
 * consistency proof from s->size to n->size; saves n when it is newer. */
static keten_err_t s_accept(keten_client_t *c, const keten_tree_head_t *s,
                            int has_s, const keten_tree_head_t *n,
                            const uint8_t *proof, size_t n_proof) {
  char why[200];
  if (has_s) {
    if (n->size < s->size) {
      snprintf(why, sizeof why,
               "it shows %llu entries, fewer than the %llu of the head we "
               "witnessed: truncated or rolled back",
               (unsigned long long)n->size, (unsigned long long)s->size);
      return s_inconsistent(c, why);
    }
    if (merkle_verify_consistency(s->size, n->size, s->root, n->root, proof,
                                  n_proof) != 0) {
      snprintf(why, sizeof why,
               "the head of %llu entries is not an extension of the head "
               "of %llu entries we witnessed: rewritten",
               (unsigned long long)n->size, (unsigned long long)s->size);
      return s_inconsistent(c, why);
    }
  }
  if (c->witness_file[0] &&
      (!has_s || n->size > s->size || n->timestamp_ms > s->timestamp_ms)) {
    keten_err_t rc = keten_tree_head_save(c->witness_file, n);
    if (rc != KETEN_OK) {
      client_error(c, "cannot write the witness file %s: %s", c->witness_file,
                   strerror(errno));
      return rc;
    }
  }
  if (!c->has_head || n->size >= c->head.size) {
    c->head = *n;
    c->has_head = 1;
  }
  return KETEN_OK;
}

/* AUDIT_PROOF with req; the reply in *reply (checked head into *head). */
static keten_err_t s_ask(keten_client_t *c, Keten__AuditProofRequest *req,
                         Keten__Envelope **reply, keten_tree_head_t *head) {
  keten_err_t rc =
      client_call_body(c, KETEN__ENVELOPE__BODY_AUDIT_PROOF, req,
                       KETEN__ENVELOPE__BODY_AUDIT_PROVED, reply);
  if (rc != KETEN_OK)
    return rc;
  const Keten__AuditProofReply *a = (*reply)->audit_proved;
  if (a->n_consistency > MERKLE_MAX_PROOF || a->n_inclusion > MERKLE_MAX_PROOF)
    rc = s_inconsistent(c, "a proof longer than 64 hashes");
  for (size_t i = 0; rc == KETEN_OK && i < a->n_consistency; i++)
    if (a->consistency[i].len != 32)
      rc = s_inconsistent(c, "a proof hash that is not 32 bytes");
  for (size_t i = 0; rc == KETEN_OK && i < a->n_inclusion; i++)
    if (a->inclusion[i].len != 32)
      rc = s_inconsistent(c, "a proof hash that is not 32 bytes");
  if (rc == KETEN_OK)
    rc = s_check(c, a->head, head);
  if (rc == KETEN_OK && req->old_size > head->size)
    rc = s_inconsistent(c, "the proof's head is older than the one asked");
  if (rc != KETEN_OK) {
    envelope_free(*reply);
    *reply = NULL;
  }
  return rc;
}

static void s_hashes(ProtobufCBinaryData *in, size_t n, uint8_t *out) {
  for (size_t i = 0; i < n; i++)
    memcpy(out + 32 * i, in[i].data, 32);
}

/* A broker that answers "old_size beyond the log" to the size we
 * witnessed shows a shorter log than it signed before. */
static keten_err_t s_shorter(keten_client_t *c, keten_err_t rc, int has_s,
                             const keten_tree_head_t *s) {
  if (rc == KETEN_ERR_REMOTE && has_s && s->size > 0 &&
      c->remote_code == KETEN__ERROR_CODE__ERROR_INVALID_FIELD) {
    char why[160];
    snprintf(why, sizeof why,
             "it refuses a proof from the %llu entries we witnessed: its log "
             "is shorter (truncated or rolled back)",
             (unsigned long long)s->size);
    return s_inconsistent(c, why);
  }
  return rc;
}

keten_err_t client_witness_welcome(keten_client_t *c,
                                   const Keten__TreeHead *in) {
  keten_tree_head_t n, s;
  if (!in) {
    if (!c->witness_file[0])
      return KETEN_OK; /* an older broker; nothing to witness */
    return s_inconsistent(c, "the WELCOME carries no signed tree head");
  }
  keten_err_t rc = s_check(c, in, &n);
  if (rc != KETEN_OK && !c->witness_file[0]) {
    /* Not witnessing: a head we cannot verify is not remembered, and
     * the WELCOME stands (keten_client_witness() reports it). */
    c->error[0] = '\0';
    return KETEN_OK;
  }
  if (rc != KETEN_OK)
    return rc;
  if (!c->witness_file[0])
    return s_accept(c, NULL, 0, &n, NULL, 0);
  int has_s = s_stored(c, &s, &rc);
  if (has_s < 0)
    return rc;
  if (!has_s || n.size <= s.size) /* nothing to prove, or refused */
    return s_accept(c, &s, has_s, &n, NULL, 0);
  Keten__AuditProofRequest req = KETEN__AUDIT_PROOF_REQUEST__INIT;
  req.old_size = s.size;
  req.at_size = n.size;
  Keten__Envelope *reply = NULL;
  keten_tree_head_t r;
  rc = s_ask(c, &req, &reply, &r);
  if (rc != KETEN_OK)
    return s_shorter(c, rc, has_s, &s);
  /* The proof must be against the very head the broker showed (n.size,
   * at_size): a proof against another head would leave n unchecked, and
   * an honest broker answers at_size with that head or NOT_FOUND. */
  const Keten__AuditProofReply *a = reply->audit_proved;
  uint8_t proof[MERKLE_PROOF_BYTES];
  s_hashes(a->consistency, a->n_consistency, proof);
  if (r.size != n.size)
    rc = s_inconsistent(c, "the proof is against another head than the one "
                           "the broker showed");
  else if (sodium_memcmp(r.root, n.root, 32) != 0)
    rc = s_inconsistent(c, "two signed heads of one size with different "
                           "roots");
  else
    rc = s_accept(c, &s, has_s, &r, proof, a->n_consistency);
  envelope_free(reply);
  return rc;
}

keten_err_t keten_client_witness(keten_client_t *c) {
  if (!c)
    return KETEN_ERR_INVALID;
  if (!c->n_broker_keys) {
    client_error(c, "no broker signing key to check tree heads with");
    return KETEN_ERR_INVALID;
  }
  keten_tree_head_t s, r;
  keten_err_t rc = KETEN_OK;
  int has_s = c->witness_file[0] ? s_stored(c, &s, &rc) : 0;
  if (has_s < 0)
    return rc;
  Keten__AuditProofRequest req = KETEN__AUDIT_PROOF_REQUEST__INIT;
  req.old_size = has_s ? s.size : 0;
  Keten__Envelope *reply = NULL;
  rc = s_ask(c, &req, &reply, &r);
  if (rc != KETEN_OK)
    return client_witnessed(c, s_shorter(c, rc, has_s, &s));
  const Keten__AuditProofReply *a = reply->audit_proved;
  uint8_t proof[MERKLE_PROOF_BYTES];
  s_hashes(a->consistency, a->n_consistency, proof);
  rc = s_accept(c, &s, has_s, &r, proof, a->n_consistency);
  envelope_free(reply);
  return client_witnessed(c, rc);
}

keten_err_t keten_client_tree_head(const keten_client_t *c,
                                   keten_tree_head_t *head) {
  if (!c || !head || !c->has_head)
    return KETEN_ERR_INVALID;
  *head = c->head;
  return KETEN_OK;
}

/* ---- inclusion proofs ------------------------------------------------------ */

/* 1 if entry is the canonical string of an audit entry with this seq:
 * str "keten/audit/v1", then u64 seq (canon.h: 4-byte lengths). */
static int s_entry_seq(const uint8_t *entry, size_t len, uint64_t seq) {
  static const uint8_t tag[] = "\0\0\0\x0eketen/audit/v1\0\0\0\x08";
  if (len < sizeof tag - 1 + 8 || memcmp(entry, tag, sizeof tag - 1) != 0)
    return 0;
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | entry[sizeof tag - 1 + (size_t)i];
  return v == seq;
}

keten_err_t keten_audit_proof_verify(const keten_audit_proof_t *p,
                                     const uint8_t *keys, size_t n_keys) {
  if (!p || !keys || !n_keys || (!p->entry && p->entry_len))
    return KETEN_ERR_INVALID;
  keten_err_t rc = keten_tree_head_verify(&p->head, keys, n_keys);
  if (rc != KETEN_OK)
    return rc;
  if (p->seq == 0 || p->seq > p->head.size || !p->entry ||
      p->entry_len > KETEN_AUDIT_ENTRY_MAX || p->n_inclusion > KETEN_PROOF_MAX ||
      !s_entry_seq(p->entry, p->entry_len, p->seq))
    return KETEN_ERR_LOG_INCONSISTENT;
  uint8_t leaf[32];
  merkle_leaf_hash(p->entry, p->entry_len, leaf);
  if (merkle_verify_inclusion(p->seq - 1, p->head.size, leaf,
                              p->inclusion[0], p->n_inclusion,
                              p->head.root) != 0)
    return KETEN_ERR_LOG_INCONSISTENT;
  return KETEN_OK;
}

void keten_audit_proof_free(keten_audit_proof_t *p) {
  if (!p)
    return;
  free(p->entry);
  memset(p, 0, sizeof *p);
}

keten_err_t keten_client_audit_proof(keten_client_t *c, uint64_t seq,
                                     keten_audit_proof_t *out) {
  if (!c || !out || seq == 0)
    return KETEN_ERR_INVALID;
  memset(out, 0, sizeof *out);
  if (!c->n_broker_keys) {
    client_error(c, "no broker signing key to check the proof with");
    return KETEN_ERR_INVALID;
  }
  keten_tree_head_t s, r;
  keten_err_t rc = KETEN_OK;
  int has_s = c->witness_file[0] ? s_stored(c, &s, &rc) : 0;
  if (has_s < 0)
    return rc;
  Keten__AuditProofRequest req = KETEN__AUDIT_PROOF_REQUEST__INIT;
  req.old_size = has_s ? s.size : 0;
  req.want_inclusion = 1;
  req.seq = seq;
  Keten__Envelope *reply = NULL;
  rc = s_ask(c, &req, &reply, &r);
  if (rc != KETEN_OK)
    return rc; /* ERROR_INVALID_FIELD: seq (or a shorter log: witness says) */
  const Keten__AuditProofReply *a = reply->audit_proved;
  uint8_t proof[MERKLE_PROOF_BYTES];
  s_hashes(a->consistency, a->n_consistency, proof);
  rc = s_accept(c, &s, has_s, &r, proof, a->n_consistency);
  if (rc == KETEN_OK && (a->entry.len == 0 || a->entry.len > KETEN_AUDIT_ENTRY_MAX))
    rc = s_inconsistent(c, "the proved entry is missing or too long");
  if (rc == KETEN_OK) {
    out->head = r;
    out->seq = seq;
    out->entry = malloc(a->entry.len);
    if (!out->entry) {
      rc = KETEN_ERR_NOMEM;
    } else {
      memcpy(out->entry, a->entry.data, a->entry.len);
      out->entry_len = a->entry.len;
      s_hashes(a->inclusion, a->n_inclusion, out->inclusion[0]);
      out->n_inclusion = a->n_inclusion;
      if (keten_audit_proof_verify(out, c->broker_keys[0], c->n_broker_keys) !=
          KETEN_OK)
        rc = s_inconsistent(c, "the inclusion proof of the entry does not "
                               "verify against the signed head");
    }
  }
  envelope_free(reply);
  if (rc != KETEN_OK)
    keten_audit_proof_free(out);
  return rc;
}
