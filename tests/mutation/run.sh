#!/usr/bin/env bash
# Mutation test of the consent rule and the policy table.
#
# Usage: run.sh CC BUILD_DIR SRC_DIR
#
# Compiles tests/unit/test_consent.c and tests/unit/test_policy.c against
# the pure modules broker/consent.c and proto/policy.c directly with CC
# (no CMake; consent.c also needs proto/tvs.c for the reserved recipient
# "@gemeente", which is linked unmutated with what it needs: canon.c,
# entry.c, enums.c, roles.c and the generated keten.pb-c.c, against
# libprotobuf-c and libsodium), first unmutated (they must pass), then
# against deliberately
# broken copies, one mutation each: every mutant must make its test fail.
# consent.c mutants are run against test_consent; policy.c mutants against
# test_policy (which must catch them), and test_consent's verdict on them
# is reported too. Prints one line per mutant and exits non-zero if a
# mutant survived, a mutation did not apply, or the baseline fails.
set -euo pipefail

if [ $# -ne 3 ]; then
  echo "usage: $0 CC BUILD_DIR SRC_DIR" >&2
  exit 2
fi
CC=$1
BUILD=$2
SRC=$3

for f in "$SRC/broker/consent.c" "$SRC/broker/consent.h" \
         "$SRC/proto/policy.c" "$SRC/proto/policy.h" \
         "$SRC/tests/unit/test_consent.c" "$SRC/tests/unit/test_policy.c" \
         "$SRC/proto/tvs.c" "$SRC/proto/tvs.h" \
         "$BUILD/proto/keten.pb-c.h" "$BUILD/proto/keten.pb-c.c"; do
  if [ ! -f "$f" ]; then
    echo "mutation: missing $f (build the proto target first)" >&2
    exit 2
  fi
done
command -v perl >/dev/null || { echo "mutation: perl is required" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/keten-mutation.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# consent.h includes participant.h, which includes keten.pb-c.h, which
# includes <protobuf-c/protobuf-c.h>. The modules under test use only its
# enum constants; tvs.c (which consent.c calls) and its companions need
# libprotobuf-c and libsodium, so test_consent links them.
read -r -a PKG_CFLAGS <<<"$(pkg-config --cflags cmocka libprotobuf-c libsodium)"
read -r -a PKG_LIBS <<<"$(pkg-config --libs cmocka)"
read -r -a WIRE_LIBS <<<"$(pkg-config --libs libprotobuf-c libsodium)"
CFLAGS=(-std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -O1 -g0
        -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
        -I"$SRC/broker" -I"$SRC/proto" -I"$BUILD/proto" "${PKG_CFLAGS[@]}")

die() {
  echo "mutation: $*" >&2
  exit 2
}

# compile OUT SRC [EXTRA_CFLAGS...]: one object. A mutant that does not
# compile is a bug of this script, not a caught mutant.
compile() {
  local out=$1 src=$2
  shift 2
  if ! "$CC" "${CFLAGS[@]}" "$@" -c "$src" -o "$out" >"$out.log" 2>&1; then
    cat "$out.log" >&2
    die "$src does not compile"
  fi
}

# build DIR TEST: DIR/TEST from the test's object (compiled once, in the
# baseline) and DIR's copies of the modules.
build() {
  local dir=$1 test=$2
  [ -f "$dir/policy.o" ] || compile "$dir/policy.o" "$dir/policy.c"
  local objs=("$tmp/base/$test.o" "$dir/policy.o")
  local libs=("${PKG_LIBS[@]}")
  if [ "$test" = test_consent ]; then
    [ -f "$dir/consent.o" ] || compile "$dir/consent.o" "$dir/consent.c"
    objs+=("$dir/consent.o" "${WIRE_OBJS[@]}")
    libs+=("${WIRE_LIBS[@]}")
  fi
  if ! "$CC" "${objs[@]}" -o "$dir/$test" "${libs[@]}" \
       >"$dir/$test.link.log" 2>&1; then
    cat "$dir/$test.link.log" >&2
    die "$test does not link in $dir"
  fi
}

# run DIR TEST: 0 if the test passes.
run() {
  local dir=$1 test=$2
  timeout 120 "$dir/$test" >"$dir/$test.log" 2>&1
}

# What consent.c calls outside the rule (tvs_is_linked_recipient) and
# what that needs, never mutated: compiled once.
mkdir "$tmp/wire"
WIRE_OBJS=()
for src in "$SRC/proto/tvs.c" "$SRC/proto/canon.c" "$SRC/proto/entry.c" \
           "$SRC/proto/enums.c" "$SRC/proto/roles.c" \
           "$BUILD/proto/keten.pb-c.c"; do
  obj="$tmp/wire/$(basename "$src" .c).o"
  compile "$obj" "$src"
  WIRE_OBJS+=("$obj")
done

# The baseline: the unmutated sources, built as strictly as CMake does.
mkdir "$tmp/base"
cp "$SRC/broker/consent.c" "$SRC/proto/policy.c" "$tmp/base/"
compile "$tmp/base/policy.o" "$tmp/base/policy.c" -Werror
compile "$tmp/base/consent.o" "$tmp/base/consent.c" -Werror
for t in test_consent test_policy; do
  compile "$tmp/base/$t.o" "$SRC/tests/unit/$t.c" -Werror
  build "$tmp/base" "$t"
  if ! run "$tmp/base" "$t"; then
    cat "$tmp/base/$t.log" >&2
    die "baseline: $t fails on the unmutated sources"
  fi
done
echo "baseline  test_consent and test_policy pass on the unmutated sources"

total=0
survived=0

# mutant FILE NAME FROM TO: replaces the one occurrence of FROM in FILE
# (consent.c or policy.c) by TO, builds and runs the tests.
mutant() {
  local file=$1 name=$2 from=$3 to=$4
  local dir="$tmp/$name"
  [ ! -e "$dir" ] || die "two mutants named $name"
  mkdir "$dir"
  cp "$tmp/base/consent.c" "$tmp/base/policy.c" "$dir/"
  if ! FROM=$from TO=$to perl -0777 -i -pe '
        BEGIN { $f = $ENV{FROM}; $t = $ENV{TO} }
        my $n = () = /\Q$f\E/g;
        die "pattern found $n times, not once\n" unless $n == 1;
        s/\Q$f\E/$t/;' "$dir/$file"; then
    die "mutant $name: the pattern does not match $file exactly once: $from"
  fi
  if cmp -s "$dir/$file" "$tmp/base/$file"; then
    die "mutant $name: $file is unchanged"
  fi
  total=$((total + 1))
  local test also=""
  case $file in
  consent.c) test=test_consent ;;
  policy.c)
    test=test_policy
    build "$dir" test_consent
    if run "$dir" test_consent; then
      also="; test_consent passes"
    else
      also="; test_consent fails too"
    fi
    ;;
  *) die "mutant $name: no test for $file" ;;
  esac
  build "$dir" "$test"
  local rc=0
  run "$dir" "$test" || rc=$?
  if [ "$rc" -eq 0 ]; then
    survived=$((survived + 1))
    printf 'SURVIVED  %-10s %-28s (%s passes%s)\n' "$file" "$name" "$test" "$also"
  else
    local how="fails"
    [ "$rc" -eq 124 ] && how="times out"
    [ "$rc" -gt 128 ] && [ "$rc" -ne 124 ] && how="crashes (rc $rc)"
    printf 'caught    %-10s %-28s (%s %s%s)\n' "$file" "$name" "$test" "$how" "$also"
  fi
}

