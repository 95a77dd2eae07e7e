#!/usr/bin/env bash
# The manual pages say what the programs do: each page formats without a
# groff warning, and names everything it must:
#   keten(1)    every command of `keten --help`;
#   ketend(8)   every long option of `ketend --help` and every setting of
#               etc/ketend.conf.example;
#   libketen(3) every function keten.h declares;
#   keten-adapter(8) every long option of `keten-adapter-coa --help` and
#               every setting of the four etc/adapter-*.conf.example.
# usage: test_man.sh SOURCE_DIR KETEN KETEND KETEN_ADAPTER_COA
set -euo pipefail
src="$1" keten="$2" ketend="$3" adapter="$4"
fail=0
bad() { echo "test_man: $*" >&2; fail=1; }

for page in man/keten.1 man/ketend.8 man/libketen.3 man/keten-adapter.8; do
  w="$(groff -man -ww -z "$src/$page" 2>&1)" || true
  [ -z "$w" ] || bad "$page: groff warnings: $w"
done
# the text of a page as a reader sees it (no roff escapes)
# (long lines and no hyphenation, so that no name is broken across lines)
text() { groff -man -rLL=2000n -rHY=0 -Tutf8 -P-cbou "$src/$1" 2>/dev/null | sed 's/\xe2\x80\x90/-/g'; }
k1="$(text man/keten.1)" d8="$(text man/ketend.8)" l3="$(text man/libketen.3)"
a8="$(text man/keten-adapter.8)"

cmds="$("$keten" --help 2>&1 | sed -n '/^commands:/,/^$/p' | awk '/^  [a-z]/{print $1}')"
[ -n "$cmds" ] || bad "no commands in keten --help"
for c in $cmds; do
  grep -q "^ *$c\$" <<<"$k1" || grep -qE "^   $c\b" <<<"$k1" || bad "keten.1 has no section for '$c'"
done
for o in $("$ketend" --help 2>&1 | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
  grep -q -- "$o" <<<"$d8" || bad "ketend.8 does not name $o"
done
for k in $(grep -oE '^#? ?[a-z_]+ =' "$src/etc/ketend.conf.example" | tr -d '# =' | sort -u); do
  grep -qw "$k" <<<"$d8" || bad "ketend.8 does not name the setting $k"
done
for f in $(grep -oE '\bketen_[a-z0-9_]+\(' "$src/clients/libketen/keten.h" | tr -d '(' | sort -u); do
  grep -qw "$f" <<<"$l3" || bad "libketen.3 does not name $f()"
done
for o in $("$adapter" --help 2>&1 | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
  grep -q -- "$o" <<<"$a8" || bad "keten-adapter.8 does not name $o"
done
for k in $(cat "$src"/etc/adapter-*.conf.example | grep -oE '^#? ?[a-z_]+ =' | tr -d '# =' | sort -u); do
  grep -qw "$k" <<<"$a8" || bad "keten-adapter.8 does not name the setting $k"
done
[ "$fail" -eq 0 ] && echo "test_man: keten.1, ketend.8, libketen.3 and keten-adapter.8 are complete and format cleanly"
exit "$fail"
