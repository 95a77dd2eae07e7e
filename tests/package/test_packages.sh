#!/usr/bin/env bash
# The Debian packages, built from this tree and installed into a fresh
# Debian root, run ketend (issue 10, item 1).
#
#  1. dpkg-buildpackage -b builds ketend, keten, keten-adapters,
#     libketen4 and libketen-dev from a copy of the tree; lintian must find no
#     error; the contents and the control data are checked (multiarch
#     libdir, /etc/keten/ketend.conf a conffile, the unit's paths).
#  2. mmdebstrap makes a fresh bookworm root (variant apt) and installs the
#     packages into it with that root's apt, so that only what their Depends name comes
#     along: a missing dependency shows as ketend failing to start there.
#  3. In that root (chroot, in its own mount, network and pid namespaces,
#     so nothing is left running and no port of the host is used): the
#     postinst made the user keten, /etc/keten (root:keten 0750) and
#     /var/lib/keten (keten 0700); the operator's set-up of
#     docs/operations.md 2.4 runs (root key, broker key, a root-signed
#     entry added with `runuser -u keten -- keten admin participant add
#     --config`); ketend is started with the unit's own ExecStart= as the
#     unit's User=; a registered partner pings it over the packaged ipc
#     endpoint; `ketend --health` says healthy; SIGTERM stops it with exit
#     status 0; the audit log verifies; pkg-config finds libketen; an
#     adapter (its user, /etc/keten-adapter) checks its configuration and
#     maps the example intake.
#  4. Reinstalling keeps the operator's edit of the conffile; removing
#     keeps the conffile and the store; purging keeps the store and keys.
#  5. A second fresh root with systemd as its init is booted with
#     systemd-nspawn, and there (inside_systemd.sh) ketend and
#     keten-adapter@coa run as systemd runs their units: Type=notify
#     readiness and STATUS=, journald priorities, ExecReload=, the
#     watchdog killing and Restart= restarting a ketend that stopped,
#     the restart on upgrade, the adapter connecting, clean stops.
#
# Needs root (chroot, namespaces, mmdebstrap's root mode) and the Debian
# mirror of /etc/apt/sources.list (as scripts/install-deps.sh does).
#   tests/package/test_packages.sh            build, install, run
#   KETEN_PKG_KEEP=1 ...                      keep the work directory
set -euo pipefail

src="$(cd "$(dirname "$0")/../.." && pwd)"
say() { printf 'package test: %s\n' "$*"; }
fail() { printf 'package test: FAIL: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "needs root (run it with sudo)"
for t in dpkg-buildpackage lintian mmdebstrap unshare chroot ip systemd-nspawn nsenter; do
  command -v "$t" >/dev/null || fail "$t is missing (scripts/install-deps.sh installs it)"
done

version="$(sed -n 's/^project(keten VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")"
deb_version="$(sed -n '1s/^keten (\([^)]*\)).*/\1/p' "$src/debian/changelog")"
[ -n "$version" ] || fail "no version in CMakeLists.txt"
[ "$version" = "$deb_version" ] ||
  fail "debian/changelog is at $deb_version but CMakeLists.txt at $version"
suite="$(. /etc/os-release && echo "$VERSION_CODENAME")"

