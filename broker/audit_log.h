/* audit_log — the audit log as a Merkle tree (RFC 9162) over the store,
 * and its signed tree heads (docs/protocol.md 10.6).
 *
 * Leaf i of the tree is audit entry seq i + 1, its hash audit_leaf_hash().
 * Every complete node (level, idx) is kept in the store's audit_node
 * table: store_audit_append() appends each entry's leaf to the store's
 * frontier (audit_log_append) in the same transaction, so a rollback
 * undoes nodes and entries together; the frontier is read afresh from
 * audit_node (audit_log_frontier_load) whenever the store's cached head
 * is, i.e. at every transaction and after every rollback. Roots and
 * proofs are computed from the stored nodes alone (O(log n) reads).
 *
 * A tree head is (size, root, timestamp_ms, broker_key) signed by the
 * broker's Ed25519 signing key over keten/tree-head/v1; heads are kept
 * in the store's tree_head table and the latest one also in the head
 * file outside the store (tree_head_file), which ketend checks at start.
 */
#ifndef KETEND_AUDIT_LOG_H
#define KETEND_AUDIT_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "audit.h"
#include "keten.h"
#include "merkle.h"
#include "store.h"

/* Appends e's leaf to f and stores every node that completes
 * (store_audit_node_put). For store backends, inside store_audit_append's
 * transaction; e->seq must be f->size + 1. 0, or -1 (f unchanged). */
int audit_log_append(store_t *s, merkle_frontier_t *f, const audit_entry_t *e);

/* The frontier of the tree of the first size entries, from audit_node.
 * 0, or -1 (a node missing: the table does not match the log). */
int audit_log_frontier_load(store_t *s, uint64_t size, merkle_frontier_t *f);

/* Recomputes audit_node from the audit entries (deleting what was there):
 * migration 6's backfill, and the repair tool of a test. Inside a
 * transaction. 0, or -1. */
int audit_log_rebuild(store_t *s);

/* The root of the tree of the first size entries, from audit_node. 0, or
 * -1 (size beyond what the nodes cover). */
int audit_log_root(store_t *s, uint64_t size, uint8_t out[32]);

/* The inclusion proof of entry seq (1..size) in the tree of size into
 * proof (MERKLE_MAX_PROOF hashes of room), its count into *n. 0, or -1. */
int audit_log_inclusion(store_t *s, uint64_t seq, uint64_t size,
                        uint8_t proof[MERKLE_PROOF_BYTES], size_t *n);

/* The consistency proof from old_size to new_size (old_size <= new_size).
 * 0, or -1. */
int audit_log_consistency(store_t *s, uint64_t old_size, uint64_t new_size,
                          uint8_t proof[MERKLE_PROOF_BYTES], size_t *n);

/* Converts between the store's and libketen's form of a head. */
void audit_log_head_to_keten(const store_tree_head_t *in, keten_tree_head_t *out);
void audit_log_head_from_keten(const keten_tree_head_t *in, store_tree_head_t *out);

/* Signs a head of the log as it is in the open transaction (size: the
 * newest seq, root from audit_node, timestamp now_ms) with the broker's
 * signing key sk (pk its public half) and stores it in tree_head
 * (replacing a head of the same size). *out gets it. 0, or -1. */
int audit_log_sign_head(store_t *s, const uint8_t sk[64], const uint8_t pk[32],
                        int64_t now_ms, store_tree_head_t *out);

/* 0 if h is a head of this store's log: signed by one of the n_keys
 * 32-byte keys at keys (h->broker_key is one of them and the signature
 * verifies), h->size not beyond the log, and h->root the root of the
 * stored tree at h->size. -1 with the reason in err otherwise. */
int audit_log_check_head(store_t *s, const store_tree_head_t *h,
                         const uint8_t *keys, size_t n_keys, char *err,
                         size_t errlen);

/* ketend's start-up check (docs/protocol.md 10.6.4): the store's latest
 * head and the head file's head (head_file; missing is allowed) must
 * both be heads of this log (audit_log_check_head). *file_missing is set
 * to 1 when the head file does not exist although the store holds heads
 * (the caller warns and writes it). 0, or -1 with the reason in err. */
int audit_log_start_check(store_t *s, const char *head_file,
                          const uint8_t *keys, size_t n_keys,
                          int *file_missing, char *err, size_t errlen);

#endif
