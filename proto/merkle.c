/* merkle — RFC 9162 Merkle trees: hashes, frontier, proofs, verification. */
#include "merkle.h"

#include <sodium.h>
#include <stdint.h>
#include <string.h>

#define HB MERKLE_HASH_BYTES

void merkle_leaf_hash(const uint8_t *data, size_t len, uint8_t out[HB]) {
  static const uint8_t prefix = 0x00;
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, &prefix, 1);
  if (len)
    crypto_hash_sha256_update(&st, data, len);
  crypto_hash_sha256_final(&st, out);
}

void merkle_node_hash(const uint8_t left[HB], const uint8_t right[HB],
                      uint8_t out[HB]) {
  uint8_t buf[1 + 2 * HB];
  buf[0] = 0x01;
  memcpy(buf + 1, left, HB);
  memcpy(buf + 1 + HB, right, HB);
  crypto_hash_sha256(out, buf, sizeof buf);
}

void merkle_empty_root(uint8_t out[HB]) {
  crypto_hash_sha256(out, (const uint8_t *)"", 0);
}

/* Number of the highest bit set in x (x > 0). */
static unsigned s_log2(uint64_t x) {
  unsigned l = 0;
  while (x >>= 1)
    l++;
  return l;
}

/* The largest power of two smaller than n (n >= 2): the RFC's k. */
static uint64_t s_split(uint64_t n) {
  return UINT64_C(1) << s_log2(n - 1);
}

/* 1 if x is a power of two. */
static int s_pow2(uint64_t x) {
  return x && (x & (x - 1)) == 0;
}

/* MTH(D[0:n]) of n >= 1 leaf hashes at leaves (recursion depth <= 64). */
static void s_mth(const uint8_t *leaves, uint64_t n, uint8_t out[HB]) {
  if (n == 1) {
    memcpy(out, leaves, HB);
    return;
  }
  uint64_t k = s_split(n);
  uint8_t left[HB], right[HB];
  s_mth(leaves, k, left);
  s_mth(leaves + k * HB, n - k, right);
  merkle_node_hash(left, right, out);
}

int merkle_root(const uint8_t *leaf_hashes, uint64_t n, uint8_t out[HB]) {
  if (n > MERKLE_MAX_SIZE || (n && !leaf_hashes))
    return -1;
  if (n == 0)
    merkle_empty_root(out);
  else
    s_mth(leaf_hashes, n, out);
  return 0;
}

/* MTH(D[start:end]) for start < end where start is a multiple of a power
 * of two >= end - start (every range the RFC's recursions name): the
 * complete nodes from left to right, each the largest that fits (so of
 * falling size, each start aligned), folded from the right. */
static int s_range(uint64_t start, uint64_t end, merkle_get_fn get,
                   void *arg, uint8_t out[HB]) {
  uint8_t piece[64][HB];
  unsigned count = 0;
  uint64_t a = start;
  while (a < end) {
    unsigned l = s_log2(end - a); /* a is a multiple of 2^l */
    if (count == 64 || get(arg, l, a >> l, piece[count]) != 0)
      return -1;
    count++;
    a += UINT64_C(1) << l;
  }
  if (count == 0)
    return -1;
  memcpy(out, piece[count - 1], HB);
  for (unsigned i = count - 1; i-- > 0;)
    merkle_node_hash(piece[i], out, out);
  return 0;
}

int merkle_root_from_nodes(uint64_t size, merkle_get_fn get, void *arg,
                           uint8_t out[HB]) {
  if (size > MERKLE_MAX_SIZE || !get)
    return -1;
  if (size == 0) {
    merkle_empty_root(out);
    return 0;
  }
  return s_range(0, size, get, arg, out);
}

/* ---- the frontier -------------------------------------------------------- */

void merkle_frontier_init(merkle_frontier_t *f) {
  memset(f, 0, sizeof *f);
}

