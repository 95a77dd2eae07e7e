#!/usr/bin/env bash
# bench/run.sh — runs keten-bench several times and summarises the runs.
#
#   bench/run.sh [-b BUILD_DIR] [-n RUNS] [-- keten-bench options]
#
# BUILD_DIR defaults to build/ (relative to the repository root), RUNS to 3.
# Prints each run's table, then one summary line per run and the median
# ratio. Exit status: 0 when every run measured both sides, 1 otherwise,
# 2 on a usage error.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build"
runs=3
while getopts "b:n:h" opt; do
  case "$opt" in
    b) build="$OPTARG" ;;
    n) runs="$OPTARG" ;;
    h) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift
case "$runs" in ''|*[!0-9]*|0) echo "run.sh: -n wants a positive number" >&2; exit 2 ;; esac

bin="$build/bench/keten-bench"
if [ ! -x "$bin" ]; then
  echo "run.sh: $bin not found; build first:" >&2
  echo "  cmake -S . -B build && cmake --build build -j2" >&2
  exit 2
fi

commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  commit="$commit+local-changes"
fi
echo "# keten-bench x$runs  $(date -u +%Y-%m-%dT%H:%M:%SZ)  $(nproc) cores" \
     "$(uname -sr)  commit $commit"
echo "# $bin $*"

results=()
status=0
for i in $(seq 1 "$runs"); do
  echo
  echo "## run $i/$runs"
  if out="$("$bin" -q "$@")"; then :; else status=1; fi
  printf '%s\n' "$out"
  results+=("$(printf '%s\n' "$out" | grep '^RESULT ' || echo 'RESULT failed=1')")
done

echo
echo "# summary (req/s, microseconds; other = cores used by other processes)"
printf '%-4s %10s %8s %8s %6s   %10s %8s %8s %6s   %6s\n' run bare_rps p50 p99 other \
       ketend_rps p50 p99 other ratio
ratios=()
for i in "${!results[@]}"; do
  line="${results[$i]}"
  get() { printf '%s\n' "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
  printf '%-4s %10s %8s %8s %6s   %10s %8s %8s %6s   %6s\n' "$((i + 1))" \
    "$(get bare_rps)" "$(get bare_p50_us)" "$(get bare_p99_us)" \
    "$(get bare_other_load)" "$(get ketend_rps)" "$(get ketend_p50_us)" \
    "$(get ketend_p99_us)" "$(get ketend_other_load)" "$(get ratio)"
  r="$(get ratio)"
  case "$r" in ''|na) ;; *) ratios+=("$r") ;; esac
done
if [ "${#ratios[@]}" -gt 0 ]; then
  median="$(printf '%s\n' "${ratios[@]}" | sort -g |
            awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}')"
  echo "median ratio ketend/bare over ${#ratios[@]} runs: $median (issue target >= 0.70)"
fi
exit "$status"
