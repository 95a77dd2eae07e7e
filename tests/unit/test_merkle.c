/* Unit tests of the RFC 9162 Merkle tree (proto/merkle.h): the reference
 * vectors of RFC 6962/9162 as the transparency-dev implementation has
 * them, then properties over every tree of 1..70 leaves: generated
 * inclusion and consistency proofs verify, and single-bit flips (all
 * of them up to 32 leaves, or with KETEN_MERKLE_EXHAUSTIVE=1), every
 * truncation and extension of them, and wrong indexes, sizes and roots
 * fail; the frontier's root equals merkle_root at every size; garbage in.
 *
 * The vectors are from github.com/transparency-dev/merkle at commit
 * 417fb0c314750d94e53942e9f92e79b6d35915db:
 *   testonly/constants.go     LeafInputs, NodeHashes, RootHashes,
 *                             EmptyRootHash (the classic 8 leaves);
 *   cmd/proofgen/main.go      inclusionProofs, consistencyProofs (its
 *                             leafIdx counts from 1; here from 0);
 *   rfc6962/rfc6962_test.go   the hash of the leaf "L123456";
 *   testdata/consistency/additional (its .json files), the edge cases of sizes 0, 1
 *                             (one differs on purpose, see there). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "merkle.h"

#define HB MERKLE_HASH_BYTES
#define MAXN 70

/* ---- helpers ------------------------------------------------------------- */

/* Decodes the 64 hex digits at hex into out. */
static void s_hex(const char *hex, uint8_t out[HB]) {
  size_t len = 0;
  assert_int_equal(strlen(hex), 2 * HB);
  assert_int_equal(sodium_hex2bin(out, HB, hex, 2 * HB, NULL, &len, NULL), 0);
  assert_int_equal(len, HB);
}

static void s_assert_hash(const uint8_t got[HB], const char *want_hex) {
  uint8_t want[HB];
  s_hex(want_hex, want);
  if (memcmp(got, want, HB) != 0) {
    char g[2 * HB + 1];
    sodium_bin2hex(g, sizeof g, got, HB);
    fail_msg("hash %s, want %s", g, want_hex);
  }
}

/* A tree of up to `cap` leaf hashes in memory, answering the core's node
 * questions from them (checking it only asks inside the tree it works on),
 * and recording the nodes the frontier reports. */
typedef struct {
  const uint8_t *leaves; /* cap * HB */
  uint64_t cap;
  uint64_t size; /* the core may ask only for nodes inside this */
  unsigned gets;
  int fail_after; /* get fails after this many calls (-1: never) */
  /* nodes reported by put: node[level][index], seen[level][index] */
  uint8_t (*node)[256][HB];
  uint8_t (*seen)[256];
  int put_fail_after;
  unsigned puts;
} s_tree_t;

static int s_get(void *arg, unsigned level, uint64_t index, uint8_t out[HB]) {
  s_tree_t *t = arg;
  assert_true(level < 64);
  uint64_t first = index << level, count = UINT64_C(1) << level;
  assert_true(index <= (t->size >> level)); /* no overflow below */
  assert_true(first + count <= t->size);
  assert_true(first + count <= t->cap);
  if (t->fail_after >= 0 && t->gets >= (unsigned)t->fail_after)
    return -1;
  t->gets++;
  assert_int_equal(merkle_root(t->leaves + first * HB, count, out), 0);
  return 0;
}

static int s_put(void *arg, unsigned level, uint64_t index,
                 const uint8_t hash[HB]) {
  s_tree_t *t = arg;
  if (t->put_fail_after >= 0 && t->puts >= (unsigned)t->put_fail_after)
    return -1;
  t->puts++;
  assert_true(level < 9 && index < 256);
  assert_false(t->seen[level][index]);
  t->seen[level][index] = 1;
  memcpy(t->node[level][index], hash, HB);
  return 0;
}

/* A tree over `leaves`, of size `size`, that never fails. */
static s_tree_t s_tree(const uint8_t *leaves, uint64_t cap, uint64_t size) {
  s_tree_t t;
  memset(&t, 0, sizeof t);
  t.leaves = leaves;
  t.cap = cap;
  t.size = size;
  t.fail_after = -1;
  t.put_fail_after = -1;
  return t;
}

/* ---- the reference vectors ----------------------------------------------- */

/* testonly/constants.go LeafInputs(), as hex. */
static const char *const s_inputs[8] = {
    "",         "00",       "10", "2021", "3031", "40414243",
    "5051525354555657", "606162636465666768696a6b6c6d6e6f"};

/* testonly/constants.go NodeHashes(): [level][index]. */
static const char *const s_nodes[4][8] = {
    {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
     "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
     "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
     "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
     "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
     "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
     "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
     "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"},
    {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
     "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
     "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
     "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"},
    {"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
     "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"},
    {"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"},
};

/* testonly/constants.go RootHashes(): the root of the first n leaves. */
static const char *const s_roots[9] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