NL=$'\n'

# ---- broker/consent.c: the consent rule ------------------------------------
mutant consent.c no-recorder-check \
  'strcmp(c->recorded_by, q->author) != 0)' '0)'
mutant consent.c no-recipient-check \
  '!consent_names(c, q->participant, q->linked_gemeente) ||' '0 ||'
mutant consent.c no-subject-check \
  'memcmp(c->subject, q->subject, CONSENT_SUBJECT_BYTES) != 0 ||' '0 ||'
mutant consent.c active-until-inclusive \
  'now_ms < c->valid_until_ms' 'now_ms <= c->valid_until_ms'
mutant consent.c allows-until-inclusive \
  'q->now_ms >= c->valid_until_ms' 'q->now_ms > c->valid_until_ms'
mutant consent.c active-from-exclusive \
  'c->valid_from_ms <= now_ms' 'c->valid_from_ms < now_ms'
mutant consent.c active-ignores-revoked \
  'return !c->revoked && ' 'return '
mutant consent.c allows-ignores-revoked \
  'const char *miss = c->revoked ' 'const char *miss = 0 '
mutant consent.c skip-policy \
  'policy_rule_t rule = policy_may_disclose(' \
  'policy_rule_t rule = POLICY_OK; (void)policy_may_disclose('
mutant consent.c author-prefix-match \
  'strcmp(q->participant, q->author) == 0' \
  'strncmp(q->participant, q->author, 8) == 0'
mutant consent.c kind-bound-off-by-one \
  'q->kind >= 64' 'q->kind > 64'
mutant consent.c policy-reason-outranked \
  'if (rank < 3) {' 'if (rank < 2) {'
mutant consent.c section-reason-outranks \
  'if (rank < 1) {' 'if (rank < 3) {'
mutant consent.c names-first-consent \
  'd.consent = c;' 'd.consent = list;'

# consent_names: "@gemeente" names exactly the subject's linked gemeente
mutant consent.c direct-match-removed \
  "if (strcmp(c->recipient, participant) == 0)${NL}    return 1;${NL}" ''
mutant consent.c linked-allows-anyone \
  "tvs_is_linked_recipient(c->recipient) && linked_gemeente &&${NL}         strcmp(linked_gemeente, participant) == 0;" \
  'tvs_is_linked_recipient(c->recipient);'
mutant consent.c linked-ignores-equality \
  "&& linked_gemeente &&${NL}         strcmp(linked_gemeente, participant) == 0;" \
  '&& linked_gemeente;'
