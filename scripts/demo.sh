#!/usr/bin/env bash
# Installs what is needed, builds keten, and runs ketend on the embedded
# SQLite store with a demo chain: a chain root key that signs the registry
# entries of COA, a gemeente, a volunteer organisation, a care partner and
# the TVS, each with its own generated keys, each pinging through the
# broker; a stranger's key being refused; COA's sealed intake sections and
# its consent for "the linked gemeente", given before any koppeling; the
# gemeente's listen running; the TVS publishing the taakstelling and the
# KOPPELING; COA's listen serving the rewraps so that the profile is in the
# gemeente's inbox at once; the volunteer refused without consent; the
# consent revoked and the gemeente's listen deleting its copies; the TVS
# figures; the person's access report; the audit chain.
#
#   scripts/demo.sh          run the demo, then keep ketend serving (Ctrl-C stops it)
#   scripts/demo.sh --once   run the demo and stop
#
# Environment: KETEN_DEMO_DIR (default ./demo), KETEN_DEMO_PORT (default 7600),
# KETEN_BUILD_DIR (use an existing build instead of building ./build).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

once=0
[ "${1:-}" = "--once" ] && once=1

if [ -z "${KETEN_BUILD_DIR:-}" ]; then
  bash scripts/install-deps.sh
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build -j"$(nproc)" --target ketend keten
  build="$top/build"
else
  build="$KETEN_BUILD_DIR"
fi
ketend="$build/broker/ketend"
keten="$build/clients/keten/keten"

dir="${KETEN_DEMO_DIR:-$top/demo}"
port="${KETEN_DEMO_PORT:-7600}"
rm -rf "$dir"
mkdir -p "$dir/keys"
endpoint="tcp://127.0.0.1:$port"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "the chain root key, offline at the beheerder's (keten root keygen)"
mkdir -p "$dir/offline"
"$keten" root keygen --out "$dir/offline"
cp "$dir/offline/root.pub" "$dir/keys/root.pub"

say "keys for the broker, four partners and the TVS (keten keygen)"
for id in broker coa gemeente:0716 vwn:zeeland ggz:zeeland tvs stranger; do
  "$keten" keygen --id "$id" --out "$dir/keys" >/dev/null
done
ls -l "$dir/keys"

say "registry entries, signed by the chain root (keten root entry / sign)"
entry() { # id role name keyfile
  "$keten" root entry --id "$1" --role "$2" --name "$3" \
    --keys "$dir/keys/$4.pub" --out "$dir/offline/$4.entry" >/dev/null
  "$keten" root sign --root-key "$dir/offline/root.key" "$dir/offline/$4.entry"
}
entry coa COA "Centraal Orgaan opvang asielzoekers" coa
entry gemeente:0716 GEMEENTE "Gemeente Tholen" gemeente_0716
entry vwn:zeeland VOLUNTEER "VluchtelingenWerk Zeeland" vwn_zeeland
entry ggz:zeeland CARE "GGZ Zeeland (fictief)" ggz_zeeland
entry tvs TVS "Taakstelling-volgsysteem (COA)" tvs
echo "the phone check: the partner reads its fingerprint, the operator compares"
"$keten" fingerprint "$dir/keys/coa.pub" "$dir/offline/coa.signed"

say "registry (keten admin participant add: root-signed entries only)"
store="$dir/keten.db"
for key in coa gemeente_0716 vwn_zeeland ggz_zeeland tvs; do
  "$keten" admin participant add --store "$store" --root-key "$dir/keys/root.pub" \
    --entry "$dir/offline/$key.signed" | head -n 1
done
echo "an entry the root did not sign is refused:"
"$keten" root entry --id stranger --role VOLUNTEER --name "Stranger" \
  --keys "$dir/keys/stranger.pub" --out "$dir/offline/stranger.entry" >/dev/null
set +e
"$keten" admin participant add --store "$store" --root-key "$dir/keys/root.pub" \
  --entry "$dir/offline/stranger.entry"
rc=$?
set -e
[ "$rc" -eq 1 ] || { echo "demo: an unsigned entry was installed" >&2; exit 1; }
"$keten" admin participant list --store "$store"

say "ketend on $endpoint and ipc://$dir/ketend.sock"
"$ketend" --endpoint "$endpoint" --endpoint "ipc://$dir/ketend.sock" \
  --key-file "$dir/keys/broker.key" --root-key "$dir/keys/root.pub" --store "$store" \
  --pid-file "$dir/ketend.pid" 2>"$dir/ketend.log" &