int merkle_frontier_load(merkle_frontier_t *f, uint64_t size,
                         merkle_get_fn get, void *arg) {
  merkle_frontier_init(f);
  if (size > MERKLE_MAX_SIZE || !get)
    return -1;
  for (unsigned l = 0; l < 64; l++) {
    if (!((size >> l) & 1))
      continue;
    if (get(arg, l, (size >> l) - 1, f->node[l]) != 0) {
      merkle_frontier_init(f);
      return -1;
    }
  }
  f->size = size;
  return 0;
}

int merkle_frontier_append(merkle_frontier_t *f, const uint8_t leaf_hash[HB],
                           merkle_put_fn put, void *arg) {
  if (f->size >= MERKLE_MAX_SIZE)
    return -1;
  uint64_t size = f->size;
  uint8_t h[HB];
  memcpy(h, leaf_hash, HB);
  if (put && put(arg, 0, size, h) != 0)
    return -1;
  /* Every set low bit of size is a left sibling waiting for this node. */
  unsigned l = 0;
  while ((size >> l) & 1) {
    merkle_node_hash(f->node[l], h, h);
    l++;
    if (put && put(arg, l, ((size + 1) >> l) - 1, h) != 0)
      return -1;
  }
  memcpy(f->node[l], h, HB);
  f->size = size + 1;
  return 0;
}

void merkle_frontier_root(const merkle_frontier_t *f, uint8_t out[HB]) {
  int have = 0;
  for (unsigned l = 0; l < 64; l++) {
    if (!((f->size >> l) & 1))
      continue;
    if (have) {
      merkle_node_hash(f->node[l], out, out);
    } else {
      memcpy(out, f->node[l], HB);
      have = 1;
    }
  }
  if (!have)
    merkle_empty_root(out);
}

/* ---- proofs ---------------------------------------------------------------- */

typedef struct {
  merkle_get_fn get;
  void *arg;
  uint8_t *proof;
  size_t n;
} s_proof_t;

/* Appends MTH(D[start:end]) to p's proof. */
static int s_emit(s_proof_t *p, uint64_t start, uint64_t end) {
  if (p->n >= MERKLE_MAX_PROOF)
    return -1;
  if (s_range(start, end, p->get, p->arg, p->proof + p->n * HB) != 0)
    return -1;
  p->n++;
  return 0;
}

/* PATH(m, D[start:start+n]) of RFC 9162 §2.1.3.1 (0 <= m < n). */
static int s_path(s_proof_t *p, uint64_t m, uint64_t start, uint64_t n) {
  if (n == 1)
    return 0;
  uint64_t k = s_split(n);
  if (m < k) {
    if (s_path(p, m, start, k) != 0)
      return -1;
    return s_emit(p, start + k, start + n);
  }
  if (s_path(p, m - k, start + k, n - k) != 0)
    return -1;
  return s_emit(p, start, start + k);
}

/* SUBPROOF(m, D[start:start+n], b) of RFC 9162 §2.1.4.1 (0 < m <= n). */
static int s_subproof(s_proof_t *p, uint64_t m, uint64_t start, uint64_t n,
                      int b) {
  if (m == n)
    return b ? 0 : s_emit(p, start, start + n);
  uint64_t k = s_split(n);
  if (m <= k) {
    if (s_subproof(p, m, start, k, b) != 0)
      return -1;
    return s_emit(p, start + k, start + n);
  }
  if (s_subproof(p, m - k, start + k, n - k, 0) != 0)
    return -1;
  return s_emit(p, start, start + k);
}

int merkle_inclusion_proof(uint64_t index, uint64_t size, merkle_get_fn get,
                           void *arg, uint8_t proof[MERKLE_PROOF_BYTES],
                           size_t *n) {
  *n = 0;
  if (index >= size || size > MERKLE_MAX_SIZE || !get)
    return -1;
  s_proof_t p = {get, arg, proof, 0};
  if (s_path(&p, index, 0, size) != 0)
    return -1;
  *n = p.n;
  return 0;
}