work="$(mktemp -d "${TMPDIR:-/tmp}/keten-pkg-XXXXXX")"
cleanup() {
  if [ "${KETEN_PKG_KEEP:-0}" = 1 ]; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# ---- 1. build ---------------------------------------------------------------
say "building the packages of keten $version from a copy of the tree"
tree="$work/keten-$version"
mkdir -p "$tree"
# what git tracks plus new files not ignored (a work tree under test);
# never build output
(cd "$src" && git ls-files -co --exclude-standard -z | tar --null -cf - -T -) |
  tar -xf - -C "$tree"
(cd "$tree" && dpkg-checkbuilddeps &&
  DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" \
    dpkg-buildpackage -b -us -uc >"$work/build.log" 2>&1) ||
  { tail -n 40 "$work/build.log"; fail "dpkg-buildpackage failed (log above)"; }
arch="$(dpkg --print-architecture)"
multiarch="$(dpkg-architecture -qDEB_HOST_MULTIARCH)"
pkgs=(ketend keten keten-adapters libketen4 libketen-dev)
debs=()
for p in "${pkgs[@]}"; do
  f="$work/${p}_${version}_${arch}.deb"
  [ -f "$f" ] || fail "no $f"
  debs+=("$f")
done
say "built: ${pkgs[*]}"

say "lintian"
lintian --tag-display-limit 0 --fail-on error "$work/keten_${version}_${arch}.changes" \
  >"$work/lintian.log" 2>&1 || { cat "$work/lintian.log"; fail "lintian found errors"; }
sed 's/^/  /' "$work/lintian.log"

# contents and control data
contents() { dpkg-deb -c "$work/${1}_${version}_${arch}.deb" | awk '{print $6}' | sed 's|^\./|/|'; }
# (outputs are read whole before grep: with pipefail, grep -q ending a
# pipe early would make its writer's SIGPIPE a failure)
has() { local c; c="$(contents "$1")"; grep -qx "$2" <<<"$c" || fail "$1 does not ship $2"; }
has ketend /usr/sbin/ketend
has ketend /lib/systemd/system/ketend.service
has ketend /usr/lib/sysusers.d/keten.conf
has ketend /usr/lib/tmpfiles.d/keten.conf
has ketend /etc/keten/ketend.conf
has ketend /usr/share/man/man8/ketend.8.gz
has keten /usr/bin/keten
has keten /usr/share/man/man1/keten.1.gz
has keten /usr/share/keten/report/nl.json
has keten /usr/share/keten/schemas/sections-v1.json
for k in coa gemeente volunteer care; do
  has keten-adapters "/usr/bin/keten-adapter-$k"
  has keten-adapters "/usr/share/doc/keten-adapters/examples/adapter-$k.conf.example"
done
has keten-adapters "/lib/systemd/system/keten-adapter@.service"
has keten-adapters /usr/lib/sysusers.d/keten-adapter.conf
has keten-adapters /usr/share/man/man8/keten-adapter.8.gz
has keten-adapters /usr/share/doc/keten-adapters/examples/partners/coa-intake-amira.json
has libketen-dev /usr/share/doc/libketen-dev/examples/consumer.c
has libketen4 "/usr/lib/$multiarch/libketen.so.4"
has libketen-dev /usr/include/keten.h
has libketen-dev "/usr/lib/$multiarch/libketen.so"
has libketen-dev "/usr/lib/$multiarch/pkgconfig/libketen.pc"
has libketen-dev /usr/share/man/man3/libketen.3.gz
for p in "${pkgs[@]}"; do
  if contents "$p" | grep -E '^/usr/etc/|^/usr/lib/(libketen|pkgconfig)|^/usr/local/'; then
    fail "$p ships files outside the Debian paths (above)"
  fi
done
conffiles="$(dpkg-deb --ctrl-tarfile "$work/ketend_${version}_${arch}.deb" | tar -xOf - ./conffiles)"
grep -qx /etc/keten/ketend.conf <<<"$conffiles" || fail "ketend.conf is not a conffile"
unit="$(dpkg-deb --fsys-tarfile "$work/ketend_${version}_${arch}.deb" |
  tar -xOf - ./lib/systemd/system/ketend.service)"
grep -qx 'ExecStart=/usr/sbin/ketend --config /etc/keten/ketend.conf' <<<"$unit" ||
  fail "the unit does not start /usr/sbin/ketend --config /etc/keten/ketend.conf"
if grep -q '@' <<<"$(grep -v '^#' <<<"$unit" | grep -v '^SystemCallFilter=')"; then
  fail "the unit has an unfilled @VARIABLE@"
fi
aunit="$(dpkg-deb --fsys-tarfile "$work/keten-adapters_${version}_${arch}.deb" |
  tar -xOf - './lib/systemd/system/keten-adapter@.service')"
grep -qx 'ExecStart=/usr/bin/keten-adapter-%i --config /etc/keten-adapter/adapter-%i.conf' <<<"$aunit" ||
  fail "the adapters' unit does not start /usr/bin/keten-adapter-%i --config /etc/keten-adapter/adapter-%i.conf"
