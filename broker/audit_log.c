/* audit_log — the audit log's Merkle tree over the store and its signed
 * tree heads (see audit_log.h). */
#include "audit_log.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canon.h"
#include "keten.pb-c.h"

/* merkle_get_fn over audit_node: a node the core asks for is complete, so
 * one that is not stored means the table does not match the log. */
static int s_get(void *arg, unsigned level, uint64_t index,
                 uint8_t out[MERKLE_HASH_BYTES]) {
  return store_audit_node_get(arg, level, index, out) == 1 ? 0 : -1;
}

static int s_put(void *arg, unsigned level, uint64_t index,
                 const uint8_t hash[MERKLE_HASH_BYTES]) {
  return store_audit_node_put(arg, level, index, hash);
}

int audit_log_append(store_t *s, merkle_frontier_t *f,
                     const audit_entry_t *e) {
  if (e->seq != f->size + 1)
    return -1;
  uint8_t leaf[MERKLE_HASH_BYTES];
  audit_leaf_hash(e, leaf);
  return merkle_frontier_append(f, leaf, s_put, s);
}

int audit_log_frontier_load(store_t *s, uint64_t size, merkle_frontier_t *f) {
  return merkle_frontier_load(f, size, s_get, s);
}

typedef struct {
  store_t *s;
  merkle_frontier_t f;
  int failed;
} s_rebuild_t;

static int s_rebuild_one(const audit_entry_t *e, void *arg) {
  s_rebuild_t *r = arg;
  if (audit_log_append(r->s, &r->f, e) != 0) {
    r->failed = 1; /* a gap in seq, or the store failed */
    return 1;
  }
  return 0;
}

int audit_log_rebuild(store_t *s) {
  s_rebuild_t r = {.s = s};
  merkle_frontier_init(&r.f);
  if (store_audit_nodes_clear(s) != 0 ||
      store_audit_each(s, s_rebuild_one, &r) != 0 || r.failed)
    return -1;
  return 0;
}

int audit_log_root(store_t *s, uint64_t size, uint8_t out[32]) {
  return merkle_root_from_nodes(size, s_get, s, out);
}

int audit_log_inclusion(store_t *s, uint64_t seq, uint64_t size,
                        uint8_t proof[MERKLE_PROOF_BYTES], size_t *n) {
  if (seq == 0 || seq > size)
    return -1;
  return merkle_inclusion_proof(seq - 1, size, s_get, s, proof, n);
}

int audit_log_consistency(store_t *s, uint64_t old_size, uint64_t new_size,
                          uint8_t proof[MERKLE_PROOF_BYTES], size_t *n) {
  return merkle_consistency_proof(old_size, new_size, s_get, s, proof, n);
}

void audit_log_head_to_keten(const store_tree_head_t *in,
                             keten_tree_head_t *out) {
  memset(out, 0, sizeof *out);
  out->size = in->size;
  memcpy(out->root, in->root, 32);
  out->timestamp_ms = (uint64_t)in->timestamp_ms;
  memcpy(out->broker_key, in->broker_key, 32);
  memcpy(out->signature, in->signature, 64);
}

void audit_log_head_from_keten(const keten_tree_head_t *in,
                               store_tree_head_t *out) {
  memset(out, 0, sizeof *out);
  out->size = in->size;
  memcpy(out->root, in->root, 32);
  out->timestamp_ms = (int64_t)in->timestamp_ms;
  memcpy(out->broker_key, in->broker_key, 32);
  memcpy(out->signature, in->signature, 64);
}

/* h as the wire message (pointing into h). */
static void s_wire(const store_tree_head_t *h, Keten__TreeHead *w) {
  keten__tree_head__init(w);
  w->size = h->size;
  w->root.data = (uint8_t *)h->root;
  w->root.len = 32;
  w->timestamp_ms = (uint64_t)h->timestamp_ms;
  w->broker_key.data = (uint8_t *)h->broker_key;
  w->broker_key.len = 32;
  w->signature.data = (uint8_t *)h->signature;
  w->signature.len = 64;
}

int audit_log_sign_head(store_t *s, const uint8_t sk[64], const uint8_t pk[32],
                        int64_t now_ms, store_tree_head_t *out) {
  uint8_t chain_head[AUDIT_HASH_BYTES];
  store_tree_head_t h;
  memset(&h, 0, sizeof h);
  if (store_audit_head(s, &h.size, chain_head) != 0 ||
      audit_log_root(s, h.size, h.root) != 0)
    return -1;
  h.timestamp_ms = now_ms;
  memcpy(h.broker_key, pk, 32);
  Keten__TreeHead w;
  s_wire(&h, &w);
  if (canon_sign_tree_head(&w, sk, h.signature) != 0 ||
      store_tree_head_put(s, &h) != 0)
    return -1;
  *out = h;
  return 0;
}

typedef struct {
  merkle_frontier_t f;
  uint64_t size;
  int failed;
} s_recompute_t;