int merkle_consistency_proof(uint64_t old_size, uint64_t new_size,
                             merkle_get_fn get, void *arg,
                             uint8_t proof[MERKLE_PROOF_BYTES], size_t *n) {
  *n = 0;
  if (old_size > new_size || new_size > MERKLE_MAX_SIZE || !get)
    return -1;
  if (old_size == 0 || old_size == new_size)
    return 0;
  s_proof_t p = {get, arg, proof, 0};
  if (s_subproof(&p, old_size, 0, new_size, 1) != 0)
    return -1;
  *n = p.n;
  return 0;
}

/* ---- verification ---------------------------------------------------------- */

/* 1 if the two hashes are equal (in constant time). */
static int s_eq(const uint8_t a[HB], const uint8_t b[HB]) {
  return sodium_memcmp(a, b, HB) == 0;
}

int merkle_verify_inclusion(uint64_t index, uint64_t size,
                            const uint8_t leaf_hash[HB], const uint8_t *proof,
                            size_t n, const uint8_t root[HB]) {
  /* 1. leaf_index >= tree_size fails. */
  if (index >= size || size > MERKLE_MAX_SIZE || n > MERKLE_MAX_PROOF ||
      (n && !proof) || !leaf_hash || !root)
    return -1;
  /* 2.-3. */
  uint64_t fn = index, sn = size - 1;
  uint8_t r[HB];
  memcpy(r, leaf_hash, HB);
  /* 4. */
  for (size_t i = 0; i < n; i++) {
    const uint8_t *p = proof + i * HB;
    if (sn == 0)
      return -1;
    if ((fn & 1) || fn == sn) {
      merkle_node_hash(p, r, r);
      if (!(fn & 1))
        while (!(fn & 1) && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
    } else {
      merkle_node_hash(r, p, r);
    }
    fn >>= 1;
    sn >>= 1;
  }
  /* 5. */
  return sn == 0 && s_eq(r, root) ? 0 : -1;
}

int merkle_verify_consistency(uint64_t old_size, uint64_t new_size,
                              const uint8_t old_root[HB],
                              const uint8_t new_root[HB], const uint8_t *proof,
                              size_t n) {
  if (old_size > new_size || new_size > MERKLE_MAX_SIZE ||
      n > MERKLE_MAX_PROOF || (n && !proof) || !old_root || !new_root)
    return -1;
  if (old_size == 0) {
    uint8_t empty[HB];
    merkle_empty_root(empty);
    if (n || !s_eq(old_root, empty))
      return -1;
    return new_size != 0 || s_eq(new_root, empty) ? 0 : -1;
  }
  if (old_size == new_size)
    return n == 0 && s_eq(old_root, new_root) ? 0 : -1;
  /* 1. An empty consistency_path fails. */
  if (n == 0)
    return -1;
  /* 2. If first is a power of 2, first_hash is prepended to the path. */
  const uint8_t *seed = proof;
  size_t next = 1;
  if (s_pow2(old_size)) {
    seed = old_root;
    next = 0;
  }
  /* 3.-4. */
  uint64_t fn = old_size - 1, sn = new_size - 1;
  while (fn & 1) {
    fn >>= 1;
    sn >>= 1;
  }
  /* 5. */
  uint8_t fr[HB], sr[HB];
  memcpy(fr, seed, HB);
  memcpy(sr, seed, HB);
  /* 6. */
  for (size_t i = next; i < n; i++) {
    const uint8_t *c = proof + i * HB;
    if (sn == 0)
      return -1;
    if ((fn & 1) || fn == sn) {
      merkle_node_hash(c, fr, fr);
      merkle_node_hash(c, sr, sr);
      if (!(fn & 1))
        while (!(fn & 1) && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
    } else {
      merkle_node_hash(sr, c, sr);
    }
    fn >>= 1;
    sn >>= 1;
  }
  /* 7. */
  return sn == 0 && s_eq(fr, old_root) && s_eq(sr, new_root) ? 0 : -1;
}