dpkg-deb --fsys-tarfile "$work/libketen4_${version}_${arch}.deb" |
  tar -xf - -C "$work" "./usr/lib/$multiarch/libketen.so.$version"
grep -q 'SONAME *libketen.so.4' <<<"$(objdump -p "$work/usr/lib/$multiarch/libketen.so.$version")" ||
  fail "libketen4 does not carry the soname libketen.so.4"

# ---- 2. a fresh root ----------------------------------------------------------
say "a fresh $suite root with the packages (mmdebstrap, apt resolves their Depends)"
root="$work/root"
# make_root DIR INCLUDES [HOOK...]: a fresh $suite root in DIR (variant
# apt, plus INCLUDES) with the packages copied in and installed with the
# root's own apt (a customize hook: the root's dpkg cannot see a path
# outside it), which fetches from the mirror only what their Depends name;
# each HOOK is one more customize hook. The log is DIR.log.
make_root() {
  local dir="$1" include="$2"
  shift 2
  local hooks=()
  for h in "$@"; do hooks+=(--customize-hook="$h"); done
  mmdebstrap --quiet --mode=root --variant=apt --include="$include" \
    --customize-hook='mkdir -p "$1/tmp/debs"' \
    --customize-hook="copy-in ${debs[*]} /tmp/debs" \
    --customize-hook='chroot "$1" sh -c "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends /tmp/debs/*.deb"' \
    "${hooks[@]}" "$suite" "$dir" >"$dir.log" 2>&1 ||
    { tail -n 40 "$dir.log"; fail "mmdebstrap of $dir, or installing the packages with apt in it, failed"; }
}
make_root "$root" pkgconf,systemd-standalone-sysusers,systemd-standalone-tmpfiles
# (mmdebstrap empties /tmp at the end) for the reinstall below
mkdir -p "$root/tmp/debs"
cp "${debs[@]}" "$root/tmp/debs/"

# ---- 3. and 4. in the root ----------------------------------------------------
cat >"$root/tmp/inside.sh" <<'INSIDE'
set -euo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8
version="$1" multiarch="$2"
say() { printf 'package test (in the root): %s\n' "$*"; }
fail() { printf 'package test: FAIL (in the root): %s\n' "$*" >&2; exit 1; }
mode() { stat -c '%U:%G %a' "$1"; }
. /tmp/setup_in_root.sh

say "what the packages' maintainer scripts made"
id keten >/dev/null 2>&1 || fail "no user keten"
[ "$(getent passwd keten | cut -d: -f7)" != /bin/bash ] || fail "keten has a login shell"
[ "$(mode /etc/keten)" = "root:keten 750" ] || fail "/etc/keten is $(mode /etc/keten)"
[ "$(mode /etc/keten/ketend.conf)" = "root:keten 640" ] || fail "ketend.conf is $(mode /etc/keten/ketend.conf)"
[ "$(mode /var/lib/keten)" = "keten:keten 700" ] || fail "/var/lib/keten is $(mode /var/lib/keten)"
grep -q "$version" <<<"$(ketend --version)" || fail "ketend --version: $(ketend --version)"
keten --help >/dev/null
grep -q "libketen.so.4 .*=> \(/usr\)\?/lib/$multiarch/libketen.so.4$" <<<"$(ldconfig -p)" || fail "ld.so does not know libketen.so.4: $(ldconfig -p | grep libketen)"
libdir="$(readlink -f "$(pkg-config --variable=libdir libketen)")"
incdir="$(readlink -f "$(pkg-config --variable=includedir libketen)")"
[ "$libdir" = "/usr/lib/$multiarch" ] || fail "pkg-config libdir is $libdir"
[ -f "$incdir/keten.h" ] || fail "pkg-config includedir $incdir has no keten.h"
grep -q -- -lketen <<<"$(pkg-config --libs libketen)" || fail "pkg-config --libs: $(pkg-config --libs libketen)"
for m in man8/ketend.8.gz man1/keten.1.gz man3/libketen.3.gz; do
  [ -f "/usr/share/man/$m" ] || fail "no /usr/share/man/$m"
done

say "the operator's set-up (docs/operations.md 2.4)"
operator_setup

