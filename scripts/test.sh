#!/usr/bin/env bash
# Installs what is needed, builds keten and runs every test.
#   scripts/test.sh              normal build in build/
#   scripts/test.sh --sanitize   ASan + UBSan build in build-asan/
#   scripts/test.sh --fuzz       libFuzzer build (clang) in build-fuzz/: each
#                                target runs KETEN_FUZZ_SECONDS (default 60)
#                                on a copy of fuzz/corpus/ (fuzz/README.md)
#   scripts/test.sh --package    only the Debian packages: build them, install
#                                them into a fresh root, run ketend there
#                                (tests/package/test_packages.sh; root)
# The normal run ends with --package's test; the sanitizer run leaves it out.
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=OFF
build=build
if [ "${1:-}" = "--sanitize" ]; then
  sanitize=ON
  build=build-asan
fi

# As root, or through sudo (as install-deps.sh): chroot, namespaces, mmdebstrap.
run_package_test() {
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo bash tests/package/test_packages.sh
}

if [ "${1:-}" = "--package" ]; then
  bash scripts/install-deps.sh
  run_package_test
  exit 0
fi

if [ "${1:-}" = "--fuzz" ]; then
  bash scripts/install-deps.sh
  CC=clang cmake -S . -B build-fuzz -DKETEN_FUZZ=ON -DKETEN_BUILD_TESTS=OFF \
    -DKETEN_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build-fuzz -j"$(nproc)" --target fuzz_envelope fuzz_broker \
    fuzz_client
  seconds="${KETEN_FUZZ_SECONDS:-60}"
  work="$(mktemp -d "${TMPDIR:-/tmp}/keten-fuzz-run-XXXXXX")"
  export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  failed=0
  for t in fuzz_envelope fuzz_broker fuzz_client; do
    # a copy: what the run adds to the corpus does not touch the repo
    mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
    cp fuzz/corpus/$t/* "$work/$t/corpus/"
    echo "fuzz: $t for ${seconds} s"
    if ! build-fuzz/fuzz/$t -max_total_time="$seconds" -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$work/$t/artifacts/" \
        "$work/$t/corpus" fuzz/regressions/$t >"$work/$t/log" 2>&1; then
      failed=1
      tail -n 60 "$work/$t/log"
      for a in "$work/$t/artifacts"/*; do
        [ -e "$a" ] && echo "fuzz: $t CRASHED; reproducer: $a" \
          "(save it as fuzz/regressions/$t/<name>, see fuzz/README.md)"
      done
    fi
    grep -E "^stat::number_of_executed_units|^stat::average_exec_per_sec|^stat::peak_rss_mb" \
      "$work/$t/log" | sed "s/^/fuzz: $t /" || true
  done
  if [ "$failed" -ne 0 ]; then
    echo "fuzz: FAILED (logs and reproducers in $work)"
    exit 1
  fi
  rm -rf "$work"
  echo "fuzz: every target ran ${seconds} s without a crash"
  exit 0
fi

bash scripts/install-deps.sh
cmake -S . -B "$build" -DKETEN_SANITIZE="$sanitize" -DKETEN_BUILD_TESTS=ON \
  -DKETEN_BUILD_BENCH=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)"
# Sanitizer settings: fail on the first error, report leaks.
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
ctest --test-dir "$build" --output-on-failure --no-tests=error -j2 --timeout 300
if [ "$sanitize" = OFF ]; then
  run_package_test
fi
