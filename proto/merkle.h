/* merkle — the Merkle tree of RFC 9162 (Certificate Transparency v2,
 * §2.1) over SHA-256: leaf and node hashes, the root of a list of leaves,
 * an incremental "frontier" (compact range) the log appends to in
 * O(log n), inclusion and consistency proofs and their verification.
 * Pure code, no store and no sockets, shared by the broker (which keeps
 * the log and makes proofs) and libketen and `keten audit` (which check
 * them). Hashes are 32 bytes; a proof is up to MERKLE_MAX_PROOF hashes
 * laid out one after the other, lowest level first (the RFC's order).
 *
 * Perfect subtrees are named by (level, index): the node at level l and
 * index i is MTH of leaves [i * 2^l, (i + 1) * 2^l); level 0 are the leaf
 * hashes. Complete nodes never change, so a store can keep them. */
#ifndef KETEN_MERKLE_H
#define KETEN_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#define MERKLE_HASH_BYTES 32
/* Tree sizes are at most 2^63, so that every proof fits in 64 hashes and
 * a frontier in 64 nodes. */
#define MERKLE_MAX_SIZE (UINT64_C(1) << 63)
#define MERKLE_MAX_PROOF 64
#define MERKLE_PROOF_BYTES (MERKLE_MAX_PROOF * MERKLE_HASH_BYTES)

/* ---- hashes ---------------------------------------------------------- */

/* The leaf hash SHA-256(0x00 || data) of len bytes at data into out (data
 * may be NULL when len is 0). */
void merkle_leaf_hash(const uint8_t *data, size_t len,
                      uint8_t out[MERKLE_HASH_BYTES]);

/* The node hash SHA-256(0x01 || left || right) into out (out may be left
 * or right). */
void merkle_node_hash(const uint8_t left[MERKLE_HASH_BYTES],
                      const uint8_t right[MERKLE_HASH_BYTES],
                      uint8_t out[MERKLE_HASH_BYTES]);

/* The root of the empty tree, SHA-256 of the empty string, into out. */
void merkle_empty_root(uint8_t out[MERKLE_HASH_BYTES]);

/* MTH of the n leaf hashes at leaf_hashes (n * 32 bytes; NULL if n is 0)
 * into out, by the RFC's recursive definition. 0, or -1 if n is too big. */
int merkle_root(const uint8_t *leaf_hashes, uint64_t n,
                uint8_t out[MERKLE_HASH_BYTES]);

/* ---- nodes from a store ---------------------------------------------- */

/* Writes the hash of the complete node (level, index) into out; the core
 * only asks for nodes inside the tree it works on ((index + 1) << level
 * <= size). Returns 0, or -1 (the caller's error is passed on). A store
 * that keeps only leaf hashes can answer with merkle_root() over the
 * node's 2^level leaves. */
typedef int (*merkle_get_fn)(void *arg, unsigned level, uint64_t index,
                             uint8_t out[MERKLE_HASH_BYTES]);

/* Told about the complete node (level, index) with hash; 0, or -1 to
 * fail the append that made it. */
typedef int (*merkle_put_fn)(void *arg, unsigned level, uint64_t index,
                             const uint8_t hash[MERKLE_HASH_BYTES]);

/* The root of the tree of the first size leaves, from the popcount(size)
 * complete nodes of its right border asked of get. 0, or -1 (size too
 * big, get failed). */
int merkle_root_from_nodes(uint64_t size, merkle_get_fn get, void *arg,
                           uint8_t out[MERKLE_HASH_BYTES]);

/* ---- the frontier ---------------------------------------------------- */

/* The right border of a tree: for every bit l set in size, the complete
 * node at level l (node[l]); nothing else is kept. */
typedef struct {
  uint64_t size;
  uint8_t node[64][MERKLE_HASH_BYTES];
} merkle_frontier_t;

/* The frontier of the empty tree. */
void merkle_frontier_init(merkle_frontier_t *f);

/* The frontier of the tree of the first size leaves, from the popcount
 * (size) border nodes asked of get. 0, or -1 (f then empty). */
int merkle_frontier_load(merkle_frontier_t *f, uint64_t size,
                         merkle_get_fn get, void *arg);

/* Appends the leaf with hash leaf_hash in O(log n); if put is not NULL it
 * is told every node that completes (the leaf first, then up). 0, or -1
 * (f full, put failed) with f unchanged. */
int merkle_frontier_append(merkle_frontier_t *f,
                           const uint8_t leaf_hash[MERKLE_HASH_BYTES],
                           merkle_put_fn put, void *arg);

/* The root of the tree f stands for into out (the empty root if f->size
 * is 0). */
void merkle_frontier_root(const merkle_frontier_t *f,
                          uint8_t out[MERKLE_HASH_BYTES]);

/* ---- proofs ---------------------------------------------------------- */

/* PATH(index, D[size]) of RFC 9162 §2.1.3.1 into proof (room for
 * MERKLE_MAX_PROOF hashes), its count into *n. 0, or -1 (index >= size,
 * size too big, get failed). */
int merkle_inclusion_proof(uint64_t index, uint64_t size, merkle_get_fn get,
                           void *arg, uint8_t proof[MERKLE_PROOF_BYTES],
                           size_t *n);

/* PROOF(old_size, D[new_size]) of RFC 9162 §2.1.4.1 into proof, its count
 * into *n; empty when old_size is 0 or equals new_size. 0, or -1
 * (old_size > new_size, size too big, get failed). */
int merkle_consistency_proof(uint64_t old_size, uint64_t new_size,
                             merkle_get_fn get, void *arg,
                             uint8_t proof[MERKLE_PROOF_BYTES], size_t *n);

/* ---- verification ---------------------------------------------------- */

/* RFC 9162 §2.1.3.2: 0 if the n hashes at proof prove the leaf with hash
 * leaf_hash at index in the tree of size with root; -1 otherwise
 * (index >= size, a proof of the wrong length, a root that differs). */
int merkle_verify_inclusion(uint64_t index, uint64_t size,
                            const uint8_t leaf_hash[MERKLE_HASH_BYTES],
                            const uint8_t *proof, size_t n,
                            const uint8_t root[MERKLE_HASH_BYTES]);

/* RFC 9162 §2.1.4.2: 0 if the n hashes at proof prove the tree of
 * old_size with old_root a prefix of the tree of new_size with new_root;
 * -1 otherwise. Beyond the RFC (0 < old_size < new_size): equal sizes
 * need an empty proof and equal roots; old_size 0 needs an empty proof
 * and old_root the empty root (and new_root too if new_size is 0). */
int merkle_verify_consistency(uint64_t old_size, uint64_t new_size,
                              const uint8_t old_root[MERKLE_HASH_BYTES],
                              const uint8_t new_root[MERKLE_HASH_BYTES],
                              const uint8_t *proof, size_t n);

#endif