say "ketend started as the unit starts it"
unit=/lib/systemd/system/ketend.service
user="$(sed -n 's/^User=//p' "$unit")"
cmd="$(sed -n 's/^ExecStart=//p' "$unit")"
[ "$user" = keten ] || fail "the unit's User= is '$user'"
# what systemd's RuntimeDirectory=keten and UMask=0077 would do
install -d -m 0755 -o keten -g keten /run/keten
(umask 0077; exec runuser -u "$user" -- $cmd >/tmp/ketend.log 2>&1) &
pid=$!
for _ in $(seq 100); do
  [ -S /run/keten/ketend.sock ] && [ -s /run/keten/ketend.pid ] && break
  kill -0 "$pid" 2>/dev/null || { cat /tmp/ketend.log; fail "ketend exited at start"; }
  sleep 0.1
done
[ -S /run/keten/ketend.sock ] || { cat /tmp/ketend.log; fail "ketend does not listen on ipc:///run/keten/ketend.sock"; }
out="$(keten ping -e ipc:///run/keten/ketend.sock -k /root/coa/coa.key \
  -b /etc/keten/broker.pub -R /etc/keten/root.pub)" || { cat /tmp/ketend.log; fail "keten ping failed"; }
grep -q coa <<<"$out" || fail "ping did not name coa: $out"
ketend --config /etc/keten/ketend.conf --health >/dev/null || fail "ketend --health: not healthy"
# SIGTERM to ketend itself (as systemd's KillSignal does), not to runuser
kill -TERM "$(cat /run/keten/ketend.pid)"
rc=0; wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || { cat /tmp/ketend.log; fail "ketend stopped with exit status $rc"; }
[ ! -e /run/keten/ketend.pid ] || fail "the pid file is left behind"
runuser -u keten -- keten audit verify --store /var/lib/keten/keten.db \
  --broker-key /etc/keten/broker.pub >/dev/null || fail "the audit log does not verify"
say "ketend ran from the packages: ping, health, clean stop, audit verified"

say "an adapter from keten-adapters: the user, its configuration, --check-config, --map"
id keten-adapter >/dev/null 2>&1 || fail "no user keten-adapter"
[ "$(mode /etc/keten-adapter)" = "root:keten-adapter 750" ] || fail "/etc/keten-adapter is $(mode /etc/keten-adapter)"
[ "$(mode /var/lib/keten-adapter)" = "keten-adapter:keten-adapter 750" ] || fail "/var/lib/keten-adapter is $(mode /var/lib/keten-adapter)"
adapter_setup
runuser -u keten-adapter -- keten-adapter-coa --config /etc/keten-adapter/adapter-coa.conf \
  --check-config >/dev/null || fail "keten-adapter-coa --check-config"
plan="$(runuser -u keten-adapter -- keten-adapter-coa --config /etc/keten-adapter/adapter-coa.conf \
  --map /usr/share/doc/keten-adapters/examples/partners/coa-intake-amira.json)" ||
  fail "keten-adapter-coa --map of the example intake"
grep -q IDENTITY <<<"$plan" && grep -q consent <<<"$plan" || fail "the plan names no IDENTITY or no consent: $plan"

say "upgrade (reinstall), remove, purge"
dpkg -i /tmp/debs/ketend_*.deb >/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; fail "reinstall"; }
grep -qx 'metrics_endpoint = 127.0.0.1:9464' /etc/keten/ketend.conf || fail "reinstall lost the operator's edit of ketend.conf"
[ "$(mode /etc/keten/ketend.conf)" = "root:keten 640" ] || fail "reinstall changed ketend.conf to $(mode /etc/keten/ketend.conf)"
dpkg -r ketend >/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; fail "remove"; }
[ ! -e /usr/sbin/ketend ] || fail "remove left /usr/sbin/ketend"
[ -f /etc/keten/ketend.conf ] || fail "remove deleted the conffile"
[ -f /var/lib/keten/keten.db ] || fail "remove deleted the store"
dpkg -P ketend >/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; fail "purge"; }
[ ! -e /etc/keten/ketend.conf ] || fail "purge left the conffile"
[ -f /var/lib/keten/keten.db ] || fail "purge deleted the store"
[ -f /etc/keten/broker.key ] || fail "purge deleted the broker's key"
say "done"
INSIDE

