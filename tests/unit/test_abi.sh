#!/usr/bin/env bash
# test_abi — libketen.so exports exactly the functions keten.h declares:
# nothing more (no protobuf-c keten__* symbols, no internal helper), nothing
# less (every declared function is there). Issue 11, item 1.
#
# usage: test_abi.sh LIBKETEN_SO KETEN_H [CC]
set -euo pipefail
so=$1 header=$2 cc=${3:-cc}
[ -f "$so" ] || { echo "no library at $so" >&2; exit 1; }
[ -f "$header" ] || { echo "no header at $header" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Exported: the dynamic symbols the library defines, without the version
# node itself (KETEN_0, an absolute symbol of the version script).
nm -D --defined-only "$so" | awk '$2 != "A" { print $3 }' | sed 's/@.*//' |
  sort -u >"$tmp/exported"
# Every exported symbol must be a function (T), not data.
if nm -D --defined-only "$so" | awk '$2 != "A" && $2 != "T" { found = 1; print } END { exit !found }' >"$tmp/notfunc"; then
  echo "exported symbols that are not functions:" >&2
  cat "$tmp/notfunc" >&2
  exit 1
fi

# Declared: the header without comments (the preprocessor removes them;
# -fpreprocessed leaves the macros alone), then every identifier that is
# followed by "(": function declarations. Function pointer typedefs read
# "(*keten_x_fn)(" and are not matched (a ")" follows the name).
"$cc" -fpreprocessed -dD -E -P -x c "$header" >"$tmp/header.i"
grep -oE '\bketen_[a-z0-9_]+[[:space:]]*\(' "$tmp/header.i" |
  sed -E 's/[[:space:]]*\($//' | sort -u >"$tmp/declared"

n_exp=$(wc -l <"$tmp/exported")
n_dec=$(wc -l <"$tmp/declared")
echo "exported: $n_exp symbols; declared in keten.h: $n_dec functions"
# Sanity: the parse found the header's functions at all.
if [ "$n_dec" -lt 50 ] || ! grep -qx keten_client_new "$tmp/declared"; then
  echo "parsing $header found only $n_dec functions" >&2
  exit 1
fi
if ! diff -u "$tmp/declared" "$tmp/exported" >"$tmp/diff"; then
  echo "FAIL: the exported set differs from keten.h's functions" >&2
  echo "  - declared but not exported / + exported but not declared:" >&2
  grep -E '^[-+][^-+]' "$tmp/diff" >&2
  exit 1
fi
echo "ok: libketen.so exports exactly the $n_dec functions of keten.h"
