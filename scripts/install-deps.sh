#!/usr/bin/env bash
# Installs the Debian packages keten needs to build, test and run, if any
# is missing. Safe to run again; installs nothing when all are present.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libzmq3-dev libprotobuf-c-dev protobuf-c-compiler libsodium-dev
  libsqlite3-dev sqlite3 libjansson-dev libcmocka-dev
  libsystemd-dev      # ketend: sd_notify readiness and watchdog
  libmicrohttpd-dev   # ketend: the Prometheus metrics endpoint
  valgrind
  libseccomp-dev  # tests: run_restricted, the unit's seccomp filter
  clang libclang-rt-dev
  # tests: the access report's HTML rendered in a real browser (headless
  # Chromium prints it to PDF, pdftotext reads back the words and their
  # positions); DejaVu Sans has the Arabic glyphs the RTL page needs
  chromium poppler-utils fonts-dejavu-core
  tzdata  # keten audit report --tz: local times from the zone database
  json-schema-test-suite  # tests/unit/test_schema.c: the official JSON-Schema cases for the keywords libketen's section validator implements
  # tests/package: build the Debian packages (debhelper), check them
  # (lintian), install them into a fresh root (mmdebstrap) in its own
  # network namespace (iproute2 brings its loopback up); the manual pages
  # are checked with groff
  debhelper dpkg-dev lintian mmdebstrap iproute2 groff-base
  # tests/package: boot a root with systemd as PID 1 (systemd-nspawn), to
  # run the units as systemd runs them
  systemd-container
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
