# Run by test_packages.sh inside a booted container (systemd as PID 1, the
# packages installed): ketend and an adapter as systemd runs their units.
#   - `systemctl start ketend` returns once ketend said READY=1
#     (Type=notify), with its STATUS= text; a partner pings it over
#     ipc:///run/keten (RuntimeDirectory=); --health answers;
#   - its log lines reach journald with their priorities (an INFO line at
#     6, the WARN of a reload that needs a restart at 4): ExecReload=;
#   - the watchdog: ketend stopped with SIGSTOP is killed by systemd
#     (WatchdogSec=, shortened by a drop-in) and restarted (Restart=);
#   - the upgrade: reinstalling the package restarts the running ketend
#     (a new MainPID), which serves again;
#   - keten-adapter@coa starts (its ExecStartPre --check-config passes in
#     the StateDirectory= systemd made), says READY and connects over
#     tcp://127.0.0.1:7600 as the user keten-adapter;
#   - `systemctl stop` ends both with status 0.
# usage: inside_systemd.sh VERSION
set -euo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8
version="$1"
say() { printf 'package test (under systemd): %s\n' "$*"; }
fail() {
  printf 'package test: FAIL (under systemd): %s\n' "$*" >&2
  journalctl --no-pager -n 40 -u ketend -u 'keten-adapter@*' >&2 || true
  exit 1
}
mode() { stat -c '%U:%G %a' "$1"; }
here=/usr/local/lib/keten-test
. "$here/setup_in_root.sh"
prop() { systemctl show -p "$2" --value "$1"; }
# waits up to 20 s for a shell condition
until_ok() {
  local what="$1"
  shift
  for _ in $(seq 200); do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  fail "$what (waited 20 s)"
}
ping_coa() {
  keten ping -e ipc:///run/keten/ketend.sock -k /root/coa/coa.key \
    -b /etc/keten/broker.pub -R /etc/keten/root.pub >/dev/null 2>&1
}

grep -q "$version" <<<"$(ketend --version)" || fail "ketend --version: $(ketend --version)"
[ "$(prop ketend UnitFileState)" = enabled ] || fail "ketend.service is not enabled"
[ "$(prop ketend ActiveState)" = inactive ] ||
  fail "ketend.service is $(prop ketend ActiveState) before its key exists"

say "the operator's set-up, then systemctl start ketend"
operator_setup
systemctl start ketend || fail "systemctl start ketend"
[ "$(prop ketend ActiveState)" = active ] || fail "ketend is $(prop ketend ActiveState)"
[ "$(prop ketend Type)" = notify ] || fail "the unit's Type is $(prop ketend Type)"
status="$(prop ketend StatusText)"
[ -n "$status" ] || fail "no STATUS= text from ketend"
[ "$(prop ketend User)" = keten ] || fail "ketend runs as $(prop ketend User)"
main="$(prop ketend MainPID)"
[ "$(stat -c %U /proc/"$main")" = keten ] || fail "ketend's process is not the user keten's"
[ "$(mode /run/keten)" = "keten:keten 755" ] || fail "/run/keten is $(mode /run/keten)"
ping_coa || fail "keten ping over ipc:///run/keten/ketend.sock failed"
ketend --config /etc/keten/ketend.conf --health >/dev/null || fail "ketend --health: not healthy"
say "active (status: $status), ping and health answer"

say "journald: priorities, and a reload that needs a restart"
journalctl --sync
# the line ketend logs once it serves, at INFO: priority 6
started() {
  journalctl --sync
  journalctl -u ketend -p info..info -o cat --no-pager | grep -q 'INFO  broker: ketend .* serving'
}
until_ok "ketend's INFO line 'ketend ... serving' is not in the journal at priority 6" started
if journalctl -u ketend -p warning..warning -o cat --no-pager | grep -q 'INFO '; then
  fail "an INFO line of ketend reached the journal at priority 4"
fi
sed -i 's/^max_frame_bytes = .*/max_frame_bytes = 2097152/' /etc/keten/ketend.conf
grep -qx 'max_frame_bytes = 2097152' /etc/keten/ketend.conf ||
  echo 'max_frame_bytes = 2097152' >>/etc/keten/ketend.conf