static int s_recompute_one(const audit_entry_t *e, void *arg) {
  s_recompute_t *r = arg;
  if (r->f.size >= r->size)
    return 1;
  uint8_t leaf[32];
  audit_leaf_hash(e, leaf);
  if (e->seq != r->f.size + 1 ||
      merkle_frontier_append(&r->f, leaf, NULL, NULL) != 0) {
    r->failed = 1;
    return 1;
  }
  return 0;
}

/* The root of the first size entries, recomputed from the entries
 * themselves (not from audit_node). */
static int s_entries_root(store_t *s, uint64_t size, uint8_t root[32]) {
  s_recompute_t *r = calloc(1, sizeof *r);
  if (!r)
    return -1;
  merkle_frontier_init(&r->f);
  r->size = size;
  int rc = store_audit_each(s, s_recompute_one, r);
  if (rc == 0 && (r->failed || r->f.size != size))
    memset(root, 0, 32); /* a gap or a short log never matches a head */
  else if (rc == 0)
    merkle_frontier_root(&r->f, root);
  free(r);
  return rc;
}

int audit_log_check_head(store_t *s, const store_tree_head_t *h,
                         const uint8_t *keys, size_t n_keys, char *err,
                         size_t errlen) {
  Keten__TreeHead w;
  s_wire(h, &w);
  int signed_ok = 0;
  for (size_t i = 0; i < n_keys && !signed_ok; i++)
    signed_ok = canon_verify_tree_head(&w, keys + 32 * i) == 0;
  if (!signed_ok) {
    snprintf(err, errlen,
             "the tree head of size %llu is not signed by the broker's "
             "signing key",
             (unsigned long long)h->size);
    return -1;
  }
  uint64_t size;
  uint8_t chain_head[AUDIT_HASH_BYTES], root[32];
  if (store_audit_head(s, &size, chain_head) != 0) {
    snprintf(err, errlen, "cannot read the audit log: %s", store_error(s));
    return -1;
  }
  if (h->size > size) {
    snprintf(err, errlen,
             "the audit log holds %llu entries, fewer than the %llu of the "
             "tree head the broker signed: entries were removed",
             (unsigned long long)size, (unsigned long long)h->size);
    return -1;
  }
  if (audit_log_root(s, h->size, root) != 0) {
    snprintf(err, errlen,
             "the audit log's Merkle tree (audit_node) does not cover the "
             "%llu entries of the tree head the broker signed",
             (unsigned long long)h->size);
    return -1;
  }
  if (sodium_memcmp(root, h->root, 32) != 0) {
    snprintf(err, errlen,
             "the audit log's first %llu entries are not those the broker "
             "signed a tree head of: the log was rewritten",
             (unsigned long long)h->size);
    return -1;
  }
  /* The stored nodes match the head; the entries must too: whoever can
   * write the store can change an entry and leave audit_node alone. One
   * pass over the first h->size entries, at start only. */
  if (s_entries_root(s, h->size, root) != 0) {
    snprintf(err, errlen, "cannot read the audit log: %s", store_error(s));
    return -1;
  }
  if (sodium_memcmp(root, h->root, 32) != 0) {
    snprintf(err, errlen,
             "the audit log's first %llu entries do not hash to the tree "
             "head the broker signed (its Merkle nodes do): entries were "
             "rewritten",
             (unsigned long long)h->size);
    return -1;
  }
  return 0;
}

int audit_log_start_check(store_t *s, const char *head_file,
                          const uint8_t *keys, size_t n_keys,
                          int *file_missing, char *err, size_t errlen) {
  char why[300];
  store_tree_head_t latest;
  *file_missing = 0;
  int has = store_tree_head_latest(s, &latest);
  if (has < 0) {
    snprintf(err, errlen, "cannot read the signed tree heads: %s",
             store_error(s));
    return -1;
  }
  if (has == 1 && audit_log_check_head(s, &latest, keys, n_keys, why,
                                       sizeof why) != 0) {
    snprintf(err, errlen, "the store's latest signed tree head: %s", why);
    return -1;
  }
  keten_tree_head_t fh;
  errno = 0;
  keten_err_t rc = keten_tree_head_load(head_file, &fh);
  if (rc == KETEN_ERR_IO && errno == ENOENT) {
    *file_missing = has == 1;
    return 0;
  }
  if (rc != KETEN_OK) {
    snprintf(err, errlen, "cannot read the tree head file %s: %s", head_file,
             rc == KETEN_ERR_IO ? strerror(errno) : keten_strerror(rc));
    return -1;
  }
  store_tree_head_t h;
  audit_log_head_from_keten(&fh, &h);
  if (audit_log_check_head(s, &h, keys, n_keys, why, sizeof why) != 0) {
    snprintf(err, errlen, "the tree head file %s: %s", head_file, why);
    return -1;
  }
  return 0;
}
