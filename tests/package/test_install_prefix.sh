#!/usr/bin/env bash
# `cmake --install BUILD --prefix X` gives a tree that is right for X, not
# for the configure-time prefix: libketen.pc finds X's keten.h and
# libketen.so (a program compiles, links and runs against them), the unit
# starts X's ketend with X's ketend.conf, and the configuration, the
# manual pages and the report catalogs are under X.
# usage: test_install_prefix.sh BUILD_DIR
set -euo pipefail
build="$1"
x="$(mktemp -d "${TMPDIR:-/tmp}/keten-prefix-XXXXXX")"
trap 'rm -rf "$x"' EXIT
fail() { echo "test_install_prefix: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$x/p" >/dev/null
libdir="$(sed -n 's/^CMAKE_INSTALL_LIBDIR:[A-Z]*=//p' "$build/CMakeCache.txt")"
[ -n "$libdir" ] || libdir=lib
pc="$x/p/$libdir/pkgconfig/libketen.pc"
[ -f "$pc" ] || fail "no $pc"
export PKG_CONFIG_PATH="$x/p/$libdir/pkgconfig"
inc="$(readlink -f "$(pkg-config --variable=includedir libketen)")"
lib="$(readlink -f "$(pkg-config --variable=libdir libketen)")"
[ "$inc" = "$(readlink -f "$x/p/include")" ] || fail "pkg-config includedir is $inc, not under the prefix"
[ "$lib" = "$(readlink -f "$x/p/$libdir")" ] || fail "pkg-config libdir is $lib, not under the prefix"
[ -f "$inc/keten.h" ] || fail "no keten.h in $inc"
cat >"$x/v.c" <<'C'
#include <keten.h>
#include <stdio.h>
#include <string.h>
int main(void) {
  printf("%s\n", keten_version());
  return strcmp(keten_version(), KETEN_VERSION_STRING) != 0;
}
C
# A sanitizer build's libketen needs the program built with the sanitizers
# too (ASan's runtime must come first).
san=""
if grep -q '^KETEN_SANITIZE:BOOL=ON' "$build/CMakeCache.txt"; then
  san="-fsanitize=address,undefined"
fi
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror $san -o "$x/v" "$x/v.c" $(pkg-config --cflags --libs libketen) ||
  fail "a program does not build against the installed libketen"
LD_LIBRARY_PATH="$lib" "$x/v" >/dev/null || fail "the program does not run against the installed libketen"
# the linker found the installed library, not another one
# (ldd's output read whole: grep -q would end the pipe early, and with
# pipefail ldd's SIGPIPE would count as a failure)
deps="$(LD_LIBRARY_PATH="$lib" ldd "$x/v")"
grep -q "$lib/libketen.so" <<<"$deps" || fail "not linked to $lib/libketen.so: $deps"

unit="$x/p/lib/systemd/system/ketend.service"
[ -f "$unit" ] || fail "no $unit"
grep -qx "ExecStart=$x/p/sbin/ketend --config $x/p/etc/keten/ketend.conf" "$unit" ||
  fail "the unit does not start $x/p/sbin/ketend: $(grep ^ExecStart= "$unit")"
grep -qx "ConditionPathExists=$x/p/etc/keten/broker.key" "$unit" || fail "the unit's condition is not under the prefix"
aunit="$x/p/lib/systemd/system/keten-adapter@.service"
grep -qx "ExecStart=$x/p/bin/keten-adapter-%i --config $x/p/etc/keten-adapter/adapter-%i.conf" "$aunit" ||
  fail "the adapters' unit does not start $x/p/bin/keten-adapter-%i: $(grep ^ExecStart= "$aunit")"
[ -x "$x/p/sbin/ketend" ] && [ -x "$x/p/bin/keten" ] || fail "ketend or keten missing"
for k in coa gemeente volunteer care; do
  [ -x "$x/p/bin/keten-adapter-$k" ] || fail "keten-adapter-$k missing"
done
for f in etc/keten/ketend.conf.example share/man/man8/ketend.8 share/man/man1/keten.1 \
         share/man/man3/libketen.3 share/keten/report/nl.json lib/sysusers.d/keten.conf \
         lib/tmpfiles.d/keten.conf share/man/man8/keten-adapter.8 \
         share/keten/schemas/sections-v1.json share/doc/libketen-dev/examples/consumer.c \
         share/doc/keten-adapters/examples/adapter-coa.conf.example; do
  [ -f "$x/p/$f" ] || fail "no $f under the prefix"
done
# text files (the unit, libketen.pc, the configuration) name the install,
# never the build or source tree
build_abs="$(cd "$build" && pwd)"
src_abs="$(sed -n 's/^CMAKE_HOME_DIRECTORY:[A-Z]*=//p' "$build/CMakeCache.txt")"
for f in "$unit" "$aunit" "$pc" "$x/p/etc/keten/ketend.conf.example"; do
  if grep -n -e "$build_abs" -e "$src_abs" "$f"; then
    fail "$f names the build or source tree (above)"
  fi
done
echo "test_install_prefix: an install into $x/p is right for that prefix"