systemctl reload ketend || fail "systemctl reload ketend"
warned() {
  journalctl --sync
  journalctl -u ketend -p warning..warning -o cat --no-pager | grep -q 'until a restart: .*max_frame_bytes'
}
until_ok "no WARN line (priority 4) in the journal saying max_frame_bytes needs a restart" warned
if journalctl -u ketend -p err -o cat --no-pager | grep -q .; then
  fail "ketend logged at error priority: $(journalctl -u ketend -p err -o cat --no-pager)"
fi
[ "$(prop ketend MainPID)" = "$main" ] || fail "the reload restarted ketend"
say "INFO at 6, the reload's WARN at 4, same process"

say "the watchdog: ketend stopped with SIGSTOP is killed and restarted"
mkdir -p /etc/systemd/system/ketend.service.d
printf '[Service]\nWatchdogSec=2\nTimeoutAbortSec=2\n' >/etc/systemd/system/ketend.service.d/test-watchdog.conf
systemctl daemon-reload
systemctl restart ketend || fail "restart with the short watchdog"
main="$(prop ketend MainPID)"
restarts="$(prop ketend NRestarts)"
sleep 3 # three watchdog intervals of pings first: a healthy ketend is not killed
[ "$(prop ketend MainPID)" = "$main" ] || fail "the watchdog killed a healthy ketend"
kill -STOP "$main"
restarted() {
  local now
  now="$(prop ketend MainPID)"
  [ "$now" != 0 ] && [ "$now" != "$main" ] && [ "$(prop ketend ActiveState)" = active ]
}
until_ok "systemd did not restart a ketend that stopped pinging the watchdog" restarted
[ "$(prop ketend NRestarts)" -gt "$restarts" ] || fail "NRestarts did not grow"
journalctl --sync
journalctl -u ketend -o cat --no-pager | grep -qi 'watchdog timeout' ||
  fail "the journal does not say the watchdog fired"
until_ok "ping after the watchdog restart" ping_coa
rm /etc/systemd/system/ketend.service.d/test-watchdog.conf
systemctl daemon-reload
systemctl restart ketend || fail "restart without the drop-in"
say "killed at the watchdog timeout, restarted, serving"

say "the upgrade: reinstalling ketend restarts the running one"
main="$(prop ketend MainPID)"
dpkg -i "$here"/ketend_*.deb >/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; fail "reinstall"; }
[ "$(prop ketend ActiveState)" = active ] || fail "ketend is $(prop ketend ActiveState) after the upgrade"
[ "$(prop ketend MainPID)" != "$main" ] || fail "the upgrade did not restart ketend"
grep -qx 'metrics_endpoint = 127.0.0.1:9464' /etc/keten/ketend.conf ||
  fail "the upgrade lost the operator's edit of ketend.conf"
until_ok "ping after the upgrade" ping_coa
say "restarted by the upgrade (MainPID $main -> $(prop ketend MainPID)), serving"

say "keten-adapter@coa under systemd"
adapter_setup tcp://127.0.0.1:7600
systemctl start keten-adapter@coa || fail "systemctl start keten-adapter@coa"
[ "$(prop keten-adapter@coa ActiveState)" = active ] ||
  fail "keten-adapter@coa is $(prop keten-adapter@coa ActiveState)"
[ "$(prop keten-adapter@coa User)" = keten-adapter ] || fail "the adapter runs as $(prop keten-adapter@coa User)"
connected() {
  journalctl --sync
  journalctl -u keten-adapter@coa -o cat --no-pager | grep -q ' connected to tcp://127.0.0.1:7600'
}
until_ok "the adapter did not log 'connected to'" connected
[ -d /var/lib/keten-adapter/coa/outbox/done ] || fail "the adapter made no outbox/done"

say "systemctl stop: both end with status 0"
systemctl stop keten-adapter@coa ketend
for u in keten-adapter@coa ketend; do
  [ "$(prop "$u" ActiveState)" = inactive ] || fail "$u is $(prop "$u" ActiveState) after stop"
  [ "$(prop "$u" Result)" = success ] || fail "$u stopped with result $(prop "$u" Result)"
  [ "$(prop "$u" ExecMainStatus)" = 0 ] || fail "$u exited $(prop "$u" ExecMainStatus)"
done
runuser -u keten -- keten audit verify --store /var/lib/keten/keten.db \
  --broker-key /etc/keten/broker.pub >/dev/null || fail "the audit log does not verify"
say "done"