mutant consent.c linked-prefix-match \
  'strcmp(linked_gemeente, participant) == 0' \
  'strncmp(linked_gemeente, participant, 9) == 0'
mutant consent.c linked-never-allows \
  'strcmp(linked_gemeente, participant) == 0' '0'
mutant consent.c linked-any-recipient \
  'return tvs_is_linked_recipient(c->recipient) && ' 'return '
mutant consent.c linked-null-unchecked \
  '&& linked_gemeente &&' '&&'
mutant consent.c linked-is-participant \
  'consent_names(c, q->participant, q->linked_gemeente)' \
  'consent_names(c, q->participant, q->participant)'
mutant consent.c linked-query-ignored \
  'consent_names(c, q->participant, q->linked_gemeente)' \
  'consent_names(c, q->participant, NULL)'

# ---- proto/policy.c: the policy table --------------------------------------
mutant policy.c r8-health-to-volunteer \
  'if (recipient_role == KETEN__ROLE__ROLE_VOLUNTEER)' \
  'if (recipient_role == KETEN__ROLE__ROLE_VOLUNTEER && kind != KETEN__SECTION_KIND__SECTION_HEALTH)'
mutant policy.c r9-always-ok \
  '(basis == KETEN__BASIS__BASIS_LEGAL_DUTY && has_legal_reference)' \
  '(basis == KETEN__BASIS__BASIS_LEGAL_DUTY)'
mutant policy.c widen-author-volunteer \
  '{KETEN__ROLE__ROLE_VOLUNTEER, K(SUPPORT)}' \
  '{KETEN__ROLE__ROLE_VOLUNTEER, K(SUPPORT) | K(STORY)}'
mutant policy.c narrow-author-gemeente \
  'K(HOUSING) | K(PARTICIPATION)},' 'K(HOUSING)},'
mutant policy.c widen-purpose-kinds \
  '{KETEN__PURPOSE__PURPOSE_HUISVESTING, K(IDENTITY) | K(HOUSEHOLD) | K(HOUSING),' \
  '{KETEN__PURPOSE__PURPOSE_HUISVESTING, K(IDENTITY) | K(HOUSEHOLD) | K(HOUSING) | K(WORK),'
mutant policy.c widen-purpose-roles \
  'R(CARE) | R(GEMEENTE) | R(COA)},' \
  'R(CARE) | R(GEMEENTE) | R(COA) | R(VOLUNTEER)},'
mutant policy.c no-r2 \
  'if (!(RECORDING_ROLES & (UINT32_C(1) << recorder_role)))' 'if (0)'
mutant policy.c no-r3-disclose \
  "if (!(RECEIVING_ROLES & (UINT32_C(1) << recipient_role)))${NL}    return POLICY_R3_RECIPIENT_ROLE;${NL}  size_t i;" \
  "if (0)${NL}    return POLICY_R3_RECIPIENT_ROLE;${NL}  size_t i;"
mutant policy.c no-r3-record \
  "return POLICY_R4_SELF;${NL}  if (!(RECEIVING_ROLES & (UINT32_C(1) << recipient_role)))" \
  "return POLICY_R4_SELF;${NL}  if (0)"
mutant policy.c no-r4 \
  'if (self)' 'if (0)'
mutant policy.c no-r5 \
  ': POLICY_R5_RECORDER_KIND;' \
  ': policy_may_disclose(kind, recipient_role, purpose, basis, has_legal_reference);'
mutant policy.c r6-reported-as-r7 \
  "if (!(s_purposes[i].kinds & bit))${NL}    return POLICY_R6_PURPOSE_KIND;" \
  "if (!(s_purposes[i].kinds & bit))${NL}    return POLICY_R7_PURPOSE_ROLE;"
mutant policy.c special-kind-swapped \
  '#define SPECIAL_KINDS (K(HEALTH) | K(CARE))' \
  '#define SPECIAL_KINDS (K(HEALTH) | K(SUPPORT))'
mutant policy.c unknown-basis-accepted \
  "(basis != KETEN__BASIS__BASIS_CONSENT &&${NL}       basis != KETEN__BASIS__BASIS_LEGAL_DUTY)" \
  '0'
mutant policy.c all-kinds-without-care \
  'K(SUPPORT) | K(CARE))' 'K(SUPPORT))'
mutant policy.c bad-kind-last-not-first \
  'for (int kind = 1; kind < 64; kind++) {' \
  'for (int kind = 63; kind > 0; kind--) {'
mutant policy.c rule-id-swapped \
  '[POLICY_R8_SPECIAL_VOLUNTEER] = {"R8",' '[POLICY_R8_SPECIAL_VOLUNTEER] = {"R9",'
mutant policy.c counter-is-gemeente \
  'return role == KETEN__ROLE__ROLE_COA;' 'return role == KETEN__ROLE__ROLE_GEMEENTE;'

echo "mutants: $total, caught: $((total - survived)), survived: $survived"
[ "$survived" -eq 0 ]