pid=$!
listen_pid=""
cleanup() {
  if [ -n "$listen_pid" ]; then
    kill "$listen_pid" 2>/dev/null || true
    wait "$listen_pid" 2>/dev/null || true
  fi
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 100); do
  grep -q "broker: ready" "$dir/ketend.log" 2>/dev/null && break
  if ! kill -0 "$pid" 2>/dev/null; then cat "$dir/ketend.log"; exit 1; fi
  sleep 0.05
done

export KETEN_ROOT_KEY="$dir/keys/root.pub"
say "each partner pings through the broker (keten ping)"
for key in coa gemeente_0716 vwn_zeeland ggz_zeeland tvs; do
  "$keten" ping --endpoint "$endpoint" --keys "$dir/keys/$key.key" \
    --broker-key "$dir/keys/broker.pub" --count 2 --size 1024
done
"$keten" ping --endpoint "ipc://$dir/ketend.sock" --keys "$dir/keys/coa.key" \
  --broker-key "$dir/keys/broker.pub"

say "an unregistered key is refused at the CURVE handshake"
set +e
"$keten" ping --endpoint "$endpoint" --keys "$dir/keys/stranger.key" \
  --broker-key "$dir/keys/broker.pub" --timeout 2000
rc=$?
set -e
echo "keten ping exited with $rc (3 = no connection)"
[ "$rc" -eq 3 ] || { echo "demo: the stranger was not refused" >&2; exit 1; }

say "COA records the intake: the person's consents, then the sealed sections"
export KETEN_ENDPOINT="$endpoint" KETEN_BROKER_KEY="$dir/keys/broker.pub"
export KETEN_CHAIN_KEY="$dir/keys/chain.key"
data="$top/scripts/demo-data"
"$keten" chainkey --out "$KETEN_CHAIN_KEY"
vnr=2931847560   # fictional V-nummer of the example person, Amira
echo "subject pseudonym of V-nummer $vnr: $("$keten" subject "$vnr")"
as() { local who=$1; shift; KETEN_KEYS="$dir/keys/$who.key" "$keten" "$@"; }
echo "COA records the person's consents (signed); the gemeente is not known yet,"
echo "so the first names \"the gemeente she will be linked to\" (@gemeente):"
gemeente_consent=$(as coa consent grant "$vnr" --linked-gemeente \
  --purpose INBURGERING --sections IDENTITY,HOUSEHOLD,STORY,EDUCATION,WORK,LANGUAGE,HOUSING \
  --evidence coa-form-2026-0611-17 --days 730)
echo "$gemeente_consent"
as coa consent grant "$vnr" --to ggz:zeeland --purpose ZORG \
  --sections IDENTITY,STORY,HEALTH --evidence coa-form-2026-0611-18
as coa consent list "$vnr"
echo "COA seals and stores its intake sections (no gemeente to seal to yet):"
for kind in IDENTITY HOUSEHOLD STORY EDUCATION WORK LANGUAGE HOUSING HEALTH; do
  lower=$(echo "$kind" | tr 'A-Z' 'a-z')
  as coa put "$vnr" "$kind" "$data/coa-$lower.json"
done

say "the gemeente's adapter: keten listen --dir, running"
inbox="$dir/inbox-gemeente"
mkdir -p "$inbox"
KETEN_KEYS="$dir/keys/gemeente_0716.key" "$keten" listen --dir "$inbox" \
  >"$dir/listen-gemeente.log" 2>&1 &
listen_pid=$!
echo "keten listen --dir $inbox (pid $listen_pid)"
n_sections() { find "$inbox" -maxdepth 1 -name '*-v[0-9]*.json' | wc -l; }
wait_sections() { # N: until the inbox holds N section files (10 s at most)
  for _ in $(seq 200); do
    [ "$(n_sections)" -eq "$1" ] && return 0
    kill -0 "$listen_pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "demo: the gemeente's inbox holds $(n_sections) section file(s), not $1" >&2
  cat "$dir/listen-gemeente.log" >&2
  exit 1
}

say "the TVS feed: the taakstelling, then the KOPPELING (keten tvs publish)"
as tvs tvs publish TAAKSTELLING --gemeente gemeente:0716 --period 2026-2 \
  --target 42 --realised 17
echo "the koppeling, from the TVS export (scripts/demo-data/tvs-koppeling.json):"
cat "$data/tvs-koppeling.json"
published=$(as tvs tvs publish --file "$data/tvs-koppeling.json")
echo "$published"
event_id=$(echo "$published" | sed -n 's/.* event \([0-9a-f]\{32\}\) .*/\1/p')
published_at=$(echo "$published" | sed -n 's/.*(published_at_ms \([0-9]*\)).*/\1/p')
echo "the same event again (a retry after a lost answer) changes nothing:"
again=$(as tvs tvs publish KOPPELING --subject "$vnr" --gemeente gemeente:0716 --period 2026-2 \
  --date 2026-07-01 --household 3 --event-id "$event_id" --published-at "$published_at")
