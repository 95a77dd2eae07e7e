#!/usr/bin/env bash
# bench/run.sh — runs keten-bench (or, with -F, keten-bench-fanout) several
# times and summarises the runs.
#
#   bench/run.sh [-b BUILD_DIR] [-n RUNS] [-F] [-- benchmark options]
#
# BUILD_DIR defaults to build/ (relative to the repository root), RUNS to 3.
# -F: the fan-out benchmark of issue 3 (item 9). Its big prepared stores are
# built once, cached in a temporary directory for all runs (--cache-dir) and
# removed at the end. Prints each run's table, then one summary line per run
# and the medians. Exit status: 0 when every run measured everything asked
# for, 1 otherwise, 2 on a usage error.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build"
runs=3
fanout=0
while getopts "b:n:Fh" opt; do
  case "$opt" in
    b) build="$OPTARG" ;;
    n) runs="$OPTARG" ;;
    F) fanout=1 ;;
    h) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift
case "$runs" in ''|*[!0-9]*|0) echo "run.sh: -n wants a positive number" >&2; exit 2 ;; esac

name=keten-bench
[ "$fanout" = 1 ] && name=keten-bench-fanout
bin="$build/bench/$name"
if [ ! -x "$bin" ]; then
  echo "run.sh: $bin not found; build first:" >&2
  echo "  cmake -S . -B build && cmake --build build -j2" >&2
  exit 2
fi

commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  commit="$commit+local-changes"
fi
echo "# $name x$runs  $(date -u +%Y-%m-%dT%H:%M:%SZ)  $(nproc) cores" \
     "$(uname -sr)  commit $commit"
echo "# $bin $*"

extra=()
if [ "$fanout" = 1 ]; then
  cache="$(mktemp -d "${TMPDIR:-/tmp}/keten-fanout-cache.XXXXXX")"
  trap 'rm -rf "$cache"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  extra=(--cache-dir "$cache")
fi

results=()
status=0
for i in $(seq 1 "$runs"); do
  echo
  echo "## run $i/$runs"
  if out="$("$bin" -q "${extra[@]}" "$@")"; then :; else status=1; fi
  printf '%s\n' "$out"
  results+=("$(printf '%s\n' "$out" | grep '^RESULT ' || echo 'RESULT failed=1')")
done

median() {
  sort -g | awk '{v[NR]=$1} END {if (NR) print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'
}

echo
if [ "$fanout" = 0 ]; then
  echo "# summary (req/s, microseconds; other = cores used by other processes)"
  printf '%-4s %10s %8s %8s %6s   %10s %8s %8s %6s   %6s\n' run bare_rps p50 p99 other \
         ketend_rps p50 p99 other ratio
else
  echo "# summary (deliveries/s, ms, KiB; other = cores used by other processes)"
  printf '%-4s %9s %9s %9s %6s %7s %7s %7s %6s %9s %9s\n' run bare_dps ketend_dps \
         big_dps ratio big_vs p50_ms p99_ms other hwm_kib queue_kib
fi
ratios=()
bigs=()
queues=()
for i in "${!results[@]}"; do
  line="${results[$i]}"
  get() { printf '%s\n' "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
  if [ "$fanout" = 0 ]; then
    printf '%-4s %10s %8s %8s %6s   %10s %8s %8s %6s   %6s\n' "$((i + 1))" \
      "$(get bare_rps)" "$(get bare_p50_us)" "$(get bare_p99_us)" \
      "$(get bare_other_load)" "$(get ketend_rps)" "$(get ketend_p50_us)" \
      "$(get ketend_p99_us)" "$(get ketend_other_load)" "$(get ratio)"
  else
    printf '%-4s %9s %9s %9s %6s %7s %7s %7s %6s %9s %9s\n' "$((i + 1))" \
      "$(get bare_dps)" "$(get ketend_dps)" "$(get big_dps)" "$(get ratio)" \
      "$(get big_vs_empty)" "$(get ketend_p50_ms)" "$(get ketend_p99_ms)" \
      "$(get ketend_other_load)" "$(get ketend_vmhwm_kib)" \
      "$(get queue_vmhwm_kib)"
    b="$(get big_vs_empty)"
    case "$b" in ''|na) ;; *) bigs+=("$b") ;; esac
    qk="$(get queue_vmhwm_kib)"
    [ -n "$qk" ] && queues+=("$qk")
  fi
  r="$(get ratio)"
  case "$r" in ''|na) ;; *) ratios+=("$r") ;; esac
done
if [ "$fanout" = 0 ]; then
  if [ "${#ratios[@]}" -gt 0 ]; then
    echo "median ratio ketend/bare over ${#ratios[@]} runs:" \
         "$(printf '%s\n' "${ratios[@]}" | median) (issue target >= 0.70)"
  fi
else
  if [ "${#ratios[@]}" -gt 0 ]; then
    echo "median ratio ketend/bare over ${#ratios[@]} runs:" \
         "$(printf '%s\n' "${ratios[@]}" | median) (issue target >= 0.25)"
  fi
  if [ "${#bigs[@]}" -gt 0 ]; then
    echo "median big/empty - 1 over ${#bigs[@]} runs:" \
         "$(printf '%s\n' "${bigs[@]}" | median) (issue target within +-0.15)"
  fi
  if [ "${#queues[@]}" -gt 0 ]; then
    echo "largest VmHWM with the queue over ${#queues[@]} runs:" \
         "$(printf '%s\n' "${queues[@]}" | sort -g | tail -1) KiB (issue target < 65536)"
  fi
fi
exit "$status"
