#!/usr/bin/env bash
# Installs what is needed, builds keten, and runs ketend on the embedded
# SQLite store with a demo chain: a chain root key that signs the registry
# entries of COA, a gemeente, a volunteer organisation and a care partner,
# each with its own generated keys, each pinging
# through the broker; a stranger's key being refused; COA's sealed intake
# sections travelling to the consented gemeente and being refused to the
# volunteer without consent; the person's access report; the audit chain.
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

say "keys for the broker and four partners (keten keygen)"
for id in broker coa gemeente:0716 vwn:zeeland ggz:zeeland stranger; do
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
echo "the phone check: the partner reads its fingerprint, the operator compares"
"$keten" fingerprint "$dir/keys/coa.pub" "$dir/offline/coa.signed"

say "registry (keten admin participant add: root-signed entries only)"
store="$dir/keten.db"
for key in coa gemeente_0716 vwn_zeeland ggz_zeeland; do
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
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 100); do
  grep -q "broker: ready" "$dir/ketend.log" 2>/dev/null && break
  if ! kill -0 "$pid" 2>/dev/null; then cat "$dir/ketend.log"; exit 1; fi
  sleep 0.05
done

export KETEN_ROOT_KEY="$dir/keys/root.pub"
say "each partner pings through the broker (keten ping)"
for key in coa gemeente_0716 vwn_zeeland ggz_zeeland; do
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

say "a section travels from COA to the gemeente; a partner without consent is refused"
export KETEN_ENDPOINT="$endpoint" KETEN_BROKER_KEY="$dir/keys/broker.pub"
export KETEN_CHAIN_KEY="$dir/keys/chain.key"
data="$top/scripts/demo-data"
"$keten" chainkey --out "$KETEN_CHAIN_KEY"
vnr=2931847560   # fictional V-nummer of the example person, Amira
echo "subject pseudonym of V-nummer $vnr: $("$keten" subject "$vnr")"
as() { local who=$1; shift; KETEN_KEYS="$dir/keys/$who.key" "$keten" "$@"; }
echo "COA records the person's consents (signed):"
as coa consent grant "$vnr" --to gemeente:0716 --purpose INBURGERING \
  --sections IDENTITY,STORY,LANGUAGE --evidence coa-form-2026-0611-17 --days 730
as coa consent grant "$vnr" --to ggz:zeeland --purpose ZORG \
  --sections IDENTITY,STORY,HEALTH --evidence coa-form-2026-0611-18
echo "COA seals and stores its intake sections:"
for kind in IDENTITY STORY LANGUAGE HEALTH; do
  lower=$(echo "$kind" | tr 'A-Z' 'a-z')
  as coa put "$vnr" "$kind" "$data/coa-$lower.json"
done
echo "the gemeente receives its deliveries (files written and fsynced, then acked):"
mkdir -p "$dir/inbox-gemeente"
as gemeente_0716 listen --dir "$dir/inbox-gemeente" --count 3 --idle 5000
ls "$dir/inbox-gemeente"
echo "the gemeente fetches the profile (never HEALTH: no consent for it):"
as gemeente_0716 fetch "$vnr" | grep -E '"(kind|author|version)"'
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
