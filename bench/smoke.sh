#!/usr/bin/env bash
# bench/smoke.sh — every benchmark driver still measures (ctest
# bench_smoke). Each driver runs for a fraction of a second on tiny sizes
# and must exit 0, which it does only when every side and phase it was
# asked for was measured (a request refused by a budget, a failed metrics
# GET or a lost section fails it). No figure is asserted: figures come
# from bench/run.sh on a quiet machine (bench/README.md). Before this
# test, keten-bench had failed every ketend round since the request
# budget of issue 8 (1 000 requests a second) without anyone noticing.
#
# usage: bench/smoke.sh BENCH_DIR KETEND
set -euo pipefail
dir="$1"
ketend="$2"
out="$(mktemp -d "${TMPDIR:-/tmp}/keten-bench-smoke.XXXXXX")"
trap 'rm -rf "$out"' EXIT

run() {
  local name="$1"
  shift
  if ! "$@" >"$out/$name.log" 2>&1; then
    echo "bench_smoke: $name failed: $*" >&2
    tail -n 30 "$out/$name.log" >&2
    exit 1
  fi
  grep -E '^(RESULT|others=)' "$out/$name.log" | head -n 3 || true
}

# request/reply beside the bare echo, then with the metrics endpoint
# scraped every 50 ms and 20 more participants with queued notices
run rr "$dir/keten-bench" -k "$ketend" -q -c 2 -r 1 -d 0.3 -w 0.1
run rr-metrics "$dir/keten-bench" -k "$ketend" -q -c 2 -r 1 -d 0.3 -w 0.1 \
  -M 50 --metrics-interval-ms 1000 --participants 20
grep -q ' metrics_failures=0 ' "$out/rr-metrics.log"
scrapes="$(sed -n 's/.* metrics_scrapes=\([0-9]*\) .*/\1/p' "$out/rr-metrics.log")"
if [ "${scrapes:-0}" -lt 2 ]; then
  echo "bench_smoke: keten-bench -M 50 scraped /metrics ${scrapes:-0} times" >&2
  exit 1
fi

# fan-out, all four phases on small stores
run fanout "$dir/keten-bench-fanout" -k "$ketend" -q -p 2 -S 4 -W 8 \
  -r 1 -d 0.4 -w 0.1 --calibrate 0.2 --crypto-iters 20 \
  --big-subjects 50 --big-consents 200 --queue-sections 2000 \
  --queue-subjects 20 --queue-bytes 512 --queue-take 500 \
  --queue-seconds 10 --drain-ms 10000

# a KOPPELING and its rewraps for 3 sections; PREPARE at issue 6's bounds
run koppeling "$dir/keten-bench-koppeling" 3
run prepare "$dir/keten-bench-prepare" 200
echo "bench_smoke: every driver measured"
