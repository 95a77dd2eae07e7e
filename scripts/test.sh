#!/usr/bin/env bash
# Installs what is needed, builds keten and runs every test.
#   scripts/test.sh              normal build in build/
#   scripts/test.sh --sanitize   ASan + UBSan build in build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=OFF
build=build
if [ "${1:-}" = "--sanitize" ]; then
  sanitize=ON
  build=build-asan
fi

bash scripts/install-deps.sh
cmake -S . -B "$build" -DKETEN_SANITIZE="$sanitize" -DKETEN_BUILD_TESTS=ON \
  -DKETEN_BUILD_BENCH=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)"
# Sanitizer settings: fail on the first error, report leaks.
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
ctest --test-dir "$build" --output-on-failure --no-tests=error -j2 --timeout 300