echo "$again"
case "$again" in duplicate:*) ;; *) echo "demo: the retry was not a duplicate" >&2; exit 1 ;; esac
echo "a second KOPPELING of the same person is refused (one link at a time):"
set +e
as tvs tvs publish KOPPELING --subject "$vnr" --gemeente gemeente:0716 \
  --period 2026-2 --household 3 --date 2026-07-02
rc=$?
set -e
[ "$rc" -eq 1 ] || { echo "demo: a second koppeling was accepted" >&2; exit 1; }

say "COA's listen serves the rewrap requests: it checks the koppeling, seals to the gemeente"
as coa listen --idle 1000 2>&1 | tee "$dir/listen-coa.log"
[ "$(grep -c '^rewrap: sealed' "$dir/listen-coa.log")" -eq 7 ] ||
  { echo "demo: COA did not seal the 7 sections to the gemeente" >&2; exit 1; }

say "the gemeente's inbox: the profile is there the moment she is linked"
wait_sections 7
ls "$inbox"
for f in "$inbox"/*-v[0-9]*.json "$inbox"/tvs-*.json; do
  echo "--- $(basename "$f")"
  cat "$f"
  echo
done
echo "the gemeente fetches the profile (never HEALTH: no consent for it):"
as gemeente_0716 fetch "$vnr" | grep -E '"(kind|author|version)"'
echo "the gemeente's koppelingen and figures (keten tvs list / status):"
as gemeente_0716 tvs list
as gemeente_0716 tvs status --period 2026-2
echo "she is housed in Tholen (HUISVESTING counts toward the realisatie):"
as tvs tvs publish HUISVESTING --subject "$vnr" --gemeente gemeente:0716 --date 2026-09-15

say "a partner without consent is refused"
echo "COA cannot open HEALTH to the volunteer, whatever is asked (policy R8):"
set +e
as coa consent grant "$vnr" --to vwn:zeeland --purpose ZORG \
  --sections HEALTH --evidence coa-form-2026-0611-19
rc=$?
set -e
[ "$rc" -eq 1 ] || { echo "demo: HEALTH was opened to a volunteer" >&2; exit 1; }
echo "the volunteer has no consent: its fetch is refused and audited"
set +e
as vwn_zeeland fetch "$vnr"
rc=$?
set -e
echo "keten fetch exited with $rc (1 = refused by the broker)"
[ "$rc" -eq 1 ] || { echo "demo: the volunteer was not refused" >&2; exit 1; }

say "she withdraws the gemeente's consent at the COA counter; the gemeente's copies go"
as coa consent revoke "$vnr" "$gemeente_consent" --reason "ingetrokken door betrokkene" \
  --evidence coa-verzoek-2026-0915-4
wait_sections 0
for _ in $(seq 100); do
  ls "$inbox"/notice-*.json >/dev/null 2>&1 && break
  sleep 0.05
done
kill "$listen_pid"
wait "$listen_pid" || { echo "demo: the gemeente's listen failed" >&2; exit 1; }
listen_pid=""
echo "what the gemeente's listen said:"
cat "$dir/listen-gemeente.log"
[ "$(grep -c '^deleted .* (reason: revoked)$' "$dir/listen-gemeente.log")" -eq 7 ] ||
  { echo "demo: the gemeente's listen did not delete its 7 copies" >&2; exit 1; }
ls "$inbox"
cat "$inbox"/notice-*.json
echo

say "the TVS figures for Tholen, 2026-2 (keten tvs status)"
as tvs tvs list --gemeente gemeente:0716
status=$(as tvs tvs status --gemeente gemeente:0716 --period 2026-2)
echo "$status"
echo "$status" | grep -q "linked 1, housed 1" ||
  { echo "demo: the broker's counts are not linked 1, housed 1" >&2; exit 1; }

say "broker log"
cat "$dir/ketend.log"

say "the person's access report and the audit chain (keten audit, on the store)"
"$keten" audit subject --store "$store" "$vnr"
"$keten" audit verify --store "$store" --broker-key "$dir/keys/broker.pub"

if [ "$once" -eq 1 ]; then
  say "demo done"
  exit 0
fi
say "ketend keeps serving on $endpoint (pid $pid); Ctrl-C stops it"
echo "try: $keten ping -e $endpoint -k $dir/keys/coa.key -b $dir/keys/broker.pub"
tail -n 0 -f "$dir/ketend.log" &
tailpid=$!
trap 'kill $tailpid 2>/dev/null; cleanup' EXIT
wait "$pid"