/* cmd/proofgen/main.go inclusionProofs (index from 0 here). */
static const struct {
  uint64_t index, size;
  size_t n;
  const char *proof[3];
} s_inclusion[] = {
    {0, 1, 0, {NULL}},
    {0, 8, 3,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {5, 8, 3,
     {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2, 3, 1,
     {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
    {1, 5, 3,
     {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
};

/* cmd/proofgen/main.go consistencyProofs. */
static const struct {
  uint64_t old_size, new_size;
  size_t n;
  const char *proof[3];
} s_consistency[] = {
    {1, 1, 0, {NULL}},
    {1, 8, 3,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {6, 8, 3,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2, 5, 2,
     {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
    {6, 7, 3,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
};

/* The leaf hashes of the 8 reference inputs. */
static void s_ref_leaves(uint8_t leaves[8][HB]) {
  for (int i = 0; i < 8; i++) {
    uint8_t in[16];
    size_t len = 0;
    assert_int_equal(sodium_hex2bin(in, sizeof in, s_inputs[i],
                                    strlen(s_inputs[i]), NULL, &len, NULL),
                     0);
    merkle_leaf_hash(len ? in : NULL, len, leaves[i]);
  }
}

static void test_hashes(void **state) {
  (void)state;
  uint8_t h[HB];
  merkle_empty_root(h);
  s_assert_hash(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  /* The empty leaf is not the empty tree. */
  merkle_leaf_hash(NULL, 0, h);
  s_assert_hash(h, "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
  merkle_leaf_hash((const uint8_t *)"L123456", 7, h);
  s_assert_hash(h, "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56");
  /* A node hash is SHA-256(0x01 || left || right), also in place. */
  uint8_t l[HB], r[HB], buf[1 + 2 * HB], want[HB];
  s_hex(s_nodes[0][0], l);
  s_hex(s_nodes[0][1], r);
  buf[0] = 1;
  memcpy(buf + 1, l, HB);
  memcpy(buf + 1 + HB, r, HB);
  crypto_hash_sha256(want, buf, sizeof buf);
  merkle_node_hash(l, r, h);
  assert_memory_equal(h, want, HB);
  s_assert_hash(h, s_nodes[1][0]);
  merkle_node_hash(l, r, l);
  assert_memory_equal(l, want, HB);
  s_hex(s_nodes[0][0], l);
  merkle_node_hash(l, r, r);
  assert_memory_equal(r, want, HB);
  /* The order of the children counts. */
  s_hex(s_nodes[0][1], r);
  merkle_node_hash(r, l, h);
  assert_memory_not_equal(h, want, HB);
}

static void test_reference_tree(void **state) {
  (void)state;
  uint8_t leaves[8][HB], h[HB];
  s_ref_leaves(leaves);
  for (int i = 0; i < 8; i++)
    s_assert_hash(leaves[i], s_nodes[0][i]);
  for (uint64_t n = 0; n <= 8; n++) {
    assert_int_equal(merkle_root(n ? leaves[0] : NULL, n, h), 0);
    s_assert_hash(h, s_roots[n]);
    s_tree_t t = s_tree(leaves[0], 8, n);
    assert_int_equal(merkle_root_from_nodes(n, s_get, &t, h), 0);
    s_assert_hash(h, s_roots[n]);
    /* popcount(n) nodes asked */
    assert_int_equal(t.gets, (unsigned)__builtin_popcountll(n));
  }
  /* Every complete node. */
  for (unsigned level = 0; level < 4; level++)
    for (uint64_t i = 0; i < (UINT64_C(8) >> level); i++) {
      s_tree_t t = s_tree(leaves[0], 8, 8);
      assert_int_equal(s_get(&t, level, i, h), 0);
      s_assert_hash(h, s_nodes[level][i]);
    }
  /* The frontier reports exactly these nodes, and has the roots. */
  static uint8_t node[9][256][HB], seen[9][256];
  memset(seen, 0, sizeof seen);
  s_tree_t t = s_tree(leaves[0], 8, 8);
  t.node = node;
  t.seen = seen;
  merkle_frontier_t f;
  merkle_frontier_init(&f);
  merkle_frontier_root(&f, h);
  s_assert_hash(h, s_roots[0]);
  for (int i = 0; i < 8; i++) {
    assert_int_equal(merkle_frontier_append(&f, leaves[i], s_put, &t), 0);
    assert_int_equal(f.size, (uint64_t)i + 1);
    merkle_frontier_root(&f, h);
    s_assert_hash(h, s_roots[i + 1]);
  }
  assert_int_equal(t.puts, 15);
  for (unsigned level = 0; level < 4; level++)
    for (uint64_t i = 0; i < (UINT64_C(8) >> level); i++) {
      assert_true(seen[level][i]);
      s_assert_hash(node[level][i], s_nodes[level][i]);
    }
}

static void test_reference_inclusion(void **state) {
  (void)state;
  uint8_t leaves[8][HB], root[HB], proof[MERKLE_PROOF_BYTES];
  s_ref_leaves(leaves);
  for (size_t v = 0; v < sizeof s_inclusion / sizeof s_inclusion[0]; v++) {
    uint64_t index = s_inclusion[v].index, size = s_inclusion[v].size;
    s_tree_t t = s_tree(leaves[0], 8, size);
    size_t n = 99;
    assert_int_equal(merkle_inclusion_proof(index, size, s_get, &t, proof, &n),
                     0);
    assert_int_equal(n, s_inclusion[v].n);
    for (size_t i = 0; i < n; i++)
      s_assert_hash(proof + i * HB, s_inclusion[v].proof[i]);
    s_hex(s_roots[size], root);
    assert_int_equal(
        merkle_verify_inclusion(index, size, leaves[index], proof, n, root), 0);
    /* The reference's own corruptions (proofgen's invalidInclusionProof). */
    uint8_t some[HB], empty[HB];
    s_hex("abacaba000000000000000000000000000000000000000000060061e00123456",
          some);
    merkle_empty_root(empty);
    if (index > 0)
      assert_int_equal(merkle_verify_inclusion(index - 1, size, leaves[index],
                                               proof, n, root),
                       -1);
    assert_int_equal(merkle_verify_inclusion(index + 1, size, leaves[index],
                                             proof, n, root),
                     -1);
    assert_int_equal(merkle_verify_inclusion(index ^ 2, size, leaves[index],
                                             proof, n, root),
                     -1);
    assert_int_equal(merkle_verify_inclusion(index, size * 2, leaves[index],
                                             proof, n, root),
                     -1);
    assert_int_equal(merkle_verify_inclusion(index, size / 2, leaves[index],
                                             proof, n, root),
                     -1);
    assert_int_equal(merkle_verify_inclusion(index, size, leaves[index], proof,
                                             n, empty),
                     -1);
    assert_int_equal(merkle_verify_inclusion(index, size, leaves[index], proof,
                                             n, some),
                     -1);
    assert_int_equal(merkle_verify_inclusion(index, size, some, proof, n, root),
                     -1);
  }
}

static void test_reference_consistency(void **state) {
  (void)state;
  uint8_t leaves[8][HB], r1[HB], r2[HB], proof[MERKLE_PROOF_BYTES];
  s_ref_leaves(leaves);
  for (size_t v = 0; v < sizeof s_consistency / sizeof s_consistency[0]; v++) {
    uint64_t m = s_consistency[v].old_size, sz = s_consistency[v].new_size;
    s_tree_t t = s_tree(leaves[0], 8, sz);
    size_t n = 99;
    assert_int_equal(merkle_consistency_proof(m, sz, s_get, &t, proof, &n), 0);
    assert_int_equal(n, s_consistency[v].n);
    for (size_t i = 0; i < n; i++)
      s_assert_hash(proof + i * HB, s_consistency[v].proof[i]);
    s_hex(s_roots[m], r1);
    s_hex(s_roots[sz], r2);
    assert_int_equal(merkle_verify_consistency(m, sz, r1, r2, proof, n), 0);
    if (m != sz) {
      assert_int_equal(merkle_verify_consistency(m, sz, r2, r1, proof, n), -1);
      assert_int_equal(merkle_verify_consistency(m, sz, r1, r2, proof, 0), -1);
      assert_int_equal(merkle_verify_consistency(m ^ 2, sz, r1, r2, proof, n),
                       -1);
      assert_int_equal(merkle_verify_consistency(m + 1, sz, r1, r2, proof, n),
                       -1);
      assert_int_equal(merkle_verify_consistency(m, sz * 2, r1, r2, proof, n),
                       -1);
      assert_int_equal(merkle_verify_consistency(m, sz / 2, r1, r2, proof, n),
                       -1);
    }
  }
}

/* testdata/consistency/additional, its .json files: "ZG9uJ3QgY2FyZSAx" and "...Ay"
 * are the base64 of "don't care 1" and "don't care 2" (12 bytes, so no
 * hash at all; here the zero-padded 32 bytes), 47DEQ... is the empty
 * root. Ours differs in one: from size 0 (with the empty root and an
 * empty proof) every tree is an extension; the reference refuses all
 * consistency from size 0 as useless. */
static void test_reference_consistency_edges(void **state) {
  (void)state;
  uint8_t e[HB], x[HB] = "don't care 1", y[HB] = "don't care 2";
  merkle_empty_root(e);
  struct {
    uint64_t m, n;
    const uint8_t *r1, *r2;
    int proof; /* one hash: the empty root */
    int want;
  } c[] = {
      {0, 1, e, e, 1, -1}, /* consistency-check-on-empty-tree-... */
      {0, 0, e, y, 0, -1}, /* roots-do-not-match-and-sizes-are-zero */
      {1, 1, e, y, 0, -1}, /* roots-do-not-not-match-and-sizes-are-one */
      {2, 1, x, y, 0, -1}, /* size1-is-greater-than-size2-again */
      {1, 0, x, y, 0, -1}, /* size1-is-greater-than-size2 */
      {0, 1, x, y, 0, -1}, /* size1-is-zero-and-does-not-equal-size2 */
      {0, 1, e, y, 0, 0},  /* size1-is-zero-and-size2-is-not-zero: the
                              reference wants an error (see above) */
      {1, 1, y, y, 0, 0},  /* sizes-are-equal-one-and-proof-is-empty */
      {1, 1, x, y, 0, -1}, /* sizes-are-equal-one-but-roots-are-not */
      {0, 0, x, x, 0, -1}, /* sizes-are-equal-zero-and-proof-is-empty */
      {0, 0, x, y, 0, -1}, /* sizes-are-equal-zero-but-roots-are-not */
      {1, 2, x, y, 0, -1}, /* sizes-do-not-watch-and-proof-is-empty */
      {1, 1, e, e, 1, -1}, /* sizes-match-but-proof-is-not-empty-...-one */
      {0, 0, e, e, 1, -1}, /* sizes-match-but-proof-is-not-empty-...-zero */
      {0, 0, e, e, 0, 0},  /* (ours) the empty tree extends itself */
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    int got = merkle_verify_consistency(c[i].m, c[i].n, c[i].r1, c[i].r2,
                                        c[i].proof ? e : NULL,
                                        c[i].proof ? 1 : 0);
    if (got != c[i].want)
      fail_msg("edge case %zu: %d, want %d", i, got, c[i].want);
  }
}

/* ---- properties over all trees of 1..MAXN leaves ------------------------- */

/* Which bits of a proof of a tree of `size` leaves to flip, as the step
 * between them: every bit up to 32 leaves; beyond, every 33rd (eight in
 * a hash, in different bytes and bit positions), unless the environment
 * has KETEN_MERKLE_EXHAUSTIVE (then every bit up to MAXN leaves, which
 * takes some 35 s instead of 10). */
static size_t s_flip_step(uint64_t size) {
  static int exhaustive = -1;
  if (exhaustive < 0)
    exhaustive = getenv("KETEN_MERKLE_EXHAUSTIVE") != NULL;
  return exhaustive || size <= 32 ? 1 : 33;
}

/* h with bit `bit` (0..255) flipped, into out. */
static void s_flip(const uint8_t h[HB], unsigned bit, uint8_t out[HB]) {
  memcpy(out, h, HB);
  out[bit / 8] ^= (uint8_t)(1u << (bit % 8));
}

static uint8_t s_leaves[MAXN][HB];
static uint8_t s_root_of[MAXN + 1][HB];

static void s_make_leaves(void) {
  for (int i = 0; i < MAXN; i++) {
    char data[32];
    int len = snprintf(data, sizeof data, "keten audit entry %d", i);
    merkle_leaf_hash((const uint8_t *)data, (size_t)len, s_leaves[i]);
  }
  for (uint64_t n = 0; n <= MAXN; n++)
    assert_int_equal(merkle_root(n ? s_leaves[0] : NULL, n, s_root_of[n]), 0);
}

/* The RFC's proof lengths, computed independently: the inclusion path
 * of index in size has one hash per level where the index's node has a
 * sibling. */
static size_t s_path_len(uint64_t index, uint64_t size) {
  size_t len = 0;
  while (size > 1) {
    if ((index ^ 1) < size)
      len++;
    index >>= 1;
    size = (size + 1) >> 1;
  }
  return len;
}

static void test_inclusion_all(void **state) {
  (void)state;
  s_make_leaves();
  uint8_t proof[MERKLE_PROOF_BYTES], bad[MERKLE_PROOF_BYTES + HB], zero[HB];
  memset(zero, 0, HB);
  for (uint64_t size = 1; size <= MAXN; size++) {
    const uint8_t *root = s_root_of[size];
    for (uint64_t index = 0; index < size; index++) {
      s_tree_t t = s_tree(s_leaves[0], MAXN, size);
      size_t n = 0;
      assert_int_equal(
          merkle_inclusion_proof(index, size, s_get, &t, proof, &n), 0);
      assert_int_equal(n, s_path_len(index, size));
      const uint8_t *leaf = s_leaves[index];
      assert_int_equal(merkle_verify_inclusion(index, size, leaf, proof, n,
                                               root),
                       0);
      /* single-bit flips (s_flip_step) */
      for (size_t bit = 0; bit < n * HB * 8; bit += s_flip_step(size)) {
        memcpy(bad, proof, n * HB);
        bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(
            merkle_verify_inclusion(index, size, leaf, bad, n, root), -1);
      }
      /* every truncation, at the end and at the front */
      for (size_t k = 0; k < n; k++) {
        assert_int_equal(
            merkle_verify_inclusion(index, size, leaf, proof, k, root), -1);
        assert_int_equal(merkle_verify_inclusion(index, size, leaf,
                                                 proof + (n - k) * HB, k,
                                                 root),
                         -1);
      }
      /* extensions: a hash of zeros, the root, the proof's own last hash,
       * at the end and at the front */
      const uint8_t *extra[3] = {zero, root, n ? proof + (n - 1) * HB : leaf};
      for (int e = 0; e < 3; e++) {
        memcpy(bad, proof, n * HB);
        memcpy(bad + n * HB, extra[e], HB);
        assert_int_equal(
            merkle_verify_inclusion(index, size, leaf, bad, n + 1, root), -1);
        memcpy(bad, extra[e], HB);
        memcpy(bad + HB, proof, n * HB);
        assert_int_equal(
            merkle_verify_inclusion(index, size, leaf, bad, n + 1, root), -1);
      }
      /* another leaf, index, size or root */
      for (uint64_t j = 0; j < size; j++)
        if (j != index) {
          assert_int_equal(
              merkle_verify_inclusion(j, size, leaf, proof, n, root), -1);
          assert_int_equal(merkle_verify_inclusion(index, size, s_leaves[j],
                                                   proof, n, root),
                           -1);
        }
      /* the proof is no proof in a tree of another size, against that
       * tree's root (against this root it can be: size binds only the
       * proof's shape, the signed head binds size and root together) */
      for (uint64_t s2 = index + 1; s2 <= MAXN; s2++)
        if (s2 != size)
          assert_int_equal(merkle_verify_inclusion(index, s2, leaf, proof, n,
                                                   s_root_of[s2]),
                           -1);
      assert_int_equal(
          merkle_verify_inclusion(index, size, leaf, proof, n, zero), -1);
      /* the root or the leaf with one bit flipped, in every byte */
      for (unsigned bit = 0; bit < HB * 8; bit += 9) {
        uint8_t x[HB];
        s_flip(root, bit, x);
        assert_int_equal(
            merkle_verify_inclusion(index, size, leaf, proof, n, x), -1);
        s_flip(leaf, bit, x);
        assert_int_equal(
            merkle_verify_inclusion(index, size, x, proof, n, root), -1);
      }
      assert_int_equal(merkle_verify_inclusion(size, size, leaf, proof, n,
                                               root),
                       -1);
    }
  }
}

/* The consistency proof's length per RFC 9162 §2.1.4.1, computed from the
 * SUBPROOF recursion independently of merkle.c's. */
static size_t s_subproof_len(uint64_t m, uint64_t n, int b) {
  if (m == n)
    return b ? 0 : 1;
  uint64_t k = 1;
  while (k * 2 < n)
    k *= 2;
  return 1 + (m <= k ? s_subproof_len(m, k, b) : s_subproof_len(m - k, n - k, 0));
}

static void test_consistency_all(void **state) {
  (void)state;
  s_make_leaves();
  uint8_t proof[MERKLE_PROOF_BYTES], bad[MERKLE_PROOF_BYTES + HB], zero[HB],
      empty[HB];
  memset(zero, 0, HB);
  merkle_empty_root(empty);
  for (uint64_t sz = 1; sz <= MAXN; sz++) {
    const uint8_t *r2 = s_root_of[sz];
    /* from 0: an empty proof, the empty root */
    {
      s_tree_t t = s_tree(s_leaves[0], MAXN, sz);
      size_t n = 99;
      assert_int_equal(merkle_consistency_proof(0, sz, s_get, &t, proof, &n),
                       0);
      assert_int_equal(n, 0);
      assert_int_equal(t.gets, 0);
      assert_int_equal(merkle_verify_consistency(0, sz, empty, r2, proof, 0),
                       0);
      assert_int_equal(merkle_verify_consistency(0, sz, zero, r2, proof, 0),
                       -1);
      assert_int_equal(merkle_verify_consistency(0, sz, empty, r2, r2, 1), -1);
    }
    for (uint64_t m = 1; m <= sz; m++) {
      const uint8_t *r1 = s_root_of[m];
      s_tree_t t = s_tree(s_leaves[0], MAXN, sz);
      size_t n = 99;
      assert_int_equal(merkle_consistency_proof(m, sz, s_get, &t, proof, &n),
                       0);
      assert_int_equal(n, s_subproof_len(m, sz, 1));
      assert_int_equal(merkle_verify_consistency(m, sz, r1, r2, proof, n), 0);
      /* single-bit flips (s_flip_step) */
      for (size_t bit = 0; bit < n * HB * 8; bit += s_flip_step(sz)) {
        memcpy(bad, proof, n * HB);
        bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(merkle_verify_consistency(m, sz, r1, r2, bad, n), -1);
      }
      /* every truncation, at the end and at the front */
      for (size_t k = 0; k < n; k++) {
        assert_int_equal(merkle_verify_consistency(m, sz, r1, r2, proof, k),
                         -1);
        assert_int_equal(merkle_verify_consistency(m, sz, r1, r2,
                                                   proof + (n - k) * HB, k),
                         -1);
      }
      /* extensions at the end and at the front */
      const uint8_t *extra[4] = {zero, r1, r2, n ? proof + (n - 1) * HB : r1};
      for (int e = 0; e < 4; e++) {
        memcpy(bad, proof, n * HB);
        memcpy(bad + n * HB, extra[e], HB);
        assert_int_equal(merkle_verify_consistency(m, sz, r1, r2, bad, n + 1),
                         -1);
        memcpy(bad, extra[e], HB);
        memcpy(bad + HB, proof, n * HB);
        assert_int_equal(merkle_verify_consistency(m, sz, r1, r2, bad, n + 1),
                         -1);
      }
      /* other roots: every other size's, and zeros */
      for (uint64_t j = 0; j <= MAXN; j++) {
        if (j != m)
          assert_int_equal(
              merkle_verify_consistency(m, sz, s_root_of[j], r2, proof, n), -1);
        if (j != sz)
          assert_int_equal(
              merkle_verify_consistency(m, sz, r1, s_root_of[j], proof, n), -1);
      }
      assert_int_equal(merkle_verify_consistency(m, sz, zero, r2, proof, n), -1);
      assert_int_equal(merkle_verify_consistency(m, sz, r1, zero, proof, n), -1);
      /* either root with one bit flipped, in every byte */
      for (unsigned bit = 0; bit < HB * 8; bit += 9) {
        uint8_t x[HB];
        s_flip(r1, bit, x);
        assert_int_equal(merkle_verify_consistency(m, sz, x, r2, proof, n), -1);
        s_flip(r2, bit, x);
        assert_int_equal(merkle_verify_consistency(m, sz, r1, x, proof, n), -1);
      }
      /* other sizes with the right roots for them: every pair while the
       * trees are small, the neighbours (3 either way) after that */
      uint64_t near = sz <= 16 ? 16 : 3;
      for (uint64_t m2 = m > near ? m - near : 1; m2 <= m + near; m2++)
        for (uint64_t s2 = sz > near + m2 ? sz - near : m2;
             s2 <= sz + near && s2 <= MAXN; s2++) {
          if (m2 == m && s2 == sz)
            continue;
          if (m2 == s2 && n == 0)
            continue; /* equal sizes, equal roots, empty proof: holds */
          if (merkle_verify_consistency(m2, s2, s_root_of[m2], s_root_of[s2],
                                        proof, n) == 0)
            fail_msg("proof (%llu, %llu) verifies as (%llu, %llu)",
                     (unsigned long long)m, (unsigned long long)sz,
                     (unsigned long long)m2, (unsigned long long)s2);
        }
      /* a rewrite: a new tree with one leaf before m changed */
      if (m < sz) {
        uint8_t alt[MAXN][HB], alt_root[HB];
        memcpy(alt, s_leaves, sizeof alt);
        alt[m - 1][0] ^= 1;
        assert_int_equal(merkle_root(alt[0], sz, alt_root), 0);
        assert_int_equal(
            merkle_verify_consistency(m, sz, r1, alt_root, proof, n), -1);
        s_tree_t ta = s_tree(alt[0], MAXN, sz);
        size_t na = 0;
        assert_int_equal(
            merkle_consistency_proof(m, sz, s_get, &ta, bad, &na), 0);
        assert_int_equal(
            merkle_verify_consistency(m, sz, r1, alt_root, bad, na), -1);
      }
    }
  }
}

/* The frontier's root is merkle_root's at every size; a frontier loaded
 * from the nodes it reported is the same; roots from nodes agree. */
static void test_frontier(void **state) {
  (void)state;
  enum { N = 256 };
  static uint8_t leaves[N][HB], node[9][256][HB], seen[9][256];
  memset(seen, 0, sizeof seen);
  for (int i = 0; i < N; i++) {
    uint8_t b[2] = {(uint8_t)i, (uint8_t)(i >> 8)};
    merkle_leaf_hash(b, 2, leaves[i]);
  }
  s_tree_t t = s_tree(leaves[0], N, N);
  t.node = node;
  t.seen = seen;
  merkle_frontier_t f, g;
  merkle_frontier_init(&f);
  uint8_t a[HB], b[HB];
  for (uint64_t size = 0; size <= N; size++) {
    assert_int_equal(f.size, size);
    merkle_frontier_root(&f, a);
    assert_int_equal(merkle_root(size ? leaves[0] : NULL, size, b), 0);
    assert_memory_equal(a, b, HB);
    s_tree_t tl = s_tree(leaves[0], N, size);
    assert_int_equal(merkle_frontier_load(&g, size, s_get, &tl), 0);
    assert_int_equal(g.size, size);
    assert_int_equal(tl.gets, (unsigned)__builtin_popcountll(size));
    merkle_frontier_root(&g, b);
    assert_memory_equal(a, b, HB);
    for (unsigned l = 0; l < 64; l++)
      if ((size >> l) & 1)
        assert_memory_equal(f.node[l], g.node[l], HB);
    tl = s_tree(leaves[0], N, size);
    assert_int_equal(merkle_root_from_nodes(size, s_get, &tl, b), 0);
    assert_memory_equal(a, b, HB);
    if (size == N)
      break;
    unsigned before = t.puts;
    assert_int_equal(merkle_frontier_append(&f, leaves[size], s_put, &t), 0);
    /* one node per level that completes: 1 + trailing ones of size */
    unsigned want = 1;
    for (uint64_t s = size; s & 1; s >>= 1)
      want++;
    assert_int_equal(t.puts - before, want);
  }
  /* Every node reported is the node, and every complete node was. */
  for (unsigned l = 0; l <= 8; l++)
    for (uint64_t i = 0; i < ((uint64_t)N >> l); i++) {
      assert_true(seen[l][i]);
      s_tree_t tg = s_tree(leaves[0], N, N);
      assert_int_equal(s_get(&tg, l, i, a), 0);
      assert_memory_equal(node[l][i], a, HB);
    }
  /* Without put. */
  merkle_frontier_init(&g);
  for (int i = 0; i < N; i++)
    assert_int_equal(merkle_frontier_append(&g, leaves[i], NULL, NULL), 0);
  merkle_frontier_root(&g, b);
  merkle_frontier_root(&f, a);
  assert_memory_equal(a, b, HB);
}

/* A tree of 2^63 equal leaves: every node of a level has the same hash,
 * so the core can be driven at the largest sizes without storing them. */
static uint8_t s_uniform[64][HB];

static int s_get_uniform(void *arg, unsigned level, uint64_t index,
                         uint8_t out[HB]) {
  uint64_t size = *(const uint64_t *)arg;
  assert_true(level < 64);
  assert_true(index < (size >> level));
  memcpy(out, s_uniform[level], HB);
  return 0;
}

static void test_large_sizes(void **state) {
  (void)state;
  merkle_leaf_hash((const uint8_t *)"x", 1, s_uniform[0]);
  for (int l = 1; l < 64; l++)
    merkle_node_hash(s_uniform[l - 1], s_uniform[l - 1], s_uniform[l]);
  const uint64_t max = MERKLE_MAX_SIZE;
  const uint64_t sizes[] = {max, max - 1, max / 2 + 1, max / 2, 3, 1};
  uint8_t proof[MERKLE_PROOF_BYTES], r1[HB], r2[HB];
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    uint64_t size = sizes[s];
    assert_int_equal(merkle_root_from_nodes(size, s_get_uniform, &size, r2), 0);
    const uint64_t idx[] = {0, size / 2, size - 2, size - 1};
    for (size_t i = 0; i < 4; i++) {
      uint64_t index = idx[i];
      if (index >= size)
        continue;
      size_t n = 0;
      assert_int_equal(merkle_inclusion_proof(index, size, s_get_uniform,
                                              &size, proof, &n),
                       0);
      assert_true(n <= MERKLE_MAX_PROOF);
      assert_int_equal(n, s_path_len(index, size));
      assert_int_equal(merkle_verify_inclusion(index, size, s_uniform[0],
                                               proof, n, r2),
                       0);
      assert_int_equal(merkle_verify_inclusion(index, size, s_uniform[0],
                                               proof, n ? n - 1 : 1, r2),
                       -1);
    }
    const uint64_t olds[] = {1, 2, 3, size / 2, size / 2 + 1, size - 1, size};
    for (size_t i = 0; i < 7; i++) {
      uint64_t m = olds[i];
      if (m == 0 || m > size)
        continue;
      assert_int_equal(merkle_root_from_nodes(m, s_get_uniform, &m, r1), 0);
      size_t n = 0;
      assert_int_equal(merkle_consistency_proof(m, size, s_get_uniform, &size,
                                                proof, &n),
                       0);
      assert_true(n <= MERKLE_MAX_PROOF);
      assert_int_equal(merkle_verify_consistency(m, size, r1, r2, proof, n), 0);
      if (n)
        assert_int_equal(
            merkle_verify_consistency(m, size, r1, r2, proof, n - 1), -1);
    }
  }
  /* The longest proofs: 63 hashes for an inclusion, 64 for consistency. */
  size_t n = 0;
  uint64_t size = max;
  assert_int_equal(
      merkle_inclusion_proof(max - 1, max, s_get_uniform, &size, proof, &n), 0);
  assert_int_equal(n, 63);
  assert_int_equal(
      merkle_consistency_proof(max - 1, max, s_get_uniform, &size, proof, &n),
      0);
  assert_int_equal(n, s_subproof_len(max - 1, max, 1));
  assert_true(n <= 64);
  /* A frontier from the nodes at 2^63 - 1, one append to 2^63, full. */
  merkle_frontier_t f;
  size = max - 1;
  assert_int_equal(merkle_frontier_load(&f, max - 1, s_get_uniform, &size), 0);
  assert_int_equal(merkle_frontier_append(&f, s_uniform[0], NULL, NULL), 0);
  assert_int_equal(f.size, max);
  merkle_frontier_root(&f, r1);
  assert_memory_equal(r1, s_uniform[63], HB);
  merkle_frontier_t copy = f;
  assert_int_equal(merkle_frontier_append(&f, s_uniform[0], NULL, NULL), -1);
  assert_memory_equal(&f, &copy, sizeof f);
}

/* ---- garbage in ---------------------------------------------------------- */

static void test_garbage(void **state) {
  (void)state;
  s_make_leaves();
  uint8_t proof[MERKLE_PROOF_BYTES + HB], h[HB], e[HB];
  merkle_empty_root(e);
  size_t n = 99;
  s_tree_t t = s_tree(s_leaves[0], MAXN, MAXN);
  uint64_t big = MERKLE_MAX_SIZE + 1;

  /* proofs that cannot be asked for */
  assert_int_equal(merkle_inclusion_proof(0, 0, s_get, &t, proof, &n), -1);
  assert_int_equal(n, 0);
  assert_int_equal(merkle_inclusion_proof(5, 5, s_get, &t, proof, &n), -1);
  assert_int_equal(merkle_inclusion_proof(6, 5, s_get, &t, proof, &n), -1);
  assert_int_equal(merkle_inclusion_proof(0, big, s_get, &t, proof, &n), -1);
  assert_int_equal(merkle_inclusion_proof(0, 5, NULL, &t, proof, &n), -1);
  assert_int_equal(merkle_consistency_proof(6, 5, s_get, &t, proof, &n), -1);
  assert_int_equal(merkle_consistency_proof(1, big, s_get, &t, proof, &n), -1);
  assert_int_equal(merkle_consistency_proof(1, 5, NULL, &t, proof, &n), -1);
  assert_int_equal(merkle_consistency_proof(5, 5, s_get, &t, proof, &n), 0);
  assert_int_equal(n, 0);
  assert_int_equal(t.gets, 0);

  /* a store that fails: every failure point is passed on */
  for (int after = 0; after < 8; after++) {
    s_tree_t tf = s_tree(s_leaves[0], MAXN, 67);
    tf.fail_after = after;
    n = 99;
    int rc = merkle_inclusion_proof(33, 67, s_get, &tf, proof, &n);
    if (rc == 0) {
      /* fewer questions than `after`: it completed */
      assert_true(tf.gets <= (unsigned)after);
    } else {
      assert_int_equal(rc, -1);
      assert_int_equal(n, 0);
      assert_int_equal(tf.gets, (unsigned)after);
    }
    tf = s_tree(s_leaves[0], MAXN, 67);
    tf.fail_after = after;
    rc = merkle_consistency_proof(33, 67, s_get, &tf, proof, &n);
    if (rc == 0)
      assert_true(tf.gets <= (unsigned)after);
    else
      assert_int_equal(n, 0);
    tf = s_tree(s_leaves[0], MAXN, 67);
    tf.fail_after = after;
    merkle_frontier_t f;
    rc = merkle_frontier_load(&f, 67, s_get, &tf);
    assert_int_equal(rc, after < 3 ? -1 : 0); /* popcount(67) = 3 */
    if (rc != 0)
      assert_int_equal(f.size, 0);
    tf = s_tree(s_leaves[0], MAXN, 67);
    tf.fail_after = after;
    rc = merkle_root_from_nodes(67, s_get, &tf, h);
    assert_int_equal(rc, after < 3 ? -1 : 0);
  }
  assert_int_equal(merkle_root_from_nodes(big, s_get, &t, h), -1);
  assert_int_equal(merkle_root_from_nodes(1, NULL, &t, h), -1);
  assert_int_equal(merkle_root(NULL, 1, h), -1);
  assert_int_equal(merkle_root(s_leaves[0], big, h), -1);
  merkle_frontier_t f;
  assert_int_equal(merkle_frontier_load(&f, big, s_get, &t), -1);
  assert_int_equal(merkle_frontier_load(&f, 1, NULL, &t), -1);

  /* a put that fails leaves the frontier as it was */
  static uint8_t node[9][256][HB], seen[9][256];
  for (int after = 0; after < 4; after++) {
    memset(seen, 0, sizeof seen);
    s_tree_t tp = s_tree(s_leaves[0], MAXN, MAXN);
    tp.node = node;
    tp.seen = seen;
    merkle_frontier_init(&f);
    for (int i = 0; i < 7; i++)
      assert_int_equal(merkle_frontier_append(&f, s_leaves[i], NULL, NULL), 0);
    merkle_frontier_t copy = f;
    tp.put_fail_after = after; /* appending the 8th completes 4 nodes */
    assert_int_equal(merkle_frontier_append(&f, s_leaves[7], s_put, &tp), -1);
    assert_memory_equal(&f, &copy, sizeof f);
  }

  /* verification of what cannot be */
  uint8_t r5[HB];
  memcpy(r5, s_root_of[5], HB);
  s_tree_t t5 = s_tree(s_leaves[0], MAXN, 5);
  assert_int_equal(merkle_inclusion_proof(2, 5, s_get, &t5, proof, &n), 0);
  assert_int_equal(merkle_verify_inclusion(2, 5, s_leaves[2], proof, n, r5), 0);
  assert_int_equal(merkle_verify_inclusion(5, 5, s_leaves[2], proof, n, r5), -1);
  assert_int_equal(merkle_verify_inclusion(0, 0, s_leaves[2], proof, n, r5), -1);
  assert_int_equal(merkle_verify_inclusion(0, 0, e, NULL, 0, e), -1);
  assert_int_equal(merkle_verify_inclusion(UINT64_MAX, UINT64_MAX, s_leaves[2],
                                           proof, n, r5),
                   -1);
  assert_int_equal(merkle_verify_inclusion(2, big, s_leaves[2], proof, n, r5),
                   -1);
  assert_int_equal(merkle_verify_inclusion(2, 5, s_leaves[2], proof,
                                           MERKLE_MAX_PROOF + 1, r5),
                   -1);
  assert_int_equal(merkle_verify_inclusion(2, 5, s_leaves[2], NULL, n, r5), -1);
  assert_int_equal(merkle_verify_inclusion(2, 5, NULL, proof, n, r5), -1);
  assert_int_equal(merkle_verify_inclusion(2, 5, s_leaves[2], proof, n, NULL),
                   -1);
  /* size 1: the leaf is the root, the proof empty */
  assert_int_equal(
      merkle_verify_inclusion(0, 1, s_leaves[0], NULL, 0, s_leaves[0]), 0);
  assert_int_equal(
      merkle_verify_inclusion(0, 1, s_leaves[0], s_leaves[0], 1, s_leaves[0]),
      -1);
  assert_int_equal(
      merkle_verify_inclusion(0, 1, s_leaves[0], NULL, 0, s_leaves[1]), -1);

  uint8_t r3[HB];
  memcpy(r3, s_root_of[3], HB);
  assert_int_equal(merkle_consistency_proof(3, 5, s_get, &t5, proof, &n), 0);
  assert_int_equal(merkle_verify_consistency(3, 5, r3, r5, proof, n), 0);
  assert_int_equal(merkle_verify_consistency(5, 3, r5, r3, proof, n), -1);
  assert_int_equal(merkle_verify_consistency(3, 5, r3, r5, proof, 0), -1);
  assert_int_equal(merkle_verify_consistency(3, 5, r3, r5, NULL, n), -1);
  assert_int_equal(merkle_verify_consistency(3, 5, NULL, r5, proof, n), -1);
  assert_int_equal(merkle_verify_consistency(3, 5, r3, NULL, proof, n), -1);
  assert_int_equal(
      merkle_verify_consistency(3, 5, r3, r5, proof, MERKLE_MAX_PROOF + 1), -1);
  assert_int_equal(merkle_verify_consistency(3, big, r3, r5, proof, n), -1);
  assert_int_equal(merkle_verify_consistency(big, big, r5, r5, NULL, 0), -1);
  assert_int_equal(
      merkle_verify_consistency(UINT64_MAX - 1, UINT64_MAX, r3, r5, proof, n),
      -1);
  /* old size 0: never with a proof */
  assert_int_equal(merkle_verify_consistency(0, 5, e, r5, proof, 1), -1);
  assert_int_equal(merkle_verify_consistency(0, 5, e, r5, proof, n), -1);
  assert_int_equal(merkle_verify_consistency(0, 5, r3, r5, NULL, 0), -1);
  assert_int_equal(merkle_verify_consistency(0, 5, e, r5, NULL, 0), 0);
  /* equal sizes: never with a proof, never with two roots */
  assert_int_equal(merkle_verify_consistency(5, 5, r5, r5, NULL, 0), 0);
  assert_int_equal(merkle_verify_consistency(5, 5, r5, r5, r5, 1), -1);
  assert_int_equal(merkle_verify_consistency(5, 5, r3, r5, NULL, 0), -1);
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hashes),
      cmocka_unit_test(test_reference_tree),
      cmocka_unit_test(test_reference_inclusion),
      cmocka_unit_test(test_reference_consistency),
      cmocka_unit_test(test_reference_consistency_edges),
      cmocka_unit_test(test_inclusion_all),
      cmocka_unit_test(test_consistency_all),
      cmocka_unit_test(test_frontier),
      cmocka_unit_test(test_large_sizes),
      cmocka_unit_test(test_garbage),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