cp "$src/tests/package/setup_in_root.sh" "$root/tmp/"

say "in the root: maintainer scripts, set-up, ketend, upgrade, remove, purge"
unshare --mount --net --pid --fork --kill-child bash -euo pipefail -c '
  root="$1"; shift
  mount --make-rprivate /
  ip link set lo up   # the new network namespace: loopback only
  mount -t proc proc "$root/proc"
  mount --rbind /dev "$root/dev"
  exec chroot "$root" /bin/bash /tmp/inside.sh "$@"
' _ "$root" "$version" "$multiarch"

# ---- 5. under systemd as PID 1 ---------------------------------------------
# A second fresh root, with systemd as its init (the first has
# systemd-standalone-sysusers, which conflicts with systemd), booted with
# systemd-nspawn (its own network namespace: loopback only). The units run
# as systemd runs them: Type=notify, the watchdog, journald, the unit's
# sandbox, ExecReload, and the restart on upgrade of dh_installsystemd.
say "a fresh $suite root with systemd as init and the packages"
sdroot="$work/sdroot"
make_root "$sdroot" systemd,systemd-sysv,dbus,pkgconf \
  'echo keten-test >"$1/etc/hostname"'
mkdir -p "$sdroot/usr/local/lib/keten-test"
cp "${debs[@]}" "$sdroot/usr/local/lib/keten-test/"
cp "$src/tests/package/setup_in_root.sh" "$src/tests/package/inside_systemd.sh" \
  "$sdroot/usr/local/lib/keten-test/"
say "booting it with systemd-nspawn"
systemd-nspawn --quiet --directory="$sdroot" --boot --register=no --keep-unit \
  --private-network --console=pipe >"$work/nspawn.log" 2>&1 &
nspawn=$!
# Shuts the container down: systemctl poweroff, then SIGTERM to nspawn
# (an orderly shutdown too), then SIGKILL to the container's PID 1 (which
# ends everything in its PID namespace) and to nspawn; 10 s each.
poweroff() {
  [ -n "${nspawn:-}" ] || return 0
  if [ -n "${leader:-}" ] && kill -0 "$nspawn" 2>/dev/null; then
    nsenter -t "$leader" -a /bin/systemctl poweroff >/dev/null 2>&1 || true
  fi
  local step
  for step in poweroff TERM KILL; do
    case "$step" in
      TERM) kill -TERM "$nspawn" 2>/dev/null || true ;;
      KILL) [ -n "${leader:-}" ] && kill -KILL "$leader" 2>/dev/null
            kill -KILL "$nspawn" 2>/dev/null || true ;;
    esac
    for _ in $(seq 100); do
      kill -0 "$nspawn" 2>/dev/null || break 2
      sleep 0.1
    done
  done
  wait "$nspawn" 2>/dev/null || true
  nspawn=""
}
trap 'poweroff; cleanup' EXIT
leader=""
for _ in $(seq 100); do
  leader="$(pgrep -P "$nspawn" -x systemd || true)"
  [ -n "$leader" ] && break
  kill -0 "$nspawn" 2>/dev/null || { cat "$work/nspawn.log"; fail "systemd-nspawn exited at boot"; }
  sleep 0.1
done
[ -n "$leader" ] || { cat "$work/nspawn.log"; fail "no systemd came up in the container"; }
# (systemctl fails until PID 1's bus socket exists; --wait then waits out
# "starting")
state=""
for _ in $(seq 120); do
  state="$(timeout 60 nsenter -t "$leader" -a /bin/systemctl is-system-running --wait 2>&1 || true)"
  case "$state" in running|degraded) break ;; esac
  kill -0 "$nspawn" 2>/dev/null || break
  sleep 0.5
done
case "$state" in
  running|degraded) ;;
  *) cat "$work/nspawn.log"; fail "the container did not boot (state: $state)" ;;
esac
say "booted ($state); the units under systemd"
nsenter -t "$leader" -a /bin/bash /usr/local/lib/keten-test/inside_systemd.sh \
  "$version" || fail "under systemd (above)"
poweroff
say "OK: ${pkgs[*]} built, installed into fresh $suite roots; ketend ran there from its unit's command line and under systemd"
